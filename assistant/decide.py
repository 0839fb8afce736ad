"""The answer decision: do the retrieved passages answer the question? Answer, offer the closest passages
with a hedge, or abstain.

The signals are computed on the passages retrieved for this question (how closely their best sentences
and the passages match it, how much of the question's specific wording they contain), never on the
corpus vocabulary as a whole, so a large library does not make every question look covered. A logistic
model over them is learned on MedQuAD leave-answer-out data (`evals/train_answer.py`): each question with
its answer passage present, with only that section removed, and with its whole article removed."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import weights
from .followup import content_words
from .text import analyze, stem, words

MODEL_PATH = weights.MODELS / "answer.npz"
ANSWER, CLOSEST, ABSTAIN = "answer", "closest", "abstain"
# Signals that mean the same on a 12-passage corpus and a 6,000-passage one: how closely the best sentences
# and passage match the question, and how much of its specific wording the top passages hold. (The fused
# score, its margin and the title match were dropped: their scale follows the corpus, and a model fitted on
# MedQuAD's large index refused plain questions on a one-article corpus.)
FEATURES = ("top_sentence", "second_sentence", "top_dense", "cover_top1", "cover_top3", "rare_missing",
            "idf_cover_top1", "n_words")


def _stems(text: str) -> set[str]:
    return {stem(w) for w in words(text)}


def _word_stems(lexicon, word: str) -> set[str]:
    """The stems a question word may appear as in a passage: itself, its one-edit correction, lay synonyms."""
    out = {stem(word), stem(lexicon.correct(word))}
    out |= {stem(w) for w in words(lexicon.synonyms.get(stem(word), ""))}
    return out


def features(question: str, hits: list, lexicon) -> dict[str, float]:
    """The decision's signals for one question and its ranked passages (best first)."""
    qwords = list(dict.fromkeys(content_words(question)))
    sal = {w: lexicon.salience(w) for w in qwords}
    sal = {w: max(s, 0.05) for w, s in sal.items()}
    top = hits[:3]
    p1 = _stems(top[0].text) if top else set()
    p3 = set().union(*(_stems(h.text) for h in top)) if top else set()
    head = _stems(" ".join(f"{h.title} {h.section}" for h in top[:1])) if top else set()
    total = sum(sal.values()) or 1.0

    def share(stems: set[str]) -> float:
        if not qwords:
            return 1.0
        return sum(s for w, s in sal.items() if _word_stems(lexicon, w) & stems) / total

    q_tokens = sorted(set(analyze(question)))
    idf = lexicon.idf(q_tokens) if q_tokens else {}
    idf_total = sum(idf.values()) or 1.0
    idf_cover = sum(v for t, v in idf.items() if t in p1) / idf_total if q_tokens else 1.0
    missing = [w for w in qwords if not _word_stems(lexicon, w) & p3]
    sents = sorted((h.sentence_score for h in hits[:5] if h.sentence_score is not None), reverse=True)
    dense = [h.dense_score for h in hits[:5] if h.dense_score is not None]
    s1 = sents[0] if sents else 0.0
    s2 = sents[1] if len(sents) > 1 else 0.0
    return {
        "top_score": hits[0].score if hits else 0.0,
        "top_dense": max(dense) if dense else 0.0,
        "top_sentence": s1,
        "second_sentence": s2,
        "sentence_gap": s1 - s2,
        "cover_top1": share(p1),
        "cover_top3": share(p3),
        "idf_cover_top1": idf_cover,
        "rare_missing": max((sal[w] for w in missing), default=0.0),
        "title_cover": share(head),
        "n_words": math.log1p(len(qwords)),
        "score_margin": (hits[0].score - hits[min(4, len(hits) - 1)].score) if hits else 0.0,
    }


@dataclass(frozen=True)
class Decision:
    outcome: str          # answer | closest | abstain
    p_answer: float
    signals: dict
    # {(passage rank, sentence number): p that it answers} from the answer-sentence model, when it ran
    sentence_probs: dict = field(default_factory=dict)


class AnswerModel:
    """Logistic model over `features`, with the two cut-offs: answer at or above `answer`, offer the closest
    passages with a hedge at or above `closest`, else abstain."""

    def __init__(self, path: str | Path = MODEL_PATH):
        data = weights.load(path, "evals/train_answer.py", "features", FEATURES)
        self.mean, self.scale = data["mean"], data["scale"]
        self.coef, self.intercept = data["coef"], float(data["intercept"])
        self.answer, self.closest = float(data["answer"]), float(data["closest"])

    def probability(self, feats: dict[str, float]) -> float:
        x = (np.array([feats[n] for n in FEATURES], dtype=np.float64) - self.mean) / self.scale
        z = float(x @ self.coef + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def decide(self, question: str, hits: list, lexicon, answer: float | None = None,
               closest: float | None = None) -> Decision:
        if not hits:
            return Decision(ABSTAIN, 0.0, {})
        feats = features(question, hits, lexicon)
        p = self.probability(feats)
        a = self.answer if answer is None else answer
        c = self.closest if closest is None else closest
        outcome = ANSWER if p >= a else CLOSEST if p >= c else ABSTAIN
        return Decision(outcome, p, {k: round(v, 4) for k, v in feats.items()})


OFFTOPIC_POOL = "offtopic_questions.txt"
# The answer cut-off is raised on a corpus where more than this share of the off-topic pool would be
# answered, but never so far that fewer than MIN_HEADINGS of its heading-derived questions are.
MAX_OFFTOPIC = 0.05
MIN_HEADINGS = 0.9


def heading_questions(chunks, limit: int = 60, seed: int = 0) -> list[str]:
    """Questions derived from the corpus itself: each section heading, asked about its article."""
    import random

    seen: dict[str, None] = {}
    for c in chunks:
        section = (c.section or "").split(" > ")[-1].strip()
        if section and section.lower() != (c.title or "").lower():
            seen.setdefault(f"{section} ({c.title})?", None)
        elif c.title:
            seen.setdefault(f"What is {c.title}?", None)
    questions = list(seen)
    random.Random(seed).shuffle(questions)
    return questions[:limit]


def calibrate(bot, pool: list[str]) -> dict:
    """The answer decision on this corpus: how many of its heading-derived questions it answers and how
    many of a generic off-topic pool, and the answer cut-off to use here (the model's, raised when the
    corpus makes off-topic questions look covered). Runs at `assistant index` time."""
    model = bot.answer_model
    k = bot.settings.top_k

    def probs(questions: list[str]) -> np.ndarray:
        return np.array([model.decide(q, bot.retrieve(q, k=k), bot.lexicon).p_answer for q in questions])

    pos = probs(heading_questions(bot.index.chunks))
    neg = probs(pool)
    cutoff = model.answer
    if len(neg) and np.mean(neg >= cutoff) > MAX_OFFTOPIC:
        raised = float(np.quantile(neg, 1 - MAX_OFFTOPIC))
        if not len(pos) or np.mean(pos >= raised) >= MIN_HEADINGS:
            cutoff = raised
    return {"answer_cutoff": round(float(cutoff), 4), "model_cutoff": round(model.answer, 4),
            "heading_questions": int(len(pos)), "offtopic_questions": int(len(neg)),
            "headings_answered": round(float(np.mean(pos >= cutoff)), 4) if len(pos) else None,
            "offtopic_answered": round(float(np.mean(neg >= cutoff)), 4) if len(neg) else None}


def calibration_summary(cal: dict) -> str:
    if not cal:
        return "answer decision: not calibrated on this corpus"
    raised = "" if cal["answer_cutoff"] == cal["model_cutoff"] else f", raised from {cal['model_cutoff']:.2f}"
    return (f"answer decision on this corpus: {cal['headings_answered']:.0%} of {cal['heading_questions']} questions "
            f"from its headings answered, {cal['offtopic_answered']:.0%} of {cal['offtopic_questions']} off-topic "
            f"questions (cut-off {cal['answer_cutoff']:.2f}{raised})")
