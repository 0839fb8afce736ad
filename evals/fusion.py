"""Choose the hybrid fusion of dense and BM25 scores on MedQuAD, away from the judged sample.

The BEIR benchmark (`benchmarks/medquad_beir.py`, `assistant eval --beir data/medquad_beir`) judges a
fixed sample of 2,000 MedQuAD questions. This script ranks documents for a second, disjoint sample of
MedQuAD questions (the tuning queries: other answers' own questions, seeded) and for the judged sample
(held out: only its figures are printed), under several fusions, from one pass of scores per query:

- "score" (the shipped rule): alpha * dense cosine + (1 - alpha) * BM25 / the query's best BM25, where a
  chunk only one retriever proposed gets nothing from the other;
- "exact": the same formula, with both scores computed for every proposed chunk (the cosine from the
  stored vectors, BM25 from the full score vector), so a chunk BM25 alone proposed is not scored as if its
  meaning matched nothing;
- "z", "minmax": both scores of every proposed chunk standardised (or scaled to 0-1) per query;
- "rrf": reciprocal rank fusion with k;
- "types": the shipped rule at alpha 0.8 plus w x the answer-type agreement (assistant/answer_types.py;
  its training, `evals/train_answer_types.py`, leaves out both query samples).

    .venv/bin/python evals/fusion.py --beir data/medquad_beir [--tuning-queries 2000] [--out runs/fusion.json]

The fusion is chosen on the tuning queries; the judged sample's figures are read after the choice.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

ALPHAS = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
RRF_K = (10, 30, 60)


def pools(index, embedder, lexicon, questions: list[str], pool: int) -> list[dict]:
    """Per question: the proposed chunks (dense top `pool` and BM25 top `pool`), each with its cosine,
    BM25 score, whether each retriever proposed it, and its ranks."""
    from assistant.text import analyze

    from assistant.answer_types import for_encoder

    vecs = embedder.encode_queries(questions)
    types = for_encoder(embedder.model_id)
    out = []
    for q, vec in zip(questions, vecs):
        d_ids, d_sc = index.dense_search(vec, pool)
        tokens = analyze(lexicon.expand(q))
        full = index.bm25.scores(tokens)
        b_ids, b_sc = index.bm25_search(tokens, pool)
        cand = list(dict.fromkeys(d_ids.tolist() + b_ids.tolist()))
        ids = np.array(cand, dtype=np.int64)
        out.append({
            "ids": ids,
            "cos": index.embeddings[ids] @ vec.astype(np.float32),
            "bm25": full[ids].astype(np.float32) if len(full) else np.zeros(len(ids), np.float32),
            "in_dense": np.isin(ids, d_ids), "in_bm25": np.isin(ids, b_ids),
            "agree": types.agreement(vec, index.embeddings[ids]) if types is not None else np.zeros(len(ids)),
            "d_rank": {i: r for r, i in enumerate(d_ids.tolist(), 1)},
            "b_rank": {i: r for r, i in enumerate(b_ids.tolist(), 1)},
        })
    return out


TYPE_WEIGHTS = (0.05, 0.1, 0.2, 0.3)


def fused(p: dict, kind: str, param: float) -> np.ndarray:
    """The fused score of each proposed chunk under one fusion."""
    if kind == "types":
        return fused(p, "score", 0.8) + param * p["agree"]
    b_max = float(p["bm25"].max()) if len(p["bm25"]) and p["bm25"].max() > 0 else 1.0
    if kind == "score":
        return param * np.where(p["in_dense"], p["cos"], 0.0) + (1 - param) * np.where(p["in_bm25"], p["bm25"] / b_max, 0.0)
    if kind == "exact":
        return param * p["cos"] + (1 - param) * p["bm25"] / b_max
    if kind in ("z", "minmax"):
        def norm(x):
            if kind == "z":
                return (x - x.mean()) / (x.std() or 1.0)
            return (x - x.min()) / ((x.max() - x.min()) or 1.0)
        return param * norm(p["cos"]) + (1 - param) * norm(p["bm25"])
    if kind == "rrf":
        return np.array([(1 / (param + p["d_rank"][i]) if i in p["d_rank"] else 0.0)
                         + (1 / (param + p["b_rank"][i]) if i in p["b_rank"] else 0.0) for i in p["ids"].tolist()])
    raise ValueError(kind)


def ndcg(p: dict, scores: np.ndarray, chunks, relevant: str) -> float:
    from assistant.beir import ndcg_at

    order = p["ids"][np.argsort(-scores, kind="stable")]
    ranking = list(dict.fromkeys(chunks[i].source for i in order.tolist()))
    return ndcg_at(ranking, {relevant: 1})


def table(pooled: list[dict], relevant: list[str], chunks) -> dict[str, float]:
    rows = {}
    for kind, params in (("score", ALPHAS), ("exact", ALPHAS), ("z", ALPHAS), ("minmax", ALPHAS), ("rrf", RRF_K),
                         ("types", TYPE_WEIGHTS)):
        for param in params:
            rows[f"{kind}:{param}"] = round(float(np.mean([ndcg(p, fused(p, kind, param), chunks, r)
                                                           for p, r in zip(pooled, relevant)])), 4)
    return rows


def tuning_records(docs, judged: dict, n: int = 2000, seed: int = 7) -> list:
    """The tuning queries' records: a seeded sample of MedQuAD records outside the judged sample."""
    return random.Random(seed).sample([d for d in docs if d.id not in judged], n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--beir", default="data/medquad_beir")
    ap.add_argument("--index-dir", help="default BEIR/index")
    ap.add_argument("--tuning-queries", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pool", type=int, default=50)
    ap.add_argument("--out", default="runs/fusion.json")
    args = ap.parse_args(argv)

    from assistant import Assistant
    from assistant.beir import load_queries
    from medquad import load_medquad

    folder = Path(args.beir)
    bot = Assistant.load(args.index_dir or folder / "index")
    judged = load_queries(folder / "queries.jsonl")  # id -> question; the id is its own answer's
    tuning = tuning_records(load_medquad(), judged, args.tuning_queries, args.seed)
    chunks = bot.index.chunks
    sets = {"tuning (other MedQuAD questions)": ([d.title for d in tuning], [d.id for d in tuning]),
            "judged sample (held out)": (list(judged.values()), list(judged))}
    results = {}
    for name, (questions, relevant) in sets.items():
        pooled = pools(bot.index, bot.embedder, bot.lexicon, questions, args.pool)
        results[name] = table(pooled, relevant, chunks)
        print(name, json.dumps(results[name]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
