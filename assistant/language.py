"""The language of a patient's message: English, or another language the clinic has words for
(assistant/prompts/languages.toml), or another language. Word frequencies (wordfreq, offline) decide it."""
from __future__ import annotations

import re
from functools import lru_cache

from .text import latin_share

# Languages whose word frequencies are compared with English's; a message is English unless another of
# them explains its words clearly better.
CANDIDATES = ("es", "pt", "fr", "de", "it", "fil", "vi", "pl")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@lru_cache(maxsize=50_000)
def _zipf(word: str, lang: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, lang)


def detect(text: str) -> str:
    """"en", a language code from CANDIDATES, or "other" (mostly letters of another script)."""
    if not any(c.isalpha() for c in text):
        return "en"
    if latin_share(text) < 0.5:
        return "other"
    words = [w.lower() for w in _WORD.findall(text)][:60]
    if len(words) < 2 and not re.search(r"[¿¡ñ]", text):
        return "en"  # one word ("hola", "gracias") is too little to go on, unless it is written in Spanish
    en = sum(_zipf(w, "en") for w in words)
    best, score = "en", en
    for lang in CANDIDATES:
        s = sum(_zipf(w, lang) for w in words) + (3.0 if lang == "es" and re.search(r"[¿¡ñ]", text) else 0.0)
        if s > score:
            best, score = lang, s
    # Another language only when it explains the words clearly better than English does.
    return best if best != "en" and score >= en * 1.25 + 2.0 else "en"
