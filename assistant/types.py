"""The values every stage passes on: a retrieved passage (Hit), a cited passage (Citation) and a reply (Reply).
Every stage imports these from here, so no stage needs to import another just for a type."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with its fused score and the scores of each retriever."""

    source: str
    chunk_id: str
    title: str
    section: str
    text: str
    score: float
    dense_score: float | None = None
    bm25_score: float | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    metadata: dict = field(default_factory=dict)
    sentence_score: float | None = None                           # best sentence cosine, when re-ranked
    sentence_scores: dict = field(default_factory=dict, repr=False)  # {sentence number: cosine}


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


@dataclass(frozen=True)
class Reply:
    """What the assistant says, why, and from which passages."""

    route: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    retrieved: list[Hit] = field(default_factory=list)
    question: str = ""
    standalone_question: str = ""
    triage: str = ""
    signals: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)
