"""Warm `ask` latency against a stock LangChain-style retrieval, in one process, same questions.

Baseline: RecursiveCharacterTextSplitter(1000/200) over the corpus, the same embedding model,
faiss.IndexFlatIP, and per question: embed the query, search k=4 (retrieval alone, no triage,
no BM25, no composition). Ours: Assistant.ask (triage, follow-up condensing, hybrid retrieval,
abstention, extractive composition, framing). The query-embedding cache is cleared before every
ask so both sides pay for the encoder. Rounds alternate ours and baseline; medians are quoted.

Usage: python benchmarks/ask_latency.py [--index index] [--rounds 5] [--questions evals/questions.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

from provenance import write_result  # noqa: E402 - benchmarks/ is the script's folder

import faiss
import numpy as np
from langchain_text_splitters import RecursiveCharacterTextSplitter

from assistant import Assistant
from assistant.documents import load_corpus
from assistant.evaluate import load_cases


class StockPipeline:
    """What a user would otherwise build: character chunks, the same model, flat FAISS, k=4."""

    def __init__(self, corpus_dir: str, embedder):
        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
        self.texts = [t for d in load_corpus(corpus_dir).documents for t in splitter.split_text(d.text)]
        self.model = embedder.model
        vecs = self.model.encode(self.texts, normalize_embeddings=True, convert_to_numpy=True)
        self.index = faiss.IndexFlatIP(vecs.shape[1])
        self.index.add(vecs.astype(np.float32))

    def similarity_search(self, query: str, k: int = 4) -> list[str]:
        vec = self.model.encode([query], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        _, ids = self.index.search(vec.astype(np.float32), k)
        return [self.texts[i] for i in ids[0] if i >= 0]


def timed(fn, items) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="index")
    ap.add_argument("--corpus", default="corpus")
    ap.add_argument("--questions", default="evals/questions.jsonl")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default="benchmarks/results/ask_latency.json")
    ap.add_argument("--allow-dirty", action="store_true",
                    help="write the results file even with uncommitted code (the file names the paths)")
    args = ap.parse_args()
    bot = Assistant.load(args.index)
    stock = StockPipeline(args.corpus, bot.embedder)
    cases = [c for c in load_cases(args.questions) if c["kind"] == "answerable"]
    questions = [c["question"] for c in cases]

    def ours(case):
        bot.embedder._cache.clear()
        bot.ask(case["question"], history=case["history"])

    for _ in range(2):  # warm both paths
        timed(ours, cases[:10])
        timed(stock.similarity_search, questions[:10])
    ours_ms, stock_ms, ratios = [], [], []
    for r in range(args.rounds):
        a = timed(ours, cases)
        b = timed(stock.similarity_search, questions)
        ours_ms += a
        stock_ms += b
        ratios.append(statistics.median(a) / statistics.median(b))
    result = {
        "questions": len(cases), "rounds": args.rounds,
        "ours_p50_ms": round(statistics.median(ours_ms), 2), "ours_p95_ms": round(float(np.percentile(ours_ms, 95)), 2),
        "stock_p50_ms": round(statistics.median(stock_ms), 2), "stock_p95_ms": round(float(np.percentile(stock_ms, 95)), 2),
        "ratio_of_medians": round(statistics.median(ours_ms) / statistics.median(stock_ms), 3),
        "per_round_ratios": [round(x, 3) for x in ratios],
        "stock_chunks": len(stock.texts), "our_chunks": len(bot.index),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "torch_threads": __import__("torch").get_num_threads()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_result(args.out, result, args.allow_dirty)
    print("| figure | ours (ask) | stock retrieval | ratio |")
    print("| --- | --- | --- | --- |")
    print(f"| warm p50 ms | {result['ours_p50_ms']} | {result['stock_p50_ms']} | {result['ratio_of_medians']} |")
    print(f"| warm p95 ms | {result['ours_p95_ms']} | {result['stock_p95_ms']} | "
          f"{round(result['ours_p95_ms'] / result['stock_p95_ms'], 3)} |")
    print(f"per-round ratios of medians: {result['per_round_ratios']}; {len(cases)} questions x {args.rounds} rounds")


if __name__ == "__main__":
    main()
