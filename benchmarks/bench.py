"""The performance suite behind `make bench`: one table of our figures against the stock LangChain recipe.

Baseline ("stock"): RecursiveCharacterTextSplitter(1000/200), the same embedding model through
sentence-transformers, a flat FAISS inner-product index, `similarity_search` k=4 (retrieval alone).
Each figure is measured in the same run for ours and the baseline, alternating run by run (or round
by round), and medians are quoted. Sections run one after the other, never two heavy jobs at once.

Figures
  warm ask, shipped corpus   Assistant.ask (query-vector cache cleared before each ask) vs stock
                             similarity_search over the stock 1000/200 chunks of corpus/; p50/p95 ms.
  warm ask, MedQuAD          Assistant.ask on the MedQuAD index (data/medquad_beir/index, all answers)
                             vs a flat FAISS over the SAME number of vectors (our stored chunk embeddings,
                             a stand-in for the stock index's search cost: building the stock 1000/200
                             index over all of MedQuAD takes ~50 min), query encoded the stock way.
  index build                build_throughput.py on the first --build-limit MedQuAD documents (a bounded
                             subset; the whole set takes ~50 min): build chunks/s vs raw model.encode of
                             the same chunks; ratio = build / raw (floor >= 0.85).
  cold ask                   wall time of `assistant ask --index index Q` from process start to exit vs a
                             stock script (load the model with sentence-transformers, read a saved flat
                             FAISS, similarity_search k=4, print); one untimed run of each first.
  app healthy                `python app.py` start to the first 200 from /healthz (polled every 0.3 s);
                             no baseline.
  HTTP                       POST /api/ask at 1, 8, 32 concurrent clients (benchmarks/http_load.Run,
                             letter case varied so the query cache misses); req/s, p50, p95, errors.
  memory                     VmHWM (peak resident) of the app process after warm-up and requests, with the
                             shipped index and with the MedQuAD index; baseline column: VmHWM of the stock
                             cold-ask script with the matching flat index (a retrieval process, no web server).

Usage: python benchmarks/bench.py [--quick] [--index index] [--medquad-index data/medquad_beir/index]
Writes benchmarks/results/bench.json and bench.md and prints the table.
If the MedQuAD index is missing it builds one from the first --medquad-build-limit documents (a subset,
reported as such) under data/medquad_beir/index.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from provenance import write_result  # noqa: E402 - benchmarks/ is the script's folder

REPO_ROOT = Path(__file__).resolve().parent.parent
for p in (REPO_ROOT, REPO_ROOT / "benchmarks", REPO_ROOT / "tests"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
RESULTS = REPO_ROOT / "benchmarks" / "results"

STOCK_ASK = r'''
import json, sys, time
t0 = time.perf_counter()
import faiss
import torch
from sentence_transformers import SentenceTransformer
model_path, index_path, texts_path, question, threads = sys.argv[1:6]
if int(threads) > 0:
    torch.set_num_threads(int(threads))
model = SentenceTransformer(model_path, device="cpu")
index = faiss.read_index(index_path)
texts = json.load(open(texts_path, encoding="utf-8"))
vec = model.encode([question], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
_, ids = index.search(vec.astype("float32"), 4)
docs = [texts[i] for i in ids[0] if i >= 0]
print(docs[0][:300] if docs else "")
for line in open("/proc/self/status"):
    if line.startswith("VmHWM:"):
        print("VmHWM_KiB", line.split()[1])
'''


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rel(path: str) -> str:
    p = Path(path)
    return str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(p)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def pctl(values: list[float], q: float) -> float:
    from http_load import percentile
    return percentile(values, q)


def git(*cmd: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO_ROOT), *cmd], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""


def machine_info() -> dict:
    import faiss
    import onnxruntime
    import sentence_transformers
    import torch

    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "")
    mem_kib = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                    if l.startswith("MemTotal:")), 0)
    return {
        "cores": os.cpu_count(), "cpu_model": cpu, "mem_total_gib": round(mem_kib / 1024 ** 2, 1),
        "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "onnxruntime": onnxruntime.__version__,
        "faiss": getattr(faiss, "__version__", "?"), "sentence_transformers": sentence_transformers.__version__,
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_code": [l.split(maxsplit=1)[-1] for l in git("status", "--porcelain", "--", "assistant", "app.py").splitlines()],
    }


def vm_hwm_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def medquad_questions(n: int) -> list[dict]:
    from medquad import medquad_path

    recs = [json.loads(l) for l in medquad_path().read_text(encoding="utf-8").splitlines() if l.strip()]
    recs = [r for r in recs if (r.get("question") or "").strip() and (r.get("answer") or "").strip()]
    step = max(1, len(recs) // n)
    return [{"question": r["question"].strip(), "history": []} for r in recs[::step][:n]]


def ensure_medquad_index(path: Path, limit: int) -> dict:
    if (path / "CURRENT").is_file():
        return {"path": rel(str(path)), "built_here": False}
    from assistant.embedding import Embedder
    from assistant.index import build_index
    from assistant.settings import load_settings
    from medquad import load_medquad

    log(f"no MedQuAD index at {path}: building one from the first {limit} MedQuAD documents (subset)")
    settings = load_settings()
    docs = load_medquad(limit=limit)
    t = time.perf_counter()
    report = build_index(settings, Embedder(settings.model), index_dir=path, documents=docs, full=True)
    return {"path": rel(str(path)), "built_here": True, "subset_documents": len(docs), "chunks": report.chunks,
            "build_seconds": round(time.perf_counter() - t, 1)}


# ---- warm ask ----------------------------------------------------------------------------------------
def warm_ask(args, tmp: Path) -> dict:
    import faiss
    import numpy as np
    from ask_latency import StockPipeline, timed

    from assistant import Assistant
    from assistant.embedding import Embedder
    from assistant.evaluate import load_cases
    from assistant.settings import load_settings

    import torch

    if args.stock_threads > 0:  # the stock encoder's torch threads (ours encodes questions with 1 ONNX thread)
        torch.set_num_threads(args.stock_threads)
    settings = load_settings()
    embedder = Embedder(settings.model, query_encoder=settings.query_encoder)
    out: dict = {"load_before": loadavg(), "stock_torch_threads": torch.get_num_threads()}

    def run_pair(ask, search, cases, rounds) -> dict:
        qs = [c["question"] for c in cases]
        for _ in range(2):  # warm both paths
            timed(ask, cases[:10])
            timed(search, qs[:10])
        ours, stock, ratios = [], [], []
        for r in range(rounds):  # alternate ours and the baseline, round by round
            a = timed(ask, cases)
            b = timed(search, qs)
            ours += a
            stock += b
            ratios.append(round(statistics.median(a) / statistics.median(b), 3))
        return {"questions": len(cases), "rounds": rounds,
                "ours_p50_ms": round(statistics.median(ours), 2), "ours_p95_ms": round(pctl(ours, 0.95), 2),
                "stock_p50_ms": round(statistics.median(stock), 2), "stock_p95_ms": round(pctl(stock, 0.95), 2),
                "per_round_ratio_of_medians": ratios}

    # Shipped corpus.
    log("warm ask, shipped corpus: loading ours and building the stock 1000/200 flat index")
    bot = Assistant.load(args.index, settings=settings, embedder=embedder)
    stock = StockPipeline(args.corpus, embedder)
    faiss.write_index(stock.index, str(tmp / "stock_shipped.faiss"))
    (tmp / "stock_shipped.json").write_text(json.dumps(stock.texts), encoding="utf-8")
    cases = [c for c in load_cases(args.questions) if c["kind"] == "answerable"]

    def ours_ask(case, bot=bot):
        embedder._cache.clear()
        bot.ask(case["question"], history=case["history"])

    out["shipped"] = run_pair(ours_ask, stock.similarity_search, cases, args.rounds)
    out["shipped"].update(our_chunks=len(bot.index), stock_chunks=len(stock.texts))
    log(f"  {out['shipped']}")
    del bot
    gc.collect()

    # MedQuAD.
    log(f"warm ask, MedQuAD: loading {rel(args.medquad_index)}")
    mq = Assistant.load(args.medquad_index, settings=settings, embedder=embedder)
    vecs = np.ascontiguousarray(mq.index.embeddings, dtype=np.float32)
    flat = faiss.IndexFlatIP(vecs.shape[1])
    flat.add(vecs)
    faiss.write_index(flat, str(tmp / "stock_medquad.faiss"))
    (tmp / "stock_medquad.json").write_text(json.dumps([c.text for c in mq.index.chunks]), encoding="utf-8")
    model = embedder.model

    def stock_search(q: str):
        v = model.encode([q], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        _, ids = flat.search(v.astype(np.float32), 4)
        return [mq.index.chunks[i].text for i in ids[0] if i >= 0]

    def mq_ask(case, bot=mq):
        embedder._cache.clear()
        bot.ask(case["question"], history=case["history"])

    out["medquad"] = run_pair(mq_ask, stock_search, medquad_questions(args.medquad_questions), args.rounds)
    out["medquad"].update(our_chunks=len(mq.index), stock_vectors=int(flat.ntotal),
                          stock_index="flat FAISS over our stored chunk embeddings (equal vector count; stand-in)")
    log(f"  {out['medquad']}")
    out["model_location"] = str(embedder.location)
    del mq, flat, vecs, stock
    gc.collect()
    out["load_after"] = loadavg()
    return out


# ---- index build -------------------------------------------------------------------------------------
def build(args, tmp: Path, sentences: bool = True) -> dict:
    """build_throughput.py on a MedQuAD subset; sentences=False builds chunk vectors only (as indexes above
    sentence_vectors_max_chunks are built), the same encoding work as the raw pass it is compared with."""
    out_file = tmp / f"build_throughput{'' if sentences else '_chunks_only'}.json"
    cmd = [sys.executable, str(REPO_ROOT / "benchmarks" / "build_throughput.py"), "--limit", str(args.build_limit),
           "--out", str(out_file), "--allow-dirty"]  # a scratch file; bench's own results file is guarded
    env = {**os.environ} if sentences else {**os.environ, "ASSISTANT_SENTENCE_VECTORS_MAX_CHUNKS": "0"}
    log(f"index build ({'with' if sentences else 'without'} sentence vectors): {shlex.join(cmd)}")
    before = loadavg()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, env=env)
    if not out_file.is_file():
        raise RuntimeError(f"build_throughput.py failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    r = json.loads(out_file.read_text())
    m = r["median"]
    return {"documents": r["documents"], "chunks": r["chunks"], "build_chunks_per_s": round(m["build_chunks_per_s"], 2),
            "raw_chunks_per_s": round(m["raw_chunks_per_s"], 2), "ratio": round(m["ratio_build_over_raw"], 3),
            "build_wall_s": round(m["build_wall_seconds"], 1), "raw_encode_s": round(m["raw_encode_seconds"], 1),
            "incremental_one_changed_s": round(r["incremental_one_changed"]["wall_seconds"], 2),
            "exit_code": proc.returncode, "log_tail": proc.stderr[-2500:], "load_before": before, "load_after": loadavg(),
            "command": f"benchmarks/build_throughput.py --limit {args.build_limit} --out <tmp>"}


# ---- cold start --------------------------------------------------------------------------------------
def cold(args, tmp: Path, model_location: str) -> dict:
    from cold_start import assistant_command, timed_run

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    question = args.cold_question
    script = tmp / "stock_ask.py"
    script.write_text(STOCK_ASK, encoding="utf-8")
    ours_cmd = assistant_command() + ["ask", "--index", args.index, question]
    stock_cmd = [sys.executable, str(script), model_location, str(tmp / "stock_shipped.faiss"),
                 str(tmp / "stock_shipped.json"), question, str(args.stock_threads)]
    log("cold ask: one untimed run of each, then alternating timed runs")
    timed_run(ours_cmd, env)
    timed_run(stock_cmd, env)
    before = loadavg()
    ours, stock, hwm = [], [], []
    for i in range(args.cold_runs):
        pair = [("ours", ours_cmd), ("stock", stock_cmd)]
        for name, cmd in (pair if i % 2 == 0 else pair[::-1]):
            secs, _, text = timed_run(cmd, env)
            (ours if name == "ours" else stock).append(secs)
            if name == "stock":
                hwm += [int(l.split()[1]) / 1024 for l in text.splitlines() if l.startswith("VmHWM_KiB")]
    # Stock retrieval process with the MedQuAD-sized flat index: its peak resident size (memory baseline).
    mq_cmd = [sys.executable, str(script), model_location, str(tmp / "stock_medquad.faiss"),
              str(tmp / "stock_medquad.json"), question, str(args.stock_threads)]
    mq_text = timed_run(mq_cmd, env)[2]
    mq_hwm = [int(l.split()[1]) / 1024 for l in mq_text.splitlines() if l.startswith("VmHWM_KiB")]
    return {"question": question, "runs": args.cold_runs,
            "ours_command": "assistant ask --index " + rel(args.index) + " " + shlex.quote(question),
            "stock_command": "python stock_ask.py MODEL stock_shipped.faiss stock_shipped.json QUESTION",
            "ours_median_s": round(statistics.median(ours), 3), "stock_median_s": round(statistics.median(stock), 3),
            "ours_runs_s": [round(x, 3) for x in ours], "stock_runs_s": [round(x, 3) for x in stock],
            "stock_vmhwm_mib_shipped": round(statistics.median(hwm), 1) if hwm else None,
            "stock_vmhwm_mib_medquad": round(mq_hwm[0], 1) if mq_hwm else None,
            "load_before": before, "load_after": loadavg()}


# ---- app: healthy, HTTP, memory ----------------------------------------------------------------------
def app(args, tmp: Path) -> dict:
    from appserver import running_app
    from http_load import Run, load_questions, warm

    questions = load_questions(Path(args.questions))
    out: dict = {"load_before": loadavg(), "healthy_s": [], "levels": []}
    for i in range(args.healthy_runs):
        keep = i == args.healthy_runs - 1
        t = time.perf_counter()
        with running_app(tmp / f"app{i}", index_dir=Path(args.index)) as (url, proc, _):
            out["healthy_s"].append(round(time.perf_counter() - t, 3))
            log(f"app healthy in {out['healthy_s'][-1]} s")
            if not keep:
                continue
            warm(url, questions)
            for n in (1, 8, 32):
                row = Run(url, questions, n, args.http_seconds, None, False).go()
                out["levels"].append(row)
                log(f"  HTTP {n} clients: {row['requests_per_s']} req/s, p50 {row['p50_ms']} ms, "
                    f"p95 {row['p95_ms']} ms, errors {row['errors']}")
            out["vmhwm_mib_shipped"] = vm_hwm_mib(proc.pid)
    out["healthy_median_s"] = round(statistics.median(out["healthy_s"]), 3)

    # The app on the MedQuAD index: warm-up, some requests at 8 clients, then its peak resident size.
    mq_questions = medquad_questions(60)
    t = time.perf_counter()
    with running_app(tmp / "app-medquad", index_dir=Path(args.medquad_index), timeout=600) as (url, proc, _):
        out["medquad_healthy_s"] = round(time.perf_counter() - t, 3)
        warm(url, mq_questions)
        row = Run(url, mq_questions, 8, args.medquad_http_seconds, None, False).go()
        out["medquad_http_8_clients"] = row
        out["vmhwm_mib_medquad"] = vm_hwm_mib(proc.pid)
        log(f"MedQuAD app: healthy {out['medquad_healthy_s']} s, 8 clients p95 {row['p95_ms']} ms, "
            f"VmHWM {out['vmhwm_mib_medquad']} MiB")
    out["load_after"] = loadavg()
    return out


# ---- table -------------------------------------------------------------------------------------------
def row(figure, ours, stock=None, floor=None, on="ours", ok_extra=True, unit=""):
    ratio = round(ours / stock, 3) if isinstance(ours, (int, float)) and isinstance(stock, (int, float)) and stock else None
    ok = None
    if floor is not None:
        op, value = floor
        x = ratio if on == "ratio" else ours
        ok = x is not None and {"<": x < value, "<=": x <= value, ">=": x >= value}[op] and ok_extra
    return {"figure": figure, "unit": unit, "ours": ours, "baseline": stock, "ratio": ratio,
            "floor": None if floor is None else f"{'ratio' if on == 'ratio' else 'ours'} {floor[0]} {floor[1]:g}",
            "ok": ok}


def rows_from(r: dict) -> list[dict]:
    w, b, c, a = r["warm_ask"], r["build"], r["cold"], r["app"]
    b0 = r.get("build_chunks_only") or b
    s, m = w["shipped"], w["medquad"]
    out = [
        row("warm ask p50, shipped corpus (ms)", s["ours_p50_ms"], s["stock_p50_ms"], ("<=", 1.2), "ratio"),
        row("warm ask p95, shipped corpus (ms)", s["ours_p95_ms"], s["stock_p95_ms"]),
        row(f"warm ask p50, MedQuAD {m['our_chunks']:,} chunks (ms)", m["ours_p50_ms"], m["stock_p50_ms"], ("<=", 1.5), "ratio"),
        row(f"warm ask p95, MedQuAD {m['our_chunks']:,} chunks (ms)", m["ours_p95_ms"], m["stock_p95_ms"]),
        row(f"index build, chunk vectors only, MedQuAD first {b0['documents']:,} docs (chunks/s; baseline raw encode)",
            b0["build_chunks_per_s"], b0["raw_chunks_per_s"], (">=", 0.85), "ratio"),
        row(f"index build with sentence vectors (default up to 20,000 chunks), same docs (chunks/s; baseline raw "
            f"encode of the chunks alone)", b["build_chunks_per_s"], b["raw_chunks_per_s"]),
        row("cold `assistant ask` to printed answer (s)", c["ours_median_s"], c["stock_median_s"], ("<", 4.0)),
        row("`python app.py` to healthy /healthz (s)", a["healthy_median_s"], None, ("<", 15.0)),
    ]
    for lv in a["levels"]:
        n = lv["clients"]
        out.append(row(f"HTTP /api/ask {n} client{'s' if n > 1 else ''}: req/s", lv["requests_per_s"]))
        out.append(row(f"HTTP /api/ask {n} client{'s' if n > 1 else ''}: p50 (ms)", lv["p50_ms"]))
        out.append(row(f"HTTP /api/ask {n} client{'s' if n > 1 else ''}: p95 (ms), errors {lv['errors']}", lv["p95_ms"],
                       None, ("<", 300.0) if n == 8 else None, ok_extra=lv["errors"] == 0))
    out.append(row("HTTP errors, all levels", sum(lv["errors"] for lv in a["levels"])))
    out.append(row("app peak RSS, shipped index (MiB; baseline: stock ask process)", a["vmhwm_mib_shipped"],
                   c["stock_vmhwm_mib_shipped"]))
    out.append(row("app peak RSS, MedQuAD index (MiB; baseline: stock ask process)", a["vmhwm_mib_medquad"],
                   c["stock_vmhwm_mib_medquad"]))
    return out


def fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if isinstance(x, float):
        return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.1f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def table(rows: list[dict]) -> str:
    lines = ["| figure | ours | baseline | ratio | floor | ok |", "| --- | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        ratio = f"{r['ratio']:.3f}×" if r["ratio"] is not None else "—"
        lines.append(f"| {r['figure']} | {fmt(r['ours'])} | {fmt(r['baseline'])} | {ratio} | {r['floor'] or '—'} | "
                     f"{fmt(r['ok'])} |")
    return "\n".join(lines)


def notes(r: dict) -> list[str]:
    w, b, c, a, mi = r["warm_ask"], r["build"], r["cold"], r["app"], r["machine"]
    mq = r["medquad_index"]
    return [
        f"Machine: {mi['cores']} cores, {mi['cpu_model']}, {mi['mem_total_gib']} GiB RAM; {mi['platform']}; Python "
        f"{mi['python']}, torch {mi['torch']} ({mi['torch_threads']} threads), onnxruntime {mi['onnxruntime']}, faiss "
        f"{mi['faiss']}, sentence-transformers {mi['sentence_transformers']}; commit {mi['commit']}"
        + (f" (uncommitted: {', '.join(mi['uncommitted_code'])})" if mi["uncommitted_code"] else "") + ".",
        f"Load average (1/5/15 min) before {r['load_before']}, after {r['load_after']}; the machine is shared, "
        f"other work skews every figure (per section: {r['load_by_section']}).",
        f"Mode: {'--quick' if r['args']['quick'] else 'full'}; bench wall time {r['bench_seconds']:.0f} s.",
        f"Warm ask: {w['shipped']['questions']} answerable questions × {w['shipped']['rounds']} rounds (shipped; ours "
        f"{w['shipped']['our_chunks']} chunks, stock {w['shipped']['stock_chunks']} 1000/200 chunks) and "
        f"{w['medquad']['questions']} MedQuAD questions × {w['medquad']['rounds']} rounds, alternating ours / stock "
        f"per round after 2 warm-up passes; ours = full Assistant.ask (ONNX query encoder, query cache cleared), "
        f"stock = query encode (sentence-transformers, torch threads {w['stock_torch_threads']}; "
        f"--stock-threads, also in the cold stock script) + flat FAISS k=4. Per-round ratios of medians: shipped "
        f"{w['shipped']['per_round_ratio_of_medians']}, MedQuAD {w['medquad']['per_round_ratio_of_medians']}.",
        f"MedQuAD index: {mq['path']}" + (f" (built here from the first {mq['subset_documents']} documents, a subset)"
                                           if mq["built_here"] else " (all MedQuAD answers, pre-built)")
        + f". MedQuAD baseline = {w['medquad']['stock_index']}: {w['medquad']['stock_vectors']:,} vectors; the stock "
          f"recipe's own 1000/200 chunking of MedQuAD was not built (~50 min of encoding).",
        f"Index build: {b['command']}: {b['documents']} documents, {b['chunks']} chunks, build {b['build_wall_s']} s "
        f"vs raw encode {b['raw_encode_s']} s (one pass, raw encode after the build, not alternated); a bounded subset "
        f"of MedQuAD (the whole 16,407 documents take ~50 min). The build also encodes sentence vectors (for "
        f"sentence re-ranking) when the index has at most sentence_vectors_max_chunks (default 20,000) chunks, "
        f"so a subset pays for them and the full 35,975-chunk MedQuAD build does not; the raw baseline encodes "
        f"the chunks only.",
        f"Cold ask: median of {c['runs']} runs each, alternating, question {c['question']!r}; ours runs "
        f"{c['ours_runs_s']}, stock {c['stock_runs_s']}. The stock script loads the model with "
        "sentence-transformers, reads a saved flat FAISS of the stock shipped chunks, searches k=4, prints.",
        f"App healthy: median of {len(a['healthy_s'])} starts {a['healthy_s']} (/healthz polled every 0.3 s); "
        f"with the MedQuAD index {a['medquad_healthy_s']} s. HTTP: {r['args']['http_seconds']:g} s per level, "
        "letter case varied (cache misses), rate limit off; no baseline (the stock recipe has no server). "
        f"MedQuAD app at 8 clients: p95 {a['medquad_http_8_clients']['p95_ms']} ms, "
        f"{a['medquad_http_8_clients']['errors']} errors.",
        "Memory: VmHWM of the app process after warm-up and the requests above; baseline = VmHWM of the stock "
        "cold-ask process with the matching flat index (retrieval only, no web server or lexical index).",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run: fewer rounds, runs, seconds, documents")
    ap.add_argument("--index", default="index")
    ap.add_argument("--corpus", default="corpus")
    ap.add_argument("--questions", default="evals/questions.jsonl")
    ap.add_argument("--medquad-index", default="data/medquad_beir/index")
    ap.add_argument("--medquad-build-limit", type=int, default=2000,
                    help="documents for a MedQuAD index built here when none exists (a subset)")
    ap.add_argument("--cold-question", default="How many sessions are needed?")
    ap.add_argument("--stock-threads", type=int, default=1,
                    help="torch threads for the baseline's query encoding (0: torch's default). Default 1: on a "
                         "loaded 2-core machine torch's default 2 threads take ~0.5 s a query (OpenMP threads "
                         "waiting on busy cores) against ~15 ms with 1; ours encodes with 1 ONNX thread")
    ap.add_argument("--render", metavar="JSON", help="only re-print and re-write the outputs of a saved bench.json")
    ap.add_argument("--out", default=str(RESULTS / "bench.json"))
    ap.add_argument("--md-out", default=str(RESULTS / "bench.md"))
    ap.add_argument("--allow-dirty", action="store_true",
                    help="write the results file even with uncommitted code (the file names the paths)")
    args = ap.parse_args(argv)
    if args.render:
        return report(json.loads(Path(args.render).read_text(encoding="utf-8")), Path(args.out), Path(args.md_out))
    # Absolute paths: the app runs with its own working directory.
    args.index, args.medquad_index = (str((REPO_ROOT / p).resolve()) for p in (args.index, args.medquad_index))
    args.corpus, args.questions = (str((REPO_ROOT / p).resolve()) for p in (args.corpus, args.questions))
    q = args.quick
    args.rounds = 1 if q else 3
    args.medquad_questions = 15 if q else 40
    args.build_limit = 30 if q else 200
    args.cold_runs = 2 if q else 5
    args.healthy_runs = 1 if q else 3
    args.http_seconds = 4.0 if q else 15.0
    args.medquad_http_seconds = 4.0 if q else 10.0
    os.chdir(REPO_ROOT)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    t0 = time.perf_counter()
    result: dict = {"benchmark": "bench", "args": vars(args), "load_before": loadavg(), "load_by_section": {},
                    "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    "command": shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))}
    result["machine"] = machine_info()
    result["medquad_index"] = ensure_medquad_index(Path(args.medquad_index), args.medquad_build_limit)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmpdir:
        tmp = Path(tmpdir)
        sections = [("warm_ask", lambda: warm_ask(args, tmp)), ("build_chunks_only", lambda: build(args, tmp, sentences=False)),
                    ("build", lambda: build(args, tmp)),
                    ("cold", lambda: cold(args, tmp, result["warm_ask"]["model_location"])),
                    ("app", lambda: app(args, tmp))]
        for name, fn in sections:
            start = time.perf_counter()
            before = loadavg()
            result[name] = fn()
            result["load_by_section"][name] = {"before_1min": before[0], "after_1min": loadavg()[0],
                                               "seconds": round(time.perf_counter() - start, 1)}
            log(f"{name} done in {result['load_by_section'][name]['seconds']} s")
    result["load_after"] = loadavg()
    result["bench_seconds"] = round(time.perf_counter() - t0, 1)
    result["rows"] = rows_from(result)
    missed = [r["figure"] for r in result["rows"] if r["ok"] is False]
    result["missed_floors"] = missed

    return report(result, Path(args.out), Path(args.md_out))


def report(result: dict, out: Path, md_out: Path) -> int:
    """Write bench.json and bench.md and print the table; 1 when a floor was missed."""
    missed = result["missed_floors"]
    tab = table(result["rows"])
    note_lines = notes(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = write_result(out, result, args.allow_dirty)
    md = ["# `make bench`: ours vs the stock LangChain recipe", "",
          "Baseline: RecursiveCharacterTextSplitter 1000/200, the same embedding model, flat FAISS, "
          "`similarity_search` k=4. Ratio = ours / baseline. Medians over repeated, alternating runs.", "",
          tab, "", *[f"- {n}" for n in note_lines], "",
          f"Missed floors: {', '.join(missed) if missed else 'none'}.", "",
          f"Command: `{result['command']}`; measured {result['measured_at']}.", ""]
    if written:
        write_result(md_out, "\n".join(md), args.allow_dirty)
    print(tab)
    print()
    for n in note_lines:
        print(f"- {n}")
    print(f"missed floors: {', '.join(missed) if missed else 'none'}")
    print(f"-> {rel(str(out))}, {rel(str(md_out))}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
