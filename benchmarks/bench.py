"""The performance suite behind `make bench`: our figures against the real LangChain stack, one table.

Baselines, measured in the same run as ours: the real LangChain stack as users install it, run in its own
virtualenv .venv-bench (`make bench-venv`: langchain-huggingface needs huggingface-hub < 2, our transformers
5 needs >= 2.4) by benchmarks/stock_langchain.py: RecursiveCharacterTextSplitter(1000/200),
langchain_huggingface.HuggingFaceEmbeddings on the same all-MiniLM-L6-v2 files (torch), langchain_community
FAISS, `similarity_search` k=4 (retrieval alone). Two columns: "stock" is that stack as a user runs it; "stock
on our ONNX" is the same stack embedding with our ONNX export, so ours / it is the cost of our pipeline
beyond encoding. Ours and the baselines alternate round by round (the order rotates), medians and p95 are
quoted, and load averages are recorded per section (the machine may be shared).

Figures
  warm ask, shipped corpus   Assistant.ask (query-vector cache cleared before each ask) vs similarity_search
                             over the stock stack's own 1000/200 chunks of corpus/; p50/p95 ms.
  warm ask, MedQuAD          Assistant.ask on the MedQuAD index (data/medquad_beir/index) vs the stock stack
                             over FAISS.from_embeddings of our stored chunk vectors (the same vector count;
                             the stack's own 1000/200 encoding of all of MedQuAD takes ~50 min), query
                             encoded by the stack.
  index build                build_throughput.py on the first --build-limit MedQuAD documents (a bounded
                             subset), default settings (sentence vectors included below 20,000 chunks):
                             build chunks/s vs raw model.encode of the same chunks (floor: ratio >= 0.85).
                             Also, no floor: the same build with chunk vectors only.
  cold ask                   wall time of `assistant ask --index index Q` from process start to exit vs a
                             user's stock script (import the stack, load the model and the saved store with
                             FAISS.load_local, similarity_search k=4, print); one untimed run of each first.
  app healthy                `python app.py` start to the first 200 from /healthz; no baseline.
  HTTP                       POST /api/ask at 1, 8, 32 concurrent clients (benchmarks/http_load.Run,
                             letter case varied so the query cache misses); req/s, p50, p95, errors.
  memory                     VmHWM (peak resident) of the app process after warm-up and requests, with the
                             shipped index and with the MedQuAD index; baseline: VmHWM of the stock cold
                             script with the matching store (a retrieval process, no web server).

Floors (the default configuration; `make bench` exits 1 and names each one missed): warm ask p50 <= 1.0x and
p95 <= 1.5x the stock stack, on both corpora; cold `assistant ask` <= 2.5 s; default build >= 0.85x raw
encoding; app healthy < 15 s; HTTP p95 < 300 ms at 8 clients with no errors.

Usage: python benchmarks/bench.py [--quick] [--index index] [--medquad-index data/medquad_beir/index]
Writes benchmarks/results/bench.json and bench.md only from a clean tree (they record the commit); from a
dirty tree it warns and writes them under runs/bench/ instead. If the MedQuAD index is missing it builds one
from the first --medquad-build-limit documents (a subset, reported as such) under data/medquad_beir/index.
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

BENCH_PY = REPO_ROOT / ".venv-bench" / "bin" / "python"
STOCK_SCRIPT = REPO_ROOT / "benchmarks" / "stock_langchain.py"
MEDQUAD_DOCUMENTS = 16_407


class StockStack:
    """The real LangChain stack (stock_langchain.py --serve in .venv-bench), kept running between rounds so
    ours and it can alternate; each batch of questions is searched once, each search timed in there."""

    def __init__(self, name: str, source: list[str], tmp: Path, onnx: str | None = None, threads: int = 0,
                 save: Path | None = None):
        self.name = name
        cmd = [str(BENCH_PY), str(STOCK_SCRIPT), *source, "--serve", "--threads", str(threads)]
        cmd += (["--onnx", onnx] if onnx else []) + (["--save", str(save)] if save else [])
        self.err = open(tmp / f"{name}.stderr", "w+", encoding="utf-8")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     cwd=REPO_ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        self.info = self._read()

    def _read(self) -> dict:
        for line in self.proc.stdout:
            if line.startswith("{"):
                return json.loads(line)
        self.err.seek(0)
        raise RuntimeError(f"stock stack {self.name} stopped:\n{self.err.read()[-3000:]}")

    def __call__(self, questions: list[str]) -> list[float]:
        self.proc.stdin.write(json.dumps(questions) + "\n")
        self.proc.stdin.flush()
        return self._read()["warm_ms"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=120)
        self.err.close()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rel(path: str) -> str:
    p = Path(path)
    return str(p.relative_to(REPO_ROOT)) if p.is_relative_to(REPO_ROOT) else str(p)


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def timed(fn, items) -> list[float]:
    """Milliseconds of fn(item) for each item."""
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


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
    import torch

    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "")
    mem_kib = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                    if l.startswith("MemTotal:")), 0)
    return {
        "cores": os.cpu_count(), "cpu_model": cpu, "mem_total_gib": round(mem_kib / 1024 ** 2, 1),
        "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "onnxruntime": onnxruntime.__version__,
        "faiss": getattr(faiss, "__version__", "?"),
        "commit": git("rev-parse", "--short", "HEAD"),
    }


def vm_hwm_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def medquad_questions(n: int, documents: int | None = None) -> list[dict]:
    """n MedQuAD questions spread over the file, or over its first `documents` answers (a subset index)."""
    from medquad import medquad_path

    recs = [json.loads(l) for l in medquad_path().read_text(encoding="utf-8").splitlines() if l.strip()]
    recs = [r for r in recs if (r.get("answer") or "").strip()][:documents]
    recs = [r for r in recs if (r.get("question") or "").strip()]
    step = max(1, len(recs) // n)
    return [{"question": r["question"].strip(), "history": []} for r in recs[::step][:n]]


def ensure_medquad_index(path: Path, limit: int) -> dict:
    """The MedQuAD index, built from the first `limit` documents when missing; how many documents it holds
    (read from its manifest, so a subset built earlier is reported as one too)."""
    built: dict = {}
    if not (path / "CURRENT").is_file():
        from assistant.embedding import Embedder
        from assistant.index import build_index
        from assistant.settings import load_settings
        from medquad import load_medquad

        log(f"no MedQuAD index at {path}: building one from the first {limit} MedQuAD documents (subset)")
        settings = load_settings()
        docs = load_medquad(limit=limit)
        t = time.perf_counter()
        build_index(settings, Embedder(settings.model), index_dir=path, documents=docs, full=True)
        built = {"build_seconds": round(time.perf_counter() - t, 1)}
    manifest = json.loads((path / (path / "CURRENT").read_text().strip() / "manifest.json").read_text())
    docs = len(manifest["documents"])
    return {"path": rel(str(path)), "built_here": bool(built), **built, "documents": docs,
            "chunks": manifest.get("counts", {}).get("chunks"), "subset": docs < MEDQUAD_DOCUMENTS}


# ---- warm ask ----------------------------------------------------------------------------------------
def alternate(ours, stacks: dict, cases: list[dict], rounds: int) -> dict:
    """Ours and each stock stack, round by round, the order rotating each round; p50/p95 of each side,
    the ratios of ours to each, and the per-round ratios of medians."""
    qs = [c["question"] for c in cases]
    sides = {"ours": lambda: timed(ours, cases), **{k: (lambda f=f: f(qs)) for k, f in stacks.items()}}
    for _ in range(2):  # warm every path
        timed(ours, cases[:10])
        for f in stacks.values():
            f(qs[:10])
    times: dict[str, list[float]] = {k: [] for k in sides}
    per_round: dict[str, list[float]] = {k: [] for k in stacks}
    names = list(sides)
    for r in range(rounds):
        got = {}
        for k in names[r % len(names):] + names[:r % len(names)]:
            got[k] = sides[k]()
            times[k] += got[k]
        for k in stacks:
            per_round[k].append(round(statistics.median(got["ours"]) / statistics.median(got[k]), 3))
    out: dict = {"questions": len(cases), "rounds": rounds, "order": "rotating: " + ", ".join(names)}
    for k, xs in times.items():
        out[f"{k}_p50_ms"] = round(statistics.median(xs), 2)
        out[f"{k}_p95_ms"] = round(pctl(xs, 0.95), 2)
    for k in stacks:
        out[f"ratio_vs_{k}"] = {"p50": round(out["ours_p50_ms"] / out[f"{k}_p50_ms"], 3),
                                "p95": round(out["ours_p95_ms"] / out[f"{k}_p95_ms"], 3)}
        out[f"per_round_ratio_of_medians_vs_{k}"] = per_round[k]
    return out


def warm_ask(args, tmp: Path) -> dict:
    import numpy as np

    from assistant import Assistant
    from assistant.embedding import Embedder
    from assistant.evaluate import load_cases
    from assistant.settings import load_settings

    settings = load_settings()
    embedder = Embedder(settings.model, query_encoder=settings.query_encoder)
    out: dict = {"load_before": loadavg(), "stock_threads": args.stock_threads}

    def ask(bot):
        def one(case):
            embedder._cache.clear()
            bot.ask(case["question"], history=case["history"])
        return one

    # Shipped corpus: the stock stack splits and encodes corpus/ itself, and saves its store for the cold runs.
    log("warm ask, shipped corpus: loading ours and starting the stock LangChain stacks")
    bot = Assistant.load(args.index, settings=settings, embedder=embedder)
    bot.ask("warm up")
    onnx = str(embedder._onnx_folder) if embedder._onnx_folder else None
    if not onnx:
        raise RuntimeError("no ONNX export of the model: the 'stock on our ONNX' baseline needs it")
    out["onnx_folder"] = onnx
    src = ["--corpus", args.corpus]
    stacks = {"stock": StockStack("stock", src, tmp, threads=args.stock_threads, save=tmp / "stock_shipped"),
              "stock_onnx": StockStack("stock_onnx", src, tmp, onnx=onnx, save=tmp / "stock_shipped_onnx")}
    if not args.no_llamaindex:  # optional: LlamaIndex's default retriever, where .venv-bench has it
        try:
            stacks["llamaindex"] = StockStack("llamaindex", src + ["--stack", "llamaindex"], tmp,
                                              threads=args.stock_threads)
        except RuntimeError as e:
            out["llamaindex_unavailable"] = str(e)[-500:]
            log(f"  LlamaIndex baseline unavailable: {str(e)[-300:]}")
    out["stock_info"] = {k: v.info for k, v in stacks.items()}
    cases = [c for c in load_cases(args.questions) if c["kind"] == "answerable"]
    try:
        out["shipped"] = alternate(ask(bot), stacks, cases, args.rounds)
    finally:
        for st in stacks.values():
            st.close()
    out["shipped"].update(our_chunks=len(bot.index), stock_chunks=out["stock_info"]["stock"]["chunks"])
    log(f"  {out['shipped']}")
    del bot
    gc.collect()

    # MedQuAD: the stock stack over our stored chunk vectors (FAISS.from_embeddings), queries encoded by it.
    log(f"warm ask, MedQuAD: loading {rel(args.medquad_index)}")
    mq = Assistant.load(args.medquad_index, settings=settings, embedder=embedder)
    np.save(tmp / "medquad_vectors.npy", np.ascontiguousarray(mq.index.embeddings, dtype=np.float32))
    (tmp / "medquad_texts.json").write_text(json.dumps([c.text for c in mq.index.chunks]), encoding="utf-8")
    src = ["--texts", str(tmp / "medquad_texts.json"), "--vectors", str(tmp / "medquad_vectors.npy")]
    stacks = {"stock": StockStack("stock_mq", src, tmp, threads=args.stock_threads, save=tmp / "stock_medquad"),
              "stock_onnx": StockStack("stock_onnx_mq", src, tmp, onnx=onnx)}
    try:
        out["medquad"] = alternate(ask(mq), stacks, medquad_questions(args.medquad_questions, args.medquad_documents),
                                   args.rounds)
    finally:
        for st in stacks.values():
            st.close()
    out["medquad"].update(our_chunks=len(mq.index), stock_vectors=len(mq.index),
                          stock_index="langchain_community FAISS.from_embeddings over our stored chunk embeddings "
                                      "(equal vector count; not the stack's own 1000/200 chunks)")
    log(f"  {out['medquad']}")
    del mq
    gc.collect()
    out["load_after"] = loadavg()
    return out


# ---- index build -------------------------------------------------------------------------------------
BUILD_VARIANTS = {  # settings over the defaults, by variant
    "default": {},
    "chunks_only": {"ASSISTANT_SENTENCE_VECTORS_MAX_CHUNKS": "0"},  # as indexes above 20,000 chunks are built
    "one_pass": {"ASSISTANT_SENTENCE_VECTORS_ONE_PASS": "1"},  # sentence vectors pooled from the chunk pass
}


def build(args, tmp: Path, variant: str = "default") -> dict:
    """build_throughput.py on a MedQuAD subset with the default settings, or a variant of BUILD_VARIANTS
    (information only: the floor is on the default); the raw pass encodes the chunks alone."""
    out_file = tmp / f"build_throughput_{variant}.json"
    cmd = [sys.executable, str(REPO_ROOT / "benchmarks" / "build_throughput.py"), "--limit", str(args.build_limit),
           "--out", str(out_file), "--allow-dirty"]  # a scratch file; bench's own results file is guarded
    env = {**os.environ, **BUILD_VARIANTS[variant]}
    log(f"index build ({variant}: {BUILD_VARIANTS[variant] or 'default settings'}): {shlex.join(cmd)}")
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
            "settings": BUILD_VARIANTS[variant], "exit_code": proc.returncode, "log_tail": proc.stderr[-2500:], "load_before": before, "load_after": loadavg(),
            "command": f"benchmarks/build_throughput.py --limit {args.build_limit} --out <tmp>"}


# ---- cold start --------------------------------------------------------------------------------------
def cold(args, tmp: Path, onnx: str) -> dict:
    from cold_start import assistant_command, timed_run

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    question = args.cold_question

    def stock_cmd(store: str, onnx_folder: str | None = None) -> list[str]:
        return ([str(BENCH_PY), str(STOCK_SCRIPT), "--load", str(tmp / store), "--question", question,
                 "--threads", str(args.stock_threads)] + (["--onnx", onnx_folder] if onnx_folder else []))

    cmds = {"ours": assistant_command() + ["ask", "--index", args.index, question],
            "stock": stock_cmd("stock_shipped"), "stock_onnx": stock_cmd("stock_shipped_onnx", onnx)}
    log("cold ask: one untimed run of each, then timed runs, the order rotating")
    for cmd in cmds.values():
        timed_run(cmd, env)
    before = loadavg()
    runs: dict[str, list[float]] = {k: [] for k in cmds}
    hwm = []
    names = list(cmds)
    for i in range(args.cold_runs):
        for name in names[i % len(names):] + names[:i % len(names)]:
            secs, _, text = timed_run(cmds[name], env)
            runs[name].append(secs)
            if name == "stock":
                hwm += [json.loads(l)["vmhwm_mib"] for l in text.splitlines() if l.startswith("{")]
    # The stock cold script with the MedQuAD-sized store: its peak resident size (memory baseline).
    mq_text = timed_run(stock_cmd("stock_medquad"), env)[2]
    mq_hwm = [json.loads(l)["vmhwm_mib"] for l in mq_text.splitlines() if l.startswith("{")]
    out = {"question": question, "runs": args.cold_runs,
           "ours_command": "assistant ask --index " + rel(args.index) + " " + shlex.quote(question),
           "stock_command": "stock_langchain.py --load STORE --question QUESTION [--onnx DIR]",
           "stock_vmhwm_mib_shipped": round(statistics.median(hwm), 1) if hwm else None,
           "stock_vmhwm_mib_medquad": mq_hwm[0] if mq_hwm else None,
           "load_before": before, "load_after": loadavg()}
    for name, xs in runs.items():
        out[f"{name}_median_s"] = round(statistics.median(xs), 3)
        out[f"{name}_runs_s"] = [round(x, 3) for x in xs]
    return out


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
def row(figure, ours, stock=None, floor=None, on="ours", ok_extra=True, unit="", stock_onnx=None):
    """One figure: ours, the stock stack and ours / it, the stock stack on our ONNX encoder and ours / it;
    the floor is on `ours` or on the ratio to the stock stack (on="ratio")."""
    def ratio(b):
        return round(ours / b, 3) if isinstance(ours, (int, float)) and isinstance(b, (int, float)) and b else None

    r = ratio(stock)
    ok = None
    if floor is not None:
        op, value = floor
        x = r if on == "ratio" else ours
        ok = x is not None and {"<": x < value, "<=": x <= value, ">=": x >= value}[op] and ok_extra
    return {"figure": figure, "unit": unit, "ours": ours, "baseline": stock, "ratio": r,
            "baseline_onnx": stock_onnx, "ratio_onnx": ratio(stock_onnx),
            "floor": None if floor is None else f"{'ratio' if on == 'ratio' else 'ours'} {floor[0]} {floor[1]:g}",
            "ok": ok}


WARM_P50_FLOOR, WARM_P95_FLOOR = ("<=", 1.0), ("<=", 1.5)  # x the stock stack (issue 13)
COLD_FLOOR_S = ("<=", 2.5)
BUILD_FLOOR = (">=", 0.85)  # x raw encoding, default settings


def rows_from(r: dict) -> list[dict]:
    w, b, c, a = r["warm_ask"], r["build"], r["cold"], r["app"]
    b0 = r.get("build_chunks_only")
    s, m, mq = w["shipped"], w["medquad"], r["medquad_index"]
    mq_name = f"MedQuAD {m['our_chunks']:,} chunks" + (f" ({mq['documents']:,}-document subset)" if mq.get("subset") else "")
    out = []
    for name, x in (("shipped corpus", s), (mq_name, m)):
        for q, floor in (("p50", WARM_P50_FLOOR), ("p95", WARM_P95_FLOOR)):
            out.append(row(f"warm ask {q}, {name} (ms)", x[f"ours_{q}_ms"], x[f"stock_{q}_ms"], floor, "ratio",
                           stock_onnx=x[f"stock_onnx_{q}_ms"]))
    if "llamaindex_p50_ms" in s:
        li = w["stock_info"]["llamaindex"]
        for q in ("p50", "p95"):
            out.append(row(f"warm ask {q}, shipped corpus, vs LlamaIndex's default retriever ({li['chunks']} nodes, "
                           f"top 2) (ms)", s[f"ours_{q}_ms"], s[f"llamaindex_{q}_ms"]))
    out.append(row(f"index build, default settings (sentence vectors included), MedQuAD first {b['documents']:,} docs "
                   f"(chunks/s; baseline raw encode of the chunks)", b["build_chunks_per_s"], b["raw_chunks_per_s"],
                   BUILD_FLOOR, "ratio"))
    if b0:
        out.append(row(f"index build, chunk vectors only (not the default at this size), same docs (chunks/s; "
                       f"baseline raw encode)", b0["build_chunks_per_s"], b0["raw_chunks_per_s"]))
    if r.get("build_one_pass"):
        b1 = r["build_one_pass"]
        out.append(row("index build, sentence_vectors_one_pass (an option, not the default: answers got worse), "
                       "same docs (chunks/s; baseline raw encode)", b1["build_chunks_per_s"], b1["raw_chunks_per_s"]))
    out += [
        row("cold `assistant ask` to printed answer (s)", c["ours_median_s"], c["stock_median_s"], COLD_FLOOR_S,
            stock_onnx=c["stock_onnx_median_s"]),
        row("`python app.py` to healthy /healthz (s)", a["healthy_median_s"], None, ("<", 15.0)),
    ]
    for lv in a["levels"]:
        n = lv["clients"]
        out.append(row(f"HTTP /api/ask {n} client{'s' if n > 1 else ''}: req/s", lv["requests_per_s"]))
        out.append(row(f"HTTP /api/ask {n} client{'s' if n > 1 else ''}: p50 (ms)", lv["p50_ms"]))
        out.append(row(f"HTTP /api/ask {n} client{'s' if n > 1 else ''}: p95 (ms), errors {lv['errors']}", lv["p95_ms"],
                       None, ("<", 300.0) if n == 8 else None, ok_extra=lv["errors"] == 0))
    out.append(row("HTTP errors, all levels", sum(lv["errors"] for lv in a["levels"]), None, ("<=", 0)))
    out.append(row("app peak RSS, shipped index (MiB; baseline: stock cold script)", a["vmhwm_mib_shipped"],
                   c["stock_vmhwm_mib_shipped"]))
    out.append(row("app peak RSS, MedQuAD index (MiB; baseline: stock cold script)", a["vmhwm_mib_medquad"],
                   c["stock_vmhwm_mib_medquad"]))
    return out


def fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "**MISSED**"
    if isinstance(x, float):
        return f"{x:,.3f}" if abs(x) < 10 else f"{x:,.1f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def table(rows: list[dict]) -> str:
    lines = ["| figure | ours | stock LangChain | ratio | stock on our ONNX | ratio | floor | met |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for r in rows:
        ratios = [f"{x:.3f}×" if x is not None else "—" for x in (r["ratio"], r.get("ratio_onnx"))]
        lines.append(f"| {r['figure']} | {fmt(r['ours'])} | {fmt(r['baseline'])} | {ratios[0]} | "
                     f"{fmt(r.get('baseline_onnx'))} | {ratios[1]} | {r['floor'] or '—'} | {fmt(r['ok'])} |")
    return "\n".join(lines)


def notes(r: dict) -> list[str]:
    w, b, c, a, mi = r["warm_ask"], r["build"], r["cold"], r["app"], r["machine"]
    mq, st = r["medquad_index"], w["stock_info"]["stock"]
    b0 = r.get("build_chunks_only")
    prov = r.get("provenance", {})
    return [
        f"Machine: {mi['cores']} cores, {mi['cpu_model']}, {mi['mem_total_gib']} GiB RAM; {mi['platform']}; Python "
        f"{mi['python']}, torch {mi['torch']}, onnxruntime {mi['onnxruntime']}, faiss {mi['faiss']}; commit "
        f"{mi['commit']}" + (f" (uncommitted: {', '.join(prov['uncommitted'])})" if prov.get("uncommitted") else
                             " (clean tree)") + ".",
        "Stock stack (.venv-bench): " + ", ".join(f"{k} {v}" for k, v in st.get("versions", {}).items()) + ".",
        f"Load average (1/5/15 min) before {r['load_before']}, after {r['load_after']}; the machine is shared, "
        f"other work skews every figure (per section: {r['load_by_section']}).",
        f"Mode: {'--quick' if r['args']['quick'] else 'full'}; bench wall time {r['bench_seconds']:.0f} s.",
        f"Warm ask: {w['shipped']['questions']} answerable questions × {w['shipped']['rounds']} rounds (shipped; ours "
        f"{w['shipped']['our_chunks']} chunks, stock {w['shipped']['stock_chunks']} 1000/200 chunks) and "
        f"{w['medquad']['questions']} MedQuAD questions × {w['medquad']['rounds']} rounds; ours, stock and stock on "
        f"our ONNX alternate round by round, the order rotating, after 2 warm-up passes. Ours = the whole "
        f"Assistant.ask (triage, retrieval, decision, composition; ONNX query encoder, query cache cleared); the "
        f"baselines = similarity_search k=4 (retrieval alone), timed inside their own process. Stock query "
        f"encoding: HuggingFaceEmbeddings (sentence-transformers, torch threads {st.get('torch_threads')}; "
        f"--stock-threads {r['args']['stock_threads']}, 0 = torch's default). Per-round ratios of medians "
        f"(ours/stock): shipped {w['shipped']['per_round_ratio_of_medians_vs_stock']}, MedQuAD "
        f"{w['medquad']['per_round_ratio_of_medians_vs_stock']}; ours/stock on our ONNX: shipped "
        f"{w['shipped']['per_round_ratio_of_medians_vs_stock_onnx']}, MedQuAD "
        f"{w['medquad']['per_round_ratio_of_medians_vs_stock_onnx']}.",
        (f"LlamaIndex (optional baseline, no floor; in .venv-bench, offline on the same model files): its starter "
         f"defaults, SimpleDirectoryReader, VectorStoreIndex.from_documents (default SentenceSplitter: "
         f"{w['stock_info']['llamaindex']['chunks']} nodes of the shipped corpus, in-memory SimpleVectorStore), "
         f"as_retriever() (top 2), HuggingFaceEmbedding (torch threads "
         f"{w['stock_info']['llamaindex'].get('torch_threads')}); shipped corpus only, in the same rotation. Per-round "
         f"ratios of medians (ours/it): {w['shipped']['per_round_ratio_of_medians_vs_llamaindex']}."
         if "llamaindex" in w["stock_info"] else
         f"LlamaIndex baseline not run: {w.get('llamaindex_unavailable', '--no-llamaindex')}"),
        f"MedQuAD index: {mq['path']}, {mq['documents']:,} documents, {mq['chunks']:,} chunks"
        + (f" (a subset: the first {mq['documents']:,} of {MEDQUAD_DOCUMENTS:,} MedQuAD documents"
           + (", built by this run)" if mq["built_here"] else ")") if mq.get("subset") else "")
        + f". MedQuAD baseline = {w['medquad']['stock_index']}: {w['medquad']['stock_vectors']:,} vectors; its "
          f"questions are MedQuAD's own for the documents indexed.",
        f"Index build: {b['command']}: {b['documents']} documents, {b['chunks']} chunks, build {b['build_wall_s']} s "
        f"vs raw encode {b['raw_encode_s']} s (one pass each, raw encode after the build); a bounded subset of "
        f"MedQuAD. The default build encodes sentence vectors (for sentence re-ranking) as well as chunk vectors "
        f"when the index has at most sentence_vectors_max_chunks (default 20,000) chunks; the raw baseline encodes "
        f"the chunks only. `sentence_vectors_one_pass` (pool sentence vectors from the chunk pass) is an option, "
        f"not the default, because answers got worse with it."
        + (f" Chunk vectors only: build {b0['build_wall_s']} s vs raw {b0['raw_encode_s']} s." if b0 else "")
        + (f" One-pass sentence vectors: build {r['build_one_pass']['build_wall_s']} s vs raw "
           f"{r['build_one_pass']['raw_encode_s']} s." if r.get("build_one_pass") else ""),
        f"Cold ask: median of {c['runs']} runs each, the order rotating, question {c['question']!r}; ours "
        f"{c['ours_runs_s']}, stock {c['stock_runs_s']}, stock on our ONNX {c['stock_onnx_runs_s']}. The stock "
        "cold script imports the stack, loads the model and the store saved by the warm section (FAISS.load_local), "
        "searches k=4 and prints.",
        f"App healthy: median of {len(a['healthy_s'])} starts {a['healthy_s']} (/healthz polled every 0.3 s); "
        f"with the MedQuAD index {a['medquad_healthy_s']} s. HTTP: {r['args']['http_seconds']:g} s per level, "
        "letter case varied (cache misses), rate limit off; no baseline (the stock recipe has no server). "
        f"MedQuAD app at 8 clients: p95 {a['medquad_http_8_clients']['p95_ms']} ms, "
        f"{a['medquad_http_8_clients']['errors']} errors.",
        "Memory: VmHWM of the app process after warm-up and the requests above; baseline = VmHWM of the stock "
        "cold script with the matching store (retrieval only, no web server or lexical index).",
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
                    help="torch threads for the stock stack's query encoding (0: torch's default, as a user runs "
                         "it). Default 1: on a loaded 2-core machine torch's default 2 threads take ~0.5 s a query "
                         "(OpenMP threads waiting on busy cores) against ~15 ms with 1, which would flatter us; ours "
                         "encodes with 1 ONNX thread")
    ap.add_argument("--no-llamaindex", action="store_true", help="skip the LlamaIndex baseline (no floor)")
    ap.add_argument("--no-build-variants", action="store_true",
                    help="skip the informative builds with chunk vectors only and with one-pass sentence vectors "
                         "(no floor; ~3 min)")
    ap.add_argument("--render", metavar="JSON", help="only re-print the table of a saved bench.json")
    ap.add_argument("--out", default=str(RESULTS / "bench.json"))
    ap.add_argument("--md-out", default=str(RESULTS / "bench.md"))
    args = ap.parse_args(argv)
    if args.render:
        print(table(json.loads(Path(args.render).read_text(encoding="utf-8"))["rows"]))
        return 0
    if not BENCH_PY.is_file():
        print(f"{rel(str(BENCH_PY))} is missing: run `make bench-venv` first (the real LangChain stack).", file=sys.stderr)
        return 2
    from provenance import commit_info

    dirty = commit_info(None)["uncommitted"]
    if dirty:  # results files come from committed code only
        args.out, args.md_out = (str(REPO_ROOT / "runs" / "bench" / Path(p).name) for p in (args.out, args.md_out))
        log(f"WARNING: uncommitted changes ({', '.join(dirty[:5])}{', ...' if len(dirty) > 5 else ''}): the results "
            f"go to {rel(args.out)} and {rel(args.md_out)}, not benchmarks/results/")
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
    args.medquad_documents = result["medquad_index"]["documents"]
    with tempfile.TemporaryDirectory(prefix="bench-") as tmpdir:
        tmp = Path(tmpdir)
        sections = [("warm_ask", lambda: warm_ask(args, tmp)),
                    ("cold", lambda: cold(args, tmp, result["warm_ask"]["onnx_folder"])),
                    ("build", lambda: build(args, tmp))]
        if not args.no_build_variants:
            sections += [("build_chunks_only", lambda: build(args, tmp, "chunks_only")),
                         ("build_one_pass", lambda: build(args, tmp, "one_pass"))]
        sections.append(("app", lambda: app(args, tmp)))
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
    result["missed_floors"] = [f"{r['figure']}: {r['floor']}" for r in result["rows"] if r["ok"] is False]
    return report(result, Path(args.out), Path(args.md_out), allow_dirty=bool(dirty))


def report(result: dict, out: Path, md_out: Path, allow_dirty: bool) -> int:
    """Write bench.json and bench.md (stamped with the commit) and print the table; 1 when a floor was missed,
    each missed floor named on stderr."""
    from provenance import commit_info

    result["provenance"] = commit_info(None)
    if result["provenance"]["uncommitted"] and not allow_dirty:  # the tree changed during the run
        out, md_out = (REPO_ROOT / "runs" / "bench" / p.name for p in (out, md_out))
        allow_dirty = True
        log(f"WARNING: the tree changed during the run ({', '.join(result['provenance']['uncommitted'][:5])}): "
            f"the results go to {rel(str(out))} and {rel(str(md_out))}, not benchmarks/results/")
    missed = result["missed_floors"]
    tab = table(result["rows"])
    note_lines = notes(result)
    md = ["# `make bench`: ours vs the real LangChain stack", "",
          "Baselines (run in .venv-bench, the stack as users install it): RecursiveCharacterTextSplitter 1000/200, "
          "HuggingFaceEmbeddings (all-MiniLM-L6-v2), langchain_community FAISS, `similarity_search` k=4; and the "
          "same stack embedding with our ONNX export (ours / it = the cost of our pipeline beyond encoding). "
          "Ratio = ours / baseline; floors are on the ratio to the stock stack. Medians and p95 over repeated, "
          "alternating runs.", "",
          tab, "", *[f"- {n}" for n in note_lines], "",
          f"Missed floors: {'; '.join(missed) if missed else 'none'}.", "",
          f"Command: `{result['command']}`; measured {result['measured_at']}.", ""]
    write_result(out, result, allow_dirty, paths=None)
    write_result(md_out, "\n".join(md), allow_dirty, paths=None)
    print(tab)
    print()
    for n in note_lines:
        print(f"- {n}")
    print(f"-> {rel(str(out))}, {rel(str(md_out))}")
    for m in missed:
        print(f"MISSED FLOOR: {m}", file=sys.stderr)
    if not missed:
        print("all floors met", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
