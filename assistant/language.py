"""The language of a patient's message: English, or another language the clinic has words for
(prompts/languages.toml), or another language. Word frequencies (wordfreq, offline) decide it."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .text import fold_look_alikes

# Languages whose word frequencies are compared with English's; a message is English unless another of
# them explains its words clearly better.
CANDIDATES = ("es", "pt", "fr", "de", "it", "fil", "vi", "pl")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@lru_cache(maxsize=50_000)
def _zipf(word: str, lang: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, lang)


def fold_accents(text: str) -> str:
    """Lowercase, accents removed, look-alike letters folded: the form the language patterns match."""
    text = fold_look_alikes(unicodedata.normalize("NFKD", text.lower()))
    return "".join(c for c in text if not unicodedata.combining(c)).replace("ñ", "n")


def detect(text: str) -> str:
    """"en", a language code from CANDIDATES, or "other" (mostly letters of another script)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "en"
    latin = sum(unicodedata.name(c, "LATIN").startswith("LATIN") for c in letters)
    if latin < 0.5 * len(letters):
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
