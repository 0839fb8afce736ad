"""Train the name tagger of assistant/redact.py: logistic regression over hashed word features.

Reproduces `assistant/models/names.npz` (hashed coefficients, intercept, threshold):
    .venv/bin/python evals/train_pii.py [--medquad 4000]

Data: the PII sets' tuning authors (evals/pii/tuning) and training authors (evals/pii/training), each word
labelled 1 when it lies in a labelled NAME span, plus MedQuAD questions (no personal names; condition
names such as "Parkinson's disease" and "Hodgkin lymphoma" as negatives). The held-out authors
(evals/pii/heldout) are never read. The threshold: the lowest that alters at most 0.5% of 2,000 other
MedQuAD questions; leave-one-author-out cross-validation on the authored sets reports its recall.

MedQuAD: Ben Abacha and Demner-Fushman, BMC Bioinformatics 20:511 (2019), CC BY 4.0.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.redact import HASH_DIM, NAME_MODEL, _hash, token_features  # noqa: E402
from assistant.text import normalise  # noqa: E402

MEDQUAD = ROOT.parent / "shared" / "datasets" / "medquad" / "medquad.jsonl"
AUTHORED = [ROOT / "evals" / "pii" / "tuning", ROOT / "evals" / "pii" / "training"]


def labelled(case: dict) -> tuple[list[list[str]], list[int]]:
    text = normalise(case["text"])
    spans = []
    for span in case.get("pii", []):
        if span["type"] != "NAME":
            continue
        needle = normalise(span["text"])
        start = text.find(needle)
        while start >= 0:
            spans.append((start, start + len(needle)))
            start = text.find(needle, start + 1)
    tokens, feats = token_features(text)
    labels = [int(any(s < e2 and s2 < e for s2, e2 in spans)) for s, e, _ in tokens]
    return feats, labels


def matrix(feats: list[list[str]]):
    from scipy.sparse import csr_matrix

    rows, cols = [], []
    for i, f in enumerate(feats):
        for h in {_hash(x) for x in f}:
            rows.append(i)
            cols.append(h)
    return csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(feats), HASH_DIM))


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--medquad", type=int, default=4000, help="MedQuAD questions as name-free negatives")
    ap.add_argument("--c", type=float, default=0.5)
    ap.add_argument("--max-altered", type=float, default=0.005, help="share of name-free questions altered")
    args = ap.parse_args(argv)

    authors: dict[str, tuple[list, list]] = {}
    for folder in AUTHORED:
        for path in sorted(folder.glob("*.jsonl")):
            feats, labels = [], []
            for line in path.open(encoding="utf-8"):
                if line.strip():
                    f, y = labelled(json.loads(line))
                    feats += f
                    labels += y
            authors[path.stem] = (feats, labels)
    questions = [json.loads(line)["question"] for line in MEDQUAD.open(encoding="utf-8")]
    random.Random(0).shuffle(questions)
    neg_feats: list = []
    for q in questions[:args.medquad]:
        neg_feats += token_features(normalise(q))[1]
    print(f"authors: {', '.join(f'{a} {sum(y)}/{len(y)}' for a, (_, y) in authors.items())}; "
          f"MedQuAD words {len(neg_feats)}")

    def fit(feats, labels):
        model = LogisticRegression(C=args.c, max_iter=3000, class_weight={0: 1.0, 1: 3.0})
        model.fit(matrix(feats + neg_feats), np.array(labels + [0] * len(neg_feats)))
        return model

    # leave one author out: out-of-fold probabilities for the threshold
    oof_p, oof_y = [], []
    for held in authors:
        feats = [f for a, (fs, _) in authors.items() if a != held for f in fs]
        labels = [y for a, (_, ys) in authors.items() if a != held for y in ys]
        model = fit(feats, labels)
        oof_p += list(model.predict_proba(matrix(authors[held][0]))[:, 1])
        oof_y += authors[held][1]
    p, y = np.array(oof_p), np.array(oof_y)
    model = fit([f for fs, _ in authors.values() for f in fs], [v for _, ys in authors.values() for v in ys])
    # The threshold: the lowest at which at most --max-altered of other MedQuAD questions (not trained on)
    # would lose a word to [name]; a condition read as a name costs the staff a word, a missed name is stored.
    spare = questions[args.medquad:args.medquad + 2000]
    top = np.array([model.predict_proba(matrix(token_features(normalise(q))[1]))[:, 1].max(initial=0.0)
                    for q in spare])
    t = float(np.quantile(top, 1.0 - args.max_altered)) + 1e-6
    tp = float(((p >= t) & (y == 1)).sum())
    print(f"threshold {t:.3f} ({args.max_altered:.1%} of {len(spare)} unseen MedQuAD questions altered); "
          f"leave-one-author-out word recall {tp / y.sum():.3f}, precision {tp / max((p >= t).sum(), 1):.3f}")
    np.savez_compressed(NAME_MODEL, coef=model.coef_[0].astype(np.float16), intercept=model.intercept_[0],
                        threshold=t)
    print(f"wrote {NAME_MODEL.relative_to(ROOT)} ({NAME_MODEL.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
