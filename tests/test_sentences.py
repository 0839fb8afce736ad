"""Sentence vectors: built with the index, reused incrementally, used to re-rank, compose and abstain."""
from __future__ import annotations

import numpy as np
import pytest
from fakes import FakeEmbedder

from assistant import Assistant
from assistant.errors import IndexCorruptError
from assistant.index import build_index, load_index
from assistant.sentences import FILE, chunk_sentences
from assistant.settings import Settings


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def built(tmp_path, fake, two_articles):
    """The two articles indexed with the fake encoder: storing and reusing sentence vectors needs no model."""
    build_index(Settings(), fake, two_articles, tmp_path / "index")
    return two_articles, tmp_path / "index"


def test_every_sentence_of_every_chunk_is_stored_with_its_number(fake, built):
    _, index_dir = built
    idx = load_index(index_dir)
    assert idx.manifest["counts"]["sentences"] == 4
    for pos, chunk in enumerate(idx.chunks):
        vecs, numbers = idx.sentences.of_chunk(pos)
        expected = chunk_sentences(chunk.text)
        assert numbers.tolist() == [i for i, _ in expected]
        want = fake.encode([t for _, t in expected])
        assert np.allclose(vecs.astype(np.float32), want, atol=2e-3)


def test_incremental_build_reuses_unchanged_sentence_vectors(fake, built):
    corpus, index_dir = built
    before = load_index(index_dir)
    (corpus / "sessions.md").write_text("# Treatment Sessions\n\nMost people need three to six visits in all.\n",
                                        encoding="utf-8")
    report = build_index(Settings(), fake, corpus, index_dir)
    after = load_index(index_dir)
    assert report.embedded == 1
    old = before.sentences.of_chunk([c.id for c in before.chunks].index("parking.md#0"))[0]
    new = after.sentences.of_chunk([c.id for c in after.chunks].index("parking.md#0"))[0]
    assert np.array_equal(old, new)
    pos = [c.id for c in after.chunks].index("sessions.md#0")
    assert after.sentences.of_chunk(pos)[1].tolist() == [0]


def test_large_index_skips_sentence_vectors_and_still_answers(tmp_path, embedder, two_articles):
    settings = Settings(sentence_vectors_max_chunks=1)
    build_index(settings, embedder, two_articles, tmp_path / "index")
    idx = load_index(tmp_path / "index")
    assert idx.sentences is None and idx.manifest["counts"]["sentences"] is None
    bot = Assistant.load(tmp_path / "index", settings, embedder=embedder)
    reply = bot.ask("Where can I park my car?")
    assert reply.route == "answer" and reply.retrieved[0].chunk_id == "parking.md#0"
    assert reply.retrieved[0].sentence_score is None and reply.signals["top_sentence"] is None


def test_damaged_sentence_file_is_reported_with_the_fix(built):
    _, index_dir = built
    folder = index_dir / (index_dir / "CURRENT").read_text().strip()
    (folder / FILE).write_bytes(b"not numpy")
    with pytest.raises(IndexCorruptError, match="assistant index --full"):
        load_index(index_dir)


def test_definition_question_gets_the_definition_sentence(bot):
    hits = bot.retrieve("What is prolotherapy?", k=3)
    best = max(hits, key=lambda h: h.sentence_score)
    assert best.section == "What Is Proliferation Therapy?"
    reply = bot.ask("What is prolotherapy?")
    lead = reply.text.split(" [1]")[0]
    assert reply.route == "answer" and lead.startswith("Prolotherapy") and " is " in lead  # it says what it is


@pytest.mark.parametrize("question, kind", [
    ("How many minutes does a single prolotherapy appointment take?", "minutes"),
    ("What size needle is used for prolotherapy?", "size"),
    ("What percentage of patients get better after prolotherapy?", "percent"),
    ("What dosage of dextrose is in the prolotherapy solution?", "dose"),
])
def test_question_asking_for_a_fact_the_sources_lack_abstains(bot, question, kind):
    reply = bot.ask(question)
    assert reply.route == "abstain"
    assert reply.signals["missing_answer_type"] == kind


def test_question_whose_fact_is_present_is_answered(bot):
    reply = bot.ask("How long after treatment did study participants report less pain?")
    assert reply.route == "answer" and "six months and one year" in reply.text
