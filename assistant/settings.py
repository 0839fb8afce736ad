"""Settings: one dataclass whose fields and defaults are assistant/defaults.toml, overridden by a TOML file and
ASSISTANT_* variables."""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from dataclasses import fields
from pathlib import Path

from .errors import ConfigError

INDEX_TYPES = ("flat", "hnsw", "ivfpq", "auto")
RETRIEVAL_MODES = ("hybrid", "dense", "bm25")
FUSIONS = ("score", "rrf")
APP_MODES = ("development", "production")
QUERY_ENCODERS = ("onnx", "torch")
DB_URL_SCHEMES = ("postgresql", "postgres")
LOG_FORMATS = ("text", "json")
ANSWER_DECISIONS = ("rule", "learned")
# Settings that take one of a few values: validate() names them in its message.
CHOICES = {"index_type": INDEX_TYPES, "retrieval_mode": RETRIEVAL_MODES, "answer_decision": ANSWER_DECISIONS,
           "fusion": FUSIONS, "query_encoder": QUERY_ENCODERS, "app_mode": APP_MODES, "log_format": LOG_FORMATS}
EMBEDDED_MODEL = "embedded"
CONFIG_FILE_ENV = "ASSISTANT_CONFIG"
DEFAULT_CONFIG_FILE = "assistant.toml"
REPO_ROOT = Path(__file__).resolve().parent.parent  # a source checkout's root (evals/, examples/ when present)
PACKAGE_DIR = Path(__file__).resolve().parent


DEFAULTS_FILE = PACKAGE_DIR / "defaults.toml"  # every setting, its default and what it does


def _replace(self, **changes) -> "Settings":
    """A copy with some fields changed, validated."""
    return validate(dataclasses.replace(self, **changes))


def _settings_class() -> type:
    """The Settings dataclass, one field a line of defaults.toml (its type is its default's); an empty
    prompts_dir there means the shipped prompts."""
    defaults = tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    defaults["prompts_dir"] = defaults["prompts_dir"] or str(PACKAGE_DIR / "prompts")
    cls = dataclasses.make_dataclass(
        "Settings", [(name, type(value), dataclasses.field(default=value)) for name, value in defaults.items()],
        frozen=True, namespace={"replace": _replace,
                                "__doc__": "Every tunable of the assistant, with the defaults the project ships "
                                           "(assistant/defaults.toml)."})
    cls.__module__ = __name__
    return cls


Settings = _settings_class()


def _coerce(name: str, kind: type, raw: object) -> object:
    if isinstance(raw, str) and kind is not str:
        text = raw.strip()
        try:
            if kind is bool:
                if text.lower() in ("1", "true", "yes", "on"):
                    return True
                if text.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(text)
            return kind(text)
        except ValueError:
            raise ConfigError(f"Setting {name}={raw!r} is not a valid {kind.__name__}.") from None
    if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if not isinstance(raw, kind) or (kind is int and isinstance(raw, bool)):
        raise ConfigError(f"Setting {name}={raw!r} should be a {kind.__name__}.")
    return raw


def validate(s: Settings) -> Settings:
    """Check choices and ranges; the messages list the valid values."""
    for name, choices in CHOICES.items():
        if getattr(s, name) not in choices:
            raise ConfigError(f"{name}={getattr(s, name)!r}; choose one of {', '.join(choices)}.")
    if s.hnsw_auto_threshold < 1 or s.ivfpq_auto_threshold < 0:
        raise ConfigError("hnsw_auto_threshold must be at least 1 and ivfpq_auto_threshold 0 (never) or more.")
    if not 0.0 <= s.fusion_alpha <= 1.0:
        raise ConfigError(f"fusion_alpha={s.fusion_alpha}; choose a value from 0 to 1.")
    if not 16 <= s.max_tokens <= 512:
        raise ConfigError(f"max_tokens={s.max_tokens}; choose a value from 16 to 512.")
    if not 0 <= s.overlap_sentences <= 5:
        raise ConfigError(f"overlap_sentences={s.overlap_sentences}; choose 0 to 5.")
    if s.rate_limit_per_minute < 0 or s.rate_limit_burst < 1 or s.max_body_bytes < 1024:
        raise ConfigError("rate_limit_per_minute must be 0 or more, rate_limit_burst at least 1, "
                          "max_body_bytes at least 1024.")
    if s.curated_approvals not in (1, 2):
        raise ConfigError(f"curated_approvals={s.curated_approvals}; choose 1 (one-person clinic) or 2.")
    if s.login_max_failures < 1 or s.login_window_seconds < 1 or s.min_staff_password_chars < 1:
        raise ConfigError("login_max_failures, login_window_seconds and min_staff_password_chars must be at least 1.")
    if s.db_url.strip() and s.db_url.split("://", 1)[0].lower() not in DB_URL_SCHEMES or \
            s.db_url.strip() and "://" not in s.db_url:
        raise ConfigError(f"db_url must start with {' or '.join(x + '://' for x in DB_URL_SCHEMES)} (PostgreSQL), "
                          "or be empty for the SQLite file at db_path.")
    for item in (x.strip() for x in s.metrics_clients.split(",")):
        if item:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ConfigError(f"metrics_clients: {item!r} is not an IP address or network "
                                  "(e.g. 10.0.0.0/8).") from None
    if s.db_pool_size < 1:
        raise ConfigError(f"db_pool_size={s.db_pool_size}; choose 1 or more.")
    if s.clinic_booking_url.strip() and not re.match(r"https?://[^\s<>\"']+$", s.clinic_booking_url.strip(), re.I):
        raise ConfigError(f"clinic_booking_url={s.clinic_booking_url!r}; give an http:// or https:// address.")
    if s.top_k < 1 or s.candidate_pool < s.top_k:
        raise ConfigError("top_k must be at least 1 and candidate_pool at least top_k.")
    return s


def load_settings(path: str | os.PathLike | None = None, **overrides) -> Settings:
    """Defaults, then the TOML file (if any), then ASSISTANT_* variables, then keyword overrides."""
    types = {f.name: type(f.default) for f in fields(Settings)}
    values: dict[str, object] = {}
    file = Path(path or os.environ.get(CONFIG_FILE_ENV) or DEFAULT_CONFIG_FILE)
    if file.is_file():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read settings file {file}: {exc}") from None
        data = data.get("assistant", data)
        for key, raw in data.items():
            if key not in types:
                raise ConfigError(f"Unknown setting {key!r} in {file}; valid: {', '.join(types)}.")
            values[key] = _coerce(key, types[key], raw)
    elif path is not None:
        raise ConfigError(f"Settings file {file} does not exist.")
    for key, kind in types.items():
        env = os.environ.get(f"ASSISTANT_{key.upper()}")
        if env is not None:
            values[key] = _coerce(key, kind, env)
    for key, raw in overrides.items():
        if raw is None:
            continue
        if key not in types:
            raise ConfigError(f"Unknown setting {key!r}; valid: {', '.join(types)}.")
        values[key] = _coerce(key, types[key], raw)
    return validate(Settings(**values))
