"""What the tuning scripts share: the question files they read and the assistant they ask."""
from __future__ import annotations

import argparse

from assistant import Assistant
from assistant.evaluate import load_cases

TUNING_FILES = ["evals/questions.jsonl", "evals/triage_tuning.jsonl"]  # never evals/heldout.jsonl


def load(description: str, kinds: tuple[str, ...]) -> tuple[Assistant, list[dict], list[str]]:
    """Parse `[QUESTIONS.jsonl ...] [--index index]`; return the assistant, the cases of these kinds, the files."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("questions", nargs="*", default=TUNING_FILES)
    ap.add_argument("--index", default="index")
    args = ap.parse_args()
    cases = [c for path in args.questions for c in load_cases(path) if c["kind"] in kinds]
    return Assistant.load(args.index), cases, args.questions
