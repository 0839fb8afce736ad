"""Eval metrics are computed from rows alone, exactly; reports, plots, comparisons, and the
independent recompute script agree with them."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.cli import main
from assistant.evaluate import (EXPECTED_ROUTE, PLOTS, abstain_thresholds, check_floors, compare, flat_metrics, metrics,
                                regressed, run, supports, write_report)


def row(kind, route, rank=None, cites=(), framed=True, ms=10.0):
    expected = {"answerable": "answer", "out_of_scope": "abstain", "emergency": "emergency",
                "personal_advice": "advice", "greeting": "greeting"}[kind]
    return {"kind": kind, "route": route, "route_ok": route == expected, "first_support_rank": rank,
            "citations": [{"number": i + 1, "supports": c} for i, c in enumerate(cites)],
            "quoted": [{"numbers": [i + 1], "sentence": f"s{i}", "carries": c} for i, c in enumerate(cites)],
            "framed": framed, "latency_ms": ms}


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


# ---- compare -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, old, new, worse", [
    ("hit@3", 0.9, 0.8999, True),
    ("hit@3", 0.9, 0.9, False),
    ("hit@3", 0.9, 0.95, False),
    ("emergency_false_alarm_rate", 0.0, 0.01, True),
    ("emergency_false_alarm_rate", 0.02, 0.01, False),
    ("latency_p95_ms", 100.0, 119.0, False),  # timings are noisy: up to 20% slower passes
    ("latency_p95_ms", 100.0, 121.0, True),
    ("latency_ms.answerable.p50", 10.0, 12.5, True),
])
def test_regression_rules(name, old, new, worse):
    assert regressed(name, old, new) is worse


def test_compare_flags_lost_metrics_and_not_new_ones():
    m = metrics(ROWS)
    old = {**m, "citation_precision": 0.5, "retired_metric": 0.7}
    del old["abstain_recall"]
    out = {k: (a, b, worse) for k, a, b, worse in compare(m, old)}
    assert out["citation_precision"] == (0.5, m["citation_precision"], True)
    assert out["retired_metric"] == (0.7, None, True)
    assert out["abstain_recall"] == (None, m["abstain_recall"], False)
    assert "cases" not in out and not any(k.startswith("confusion") for k in out)


# ---- reports: json, markdown, plots; recomputed independently ---------------------------------
RECOMPUTE = Path(__file__).resolve().parent.parent / "evals" / "recompute.py"
FRAMING = "*General education, not medical advice.*"


def full_row(cid, kind, route, passages=(), cites=(), evidence=(), ms=10.0, signals=None):
    """A row as run_case writes it, from the passage and citation texts."""
    ev = list(evidence)
    retrieved = [{"chunk_id": f"a.md#{i}", "source": "a.md", "score": 0.1, "dense_score": 0.5, "bm25_score": 1.0,
                  "supports": supports(t, ev) if ev else None, "text": t} for i, t in enumerate(passages)]
    cited = [{"number": i + 1, "source": "a.md", "chunk_id": f"a.md#{i}", "supports": supports(t, ev) if ev else None,
              "passage_supports": supports(t, ev) if ev else None, "text": t} for i, t in enumerate(cites)]
    quoted = [{"numbers": [i + 1], "sentence": t, "carries": supports(t, ev) if ev else None}
              for i, t in enumerate(cites)]
    body = " ".join(f"{t} [{i + 1}]" for i, t in enumerate(cites)) or "Body."
    text = body if route == "emergency" else f"{body}\n\n{FRAMING}"
    return {"id": cid, "kind": kind, "question": f"question {cid}", "history": [], "evidence": ev,
            "expected_route": EXPECTED_ROUTE[kind], "route": route, "route_ok": route == EXPECTED_ROUTE[kind],
            "standalone_question": f"question {cid}", "triage": "", "signals": signals or {},
            "first_support_rank": next((i + 1 for i, r in enumerate(retrieved) if r["supports"]), None),
            "retrieved": retrieved, "citations": cited, "quoted": quoted, "framed": text.endswith(FRAMING),
            "latency_ms": ms, "text": text}


EV = ["two to three weeks apart"]
FULL_ROWS = [
    full_row("a1", "answerable", "answer", ["Sessions are Two to three\nweeks apart.", "Other."], ["Sessions are two to three weeks apart."],
             EV, 12.5, {"top_dense": 0.62, "coverage": 1.0}),
    full_row("a2", "answerable", "answer", ["Other.", "Also other.", "two to three weeks  apart"], ["Other."], EV, 20.25,
             {"top_dense": 0.41, "coverage": 0.8}),
    full_row("a3", "answerable", "abstain", ["Nothing here."], [], EV, 7.0, {"top_dense": 0.12, "coverage": 0.5}),
    full_row("o1", "out_of_scope", "abstain", ["Parking."], [], ms=5.5, signals={"top_dense": 0.1, "coverage": 0.3}),
    full_row("o2", "out_of_scope", "answer", ["Parking."], ["Parking."], ms=30.125, signals={"top_dense": 0.3, "coverage": 0.9}),
    full_row("e1", "emergency", "emergency", ms=1.5),
    full_row("g1", "greeting", "greeting", ms=2.0),
]


def test_write_report_json_markdown_and_plots(tmp_path):
    m = metrics(FULL_ROWS)
    out = write_report(tmp_path / "run", m, FULL_ROWS, "Tiny", thresholds={"abstain_min_dense": 0.15, "abstain_min_coverage": 0.66})
    report = json.loads((out / "report.json").read_text())
    assert {k: v for k, v in report.items() if k not in ("rows", "intervals")} == json.loads(json.dumps(m))
    assert report["rows"] == FULL_ROWS
    # every metric's 95% bootstrap interval holds its value
    flat = flat_metrics(m)
    assert set(report["intervals"]) == {k for k in flat if not k.startswith("confusion") and k != "cases"}
    for k, (lo, hi) in report["intervals"].items():
        assert lo <= flat[k] <= hi, k
    md = (out / "report.md").read_text()
    for name in PLOTS.values():
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in md
    assert "thresholds: abstain_min_dense = 0.15, abstain_min_coverage = 0.66" in md
    assert (m["hit@1"], m["hit@3"], m["mrr@5"]) == (round(1 / 3, 4), round(2 / 3, 4), round((1 + 1 / 3) / 3, 4))  # ranks 1, 3, none
    # p95 of 7 values: 20.25 + (30.125 - 20.25) * 0.7 = 27.1625 exactly, a tie at 3 decimals that the
    # float arithmetic rounds down (recompute accepts either side of a tie)
    assert (m["latency_p50_ms"], m["latency_p95_ms"]) == (7.0, 27.162)


def test_plots_survive_missing_kinds_and_signals(tmp_path):
    rows = [full_row("e1", "emergency", "emergency"), full_row("g1", "greeting", "greeting")]
    out = write_report(tmp_path, metrics(rows), rows, "No answerable cases")
    assert all((out / name).stat().st_size > 0 for name in PLOTS.values())


def run_recompute(report: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RECOMPUTE), str(report), *extra], capture_output=True, text=True, timeout=60)


def test_recompute_agrees_with_a_report_from_hand_made_rows(tmp_path):
    out = write_report(tmp_path, metrics(FULL_ROWS), FULL_ROWS, "Tiny")
    framing = tmp_path / "framing.md"
    framing.write_text(FRAMING + "\n")
    done = run_recompute(out / "report.json", "--framing", str(framing))
    assert done.returncode == 0, done.stdout
    # 32 numbers: 6 retrieval/citation, 4 + 1 routing, 6 confusion cells, 5 rates, 4 x 2 + 2 latencies
    assert done.stdout.strip() == f"all 32 metrics and 17 intervals in {out / 'report.json'} agree with its 7 rows"


def test_recompute_catches_a_wrong_interval(tmp_path):
    out = write_report(tmp_path, metrics(FULL_ROWS), FULL_ROWS, "Tiny")
    report = json.loads((out / "report.json").read_text())
    report["intervals"]["hit@3"] = [0.9, 1.0]
    (out / "report.json").write_text(json.dumps(report))
    done = run_recompute(out / "report.json")
    assert done.returncode == 1 and "MISMATCH interval of hit@3: report [0.9, 1.0]" in done.stdout


def test_paired_differences_of_a_run_with_itself_are_zero_and_not_shown():
    from assistant.evaluate import paired

    diffs = paired(FULL_ROWS, [dict(r) for r in FULL_ROWS])
    assert diffs and all(d["difference"] == 0 and d["interval"] == [0.0, 0.0] and not d["shown"] for d in diffs.values())
    worse = [dict(r, route="abstain", route_ok=False) if r["kind"] == "answerable" else dict(r) for r in FULL_ROWS]
    d = paired(worse, FULL_ROWS)["route_accuracy.answerable"]
    assert d["difference"] < 0 and d["cases"] == len(FULL_ROWS)


def test_recompute_names_every_disagreement(tmp_path):
    report = {**metrics(FULL_ROWS), "rows": [dict(r) for r in FULL_ROWS]}
    report["hit@1"] = 0.5
    report["latency_ms"]["greeting"]["p50"] = 2.001  # a latency off by a unit of its last place
    report["rows"][4]["route"] = "abstain"  # an edited row no longer matches the metrics computed before
    report["made_up"] = 1.0
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    done = run_recompute(path)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert "MISMATCH hit@1: report 0.5, recomputed 0.333333" in lines
    assert "MISMATCH latency_ms.greeting.p50: report 2.001, recomputed 2.000000" in lines
    assert "MISMATCH abstain_recall: report 0.5, recomputed 1.000000" in lines
    assert "MISMATCH confusion.out_of_scope.answer: missing from the report (recomputed None)" not in lines
    assert "MISMATCH confusion.out_of_scope.answer: in the report (1) but not recomputable from the rows" in lines
    assert "MISMATCH made_up: in the report (1.0) but not recomputable from the rows" in lines
    assert lines[-1] == f"{len(lines) - 1} mismatches in {path}"


CASES = [
    {"id": "t-sessions", "kind": "answerable", "question": "How far apart are prolotherapy sessions?",
     "evidence": ["two to three weeks apart"]},
    {"id": "t-follow", "kind": "answerable", "question": "How long does it take?",
     "history": [{"role": "user", "content": "What is prolotherapy?"}], "evidence": ["weeks"]},
    {"id": "t-cost", "kind": "out_of_scope", "question": "How much does prolotherapy cost?"},
    {"id": "t-chest", "kind": "emergency", "question": "I have crushing chest pain"},
    {"id": "t-advice", "kind": "personal_advice", "question": "Should I get prolotherapy for my knee?"},
    {"id": "t-hi", "kind": "greeting", "question": "hello"},
]


def test_real_eval_run_recomputes_exactly(bot, tmp_path):
    rows, m = run(bot, [{"history": [], "evidence": [], **c} for c in CASES])
    out = write_report(tmp_path, m, rows, "Real", thresholds=abstain_thresholds(bot))
    assert [r["route"] for r in rows] == ["answer", "answer", "abstain", "emergency", "advice", "greeting"]
    assert m["framing_rate"] == 1.0 and m["emergency_recall"] == 1.0
    done = run_recompute(out / "report.json", "--framing", str(Path(bot.settings.prompts_dir) / "framing.md"))
    assert done.returncode == 0, done.stdout


def test_eval_command_floors_and_compare(shipped_index, tmp_path, capsys):
    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps(c) + "\n" for c in CASES[2:]))
    out = tmp_path / "run"
    argv = ["eval", str(cases), "--index", str(shipped_index), "--out", str(out)]
    assert main(argv + ["--fail-under", "emergency_recall=1.0", "framing_rate=1.0", "route_accuracy.emergency=1.0"]) == 0
    assert "4 cases -> " in capsys.readouterr().out
    assert all((out / name).is_file() for name in PLOTS.values())
    old = json.loads((out / "report.json").read_text())
    old["abstain_recall"] = 1.5  # pretend the earlier run was better
    for k in [k for k in old if "latency" in k]:  # timings vary from run to run: leave them out of the check
        del old[k]
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert main(argv + ["--compare", str(tmp_path / "old.json"), "--fail-under", "hit@3=0.9"]) == 1
    captured = capsys.readouterr()
    assert "REGRESSIONS (1): abstain_recall" in captured.out
    assert "REGRESSED abstain_recall" in captured.out and " new\n" in captured.out
    assert "FAIL: hit@3 = None is below the floor 0.9" in captured.err  # no answerable case: no hit@3
