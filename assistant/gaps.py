"""Content gaps: the questions patients asked that the corpus did not answer well (the assistant abstained,
or the patient rated the answer thumbs down), grouped by meaning so staff see what to write next."""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .text import question_key

# Average-linkage cosine distance under which questions are one group. Measured with all-MiniLM-L6-v2 on
# clinic-desk questions (tests/test_gaps.py): rewordings of one need 0.13-0.37 ("Do you validate parking
# tickets?" / "Can I get my parking ticket validated?"), other needs on the same topic 0.43-0.61 ("How much
# does parking cost?"), other topics 0.8 and above.
DISTANCE_THRESHOLD = 0.45
MAX_QUESTIONS = 3000  # distinct questions clustered at most (the newest), to keep a click under seconds
PERIODS = {"Last 7 days": 7, "Last 30 days": 30, "Last 90 days": 90, "All time": None}


@dataclass(frozen=True)
class Gap:
    question: str                 # the group's most central question: the draft's starting point
    count: int                    # times asked (abstained) or rated down in the period
    abstained: int
    disliked: int
    examples: tuple[str, ...]     # other wordings, most frequent first
    last_seen: str                # ISO time of the newest


def since(days: int | None, now: float | None = None) -> str:
    """The ISO timestamp `days` ago ('' for all time), comparable with the store's ISO `ts` text."""
    if days is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((now or time.time()) - days * 86400))


def collect(store, start: str = "", exclude: set[str] | frozenset = frozenset(), limit: int = 20_000) -> list[dict]:
    """Abstained questions and thumbs-down ratings since `start` (ISO), skipping questions whose key is in
    `exclude` (already curated) and texts stored only as hashes. Each: question, kind, ts."""
    questions = store.rows("questions", limit)
    by_id = {r["id"]: r for r in questions}
    items = []
    for r in questions:
        if r["route"] == "abstain" and r["ts"] >= start:
            items.append({"question": r["question"], "kind": "abstained", "ts": r["ts"]})
    for f in store.rows("feedback", limit):
        if f["rating"] != -1 or f["ts"] < start:
            continue
        text = f["question"] or (by_id.get(f["question_id"]) or {}).get("question", "")
        items.append({"question": text, "kind": "disliked", "ts": f["ts"]})
    return [i for i in items if i["question"].strip() and not i["question"].startswith("sha256:")
            and question_key(i["question"]) not in exclude]


def group(embedder, items: list[dict], threshold: float = DISTANCE_THRESHOLD) -> list[Gap]:
    """Items grouped by meaning (agglomerative clustering, average linkage, cosine distance under
    `threshold`), largest groups first."""
    if not items:
        return []
    wordings: dict[str, list[dict]] = {}
    for it in sorted(items, key=lambda i: i["ts"], reverse=True):
        wordings.setdefault(question_key(it["question"]), []).append(it)
    keys = list(wordings)[:MAX_QUESTIONS]
    texts = [wordings[k][0]["question"] for k in keys]
    vectors = np.asarray(embedder.encode_queries(texts), dtype=np.float32)
    if len(keys) == 1:
        labels = np.zeros(1, dtype=int)
    else:
        from sklearn.cluster import AgglomerativeClustering

        labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                         distance_threshold=threshold).fit_predict(vectors)
    gaps = []
    for label in set(labels.tolist()):
        members = [i for i, lab in enumerate(labels) if lab == label]
        weights = np.array([len(wordings[keys[i]]) for i in members], dtype=np.float32)
        centre = (vectors[members] * weights[:, None]).sum(0)
        central = members[int(np.argmax(vectors[members] @ centre))]
        kinds = Counter(it["kind"] for i in members for it in wordings[keys[i]])
        others = sorted((i for i in members if i != central), key=lambda i: -len(wordings[keys[i]]))
        gaps.append(Gap(question=texts[central], count=int(weights.sum()), abstained=kinds["abstained"],
                        disliked=kinds["disliked"], examples=tuple(texts[i] for i in others),
                        last_seen=max(wordings[keys[i]][0]["ts"] for i in members)))
    return sorted(gaps, key=lambda g: (-g.count, g.question))
