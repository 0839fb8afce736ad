"""Chunk documents by structure: headings first, lists kept with their intro, cut at sentences,
every chunk bounded in the embedding model's own word pieces."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .documents import REVIEW_KEYS, Document
from .text import BULLET, sentence_spans

TokenCounter = Callable[[Sequence[str]], list[int]]

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_CLAUSE_END = re.compile(r"[,;:\u2014)]$")


@dataclass(frozen=True)
class Chunk:
    """A span of one document, with the context (title, headings) that is embedded with it."""

    id: str
    source: str
    title: str
    headings: tuple[str, ...]
    text: str
    start: int
    end: int
    context: str
    n_tokens: int = 0
    metadata: dict = field(default_factory=dict)

    @property
    def embed_text(self) -> str:
        return f"{self.context}\n\n{self.text}"

    @property
    def section(self) -> str:
        return " > ".join(self.headings)


@dataclass
class _Unit:
    start: int
    end: int
    tokens: int = 0
    intro: tuple[int, int] | None = None  # the sentence that introduces the list this unit is in
    group: int = -1  # units of one list (with its intro) share a group id


@dataclass
class _Section:
    headings: tuple[str, ...]
    units: list[_Unit]


def _blocks(text: str):
    """Yield (kind, start, end, headings) for paragraphs and list items, tracking the heading path."""
    stack: list[str] = []
    para: list[int] | None = None
    item: list[int] | None = None
    pos = 0
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        stripped = line.strip()
        m = _HEADING.match(line)
        bullet = BULLET.match(line)
        if para and (not stripped or m or bullet):
            yield "para", para[0], para[1], tuple(stack)
            para = None
        if item and (not stripped or m or bullet or not line[:1].isspace()):
            yield "item", item[0], item[1], tuple(stack)
            item = None
        if not stripped:
            continue
        if m:
            level = len(m.group(1))
            stack = stack[: level - 1] + [""] * max(0, level - 1 - len(stack)) + [m.group(2).strip()]
            yield "heading", start, end, tuple(stack)
        elif bullet:
            item = [start + len(bullet.group(1)), end]
        elif item:
            item[1] = end  # an indented continuation line of a list item
        elif para:
            para[1] = end
        else:
            lead = len(line) - len(line.lstrip())
            para = [start + lead, end]
    if para:
        yield "para", para[0], para[1], tuple(stack)
    if item:
        yield "item", item[0], item[1], tuple(stack)


def _sections(text: str) -> list[_Section]:
    sections: list[_Section] = []
    current = _Section((), [])
    group = 0
    last_para_end: _Unit | None = None
    for kind, s, e, heads in _blocks(text):
        if kind == "heading":
            if current.units:
                sections.append(current)
            current = _Section(tuple(h for h in heads if h), [])
            last_para_end = None
            continue
        if kind == "para":
            units = [_Unit(a, b) for a, b in sentence_spans(text, s, e)]
            current.units += units
            last_para_end = units[-1] if units else None
            continue
        # list item: one unit, joined to the sentence that introduces the list
        prev = current.units[-1] if current.units else None
        if prev is not None and prev.group >= 0 and prev.intro is not None:
            unit = _Unit(s, e, intro=prev.intro, group=prev.group)
        elif last_para_end is not None and text[last_para_end.start : last_para_end.end].rstrip().endswith(":"):
            group += 1
            last_para_end.group = group
            unit = _Unit(s, e, intro=(last_para_end.start, last_para_end.end), group=group)
        else:
            group += 1
            unit = _Unit(s, e, intro=(s, s), group=group)
        current.units.append(unit)
        last_para_end = None
    if current.units:
        sections.append(current)
    return sections


class Chunker:
    """Packs sentence units into chunks of at most max_tokens word pieces (context included)."""

    def __init__(self, count_tokens: TokenCounter, max_tokens: int = 200, overlap_sentences: int = 1):
        self.count = count_tokens
        self.max_tokens = max_tokens
        self.overlap = overlap_sentences
        self._special = count_tokens([""])[0]

    def _inner(self, texts: Sequence[str]) -> list[int]:
        return [n - self._special for n in self.count(texts)] if texts else []

    def _split_long(self, text: str, unit: _Unit, budget: int) -> list[_Unit]:
        """Cut one over-long sentence at clause boundaries, else between words."""
        spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[unit.start : unit.end])]
        spans = [(unit.start + a, unit.start + b) for a, b in spans]
        costs = self._inner([text[a:b] for a, b in spans])
        pieces: list[_Unit] = []
        i = 0
        while i < len(spans):
            j, total, cut = i, 0, None
            while j < len(spans) and total + costs[j] <= budget:
                total += costs[j]
                if _CLAUSE_END.search(text[spans[j][0] : spans[j][1]]):
                    cut = j
                j += 1
            if j == i:  # a single word longer than the budget: split its characters
                j = i + 1
            elif j < len(spans) and cut is not None and cut >= i + (j - i) // 2:
                j = cut + 1
            pieces.append(_Unit(spans[i][0], spans[j - 1][1], intro=unit.intro, group=unit.group))
            i = j
        for p, n in zip(pieces, self._inner([text[p.start : p.end] for p in pieces])):
            p.tokens = n
        out: list[_Unit] = []
        for p in pieces:
            out += [p] if p.tokens <= budget else self._split_chars(text, p, budget)
        return out

    def _split_chars(self, text: str, unit: _Unit, budget: int) -> list[_Unit]:
        out, s = [], unit.start
        while s < unit.end:
            e = unit.end
            while self._inner([text[s:e]])[0] > budget:
                e = s + max(1, (e - s) * 3 // 4)
            out.append(_Unit(s, e, tokens=self._inner([text[s:e]])[0], intro=unit.intro, group=unit.group))
            s = e
        return out

    def _fit_context(self, context: str) -> str:
        """A title and heading path may use at most half the budget: keep the deepest headings,
        then cut words, so the passage itself always has room."""
        limit = self.max_tokens // 2
        parts = context.split(" > ")
        while len(parts) > 1 and self.count([" > ".join(parts)])[0] > limit:
            parts = parts[1:] if len(parts) > 2 else parts[-1:]
        words_ = " > ".join(parts).split()
        while len(words_) > 1 and self.count([" ".join(words_)])[0] > limit:
            words_ = words_[:-1]
        return " ".join(words_)

    def chunk(self, doc: Document) -> list[Chunk]:
        """The chunks of one document, in reading order."""
        text = doc.text
        sections = _sections(text)
        units = [u for sec in sections for u in sec.units]
        for u, n in zip(units, self._inner([text[u.start : u.end] for u in units])):
            u.tokens = n
        meta = {k: v for k, v in doc.metadata.items() if k in REVIEW_KEYS}
        contexts = []
        for sec in sections:
            heads = tuple(h for h in sec.headings if h != doc.title)
            contexts.append(" > ".join((doc.title,) + heads))
        contexts = [self._fit_context(c) for c in contexts]
        ctx_tokens = self.count(contexts)  # includes the special tokens of the whole embedded text
        chunks: list[Chunk] = []
        for sec, ctx, ctx_n in zip(sections, contexts, ctx_tokens):
            heads = tuple(h for h in sec.headings if h != doc.title)
            for a, b, extra in self._pack(text, sec.units, self.max_tokens - ctx_n - 2):
                context = ctx if not extra else f"{ctx}\n{extra}"
                chunks.append(Chunk(
                    id=f"{doc.id}#{len(chunks)}", source=doc.id, title=doc.title, headings=heads,
                    text=text[a:b], start=a, end=b, context=context, metadata=meta,
                ))
        counts = self.count([c.embed_text for c in chunks])
        return [Chunk(**{**c.__dict__, "n_tokens": n}) for c, n in zip(chunks, counts)]

    def _pack(self, text: str, units: list[_Unit], budget: int):
        """Yield (start, end, intro text carried into the context) for each chunk of a section."""
        flat: list[_Unit] = []
        for u in units:
            flat += [u] if u.tokens <= budget else self._split_long(text, u, budget)
        i = 0
        while i < len(flat):
            first = flat[i]
            extra = ""
            room = budget
            intro_in_chunk = first.intro is None or first.intro[0] >= first.start
            if not intro_in_chunk and first.intro[1] > first.intro[0]:
                extra = text[first.intro[0] : first.intro[1]]
                extra_n = self._inner([extra])[0] + 1
                if extra_n < budget // 2 and first.tokens + extra_n <= budget:
                    room -= extra_n
                else:
                    extra = ""
            j, used = i, 0
            while j < len(flat) and used + flat[j].tokens + (1 if j > i else 0) <= room:
                used += flat[j].tokens + (1 if j > i else 0)
                j += 1
            j = max(j, i + 1)
            # keep a list with its intro: do not end a chunk right after an intro or mid-list
            # when the whole group would fit in the next chunk instead
            if j < len(flat) and j - i > 1 and flat[j].group >= 0 and flat[j - 1].group == flat[j].group:
                g_start = next(k for k in range(i, j) if flat[k].group == flat[j].group)
                g_end = j
                while g_end < len(flat) and flat[g_end].group == flat[j].group:
                    g_end += 1
                g_tokens = sum(u.tokens + 1 for u in flat[g_start:g_end])
                if g_start > i and g_tokens <= budget:
                    j = g_start
            yield flat[i].start, flat[j - 1].end, extra
            if j >= len(flat):
                break
            back = 0
            while back < self.overlap and j - back - 1 > i:
                cand = flat[j - back - 1]
                if cand.tokens + flat[j].tokens + 1 > budget // 2 or cand.group >= 0:
                    break
                back += 1
            i = j - back
