"""Clinic-editable texts and rules in assistant/prompts/: loaded once, as data."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError


def _read(path: str) -> str:
    """A prompt file's text; cached per version of the file (its size and modification time), so an edit
    by staff is read by the next rebuild or reload instead of the copy read at start."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        st = None
    if st is None or not p.is_file():
        raise ConfigError(f"Missing prompt file {p}. Restore it from the repository's assistant/prompts/ folder.")
    return _read_version(str(p), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=64)
def _read_version(path: str, mtime_ns: int, size: int) -> str:
    return Path(path).read_text(encoding="utf-8")


def text(prompts_dir: str, name: str) -> str:
    """A Markdown template from assistant/prompts/, stripped."""
    return _read(str(Path(prompts_dir) / name)).strip()


def toml(prompts_dir: str, name: str) -> dict:
    """A TOML data file from assistant/prompts/."""
    try:
        return tomllib.loads(_read(str(Path(prompts_dir) / name)))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Cannot parse {Path(prompts_dir) / name}: {exc}") from None


PROFILE = "profile.toml"
PROFILE_KEYS = ("synonyms", "answer_types", "red_flags")


def profile(corpus_dir: str | Path) -> dict:
    """A clinic's own words for its corpus, from the optional `profile.toml` beside its articles:
    [synonyms] (lay word -> the articles' words), [answer_types.*] (as in assistant/prompts/coverage.toml) and
    red_flags (extra terms that put the "if this is happening now" line on a reply). {} without one."""
    path = Path(corpus_dir) / PROFILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read the corpus profile {path}: {exc}") from None
    unknown = sorted(set(data) - set(PROFILE_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)}; use {', '.join(PROFILE_KEYS)}.")
    return {k: data[k] for k in PROFILE_KEYS if k in data}
