"""Hybrid retrieval: dense (FAISS) and BM25 fused by reciprocal rank, duplicates removed; plus the
lexical signals (spelling, lay words, coverage) used to decide whether the sources cover a question."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from .answer_types import for_encoder
from .embedding import Embedder
from .followup import content_words
from .index import Index
from .settings import Settings
from .text import Speller, analyze, fold, plain_words, stem, words
from .types import Hit


def _stem_line(text: str) -> str:
    """" stem stem ... ": the text's word stems, apostrophes dropped first, for matching synonym phrases
    ("what's in" and "whats in" read the same)."""
    return " " + " ".join(stem(w) for w in plain_words(text).split()) + " "


class Lexicon:
    """The corpus's words: spelling correction (one edit, text.Speller), lay-word expansion and coverage."""

    def __init__(self, index: Index, synonyms: dict[str, str], coverage: dict | None = None):
        coverage = coverage or {}
        self.always_specific = frozenset(coverage.get("always_specific", []))
        self.generic_zipf = float(coverage.get("generic_zipf", 5.6))
        self.index = index
        self.vocab: set[str] = set(index.vocabulary)
        self.synonyms = {_stem_line(k).strip(): v for k, v in synonyms.items()}
        self._phrases = sorted(self.synonyms, key=len, reverse=True)
        self.speller = Speller(self.vocab, min_length=5, checked=False)
        self._prefix_set: frozenset[str] | None = None
        indptr = np.asarray(index.bm25.model.scores["indptr"])
        self._df = np.diff(indptr)
        self._n = max(1, int(index.bm25.model.scores["num_docs"]))

    def correct(self, word: str) -> str:
        """The corpus word (5+ letters) one letter off an unknown word of 5+ letters, else the word."""
        return self.speller.correct(word)

    def expand(self, text: str) -> str:
        """The text plus the corpus words for the lay words and misspellings in it."""
        low = _stem_line(text)
        extra = [self.synonyms[p] for p in self._phrases if f" {p} " in low]
        fixed = [c for w in words(text) if (c := self.correct(w)) != w]
        return " ".join([text] + extra + fixed)

    def known(self, token: str) -> bool:
        """The corpus has this stem, or (for long stems) one sharing its first six letters."""
        if self.index.bm25.knows(token):
            return True
        return len(token) >= 6 and token[:6] in self._prefixes

    @property
    def _prefixes(self) -> frozenset[str]:
        if self._prefix_set is None:
            self._prefix_set = frozenset(t[:6] for t in self.index.bm25.model.vocab_dict if len(t) >= 6)
        return self._prefix_set

    def is_topic_word(self, word: str) -> bool:
        """A word the corpus mentions (allowing a misspelling or lay synonym) that is not generic English."""
        if self.salience(word) == 0.0:
            return False
        candidates = [word, self.correct(word)] + words(self.synonyms.get(stem(word), ""))
        return any(self.known(stem(c)) for c in candidates)

    def salience(self, word: str) -> float:
        """How much a question word says about the topic: 0 for very common English words, up to 1
        for rare ones and for the clinic's always-specific words."""
        if word in self.always_specific:
            return 1.0
        from wordfreq import zipf_frequency

        zipf = zipf_frequency(word, "en")
        if zipf >= self.generic_zipf:
            return 0.0
        if zipf == 0.0:
            return 0.2  # not an English word and not in the corpus: most often a misspelling
        return float(min(1.0, max(0.15, (self.generic_zipf + 0.4 - zipf) / 2.5)))

    def coverage(self, question: str, passages: list[str] | None = None) -> tuple[float, list[str]]:
        """Salience-weighted share of the question's topic words that the corpus mentions (directly,
        misspelt by one letter, or through a lay-word synonym), and the words it does not. With
        `passages`, the words must be in those passages (the ones retrieved for it), not just somewhere
        in the corpus: a large library mentions nearly every word."""
        low = _stem_line(question)
        if passages is not None:
            seen = {stem(w) for w in words(" ".join(passages))}
            known_stem = seen.__contains__
        else:
            known_stem = self.known
        total = covered = 0.0
        missing = []
        for w in dict.fromkeys(content_words(question)):
            candidates = [w, self.correct(w)]
            candidates += [s for p in self._phrases if f" {stem(w)} " in f" {p} " and f" {p} " in low
                           for s in words(self.synonyms[p])]
            known = any(known_stem(stem(c)) for c in candidates)
            weight = self.salience(w) if not known or w in self.always_specific else max(self.salience(w), 0.3)
            total += weight
            if known:
                covered += weight
            elif weight > 0:
                missing.append(w)
        return (covered / total if total else 1.0), missing

    def idf(self, tokens: list[str]) -> dict[str, float]:
        vocab = self.index.bm25.model.vocab_dict
        out = {}
        for t in tokens:
            i = vocab.get(t)
            df = int(self._df[i]) if i is not None and i < len(self._df) else 0
            out[t] = float(np.log(1 + (self._n - df + 0.5) / (df + 0.5)))
        return out


def _rank_lists(index: Index, embedder: Embedder, lexicon: Lexicon, query: str, pool: int,
                mode: str, vec: np.ndarray | None):
    dense = bm25 = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    if mode in ("hybrid", "dense"):
        dense = index.dense_search(vec if vec is not None else embedder.encode_query(query), pool)
    if mode in ("hybrid", "bm25"):
        bm25 = index.bm25_search(analyze(lexicon.expand(query)), pool)
    return dense, bm25


_DEFAULTS = Settings()


@dataclass(frozen=True)
class RetrievalConfig:
    """How passages are ranked, built once from the settings (`from_settings`) and passed whole; its
    defaults are the settings' defaults, so code that builds one bare ranks as the app does."""

    pool: int = _DEFAULTS.candidate_pool
    mode: str = _DEFAULTS.retrieval_mode
    rrf_k: int = _DEFAULTS.rrf_k
    weights: tuple[float, float] = (_DEFAULTS.dense_weight, _DEFAULTS.bm25_weight)
    fusion: str = _DEFAULTS.fusion
    alpha: float = _DEFAULTS.fusion_alpha
    sentence_weight: float = _DEFAULTS.sentence_weight
    type_weight: float = _DEFAULTS.answer_type_weight

    @classmethod
    def from_settings(cls, s: Settings) -> "RetrievalConfig":
        return cls(pool=s.candidate_pool, mode=s.retrieval_mode, rrf_k=s.rrf_k, weights=(s.dense_weight, s.bm25_weight),
                   fusion=s.fusion, alpha=s.fusion_alpha, sentence_weight=s.sentence_weight,
                   type_weight=s.answer_type_weight)


def search(index: Index, embedder: Embedder, lexicon: Lexicon, query: str, *, k: int = 5,
           config: RetrievalConfig = RetrievalConfig(), vec: np.ndarray | None = None) -> list[Hit]:
    """Ranked passages for a query, best first; near-identical passages appear once.

    Hybrid fusion "score" (default): alpha * dense cosine + (1 - alpha) * BM25 / the query's best
    BM25 score; "rrf": weighted reciprocal rank fusion. Score fusion adds type_weight x the answer-type
    agreement of question and passage (assistant/answer_types.py) when set. With sentence vectors in the
    index and sentence_weight > 0, score fusion then mixes in the passage's best sentence cosine."""
    pool, mode, rrf_k, weights = config.pool, config.mode, config.rrf_k, config.weights
    fusion, alpha, sentence_weight = config.fusion, config.alpha, config.sentence_weight
    if vec is None and mode in ("hybrid", "dense"):
        vec = embedder.encode_query(query)
    (d_ids, d_sc), (b_ids, b_sc) = _rank_lists(index, embedder, lexicon, query, max(pool, k), mode, vec)
    fused: Counter = Counter()
    info: dict[int, dict] = {}
    b_max = float(b_sc[0]) if len(b_sc) and b_sc[0] > 0 else 1.0
    for rank, (i, s) in enumerate(zip(d_ids.tolist(), d_sc.tolist()), 1):
        if mode != "hybrid":
            fused[i] += s
        else:
            fused[i] += alpha * s if fusion == "score" else weights[0] / (rrf_k + rank)
        info.setdefault(i, {})["dense"] = (s, rank)
    for rank, (i, s) in enumerate(zip(b_ids.tolist(), b_sc.tolist()), 1):
        if mode != "hybrid":
            fused[i] += s
        else:
            fused[i] += (1 - alpha) * s / b_max if fusion == "score" else weights[1] / (rrf_k + rank)
        info.setdefault(i, {})["bm25"] = (s, rank)
    types = for_encoder(embedder.model_id) if config.type_weight > 0 and mode == "hybrid" and fusion == "score" else None
    if types is not None and fused:
        ids = list(fused)
        for i, agree in zip(ids, types.agreement(vec, index.embeddings[np.array(ids)]).tolist()):
            fused[i] += config.type_weight * agree
    best: dict[int, float] = {}
    rerank = sentence_weight > 0 and index.sentences is not None and mode == "hybrid" and fusion == "score"
    if rerank:
        best = index.sentences.best(vec, list(fused))
        for i in fused:
            fused[i] = (1 - sentence_weight) * fused[i] + sentence_weight * best.get(i, 0.0)
    hits: list[Hit] = []
    seen: set[str] = set()
    for i, score in sorted(fused.items(), key=lambda kv: (-kv[1], kv[0])):
        c = index.chunks[i]
        key = fold(c.text)
        if key in seen:
            continue
        seen.add(key)
        d, b = info[i].get("dense"), info[i].get("bm25")
        hits.append(Hit(
            source=c.source, chunk_id=c.id, title=c.title, section=c.section, text=c.text, score=float(score),
            dense_score=None if d is None else float(d[0]), bm25_score=None if b is None else float(b[0]),
            dense_rank=None if d is None else d[1], bm25_rank=None if b is None else b[1], metadata=c.metadata,
            sentence_score=best.get(i), sentence_scores=index.sentences.sims(vec, i) if rerank else {},
        ))
        if len(hits) >= k:
            break
    return hits


def article_first(hits: list[Hit], source: str | None, k: int) -> list[Hit]:
    """The first k of `hits` with one article's passages moved ahead of the others (each group keeps its
    order): for a follow-up, the article its conversation is about."""
    if source is None:
        return hits[:k]
    return ([h for h in hits if h.source == source] + [h for h in hits if h.source != source])[:k]
