"""Judged retrieval benchmarks in the BEIR layout: load corpus/queries/qrels, rank documents with each
retriever from one run, and score the rankings (nDCG@10, MRR@10, recall@10, P@5) per query."""
from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from .documents import Document, jsonl_objects
from .errors import InputError
from .text import clean

MODES = ("hybrid", "dense", "bm25")
METRICS = ("ndcg@10", "mrr@10", "recall@10", "p@5")
DEPTH = 50  # chunks retrieved per query: enough distinct documents for the top 10 after dedupe
_QREL_COLUMNS = {"query": ("query", "qid", "topic"), "doc": ("doc", "corpus", "pid"), "grade": ("grade", "score", "rel")}


# ---- metrics: pure functions over one ranking ---------------------------------------------------
def relevant(grades: dict[str, int], min_grade: int = 1) -> dict[str, int]:
    """The judged documents that count as relevant: grade >= min_grade."""
    return {d: g for d, g in grades.items() if g >= min_grade}


def _distinct(ranked: list[str]) -> list[str]:
    return list(dict.fromkeys(ranked))


def ndcg_at(ranked: list[str], grades: dict[str, int], k: int = 10, min_grade: int = 1) -> float:
    """Graded nDCG@k: gain = grade for relevant documents, discount log2(rank + 1), ideal from the qrels."""
    rel = relevant(grades, min_grade)
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(_distinct(ranked)[:k]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(rel.values(), reverse=True)[:k]))
    return dcg / ideal if ideal > 0 else 0.0


def mrr_at(ranked: list[str], grades: dict[str, int], k: int = 10, min_grade: int = 1) -> float:
    """1 / rank of the first relevant document in the top k, else 0."""
    rel = relevant(grades, min_grade)
    return next((1.0 / (i + 1) for i, d in enumerate(_distinct(ranked)[:k]) if d in rel), 0.0)


def recall_at(ranked: list[str], grades: dict[str, int], k: int = 10, min_grade: int = 1) -> float:
    """Share of the relevant documents found in the top k."""
    rel = relevant(grades, min_grade)
    return sum(1 for d in _distinct(ranked)[:k] if d in rel) / len(rel) if rel else 0.0


def precision_at(ranked: list[str], grades: dict[str, int], k: int = 5, min_grade: int = 1) -> float:
    """Relevant documents in the top k, divided by k (a shorter ranking is not excused)."""
    rel = relevant(grades, min_grade)
    return sum(1 for d in _distinct(ranked)[:k] if d in rel) / k


def query_metrics(ranked: list[str], grades: dict[str, int], min_grade: int = 1) -> dict[str, float]:
    """The four reported metrics of one ranking."""
    return {"ndcg@10": ndcg_at(ranked, grades, 10, min_grade), "mrr@10": mrr_at(ranked, grades, 10, min_grade),
            "recall@10": recall_at(ranked, grades, 10, min_grade), "p@5": precision_at(ranked, grades, 5, min_grade)}


def doc_ranking(hits) -> list[str]:
    """Documents in the order of their best chunk (hits are ranked chunks with a .source)."""
    return list(dict.fromkeys(h.source for h in hits))


# ---- loading ------------------------------------------------------------------------------------
def _jsonl(path: Path):
    if not path.is_file():
        raise InputError(f"No {path.name} in {path.parent}/; a BEIR folder holds corpus.jsonl, queries.jsonl and qrels.tsv.")
    yield from jsonl_objects(path)


def load_corpus_jsonl(path: str | Path) -> tuple[list[Document], list[str]]:
    """Documents from corpus.jsonl (id, title, text, optional url; BEIR's `_id` is accepted), read by
    the rules of a .jsonl corpus file: cleaned text, title defaulting to the id, other fields as
    metadata. Also the ids of records skipped for empty text."""
    path = Path(path)
    docs, seen, empty = [], set(), []
    for n, rec in _jsonl(path):
        rid = rec.get("id", rec.get("_id"))
        if rid is None or not isinstance(rec.get("text"), str):
            raise InputError(f"{path}:{n}: each record needs an id and a text.")
        rid = str(rid)
        if rid in seen:
            raise InputError(f"{path}:{n}: duplicate document id {rid!r}.")
        seen.add(rid)
        text = clean(rec["text"]).strip()
        if not text:
            empty.append(rid)
            continue
        meta = {k: str(v) for k, v in rec.items() if k not in ("id", "_id", "title", "text") and v is not None}
        docs.append(Document(id=rid, title=clean(str(rec.get("title") or rid)).strip(), text=text + "\n", metadata=meta))
    if not docs:
        raise InputError(f"{path} holds no document with text.")
    return docs, empty


def load_queries(path: str | Path) -> dict[str, str]:
    """Query id -> question, from queries.jsonl (id, question; BEIR's `_id` and `text` are accepted)."""
    path = Path(path)
    out: dict[str, str] = {}
    for n, rec in _jsonl(path):
        qid, question = rec.get("id", rec.get("_id")), rec.get("question", rec.get("text"))
        if qid is None or not isinstance(question, str) or not question.strip():
            raise InputError(f"{path}:{n}: each query needs an id and a question.")
        if str(qid) in out:
            raise InputError(f"{path}:{n}: duplicate query id {qid!r}.")
        out[str(qid)] = question
    return out


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        return int(value) if value.is_integer() else None


def load_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Query id -> {document id: grade} from qrels.tsv: query id, grade, document id. An optional
    header line may name the columns in another order (e.g. BEIR's query-id, corpus-id, score)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"No {path.name} in {path.parent}/; a BEIR folder holds corpus.jsonl, queries.jsonl and qrels.tsv.")
    order = {"query": 0, "grade": 1, "doc": 2}
    out: dict[str, dict[str, int]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        cols = [c.strip() for c in (line.split("\t") if "\t" in line else line.split())]
        if len(cols) != 3:
            raise InputError(f"{path}:{n}: expected 3 columns (query id, grade, document id), got {len(cols)}.")
        if n == 1 and all(_int(c) is None for c in cols):  # a header: map its names when it has them
            named = {key: i for i, c in enumerate(cols) for key, hints in _QREL_COLUMNS.items()
                     if any(h in c.lower() for h in hints)}
            if sorted(named) == sorted(order) and len(set(named.values())) == 3:
                order = named
            continue
        grade = _int(cols[order["grade"]])
        if grade is None:
            raise InputError(f"{path}:{n}: grade {cols[order['grade']]!r} is not an integer.")
        out.setdefault(cols[order["query"]], {})[cols[order["doc"]]] = grade
    if not out:
        raise InputError(f"{path} holds no judgement; each line is query id, grade, document id.")
    return out


# ---- a run --------------------------------------------------------------------------------------
def run(retriever, queries: dict[str, str], qrels: dict[str, dict[str, int]], min_grade: int = 1,
        depth: int = DEPTH, modes: tuple[str, ...] = MODES,
        progress: Callable[[int, int], None] | None = None) -> tuple[list[dict], dict]:
    """Rank documents for every judged query with each retriever mode (retriever.retrieve(query, k,
    mode=...) -> ranked chunks), one row per query; queries without a relevant judgement are left
    out, as in BEIR. Returns (rows, metrics)."""
    judged = [q for q in queries if relevant(qrels.get(q, {}), min_grade)]
    rows = []
    for i, qid in enumerate(judged, 1):
        grades = qrels[qid]
        row: dict = {"query_id": qid, "question": queries[qid], "qrels": grades, "ranked": {},
                     "first_relevant_rank": {}, "metrics": {}}
        rel = relevant(grades, min_grade)
        for mode in modes:
            ranking = doc_ranking(retriever.retrieve(queries[qid], k=depth, mode=mode))
            row["ranked"][mode] = ranking[:10]
            row["first_relevant_rank"][mode] = next((r for r, d in enumerate(ranking, 1) if d in rel), None)
            row["metrics"][mode] = query_metrics(ranking, grades, min_grade)
        rows.append(row)
        if progress:
            progress(i, len(judged))
    return rows, metrics(rows, modes)


def metrics(rows: list[dict], modes: tuple[str, ...] = MODES) -> dict:
    """Mean of every per-query metric for each mode, computed only from the rows."""
    out: dict = {"queries": len(rows)}
    for mode in modes:
        out[mode] = {name: round(sum(r["metrics"][mode][name] for r in rows) / len(rows), 4) if rows else None
                     for name in METRICS}
    return out


def table(m: dict, modes: tuple[str, ...] = MODES) -> list[str]:
    """The metrics per retriever as a Markdown table."""
    lines = ["| retriever | " + " | ".join(METRICS) + " |", "| --- |" + " ---: |" * len(METRICS)]
    for mode in modes:
        lines.append(f"| {mode} | " + " | ".join(f"{m[mode][k]:.4f}" if m[mode][k] is not None else "-" for k in METRICS) + " |")
    return lines


def floor_check(m: dict) -> tuple[bool, str]:
    """The floor: hybrid MRR@10 at least that of the better single retriever from the same run."""
    h, d, b = (m[mode]["mrr@10"] or 0.0 for mode in MODES)
    ok = h >= max(d, b)
    return ok, (f"hybrid MRR@10 {h:.4f} {'>=' if ok else '<'} max(dense {d:.4f}, bm25 {b:.4f}): "
                f"{'floor met' if ok else 'BELOW THE FLOOR'}")


def markdown(m: dict, rows: list[dict], run_info: dict, title: str) -> str:
    """report.md: the run settings, the table, and the queries hybrid missed that a single retriever found."""
    lines = [f"# {title}", "", f"{m['queries']} judged queries over {run_info.get('documents')} documents "
             f"({run_info.get('chunks')} chunks); relevant = grade >= {run_info.get('min_grade')}; document rank = "
             f"its best chunk's rank among the top {run_info.get('depth')} chunks.", "",
             "Settings: " + ", ".join(f"{k}={run_info[k]}" for k in ("rrf_k", "candidate_pool", "max_tokens") if k in run_info),
             "", *table(m), "", floor_check(m)[1], ""]
    lost = [r for r in rows if not r["metrics"]["hybrid"]["mrr@10"]
            and any(r["metrics"][mode]["mrr@10"] for mode in MODES if mode != "hybrid")]
    lines += [f"## Queries hybrid missed in its top 10 that dense or BM25 found ({len(lost)})", ""]
    for r in lost[:50]:
        ranks = ", ".join(f"{mode} {r['first_relevant_rank'][mode]}" for mode in MODES)
        lines.append(f"- `{r['query_id']}` {r['question']} (first relevant rank: {ranks})")
    if len(lost) > 50:
        lines.append(f"- ... and {len(lost) - 50} more (see report.json)")
    return "\n".join(lines) + "\n"


def write_report(out_dir: str | Path, m: dict, rows: list[dict], run_info: dict, title: str) -> Path:
    """report.json (metrics per retriever at the top level, `run` settings, `rows`) and report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps({**m, "run": run_info, "rows": rows}, indent=1, ensure_ascii=False),
                                     encoding="utf-8")
    (out / "report.md").write_text(markdown(m, rows, run_info, title), encoding="utf-8")
    return out
