"""PostgreSQL going away under the running service: patients keep their answers (the log line is lost),
feedback gets a clear 503, and both work again once the server is back. Its own server: the session's
keeps running."""
from __future__ import annotations

import time

import pytest
from starlette.testclient import TestClient

from assistant.api import create_api
from assistant.service import Service
from assistant.settings import Settings

pytestmark = pytest.mark.postgres


def test_a_database_outage_costs_log_lines_not_answers(shipped_index, embedder):
    from pgserver import bin_dir, postgres_server

    if bin_dir() is None:
        pytest.skip("PostgreSQL is not installed")
    with postgres_server() as server:
        settings = Settings(index_dir=str(shipped_index), db_url=server.new_database(), rate_limit_per_minute=0)
        service = Service(settings, embedder=embedder)
        assert service.load()
        with TestClient(create_api(service, {"staff": "a-password"}), raise_server_exceptions=False) as http:
            ask = {"question": "How many prolotherapy sessions are usually needed?"}
            r = http.post("/api/ask", json=ask)
            assert r.status_code == 200 and r.json()["question_id"] == 1
            server.stop()
            t0 = time.monotonic()
            r = http.post("/api/ask", json=ask)
            assert r.status_code == 200 and r.json()["route"] == "answer" and r.json()["question_id"] is None
            assert time.monotonic() - t0 < 8  # at most ~3 s waiting for a connection
            r = http.post("/api/feedback", json={"question_id": 1, "rating": 1})
            assert (r.status_code, r.json()) == (503, {"error": "That could not be saved just now; please try again "
                                                                "in a minute."})
            server.start()
            deadline = time.monotonic() + 30
            while (r := http.post("/api/feedback", json={"question_id": 1, "rating": 1})).status_code != 201:
                assert time.monotonic() < deadline, r.text
                time.sleep(0.5)
            assert http.post("/api/ask", json=ask).json()["question_id"] == 2
        service.store.close()
