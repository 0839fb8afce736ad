"""Two app replicas (real `python app.py` processes) sharing one PostgreSQL database and one index folder,
as behind a load balancer: staff work on one is seen by the other, a curated answer published on one is
served by the other after its hot swap, and feedback posted to both lands once each."""
from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from appserver import REPO_ROOT, STAFF, running_app, running_apps

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ANN, BEN = ("ann", "ann-password-1"), ("ben", "ben-password-2")
QUESTION = "Is there free parking for patients at the clinic?"
ANSWER = ("Yes. Free parking for patients is available in the lot behind the clinic building, "
          "and the lot is open from seven in the morning until seven in the evening.")


def ask(base: str, question: str) -> dict:
    r = httpx.post(base + "/api/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def version(base: str) -> str:
    r = httpx.get(base + "/healthz", timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["index"]["version"]


def test_two_replicas_share_postgresql_and_the_index(tmp_path_factory, shipped_index, postgres):
    root = tmp_path_factory.mktemp("replicas")
    index, corpus = root / "index", root / "corpus"
    shutil.copytree(shipped_index, index)           # one index folder for both (a shared volume in production)
    shutil.copytree(REPO_ROOT / "corpus", corpus)  # curated answers are written here by the replica that publishes
    db_url = postgres.new_database("replicas")
    env = {"ASSISTANT_DB_URL": db_url, "ASSISTANT_INDEX_CHECK_SECONDS": "1",
           "ASSISTANT_STAFF_ACCOUNTS": f"{ANN[0]}:{ANN[1]},{BEN[0]}:{BEN[1]}"}
    apps = [running_app(root / name, index_dir=index, corpus_dir=corpus, env=env) for name in ("a", "b")]
    with running_apps(*apps) as ((a, _, a_sqlite), (b, _, b_sqlite)):
        assert version(a) == version(b)
        before = version(a)
        assert ask(b, QUESTION)["route"] == "abstain"  # nothing about parking in the corpus yet

        # Proposed on A by one login; B lists it (one database), then a second login approves it on A.
        r = httpx.post(a + "/api/staff/curated", auth=ANN, timeout=60, json={
            "question": QUESTION, "answer": ANSWER, "reviewer": "Dr. Rivera", "review_date": "2026-12-06"})
        assert r.status_code == 201, r.text
        entry = r.json()["id"]
        pending = httpx.get(b + "/api/staff/curated", params={"status": "pending"}, auth=BEN, timeout=30).json()
        assert [(e["id"], e["question"], e["login"]) for e in pending] == [(entry, QUESTION, "ann")]
        t0 = time.monotonic()
        r = httpx.post(f"{a}/api/staff/curated/{entry}/approve", auth=BEN, json={"reviewer": "Nurse Okafor"},
                       timeout=300)
        assert r.status_code == 200, r.text
        published = r.json()
        assert published["status"] == "published" and published["path"].startswith("faq/")
        after = version(a)
        assert after != before

        # B notices the new index version in the shared folder and swaps it in (index_check_seconds = 1).
        deadline = time.monotonic() + 120
        while version(b) != after:
            assert time.monotonic() < deadline, "replica B never picked up the rebuilt index"
            time.sleep(0.5)
        swap_seconds = time.monotonic() - t0
        reply = ask(b, QUESTION)
        assert reply["route"] == "answer", reply["text"]
        assert published["path"] in [c["source"] for c in reply["citations"]]
        assert "behind the clinic building" in reply["text"]
        actions = httpx.get(b + "/api/staff/actions", auth=STAFF, timeout=30).json()
        assert [(x["login"], x["action"]) for x in reversed(actions)] == [("ann", "proposed"), ("ben", "published")]
        print(f"published on A, served by B {swap_seconds:.1f} s after the approval was sent")

        # Feedback posted to both replicas, many at once, lands once each in the one database.
        qa, qb = ask(a, "How far apart are the sessions?")["question_id"], ask(b, "How many sessions?")["question_id"]
        assert qa != qb

        def post(i: int) -> int:
            base, qid = (a, qb) if i % 2 else (b, qa)  # each replica rates a question the other one logged
            r = httpx.post(base + "/api/feedback", timeout=60,
                           json={"question_id": qid, "rating": 1 if i % 3 else -1, "comment": f"feedback {i}"})
            return r.status_code

        with ThreadPoolExecutor(16) as pool:
            assert list(pool.map(post, range(40))) == [201] * 40
        rows = postgres.query(db_url, "SELECT comment, COUNT(*), MIN(question_id) FROM feedback GROUP BY comment")
        assert sorted(rows) == sorted((f"feedback {i}", 1, qb if i % 2 else qa) for i in range(40))
        logged = postgres.query(db_url, "SELECT COUNT(*) FROM questions")[0][0]
        assert logged == 4
        assert httpx.get(a + "/api/staff/feedback", params={"limit": 100}, auth=STAFF, timeout=30).json() == \
            httpx.get(b + "/api/staff/feedback", params={"limit": 100}, auth=STAFF, timeout=30).json()
    # Neither replica fell back to a SQLite file of its own; each says which database it uses, password hidden.
    assert not a_sqlite.exists() and not b_sqlite.exists()
    for name in ("a", "b"):
        log = (root / name / "app.log").read_text(encoding="utf-8")
        assert f"Question log:   PostgreSQL postgresql://assistant:***@127.0.0.1:{postgres.port}/" in log
        assert postgres.password not in log
