"""Redact personal data (emails, phone numbers, dates, self-introduced names) before anything is stored."""
from __future__ import annotations

import re

_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_NAME = r"[A-Z][a-zA-Z'\-]+(?:\s+[A-Z][a-zA-Z'\-]+){0,2}"

# Order matters: emails before phones (digits inside addresses), dates and ids before phones (1980-02-01).
PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    ("[email]", re.compile(r"[\w.+%'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)),
    ("[date]", re.compile(r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}\b")),
    ("[date]", re.compile(r"\b\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}\b")),
    ("[date]", re.compile(rf"\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}\b", re.IGNORECASE)),
    ("[date]", re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTHS}\.?,?\s+\d{{4}}\b", re.IGNORECASE)),
    ("[id]", re.compile(r"\b\d{3}-\d{2}-\d{4}\b")),  # before phones, which would take it
    # 7 to 16 digits with spaces, dots, dashes or brackets between them; starts at an optional + or (
    # and ends on a digit, so "(555) 123-4567." keeps its bracket-free sentence punctuation.
    ("[phone]", re.compile(r"(?<![\w+])\+?\(?\d(?:[ \t\u00a0().-]{0,3}\d){6,15}(?![\w])")),
)
# "my name is Jane Doe", "I'm called Jane", "call me Jane", "this is Jane Doe": the name is dropped.
NAME_INTRO = re.compile(
    rf"\b((?i:my\s+name\s+is|my\s+name's|name\s*:|i\s+am\s+called|i'm\s+called|call\s+me|this\s+is))"
    rf"\s+({_NAME})")
# The second word is a surname unless it is a common joining word ("my name is jane and my knee...").
_NOT_SURNAME = r"(?!(?i:and|or|but|i|im|i'm|ive|i've|my|me|from|here|with|is|am|was|have|had|the|a|an|to|in|on|at|of|for)\b)"
NAME_INTRO_ANY_CASE = re.compile(rf"\b((?i:my\s+name\s+is|my\s+name's|name\s*:))\s+"
                                 rf"([^\W\d_][\w'\-]*(?:\s+{_NOT_SURNAME}[^\W\d_][\w'\-]*)?)", re.UNICODE)


def redact(text: str) -> str:
    """The text with personal identifiers replaced by placeholders such as [email] and [name]."""
    if not text:
        return text
    out = NAME_INTRO_ANY_CASE.sub(lambda m: f"{m.group(1)} [name]", text)
    out = NAME_INTRO.sub(lambda m: f"{m.group(1)} [name]", out)
    for label, pattern in PATTERNS:
        out = pattern.sub(label, out)
    return out
