"""The SQLite question log and feedback store: redaction, concurrent writes, CSV export."""
import csv
import io
import sqlite3
import threading

import pytest

from assistant.redact import redact
from assistant.store import MAX_TEXT, Store


@pytest.mark.parametrize("text, expected", [
    # emails
    ("Email me at jane.doe@example.com please", "Email me at [email] please"),
    ("JANE_DOE+clinic@mail.example.co.uk", "[email]"),
    ("reach me: j.o'neil@clinic-mail.org.", "reach me: [email]."),
    # phones
    ("call 555-123-4567", "call [phone]"),
    ("call (555) 123-4567.", "call [phone]."),
    ("call +1 555 123 4567 after 5", "call [phone] after 5"),
    ("+1 (555) 123-4567", "[phone]"),
    ("+44 20 7946 0958", "[phone]"),
    ("555.123.4567", "[phone]"),
    ("5551234567", "[phone]"),
    ("tel: 555 1234", "tel: [phone]"),
    ("phone 555 123 4567, and", "phone [phone], and"),
    # dates of birth
    ("born 03/14/1985", "born [date]"),
    ("born 3/4/85", "born [date]"),
    ("dob 14.03.1985", "dob [date]"),
    ("DOB: 1985-03-14", "DOB: [date]"),
    ("born March 14, 1985", "born [date]"),
    ("born Mar. 3rd 1985", "born [date]"),
    ("born 14 March 1985", "born [date]"),
    ("born 14th of March, 1985", "born [date]"),
    # other identifiers
    ("SSN 123-45-6789", "SSN [id]"),
    # self-introduced names
    ("my name is Jane Doe", "my name is [name]"),
    ("My name is Jane Doe.", "My name is [name]."),
    ("my name is jane doe", "my name is [name]"),
    ("My name is Jane and I have knee pain", "My name is [name] and I have knee pain"),
    ("My name's Jane", "My name's [name]"),
    ("Name: Jane Doe", "Name: [name]"),
    ("I'm called Jane Doe", "I'm called [name]"),
    ("call me Jane", "call me [name]"),
    ("hi this is Bob Smith speaking", "hi this is [name] speaking"),
    ("My name is Jane Doe, email jane.doe@example.com, phone (555) 123-4567. Is it painful?",
     "My name is [name], email [email], phone [phone]. Is it painful?"),
    # medical numbers that must stay
    ("Sessions are 2 to 3 weeks apart", "Sessions are 2 to 3 weeks apart"),
    ("usually 3-6 sessions", "usually 3-6 sessions"),
    ("25% dextrose", "25% dextrose"),
    ("15% dextrose and 0.5% lidocaine", "15% dextrose and 0.5% lidocaine"),
    ("about 1-2 weeks", "about 1-2 weeks"),
    ("10-15 minutes", "10-15 minutes"),
    ("3 to 6 months", "3 to 6 months"),
    ("12.5 mg", "12.5 mg"),
    ("1 in 10 patients", "1 in 10 patients"),
    ("between 2018 and 2020", "between 2018 and 2020"),
    ("at 9:30 am", "at 9:30 am"),
    ("Dr. Hackett's 1950s work", "Dr. [name]'s 1950s work"),  # any person's name, a doctor's too
    ("ICD-10", "ICD-10"),
    ("", ""),
    # names in any phrasing (the probe), and identifiers beyond emails and phones
    ("I'm John Smith and my knee hurts", "I'm [name] and my knee hurts"),
    ("I am Maria Garcia, 54, with a bad hip", "I am [name], 54, with a bad hip"),
    ("Jane Doe here, I have HIV. Can I get prolotherapy?", "[name] here, I have HIV. Can I get prolotherapy?"),
    ("Will it hurt? Thanks, Robert Johnson", "Will it hurt? Thanks, [name]"),
    ("my daughter Keisha hurt her ankle", "my daughter [name] hurt her ankle"),
    ("I live at 4417 Larkspur Lane, Dayton, Ohio 45419", "I live at [address]"),
    ("send it to PO Box 1182", "send it to [address]"),
    ("MRN is A7Z3-99Q", "MRN is [id]"),
    ("Member ID XJH123456789", "Member ID [id]"),
    ("\uff4a\uff4f\uff48\uff4e\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d", "[email]"),  # full width
    ("john dot smith at example dot com", "[email]"),
    ("born the fourteenth of March 1962", "born [date]"),
    ("see you Thursday, October 17th", "see you [date]"),
    ("my number is five five five, one two three, four five six seven", "my number is [phone]"),
    # conditions, body parts, drugs and doses named after people or capitalised stay
    ("Parkinson's disease and a Baker's cyst", "Parkinson's disease and a Baker's cyst"),
    ("Is it used for Osgood-Schlatter or Crohn's?", "Is it used for Osgood-Schlatter or Crohn's?"),
    ("My Achilles tendon and Tommy John surgery", "My Achilles tendon and Tommy John surgery"),
    ("I take Tylenol 500 mg and Eliquis 2.5 mg", "I take Tylenol 500 mg and Eliquis 2.5 mg"),
    ("I winter in Arizona and see a doctor at the Mayo Clinic", "I winter in Arizona and see a doctor at the Mayo Clinic"),
    ("Will the 2nd round hurt less?", "Will the 2nd round hurt less?"),
    ("I have a soy allergy, is that a problem?", "I have a soy allergy, is that a problem?"),
    # messages in Spanish: everyday Spanish words are not names; Spanish introductions, dates and digits
    ("¿Cuánto cuesta una sesión?", "¿Cuánto cuesta una sesión?"),
    ("cuanto cuesta una sesion", "cuanto cuesta una sesion"),
    ("Hola, soy Rosa Elena Paredes y tengo cita", "Hola, soy [name] y tengo cita"),
    ("Mi esposo se llama Abundio, nacio el 2 de febrero de 1951.", "Mi esposo se llama [name], nacio el [date]."),
    ("mi numero es tres dos tres, cinco cinco cinco, cero uno nueve dos", "mi numero es [phone]"),
    ("su correo es daniela punto ochoa arroba gmail punto com", "su correo es [email]"),
])
def test_redaction(text, expected):
    assert redact(text) == expected


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "log" / "app.sqlite3")


def _raw(store: Store, sql: str) -> list[tuple]:
    with sqlite3.connect(store.path) as db:
        return db.execute(sql).fetchall()


def test_wal_mode(store):
    assert _raw(store, "PRAGMA journal_mode") == [("wal",)]


def test_question_log_is_redacted(store):
    qid = store.log_question(channel="api", question="my name is Jane Doe, jane@example.com, born 03/14/1985",
                             standalone_question="call me at 555-123-4567", route="answer", triage="",
                             sources=["prolotherapy.md"], latency_ms=12.345)
    assert _raw(store, "SELECT question, standalone_question, sources, latency_ms FROM questions") == [
        ("my name is [name], [email], born [date]", "call me at [phone]", '["prolotherapy.md"]', 12.35)]
    assert store.rows("questions")[0]["id"] == qid


def test_feedback_redacts_every_text_field(store):
    # The answer can quote the question back ("Answering: ..."), so it is redacted too.
    fid = store.add_feedback(rating=-1, question="I'm Jane, jane@example.com", answer="_Answering: “jane@example.com”_",
                             comment="call 555-123-4567")
    assert store.set_comment(fid, "my name is Jane Doe")
    assert not store.set_comment(fid + 100, "no such row")
    assert _raw(store, "SELECT rating, comment, question, answer FROM feedback") == [
        (-1, "my name is [name]", "I'm [name], [email]", "_Answering: “[email]”_")]


def test_text_is_bounded_and_storable(store):
    store.add_feedback(rating=1, comment="a\ud800b" + "x" * 10_000, question="\udfff")
    (comment, question), = _raw(store, "SELECT comment, question FROM feedback")
    assert comment.startswith("a\ufffdbx") and len(comment) == MAX_TEXT
    assert question == "\ufffd"


def test_bad_rating_and_table(store):
    with pytest.raises(ValueError):
        store.add_feedback(rating=0)
    with pytest.raises(ValueError, match="unknown table"):
        store.rows("sqlite_master")


def test_32_concurrent_feedback_writes_all_persist(store):
    n, errors = 32, []
    start = threading.Barrier(n)

    def write(i: int) -> None:
        try:
            start.wait()
            for j in range(5):
                store.add_feedback(rating=1 if (i + j) % 2 else -1, comment=f"client {i} write {j}", question=f"q{i}")
        except Exception as exc:  # noqa: BLE001 - collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert store.count("feedback") == n * 5
    assert _raw(store, "SELECT COUNT(DISTINCT comment) FROM feedback") == [(n * 5,)]
    assert _raw(store, "PRAGMA journal_mode") == [("wal",)]


def test_csv_export_has_the_rows(store):
    store.log_question(channel="chat", question="How many sessions?", standalone_question="How many sessions?",
                       route="answer", triage="", sources=["prolotherapy.md"], latency_ms=5)
    store.log_question(channel="api", question="What, exactly, is \"prolo\"?\nTwo lines", standalone_question="x",
                       route="abstain", triage="", sources=[], latency_ms=7)
    rows = list(csv.DictReader(io.StringIO(store.csv("questions"))))
    assert [r["question"] for r in rows] == ["What, exactly, is \"prolo\"?\nTwo lines", "How many sessions?"]
    assert [r["route"] for r in rows] == ["abstain", "answer"]
    assert list(rows[0]) == ["id", "ts", "channel", "question", "standalone_question", "route", "triage", "sources",
                             "latency_ms"]


@pytest.mark.parametrize("comment, cell", [
    ("=HYPERLINK(\"http://evil.example\",\"x\")", "'=HYPERLINK(\"http://evil.example\",\"x\")"),
    ("+1+2", "'+1+2"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\t=1+1", "'\t=1+1"),
    ("great answer = helpful", "great answer = helpful"),
    ("", ""),
])
def test_csv_neutralises_formulas(store, comment, cell):
    store.add_feedback(rating=-1, comment=comment, question_id=3)
    row, = csv.DictReader(io.StringIO(store.csv("feedback")))
    assert row["comment"] == cell
    assert row["rating"] == "-1"  # numbers are not text: a negative rating stays a number
    assert row["question_id"] == "3"
