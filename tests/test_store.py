"""The question log and feedback store: redaction, concurrent writes, CSV export, schema migrations; every
store test runs against SQLite and against a real PostgreSQL server (tests/pgserver.py) when it is installed."""
import csv
import io
import sqlite3
import threading
from contextlib import closing

import pytest

from assistant.errors import ConfigError, StoreError
from assistant.redact import redact
from assistant.settings import Settings
from assistant.store import MAX_TEXT, SCHEMA_VERSION, Store, open_store, safe_url

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


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
    # other western European languages' month names, and the German "15." day
    ("née le 3 mars 1950", "née le [date]"),
    ("first session am 15. Juli", "first session am [date]"),
    ("born 21 januari 1988, asks", "born [date], asks"),
    ("nata il 2 settembre 1947", "nata il [date]"),
    ("nasceu 12 de outubro de 1961", "nasceu [date]"),
    ("two mars bars a day, every day", "two mars bars a day, every day"),  # a month name alone is no date
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
    # the whole of a name, not half of it: surnames the name lists lack, joiners, hyphens, initials
    ("I'm writing for my father Abdulrahman bin Khalid al-Harbi", "I'm writing for my father [name]"),
    ("My name is Tigist Alemayehu Bekele, 40", "My name is [name], 40"),
    ("ok so quick q from carlos m. rivera about the shot", "ok so quick q from [name] about the shot"),
    ("pls cancel friday for aiden brooks hes my son", "pls cancel friday for [name] hes my son"),
    ("Gracias Ana, ya me explicaste todo", "Gracias [name], ya me explicaste todo"),  # a sentence's first word
    # IDs in groups, last digits, dictated dates, zips and emails
    ("member ID XJK 448 201 937 please", "member ID [id] please"),
    ("the SSN ends in 4471. My son", "the SSN ends in [id]. My son"),
    ("I paid by check #2281 last week", "I paid by check [id] last week"),
    ("my coverage ends in 2025", "my coverage ends in 2025"),  # a year, not an ID
    ("my knee appt on the twenty-second.", "my knee appt on [date]."),
    ("on the second injection it hurt", "on the second injection it hurt"),
    ("date of birth twelve three sixty five", "date of birth [date]"),
    ("23 Birchwood Lane Edison NJ 0 8 8 2 0", "[address]"),
    ("RR 2 Box 117, Nevada IA 50201", "[address]"),
    ("email is rafi dot chowdhury 71 at yahoo dot com", "email is [email]"),
    # other countries' postal formats, and whatever follows an address label
    ("I'm at 221B Baker Street, London NW1 6XE", "I'm at [address]"),
    ("she lives at 42 Wallaby Way, Sydney NSW 2000 with us", "she lives at [address] with us"),
    ("Send it to Hauptstrasse 12, 10115 Berlin please.", "Send it to [address] please."),
    ("address: 88 Queen St W, Toronto, ON M5H 2N2", "address: [address]"),
    ("Postcode is EC1A 1BB", "Postcode is [address]"),
    ("Dirección: Av. Reforma 222, Col. Juárez, C.P. 06600. Gracias", "Dirección: [address]. Gracias"),
    ("Her address there is Blk 3 Lot 9, Brgy. Malinis, Taytay 1920. Call me", "Her address there is [address]. Call me"),
    ("she lives at home and takes 2 pills", "she lives at home and takes 2 pills"),  # no number: not an address
    ("Regards,\nGretel Baum\nLindenweg 7\n04109 Leipzig\nGermany", "Regards,\n[name]\n[address]"),
    ("post it to 12 boulevard Voltaire, 75011 Paris thanks", "post it to [address] thanks"),
    ("Eircode D08 VF8H, near the quays", "Eircode [address], near the quays"),
    ("please write to me at 3 Mill Road, Co. Cork, P72 X2E4 or call", "please write to me at [address] or call"),
    ("will it address the pain in 2 weeks?", "will it address the pain in 2 weeks?"),  # the verb
    ("I take B12 1MG and have L4 L5 pain", "I take B12 1MG and have L4 L5 pain"),
    # conditions, body parts, drugs and doses named after people or capitalised stay
    ("Parkinson's disease and a Baker's cyst", "Parkinson's disease and a Baker's cyst"),
    ("Is it used for Osgood-Schlatter or Crohn's?", "Is it used for Osgood-Schlatter or Crohn's?"),
    # ... and named by the eponym alone, in a list; a person's possession is still a name
    ("I am 80, with Parkinson's, osteoarthritis of the spine", "I am 80, with Parkinson's, osteoarthritis of the spine"),
    ("I have Sjögren's syndrome, and Raynaud's, and I take methotrexate",
     "I have Sjögren's syndrome, and Raynaud's, and I take methotrexate"),
    ("My son Hunter is 17. Hunter's birthday is in May.", "My son [name] is 17. [name]'s birthday is in May."),
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
    # a surname's particles before it, with nothing before them ("van der Berg, Johanna" on a form)
    ("Client: van der Berg, Johanna (goes by Jo). Chronic tennis elbow.",
     "Client: [name], [name] (goes by [name]). Chronic tennis elbow."),
    # a name found once is the same person's name where it is written again, possessive included
    ("my brother in law khanh and his wife dawn both want a consult. dawn has a bad knee from running.",
     "my brother in law khanh and his wife [name] both want a consult. [name] has a bad knee from running."),
    ("Re: Summer Oyelaran-Briggs, DOB 04/02/1950. Summer's right knee has a partial MCL tear.",
     "Re: [name], DOB [date]. [name]'s right knee has a partial MCL tear."),
    # who a person is, in brackets after the name; a nickname in quotes after it; "goes by"
    ("Is dizziness normal? Hyacinth (our clinical supervisor) wants the protocol updated.",
     "Is dizziness normal? [name] (our clinical supervisor) wants the protocol updated."),
    ("tyler (my bf) sprained his wrist at the skatepark", "[name] (my bf) sprained his wrist at the skatepark"),
    ('3. Brennan-Walsh, Patrick ("Paddy") - left ankle', '3. [name], [name] ("[name]") - left ankle'),
    ("Client: Okafor, Ngozi (goes by Ngo). Knee pain.", "Client: [name], [name] (goes by [name]). Knee pain."),
    ("Trichinellosis (also known as Trichinosis) and Tylenol (my usual painkiller)",
     "Trichinellosis (also known as Trichinosis) and Tylenol (my usual painkiller)"),
    # work relations and "my friend and teammate"; O'/D' surnames; the full stop after a name is the sentence's
    ("My colleague Meseret Tadesse is pregnant.", "My colleague [name] is pregnant."),
    ("I am writing for my friend and teammate Abebe Girma.", "I am writing for my friend and teammate [name]."),
    ("My manager Siobhan O'Neill recommended your clinic.", "My manager [name] recommended your clinic."),
    # first names joined by "and" before a found name; not other capitalised words so joined
    ("Mark and June Halvorsen would like back-to-back appointments.",
     "[name] and [name] [name] would like back-to-back appointments."),
    ("Is the Crohn and Colitis Foundation any good?", "Is the Crohn and Colitis Foundation any good?"),
    # ...but not where the word names a condition or a procedure
    ("My neighbour Tommy Reyes had Tommy John surgery last year.", "My neighbour [name] had Tommy John surgery last year."),
    ("Her GP is Dr. Baker. She has a Baker's cyst behind the knee.",
     "Her GP is Dr. [name]. She has a Baker's cyst behind the knee."),
])
def test_redaction(text, expected):
    assert redact(text) == expected


@pytest.fixture(params=BACKENDS)
def target(request, tmp_path) -> str:
    """Where a store keeps its data: a new SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return str(tmp_path / "log" / "app.sqlite3")
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture
def store(target):
    s = Store(target)
    yield s
    s.close()


def _raw(store: Store, sql: str) -> list[tuple]:
    """Rows read on a connection of the test's own, not through the Store."""
    if store.backend == "sqlite":
        with closing(sqlite3.connect(store.path)) as db:
            return db.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(store.url) as db:
        return [tuple(r) for r in db.execute(sql).fetchall()]


def test_wal_mode(store):
    if store.backend != "sqlite":
        pytest.skip("SQLite only")
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
    if store.backend == "sqlite":
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


# ---- both backends alike --------------------------------------------------------------------------------
def test_a_new_database_is_at_the_latest_schema_and_reopening_applies_nothing(store, target):
    assert store.schema_version() == SCHEMA_VERSION
    assert _raw(store, "SELECT version FROM schema_version ORDER BY version") == [
        (v,) for v in range(1, SCHEMA_VERSION + 1)]
    again = Store(target)
    try:
        assert again.migrate() == [] and again.schema_version() == SCHEMA_VERSION
    finally:
        again.close()


def test_replicas_starting_together_migrate_once(target):
    """Four stores (as if four app replicas) opening one new database at once: no error, each migration once."""
    stores, errors = [], []
    start = threading.Barrier(4)

    def open_one() -> None:
        try:
            start.wait()
            stores.append(Store(target))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == [] and len(stores) == 4
        assert _raw(stores[0], "SELECT version, COUNT(*) FROM schema_version GROUP BY version ORDER BY version") == [
            (v, 1) for v in range(1, SCHEMA_VERSION + 1)]
    finally:
        for s in stores:
            s.close()


def test_two_stores_on_one_database_share_every_table(target):
    a, b = Store(target), Store(target)
    try:
        qid = a.log_question(channel="api", question="How many sessions?", standalone_question="How many sessions?",
                             route="answer", triage="", sources=["prolotherapy.md"], latency_ms=3.5)
        fa = a.add_feedback(rating=1, question_id=qid)
        fb = b.add_feedback(rating=-1, question_id=qid, comment="too short")
        entry = a.add_curated(question="Is there parking?", answer="Yes, behind the clinic.", author="Dr. Rivera",
                              review_date="2026-12-06", status="pending", login="ann")
        assert b.curated(entry)["status"] == "pending" and b.curated(entry)["login"] == "ann"
        b.publish_curated(entry, "Nurse Okafor", "faq/is-there-parking.md")
        b.log_action("ben", "published", f"curated answer {entry}")
        assert a.curated(entry)["approved_by"] == "Nurse Okafor"
        assert [r["id"] for r in a.rows("feedback")] == [fb, fa]
        assert [(r["login"], r["action"]) for r in a.rows("staff_actions")] == [("ben", "published")]
        assert b.rows("questions")[0]["id"] == qid and b.count("questions") == 1
        assert [r["id"] for r in a.rows("curated", route="published")] == [entry]
        assert a.rows("curated", route="pending") == []
    finally:
        a.close()
        b.close()


def test_nul_characters_and_64_bit_ids_are_stored(store):
    # PostgreSQL refuses NUL in text; the API accepts question ids up to 2**63 - 1 (SQLite's integers).
    fid = store.add_feedback(rating=1, comment="a\x00b", question="q\x00", question_id=2**63 - 1)
    store.log_action("st\x00aff", "rebuilt", "done\x00")
    assert _raw(store, "SELECT comment, question, question_id FROM feedback") == [("a\ufffdb", "q\ufffd", 2**63 - 1)]
    assert store.rows("staff_actions")[0]["login"] == "st\ufffdaff"
    assert store.rows("feedback")[0]["id"] == fid


def test_feedback_for_a_question_that_does_not_exist_is_kept(store):
    store.add_feedback(rating=-1, question_id=424242)
    assert _raw(store, "SELECT question_id, rating FROM feedback") == [(424242, -1)]


def test_rows_come_back_alike_from_either_backend(store):
    store.log_question(channel="chat", question="x", standalone_question="x", route="abstain", triage="",
                       sources=[], latency_ms=1.234)
    row, = store.rows("questions")
    assert set(row) == {"id", "ts", "channel", "question", "standalone_question", "route", "triage", "sources",
                        "latency_ms"}
    assert row["ts"].endswith("Z") and len(row["ts"]) == 20
    assert (type(row["id"]), type(row["latency_ms"]), row["latency_ms"]) == (int, float, 1.23)


# ---- schema migrations of an existing SQLite file ------------------------------------------------------
# The schema as the app created it before versioning (commit 067eafe), and before curated answers kept
# the proposer's login (commit a751e29): files in use today look like one of these.
SCHEMA_BEFORE_VERSIONING = """
CREATE TABLE questions (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, channel TEXT NOT NULL,
    question TEXT NOT NULL, standalone_question TEXT NOT NULL, route TEXT NOT NULL, triage TEXT NOT NULL,
    sources TEXT NOT NULL, latency_ms REAL NOT NULL);
CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL,
    question_id INTEGER REFERENCES questions(id), rating INTEGER NOT NULL CHECK (rating IN (-1, 1)),
    comment TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL);
CREATE INDEX questions_route ON questions(route);
CREATE TABLE curated (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, question TEXT NOT NULL,
    answer TEXT NOT NULL, author TEXT NOT NULL, review_date TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'published')), approved_by TEXT NOT NULL DEFAULT '',
    path TEXT NOT NULL DEFAULT ''{login});
CREATE TABLE staff_actions (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, login TEXT NOT NULL,
    action TEXT NOT NULL, detail TEXT NOT NULL);
"""


def _old_file(path, with_login: bool) -> list:
    """An SQLite log in an old schema with rows in every table; returns what it holds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA_BEFORE_VERSIONING.format(login=", login TEXT NOT NULL DEFAULT ''" if with_login else ""))
        db.executemany("INSERT INTO questions (ts, channel, question, standalone_question, route, triage, sources, "
                       "latency_ms) VALUES (?, 'api', ?, ?, ?, '', '[]', 4.5)",
                       [(1.7e9 + i, f"question {i}", f"standalone {i}", "answer" if i % 2 else "abstain")
                        for i in range(1, 51)])
        db.executemany("INSERT INTO feedback (ts, question_id, rating, comment, question, answer) "
                       "VALUES (?, ?, ?, ?, '', '')", [(1.7e9, i, 1 if i % 3 else -1, f"c{i}") for i in range(1, 21)])
        db.execute("INSERT INTO curated (ts, question, answer, author, review_date, status) "
                   "VALUES (1.7e9, 'Parking?', 'Behind the clinic.', 'Dr. Rivera', '2026-11-27', 'pending')")
        db.execute("INSERT INTO staff_actions (ts, login, action, detail) VALUES (1.7e9, 'staff', 'rebuilt', 'ok')")
        db.execute("DELETE FROM questions WHERE id = 50")  # the next id must still be 51, not 50
    return _dump(path)


def _dump(path) -> list:
    with closing(sqlite3.connect(path)) as db:
        return [db.execute(f"SELECT id, ts, question, route FROM questions ORDER BY id").fetchall(),
                db.execute("SELECT id, question_id, rating, comment FROM feedback ORDER BY id").fetchall(),
                db.execute("SELECT id, question, author, status FROM curated").fetchall(),
                db.execute("SELECT id, login, action, detail FROM staff_actions").fetchall()]


@pytest.mark.parametrize("with_login", [True, False], ids=["todays-schema", "before-curated-login"])
def test_an_existing_sqlite_file_upgrades_in_place_without_losing_rows(tmp_path, with_login):
    path = tmp_path / "data" / "assistant.sqlite3"
    before = _old_file(path, with_login)
    assert len(before[0]) == 49 and len(before[1]) == 20
    store = Store(path)
    try:
        assert store.schema_version() == SCHEMA_VERSION
        assert _dump(path) == before  # every row, every value
        assert store.count("questions") == 49 and store.count("feedback") == 20
        assert store.log_question(channel="api", question="new", standalone_question="new", route="answer", triage="",
                                  sources=[], latency_ms=1) == 51
        assert store.curated(1)["login"] == ("" if not with_login else "")
        entry = store.add_curated(question="Q", answer="A", author="Ann", review_date="2026-12-06", status="pending",
                                  login="ann")
        assert store.curated(entry)["login"] == "ann"
        with closing(sqlite3.connect(path)) as db:
            indexes = {r[1] for r in db.execute("PRAGMA index_list(feedback)")}
        assert "feedback_question" in indexes
    finally:
        store.close()
    again = Store(path)
    try:
        assert again.migrate() == [] and again.count("questions") == 50
    finally:
        again.close()


# ---- choosing the database, and clear errors -------------------------------------------------------------
def test_open_store_follows_the_settings(tmp_path):
    s = open_store(Settings(db_path=str(tmp_path / "x.sqlite3")))
    try:
        assert s.backend == "sqlite" and s.path == tmp_path / "x.sqlite3"
    finally:
        s.close()


@pytest.mark.parametrize("url", ["mysql://u:p@localhost/db", "sqlite:///x.db", "postgresql:/missing-slashes"])
def test_a_database_url_of_another_kind_is_refused_by_the_settings(url):
    with pytest.raises(ConfigError, match="db_url must start with postgresql:// or postgres://"):
        Settings().replace(db_url=url)


def test_an_unreachable_postgresql_names_the_server_and_hides_the_password():
    from appserver import free_port

    url = f"postgresql://clinic:s3cret-pw@127.0.0.1:{free_port()}/assistant"
    with pytest.raises(StoreError) as info:
        Store(url, timeout=1)
    message = str(info.value)
    assert "s3cret-pw" not in message and "clinic:***@127.0.0.1" in message and "ASSISTANT_DB_URL" in message


def test_safe_url():
    assert safe_url("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert safe_url("postgresql://h/d") == "postgresql://h/d"


@pytest.mark.postgres
@pytest.mark.parametrize("change, reason", [("password", "password authentication failed for user"),
                                            ("database", 'database "no_such_db" does not exist')])
def test_a_wrong_password_or_database_is_named(postgres, change, reason):
    url = postgres.url("no_such_db") if change == "database" else postgres.url().replace(postgres.password, "wrong-pw")
    with pytest.raises(StoreError, match=reason) as info:
        Store(url, timeout=2)
    assert postgres.password not in str(info.value) and "wrong-pw" not in str(info.value)


def test_the_redactor_loads_no_torch_and_leaves_it_importable():
    """Presidio's package import would load its Hugging Face engine (transformers, torch: seconds and
    hundreds of MB per app process) for pattern recognizers that need neither."""
    import subprocess
    import sys

    code = ("import sys; from assistant.redact import redact; assert redact('Jane Doe 555-123-4567') != ''; "
            "print('torch' in sys.modules, 'transformers' in sys.modules); import transformers; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["False", "False", "ok"], out.stderr[-2000:]
