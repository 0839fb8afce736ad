"""The fake encoder the unit tests rely on: deterministic, word overlap as cosine, the Embedder's interface."""
from __future__ import annotations

import numpy as np
import pytest
from fakes import FakeEmbedder

from assistant.embedding import Embedder


def test_same_vectors_from_every_instance_unit_length_and_overlap_as_cosine():
    a, b = FakeEmbedder(), FakeEmbedder()
    texts = ["Free parking behind the clinic", "parking garage", "Sessions are weekly"]
    va, vb = a.encode(texts), b.encode(texts)
    assert np.array_equal(va, vb) and va.shape == (3, 512) and va.dtype == np.float32
    assert np.allclose(np.linalg.norm(va, axis=1), 1.0)
    assert not a.collisions(" ".join(texts).split())  # so the cosines below are word overlap
    assert va[0] @ va[1] == pytest.approx(1 / np.sqrt(4 * 2))  # one shared word of 4 and 2 content words
    assert va[0] @ va[2] == 0.0
    assert np.array_equal(a.encode_query(texts[0]), va[0]) and np.array_equal(a.encode_queries(texts), va)


def test_concepts_give_the_dense_side_a_synonym():
    plain, knowing = FakeEmbedder(), FakeEmbedder(concepts={"automobile": "car"})
    assert plain.encode_query("automobile") @ plain.encode_query("car") == 0.0
    assert knowing.encode_query("automobile") @ knowing.encode_query("car") == pytest.approx(1.0)


def test_spans_are_the_words_inside_them_and_nan_past_the_window():
    f = FakeEmbedder(max_seq_length=8)  # reads six words
    text = "Parking is free. The garage closes at six in the evening."
    first, second = (0, 16), (17, len(text))
    vecs, spans = f.encode_with_spans([text], [[first, second]])
    assert np.array_equal(vecs[0], f.encode([text])[0])
    assert np.array_equal(spans[0][0], f.encode(["Parking is free."])[0])
    assert np.isnan(spans[0][1]).all()  # "... in the evening" lies past the six words read


def test_has_what_the_code_uses_of_the_embedder():
    used = ["encode", "encode_with_spans", "encode_query", "encode_queries", "count_tokens", "dim",
            "max_seq_length", "model_id", "query_backend"]
    for name in used:
        assert hasattr(Embedder, name) or name in ("model_id", "max_seq_length"), name
        assert hasattr(FakeEmbedder(), name), name
    assert FakeEmbedder().count_tokens(["", "Hi, there."]) == [2, 6]
