"""Messages in Spanish by an independent author (evals/languages/es_heldout.jsonl: emergencies, questions,
greetings; written from a brief, without the code or the patterns): how the assistant routes them.
Never prints the messages' texts, only the scores.

    python evals/language_eval.py [--index index]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant import Assistant  # noqa: E402
from assistant.evaluate import check_floors, intervals, parse_floors  # noqa: E402


def score(rows: list[dict]) -> dict:
    emerg = [r for r in rows if r["kind"] == "emergency"]
    others = [r for r in rows if r["kind"] != "emergency"]
    ratio = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
    return {"messages": len(rows),
            "emergency_recall": ratio(sum(r["route"] == "emergency" for r in emerg), len(emerg)),
            "false_alarm_rate": ratio(sum(r["route"] == "emergency" for r in others), len(others)),
            "emergency_number_in_every_reply": ratio(sum(r["has_number"] for r in rows), len(rows)),
            "answered_in_spanish": ratio(sum(r["spanish"] for r in rows), len(rows))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", default="index")
    ap.add_argument("--fail-under", nargs="*", default=[], help="metric=value floors (false_alarm_rate: a ceiling)")
    args = ap.parse_args()
    bot = Assistant.load(args.index)
    rows = []
    for line in (ROOT / "evals" / "languages" / "es_heldout.jsonl").open(encoding="utf-8"):
        case = json.loads(line)
        reply = bot.ask(case["text"])
        rows.append({"kind": case["kind"], "route": reply.route,
                     "has_number": bot.settings.emergency_number in reply.text,
                     "spanish": "inglés" in reply.text or "emergencia" in reply.text})
    m = score(rows)
    m["intervals"] = intervals(rows, score=score)
    m["routes_by_kind"] = {k: dict(Counter(r["route"] for r in rows if r["kind"] == k))
                           for k in ("emergency", "question", "greeting")}
    print(json.dumps({k: v for k, v in m.items() if k != "intervals"}, indent=1))
    missed = check_floors(m, parse_floors(args.fail_under))
    for line in missed:
        print("FLOOR MISSED:", line)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
