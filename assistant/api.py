"""HTTP layer: the JSON API, health, staff data endpoints, limits and headers. No retrieval logic here."""
from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .errors import AssistantError, IndexBusyError, InputError
from .service import Service, Unavailable
from .settings import REPO_ROOT

log = logging.getLogger("assistant.api")
EXAMPLES_DIR = REPO_ROOT / "examples"


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


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        if err.get("type") == "json_invalid":
            return "The request body is not valid JSON. Send {\"question\": \"...\", \"history\": []}."
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts[:5]) + ". Send {\"question\": \"...\", \"history\": []}."


def reply_json(reply, question_id: int | None) -> dict:
    return {"route": reply.route, "text": reply.text, "standalone_question": reply.standalone_question,
            "question_id": question_id,
            "citations": [{"number": c.number, "source": c.source, "title": c.title, "section": c.section,
                           "chunk_id": c.chunk_id, "text": c.text} for c in reply.citations]}


def create_api(service: Service, staff_user: str, staff_password: str) -> FastAPI:
    """The FastAPI app with every non-Gradio route; app.py mounts the Gradio UIs on it."""
    s = service.settings
    app = FastAPI(title="Clinic FAQ assistant API", version="1", default_response_class=SafeJSONResponse,
                  description="Cited, physician-framed answers from the clinic's own materials. "
                              "Not medical advice; emergencies are escalated.")
    limiter = RateLimiter(s.rate_limit_per_minute, s.rate_limit_burst)
    basic = HTTPBasic(auto_error=False)

    def staff(creds: HTTPBasicCredentials | None = Depends(basic)) -> str:
        ok = creds is not None and secrets.compare_digest(creds.username.encode(), staff_user.encode()) \
            and secrets.compare_digest(creds.password.encode(), staff_password.encode())
        if not ok:
            raise HTTPException(401, "Staff login required.", headers={"WWW-Authenticate": 'Basic realm="staff"'})
        return creds.username

    origins = [o.strip() for o in s.cors_origins.split(",") if o.strip()]

    @app.middleware("http")
    async def limits_and_headers(request: Request, call_next):
        path = request.url.path
        if path.startswith("/api/") and request.method in ("POST", "PUT", "PATCH"):
            size = request.headers.get("content-length")
            if size is not None and (not size.isdigit() or int(size) > s.max_body_bytes):
                return SafeJSONResponse({"error": f"The request body is larger than {s.max_body_bytes:,} bytes."}, 413)
            if size is None:
                body = b""
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > s.max_body_bytes:
                        return SafeJSONResponse({"error": f"The request body is larger than {s.max_body_bytes:,} bytes."}, 413)
                request._body = body  # starlette reuses the buffered body for the endpoint
        try:
            response = await call_next(request)
        except Exception:  # pragma: no cover - last resort; endpoints handle their own errors
            log.exception("unhandled error on %s", path)
            response = SafeJSONResponse({"error": "Something went wrong on our side; please try again."}, 500)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if path.startswith("/staff") or path.startswith("/api/staff"):
            response.headers["X-Frame-Options"] = "DENY"
            response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
            response.headers["Cache-Control"] = "no-store"
        elif origins:
            response.headers["Content-Security-Policy"] = "frame-ancestors 'self' " + " ".join(origins)
        return response

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

    @app.get("/api/staff/{table}.csv", tags=["staff"], summary="Export the question log or feedback as CSV (staff login)")
    def staff_csv(table: str, user: str = Depends(staff)):
        if table not in ("questions", "feedback"):
            raise HTTPException(404, "Choose questions.csv or feedback.csv.")
        return PlainTextResponse(service.store.csv(table), media_type="text/csv",
                                 headers={"Content-Disposition": f'attachment; filename="{table}.csv"'})

    @app.get("/api/staff/{table}", tags=["staff"], summary="The newest rows of the question log or feedback (staff login)")
    def staff_rows(table: str, limit: int = 200, user: str = Depends(staff)):
        if table not in ("questions", "feedback"):
            raise HTTPException(404, "Choose questions or feedback.")
        return service.store.rows(table, max(1, min(limit, 10_000)))

    @app.post("/api/staff/rebuild", tags=["staff"], summary="Rebuild the index from the corpus (staff login)")
    def staff_rebuild(user: str = Depends(staff)):
        try:
            return {"message": service.rebuild()}
        except IndexBusyError as exc:
            return SafeJSONResponse({"error": str(exc)}, 409)
        except AssistantError as exc:
            return SafeJSONResponse({"error": str(exc)}, 500)

    @app.get("/examples/widget.html", include_in_schema=False)
    def widget_example():
        path = EXAMPLES_DIR / "widget.html"
        if not path.is_file():
            raise HTTPException(404, "examples/widget.html is missing from this installation.")
        return FileResponse(path, media_type="text/html")

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

    return app
