"""The web app on one port: patient chat at /, staff console at /staff/, JSON API at /api/, /healthz, /docs.

Run: `assistant serve [--host 127.0.0.1] [--port 7860]` (or `python app.py` in a checkout). Staff login:
ASSISTANT_STAFF_USER / ASSISTANT_STAFF_PASSWORD.
"""
from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def build_app(settings=None, *, load: bool = True):
    """The FastAPI app with both Gradio UIs mounted; returns (app, service, (user, password, generated))."""
    import gradio as gr
    from starlette.routing import Mount

    from assistant.api import RateLimiter, create_api
    from assistant.service import Service, staff_logins
    from assistant.settings import load_settings
    from assistant.console import CSS as CONSOLE_CSS, staff_app
    from assistant.ui import patient_app

    settings = settings or load_settings()
    logins, generated = staff_logins(settings)
    user, password = settings.staff_user, logins[settings.staff_user]
    service = Service(settings)
    if load:
        service.load()  # before the UIs, so starter questions come from the live index
        service.watch(settings.index_check_seconds)
    # The redactor's first call loads Presidio and its word data (seconds): here, in this thread (a second
    # thread importing spaCy beside the index load breaks both), not on the first patient's question.
    from assistant.redact import redact
    redact("Warm up: Jane Doe, 555-123-4567")
    # One limiter for the chat and the API: a client cannot double its share by using both.
    limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app = create_api(service, logins, limiter=limiter)
    from assistant.ui import PATIENT_CSS, patient_head
    staff = staff_app(service).queue(default_concurrency_limit=4)
    app = gr.mount_gradio_app(app, staff, path="/staff", auth=list(logins.items()), footer_links=[], ssr_mode=False,
                              auth_message="Clinic staff only.", css=CONSOLE_CSS)
    patient = patient_app(service, limiter).queue(default_concurrency_limit=settings.app_concurrency)
    app = gr.mount_gradio_app(app, patient, path="", footer_links=[], ssr_mode=False, css=PATIENT_CSS,
                              head=patient_head(), theme=gr.themes.Default(primary_hue="teal"))
    # What the API's guard checks Gradio calls against, and the console session its staff routes accept.
    app.state.gradio_blocks = {"": patient, "/staff": staff}
    app.state.staff_gradio = next(r.app for r in app.routes  # the Gradio App (its login tokens)
                                  if isinstance(r, Mount) and r.path == "/staff")
    return app, service, (user, password, generated)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default=os.environ.get("ASSISTANT_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("ASSISTANT_PORT", "7860")))
    args = parser.parse_args(argv)

    import uvicorn

    from assistant.errors import AssistantError
    from assistant.metrics import configure_logging
    from assistant.settings import load_settings

    try:
        settings = load_settings()
        configure_logging(settings.log_format)  # text lines, or one JSON object a line (log_format = "json")
        app, service, (user, password, generated) = build_app(settings)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    health = service.status()
    if health["status"] != "ready":
        print(f"warning: {health['reason']} /healthz answers 503 until it is fixed.", file=sys.stderr)
    url = f"http://{args.host}:{args.port}"
    print(f"Patient chat:   {url}/\nStaff console:  {url}/staff/  (user {user!r})\nAPI docs:       {url}/docs\n"
          f"Widget example: {url}/examples/widget.html\nQuestion log:   {service.store.describe()}", flush=True)
    if generated:
        print(f"No staff password configured (development mode): this run's password is {password!r}. "
              "Set ASSISTANT_STAFF_PASSWORD to choose one.", flush=True)
    trusted = service.settings.trusted_proxies.strip()
    # JSON logs: uvicorn's own records go through the root logger's JSON handler rather than its formatter.
    extra = {"log_config": None} if settings.log_format == "json" else {}
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None, **extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
