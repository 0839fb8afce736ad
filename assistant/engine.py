"""The Assistant: triage -> condense follow-up -> hybrid retrieve -> abstain? -> compose -> framing."""
from __future__ import annotations

import html
import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import prompts
from .answer_sentences import SentenceScorer
from .compose import cite, select_sentences, sources_block, with_framing
from .decide import ABSTAIN, ANSWER, CLOSEST, AnswerModel, Decision
from .embedding import Embedder
from .errors import InputError
from .followup import (condense, content_words, conversation_text, leans_on_history, question_focus, refers_back,
                       user_turns, with_subject)
from .index import load_index
from .language import detect as detect_language
from .retrieval import Lexicon, RetrievalConfig, article_first, search
from .settings import Settings, load_settings
from .text import clean, defined_acronyms, plain_words, stem, words
from .triage import ADVICE, EMERGENCY, GREETING, Triager
from .types import Citation, Hit, Reply

# A follow-up read alone replaces the carried-context reading when its answer probability is this much higher.
ALONE_MARGIN = 0.1
FOLLOWUP_WORDS = 12  # a message of at most this many words naming no subject may be a follow-up
UNKNOWN_SUBJECT_COVERAGE = 0.5  # earlier turns whose words the corpus mostly lacks are on an unknown subject
COMMON_WORD_ZIPF = 4.0  # an acronym at least this frequent as an English word (wordfreq) is read as the word
# A follow-up's passages are searched this deep for those of the article its conversation is about.
CONTEXT_POOL = 40
ROUTES = ("answer", "abstain", "emergency", "advice", "greeting")


def clean_history(history: object, limit: int) -> list[dict]:
    """Well-formed {"role", "content"} turns only, the latest `limit` user turns and their replies."""
    if not isinstance(history, (list, tuple)):
        return []
    turns = [  # only the tail is read, each turn cut before cleaning: a huge history costs no more than a short one
        {"role": m["role"], "content": clean(m["content"][:4000])}
        for m in history[-4 * max(limit, 1):]
        if isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)
    ]
    users = [i for i, m in enumerate(turns) if m["role"] == "user"]
    if len(users) > limit:
        turns = turns[users[-limit]:]
    return turns


def title_acronyms(titles, chunks, salient) -> set[str]:
    """The acronyms the articles define for a title ("... deep vein thrombosis (DVT)": "my husband has a DVT. What
    do they usually do for it?" is about that article): those whose long form holds every salient word of an
    article's title. Acronyms that are common words ("ADD", "ART", "ALL") are left out."""
    from wordfreq import zipf_frequency

    by_word: dict[str, list[frozenset[str]]] = {}
    for t in titles:
        key = frozenset(stem(w) for w in words(t or "") if salient(w))
        for w in key:
            by_word.setdefault(w, []).append(key)
    found: set[str] = set()
    for c in chunks:
        if "(" not in c.text:
            continue
        for acronym, long in defined_acronyms(c.text).items():
            if acronym in found or zipf_frequency(acronym, "en") >= COMMON_WORD_ZIPF:
                continue
            have = {stem(w) for w in words(long)}
            if any(key <= have for w in have for key in by_word.get(w, ())):
                found.add(acronym)
    return found


class Assistant:
    """Answers patient questions from a loaded index; thread-safe for concurrent ask calls."""

    def __init__(self, index, embedder: Embedder, settings: Settings, chat_model=None):
        self.index = index
        self.embedder = embedder
        self.settings = settings
        coverage = prompts.toml(settings.prompts_dir, "coverage.toml")
        # Shared lay words (assistant/prompts/) plus the clinic's own for this corpus (its profile.toml, in the index).
        profile = index.profile
        synonyms = prompts.toml(settings.prompts_dir, "synonyms.toml").get("terms", {}) | profile.get("synonyms", {})
        self.lexicon = Lexicon(index, synonyms, coverage)
        self.triager = Triager(settings.prompts_dir)
        self._chat_model = chat_model
        self._answer_types = {
            name: (re.compile(t["question"], re.I), re.compile(t["answer"], re.I))
            for name, t in (coverage.get("answer_types", {}) | profile.get("answer_types", {})).items()}
        flags = [str(f) for f in profile.get("red_flags", []) if str(f).strip()]
        self._red_flags = re.compile(r"\b(?:" + "|".join(re.escape(f) for f in flags) + r")\b", re.I) if flags else None
        self._answer_model: AnswerModel | None = None  # loaded on first use (answer_decision = "learned")
        self._sentence_scorer = SentenceScorer() if settings.sentence_model and index.sentences is not None else None
        if self._sentence_scorer and not self._sentence_scorer.fits(embedder.model_id):
            self._sentence_scorer = None  # trained on another encoder's vectors: the rule and ordering alone
        # Words of the articles' titles: what a follow-up's "it" may name (a treatment, a condition).
        titles = set(index.manifest.get("titles", {}).values())
        salient = lambda w: self.lexicon.salience(w) > 0  # noqa: E731
        self._title_stems = {stem(w) for t in titles for w in words(t or "") if salient(w)}
        self._title_acronyms = title_acronyms(titles, index.chunks, salient)
        self.retrieval = RetrievalConfig.from_settings(settings)  # one ranking configuration for every search
        self._languages = {
            code: {k: ([re.compile(x, re.I) for x in v] if isinstance(v, list) else v) for k, v in rules.items()}
            for code, rules in prompts.toml(settings.prompts_dir, "languages.toml").items()}
        self._texts = {name: prompts.text(settings.prompts_dir, f"{name}.md") for name in (
            "framing", "escalation", "escalation_self_harm", "escalation_urgent", "safety_line", "crisis_line", "greeting",
            "greeting_thanks", "greeting_bye", "greeting_identity", "greeting_human", "abstain", "closest", "advice",
            "advice_injection")}

    @classmethod
    def load(cls, index_dir: str | Path = "index", settings: Settings | None = None,
             chat_model=None, embedder: Embedder | None = None) -> "Assistant":
        """Load the index (clear error naming `assistant index` when it is missing) and the model."""
        settings = settings or load_settings()
        embedder = embedder or Embedder(settings.model, query_encoder=settings.query_encoder)
        index = load_index(index_dir, embedder.model_id)
        return cls(index, embedder, settings, chat_model)

    # ---- retrieval -------------------------------------------------------------------------
    def retrieve(self, query: str, k: int = 20, mode: str | None = None) -> list[Hit]:
        """Ranked passages for a query, no triage."""
        if not isinstance(query, str):
            raise InputError("The query must be text.")
        query = clean(query).strip()[: self.settings.max_question_chars]
        if not query:
            return []
        config = replace(self.retrieval, pool=max(self.retrieval.pool, k), mode=mode or self.retrieval.mode)
        return search(self.index, self.embedder, self.lexicon, query, k=k, config=config)

    def as_retriever(self, k: int = 5):
        """This assistant's hybrid retriever as a langchain-core BaseRetriever (langchain-core loads on first use)."""
        from .langchain_adapter import AssistantRetriever
        return AssistantRetriever(assistant=self, k=k)

    def topics(self, limit: int = 4) -> list[str]:
        """What the corpus covers: a one-article corpus's section headings in order; a library's article
        titles, spread evenly over all of its articles."""
        by_doc: dict[str, dict[str, None]] = {}
        for c in self.index.chunks:
            by_doc.setdefault(c.source, {}).setdefault(c.section or c.title, None)
        if len(by_doc) <= 1:
            return [t for d in by_doc.values() for t in d][:limit]
        titles = list(dict.fromkeys(self.index.manifest.get("titles", {}).get(src) or next(iter(secs))
                                    for src, secs in by_doc.items()))
        step = max(1.0, len(titles) / max(limit, 1))
        return [titles[int(i * step)] for i in range(min(limit, len(titles)))]

    # ---- replies ---------------------------------------------------------------------------
    def _fill(self, name: str, **extra) -> str:
        s = self.settings
        values = {"emergency_number": s.emergency_number, "crisis_line": s.crisis_line,
                  "clinic_contact": s.clinic_contact, "clinic_name": s.clinic_name, **extra}
        return self._texts[name].format(**values)

    def _other_language(self, q: str, lang: str, base: dict) -> Reply:
        """A message in another language: its emergency checks (assistant/prompts/languages.toml), then, in that
        language where the clinic has the words, that answers are in English, the emergency number and
        the clinic's contact."""
        rules = self._languages.get(lang) or self._languages.get("other", {})
        folded = plain_words(q)  # the words lowercased, accents and punctuation dropped
        fill = lambda text: text.format(emergency_number=self.settings.emergency_number,  # noqa: E731
                                        clinic_contact=self.settings.clinic_contact)
        found = lambda key: any(p.search(folded) for p in rules.get(key, []))  # noqa: E731
        base = base | {"triage": f"language {lang}", "safety_line": False, "crisis_line": False}
        if found("emergency") and not found("not_now"):
            harm = found("self_harm")
            local = rules.get("escalation_self_harm" if harm else "escalation", "")
            english = self._fill("escalation_self_harm" if harm else "escalation")
            body = (fill(local) + "\n\n" if local else "") + english
            return self._reply("emergency", body, standalone_question=q,
                               **base | {"triage": f"language {lang}: {'self-harm' if harm else 'emergency'}"})
        route = "greeting" if found("greeting") else "abstain"
        body = fill(rules.get("reply") or self._languages["other"]["reply"])
        return self._reply(route, body, standalone_question=q, **base)

    def safety_line(self) -> str:
        """The line put on top of a reply about a red-flag topic that is not an escalation."""
        return self._fill("safety_line")

    def crisis_line(self) -> str:
        """The line put on top of a reply the crisis head is unsure about (not an escalation)."""
        return self._fill("crisis_line")

    def _reply(self, route: str, body: str, safety_line: bool = False, crisis_line: bool = False, **kw) -> Reply:
        if crisis_line and route != "emergency":
            body = self.crisis_line() + "\n\n" + body
        if safety_line and route != "emergency":
            body = self.safety_line() + "\n\n" + body
        return Reply(route=route, text=with_framing(body, route, self._texts["framing"]), **kw)

    def _abstain_body(self, hits: list[Hit]) -> str:
        near = list(dict.fromkeys(h.section or h.title for h in hits))[:3] or self.topics(3)
        topics_line = ("\n\nTopics our materials do cover:\n" + "\n".join(f"- {t}" for t in near)) if near else ""
        return self._fill("abstain", topics_line=topics_line)

    def _answer_body(self, question: str, hits: list[Hit], probs: dict | None = None) -> tuple[str, list[Citation]]:
        if self.settings.llm_model or self._chat_model is not None:
            from .llm import llm_answer

            result = llm_answer(self, question, hits)
            if result is not None:
                return result
        chosen = select_sentences(question, hits, self.lexicon, self.settings.answer_words, probs=probs)
        body, citations = cite(chosen, hits)
        return body, citations

    @property
    def answer_model(self) -> AnswerModel:
        """The learned answer decision (ConfigError naming the fix when its file is missing or stale)."""
        if self._answer_model is None:
            self._answer_model = AnswerModel()
        return self._answer_model

    def answer_cutoffs(self) -> tuple[float, float]:
        """(answer, closest) cut-offs of the learned decision: settings, else the index's calibration,
        else the trained model's."""
        s, model = self.settings, self.answer_model
        answer = s.answer_cutoff if s.answer_cutoff >= 0 else self.index.calibration.get("answer_cutoff", model.answer)
        return float(answer), float(s.closest_cutoff if s.closest_cutoff >= 0 else model.closest)

    def decide(self, question: str, hits: list[Hit], vec: np.ndarray | None = None) -> Decision:
        """Whether the retrieved passages answer the question: answer, closest (a near miss: the nearest
        passages, hedged) or abstain, with the signals behind it. By the rule (`covered`; p_answer 1, 0.5
        or 0 for the three outcomes) or, with answer_decision = "learned", by assistant/decide.py. The
        answer-sentence model's p for the top passages' sentences rides along for composing the answer."""
        if self.settings.answer_decision == "learned":
            answer, closest = self.answer_cutoffs()
            return self.answer_model.decide(question, hits, self.lexicon, answer=answer, closest=closest)
        vec = self.embedder.encode_query(question) if vec is None else vec
        _, d_scores = self.index.dense_search(vec, 1)
        # Coverage is judged on what the message asks (its question sentences and the subject they leave
        # unnamed), not its asides.
        asked = question_focus(question, self.is_entity_word, min_words=0, subject_only=True)
        probs = self._sentence_scorer.score_hits(asked, vec, hits, self.index) if self._sentence_scorer else {}
        ok, signals = self.covered(asked, hits, float(d_scores[0]) if len(d_scores) else 0.0,
                                   max(probs.values()) if probs else None)
        # The library knows the words but the passages found lack some: the closest passages, hedged.
        outcome = ANSWER if ok else CLOSEST if signals.pop("near") else ABSTAIN
        return Decision(outcome, 1.0 if ok else 0.5 if outcome == CLOSEST else 0.0, signals, probs)

    def covered(self, question: str, hits: list[Hit], top_dense: float,
                answer_p: float | None = None) -> tuple[bool, dict]:
        """Whether the sources cover the question, with the signals behind the decision: the question's
        salient words are in the corpus and in the passages retrieved for it (a large library mentions
        nearly every word somewhere), each weighed together with how closely one sentence of those
        passages matches it; and, with the answer-sentence model (`answer_p`, its best p over the top
        passages), that one of their sentences answers it."""
        s = self.settings
        coverage, missing = self.lexicon.coverage(question)
        in_passages, missing_here = self.lexicon.coverage(question, [h.text for h in hits[:3]])
        top_sentence = max((h.sentence_score for h in hits if h.sentence_score is not None), default=None)
        near = bool(hits) and top_dense >= s.abstain_min_dense
        if top_sentence is None:  # an index without sentence vectors: the words alone decide
            ok = near and coverage >= s.abstain_min_coverage
            near = False
        else:
            near = near and coverage + s.abstain_sentence_weight * top_sentence >= s.abstain_min_score
            ok = near and in_passages + s.passage_sentence_weight * top_sentence >= s.passage_min_score
        if answer_p is not None:
            ok = bool(hits) and top_dense >= s.abstain_min_dense and (
                (ok and answer_p >= s.answer_min_sentence_p) or answer_p >= s.answer_sure_sentence_p)
        return ok, {"near": near and not ok, "answer_p": None if answer_p is None else round(answer_p, 4), "top_dense": round(top_dense, 4), "coverage": round(coverage, 4), "missing_words": missing,
                    "passage_coverage": round(in_passages, 4), "missing_in_passages": missing_here,
                    "top_sentence": None if top_sentence is None else round(top_sentence, 4)}

    def _closest_body(self, question: str, hits: list[Hit], probs: dict | None = None) -> tuple[str, list[Citation]]:
        """For a near miss: the nearest sentences, cited, under a hedge that they may not answer it."""
        chosen = select_sentences(question, hits, self.lexicon, min(self.settings.answer_words, 60), max_passages=2,
                                  probs=probs)
        body, citations = cite(chosen, hits)
        if not body:
            return self._abstain_body(hits), []
        return self._fill("closest", passages=body, sources=sources_block(citations)), citations

    def unknown_subject(self, focus: str, standalone: str, history: list[dict]) -> str:
        """The words of the conversation's last two user turns that no article mentions, for a message naming
        no article's subject that is short, leans on those turns or refers back ("that", "it"), when they name
        none either and the corpus lacks most of their words ("The coach said it was probably a concussion." /
        "How do the doctors tell for certain?" on a corpus without concussions). Capitalised words inside
        a sentence (people's names) are left out. "" otherwise."""
        if not history or any(self.is_entity_word(w) for w in content_words(focus)) or (
                not leans_on_history(focus, standalone, history) and not refers_back(focus)
                and len(focus.split()) > FOLLOWUP_WORDS):
            return ""
        text = " ".join(user_turns(history)[-2:])
        if any(self.is_entity_word(w) for w in content_words(text)):
            return ""
        names = {m.group(1).lower() for sent in re.split(r"[.!?\n]+", text) for w in sent.split()[1:]
                 if (m := re.fullmatch(r"([A-Z][a-z]+)[,;:]?", w))}
        coverage, missing = self.lexicon.coverage(text)
        if coverage >= UNKNOWN_SUBJECT_COVERAGE:  # mostly known words: the subject is known, the rest asides
            return ""
        return " ".join(w for w in missing if w not in names)

    def is_entity_word(self, word: str) -> bool:
        """A word naming what an article is about (it is in an article's title)."""
        return (stem(word) in self._title_stems or stem(self.lexicon.correct(word)) in self._title_stems
                or word.lower() in self._title_acronyms)

    def missing_answer_type(self, question: str, answer: str) -> str | None:
        """The kind of fact the question asks for (assistant/prompts/coverage.toml answer_types) when the answer has none."""
        for name, (asks, has) in self._answer_types.items():
            if asks.search(question) and not has.search(answer):
                return name
        return None

    def ask(self, question: str, history: list[dict] | None = None) -> Reply:
        """Answer one patient message, given the conversation so far."""
        if not isinstance(question, str):
            raise InputError("The question must be text.")
        t0 = time.perf_counter()
        timings: dict[str, float] = {}
        s = self.settings
        q = clean(question).strip()
        history = clean_history(history, s.history_turns)

        def lap(name: str, start: float) -> float:
            now = time.perf_counter()
            timings[name] = round((now - start) * 1000, 2)
            return now

        vec_cache: dict[str, np.ndarray] = {}

        def embed(text: str) -> np.ndarray:
            if text not in vec_cache:
                vec_cache[text] = self.embedder.encode_query(text)
            return vec_cache[text]

        too_long = len(q) > s.max_question_chars
        # An over-long message is refused below, but still read for an emergency first: its start and its
        # end, so 200,000 characters cost no more than a long question (the rules are hundreds of regexes).
        n = s.max_question_chars
        tri = self.triager.classify(q[:n] + "\n...\n" + q[-n:] if too_long else q,
                                    embed=None if too_long or not q else embed, vectors=self.embedder.encode_queries)
        t = lap("triage", t0)
        line = tri.safety_line or bool(self._red_flags and self._red_flags.search(q))
        base = {"question": q, "triage": tri.rule, "timings": timings, "safety_line": line, "crisis_line": tri.crisis_line,
                "signals": {"triage": tri.scores}}
        if tri.route == EMERGENCY:
            return self._reply("emergency", self._fill(tri.message), standalone_question=q, **base)
        lang = detect_language(q) if q and not too_long else "en"
        if lang != "en":
            return self._other_language(q, lang, base)
        if too_long:
            body = (f"Your message is {len(q):,} characters long; please ask in under "
                    f"{s.max_question_chars:,} characters so I can find the right passages.")
            return self._reply("abstain", body, **base | {"triage": "too long"})
        if tri.route == GREETING:
            name = f"greeting_{tri.act}" if f"greeting_{tri.act}" in self._texts else "greeting"
            body = self._fill(name, topics="; ".join(self.topics(4)) or "our patient-education articles")
            if tri.act == "human":  # "can I talk to a person?", "call me back": staff find these in the log
                base = base | {"triage": "contact request"}
            return self._reply("greeting", body, standalone_question=q, **base)

        focus = question_focus(q, self.is_entity_word)
        library = len(self.index.manifest.get("titles", {})) > 1
        standalone = condense(focus, history, self.lexicon.is_topic_word, self.is_entity_word, carry_subject=library)
        t = lap("condense", t)
        k = max(s.top_k, 5)
        # A follow-up in a library: the article is the one its whole conversation (earlier turns and the
        # message, read by meaning) finds; the message's passages from that article come first.
        article = None
        if library and leans_on_history(focus, standalone, history):
            context = conversation_text(focus, history)
            found = search(self.index, self.embedder, self.lexicon, context, k=1, config=self.retrieval, vec=embed(context))
            article = found[0].source if found else None

        # A follow-up on a subject no article knows is judged with that subject's words: its own words are
        # generic ("how do the doctors tell for certain?") and any article would cover them.
        unknown = self.unknown_subject(focus, standalone, history)

        def find(text: str) -> tuple[list[Hit], Decision]:
            vec = embed(text)
            if article is not None and text == standalone:
                found = article_first(search(self.index, self.embedder, self.lexicon, text, k=max(k, CONTEXT_POOL),
                                             config=self.retrieval, vec=vec), article, k)
            else:
                found = search(self.index, self.embedder, self.lexicon, text, k=k, config=self.retrieval, vec=vec)
            return found, self.decide(with_subject(text, unknown) if unknown else text, found, vec)

        hits, decision = find(standalone)
        if standalone != focus:
            # Unsure the carried subject is right: the message alone wins when it is clearly better
            # supported by the same article the carried subject found.
            alone_hits, alone = find(focus)
            if (alone_hits and hits and alone_hits[0].source == hits[0].source
                    and alone.p_answer >= decision.p_answer + ALONE_MARGIN):
                standalone, hits, decision = focus, alone_hits, alone
        t = lap("retrieve", t)
        ok = decision.outcome == ANSWER
        signals = {"decision": decision.outcome, "p_answer": round(decision.p_answer, 4), **decision.signals}
        if unknown:
            signals["unknown_subject"] = unknown
        rewritten = f"_Answering: “{html.escape(standalone, quote=False)}”_\n\n" if standalone != q else ""
        common = base | {"standalone_question": standalone, "retrieved": hits,
                         "signals": signals | {"triage": tri.scores}}

        if tri.route == ADVICE:
            if tri.rule == "prompt injection":
                return self._reply("advice", self._fill("advice_injection"), **common)
            body = self._fill("advice")
            citations: list[Citation] = []
            if ok:
                answer, citations = self._answer_body(standalone, hits, decision.sentence_probs)
                if answer:
                    body += "\n\nHere is general information from our materials:\n\n" + answer + "\n\n" + sources_block(citations)
            lap("compose", t)
            return self._reply("advice", body, citations=citations, **common)
        if ok:
            answer, citations = self._answer_body(standalone, hits, decision.sentence_probs)
            missing_type = self.missing_answer_type(standalone, answer) if answer else None
            if missing_type:
                common["signals"] = common["signals"] | {"missing_answer_type": missing_type}
            if answer and not missing_type:
                lap("compose", t)
                return self._reply("answer", rewritten + answer + "\n\n" + sources_block(citations),
                                   citations=citations, **common)
        if ok or decision.outcome == CLOSEST:
            # A near miss keeps route "abstain" (it is not answered as if covered), with the nearest
            # passages as its citations.
            body, citations = self._closest_body(standalone, hits, decision.sentence_probs)
            lap("compose", t)
            return self._reply("abstain", body, citations=citations, **common)
        lap("compose", t)
        return self._reply("abstain", self._abstain_body(hits), **common)
