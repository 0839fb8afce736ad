"""Index types: the auto rule by corpus size, IVF-PQ's shape and exact re-scoring, the thresholds as settings."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEmbedder

from assistant.errors import ConfigError
from assistant.index import Index, _faiss_index, build_index, choose_index_type, ivfpq_params, load_index
from assistant.settings import Settings, load_settings


@pytest.mark.parametrize(
    ("n", "kind", "hnsw_at", "ivfpq_at", "chosen"),
    [
        (49_999, "auto", 50_000, 0, "flat"),
        (50_000, "auto", 50_000, 0, "hnsw"),
        (10_000_000, "auto", 50_000, 0, "hnsw"),          # 0: IVF-PQ never chosen
        (999_999, "auto", 50_000, 1_000_000, "hnsw"),
        (1_000_000, "auto", 50_000, 1_000_000, "ivfpq"),
        (100, "ivfpq", 50_000, 0, "ivfpq"),               # explicit kinds are kept whatever the size ...
        (63, "ivfpq", 50_000, 0, "flat"),                 # ... but IVF-PQ needs vectors to train on
        (63, "auto", 2, 3, "flat"),
        (10_000_000, "flat", 50_000, 1_000_000, "flat"),
    ],
)
def test_choose_index_type(n, kind, hnsw_at, ivfpq_at, chosen):
    assert choose_index_type(n, kind, hnsw_at, ivfpq_at) == chosen


@pytest.mark.parametrize("n", [64, 200, 5_000, 100_000, 1_000_000])
def test_ivfpq_params(n):
    p = ivfpq_params(n, 384)
    assert p["nlist"] & (p["nlist"] - 1) == 0 and (p["nlist"] == 1 or n / p["nlist"] >= 39)
    assert 1 <= p["nprobe"] <= p["nlist"] and (p["m"], p["nbits"]) == (96, 4)
    assert ivfpq_params(1_000_000, 384) == {"nlist": 1024, "m": 96, "nbits": 4, "nprobe": 256}
    assert ivfpq_params(100, 100)["m"] == 25  # a divisor of the dimension


def _clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim))
    x = centres[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, dim))
    return np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def test_ivfpq_dense_search_rescores_exactly():
    vectors = _clustered(3_000, 32)
    rng = np.random.default_rng(1)
    targets = rng.choice(len(vectors), 20, replace=False)
    queries = vectors[targets] + 0.05 * rng.standard_normal((20, 32)).astype(np.float32)  # near-copies
    faiss_index, kind = _faiss_index(vectors, "ivfpq", 50_000)
    assert (kind, type(faiss_index).__name__, faiss_index.ntotal) == ("ivfpq", "IndexIVFPQFastScan", 3_000)
    ix = Index(Path("."), {"index_type": kind}, [None] * len(vectors), vectors, faiss_index, bm25=None)
    found = 0
    for target, q in zip(targets, queries):
        ids, scores = ix.dense_search(q, 10)
        assert len(ids) == 10 and np.allclose(scores, vectors[ids] @ q, atol=1e-5) and np.all(np.diff(scores) <= 0)
        found += ids[0] == target
    assert found >= 18  # each query's source vector comes first


def test_ivfpq_built_through_build_index_searches_exactly(make_corpus, tmp_path):
    embedder = FakeEmbedder()  # what is tested is the structure and the exact re-scoring, not the model
    topics = ["parking", "sessions", "soreness", "insurance", "fasting", "driving", "swelling", "billing"]
    corpus = make_corpus({f"{t}-{i}.md": f"# {t.title()} {i}\n\nA note about {t}, number {i}.\n"
                          for t in topics for i in range(9)})  # 72 one-chunk documents
    s = Settings().replace(index_type="auto", hnsw_auto_threshold=10, ivfpq_auto_threshold=70)
    build_index(s, embedder, corpus, tmp_path / "index")
    ix = load_index(tmp_path / "index", embedder.model_id)
    assert (ix.manifest["index_type"], type(ix.faiss_index).__name__, len(ix)) == ("ivfpq", "IndexIVFPQFastScan", 72)
    q = embedder.encode_query("where do I find parking")
    ids, scores = ix.dense_search(q, 100)  # k above the chunk count
    assert "parking" in ix.chunks[ids[0]].source and len(set(ids.tolist())) == len(ids) <= 72
    assert np.allclose(scores, ix.embeddings[ids] @ q, atol=1e-5) and np.all(np.diff(scores) <= 0)


def test_thresholds_are_settings(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ASSISTANT_IVFPQ_AUTO_THRESHOLD", "2000000")
    monkeypatch.setenv("ASSISTANT_INDEX_TYPE", "ivfpq")
    s = load_settings(hnsw_auto_threshold=10_000)
    assert (s.index_type, s.hnsw_auto_threshold, s.ivfpq_auto_threshold) == ("ivfpq", 10_000, 2_000_000)
    for bad in ({"hnsw_auto_threshold": 0}, {"ivfpq_auto_threshold": -1}):
        with pytest.raises(ConfigError, match="auto_threshold"):
            Settings().replace(**bad)
