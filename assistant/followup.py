"""Turn a follow-up ("and how long does it take?") into a standalone question, with no LLM:
carry the topic of the previous user turn into short or pronoun-led questions."""
from __future__ import annotations

import re
from collections.abc import Callable

from .text import STOPWORDS, words

_ANAPHORA = re.compile(r"\b(it|its|it's|that|this|they|them|those|these|there|he|she|one)\b", re.I)
_LEADS = re.compile(r"^\s*(and|but|also|so|then|what about|how about|what if|ok(ay)?|and what about|plus)\b", re.I)
_QUESTION_WORDS = {"what", "how", "why", "when", "where", "which", "who", "long", "often", "soon", "much",
                   "many", "else", "about", "any", "ok", "okay", "yes", "no", "really", "right", "well",
                   "mean", "take", "last", "need", "work", "happen", "happens", "expect", "usually", "typically",
                   "common", "normal", "exactly", "help", "cause", "causes"}


def content_words(text: str) -> list[str]:
    """Words that carry the topic: not stopwords, not question scaffolding."""
    return [w for w in words(text) if w not in STOPWORDS and w not in _QUESTION_WORDS and len(w) > 2]


def needs_context(question: str) -> bool:
    """True for a question that leans on an earlier turn."""
    if _LEADS.search(question):
        return True
    if len(content_words(question)) <= 1:
        return True
    return bool(_ANAPHORA.search(question)) and len(content_words(question)) <= 3


def topic_of(history: list[dict], known: Callable[[str], bool] | None = None) -> str:
    """The topic words of the latest user turn that has some, condensing it against older turns.
    With `known`, only words the corpus knows count as topic ("thinking" does not, "wrist" does)."""
    users = [m["content"] for m in history if m.get("role") == "user" and isinstance(m.get("content"), str)]
    for i in range(len(users) - 1, -1, -1):
        words_ = content_words(users[i])
        if known is not None:
            words_ = [w for w in words_ if known(w)]
        if words_:
            if needs_context(users[i]) and i > 0:
                older = topic_of([{"role": "user", "content": u} for u in users[:i]], known)
                words_ = [w for w in older.split() if w not in words_] + words_
            return " ".join(dict.fromkeys(words_))
    return ""


def condense(question: str, history: list[dict], known: Callable[[str], bool] | None = None) -> str:
    """The standalone question to search for."""
    if not history or not needs_context(question):
        return question
    topic = topic_of(history, known)
    if not topic:
        return question
    own = set(content_words(question))
    extra = " ".join(w for w in topic.split() if w not in own)
    if not extra:
        return question
    body = question.strip()
    if _ANAPHORA.search(body):
        replaced = _ANAPHORA.sub(lambda m: extra if m.group(0).lower() in ("it", "that", "this", "they", "them") else m.group(0), body, count=1)
        if replaced != body:
            return replaced
    return f"{body.rstrip('?. ')} ({extra})?"
