"""Compose replies: extractive cited answers (no LLM), sources list, and the mandatory framing."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .retrieval import Hit, Lexicon
from .text import analyze, sentence_spans

_BOILERPLATE = re.compile(r"^(read more|learn more|click here|see also|share this)\b", re.I)
_LEANS_BACK = re.compile(r"^(this|these|that|those|it|they|such|their|its)\b", re.I)
_LABEL = re.compile(r"^\W*(?:\w+\W+){0,3}\w+:$")  # "Recovery Considerations:" introduces, says nothing
# Sentence choice: lexical overlap (normalised) weighs half as much as the sentence's cosine to the
# question (tuning set: citation evidence 0.864 -> 0.893 at 0.5; flat from 0.5 down to 0).
LEXICAL_WEIGHT = 0.5
# Other passages add sentences matching at least this share of the anchor's match (tuning set: 0.6 gives
# citation evidence 0.913 at citation precision 0.545; 0.8 gives 0.893 at 0.669).
OTHER_PASSAGE = 0.6
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


@dataclass(frozen=True)
class Citation:
    """A cited passage: its marker number, document id, title, section and text."""

    number: int
    source: str
    title: str
    chunk_id: str
    text: str
    section: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def url(self) -> str | None:
        return self.metadata.get("url")


def passage_sentences(text: str) -> list[str]:
    """Sentences of a passage, list items split off and their bullet markers removed."""
    out = []
    for line in text.split("\n"):
        line = _BULLET.sub("", line).strip()
        if line:
            out += [line[s:e] for s, e in sentence_spans(line)]
    return out


def select_sentences(question: str, hits: list[Hit], lexicon: Lexicon, max_words: int = 120,
                     max_passages: int = 3) -> list[tuple[int, int, str]]:
    """(passage index, sentence index, sentence) chosen to answer the question, in reading order.

    The best-matching sentence anchors the answer; its neighbours in the same passage fill the
    budget (they usually finish its thought or list), and later passages add only sentences that
    match the question nearly as well."""
    q = set(analyze(lexicon.expand(question)))
    idf = lexicon.idf(sorted(q))
    sentences = {h_i: passage_sentences(hit.text) for h_i, hit in enumerate(hits[:max_passages])}
    overlap: dict[tuple[int, int], float] = {}
    for h_i, sents in sentences.items():
        for s_i, sent in enumerate(sents):
            if not _BOILERPLATE.match(sent) and not _LABEL.match(sent):
                toks = analyze(sent)
                overlap[(h_i, s_i)] = sum(idf[t] for t in q.intersection(toks)) / (1 + 0.02 * len(toks))
    if not overlap:
        return []
    # Lexical overlap, normalised, plus the sentence's cosine to the question when the index has
    # sentence vectors. The best sentence of the top passage anchors the answer (retrieval already
    # weighed every passage's best sentence).
    top = max(overlap.values()) or 1.0
    sim = {k: hits[k[0]].sentence_scores.get(k[1], 0.0) for k in overlap}
    match = {k: LEXICAL_WEIGHT * ov / top + sim[k] for k, ov in overlap.items()}
    first = [k for k in match if k[0] == min(h for h, _ in match)]
    anchor = max(first, key=lambda k: (match[k], -k[1]))
    best = match[anchor] or 1.0
    score: dict[tuple[int, int], float] = {}
    for (h_i, s_i), m in match.items():
        if h_i == anchor[0] and (overlap[(h_i, s_i)] > 0 or abs(s_i - anchor[1]) <= 2):
            score[(h_i, s_i)] = m / best + 0.6 / (1 + abs(s_i - anchor[1]))
        elif m >= OTHER_PASSAGE * best and overlap[(h_i, s_i)] > 0:
            score[(h_i, s_i)] = 0.8 * m / best / (1 + 0.3 * h_i)
    chosen: dict[tuple[int, int], str] = {}
    used = 0
    for key in sorted(score, key=lambda k: (-score[k], k)):
        h_i, s_i = key
        need = [key]
        if _LEANS_BACK.match(sentences[h_i][s_i]) and s_i > 0:
            need.insert(0, (h_i, s_i - 1))
        need = [k for k in need if k not in chosen]
        cost = sum(len(sentences[a][b].split()) for a, b in need)
        if chosen and used + cost > max_words:
            continue
        for a, b in need:
            chosen[(a, b)] = sentences[a][b]
        used += cost
    return [(a, b, text) for (a, b), text in sorted(chosen.items())]


def cite(selected: list[tuple[int, int, str]], hits: list[Hit]) -> tuple[str, list[Citation]]:
    """Body text with a marker on every sentence, and the ordered citations."""
    numbers: dict[int, int] = {}
    citations: list[Citation] = []
    paragraphs: list[list[str]] = []
    last = None
    for h_i, _, sent in selected:
        if h_i not in numbers:
            hit = hits[h_i]
            numbers[h_i] = len(citations) + 1
            citations.append(Citation(numbers[h_i], hit.source, hit.title, hit.chunk_id, hit.text, hit.section, hit.metadata))
        if h_i != last:
            paragraphs.append([])
            last = h_i
        paragraphs[-1].append(f"{sent} [{numbers[h_i]}]")
    return "\n\n".join(" ".join(p) for p in paragraphs), citations


def sources_block(citations: list[Citation]) -> str:
    """The list of sources shown under an answer."""
    if not citations:
        return ""
    lines = ["**Sources**"]
    for c in citations:
        where = f"{c.title} — {c.section}" if c.section else c.title
        link = f" <{c.url}>" if c.url else ""
        lines.append(f"[{c.number}] {where} (passage `{c.chunk_id}`){link}")
    return "\n".join(lines)


def with_framing(body: str, route: str, framing: str) -> str:
    """The one place every reply passes through: all but emergency escalations end with the framing."""
    body = body.rstrip()
    if route == "emergency":
        return body
    if body.endswith(framing):
        return body
    return f"{body}\n\n{framing}" if body else framing
