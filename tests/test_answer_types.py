"""The answer-type model (assistant/answer_types.py) on the real encoder, and its place in retrieval: opt-in
(answer_type_weight), skipped for another encoder's vectors."""
from __future__ import annotations

import numpy as np
import pytest

from assistant.answer_types import AnswerTypes, for_encoder

PASSAGES = {
    "symptoms": "Common signs include wheezing, coughing, chest tightness and shortness of breath, often worse at night.",
    "treatment": "Treatment includes inhaled corticosteroids taken every day and a quick-relief inhaler for attacks.",
    "causes": "The exact cause is unknown; it is thought to come from a mix of genes and things in the environment.",
}


@pytest.fixture(scope="module")
def types(embedder) -> AnswerTypes:
    model = for_encoder(embedder.model_id)
    assert model is not None, "the shipped model was trained on the embedded encoder"
    return model


def test_it_reads_the_kind_of_answer_a_question_asks_for(types, embedder):
    for question, kind in (("What are the symptoms of asthma?", "symptoms"),
                           ("How is asthma treated?", "treatment"),
                           ("What causes asthma?", "causes")):
        p = types.asked(embedder.encode_query(question))
        assert p.shape == (len(types.classes),) and p.sum() == pytest.approx(1.0, abs=1e-5)
        assert types.classes[int(np.argmax(p))] == kind, question


def test_the_passage_of_the_asked_kind_agrees_most(types, embedder):
    names = list(PASSAGES)
    vectors = embedder.encode([PASSAGES[n] for n in names])
    for question, kind in (("what are the signs of asthma", "symptoms"), ("how do they treat asthma", "treatment")):
        agree = types.agreement(embedder.encode_query(question), vectors)
        assert ((agree >= 0) & (agree <= 1)).all()
        assert names[int(np.argmax(agree))] == kind, question


def test_another_encoders_vectors_get_no_model():
    assert for_encoder("some/other-model") is None


def test_retrieval_adds_the_weighted_agreement_to_each_fused_score(bot, types, embedder):
    from dataclasses import replace

    from assistant.retrieval import search

    base = replace(bot.retrieval, sentence_weight=0.0)
    question = "what are the side effects of prolotherapy"
    vec = embedder.encode_query(question)
    off = {h.chunk_id: h.score for h in search(bot.index, embedder, bot.lexicon, question, k=12, config=base, vec=vec)}
    on = search(bot.index, embedder, bot.lexicon, question, k=12, config=replace(base, type_weight=0.3), vec=vec)
    assert {h.chunk_id for h in on} == set(off)
    ix = bot.index
    agree = types.agreement(vec, ix.embeddings[[ix.position(h.chunk_id) for h in on]])
    for h, a in zip(on, agree.tolist()):
        assert h.score == pytest.approx(off[h.chunk_id] + 0.3 * a, abs=1e-5), h.chunk_id
