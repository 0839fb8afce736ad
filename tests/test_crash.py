"""kill -9 of `assistant index` at several points always leaves the previous index loadable."""
import os
import signal
import subprocess
import sys
import time

import pytest

from assistant.index import build_index, load_index
from assistant.settings import Settings


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 3.0, 6.0, 9.0, 12.0])
def test_kill_during_build_keeps_a_loadable_index(tmp_path, embedder, delay):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nSessions are two to three weeks apart.\n", encoding="utf-8")
    index_dir = tmp_path / "index"
    build_index(Settings(), embedder, corpus, index_dir)
    before = [c.text for c in load_index(index_dir).chunks]
    for i in range(40):  # enough new text that embedding takes a while
        (corpus / f"b{i}.md").write_text(f"# B{i}\n\n" + "Rest after each session is recommended. " * 40, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "index", "--corpus", str(corpus),
                             "--index", str(index_dir), "--full", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    after = load_index(index_dir)  # must not raise, whatever the kill point
    texts = [c.text for c in after.chunks]
    assert after.faiss_index.ntotal == len(texts) == len(after.embeddings)
    build_index(Settings(), embedder, corpus, index_dir)  # the next build recovers and cleans up
    complete = [c.text for c in load_index(index_dir).chunks]
    assert len(complete) > len(before)
    assert texts in (before, complete)  # the old index or the whole new one, never a mix
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".tmp-")]
    assert len([p for p in index_dir.iterdir() if p.name.startswith("v-")]) == 1
