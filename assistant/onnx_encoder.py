"""ONNX Runtime query encoder: the embedding model exported once to ONNX, run without torch.

The export (which needs torch) wraps the whole sentence-transformers pipeline (transformer, its
pooling, L2 normalisation), is checked against torch on probe texts, and is written atomically
into a cache folder keyed by the model's id and files. Queries then need only onnxruntime and
`tokenizers`: no torch import, which is most of a cold start.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .errors import ModelError

FORMAT = 1  # bump when the export recipe changes: old cache entries are then ignored
MIN_COSINE = 0.999  # an export further than this from torch on any probe text is refused
MODEL_FILE = "model.onnx"
META_FILE = "meta.json"
TOKENIZER_FILE = "tokenizer.json"
FAILED_FILE = "export-failed.txt"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Short and long, ASCII and not, one past the 256-word-piece limit: tokenisation and padding paths.
PROBES = (
    "How many sessions are needed?",
    "hi",
    "",
    "Is the injection safe after a knee replacement? Can I drive home afterwards?",
    "Café naïve façade — dosage 5 mg/kg, 2x daily; 痛み",
    "The treatment involves injecting an irritant solution into a damaged ligament or tendon. " * 30,
)

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """Per-user cache (XDG_CACHE_HOME or ~/.cache): one export serves every index of the model."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "clinic-faq-assistant" / "onnx"


def export_key(model_id: str, location: str) -> str:
    """Folder name of a model's export: its id plus a hash of its files (name, size, mtime)."""
    folder = Path(location)
    h = hashlib.sha256(f"{FORMAT}\0{model_id}\0{folder.resolve()}".encode())
    for p in sorted(folder.rglob("*")):
        if p.is_file() and ".git" not in p.parts:
            st = p.stat()
            h.update(f"\0{p.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id.rsplit("/", 1)[-1])[:60]
    return f"{slug}-{h.hexdigest()[:16]}"


class OnnxQueryEncoder:
    """Normalised float32 embeddings from an exported model, with the model's own tokenizer."""

    def __init__(self, folder: str | Path, model_id: str):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        if self.meta.get("model_id") != model_id or self.meta.get("format") != FORMAT:
            raise ModelError(f"The ONNX export at {folder} is of {self.meta.get('model_id')!r} "
                             f"(format {self.meta.get('format')}), not {model_id!r}; delete the folder to redo it.")
        self.model_id = model_id
        self.path = folder / MODEL_FILE
        tok = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        tok.enable_truncation(max_length=int(self.meta["max_seq_length"]))
        tok.enable_padding(pad_id=int(self.meta["pad_id"]), pad_token=self.meta["pad_token"])
        self.tokenizer = tok
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.inter_op_num_threads = 1
        # One thread per encode: a question is a short forward pass, and the app runs many at once; with a
        # pool per call, concurrent requests fight over 2 cores (8 threads encoding: 42 -> 89 per second).
        opts.intra_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.dim = int(self.meta["dimension"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) normalised float32 vectors; texts past max_seq_length are truncated."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        enc = self.tokenizer.encode_batch(list(texts))
        arrays = {
            "input_ids": np.array([e.ids for e in enc], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in enc], dtype=np.int64),
        }
        out = self.session.run(None, {name: arrays[name] for name in self.inputs})[0]
        return np.ascontiguousarray(out, dtype=np.float32)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return (a * b).sum(axis=1)


def _features(st, texts: list[str]) -> dict:
    prep = getattr(st, "preprocess", None) or st.tokenize  # sentence-transformers 6 renamed tokenize
    return prep(texts)


def export(st, folder: Path, model_id: str, location: str) -> None:
    """Export the SentenceTransformer `st` (already loaded) to folder/, verified against torch."""
    import torch

    if getattr(st, "default_prompt_name", None):
        raise ModelError(f"{model_id} adds a default prompt to every text; the ONNX encoder does not, so it is not used.")
    tokenizer_json = Path(location) / TOKENIZER_FILE
    if not tokenizer_json.is_file():
        raise ModelError(f"{location} has no {TOKENIZER_FILE} (a fast tokenizer is needed without torch).")
    feats = _features(st, list(PROBES[:2]))
    tensors = {k: v for k, v in feats.items() if isinstance(v, torch.Tensor)}
    unknown = sorted(set(tensors) - set(INPUTS))
    if unknown or "input_ids" not in tensors or "attention_mask" not in tensors:
        raise ModelError(f"{model_id} takes inputs {sorted(tensors)}; the ONNX encoder feeds only {', '.join(INPUTS)}.")
    names = [k for k in INPUTS if k in tensors]

    class Pipeline(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, *args):
            out = self.model(dict(zip(names, args)))["sentence_embedding"]
            return torch.nn.functional.normalize(out, p=2, dim=1)

    folder.mkdir(parents=True)
    # The TorchScript exporter: no onnxscript needed; torch >= 2.9 would pick the dynamo one.
    kwargs = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and legacy-exporter notices, none actionable here
        torch.onnx.export(
            Pipeline(st).eval(), tuple(tensors[k] for k in names), str(folder / MODEL_FILE),
            input_names=names, output_names=["embedding"], opset_version=17,
            dynamic_axes={**{k: {0: "batch", 1: "sequence"} for k in names}, "embedding": {0: "batch"}}, **kwargs,
        )
    shutil.copyfile(tokenizer_json, folder / TOKENIZER_FILE)
    tok = st.tokenizer
    meta = {
        "format": FORMAT, "model_id": model_id, "source": str(location), "dimension": _dimension(st),
        "max_seq_length": int(st.max_seq_length), "pad_id": int(tok.pad_token_id or 0),
        "pad_token": str(tok.pad_token or "[PAD]"), "inputs": names, "torch": torch.__version__,
    }
    (folder / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")

    # Verify: same word pieces as the model's own tokenizer, same vectors as torch (singly and padded).
    enc = OnnxQueryEncoder(folder, model_id)
    texts = list(PROBES)
    fast = [e.ids[: sum(e.attention_mask)] for e in enc.tokenizer.encode_batch(texts)]  # padding is on the right
    slow = tok(texts, truncation=True, max_length=int(st.max_seq_length))["input_ids"]
    if fast != [list(ids) for ids in slow]:
        raise ModelError(f"{TOKENIZER_FILE} of {model_id} splits text differently from the model's tokenizer.")
    ref = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    single = np.vstack([enc.encode([t]) for t in texts])
    cos = float(min(_cosines(ref, single).min(), _cosines(ref, enc.encode(texts)).min()))
    if cos < MIN_COSINE:
        raise ModelError(f"The ONNX export of {model_id} differs from torch (cosine {cos:.5f} < {MIN_COSINE}).")
    meta["min_cosine_vs_torch"] = round(cos, 7)
    (folder / META_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _dimension(st) -> int:
    return int((getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension)())


def ensure_export(model_id: str, location: str, cache_dir: str | Path | None,
                  load_model: Callable[[], object]) -> Path:
    """The folder of the model's ONNX export, made first (with torch, from load_model()) when missing."""
    if not Path(location).is_dir():
        raise ModelError(f"{location!r} is not a local model folder; the ONNX encoder needs one.")
    import onnxruntime  # noqa: F401  (fail early and cheaply when it is not installed)

    root = Path(cache_dir) if cache_dir else default_cache_dir()
    folder = root / export_key(model_id, location)
    failed = root / f"{folder.name}.{FAILED_FILE}"
    if not (folder / META_FILE).is_file():
        if failed.is_file():  # do not pay for torch and a doomed export on every start
            raise ModelError(f"an earlier export failed ({failed.read_text(encoding='utf-8').strip()}); "
                             f"delete {failed} to try again")
        st = load_model()  # torch, once; a model that cannot load is not an export failure
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".tmp-{folder.name}-{uuid.uuid4().hex}"
        try:
            log.info("Exporting %s to ONNX at %s (once).", model_id, folder)
            export(st, tmp, model_id, location)
            try:
                os.rename(tmp, folder)  # atomic; a concurrent export that finished first wins
            except OSError:
                if not (folder / META_FILE).is_file():
                    raise
        except ModelError as exc:
            failed.write_text(f"{exc}\n", encoding="utf-8")
            raise
        except Exception as exc:
            failed.write_text(f"{type(exc).__name__}: {exc}\n", encoding="utf-8")
            raise ModelError(f"ONNX export of {model_id} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        prune_stale(root, model_id, keep=folder.name)
    return folder


def prune_stale(root: Path, model_id: str, keep: str) -> list[str]:
    """Delete the model's other exports whose source folder is gone or has changed since (a removed or
    reinstalled virtualenv, an upgraded model package): each is ~90 MB that no install will use again, and
    every fresh install adds one. Exports of other models, and of sources still as they were, stay.
    Returns the names deleted."""
    gone = []
    for folder in root.iterdir():
        if folder.name == keep or not (folder / META_FILE).is_file():
            continue
        try:
            meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
            if meta.get("model_id") != model_id:
                continue
            source = meta.get("source") or ""
            if Path(source).is_dir() and export_key(model_id, source) == folder.name:
                continue  # another install of the model, still in place
            shutil.rmtree(folder)
            (root / f"{folder.name}.{FAILED_FILE}").unlink(missing_ok=True)
            gone.append(folder.name)
        except (OSError, ValueError) as exc:  # unreadable or in use elsewhere: leave it
            log.debug("Not pruning %s: %s", folder, exc)
    if gone:
        log.info("Removed %d stale ONNX export(s) of %s from %s.", len(gone), model_id, root)
    return gone


def load_or_export(model_id: str, location: str, cache_dir: str | Path | None,
                   load_model: Callable[[], object]) -> OnnxQueryEncoder:
    """The model's ONNX query encoder from the cache, exported first (with torch) when missing."""
    return OnnxQueryEncoder(ensure_export(model_id, location, cache_dir, load_model), model_id)
