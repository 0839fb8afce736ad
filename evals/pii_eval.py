"""Recall and precision of the question log's redaction on the PII sets (evals/pii/, independent authors).

A labelled identifier counts as removed when none of its words (2+ letters or digits, compared after NFKC,
look-alike folding and lowercasing) is left in the redacted text more often than in the message with every
labelled identifier cut out; a `keep` word (eponymous condition, drug, dose...) counts as kept when it is
still in the redacted text. Held-out files print scores only, never texts:

    python evals/pii_eval.py                      # both halves
    python evals/pii_eval.py --show-misses tuning # the tuning half's misses, to improve the redactor
    python evals/pii_eval.py --fail-under heldout:recall=0.98
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
import unicodedata
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.evaluate import check_floors, intervals, parse_floors  # noqa: E402
from assistant.redact import NAME_MODES, redact  # noqa: E402
from assistant.text import fold_look_alikes  # noqa: E402

SETS = ROOT / "evals" / "pii"
_TOKEN = re.compile(r"[^\W_]{2,}|\d+")


def norm(text: str) -> str:
    return fold_look_alikes(unicodedata.normalize("NFKC", text)).casefold()


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(norm(text))


def load(half: str) -> dict[str, list[dict]]:
    return {p.stem: [json.loads(line) for line in p.open(encoding="utf-8") if line.strip()]
            for p in sorted((SETS / half).glob("*.jsonl"))}


def score_message(case: dict, names: str = "union") -> tuple[list[tuple[dict, bool]], list[tuple[str, bool]], str]:
    text = case["text"]
    out = redact(text, names)
    rest = text
    for span in sorted(case["pii"], key=lambda s: -len(s["text"])):
        rest = rest.replace(span["text"], " ")
    out_counts, rest_counts = Counter(tokens(out)), Counter(tokens(rest))
    pii = []
    for span in case["pii"]:
        leaked = [t for t in tokens(span["text"]) if out_counts[t] > rest_counts[t]]
        pii.append((span, not leaked))
    out_norm = norm(out)
    keep = [(k, norm(k) in out_norm) for k in case.get("keep", [])]
    return pii, keep, out


def words_kept(case: dict, out: str) -> tuple[int, int]:
    """(words of the message that are not identifiers and survive redaction, all such words): what staff
    still read of a message; over-redaction (every capitalised word taken for a name) shows here."""
    rest = case["text"]
    for span in sorted(case["pii"], key=lambda s: -len(s["text"])):
        rest = rest.replace(span["text"], " ")
    out_counts, rest_counts = Counter(tokens(out)), Counter(tokens(rest))
    return sum(min(out_counts[t], n) for t, n in rest_counts.items()), sum(rest_counts.values())


def run(half: str, show: bool = False, names: str = "union") -> list[dict]:
    """One row per message: each labelled identifier's type and whether it was removed, each keep word's
    fate, the time taken."""
    rows = []
    for author, cases in load(half).items():
        for case in cases:
            t0 = time.perf_counter()
            pii, keep, out = score_message(case, names)
            ms = (time.perf_counter() - t0) * 1000
            rows.append({"author": author, "pii": [(span["type"], ok) for span, ok in pii],
                         "keep": [ok for _, ok in keep], "words": words_kept(case, out), "ms": ms})
            if show and (not all(ok for _, ok in pii) or not all(ok for _, ok in keep)):
                missed = [f"{s['type']}:{s['text']}" for s, ok in pii if not ok]
                lost = [k for k, ok in keep if not ok]
                print(f"- {case['id']}: missed {missed} lost {lost}\n    {out[:400]!r}")
    return rows


def score(rows: list[dict]) -> dict:
    by_type, found = Counter(), Counter()
    for r in rows:
        for kind, ok in r["pii"]:
            by_type[kind] += 1
            found[kind] += ok
    total, keep = sum(by_type.values()), [ok for r in rows for ok in r["keep"]]
    ms = sorted(r["ms"] for r in rows) or [0.0]
    return {"messages": len(rows), "identifiers": total, "recall": round(sum(found.values()) / max(total, 1), 4),
            "name_recall": round(found["NAME"] / max(by_type["NAME"], 1), 4),
            "recall_by_type": {k: f"{found[k]}/{by_type[k]}" for k in sorted(by_type)},
            "messages_fully_redacted": round(sum(all(ok for _, ok in r["pii"]) for r in rows) / max(len(rows), 1), 4),
            "keep_words": len(keep), "keep_precision": round(sum(keep) / max(len(keep), 1), 4),
            "words_kept": round(sum(r["words"][0] for r in rows) / max(sum(r["words"][1] for r in rows), 1), 4),
            "ms_p50": round(ms[len(ms) // 2], 2), "ms_p95": round(ms[int(len(ms) * 0.95)], 2)}


def evaluate(half: str, show: bool = False, names: str = "union") -> dict:
    rows = run(half, show, names)
    ci = intervals(rows, score=score)
    return {**score(rows), "intervals": {k: ci[k] for k in ("recall", "name_recall", "messages_fully_redacted",
                                                            "keep_precision", "words_kept") if k in ci}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--show-misses", choices=["tuning", "training", "training_rules"], help="print a half's misses (never held-out)")
    ap.add_argument("--names", choices=NAME_MODES, default="union", help="how names are found (redact.find)")
    ap.add_argument("--halves", nargs="*", default=["tuning", "heldout", "heldout2", "heldout3", "heldout4"],
                    help="training, training_rules, tuning, heldout, heldout2, heldout3, heldout4")
    ap.add_argument("--fail-under", nargs="*", default=[], help="half:metric=value floors, e.g. heldout:recall=0.98")
    args = ap.parse_args(argv)
    results = {}
    for half in args.halves:
        results[half] = evaluate(half, show=args.show_misses == half, names=args.names)
        print(half, json.dumps(results[half]))
    # half:metric=value, checked as half.metric by the eval harness
    failed = check_floors(results, {k.replace(":", ".", 1): v for k, v in parse_floors(args.fail_under).items()})
    for f in failed:
        print("FLOOR MISSED:", f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
