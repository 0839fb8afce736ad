"""Start the real app (`python app.py`) in a subprocess on a free loopback port, for HTTP and browser tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
STAFF = ("staff", "test-staff-password")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(tmp: Path, *, index_dir: Path | None = None, corpus_dir: Path | None = None,
                env: dict[str, str] | None = None, wait_healthy: bool = True, timeout: float = 120.0):
    """Yield (base_url, process, db_path). The app keeps its SQLite file and logs under `tmp`."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    db = tmp / "app.sqlite3"
    full_env = {**os.environ, "ASSISTANT_DB_PATH": str(db), "ASSISTANT_STAFF_USER": STAFF[0],
                "ASSISTANT_STAFF_PASSWORD": STAFF[1], "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
                "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0",
                "ASSISTANT_LOGIN_MAX_FAILURES": "1000"}  # tests log in wrongly on purpose, many times
    if index_dir is not None:
        full_env["ASSISTANT_INDEX_DIR"] = str(index_dir)
    if corpus_dir is not None:
        full_env["ASSISTANT_CORPUS_DIR"] = str(corpus_dir)
    full_env.update(env or {})
    log = open(tmp / "app.log", "w")
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "app.py"), "--host", "127.0.0.1", "--port", str(port)],
                            cwd=tmp, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {proc.returncode}: {(tmp / 'app.log').read_text()[-3000:]}")
            try:
                r = httpx.get(base + "/healthz", timeout=2)
                if r.status_code == 200 or (not wait_healthy and r.status_code == 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"app.py not healthy after {timeout} s: {(tmp / 'app.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield base, proc, db
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextmanager
def running_apps(*apps):
    """Enter several running_app(...) context managers at once (each start is mostly imports, so two side by
    side take the time of one); yield their (base_url, process, db_path) in order; stop them all."""
    with ExitStack() as stack:
        with ThreadPoolExecutor(len(apps)) as pool:
            futures = [(cm, pool.submit(cm.__enter__)) for cm in apps]
        started, error = [], None
        for cm, fut in futures:
            try:
                started.append(fut.result())
                stack.push(cm.__exit__)
            except BaseException as exc:  # noqa: BLE001 - re-raised once the others are stopped
                error = error or exc
        if error is not None:
            raise error
        yield started
