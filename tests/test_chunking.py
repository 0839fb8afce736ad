"""chunking: structure-aware chunks, bounded in the embedding model's own word pieces."""
from __future__ import annotations

import re

import pytest

from assistant.chunking import Chunk, Chunker
from assistant.documents import Document, load_corpus
from assistant.text import sentence_spans


def chunk(embedder, text: str, max_tokens: int = 200, overlap: int = 1, title: str = "T",
          metadata: dict | None = None) -> list[Chunk]:
    doc = Document("d.md", title, text, metadata or {})
    return Chunker(embedder.count_tokens, max_tokens, overlap).chunk(doc)


def assert_well_formed(chunks: list[Chunk], doc_text: str, embedder, max_tokens: int) -> None:
    """Ids in order, text is the doc's own span, n_tokens is the embedded text's true count."""
    assert [c.id for c in chunks] == [f"{chunks[0].source}#{i}" for i in range(len(chunks))]
    for c in chunks:
        assert c.text == doc_text[c.start : c.end]
        assert c.text == c.text.strip() and c.text
    assert [c.n_tokens for c in chunks] == embedder.count_tokens([c.embed_text for c in chunks])
    assert max(c.n_tokens for c in chunks) <= max_tokens


def assert_packed(chunks: list[Chunk], max_tokens: int) -> None:
    """No chunk but the last is under half the budget: text is not cut into needlessly small pieces. (The
    exact counts for the real tokenizer are in tests/test_integration_model.py.)"""
    assert all(c.n_tokens > max_tokens // 2 for c in chunks[:-1]), [c.n_tokens for c in chunks]


def uncovered(chunks: list[Chunk], text: str) -> str:
    """The non-space characters of text that no chunk span covers."""
    covered = [False] * len(text)
    for c in chunks:
        covered[c.start : c.end] = [True] * (c.end - c.start)
    return "".join(ch for ch, ok in zip(text, covered) if not ok and not ch.isspace())


@pytest.fixture(scope="module")
def prolotherapy(prolotherapy_md) -> Document:
    [doc] = load_corpus(prolotherapy_md.parent).documents
    assert doc.id == "prolotherapy.md"
    return doc


# ---- structure ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title", "expected"),
    [
        pytest.param(
            "# T\n\nIntro sentence. Second one.\n\n## A\n\nAlpha text.\n\n### A1\n\nDeep text.\n\n## B\n\nBeta text.\n",
            "T",
            [((), "Intro sentence. Second one."), (("A",), "Alpha text."), (("A", "A1"), "Deep text."),
             (("B",), "Beta text.")],
            id="nested-levels-title-heading-dropped",
        ),
        pytest.param(
            "# Guide\n\nIntro.\n## A\nAlpha.\n",
            "Leaflet",
            [(("Guide",), "Intro."), (("Guide", "A"), "Alpha.")],
            id="h1-differs-from-title",
        ),
        pytest.param(
            "# T\n\n### Deep\n\nDeep text.\n\n## A ##\n\nAlpha.\n#### Four\nFour text.\n# Other\nOther text.\n",
            "T",
            [(("Deep",), "Deep text."), (("A",), "Alpha."), (("A", "Four"), "Four text."),
             (("Other",), "Other text.")],
            id="skipped-levels-closing-hashes-new-h1",
        ),
        pytest.param(
            "Before any heading.\n\n## Later\n\nAfter.\n",
            "T",
            [((), "Before any heading."), (("Later",), "After.")],
            id="text-before-first-heading",
        ),
        pytest.param("# T\n\n## Empty\n\n## Full\n\nText.\n", "T", [(("Full",), "Text.")],
                     id="heading-without-text-makes-no-chunk"),
    ],
)
def test_heading_paths(embedder, text, title, expected):
    chunks = chunk(embedder, text, title=title)
    assert [(c.headings, c.text) for c in chunks] == expected
    assert [c.context for c in chunks] == [" > ".join((title,) + h) for h, _ in expected]
    assert [c.section for c in chunks] == [" > ".join(h) for h, _ in expected]


@pytest.mark.parametrize(("text", "max_tokens"), [("", 200), ("  \n\n \n", 200), ("# T\n\n## Only Headings\n", 200),
                                                  ("", 16)])
def test_no_text_no_chunks(embedder, text, max_tokens):
    assert chunk(embedder, text, max_tokens) == []


def test_one_sentence_is_one_chunk(embedder):
    text = "\nJust one sentence.\n"
    meta = {"url": "https://clinic.example/x", "review_due": "2030-01-01", "source_file": "x.txt"}
    assert chunk(embedder, text, metadata=meta) == [
        Chunk(id="d.md#0", source="d.md", title="T", headings=(), text="Just one sentence.", start=1, end=19,
              context="T", n_tokens=7, metadata={"url": "https://clinic.example/x", "review_due": "2030-01-01"})
    ]


# ---- lists -------------------------------------------------------------------------------------

PREAMBLE = "The clinic opens at eight. Parking is free on weekdays. The waiting room has water. Staff will greet you at the desk."
BRING = "Bring these items:\n- Your ID card\n- Your insurance card\n- A list of medicines"


@pytest.mark.parametrize(
    ("text", "max_tokens", "overlap", "expected"),
    [
        pytest.param(BRING + "\n\nAfter the list.", 200, 1, [BRING + "\n\nAfter the list."], id="all-fits"),
        pytest.param(PREAMBLE + "\n\n" + BRING, 48, 0, [PREAMBLE, BRING], id="cut-moves-before-intro"),
        pytest.param(PREAMBLE + "\n\n" + BRING, 48, 1,
                     [PREAMBLE, "Staff will greet you at the desk.\n\n" + BRING], id="with-overlap"),
    ],
)
def test_list_stays_with_its_intro(embedder, text, max_tokens, overlap, expected):
    chunks = chunk(embedder, text, max_tokens, overlap)
    assert [c.text for c in chunks] == expected
    assert [c.context for c in chunks] == ["T"] * len(expected)
    assert_well_formed(chunks, text, embedder, max_tokens)


def test_long_list_carries_its_intro_into_continuation_context(embedder):
    items = [f"- Item number {i} is about the preparation step for the visit" for i in range(12)]
    text = "Prepare as follows:\n" + "\n".join(items)
    chunks = chunk(embedder, text, max_tokens=64)
    assert [c.text for c in chunks] == [
        "Prepare as follows:\n" + "\n".join(items[0:4]), "\n".join(items[4:8]), "\n".join(items[8:12])
    ]
    assert [c.context for c in chunks] == ["T", "T\nPrepare as follows:", "T\nPrepare as follows:"]
    assert_well_formed(chunks, text, embedder, 64)


def test_list_without_intro_sentence_carries_no_context(embedder):
    items = [f"- Item number {i} is about the preparation step for the visit" for i in range(12)]
    text = "No colon ends this paragraph.\n\n" + "\n".join(items)
    chunks = chunk(embedder, text, max_tokens=64, overlap=0)
    assert [c.text for c in chunks] == [
        "No colon ends this paragraph.\n\n" + "\n".join(items[0:4]), "\n".join(items[4:8]), "\n".join(items[8:12])
    ]
    assert [c.context for c in chunks] == ["T", "T", "T"]


def test_continuation_item_with_intro_context_stays_within_bound(embedder):
    long_item = "- " + " ".join(["the knee brace should be worn while walking"] * 5)
    text = "Before the visit please remember these points:\n- Eat a light meal.\n" + long_item + "\n"
    chunks = chunk(embedder, text, max_tokens=48)
    assert max(c.n_tokens for c in chunks) <= 48


def test_long_context_still_within_bound(embedder):
    title = "Understanding Prolotherapy And Its Role In Pain Management Today"
    chunks = chunk(embedder, "Rest the knee for two days after the injection.", max_tokens=16, title=title)
    assert max(c.n_tokens for c in chunks) <= 16


# ---- sentence packing and overlap ---------------------------------------------------------------

TEN = " ".join(f"Sentence {w} is short." for w in
               ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"])


def _sents(names: str) -> str:
    return " ".join(f"Sentence {w} is short." for w in names.split())


@pytest.mark.parametrize(
    ("overlap", "expected"),
    [
        (0, [_sents("one two three four five six"), _sents("seven eight nine ten")]),
        (1, [_sents("one two three four five six"), _sents("six seven eight nine ten")]),
        (2, [_sents("one two three four five six"), _sents("five six seven eight nine ten")]),
    ],
)
def test_overlap_repeats_trailing_sentences(embedder, overlap, expected):
    chunks = chunk(embedder, TEN, max_tokens=40, overlap=overlap)
    assert [c.text for c in chunks] == expected
    assert_well_formed(chunks, TEN, embedder, 40)


def test_overlap_skipped_when_sentences_are_large_for_the_budget(embedder):
    # budget 19: a 5-piece sentence plus the next exceed half of it, so nothing is repeated
    assert [c.text for c in chunk(embedder, TEN, 24, 0)] == [c.text for c in chunk(embedder, TEN, 24, 1)]


def test_chunks_never_cross_a_heading(embedder):
    text = "# T\n\n## A\n\n" + _sents("one two three") + "\n\n## B\n\n" + _sents("four five")
    chunks = chunk(embedder, text, max_tokens=200, overlap=2)
    assert [(c.headings, c.text) for c in chunks] == [(("A",), _sents("one two three")), (("B",), _sents("four five"))]


# ---- long and unusual text ----------------------------------------------------------------------

NO_PUNCTUATION = "the patient should rest and drink water and avoid lifting and call the clinic " * 10
NUMBERED_WORDS = " ".join(f"word{i}" for i in range(150))


@pytest.mark.parametrize("max_tokens", [16, 32, 64, 200])
@pytest.mark.parametrize("text", [NO_PUNCTUATION, NUMBERED_WORDS], ids=["no-punctuation", "numbered-words"])
def test_long_paragraph_without_punctuation_is_split_within_bound(embedder, text, max_tokens):
    chunks = chunk(embedder, text, max_tokens, overlap=1)
    assert_packed(chunks, max_tokens)
    assert (len(chunks) == 1) == (embedder.count_tokens(["T\n\n" + text])[0] <= max_tokens)
    assert_well_formed(chunks, text, embedder, max_tokens)
    # cut between words, in order, with nothing lost or repeated
    assert " ".join(c.text for c in chunks) == text.strip()
    assert all(re.match(r"\S", text[c.start]) and (c.end == len(text) or text[c.end].isspace()) for c in chunks)


UNICODE = [
    pytest.param("Café crème brûlée is naïve. Ça va très bien 😀! Ünïcödé ends here.", id="accents-emoji"),
    pytest.param("日本語のテキストです。痛みがあれば医師に相談してください。" * 8, id="cjk-no-spaces"),
    pytest.param("مرحبا بالعالم. العلاج يستغرق عدة جلسات. " * 6, id="arabic-rtl"),
    pytest.param("שלום עולם. הטיפול לוקח כמה מפגשים. " * 6, id="hebrew-rtl"),
    pytest.param("Knee 🦵 pain 😣 after 💉 injection 🏥. " * 10, id="emoji-words"),
    pytest.param("Mixed: English, Ελληνικά, Русский, 中文, العربية. Ok! " * 5, id="mixed-scripts"),
]


@pytest.mark.parametrize("max_tokens", [16, 32, 200])
@pytest.mark.parametrize("text", UNICODE)
def test_unicode_text(embedder, text, max_tokens):
    chunks = chunk(embedder, text, max_tokens)
    assert chunks
    assert_well_formed(chunks, text, embedder, max_tokens)
    assert uncovered(chunks, text) == ""


def test_cjk_run_without_spaces_is_cut_between_characters(embedder):
    text = "痛" * 300
    chunks = chunk(embedder, text, max_tokens=32)
    assert_well_formed(chunks, text, embedder, 32)
    assert "".join(c.text for c in chunks) == text
    assert_packed(chunks, 32)


# ---- the real article ---------------------------------------------------------------------------


def _article_sentences(doc: Document) -> list[str]:
    out = []
    for line in doc.text.split("\n"):
        if line.strip() and not line.startswith("#"):
            out += [line[s:e] for s, e in sentence_spans(line)]
    return out


@pytest.mark.parametrize("overlap", [0, 1, 2])
@pytest.mark.parametrize("max_tokens", [200, 256, 512])
def test_every_prolotherapy_sentence_lands_in_a_chunk(embedder, prolotherapy, max_tokens, overlap):
    chunks = Chunker(embedder.count_tokens, max_tokens, overlap).chunk(prolotherapy)
    sentences = _article_sentences(prolotherapy)
    assert len(sentences) == 62
    assert [s for s in sentences if not any(s in c.text for c in chunks)] == []


@pytest.mark.parametrize("overlap", [0, 1])
@pytest.mark.parametrize("max_tokens", [16, 32, 64, 100, 200])
def test_prolotherapy_chunks_are_spans_covering_the_text(embedder, prolotherapy, max_tokens, overlap):
    """At any size (sentences longer than the budget are cut), every character is in some chunk."""
    chunks = Chunker(embedder.count_tokens, max_tokens, overlap).chunk(prolotherapy)
    assert all(c.text == prolotherapy.text[c.start : c.end] for c in chunks)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    headings = "".join(l for l in prolotherapy.text.split("\n") if l.startswith("#"))
    assert uncovered(chunks, prolotherapy.text) == re.sub(r"\s", "", headings)
    assert [c.n_tokens for c in chunks] == embedder.count_tokens([c.embed_text for c in chunks])


@pytest.mark.parametrize(
    "max_tokens",
    [32, 64, 100,
     200, 256],
)
def test_prolotherapy_chunks_within_max_tokens(embedder, prolotherapy, max_tokens):
    chunks = Chunker(embedder.count_tokens, max_tokens, 1).chunk(prolotherapy)
    assert max(c.n_tokens for c in chunks) <= max_tokens


SHORT_TITLED = Document(
    "visit.md", "Visit",
    "# Visit\n\n## Before\n\n" + PREAMBLE + " Please arrive ten minutes early so the nurse can check you in.\n\n"
    "## After\n\nRest the knee for two days after the injection, then walk a little more each day. "
    "Ice may reduce swelling. Call the clinic if the pain gets worse or if you notice redness, warmth, "
    "or fever, because these can be signs of infection that a physician should check.\n",
)


@pytest.mark.parametrize("max_tokens", [16, 32, 64, 200])
def test_chunks_within_max_tokens_on_a_short_titled_doc(embedder, max_tokens):
    chunks = Chunker(embedder.count_tokens, max_tokens, 1).chunk(SHORT_TITLED)
    # a chunk never spans the two sections; at 200 word pieces each section fits in one
    assert [c.section for c in chunks] == sorted((c.section for c in chunks), key=["Before", "After"].index)
    assert len(chunks) == 2 if max_tokens == 200 else len(chunks) > 2
    assert_well_formed(chunks, SHORT_TITLED.text, embedder, max_tokens)
