"""Integration with the real model: what all-MiniLM-L6-v2 (and its word-piece tokenizer) give on small
corpora and the shipped article, down to chunk ids and counts.

These values mirror the current model, corpus and settings, and are kept here, in one module: a change of
model, chunking or corpus is expected to change them, and this is the one place to update. The other test
modules assert behaviour, most of them on the fake encoder of tests/fakes.py."""
from __future__ import annotations

import numpy as np
import pytest
from test_index import CORPUS, SETTINGS, SETTINGS_CHUNKING, ranked

from assistant.index import build_index, load_index, read_manifest
from assistant.sentences import chunk_sentences

MINILM = {"id": "sentence-transformers/all-MiniLM-L6-v2", "dimension": 384, "max_seq_length": 256}


# ---- the index of three small articles (tests/test_index.py's corpus) ----------------------------------
# chunk ids best first, for the dense and BM25 sides
RANKINGS = {
    "how far apart are sessions": (["sessions.md#0", "faq/parking.md#0", "side_effects.md#0"], ["sessions.md#0"]),
    "where can I park my car": (["faq/parking.md#0", "sessions.md#0", "side_effects.md#0"], ["faq/parking.md#0"]),
    "swelling after the shot": (["side_effects.md#0", "sessions.md#0", "faq/parking.md#0"], ["side_effects.md#0"]),
}


@pytest.fixture(scope="module")
def three(tmp_path_factory, write_corpus, embedder):
    root = tmp_path_factory.mktemp("three")
    corpus = write_corpus(root / "corpus", CORPUS)
    build_index(SETTINGS, embedder, corpus, root / "index")
    return corpus, root / "index"


def test_minilm_index_records_the_model_and_ranks_the_three_articles(embedder, three):
    _, index_dir = three
    m = read_manifest(index_dir)
    assert m["model"] == MINILM
    assert m["counts"] == {"documents": 3, "chunks": 3, "sentences": 6}
    ix = load_index(index_dir, embedder.model_id)
    for query, (dense_ids, bm25_ids) in RANKINGS.items():
        dense, bm25 = ranked(ix, embedder, query)
        assert ([i for i, _ in dense], [i for i, _ in bm25]) == (dense_ids, bm25_ids)


def test_minilm_one_pass_sentence_vectors_are_close_to_the_sentences_alone(embedder, three, tmp_path):
    """sentence_vectors_one_pass: chunk vectors are exactly the model's own, each sentence vector is its
    tokens' vectors pooled within the passage (close to, not equal to, the sentence encoded alone)."""
    corpus, _ = three
    build_index(SETTINGS.replace(sentence_vectors_one_pass=True), embedder, corpus, tmp_path / "one")
    ix = load_index(tmp_path / "one", embedder.model_id)
    assert read_manifest(tmp_path / "one")["chunking"] == SETTINGS_CHUNKING | {"sentence_vectors": "one_pass"}
    assert np.allclose(ix.embeddings, embedder.encode([c.embed_text for c in ix.chunks]), atol=1e-5)
    for pos, chunk in enumerate(ix.chunks):
        vecs, numbers = ix.sentences.of_chunk(pos)
        sents = chunk_sentences(chunk.text)
        assert list(numbers) == [i for i, _ in sents]
        alone = embedder.encode([s for _, s in sents])
        cos = (vecs.astype(np.float32) * alone).sum(axis=1)
        assert np.allclose(np.linalg.norm(vecs.astype(np.float32), axis=1), 1.0, atol=1e-2)
        assert (cos > 0.6).all() and (cos < 0.999).all()  # the same sentence, read in its passage
