"""Compare dense, BM25 and hybrid retrieval on the answerable cases of a question set.

Usage: python evals/retrieval_modes.py [evals/questions.jsonl ...] [--index index]
Prints hit@1, hit@3 and MRR@5 per mode (passage-level, evidence phrases as in the eval harness),
using each case's standalone (follow-up condensed) question.
"""
from __future__ import annotations

from tuning import load

from assistant import Assistant
from assistant.evaluate import supports
from assistant.followup import condense

MODES = ("dense", "bm25", "hybrid")


def score(bot: Assistant, cases: list[dict], mode: str) -> dict[str, float]:
    ranks = []
    for c in cases:
        hits = bot.retrieve(condense(c["question"], c["history"], bot.lexicon.is_topic_word), k=5, mode=mode)
        ranks.append(next((i + 1 for i, h in enumerate(hits) if supports(h.text, c["evidence"])), None))
    n = len(ranks)
    return {"hit@1": sum(r == 1 for r in ranks) / n, "hit@3": sum(bool(r and r <= 3) for r in ranks) / n,
            "mrr@5": sum(1 / r for r in ranks if r) / n}


def main() -> None:
    bot, cases, files = load(__doc__, ("answerable",))
    print(f"{len(cases)} answerable cases from {', '.join(files)}")
    print("| mode | hit@1 | hit@3 | mrr@5 |\n| --- | --- | --- | --- |")
    for mode in MODES:
        m = score(bot, cases, mode)
        print(f"| {mode} | {m['hit@1']:.3f} | {m['hit@3']:.3f} | {m['mrr@5']:.3f} |")
    if bot.index.sentences is not None:  # the default hybrid re-ranks by sentence; show what that adds
        plain = Assistant(bot.index, bot.embedder, bot.settings.replace(sentence_weight=0.0))
        m = score(plain, cases, "hybrid")
        print(f"| hybrid without sentence re-ranking | {m['hit@1']:.3f} | {m['hit@3']:.3f} | {m['mrr@5']:.3f} |")


if __name__ == "__main__":
    main()
