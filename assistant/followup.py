"""Turn a follow-up ("and how long does it take?") into a standalone question, with no LLM:
carry the topic of the previous user turn into short or pronoun-led questions."""
from __future__ import annotations

import re
from collections.abc import Callable

from .text import STOPWORDS, sentence_spans, words

_ANAPHORA = re.compile(r"\b(it|its|it's|that|this|they|them|those|these|there|he|she|one)\b", re.I)
_LEADS = re.compile(r"^\s*(and|but|also|so|then|what about|how about|what if|ok(ay)?|and what about|plus)\b", re.I)
_QUESTION_WORDS = {"what", "how", "why", "when", "where", "which", "who", "long", "often", "soon", "much",
                   "many", "else", "about", "any", "ok", "okay", "yes", "no", "really", "right", "well",
                   "mean", "take", "last", "need", "work", "happen", "happens", "expect", "usually", "typically",
                   "common", "normal", "exactly", "help", "cause", "causes"}

# Closed-class words of informal writing that name no topic: contractions typed without the apostrophe
# (those that are not also words: "ill", "well", "were", "shell" stay) and texting fillers.
_CHAT_WORDS = frozenset("""whats thats hes shes theres heres whos youre theyre weve youve theyve youd theyd
    youll theyll itll aint yall couldve shouldve wouldve mightve musta lol lmao lmfao rofl omg tbh idk
    btw imo imho fyi nah yeah yep yup nope gotta tryna cuz bc abt smth sth til pls plz thx ty""".split())

_SINGULAR_ONLY = re.compile(r"\b(it|its|it's)\b", re.I)
_PLURAL_PRONOUN = re.compile(r"\b(they|them|those|these|their)\b", re.I)


def is_plural(word: str) -> bool:
    """A plural noun form ("sessions", "injuries"), not a singular that ends in s ("diabetes", "measles",
    "series"): its singular form is an English word about as common as it (wordfreq, offline)."""
    from wordfreq import zipf_frequency

    if len(word) < 4 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return False
    forms = [word[:-1]] + ([word[:-3] + "y"] if word.endswith("ies") else []) + ([word[:-2]] if word.endswith("es") else [])
    singular = max(zipf_frequency(f, "en") for f in forms)
    return singular >= 3.0 and singular >= zipf_frequency(word, "en") - 1.0


def user_turns(history: list[dict]) -> list[str]:
    """The patient's own earlier messages, oldest first."""
    return [m["content"] for m in history if m.get("role") == "user" and isinstance(m.get("content"), str)]


def with_subject(question: str, words: str) -> str:
    """The question with words of its subject added: "how long does it last (hives)?"."""
    return f"{question.strip().rstrip('?. ')} ({words})?"


def content_words(text: str) -> list[str]:
    """Words that carry the topic: not stopwords, not question scaffolding."""
    return [w for w in words(text) if w not in STOPWORDS and w not in _QUESTION_WORDS and w not in _CHAT_WORDS
            and len(w) > 2]


def refers_back(question: str) -> bool:
    """Whether a message has a word pointing to something said before ("it", "that", "they")."""
    return bool(_ANAPHORA.search(question))


def needs_context(question: str) -> bool:
    """True for a question that leans on an earlier turn."""
    if _LEADS.search(question):
        return True
    if len(content_words(question)) <= 1:
        return True
    return refers_back(question) and len(content_words(question)) <= 3


def topic_of(history: list[dict], known: Callable[[str], bool] | None = None,
             entity: Callable[[str], bool] | None = None) -> str:
    """The topic words of the latest user turn that has some, condensing it against older turns.
    With `known`, only words the corpus knows count as topic ("thinking" does not, "wrist" does).
    With `entity`, the words naming what the conversation is about (an article's treatment or condition)
    are the topic when there are any: after "how many sessions of the therapy will I need?", "it" is the therapy,
    not sessions."""
    found = _topic_words(history, known)
    if entity is not None:
        named = [w for w in found if entity(w)]
        if named:
            return " ".join(named)
    return " ".join(found)


def _topic_words(history: list[dict], known: Callable[[str], bool] | None = None) -> list[str]:
    users = user_turns(history)
    for i in range(len(users) - 1, -1, -1):
        words_ = content_words(users[i])
        if known is not None:
            words_ = [w for w in words_ if known(w)]
        if words_:
            if needs_context(users[i]) and i > 0:
                older = _topic_words([{"role": "user", "content": u} for u in users[:i]], known)
                words_ = [w for w in older if w not in words_] + words_
            return list(dict.fromkeys(words_))
    return []


CONTEXT_TURN_CHARS = 400  # of each earlier user turn in the conversation's context text


def leans_on_history(question: str, standalone: str, history: list[dict]) -> bool:
    """Whether a message is read through the conversation: it was rewritten with carried words, or it leans
    on an earlier turn ("and how would they treat it?")."""
    return bool(history) and (standalone != question or needs_context(question))


def conversation_text(question: str, history: list[dict], turns: int = 2) -> str:
    """The last `turns` user turns and the message, as one text: what the conversation is about, read by
    meaning ("a disease carried by sand flies. Leish-something ... how would they treat it?") where no
    single carried word names it."""
    users = [u[:CONTEXT_TURN_CHARS] for u in user_turns(history)]
    return " ".join(users[-turns:] + [question]) if turns > 0 else question


def condense(question: str, history: list[dict], known: Callable[[str], bool] | None = None,
             entity: Callable[[str], bool] | None = None, carry_subject: bool = False) -> str:
    """The standalone question to search for. With `entity`, a question naming an article's subject
    stands alone; with `carry_subject` too (a library of several articles), a question that names none
    carries the subject the conversation named ("How do doctors tell for certain?" after a question about
    concussions), though it reads as complete."""
    if not history:
        return question
    named = entity is not None and any(entity(w) for w in content_words(question))
    leans = needs_context(question) and not (named and not refers_back(question))
    unnamed = carry_subject and entity is not None and not named
    if not leans and not unnamed:
        return question
    topic = topic_of(history, known, entity)
    if not leans and not any(entity(w) for w in topic.split()):
        return question
    if not topic:
        return question
    own = set(content_words(question))
    extra = " ".join(w for w in topic.split() if w not in own)
    if not extra or (leans and _SINGULAR_ONLY.search(question) and not _PLURAL_PRONOUN.search(question)
                     and all(is_plural(w) and not (entity is not None and entity(w)) for w in extra.split())):
        # "does it hurt?" after "how many sessions will I need?": "it" cannot be the sessions; with no
        # singular word to refer to, the message is read alone (a library still reads its conversation's
        # article first). A word naming an article ("hives", "AIDS") is still carried.
        return question
    body = question.strip()
    spot = _referent(body, extra, entity)
    if spot is not None:
        return body[:spot.start()] + extra + body[spot.end():]
    return with_subject(body, extra)


_REPLACEABLE = (("it",), ("they", "them"), ("that", "this"))


def _referent(question: str, carried: str, entity: Callable[[str], bool] | None = None) -> re.Match | None:
    """The pronoun of a follow-up that stands for the carried subject, to be replaced by it: the first "it"
    (for a singular subject), else the first "they"/"them" (for a plural one), else the first "that"/"this"
    (either: "is that normal?", "what's that last one made from?"). In "what do they usually do for it?" or
    "do they numb it?" after a question about one condition or treatment, "they" are the doctors and "it" is
    the subject. None when no pronoun agrees (the subject is then added in brackets)."""
    carried_words = carried.split()
    plural = any(is_plural(w) for w in carried_words)
    singular = any(not is_plural(w) or (entity is not None and entity(w)) for w in carried_words)
    found = list(_ANAPHORA.finditer(question))
    for forms in _REPLACEABLE:
        if (forms[0] == "they" and not plural) or (forms[0] == "it" and not singular):
            continue
        spot = next((m for m in found if m.group(0).lower() in forms), None)
        if spot is not None:
            return spot
    return None


_GREETING_LINE = re.compile(r"^\s*(hi|hello|hey|dear|good (morning|afternoon|evening)|thanks?( you)?|thank you|"
                            r"regards|best|cheers|sincerely|love|sorry|many thanks|take care)\b", re.I)
_ASKS = re.compile(r"\?|^\s*(what|how|why|when|where|which|who|is|are|can|could|does|do|did|should|will|would|"
                   r"may|might|any|i\s+(was\s+)?wonder(ing)?|i\s+want\s+to\s+know|please\s+(tell|explain))\b", re.I)
LONG_MESSAGE_WORDS = 40


def question_focus(message: str, entity: Callable[[str], bool] | None = None,
                   min_words: int = LONG_MESSAGE_WORDS, subject_only: bool = False) -> str:
    """The part of a long, chatty message that asks something: its question sentences (greetings,
    background and sign-offs dropped); when they do not name their subject, the latest earlier sentence
    that does (else the one just before them). With `subject_only`, of that earlier sentence only the
    subject's words ("My neighbor Carol swears by <treatment> over coffee. What is in it?": the treatment,
    not Carol or the coffee). Messages of up to `min_words` words are returned as they are."""
    if len(message.split()) <= min_words:
        return message
    sents = [message[a:b].strip() for a, b in sentence_spans(message)]
    sents = [x for x in sents if x and not (_GREETING_LINE.match(x) and len(x.split()) <= 6)]
    asks = [i for i, x in enumerate(sents) if _ASKS.search(x)]
    if not asks:
        return message
    chosen = asks[:2]
    names = lambda i: entity is not None and any(entity(w) for w in content_words(sents[i]))  # noqa: E731
    if not any(names(i) for i in chosen) and chosen[0] > 0:
        earlier = [i for i in range(chosen[0] - 1, -1, -1) if names(i)]
        if subject_only and earlier:
            subject = [w for w in content_words(sents[earlier[0]]) if entity(w)]
            return " ".join(subject + [sents[i] for i in chosen])
        chosen = [earlier[0] if earlier else chosen[0] - 1] + chosen
    return " ".join(sents[i] for i in chosen)
