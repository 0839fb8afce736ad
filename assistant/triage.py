"""Triage before retrieval: emergency (graded), injected instructions, personal advice, conversation acts.

Three layers, each reviewable on its own:
1. red-flag situations (assistant/prompts/redflags.toml): per category, patterns and concept combinations matched
   on the message with misspellings of key words corrected;
2. context (medspaCy ConText, rules extended in assistant/prompts/redflags.toml): a negated, historical or
   hypothetical mention does not escalate by itself;
3. a learned layer (assistant/models/triage.npz, made by evals/train_triage.py): logistic regressions over
   the message's MiniLM embedding and its words, trained on ~8k labelled messages, that say whether the
   message describes an emergency happening now, which category and disposition, or another intent.
A red-flag mention read as asserted escalates unless the learned layer is sure it is not a situation
(an educational question about the topic); the learned layer alone escalates above a recall-calibrated
threshold. Non-escalated messages that touch a red-flag topic carry a "call 911 if this is happening now"
line. Safety first: every threshold is set for recall on data the model never trained on.
"""
from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import prompts, weights
from .errors import ConfigError
from .text import Speller, ascii_text, fold_ascii, plain_words

EMERGENCY, ADVICE, GREETING, QUESTION = "emergency", "advice", "greeting", "question"
INJECTION_RULE = "prompt injection"
DISPOSITIONS = ("911", "crisis", "urgent")
DISPOSITION_MESSAGES = {"911": "escalation", "crisis": "escalation_self_harm", "urgent": "escalation_urgent"}
MODEL_PATH = weights.MODELS / "triage.npz"
# A pair of sentences of a long message that the message as a whole does not carry escalates on its own
# only at or above this learned probability (see Triager.classify).
PART_ALONE = 0.9
# The veto heads (evals/train_triage.py VETO_HEADS): a red-flag symptom lived with ("lived"), asked about as
# something that might happen ("anticipated") or told in a long story ("narrative"), against an emergency now;
# each can only veto an escalation.
VETO_HEADS = ("lived", "anticipated", "narrative")
PARTS_WORDS = 30  # a message of more words is also read two sentences at a time (Triager._parts)
# A story: a message of at least STORY_WORDS words that the learned layer reads, as a whole, as a past,
# denied or hypothetical mention (intent "context" >= STORY_CONTEXT) and not as an emergency (p below the
# model's calibrated "story" threshold; nor its last words, `tails`). Its sentences and rule findings do not
# escalate it on their own:
# "my late husband came in the color of putty and sweating through his shirt... what are the warning signs?"
# It carries the "if this is happening now, call 911" line instead.
STORY_WORDS = 60
STORY_CONTEXT = 0.5
# Veto heads of long messages (narrative: a long message told as a story, past, hypothetical or educational,
# against an emergency now): each vetoes only messages of at least STORY_WORDS words, the kind it learned from,
# only when the message's last words (`tails`) read as a story too, and its self-harm guard reads the message
# whole, as it does.
LONG_VETO_HEADS = ("narrative",)
# A reading that lets a long message off (a story; the narrative veto) is checked on the message's last TAIL_WORDS
# words too: the whole reading stops at the encoder's window (256 word pieces, about 150-190 words) and dilutes two
# late sentences in two hundred words of chatter.
TAIL_WORDS = (150, 60)
_SENTENCE_BREAK = re.compile(r"[.!?;\n]+")
_WORD_RE = re.compile(r"[a-z0-9]+")
_MARKUP = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>|</?[A-Za-z][^<>]*>", re.I | re.S)  # HTML tags: not words a patient wrote (the patterns still see them)


def tails(text: str, sizes: tuple[int, ...] = TAIL_WORDS) -> list[str]:
    """The last n words of a message longer than n, for each size n."""
    w = text.split()
    return [" ".join(w[-n:]) for n in sizes if len(w) > n]


@dataclass(frozen=True)
class Triage:
    """The triage decision: route, the rule that fired, and for red flags the category and disposition."""

    route: str
    rule: str = ""
    matched: str = ""
    message: str = ""            # the assistant/prompts/ template an escalation uses (a category's own, else its disposition's)
    category: str = ""           # red-flag category id
    disposition: str = ""        # "911" | "crisis" | "urgent" for escalations
    safety_line: bool = False    # not escalated but touches a red-flag topic: add "if this is happening now..."
    crisis_line: bool = False    # not escalated, but the crisis head is unsure: add the crisis line on top
    act: str = ""                # conversation act for greetings: hello, thanks, bye, identity, human, capabilities
    scores: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One red-flag mention and how ConText reads it."""

    category: str
    start: int
    end: int
    text: str
    negated: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False

    @property
    def asserted(self) -> bool:
        return not (self.negated or self.historical or self.hypothetical)


@dataclass(frozen=True)
class RedFlag:
    id: str
    name: str
    disposition: str
    message: str
    patterns: tuple[re.Pattern, ...]
    combine: tuple[tuple[re.Pattern, ...], ...]


def bag_of_words(text: str) -> list[str]:
    """The word features of the learned layer: unigrams and bigrams of the normalised message."""
    w = plain_words(text).split()
    return w + [f"{a} {b}" for a, b in zip(w, w[1:])]


def context_features(found: list["Finding"]) -> np.ndarray:
    """What the learned layer sees of the red-flag mentions: any asserted, negated, historical,
    hypothetical, about someone else (family); and how many categories are asserted."""
    return np.array([any(f.asserted for f in found), any(f.negated for f in found),
                     any(f.historical for f in found), any(f.hypothetical for f in found),
                     any(f.family for f in found), min(len({f.category for f in found if f.asserted}), 3) / 3],
                    dtype=np.float32)


N_CONTEXT = 6


def _is_english(word: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") >= 3.0


def _group(alternatives: str) -> re.Pattern:
    """A concept group "swell*|swollen|throw* up" as a word-bounded regex (a trailing * on a word: any ending)."""
    alts = []
    for alt in alternatives.split("|"):
        words = [re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) + r"\b" for w in alt.split()]
        alts.append(r"\W+".join(words))
    return re.compile(r"\b(?:" + "|".join(alts) + ")", re.I)


_PIPELINES: dict[tuple, object] = {}
_PIPELINE_LOCK = threading.Lock()


class Context:
    """medspaCy ConText over red-flag mentions. The spaCy pipeline is built once per rule set and shared
    (loading medspaCy takes about 4 s), on first use or by warm()."""

    def __init__(self, extra_rules: dict[str, list[str]] | None = None, patterns: dict[str, list[str]] | None = None):
        # literal phrases and regular expressions (e.g. a year: "in 2016"), keyed <category>_<direction>
        self._key = tuple(sorted((k, tuple(v), False) for k, v in (extra_rules or {}).items())) + \
            tuple(sorted((k, tuple(v), True) for k, v in (patterns or {}).items()))

    def _load(self):
        nlp = _PIPELINES.get(self._key)
        if nlp is not None:
            return nlp
        with _PIPELINE_LOCK:
            if self._key not in _PIPELINES:
                import spacy
                from medspacy.context import ConTextRule

                nlp = spacy.blank("en")
                nlp.add_pipe("sentencizer")
                ctx = nlp.add_pipe("medspacy_context", config={"rules": "default"})
                extra = []
                for key, literals, regex in self._key:
                    category, _, direction = key.rpartition("_")
                    extra += [ConTextRule(lit, category.upper(), pattern=lit if regex else None,
                                          direction=direction.upper()) for lit in literals]
                ctx.add(extra)
                _PIPELINES[self._key] = nlp
        return _PIPELINES[self._key]

    def warm(self) -> None:
        self._load()

    def read(self, text: str, spans: list[tuple[str, int, int]]) -> list[Finding]:
        """The findings for (category, start, end) spans of text, with their ConText modifiers."""
        from spacy.util import filter_spans

        nlp = self._load()
        doc = nlp.make_doc(text)
        ents = [doc.char_span(s, e, label=c, alignment_mode="expand") for c, s, e in spans]
        doc.ents = filter_spans([e for e in ents if e is not None])
        for _, proc in nlp.pipeline:
            doc = proc(doc)
        return [Finding(e.label_, e.start_char, e.end_char, e.text, bool(e._.is_negated), bool(e._.is_historical),
                        bool(e._.is_hypothetical), bool(e._.is_family)) for e in doc.ents]


class LearnedTriage:
    """The learned layer over [embedding, context features, word unigrams and bigrams]: a one-hidden-layer
    network for "is this an emergency happening now", logistic regressions for intent, category and
    disposition, and (when the model has one) a routing head: the intent classes learned with more
    non-emergency messages, which routes what is not escalated while the intent head's emergency and
    context probabilities keep their part in escalation and the safety line."""

    def __init__(self, path: Path = MODEL_PATH):
        z = weights.load(path, "evals/train_triage.py")
        self.vocab = {w: i for i, w in enumerate(z["vocab"].tolist())}
        self.bow_weight = float(z["bow_weight"])
        self.heads = {name: (z[f"{name}_coef"].astype(np.float32), z[f"{name}_bias"].astype(np.float32),
                             tuple(z[f"{name}_classes"].tolist()))
                      for name in ("intent", "category", "disposition", "routing") if f"{name}_coef" in z}
        self.hidden = (z["emergency_w1"].astype(np.float32), z["emergency_b1"].astype(np.float32),
                       z["emergency_w2"].astype(np.float32), float(z["emergency_b2"]))
        self.thresholds = {k: float(v) for k, v in zip(z["threshold_names"].tolist(), z["threshold_values"])}
        self.dim = self.heads["intent"][0].shape[1] - len(self.vocab) - N_CONTEXT
        # binary heads beside them (a model trained before one has none): "crisis", suicidal or self-harm intent
        # against everything else; "topic", a message about a red-flag category (an emergency or a mention);
        # the veto heads (VETO_HEADS), a red-flag symptom told as not happening now
        self.binary = {name: (z[f"{name}_coef"].astype(np.float32), z[f"{name}_bias"].astype(np.float32))
                       for name in ("crisis", "topic") + VETO_HEADS if f"{name}_coef" in z}
        # every head reads the same message's words: each text is tokenised once (the arrays are read-only)
        self._word_features = functools.lru_cache(maxsize=512)(self._word_indices)

    def _linear(self, coef: np.ndarray, bias: np.ndarray, vecs: np.ndarray, texts: list[str],
                ctx: np.ndarray) -> np.ndarray:
        """coef (k, features) applied to each message's features, plus bias."""
        d = self.dim + N_CONTEXT
        out = vecs @ coef[:, : self.dim].T + ctx @ coef[:, self.dim : d].T + bias
        for row, text in enumerate(texts):
            idx = self._word_features(text)
            if len(idx):
                out[row] += coef[:, d + idx].sum(axis=1) * (self.bow_weight / np.sqrt(len(idx)))
        return out

    def _word_indices(self, text: str) -> np.ndarray:
        """The vocabulary indices of a text's word features, sorted (read through `_word_features`)."""
        return np.array(sorted({self.vocab[w] for w in bag_of_words(text) if w in self.vocab}), dtype=np.int64)

    def emergency(self, vecs: np.ndarray, texts: list[str], ctx: np.ndarray) -> np.ndarray:
        """P(an emergency happening now) for each (vector, text)."""
        w1, b1, w2, b2 = self.hidden
        h = np.maximum(self._linear(w1, b1, vecs, texts, ctx), 0.0)
        return 1.0 / (1.0 + np.exp(-(h @ w2 + b2)))

    def p(self, head: str, vecs: np.ndarray, texts: list[str], ctx: np.ndarray) -> np.ndarray:
        """P of a binary head ("crisis", "topic") for each (vector, text); the model must have it."""
        z = self._linear(*self.binary[head], vecs, texts, ctx)[:, 0]
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))

    def probs(self, head: str, vecs: np.ndarray, texts: list[str], ctx: np.ndarray) -> np.ndarray:
        """Class probabilities of one head (intent, category, disposition); ctx is the message's context_features."""
        coef, bias, _ = self.heads[head]
        z = self._linear(coef, bias, vecs, texts, ctx)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def classes(self, head: str) -> tuple[str, ...]:
        return self.heads[head][2]


class Triager:
    """Red-flag rules read in context, a learned layer, then injection, advice and conversation rules."""

    def __init__(self, prompts_dir: str, model_path: Path | str | None = None, context: Context | None = None,
                 learned: bool = True):
        data = prompts.toml(prompts_dir, "triage.toml")
        flags = prompts.toml(prompts_dir, "redflags.toml")
        self.keywords = tuple(sorted(set(flags.get("keywords", []))))
        self.redflags = tuple(self._redflag(r) for r in flags["redflag"])
        self.context = context or Context(flags.get("context", {}), flags.get("context_patterns", {}))
        self.advice = [(r["name"], tuple(re.compile(p, re.I) for p in r["patterns"])) for r in data["advice"]["rules"]]
        self.greeting = tuple(re.compile(p, re.I) for p in data["greeting"]["patterns"])
        self.greeting_words = frozenset(data["greeting"].get("words", []))
        self.acts = [(name, re.compile(p, re.I)) for name, p in data["greeting"].get("acts", {}).items()]
        self.learned = LearnedTriage(Path(model_path) if model_path else MODEL_PATH) if learned else None
        # Misspelt keywords of 4+ letters, one edit off (two from 7 letters), same first letter.
        self.speller = Speller(self.keywords, min_length=4, long_word=7, same_first=True, skip=_is_english)

    @staticmethod
    def _redflag(raw: dict) -> RedFlag:
        disposition = raw.get("disposition", "911")
        if disposition not in DISPOSITIONS:
            raise ConfigError(f"redflags.toml: {raw.get('id')}: disposition {disposition!r}; "
                              f"choose one of {', '.join(DISPOSITIONS)}.")
        return RedFlag(raw["id"], raw.get("name", raw["id"]), disposition,
                       raw.get("message", ""),
                       tuple(re.compile(p, re.I | re.S) for p in raw.get("patterns", [])),
                       tuple(tuple(_group(g) for g in rule) for rule in raw.get("combine", [])))

    # ---- words ----------------------------------------------------------------------------
    def correct(self, word: str) -> str:
        """The red-flag keyword a misspelt word stands for, or the word itself (real English
        words such as "checking" are never "corrected" into "choking")."""
        return self.speller.correct(word)

    def reading(self, text: str) -> str:
        """Lowercase, apostrophes dropped, misspelt keywords corrected; punctuation kept for ConText."""
        return _WORD_RE.sub(lambda m: self.correct(m.group()), fold_ascii(text))

    # ---- red flags ------------------------------------------------------------------------
    def mentions(self, reading: str) -> list[tuple[str, int, int]]:
        """(category, start, end) of every red-flag pattern or concept combination in the text."""
        spans = []
        for flag in self.redflags:
            for pat in flag.patterns:
                for m in pat.finditer(reading):
                    if m.end() > m.start():
                        spans.append((flag.id, m.start(), m.end()))
                    elif m.start() == 0:  # a look-ahead rule over the whole message: its first word
                        first = _WORD_RE.search(reading)
                        if first:
                            spans.append((flag.id, first.start(), first.end()))
                    break
            pos = 0
            for piece in _SENTENCE_BREAK.split(reading):
                start = reading.find(piece, pos)
                pos = start + len(piece)
                for rule in flag.combine:
                    found = [g.search(piece) for g in rule]
                    if all(found):
                        s, e = min(m.start() for m in found), max(m.end() for m in found)
                        spans.append((flag.id, start + s, start + e))
        return spans

    def findings(self, text: str) -> list[Finding]:
        reading = self.reading(text)
        spans = self.mentions(reading)
        return self.context.read(reading, spans) if spans else []

    def flag(self, category: str) -> RedFlag | None:
        return next((f for f in self.redflags if f.id == category), None)

    # ---- the decision ---------------------------------------------------------------------
    def classify(self, question: str, embed=None, vectors=None) -> Triage:
        """The route for a message. `embed(text)` gives its query vector; `vectors(texts)` (optional) the
        vectors of several texts at once, used to read the sentences of a long message one by one.
        A message the crisis head reads as suicidal or self-harm intent past its escalation bar is escalated
        to the crisis line whatever else it reads as (a question, a greeting, a story); one past its line
        bar (for a conversation act, its own: "greeting_crisis_line") keeps its route with the crisis line on top."""
        tri = self._classify(question, embed, vectors)
        p = tri.scores.get("p_crisis")
        t = self.learned.thresholds if self.learned else {}
        if p is None or tri.route == EMERGENCY:
            return tri
        if tri.scores.get("crisis_vetoed"):
            return replace(tri, crisis_line=True)
        if p >= t.get("crisis", 1.01):
            return self._escalation("self_harm", "crisis", "crisis head", tri.scores)
        # a conversation act ("thanks, bye", "I don't understand") gets the crisis line on its own, higher bar
        line = t.get("crisis_line", 1.01)
        if tri.route == GREETING:
            line = t.get("greeting_crisis_line", line)
        if p >= line:
            return replace(tri, crisis_line=True)
        return tri

    def _classify(self, question: str, embed=None, vectors=None) -> Triage:
        text = ascii_text(question)  # the message as triage reads it (the embedding's input too)
        plain = plain_words(text)
        found = self.findings(text) if plain else []
        asserted = [f for f in found if f.asserted]
        scores: dict = {"findings": [(f.category, f.text, "asserted" if f.asserted else "context") for f in found]}
        p_em, p_whole, intent_em, intents, gate, category, dis_p = 0.0, 0.0, 0.0, {}, {}, "", {}
        crisis_whole = 0.0  # the crisis head on the whole message (p_crisis: the most any reading gives)
        story = False

        def read_all(items: list[str]) -> np.ndarray:
            return vectors(items) if vectors is not None else np.vstack([embed(x) for x in items])

        tail_vecs: dict = {}  # the message's last words (`tails`), encoded once for the story rule and the vetoes

        def read_tails() -> tuple[list[str], np.ndarray | None]:
            if "ends" not in tail_vecs:
                ends = tails(texts[0])
                tail_vecs["ends"] = (ends, read_all(ends) if ends else None)
            return tail_vecs["ends"]

        if embed is not None and plain:
            shown = " ".join(_MARKUP.sub(" ", text).split()) if "<" in text else text
            texts = [shown or text]
            vecs = embed(texts[0])[None, :]
            ctx = context_features(found)
            p_all = self.learned.emergency(vecs, texts, ctx)
            p_int = self.learned.probs("intent", vecs, texts, ctx)
            parts = self._parts(texts[0])
            if len(parts) > 1:
                # A story is known from the whole reading and its last words (TAIL_WORDS): its sentence pairs,
                # which cannot escalate it, are then not encoded (most of a long message's triage time).
                k_context = self.learned.classes("intent").index("context")
                story_bar = self.learned.thresholds.get("story", 0.0)
                story = (len(text.split()) >= STORY_WORDS and p_int[0, k_context] >= STORY_CONTEXT
                         and float(p_all[0]) < story_bar)
                ends, ends_vecs = read_tails() if story else ([], None)
                if ends:
                    scores["p_emergency_tails"] = round(float(self.learned.emergency(ends_vecs, ends, ctx).max()), 4)
                    story = scores["p_emergency_tails"] < story_bar
                if not story:
                    more = read_all(parts)
                    p_all = np.concatenate([p_all, self.learned.emergency(more, parts, ctx)])
                    p_int = np.vstack([p_int, self.learned.probs("intent", more, parts, ctx)])
                    texts, vecs = texts + parts, np.vstack([vecs, more])
            best = int(np.argmax(p_all))
            p_em, p_whole = float(p_all[best]), float(p_all[0])
            for head in self.learned.binary:  # p_crisis, p_topic: the most any reading of the message gives;
                read = slice(1) if head in VETO_HEADS else slice(None)  # a veto head's, which only vetoes: the whole message
                p_head = self.learned.p(head, vecs[read], texts[read], ctx)
                scores[f"p_{head}"] = round(float(p_head.max()), 4)
                crisis_whole = float(p_head[0]) if head == "crisis" else crisis_whole
            one = (vecs[best:best + 1], texts[best:best + 1], ctx)
            gate = dict(zip(self.learned.classes("intent"), p_int[0].tolist()))  # escalation and the safety line
            intent_em = float(p_int[:, self.learned.classes("intent").index("emergency")].max())
            intents = gate  # routing of what is not escalated
            if "routing" in self.learned.heads:
                p_route = self.learned.probs("routing", vecs[:1], texts[:1], ctx)
                intents = dict(zip(self.learned.classes("routing"), p_route[0].tolist()))
            category = self.learned.classes("category")[int(np.argmax(self.learned.probs("category", *one)[0]))]
            dis_p = dict(zip(self.learned.classes("disposition"), self.learned.probs("disposition", *one)[0].tolist()))
            scores |= {"p_emergency": round(p_em, 4), "intent": {k: round(v, 4) for k, v in intents.items()},
                       "disposition": {k: round(v, 4) for k, v in dis_p.items()}}
        t = self.learned.thresholds if self.learned else {}
        learned_on = embed is not None and bool(plain) and self.learned is not None
        # With no red flag read as asserted, the learned layer alone needs more to escalate a message that is
        # plainly an injection attempt or a conversation act ("ignore your rules and..." / "thanks, bye").
        plain_act = self._injection(plain, {}) or self._act(plain, {}) != ""
        learned_bar = max(t.get("emergency", 1.0), 0.5) if plain_act else t.get("emergency", 1.0)
        learned = learned_on and p_em >= learned_bar and intent_em >= t["emergency_intent"]
        # A long message read as a whole is not an emergency, but one pair of its sentences looks like one:
        # with no red flag asserted, that pair alone escalates only when the layer is near-certain of it;
        # otherwise the reply carries the "if this is happening now" line. (Tuning sets: every long
        # emergency the layer alone caught scored >= 0.99 as a whole; the educational rambles it escalated
        # scored <= 0.02 as a whole and 0.23-0.78 on one pair.)
        part_only = learned and not asserted and p_whole < learned_bar and p_em < PART_ALONE
        learned = learned and not part_only
        # The network alone, with no red flag read anywhere in the message, on a message the topic head puts
        # below every such emergency of its training out of fold ("will the pain go away?"): the lines instead.
        topic_vetoed = learned and not found and scores.get("p_topic", 1.0) < t.get("topic_veto", 0.0)
        if topic_vetoed:
            learned = False
            scores["topic_vetoed"] = True
            if category == "self_harm":
                scores["crisis_vetoed"] = True
        escalate = (learned or (asserted and (not learned_on or p_em >= t["rule_veto"]))) and not story
        if story:
            scores["story"] = True
        # A red-flag symptom the message tells as not happening now, read so by a veto head past its bar (above
        # every emergency of its training out of fold): lived with (chronic, recurring, managed: "my
        # husband must stop on the stairs to get air since his heart failure was diagnosed, does rehab help?") or
        # asked about as what might happen ("will I feel dizzy afterwards?") or a long story (narrative): the 911
        # line, not an escalation. Never for a message read as suicidal or self-harm intent (by the rules, the
        # category head, or the crisis head at its line bar). For the narrative head, which reads a long message
        # whole, the crisis head reads it whole too: one sentence pair read alone often looks like a farewell (a
        # sign-off thanking and apologising read 0.87 on its own). Any reading at the crisis head's escalation bar
        # still escalates (classify), and any at its line bar still gets the crisis line.
        said = category == "self_harm" or any(f.category == "self_harm" for f in asserted)
        harm = said or scores.get("p_crisis", 0.0) >= t.get("crisis_line", 0.0)
        harm_whole = said or crisis_whole >= t.get("crisis_line", 0.0)
        long = len(text.split()) >= STORY_WORDS
        vetoed = [head for head in VETO_HEADS if escalate
                  and (not harm_whole and long if head in LONG_VETO_HEADS else not harm)
                  and scores.get(f"p_{head}", 0.0) >= t.get(f"{head}_veto", 1.01)]
        for head in [h for h in vetoed if h in LONG_VETO_HEADS]:
            ends, ends_vecs = read_tails()
            if ends:
                scores[f"p_{head}_tails"] = round(float(self.learned.p(head, ends_vecs, ends, ctx).min()), 4)
                if scores[f"p_{head}_tails"] < t[f"{head}_veto"]:
                    vetoed.remove(head)
        if vetoed:
            escalate = False
            scores |= {f"{head}_vetoed": True for head in vetoed}
        # The learned layer alone reads suicidal intent that the crisis head, which learned the boundary from
        # messages worded alike ("will the pain go away?" / "I want the pain to stop for good"), puts below
        # the bar every crisis message of its training clears out of fold: the crisis line, not an escalation
        # (never for an attempt under way, which the disposition head reads as a 911 emergency).
        if (escalate and not asserted and category == "self_harm" and "p_crisis" in scores
                and scores["p_crisis"] < t.get("crisis_line", 0.0) and self._grade("crisis", dis_p) == "crisis"):
            escalate = False
            scores["crisis_vetoed"] = True
        if escalate:
            if asserted:
                f = max(asserted, key=lambda f: self._rank(f.category))
                category, matched = f.category, f.text
            else:
                matched = "learned layer"
            flag = self.flag(category)
            return self._escalation(category, self._grade(flag.disposition if flag else "911", dis_p), matched, scores)
        # The "if this is happening now, call 911" line: a red-flag mention, a message read as about a red-flag
        # topic (an educational question about strokes), or one the layer is unsure is an emergency.
        line = bool(found) or part_only or story or topic_vetoed or bool(vetoed) or (learned_on and (
            p_em >= t["safety_line"] or gate.get("context", 0.0) >= 0.5 or scores.get("p_topic", 0.0) >= t.get("topic_line", 1.01)))
        if self._injection(plain, intents):
            return Triage(ADVICE, INJECTION_RULE, plain, safety_line=line, scores=scores)
        rule = self.advice_rule(plain)
        # A rule's match is vetoed when the routing layer is all but sure the message is not a request for
        # personal advice ("how many times do they have to do it?", "...for my knee. What is in the shot?").
        if rule and learned_on and intents.get("advice", 1.0) < t.get("advice_rule_veto", 0.0):
            scores["advice_rule_vetoed"] = rule[0]
        elif rule:
            return Triage(ADVICE, rule[0], rule[1], safety_line=line, scores=scores)
        if learned_on and intents.get("advice", 0.0) >= t["advice"]:
            return Triage(ADVICE, "is it right for me", "learned layer", safety_line=line, scores=scores)
        act = self._act(plain, intents)
        if act:
            return Triage(GREETING, "greeting", plain, act=act, scores=scores)
        return Triage(QUESTION, safety_line=line, scores=scores)

    def _escalation(self, category: str, disposition: str, matched: str, scores: dict) -> Triage:
        """The emergency route for a category: its name and reply (the category's own, else its disposition's)."""
        flag = self.flag(category)
        name = flag.name if flag else category
        message = (flag.message if flag and flag.message else "") or DISPOSITION_MESSAGES[disposition]
        return Triage(EMERGENCY, f"{name} ({disposition})", matched, message, category, disposition, scores=scores)

    @staticmethod
    def _parts(text: str) -> list[str]:
        """The sentences of a long message (pairs of them), so an emergency buried in a ramble is read alone."""
        if len(text.split()) <= PARTS_WORDS:
            return []
        sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if len(s.split()) >= 2]
        if len(sents) <= 1:
            return []
        return [" ".join(sents[i:i + 2]) for i in range(len(sents) - 1)]

    def _rank(self, category: str) -> int:
        flag = self.flag(category)
        return {"911": 2, "crisis": 1, "urgent": 0}[flag.disposition] if flag else 0

    def _grade(self, rule: str, probs: dict[str, float]) -> str:
        """The disposition: the category's own, made "urgent" only when the learned layer is confident the
        situation is not life-threatening, and 911 whenever it reads one (safety first)."""
        if not probs:  # rules alone: the category's own disposition
            return rule
        p911, purgent = probs.get("911", 1.0), probs.get("urgent", 0.0)
        if rule == "crisis":
            return "911" if p911 >= 0.5 else "crisis"
        if purgent >= self.learned.thresholds["urgent"] and p911 < 1 - self.learned.thresholds["urgent"]:
            return "urgent"
        return "urgent" if rule == "urgent" and p911 < self.learned.thresholds.get("urgent_rule", 0.5) else "911"

    def advice_rule(self, plain: str) -> tuple[str, str] | None:
        """(rule name, matched words) of the first personal-advice rule the normalised message matches, the
        injection rule aside; None when none does."""
        for name, patterns in self.advice:
            if name == INJECTION_RULE:
                continue
            for pat in patterns:
                m = pat.search(plain)
                if m:
                    return name, m.group(0).strip()
        return None

    def _injection(self, plain: str, intents: dict) -> bool:
        for name, patterns in self.advice:
            if name == INJECTION_RULE and any(p.search(plain) for p in patterns):
                return True
        return bool(intents) and intents.get("injection", 0.0) >= self.learned.thresholds["injection"]

    def _act(self, plain: str, intents: dict) -> str:
        """The conversation act of a message that is not a question about health, else ""."""
        squeezed = re.sub(r"(\w)\1{2,}", r"\1", plain)  # "hiii" -> "hi", "hellooo" -> "hello"
        rule = not plain or set(squeezed.split()) <= self.greeting_words or any(p.search(squeezed) for p in self.greeting)
        learned = bool(intents) and intents.get("conversation", 0.0) >= self.learned.thresholds["conversation"] \
            and len(plain.split()) <= 20
        if not (rule or learned):
            return ""
        return next((name for name, p in self.acts if p.search(squeezed)), "hello")
