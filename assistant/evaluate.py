"""Eval harness: run question benchmarks through Assistant.ask and compute the metrics from per-case
rows (so every number can be recomputed from report.json)."""
from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from pathlib import Path

from .documents import jsonl_objects
from .errors import InputError
from .text import fold

KINDS = ("answerable", "out_of_scope", "emergency", "personal_advice", "greeting")
EXPECTED_ROUTE = {"answerable": "answer", "out_of_scope": "abstain", "emergency": "emergency",
                  "personal_advice": "advice", "greeting": "greeting"}


def load_cases(path: str | Path) -> list[dict]:
    """Benchmark cases from a JSONL file, validated; errors name the line."""
    cases, ids = [], set()
    for n, case in jsonl_objects(path):
        if case.get("kind") not in KINDS:
            raise InputError(f"{path}:{n}: kind {case.get('kind')!r}; choose one of {', '.join(KINDS)}.")
        if not isinstance(case.get("question"), str) or not case.get("id"):
            raise InputError(f"{path}:{n}: each case needs an id and a question.")
        if case["kind"] == "answerable" and not case.get("evidence"):
            raise InputError(f"{path}:{n}: an answerable case needs evidence phrases.")
        if case["id"] in ids:
            raise InputError(f"{path}:{n}: duplicate id {case['id']!r}.")
        ids.add(case["id"])
        case.setdefault("history", [])
        case.setdefault("evidence", [])
        cases.append(case)
    return cases


def supports(text: str, evidence: list[str]) -> bool:
    """A passage supports a case when one of its evidence phrases occurs in it (folded)."""
    folded = fold(text)
    return any(fold(e) in folded for e in evidence)


_QUOTED = re.compile(r"(?s)(.+?)\s*((?:\[\d+\]\s*)+)")


def quoted_sentences(text: str) -> list[tuple[list[int], str]]:
    """The answer's sentences and the citation numbers each carries ("... weeks apart. [1]"), from the reply
    text above its source list."""
    body = text.split("\n**Sources**", 1)[0]
    out = []
    for m in _QUOTED.finditer(body):
        sentence = m.group(1).strip().lstrip("-*• ").strip()
        numbers = [int(n) for n in re.findall(r"\d+", m.group(2))]
        if sentence:
            out.append((numbers, sentence))
    return out


def run_case(bot, case: dict, framing: str) -> dict:
    """One row: what the assistant did with the case, and what was expected."""
    t = time.perf_counter()
    reply = bot.ask(case["question"], history=case.get("history") or [])
    latency = (time.perf_counter() - t) * 1000
    ev = case.get("evidence") or []
    retrieved = [{"chunk_id": h.chunk_id, "source": h.source, "score": round(h.score, 6),
                  "dense_score": h.dense_score, "bm25_score": h.bm25_score,
                  "supports": supports(h.text, ev) if ev else None, "text": h.text}
                 for h in reply.retrieved[:5]]
    # A citation supports the case when the sentences the answer quotes from it hold an evidence phrase
    # (not merely the passage behind it); `passage_supports` keeps the looser reading.
    quoted = [{"numbers": nums, "sentence": sent, "carries": supports(sent, ev) if ev else None}
              for nums, sent in quoted_sentences(reply.text)] if reply.citations else []
    cited = [{"number": c.number, "source": c.source, "chunk_id": c.chunk_id,
              "supports": any(q["carries"] for q in quoted if c.number in q["numbers"]) if ev else None,
              "passage_supports": supports(c.text, ev) if ev else None, "text": c.text} for c in reply.citations]
    first = next((i + 1 for i, r in enumerate(retrieved) if r["supports"]), None)
    return {
        "id": case["id"], "kind": case["kind"], "question": case["question"], "history": case.get("history") or [],
        "evidence": ev, "expected_route": EXPECTED_ROUTE[case["kind"]], "route": reply.route,
        "route_ok": reply.route == EXPECTED_ROUTE[case["kind"]], "standalone_question": reply.standalone_question,
        "triage": reply.triage, "signals": reply.signals, "first_support_rank": first,
        "retrieved": retrieved, "citations": cited, "quoted": quoted, "framed": reply.text.rstrip().endswith(framing),
        "latency_ms": round(latency, 3), "text": reply.text,
    }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    pos = (len(values) - 1) * q
    lo, hi = int(pos), min(int(pos) + 1, len(values) - 1)
    return round(values[lo] + (values[hi] - values[lo]) * (pos - lo), 3)


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def metrics(rows: list[dict]) -> dict:
    """Every metric, computed only from the rows."""
    ans = [r for r in rows if r["kind"] == "answerable"]
    m: dict = {"cases": len(rows)}
    m["hit@1"] = _ratio(sum(1 for r in ans if r["first_support_rank"] == 1), len(ans))
    m["hit@3"] = _ratio(sum(1 for r in ans if r["first_support_rank"] and r["first_support_rank"] <= 3), len(ans))
    m["mrr@5"] = round(sum(1 / r["first_support_rank"] for r in ans if r["first_support_rank"]) / len(ans), 4) if ans else None
    m["citation_evidence_rate"] = _ratio(sum(1 for r in ans if any(c["supports"] for c in r["citations"])), len(ans))
    # Of the sentences answers quote, the share that carries the answer (evidence phrase in the sentence).
    quoted = [q for r in ans for q in r.get("quoted", [])]
    m["citation_precision"] = _ratio(sum(1 for q in quoted if q["carries"]), len(quoted))
    by_kind: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r)
    m["route_accuracy"] = {k: _ratio(sum(r["route_ok"] for r in v), len(v)) for k, v in sorted(by_kind.items())}
    m["route_accuracy_overall"] = _ratio(sum(r["route_ok"] for r in rows), len(rows))
    confusion: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        confusion[r["kind"]][r["route"]] += 1
    m["confusion"] = {k: dict(v) for k, v in sorted(confusion.items())}
    emerg = by_kind.get("emergency", [])
    others = [r for r in rows if r["kind"] != "emergency"]
    m["emergency_recall"] = _ratio(sum(r["route"] == "emergency" for r in emerg), len(emerg))
    m["emergency_false_alarm_rate"] = _ratio(sum(r["route"] == "emergency" for r in others), len(others))
    abstained = [r for r in rows if r["route"] == "abstain"]
    oos = by_kind.get("out_of_scope", [])
    m["abstain_precision"] = _ratio(sum(r["kind"] == "out_of_scope" for r in abstained), len(abstained))
    m["abstain_recall"] = _ratio(sum(r["route"] == "abstain" for r in oos), len(oos))
    non_emerg = [r for r in rows if r["route"] != "emergency"]
    m["framing_rate"] = _ratio(sum(r["framed"] for r in non_emerg), len(non_emerg))
    m["latency_ms"] = {k: {"p50": _pct([r["latency_ms"] for r in v], 0.5), "p95": _pct([r["latency_ms"] for r in v], 0.95)}
                       for k, v in sorted(by_kind.items())}
    m["latency_p50_ms"] = _pct([r["latency_ms"] for r in rows], 0.5)
    m["latency_p95_ms"] = _pct([r["latency_ms"] for r in rows], 0.95)
    return m


NOT_METRICS = ("rows", "run", "intervals", "paired")  # top-level keys of a report that hold data, not metrics

# Bootstrap: BOOTSTRAP resamples of the rows (numpy default_rng(BOOTSTRAP_SEED).integers(0, n, (B, n))),
# every metric recomputed on each; the interval is the 2.5th and 97.5th percentile (numpy's linear
# method). evals/recompute.py reproduces it from the rows.
BOOTSTRAP = 1000
BOOTSTRAP_SEED = 0


def _resamples(n: int, b: int = BOOTSTRAP, seed: int = BOOTSTRAP_SEED):
    import numpy as np

    return np.random.default_rng(seed).integers(0, n, size=(b, n))


def _interval(values: list[float]) -> list[float] | None:
    import numpy as np

    values = [v for v in values if v is not None]
    if not values:
        return None
    lo, hi = np.percentile(np.array(values, dtype=float), [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def intervals(rows: list[dict], b: int = BOOTSTRAP, score=None) -> dict[str, list[float] | None]:
    """95% bootstrap confidence interval of every metric, from the rows alone. `score` (rows -> metrics)
    defaults to this harness's `metrics`; the other evals (answers, triage, PII) pass their own."""
    if not rows:
        return {}
    score = score or metrics
    samples: dict[str, list[float]] = defaultdict(list)
    for idx in _resamples(len(rows), b):
        for k, v in flat_metrics(score([rows[i] for i in idx])).items():
            if not k.startswith("confusion") and k != "cases":
                samples[k].append(v)
    return {k: _interval(v) for k, v in samples.items()}


def paired(rows: list[dict], old_rows: list[dict], b: int = BOOTSTRAP) -> dict[str, dict]:
    """For the cases both runs share (matched by id): each metric's difference (new - old) and its 95%
    bootstrap interval, resampling the shared cases in pairs. A difference whose interval holds 0 is
    not shown to be a change."""
    old_by_id = {r["id"]: r for r in old_rows}
    pairs = [(r, old_by_id[r["id"]]) for r in rows if r["id"] in old_by_id]
    if not pairs:
        return {}
    new_m, old_m = flat_metrics(metrics([p[0] for p in pairs])), flat_metrics(metrics([p[1] for p in pairs]))
    diffs: dict[str, list[float]] = defaultdict(list)
    for idx in _resamples(len(pairs), b):
        a = flat_metrics(metrics([pairs[i][0] for i in idx]))
        o = flat_metrics(metrics([pairs[i][1] for i in idx]))
        for k in a:
            if k in o and a[k] is not None and o[k] is not None and not k.startswith("confusion") and k != "cases":
                diffs[k].append(a[k] - o[k])
    out = {}
    for k, v in diffs.items():
        if new_m.get(k) is None or old_m.get(k) is None:
            continue
        ci = _interval(v)
        out[k] = {"cases": len(pairs), "old": old_m[k], "new": new_m[k], "difference": round(new_m[k] - old_m[k], 4),
                  "interval": ci, "shown": bool(ci and (ci[0] > 0 or ci[1] < 0))}
    return out


def flat_metrics(m: dict) -> dict[str, float]:
    """Metric name -> number, nested ones as name.key (for --fail-under and --compare)."""
    out = {}
    for k, v in m.items():
        if k in NOT_METRICS:
            continue
        if isinstance(v, dict):
            for k2, v2 in v.items():
                if isinstance(v2, (int, float)):
                    out[f"{k}.{k2}"] = v2
        elif isinstance(v, (int, float)) and v is not None:
            out[k] = v
    return out


def run(bot, cases: list[dict], progress=None) -> tuple[list[dict], dict]:
    """Run every case (after one warm-up ask) and compute the metrics."""
    framing = bot._texts["framing"]
    bot.ask("What is this about?")
    rows = []
    for i, case in enumerate(cases, 1):
        rows.append(run_case(bot, case, framing))
        if progress:
            progress(i, len(cases))
    return rows, metrics(rows)


def failures(rows: list[dict]) -> list[dict]:
    """Rows that missed their route, or (answerable) whose citations hold no evidence."""
    return [r for r in rows if not r["route_ok"] or not r["framed"] and r["route"] != "emergency"
            or (r["kind"] == "answerable" and not any(c["supports"] for c in r["citations"]))]


PLOTS = {"signals": "signals.png", "route_accuracy": "route_accuracy.png", "latency": "latency.png"}
SIGNALS = (("top_dense", "abstain_min_dense", "top dense cosine"),
           ("coverage", "abstain_min_coverage", "salience-weighted coverage"))
LEARNED_SIGNALS = (("p_answer", "answer_cutoff", "answer probability (assistant/decide.py)"),
                   ("top_sentence", "", "best sentence cosine"))


def abstain_thresholds(bot) -> dict[str, float]:
    """The abstention thresholds a run used, to mark on the signal plot: the rule's, or the learned
    decision's cut-off (settings, else the index's calibration, else the model's)."""
    s = bot.settings
    if s.answer_decision != "learned":
        return {name: getattr(s, name) for _, name, _ in SIGNALS}
    return {"answer_cutoff": round(bot.answer_cutoffs()[0], 4)}


def markdown(m: dict, rows: list[dict], title: str, thresholds: dict[str, float] | None = None) -> str:
    """report.md: the metric tables, the plots, then every failure with the passages it saw."""
    ci = m.get("intervals") or {}
    lines = [f"# {title}", "", f"{m['cases']} cases. Intervals: 95% bootstrap ({BOOTSTRAP} resamples of the cases).",
             "", "| metric | value | 95% interval |", "| --- | --- | --- |"]
    for k, v in flat_metrics(m).items():
        if not k.startswith(("confusion", "latency_ms")):
            lines.append(f"| {k} | {v} | {'' if not ci.get(k) else f'{ci[k][0]} – {ci[k][1]}'} |")
    lines += ["", "## Latency (ms) by kind", "", "| kind | p50 | p95 |", "| --- | --- | --- |"]
    for k, v in m["latency_ms"].items():
        lines.append(f"| {k} | {v['p50']} | {v['p95']} |")
    routes = sorted({r for v in m["confusion"].values() for r in v})
    lines += ["", "## Confusion (rows: kind, columns: route)", "", "| kind | " + " | ".join(routes) + " |",
              "| --- |" + " --- |" * len(routes)]
    for k, v in m["confusion"].items():
        lines.append(f"| {k} | " + " | ".join(str(v.get(r, 0)) for r in routes) + " |")
    marks = ", ".join(f"{k} = {v}" for k, v in (thresholds or {}).items())
    lines += ["", "## Plots", "",
              f"Abstention signals, answerable versus out-of-scope questions{f' (thresholds: {marks})' if marks else ''}; "
              "a question is answered only when both signals reach their thresholds.", "",
              f"![abstention signals]({PLOTS['signals']})", "", f"![route accuracy per kind]({PLOTS['route_accuracy']})",
              "", f"![latency]({PLOTS['latency']})"]
    fails = failures(rows)
    lines += ["", f"## Failures ({len(fails)})", ""]
    for r in fails:
        lines += [f"### {r['id']} ({r['kind']})", "", f"- question: {r['question']}",
                  f"- standalone: {r['standalone_question']}", f"- expected: {r['expected_route']}; got: {r['route']} ({r['triage']})",
                  f"- signals: {json.dumps(r['signals'])}", f"- evidence: {r['evidence']}", "- passages seen:"]
        for p in r["retrieved"]:
            lines.append(f"  - `{p['chunk_id']}` score {p['score']} dense {p['dense_score']} bm25 {p['bm25_score']} supports={p['supports']}")
        lines.append("")
    return "\n".join(lines)


def _figure(width: float, height: float, cols: int = 1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)  # the Agg backend, without touching pyplot's global state
    return fig, fig.subplots(1, cols, squeeze=False)[0]


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def plot_signals(rows: list[dict], thresholds: dict[str, float], path: Path) -> Path:
    """Histograms of both abstention signals, answerable vs out-of-scope, thresholds as vertical lines."""
    fig, axes = _figure(10, 3.8, 2)
    signals = LEARNED_SIGNALS if "answer_cutoff" in thresholds else SIGNALS
    for ax, (signal, setting, label) in zip(axes, signals):
        for kind, color in (("answerable", "tab:blue"), ("out_of_scope", "tab:orange")):
            values = [r["signals"][signal] for r in rows if r["kind"] == kind and signal in (r.get("signals") or {})]
            if values:
                ax.hist(values, bins=20, range=(0, 1), alpha=0.6, color=color, label=f"{kind} (n={len(values)})")
        if setting in thresholds:
            ax.axvline(thresholds[setting], color="black", linestyle="--", label=f"{setting} = {thresholds[setting]}")
        ax.set_xlim(0, 1)
        ax.set_xlabel(label)
        ax.set_ylabel("questions")
        _legend(ax)
    fig.suptitle("Abstention signals: answered when both reach their thresholds")
    fig.savefig(path)
    return path


def plot_route_accuracy(m: dict, rows: list[dict], path: Path) -> Path:
    """Route accuracy per kind, as bars labelled with the share and the count."""
    fig, (ax,) = _figure(7, 3.8)
    kinds = list(m["route_accuracy"])
    values = [m["route_accuracy"][k] or 0.0 for k in kinds]
    bars = ax.bar(kinds, values, color="tab:green")
    for bar, k, v in zip(bars, kinds, values):
        n = sum(1 for r in rows if r["kind"] == k)
        ax.text(bar.get_x() + bar.get_width() / 2, v + 0.01, f"{v:.3f} (n={n})", ha="center", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("route accuracy")
    ax.set_title("Route accuracy per kind")
    ax.tick_params(axis="x", labelsize=8)
    fig.savefig(path)
    return path


def plot_latency(m: dict, rows: list[dict], path: Path) -> Path:
    """Latency histogram of every case, stacked by kind, with the overall p50 and p95."""
    fig, (ax,) = _figure(7, 3.8)
    kinds = sorted({r["kind"] for r in rows})
    data = [[r["latency_ms"] for r in rows if r["kind"] == k] for k in kinds]
    if rows:
        ax.hist(data, bins=30, stacked=True, label=kinds)
    for name, style in (("latency_p50_ms", "--"), ("latency_p95_ms", ":")):
        if m.get(name) is not None:
            ax.axvline(m[name], color="black", linestyle=style, label=f"{name[8:11]} {m[name]} ms")
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("cases")
    ax.set_title("Latency per case")
    _legend(ax)
    fig.savefig(path)
    return path


def write_plots(out_dir: str | Path, m: dict, rows: list[dict], thresholds: dict[str, float] | None = None) -> list[Path]:
    """The three PNGs next to report.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [plot_signals(rows, thresholds or {}, out / PLOTS["signals"]),
            plot_route_accuracy(m, rows, out / PLOTS["route_accuracy"]),
            plot_latency(m, rows, out / PLOTS["latency"])]


def write_report(out_dir: str | Path, m: dict, rows: list[dict], title: str,
                 thresholds: dict[str, float] | None = None) -> Path:
    """report.json (the metrics at the top level, their 95% intervals under `intervals`, plus `rows`),
    report.md and the plots."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = {**m, "intervals": m.get("intervals") or intervals(rows)}
    (out / "report.json").write_text(json.dumps({**m, "rows": rows}, indent=1, ensure_ascii=False), encoding="utf-8")
    (out / "report.md").write_text(markdown(m, rows, title, thresholds), encoding="utf-8")
    write_plots(out, m, rows, thresholds)
    return out


def parse_floors(items: list[str]) -> dict[str, float]:
    """--fail-under METRIC=VALUE items as {metric: value}."""
    floors = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            floors[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--fail-under takes METRIC=VALUE, got {item!r}.") from None
    return floors


def check_floors(m: dict, floors: dict[str, float]) -> list[str]:
    """Messages for every metric past its limit (a missing metric fails too): a floor, or a ceiling for
    the metrics where lower is better (false-alarm rates, latencies). Nested metrics as name.key."""
    flat = flat_metrics(m)
    bad = []
    for name, limit in floors.items():
        value = flat.get(name)
        ceiling = any(w in name for w in LOWER_IS_BETTER)
        if value is None or (value > limit if ceiling else value < limit):
            bad.append(f"{name} = {value} is {'above the ceiling' if ceiling else 'below the floor'} {limit}")
    return bad


LOWER_IS_BETTER = ("latency", "false_alarm", "downgraded", "line_on_plain")  # rates that should be low
LATENCY_TOLERANCE = 1.2  # timings are noisy: a latency regresses when it grows by more than 20%


def regressed(name: str, old: float, new: float) -> bool:
    """Whether a metric got worse: any drop of a score, any rise of a false-alarm rate, a latency past
    the tolerance."""
    if "latency" in name:
        return new > old * LATENCY_TOLERANCE
    if any(w in name for w in LOWER_IS_BETTER):
        return new > old + 1e-9
    return new < old - 1e-9


def compare(m: dict, old: dict) -> list[tuple[str, float | None, float | None, bool]]:
    """(metric, old, new, regressed) for every metric of either run; a metric the new run lost
    (new is None) counts as regressed, one it gained (old is None) does not."""
    new_f, old_f = flat_metrics(m), flat_metrics(old)
    out = []
    for k in list(new_f) + [k for k in old_f if k not in new_f]:
        if k.startswith("confusion") or k in ("cases", "queries"):
            continue
        a, b = old_f.get(k), new_f.get(k)
        out.append((k, a, b, b is None or (a is not None and regressed(k, a, b))))
    return out
