"""Build assistant/models/pii_words.json.gz, the word data of the name recognizer (assistant/redact.py).

- names: every first and last name in Faker's person providers, all locales (Latin-script names, and the
  ASCII transliteration of accented ones), lowercased: ~30k names from many cultures.
- eponyms: words of MedQuAD's 16k question topics ("focus") that are also names (Parkinson, Wilson, Down,
  Turner...): alone, they name a condition, not a person.
- places: words of US state and country names (Faker's address lists).
- ordinary: names that MedQuAD's answers use as lowercase English words (will, hope, mark, may, back):
  such a word is a name only when written with a capital or named by its context.

    pip install -e ".[train]"   # faker
    python evals/build_pii_words.py
"""
from __future__ import annotations

import gzip
import importlib
import json
import pkgutil
import re
import sys
from pathlib import Path

from unidecode import unidecode

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assistant" / "models" / "pii_words.json.gz"
MEDQUAD = ROOT.parent / "shared" / "datasets" / "medquad" / "medquad.jsonl"
_WORD = re.compile(r"[^\W\d_]{2,}")


def faker_names() -> set[str]:
    import faker.providers.person as person

    names: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        try:
            provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in ("first_names", "last_names", "first_names_male", "first_names_female",
                     "last_names_male", "last_names_female", "first_names_nonbinary"):
            value = provider.__dict__.get(attr)
            if not isinstance(value, (dict, tuple, list, set, frozenset)):
                continue
            for name in value:
                if not isinstance(name, str):
                    continue
                for word in _WORD.findall(name):
                    if all("LATIN" in _script(c) for c in word):
                        names.add(word.lower())
                        names.add(unidecode(word).lower())
    return names


def _script(char: str) -> str:
    import unicodedata

    return unicodedata.name(char, "")


def medquad_eponyms(names: set[str]) -> set[str]:
    eponyms: set[str] = set()
    for line in MEDQUAD.open(encoding="utf-8"):
        focus = json.loads(line).get("focus", "")
        for word in re.findall(r"\b([A-Z][a-z]+)(?:'s|s)?\b", focus):
            if word.lower() in names:
                eponyms.add(word.lower())
    return eponyms


def medquad_ordinary(names: set[str], min_count: int = 3) -> set[str]:
    """Names that MedQuAD's answers also use as ordinary lowercase words (will, hope, back, mark, may)."""
    counts: dict[str, int] = {}
    for line in MEDQUAD.open(encoding="utf-8"):
        for word in re.findall(r"\b[a-z]{2,}\b", json.loads(line).get("answer", "")):
            if word in names:
                counts[word] = counts.get(word, 0) + 1
    return {w for w, c in counts.items() if c >= min_count}


def faker_places() -> set[str]:
    """Words of US state and country names (Texas, Florida, Jordan, Chad...): after "in" or alone, a place."""
    import faker.providers.address.en as world
    import faker.providers.address.en_US as us

    return {w.lower() for place in (*us.Provider.states, *world.Provider.countries) for w in _WORD.findall(place)}


def main() -> int:
    names = faker_names()
    places = faker_places()
    eponyms = medquad_eponyms(names)
    ordinary = medquad_ordinary(names)
    data = {"source": "Faker person providers (names); MedQuAD focus words that are names (eponyms); "
                      "names MedQuAD's answers use as lowercase words (ordinary)",
            "names": sorted(names), "eponyms": sorted(eponyms), "ordinary": sorted(ordinary), "places": sorted(places)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(OUT, "wt", encoding="utf-8", compresslevel=9) as f:
        json.dump(data, f, separators=(",", ":"))
    print(f"{OUT.relative_to(ROOT)}: {len(names)} names, {len(eponyms)} eponyms, {len(ordinary)} ordinary words, "
          f"{OUT.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
