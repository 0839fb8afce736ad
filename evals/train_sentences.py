"""Train the answer-sentence model (assistant/answer_sentences.py): which sentences answer a question.

Reproduces `assistant/models/answer_sentences.npz`:
    .venv/bin/python evals/train_sentences.py [--topics-per-source 90] [--library-index runs/library/index]

Data, all from sources the clinic-library benchmark does not use (its articles are MedlinePlus and
NIHSeniorHealth topics):
- MedQuAD (GARD, GHR, NIDDK, NINDS, NHLBI, CancerGov, CDC): for each question about a topic, the first
  sentences of its own answer are positives; sentences of the same topic's answers to other kinds of
  question (what it is vs. its treatment vs. its outlook) are negatives (the near miss: same subject, not
  this question), and a few sentences of other topics are easy negatives.
- The tuning authors' lay questions (evals/answers/tuning/, never the held-out half), on the library
  index: the sentences of the passages retrieved for them, positive when they carry the author's evidence;
  every sentence retrieved for a near miss is a negative. Weighted LAY_WEIGHT.
Held back: a fifth of the MedQuAD topics (by topic) for the printed validation scores.

MedQuAD: Ben Abacha and Demner-Fushman, BMC Bioinformatics 20:511 (2019), CC BY 4.0.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "evals"))

from clinic_library import _markdown, grouped_topics  # noqa: E402

from assistant.answer_sentences import MODEL_PATH, SCALARS, asked_stems, pair_features, scalars  # noqa: E402
from assistant.sentences import chunk_sentences  # noqa: E402

SOURCES = ("NINDS", "GHR", "GARD", "CDC", "NIDDK", "NHLBI", "CancerGov")
LIBRARY_SOURCES = ("MPlusHealthTopics", "NIHSeniorHealth")
POSITIVES = 3       # the first sentences of a question's own answer
HARD_NEGATIVES = 14  # sentences of the same topic's other answers, per question
EASY_NEGATIVES = 3   # sentences of other topics, per question
LAY_WEIGHT = 3.0
WORK = REPO / "runs" / "sentence_train"
HIDDEN = 0  # a logistic regression: a 48-unit hidden layer scored worse by leave-one-author-out


def medquad_pairs(per_source: int, seed: int) -> list[dict]:
    """(question, sentence, title, label, topic) rows from MedQuAD topics outside the library's sources."""
    library = set()
    for src in LIBRARY_SOURCES:
        library |= {t.lower() for t in grouped_topics(source=src)}
    rng = random.Random(seed)
    rows: list[dict] = []
    for src in SOURCES:
        topics = {t: r for t, r in grouped_topics(source=src).items() if t.lower() not in library}
        names = sorted(topics)
        rng.shuffle(names)
        pool: list[str] = []
        chosen = []
        for name in names[:per_source]:
            answers: dict[str, tuple[str, list[str]]] = {}
            for rec in topics[name]:
                q = rec["question"].strip()
                if q not in answers:
                    answers[q] = (rec["qtype"], [s for _, s in chunk_sentences(_markdown(rec["answer"]))])
            chosen.append((name, answers))
            pool += [s for _, sents in answers.values() for s in sents[:6]]
        for name, answers in chosen:
            for q, (qtype, own) in answers.items():
                own_set = {" ".join(s.lower().split()) for s in own}
                for i, s in enumerate(own[:POSITIVES]):
                    rows.append({"question": q, "sentence": s, "title": name, "label": 1, "topic": f"{src}:{name}"})
                others = [s for q2, (t2, sents) in answers.items() if q2 != q and t2 != qtype for s in sents
                          if " ".join(s.lower().split()) not in own_set]
                for s in rng.sample(others, min(HARD_NEGATIVES, len(others))):
                    rows.append({"question": q, "sentence": s, "title": name, "label": 0, "topic": f"{src}:{name}"})
                for s in rng.sample(pool, EASY_NEGATIVES):
                    if " ".join(s.lower().split()) not in own_set:
                        rows.append({"question": q, "sentence": s, "title": name, "label": 0, "topic": f"{src}:{name}"})
    return rows


def lay_pairs(library_index: str) -> list[dict]:
    """Rows from the tuning authors' questions on the library: the sentences of their top 3 passages."""
    from answers_eval import carries, cases_for  # evals/answers_eval.py

    from assistant import Assistant

    bot = Assistant.load(library_index)
    rows = []
    for c in cases_for("tuning", "library"):
        if c.get("history") or c.get("form") == "long":
            continue
        hits = bot.retrieve(c["question"], k=3)
        for h in hits:
            for _, s in chunk_sentences(h.text):
                label = int(c["kind"] == "answerable" and carries(s, c.get("evidence") or []))
                rows.append({"question": c["question"], "sentence": s, "title": h.title or "", "label": label,
                             "topic": f"lay:{c['id']}", "weight": LAY_WEIGHT, "author": c["author"]})
    return rows


def _encoded(texts: list[str], encode, cache: Path) -> dict[str, np.ndarray]:
    """Vectors of the texts, kept in runs/ between runs (encoding is most of the training time): only
    texts not encoded before are encoded."""
    path = cache.with_suffix(".npz")
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        data = np.load(path, allow_pickle=False)
        known = dict(zip(data["texts"].tolist(), data["vectors"]))
    todo = [t for t in texts if t not in known]
    if todo:
        known.update(zip(todo, encode(todo)))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, texts=np.array(list(known)), vectors=np.vstack(list(known.values())))
    return {t: known[t] for t in texts}


def featurize(rows: list[dict], embedder) -> np.ndarray:
    qs = list(dict.fromkeys(r["question"] for r in rows))
    ss = list(dict.fromkeys(r["sentence"] for r in rows))
    t = time.perf_counter()
    qv = _encoded(qs, embedder.encode_queries, WORK / "questions")
    sv = _encoded(ss, embedder.encode, WORK / "sentences")
    print(f"encoded {len(qs)} questions and {len(ss)} sentences in {time.perf_counter() - t:.0f} s", flush=True)
    out = np.zeros((len(rows), 2 * embedder.dim + len(SCALARS)), dtype=np.float32)
    asked: dict[tuple[str, str], set[str]] = {}
    for i, r in enumerate(rows):
        q, s = qv[r["question"]], sv[r["sentence"]]
        a = asked.setdefault((r["question"], r["title"]), asked_stems(r["question"], r["title"]))
        extra = np.array([scalars(a, r["sentence"], float(q @ s))], dtype=np.float32)
        out[i] = pair_features(q, s.reshape(1, -1), extra)[0]
    return out


def fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, hidden: int, reg: float, seed: int,
        model_id: str) -> dict[str, np.ndarray]:
    """The model's arrays: standardisation, then one hidden ReLU layer (MLPClassifier) or, with hidden 0,
    a logistic regression; `model_id` names the encoder whose vectors it was trained on."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    arrays = {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32), "scalars": np.array(SCALARS),
              "model_id": np.array(model_id)}
    if hidden:
        # sample_weight is not taken by MLPClassifier: weighted rows are repeated instead
        reps = np.repeat(np.arange(len(y)), np.round(w).astype(int))
        clf = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=reg, batch_size=256, max_iter=30, early_stopping=True,
                            validation_fraction=0.1, n_iter_no_change=4, random_state=seed).fit(z[reps], y[reps])
        return arrays | {"w1": clf.coefs_[0].astype(np.float32), "b1": clf.intercepts_[0].astype(np.float32),
                         "w2": clf.coefs_[1][:, 0].astype(np.float32), "b2": np.float32(clf.intercepts_[1][0])}
    clf = LogisticRegression(C=reg, max_iter=2000).fit(z, y, sample_weight=w)
    return arrays | {"w2": clf.coef_[0].astype(np.float32), "b2": np.float32(clf.intercept_[0])}


def cross_validate(args, rows, x_mq, embedder) -> None:
    """Leave one tuning author out: train on MedQuAD and the other two authors' rows, then run the answer
    benchmark on the left-out author's questions (seed and library), with the decision's cut-offs swept."""
    import tempfile

    from answers_eval import cases_for, run, score

    from assistant import Assistant
    from assistant.answer_sentences import SentenceScorer

    bots = {"seed": Assistant.load(args.seed_index), "library": Assistant.load(args.library_index)}
    lay_all = lay_pairs(args.library_index)
    x_lay = featurize(lay_all, embedder)
    from assistant import compose

    out: dict[tuple[float, str], list] = {}
    for author in ("dorothy", "kayla", "linda"):
        keep = np.array([r["author"] != author for r in lay_all])
        x = np.vstack([x_mq, x_lay[keep]])
        y = np.array([r["label"] for r in rows] + [r["label"] for r, k in zip(lay_all, keep) if k])
        w = np.array([1.0] * len(rows) + [r["weight"] for r, k in zip(lay_all, keep) if k])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.npz"
            np.savez(path, **fit(x, y, w, args.hidden, args.reg, args.seed, embedder.model_id))
            for weight in args.p_weights:
                compose.ANSWER_P_WEIGHT = weight
                for corpus, bot in bots.items():
                    bot._sentence_scorer = SentenceScorer(path)
                    cases = [c for c in cases_for("tuning", corpus) if c["author"] == author]
                    out.setdefault((weight, corpus), []).extend(run(bot, cases))
    for (weight, corpus), rs in out.items():
        m = score(rs)
        print(f"cross-validated {corpus}, answer p weight {weight}: first_sentence "
              f"{m['first_sentence']} citation_precision {m['citation_precision']} sentences "
              f"{m['sentences_per_answer']} hit@3 {m['hit@3']} answered {m['answered']} not_answered {m['not_answered']}")
        if weight != args.p_weights[0]:
            continue
        for lo in (0.0, 0.1, 0.15, 0.2, 0.3):
            for hi in (0.6, 0.8, 1.01):
                took = lambda r: (r["route"] == "answer" and (r["answer_p"] or 0) >= lo) or (r["answer_p"] or 0) >= hi  # noqa: E731
                a = [took(r) for r in rs if r["kind"] == "answerable"]
                o = [not took(r) for r in rs if r["kind"] == "out_of_scope"]
                print(f"  min {lo:.2f} sure {hi:.2f}: answered {np.mean(a):.2f} not_answered {np.mean(o):.2f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--topics-per-source", type=int, default=90)  # some sources have fewer outside the library
    ap.add_argument("--library-index", default="runs/library/index")
    ap.add_argument("--seed-index", default="index")
    ap.add_argument("--hidden", type=int, default=HIDDEN, help="hidden units; 0: logistic regression")
    ap.add_argument("--reg", type=float, default=0.01, help="MLP alpha, or logistic regression C")
    ap.add_argument("--cross-validate", action="store_true", help="leave-one-tuning-author-out scores only")
    ap.add_argument("--p-weights", type=float, nargs="*", default=[1.0], help="compose.ANSWER_P_WEIGHT values to try")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", default=str(MODEL_PATH))
    args = ap.parse_args()
    from sklearn.metrics import roc_auc_score

    from assistant.embedding import Embedder
    from assistant.settings import load_settings

    s = load_settings()
    embedder = Embedder(s.model, query_encoder=s.query_encoder)
    rows = medquad_pairs(args.topics_per_source, args.seed)
    x_mq = featurize(rows, embedder)
    if args.cross_validate:
        cross_validate(args, rows, x_mq, embedder)
        return 0
    lay = lay_pairs(args.library_index) if args.library_index else []
    print(f"MedQuAD rows {len(rows)} (positives {sum(r['label'] for r in rows)}), lay rows {len(lay)} "
          f"(positives {sum(r['label'] for r in lay)})", flush=True)
    x = np.vstack([x_mq, featurize(lay, embedder)]) if lay else x_mq
    y = np.array([r["label"] for r in rows + lay])
    w = np.array([r.get("weight", 1.0) for r in rows + lay])
    topics = sorted({r["topic"] for r in rows})
    random.Random(args.seed).shuffle(topics)
    held = set(topics[: len(topics) // 5])
    is_held = np.array([r["topic"] in held for r in rows] + [False] * len(lay))
    t = time.perf_counter()
    from assistant.answer_sentences import SentenceScorer
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "m.npz", **fit(x[~is_held], y[~is_held], w[~is_held], args.hidden, args.reg, args.seed,
                                             embedder.model_id))
        p = SentenceScorer(Path(tmp) / "m.npz").probabilities(x[is_held])
    print(f"trained in {time.perf_counter() - t:.0f} s; held-out MedQuAD topics ({len(held)}): "
          f"AUC {roc_auc_score(y[is_held], p):.3f}", flush=True)
    cos = x[is_held, 2 * embedder.dim]  # the cosine alone, for comparison
    held_rows = [r for r, h in zip(rows, is_held) if h]

    def top1(scores) -> tuple[int, float]:
        by_q: dict[str, list[tuple[float, int]]] = {}
        for r, si in zip(held_rows, scores):
            by_q.setdefault(r["question"] + r["topic"], []).append((float(si), r["label"]))
        return len(by_q), float(np.mean([max(v)[1] for v in by_q.values()]))

    n, model_top1 = top1(p)
    print(f"held-out MedQuAD questions {n}: best-scored sentence is from its own answer {model_top1:.3f} "
          f"(cosine alone {top1(cos)[1]:.3f}; AUC of the cosine alone {roc_auc_score(y[is_held], cos):.3f})")
    np.savez_compressed(args.out, **fit(x, y, w, args.hidden, args.reg, args.seed, embedder.model_id))
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
