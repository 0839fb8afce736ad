"""Our warm ask against the real LangChain stack, in one run: the stock stack as users install it (its own
virtualenv, .venv-bench: `make bench-venv`), and the same stack on our ONNX encoder (what our pipeline
costs beyond encoding). Questions: every question of evals/questions.jsonl, asked in rounds.

- ours: `Assistant.ask` on the shipped index (triage, retrieval, decision, composition: a whole reply),
  the query-vector cache cleared before each ask; measured before and after the baselines, pooled.
- stock: benchmarks/stock_langchain.py (RecursiveCharacterTextSplitter 1000/200, HuggingFaceEmbeddings,
  langchain_community FAISS, similarity_search k=4: retrieval alone), and the same with --onnx.
- cold: `assistant ask` from process start to exit, against the stock script's start to first result
  (which includes building its index of the shipped corpus, as a stock script would).

    python benchmarks/langchain_baseline.py [--rounds 3]
Prints the table; writes benchmarks/results/langchain_baseline.json (from committed code only). Exits 1
when a floor of the issue is missed: warm p50 <= 1.0x and p95 <= 1.5x the stock stack.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
BENCH_PY = REPO_ROOT / ".venv-bench" / "bin" / "python"

from provenance import write_result  # noqa: E402 - benchmarks/ is the script's folder

from assistant import Assistant  # noqa: E402
from assistant.evaluate import load_cases  # noqa: E402


def pct(values: list[float], q: float) -> float:
    xs = sorted(values)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 3)


def ours(bot: Assistant, questions: list[str], rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        for q in questions:
            bot.embedder._cache.clear()
            t = time.perf_counter()
            bot.ask(q)
            out.append((time.perf_counter() - t) * 1000)
    return out


def stock(qfile: Path, rounds: int, onnx: str | None = None) -> dict:
    cmd = [str(BENCH_PY), str(REPO_ROOT / "benchmarks" / "stock_langchain.py"), "--corpus", str(REPO_ROOT / "corpus"),
           "--questions", str(qfile), "--rounds", str(rounds)] + (["--onnx", onnx] if onnx else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"stock_langchain.py failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cold_ours(question: str, runs: int = 3) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "assistant"), "ask", "--index", "index", question],
                       capture_output=True, cwd=REPO_ROOT, timeout=300)
        out.append(time.perf_counter() - t)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--allow-dirty", action="store_true", help="write the results file even with uncommitted code")
    args = ap.parse_args(argv)
    if not BENCH_PY.is_file():
        print(f"{BENCH_PY} is missing: run `make bench-venv` first.", file=sys.stderr)
        return 2
    questions = [c["question"] for c in load_cases(REPO_ROOT / "evals" / "questions.jsonl")]
    bot = Assistant.load(str(REPO_ROOT / "index"))
    bot.ask("warm up")
    onnx_folder = str(bot.embedder._onnx_folder) if bot.embedder._onnx_folder else None
    with tempfile.TemporaryDirectory() as tmp:
        qfile = Path(tmp) / "questions.json"
        qfile.write_text(json.dumps(questions), encoding="utf-8")
        mine = ours(bot, questions, args.rounds)
        hf = stock(qfile, args.rounds)
        onnx = stock(qfile, args.rounds, onnx_folder) if onnx_folder else None
        mine += ours(bot, questions, args.rounds)
    cold = cold_ours(questions[0])
    res = {"questions": len(questions), "rounds": args.rounds,
           "ours": {"p50_ms": pct(mine, 0.5), "p95_ms": pct(mine, 0.95), "n": len(mine),
                    "cold_s_median": round(sorted(cold)[len(cold) // 2], 3)},
           "stock_huggingface": {"p50_ms": pct(hf["warm_ms"], 0.5), "p95_ms": pct(hf["warm_ms"], 0.95),
                                 "n": len(hf["warm_ms"]), "chunks": hf["chunks"], "import_s": hf["import_s"],
                                 "build_s": hf["build_s"], "first_answer_s": hf["first_answer_s"]}}
    if onnx:
        res["stock_onnx"] = {"p50_ms": pct(onnx["warm_ms"], 0.5), "p95_ms": pct(onnx["warm_ms"], 0.95),
                             "n": len(onnx["warm_ms"]), "first_answer_s": onnx["first_answer_s"]}
    for name in ("stock_huggingface", "stock_onnx"):
        if name in res:
            res[f"ratio_vs_{name}"] = {"p50": round(res["ours"]["p50_ms"] / res[name]["p50_ms"], 3),
                                       "p95": round(res["ours"]["p95_ms"] / res[name]["p95_ms"], 3)}
    r = res["ratio_vs_stock_huggingface"]
    res["missed_floors"] = [f for f, bad in (("warm p50 <= 1.0x stock", r["p50"] > 1.0),
                                             ("warm p95 <= 1.5x stock", r["p95"] > 1.5)) if bad]
    print(json.dumps(res, indent=1))
    write_result(REPO_ROOT / "benchmarks" / "results" / "langchain_baseline.json", res, args.allow_dirty)
    return 1 if res["missed_floors"] else 0


if __name__ == "__main__":
    sys.exit(main())
