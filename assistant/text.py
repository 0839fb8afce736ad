"""Text utilities shared by every stage: cleaning, the one normaliser, sentence spans, spelling correction
and the lexical analyzer."""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_WS = re.compile(r"\s+")

# A sentence ends at . ! ? (plus closing quotes or brackets) followed by space and a capital, digit,
# quote or bracket. Abbreviations below never end a sentence.
_SENT_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9])")
_ABBREV = {"e.g", "i.e", "dr", "mr", "mrs", "ms", "vs", "etc", "st", "no", "fig", "approx", "u.s", "jr", "sr"}
_WORD = re.compile(r"[a-z0-9]+")
# A list item's marker at the start of a line ("- ", "* ", "\u2022 ", "1. ", "2) "), its indent in group 1.
BULLET = re.compile(r"^(\s*)(?:[-*\u2022]|\d+[.)])\s+")

STOPWORDS = frozenset(
    """a an and are as at be been being but by can could did do does doing for from had has have having
    he her hers him his how i if in into is it its itself me my myself of on or our ours she should so
    some such than that the their theirs them then there these they this those to too us was we were
    what when where which who whom why will with would you your yours yourself am any also about after
    again all just more most other over own same very s t don get got im ive id dont let tell know
    much many one isn aren wasn weren doesn didn won wouldn shouldn couldn hasn haven ll re ve wat wut u ur pls plz thx tho isnt arent wasnt dont doesnt didnt cant wont wouldnt shouldnt couldnt kinda sorta gonna wanna""".split()
)


# Cyrillic and Greek letters that look like Latin ones (from Unicode's confusables list): folded to the
# letter they imitate before anything else, since transliteration would read Cyrillic "с" as "s".
_LOOK_ALIKES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ɡ": "g",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "ι": "i", "κ": "k", "υ": "u",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
})


def fold_look_alikes(text: str) -> str:
    """Cyrillic and Greek letters that imitate Latin ones replaced by those Latin letters."""
    return text.translate(_LOOK_ALIKES)


def latin_share(text: str) -> float:
    """The share of the text's letters that are Latin ones (1.0 for a text without letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    return sum(unicodedata.name(c, "LATIN").startswith("LATIN") for c in letters) / len(letters)


# Characters that show nothing: zero-width spaces and joiners, direction marks, word joiner, BOM, soft hyphen.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff\u00ad]")
# A dash or dot between digits, as in 555\u00b7640\u00b72281 or 555\u2013417\u20130032.
_DIGIT_DASH = re.compile(r"(?<=\d)[\u00b7\u2010-\u2015\u2212\u30fb](?=\d)")
_APOSTROPHES = re.compile(r"['\u2019\u2018`]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalise(text: str) -> str:
    """The one normaliser of what a patient typed: NFKC (full-width and compatibility forms folded), a dash
    or dot between digits made "-", invisible characters dropped, look-alike letters from other scripts
    folded to the Latin letter they imitate. Redaction reads this form; ascii_text, fold_ascii and
    plain_words (what triage reads) build on it."""
    text = _DIGIT_DASH.sub("-", unicodedata.normalize("NFKC", text))
    return fold_look_alikes(_INVISIBLE.sub("", text))


def ascii_text(text: str) -> str:
    """normalise, then the rest transliterated to ASCII (unidecode: "é" -> "e"); plain ASCII text is
    returned unchanged."""
    if text.isascii():
        return text
    from unidecode import unidecode

    return unidecode(normalise(text))


def fold_ascii(text: str) -> str:
    """ascii_text lowercased, apostrophes dropped ("Can't" -> "cant"); punctuation and spacing kept."""
    return _APOSTROPHES.sub("", ascii_text(text).lower())


def plain_words(text: str) -> str:
    """Lowercase ASCII words separated by single spaces, apostrophes dropped ("can't" -> "cant")."""
    return _NOT_WORD.sub(" ", fold_ascii(text)).strip()


def clean(text: str) -> str:
    """Drop control characters, lone surrogates and BOMs; NFC-normalise; keep layout newlines."""
    text = _SURROGATE.sub("", text)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    return _CONTROL.sub("", text)


def fold(text: str) -> str:
    """Lowercase, straighten quotes and fold whitespace: the form used to compare phrases."""
    return _WS.sub(" ", text.translate(_QUOTES).lower()).strip()


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Character spans of the sentences in text[start:end], whitespace trimmed."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for m in _SENT_END.finditer(text, start, end):
        word = re.search(r"([A-Za-z.]+)$", text[cursor : m.start()])
        if word and word.group(1).lower().rstrip(".") in _ABBREV:
            continue
        spans.append((cursor, m.end()))
        cursor = m.end()
    spans.append((cursor, end))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def split_sentences(text: str) -> list[str]:
    """The sentences of a text."""
    return [text[s:e] for s, e in sentence_spans(text)]


@lru_cache(maxsize=1)
def question_key(text: str) -> str:
    """What makes two questions the same entry: case, spacing and trailing punctuation aside."""
    return " ".join((text or "").casefold().split()).rstrip(" ?.!")


def passage_sentences(text: str) -> list[str]:
    """Sentences of a passage, list items split off and their bullet markers removed."""
    return [s for s, _ in passage_items(text)]


def passage_items(text: str) -> list[tuple[str, bool]]:
    """`passage_sentences` with, for each, whether it comes from a bulleted or numbered list item."""
    out = []
    for line in text.split("\n"):
        item = bool(BULLET.match(line))
        line = BULLET.sub("", line).strip()
        if line:
            out += [(line[s:e], item) for s, e in sentence_spans(line)]
    return out


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein distance of a and b (optimal string alignment), or limit + 1 when it exceeds limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return min(prev[-1], limit + 1)


def _deletions(word: str, depth: int) -> list[str]:
    """The word, then the word with one letter deleted (left to right), ... up to `depth` letters."""
    out, layer = [word], [word]
    for _ in range(depth):
        layer = list(dict.fromkeys(w[:i] + w[i + 1:] for w in layer for i in range(len(w))))
        out += layer
    return list(dict.fromkeys(out))


class Speller:
    """The one spelling corrector: the vocabulary word a misspelt word stands for, else the word itself.

    Only a word of at least `min_length` letters that is neither in the vocabulary nor `skip`ped is
    corrected, and only to a vocabulary word of at least `min_length` letters (with `same_first`, one with
    the same first letter). Candidates come from a symmetric-delete map built on first use: every
    vocabulary word is filed under itself and its deletions (up to one letter, two with `long_word`), and
    the word's own deletions are looked up there, so a look-up probes a few keys instead of scanning the
    vocabulary. Which candidate wins:
    - `checked` (triage's keywords): the alphabetically first one within one edit (a letter added,
      dropped, changed, or two neighbours swapped), within two for words of `long_word` letters or more;
    - not `checked` (retrieval's corpus words): the first one found, probing the word itself, then the
      word less one letter from left to right. A letter deleted on each side also pairs some words two
      edits apart ("abuse", "cause"); retrieval's coverage and expansion were tuned with that.
    Answers are remembered (up to 50,000 words)."""

    def __init__(self, vocabulary, *, min_length: int, checked: bool = True, long_word: int | None = None,
                 same_first: bool = False, skip=None):
        self.vocabulary = frozenset(vocabulary)
        self.min_length = min_length
        self.checked = checked
        self.long_word = long_word
        self.same_first = same_first
        self.skip = skip
        self._keys: dict[str, str | list[str]] | None = None
        self._answers: dict[str, str] = {}

    def _limit(self, word: str) -> int:
        return 2 if self.long_word is not None and len(word) >= self.long_word else 1

    def _map(self) -> dict[str, str | list[str]]:
        if self._keys is None:
            depth = 1 if self.long_word is None else 2
            keys: dict[str, str | list[str]] = {}
            for w in sorted(self.vocabulary):
                if len(w) >= self.min_length:
                    for key in _deletions(w, depth):
                        got = keys.get(key)
                        if got is None:
                            keys[key] = w
                        elif isinstance(got, str):
                            keys[key] = [got, w]
                        else:
                            got.append(w)
            self._keys = keys
        return self._keys

    def correct(self, word: str) -> str:
        hit = self._answers.get(word)
        if hit is not None:
            return hit
        fixed = word
        if len(word) >= self.min_length and word not in self.vocabulary and not (self.skip and self.skip(word)):
            keys, limit = self._map(), self._limit(word)
            found = [c for key in _deletions(word, limit) if (got := keys.get(key)) is not None
                     for c in ((got,) if isinstance(got, str) else got) if not self.same_first or c[0] == word[0]]
            if self.checked:
                fixed = min((c for c in found if edit_distance(word, c, limit) <= limit), default=word)
            elif found:
                fixed = found[0]
        if len(self._answers) < 50_000:
            self._answers[word] = fixed
        return fixed


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball English stem of one lowercase word."""
    return _stemmer().stemWord(word)


def words(text: str) -> list[str]:
    """Lowercase ASCII-folded word tokens."""
    text = text.translate(_QUOTES).lower()
    if not text.isascii():  # accents off ("é" -> "e"); other non-ASCII letters are not word characters here
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _WORD.findall(text)


def analyze(text: str) -> list[str]:
    """Stemmed content tokens: the lexical view used by BM25, coverage and sentence scoring."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


_DEFINED = re.compile(r"\(([A-Z]{2,6})s?\)")
_LONG_FORM = re.compile(r"[A-Za-z][\w'-]*")
_LINKING = frozenset({"of", "and", "the", "for", "in", "on", "to", "a", "an"})


def defined_acronyms(text: str) -> dict[str, str]:
    """Acronyms a text defines in parentheses after their long form, where the initials of the long form's
    last words spell them ("deep vein thrombosis (DVT)", "Creutzfeldt-Jakob disease (CJD)"; linking words
    such as "of" and "and" may be skipped): {"dvt": "deep vein thrombosis"}. Acronyms not spelled by
    initials ("Tuberculosis (TB)") are left out."""
    out: dict[str, str] = {}
    for m in _DEFINED.finditer(text):
        letters = m.group(1).lower()
        if letters in out:
            continue
        before = [w for part in _LONG_FORM.findall(text[max(0, m.start() - 120):m.start()]) for w in part.split("-") if w]
        i, taken = len(letters) - 1, 0
        for w in reversed(before):
            if i >= 0 and w[0].lower() == letters[i]:
                i -= 1
            elif w.lower() not in _LINKING:
                break
            taken += 1
            if i < 0:
                break
        if i < 0:
            out[letters] = " ".join(before[-taken:]).lower()
    return out
