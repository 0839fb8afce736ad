"""SQLite store (WAL) for the question log and patient feedback; personal data is redacted before writing."""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from .redact import redact

SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    channel TEXT NOT NULL,
    question TEXT NOT NULL,
    standalone_question TEXT NOT NULL,
    route TEXT NOT NULL,
    triage TEXT NOT NULL,
    sources TEXT NOT NULL,
    latency_ms REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    question_id INTEGER REFERENCES questions(id),
    rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS questions_route ON questions(route);
CREATE TABLE IF NOT EXISTS curated (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    author TEXT NOT NULL,
    review_date TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'published')),
    approved_by TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL DEFAULT '',
    login TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS staff_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    login TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""
TABLES = {
    "questions": ("id", "ts", "channel", "question", "standalone_question", "route", "triage", "sources", "latency_ms"),
    "feedback": ("id", "ts", "question_id", "rating", "comment", "question", "answer"),
    "curated": ("id", "ts", "question", "answer", "author", "review_date", "status", "approved_by", "path", "login"),
    "staff_actions": ("id", "ts", "login", "action", "detail"),
}
MAX_TEXT = 4000
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection): prefix a quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: object, keep: bool = True) -> str:
    """Redacted, bounded text SQLite can store (lone surrogates cannot be encoded as UTF-8); with
    keep=False only a hash of the text (equal questions still group together in the log)."""
    text = value if isinstance(value, str) else ""
    if not keep:
        return "sha256:" + hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16] if text else ""
    # Redact a little past the cut so an identifier straddling it is not left half visible.
    return redact(_SURROGATE.sub("\ufffd", text[:MAX_TEXT + 100]))[:MAX_TEXT]


def _cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text, never evaluates; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class Store:
    """The question log and feedback table in one SQLite file; safe to share between threads."""

    def __init__(self, path: str | Path, keep_text: bool = True):
        self.path = Path(path)
        self.keep_text = keep_text
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, mode=0o700)
        # Owner-only from the start: the log holds (redacted) health questions. SQLite gives its -wal and
        # -shm files the database file's permissions.
        self.path.touch(mode=0o600, exist_ok=True)
        os.chmod(self.path, 0o600)
        self._local = threading.local()
        # One writer at a time, queued here rather than in SQLite's busy handler, whose sleeps (up to
        # 100 ms a try) gave tail latencies of 70-230 ms with 32 concurrent writers; with the lock, ~20 ms.
        self._write = threading.Lock()
        with self._conn() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            columns = {r[1] for r in db.execute("PRAGMA table_info(curated)")}
            if "login" not in columns:  # a log made before curated answers recorded their proposer's login
                db.execute("ALTER TABLE curated ADD COLUMN login TEXT NOT NULL DEFAULT ''")

    @contextmanager
    def _conn(self, write: bool = False):
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA synchronous=NORMAL")
            db.row_factory = sqlite3.Row
            self._local.db = db
        if write:
            with self._write, db:  # one transaction: committed on success, rolled back on error
                yield db
        else:
            with db:
                yield db

    def log_question(self, *, channel: str, question: str, standalone_question: str, route: str, triage: str,
                     sources: list[str], latency_ms: float) -> int:
        """Record one answered question (redacted); returns its row id."""
        keep = self.keep_text
        row = (time.time(), channel, _text(question, keep), _text(standalone_question, keep), route, triage,
               json.dumps(sources),
               round(float(latency_ms), 2))  # redacted before taking the write lock
        with self._conn(write=True) as db:
            cur = db.execute(
                "INSERT INTO questions (ts, channel, question, standalone_question, route, triage, sources, latency_ms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
            return int(cur.lastrowid)

    def add_feedback(self, *, rating: int, question: str = "", answer: str = "", comment: str = "",
                     question_id: int | None = None) -> int:
        """Record a thumbs up (1) or down (-1) with an optional comment (all text redacted: an answer can
        quote the patient's question back); returns its row id."""
        if rating not in (1, -1):
            raise ValueError("rating must be 1 or -1")
        keep = self.keep_text
        row = (time.time(), question_id, rating, _text(comment, keep), _text(question, keep),
               _text(answer, keep))
        with self._conn(write=True) as db:
            cur = db.execute(
                "INSERT INTO feedback (ts, question_id, rating, comment, question, answer) VALUES (?, ?, ?, ?, ?, ?)", row)
            return int(cur.lastrowid)

    def set_comment(self, feedback_id: int, comment: str) -> bool:
        """Attach a comment to an earlier rating; False when the row does not exist."""
        text = _text(comment, self.keep_text)
        with self._conn(write=True) as db:
            cur = db.execute("UPDATE feedback SET comment = ? WHERE id = ?", (text, feedback_id))
            return cur.rowcount == 1

    # ---- curated answers (staff-written, not redacted: they become corpus documents) ---------------------
    def add_curated(self, *, question: str, answer: str, author: str, review_date: str, status: str,
                    path: str = "", login: str = "") -> int:
        with self._conn(write=True) as db:
            cur = db.execute("INSERT INTO curated (ts, question, answer, author, review_date, status, path, login) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (time.time(), question, answer, author, review_date,
                                                                 status, path, login or ""))
            return int(cur.lastrowid)

    def curated(self, entry_id: int) -> dict | None:
        with self._conn() as db:
            row = db.execute(f"SELECT {', '.join(TABLES['curated'])} FROM curated WHERE id = ?", (entry_id,)).fetchone()
        return dict(row) if row else None

    def publish_curated(self, entry_id: int, approved_by: str, path: str) -> None:
        with self._conn(write=True) as db:
            db.execute("UPDATE curated SET status = 'published', approved_by = ?, path = ? WHERE id = ?",
                       (approved_by, path, entry_id))

    def log_action(self, login: str, action: str, detail: str) -> None:
        """Who did what in the staff console or staff API (kept, never redacted)."""
        with self._conn(write=True) as db:
            db.execute("INSERT INTO staff_actions (ts, login, action, detail) VALUES (?, ?, ?, ?)",
                       (time.time(), login or "", action, detail[:MAX_TEXT]))

    def rows(self, table: str, limit: int = 200, route: str | None = None) -> list[dict]:
        """The newest rows of a table, newest first, timestamps as ISO text."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}; choose one of {', '.join(TABLES)}")
        sql, args = f"SELECT {', '.join(TABLES[table])} FROM {table}", []
        if route and table == "questions":
            sql, args = sql + " WHERE route = ?", [route]
        elif route and table == "curated":
            sql, args = sql + " WHERE status = ?", [route]
        sql += " ORDER BY id DESC LIMIT ?"
        with self._conn() as db:
            rows = [dict(r) for r in db.execute(sql, [*args, int(limit)])]
        for r in rows:
            r["ts"] = _iso(r["ts"])
        return rows

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        with self._conn() as db:
            return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def csv(self, table: str, limit: int = 100_000) -> str:
        """A table as CSV text, newest first; text cells that a spreadsheet would run as formulas get a ' prefix."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=TABLES[table] if table in TABLES else ())
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items()} for row in self.rows(table, limit))
        return out.getvalue()

    # ---- for the staff console: revising, retiring, filtered exports --------------------------------------
    def update_curated(self, entry_id: int, **fields: str) -> None:
        """Change some columns of a curated entry (a revision of the same question)."""
        bad = set(fields) - set(TABLES["curated"][2:])
        if bad:
            raise ValueError(f"unknown curated columns: {', '.join(sorted(bad))}")
        with self._conn(write=True) as db:
            db.execute(f"UPDATE curated SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                       (*fields.values(), int(entry_id)))

    def delete_curated(self, entry_id: int) -> None:
        """Remove a retired curated entry (the staff actions log keeps its text)."""
        with self._conn(write=True) as db:
            db.execute("DELETE FROM curated WHERE id = ?", (int(entry_id),))

    def csv_of(self, table: str, rows: list[dict]) -> str:
        """Rows already chosen (e.g. filtered) as CSV, with the same formula guard as csv()."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=TABLES[table] if table in TABLES else ())
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in row.items() if k in TABLES[table]} for row in rows)
        return out.getvalue()
