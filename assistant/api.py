"""HTTP layer: the JSON API, health, staff data endpoints, limits and headers. No retrieval logic here."""
from __future__ import annotations

import asyncio
import functools
import json
import re
import logging
import math
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import AssistantError, IndexBusyError, InputError
from .service import Service, Unavailable
from .settings import PACKAGE_DIR

log = logging.getLogger("assistant.api")
STATIC_DIR = PACKAGE_DIR / "static"  # widget.js, the chat script, the widget example page (package data)


class SafeJSONResponse(JSONResponse):
    """JSON that survives lone surrogates and other unencodable text instead of failing with a 500."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


class Turn(BaseModel):
    role: str = Field(examples=["user"])
    content: str = Field(examples=["How far apart are the sessions?"])


class AskRequest(BaseModel):
    question: str = Field(description="The patient's message.", examples=["How many sessions are usually needed?"])
    history: list[Any] | None = Field(default_factory=list, description="Earlier turns, oldest first: "
                                      '[{"role": "user"|"assistant", "content": "..."}] (null for none). '
                                      "Malformed turns are ignored.")


class CitationOut(BaseModel):
    number: int
    source: str
    title: str
    section: str
    chunk_id: str
    text: str


class AskResponse(BaseModel):
    route: str = Field(description="answer | abstain | emergency | advice | greeting")
    text: str = Field(description="Markdown shown to the patient, with citation markers like [1].")
    citations: list[CitationOut]
    standalone_question: str
    question_id: int | None = None


class CuratedRequest(BaseModel):
    question: str = Field(description="The question it answers; the same question again revises its entry.")
    answer: str
    title: str = Field("", description="The title patients see on the citation (the question when empty).")
    reviewer: str = Field(description="The author's name (the first reviewer).")
    review_date: str = Field(examples=["2026-12-06"])


class ApproveRequest(BaseModel):
    reviewer: str = Field(description="The approving reviewer's name: not the author.")


class FeedbackRequest(BaseModel):
    question_id: int | None = Field(None, ge=1, le=2**63 - 1)  # SQLite's integer range
    rating: int = Field(description="1 for thumbs up, -1 for thumbs down.")
    comment: str = ""


class RateLimiter:
    """A token bucket per client: `per_minute` sustained, `burst` at once; 0 per minute turns it off."""

    def __init__(self, per_minute: int, burst: int, max_clients: int = 50_000):
        self.rate, self.burst, self.max_clients = per_minute / 60.0, float(burst), max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def peek(self, key: str) -> float:
        """0 while `key` has a token left, else the seconds until it has one; spends nothing."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, time.monotonic()))
        tokens = min(self.burst, tokens + (time.monotonic() - last) * self.rate)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def check(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > self.max_clients:  # forget idle clients rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 120}
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def console_user(request: Request) -> str | None:
    """The user signed in to the staff console (its session cookie), or None."""
    staff_app = getattr(request.app.state, "staff_gradio", None)
    if staff_app is None:
        return None
    for name in (f"access-token-{staff_app.cookie_id}", f"access-token-unsecure-{staff_app.cookie_id}"):
        token = request.cookies.get(name)
        if token and token in staff_app.tokens:
            return staff_app.tokens[token]
    return None


class LoginThrottle:
    """Failed logins counted per client and per user name within a window; over the limit, refuse until it passes.

    A user name gets 4x the client limit, so one attacker cannot lock staff out as quickly as it can guess."""

    def __init__(self, max_failures: int, window_seconds: float, max_keys: int = 100_000):
        self.max_failures, self.window, self.max_keys = max_failures, float(window_seconds), max_keys
        self._fails: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _limit(self, key: str) -> int:
        return self.max_failures * (4 if key.startswith("user:") else 1)

    def blocked(self, *keys: str) -> float:
        """0 when a login may be tried, else the seconds until it may."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                recent = [t for t in self._fails.get(key, ()) if now - t < self.window]
                if len(recent) >= self._limit(key):
                    wait = max(wait, recent[-self._limit(key)] + self.window - now)
        return wait

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._fails) > self.max_keys:  # forget old entries rather than grow without bound
                self._fails = {k: v for k, v in self._fails.items() if v and now - v[-1] < self.window}
            for key in keys:
                recent = [t for t in self._fails.get(key, ()) if now - t < self.window]
                self._fails[key] = (recent + [now])[-4 * self.max_failures:]


def _json_bytes(status: int, content: dict, extra: list[tuple[bytes, bytes]] = ()) -> tuple[dict, dict]:
    body = json.dumps(content).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    return ({"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": body})


CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; media-src 'self' blob:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'")
# FastAPI's /docs page loads Swagger UI from its CDN.
DOCS_CSP = CSP.replace("script-src 'self'", "script-src 'self' https://cdn.jsdelivr.net").replace(
    "style-src 'self'", "style-src 'self' https://cdn.jsdelivr.net").replace(
    "img-src 'self'", "img-src 'self' https://fastapi.tiangolo.com")
_FORWARDED = (b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port",
              b"x-forwarded-prefix", b"forwarded", b"x-real-ip")


class Guard:
    """Outermost checks on every request (pure ASGI, so it sees the Gradio apps' routes too).

    - every request body is capped at max_body_bytes (uploads included), and file uploads are refused:
      neither the patient chat nor the staff console takes files;
    - X-Forwarded-* headers are dropped unless the client is a trusted proxy;
    - Gradio calls to functions that do not exist get a 404 (not a 500 with a traceback in the log);
    - failed staff-console logins are throttled per client and per user name;
    - security headers on every response: CSP (frame-ancestors 'self' plus the CORS origins for
      patient pages, 'none' for staff pages), nosniff, Referrer-Policy;
    - an error that escapes an app is logged in one line.
    """

    TARPIT_SECONDS = 1.0  # a rate-limited client waits this long (at most) for its 429...
    TARPIT_MAX = 64       # ...while fewer than this many such answers are held back (then at once)

    def __init__(self, app, settings, throttle: LoginThrottle, limiter: "RateLimiter | None" = None):
        self.app, self.s, self.throttle, self.limiter = app, settings, throttle, limiter
        self.held = 0
        # Refused requests (oversized, uploads, unknown functions) spend a client's tokens here; once they
        # are gone its next requests with a body get a 429 before a byte of the body is read.
        self.refusals = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
        self.trusted = {h.strip() for h in settings.trusted_proxies.split(",") if h.strip()}
        origins = " ".join(o.strip() for o in settings.cors_origins.split(",") if o.strip())
        self.patient_ancestors = ("frame-ancestors 'self' " + origins).strip()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        client = (scope.get("client") or ("unknown", 0))[0]
        if client not in self.trusted:
            scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k not in _FORWARDED])
        started = False

        async def send_with_headers(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = dict(message, headers=self._headers(path, list(message.get("headers", []))))
                status_seen.append(message["status"])
            await send(message)

        status_seen: list[int] = []

        async def refuse(status: int, text: str, extra=(), key: str = "error"):
            start, body = _json_bytes(status, {key: text}, list(extra))
            await send_with_headers(start)
            await send(body)

        if method in ("POST", "PUT", "PATCH", "DELETE"):
            wait = self.refusals.peek(client)
            if wait:
                await self._tarpit(wait)
                return await refuse(429, "Too many refused requests; please wait a moment.",
                                    [(b"retry-after", str(math.ceil(wait)).encode())])
            # A client out of questions is told so before its body is read and parsed (a history near the
            # body cap costs milliseconds of parsing per request).
            wait = self.limiter.peek(client) if self.limiter is not None and path == "/api/ask" else 0.0
            if wait:
                await self._tarpit(wait)
                return await refuse(429, "Too many questions at once; please wait a moment and ask again.",
                                    [(b"retry-after", str(max(1, math.ceil(wait))).encode())])
            if path.endswith("/gradio_api/upload") or "/gradio_api/upload" in path:
                self.refusals.check(client)
                return await refuse(403, "This service does not accept file uploads.")
            body = await self._read_body(scope, receive)
            if body is None:
                self.refusals.check(client)
                return await refuse(413, f"The request body is larger than {self.s.max_body_bytes:,} bytes.")
            unknown = self._unknown_gradio_call(scope, path, body)
            if unknown:
                self.refusals.check(client)
                return await refuse(404, unknown)
            login_keys = self._login_keys(path, client, body)
            if login_keys:
                wait = self.throttle.blocked(*login_keys)
                if wait:
                    return await refuse(429, f"Too many failed logins; try again in {math.ceil(wait / 60)} minutes.",
                                        [(b"retry-after", str(math.ceil(wait)).encode())], key="detail")
            receive = _replay(body, receive)
        else:
            login_keys = None
        if method == "GET" and path in STAFF_PAGES:
            send_with_headers = _with_head(send_with_headers, staff_head())
        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:  # one line, not a 100-line traceback per bad request
            log.error("error on %s %s: %s: %s", method, path[:200], type(exc).__name__, str(exc)[:200])
            if not started:
                await refuse(500, "Something went wrong on our side; please try again.")
        if login_keys and status_seen and status_seen[0] != 200:
            self.throttle.failed(*login_keys)

    async def _tarpit(self, wait: float) -> None:
        """Hold a rate-limited client's 429 for up to TARPIT_SECONDS: a client that loops on refusals then
        sends a few a second instead of hundreds, each of which costs the server CPU the patients need.
        Bounded: past TARPIT_MAX held answers, the rest are sent at once."""
        if self.held >= self.TARPIT_MAX:
            return
        self.held += 1
        try:
            await asyncio.sleep(min(wait, self.TARPIT_SECONDS))
        finally:
            self.held -= 1

    async def _read_body(self, scope, receive) -> bytes | None:
        """The whole body, or None once it passes the cap (the declared length is checked first)."""
        cap = self.s.max_body_bytes
        for k, v in scope["headers"]:
            if k == b"content-length" and (not v.isdigit() or int(v) > cap):
                return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _unknown_gradio_call(self, scope, path: str, body: bytes) -> str | None:
        apps = getattr(scope.get("app").state, "gradio_blocks", None) if scope.get("app") is not None else None
        if not apps or "/gradio_api/" not in path:
            return None
        prefix, _, rest = path.partition("/gradio_api/")
        blocks = apps.get(prefix)
        if blocks is None:
            return None
        # The browser calls queue-less events (the chat's "show my message now" step) at run/predict with a
        # fn_index, like queue/join: the same check; run/predict without one names no function.
        if rest.startswith("queue/join") or rest.rstrip("/") == "run/predict":
            try:
                fn_index = json.loads(body or b"{}").get("fn_index")
            except (ValueError, AttributeError):
                return None  # Gradio's own validation answers malformed bodies with a 4xx
            if fn_index is not None and (not isinstance(fn_index, int) or fn_index not in blocks.fns):
                return "Unknown function."
            if fn_index is None and rest.startswith("run/"):
                return "There is no function named 'predict'."
        elif rest.startswith(("run/", "call/", "api/")):
            name = rest.split("/", 1)[1].split("/", 1)[0]
            names = {fn.api_name for fn in blocks.fns.values() if getattr(fn, "api_name", None)}
            if name and name not in names:
                return f"There is no function named {name[:60]!r}."
        return None

    def _login_keys(self, path: str, client: str, body: bytes) -> tuple[str, str] | None:
        if not (path == "/staff/login" or path == "/staff/login/"):
            return None
        form = parse_qs(body.decode("utf-8", "replace"))
        user = (form.get("username") or [""])[0].strip()
        return client, "user:" + user

    def _headers(self, path: str, headers: list) -> list:
        names = {k.lower() for k, _ in headers}
        out = [(k, v) for k, v in headers if k.lower() not in (b"content-security-policy", b"x-frame-options")]
        if b"x-content-type-options" not in names:
            out.append((b"x-content-type-options", b"nosniff"))
        if b"referrer-policy" not in names:
            out.append((b"referrer-policy", b"same-origin"))
        base = DOCS_CSP if path in ("/docs", "/redoc") else CSP
        if path.startswith("/staff") or path.startswith("/api/staff"):
            out += [(b"content-security-policy", f"{base}; frame-ancestors 'none'".encode()),
                    (b"x-frame-options", b"DENY")]
            if b"cache-control" not in names:
                out.append((b"cache-control", b"no-store"))
        else:
            out.append((b"content-security-policy", f"{base}; {self.patient_ancestors}".encode()))
        return out


STAFF_PAGES = ("/staff", "/staff/")


@functools.lru_cache(maxsize=1)
def staff_head() -> bytes:
    """A title and the console's colours for the staff pages. Gradio's login page has neither (its config
    carries no title or css): screen readers announce a page by its title (WCAG 2.4.2), and its orange
    Login button had 2.8:1 contrast (1.4.3). Signed in, Gradio sets the console's own title over it."""
    from .console import CSS

    return ("<title>Clinic assistant \u2014 staff console</title><style>" + CSS + "</style>").encode()


def _with_head(send, head: bytes):
    """A send that adds `head` to an HTML page that has no <title> (other responses pass unchanged)."""
    start: dict | None = None
    passthrough = False
    chunks: list[bytes] = []

    async def wrapped(message):
        nonlocal start, passthrough
        if message["type"] == "http.response.start":
            headers = {k.lower(): v for k, v in message.get("headers", [])}
            if not headers.get(b"content-type", b"").startswith(b"text/html") or b"content-encoding" in headers:
                passthrough = True
                return await send(message)
            start = message
            return None
        if passthrough or start is None or message["type"] != "http.response.body":
            return await send(message)
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return None
        body = b"".join(chunks)
        if b"<title>" not in body:
            body = body.replace(b"<head>", b"<head>" + head, 1)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send(dict(start, headers=headers + [(b"content-length", str(len(body)).encode())]))
        await send({"type": "http.response.body", "body": body, "more_body": False})
    return wrapped


def _replay(body: bytes, receive):
    """A receive that hands the app the buffered body, then waits on the client as before (disconnects)."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return replay


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        if err.get("type") == "json_invalid":
            return "The request body is not valid JSON. Send {\"question\": \"...\", \"history\": []}."
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts[:5]) + ". Send {\"question\": \"...\", \"history\": []}."


def curated_call(call):
    """A staff change to curated answers: its result, or the reason it was refused (422: the request; 409:
    another build holds the index)."""
    try:
        return call()
    except InputError as exc:
        return SafeJSONResponse({"error": str(exc)}, 422)
    except IndexBusyError as exc:
        return SafeJSONResponse({"error": str(exc)}, 409)


def reply_json(reply, question_id: int | None) -> dict:
    return {"route": reply.route, "text": reply.text, "standalone_question": reply.standalone_question,
            "question_id": question_id,
            "citations": [{"number": c.number, "source": c.source, "title": c.title, "section": c.section,
                           "chunk_id": c.chunk_id, "text": c.text} for c in reply.citations]}


def create_api(service: Service, logins: dict[str, str], limiter: "RateLimiter | None" = None) -> FastAPI:
    """The FastAPI app with every non-Gradio route; app.py mounts the Gradio UIs on it."""
    s = service.settings
    app = FastAPI(title="Clinic FAQ assistant API", version="1", default_response_class=SafeJSONResponse,
                  description="Cited, physician-framed answers from the clinic's own materials. "
                              "Not medical advice; emergencies are escalated.")
    limiter = limiter or RateLimiter(s.rate_limit_per_minute, s.rate_limit_burst)
    basic = HTTPBasic(auto_error=False)

    def staff(request: Request, creds: HTTPBasicCredentials | None = Depends(basic)) -> str:
        if creds is None:
            session_user = console_user(request)  # signed in to the staff console: its exports link here
            if session_user:
                return session_user
            raise HTTPException(401, "Staff login required.", headers={"WWW-Authenticate": 'Basic realm="staff"'})
        keys = (client_key(request), "user:" + creds.username.strip())
        wait = throttle.blocked(*keys)
        if wait:
            raise HTTPException(429, f"Too many failed logins; try again in {math.ceil(wait / 60)} minutes.",
                                headers={"Retry-After": str(math.ceil(wait))})
        expected = logins.get(creds.username)
        # compare against something in every case, so a wrong user name costs as long as a wrong password
        ok = secrets.compare_digest(creds.password.encode(), (expected or "\0" * 32).encode()) and expected is not None
        if not ok:
            throttle.failed(*keys)
            raise HTTPException(401, "Staff login required.", headers={"WWW-Authenticate": 'Basic realm="staff"'})
        return creds.username

    origins = [o.strip() for o in s.cors_origins.split(",") if o.strip()]

    throttle = LoginThrottle(s.login_max_failures, s.login_window_seconds)
    app.state.login_throttle = throttle
    app.add_middleware(Guard, settings=s, throttle=throttle, limiter=limiter)

    if origins:  # added last, so outermost: the 413 answered above carries the CORS headers too
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST"],
                           allow_headers=["Content-Type"], max_age=600)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        message = _validation_message(exc)
        return SafeJSONResponse({"error": message}, 422 if "JSON" not in message else 400)

    @app.exception_handler(StarletteHTTPException)  # also starlette's own, e.g. a body that is not UTF-8
    async def http_error(request: Request, exc: StarletteHTTPException):
        return SafeJSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

    @app.get("/healthz", tags=["service"], summary="200 once the index is loaded; 503 with the reason otherwise")
    def healthz():
        info = service.status()
        return SafeJSONResponse(info, 200 if info["status"] == "ready" else 503)

    @app.post("/api/ask", response_model=AskResponse, tags=["patient"],
              summary="Answer a patient question (with optional history)",
              responses={400: {"description": "Not JSON"}, 413: {"description": "Body too large"},
                         422: {"description": "Wrong fields or types"}, 429: {"description": "Too many requests"},
                         503: {"description": "Index not loaded"}})
    def ask(body: AskRequest, request: Request):
        wait = limiter.check(client_key(request))
        if wait:
            return SafeJSONResponse({"error": "Too many questions at once; please wait a moment and ask again."},
                                    429, headers={"Retry-After": str(max(1, math.ceil(wait)))})
        try:
            reply, qid = service.ask(body.question, body.history, channel="api")
        except Unavailable as exc:
            return SafeJSONResponse({"error": f"The assistant is not available right now: {exc}"}, 503)
        except InputError as exc:
            return SafeJSONResponse({"error": str(exc)}, 422)
        return reply_json(reply, qid)

    @app.post("/api/feedback", tags=["patient"], summary="Thumbs up (1) or down (-1) on an answer, optional comment",
              status_code=201)
    def feedback(body: FeedbackRequest, request: Request):
        if body.rating not in (1, -1):
            return SafeJSONResponse({"error": "rating must be 1 (thumbs up) or -1 (thumbs down)."}, 422)
        if limiter.check(client_key(request) + "#fb"):
            return SafeJSONResponse({"error": "Too many requests; please wait a moment."}, 429, headers={"Retry-After": "5"})
        fid = service.store.add_feedback(rating=body.rating, comment=body.comment, question_id=body.question_id)
        return SafeJSONResponse({"id": fid}, 201)

    @app.get("/api/staff/status", tags=["staff"], summary="Index status and health (staff login)")
    def staff_status(user: str = Depends(staff)):
        return service.status()

    @app.get("/api/staff/curated", tags=["staff"], summary="Curated answers, pending and published (staff login)")
    def staff_curated(status: str | None = None, user: str = Depends(staff)):
        return service.curated_entries(status if status in ("pending", "published") else None)

    @app.post("/api/staff/curated", tags=["staff"], status_code=201,
              summary="Propose a curated answer; it goes live when a second reviewer approves it (staff login)")
    def staff_propose(body: CuratedRequest, user: str = Depends(staff)):
        return curated_call(lambda: SafeJSONResponse(service.add_faq(
            body.question, body.answer, body.reviewer, body.review_date, login=user, title=body.title), 201))

    @app.post("/api/staff/curated/{entry_id}/approve", tags=["staff"],
              summary="A second reviewer approves a curated answer: it is published and indexed (staff login)")
    def staff_approve(entry_id: int, body: ApproveRequest, user: str = Depends(staff)):
        return curated_call(lambda: service.approve_faq(entry_id, body.reviewer, login=user))

    @app.post("/api/staff/curated/{entry_id}/retire", tags=["staff"],
              summary="Retire a curated answer: its file leaves the corpus and the index (staff login)")
    def staff_retire(entry_id: int, user: str = Depends(staff)):
        return curated_call(lambda: {"message": service.retire_faq(entry_id, login=user)})

    @app.get("/api/staff/actions", tags=["staff"], summary="Who did what in the staff console and API (staff login)")
    def staff_actions(limit: int = 200, user: str = Depends(staff)):
        return service.store.rows("staff_actions", max(1, min(limit, 10_000)))

    @app.get("/api/staff/runs/{run}/{name}", tags=["staff"],
             summary="A report of a benchmark run from the staff console: report.md or report.json (staff login)")
    def staff_run_report(run: str, name: str, user: str = Depends(staff)):
        from .console import RUNS_ROOT
        from .evaluate import PLOTS

        types = {"report.md": "text/markdown", "report.json": "application/json",
                 **{plot: "image/png" for plot in PLOTS.values()}}  # the plots show inline in the console
        if name not in types or not re.fullmatch(r"[\w.-]+", run) or run.startswith("."):
            raise HTTPException(404, "Choose report.md, report.json or a plot of a run.")
        path = RUNS_ROOT / run / name
        if not path.is_file():
            raise HTTPException(404, f"No {name} for run {run}.")
        if name.endswith(".png"):
            return FileResponse(path, media_type="image/png")
        return FileResponse(path, media_type=types[name], filename=f"{run}-{name}")

    @app.get("/api/staff/{table}.csv", tags=["staff"], summary="Export the question log or feedback as CSV (staff login)")
    def staff_csv(table: str, route: str | None = None, q: str | None = None, user: str = Depends(staff)):
        """The console's filters apply: `route` (questions), `q` (text the question contains)."""
        from .console import filter_rows

        if table not in ("questions", "feedback"):
            raise HTTPException(404, "Choose questions.csv or feedback.csv.")
        if route in (None, "", "all") and not q:
            text = service.store.csv(table)
        else:
            text = service.store.csv_of(table, filter_rows(service.store, table, route, q, 100_000))
        return PlainTextResponse(text, media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{table}.csv"'})

    @app.get("/api/staff/{table}", tags=["staff"], summary="The newest rows of the question log or feedback (staff login)")
    def staff_rows(table: str, limit: int = 200, user: str = Depends(staff)):
        if table not in ("questions", "feedback"):
            raise HTTPException(404, "Choose questions or feedback.")
        return service.store.rows(table, max(1, min(limit, 10_000)))

    @app.post("/api/staff/rebuild", tags=["staff"], summary="Rebuild the index from the corpus (staff login)")
    def staff_rebuild(user: str = Depends(staff)):
        try:
            message = service.rebuild()
            service.store.log_action(user, "rebuilt", message)
            return {"message": message}
        except IndexBusyError as exc:
            return SafeJSONResponse({"error": str(exc)}, 409)
        except AssistantError as exc:
            return SafeJSONResponse({"error": str(exc)}, 500)

    @app.get("/examples/widget.html", include_in_schema=False)
    def widget_example():
        path = STATIC_DIR / "example.html"
        if not path.is_file():
            raise HTTPException(404, "The widget example page is missing from this installation.")
        return FileResponse(path, media_type="text/html")

    @app.get("/widget.js", include_in_schema=False)
    def widget_script():
        """The one-line embed: a launcher and a chat panel on a clinic's page (README, Embedding the chat)."""
        return FileResponse(STATIC_DIR / "widget.js", media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=300"})

    @app.get("/staff", include_in_schema=False)
    def staff_slash():
        return Response(status_code=307, headers={"Location": "/staff/"})

    api_paths = {r.path: r.methods for r in app.routes if getattr(r, "path", "").startswith("/api/")}

    # Without this, unknown /api/ paths and wrong methods fall through to the Gradio app mounted at /.
    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def api_not_found(rest: str, request: Request):
        methods = api_paths.get("/api/" + rest)
        if methods:
            return SafeJSONResponse({"error": f"Use {' or '.join(sorted(methods))} for /api/{rest}."}, 405,
                                    headers={"Allow": ", ".join(sorted(methods))})
        return SafeJSONResponse({"error": f"There is no API endpoint /api/{rest}; see /docs."}, 404)

    from .errors import StoreError
    from .metrics import install as install_metrics

    @app.exception_handler(StoreError)  # the database is down (PostgreSQL restarting): say so, 503 not 500
    async def store_unavailable(request: Request, exc: StoreError):
        log.error("%s", exc)
        return SafeJSONResponse({"error": "That could not be saved just now; please try again in a minute."}, 503,
                                headers={"Retry-After": "60"})

    install_metrics(app, service)  # GET /metrics, and request counts and latencies (outermost layer)
    return app
