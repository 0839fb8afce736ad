"""Operations: Prometheus metrics (GET /metrics) and JSON log lines.

Each app process has its own registry (scrape every replica; Prometheus labels them by instance):
request counts and latency histograms by route template (bounded labels, never a raw path), answers by
route (abstention and emergency rates are their ratios, also given over the last answers as gauges),
and the live index version and health read at scrape time."""
from __future__ import annotations

import ipaddress
import json
import logging
import threading
import time
from collections import deque

from fastapi import Request  # at module level: the route's annotation is resolved from these globals
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

ROUTES = ("answer", "abstain", "emergency", "advice", "greeting")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
RECENT_ANSWERS = 500  # the window of the abstention and emergency rate gauges


class Metrics:
    """The metrics of one app process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("assistant_http_requests", "HTTP requests by method, route template and status.",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("assistant_http_request_duration_seconds",
                                 "Time from a request's arrival to the end of its response, by route template.",
                                 ("method", "route"), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.answers = Counter("assistant_answers", "Patient questions answered, by answer route and channel.",
                               ("route", "channel"), registry=self.registry)
        self.answer_latency = Histogram("assistant_answer_duration_seconds",
                                        "Time to answer a patient question (triage, retrieval, composition).",
                                        ("route",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self._recent: deque[str] = deque(maxlen=RECENT_ANSWERS)
        self._lock = threading.Lock()
        for route in ROUTES:  # every series exists from the start, so rates are 0 rather than missing
            self.answer_latency.labels(route)

    def answered(self, route: str, channel: str, seconds: float) -> None:
        self.answers.labels(route, channel).inc()
        self.answer_latency.labels(route).observe(seconds)
        with self._lock:
            self._recent.append(route)

    def recent_rates(self) -> tuple[int, float, float]:
        """(answers in the window, abstention share, emergency share) over the last RECENT_ANSWERS answers."""
        with self._lock:
            recent = list(self._recent)
        n = len(recent)
        if not n:
            return 0, 0.0, 0.0
        return n, recent.count("abstain") / n, recent.count("emergency") / n

    def watch_service(self, service) -> None:
        """Index version, health and the recent rates, read from the service at each scrape."""
        self.registry.register(_ServiceCollector(service, self))

    def render(self) -> tuple[bytes, str]:
        # The classic text format (0.0.4), which Prometheus 2 and 3 both read; these names need no escaping.
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


class _ServiceCollector:
    def __init__(self, service, metrics: Metrics):
        self.service, self.metrics = service, metrics

    def collect(self):
        info = self.service.status()
        ready = GaugeMetricFamily("assistant_ready", "1 when the index is loaded and answers are served.")
        ready.add_metric([], 1.0 if info["status"] == "ready" else 0.0)
        yield ready
        problems = GaugeMetricFamily("assistant_health_problems", "Problems reported on /healthz (e.g. a damaged "
                                     "index on disk while the copy in memory serves).")
        problems.add_metric([], float(len(info.get("problems", []))))
        yield problems
        index = info.get("index")
        if index:
            meta = InfoMetricFamily("assistant_index", "The live index version (changes on every hot swap).")
            meta.add_metric([], {"version": str(index.get("version") or ""), "model": str(index.get("model") or ""),
                                 "index_type": str(index.get("index_type") or ""),
                                 "built_at": str(index.get("built_at") or "")})
            yield meta
            for name, key, text in (("assistant_index_documents", "documents", "Documents in the live index."),
                                    ("assistant_index_chunks", "chunks", "Passages in the live index.")):
                g = GaugeMetricFamily(name, text)
                g.add_metric([], float(index.get(key) or 0))
                yield g
        rebuild = GaugeMetricFamily("assistant_rebuild_running", "1 while an index rebuild started here runs.")
        rebuild.add_metric([], 1.0 if info.get("rebuild", {}).get("running") else 0.0)
        yield rebuild
        n, abstain, emergency = self.metrics.recent_rates()
        for name, value, text in (
                ("assistant_recent_answers", float(n), f"Answers in the rate window (the last {RECENT_ANSWERS})."),
                ("assistant_recent_abstention_rate", abstain, "Share of abstentions among the recent answers."),
                ("assistant_recent_emergency_rate", emergency, "Share of emergency escalations among the recent answers.")):
            g = GaugeMetricFamily(name, text)
            g.add_metric([], value)
            yield g


def _route_label(app, scope) -> str:
    """The matched route's template ('/api/staff/curated/{entry_id}/approve'), a mounted app's prefix
    ('/staff/*', '/*' for the patient chat), or 'unmatched': never the raw path, whose values are unbounded."""
    from starlette.routing import Match, Mount

    partial = None
    for route in app.router.routes:
        try:
            match, _ = route.matches(scope)
        except Exception:  # noqa: BLE001 - a label must never fail a request
            continue
        if match == Match.NONE:
            continue
        label = (route.path.rstrip("/") + "/*") if isinstance(route, Mount) else route.path
        if match == Match.FULL:
            return label
        partial = partial or label  # the path matches but not the method
    return partial or "unmatched"


class MetricsMiddleware:
    """Outermost ASGI layer: counts and times every request, refusals by the guard included."""

    def __init__(self, app, metrics: Metrics, fastapi_app):
        self.app, self.metrics, self.fastapi_app = app, metrics, fastapi_app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = [500]

        async def send_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"] if scope["method"] in ("GET", "POST", "HEAD", "PUT", "PATCH", "DELETE",
                                                            "OPTIONS") else "other"
            route = _route_label(self.fastapi_app, {**scope, "type": "http"})
            self.metrics.requests.labels(method, route, str(status[0])).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - t0)


def _allowed(clients: str):
    nets = []
    for item in (x.strip() for x in clients.split(",")):
        if item:
            nets.append(ipaddress.ip_network(item, strict=False))
    return nets


def install(app, service) -> None:
    """GET /metrics (Prometheus text format) and the request metrics, on the FastAPI app."""
    settings = service.settings
    metrics: Metrics = service.metrics
    metrics.watch_service(service)
    nets = _allowed(settings.metrics_clients)

    @app.get("/metrics", include_in_schema=False)
    def prometheus(request: Request):
        if nets:
            try:
                client = ipaddress.ip_address(request.client.host if request.client else "")
            except ValueError:
                client = None
            if client is None or not any(client in net for net in nets):
                return JSONResponse({"error": "Metrics are served to the monitoring network only."}, 403)
        body, content_type = metrics.render()
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})

    app.add_middleware(MetricsMiddleware, metrics=metrics, fastapi_app=app)


# ---- JSON logs ------------------------------------------------------------------------------------------
class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO), level, logger, message, and for an exception its type and
    text, and its traceback as one string (a log collector keeps each record whole)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str) -> None:
    """Root logging for the app: 'text' (human lines) or 'json' (one object a line)."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader reports every CPU-feature probe
