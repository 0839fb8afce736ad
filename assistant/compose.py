"""Compose replies: extractive cited answers (no LLM), sources list, and the mandatory framing."""
from __future__ import annotations

import re

from .retrieval import Lexicon
from .text import analyze, passage_items
from .types import Citation, Hit

# Navigation and calls to action ("Take the first step...", "Contact us today") invite the reader to do
# something; they answer nothing, so they are never quoted.
_BOILERPLATE = re.compile(r"^(?:read more|learn more|click here|see also|share this|take the (?:first|next) step|"
                          r"(?:contact|call|email|visit|ask) us|reach out|get started|find out more|"
                          r"(?:schedule|book|request) (?:a|an|your)\b)\b|\b(?:contact|call) us (?:today|now)\b", re.I)
# A sentence that cannot stand alone: a bare pronoun subject ("It may...", "These are...", "They help...").
# "These sessions are..." names its subject and stands alone.
_LEANS_BACK = re.compile(r"^(?:(?:it|they|its|their|such)\b|(?:this|these|that|those)\s+(?:is|are|was|were|may|might|can|could|"
                         r"will|would|has|have|had|include|includes|involve|involves|helps?|should|do|does|also|means?)\b)", re.I)
_LABEL = re.compile(r"^\W*(?:\w+\W+){0,3}\w+:$")  # "Recovery Considerations:" introduces, says nothing
# A heading left in a passage's text: a question ("Who Treats Osteoporosis?") or a short line that is not a
# list item and ends without punctuation ("Sprains and strains"). It names a topic; it answers nothing.
_ENDS = re.compile(r"[.!:;]\W*$")


def quotable(sentence: str, list_item: bool = False) -> bool:
    """Whether a passage sentence may be quoted in an answer: not navigation, a label or a heading."""
    if _BOILERPLATE.search(sentence) or _LABEL.match(sentence) or sentence.rstrip().endswith("?"):
        return False
    return list_item or len(sentence.split()) > 5 or bool(_ENDS.search(sentence))
# Sentence choice: lexical overlap (normalised) weighs as much as the sentence's cosine to the
# question; each lower passage's sentences weigh PASSAGE_DECAY less.
LEXICAL_WEIGHT = 1.0
PASSAGE_DECAY = 0.15
# After the best sentence, others join while they match at least this share of its match (same passage),
# or OTHER_PASSAGE of it from another passage (which must also add a question word); up to LIST_ITEMS items
# of the list follow a sentence that introduces one. A sentence whose words, in order, are all in one
# already chosen, or hold all of its words (a passage that repeats itself), is left out.
SAME_PASSAGE = 0.8
OTHER_PASSAGE = 0.9
LIST_ITEMS = 5
# With the answer-sentence model's p (assistant/answer_sentences.py) it weighs this much beside the two.
ANSWER_P_WEIGHT = 1.0


def select_sentences(question: str, hits: list[Hit], lexicon: Lexicon, max_words: int = 120,
                     max_passages: int = 3, max_sentences: int = 3,
                     probs: dict | None = None) -> list[tuple[int, int, str]]:
    """(passage index, sentence index, sentence) chosen to answer the question, best answer first.

    Every sentence of the top passages is scored by how well it answers the question (its cosine to the
    question plus its overlap with the question's specific words, a little less for lower passages).
    The best one leads. Others follow in order of that score only while they match nearly as well: from
    the same passage, or from another passage only when they bring a question word the chosen sentences
    lack. A sentence that leans back ("These ...") brings its predecessor; one that introduces a list
    (ends with ":") brings the list. `probs` ({(passage, sentence): p}, the answer-sentence model's) adds
    how likely each sentence is to answer this question to its score, and the best of all leads (chosen by
    leave-one-author-out scores on the tuning authors: evals/train_sentences.py --cross-validate)."""
    q = set(analyze(lexicon.expand(question)))
    idf = lexicon.idf(sorted(q))
    items = {h_i: passage_items(hit.text) for h_i, hit in enumerate(hits[:max_passages])}
    sentences = {h_i: [s for s, _ in its] for h_i, its in items.items()}
    overlap: dict[tuple[int, int], float] = {}
    terms: dict[tuple[int, int], set[str]] = {}
    for h_i, sents in sentences.items():
        # Words of the passage's article title say what every sentence of it is about, not which one
        # answers: the overlap counts the question's other words ("how fast does it progress").
        asked = q - set(analyze(hits[h_i].title or "")) or q
        for s_i, sent in enumerate(sents):
            if quotable(sent, items[h_i][s_i][1]):
                toks = analyze(sent)
                terms[(h_i, s_i)] = asked.intersection(toks)
                overlap[(h_i, s_i)] = sum(idf[t] for t in terms[(h_i, s_i)]) / (1 + 0.02 * len(toks))
    if not overlap:
        return []
    top = max(overlap.values()) or 1.0
    sim = {k: hits[k[0]].sentence_scores.get(k[1], 0.0) for k in overlap}
    probs = probs or {}
    match = {k: (LEXICAL_WEIGHT * ov / top + sim[k] + ANSWER_P_WEIGHT * probs.get(k, 0.0)) * (1 - PASSAGE_DECAY * k[0])
             for k, ov in overlap.items()}
    ranked = sorted(match, key=lambda k: (-match[k], k))
    if probs:  # the sentence most likely to answer (by the model, its cosine and its words together) leads
        anchor = ranked[0]
    else:
        # The lead sentence comes from the passage holding the sentence closest to the question (of the top
        # two; the top one on a tie), the best-scoring one in it; the others follow by score.
        lead = max(sorted({h for h, _ in match})[:2], key=lambda h: (max(sim[k] for k in match if k[0] == h), -h))
        anchor = max((k for k in ranked if k[0] == lead), key=lambda k: match[k])
    best = match[anchor] or 1.0
    chosen: dict[tuple[int, int], str] = {}
    used = 0
    covered: set[str] = set()

    def take(key: tuple[int, int], force: bool = False) -> None:
        nonlocal used
        h_i, s_i = key
        need = [key]
        if _LEANS_BACK.match(sentences[h_i][s_i]) and s_i > 0 and quotable(*items[h_i][s_i - 1]):
            need.insert(0, (h_i, s_i - 1))
        if sentences[h_i][s_i].rstrip().endswith(":"):
            need += list_after(h_i, s_i)
        need = [k for k in need if k not in chosen and not repeats(k)]
        if key not in need:
            return
        cost = sum(len(sentences[a][b].split()) for a, b in need)
        if not force and used + cost > max_words:
            return
        for a, b in need:
            chosen[(a, b)] = sentences[a][b]
            covered.update(terms.get((a, b), ()))
        used += cost

    def list_after(h_i: int, s_i: int) -> list[tuple[int, int]]:
        """The list a sentence introduces: the run of list items after it (a bulleted list ends where its
        items end, before any line that follows), else the next sentences."""
        after = range(s_i + 1, min(s_i + 1 + LIST_ITEMS, len(sentences[h_i])))
        if after and items[h_i][after[0]][1]:
            after = after[:next((n for n, j in enumerate(after) if not items[h_i][j][1]), len(after))]
        return [(h_i, j) for j in after]

    def repeats(key: tuple[int, int]) -> bool:
        """Its words, in order, are a run of the words of one sentence already chosen, or the reverse."""
        run = f" {' '.join(analyze(sentences[key[0]][key[1]]))} "
        return run.strip() != "" and any(run in other or other in run
                                         for other in (f" {' '.join(analyze(t))} " for t in chosen.values()))

    anchor_terms = set(analyze(hits[anchor[0]].text))  # what the lead passage already says
    take(anchor, force=True)
    for key in ranked[1:]:
        if sum(1 for k in chosen if k in match) >= max_sentences:
            break
        if key in chosen or match[key] < SAME_PASSAGE * best:
            continue
        if key[0] != anchor[0] and (match[key] < OTHER_PASSAGE * best
                                    or not any(lexicon.salience(t) > 0 for t in terms[key] - covered - anchor_terms)):
            continue
        take(key)
    return [(a, b, text) for (a, b), text in chosen.items()]


class CitationNumbers:
    """The one citation numbering: markers numbered by first use (the first passage cited is [1], the next
    new one [2]...), and the citations in that order. Used by `cite` and by the LLM verifier."""

    def __init__(self, hits: list[Hit]):
        self.hits = hits
        self.citations: list[Citation] = []
        self._numbers: dict[int, int] = {}

    def __call__(self, i: int) -> int:
        """The number of hits[i], given on its first use."""
        if i not in self._numbers:
            h = self.hits[i]
            self._numbers[i] = len(self.citations) + 1
            self.citations.append(Citation(self._numbers[i], h.source, h.title, h.chunk_id, h.text, h.section, h.metadata))
        return self._numbers[i]


def cite(selected: list[tuple[int, int, str]], hits: list[Hit]) -> tuple[str, list[Citation]]:
    """Body text with a marker on every sentence, and the ordered citations."""
    number = CitationNumbers(hits)
    paragraphs: list[list[str]] = []
    last = None
    for h_i, _, sent in selected:
        if h_i != last:
            paragraphs.append([])
            last = h_i
        paragraphs[-1].append(f"{sent} [{number(h_i)}]")
    return "\n\n".join(" ".join(p) for p in paragraphs), number.citations


def sources_block(citations: list[Citation]) -> str:
    """The list of sources shown under an answer."""
    if not citations:
        return ""
    lines = ["**Sources**"]
    for c in citations:
        where = f"{c.title} — {c.section}" if c.section else c.title
        link = f" <{c.url}>" if c.url and c.url.lower().startswith(("http://", "https://")) else ""
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
