"""How much time triage adds to a message beyond encoding it (the issue's floor: at most 3 ms at p50).

For every message of the triage sets (both halves; texts are never printed), in one run:
- encode: the query vector from the ONNX query encoder (what retrieval needs anyway);
- triage: Triager.classify with that vector already at hand (red-flag rules, medspaCy ConText, the learned
  heads; for a long message, the extra batch encoding of its sentences counts as triage time).
Medians, p95 and their ratio; ConText is loaded and every path warmed before timing.

    .venv/bin/python benchmarks/triage_latency.py [--repeat 3] [--out benchmarks/results/triage_latency.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from provenance import write_result  # noqa: E402 - benchmarks/ is the script's folder

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "evals"))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))], 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default="")
    ap.add_argument("--allow-dirty", action="store_true",
                    help="write the results file even with uncommitted code (the file names the paths)")
    args = ap.parse_args()
    from triage_eval import HALVES, load_half

    from assistant.embedding import Embedder
    from assistant.settings import Settings
    from assistant.text import ascii_text
    from assistant.triage import Triager

    texts = [r["text"] for half in HALVES for r in load_half(half)]
    embedder = Embedder(query_encoder="onnx")
    triager = Triager(Settings().prompts_dir)
    triager.context.warm()
    for t in texts[:20]:
        triager.classify(t, embed=embedder.encode_query, vectors=embedder.encode_queries)
    onnx = embedder._onnx_encoder()
    encode_ms, triage_ms = [], []
    for _ in range(args.repeat):
        for text in texts:
            t0 = time.perf_counter()
            vec = onnx.encode([ascii_text(text)])[0]
            t1 = time.perf_counter()
            triager.classify(text, embed=lambda _t, v=vec: v, vectors=embedder.encode_queries)
            t2 = time.perf_counter()
            encode_ms.append((t1 - t0) * 1000)
            triage_ms.append((t2 - t1) * 1000)
    short = [t for t, text in zip(triage_ms, texts * args.repeat) if len(text.split()) <= 30]
    result = {
        "messages": len(texts), "repeat": args.repeat,
        "encode_ms": {"p50": pct(encode_ms, 0.5), "p95": pct(encode_ms, 0.95)},
        "triage_ms": {"p50": pct(triage_ms, 0.5), "p95": pct(triage_ms, 0.95), "mean": round(statistics.mean(triage_ms), 3)},
        "triage_ms_messages_up_to_30_words": {"p50": pct(short, 0.5), "p95": pct(short, 0.95), "n": len(short)},
        "triage_over_encode_p50": round(pct(triage_ms, 0.5) / pct(encode_ms, 0.5), 3),
        "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": platform.python_version()},
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=REPO).stdout.strip(),
        "command": "python benchmarks/triage_latency.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        write_result(args.out, result, args.allow_dirty)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
