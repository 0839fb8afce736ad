"""The question sets in evals/: well formed, evidence really in the corpus, enough of every kind."""
import json
from collections import Counter
from pathlib import Path

import pytest

from assistant.evaluate import KINDS, load_cases
from assistant.text import fold

EVALS = Path(__file__).resolve().parent.parent / "evals"
CORPUS = fold((Path(__file__).resolve().parent.parent / "corpus" / "prolotherapy.md").read_text(encoding="utf-8"))
SETS = sorted(EVALS.glob("*.jsonl"))


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.name)
def test_cases_are_valid_and_evidence_occurs_in_corpus(path):
    cases = load_cases(path)
    assert cases
    for case in cases:
        assert case["kind"] in KINDS
        for phrase in case["evidence"]:
            assert fold(phrase) in CORPUS, (case["id"], phrase)
        for turn in case["history"]:
            assert turn["role"] in ("user", "assistant") and isinstance(turn["content"], str)


def test_ids_unique_across_sets():
    ids = [json.loads(line)["id"] for p in SETS for line in p.read_text().splitlines() if line.strip()]
    assert len(ids) == len(set(ids))


def test_tuning_set_size():
    counts = Counter(c["kind"] for c in load_cases(EVALS / "questions.jsonl"))
    follow_ups = sum(1 for c in load_cases(EVALS / "questions.jsonl") if c["history"])
    assert sum(counts.values()) >= 150 and follow_ups >= 15
    assert counts["out_of_scope"] >= 30 and counts["emergency"] >= 30 and counts["personal_advice"] >= 20
    assert counts["greeting"] >= 5


ANSWER_SETS = sorted((EVALS / "answers").glob("*/*.jsonl"))


def test_answer_sets_split_by_author():
    halves = Counter(p.parent.name for p in ANSWER_SETS)
    assert halves == {"tuning": 3, "training": 2, "heldout": 3, "heldout2": 3, "heldout3": 2, "heldout4": 2}


@pytest.mark.parametrize("path", ANSWER_SETS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_answer_sets_valid_with_seed_evidence_in_the_shipped_article(path):
    cases = load_cases(path)
    kinds = Counter(c["kind"] for c in cases)
    assert kinds["answerable"] >= 30 and kinds["out_of_scope"] >= 10
    for case in cases:
        assert (case["kind"] == "answerable") == bool(case["source"])
        for turn in case["history"]:
            assert turn["role"] == "user" and isinstance(turn["content"], str)
        if case["source"] == ["prolotherapy.md"]:
            for phrase in case["evidence"]:
                assert fold(phrase) in CORPUS, (case["id"], phrase)
