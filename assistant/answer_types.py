"""The answer-type model: what kind of answer a question asks for (what it is, its symptoms, causes,
treatment, outlook...) and what kind a passage gives, read from the MiniLM vectors retrieval computes
anyway; retrieval adds `answer_type_weight` x their agreement to a passage's fused score, so "what are
the symptoms of X?" prefers the passage on X's symptoms to the one on what X is.

Two multinomial logistic regressions over 384-d vectors (`evals/train_answer_types.py`, MedQuAD's 15
question types; 50 KB in assistant/models/answer_types.npz)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from . import weights

MODEL_PATH = weights.MODELS / "answer_types.npz"


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class AnswerTypes:
    def __init__(self, path: str | Path = MODEL_PATH):
        data = weights.load(path, "evals/train_answer_types.py")
        self.classes = [str(c) for c in data["classes"]]
        self.model_id = str(data["model_id"])
        self.q_coef, self.q_bias = data["q_coef"], data["q_bias"]
        self.a_coef, self.a_bias = data["a_coef"], data["a_bias"]

    def asked(self, vec: np.ndarray) -> np.ndarray:
        """P(type) of the answer a question (its vector) asks for."""
        return _softmax(np.asarray(vec, dtype=np.float32) @ self.q_coef + self.q_bias)

    def given(self, vectors: np.ndarray) -> np.ndarray:
        """P(type) of the answer each passage (its vector, one per row) gives."""
        return _softmax(np.asarray(vectors, dtype=np.float32) @ self.a_coef + self.a_bias)

    def agreement(self, vec: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """For each passage, the chance that the question and the passage are of one type."""
        return self.given(vectors) @ self.asked(vec)


@lru_cache(maxsize=4)
def for_encoder(model_id: str, path: str = str(MODEL_PATH)) -> AnswerTypes | None:
    """The shipped model when it was trained on this encoder's vectors, else None (another model's
    vectors mean nothing to it: retrieval then goes without it)."""
    model = AnswerTypes(path)
    return model if model.model_id == model_id else None
