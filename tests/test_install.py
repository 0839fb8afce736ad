"""The package outside a checkout: a wheel built from this tree, installed (not editable) into a fresh
virtualenv the way the README says, run from an empty folder that holds only a corpus folder: it must
index, answer and serve with its own packaged prompts, models and static files. Slow (a full install)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from appserver import REPO_ROOT, free_port

pytestmark = pytest.mark.slow
MEDSPACY = ["medspacy==1.3.1", "PyRuSH==1.0.13", "medspacy_quickumls==3.2"]  # as the Makefile installs them


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} -> {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def test_a_wheel_in_a_fresh_virtualenv_indexes_answers_and_serves(tmp_path):
    src = tmp_path / "src"  # the wheel from a copy of the tracked files: nothing the checkout built is in it
    files = _run(["git", "ls-files", "-z"], cwd=REPO_ROOT).stdout.split("\0")
    for rel in filter(None, files):
        if (REPO_ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, src / rel)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(src)])
    wheel = next((tmp_path / "dist").glob("clinic_faq_assistant-*.whl"))
    venv = tmp_path / "venv"
    _run([shutil.which("python3") or sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    _run(pip + ["torch==2.13.0"])
    _run(pip + [str(wheel)])
    _run(pip + ["--no-deps", *MEDSPACY])

    work = tmp_path / "clinic"  # an empty folder with the clinic's corpus, far from the checkout
    shutil.copytree(REPO_ROOT / "corpus", work / "corpus")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "PYTHON", "VIRTUAL_ENV"))}
    env |= {"HF_HUB_OFFLINE": "1", "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}"}
    where = _run([str(venv / "bin" / "python"), "-c", "import assistant, sys; print(assistant.__file__)"],
                 cwd=work, env=env).stdout
    assert str(venv) in where and str(REPO_ROOT) not in where
    cli = str(venv / "bin" / "assistant")
    assert "chunks" in _run([cli, "index"], cwd=work, env=env).stdout
    answer = _run([cli, "ask", "How far apart are the sessions?"], cwd=work, env=env).stdout
    assert "[1]" in answer and "physician" in answer.lower()
    port = free_port()
    env |= {"ASSISTANT_STAFF_PASSWORD": "install-test-password", "ASSISTANT_RATE_LIMIT_PER_MINUTE": "0"}
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([cli, "serve", "--port", str(port)], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
            time.sleep(0.5)
        r = httpx.post(base + "/api/ask", json={"question": "I have crushing chest pain and can't breathe"}, timeout=60)
        assert r.status_code == 200 and r.json()["route"] == "emergency"
        r = httpx.post(base + "/api/ask", json={"question": "How far apart are the sessions?"}, timeout=60)
        assert r.status_code == 200 and r.json()["route"] == "answer" and r.json()["citations"]
        assert httpx.get(base + "/widget.js", timeout=10).status_code == 200
        assert httpx.get(base + "/examples/widget.html", timeout=10).status_code == 200
        assert httpx.get(base + "/", timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
