"""Train the answer-type model (assistant/answer_types.py): what kind of answer a question asks for
(what it is, symptoms, causes, treatment, outlook...) and what kind a passage gives, both read from the
MiniLM vectors retrieval computes anyway.

Reproduces `assistant/models/answer_types.npz`:
    .venv/bin/assistant eval --beir data/medquad_beir     # builds data/medquad_beir/index once
    .venv/bin/python evals/train_answer_types.py [--index data/medquad_beir/index]

Data: MedQuAD's question types (its `qtype`, 15 kinds; "support groups", one record, left out). Each
question's vector is labelled with its type (the question head); each chunk vector of its answer, from
the BEIR index of MedQuAD, with the same type (the passage head). Two multinomial logistic regressions.
Left out of training: the judged BEIR sample's records, a second seeded sample of 2,000 records (the
queries `evals/fusion.py` chooses the weight on), and every MedlinePlus and NIHSeniorHealth record (the
clinic-library benchmark's articles come from those).

MedQuAD: Ben Abacha and Demner-Fushman, BMC Bioinformatics 20:511 (2019), CC BY 4.0.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "evals"))

C = 1.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--beir", default="data/medquad_beir")
    ap.add_argument("--index", help="default BEIR/index")
    ap.add_argument("--out", default=str(REPO / "assistant" / "models" / "answer_types.npz"))
    args = ap.parse_args(argv)

    from sklearn.linear_model import LogisticRegression

    from assistant.beir import load_queries
    from assistant.embedding import Embedder
    from assistant.index import load_index
    from fusion import tuning_records
    from medquad import load_medquad
    from train_sentences import LIBRARY_SOURCES

    t0 = time.time()
    folder = Path(args.beir)
    index_dir = Path(args.index or folder / "index")
    embedder = Embedder()
    index = load_index(index_dir, embedder.model_id)
    judged = load_queries(folder / "queries.jsonl")
    docs = load_medquad(fields=("url", "source", "focus", "qtype"))
    qtype = {d.id: d.metadata["qtype"] for d in docs}
    held = set(judged) | {d.id for d in tuning_records(docs, judged)}
    train = [d for d in docs if d.id not in held and d.metadata.get("source") not in LIBRARY_SOURCES
             and qtype[d.id] and qtype[d.id] != "support groups"]
    classes = sorted({qtype[d.id] for d in train})
    cls = {c: i for i, c in enumerate(classes)}
    ids = {d.id for d in train}
    rows = [i for i, c in enumerate(index.chunks) if c.source in ids]
    print(f"{len(train)} questions, {len(rows)} answer chunks, {len(classes)} types", flush=True)

    xq = embedder.encode([d.title for d in train])
    yq = np.array([cls[qtype[d.id]] for d in train])
    xa = index.embeddings[rows]
    ya = np.array([cls[qtype[index.chunks[i].source]] for i in rows])
    q = LogisticRegression(C=C, max_iter=3000).fit(xq, yq)
    a = LogisticRegression(C=C, max_iter=3000).fit(xa, ya)
    print(f"training accuracy: questions {q.score(xq, yq):.3f}, passages {a.score(xa, ya):.3f} "
          f"({time.time() - t0:.0f} s)", flush=True)
    np.savez_compressed(args.out, classes=np.array(classes), model_id=np.array(embedder.model_id),
                        q_coef=q.coef_.T.astype(np.float32), q_bias=q.intercept_.astype(np.float32),
                        a_coef=a.coef_.T.astype(np.float32), a_bias=a.intercept_.astype(np.float32))
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
