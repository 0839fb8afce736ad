"""The ONNX Runtime query encoder: same vectors and rankings as torch, no torch on the query path,
a fallback to torch for each way it can fail."""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant import onnx_encoder
from assistant.embedding import QUERY_ENCODERS, Embedder
from assistant.errors import ConfigError, ModelError

REPO_ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "How many sessions are needed?",
    "what is prolotherapy",
    "",
    "Can I take ibuprofen after the injection? My knee still hurts a week later.",
    "Prolotherapy involves injecting an irritant solution into a damaged ligament or tendon. " * 30,
]
QUESTIONS = ["How many sessions are needed?", "What is in the injection solution?",
             "What side effects can happen after prolotherapy?", "how long does recovery take",
             "Is it a surgery?"]


def torch_vectors(embedder: Embedder, texts: list[str]) -> np.ndarray:
    return embedder.model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory, embedder) -> Path:
    """A fresh export of the embedded model into a temporary cache, made with the session's torch model."""
    root = tmp_path_factory.mktemp("onnx-cache")
    # Exports a new export makes stale: from a virtualenv since removed, and from this model folder as it
    # was before a reinstall (another key); an export of another model stays.
    for name, model_id, source in (("all-MiniLM-L6-v2-0000000000000001", embedder.model_id, "/nonexistent/venv/model"),
                                   ("all-MiniLM-L6-v2-0000000000000002", embedder.model_id, embedder.location),
                                   ("other-model-0000000000000003", "someone/other-model", "/nonexistent/other")):
        (root / name).mkdir()
        (root / name / "meta.json").write_text(json.dumps({"model_id": model_id, "source": source}))
    onnx_encoder.ensure_export(embedder.model_id, embedder.location, root, lambda: embedder.model)
    return root


@pytest.fixture(scope="module")
def onnx_embedder(onnx_cache, embedder) -> Embedder:
    e = Embedder(query_encoder="onnx", onnx_cache=onnx_cache)
    e._model = embedder.model  # share the loaded torch model: nothing here needs a second copy
    return e


def test_export_folder_is_complete_and_verified(onnx_cache, embedder):
    (folder,) = [p for p in onnx_cache.iterdir() if not p.name.startswith("other-model")]
    assert (onnx_cache / "other-model-0000000000000003" / "meta.json").is_file(), "another model's export is kept"
    assert folder.name == onnx_encoder.export_key(embedder.model_id, embedder.location)
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "model.onnx", "tokenizer.json"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert (meta["dimension"], meta["max_seq_length"], meta["format"]) == (384, 256, onnx_encoder.FORMAT)
    assert meta["min_cosine_vs_torch"] > 0.999


def test_onnx_matches_torch_on_texts(onnx_embedder, embedder):
    ref = torch_vectors(embedder, TEXTS)
    got = np.vstack([onnx_embedder.encode_query(t) for t in TEXTS])
    assert onnx_embedder.query_backend == "onnx"
    assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * ref).sum(axis=1).min() > 0.999


def test_onnx_matches_torch_on_question_set(onnx_embedder, embedder):
    questions = [json.loads(line)["question"] for line in
                 (REPO_ROOT / "evals" / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = questions[::2]  # every other one keeps the test quick
    assert len(questions) > 50
    ref = torch_vectors(embedder, questions)
    got = onnx_embedder._onnx_encoder().encode(questions)  # one padded batch: masks must hold
    assert (got * ref).sum(axis=1).min() > 0.999


def test_same_rankings_on_shipped_index(shipped_index, onnx_embedder, embedder):
    from assistant import Assistant
    from assistant.settings import Settings

    torch_side = Embedder(query_encoder="torch")
    torch_side._model = embedder.model
    a = Assistant.load(shipped_index, Settings(), embedder=onnx_embedder)
    b = Assistant.load(shipped_index, Settings(), embedder=torch_side)
    for q in QUESTIONS:
        ours, theirs = a.retrieve(q, k=5), b.retrieve(q, k=5)
        assert [h.chunk_id for h in ours] == [h.chunk_id for h in theirs], q
        assert ours[0].dense_score == pytest.approx(theirs[0].dense_score, abs=1e-4)
    assert torch_side.query_backend == "torch"


def test_repeated_question_is_cached(onnx_embedder):
    first = onnx_embedder.encode_query("How far apart are sessions?")
    assert onnx_embedder.encode_query("How far apart are sessions?") is first


def test_query_path_imports_no_torch(shipped_index, onnx_cache):
    """A whole ask in a fresh process: ONNX answers it, and torch/sentence-transformers stay unimported."""
    code = (
        "import sys\n"
        "from assistant import Assistant\n"
        "from assistant.embedding import Embedder\n"
        "from assistant.settings import Settings\n"
        f"e = Embedder(query_encoder='onnx', onnx_cache={str(onnx_cache)!r})\n"
        f"bot = Assistant.load({str(shipped_index)!r}, Settings(), embedder=e)\n"
        "r = bot.ask('How many sessions are needed?')\n"
        "print(r.route, e.query_backend, sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == "answer onnx []"


# ---- configuration and fallbacks -----------------------------------------------------------------
def test_default_is_onnx_and_env_overrides(monkeypatch):
    monkeypatch.delenv("ASSISTANT_QUERY_ENCODER", raising=False)
    assert Embedder().query_encoder == QUERY_ENCODERS[0] == "onnx"
    monkeypatch.setenv("ASSISTANT_QUERY_ENCODER", "torch")
    assert Embedder().query_encoder == "torch"
    assert Embedder(query_encoder="onnx").query_encoder == "onnx"


def test_setting_reaches_the_embedder(monkeypatch, tmp_path):
    from assistant.settings import load_settings

    monkeypatch.setenv("ASSISTANT_QUERY_ENCODER", "torch")
    s = load_settings()
    assert s.query_encoder == "torch"
    (tmp_path / "a.toml").write_text('[assistant]\nquery_encoder = "onnx"\n', encoding="utf-8")
    monkeypatch.delenv("ASSISTANT_QUERY_ENCODER")
    assert load_settings(tmp_path / "a.toml").query_encoder == "onnx"
    with pytest.raises(ConfigError, match="choose one of onnx, torch"):
        load_settings(query_encoder="tensorrt")


def test_unknown_query_encoder_lists_choices():
    with pytest.raises(ConfigError, match="choose one of onnx, torch"):
        Embedder(query_encoder="tensorrt")


def test_torch_choice_never_touches_onnx(tmp_path, embedder):
    e = Embedder(query_encoder="torch", onnx_cache=tmp_path / "cache")
    e._model = embedder.model
    vec = e.encode_query("How many sessions are needed?")
    assert e.query_backend == "torch" and vec.shape == (384,)
    assert not (tmp_path / "cache").exists()


def _fallback_embedder(embedder, cache: Path) -> Embedder:
    e = Embedder(query_encoder="onnx", onnx_cache=cache)
    e._model = embedder.model
    return e


def test_fallback_when_onnxruntime_is_missing(monkeypatch, caplog, tmp_path, embedder):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import raises ImportError
    e = _fallback_embedder(embedder, tmp_path)
    with caplog.at_level(logging.WARNING, logger="assistant.embedding"):
        vec = e.encode_query("How many sessions are needed?")
    assert e.query_backend == "torch"
    assert np.allclose(vec, torch_vectors(embedder, ["How many sessions are needed?"])[0], atol=1e-6)
    assert "encoding questions with torch" in caplog.text and "onnxruntime" in caplog.text


def test_fallback_when_export_fails_is_remembered(monkeypatch, caplog, tmp_path, embedder):
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(onnx_encoder, "export", broken)
    with caplog.at_level(logging.WARNING, logger="assistant.embedding"):
        assert _fallback_embedder(embedder, tmp_path).encode_query("hello there").shape == (384,)
        assert "exporter exploded" in caplog.text
        (marker,) = tmp_path.glob(f"*.{onnx_encoder.FAILED_FILE}")
        assert "exporter exploded" in marker.read_text()
        assert [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []  # no half-written export
        # A new process (here: a new Embedder) does not retry a doomed export on every start.
        e = _fallback_embedder(embedder, tmp_path)
        assert e.query_backend == "torch" and len(calls) == 1
        assert "delete" in caplog.text


def test_export_refused_when_it_differs_from_torch(monkeypatch, onnx_cache, tmp_path, embedder):
    (good,) = [p for p in onnx_cache.iterdir() if not p.name.startswith("other-model")]
    import torch

    # A stand-in exporter (the real one is slow) writes the good model; an impossible bar refuses it.
    monkeypatch.setattr(torch.onnx, "export", lambda model, args, f, **kw: shutil.copyfile(good / "model.onnx", f))
    monkeypatch.setattr(onnx_encoder, "MIN_COSINE", 1.5)
    with pytest.raises(ModelError, match="differs from torch"):
        onnx_encoder.ensure_export(embedder.model_id, embedder.location, tmp_path, lambda: embedder.model)
    assert [p.name for p in tmp_path.iterdir()] == [f"{good.name}.{onnx_encoder.FAILED_FILE}"]
    assert _fallback_embedder(embedder, tmp_path).query_backend == "torch"


def test_export_of_another_model_is_refused(onnx_cache):
    (folder,) = [p for p in onnx_cache.iterdir() if not p.name.startswith("other-model")]
    with pytest.raises(ModelError, match="not 'someone/other-model'"):
        onnx_encoder.OnnxQueryEncoder(folder, "someone/other-model")


def test_hub_name_is_not_exported(tmp_path):
    with pytest.raises(ModelError, match="not a local model folder"):
        onnx_encoder.ensure_export("someone/model", "someone/model", tmp_path, lambda: None)
    assert list(tmp_path.iterdir()) == []
