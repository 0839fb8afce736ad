"""Triage before retrieval: emergency, personal advice (and injected instructions), greeting."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from . import prompts

EMERGENCY, ADVICE, GREETING, QUESTION = "emergency", "advice", "greeting", "question"


@dataclass(frozen=True)
class Triage:
    """The triage decision: route, the rule that fired and the text it fired on."""

    route: str
    rule: str = ""
    matched: str = ""
    message: str = ""


@dataclass(frozen=True)
class _Rule:
    name: str
    patterns: tuple[re.Pattern, ...]
    message: str = ""


def normalise(text: str) -> str:
    """Lowercase ASCII words separated by single spaces; apostrophes dropped ("can't" -> "cant")."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"['\u2019\u2018`]", "", text)
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return f" {text.strip()} ".strip()


def _close(a: str, b: str, limit: int) -> bool:
    """Damerau-Levenshtein distance of a and b is at most limit (optimal string alignment)."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return False
        prev2, prev = prev, cur
    return prev[-1] <= limit


def _is_english(word: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") >= 3.0


class Triager:
    """Applies the rules in prompts/triage.toml, plus a semantic net for emergencies."""

    def __init__(self, prompts_dir: str, semantic_threshold: float = 0.8):
        data = prompts.toml(prompts_dir, "triage.toml")
        flags = re.IGNORECASE
        self.keywords = tuple(sorted(set(data["emergency"].get("keywords", []))))
        self.emergency = [self._rule(r, flags) for r in data["emergency"]["rules"]]
        self.advice = [self._rule(r, flags) for r in data["advice"]["rules"]]
        self.greeting = tuple(re.compile(p, flags) for p in data["greeting"]["patterns"])
        self.greeting_words = frozenset(data["greeting"].get("words", []))
        self.exemplars = tuple(data["emergency"].get("exemplars", []))
        self.semantic_threshold = semantic_threshold
        self._exemplar_vecs: np.ndarray | None = None

    @staticmethod
    def _rule(raw: dict, flags: int) -> _Rule:
        return _Rule(raw["name"], tuple(re.compile(p, flags) for p in raw["patterns"]), raw.get("message", ""))

    @lru_cache(maxsize=4096)
    def correct(self, word: str) -> str:
        """The emergency keyword a misspelt word stands for, or the word itself (real English
        words such as "checking" are never "corrected" into "choking")."""
        if len(word) < 4 or word in self.keywords or _is_english(word):
            return word
        limit = 1 if len(word) < 7 else 2
        for kw in self.keywords:
            if abs(len(kw) - len(word)) <= limit and kw[0] == word[0] and _close(word, kw, limit):
                return kw
        return word

    def corrected(self, text: str) -> str:
        return " ".join(self.correct(w) for w in normalise(text).split())

    def exemplar_vectors(self, embed) -> np.ndarray:
        if self._exemplar_vecs is None:
            self._exemplar_vecs = np.vstack([embed(e) for e in self.exemplars]) if self.exemplars else np.zeros((0, 1))
        return self._exemplar_vecs

    def classify(self, question: str, embed=None) -> Triage:
        """The route for a question, checked in order: emergency, advice, greeting, else question."""
        plain = normalise(question)
        fixed = self.corrected(question)
        for rule in self.emergency:
            for pat in rule.patterns:
                m = pat.search(fixed) or pat.search(plain)
                if m:
                    return Triage(EMERGENCY, rule.name, m.group(0).strip() or fixed, rule.message)
        if embed is not None and self.exemplars:
            vec = embed(question)
            sims = self.exemplar_vectors(embed) @ vec
            best = int(np.argmax(sims))
            if sims[best] >= self.semantic_threshold:
                return Triage(EMERGENCY, "close to an emergency example", self.exemplars[best])
        for rule in self.advice:
            for pat in rule.patterns:
                m = pat.search(plain)
                if m:
                    return Triage(ADVICE, rule.name, m.group(0).strip())
        squeezed = re.sub(r"(\w)\1{2,}", r"\1", plain)  # "hiii" -> "hi", "hellooo" -> "hello"
        if not plain or set(squeezed.split()) <= self.greeting_words or any(p.search(squeezed) for p in self.greeting):
            return Triage(GREETING, "greeting", plain)
        return Triage(QUESTION)
