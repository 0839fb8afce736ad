"""evals/answers_eval.py's scoring on hand-made rows: each metric counts what its docstring says."""
import importlib.util
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("answers_eval", Path(__file__).resolve().parent.parent / "evals" / "answers_eval.py")
answers_eval = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(answers_eval)


def row(kind, route, decision="answer", support=None, first=False, carrying=0, sentences=0, l911=False, crisis=False):
    return {"kind": kind, "route": route, "decision": decision, "first_support_rank": support, "first_carries": first,
            "carrying": carrying, "sentences": sentences, "line_911": l911, "line_crisis": crisis}


ROWS = [
    row("answerable", "answer", support=1, first=True, carrying=1, sentences=2),
    row("answerable", "answer", support=4, first=False, carrying=0, sentences=1, l911=True),
    row("answerable", "abstain", decision="closest", support=2),
    row("answerable", "emergency", decision=""),
    row("out_of_scope", "answer", support=None, l911=True),
    row("out_of_scope", "abstain", decision="closest", crisis=True),
    row("out_of_scope", "abstain", decision="abstain"),
    row("out_of_scope", "emergency", decision=""),
]


@pytest.mark.parametrize("metric,value", [
    ("answered", 0.5), ("not_answered", 0.75), ("closest_on_answerable", 0.25), ("closest_on_out_of_scope", 0.25),
    ("hit@3", 0.5), ("first_sentence", 0.5), ("citation_precision", round(1 / 3, 4)), ("sentences_per_answer", 1.5),
    ("line_911", round(2 / 6, 4)), ("line_crisis", round(1 / 6, 4)), ("not_escalated", 0.75),
])
def test_score_counts_each_metric_on_its_own_rows(metric, value):
    assert answers_eval.score(ROWS)[metric] == value


def test_no_escalation_at_all_scores_one_and_an_empty_half_none():
    assert answers_eval.score([r for r in ROWS if r["route"] != "emergency"])["not_escalated"] == 1.0
    assert answers_eval.score([])["not_escalated"] is None


def test_the_lines_on_top_of_an_answer_are_not_its_sentences():
    answer_sentences = answers_eval.answer_sentences
    text = ("**Call 988 if you are in crisis.**\n\n**If this is happening now, call 911.**\n\n"
            "Sessions are two to three weeks apart. [1] Each lasts thirty minutes. [1]\n\n**Sources**\n[1] x")
    expected = ["Sessions are two to three weeks apart.", "Each lasts thirty minutes."]
    assert answer_sentences(text, "**If this is happening now, call 911.**", "**Call 988 if you are in crisis.**") == expected
    assert answer_sentences(text.split("\n\n", 2)[2]) == expected
