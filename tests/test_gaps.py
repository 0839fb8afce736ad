"""Content gaps: declined and thumbs-down questions grouped by meaning with the real encoder."""
from __future__ import annotations

from assistant import gaps
from assistant.text import question_key
from assistant.store import Store

PARKING = ["Do you validate parking tickets?", "Is parking validated at the clinic?",
           "Can I get my parking ticket validated?"]
BILLING = ["Do you accept Medicare insurance?", "Will my Medicare plan pay for a visit?"]
HOURS = ["What time do you open on Saturdays?"]
COST = ["How much does parking cost?"]  # the same topic as PARKING, another need


def test_paraphrases_group_together_and_different_needs_apart(embedder):
    items = [{"question": q, "kind": "abstained", "ts": f"2026-12-0{i + 1}T10:00:00Z"}
             for i, q in enumerate(PARKING + BILLING + HOURS + COST)]
    items.append({"question": PARKING[0].upper(), "kind": "disliked", "ts": "2026-12-06T10:00:00Z"})
    found = gaps.group(embedder, items)
    assert [(sorted(x.casefold() for x in [g.question, *g.examples]), g.count) for g in found] == [
        (sorted(x.casefold() for x in PARKING), 4), (sorted(x.casefold() for x in BILLING), 2),
        ([COST[0].casefold()], 1), ([HOURS[0].casefold()], 1)]
    assert (found[0].abstained, found[0].disliked, found[0].last_seen) == (3, 1, "2026-12-06T10:00:00Z")


def test_collect_takes_the_period_declined_and_thumbs_down_and_skips_curated(tmp_path):
    store = Store(tmp_path / "db.sqlite3")
    for q, route in [("Do you validate parking tickets?", "abstain"), ("How many sessions?", "answer"),
                     ("Do you accept Medicare?", "abstain")]:
        store.log_question(channel="api", question=q, standalone_question=q, route=route, triage="", sources=[],
                           latency_ms=1)
    asked = store.rows("questions")[1]["id"]  # "How many sessions?", answered but rated down by id only
    store.add_feedback(rating=-1, question_id=asked)
    store.add_feedback(rating=1, question="Do you accept Medicare?")
    got = gaps.collect(store, gaps.since(30), {question_key("do you accept medicare")})
    assert sorted((i["question"], i["kind"]) for i in got) == [("Do you validate parking tickets?", "abstained"),
                                                               ("How many sessions?", "disliked")]
    assert gaps.collect(store, "2999-01-01T00:00:00Z") == []
    assert gaps.group(None, []) == []
