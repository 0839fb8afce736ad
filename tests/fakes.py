"""A deterministic stand-in for assistant.embedding.Embedder, for unit tests that need vectors but not a model.

FakeEmbedder turns a text into the normalised sum of one-hot vectors, one per word (lowercased), each
word hashed (blake2b, so the same in every process) to one of `dim` coordinates. The cosine of two texts
is then the overlap of their words, up to hash collisions (512 coordinates make them rare; `collisions`
lists them, so a test can check its reasoning holds). `concepts` maps words to the word they should count
as, which is how a test gives the dense side a "meaning" BM25 does not have ("automobile" read as "car").
A fixed list of function words is left out, so the vectors carry what a text is about. It has the Embedder interface the code uses: encode,
encode_with_spans (a span is the words inside it: exactly `encode` of the span's text), encode_query,
encode_queries, count_tokens, dim, max_seq_length, model_id, query_backend; an index builds in milliseconds.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence

import numpy as np

WORD = re.compile(r"\w+")
TOKEN = re.compile(r"\w+|[^\w\s]")
STOP_WORDS = frozenset(
    "a an and are as at be by can do does for from how i in is it its my of on or so the to was what when "
    "where which who why will with you your".split())


class FakeEmbedder:
    """Bag-of-hashed-words vectors with the Embedder interface; `calls` counts the texts it encoded."""

    def __init__(self, dim: int = 512, concepts: dict[str, str] | None = None, max_seq_length: int = 256,
                 model_id: str | None = None):
        self._dim = dim
        self.concepts = {k.lower(): v.lower() for k, v in (concepts or {}).items()}
        self.max_seq_length = max_seq_length
        self.model_id = model_id or f"tests/fake-hashed-words-{dim}"
        self.query_backend = "fake"
        self.calls = 0

    @property
    def dim(self) -> int:
        return self._dim

    # ---- words --------------------------------------------------------------------------------------
    def bucket(self, word: str) -> int | None:
        """The coordinate a word adds to; None for a function word."""
        word = self.concepts.get(word.lower(), word.lower())
        if word in STOP_WORDS:
            return None
        return int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "big") % self._dim

    def collisions(self, words: Iterable[str]) -> dict[int, set[str]]:
        """{coordinate: the distinct words (after `concepts`) sharing it} for every coordinate shared by two."""
        seen: dict[int, set[str]] = {}
        for w in words:
            b = self.bucket(w)
            if b is not None:
                seen.setdefault(b, set()).add(self.concepts.get(w.lower(), w.lower()))
        return {b: ws for b, ws in seen.items() if len(ws) > 1}

    def _seen_words(self, text: str) -> list[re.Match]:
        """The words the "model" reads: those within its window (max_seq_length less the two special tokens)."""
        return list(WORD.finditer(text))[: self.max_seq_length - 2]

    def _vector(self, matches: Iterable[re.Match]) -> np.ndarray:
        v = np.zeros(self._dim, dtype=np.float32)
        for m in matches:
            b = self.bucket(m.group())
            if b is not None:
                v[b] += 1.0
        n = float(np.linalg.norm(v))
        return v / n if n else v

    # ---- the Embedder interface -----------------------------------------------------------------------
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Words and punctuation marks, plus two for the special tokens (as the real counter includes them)."""
        return [len(TOKEN.findall(t)) + 2 for t in texts]

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: Callable[[int], None] | None = None,
               lengths: Sequence[int] | None = None) -> np.ndarray:
        self.calls += len(texts)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i] = self._vector(self._seen_words(t))
        if progress and len(texts):
            progress(len(texts))
        return out

    def encode_with_spans(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]],
                          batch_size: int = 64, progress: Callable[[int], None] | None = None,
                          lengths: Sequence[int] | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """As Embedder.encode_with_spans: a span's vector from the words read inside it; NaN for a span
        past the window."""
        self.calls += len(texts)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        span_vecs = [np.full((len(s), self._dim), np.nan, dtype=np.float32) for s in spans]
        for i, t in enumerate(texts):
            seen = self._seen_words(t)
            out[i] = self._vector(seen)
            cut = len(seen) < len(WORD.findall(t))  # words past the window were not read
            end = seen[-1].end() if cut else len(t)
            for k, (a, b) in enumerate(spans[i]):
                if b > a and b <= end:
                    span_vecs[i][k] = self._vector(m for m in seen if m.start() >= a and m.end() <= b)
        if progress and len(texts):
            progress(len(texts))
        return out, span_vecs

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode(list(texts))

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]
