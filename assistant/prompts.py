"""Clinic-editable texts and rules in prompts/: loaded once, as data."""
from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from .errors import ConfigError


@lru_cache(maxsize=64)
def _read(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"Missing prompt file {p}. Restore it from the repository's prompts/ folder.")
    return p.read_text(encoding="utf-8")


def text(prompts_dir: str, name: str) -> str:
    """A Markdown template from prompts/, stripped."""
    return _read(str(Path(prompts_dir) / name)).strip()


def toml(prompts_dir: str, name: str) -> dict:
    """A TOML data file from prompts/."""
    try:
        return tomllib.loads(_read(str(Path(prompts_dir) / name)))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Cannot parse {Path(prompts_dir) / name}: {exc}") from None
