"""The patient chat's pieces without a browser: queued conversation, signed browser copy, contact card,
how answers read, starter questions."""
from __future__ import annotations

import pytest

from assistant.errors import ConfigError
from assistant.patient import (CLEARED, Conversation, Conversations, Turn, contact_card, group_citations, restore,
                               reviewed_line, save, sentence_case)
from assistant.settings import Settings
from assistant.ui import patient_question

KEY = b"k" * 32


def test_queued_questions_are_answered_in_order_and_only_one_at_a_time():
    conv = Conversation()
    conv.add("first?")
    conv.add("second?")
    turn = conv.next()
    assert turn.question == "first?" and conv.next() is None  # the second waits while the first is answered
    shown = conv.messages()
    assert [m["role"] for m in shown] == ["user", "assistant", "user"] and "typing" in shown[1]["content"]
    turn.shown, turn.raw, turn.state = "answer one", "answer one", "done"
    assert conv.next().question == "second?"
    assert conv.history() == [{"role": "user", "content": "first?"}, {"role": "assistant", "content": "answer one"}]


def test_the_saved_copy_round_trips_and_a_changed_one_is_ignored():
    conv = Conversation()
    conv.turns = [Turn("q?", "<b>shown</b>", "raw", 7, "done"), Turn("pending?")]
    saved = save(conv, KEY)
    back = restore(saved, KEY)
    assert [(t.question, t.shown, t.raw, t.question_id, t.state) for t in back.turns] == [("q?", "<b>shown</b>", "raw", 7, "done")]
    mac, _, body = saved.partition(".")
    forged = mac + "." + body[:-4] + "AAAA"
    assert restore(forged, KEY).turns == [] and restore(saved, b"x" * 32).turns == []
    for junk in (None, "", CLEARED, 5, "a.b", "." * 10):
        assert restore(junk, KEY).turns == []
    assert save(Conversation(), KEY) == CLEARED


def test_conversations_are_kept_per_session_and_bounded():
    convs = Conversations(limit=2)
    a = convs.get("a")
    assert convs.get("a") is a and convs.get(None) is not convs.get(None)
    convs.get("b"), convs.get("c")
    assert convs.get("a") is not a  # the least recently used was forgotten


def test_restoring_keeps_questions_asked_before_the_page_read_its_copy():
    conv = Conversation()
    conv.add("new?")
    old = Conversation()
    old.turns = [Turn("old?", "a", "a", None, "done")]
    conv.restore_from(old)
    conv.restore_from(old)  # once per tab
    assert [t.question for t in conv.turns] == ["old?", "new?"]


def test_contact_card_escapes_and_shows_only_what_is_set():
    s = Settings(clinic_name="A&B <Clinic>", clinic_phone="+1 (555) 010-2000", clinic_hours="<i>9-5</i>",
                 clinic_booking_url="https://book.example.org/?a=1&b=2")
    card = contact_card(s)
    assert 'href="tel:+15550102000"' in card and "A&amp;B &lt;Clinic&gt;" in card and "&lt;i&gt;9-5" in card
    assert 'href="https://book.example.org/?a=1&amp;b=2"' in card
    empty = contact_card(Settings())
    assert "tel:" not in empty and "Book" not in empty and "front desk" in empty


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x.example", "https://x.example/a b", "data:text/html,x"])
def test_booking_links_must_be_http(url):
    with pytest.raises(ConfigError):
        Settings().replace(clinic_booking_url=url)


@pytest.mark.parametrize("paragraph, expected", [
    ("A. [1] B. [1] C. [2] D. [1]", "A. B. [1] C. [2] D. [1]"),
    ("Intro. [1] Steps: [1] One. [1] Two. [1] Else. [2]", "Intro. [1] Steps:\n\n- One.\n- Two. [1]\n\nElse. [2]"),
    ("No markers here.", "No markers here."),
    ("_Answering: “x”_", "_Answering: “x”_"),
])
def test_one_marker_per_run_of_sentences_and_lists_as_lists(paragraph, expected):
    assert group_citations(paragraph) == expected


def test_titles_dates_and_starters_read_as_patients_expect():
    assert sentence_case("Timeline And Expected Sessions For MRI") == "Timeline and expected sessions for MRI"
    assert reviewed_line({"reviewed_by": "Dr. Ana Ruiz", "reviewed_on": "2026-03-14"}) == "Reviewed by Dr. Ana Ruiz, March 2026"
    assert reviewed_line({}) == ""
    assert patient_question("What Is It") == "What is it?"
    assert patient_question("Recovery Tips") == "What should I know about recovery tips?"
    assert patient_question("Take The First Step Today") is None and patient_question("Contact Us") is None
