"""Could a decision learned on the answer signals beat the hand-fitted rule? Leave-one-tuning-author-out.

Reads the rows an `evals/answers_eval.py` report keeps (its signals per question) and, for the tuning half
only (never the held-out half), fits a logistic regression on two authors' questions (seed and library
together) and scores the third's, at several cut-offs, beside the rule's own figures (which are
in-sample: the rule's thresholds were fitted on these authors).

    .venv/bin/python evals/decision_cv.py runs/answers_eval.json
"""
from __future__ import annotations

import json
import sys

import numpy as np

SETS = (("top_dense", "coverage", "passage_coverage", "top_sentence", "answer_p"),
        ("top_dense", "coverage", "passage_coverage", "top_sentence"),
        ("passage_coverage", "top_sentence", "answer_p"))
AUTHORS = ("dorothy", "kayla", "linda")


def main(path: str) -> int:
    from sklearn.linear_model import LogisticRegression

    data = json.load(open(path, encoding="utf-8"))["rows"]
    rows = [dict(r, corpus=corpus, typed=r["decision"] == "answer" and r["route"] == "abstain")
            for corpus in ("seed", "library") for r in data[f"tuning:{corpus}"]
            if r["route"] not in ("advice", "emergency", "greeting")]  # triage decided those, not the answer rule

    def report(name: str, answers) -> None:
        out = []
        for corpus in ("seed", "library"):
            a = [answers(r) for r in rows if r["corpus"] == corpus and r["kind"] == "answerable"]
            o = [not answers(r) for r in rows if r["corpus"] == corpus and r["kind"] == "out_of_scope"]
            out.append(f"{corpus}: answered {np.mean(a):.2f}, near misses not answered {np.mean(o):.2f}")
        print(f"{name:58s} {' | '.join(out)}")

    report("rule (in-sample)", lambda r: r["route"] == "answer")
    for feats in SETS:
        x = lambda rs: np.array([[r[f] or 0.0 for f in feats] for r in rs])  # noqa: E731
        for c in (0.3, 3.0):
            p = {}
            for author in AUTHORS:
                train = [r for r in rows if r["author"] != author]
                test = [r for r in rows if r["author"] == author]
                model = LogisticRegression(C=c, max_iter=1000).fit(x(train), [r["kind"] == "answerable" for r in train])
                p.update({(r["corpus"], r["id"]): q for r, q in zip(test, model.predict_proba(x(test))[:, 1])})
            for cut in (0.4, 0.5, 0.6, 0.7):
                report(f"{'+'.join(feats)} C={c} cut {cut}",
                       lambda r: p[(r["corpus"], r["id"])] >= cut and not r["typed"])  # noqa: B023
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "runs/answers_eval.json"))
