"""index: build, load, incremental rebuild, atomic swap, and every way loading can fail.

Every test here runs on the fake encoder (tests/fakes.py): what is checked is the index's own behaviour,
not what MiniLM ranks (tests/test_integration_model.py holds that)."""
from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeEmbedder

import assistant.index as index_mod
from assistant.errors import IndexBusyError, IndexCorruptError, IndexMismatchError, IndexMissingError
from assistant.index import CURRENT, SCHEMA_VERSION, build_index, load_index, read_manifest
from assistant.settings import Settings, load_settings
from assistant.text import analyze

CORPUS = {
    "sessions.md": "# Treatment Sessions\n\nProlotherapy usually takes several sessions. "
                   "Sessions are scheduled two to three weeks apart.\n",
    "faq/parking.md": "# Parking\n\nFree parking is available behind the clinic building. "
                      "The garage closes at six in the evening.\n",
    "side_effects.md": "# Side Effects\n\nSome patients feel soreness at the injection site. "
                       "Mild swelling usually fades within a few days.\n",
}
# the one chunk that shares the query's words: first on the dense side, alone on the BM25 side
QUERIES = {
    "how far apart are sessions": "sessions.md#0",
    "is parking free": "faq/parking.md#0",
    "swelling after the shot": "side_effects.md#0",
}
# seven short sentences: several chunks at max_tokens=32
LONG_SESSIONS = (
    "# Treatment Sessions\n\nProlotherapy usually takes several sessions spread over a few months. "
    "Sessions are scheduled two to three weeks apart by the front desk. "
    "Each visit lasts about thirty minutes including the check in. "
    "Your physician reviews your progress before every new injection. "
    "Some patients need only three sessions while others need six. "
    "Bring comfortable clothes that leave the treated joint easy to reach. "
    "Plan a quiet afternoon after each session to let the area rest.\n"
)


SETTINGS = Settings().replace(max_tokens=200, overlap_sentences=1, index_type="flat")
SETTINGS_CHUNKING = {"max_tokens": 200, "overlap_sentences": 1, "chunker": 1}


@pytest.fixture(scope="module")
def embedder() -> FakeEmbedder:
    """The fake encoder, in place of conftest's real model for this module."""
    return FakeEmbedder()


@pytest.fixture
def settings() -> Settings:
    return SETTINGS


@pytest.fixture
def corpus(make_corpus) -> Path:
    return make_corpus(CORPUS)


@pytest.fixture
def index_dir(tmp_path) -> Path:
    return tmp_path / "index"


@pytest.fixture(scope="module")
def base(tmp_path_factory, write_corpus, embedder):
    """CORPUS indexed once per module: (corpus folder, index folder, build report). Never modified."""
    root = tmp_path_factory.mktemp("base")
    corpus = write_corpus(root / "corpus", CORPUS)
    report = build_index(SETTINGS, embedder, corpus, root / "index")
    return corpus, root / "index", report


@pytest.fixture
def built(base, tmp_path) -> tuple[Path, Path]:
    """A private copy of the base corpus and its built index: (corpus folder, index folder)."""
    corpus, index_dir, _ = base
    return (Path(shutil.copytree(corpus, tmp_path / "corpus")),
            Path(shutil.copytree(index_dir, tmp_path / "index")))


def ranked(ix, embedder, query: str, k: int = 3) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(dense, bm25) results as (chunk id, score) lists."""
    pos, scores = ix.dense_search(embedder.encode_query(query), k)
    dense = [(ix.chunks[p].id, float(s)) for p, s in zip(pos, scores)]
    pos, scores = ix.bm25_search(analyze(query), k)
    return dense, [(ix.chunks[p].id, float(s)) for p, s in zip(pos, scores)]


def versions(index_dir: Path) -> list[str]:
    return sorted(p.name for p in index_dir.iterdir() if p.is_dir())


def live(index_dir: Path) -> Path:
    return index_dir / (index_dir / CURRENT).read_text(encoding="utf-8").strip()


# ---- build and load ----------------------------------------------------------------------------


def test_build_report(base):
    _, index_dir, report = base
    assert (report.documents, report.chunks, report.new, report.changed, report.removed, report.embedded,
            report.written) == (3, 3, 3, 0, 0, 3, True)
    assert Path(report.folder) == live(index_dir)
    assert versions(index_dir) == [live(index_dir).name]
    assert [d.id for d in report.load.documents] == ["faq/parking.md", "sessions.md", "side_effects.md"]


def test_manifest_records_model_params_and_documents(embedder, built):
    _, index_dir = built
    m = read_manifest(index_dir)
    assert m["schema_version"] == SCHEMA_VERSION
    assert m["model"] == {"id": embedder.model_id, "dimension": embedder.dim, "max_seq_length": embedder.max_seq_length}
    assert m["chunking"] == SETTINGS_CHUNKING
    assert (m["index_type"], m["index_type_requested"]) == ("flat", "flat")
    assert sorted(m["documents"]) == ["faq/parking.md", "sessions.md", "side_effects.md"]
    assert m["titles"] == {"faq/parking.md": "Parking", "sessions.md": "Treatment Sessions",
                           "side_effects.md": "Side Effects"}
    assert m["counts"] == {"documents": 3, "chunks": 3, "sentences": 6}


def test_load_round_trip_gives_identical_results(embedder, built):
    _, index_dir = built
    first = load_index(index_dir, embedder.model_id)
    second = load_index(index_dir, embedder.model_id)
    assert first.chunks == second.chunks
    assert np.array_equal(first.embeddings, second.embeddings)
    for query, answer in QUERIES.items():
        a, b = ranked(first, embedder, query), ranked(second, embedder, query)
        assert a == b  # same ids, same scores
        assert (a[0][0][0], [i for i, _ in a[1]]) == (answer, [answer])
        assert len(a[0]) == 3 and a[0][0][1] > a[0][1][1]


def test_stored_vectors_are_the_embeddings_of_the_stored_chunks(embedder, built):
    _, index_dir = built
    ix = load_index(index_dir, embedder.model_id)
    fresh = embedder.encode([c.embed_text for c in ix.chunks])
    assert np.allclose(ix.embeddings, fresh, atol=1e-5)
    assert ix.faiss_index.ntotal == len(ix) == 3
    assert [c.text for c in ix.chunks] == [
        "Free parking is available behind the clinic building. The garage closes at six in the evening.",
        "Prolotherapy usually takes several sessions. Sessions are scheduled two to three weeks apart.",
        "Some patients feel soreness at the injection site. Mild swelling usually fades within a few days.",
    ]


def test_build_with_load_settings_folders_and_env_override(monkeypatch, tmp_path, embedder, corpus, index_dir):
    import os

    for name in [n for n in os.environ if n.startswith("ASSISTANT_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no assistant.toml here
    monkeypatch.setenv("ASSISTANT_MAX_TOKENS", "32")
    s = load_settings(corpus_dir=str(corpus), index_dir=str(index_dir))
    report = build_index(s, embedder)
    assert (report.documents, report.chunks) == (3, 3)
    assert read_manifest(index_dir)["chunking"]["max_tokens"] == 32


# ---- incremental rebuild -----------------------------------------------------------------------


def test_rebuild_with_nothing_changed_embeds_nothing_and_writes_nothing(settings, embedder, built):
    corpus, index_dir = built
    before = versions(index_dir)
    report = build_index(settings, embedder, corpus, index_dir)
    assert (report.embedded, report.written, report.new, report.changed, report.removed) == (0, False, 0, 0, 0)
    assert Path(report.folder) == live(index_dir)
    assert versions(index_dir) == before
    assert report.summary().endswith("; index already up to date")


def test_changed_document_is_the_only_one_embedded(settings, embedder, make_corpus, index_dir):
    small = settings.replace(max_tokens=32)
    corpus = make_corpus(CORPUS)
    build_index(small, embedder, corpus, index_dir)
    old = load_index(index_dir, embedder.model_id)
    (corpus / "sessions.md").write_text(LONG_SESSIONS, encoding="utf-8")

    report = build_index(small, embedder, corpus, index_dir)

    new = load_index(index_dir, embedder.model_id)
    sessions = [c for c in new.chunks if c.source == "sessions.md"]
    assert len(sessions) > 1 and all(c.n_tokens <= 32 for c in sessions)
    assert (report.new, report.changed, report.removed, report.embedded, report.chunks) == \
        (0, 1, 0, len(sessions), len(sessions) + 2)
    assert "Plan a quiet afternoon after each session to let the area rest." in sessions[-1].text
    # the other documents' chunks and vectors are carried over bit for bit
    for source in ("faq/parking.md", "side_effects.md"):
        was = [i for i, c in enumerate(old.chunks) if c.source == source]
        now = [i for i, c in enumerate(new.chunks) if c.source == source]
        assert [old.chunks[i] for i in was] == [new.chunks[i] for i in now]
        assert np.array_equal(old.embeddings[was], new.embeddings[now])
    assert ranked(new, embedder, "how long does each visit last")[0][0][0].startswith("sessions.md#")


def test_removed_document_is_dropped(settings, embedder, built):
    corpus, index_dir = built
    (corpus / "faq" / "parking.md").unlink()
    report = build_index(settings, embedder, corpus, index_dir)
    ix = load_index(index_dir, embedder.model_id)
    assert (report.removed, report.embedded, report.written) == (1, 0, True)
    assert [c.source for c in ix.chunks] == ["sessions.md", "side_effects.md"]
    assert sorted(ix.manifest["documents"]) == ["sessions.md", "side_effects.md"]
    assert ranked(ix, embedder, "parking garage")[1] == []


def test_new_document_is_added(settings, embedder, built):
    corpus, index_dir = built
    (corpus / "hours.md").write_text("# Opening Hours\n\nThe clinic is open from eight to five on weekdays.\n",
                                     encoding="utf-8")
    report = build_index(settings, embedder, corpus, index_dir)
    ix = load_index(index_dir, embedder.model_id)
    assert (report.new, report.changed, report.removed, report.embedded, report.chunks) == (1, 0, 0, 1, 4)
    assert [c.id for c in ix.chunks] == ["faq/parking.md#0", "hours.md#0", "sessions.md#0", "side_effects.md#0"]
    assert [i for i, _ in ranked(ix, embedder, "when is the clinic open")[0]][0] == "hours.md#0"


def test_metadata_change_alone_reembeds_that_document(settings, embedder, built):
    corpus, index_dir = built
    (corpus / "sessions.md").write_text("---\nreviewed_by: Dr. Ada Smith\n---\n" + CORPUS["sessions.md"],
                                        encoding="utf-8")
    report = build_index(settings, embedder, corpus, index_dir)
    assert (report.changed, report.embedded) == (1, 1)
    assert load_index(index_dir).chunk("sessions.md#0").metadata == {"reviewed_by": "Dr. Ada Smith"}


@pytest.mark.parametrize(
    ("full", "change"),
    [
        pytest.param(True, {}, id="full-flag"),
        pytest.param(False, {"max_tokens": 32}, id="chunk-size"),
        pytest.param(False, {"overlap_sentences": 0}, id="overlap"),
    ],
)
def test_full_or_new_chunking_reembeds_everything(settings, embedder, built, full, change):
    corpus, index_dir = built
    report = build_index(settings.replace(**change), embedder, corpus, index_dir, full=full)
    assert (report.written, report.new, report.embedded, report.chunks) == (True, 3, 3, 3)
    assert read_manifest(index_dir)["chunking"] == {**SETTINGS_CHUNKING, **change}


def test_index_type_change_alone_rebuilds_without_embedding(settings, embedder, built):
    corpus, index_dir = built
    report = build_index(settings.replace(index_type="hnsw"), embedder, corpus, index_dir)
    assert (report.written, report.embedded) == (True, 0)
    assert read_manifest(index_dir)["index_type"] == "hnsw"


def test_rebuild_keeps_only_the_live_version(settings, embedder, built):
    corpus, index_dir = built
    (corpus / "sessions.md").write_text(LONG_SESSIONS, encoding="utf-8")
    build_index(settings, embedder, corpus, index_dir)
    assert versions(index_dir) == [live(index_dir).name]
    assert sorted(p.name for p in index_dir.iterdir() if p.is_file()) == [".lock", "CURRENT"]


# ---- a failed build leaves the previous version live -------------------------------------------


class Boom(RuntimeError):
    pass


def _raise(*args, **kwargs):
    raise Boom("injected failure")


def _fail_writing(name: str):
    """Make index._write_file fail for one file name."""
    original = index_mod._write_file

    def write(path, *args, **kwargs):
        if Path(path).name == name:
            raise Boom("injected failure")
        return original(path, *args, **kwargs)

    return write


@pytest.mark.parametrize(
    "inject",
    [
        pytest.param(lambda mp, e: mp.setattr(index_mod.BM25, "build", classmethod(_raise)), id="bm25-build"),
        pytest.param(lambda mp, e: mp.setattr(e, "encode", _raise), id="embedding"),
        pytest.param(lambda mp, e: mp.setattr("faiss.write_index", _raise), id="faiss-write"),
        pytest.param(lambda mp, e: mp.setattr(index_mod.BM25, "save", _raise), id="bm25-save"),
        pytest.param(lambda mp, e: mp.setattr(index_mod, "_write_file", _fail_writing("manifest.json")),
                     id="manifest-write"),
        # after the new version folder is in place, before CURRENT points at it
        pytest.param(lambda mp, e: mp.setattr(index_mod, "_write_file", _fail_writing(f"{CURRENT}.tmp")),
                     id="current-pointer-write"),
    ],
)
def test_failed_build_leaves_previous_index(monkeypatch, settings, embedder, built, inject):
    corpus, index_dir = built
    before = load_index(index_dir, embedder.model_id)
    live_before = live(index_dir)
    (corpus / "sessions.md").write_text(LONG_SESSIONS, encoding="utf-8")

    with monkeypatch.context() as mp:
        inject(mp, embedder)
        with pytest.raises(Boom):
            build_index(settings, embedder, corpus, index_dir)

    after = load_index(index_dir, embedder.model_id)
    assert live(index_dir) == live_before
    assert after.chunks == before.chunks
    assert ranked(after, embedder, "how far apart are sessions") == ranked(before, embedder, "how far apart are sessions")
    assert [p.name for p in index_dir.iterdir() if p.name.startswith(".tmp-") or p.suffix == ".tmp"] == []
    # the lock was released: the next build goes through, picks up the change and clears leftovers
    report = build_index(settings, embedder, corpus, index_dir)
    assert (report.changed, report.embedded) == (1, 1)
    assert versions(index_dir) == [live(index_dir).name]


# ---- loading errors ----------------------------------------------------------------------------


def test_missing_index_raises_with_the_build_command(embedder, tmp_path):
    with pytest.raises(IndexMissingError, match="assistant index") as exc:
        load_index(tmp_path / "nothing-here", embedder.model_id)
    assert "No index at" in str(exc.value)


def test_missing_index_manifest_read_raises(tmp_path):
    with pytest.raises(IndexMissingError, match="assistant index"):
        read_manifest(tmp_path)


def _edit_manifest(index_dir: Path, **changes) -> None:
    path = live(index_dir) / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(changes)
    path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        pytest.param({"model": {"id": "sentence-transformers/all-mpnet-base-v2", "dimension": 768}},
                     "all-mpnet-base-v2", id="other-model"),
        pytest.param({"schema_version": SCHEMA_VERSION + 1}, "schema version", id="other-schema"),
    ],
)
def test_index_from_another_model_or_schema_raises_mismatch(embedder, built, changes, words):
    _, index_dir = built
    _edit_manifest(index_dir, **changes)
    with pytest.raises(IndexMismatchError) as exc:
        load_index(index_dir, embedder.model_id)
    assert "assistant index" in str(exc.value)
    assert words in str(exc.value)


def test_mismatched_index_is_rebuilt_in_full(settings, embedder, built):
    corpus, index_dir = built
    _edit_manifest(index_dir, model={"id": "sentence-transformers/all-mpnet-base-v2"})
    report = build_index(settings, embedder, corpus, index_dir)
    assert (report.written, report.embedded) == (True, 3)
    assert read_manifest(index_dir)["model"]["id"] == embedder.model_id


def _flip_byte(path: Path) -> None:
    """Damage that keeps the file's size (bit rot, a partial overwrite)."""
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda v, d: _truncate(v / "vectors.faiss"), id="truncated-vectors"),
        pytest.param(lambda v, d: (v / "vectors.faiss").unlink(), id="missing-vectors"),
        pytest.param(lambda v, d: _truncate(v / "embeddings.npy"), id="truncated-embeddings"),
        pytest.param(lambda v, d: shutil.rmtree(v / "bm25"), id="missing-bm25"),
        pytest.param(lambda v, d: (v / "manifest.json").write_text("{not json"), id="unreadable-manifest"),
        pytest.param(lambda v, d: (v / "chunks.jsonl").write_text(
            "\n".join((v / "chunks.jsonl").read_text().splitlines()[:-1]) + "\n"), id="chunk-line-lost"),
        pytest.param(lambda v, d: (d / CURRENT).write_text("v-gone\n"), id="current-names-missing-version"),
        pytest.param(lambda v, d: _flip_byte(v / "embeddings.npy"), id="same-size-embeddings"),
        pytest.param(lambda v, d: _flip_byte(v / "vocabulary.txt"), id="same-size-vocabulary"),
    ],
)
def test_damaged_index_raises_corrupt(embedder, built, damage):
    _, index_dir = built
    damage(live(index_dir), index_dir)
    with pytest.raises(IndexCorruptError, match="assistant index --full"):
        load_index(index_dir, embedder.model_id)


def test_damaged_index_is_rebuilt_in_full(settings, embedder, built):
    corpus, index_dir = built
    _truncate(live(index_dir) / "vectors.faiss")
    report = build_index(settings, embedder, corpus, index_dir)
    assert (report.written, report.embedded) == (True, 3)
    assert len(load_index(index_dir, embedder.model_id)) == 3


# ---- index types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index_type", "threshold", "kind", "faiss_class"),
    [
        ("flat", 50_000, "flat", "IndexFlatIP"),
        ("hnsw", 50_000, "hnsw", "IndexHNSWFlat"),
        ("auto", 50_000, "flat", "IndexFlatIP"),
        ("auto", 3, "hnsw", "IndexHNSWFlat"),
    ],
)
def test_index_types_build_and_search(settings, embedder, built, index_type, threshold, kind, faiss_class):
    corpus, index_dir = built
    s = settings.replace(index_type=index_type, hnsw_auto_threshold=threshold)
    build_index(s, embedder, corpus, index_dir)
    ix = load_index(index_dir, embedder.model_id)
    assert ix.manifest["index_type"] == kind
    assert type(ix.faiss_index).__name__ == faiss_class
    for query, answer in QUERIES.items():
        dense, _ = ranked(ix, embedder, query)
        assert dense[0][0] == answer and len(dense) == 3
        # exact inner products whatever the structure
        pos = [ix.chunks.index(ix.chunk(i)) for i, _ in dense]
        assert np.allclose([score for _, score in dense], ix.embeddings[pos] @ embedder.encode_query(query),
                           atol=1e-5)


def test_hnsw_built_from_scratch_searches(settings, embedder, corpus, index_dir):
    report = build_index(settings.replace(index_type="hnsw"), embedder, corpus, index_dir)
    ix = load_index(index_dir, embedder.model_id)
    assert (report.embedded, ix.manifest["index_type"]) == (3, "hnsw")
    for query, answer in QUERIES.items():
        dense = [i for i, _ in ranked(ix, embedder, query, k=50)[0]]  # k above the chunk count
        assert dense[0] == answer and sorted(dense) == sorted(c.id for c in ix.chunks)


# ---- the build lock ----------------------------------------------------------------------------


def test_build_refuses_while_another_build_holds_the_lock(settings, embedder, built):
    corpus, index_dir = built
    live_before = live(index_dir)
    with open(index_dir / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IndexBusyError, match="Another build"):
            build_index(settings, embedder, corpus, index_dir, full=True)
        fcntl.flock(held, fcntl.LOCK_UN)
    assert live(index_dir) == live_before
    # released: the same build now gets the lock (and finds the index up to date)
    assert build_index(settings, embedder, corpus, index_dir).written is False


def test_lock_on_a_fresh_index_folder(settings, embedder, corpus, index_dir):
    index_dir.mkdir()
    with open(index_dir / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(IndexBusyError):
            build_index(settings, embedder, corpus, index_dir)
    with pytest.raises(IndexMissingError):
        load_index(index_dir, embedder.model_id)


def test_one_pass_sentence_vectors_come_from_the_chunk_pass(embedder, corpus, tmp_path):
    """sentence_vectors_one_pass: the chunk vectors are the encoder's own, and each sentence's vector is the one
    encode_with_spans gave for its span of the passage (for the fake encoder: exactly the sentence encoded
    alone; how close MiniLM's pooled sentences come is in tests/test_integration_model.py)."""
    from assistant.sentences import chunk_sentences

    settings = SETTINGS.replace(sentence_vectors_one_pass=True)
    build_index(settings, embedder, corpus, tmp_path / "one")
    ix = load_index(tmp_path / "one", embedder.model_id)
    assert read_manifest(tmp_path / "one")["chunking"] == SETTINGS_CHUNKING | {"sentence_vectors": "one_pass"}
    assert np.array_equal(ix.embeddings, embedder.encode([c.embed_text for c in ix.chunks]))
    for pos, chunk in enumerate(ix.chunks):
        vecs, numbers = ix.sentences.of_chunk(pos)
        sents = chunk_sentences(chunk.text)
        assert list(numbers) == [i for i, _ in sents]
        assert np.allclose(vecs.astype(np.float32), embedder.encode([s for _, s in sents]), atol=1e-3)


def test_one_pass_encodes_alone_the_sentences_past_the_window(corpus, tmp_path):
    """A sentence the encoder's window cut off (a NaN span) is encoded alone, not stored as NaN."""
    from assistant.sentences import chunk_sentences

    short = FakeEmbedder(max_seq_length=12)  # reads the title and the first sentence only
    build_index(SETTINGS.replace(sentence_vectors_one_pass=True), short, corpus, tmp_path / "one")
    ix = load_index(tmp_path / "one", short.model_id)
    for pos, chunk in enumerate(ix.chunks):
        vecs = ix.sentences.of_chunk(pos)[0].astype(np.float32)
        assert not np.isnan(vecs).any()
        assert np.allclose(vecs[-1], short.encode([chunk_sentences(chunk.text)[-1][1]])[0], atol=1e-3)


def test_a_sentence_shared_by_passages_is_encoded_once(tmp_path):
    """Sentence vectors: a sentence two passages share (neighbours' overlap, boilerplate repeated across
    articles) is encoded once and stored for each passage."""
    from assistant.sentences import chunk_sentences

    class Counting(FakeEmbedder):
        def __init__(self):
            super().__init__()
            self.encoded: list[str] = []

        def encode(self, texts, *args, **kwargs):
            self.encoded += list(texts)
            return super().encode(texts, *args, **kwargs)

    shared = "Call the clinic if the swelling has not faded after three days."
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text(f"# Knee\n\nThe knee is injected at the joint line. {shared}\n")
    (corpus / "b.md").write_text(f"# Wrist\n\nThe wrist is injected beside the tendon. {shared}\n")
    counting = Counting()
    build_index(SETTINGS, counting, corpus, tmp_path / "ix")
    ix = load_index(tmp_path / "ix", counting.model_id)
    assert counting.encoded.count(shared) == 1
    rows = [vecs[[s for _, s in chunk_sentences(c.text)].index(shared)]
            for pos, c in enumerate(ix.chunks) for vecs, _ in [ix.sentences.of_chunk(pos)]]
    assert len(rows) == 2 and np.array_equal(rows[0], rows[1])
