"""The clinic-library answer benchmark: independently written patient questions (evals/answers/), run on
the shipped seed corpus and on the clinic library (benchmarks/clinic_library.py), scored per half.

Authors (each saw only the brief in evals/answers/README.md and their own 13 articles, never the code or
the other sets): the tuning half may be read while tuning; of the held-out half only the scores printed
here are read, never its failing texts.

    .venv/bin/python evals/answers_eval.py --seed-index index --library-index runs/library/index \\
        [--out runs/answers_eval.json] [--fail-under heldout:library:answered=0.9 ...]

Metrics (answerable = single, follow-up, long and cross-article cases; out_of_scope = near misses):
- answered: answerable cases routed "answer"; not_answered: out-of-scope cases not routed "answer"
  (a hedged "closest" reply keeps route "abstain" and counts as not answered);
- hit@3: answerable cases with an evidence span in the top 3 passages;
- first_sentence: answered answerable cases whose first answer sentence carries the answer;
- citation_precision: answer sentences (of answered answerable cases) that carry the answer;
- line_911, line_crisis: replies (not escalations) carrying the "call 911 if this is happening now" line or
  the suicide crisis line on top (none of these questions is an emergency: the lines' cost);
- not_escalated: questions not routed "emergency" (none is an emergency, so each escalation is a false alarm
  on a lay question about a clinic library: a figure beside the triage sets' own false-alarm rate).
A sentence carries the answer when it holds at least half of an evidence span's words, or at least 60%
of its own words come from one (a sentence inside a longer span).
On the seed corpus, questions about the other articles are out of scope (the seed cannot answer them).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant import Assistant  # noqa: E402
from assistant.evaluate import check_floors, intervals, load_cases, parse_floors, supports  # noqa: E402
from assistant.text import analyze  # noqa: E402

SETS = REPO / "evals" / "answers"
SEED_SOURCE = "prolotherapy.md"
# The answer decision's signals kept in each row (for fitting or checking a decision on them)
SIGNALS = ("top_dense", "coverage", "passage_coverage", "top_sentence")
_MARKED = re.compile(r"(.+?)\s\[(\d+)\](?=\s|$)", re.S)


def answer_sentences(text: str, *lines: str) -> list[str]:
    """The cited sentences of an extractive answer, in order (after the lines on top, such as the safety
    line and the crisis line, and the "Answering:" line; before the sources list)."""
    body = text.split("**Sources**")[0].strip()
    for _ in lines:
        line = next((x for x in lines if x and body.startswith(x)), "")
        body = body[len(line):].strip()
    body = re.sub(r"^_Answering:.*?_\n", "", body)
    return [m.group(1).strip() for m in _MARKED.finditer(body)]


def carries(sentence: str, evidence: list[str]) -> bool:
    s = set(analyze(sentence))
    for span in evidence:
        e = set(analyze(span))
        if not e or not s:
            continue
        common = len(s & e)
        if common / len(e) >= 0.5 or (len(s) >= 3 and common / len(s) >= 0.6):
            return True
    return False


def cases_for(half: str, corpus: str) -> list[dict]:
    out = []
    for f in sorted((SETS / half).glob("*.jsonl")):
        for c in load_cases(f):
            c = dict(c, author=f.stem)
            if corpus == "seed" and c["kind"] == "answerable" and set(c["source"]) != {SEED_SOURCE}:
                c = dict(c, kind="out_of_scope", why="answer is in another article")
            out.append(c)
    return out


def run(bot: Assistant, cases: list[dict]) -> list[dict]:
    rows = []
    bot.ask("What is this about?")
    line, crisis = bot.safety_line(), bot.crisis_line()
    for c in cases:
        t = time.perf_counter()
        r = bot.ask(c["question"], history=c.get("history") or [])
        ev = c.get("evidence") or []
        sents = answer_sentences(r.text, line, crisis) if r.route == "answer" else []
        rank = next((i + 1 for i, h in enumerate(r.retrieved[:5]) if ev and supports(h.text, ev)), None)
        rows.append({"id": c["id"], "author": c["author"], "kind": c["kind"], "form": c.get("form", ""),
                     "route": r.route, "decision": r.signals.get("decision"), "p_answer": r.signals.get("p_answer"),
                     "answer_p": r.signals.get("answer_p"),
                     **{k: r.signals.get(k) for k in SIGNALS},
                     "first_support_rank": rank, "sentences": len(sents),
                     "first_carries": bool(sents) and carries(sents[0], ev),
                     "carrying": sum(carries(s, ev) for s in sents),
                     "line_911": line in r.text, "line_crisis": crisis in r.text,
                     "latency_ms": round((time.perf_counter() - t) * 1000, 2)})
    return rows


def score(rows: list[dict]) -> dict:
    ans = [r for r in rows if r["kind"] == "answerable"]
    oos = [r for r in rows if r["kind"] == "out_of_scope"]
    answered = [r for r in ans if r["route"] == "answer"]
    replied = [r for r in rows if r["route"] != "emergency"]  # every reply but an escalation
    ratio = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
    return {
        "answerable": len(ans), "out_of_scope": len(oos),
        "answered": ratio(len(answered), len(ans)),
        "not_answered": ratio(sum(r["route"] != "answer" for r in oos), len(oos)),
        "closest_on_out_of_scope": ratio(sum(r["decision"] == "closest" for r in oos), len(oos)),
        "closest_on_answerable": ratio(sum(r["route"] != "answer" and r["decision"] in ("closest", "answer") for r in ans), len(ans)),
        "hit@3": ratio(sum(1 for r in ans if r["first_support_rank"] and r["first_support_rank"] <= 3), len(ans)),
        "first_sentence": ratio(sum(r["first_carries"] for r in answered), len(answered)),
        "citation_precision": ratio(sum(r["carrying"] for r in answered), sum(r["sentences"] for r in answered)),
        "sentences_per_answer": ratio(sum(r["sentences"] for r in answered), len(answered)),
        # the triage lines on replies that are not escalations (these questions are about no emergency)
        "line_911": ratio(sum(r["line_911"] for r in replied), len(replied)),
        "line_crisis": ratio(sum(r["line_crisis"] for r in replied), len(replied)),
        "not_escalated": ratio(len(replied), len(rows)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed-index", default="index")
    ap.add_argument("--library-index", default="runs/library/index")
    ap.add_argument("--halves", nargs="*", default=["tuning", "training", "heldout", "heldout2", "heldout3", "heldout4"])
    ap.add_argument("--out", default="runs/answers_eval.json")
    ap.add_argument("--fail-under", nargs="*", default=[], help="half:corpus:metric=floor")
    args = ap.parse_args()
    report: dict = {}
    all_rows: dict = {}
    for corpus, where in (("seed", args.seed_index), ("library", args.library_index)):
        if not where:
            continue
        bot = Assistant.load(where)
        for half in args.halves:
            rows = run(bot, cases_for(half, corpus))
            all_rows[f"{half}:{corpus}"] = rows
            report[f"{half}:{corpus}"] = score(rows)
            report[f"{half}:{corpus}"]["intervals"] = intervals(rows, score=score)
            by_author = defaultdict(list)
            for r in rows:
                by_author[r["author"]].append(r)
            report[f"{half}:{corpus}"]["by_author"] = {a: {k: v for k, v in score(rs).items() if k in ("answered", "not_answered", "first_sentence")}
                                                       for a, rs in sorted(by_author.items())}
    keys = ("answered", "not_answered", "closest_on_out_of_scope", "closest_on_answerable", "hit@3", "first_sentence",
            "citation_precision", "sentences_per_answer", "line_911", "line_crisis", "not_escalated")
    print(f"{'set':18s} " + " ".join(f"{k[:14]:>14s}" for k in keys))
    for name, m in report.items():
        print(f"{name:18s} " + " ".join(f"{str(m[k]):>14s}" for k in keys))
        ci = m["intervals"]
        print(f"{'  95% interval':18s} " + " ".join(f"{'' if not ci.get(k) else f'{ci[k][0]:.2f}-{ci[k][1]:.2f}':>14s}"
                                                   for k in keys))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"metrics": report, "rows": all_rows}, indent=1), encoding="utf-8")
    # half:corpus:metric=value, checked as half:corpus.metric by the eval harness
    failed = check_floors(report, {k[::-1].replace(":", ".", 1)[::-1]: v for k, v in parse_floors(args.fail_under).items()})
    for f in failed:
        print("FAIL", f)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
