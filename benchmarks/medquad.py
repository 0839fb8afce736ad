"""Load the MedQuAD answers as assistant Documents, for scale benchmarks and retrieval sanity checks.

Data: MedQuAD, the Medical Question Answering Dataset (Asma Ben Abacha and Dina Demner-Fushman,
"A question-entailment approach to question answering", BMC Bioinformatics 20:511, 2019),
published under the Creative Commons Attribution 4.0 International licence (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/). 16,407 question/answer pairs from nine NIH
patient-information sites; the three MedlinePlus subsets withdrawn for copyright (A.D.A.M.,
Drugs, Herbs) are not included. Anything derived from it that ships with the project must keep
this attribution.

The file is one JSON object a line with the fields id, source, url, focus, qtype, question, answer.
Each record becomes one Document: title = the question (else the focus), text = the answer passed
through assistant.text.clean, metadata = {"url", "source", "focus"}. Records with an empty answer
are skipped.

Record ids are NOT unique in MedQuAD: 2,491 ids are shared by 6,765 records (e.g. one CancerGov
page answering for several diseases, each with its own focus and answer). The index keys documents
by id, so the first record with an id keeps it and the n-th repeat (n >= 2) gets the id
"<id>~<n>" (deterministic for a given file; "#" is avoided because chunk ids are "<doc id>#<k>").
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from assistant.documents import Document
from assistant.text import clean

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = REPO_ROOT / ".." / "shared" / "datasets" / "medquad" / "medquad.jsonl"
ENV_VAR = "MEDQUAD_PATH"


def medquad_path(path: str | os.PathLike | None = None) -> Path:
    """The file to read: the argument, else $MEDQUAD_PATH, else ../shared/datasets/medquad/medquad.jsonl
    relative to the repository root."""
    return Path(path or os.environ.get(ENV_VAR) or DEFAULT_PATH).resolve()


def load_medquad(path: str | os.PathLike | None = None, limit: int | None = None,
                 fields: tuple[str, ...] = ("url", "source", "focus")) -> list[Document]:
    """MedQuAD records as Documents, in file order; at most `limit` of them when given; `fields` of each record
    become its metadata."""
    file = medquad_path(path)
    if not file.is_file():
        raise FileNotFoundError(f"No MedQuAD file at {file}; pass a path or set {ENV_VAR}.")
    docs: list[Document] = []
    seen: dict[str, int] = {}
    used: set[str] = set()
    with file.open(encoding="utf-8") as fh:
        for line in fh:
            if limit is not None and len(docs) >= limit:
                break
            if not line.strip():
                continue
            rec = json.loads(line)
            text = clean(str(rec.get("answer") or "")).strip()
            if not text:
                continue
            rid = str(rec["id"])
            doc_id = rid
            while doc_id in used:
                seen[rid] = seen.get(rid, 1) + 1
                doc_id = f"{rid}~{seen[rid]}"
            used.add(doc_id)
            title = clean(str(rec.get("question") or rec.get("focus") or rid)).strip()
            meta = {k: str(rec.get(k) or "") for k in fields}
            docs.append(Document(id=doc_id, title=title, text=text + "\n", metadata=meta))
    return docs
