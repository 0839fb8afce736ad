"""documents: every loader on tiny files made here, and what load_corpus leaves out, with reasons."""
from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from assistant.documents import Document, load_corpus
from assistant.errors import CorpusError

TODAY = dt.date(2025, 6, 1)

MD_WITH_FRONT_MATTER = """\
---
title: "Knee Injections: What To Expect"
url: https://clinic.example/knee
Reviewed-By: Dr. Ada Smith
reviewed_on: 2025-01-15
review_due: 2026-01-15
empty_key:
---

# Knee Injections

Knee injections may ease pain. Most visits take thirty minutes.
"""

PLAIN_TXT = """\
Knee Care After Injection

Rest the knee for two days after the injection. Ice may reduce swelling.
Call us today
When To Call The Clinic
Call the clinic if the pain gets worse.
"""

HTML_PAGE = """\
<!doctype html>
<html><head><title>Knee Injections | Clinic</title>
<meta name="reviewed_by" content="Dr. Ada Smith">
<meta name="review-due" content="2999-01-01">
<script>var tracking = "SCRIPT_TEXT";</script>
<style>body { color: red; }</style>
</head>
<body>
<nav><ul><li>Home NAV_TEXT</li></ul></nav>
<main>
<nav class="crumbs"><ul><li>Clinic CRUMB_TEXT</li></ul></nav>
<h1>Knee Injections</h1>
<p>Knee injections may ease pain.   They are done in the clinic.<script>track("INLINE_SCRIPT_TEXT")</script></p>
<h2>Before Your Visit</h2>
<p>Please bring:<style>.x { color: blue; }</style></p>
<ul><li>Your ID card</li><li>A list of <b>current</b> medicines</li></ul>
<aside><p>Related ASIDE_TEXT</p></aside>
<form><p>Sign up FORM_TEXT</p></form>
<footer><p>Copyright FOOTER_TEXT</p></footer>
</main>
</body></html>
"""


def _lines(text: str) -> list[str]:
    return [line for line in text.split("\n") if line.strip()]


def _pdf_bytes(pages: list[list[str]], title: str | None = None) -> bytes:
    """A real PDF, one drawn text line per entry, made with reportlab."""
    import io

    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    pdf = canvas.Canvas(buf)
    pdf.setTitle(title or "")  # reportlab would otherwise write the title "untitled"
    for lines in pages:
        y = 800
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 20
        pdf.showPage()
    pdf.save()
    return buf.getvalue()


# ---- Markdown ----------------------------------------------------------------------------------


def test_markdown_front_matter_becomes_title_and_metadata(make_corpus):
    report = load_corpus(make_corpus({"knee.md": MD_WITH_FRONT_MATTER}), today=TODAY)
    assert report.documents == [
        Document(
            id="knee.md",
            title="Knee Injections: What To Expect",
            text="# Knee Injections\n\nKnee injections may ease pain. Most visits take thirty minutes.\n",
            metadata={
                "url": "https://clinic.example/knee",
                "reviewed_by": "Dr. Ada Smith",
                "reviewed_on": "2025-01-15",
                "review_due": "2026-01-15",
            },
        )
    ]
    assert (report.skipped, report.stale) == ([], [])


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("# First Heading\n\nBody text.\n## Second\nMore.\n", "First Heading"),  # first # heading
        ("Body text with no heading.\n", "Post op care"),  # from the file name
    ],
)
def test_markdown_title_without_front_matter(make_corpus, text, title):
    report = load_corpus(make_corpus({"post-op_care.md": text}))
    assert [d.title for d in report.documents] == [title]


def test_windows_newlines_and_bom_are_cleaned(make_corpus):
    raw = "\ufeff---\r\ntitle: Crlf\r\n---\r\n# Crlf\r\n\r\nLine one.\r\n"
    report = load_corpus(make_corpus({"crlf.md": raw}))
    assert [(d.title, d.text) for d in report.documents] == [("Crlf", "# Crlf\n\nLine one.\n")]


# ---- plain text --------------------------------------------------------------------------------


def test_txt_title_lines_become_headings(make_corpus):
    report = load_corpus(make_corpus({"knee_care.txt": PLAIN_TXT}))
    [doc] = report.documents
    assert doc.title == "Knee Care After Injection"
    assert _lines(doc.text) == [
        "# Knee Care After Injection",
        "Rest the knee for two days after the injection. Ice may reduce swelling.",
        "Call us today",  # half its long words lowercase: not a title line
        "## When To Call The Clinic",
        "Call the clinic if the pain gets worse.",
    ]


def test_txt_like_the_prolotherapy_source_gets_its_section_headings(make_corpus):
    """The raw article had one paragraph a line and bare title lines, some ending in '?'."""
    txt = (
        "Understanding Prolotherapy And Its Role In Pain Management\n\n"
        "Prolotherapy is one such approach. It may help support tissue repair.\n"
        "What Is Proliferation Therapy?\n"
        "Prolotherapy involves introducing a solution into the targeted area.\n"
        "Timeline And Expected Sessions\n"
        "Sessions are generally scheduled two to three weeks apart.\n"
    )
    [doc] = load_corpus(make_corpus({"prolo.txt": txt})).documents
    assert [line for line in doc.text.split("\n") if line.startswith("#")] == [
        "# Understanding Prolotherapy And Its Role In Pain Management",
        "## What Is Proliferation Therapy?",
        "## Timeline And Expected Sessions",
    ]


# ---- HTML --------------------------------------------------------------------------------------


def test_html_main_text_headings_and_list_items(make_corpus):
    report = load_corpus(make_corpus({"knee.html": HTML_PAGE}), today=TODAY)
    [doc] = report.documents
    assert _lines(doc.text) == [
        "# Knee Injections",
        "Knee injections may ease pain. They are done in the clinic.",
        "## Before Your Visit",
        "Please bring:",
        "- Your ID card",
        "- A list of current medicines",
    ]
    assert doc.title == "Knee Injections | Clinic"
    assert doc.metadata == {"reviewed_by": "Dr. Ada Smith", "review_due": "2999-01-01"}


@pytest.mark.parametrize(
    "marker", ["SCRIPT_TEXT", "INLINE_SCRIPT_TEXT", "color", "NAV_TEXT", "CRUMB_TEXT", "ASIDE_TEXT", "FORM_TEXT",
               "FOOTER_TEXT"],
)
def test_html_boilerplate_is_dropped(make_corpus, marker):
    [doc] = load_corpus(make_corpus({"knee.html": HTML_PAGE}), today=TODAY).documents
    assert marker not in doc.text


def test_html_without_main_reads_the_body(make_corpus):
    page = ("<html><body><nav><ul><li>Menu</li></ul></nav><h2>Parking</h2><p>Parking is free.</p>"
            "<ol><li>Enter at gate B</li></ol><footer><p>Footer</p></footer></body></html>")
    [doc] = load_corpus(make_corpus({"parking.htm": page})).documents
    assert (doc.title, _lines(doc.text)) == ("Parking", ["## Parking", "Parking is free.", "- Enter at gate B"])


def test_html_text_directly_in_a_div_is_kept(make_corpus):
    page = "<html><body><main><div>Call the clinic if the pain gets worse.</div></main></body></html>"
    report = load_corpus(make_corpus({"call.html": page}))
    assert [d.text for d in report.documents] == ["Call the clinic if the pain gets worse.\n"]


def test_html_article_header_heading_is_kept(make_corpus):
    page = ("<html><body><header><p>Site banner</p></header><article><header><h1>Knee Injections</h1></header>"
            "<p>Body text here.</p></article></body></html>")
    [doc] = load_corpus(make_corpus({"knee.html": page})).documents
    assert (doc.title, _lines(doc.text)) == ("Knee Injections", ["# Knee Injections", "Body text here."])


# ---- PDF ---------------------------------------------------------------------------------------


def test_pdf_text_is_loaded_from_every_page(make_corpus):
    pdf = _pdf_bytes(
        [
            [
                "Shoulder Care After Injection",
                "",
                "Rest the shoulder for two days after the injection.",
                "Ice may reduce swelling.",
                "",
                "When To Call Us",
                "Call the clinic if the pain gets worse.",
            ],
            ["Page two says physical therapy may start after one week."],
        ],
        title="Shoulder Care Leaflet",
    )
    report = load_corpus(make_corpus({"leaflets/shoulder.pdf": pdf}))
    [doc] = report.documents
    assert (doc.id, doc.title) == ("leaflets/shoulder.pdf", "Shoulder Care Leaflet")
    assert _lines(doc.text) == [
        "# Shoulder Care After Injection",
        "Rest the shoulder for two days after the injection.",
        "Ice may reduce swelling.",
        "## When To Call Us",
        "Call the clinic if the pain gets worse.",
        "Page two says physical therapy may start after one week.",
    ]
    assert report.skipped == []


def test_pdf_without_metadata_title_uses_its_first_heading(make_corpus):
    pdf = _pdf_bytes([["Hip Pain Basics", "Hip pain has many causes."]])
    [doc] = load_corpus(make_corpus({"hip.pdf": pdf})).documents
    assert doc.title == "Hip Pain Basics"


@pytest.mark.parametrize(
    ("content", "reason_prefix"),
    [
        pytest.param(b"%PDF-1.4 this is not really a pdf", "PdfStreamError:", id="garbage"),
        pytest.param(_pdf_bytes([["Some text on a page."]])[:300], "PdfStreamError:", id="truncated"),
        pytest.param(
            _pdf_bytes([[]]), "ValueError: no extractable text (scanned image or empty PDF)", id="no-text"
        ),
    ],
)
def test_unreadable_pdf_is_skipped_with_a_reason(make_corpus, content, reason_prefix):
    report = load_corpus(make_corpus({"bad.pdf": content, "good.md": "# Good\n\nFine.\n"}))
    assert [d.id for d in report.documents] == ["good.md"]
    [(rel, why)] = report.skipped
    assert rel == "bad.pdf"
    assert why.startswith(reason_prefix)


# ---- JSONL -------------------------------------------------------------------------------------


def test_jsonl_records(make_corpus, caplog):
    lines = [
        {"id": "faq-1", "title": "Sessions", "text": "Sessions are two to three weeks apart.",
         "url": "https://clinic.example/faq#1"},
        "this line is not json",
        {"title": "No id", "text": "A record without an id."},
        {"id": "faq-2", "text": "Bring your ID card.", "url": None},
        "",
        ["a", "list"],
        {"id": 7, "title": "Numeric", "text": "Numeric ids become strings.", "reviewed_on": "2024-01-01"},
    ]
    text = "\n".join(l if isinstance(l, str) else json.dumps(l) for l in lines) + "\n"
    with caplog.at_level(logging.WARNING, logger="assistant.documents"):
        report = load_corpus(make_corpus({"faq.jsonl": text}), today=TODAY)
    assert report.documents == [
        Document("faq-1", "Sessions", "Sessions are two to three weeks apart.\n",
                 {"url": "https://clinic.example/faq#1"}),
        Document("faq-2", "faq-2", "Bring your ID card.\n", {}),
        Document("7", "Numeric", "Numeric ids become strings.\n", {"reviewed_on": "2024-01-01"}),
    ]
    assert [(where, why.split(":")[0]) for where, why in report.skipped] == [
        ("faq.jsonl:2", "bad record"), ("faq.jsonl:3", "bad record"), ("faq.jsonl:6", "bad record")]
    warned = [r.getMessage().split(":")[0] for r in caplog.records]
    assert warned == ["skipped faq.jsonl", "skipped faq.jsonl", "skipped faq.jsonl"]


def test_jsonl_record_with_empty_text_is_left_out(make_corpus):
    text = json.dumps({"id": "blank", "text": "   "}) + "\n" + json.dumps({"id": "ok", "text": "Fine."}) + "\n"
    assert [d.id for d in load_corpus(make_corpus({"r.jsonl": text})).documents] == ["ok"]


# ---- what is left out --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("scan.png", "unsupported file type .png"),
        ("notes.docx", "unsupported file type .docx"),
        ("README", "unsupported file type (none)"),
    ],
)
def test_unsupported_file_is_skipped_and_named(make_corpus, name, reason):
    report = load_corpus(make_corpus({name: b"\x89PNG\r\n", "ok.md": "Fine.\n"}))
    assert [d.id for d in report.documents] == ["ok.md"]
    assert report.skipped == [(name, reason)]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.md", ""),
        ("blank.txt", "  \n\n\t\n"),
        ("front_matter_only.md", "---\ntitle: Nothing Here\n---\n\n"),
        ("empty.html", "<html><body><main><script>x()</script></main></body></html>"),
        ("control_chars.md", "\u200b\ufeff\x00\n"),
    ],
)
def test_empty_file_is_skipped_and_named(make_corpus, name, content):
    report = load_corpus(make_corpus({name: content}))
    assert report.documents == []
    assert report.skipped == [(name, "ValueError: empty document")]


def test_hidden_files_and_folders_are_ignored(make_corpus):
    report = load_corpus(make_corpus({".hidden/a.md": "Hidden.\n", ".DS_Store": b"\0", "ok.md": "Fine.\n"}))
    assert ([d.id for d in report.documents], report.skipped) == (["ok.md"], [])


def test_missing_corpus_folder_raises(tmp_path):
    with pytest.raises(CorpusError, match="No corpus folder at"):
        load_corpus(tmp_path / "nope")


# ---- stale documents ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("review_due", "stale"),
    [
        ("2025-05-31", True),  # the day before TODAY
        ("2025-06-01", False),  # due today is still current
        ("2026-01-01", False),
        ("2025-05-31T09:00:00", True),  # a timestamp: its date counts
        ("next spring", False),  # unreadable dates never hide content
        (None, False),
    ],
)
def test_stale_document_is_left_out(make_corpus, review_due, stale):
    front = f"---\nreview_due: {review_due}\n---\n" if review_due else ""
    corpus = make_corpus({"a.md": front + "# A\n\nText.\n"})
    report = load_corpus(corpus, today=TODAY)
    assert ([d.id for d in report.documents], report.stale) == (([], ["a.md"]) if stale else (["a.md"], []))


def test_stale_document_kept_when_skip_stale_is_false(make_corpus):
    corpus = make_corpus({"a.md": "---\nreview_due: 2020-01-01\n---\n# A\n\nText.\n"})
    report = load_corpus(corpus, skip_stale=False, today=TODAY)
    assert ([d.id for d in report.documents], report.stale) == (["a.md"], [])
    assert report.documents[0].metadata == {"review_due": "2020-01-01"}


def test_stale_jsonl_record_is_left_out(make_corpus):
    text = "\n".join(json.dumps(r) for r in [
        {"id": "old", "text": "Old.", "review_due": "2020-01-01"},
        {"id": "new", "text": "New.", "review_due": "2030-01-01"},
    ])
    report = load_corpus(make_corpus({"r.jsonl": text}), today=TODAY)
    assert ([d.id for d in report.documents], report.stale) == (["new"], ["old"])


def test_summary_counts(make_corpus):
    corpus = make_corpus({
        "a.md": "Fine.\n", "b.png": b"x", "c.md": "", "d.md": "---\nreview_due: 2020-01-01\n---\nOld.\n",
    })
    report = load_corpus(corpus, today=TODAY)
    assert report.summary() == "1 documents loaded, 2 files skipped, 1 past review_due left out"


# ---- ids ---------------------------------------------------------------------------------------


def test_ids_are_paths_relative_to_the_corpus_or_record_ids(make_corpus):
    corpus = make_corpus({
        "top.md": "Top.\n",
        "clinic/knee/after.txt": "After care.\n",
        "clinic/faq.jsonl": json.dumps({"id": "faq-9", "text": "A record."}) + "\n",
        "clinic/page.html": "<p>A page.</p>",
    })
    report = load_corpus(corpus)
    # files are read in sorted path order; a JSONL file contributes its records' ids
    assert [d.id for d in report.documents] == ["faq-9", "clinic/knee/after.txt", "clinic/page.html", "top.md"]


@pytest.mark.parametrize(
    ("files", "kept", "skipped"),
    [
        pytest.param(
            {"faq.jsonl": "\n".join(json.dumps(r) for r in [
                {"id": "q1", "title": "First", "text": "First."},
                {"id": "q1", "title": "Second", "text": "Second."},
            ])},
            [("q1", "First")], [("faq.jsonl:q1", "duplicate document id")], id="within-one-jsonl",
        ),
        pytest.param(
            {"a.jsonl": json.dumps({"id": "q1", "title": "From a", "text": "A."}),
             "b.jsonl": json.dumps({"id": "q1", "title": "From b", "text": "B."})},
            [("q1", "From a")], [("b.jsonl:q1", "duplicate document id")], id="across-jsonl-files",
        ),
        pytest.param(
            {"a.md": "# File A\n\nA.\n", "z.jsonl": json.dumps({"id": "a.md", "title": "Record", "text": "R."})},
            [("a.md", "File A")], [("z.jsonl:a.md", "duplicate document id")], id="record-named-like-a-file",
        ),
    ],
)
def test_duplicate_ids_keep_the_first(make_corpus, files, kept, skipped):
    report = load_corpus(make_corpus(files))
    assert [(d.id, d.title) for d in report.documents] == kept
    assert report.skipped == skipped
