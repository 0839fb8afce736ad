"""Sentence vectors: every passage's sentences embedded at build time, so a question can be matched to the
one sentence that answers it (MiniLM compares short texts better than whole passages)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .text import passage_sentences

MIN_WORDS = 3  # shorter "sentences" are labels and list stubs: they match everything a little
FILE, OFFSETS, INDEXES = "sentences.npy", "sentence_offsets.npy", "sentence_index.npy"


def chunk_sentences(text: str) -> list[tuple[int, str]]:
    """(sentence index within the passage, sentence) for the sentences worth embedding."""
    return [(i, s) for i, s in enumerate(passage_sentences(text)) if len(s.split()) >= MIN_WORDS]


@dataclass
class SentenceVectors:
    """Sentences of chunk i are rows offsets[i]:offsets[i+1]; index[r] is row r's sentence number in its passage."""

    vectors: np.ndarray   # float16 (n_sentences, dim), unit length
    offsets: np.ndarray   # int64 (n_chunks + 1,)
    index: np.ndarray     # int32 (n_sentences,)

    @classmethod
    def build(cls, per_chunk: list[tuple[np.ndarray, np.ndarray]], dim: int) -> "SentenceVectors":
        """From (vectors, sentence numbers) per chunk, in chunk order."""
        sizes = [len(v) for v, _ in per_chunk]
        offsets = np.zeros(len(per_chunk) + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        vecs = [v for v, _ in per_chunk if len(v)]
        idx = [i for v, i in per_chunk if len(v)]
        return cls(np.vstack(vecs).astype(np.float16) if vecs else np.zeros((0, dim), np.float16), offsets,
                   np.concatenate(idx).astype(np.int32) if idx else np.zeros(0, np.int32))

    def of_chunk(self, pos: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[pos], self.offsets[pos + 1]
        return self.vectors[a:b], self.index[a:b]

    def save(self, folder: Path, write) -> None:
        for name, arr in ((FILE, self.vectors), (OFFSETS, self.offsets), (INDEXES, self.index)):
            write(folder / name, lambda fh, arr=arr: np.save(fh, arr, allow_pickle=False), "wb")

    @classmethod
    def load(cls, folder: Path, n_chunks: int) -> "SentenceVectors | None":
        """None when the index was built without sentence vectors; ValueError when they are inconsistent."""
        if not (folder / FILE).is_file():
            return None
        sv = cls(*(np.load(folder / name, allow_pickle=False) for name in (FILE, OFFSETS, INDEXES)))
        if len(sv.offsets) != n_chunks + 1 or sv.offsets[-1] != len(sv.vectors) or len(sv.index) != len(sv.vectors):
            raise ValueError(f"sentence vectors do not match the {n_chunks} chunks")
        return sv

    def best(self, vec: np.ndarray, positions: list[int]) -> dict[int, float]:
        """For each chunk position that has sentences: its best sentence cosine."""
        if not positions:
            return {}
        pos = np.asarray(positions, dtype=np.int64)
        starts, ends = self.offsets[pos], self.offsets[pos + 1]
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)])
        if not len(rows):
            return {}
        sims = self.vectors[rows].astype(np.float32) @ vec.astype(np.float32).ravel()
        out, at = {}, 0
        for p, n in zip(positions, (ends - starts).tolist()):
            if n:
                out[p] = float(sims[at:at + n].max())
            at += n
        return out

    def sims(self, vec: np.ndarray, pos: int) -> dict[int, float]:
        """{sentence number in the passage: cosine} for one chunk."""
        vecs, idx = self.of_chunk(pos)
        sims = vecs.astype(np.float32) @ vec.astype(np.float32).ravel()
        return {int(i): round(float(s), 4) for i, s in zip(idx, sims)}
