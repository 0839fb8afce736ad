"""Operations over real HTTP: Prometheus /metrics on the running app (read with prometheus_client's own
parser) and JSON log lines."""
from __future__ import annotations

import json
import shutil

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from appserver import REPO_ROOT, running_app

QUESTIONS = {  # one of each route the rates are made of
    "How many prolotherapy sessions are usually needed?": "answer",
    "I have crushing chest pain and my left arm is numb right now": "emergency",
    "What is the capital of France?": "abstain",
}


def scrape(base: str) -> dict[tuple[str, tuple], float]:
    r = httpx.get(base + "/metrics", timeout=30)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


@pytest.fixture(scope="module")
def app(tmp_path_factory, shipped_index):
    root = tmp_path_factory.mktemp("metrics")
    shutil.copytree(shipped_index, root / "index")
    with running_app(root / "run", index_dir=root / "index", corpus_dir=REPO_ROOT / "corpus",
                     env={"ASSISTANT_LOG_FORMAT": "json"}) as (base, proc, db):
        yield base, root / "run" / "app.log"


def test_metrics_count_requests_routes_and_answers(app):
    base, _ = app
    before = scrape(base)
    assert before[("assistant_ready", ())] == 1.0
    for question, route in QUESTIONS.items():
        r = httpx.post(base + "/api/ask", json={"question": question}, timeout=60)
        assert r.status_code == 200 and r.json()["route"] == route, r.text
    assert httpx.get(base + "/api/no-such-thing", timeout=10).status_code == 404
    assert httpx.post(base + "/api/feedback", json={"rating": 5}, timeout=10).status_code == 422
    after = scrape(base)

    def delta(name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    for route in ("answer", "emergency", "abstain"):
        assert delta("assistant_answers_total", route=route, channel="api") == 1.0
        assert delta("assistant_answer_duration_seconds_count", route=route) == 1.0
    assert delta("assistant_answers_total", route="advice", channel="api") == 0.0
    assert delta("assistant_http_requests_total", method="POST", route="/api/ask", status="200") == 3.0
    assert delta("assistant_http_request_duration_seconds_count", method="POST", route="/api/ask") == 3.0
    assert delta("assistant_http_request_duration_seconds_bucket", method="POST", route="/api/ask", le="+Inf") == 3.0
    assert delta("assistant_http_requests_total", method="GET", route="/api/{rest:path}", status="404") == 1.0
    assert delta("assistant_http_requests_total", method="POST", route="/api/feedback", status="422") == 1.0
    assert after[("assistant_recent_answers", ())] == 3.0
    assert after[("assistant_recent_abstention_rate", ())] == pytest.approx(1 / 3)
    assert after[("assistant_recent_emergency_rate", ())] == pytest.approx(1 / 3)
    # The live index version, as /healthz reports it; raw paths never become labels.
    health = httpx.get(base + "/healthz", timeout=10).json()["index"]
    index, = [k for k in after if k[0] == "assistant_index_info"]
    assert dict(index[1])["version"] == health["version"] and after[index] == 1.0
    assert after[("assistant_index_chunks", ())] == health["chunks"]
    assert not any("no-such-thing" in str(k) for k in after)


def test_the_patient_chat_and_staff_console_are_labelled_by_their_mount(app):
    base, _ = app
    assert httpx.get(base + "/", timeout=30).status_code == 200
    assert httpx.get(base + "/staff/", timeout=30, follow_redirects=False).status_code in (200, 302, 307)
    labels = {dict(k[1]).get("route") for k in scrape(base) if k[0] == "assistant_http_requests_total"}
    assert {"/*", "/staff/*", "/healthz", "/metrics"} <= labels


def test_json_logs(app):
    base, log = app
    # An unknown Gradio function is refused with one log line (assistant.api), here a JSON object.
    r = httpx.post(base + "/gradio_api/queue/join", json={"fn_index": 9999, "data": [], "session_hash": "x"},
                   timeout=10)
    assert r.status_code == 404
    records = []
    for line in log.read_text(encoding="utf-8").splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))  # every log record is one whole JSON object
    assert records, log.read_text()[-2000:]
    assert all({"ts", "level", "logger", "message"} <= set(r) for r in records)
    assert all(r["ts"].endswith("Z") for r in records)


@pytest.mark.parametrize("client, status", [(("10.1.2.3", 50000), 200), (("127.0.0.1", 50000), 403),
                                            (("192.168.0.9", 50000), 403)])
def test_metrics_clients_limits_who_may_scrape(tmp_path, client, status):
    from starlette.testclient import TestClient

    from assistant.api import create_api
    from assistant.service import Service
    from assistant.settings import Settings

    settings = Settings(db_path=str(tmp_path / "log.sqlite3"), index_dir=str(tmp_path / "none"),
                        metrics_clients="10.0.0.0/8, 2001:db8::/32")
    service = Service(settings)
    with TestClient(create_api(service, {"staff": "a-password"}), client=client) as http:
        r = http.get("/metrics")
    assert r.status_code == status
    if status == 200:
        assert "assistant_ready 0.0" in r.text  # no index loaded: not ready, and no index version
        assert "assistant_index_info" not in r.text
    else:
        assert r.json() == {"error": "Metrics are served to the monitoring network only."}


@pytest.mark.parametrize("changes, message", [
    ({"metrics_clients": "10.0.0.0/8, not-an-address"}, "metrics_clients: 'not-an-address'"),
    ({"log_format": "xml"}, "log_format='xml'; choose one of text, json"),
    ({"db_pool_size": 0}, "db_pool_size=0"),
])
def test_operations_settings_are_checked(changes, message):
    from assistant.errors import ConfigError
    from assistant.settings import Settings

    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        Settings().replace(**changes)
