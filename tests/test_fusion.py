"""retrieval.search on a hand-made corpus and the fake encoder: what each side finds, the fusion arithmetic,
which passage wins and why, sentence re-ranking, duplicates, lay words and misspellings.

The fake encoder reads "automobile" as "car" (a synonym only the dense side knows); BM25 matches words.
For "automobile permit": the car park article is the best dense match (car, four times) and has no BM25
match; the garage permit article is the only BM25 match (permit, twice) and a weaker dense one."""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from fakes import FakeEmbedder

from assistant.index import build_index, load_index
from assistant.retrieval import Lexicon, RetrievalConfig, search
from assistant.settings import Settings

CORPUS = {
    "cars.md": "# Car Park\n\nEvery car stays in the car park, one car to a car space.\n",
    "permit.md": "# Garage Permit\n\nA permit for the garage is issued at the front desk on weekdays.\n",
    "hours.md": "# Opening Hours\n\nThe clinic opens at eight and closes at five on weekdays.\n",
}
QUERY = "automobile permit"
CARS, PERMIT, HOURS = "cars.md#0", "permit.md#0", "hours.md#0"
PLAIN = RetrievalConfig(sentence_weight=0.0)  # fusion alone, no sentence re-ranking


def build(root, files: dict[str, str], fake: FakeEmbedder):
    from conftest import write_files

    corpus = write_files(root / "corpus", files)
    build_index(Settings(), fake, corpus, root / "index")
    ix = load_index(root / "index", fake.model_id)
    words = re.findall(r"\w+", " ".join(c.embed_text for c in ix.chunks))
    assert not fake.collisions(words + ["automobile", "permit"]), "rename a word: the test's reasoning needs none"
    return ix


@pytest.fixture(scope="module")
def fake() -> FakeEmbedder:
    return FakeEmbedder(concepts={"automobile": "car"})


@pytest.fixture(scope="module")
def ix(tmp_path_factory, fake):
    return build(tmp_path_factory.mktemp("fusion"), CORPUS, fake)


@pytest.fixture(scope="module")
def lexicon(ix) -> Lexicon:
    return Lexicon(ix, {}, {})


def run(ix, fake, lexicon, query=QUERY, k=5, **config):
    return search(ix, fake, lexicon, query, k=k, config=replace(PLAIN, **config))


def test_dense_alone_ranks_by_cosine_and_knows_the_synonym(ix, fake, lexicon):
    hits = run(ix, fake, lexicon, mode="dense")
    assert [h.chunk_id for h in hits][:2] == [CARS, PERMIT]
    vec = fake.encode_query(QUERY)
    for h in hits:
        assert h.bm25_score is None
        assert h.score == pytest.approx(h.dense_score)
        assert h.dense_score == pytest.approx(float(ix.embeddings[ix.chunks.index(ix.chunk(h.chunk_id))] @ vec), abs=1e-6)
    assert [h.dense_rank for h in hits] == list(range(1, len(hits) + 1))


def test_bm25_alone_returns_only_passages_with_the_words(ix, fake, lexicon):
    hits = run(ix, fake, lexicon, mode="bm25")
    assert [h.chunk_id for h in hits] == [PERMIT]  # nothing else says "permit"; "automobile" is nowhere
    assert hits[0].dense_score is None and hits[0].score == pytest.approx(hits[0].bm25_score) and hits[0].score > 0


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.8, 1.0])
def test_score_fusion_is_alpha_cosine_plus_the_rest_of_bm25_over_the_best(ix, fake, lexicon, alpha):
    hits = run(ix, fake, lexicon, alpha=alpha)
    best_bm25 = max(h.bm25_score or 0.0 for h in hits)
    for h in hits:
        expected = alpha * h.dense_score + (1 - alpha) * (h.bm25_score or 0.0) / best_bm25
        assert h.score == pytest.approx(expected, abs=1e-6), h.chunk_id
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(hits) == len(CORPUS)


def test_alpha_decides_between_the_meaning_match_and_the_word_match(ix, fake, lexicon):
    dense = {h.chunk_id: h.dense_score for h in run(ix, fake, lexicon, mode="dense")}
    assert dense[CARS] > dense[PERMIT] > 0
    # cars wins while alpha * cos(cars) > alpha * cos(permit) + (1 - alpha) * 1 (permit has the best BM25)
    crossover = 1 / (1 + dense[CARS] - dense[PERMIT])
    assert run(ix, fake, lexicon, alpha=1.0)[0].chunk_id == CARS
    assert run(ix, fake, lexicon, alpha=min(1.0, crossover + 0.02))[0].chunk_id == CARS
    assert run(ix, fake, lexicon, alpha=crossover - 0.02)[0].chunk_id == PERMIT
    assert run(ix, fake, lexicon, alpha=0.0)[0].chunk_id == PERMIT
    # a passage neither side matches stays last whatever alpha is
    for alpha in (0.0, 0.5, 1.0):
        last = run(ix, fake, lexicon, alpha=alpha)[-1]
        assert last.chunk_id == HOURS and last.score == 0.0


def test_rrf_rewards_agreement_and_follows_the_weights(ix, fake, lexicon):
    hits = run(ix, fake, lexicon, fusion="rrf", rrf_k=60, weights=(1.0, 1.0))
    for h in hits:
        expected = sum(w / (60 + r) for w, r in ((1.0, h.dense_rank), (1.0, h.bm25_rank)) if r is not None)
        assert h.score == pytest.approx(expected)
    # permit is second on the dense side and first on BM25: found by both, it beats cars (first on dense only)
    assert [h.chunk_id for h in hits] == [PERMIT, CARS, HOURS]
    dense_only = run(ix, fake, lexicon, fusion="rrf", weights=(1.0, 0.0))
    assert [h.chunk_id for h in dense_only] == [h.chunk_id for h in run(ix, fake, lexicon, mode="dense")]
    # a smaller k makes the rank gaps count more, the order stays
    assert [h.chunk_id for h in run(ix, fake, lexicon, fusion="rrf", rrf_k=1)] == [PERMIT, CARS, HOURS]


def test_a_given_query_vector_is_used_not_encoded_again(ix, fake, lexicon):
    vec = fake.encode_query(QUERY)
    before = fake.calls
    with_vec = search(ix, fake, lexicon, QUERY, k=5, config=PLAIN, vec=vec)
    assert fake.calls == before
    assert [(h.chunk_id, h.score) for h in with_vec] == [(h.chunk_id, h.score) for h in run(ix, fake, lexicon)]


def test_k_limits_the_results(ix, fake, lexicon):
    assert [h.chunk_id for h in run(ix, fake, lexicon, k=1)] == [run(ix, fake, lexicon)[0].chunk_id]
    assert len(run(ix, fake, lexicon, k=50, pool=50)) == len(CORPUS)


# ---- sentence re-ranking ---------------------------------------------------------------------------------
# Same title, same number of words: the two passages are equally close to "garage permit" as wholes, but
# only the first says both words in one sentence.
DESKS = {
    "desk_a.md": "# Front Desk\n\nGarage permit desk here. Weekend hours only apply.\n",
    "desk_b.md": "# Front Desk\n\nGarage rules apply here. Permit desk only weekends.\n",
}


@pytest.fixture(scope="module")
def desks(tmp_path_factory, fake):
    ix = build(tmp_path_factory.mktemp("desks"), DESKS, fake)
    return ix, Lexicon(ix, {}, {})


def test_the_passage_with_the_answering_sentence_wins_the_re_ranking(desks, fake):
    ix, lexicon = desks
    plain = run(ix, fake, lexicon, "garage permit", alpha=1.0)
    assert plain[0].score == pytest.approx(plain[1].score)  # a tie without sentences
    ranked = run(ix, fake, lexicon, "garage permit", alpha=1.0, sentence_weight=0.5)
    assert ranked[0].chunk_id == "desk_a.md#0" and ranked[0].score > ranked[1].score
    assert ranked[0].sentence_scores[0] == pytest.approx(max(ranked[0].sentence_scores.values()))


def test_re_ranked_score_mixes_the_best_sentence_cosine(ix, fake, lexicon):
    fused = {h.chunk_id: h.score for h in run(ix, fake, lexicon)}
    for h in run(ix, fake, lexicon, sentence_weight=0.5):
        assert h.sentence_score == pytest.approx(max(h.sentence_scores.values()), abs=1e-3)
        assert h.score == pytest.approx(0.5 * fused[h.chunk_id] + 0.5 * h.sentence_score, abs=1e-6)


@pytest.mark.parametrize("config", [{"fusion": "rrf"}, {"mode": "dense"}, {"mode": "bm25"}],
                         ids=["rrf", "dense", "bm25"])
def test_sentences_re_rank_score_fusion_only(ix, fake, lexicon, config):
    with_sentences = run(ix, fake, lexicon, sentence_weight=0.5, **config)
    assert [(h.chunk_id, h.score) for h in with_sentences] == [(h.chunk_id, h.score) for h in run(ix, fake, lexicon, **config)]
    assert all(h.sentence_score is None and h.sentence_scores == {} for h in with_sentences)


# ---- the same passage twice, lay words, misspellings ------------------------------------------------------
def test_the_same_passage_in_two_documents_is_returned_once(tmp_path, fake):
    ix = build(tmp_path, CORPUS | {"copy/permit.md": CORPUS["permit.md"]}, fake)
    hits = run(ix, fake, Lexicon(ix, {}, {}), k=10)
    permits = [h.chunk_id for h in hits if "permit" in h.chunk_id]
    assert permits == ["copy/permit.md#0"]  # equal scores: the first in index order is kept
    assert len(hits) == len(CORPUS)


def test_lay_words_reach_bm25_through_the_lexicon(ix, fake):
    plain, with_synonym = Lexicon(ix, {}, {}), Lexicon(ix, {"automobile": "car park"}, {})
    assert run(ix, fake, plain, "automobile", mode="bm25") == []
    assert [h.chunk_id for h in run(ix, fake, with_synonym, "automobile", mode="bm25")] == [CARS]


def test_a_misspelt_word_is_corrected_for_bm25(ix, fake, lexicon):
    assert lexicon.correct("garaje") == "garage"
    assert [h.chunk_id for h in run(ix, fake, lexicon, "garaje", mode="bm25")] == [PERMIT]


def test_a_synonym_phrase_reads_the_same_with_or_without_its_apostrophe(ix):
    """"what's in" and "whats in" (and a key written either way) expand alike: words() splits "what's" into
    "what" and "s" but reads "whats" as one word, so a phrase key matched one spelling and not the other."""
    lex = Lexicon(ix, {"what's in": "solution contain", "doesnt work": "effective"}, {})
    for text in ("what's in the shot", "whats in the shot", "what\u2019s in the shot"):
        assert lex.expand(text).endswith("solution contain"), text
    for text in ("it doesn't work", "it doesnt work"):
        assert lex.expand(text).endswith("effective"), text


def test_the_answer_type_term_is_skipped_for_another_encoders_vectors(ix, fake, lexicon):
    # the shipped answer-type model was trained on the embedded MiniLM, not on the fake encoder's vectors
    off = run(ix, fake, lexicon)
    on = run(ix, fake, lexicon, type_weight=0.5)
    assert [(h.chunk_id, h.score) for h in on] == [(h.chunk_id, h.score) for h in off]
