"""Which sentences answer the question: a logistic model over the question's MiniLM vector and each
sentence's (both computed anyway: the query for retrieval, the sentences at index time), learned on
MedQuAD by `evals/train_sentences.py`.

MedQuAD gives, for thousands of topics, several questions about the same subject (what it is, its causes,
symptoms, treatment, outlook...) each with its own answer. The network learns to tell a sentence of the
question's own answer from sentences of the same article that answer another question about the same
subject: what a near miss looks like. Its p joins the cosine and word overlap in choosing and ordering the
reply's sentences (compose.select_sentences); the best p of the top passages is a signal of the answer
decision (engine.covered), which decides on it only when answer_min_sentence_p / answer_sure_sentence_p
are set (off by default)."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from . import weights
from .followup import content_words
from .text import passage_sentences, stem, words

MODEL_PATH = weights.MODELS / "answer_sentences.npz"
# Per-pair scalars beside the vectors' interaction: cosine; the share of the question's own words (its
# subject's title words aside) the sentence holds; whether it states a number; its length.
SCALARS = ("cosine", "overlap", "number", "length")
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|once|twice|several|few|"
                     r"hundred|thousand|million|percent|half|dozen)\b", re.I)


def asked_stems(question: str, title: str = "") -> set[str]:
    """Stems of what the question asks beyond its subject: its content words less the title's."""
    subject = {stem(w) for w in words(title)}
    return {stem(w) for w in content_words(question)} - subject


def scalars(asked: set[str], sentence: str, cosine: float) -> list[float]:
    toks = words(sentence)
    have = {stem(w) for w in toks}
    overlap = len(asked & have) / len(asked) if asked else 0.0
    return [cosine, overlap, 1.0 if _NUMBER.search(sentence) else 0.0, math.log1p(len(toks)) / 4.0]


def pair_features(qvec: np.ndarray, svecs: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """One row per sentence: the element-wise product and absolute difference of the two unit vectors
    (how they agree, dimension by dimension) and the scalars."""
    q = qvec.astype(np.float32).reshape(1, -1)
    s = svecs.astype(np.float32)
    return np.hstack([q * s, np.abs(q - s), extra.astype(np.float32)])


class SentenceScorer:
    """p(sentence answers question) from `pair_features`: one hidden layer (ReLU) or none, logistic output."""

    def __init__(self, path: str | Path = MODEL_PATH):
        data = weights.load(path, "evals/train_sentences.py", "scalars", SCALARS)
        self.mean, self.scale = data["mean"].astype(np.float32), data["scale"].astype(np.float32)
        # w1/b1: a hidden ReLU layer; without them the model is a logistic regression on the features
        self.w1 = data["w1"].astype(np.float32) if "w1" in data else None
        self.b1 = data["b1"].astype(np.float32) if "b1" in data else None
        self.w2, self.b2 = data["w2"].astype(np.float32), float(data["b2"])
        self.width = len(self.mean)
        self.model_id = str(data["model_id"]) if "model_id" in data else ""

    def fits(self, model_id: str) -> bool:
        """Whether it was trained on vectors of this encoder (another model's vectors mean nothing to it)."""
        return self.model_id == model_id

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        h = (x - self.mean) / self.scale
        if self.w1 is not None:
            h = np.maximum(h @ self.w1 + self.b1, 0.0)
        z = np.clip(h @ self.w2 + self.b2, -30.0, 30.0)
        return 1.0 / (1.0 + np.exp(-z))

    def score(self, question: str, qvec: np.ndarray, sentences: list[tuple[str, str, np.ndarray]]) -> np.ndarray:
        """p for each (sentence, title of its article, sentence vector)."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        svecs = np.vstack([v for _, _, v in sentences]).astype(np.float32)
        cos = svecs @ qvec.astype(np.float32).ravel()
        asked: dict[str, set[str]] = {}
        extra = np.array([scalars(asked.setdefault(t, asked_stems(question, t)), s, float(c))
                          for (s, t, _), c in zip(sentences, cos)], dtype=np.float32)
        return self.probabilities(pair_features(qvec, svecs, extra))

    def score_hits(self, question: str, qvec: np.ndarray, hits: list, index, limit: int = 3) -> dict[tuple[int, int], float]:
        """{(passage rank, sentence number): p} over the top `limit` passages' embedded sentences; {} for an
        index without sentence vectors."""
        sv = index.sentences
        if sv is None or qvec is None:
            return {}
        keys, items = [], []
        for h_i, hit in enumerate(hits[:limit]):
            pos = index.position(hit.chunk_id)
            if pos is None:
                continue
            vecs, numbers = sv.of_chunk(pos)
            sents = passage_sentences(hit.text)
            for v, n in zip(vecs, numbers.tolist()):
                if n < len(sents):
                    keys.append((h_i, n))
                    items.append((sents[n], hit.title or "", v))
        probs = self.score(question, qvec, items)
        return {k: float(p) for k, p in zip(keys, probs)}
