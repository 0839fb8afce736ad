"""The patient chat's conversation (queued questions, streamed answers, a signed copy kept in the browser),
the clinic's contact card and how answers read. The Gradio layout that uses them is ui.patient_app."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import json
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from .settings import Settings


def escape_tags(text: str) -> str:
    """Neutralise HTML in text shown as markdown; entities the engine already escaped stay as they are."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


# A patient may send a few questions while one is answered; more wait in the box until one is done.
MAX_QUEUED = 3
# What the browser keeps between visits: the last turns, within a size the Guard's body cap allows back.
KEEP_TURNS = 12
MAX_SAVED_CHARS = 120_000
TYPING = ('<span class="typing" role="status"><span class="dot"></span><span class="dot"></span>'
          '<span class="dot"></span> Looking through our articles…</span>')


@dataclass
class Turn:
    question: str                 # as typed (the engine's input)
    shown: str = ""               # the answer as the chat shows it (markdown/HTML, sanitised)
    raw: str = ""                 # the answer as the engine wrote it (history for follow-ups)
    question_id: int | None = None
    state: str = "queued"         # queued | answering | done


class Conversation:
    """One patient's conversation on the server. Two events share it: the one that accepts a question
    (the message shows at once) and the one that answers queued questions in order."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.lock = threading.Lock()
        self.rated: dict[int, int] = {}  # chat message index -> turn index (queued questions have no answer yet)
        self.epoch = 0                   # bumped by reset(): an answer in flight for older turns stops writing
        self.restored = False            # the browser's saved copy has been read back once

    def restore_from(self, saved: "Conversation") -> None:
        """Put the turns the browser kept before any asked since the page opened (once per tab)."""
        with self.lock:
            if not self.restored:
                self.restored = True
                self.turns[:0] = saved.turns

    def reset(self) -> None:
        with self.lock:
            self.turns, self.rated, self.epoch, self.restored = [], {}, self.epoch + 1, True

    def queued(self) -> int:
        return sum(t.state != "done" for t in self.turns)

    def add(self, question: str) -> None:
        with self.lock:
            self.turns.append(Turn(question))

    def next(self) -> Turn | None:
        """The oldest queued question, now being answered (None when there is none)."""
        with self.lock:
            for t in self.turns:
                if t.state == "answering":
                    return None  # another event is on it
                if t.state == "queued":
                    t.state = "answering"
                    return t
        return None

    def history(self) -> list[dict]:
        """The finished turns as the engine reads them."""
        out = []
        for t in self.turns:
            if t.state == "done":
                out += [{"role": "user", "content": t.question}, {"role": "assistant", "content": t.raw}]
        return out

    def messages(self) -> list[dict]:
        """What the chat shows: each question at once; a typing indicator on the one being answered."""

        out: list[dict] = []
        rated: dict[int, int] = {}
        with self.lock:
            first_open = next((i for i, t in enumerate(self.turns) if t.state != "done"), None)
            for i, t in enumerate(self.turns):
                out.append({"role": "user", "content": escape_tags(t.question)})
                if t.state == "done" or t.shown:
                    rated[len(out)] = i
                    out.append({"role": "assistant", "content": t.shown})
                elif i == first_open:
                    out.append({"role": "assistant", "content": TYPING})
            self.rated = rated
        return out

    def turn_at(self, message_index: int) -> Turn | None:
        i = self.rated.get(message_index)
        return self.turns[i] if i is not None and i < len(self.turns) else None


class Conversations:
    """The conversations of the open chat tabs, by Gradio session; the least recently used are forgotten
    past `limit` (their patients still have the signed copy in their browser)."""

    def __init__(self, limit: int = 5000):
        self.limit = limit
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: str | None) -> Conversation:
        if not session:
            return Conversation()
        with self._lock:
            conv = self._items.pop(session, None) or Conversation()
            self._items[session] = conv
            while len(self._items) > self.limit:
                self._items.popitem(last=False)
            return conv


# ---- the copy kept in the browser (localStorage), signed so a client cannot make up answers -------------
def _key_file(settings: Settings) -> Path:
    return Path(settings.db_path).resolve().parent / "browser_state.key"


def state_key(settings: Settings) -> bytes:
    """The app's key for signing saved conversations, made once and kept beside the database."""
    path = _key_file(settings)
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        pass
    key = secrets.token_bytes(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(key.hex(), encoding="ascii")
        path.chmod(0o600)
    except OSError:  # read-only disk: conversations survive reloads until the app restarts
        pass
    return key


CLEARED = "cleared"  # what a cleared conversation leaves in the browser (an empty value is not stored)


def save(conv: Conversation, key: bytes) -> str:
    """The finished turns as one signed string (newest turns kept within the size limit)."""
    done = [t for t in conv.turns if t.state == "done"][-KEEP_TURNS:]
    while True:
        data = [[t.question, t.shown, t.raw, t.question_id] for t in done]
        body = base64.urlsafe_b64encode(json.dumps(data, ensure_ascii=False).encode()).decode()
        if len(body) <= MAX_SAVED_CHARS or not done:
            break
        done = done[1:]
    if not done:
        return CLEARED
    mac = hmac.new(key, body.encode(), hashlib.sha256).hexdigest()
    return f"{mac}.{body}"


def restore(saved: object, key: bytes) -> Conversation:
    """The conversation a signed string holds; an empty one when it is missing, altered or malformed."""
    conv = Conversation()
    if not isinstance(saved, str) or "." not in saved or len(saved) > MAX_SAVED_CHARS + 100:
        return conv
    mac, _, body = saved.partition(".")
    if not hmac.compare_digest(mac, hmac.new(key, body.encode(), hashlib.sha256).hexdigest()):
        return conv
    try:
        data = json.loads(base64.urlsafe_b64decode(body.encode()))
        for q, shown, raw, qid in data[-KEEP_TURNS:]:
            conv.turns.append(Turn(str(q), str(shown), str(raw), qid if isinstance(qid, int) else None, "done"))
    except (ValueError, TypeError):
        return Conversation()
    return conv


# ---- the clinic's contact card ----------------------------------------------------------------------
def wants_contact(reply) -> bool:
    """Replies that lead to a person: abstentions and requests to talk to someone or be called back."""
    return reply.route == "abstain" or reply.triage == "contact request"


def contact_card(s: Settings) -> str:
    """Phone, hours and booking link from the settings (each only when set), as inert, escaped HTML."""
    name = html.escape(s.clinic_name)
    rows = []
    if s.clinic_phone.strip():
        tel = re.sub(r"[^\d+]", "", s.clinic_phone)
        rows.append(f'<li>Call <a href="tel:{tel}">{html.escape(s.clinic_phone.strip())}</a></li>')
    if s.clinic_hours.strip():
        rows.append(f"<li>Hours: {html.escape(s.clinic_hours.strip())}</li>")
    if s.clinic_booking_url.strip():
        rows.append(f'<li><a href="{html.escape(s.clinic_booking_url.strip(), quote=True)}" target="_blank" '
                    'rel="noopener noreferrer">Book an appointment</a></li>')
    if not rows:
        rows.append(f"<li>Contact {html.escape(s.clinic_contact)}</li>")
    return (f'<div class="contact-card"><strong>Talk to a person at {name}</strong>'
            f'<ul>{"".join(rows)}</ul></div>')


# ---- how answers read -------------------------------------------------------------------------------
_MARKED = re.compile(r"(.+?)\s?\[(\d+)\](?=\s|$)")


def group_citations(paragraph: str) -> str:
    """One marker per run of sentences from the same source; a sentence ending in ':' followed by cited
    sentences of the same source becomes a list (the engine quotes list items as sentences)."""
    parts = [(m.group(1).strip(), m.group(2)) for m in _MARKED.finditer(paragraph)]
    if not parts or re.sub(r"\s", "", "".join(f"{s}[{n}]" for s, n in parts)) != re.sub(r"\s", "", paragraph):
        return paragraph  # not a paragraph of cited sentences: leave it alone
    out: list[str] = []
    i = 0
    while i < len(parts):
        sent, n = parts[i]
        j = i
        while (j + 1 < len(parts) and parts[j + 1][1] == n and not sent.endswith(":")
               and not parts[j + 1][0].endswith(":")):
            j += 1
        if sent.endswith(":") and i + 1 < len(parts):  # a list: its items follow, the marker on the last
            items = []
            k = i + 1
            while k < len(parts) and parts[k][1] == n:
                items.append(parts[k][0])
                k += 1
            out.append(sent + "\n\n" + "\n".join(f"- {it}" for it in items[:-1]) +
                       (f"\n- {items[-1]} [{n}]" if items else f" [{n}]") + "\n\n")
            i = k
            continue
        out.append(" ".join(p[0] for p in parts[i:j + 1]) + f" [{n}]")
        i = j + 1
    return " ".join(out).replace("\n ", "\n").strip()


def sentence_case(title: str) -> str:
    """'Timeline And Expected Sessions' -> 'Timeline and expected sessions' (acronyms kept)."""
    words = title.split()
    out = []
    for i, w in enumerate(words):
        keep = i == 0 or w.isupper() or any(c.isdigit() for c in w) or not w[:1].isupper() or not w[1:].islower()
        out.append(w if keep else w.lower())
    return " ".join(out)


def reviewed_line(metadata: dict) -> str:
    """'Reviewed by X, March 2026' from front matter (reviewed_by, reviewed_on), or ''."""
    who = str(metadata.get("reviewed_by", "") or "").strip()
    when = metadata.get("reviewed_on")
    month = ""
    if when:
        try:
            d = when if isinstance(when, dt.date) else dt.date.fromisoformat(str(when)[:10])
            month = d.strftime("%B %Y")
        except ValueError:
            month = ""
    if who and month:
        return f"Reviewed by {who}, {month}"
    if who:
        return f"Reviewed by {who}"
    return f"Reviewed {month}" if month else ""
