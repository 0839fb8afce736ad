"""Turn MedQuAD into a judged retrieval benchmark in the BEIR layout, for `assistant eval --beir`.

Usage: python benchmarks/medquad_beir.py [--medquad FILE] [--out data/medquad_beir] [--queries 2000] [--seed 13]
then:  assistant eval --beir data/medquad_beir

Data: MedQuAD, the Medical Question Answering Dataset (Asma Ben Abacha and Dina Demner-Fushman,
"A question-entailment approach to question answering", BMC Bioinformatics 20:511, 2019),
published under the Creative Commons Attribution 4.0 International licence (CC BY 4.0,
https://creativecommons.org/licenses/by/4.0/). The folder written here is derived from it and keeps
that attribution in its README.md.

Layout written to --out (git-ignored under data/):
- corpus.jsonl: every answer as a document: id = the record id (repeated MedQuAD ids get "~<n>",
  as benchmarks/medquad.py assigns them), title = the record's focus (the page topic, not the
  question, which would hand the answer its own query), text = the cleaned answer, url.
- queries.jsonl: a fixed random sample (random.Random(seed).sample, seed 13) of the answers; each
  query is that answer's own question, with the answer's id as its id.
- qrels.tsv: header, then `query id <TAB> 1 <TAB> document id` (each query judges only its own answer).
- README.md: source, licence, attribution and the changes made.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
for p in (REPO_ROOT, BENCH_DIR):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from medquad import load_medquad, medquad_path  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "data" / "medquad_beir"
QUERIES = 2000
SEED = 13

README = """# MedQuAD in the BEIR layout (derived data)

Written by `benchmarks/medquad_beir.py` from `{source}` for `assistant eval --beir {out}`.

- `corpus.jsonl`: {docs:,} documents, one per MedQuAD answer: `id` (the record id; repeated ids get
  `~<n>`), `title` (the record's focus), `text` (the answer, cleaned), `url`.
- `queries.jsonl`: {queries:,} queries, a fixed random sample (seed {seed}) of the answers; each query is
  that answer's own question, and its id is the answer's id.
- `qrels.tsv`: one judgement per query, grade 1, query -> its own answer.

## Source and licence

MedQuAD, the Medical Question Answering Dataset: Asma Ben Abacha and Dina Demner-Fushman,
"A question-entailment approach to question answering", BMC Bioinformatics 20:511, 2019
(https://doi.org/10.1186/s12859-019-3119-4). Licensed under the Creative Commons Attribution 4.0
International licence (CC BY 4.0, https://creativecommons.org/licenses/by/4.0/). The three
MedlinePlus subsets withdrawn for copyright (A.D.A.M., Drugs, Herbs) are not included.

Changes made: answers cleaned of control characters and Unicode-normalised; repeated record ids
made unique with a `~<n>` suffix; questions split off into a sampled query file; the focus used as
each answer's title. No answer text was otherwise altered.
"""


def _shown(path: Path) -> str:
    """A path relative to the repository when it lies inside it (README text is then portable)."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def build(medquad: str | Path | None = None, out: str | Path = DEFAULT_OUT, queries: int = QUERIES,
          seed: int = SEED) -> dict[str, int]:
    """Write corpus.jsonl, queries.jsonl, qrels.tsv and README.md into `out`; return the counts."""
    docs = load_medquad(medquad)
    if queries > len(docs):
        raise ValueError(f"Asked for {queries} queries but MedQuAD has {len(docs)} answers.")
    picked = sorted(random.Random(seed).sample(range(len(docs)), queries))  # file order, for readability
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for d in docs:
            rec = {"id": d.id, "title": d.metadata.get("focus") or "", "text": d.text.strip(), "url": d.metadata.get("url") or ""}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    with (out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for i in picked:  # load_medquad's title is the record's question
            fh.write(json.dumps({"id": docs[i].id, "question": docs[i].title}, ensure_ascii=False) + "\n")
    with (out / "qrels.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query_id\tgrade\tdoc_id\n")
        fh.writelines(f"{docs[i].id}\t1\t{docs[i].id}\n" for i in picked)
    (out / "README.md").write_text(README.format(source=_shown(medquad_path(medquad)), out=_shown(out), docs=len(docs),
                                                 queries=queries, seed=seed), encoding="utf-8")
    return {"documents": len(docs), "queries": queries}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--medquad", help="medquad.jsonl (default: $MEDQUAD_PATH, else ../shared/datasets/medquad/medquad.jsonl)")
    ap.add_argument("--out", default=str(DEFAULT_OUT), help=f"folder to write (default {DEFAULT_OUT.relative_to(REPO_ROOT)})")
    ap.add_argument("--queries", type=int, default=QUERIES, help=f"sampled queries (default {QUERIES})")
    ap.add_argument("--seed", type=int, default=SEED, help=f"sampling seed (default {SEED})")
    args = ap.parse_args()
    counts = build(args.medquad, args.out, args.queries, args.seed)
    print(f"{counts['documents']} documents, {counts['queries']} queries -> {args.out}/")


if __name__ == "__main__":
    main()
