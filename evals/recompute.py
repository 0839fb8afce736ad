"""Recompute every top-level metric of a report.json, and its 95% bootstrap interval, from its rows,
independently of the harness.

Usage: python evals/recompute.py RUN/report.json [--framing assistant/prompts/framing.md]
Prints each mismatch and exits 1 if any metric disagrees, 0 when all agree.

Nothing is imported from the assistant package: the definitions are re-implemented from the
design notes and the issue, from the rows' raw fields where they are present.
- Question reports (`assistant eval QUESTIONS.jsonl`): a passage supports a case when one of the
  case's evidence phrases occurs in its text, a citation when one occurs in the answer sentences that
  carry its [n] marker (read from the reply text), and citation precision is the share of the quoted
  sentences that hold one; phrases are compared case-insensitively with
  whitespace folded (curly quotes straightened); hit@k, mrr@5 over the first five passages seen;
  expected route per kind from the design; routing, emergency, abstention and framing rates as
  shares; latency percentiles by linear interpolation between the closest ranks. Framing is taken
  from each row's `framed` flag unless --framing names the framing text to check the reply against.
- BEIR reports (`assistant eval --beir DIR`): per query and retriever, from the stored top-10
  documents and the query's qrels: graded nDCG@10 (gain = grade when grade >= min_grade, log2
  discount, ideal from the qrels), MRR@10, recall@10 and P@5; then the mean over queries.

Ratios are computed exactly (fractions); a reported number agrees when it is the recomputed value
rounded to the report's precision (4 decimals, latencies 3), i.e. within half a unit of its last
place. Counts must be equal.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import re
import sys
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

EXPECTED = {"answerable": "answer", "out_of_scope": "abstain", "emergency": "emergency",
            "personal_advice": "advice", "greeting": "greeting"}
DATA_KEYS = ("rows", "run", "intervals")
BEIR_MODES = ("hybrid", "dense", "bm25")


# ---- shared -------------------------------------------------------------------------------------
def share(num: int, den: int) -> Fraction | None:
    return Fraction(num, den) if den else None


def norm(text: str) -> str:
    text = text.lower().replace("\u2018", "'").replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(re.split(r"\s+", text.replace("\u00a0", " "))).strip()


def has_evidence(text: str, evidence: list[str]) -> bool:
    return _has_evidence(text, tuple(evidence))


@functools.lru_cache(maxsize=200_000)  # the bootstrap asks the same questions of the same rows many times
def _has_evidence(text: str, evidence: tuple[str, ...]) -> bool:
    body = norm(text)
    return any(norm(e) in body for e in evidence)


def answer_sentences(text: str) -> list[tuple[set[int], str]]:
    """The reply's sentences above its source list, each with the citation numbers that close it."""
    body = text.split("\n**Sources**", 1)[0]
    out = []
    for m in re.finditer(r"(?s)(.+?)\s*((?:\[\d+\]\s*)+)", body):
        sentence = m.group(1).strip().lstrip("-*\u2022 ").strip()
        if sentence:
            out.append(({int(n) for n in re.findall(r"\d+", m.group(2))}, sentence))
    return out


def percentile(values: list[float], q: Fraction) -> Fraction | None:
    """Linear interpolation between the closest ranks, on the exact decimals the report stores."""
    if not values:
        return None
    xs = sorted(Fraction(repr(v)) for v in values)
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# ---- question reports ---------------------------------------------------------------------------
def question_metrics(rows: list[dict], framing: str | None = None) -> dict[str, object]:
    """Flat name -> exact value (Fraction, int, or None), from the rows' raw fields."""
    out: dict[str, object] = {"cases": len(rows)}
    answerable = [r for r in rows if r["kind"] == "answerable"]
    firsts = []
    cite_flags = []
    sentence_flags = []
    for r in answerable:
        ev = r["evidence"]
        firsts.append(next((i for i, p in enumerate(r["retrieved"][:5], 1) if has_evidence(p["text"], ev)), None))
        # what the answer quotes: its sentences with their [n] markers, read from the reply text
        quoted = answer_sentences(r["text"]) if r["citations"] and "text" in r else []
        if "text" in r:
            cite_flags.append([any(has_evidence(sent, ev) for nums, sent in quoted if c["number"] in nums)
                               for c in r["citations"]])
            sentence_flags += [has_evidence(sent, ev) for _, sent in quoted]
        else:  # hand-made rows without reply text: the flags they carry
            cite_flags.append([bool(c["supports"]) for c in r["citations"]])
            sentence_flags += [bool(q["carries"]) for q in r.get("quoted", [])]
    n = len(answerable)
    out["hit@1"] = share(sum(1 for f in firsts if f == 1), n)
    out["hit@3"] = share(sum(1 for f in firsts if f is not None and f <= 3), n)
    out["mrr@5"] = sum((Fraction(1, f) for f in firsts if f), Fraction(0)) / n if n else None
    out["citation_evidence_rate"] = share(sum(1 for flags in cite_flags if any(flags)), n)
    out["citation_precision"] = share(sum(sentence_flags), len(sentence_flags))

    kinds = sorted({r["kind"] for r in rows})
    for k in kinds:
        of_kind = [r for r in rows if r["kind"] == k]
        out[f"route_accuracy.{k}"] = share(sum(1 for r in of_kind if r["route"] == EXPECTED[k]), len(of_kind))
        for route in sorted({r["route"] for r in of_kind}):
            out[f"confusion.{k}.{route}"] = sum(1 for r in of_kind if r["route"] == route)
        lat = [r["latency_ms"] for r in of_kind]
        out[f"latency_ms.{k}.p50"] = percentile(lat, Fraction(1, 2))
        out[f"latency_ms.{k}.p95"] = percentile(lat, Fraction(95, 100))
    out["route_accuracy_overall"] = share(sum(1 for r in rows if r["route"] == EXPECTED[r["kind"]]), len(rows))
    emergencies = [r for r in rows if r["kind"] == "emergency"]
    others = [r for r in rows if r["kind"] != "emergency"]
    out["emergency_recall"] = share(sum(1 for r in emergencies if r["route"] == "emergency"), len(emergencies))
    out["emergency_false_alarm_rate"] = share(sum(1 for r in others if r["route"] == "emergency"), len(others))
    abstained = [r for r in rows if r["route"] == "abstain"]
    oos = [r for r in rows if r["kind"] == "out_of_scope"]
    out["abstain_precision"] = share(sum(1 for r in abstained if r["kind"] == "out_of_scope"), len(abstained))
    out["abstain_recall"] = share(sum(1 for r in oos if r["route"] == "abstain"), len(oos))
    replied = [r for r in rows if r["route"] != "emergency"]
    framed = [r["text"].rstrip().endswith(framing) if framing is not None else bool(r["framed"]) for r in replied]
    out["framing_rate"] = share(sum(framed), len(replied))
    out["latency_p50_ms"] = percentile([r["latency_ms"] for r in rows], Fraction(1, 2))
    out["latency_p95_ms"] = percentile([r["latency_ms"] for r in rows], Fraction(95, 100))
    return out


# ---- BEIR reports -------------------------------------------------------------------------------
def beir_query(ranked: list[str], qrels: dict[str, int], min_grade: int) -> dict[str, float]:
    gains = {d: g for d, g in qrels.items() if g >= min_grade}
    top: list[str] = []
    for d in ranked:
        if d not in top:
            top.append(d)
    top10 = top[:10]
    dcg = sum(gains.get(d, 0) / math.log2(rank + 1) for rank, d in enumerate(top10, 1))
    ideal_gains = sorted(gains.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal_gains, 1))
    first = next((rank for rank, d in enumerate(top10, 1) if d in gains), None)
    return {"ndcg@10": dcg / idcg if idcg else 0.0, "mrr@10": 1 / first if first else 0.0,
            "recall@10": sum(1 for d in top10 if d in gains) / len(gains) if gains else 0.0,
            "p@5": sum(1 for d in top[:5] if d in gains) / 5}


def beir_metrics(report: dict) -> tuple[dict[str, object], list[str]]:
    """Flat name -> value, and mismatches of the per-query values stored in the rows."""
    rows, min_grade = report["rows"], report["run"]["min_grade"]
    modes = [m for m in BEIR_MODES if m in report]
    out: dict[str, object] = {"queries": len(rows)}
    notes = []
    sums: dict[str, float] = defaultdict(float)
    for r in rows:
        for mode in modes:
            values = beir_query(r["ranked"][mode], r["qrels"], min_grade)
            for name, v in values.items():
                sums[f"{mode}.{name}"] += v
                stored = r.get("metrics", {}).get(mode, {}).get(name)
                if stored is None or abs(stored - v) > 1e-9:
                    notes.append(f"row {r['query_id']} {mode}.{name}: stored {stored}, recomputed {v}")
    for key, total in sums.items():
        out[key] = total / len(rows)
    for mode in modes:
        for name in ("ndcg@10", "mrr@10", "recall@10", "p@5"):
            out.setdefault(f"{mode}.{name}", None)
    return out, notes


# ---- comparison ---------------------------------------------------------------------------------
def flatten(report: dict) -> dict[str, object]:
    out: dict[str, object] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            out[prefix] = value

    for k, v in report.items():
        if k not in DATA_KEYS:
            walk(k, v)
    return out


def decimals(name: str) -> int:
    return 3 if "latency" in name else 4


def agrees(name: str, reported: object, exact: object) -> bool:
    if exact is None or reported is None:
        return exact is None and reported is None
    if isinstance(exact, int) and not isinstance(exact, bool):
        return reported == exact
    if isinstance(reported, bool) or not isinstance(reported, (int, float)):
        return False
    half_unit = Fraction(1, 2 * 10 ** decimals(name))
    return abs(Fraction(repr(reported)) - Fraction(exact)) <= half_unit + Fraction(1, 10 ** 12)


def check_intervals(report: dict, framing: str | None = None) -> list[str]:
    """The report's 95% bootstrap intervals recomputed: numpy default_rng(0).integers(0, n, (1000, n)) row
    resamples, every metric on each (as reported: rounded), the 2.5th and 97.5th percentiles (numpy's linear
    method). Agreement within one unit of the last reported place (rounding before interpolation)."""
    import numpy as np

    reported = report.get("intervals") or {}
    rows = report["rows"]
    if not reported or not rows:
        return []
    idx = np.random.default_rng(0).integers(0, len(rows), size=(1000, len(rows)))
    samples: dict[str, list[float]] = defaultdict(list)
    for resample in idx:
        for name, value in question_metrics([rows[i] for i in resample], framing).items():
            if value is not None and not name.startswith("confusion") and name != "cases":
                samples[name].append(round(float(value), decimals(name)))
    problems = []
    for name, ci in reported.items():
        if ci is None:
            continue
        if name not in samples:
            problems.append(f"interval of {name}: not recomputable from the rows")
            continue
        lo, hi = (round(float(x), 4) for x in np.percentile(np.array(samples[name]), [2.5, 97.5]))
        unit = 10 ** -decimals(name) + 1e-9
        if abs(lo - ci[0]) > unit or abs(hi - ci[1]) > unit:
            problems.append(f"interval of {name}: report {ci}, recomputed [{lo}, {hi}]")
    return problems


def check(report: dict, framing: str | None = None) -> list[str]:
    """Every disagreement between the report's top-level metrics and the recomputed ones."""
    if "rows" not in report:
        return ["the report has no rows to recompute from"]
    beir = "run" in report and any(m in report for m in BEIR_MODES)
    expected, notes = beir_metrics(report) if beir else (question_metrics(report["rows"], framing), [])
    reported = flatten(report)
    problems = list(notes)
    for name in sorted(set(expected) | set(reported)):
        if name not in reported:
            problems.append(f"{name}: missing from the report (recomputed {_show(expected[name])})")
        elif name not in expected:
            problems.append(f"{name}: in the report ({reported[name]}) but not recomputable from the rows")
        elif not agrees(name, reported[name], expected[name]):
            problems.append(f"{name}: report {reported[name]}, recomputed {_show(expected[name])}")
    return problems


def _show(value: object) -> str:
    return f"{float(value):.6f}" if isinstance(value, Fraction) else str(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Recompute a report.json's metrics from its rows.")
    ap.add_argument("report", help="report.json written by `assistant eval`")
    ap.add_argument("--framing", help="file with the framing text (e.g. assistant/prompts/framing.md) to re-check each reply's ending")
    args = ap.parse_args(argv)
    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    framing = Path(args.framing).read_text(encoding="utf-8").strip() if args.framing else None
    problems = check(report, framing)
    beir = "run" in report and any(m in report for m in BEIR_MODES)
    n_ci = 0 if beir else len([v for v in (report.get("intervals") or {}).values() if v])
    if n_ci:
        problems += check_intervals(report, framing)
    for line in problems:
        print(f"MISMATCH {line}")
    n = len(flatten(report))
    if problems:
        print(f"{len(problems)} mismatches in {args.report}")
        return 1
    print(f"all {n} metrics" + (f" and {n_ci} intervals" if n_ci else "")
          + f" in {args.report} agree with its {len(report['rows'])} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
