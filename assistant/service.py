"""The running service behind the web app: the live Assistant (swapped atomically), health, the question
log, rebuilds with progress and curated FAQ entries."""
from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .engine import Assistant
from .errors import AssistantError, ConfigError, IndexBusyError, InputError
from .metrics import Metrics
from .settings import Settings
from .store import Store, open_store
from .text import question_key
from .types import Reply

log = logging.getLogger("assistant.service")
WARM_UP = ("hello", "What should I do if I get chest pain?")  # the second loads ConText


class Unavailable(AssistantError):
    """No index is loaded yet, or the only one there is cannot be used."""


@dataclass
class BuildState:
    """Progress of the latest rebuild started from the staff console."""

    running: bool = False
    done: int = 0
    total: int = 0
    message: str = "No rebuild has run since the app started."
    started_at: float | None = None
    finished_at: float | None = None


@dataclass
class Health:
    state: str = "loading"          # loading | ready | error
    reason: str = "The index is loading."
    problems: list[str] = field(default_factory=list)  # e.g. a failed reload while the last good index serves


def staff_credentials(settings: Settings) -> tuple[str, str, bool]:
    """(user, password, generated). Production refuses to run without a configured password."""
    if settings.app_mode == "production" and settings.staff_password \
            and len(settings.staff_password.strip()) < settings.min_staff_password_chars:
        raise ConfigError(f"app_mode=production needs a staff password of at least {settings.min_staff_password_chars} "
                          "characters (not counting spaces at either end): set ASSISTANT_STAFF_PASSWORD.")
    if settings.staff_password:
        return settings.staff_user, settings.staff_password, False
    if settings.app_mode == "production":
        raise ConfigError("app_mode=production needs a staff password: set ASSISTANT_STAFF_PASSWORD "
                          "(or staff_password in assistant.toml).")
    return settings.staff_user, secrets.token_urlsafe(12), True


def staff_logins(settings: Settings) -> tuple[dict[str, str], bool]:
    """Every staff login (user -> password): staff_user's and those of staff_accounts; and whether the
    main password was made up for this run (development mode). Production checks every password's length."""
    user, password, generated = staff_credentials(settings)
    logins = {user: password}
    for item in (x.strip() for x in settings.staff_accounts.split(",")):
        if not item:
            continue
        name, sep, secret = item.partition(":")
        if not sep or not name.strip() or not secret:
            raise ConfigError("staff_accounts takes name:password pairs separated by commas.")
        if settings.app_mode == "production" and len(secret.strip()) < settings.min_staff_password_chars:
            raise ConfigError(f"staff_accounts: the password of {name.strip()!r} is shorter than "
                              f"{settings.min_staff_password_chars} characters.")
        logins[name.strip()] = secret
    return logins, generated


def slug(text: str, limit: int = 60) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:limit].strip("-") or "entry"


class Service:
    """Owns the live Assistant; every method is safe to call from many threads."""

    def __init__(self, settings: Settings, store: Store | None = None, embedder=None):
        self.settings = settings
        self.store = store or open_store(settings)
        self.metrics = Metrics()
        self._embedder = embedder
        self._bot: Assistant | None = None
        self._swap = threading.Lock()
        self._build = threading.Lock()
        self.health = Health()
        self.build = BuildState()
        self._sizes: dict[str, int] = {}       # file sizes of the loaded version, to notice damage on disk
        self._verified = 0.0                   # when the loaded version last matched its manifest's checksums
        self._failed_version: str | None = None

    # ---- loading -------------------------------------------------------------------------------
    def load(self) -> bool:
        """Load (or reload) the index; on failure keep serving the last good one and record why."""
        try:
            bot = Assistant.load(self.settings.index_dir, self.settings, embedder=self._embedder)
            self._embedder = bot.embedder
            for q in WARM_UP:  # pay for torch and word-frequency warm-up before the first patient does
                bot.ask(q)
        except AssistantError as exc:
            with self._swap:
                if self._bot is None:
                    self.health = Health("error", str(exc), [str(exc)])
                else:
                    self.health = Health("ready", "Serving the last good index.", [str(exc)])
            log.error("index load failed: %s", exc)
            return False
        except Exception as exc:  # an unreadable file deep inside faiss/bm25s: report, never crash the app
            msg = f"The index could not be loaded ({type(exc).__name__}: {exc}). Run `assistant index --full`."
            with self._swap:
                self.health = Health("error" if self._bot is None else "ready",
                                     msg if self._bot is None else "Serving the last good index.", [msg])
            log.exception("index load failed")
            return False
        with self._swap:
            self._bot = bot
            self._sizes = self._file_sizes(Path(bot.index.folder))
            self._verified = time.monotonic()  # load_index has just checked the checksums
            self.health = Health("ready", "The index is loaded.", [])
        return True

    @staticmethod
    def _file_sizes(folder: Path) -> dict[str, int]:
        from .index import FILES

        sizes = {}
        for name in FILES:
            try:
                sizes[name] = (folder / name).stat().st_size
            except OSError:
                sizes[name] = -1
        return sizes

    def check(self) -> None:
        """Pick up an index rebuilt outside the app (e.g. `assistant index`), and report damage to the
        live version's files on disk while patients keep being served from memory."""
        from .index import CURRENT

        if self.build.running:
            return
        try:
            name = (Path(self.settings.index_dir) / CURRENT).read_text(encoding="utf-8").strip()
        except OSError:
            name = ""
        bot = self._bot
        live = Path(bot.index.folder).name if bot is not None else None
        if name and name != live and name != self._failed_version:
            if not self.load():
                self._failed_version = name
            return
        if bot is None:
            return
        folder = Path(bot.index.folder)
        now = self._file_sizes(folder)
        damaged = sorted(f for f, size in self._sizes.items() if now.get(f) != size)
        if not damaged and time.monotonic() - self._verified >= self.settings.index_verify_seconds:
            from .index import damaged_files  # same-size damage: compare with the manifest's checksums

            damaged = damaged_files(folder, bot.index.manifest)
            self._verified = time.monotonic()
        with self._swap:
            if damaged:
                msg = (f"Index files changed or missing on disk ({', '.join(damaged)}); answers come from the copy "
                       "loaded in memory. Run `assistant index --full` to rebuild.")
                self.health = Health("ready", "Serving the last good index.", [msg])
            elif self.health.problems and self.health.problems[0].startswith("Index files changed"):
                self.health = Health("ready", "The index is loaded.", [])

    def watch(self, interval: float = 5.0) -> threading.Thread:
        """Run check() every `interval` seconds in a daemon thread."""
        def loop() -> None:
            while True:
                time.sleep(interval)
                try:
                    self.check()
                except Exception:  # the watcher must never die; the next round tries again
                    log.exception("index check failed")

        t = threading.Thread(target=loop, name="index-watch", daemon=True)
        t.start()
        return t

    def start(self) -> threading.Thread:
        """Load in the background so the server answers /healthz (503) while the model loads."""
        t = threading.Thread(target=self.load, name="index-load", daemon=True)
        t.start()
        return t

    @property
    def bot(self) -> Assistant:
        bot = self._bot
        if bot is None:
            raise Unavailable(self.health.reason)
        return bot

    def status(self) -> dict:
        """Health plus the live index's manifest summary."""
        bot = self._bot
        info: dict = {"status": self.health.state, "reason": self.health.reason, "problems": list(self.health.problems)}
        if bot is not None:
            m = bot.index.manifest
            info["index"] = {"documents": m.get("counts", {}).get("documents"), "chunks": m.get("counts", {}).get("chunks"),
                             "model": m.get("model", {}).get("id"), "index_type": m.get("index_type"),
                             "built_at": m.get("built_at"), "version": Path(bot.index.folder).name,
                             "review_flags": m.get("review_flags", [])}
        b = self.build
        info["rebuild"] = {"running": b.running, "done": b.done, "total": b.total, "message": b.message}
        return info

    # ---- answering -----------------------------------------------------------------------------
    def ask(self, question: str, history: list | None = None, channel: str = "api") -> tuple[Reply, int | None]:
        """Answer and log (redacted). Returns the reply and its question-log id."""
        bot = self.bot
        t0 = time.perf_counter()
        reply = bot.ask(question, history or [])
        ms = (time.perf_counter() - t0) * 1000
        self.metrics.answered(reply.route, channel, ms / 1000)
        qid = None
        triage = reply.triage
        if reply.route == "abstain":  # the patient is shown the clinic's contact card: staff see it in the log
            triage = f"{triage}; contact card" if triage else "contact card"
        try:
            qid = self.store.log_question(channel=channel, question=reply.question, route=reply.route,
                                          standalone_question=reply.standalone_question, triage=triage,
                                          sources=[c.source for c in reply.citations], latency_ms=ms)
        except Exception:  # the log must never cost a patient their answer
            log.exception("could not write the question log")
        return reply, qid

    # ---- rebuilds and curated answers --------------------------------------------------------------
    def rebuild(self, progress: Callable[[int, int], None] | None = None, full: bool = False) -> str:
        """Rebuild the index from the corpus, then swap it in; patients keep the old one until then."""
        from .embedding import Embedder
        from .index import build_index

        if not self._build.acquire(blocking=False):
            raise IndexBusyError("A rebuild is already running; wait for it to finish.")
        b = self.build
        b.running, b.done, b.total, b.started_at, b.message = True, 0, 0, time.time(), "Reading the corpus..."
        try:
            def tick(done: int, total: int) -> None:
                b.done, b.total, b.message = done, total, f"Embedding {done}/{total} new passages..."
                if progress:
                    progress(done, total)

            embedder = self._embedder or Embedder(self.settings.model, query_encoder=self.settings.query_encoder)
            self._embedder = embedder
            report = build_index(self.settings, embedder, full=full, progress=tick)
            b.message = "Loading the new index..."
            if not self.load():
                raise Unavailable(f"The rebuilt index could not be loaded: {'; '.join(self.health.problems)}")
            b.message = (f"Done: {report.documents} documents, {report.chunks} chunks, "
                         f"{report.embedded} passages embedded in {report.seconds:.1f} s.")
            return b.message
        except AssistantError as exc:
            b.message = f"Rebuild failed, the previous index is still live: {exc}"
            raise
        except Exception as exc:
            b.message = f"Rebuild failed, the previous index is still live: {type(exc).__name__}: {exc}"
            log.exception("rebuild failed")
            raise AssistantError(b.message) from exc
        finally:
            b.running, b.finished_at = False, time.time()
            self._build.release()

    def add_faq(self, question: str, answer: str, reviewer: str, review_date: str,
                progress: Callable[[int, int], None] | None = None, login: str = "", title: str = "") -> dict:
        """Propose a staff-written FAQ entry, or revise the entry already written for the same question
        (one entry, one file per question). With curated_approvals = 2 it waits for a second reviewer
        (approve_faq; a revised published entry stays live as it was until then); with 1 it is published at
        once. `title` is what patients see as the source's title (the question when empty). Returns the entry."""
        question, answer, reviewer, title = (x.strip() if isinstance(x, str) else ""
                                             for x in (question, answer, reviewer, title))
        if not question or not answer or not reviewer:
            raise InputError("A curated answer needs the question, the answer text and the reviewer's name.")
        try:
            reviewed = dt.date.fromisoformat(str(review_date).strip()[:10])
        except ValueError:
            raise InputError("The review date must look like 2026-11-27.") from None
        stored = pack_answer(title, answer)
        existing = self.find_curated(question)
        if existing is None:
            entry_id = self.store.add_curated(question=question, answer=stored, author=reviewer,
                                              review_date=reviewed.isoformat(), status="pending", login=login)
            self.store.log_action(login, "proposed", f"curated answer {entry_id} by {reviewer}: {question}")
        else:  # the same question again: revise it (its file keeps its name), and it needs approving again
            entry_id = existing["id"]
            self.store.update_curated(entry_id, question=question, answer=stored, author=reviewer,
                                      review_date=reviewed.isoformat(), status="pending", approved_by="",
                                      login=login or "")
            self.store.log_action(login, "revised", f"curated answer {entry_id} by {reviewer}: {question}")
        if self.settings.curated_approvals <= 1:
            return self.approve_faq(entry_id, reviewer, progress, login=login)
        return self.curated(entry_id)

    def curated(self, entry_id: int) -> dict | None:
        """A curated entry with its title split from the stored answer text."""
        entry = self.store.curated(int(entry_id))
        return unpack_entry(entry) if entry else None

    def curated_entries(self, status: str | None = None, limit: int = 500) -> list[dict]:
        return [unpack_entry(r) for r in self.store.rows("curated", limit, status)]

    def find_curated(self, question: str) -> dict | None:
        """The entry written for this question (case, spaces and the final ? aside), newest first."""
        key = question_key(question)
        return next((e for e in self.curated_entries(limit=10_000) if question_key(e["question"]) == key), None)

    def retire_faq(self, entry_id: int, progress: Callable[[int, int], None] | None = None,
                   login: str = "") -> str:
        """Take a curated answer out of service: its file leaves the corpus, the index is rebuilt, and the
        entry is removed (the staff actions log keeps what it said and who retired it)."""
        entry = self.curated(int(entry_id))
        if entry is None:
            raise InputError(f"There is no curated answer {entry_id}.")
        if entry["path"]:
            folder = (Path(self.settings.corpus_dir) / self.settings.faq_subdir).resolve()
            path = (Path(self.settings.corpus_dir) / entry["path"]).resolve()
            if path.parent != folder:
                raise InputError(f"Curated answer {entry_id} points outside {self.settings.faq_subdir}/.")
            path.unlink(missing_ok=True)
            self.rebuild(progress)
        self.store.delete_curated(int(entry_id))
        self.store.log_action(login, "retired", f"curated answer {entry_id} ({entry['path'] or 'never published'}), "
                                                f"written by {entry['author']}: {entry['question']} -> {entry['answer']}")
        return f"Retired curated answer #{entry_id}" + (f"; `{entry['path']}` left the index." if entry["path"] else ".")

    def approve_faq(self, entry_id: int, approver: str, progress: Callable[[int, int], None] | None = None,
                    login: str = "") -> dict:
        """A second reviewer signs a pending curated answer: it is saved as a corpus document and indexed."""
        entry = self.curated(int(entry_id))
        approver = approver.strip() if isinstance(approver, str) else ""
        if entry is None:
            raise InputError(f"There is no curated answer {entry_id}.")
        if entry["status"] != "pending":
            raise InputError(f"Curated answer {entry_id} is already published ({entry['path']}).")
        if not approver:
            raise InputError("Approving needs the approving reviewer's name.")
        if self.settings.curated_approvals > 1 and approver.casefold() == entry["author"].casefold():
            raise InputError(f"Curated answer {entry_id} was written by {entry['author']}; a second reviewer must "
                             "approve it.")
        if self.settings.curated_approvals > 1 and self.settings.staff_accounts.strip() and login \
                and login == entry.get("login"):
            raise InputError(f"Curated answer {entry_id} was proposed from the login {login!r}; a second reviewer "
                             "approves it from their own login.")
        path = self._publish_faq(entry["question"], entry["answer"], entry["author"], approver,
                                 dt.date.fromisoformat(entry["review_date"]), progress, title=entry["title"],
                                 path=entry["path"])
        rel = path.relative_to(self.settings.corpus_dir).as_posix()
        self.store.publish_curated(int(entry_id), approver, rel)
        self.store.log_action(login, "published", f"curated answer {entry_id} as {rel}: written by "
                                                  f"{entry['author']}, approved by {approver}")
        return self.curated(int(entry_id))

    def _publish_faq(self, question: str, answer: str, reviewer: str, approver: str, reviewed: dt.date,
                     progress: Callable[[int, int], None] | None = None, title: str = "", path: str = "") -> Path:
        """Save a signed FAQ entry as a corpus document (over its earlier version, if it has one) and index it."""
        flat = lambda s: " ".join(s.split())  # noqa: E731 - front matter values are single lines
        folder = Path(self.settings.corpus_dir) / self.settings.faq_subdir
        folder.mkdir(parents=True, exist_ok=True)
        earlier = (Path(self.settings.corpus_dir) / path) if path else None
        if earlier is not None and earlier.resolve().parent == folder.resolve():
            target = earlier
        else:
            target, n = folder / f"{slug(question)}.md", 2
            while target.exists() and not _written_for(target, question):
                target, n = folder / f"{slug(question)}-{n}.md", n + 1
        title = flat(title) or flat(question)
        approved = f"approved_by: {flat(approver)}\n" if approver.casefold() != reviewer.casefold() else ""
        text = (f"---\ntitle: {title}\nquestion: {flat(question)}\nreviewed_by: {flat(reviewer)}\n{approved}"
                f"reviewed_on: {reviewed.isoformat()}\n"
                f"review_due: {(reviewed + dt.timedelta(days=365)).isoformat()}\n---\n"
                f"# {title}\n\n## {flat(question)}\n\n{answer}\n")
        tmp = target.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        try:
            self.rebuild(progress)
        except IndexBusyError:
            # Another build holds the index (another replica's, with a shared index folder): nothing was indexed.
            # Take the file back, so the entry stays pending as a whole and approving it again works, instead of
            # the next build publishing it with its approval unrecorded (and a second approval writing a copy).
            # A revision's earlier version is not restored: it stays as it was until approved again.
            target.unlink(missing_ok=True)
            raise
        return target


# ---- curated entries: the title travels as front matter at the head of the stored answer text ------------
_TITLE = re.compile(r"\A---\ntitle: ([^\n]*)\n---\n\n?")


def pack_answer(title: str, answer: str) -> str:
    """The answer text as stored: with a title, a one-line front matter block before it."""
    title = " ".join((title or "").split())
    return f"---\ntitle: {title}\n---\n\n{answer}" if title else answer


def unpack_entry(entry: dict) -> dict:
    """A curated row with `title` split from its stored answer (empty for entries saved without one)."""
    m = _TITLE.match(entry.get("answer") or "")
    title, answer = (m.group(1).strip(), entry["answer"][m.end():]) if m else ("", entry.get("answer") or "")
    return {**entry, "title": title, "answer": answer}


def _written_for(path: Path, question: str) -> bool:
    """Whether a FAQ file was written for this question (its front matter says so, or its title, for files
    saved before the question was recorded): then it is updated, not joined by a -2 twin."""
    try:
        head = path.read_text(encoding="utf-8")[:2000]
    except OSError:
        return False
    m = re.search(r"^question: (.*)$", head, re.M) or re.search(r"^title: (.*)$", head, re.M)
    return bool(m) and question_key(m.group(1)) == question_key(question)
