"""Train the learned triage layer: logistic regressions over the MiniLM message embedding.

Reproduces `assistant/models/triage.npz` (a few thousand coefficients, no new transformer):
    .venv/bin/python evals/train_triage.py [--heads-only] [--recalibrate] [--dry-run]
Experiments (the shipped model uses none; README, Safety triage): --seed N (the emergency network's), --networks K
(K networks' logits averaged), --also FOLDER... (more evals/triage/ folders joined to the main training data).

Training data (never the held-out half of the triage sets):
- evals/triage/training/: 5,408 messages written for training by sixteen authors with their own briefs
  and personas (emergencies over 13 categories and 3 dispositions; hard negatives, advice, injections,
  conversation acts);
- evals/triage/tuning/: the tuning half of the independently written triage sets (3 authors, 429);
- evals/questions.jsonl and evals/triage_tuning.jsonl (the earlier project sets);
- MedQuAD's patient questions (CC BY 4.0; Ben Abacha and Demner-Fushman, 2019): 16k educational
  questions, many about emergency topics ("What are the symptoms of Stroke?"), as non-emergencies.
- evals/triage/training_intent/: messages that train the routing head only (advice, questions,
  conversation acts, injections and red-flag mentions that are not emergencies, written to the boundary
  brief). Every head that decides who is escalated (the emergency network, the intent head whose
  emergency probability must agree with it, category, disposition), the word vocabulary and the escalation
  thresholds are fitted without them, so they cannot change who is escalated or told to call 911.

- evals/triage/training_crisis/: messages that train the crisis head only (suicidal or self-harm intent said
  obliquely, often through pain, beside ordinary questions about recovery, relief and outlook in the same
  words, written to evals/triage/heldout7/BRIEF.md). Every other head and threshold is fitted without them.
- evals/triage/training_topics/: lay health questions by eight authors (evals/triage/training_topics/BRIEF.md:
  education about red-flag topics, other health topics, plain treatment questions; none an emergency) that
  train the red-flag topic head and (the first four, but for their questions about suicide and self-harm) the
  crisis head.
- evals/triage/chronic/: symptoms lived with (chronic, recurring, managed or mild, told as background to a
  question) and emergencies in the same people happening now (evals/triage/chronic/BRIEF.md); they train the
  lived-with head only.
- evals/triage/anticipate/: questions about what might happen before or after a procedure, a medicine or a
  vaccine ("will I feel dizzy afterwards?") and emergencies in the same situations happening now
  (evals/triage/anticipate/BRIEF.md); they train the anticipated head only.
- evals/triage/narrative/, long_tuning/, long_tail_tuning/: long messages (60-300 words) told as stories (past,
  hypothetical, educational) and emergencies told in long messages, often late (evals/triage/narrative/BRIEF.md);
  they train the narrative head only.
- the readable halves' questions of the answer benchmark (evals/answers/tuning/, training/): lay questions
  about a clinic library, none a crisis, that train the crisis head only.

Heads:
- emergency: is this an emergency happening now (a one-hidden-layer network of 64 units: it learns how
  context words and a topic combine, which a linear model cannot; it cut out-of-author false alarms at
  recall 1.0 from 5-12% to 4-8% on the tuning authors against logistic regression);
- intent (logistic regression): emergency / red-flag context (education, past, negated, hypothetical) /
  question / advice / injection / conversation; its emergency and context probabilities take part in
  escalation and the safety line;
- routing (with training_intent/ messages): the same classes, trained on those messages too; it routes the
  messages that are not escalated (advice, injection, conversation act, question);
- category (13 red-flag categories) and disposition (911 / crisis / urgent), on emergencies only;
- crisis (logistic regression, with the training_crisis/ messages): suicidal or self-harm intent (a crisis
  emergency) against everything else. It escalates to the crisis line on its own bar (`crisis_head`),
  whatever the other heads read: oblique intent ("I've been saving my pain pills, just in case") is worded
  like the ordinary questions the emergency network learned to leave alone.
- topic (logistic regression, with the training_intent/ and training_crisis/ messages, MedQuAD left out: its
  questions carry no label): is the message about a red-flag category at all (an emergency, or an
  educational, past, negated or hypothetical mention) against plain questions, advice, conversation and
  mild after-effects. Past its bar (`topic_head`) a reply carries the "if this is happening now, call 911"
  line; the emergency head's own line bar is then set so that no fewer missed emergencies carry the line
  out of fold than before (`safety_line_bar`). Below its veto bar (`topic_veto_bar`: 0.9 of the lowest
  out-of-fold topic p of the emergencies the network escalates with no red flag read by the rules) such an
  escalation becomes the lines instead.

- the veto heads (logistic regression, each on every emergency and its folders' messages, VETO_HEADS):
  lived, a symptom lived with (chronic/), anticipated, a symptom asked about as something that might
  happen (anticipate/), and narrative, a long message told as a story (narrative/, long_tuning/,
  long_tail_tuning/), against an emergency. Each can only veto an escalation, at a bar above the
  out-of-fold p of every emergency it could veto at run time (`veto_bar`; the narrative head reads only
  messages of 60 words or more, and the lower p of the whole and its last 150 words; at run time its last 60
  words must clear the bar too),
  never for a message read as suicidal or self-harm intent (by the rules, the category head or the crisis
  head's line bar); the vetoed message gets the "if this is happening now, call 911" line.

Thresholds are calibrated on out-of-fold probabilities (each tuning author a fold of its own, so a
model that never saw the author scores them); see `calibrate`. Features: the embedding plus the
message's word unigrams and bigrams (assistant.triage.bag_of_words) seen in at least 3 messages.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

INTENTS = ("emergency", "context", "question", "advice", "injection", "conversation")
CATEGORIES = ("cardiac", "stroke", "breathing", "anaphylaxis", "bleeding", "overdose", "self_harm", "seizure",
              "head_injury", "sepsis", "spinal_neuro", "clot", "infection")
DISPOSITIONS = ("911", "crisis", "urgent")
LABEL_TO_INTENT = {"emergency": "emergency", "education": "context", "past": "context", "negated": "context",
                   "hypothetical": "context", "mild_side_effect": "question", "other_topic": "question",
                   "question": "question", "advice": "advice", "injection": "injection",
                   "conversation": "conversation"}
KIND_TO_INTENT = {"emergency": "emergency", "answerable": "question", "out_of_scope": "question",
                  "personal_advice": "advice", "greeting": "conversation"}
OUT = REPO / "assistant" / "models" / "triage.npz"
CV_CACHE = "runs/triage_cv.npz"
MEDQUAD_LIMIT = 6000   # distinct questions, seeded sample: enough to cover every template and topic


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def authored(folder: str) -> list[dict]:
    """The messages of one evals/triage/ folder, as `messages` gives them (group: folder/author)."""
    return [{"text": r["text"], "intent": LABEL_TO_INTENT[r["label"]], "category": r.get("category") or "",
             "disposition": r.get("disposition") or "", "group": f"{folder}/{path.stem}", "history": r.get("history") or []}
            for path in sorted((REPO / "evals" / "triage" / folder).glob("*.jsonl")) for r in _jsonl(path)]


def messages(also: tuple[str, ...] = ()) -> list[dict]:
    """Every training message as {"text", "intent", "category", "disposition", "group"}; `also` names more
    evals/triage/ folders to join them (an experiment: --also)."""
    rows = authored("training") + authored("tuning") + [r for folder in also for r in authored(folder)]
    for name in ("questions.jsonl", "triage_tuning.jsonl"):
        for r in _jsonl(REPO / "evals" / name):
            intent = KIND_TO_INTENT[r["kind"]]
            if intent == "advice" and "inject" in r["id"]:
                intent = "injection"
            rows.append({"text": r["question"], "intent": intent, "category": "", "disposition": "",
                         "group": f"project/{name}", "history": r.get("history") or []})
    sys.path.insert(0, str(REPO / "benchmarks"))
    from medquad import medquad_path

    seen: set[str] = set()
    pool = []
    with medquad_path().open(encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)["question"].strip()
            if q.lower() not in seen:
                seen.add(q.lower())
                pool.append(q)
    rng = np.random.default_rng(13)
    for i in sorted(rng.choice(len(pool), size=min(MEDQUAD_LIMIT, len(pool)), replace=False)):
        rows.append({"text": pool[i], "intent": "question", "category": "", "disposition": "",
                     "group": "medquad", "history": []})
    return rows


def crisis_messages() -> list[dict]:
    """The crisis head's own extra messages (evals/triage/training_crisis/)."""
    return authored("training_crisis")


def topic_messages() -> list[dict]:
    """The topic and crisis heads' lay health questions (evals/triage/training_topics/: education about
    red-flag topics, other health topics, plain treatment questions; none an emergency)."""
    return authored("training_topics")


# The veto heads and the folder of evals/triage/ that trains each (its non-emergencies against every emergency;
# no other head sees those messages). assistant.triage.VETO_HEADS reads them in this order.
VETO_HEADS = {"lived": ("chronic",), "anticipated": ("anticipate",),
              "narrative": ("narrative", "long_tuning", "long_tail_tuning")}


def answer_questions() -> list[dict]:
    """The readable halves' questions of the answer benchmark (evals/answers/tuning/ and training/, never its
    held-out halves): lay questions about a clinic library's topics, none of them a crisis. They train the
    crisis head only, as messages that are not crises; they carry no red-flag topic label, so the topic head
    leaves them out as it does MedQuAD's."""
    return [{"text": r["question"], "intent": "question", "category": "", "disposition": "",
             "group": f"answers/{path.stem}", "history": r.get("history") or []}
            for half in ("tuning", "training") for path in sorted((REPO / "evals" / "answers" / half).glob("*.jsonl"))
            for r in _jsonl(path)]


def intent_messages() -> list[dict]:
    """The routing head's own extra messages (evals/triage/training_intent/; none is an emergency)."""
    return [r for r in authored("training_intent") if r["intent"] != "emergency"]


def embedded(texts: list[str], cache: Path) -> np.ndarray:
    """embed(texts), kept in `cache` between runs while the texts are the same."""
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            if list(z["texts"]) == texts:
                return z["X"]
    X = embed(texts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, X=X, texts=np.array(texts))
    return X


def embed(texts: list[str]) -> np.ndarray:
    """The vectors triage sees at run time (the same model and normalisation as the query encoder)."""
    from assistant.embedding import Embedder
    from assistant.text import ascii_text

    return Embedder("embedded").encode([ascii_text(t) for t in texts])


def vocabulary(texts: list[str], min_df: int = 3) -> list[str]:
    """Unigrams and bigrams in at least min_df training messages, sorted."""
    from collections import Counter

    from assistant.triage import bag_of_words

    df = Counter(w for t in texts for w in set(bag_of_words(t)))
    return sorted(w for w, n in df.items() if n >= min_df)


BOW_WEIGHT = 1.0


def features(X: np.ndarray, texts: list[str], vocab: list[str], ctx: np.ndarray):
    """[embedding, context features, binary bag of words scaled to unit length]: what LearnedTriage
    computes at run time."""
    from scipy.sparse import csr_matrix, hstack

    from assistant.triage import bag_of_words

    index = {w: i for i, w in enumerate(vocab)}
    rows, cols, vals = [], [], []
    for r, t in enumerate(texts):
        idx = sorted({index[w] for w in bag_of_words(t) if w in index})
        rows += [r] * len(idx)
        cols += idx
        vals += [BOW_WEIGHT / np.sqrt(len(idx))] * len(idx)
    B = csr_matrix((vals, (rows, cols)), shape=(len(texts), len(vocab)), dtype=np.float32)
    return hstack([csr_matrix(X), csr_matrix(ctx), B]).tocsr()


def fit(F, y: np.ndarray, classes: tuple[str, ...], C: float, binary: bool = False):
    """Coefficients and biases in the order of `classes` (one row for a binary head: the first class)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=5000, class_weight="balanced")
    if binary:
        model.fit(F, y == classes[0])
        return model.coef_.astype(np.float32), model.intercept_.astype(np.float32)
    model.fit(F, y)
    coef = np.zeros((len(classes), F.shape[1]), np.float32)
    bias = np.full(len(classes), -30.0, np.float32)
    for i, c in enumerate(model.classes_):
        coef[classes.index(c)] = model.coef_[i]
        bias[classes.index(c)] = model.intercept_[i]
    return coef, bias


HIDDEN, ALPHA, EPOCHS, OVERSAMPLE = 64, 1e-3, 60, 3


def fit_emergency(F, is_emergency: np.ndarray, seed: int = 0, networks: int = 1):
    """The emergency head: one hidden layer of HIDDEN ReLUs (scikit-learn MLP, Adam, L2 ALPHA); emergencies
    repeated OVERSAMPLE more times (the network takes no class weights). With `networks` > 1, that many
    networks (seeds seed, seed + 1, ...) whose logits are averaged: one wider layer whose output weights are
    each network's divided by their number. Returns (w1, b1, w2, b2) with w1 as (hidden, features), the layout
    LearnedTriage reads."""
    from sklearn.neural_network import MLPClassifier

    idx = np.concatenate([np.arange(len(is_emergency))] + [np.where(is_emergency)[0]] * OVERSAMPLE)
    models = [MLPClassifier(hidden_layer_sizes=(HIDDEN,), alpha=ALPHA, max_iter=EPOCHS, random_state=seed + k)
              .fit(F[idx], is_emergency[idx]) for k in range(networks)]
    return (np.vstack([m.coefs_[0].T for m in models]).astype(np.float32),
            np.concatenate([m.intercepts_[0] for m in models]).astype(np.float32),
            (np.concatenate([m.coefs_[1][:, 0] for m in models]) / networks).astype(np.float32),
            float(np.mean([float(m.intercepts_[1][0]) for m in models])))


def emergency_probs(head, F) -> np.ndarray:
    w1, b1, w2, b2 = head
    h = np.maximum(np.asarray(F @ w1.T) + b1, 0.0)
    return 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))


def folds(groups, own: tuple[str, ...] = ("tuning/",), seed: int = 13) -> np.ndarray:
    """Cross-validation folds: each author whose group starts with one of `own` (the tuning authors) is a
    fold of its own (a model that never saw the author scores them); every other message falls in one of
    five seeded folds."""
    rng = np.random.default_rng(seed)
    return np.array([g if g.startswith(own) else f"fold{rng.integers(5)}" for g in (str(x) for x in groups)])


def cross_validated(X, texts, y, fold_ids, C, ctx, dis, extra=None, seed: int = 0, networks: int = 1):
    """Out-of-fold emergency, intent, routing and (for labelled emergencies) disposition probabilities,
    vocabulary refit in each fold. `extra` (vectors, texts, intents, context features) joins every fold's
    routing head; without it the routing head is the intent head. `seed`, `networks`: the emergency network's
    (`fit_emergency`)."""
    p_em = np.zeros(len(y), np.float32)
    p_int = np.zeros((len(y), len(INTENTS)), np.float32)
    p_route = np.zeros((len(y), len(INTENTS)), np.float32)
    p_dis = np.zeros((len(y), len(DISPOSITIONS)), np.float32)
    has_dis = (y == "emergency") & np.isin(dis, DISPOSITIONS)
    for f in np.unique(fold_ids):
        test = fold_ids == f
        tr = np.where(~test)[0]
        vocab = vocabulary([texts[i] for i in tr])
        F_tr = features(X[tr], [texts[i] for i in tr], vocab, ctx[tr])
        F_te = features(X[test], [t for t, m in zip(texts, test) if m], vocab, ctx[test])
        p_em[test] = emergency_probs(fit_emergency(F_tr, y[tr] == "emergency", seed, networks), F_te)
        c, b = fit(F_tr, y[tr], INTENTS, C)
        p_int[test] = softmax(np.asarray(F_te @ c.T) + b)
        if extra is None:
            p_route[test] = p_int[test]
        else:
            c, b = routing_head(F_tr, y[tr], vocab, C, extra)
            p_route[test] = softmax(np.asarray(F_te @ c.T) + b)
        d_tr = has_dis[tr]
        c, b = fit(F_tr[d_tr], dis[tr][d_tr], DISPOSITIONS, C)
        p_dis[test] = softmax(np.asarray(F_te @ c.T) + b)
    return p_em, p_int, p_dis, p_route


def routing_head(F, y: np.ndarray, vocab: list[str], C: float, extra):
    """The intent classes fitted on F's messages and `extra`'s (vectors, texts, intents, context features),
    in the same features."""
    from scipy.sparse import vstack

    X_x, texts_x, y_x, ctx_x = extra
    return fit(vstack([F, features(X_x, texts_x, vocab, ctx_x)]).tocsr(), np.concatenate([y, y_x]), INTENTS, C)


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# A learned intent replaces the patterns' answer only when it is this precise out of fold: a question taken
# for a conversation act goes unanswered ("Where can I park?" is not a greeting), so that bar is higher.
# Share of the personal-advice messages an advice rule catches that must keep their advice route under the
# rules' learned veto (out of fold), besides every one of the tuning authors'.
ADVICE_RULE_KEEP = 0.98
INTENT_PRECISION = {"advice": 0.9, "injection": 0.9, "conversation": 0.97}
RECALL_ALL = 0.98   # of every out-of-fold emergency (the tuning authors' 911 and crisis ones: all)


# A 911 or crisis emergency told "see a doctor today" is the dangerous mistake of grading: the learned layer
# may downgrade a category's 911 to urgent only at a confidence that does so for at most this share of the
# out-of-fold 911 emergencies (and for none of the tuning authors').
MAX_DOWNGRADED = 0.01


def _safe_bar(bars, downgraded, y, groups, disposition) -> float:
    """The first bar (in the order given) at which `downgraded(bar)` (a mask over all messages) holds at most
    MAX_DOWNGRADED of the out-of-fold 911 emergencies and none of the tuning authors'; else the last bar."""
    serious = (y == "emergency") & (disposition == "911")
    tuning = np.char.startswith(groups.astype(str), "tuning/")
    for bar in bars:
        down = downgraded(bar)
        if down[serious].mean() <= MAX_DOWNGRADED and not down[serious & tuning].any():
            return float(bar)
    return float(bars[-1])


def urgent_threshold(p_dis, y, groups, disposition) -> float:
    """The lowest urgent-probability bar (Triager._grade: urgent >= bar and 911 < 1 - bar) that is safe."""
    p911, purgent = p_dis[:, DISPOSITIONS.index("911")], p_dis[:, DISPOSITIONS.index("urgent")]
    return _safe_bar(np.round(np.arange(0.5, 1.0, 0.01), 2), lambda bar: (purgent >= bar) & (p911 < 1 - bar),
                     y, groups, disposition)


def urgent_rule_threshold(p_dis, y, groups, disposition) -> float:
    """For a category whose own disposition is urgent (infection after a procedure): the highest 911
    probability under which it stays urgent that is safe, were every 911 emergency read as that category."""
    p911 = p_dis[:, DISPOSITIONS.index("911")]
    return _safe_bar(np.round(np.arange(0.5, 0.0, -0.01), 2), lambda bar: p911 < bar, y, groups, disposition)


def story_threshold(p_em, p_int, y, n_words, cap: float) -> float:
    """The "story" bar (Triager.classify): the highest learned emergency probability, on a 0.05 grid and at
    most `cap` (the learned layer's own bar), under which no out-of-fold emergency long enough to be read
    sentence by sentence (over PARTS_WORDS) and read as a whole as a past, denied or hypothetical mention
    (intent "context" >= STORY_CONTEXT) falls. 0 (never a story) when even 0.05 would catch one."""
    from assistant.triage import PARTS_WORDS, STORY_CONTEXT

    em = y == "emergency"
    storylike = em & (n_words > PARTS_WORDS) & (p_int[:, INTENTS.index("context")] >= STORY_CONTEXT)
    best = 0.0
    for bar in np.round(np.arange(0.05, cap + 1e-9, 0.05), 2):
        if (p_em[storylike] < bar).any():
            break
        best = float(bar)
    return best


def advice_rule_veto(p_route, y, groups, fired) -> float:
    """The advice rules' veto (Triager.classify): the highest routing-head advice probability, on a 0.01 grid up
    to 0.5, under which a personal-advice rule's match is not taken as a request for advice, such that every
    tuning author's advice message a rule catches, and at least ADVICE_RULE_KEEP of all of them, stay at or
    above it (out of fold). 0: never vetoed."""
    pa = p_route[:, INTENTS.index("advice")]
    caught = fired & (y == "advice")
    must = caught & np.char.startswith(groups.astype(str), "tuning/")
    best = 0.0
    for veto in np.round(np.arange(0.01, 0.501, 0.01), 2):
        if not caught.any() or (pa[must] < veto).any() or (pa[caught] >= veto).mean() < ADVICE_RULE_KEEP:
            break
        best = float(veto)
    return best


def advice_rule_fires(rules, texts: list[str]) -> np.ndarray:
    """Which messages a personal-advice rule routes (no injection rule matching first), as Triager.classify
    reads them."""
    from assistant.text import ascii_text, plain_words

    plains = [plain_words(ascii_text(t)) for t in texts]
    return np.array([rules.advice_rule(p) is not None and not rules._injection(p, {}) for p in plains])


CRISIS_KEEP = 0.98  # of the crisis emergencies of every author, out of fold (of the tuning and crisis authors': all)
CRISIS_MAX_FLAGGED = 0.003  # of the labelled non-emergencies the crisis head may escalate alone, out of fold
# The extra heads' own authors: each is a fold of its own out of fold, and calibration must keep their messages
OWN = ("tuning/", "training_crisis/", "training_intent/", "training_topics/")
EXTRA = ("training_crisis/", "training_intent/", "training_topics/")  # messages the main vocabulary and heads never see
# The second four topic authors train the topic head only: beside the first four they lowered the crisis head's
# calibrated line bar (0.08 -> 0.07; others flagged out of fold 0.047 -> 0.051)
TOPIC_ONLY = ("training_topics/gus", "training_topics/ama", "training_topics/priti", "training_topics/bo")
UNLABELLED = ("medquad", "answers/")  # questions with no red-flag topic label: the topic head leaves them out
TOPIC_KEEP = 0.98  # of the own authors' red-flag messages that are not emergencies, out of fold
GRID = np.round(np.arange(0.01, 0.991, 0.01), 2)


def head_out_of_fold(X, texts, ctx, labels, groups, C, own: tuple[str, ...], seed: int = 13,
                     rows: np.ndarray | None = None, unseen: tuple[str, ...] = EXTRA, also=None):
    """Out-of-fold p of a binary logistic head over the main features (each `own` author a fold of its own,
    the rest in five seeded folds), on `rows` only (all messages by default; others stay nan). Each fold's
    vocabulary is built from its training messages outside `unseen`, as the main vocabulary is. With `also`
    (X, texts, row of each: other readings of some messages), also their p by the fold model of their
    message: (oof, oof of also)."""
    rows = np.ones(len(labels), bool) if rows is None else rows
    fold_ids = folds(groups, own, seed)
    oof = np.full(len(labels), np.nan, np.float32)
    oof_also = np.full(len(also[1]) if also else 0, np.nan, np.float32)
    named = np.where(labels, "yes", "no")
    p = lambda F, c, b: 1.0 / (1.0 + np.exp(-(np.asarray(F @ c.T)[:, 0] + b[0])))  # noqa: E731
    for f in np.unique(fold_ids[rows]):
        test = rows & (fold_ids == f)
        tr = np.where(rows & ~test)[0]
        voc = vocabulary([texts[i] for i in tr if not groups[i].startswith(unseen)])
        c, b = fit(features(X[tr], [texts[i] for i in tr], voc, ctx[tr]), named[tr], ("yes",), C, binary=True)
        oof[test] = p(features(X[test], [t for t, m in zip(texts, test) if m], voc, ctx[test]), c, b)
        if also:
            mine = test[also[2]]
            if mine.any():
                oof_also[mine] = p(features(also[0][mine], [t for t, m in zip(also[1], mine) if m], voc,
                                            ctx[also[2][mine]]), c, b)
    return (oof, oof_also) if also else oof


def crisis_head(X, texts, ctx, labels, groups, vocab, C, is_emergency, seed: int = 13) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """The crisis head over the main vocabulary: (coef, bias, bars, report). `labels` is True for a crisis
    emergency. Out of fold (each tuning and crisis author a fold of its own, the rest in five seeded folds),
    on a 0.01 grid: the line bar ("crisis_line": the crisis line on top of the reply) is the highest that
    keeps every tuning and crisis author's crisis message and at least CRISIS_KEEP of all of them; the
    escalation bar ("crisis") the lowest at which at most CRISIS_MAX_FLAGGED of the labelled
    non-emergencies would be escalated by it alone."""
    authors = ("tuning/", "training_crisis/")
    own = np.array([str(g).startswith(authors) for g in groups])
    # (its fold vocabularies keep training_intent/'s words, as when its bars were first chosen)
    oof = head_out_of_fold(X, texts, ctx, labels, groups, C, authors, seed, unseen=("training_crisis/", "answers/"))
    must = labels & own
    bar = 0.0
    for t in GRID:
        if (oof[must] < t).any() or (oof[labels] >= t).mean() < CRISIS_KEEP:
            break
        bar = float(t)
    others = ~labels
    plain = others & np.array([not g.startswith("medquad") for g in groups]) & ~is_emergency
    report_table = [(t, round(float((oof[labels] >= t).mean()), 4), round(float((oof[must] >= t).mean()), 4),
                     round(float((oof[plain] >= t).mean()), 4)) for t in (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)]
    escalate = next((float(t) for t in GRID if (oof[plain] >= t).mean() <= CRISIS_MAX_FLAGGED), 0.99)
    bars = {"crisis": max(escalate, bar), "crisis_line": bar}
    report = {"table": report_table, "bar": bar, "oof": oof, "crisis_caught": round(float((oof[labels] >= bar).mean()), 4),
              "others_flagged": round(float((oof[others] >= bar).mean()), 4),
              "by_group": {g: (int((labels & (groups == g)).sum()), round(float((oof[labels & (groups == g)] >= bar).mean()), 3)
                               if (labels & (groups == g)).any() else None,
                               round(float((oof[others & (groups == g)] >= bar).mean()), 4) if (others & (groups == g)).any() else None)
                           for g in sorted(set(groups.tolist()))}}
    c, b = fit(features(X, texts, vocab, ctx), np.where(labels, "crisis", "other"), ("crisis",), C, binary=True)
    return c, b, bars, report


def greeting_crisis_bar(arrays: dict, rows: list[dict], oof: np.ndarray, labels: np.ndarray, line_bar: float,
                        vectors: dict) -> float:
    """The crisis head's line bar for a conversation act (the greeting reply: "thanks, bye", "I don't
    understand"), where the crisis line alarms for nothing: 0.9 of the lowest out-of-fold p (`oof`) of the
    crisis messages (`labels`) that the model (`arrays`) routes as conversation acts, on a 0.01 grid, never
    below the crisis line bar (the bar itself when none is routed so)."""
    import tempfile

    from assistant.embedding import Embedder
    from assistant.settings import Settings
    from assistant.text import ascii_text
    from assistant.triage import GREETING, Triager

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "triage.npz"
        np.savez_compressed(path, **arrays)
        triager = Triager(Settings().prompts_dir, model_path=path)
    encoder = Embedder("embedded")  # for the sentences of a long message, read one by one

    def vec(text: str) -> np.ndarray:
        key = ascii_text(text)
        if key not in vectors:
            vectors[key] = encoder.encode([key])[0]
        return vectors[key]

    low = [float(p) for r, p, crisis in zip(rows, oof, labels)
           if crisis and triager._classify(r["text"], vec).route == GREETING]
    bar = max(line_bar, np.floor(0.9 * min(low) * 100) / 100) if low else line_bar
    print(f"crisis line on conversation acts: {len(low)} crisis messages read as conversation acts, out-of-fold p "
          f"{sorted(round(p, 3) for p in low)}; bar {bar}")
    return float(round(bar, 2))


def topic_head(X, texts, ctx, topic, groups, vocab, C, is_emergency, seed: int = 13) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """The red-flag topic head: (coef, bias, bar, out-of-fold p). `topic` is True for a message about a red-flag
    category (an emergency, or an educational, past, negated or hypothetical mention: the authors' category
    label); MedQuAD's questions carry no such label and are left out. Its bar ("topic_line") is the highest
    on a 0.01 grid at which, out of fold, every tuning author's red-flag message that is not an emergency and
    at least TOPIC_KEEP of all the own authors' (OWN) are flagged: those get the "if this is happening now,
    call 911" line, as an educational question about a red-flag topic must."""
    labelled = np.array([not str(g).startswith(UNLABELLED) for g in groups])
    oof = head_out_of_fold(X, texts, ctx, topic, groups, C, OWN, seed, rows=labelled)
    mention = topic & ~is_emergency & labelled
    tuning = mention & np.char.startswith(groups.astype(str), "tuning/")
    own = mention & np.array([str(g).startswith(OWN) for g in groups])
    bar = 0.0
    for t in GRID:
        if (oof[tuning] < t).any() or (oof[own] >= t).mean() < TOPIC_KEEP:
            break
        bar = float(t)
    c, b = fit(features(X[labelled], [t for t, m in zip(texts, labelled) if m], vocab, ctx[labelled]),
               np.where(topic[labelled], "topic", "other"), ("topic",), C, binary=True)
    return c, b, bar, oof


def line_below(p_em: np.ndarray, cap: float) -> float:
    """The emergency head's line bar without the topic head: 0.9 of the lowest p of the tuning authors'
    emergencies (`p_em`), at most `cap`."""
    return round(min(cap, float(p_em.min()) * 0.9), 4)


def safety_line_bar(p_em, esc, lined, is_emergency, tuning, share: float, cap: float) -> float:
    """The emergency-head bar of the "call 911 if this is happening now" line, beside the other ways a reply
    gets it (`lined`: a red-flag mention, a red-flag context reading, the topic head): the highest on a fine
    grid (at most `cap`, the escalation bar) at which, out of fold, every tuning author's emergency that is not
    escalated (`esc`) carries the line and at least `share` of all such emergencies do (when unsure whether a
    message is an emergency: escalate or add the line)."""
    missed = is_emergency & ~esc
    for t in sorted({round(float(x), 4) for x in np.concatenate([GRID, np.arange(0.0001, 0.01, 0.0001)])}, reverse=True):
        has = lined | (p_em >= t)
        if t <= cap and has[missed & tuning].all() and has[missed].mean() >= share:
            return t
    return 0.0


def veto_bar(oof: np.ndarray, is_emergency: np.ndarray) -> float:
    """A veto head's bar: the first value of a 0.01 grid above every emergency's out-of-fold p (so out of fold
    it stops none of them); 1.01 (never) when that is above 0.99."""
    top = float(np.nanmax(oof[is_emergency])) if is_emergency.any() else 0.0
    bar = float(np.floor(top * 100 + 1) / 100)
    return round(bar, 2) if bar <= 0.99 else 1.01


def veto_head(name: str, folders: tuple[str, ...], rows: list[dict], X: np.ndarray, ctx: np.ndarray, rules,
              vocab: list[str], cache: Path, C: float):
    """A veto head: its folders' non-emergencies (symptoms lived with; symptoms asked about as what might happen;
    long stories) against every emergency of the training messages and the folders' own. It can only veto an escalation, at a
    bar above every emergency out of fold (`veto_bar`), self-harm included though the veto never applies to a
    message read as suicidal or self-harm intent: set above the others only (0.78 for anticipated, not 0.95),
    it vetoed an urgent emergency of an unseen author (held-out 3, p 0.82). (coef, bias, bar, report), or
    None when the folder is empty."""
    from assistant.text import ascii_text
    from assistant.triage import LONG_VETO_HEADS, STORY_WORDS, TAIL_WORDS, context_features, tails

    extra = [r for folder in folders for r in authored(folder)]
    if not extra:
        return None
    own_authors = tuple(f"{folder}/" for folder in folders)
    em_rows = [i for i, r in enumerate(rows) if r["intent"] == "emergency"]
    texts = [rows[i]["text"] for i in em_rows] + [r["text"] for r in extra]
    X_v = np.vstack([X[em_rows], embedded([r["text"] for r in extra], cache.with_name(f"{cache.stem}_{'_'.join(folders)}.npz"))])
    ctx_v = np.vstack([ctx[em_rows]] + [context_features(rules.findings(r["text"])) for r in extra])
    everyone = [rows[i] for i in em_rows] + extra
    groups = np.array([r["group"] for r in everyone])
    is_em = np.array([r["intent"] == "emergency" for r in everyone])
    own = ~is_em
    # Out of fold as at run time: a head of LONG_VETO_HEADS never vetoes a message of fewer than STORY_WORDS words
    # and vetoes only when the message's last 150 words read past the bar too (the lower p counts). At run
    # time its last 60 words must clear the bar as well, a guard for an emergency told in the last sentences that
    # is left out of the bar: with it the bar fell 0.85 -> 0.53 and vetoed a held-out emergency.
    n_words = np.array([len(ascii_text(t).split()) for t in texts])
    long_head = name in LONG_VETO_HEADS
    readable = n_words >= (STORY_WORDS if long_head else 0)
    pieces = [(i, w) for i in np.where(readable)[0] if long_head for w in tails(ascii_text(texts[i]), TAIL_WORDS[:1])]
    also = None
    if pieces:
        rows_of, ends = np.array([i for i, _ in pieces]), [w for _, w in pieces]
        also = (embedded(ends, cache.with_name(f"{cache.stem}_{name}_tails.npz")), ends, rows_of)
    oof = head_out_of_fold(X_v, texts, ctx_v, own, groups, C, ("tuning/",) + own_authors, unseen=EXTRA + own_authors,
                           also=also)
    if also:
        oof, oof_tails = oof
        np.minimum.at(oof, also[2], oof_tails)
    oof[~readable] = np.nan
    bar = veto_bar(oof, is_em)
    report = {"emergencies": int(is_em.sum()), "top_emergency": round(float(np.nanmax(oof[is_em])), 4), "own": int(own.sum()),
              "own_over_bar": round(float((oof[own] >= bar).mean()), 4)}
    c, b = fit(features(X_v, texts, vocab, ctx_v), np.where(own, "own", "other"), ("own",), C, binary=True)
    return c, b, bar, report


def with_extra_heads(arrays: dict, rows: list[dict], X: np.ndarray, ctx: np.ndarray, vocab: list[str], rules,
                     cache: Path, C: float, cv: dict | None = None) -> dict:
    """The model's arrays with the crisis head and the red-flag topic head and their bars, fitted on the
    training messages, the routing head's and the crisis head's own (every one a non-crisis message but the
    crisis emergencies). With `cv` (the main heads' out-of-fold p_em, p_int, asserted and any red-flag
    mention for `rows`), the emergency head's safety-line bar is set anew beside the topic head's."""
    from assistant.text import ascii_text
    from assistant.triage import context_features

    extra = intent_messages() + crisis_messages() + topic_messages() + answer_questions()
    texts = [r["text"] for r in rows] + [r["text"] for r in extra]
    X_all = np.vstack([X, embedded([r["text"] for r in extra], cache.with_name(cache.stem + "_crisis.npz"))])
    ctx_all = np.vstack([ctx] + [context_features(rules.findings(r["text"])) for r in extra])
    everyone = rows + extra
    labels = np.array([r["intent"] == "emergency" and r["disposition"] == "crisis" for r in everyone])
    groups = np.array([r["group"] for r in everyone])
    is_em = np.array([r["intent"] == "emergency" for r in everyone])
    # the topic authors' questions train the crisis head as messages that are not crises, but for their
    # educational questions about suicide and self-harm, which rightly get the crisis line (trained with those
    # too, its calibrated line bar fell 0.08 -> 0.07 and it flagged more of the others out of fold, 0.048 -> 0.051)
    c_rows = np.array([not (str(g).startswith("training_topics/") and (r["category"] == "self_harm"
                                                                      or g in TOPIC_ONLY)) for g, r in zip(groups, everyone)])
    coef, bias, bars, report = crisis_head(X_all[c_rows], [t for t, m in zip(texts, c_rows) if m], ctx_all[c_rows],
                                           labels[c_rows], groups[c_rows], vocab, C, is_em[c_rows])
    for row in report["table"]:
        print("  bar %.2f: crisis caught %.4f (tuning and crisis authors %.4f); non-emergencies flagged %.4f" % row)
    print(f"crisis head: {int(labels.sum())} crisis emergencies of {int(c_rows.sum())} messages; bars {bars}; out of fold at "
          f"the line bar {report['crisis_caught']} caught, {report['others_flagged']} of the others flagged")
    for g, (n, caught, flagged) in report["by_group"].items():
        if n or (flagged or 0) > 0:
            print(f"  {g:32} crisis {n:4} caught {caught} | others flagged {flagged}")
    topic = is_em | np.array([bool(r["category"]) for r in everyone])
    t_coef, t_bias, t_bar, t_oof = topic_head(X_all, texts, ctx_all, topic, groups, vocab, C, is_em)
    bars["topic_line"] = t_bar
    labelled = ~np.isnan(t_oof)  # the topic head's own rows (UNLABELLED left out)
    plain, mention = ~topic & labelled, topic & ~is_em & labelled
    print(f"topic head: {int(topic.sum())} red-flag messages of {int(labelled.sum())} labelled; bar {t_bar}: out of "
          f"fold {np.mean(t_oof[mention] >= t_bar):.4f} of the red-flag mentions that are not emergencies flagged, "
          f"{np.mean(t_oof[plain] >= t_bar):.4f} of the plain messages")
    if cv is not None:
        n = len(rows)
        kept = dict(zip(arrays["threshold_names"].tolist(), arrays["threshold_values"].tolist()))
        p_em, p_int = cv["p_em"], cv["p_int"]
        # the network's own escalations, and with the rules' (a red flag asserted, not talked down)
        network = (p_em >= kept["emergency"]) & (p_int[:, INTENTS.index("emergency")] >= kept["emergency_intent"])
        esc = (cv["asserted"] & (p_em >= kept["rule_veto"])) | network
        lined = cv["found"] | (p_int[:, INTENTS.index("context")] >= 0.5) | (np.nan_to_num(t_oof[:n]) >= t_bar)
        written = np.array([not g.startswith("medquad") for g in groups[:n]])
        em = is_em[:n] & written
        tuning = np.char.startswith(groups[:n].astype(str), "tuning/")
        # no fewer missed emergencies lined out of fold than by the bar calibrate() sets without the topic head
        plain_bar = line_below(p_em[em & tuning], kept["emergency"])
        before = cv["found"] | (p_int[:, INTENTS.index("context")] >= 0.5) | (p_em >= plain_bar)
        share = float(before[em & ~esc].mean())
        bars["safety_line"] = safety_line_bar(p_em, esc, lined, em, tuning, share, kept["emergency"])
        after = lined | (p_em >= bars["safety_line"])
        ment, plain_n = topic[:n] & ~is_em[:n], ~topic[:n] & written
        print(f"  with it, out of fold: red-flag mentions that are not emergencies lined {after[ment].mean():.4f}, "
              f"plain messages lined {after[plain_n].mean():.4f}")
        print(f"safety line: emergency-head bar {bars['safety_line']} (calibrate's {plain_bar}); out of "
              f"fold {int((em & ~esc).sum())} emergencies not escalated, lined {share:.4f} before -> {after[em & ~esc].mean():.4f}")
        alone = network & ~cv["found"]  # no red flag read anywhere in the message
        bars["topic_veto"] = topic_veto_bar(t_oof[:n], em & alone)
        others = ~is_em[:n] & written & alone
        vetoed = others & (np.nan_to_num(t_oof[:n], nan=1.0) < bars["topic_veto"])
        print(f"topic veto: bar {bars['topic_veto']} (0.9 of the lowest out-of-fold topic p of the {int((em & alone).sum())} "
              f"emergencies the network escalates with no red flag read); out of fold it would stop "
              f"{int(vetoed.sum())} of {int(others.sum())} such escalations of non-emergencies")

    heads = {"crisis_coef": coef.astype(np.float16), "crisis_bias": bias,
             "topic_coef": t_coef.astype(np.float16), "topic_bias": t_bias}
    for name, folders in VETO_HEADS.items():
        head = veto_head(name, folders, rows, X, ctx, rules, vocab, cache, C)
        if head is None:
            continue
        v_coef, v_bias, bars[f"{name}_veto"], v_report = head
        heads |= {f"{name}_coef": v_coef.astype(np.float16), f"{name}_bias": v_bias}
        print(f"{name} head ({', '.join(folders)}): {v_report['own']} messages against {v_report['emergencies']} emergencies; veto bar "
              f"{bars[f'{name}_veto']} (the highest out-of-fold p of an emergency is {v_report['top_emergency']}); "
              f"out of fold {v_report['own_over_bar']} of its messages reach it")

    def built(bars: dict) -> dict:
        kept = {str(k): float(v) for k, v in zip(arrays["threshold_names"].tolist(), arrays["threshold_values"])
                if k not in bars}
        return arrays | heads | {"threshold_names": np.array(list(kept) + list(bars)),
                                 "threshold_values": np.array(list(kept.values()) + list(bars.values()), np.float32)}

    c_everyone = [r for r, m in zip(everyone, c_rows) if m]
    vectors = {ascii_text(t): x for t, x in zip(texts, X_all)}
    bars["greeting_crisis_line"] = greeting_crisis_bar(built(bars), c_everyone, report["oof"], labels[c_rows],
                                                       bars["crisis_line"], vectors)
    return built(bars)


def topic_veto_bar(t_oof: np.ndarray, learned_only: np.ndarray) -> float:
    """The topic head's veto on the network's own escalations (no red flag read by the rules, not even in
    context): 0.9 of the lowest out-of-fold topic p of the emergencies escalated that way, on a 0.01 grid
    (so out of fold it stops none of them); 0 when there are none."""
    low = t_oof[learned_only & ~np.isnan(t_oof)]
    return round(float(np.floor(0.9 * float(low.min()) * 100)) / 100, 2) if len(low) else 0.0


def calibrate(p_em, p_int, y, asserted, groups, disposition, p_dis=None, p_route=None,
              n_words=None, advice_fired=None) -> dict[str, float]:
    """Thresholds from out-of-fold probabilities, recall first.
    - emergency and emergency_intent: the learned layer alone escalates when the emergency head reaches the
      first AND the intent head's emergency probability reaches the second (two models must agree);
    - rule_veto: a red-flag mention read as asserted escalates unless p_emergency is below this;
      the triple with the fewest false alarms among the labelled non-emergencies that still catches every
      life-threatening (911) or crisis emergency of the tuning authors and at least RECALL_ALL of all
      emergencies;
    - safety_line: the emergency-head threshold that would catch every tuning author's emergency, urgent
      ones included: a message between it and the escalation bar gets the "if this is happening now, call
      911" line instead of an escalation (when unsure: escalate or add the line);
    - advice / injection / conversation: the lowest threshold whose out-of-fold precision is at least 0.9
      (INTENT_PRECISION), on the routing head's probabilities `p_route` (the intent head's without it);
    - urgent and urgent_rule: `urgent_threshold`, `urgent_rule_threshold` (from out-of-fold disposition
      probabilities `p_dis`; 0.6 and 0.5 without them);
    - story (with `n_words`): `story_threshold`;
    - advice_rule_veto (with `advice_fired`, which messages an advice rule catches): `advice_rule_veto`."""
    em = y == "emergency"
    tuning = np.char.startswith(groups.astype(str), "tuning/")
    labelled = ~em & (groups != "medquad")
    p_int_em = p_int[:, INTENTS.index("emergency")]
    must = em & tuning & (disposition != "urgent")
    best = None
    for veto in np.round(np.arange(0.0, 0.61, 0.02), 2):
        rule = asserted & (p_em >= veto)
        for t in np.round(np.arange(0.02, 0.96, 0.02), 2):
            for u in np.round(np.arange(0.0, 0.61, 0.02), 2):
                esc = rule | ((p_em >= t) & (p_int_em >= u))
                if esc[must].all() and esc[em].mean() >= RECALL_ALL:
                    fa = esc[labelled].mean() + 0.1 * esc[groups == "medquad"].mean()
                    if best is None or fa < best[0] - 1e-9:
                        best = (fa, float(veto), float(t), float(u))
    _, veto, t_em, u = best or (0, 0.0, 0.05, 0.0)
    line = line_below(p_em[em & tuning], t_em)
    out = {"rule_veto": veto, "emergency": t_em, "emergency_intent": u, "safety_line": round(line, 4),
           "urgent": 0.6 if p_dis is None else urgent_threshold(p_dis, y, groups, disposition),
           "urgent_rule": 0.5 if p_dis is None else urgent_rule_threshold(p_dis, y, groups, disposition)}
    if n_words is not None:
        out["story"] = story_threshold(p_em, p_int, y, n_words, t_em)
    p_route = p_int if p_route is None else p_route
    for intent in ("advice", "injection", "conversation"):
        k = INTENTS.index(intent)
        truth = y == intent
        chosen = 0.95
        for th in np.arange(0.95, 0.05, -0.05):
            pred = p_route[:, k] >= th
            if pred.sum() and (truth & pred).sum() / pred.sum() >= INTENT_PRECISION[intent]:
                chosen = float(round(th, 2))
        out[intent] = max(chosen, 0.5)
    if advice_fired is not None:
        out["advice_rule_veto"] = advice_rule_veto(p_route, y, groups, advice_fired)
    return out


def main() -> int:
    global BOW_WEIGHT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--C", type=float, default=4.0)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--cache", default="runs/triage_training_vectors.npz")
    ap.add_argument("--bow-weight", type=float, default=1.0)
    ap.add_argument("--dry-run", action="store_true", help="cross-validate and calibrate only; write nothing")
    ap.add_argument("--heads-only", "--crisis-only", dest="heads_only", action="store_true",
                    help="refit only the crisis, red-flag topic and veto heads and their bars, the safety-line bar and the topic veto, "
                         "into --out (the other heads as they are; needs the last full run's out-of-fold cache)")
    ap.add_argument("--recalibrate", action="store_true",
                    help="recompute the thresholds from the last run's out-of-fold probabilities into the model")
    ap.add_argument("--seed", type=int, default=0,
                    help="the emergency network's random seed (0 is shipped; another one measures how much the "
                         "figures move with the seed alone)")
    ap.add_argument("--networks", type=int, default=1,
                    help="emergency networks (seeds --seed, --seed + 1, ...) whose logits are averaged")
    ap.add_argument("--also", nargs="*", default=[], metavar="FOLDER",
                    help="join these evals/triage/ folders' messages to the main training data (an experiment; the "
                         "shipped model uses none)")
    args = ap.parse_args()
    BOW_WEIGHT = args.bow_weight
    from assistant.settings import Settings
    from assistant.triage import Triager, context_features

    rows = messages(tuple(args.also))
    texts = [r["text"] for r in rows]
    cache = Path(args.cache)
    X = embedded(texts, cache)
    y = np.array([r["intent"] for r in rows])
    groups = np.array([r["group"] for r in rows])
    dis = np.array([r["disposition"] for r in rows])
    n_words = np.array([len(t.split()) for t in texts])
    if args.recalibrate:
        cv = np.load(CV_CACHE)
        if len(cv["p_em"]) != len(y):
            raise SystemExit(f"{CV_CACHE} holds {len(cv['p_em'])} messages, the training data {len(y)}: it is from "
                             "another run's data; run train_triage.py without --recalibrate.")
        fired = advice_rule_fires(Triager(Settings().prompts_dir, learned=False), texts)
        thresholds = calibrate(cv["p_em"], cv["p_int"], y, cv["asserted"], groups, dis,
                               cv["p_dis"] if "p_dis" in cv else None, cv["p_route"] if "p_route" in cv else None,
                               n_words, fired)
        with np.load(args.out, allow_pickle=False) as z:
            arrays = dict(z)
        kept = dict(zip(arrays["threshold_names"].tolist(), arrays["threshold_values"].tolist()))
        # the extra heads' bars and the safety line set beside the topic head are theirs (--heads-only)
        for name in ("crisis", "crisis_line", "greeting_crisis_line", "topic_line", "topic_veto") + tuple(f"{v}_veto" for v in VETO_HEADS) + (("safety_line",) if "topic_line" in kept else ()):
            if name in kept:
                thresholds[name] = kept[name]
        arrays |= {"threshold_names": np.array(list(thresholds)),
                   "threshold_values": np.array(list(thresholds.values()), np.float32)}
        np.savez_compressed(args.out, **arrays)
        print("thresholds:", thresholds)
        return 0
    rules = Triager(Settings().prompts_dir, learned=False)
    found = [rules.findings(t) for t in texts]
    if args.heads_only:
        with np.load(args.out, allow_pickle=False) as z:
            arrays = dict(z)
        cv = dict(np.load(CV_CACHE))
        if len(cv["p_em"]) != len(y):
            raise SystemExit(f"{CV_CACHE} is from another run's data; run train_triage.py without --heads-only.")
        ctx = np.vstack([context_features(fs) for fs in found])
        np.savez_compressed(args.out, **with_extra_heads(arrays, rows, X, ctx, arrays["vocab"].tolist(), rules, cache,
                                                         args.C, cv | {"found": np.array([bool(fs) for fs in found])}))
        print(f"wrote the crisis, topic and veto heads and the line and veto bars into {args.out}")
        return 0
    asserted = np.array([any(f.asserted for f in fs) for fs in found])
    ctx = np.vstack([context_features(fs) for fs in found])
    fold_ids = folds([r["group"] for r in rows])
    extra_rows = intent_messages()
    extra = None
    if extra_rows:
        texts_x = [r["text"] for r in extra_rows]
        ctx_x = np.vstack([context_features(rules.findings(t)) for t in texts_x])
        extra = (embedded(texts_x, cache.with_name(cache.stem + "_intent.npz")), texts_x,
                 np.array([r["intent"] for r in extra_rows]), ctx_x)
        print(f"{len(extra_rows)} intent-only messages: "
              + ", ".join(f"{i} {int((extra[2] == i).sum())}" for i in INTENTS if (extra[2] == i).any()))
    p_em, p_int, p_dis, p_route = cross_validated(X, texts, y, fold_ids, args.C, ctx, dis, extra,
                                                  args.seed, args.networks)
    np.savez(CV_CACHE, p_em=p_em, p_int=p_int, p_dis=p_dis, p_route=p_route, asserted=asserted)
    thresholds = calibrate(p_em, p_int, y, asserted, groups, dis, p_dis, p_route, n_words,
                           advice_rule_fires(rules, texts))
    em = y == "emergency"
    print(f"{len(rows)} messages: " + ", ".join(f"{i} {int((y == i).sum())}" for i in INTENTS))
    print("thresholds:", thresholds)
    escalated = ((p_em >= thresholds["emergency"]) & (p_int[:, 0] >= thresholds["emergency_intent"])) | (
        asserted & (p_em >= thresholds["rule_veto"]))
    for g in sorted(set(groups)):
        m = groups == g
        e, n = m & em, m & ~em
        print(f"  {g:32} emergencies {int(e.sum()):4} caught {escalated[e].mean() if e.any() else float('nan'):.3f}"
              f" | others {int(n.sum()):5} false alarms {escalated[n].mean() if n.any() else float('nan'):.4f}")
    if args.dry_run:
        return 0
    vocab = vocabulary(texts)
    F = features(X, texts, vocab, ctx)
    heads = {"intent": (*fit(F, y, INTENTS, args.C), INTENTS)}
    if extra is not None:
        heads["routing"] = (*routing_head(F, y, vocab, args.C, extra), INTENTS)
    w1, b1, w2, b2 = fit_emergency(F, em, args.seed, args.networks)
    cats = np.array([r["category"] for r in rows])
    labelled = em & np.isin(cats, CATEGORIES) & np.isin(dis, DISPOSITIONS)
    heads["category"] = (*fit(F[labelled], cats[labelled], CATEGORIES, args.C), CATEGORIES)
    heads["disposition"] = (*fit(F[labelled], dis[labelled], DISPOSITIONS, args.C), DISPOSITIONS)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"vocab": np.array(vocab), "bow_weight": np.float32(BOW_WEIGHT), "threshold_names": np.array(list(thresholds)),
              "threshold_values": np.array(list(thresholds.values()), np.float32)}
    arrays |= {"emergency_w1": w1.astype(np.float16), "emergency_b1": b1, "emergency_w2": w2,
               "emergency_b2": np.float32(b2)}
    for name, (coef, bias, classes) in heads.items():
        arrays |= {f"{name}_coef": coef.astype(np.float16), f"{name}_bias": bias,
                   f"{name}_classes": np.array(classes)}
    arrays = with_extra_heads(arrays, rows, X, ctx, vocab, rules, cache, args.C,
                              {"p_em": p_em, "p_int": p_int, "asserted": asserted, "found": np.array([bool(fs) for fs in found])})
    np.savez_compressed(out, **arrays)
    print(f"wrote {out} ({out.stat().st_size:,} bytes; {len(vocab):,} word features)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
