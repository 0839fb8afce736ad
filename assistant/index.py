"""The persistent hybrid index: FAISS vectors + BM25 + chunk store + manifest, built incrementally
and swapped in atomically (index/CURRENT names the live version folder)."""
from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import prompts
from .chunking import Chunk, Chunker
from .documents import Document, LoadReport, load_corpus, review_documents
from .embedding import Embedder
from .errors import CorpusError, IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError
from .sentences import SentenceVectors, chunk_sentences
from .settings import Settings
from .text import analyze, words

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
REVIEW_RULES = "review_flags.toml"  # lines for staff review (assistant.documents.review_documents)
CURRENT = "CURRENT"
FILES = ("manifest.json", "chunks.jsonl", "embeddings.npy", "vectors.faiss")
BUILD_HINT = "Run `assistant index --full` to rebuild it."


def doc_hash(doc: Document) -> str:
    """Content hash of a document: its text, title and metadata."""
    payload = json.dumps([doc.title, doc.text, doc.metadata], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def chunk_params(settings: Settings) -> dict:
    params = {"max_tokens": settings.max_tokens, "overlap_sentences": settings.overlap_sentences, "chunker": 1}
    if settings.sentence_vectors_one_pass:  # sentence vectors of another kind: no reuse across the switch
        params["sentence_vectors"] = "one_pass"
    return params


def _chunk_to_json(c: Chunk) -> dict:
    return {"id": c.id, "source": c.source, "title": c.title, "headings": list(c.headings), "text": c.text,
            "start": c.start, "end": c.end, "context": c.context, "n_tokens": c.n_tokens, "metadata": c.metadata}


def _chunk_from_json(d: dict) -> Chunk:
    return Chunk(**{**d, "headings": tuple(d["headings"])})


class BM25:
    """Okapi BM25 over the analyzer's tokens, backed by bm25s's sparse score matrix."""

    def __init__(self, model):
        self.model = model

    @classmethod
    def build(cls, token_lists: list[list[str]]) -> "BM25":
        import bm25s

        model = bm25s.BM25()
        model.index([toks or [""] for toks in token_lists] or [[""]], show_progress=False)
        return cls(model)

    def save(self, folder: Path) -> None:
        self.model.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> "BM25":
        import bm25s

        return cls(bm25s.BM25.load(str(folder), show_progress=False, verbosity=0))

    def knows(self, token: str) -> bool:
        return token in self.model.vocab_dict

    def scores(self, tokens: list[str]) -> np.ndarray:
        ids = self.model.get_tokens_ids(tokens)
        n = int(self.model.scores["num_docs"])
        if not ids:
            return np.zeros(n, dtype=np.float32)
        return self.model.get_scores_from_ids(ids)


def vocabulary(texts: list[str]) -> list[str]:
    """Distinct lowercase words of the corpus, for spelling correction at question time."""
    out: set[str] = set()
    for t in texts:
        out.update(w for w in words(t) if w.isalpha() and len(w) > 1)
    return sorted(out)


HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 40, 128
IVFPQ_RERANK = 10  # IVF-PQ candidates per wanted result, re-scored exactly against the stored embeddings
IVFPQ_MIN_VECTORS = 64  # below this an IVF-PQ request builds a flat index (nothing to gain, too few to train on)


def choose_index_type(n: int, kind: str, hnsw_threshold: int, ivfpq_threshold: int = 0) -> str:
    """The FAISS structure for n vectors: "auto" is flat below hnsw_threshold, HNSW from it, and IVF-PQ
    from ivfpq_threshold (0: never); other kinds are used as given. Thresholds: benchmarks/index_scale.py."""
    if kind == "auto":
        if ivfpq_threshold and n >= ivfpq_threshold:
            kind = "ivfpq"
        else:
            kind = "hnsw" if n >= hnsw_threshold else "flat"
    return "flat" if kind == "ivfpq" and n < IVFPQ_MIN_VECTORS else kind


def ivfpq_params(n: int, dim: int) -> dict:
    """IVF-PQ shape for n vectors: about 2*sqrt(n) lists (a power of two, at least 39 training points
    each), dim/4 sub-quantizers of 4 bits (FAISS's SIMD fast-scan layout), a quarter of the lists probed."""
    nlist = 1
    while nlist * 2 <= min(2 * n ** 0.5, n / 39):
        nlist *= 2
    m = max(d for d in range(1, max(1, dim // 4) + 1) if dim % d == 0)
    return {"nlist": nlist, "m": m, "nbits": 4, "nprobe": max(1, nlist // 4)}


def _ivfpq_index(vectors: np.ndarray, params: dict, seed: int = 1234):
    """An empty, trained IVF-PQ fast-scan index (inner product) over a sample of the vectors."""
    import faiss

    dim = vectors.shape[1]
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFPQFastScan(quantizer, dim, params["nlist"], params["m"], params["nbits"],
                                     faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 20
    index.cp.min_points_per_centroid = index.pq.cp.min_points_per_centroid = 1  # small corpora: no warnings
    n_train = min(len(vectors), 64 * params["nlist"])
    rng = np.random.default_rng(seed)
    train = vectors if n_train == len(vectors) else vectors[np.sort(rng.choice(len(vectors), n_train, replace=False))]
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # training runs thousands of tiny parallel loops: one thread was 5-16x faster
    try:                          # on a busy 2-core machine (benchmarks/index_scale.py)
        index.train(np.ascontiguousarray(train))
    finally:
        faiss.omp_set_num_threads(threads)
    index.nprobe = params["nprobe"]
    return index


def _faiss_index(vectors: np.ndarray, kind: str, auto_threshold: int, ivfpq_threshold: int = 0):
    import faiss

    dim = vectors.shape[1]
    kind = choose_index_type(len(vectors), kind, auto_threshold, ivfpq_threshold)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    elif kind == "ivfpq":
        index = _ivfpq_index(vectors, ivfpq_params(len(vectors), dim))
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(vectors)
    return index, kind


@dataclass
class Index:
    """A loaded index version: chunks, their vectors, FAISS and BM25 over them."""

    folder: Path
    manifest: dict
    chunks: list[Chunk]
    embeddings: np.ndarray
    faiss_index: object
    bm25: BM25
    vocabulary: list[str] = field(default_factory=list)
    sentences: SentenceVectors | None = None
    _positions: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def profile(self) -> dict:
        """The corpus profile (synonyms, answer types, red flags) read at build time."""
        return self.manifest.get("profile") or {}

    @property
    def calibration(self) -> dict:
        """The answer decision's calibration on this corpus (`assistant index`), {} before one ran."""
        return self.manifest.get("calibration") or {}

    def dense_search(self, vec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk positions, cosine scores), best first."""
        k = min(k, len(self.chunks))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        query = vec.reshape(1, -1).astype(np.float32)
        if self.manifest.get("index_type") == "ivfpq":  # PQ scores are approximate: re-score exactly
            _, ids = self.faiss_index.search(query, min(len(self.chunks), k * IVFPQ_RERANK))
            ids = ids[0][ids[0] >= 0]
            exact = self.embeddings[ids] @ query[0]
            best = np.argsort(-exact, kind="stable")[:k]
            return ids[best], exact[best]
        scores, ids = self.faiss_index.search(query, k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def bm25_search(self, tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(chunk positions, BM25 scores), best first, zero-score chunks left out."""
        scores = self.bm25.scores(tokens)
        k = min(k, len(scores))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        top = top[scores[top] > 0]
        return top, scores[top]

    def position(self, chunk_id: str) -> int | None:
        """The chunk's row in the vectors (and the sentence vectors), None for an unknown id."""
        if not self._positions:
            self._positions = {c.id: i for i, c in enumerate(self.chunks)}
        return self._positions.get(chunk_id)

    def chunk(self, chunk_id: str) -> Chunk:
        pos = self.position(chunk_id)
        if pos is None:
            raise KeyError(chunk_id)
        return self.chunks[pos]


def _current_folder(index_dir: Path) -> Path:
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        raise IndexMissingError(f"No index at {index_dir}/. Run `assistant index` first.")
    name = pointer.read_text(encoding="utf-8").strip()
    folder = index_dir / name
    if not name or "/" in name or not folder.is_dir():
        raise IndexCorruptError(f"{pointer} names a missing version {name!r}. {BUILD_HINT}")
    return folder


def file_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file of an index version but its manifest (which records them), by relative path."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith("manifest.json"):
            continue
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        out[rel] = h.hexdigest()
    return out


def damaged_files(folder: Path, manifest: dict) -> list[str]:
    """Files of a version whose content no longer matches the checksums its manifest recorded (missing ones
    included); [] for a version built before checksums were recorded."""
    recorded = manifest.get("checksums")
    if not recorded:
        return []
    now = file_checksums(folder)
    return sorted(name for name, digest in recorded.items() if now.get(name) != digest)


def read_manifest(index_dir: str | Path) -> dict:
    """The manifest of the live index version."""
    folder = _current_folder(Path(index_dir))
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"Cannot read {folder}/manifest.json ({exc}). {BUILD_HINT}") from None


def set_calibration(index_dir: str | Path, calibration: dict) -> None:
    """Record the answer decision's calibration in the live version's manifest (written atomically)."""
    index_dir = Path(index_dir)
    folder = _current_folder(index_dir)
    manifest = read_manifest(index_dir) | {"calibration": calibration}
    _write_file(folder / "manifest.json.tmp", lambda fh: json.dump(manifest, fh, indent=1, ensure_ascii=False))
    os.replace(folder / "manifest.json.tmp", folder / "manifest.json")


def check_compatible(manifest: dict, model_id: str, where: str) -> None:
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise IndexMismatchError(
            f"The index at {where} has schema version {manifest.get('schema_version')}, this program "
            f"reads version {SCHEMA_VERSION}. {BUILD_HINT}"
        )
    if manifest.get("model", {}).get("id") != model_id:
        raise IndexMismatchError(
            f"The index at {where} was built with embedding model {manifest.get('model', {}).get('id')!r}, "
            f"but the settings ask for {model_id!r}; vectors of two models cannot be mixed. {BUILD_HINT}"
        )


def load_index(index_dir: str | Path, model_id: str | None = None) -> Index:
    """Load the live index version; fail with a message naming the fix when it is missing or unusable."""
    index_dir = Path(index_dir)
    folder = _current_folder(index_dir)
    manifest = read_manifest(index_dir)
    if model_id is not None:
        check_compatible(manifest, model_id, f"{index_dir}/")
    damaged = damaged_files(folder, manifest)
    if damaged:  # same-size damage too: the manifest's checksums, not the file sizes
        raise IndexCorruptError(f"The index at {index_dir}/ is damaged: {', '.join(damaged)} no longer match the "
                                f"checksums recorded when it was built. {BUILD_HINT}")
    try:
        import faiss

        chunks = [_chunk_from_json(json.loads(line)) for line in
                  (folder / "chunks.jsonl").read_text(encoding="utf-8").splitlines() if line]
        embeddings = np.load(folder / "embeddings.npy", allow_pickle=False)
        vectors = faiss.read_index(str(folder / "vectors.faiss"))
        bm25 = BM25.load(folder / "bm25")
        vocab = (folder / "vocabulary.txt").read_text(encoding="utf-8").split()
        sentences = SentenceVectors.load(folder, len(chunks))
    except Exception as exc:  # any unreadable part means the version is unusable
        raise IndexCorruptError(f"The index at {index_dir}/ is damaged ({type(exc).__name__}: {exc}). {BUILD_HINT}") from None
    n = manifest.get("counts", {}).get("chunks")
    if not (len(chunks) == len(embeddings) == vectors.ntotal == n):
        raise IndexCorruptError(
            f"The index at {index_dir}/ is inconsistent: {len(chunks)} chunks, {len(embeddings)} embeddings, "
            f"{vectors.ntotal} vectors, manifest says {n}. {BUILD_HINT}"
        )
    return Index(folder, manifest, chunks, embeddings, vectors, bm25, vocab, sentences)


@dataclass(frozen=True)
class BuildReport:
    """What a build did, for the one-line summary."""

    documents: int
    chunks: int
    new: int
    changed: int
    removed: int
    embedded: int
    seconds: float
    embed_seconds: float
    written: bool
    folder: str
    load: LoadReport | None = None
    flags: list = field(default_factory=list)  # ReviewFlag: lines staff should look at (held ones not indexed)

    def summary(self) -> str:
        rate = self.embedded / self.seconds if self.seconds > 0 else 0.0
        embed_rate = self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0
        return (
            f"{self.documents} documents, {self.chunks} chunks ({self.new} new, {self.changed} changed, "
            f"{self.removed} removed; {self.embedded} chunks embedded) in {self.seconds:.1f} s, "
            f"{rate:.0f} chunks/s overall, {embed_rate:.0f} chunks/s embedding"
            + ("" if self.written else "; index already up to date")
        )


@dataclass
class Previous:
    """What a build may reuse of the live version: its manifest, its chunks by document (with their rows),
    their embeddings and sentence vectors."""

    manifest: dict
    by_doc: dict[str, list[tuple[int, Chunk]]]
    embeddings: np.ndarray
    sentences: SentenceVectors | None

    def position(self) -> dict[str, int]:
        """Each previous chunk's row, by chunk id."""
        return {c.id: i for items in self.by_doc.values() for i, c in items}


def _previous(index_dir: Path, model_id: str, params: dict) -> Previous | None:
    """The live version, if its model and chunking let a build reuse it."""
    try:
        prev = load_index(index_dir, model_id)
    except (IndexMissingError, IndexMismatchError, IndexCorruptError):
        return None
    if prev.manifest.get("chunking") != params:
        return None
    by_doc: dict[str, list[tuple[int, Chunk]]] = {}
    for i, c in enumerate(prev.chunks):
        by_doc.setdefault(c.source, []).append((i, c))
    return Previous(prev.manifest, by_doc, prev.embeddings, prev.sentences)


@dataclass
class Diff:
    """The corpus against the live version: documents new, changed (by content hash) and removed."""

    hashes: dict[str, str]
    new: list[Document]
    changed: list[Document]
    removed: list[str]

    @classmethod
    def of(cls, documents: list[Document], prev: Previous | None) -> "Diff":
        before = prev.manifest["documents"] if prev else {}
        hashes = {d.id: doc_hash(d) for d in documents}
        return cls(hashes, [d for d in documents if d.id not in before],
                   [d for d in documents if d.id in before and before[d.id] != hashes[d.id]],
                   [i for i in before if i not in hashes])

    def nothing(self) -> bool:
        return not (self.new or self.changed or self.removed)


def _sentence_spans(chunk: Chunk) -> tuple[list[tuple[int, str]], list[tuple[int, int]]]:
    """The chunk's sentences worth embedding and their character spans in its embed_text (a sentence not
    found verbatim gets an empty span, so it is encoded alone)."""
    sents = chunk_sentences(chunk.text)
    text, at, spans = chunk.embed_text, len(chunk.embed_text) - len(chunk.text), []
    for _, sentence in sents:
        start = text.find(sentence, at)
        spans.append((start, start + len(sentence)) if start >= 0 else (0, 0))
        at = start + len(sentence) if start >= 0 else at
    return sents, spans


def _embed_chunks(embedder: Embedder, chunks: list[Chunk], with_sentences: bool, progress=None):
    """Chunk vectors, and (with_sentences) each chunk's sentence vectors {chunk id: (vectors, numbers)} from
    the same encoder pass: a sentence is the mean of its tokens' vectors read in its passage. None for the
    sentences when the encoder gives no token offsets (they are then encoded one by one)."""
    lengths = [c.n_tokens for c in chunks]
    if not with_sentences or not chunks:
        return embedder.encode([c.embed_text for c in chunks], progress=progress, lengths=lengths), None
    parts = [_sentence_spans(c) for c in chunks]
    both = embedder.encode_with_spans([c.embed_text for c in chunks], [spans for _, spans in parts],
                                      progress=progress, lengths=lengths)
    if both is None:
        return embedder.encode([c.embed_text for c in chunks], progress=progress, lengths=lengths), None
    vecs, span_vecs = both
    missing = [(k, r) for k, sv in enumerate(span_vecs) for r in np.flatnonzero(np.isnan(sv[:, 0]))]
    if missing:  # past the encoder's window: encoded alone
        alone = embedder.encode([parts[k][0][r][1] for k, r in missing])
        for (k, r), v in zip(missing, alone):
            span_vecs[k][r] = v
    return vecs, {c.id: (sv, np.array([i for i, _ in sents], dtype=np.int32))
                  for c, (sents, _), sv in zip(chunks, parts, span_vecs)}


def _sentence_vectors(chunks: list[Chunk], new_pos: dict[str, int], prev: Previous | None, embedder: Embedder,
                      max_chunks: int, fresh: dict | None = None) -> SentenceVectors | None:
    """Sentence vectors for every chunk: from the chunk pass (`fresh`, by chunk id), else the previous
    version's for unchanged chunks, else encoded now; None past max_chunks (memory and build time grow with
    the sentence count; retrieval then ranks passages alone)."""
    if not chunks or len(chunks) > max_chunks:
        return None
    fresh = fresh or {}
    old_sv = prev.sentences if prev else None
    old_pos = prev.position() if old_sv is not None else {}
    per_chunk: list = [None] * len(chunks)
    todo: list[tuple[int, list[tuple[int, str]]]] = []
    for pos, c in enumerate(chunks):
        if c.id in fresh:
            per_chunk[pos] = fresh[c.id]
        elif c.id not in new_pos and c.id in old_pos:
            per_chunk[pos] = old_sv.of_chunk(old_pos[c.id])
        else:
            todo.append((pos, chunk_sentences(c.text)))
    texts = [t for _, sents in todo for _, t in sents]
    # A sentence shared by two passages (the overlap between neighbours, boilerplate repeated across
    # articles) is encoded once.
    unique = list(dict.fromkeys(texts))
    row = {t: i for i, t in enumerate(unique)}
    vecs = embedder.encode(unique)[[row[t] for t in texts]] if texts else np.zeros((0, embedder.dim), np.float32)
    at = 0
    for pos, sents in todo:
        per_chunk[pos] = (vecs[at:at + len(sents)], np.array([i for i, _ in sents], dtype=np.int32))
        at += len(sents)
    return SentenceVectors.build(per_chunk, embedder.dim)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, write: Callable[[object], None], mode: str = "w") -> None:
    with open(path, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())


def build_index(
    settings: Settings,
    embedder: Embedder,
    corpus_dir: str | Path | None = None,
    index_dir: str | Path | None = None,
    full: bool = False,
    progress: Callable[[int, int], None] | None = None,
    documents: list[Document] | None = None,
) -> BuildReport:
    """Build or update the index in four steps (diff against the live version, chunk what changed, embed
    it, write a new version); only new or changed documents are embedded. The new version is written to a
    fresh folder and made live by an atomic rename of the CURRENT pointer."""
    t0 = time.perf_counter()
    corpus_dir = Path(corpus_dir or settings.corpus_dir)
    index_dir = Path(index_dir or settings.index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = open(index_dir / ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise IndexBusyError(f"Another build is updating {index_dir}/; wait for it to finish.") from None
    try:
        load = None
        if documents is None:
            load = load_corpus(corpus_dir, skip_stale=settings.skip_stale)
            documents = load.documents
        documents, flags = review_documents(documents, prompts.toml(settings.prompts_dir, REVIEW_RULES))
        if not documents:
            raise CorpusError(
                f"No usable documents in {corpus_dir}/ (see the skipped files above); the previous index "
                "is kept. Add .md, .txt, .html, .pdf or .jsonl files and run `assistant index` again."
            )
        # 1. diff: what changed since the live version
        params = chunk_params(settings)
        prev = None if full else _previous(index_dir, embedder.model_id, params)
        diff = Diff.of(documents, prev)
        profile = prompts.profile(corpus_dir) if load is not None else {}
        if (prev and diff.nothing() and prev.manifest.get("index_type_requested") == settings.index_type
                and prev.manifest.get("profile", {}) == profile):
            return BuildReport(len(documents), prev.manifest["counts"]["chunks"], 0, 0, 0, 0,
                               time.perf_counter() - t0, 0.0, False, str(_current_folder(index_dir)), load, flags)

        # 2. chunk the new and changed documents (all of them without a reusable version)
        chunker = Chunker(embedder.count_tokens, settings.max_tokens, settings.overlap_sentences)
        todo = {d.id for d in diff.new + diff.changed} if prev else set(diff.hashes)
        fresh: dict[str, list[Chunk]] = {d.id: chunker.chunk(d) for d in documents if d.id in todo}
        to_embed = [c for d in documents if d.id in fresh for c in fresh[d.id]]
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, len(to_embed))

        # 3. embed them, and put the version together with the reused chunks
        t_embed = time.perf_counter()
        kept = sum(len(prev.by_doc.get(d.id, [])) for d in documents if d.id not in fresh) if prev else 0
        one_pass = settings.sentence_vectors_one_pass and len(to_embed) + kept <= settings.sentence_vectors_max_chunks
        new_vecs, fresh_sentences = _embed_chunks(embedder, to_embed, one_pass, progress=tick)
        embed_seconds = time.perf_counter() - t_embed
        new_pos = {c.id: i for i, c in enumerate(to_embed)}

        chunks: list[Chunk] = []
        rows: list[np.ndarray] = []
        for d in documents:
            if d.id in fresh:
                chunks += fresh[d.id]
                rows.append(new_vecs[[new_pos[c.id] for c in fresh[d.id]]])
            else:
                old = prev.by_doc.get(d.id, [])
                chunks += [c for _, c in old]
                rows.append(prev.embeddings[[i for i, _ in old]])
        dim = embedder.dim
        vectors = np.ascontiguousarray(np.vstack(rows) if rows else np.zeros((0, dim), np.float32), dtype=np.float32)
        vindex, kind = _faiss_index(vectors, settings.index_type, settings.hnsw_auto_threshold,
                                   settings.ivfpq_auto_threshold)
        bm25 = BM25.build([analyze(c.embed_text) for c in chunks])
        t_sent = time.perf_counter()
        sentences = _sentence_vectors(chunks, new_pos, prev, embedder, settings.sentence_vectors_max_chunks,
                                      fresh_sentences)
        embed_seconds += time.perf_counter() - t_sent

        manifest = {
            "schema_version": SCHEMA_VERSION,
            "model": {"id": embedder.model_id, "dimension": dim, "max_seq_length": embedder.max_seq_length},
            "chunking": params,
            "index_type": kind,
            "index_type_requested": settings.index_type,
            "documents": diff.hashes,
            "titles": {d.id: d.title for d in documents},
            "counts": {"documents": len(documents), "chunks": len(chunks),
                       "sentences": None if sentences is None else len(sentences.vectors)},
            "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "corpus": str(corpus_dir),
            # The clinic's own words for this corpus (its profile.toml), carried with the index.
            "profile": profile,
            # Lines staff should look at (assistant/prompts/review_flags.toml); "hold" lines are not in the index.
            "review_flags": [f.as_dict() for f in flags],
        }
        # 4. write the version aside, then make it live
        version = _write_version(index_dir, manifest, chunks, vectors, vindex, bm25, sentences)
        _remove_old_versions(index_dir, keep=version)
        return BuildReport(len(documents), len(chunks), len(diff.new) if prev else len(documents),
                           len(diff.changed), len(diff.removed), len(to_embed), time.perf_counter() - t0,
                           embed_seconds, True, str(index_dir / version), load, flags=flags)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def _write_version(index_dir: Path, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, vindex, bm25: "BM25",
                   sentences: SentenceVectors | None) -> str:
    """Write a version into a fresh folder (every file synced, checksums in its manifest), rename it into
    place and point CURRENT at it atomically; a failure leaves the live version as it was. Its name."""
    import faiss

    tmp = index_dir / f".tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    version = "v-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    live = False
    try:
        _write_file(tmp / "chunks.jsonl", lambda fh: fh.writelines(
            json.dumps(_chunk_to_json(c), ensure_ascii=False) + "\n" for c in chunks))
        _write_file(tmp / "embeddings.npy", lambda fh: np.save(fh, vectors, allow_pickle=False), "wb")
        faiss.write_index(vindex, str(tmp / "vectors.faiss"))
        bm25.save(tmp / "bm25")
        if sentences is not None:
            sentences.save(tmp, _write_file)
        _write_file(tmp / "vocabulary.txt", lambda fh: fh.write("\n".join(vocabulary([c.embed_text for c in chunks]))))
        manifest["checksums"] = file_checksums(tmp)  # verified on load and by the app's watcher
        _write_file(tmp / "manifest.json", lambda fh: json.dump(manifest, fh, indent=1, ensure_ascii=False))
        for p in list(tmp.rglob("*")):
            if p.is_file():
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
        os.rename(tmp, index_dir / version)
        _write_file(index_dir / f"{CURRENT}.tmp", lambda fh: fh.write(version + "\n"))
        os.replace(index_dir / f"{CURRENT}.tmp", index_dir / CURRENT)
        live = True
        _fsync_dir(index_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if not live and (index_dir / version).exists():
            shutil.rmtree(index_dir / version, ignore_errors=True)
    return version


def _remove_old_versions(index_dir: Path, keep: str) -> None:
    """Old versions and leftovers of interrupted builds; a process that loaded one keeps its memory copy."""
    for p in index_dir.iterdir():
        if p.is_dir() and p.name != keep and (p.name.startswith("v-") or p.name.startswith(".tmp-")):
            shutil.rmtree(p, ignore_errors=True)
