"""Shared fixtures: the real embedding model (loaded once) and tiny corpora written into tmp_path."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.embedding import Embedder

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The embedded all-MiniLM-L6-v2, shared by every test of the session."""
    return Embedder()


@pytest.fixture(scope="session")
def prolotherapy_md() -> Path:
    """The project's one real corpus article."""
    return REPO_ROOT / "corpus" / "prolotherapy.md"


def write_files(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write {relative path: text or bytes} under root (folders made as needed); return root."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def write_corpus() -> Callable[[Path, dict[str, str | bytes]], Path]:
    """write_files, for fixtures of wider scope than tmp_path (use with tmp_path_factory)."""
    return write_files


@pytest.fixture
def make_corpus(tmp_path: Path) -> Callable[..., Path]:
    """make_corpus({"a.md": "...", "sub/b.txt": "..."}, name="corpus") -> the corpus folder."""

    def make(files: dict[str, str | bytes], name: str = "corpus") -> Path:
        return write_files(tmp_path / name, files)

    return make


TWO_ARTICLES = {
    "sessions.md": "# Treatment Sessions\n\nProlotherapy usually takes several sessions. "
                   "Sessions are scheduled two to three weeks apart.\n",
    "parking.md": "# Parking\n\nFree parking is available behind the clinic building. "
                  "The garage closes at six in the evening.\n",
}


@pytest.fixture
def two_articles(make_corpus) -> Path:
    """A corpus of two one-paragraph articles (sessions.md, parking.md) in tmp_path."""
    return make_corpus(TWO_ARTICLES)


# ---- the answer engine over the shipped corpus ---------------------------------------------------
@pytest.fixture(scope="session")
def shipped_index(tmp_path_factory, embedder) -> Path:
    """An index of corpus/ built once per session in a temporary folder."""
    from assistant.index import build_index
    from assistant.settings import Settings

    folder = tmp_path_factory.mktemp("shipped") / "index"
    build_index(Settings(), embedder, REPO_ROOT / "corpus", folder)
    return folder


@pytest.fixture(scope="session")
def bot(shipped_index, embedder):
    """The Assistant over the shipped corpus, with the default settings and no LLM."""
    from assistant import Assistant
    from assistant.settings import Settings

    return Assistant.load(shipped_index, Settings(), embedder=embedder)


@pytest.fixture(scope="session")
def framing(bot) -> str:
    """The physician framing every non-emergency reply must end with."""
    return bot._texts["framing"]


# ---- a real PostgreSQL server (tests/pgserver.py), shared by the session -------------------------------
@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster; skipped when PostgreSQL is not installed, unless
    ASSISTANT_REQUIRE_POSTGRES=1 (CI), where its absence fails."""
    import os

    from pgserver import INSTALL_HINT, bin_dir, postgres_server

    if bin_dir() is None:
        message = f"PostgreSQL is not installed ({INSTALL_HINT})"
        if os.environ.get("ASSISTANT_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    with postgres_server() as server:
        yield server
