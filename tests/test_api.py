"""The web app over real HTTP: `python app.py` in a subprocess, asked through httpx and gradio_client."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from appserver import REPO_ROOT, STAFF, running_app, running_apps

FRAMING = (REPO_ROOT / "assistant" / "prompts" / "framing.md").read_text(encoding="utf-8").strip()
FOLLOW = [{"role": "user", "content": "What is prolotherapy?"},
          {"role": "assistant", "content": "It is an injection-based approach."}]
CLINIC, EVIL = "https://clinic.example", "https://evil.example"
STAFF_ROUTES = [("GET", "/api/staff/status"), ("GET", "/api/staff/questions.csv"), ("GET", "/api/staff/feedback.csv"),
                ("GET", "/api/staff/questions"), ("GET", "/api/staff/feedback"), ("POST", "/api/staff/rebuild"),
                ("GET", "/api/staff/curated"), ("GET", "/api/staff/actions"),
                ("GET", "/api/staff/questions.csv?route=abstain&q=parking"), ("POST", "/api/staff/curated/1/retire"),
                ("GET", "/api/staff/runs/20261206-000000-questions/latency.png")]
# Personal data asked through the API and the chat; none of it may reach the question log or the app log.
PII_QUESTIONS = [
    "My name is Zelda Quixote, email zelda.quixote@example.com, phone (555) 867-5309. How many sessions?",
    "my name is zelda quixote and I was born 04/17/1979; is prolotherapy painful?",
    "I was born on April 17, 1979; call me at +1 555 246 8100 about knee injections",
]
PII_RAW = ["Zelda", "zelda", "Quixote", "quixote", "zelda.quixote@example.com", "867-5309", "555 246 8100",
           "04/17/1979", "April 17, 1979"]


def ask(base: str, question: str, history: list | None = None, **kw) -> httpx.Response:
    return httpx.post(base + "/api/ask", json={"question": question, "history": history or []}, timeout=60, **kw)


@pytest.fixture(scope="module")
def servers(tmp_path_factory, shipped_index):
    """Two apps started side by side: a ready one (CORS for the clinic) and one with no index and a tight
    rate limit (6 a minute, bursts of 3)."""
    root = tmp_path_factory.mktemp("api")
    index = root / "index"
    shutil.copytree(shipped_index, index)  # the staff rebuild writes here, not into the session's index
    corpus = root / "corpus"
    shutil.copytree(REPO_ROOT / "corpus", corpus)
    empty = root / "empty-index"
    empty.mkdir()
    ready_cm = running_app(root / "ready", index_dir=index, corpus_dir=corpus, env={"ASSISTANT_CORS_ORIGINS": CLINIC})
    unready_cm = running_app(root / "unready", index_dir=empty, corpus_dir=corpus, wait_healthy=False,
                             env={"ASSISTANT_RATE_LIMIT_PER_MINUTE": "6", "ASSISTANT_RATE_LIMIT_BURST": "3"})
    with running_apps(ready_cm, unready_cm) as ((base, proc, db), (unready, _, _)):
        yield SimpleNamespace(base=base, proc=proc, db=db, log=root / "ready" / "app.log", unready=unready)


@pytest.fixture(scope="module")
def server(servers):
    return servers


@pytest.fixture(scope="module")
def base(servers) -> str:
    return servers.base


# ---- answering ---------------------------------------------------------------------------------------
def test_ask_answers_with_citations_and_framing(base):
    r = ask(base, "How far apart are prolotherapy sessions?")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"route", "text", "citations", "standalone_question", "question_id"}
    assert body["route"] == "answer"
    first = body["citations"][0]
    assert first == {"number": 1, "source": "prolotherapy.md", "chunk_id": first["chunk_id"],
                     "title": "Understanding Prolotherapy And Its Role In Pain Management",
                     "section": "Timeline And Expected Sessions", "text": first["text"]}
    assert first["chunk_id"].startswith("prolotherapy.md#")  # which one: tests/test_integration_model.py
    assert "two to three weeks apart" in first["text"]
    assert [c["number"] for c in body["citations"]] == list(range(1, len(body["citations"]) + 1))
    assert "[1]" in body["text"] and "two to three weeks apart" in body["text"]
    assert body["text"].rstrip().endswith(FRAMING)
    assert body["standalone_question"] == "How far apart are prolotherapy sessions?"
    assert isinstance(body["question_id"], int)
    assert r.headers["x-content-type-options"] == "nosniff"


def test_follow_up_with_history_gets_a_standalone_question(base):
    body = ask(base, "How long does it take?", FOLLOW).json()
    assert body["route"] == "answer"
    assert body["standalone_question"] != "How long does it take?"
    assert "prolotherapy" in body["standalone_question"].lower()
    assert body["citations"] and body["text"].rstrip().endswith(FRAMING)


def test_emergency_escalates_without_citations(base):
    body = ask(base, "I have crushing chest pain and can't breathe").json()
    assert body["route"] == "emergency"
    assert body["citations"] == []
    assert "911" in body["text"] and FRAMING not in body["text"]


def test_healthz_ready_with_index_info(base, shipped_index):
    from assistant.index import read_manifest

    r = httpx.get(base + "/healthz", timeout=10)
    assert r.status_code == 200
    info = r.json()
    assert info["status"] == "ready" and info["problems"] == []
    # the one article, in as many chunks as the index it serves holds
    assert info["index"]["documents"] == 1
    assert info["index"]["chunks"] == read_manifest(shipped_index)["counts"]["chunks"] > 1
    assert info["index"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert info["index"]["version"].startswith("v-")
    assert info["rebuild"]["running"] is False


# ---- no index ------------------------------------------------------------------------------------------
def test_healthz_503_with_reason_when_the_index_is_missing(servers):
    r = httpx.get(servers.unready + "/healthz", timeout=10)
    assert r.status_code == 503
    info = r.json()
    assert info["status"] == "error"
    assert "assistant index" in info["reason"]  # says how to fix it
    assert "index" not in info


def test_ask_503_when_the_index_is_missing(servers):
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30) as client:
        r = client.post(servers.unready + "/api/ask", json={"question": "How many sessions?"})
    assert r.status_code == 503
    assert r.json()["error"].startswith("The assistant is not available right now:")
    assert "assistant index" in r.json()["error"]


# ---- rate limit (the no-index app: 6 a minute, bursts of 3) ---------------------------------------------
def test_rate_limit_gives_429_with_retry_after_after_the_burst(servers):
    url = servers.unready + "/api/ask"
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.3"), timeout=30) as client:
        codes = [client.post(url, json={"question": f"question {i}"}).status_code for i in range(3)]
        assert codes == [503, 503, 503]  # within the burst the request goes through (to "no index")
        r = client.post(url, json={"question": "one too many"})
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 10  # one token every 10 s at 6 a minute
    assert "wait" in r.json()["error"]
    # Another client has its own bucket.
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.4"), timeout=30) as other:
        assert other.post(url, json={"question": "hello"}).status_code == 503


# ---- the patient chat through Gradio's own client ------------------------------------------------------
def test_gradio_client_asks_the_patient_chat(base):
    from gradio_client import Client

    client = Client(base + "/", verbose=False)
    api = client.view_api(print_info=False, return_format="dict")
    assert list(api["named_endpoints"]) == ["/ask"]  # nothing else is callable by patients
    # Only the question: the conversation is kept on the server, never read back from the client.
    assert [p["parameter_name"] for p in api["named_endpoints"]["/ask"]["parameters"]] == ["question"]
    conversation, box, status = client.predict("How far apart are prolotherapy sessions?", api_name="/ask")
    assert box == "" and status == ""
    assert [m["role"] for m in conversation] == ["user", "assistant"]
    answer = conversation[-1]["content"][0]["text"]
    assert "[1]" in answer and "two to three weeks apart" in answer
    assert '<details class="cite"><summary>[1]' in answer  # the cited passage, expandable
    assert answer.rstrip().endswith(FRAMING)
    client.close()


# ---- staff routes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path", STAFF_ROUTES)
@pytest.mark.parametrize("auth", [None, (STAFF[0], "wrong-password"), ("someone", STAFF[1]), (STAFF[0], "")],
                         ids=["anonymous", "wrong-password", "wrong-user", "empty-password"])
def test_staff_routes_refuse_without_the_password(base, method, path, auth):
    r = httpx.request(method, base + path, auth=auth, timeout=30)
    assert r.status_code == 401
    assert r.json() == {"error": "Staff login required."}
    assert r.headers["www-authenticate"].startswith("Basic")
    assert r.headers["cache-control"] == "no-store" and r.headers["x-frame-options"] == "DENY"


def test_staff_routes_work_with_the_password(base):
    ask(base, "How many sessions are usually needed?")
    httpx.post(base + "/api/feedback", json={"rating": -1, "comment": "too vague"}, timeout=10)
    with httpx.Client(base_url=base, auth=STAFF, timeout=120) as staff:
        status = staff.get("/api/staff/status")
        assert status.status_code == 200 and status.json()["status"] == "ready"
        questions = staff.get("/api/staff/questions.csv")
        assert questions.status_code == 200 and questions.headers["content-type"].startswith("text/csv")
        assert 'filename="questions.csv"' in questions.headers["content-disposition"]
        assert questions.text.startswith("id,ts,channel,question,standalone_question,route,triage,sources,latency_ms")
        assert "How many sessions are usually needed?" in questions.text
        feedback = staff.get("/api/staff/feedback.csv")
        assert feedback.status_code == 200 and "too vague" in feedback.text
        ask(base, "Do you validate parking tickets?")
        declined = staff.get("/api/staff/questions.csv", params={"route": "abstain", "q": "PARKING"}).text.splitlines()
        assert declined[0].startswith("id,ts,channel,question") and len(declined) == 2 and "parking" in declined[1]
        assert staff.get("/api/staff/questions.csv", params={"route": "greeting"}).text.count("\n") == 1
        rows = staff.get("/api/staff/questions", params={"limit": 2})
        assert rows.status_code == 200 and len(rows.json()) == 2 and rows.json()[0]["id"] > rows.json()[1]["id"]
        assert staff.get("/api/staff/feedback").json()[0]["comment"] == "too vague"
        assert staff.get("/api/staff/nothing").status_code == 404
        rebuilt = staff.post("/api/staff/rebuild")
        assert rebuilt.status_code == 200 and rebuilt.json()["message"].startswith("Done:")
    assert ask(base, "How far apart are prolotherapy sessions?").json()["route"] == "answer"  # still serving


def test_staff_console_needs_a_login(base):
    assert httpx.get(base + "/staff/config", timeout=30).status_code == 401
    with httpx.Client(base_url=base, timeout=30) as browser:
        bad = browser.post("/staff/login", data={"username": STAFF[0], "password": "nope"})
        assert bad.status_code == 400
        assert browser.get("/staff/config").status_code == 401
        good = browser.post("/staff/login", data={"username": STAFF[0], "password": STAFF[1]})
        assert good.status_code == 200
        assert browser.get("/staff/config").status_code == 200


@pytest.mark.parametrize("method, path, code", [
    ("GET", "/api/ask", 405), ("GET", "/api/feedback", 405), ("GET", "/api/questions", 404),
    ("GET", "/api/questions.csv", 404), ("GET", "/api/feedback.csv", 404), ("GET", "/api/log", 404),
    ("GET", "/gradio_api/file=app.sqlite3", None), ("GET", "/gradio_api/file=app.log", None),
    ("GET", "/file=app.sqlite3", None),
])
def test_patient_endpoints_cannot_read_logs_or_feedback(server, method, path, code):
    r = httpx.request(method, server.base + path, timeout=30)
    if code is not None:
        assert r.status_code == code and "error" in r.json()
    else:  # the app's working folder holds the log and the database: Gradio must not serve them
        assert r.status_code in (403, 404)
    assert b"SQLite format" not in r.content and b"Patient chat:" not in r.content
    absolute = httpx.get(f"{server.base}/gradio_api/file={server.db}", timeout=30)
    assert absolute.status_code in (403, 404) and b"SQLite format" not in absolute.content


def test_docs_and_openapi(base):
    docs = httpx.get(base + "/docs", timeout=30)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    schema = httpx.get(base + "/openapi.json", timeout=30).json()
    assert {"/api/ask", "/api/feedback", "/healthz"} <= set(schema["paths"])
    assert "AskResponse" in schema["components"]["schemas"]


# ---- limits and CORS -------------------------------------------------------------------------------------
def test_body_size_limit_gives_413_with_a_clear_message(base):
    big = b'{"question": "' + b"a" * 300_000 + b'"}'
    message = {"error": "The request body is larger than 262,144 bytes."}
    r = httpx.post(base + "/api/ask", content=big, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413 and r.json() == message
    chunked = httpx.post(base + "/api/ask", content=iter([big[i:i + 65536] for i in range(0, len(big), 65536)]),
                         headers={"content-type": "application/json"}, timeout=60)  # no Content-Length
    assert chunked.status_code == 413 and chunked.json() == message
    r = httpx.post(base + "/api/feedback", content=b'{"rating": 1, "comment": "' + b"x" * 300_000 + b'"}',
                   headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 413
    small = httpx.post(base + "/api/ask", content=iter([b'{"question": ', b'"hello"}']),
                       headers={"content-type": "application/json"}, timeout=60)
    assert small.status_code == 200 and small.json()["route"] == "greeting"  # a chunked body is read in full


def test_cors_allows_the_clinic_origin_only(base):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    ok = httpx.options(base + "/api/ask", headers={"Origin": CLINIC, **preflight}, timeout=30)
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == CLINIC
    assert "POST" in ok.headers["access-control-allow-methods"]
    bad = httpx.options(base + "/api/ask", headers={"Origin": EVIL, **preflight}, timeout=30)
    assert "access-control-allow-origin" not in bad.headers
    r = ask(base, "hello", headers={"Origin": CLINIC})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == CLINIC
    r = ask(base, "hello", headers={"Origin": EVIL})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    # Errors reach the widget too, so it can show the message.
    too_big = httpx.post(base + "/api/ask", content=b"x" * 300_000, timeout=60,
                         headers={"Origin": CLINIC, "content-type": "application/json"})
    assert too_big.status_code == 413 and too_big.headers.get("access-control-allow-origin") == CLINIC


# ---- personal data -----------------------------------------------------------------------------------------
def test_no_personal_data_in_the_question_log_or_the_app_log(server):
    from gradio_client import Client

    for q in PII_QUESTIONS:
        assert ask(server.base, q).status_code == 200
    assert ask(server.base, "and how long does it take?",
               [{"role": "user", "content": PII_QUESTIONS[0]}]).status_code == 200
    httpx.post(server.base + "/api/feedback", json={"rating": 1, "comment": "thanks! my name is Zelda Quixote, 555-867-5309",
                                                   "question_id": 1}, timeout=10)
    client = Client(server.base + "/", verbose=False)
    client.predict(PII_QUESTIONS[1], [], api_name="/ask")
    client.close()
    with sqlite3.connect(server.db) as db:
        questions = db.execute("SELECT channel, question, standalone_question FROM questions").fetchall()
        feedback = db.execute("SELECT comment, question, answer FROM feedback").fetchall()
    assert {"api", "chat"} <= {row[0] for row in questions}
    stored = "\n".join(str(v) for row in questions + feedback for v in row)
    assert "[email]" in stored and "[phone]" in stored and "[date]" in stored and "[name]" in stored
    leaked = [str(row) for row in questions + feedback if any(raw in str(row) for raw in PII_RAW)]
    assert leaked == [], "personal data in the SQLite log:\n" + "\n".join(leaked)
    assert "@example.com" not in stored
    app_log = server.log.read_text(encoding="utf-8", errors="replace")
    assert "Patient chat:" in app_log  # the right file
    assert [raw for raw in PII_RAW if raw in app_log] == []
    with httpx.Client(base_url=server.base, auth=STAFF, timeout=30) as staff:
        export = staff.get("/api/staff/questions.csv").text + staff.get("/api/staff/feedback.csv").text
    assert [raw for raw in PII_RAW if raw in export] == []


# ---- start-up ---------------------------------------------------------------------------------------------
def test_production_mode_without_a_password_refuses_to_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update({"ASSISTANT_APP_MODE": "production", "ASSISTANT_DB_PATH": str(tmp_path / "db.sqlite3"),
                "ASSISTANT_INDEX_DIR": str(tmp_path / "no-index"), "GRADIO_ANALYTICS_ENABLED": "False",
                "HF_HUB_OFFLINE": "1"})
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "app.py"), "--port", "9"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "error: app_mode=production needs a staff password: set ASSISTANT_STAFF_PASSWORD" in proc.stderr
    assert "Patient chat:" not in proc.stdout
    assert not (tmp_path / "db.sqlite3").exists()  # refused before touching anything


def test_32_concurrent_feedback_posts_all_persist(server):
    from concurrent.futures import ThreadPoolExecutor

    with sqlite3.connect(server.db) as db:
        before = db.execute("SELECT COUNT(*) FROM feedback WHERE comment LIKE 'concurrent %'").fetchone()[0]

    def post(i: int) -> int:
        return httpx.post(server.base + "/api/feedback", timeout=30,
                          json={"rating": 1 if i % 2 else -1, "comment": f"concurrent {i}"}).status_code

    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(post, range(32)))
    assert codes == [201] * 32
    with sqlite3.connect(server.db) as db:
        rows = db.execute("SELECT comment FROM feedback WHERE comment LIKE 'concurrent %'").fetchall()
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert before == 0 and sorted(r[0] for r in rows) == sorted(f"concurrent {i}" for i in range(32))
