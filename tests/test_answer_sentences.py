"""The answer-sentence model (assistant/answer_sentences.py) with the real encoder: it must tell the
sentence that answers from one about the same subject that does not, and the engine must use it to lead
the answer and to decide."""
from __future__ import annotations

import numpy as np
import pytest

from assistant.answer_sentences import SCALARS, SentenceScorer, asked_stems, pair_features, scalars
from assistant.compose import select_sentences
from assistant.errors import ConfigError
from assistant.types import Hit

PAIRS = [  # (question, a sentence that answers it, a sentence on the same subject that does not)
    ("How long does it take to recover from knee replacement surgery?",
     "Most people recover from knee replacement surgery within three to six months.",
     "Knee replacement surgery replaces the damaged surfaces of the knee joint with metal and plastic parts."),
    ("What causes gout?",
     "Gout is caused by a buildup of uric acid crystals in a joint.",
     "Gout is treated with medicines that reduce pain and swelling during an attack."),
    ("How is shingles treated?",
     "Shingles is treated with antiviral medicines such as acyclovir, started as early as possible.",
     "Shingles is a painful rash caused by the same virus that causes chickenpox."),
    ("Who is at risk of glaucoma?",
     "People over 60, African Americans over 40 and people with a family history of glaucoma are at higher risk.",
     "Glaucoma is a group of diseases that damage the eye's optic nerve."),
]


@pytest.fixture(scope="module")
def scorer() -> SentenceScorer:
    return SentenceScorer()


@pytest.mark.parametrize("question,answers,other", PAIRS)
def test_the_answering_sentence_scores_above_one_on_the_same_subject(embedder, scorer, question, answers, other):
    qvec = embedder.encode_query(question)
    vecs = embedder.encode([answers, other])
    p = scorer.score(question, qvec, [(answers, "", vecs[0]), (other, "", vecs[1])])
    assert p[0] > p[1], (question, p)


def test_features_have_the_trained_width(embedder, scorer):
    q, s = embedder.encode_query("what is it"), embedder.encode(["It is a rash."])
    x = pair_features(q, s, np.array([scalars(asked_stems("what is it"), "It is a rash.", 0.5)]))
    assert x.shape == (1, 2 * embedder.dim + len(SCALARS)) == (1, scorer.width)


def test_the_subject_words_do_not_count_as_what_is_asked():
    assert asked_stems("How is shingles treated?", title="Shingles") == {"treat"}
    assert scalars({"treat"}, "Shingles is treated with antivirals.", 0.0)[1] == 1.0
    assert scalars({"treat"}, "Shingles is a rash.", 0.0)[1] == 0.0


def test_a_damaged_model_file_names_the_fix(tmp_path):
    bad = tmp_path / "answer_sentences.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="train_sentences"):
        SentenceScorer(bad)


def _hit(text: str, rank: int) -> Hit:
    return Hit(source="a.md", chunk_id=f"c{rank}", title="Shingles", section="", text=text, score=1.0 - rank / 10)


def test_the_most_likely_answer_leads_the_reply(bot):
    hits = [_hit("Shingles is a painful rash. Antiviral medicines such as acyclovir treat shingles.", 0)]
    led = select_sentences("How is shingles treated?", hits, bot.lexicon, probs={(0, 0): 0.05, (0, 1): 0.9})
    assert led[0][1] == 1  # the treatment sentence, not the definition, opens the answer
    # words shared with neither sentence: the probabilities alone choose the lead
    for probs, lead in (({(0, 0): 0.9, (0, 1): 0.05}, 0), ({(0, 0): 0.05, (0, 1): 0.9}, 1)):
        assert select_sentences("Anything I should know about shingles?", hits, bot.lexicon, probs=probs)[0][1] == lead


def test_the_engine_records_the_best_answer_probability(bot):
    r = bot.ask("What is prolotherapy?")
    assert r.route == "answer"
    assert 0.0 <= r.signals["answer_p"] <= 1.0


def test_a_list_intro_brings_its_items_and_not_the_lines_after_the_list(bot):
    text = ("The best way to avoid shingles is to protect yourself:\n\n- Get the shingles vaccine after age 50\n"
            "- Ask about a second dose\n\nNational Institute on Aging\n\n_Source: an agency page._")
    chosen = select_sentences("How can I avoid shingles?", [_hit(text, 0)], bot.lexicon, probs={(0, 0): 0.9})
    assert [s for _, s, _ in chosen] == [0, 1, 2]


def test_a_sentence_the_passage_repeats_is_quoted_once(bot):
    text = ("Antiviral medicines such as acyclovir treat shingles; they work best early.\n"
            "- Antiviral medicines such as acyclovir treat shingles;\n")
    chosen = select_sentences("How is shingles treated?", [_hit(text, 0)], bot.lexicon, probs={(0, 0): 0.9, (0, 1): 0.9})
    assert len(chosen) == 1
    # the same words in another order say something else: both stay
    text = ("After age 50, women are more likely than men to get shingles. "
            "Before age 50, men are more likely than women to get shingles.")
    chosen = select_sentences("Are men or women more likely to get shingles?", [_hit(text, 0)], bot.lexicon,
                              probs={(0, 0): 0.9, (0, 1): 0.9})
    assert len(chosen) == 2


def test_headings_left_in_a_passage_are_never_quoted(bot):
    text = ("Who Treats Shingles?\nShingles is treated with antiviral medicines such as acyclovir.\n"
            "Treatment and recovery\nMost people recover in three to five weeks.")
    chosen = [t for *_, t in select_sentences("Who treats shingles and how is it treated?", [_hit(text, 0)],
                                               bot.lexicon, probs={(0, 0): 0.99, (0, 1): 0.5, (0, 2): 0.99, (0, 3): 0.5})]
    assert chosen and not any(t.endswith("?") or t == "Treatment and recovery" for t in chosen)
    # a short bulleted item is a list item, not a heading
    from assistant.compose import quotable
    assert quotable("Sprains and strains", list_item=True) and not quotable("Sprains and strains")
