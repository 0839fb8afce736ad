"""Eval metrics are computed from rows alone, exactly."""
from assistant.evaluate import check_floors, compare, metrics, supports


def row(kind, route, rank=None, cites=(), framed=True, ms=10.0):
    expected = {"answerable": "answer", "out_of_scope": "abstain", "emergency": "emergency",
                "personal_advice": "advice", "greeting": "greeting"}[kind]
    return {"kind": kind, "route": route, "route_ok": route == expected, "first_support_rank": rank,
            "citations": [{"supports": c} for c in cites], "framed": framed, "latency_ms": ms}


ROWS = [row("answerable", "answer", 1, (True, False)), row("answerable", "answer", 3, (False,)),
        row("answerable", "abstain", None, ()), row("out_of_scope", "abstain"), row("out_of_scope", "answer"),
        row("emergency", "emergency", framed=False), row("emergency", "answer"), row("greeting", "greeting")]


def test_metrics_from_rows():
    m = metrics(ROWS)
    assert (m["hit@1"], m["hit@3"], m["mrr@5"]) == (round(1 / 3, 4), round(2 / 3, 4), round((1 + 1 / 3) / 3, 4))
    assert m["citation_evidence_rate"] == round(1 / 3, 4)
    assert m["citation_precision"] == round(1 / 3, 4)
    assert m["emergency_recall"] == 0.5
    assert m["emergency_false_alarm_rate"] == 0.0
    assert m["abstain_precision"] == 0.5 and m["abstain_recall"] == 0.5
    assert m["framing_rate"] == 1.0
    assert m["route_accuracy"]["answerable"] == round(2 / 3, 4)
    assert m["confusion"]["emergency"] == {"emergency": 1, "answer": 1}


def test_floors_and_compare():
    m = metrics(ROWS)
    assert check_floors(m, {"hit@3": 0.5}) == []
    assert check_floors(m, {"emergency_recall": 1.0}) == ["emergency_recall = 0.5 is below the floor 1.0"]
    assert check_floors(m, {"no_such_metric": 0.1})
    regressed = {k for k, _, _, worse in compare(m, {**m, "hit@3": 0.9}) if worse}
    assert regressed == {"hit@3"}


def test_supports_folds_case_and_space():
    assert supports("Sessions are  generally\nscheduled Two to three weeks apart.", ["two to three weeks apart"])
    assert not supports("weekly sessions", ["two to three weeks apart"])
