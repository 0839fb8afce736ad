"""End to end in a real browser (Debian chromium driven by Playwright) against `python app.py` in a subprocess.

A patient asks, reads a cited and framed answer, opens a citation and rates it (the row lands in SQLite);
staff must log in before the console shows previews with scored passages; HTML in corpus text, questions
and comments runs nothing in either UI; the chat works at phone width and inside the widget iframe.
Screenshots for the docs are written to docs/screenshots/. Run: `make test-slow` or
`pytest -m slow tests/test_browser.py`.
"""
from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from appserver import STAFF, running_app

pytestmark = pytest.mark.slow

# CI sets this so a missing browser or Playwright fails the run instead of skipping it quietly.
REQUIRED = os.environ.get("ASSISTANT_REQUIRE_BROWSER") == "1"
try:
    from playwright import sync_api
except ImportError:
    if REQUIRED:
        raise
    pytest.skip("Playwright is not installed: pip install -e '.[test]'", allow_module_level=True)
expect = sync_api.expect

REPO_ROOT = Path(__file__).resolve().parent.parent
SHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
WAIT_MS = 90_000  # generous: two noisy cores, a streamed answer, Gradio's first render
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
QUESTION = "How many prolotherapy sessions are usually needed?"
# The rendered framing: assistant/prompts/framing.md without its markdown emphasis.
FRAMING = " ".join(re.sub(r"[*_`]", "", (REPO_ROOT / "assistant" / "prompts" / "framing.md").read_text(encoding="utf-8")).split())

# The clinic's contact card (settings), shown for requests for a person and after every abstention.
CONTACT = {"ASSISTANT_CLINIC_NAME": "Riverside Clinic", "ASSISTANT_CLINIC_PHONE": "(555) 010-2000",
           "ASSISTANT_CLINIC_HOURS": "Mon-Fri 8am-5pm", "ASSISTANT_CLINIC_BOOKING_URL": "https://booking.example.org/new"}
AXE = REPO_ROOT / "tests" / ".axe" / "node_modules" / "axe-core" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# HTML that would run if any layer rendered it: in the title, a heading and the body of a corpus article.
# The heading becomes a starter button, whose label travels in the page's inline config <script>: hence the
# </script> breakout.
XSS_ARTICLE = """---
title: Knee Gel Injections <script>window.__xss=11;alert(11)</script> Guide
---

# Knee Gel Injections Guide

Knee gel injections add a lubricating gel to the knee joint to ease stiffness.

## Aftercare For Knee Gel Injections <img src=x onerror="window.__xss=12;alert(12)"> </script><script>window.__xss=13</script>

After knee gel injections rest the knee for two days <script>window.__xss=1;alert(1)</script> and avoid running.
Swelling after knee gel injections <img src=x onerror="window.__xss=2;alert(2)"> usually settles within a week.
Ice the knee <svg onload="window.__xss=3;alert(3)"></svg> for ten minutes at a time.
"""
XSS_PASSAGE_QUESTION = "How should I rest after knee gel injections?"
XSS_QUESTION = 'What about knee gel injections <img src=x onerror="window.__xss=5;alert(5)">?'
XSS_COMMENT = '<img src=x onerror="window.__xss=6;alert(6)"><script>window.__xss=7</script>'
# Live elements or scripts that only a rendered payload would create.
LIVE_PAYLOAD = "img[src='x'], [onerror], [onload], svg[onload]"


# ---- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        why = "no /usr/bin/chromium: apt-get install chromium (Playwright's own browser download is unreachable)"
        if REQUIRED:
            pytest.fail(why)
        pytest.skip(why)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shipped_app(tmp_path_factory, shipped_index):
    """(base_url, db_path) of the app over the shipped corpus."""
    with running_app(tmp_path_factory.mktemp("app"), index_dir=shipped_index,
                     corpus_dir=REPO_ROOT / "corpus", env=CONTACT) as (base, _proc, db):
        yield base, db


@pytest.fixture(scope="module")
def xss_app(tmp_path_factory, embedder):
    """(base_url, db_path) of the app over a corpus whose article carries HTML payloads."""
    from assistant.index import build_index
    from assistant.settings import Settings

    root = tmp_path_factory.mktemp("xss")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "knee-gel.md").write_text(XSS_ARTICLE, encoding="utf-8")
    build_index(Settings(), embedder, corpus, root / "index")
    with running_app(root / "run", index_dir=root / "index", corpus_dir=corpus) as (base, _proc, db):
        yield base, db


class Watch:
    """A browser context that records dialogs (dismissing them) and every requested URL."""

    def __init__(self, browser, **options):
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.context = browser.new_context(locale="en-US", **{"viewport": DESKTOP, **options})
        self.context.set_default_timeout(WAIT_MS)
        self.context.on("dialog", self._dialog)
        self.context.on("request", lambda r: self.requests.append(r.url))

    def _dialog(self, dialog):
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def page(self):
        return self.context.new_page()

    def close(self):
        self.context.close()


@pytest.fixture
def watch(browser):
    made: list[Watch] = []

    def make(**options) -> Watch:
        made.append(Watch(browser, **options))
        return made[-1]

    yield make
    for w in made:
        w.close()


@pytest.fixture(autouse=True)
def _expect_timeout():
    expect.set_options(timeout=WAIT_MS)


# ---- helpers ----------------------------------------------------------------------------------------
def bot_messages(page):
    return page.locator("#chat [data-testid='bot']")


def ask(page, question: str, *, press_enter: bool = True):
    """Type a question, submit it, wait until the whole (streamed) answer shows the framing; return it."""
    before = bot_messages(page).count()
    box = page.locator("#question textarea")
    box.click()
    box.fill(question)
    if press_enter:
        box.press("Enter")
    else:
        page.locator("#send").click()
    answer = bot_messages(page).nth(before)
    expect(answer).to_contain_text(FRAMING)
    expect(box).to_have_value("")
    return answer


def open_patient_chat(page, base: str):
    page.goto(base + "/")
    expect(page.locator("#question textarea")).to_be_editable()


def staff_login(page, base: str, user: str, password: str):
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()


def logged_in_console(page, base: str):
    page.goto(base + "/staff/")
    staff_login(page, base, *STAFF)
    expect(page.locator("#staff-question textarea")).to_be_editable()


def staff_preview(page, question: str):
    """Preview a question; return the patient view once it shows this question's reply (not the last one's)."""
    page.locator("#staff-question textarea").fill(question)
    page.locator("#staff-preview").click()
    # The decision panel echoes the (standalone) question: proof that the outputs are this preview's.
    expect(page.get_by_text(question[:24]).filter(visible=True).first).to_be_visible()
    view = page.locator("#patient-view")
    expect(view).to_contain_text(FRAMING)
    return view


def poll_db(db: Path, sql: str, args=(), timeout: float = 30.0) -> list[tuple]:
    """Rows of a query, retried until there are some (the app writes from another process)."""
    deadline = time.monotonic() + timeout
    while True:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            rows = con.execute(sql, args).fetchall()
        except sqlite3.OperationalError:
            rows = []
        finally:
            con.close()
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def assert_nothing_ran(page, w: Watch, where: str):
    assert page.evaluate("typeof window.__xss") == "undefined", f"a payload ran in {where}"
    assert w.dialogs == [], f"dialogs opened in {where}: {w.dialogs}"
    assert page.locator(LIVE_PAYLOAD).count() == 0, f"a payload element was rendered live in {where}"
    fetched_x = [u for u in w.requests if httpx.URL(u).path.endswith("/x")]
    assert fetched_x == [], f"an <img src=x> was rendered in {where}: {fetched_x}"


def screenshot(page, name: str, from_question: bool = False, **kw):
    SHOTS.mkdir(parents=True, exist_ok=True)
    if from_question:  # the chat scrolled to the end of the answer; show the question that started it
        page.locator("#chat [data-testid='user']").last.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / name), animations="disabled", caret="hide", **kw)


# ---- patient chat -----------------------------------------------------------------------------------
def test_patient_asks_opens_a_citation_and_rates_the_answer(shipped_app, watch):
    base, db = shipped_app
    w = watch()
    page = w.page()
    open_patient_chat(page, base)
    expect(page.locator("#disclaimer")).to_contain_text("not medical advice")

    answer = ask(page, QUESTION)  # Enter submits
    assert re.search(r"\[1\]", answer.inner_text())
    cites = answer.locator("details.cite")
    assert cites.count() >= 1
    first = cites.first
    expect(first.locator("summary")).to_contain_text("[1]")
    passage = first.locator(".passage")
    expect(passage).to_be_hidden()
    first.locator("summary").click()
    expect(passage).to_be_visible()
    expect(passage).to_contain_text("two to three weeks apart")
    screenshot(page, "patient-chat.png", full_page=True)

    page.locator("#chat button[aria-label='Like']").last.click()
    expect(page.locator("#status")).to_contain_text("Thank you for the feedback")
    expect(page.locator("#comment textarea")).to_be_visible()
    rows = poll_db(db, "SELECT id, rating, question, answer, question_id FROM feedback WHERE question = ?", (QUESTION,))
    assert len(rows) == 1, rows
    fid, rating, _, saved_answer, qid = rows[0]
    assert rating == 1 and FRAMING.split(".")[0] in saved_answer and qid is not None
    assert poll_db(db, "SELECT channel FROM questions WHERE id = ?", (qid,)) == [("chat",)]

    page.locator("#comment textarea").fill("Clear, thanks")
    page.locator("#comment-send").click()
    expect(page.locator("#status")).to_contain_text("Comment saved")
    expect(page.locator("#comment textarea")).to_be_hidden()
    assert poll_db(db, "SELECT comment FROM feedback WHERE id = ? AND comment != ''", (fid,)) == [("Clear, thanks",)]
    elsewhere = [u for u in w.requests if not u.startswith((base + "/", "data:", "blob:"))]
    assert elsewhere == [], f"the patient page contacted other hosts (patients' privacy): {elsewhere}"


def test_starter_button_and_send_button_ask(shipped_app, watch):
    base, _ = shipped_app
    page = watch().page()
    open_patient_chat(page, base)
    starters = page.locator("#starters button")
    assert starters.count() >= 1
    starters.first.click()
    expect(bot_messages(page).first).to_contain_text(FRAMING)
    expect(page.locator("#starters")).to_be_hidden()  # they give the conversation their room once it starts
    ask(page, "What solutions are used in prolotherapy?", press_enter=False)
    assert bot_messages(page).count() == 2


@pytest.mark.parametrize("clear", ["#clear", "#chat button[aria-label='Clear']"], ids=["button", "chatbot-trash"])
def test_clearing_the_chat_forgets_the_conversation(shipped_app, watch, clear):
    """A follow-up after clearing is read on its own, not rewritten with the cleared turns."""
    base, _ = shipped_app
    page = watch().page()
    open_patient_chat(page, base)
    ask(page, "What solutions are used in prolotherapy?")
    follow = ask(page, "and how many sessions?")
    expect(follow).to_contain_text("Answering:")  # with history the follow-up is rewritten
    page.locator(clear).click()
    expect(bot_messages(page)).to_have_count(0)
    expect(page.locator("#starters button").first).to_be_visible()
    fresh = ask(page, "and how many sessions?")
    expect(fresh).not_to_contain_text("Answering:")


def test_phone_width_chat_is_usable(shipped_app, watch):
    base, _ = shipped_app
    w = watch(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = w.page()
    open_patient_chat(page, base)
    answer = ask(page, QUESTION)
    expect(page.locator("#starters")).to_be_hidden()  # the conversation gets their room
    answer.locator("details.cite summary").first.click()
    expect(answer.locator("details.cite .passage").first).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls sideways by {overflow}px at phone width"
    for sel in ("#question textarea", "#send", "#chat"):
        box = page.locator(sel).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] + 1, (sel, box)
    # At rest, scrolled to the start of the conversation, the toolbar sits above the first message (scrolled
    # and measured in one step: the chat's autoscroll may move it back to the end at any moment).
    toolbar, text = page.locator("#chat [data-testid='user']").first.evaluate("""m => {
        for (let e = m; e; e = e.parentElement) e.scrollTop = 0;
        const box = r => ({x: r.x, y: r.y, width: r.width, height: r.height});
        return [box(document.querySelector('#chat .top-panel').getBoundingClientRect()), box(m.getBoundingClientRect())];
    }""")
    assert toolbar["y"] + toolbar["height"] <= text["y"] + 1, ("the chat's toolbar covers the first message", toolbar, text)
    screenshot(page, "patient-chat-phone.png")


def open_widget(page, base: str):
    """The example host page with the one-line embed; returns (launcher, panel, frame) once opened."""
    page.goto(base + "/examples/widget.html")
    launcher = page.get_by_role("button", name="Questions? Ask Riverside Clinic")
    expect(launcher).to_be_visible()
    page.wait_for_timeout(500)
    assert page.locator("iframe").count() == 0, "the chat loaded before the patient opened it"
    assert page.evaluate("window.scrollY") == 0
    launcher.click()
    panel = page.get_by_role("dialog", name="Chat with Riverside Clinic")
    expect(panel).to_be_visible()
    frame = page.frame_locator("#clinic-assistant iframe")
    expect(frame.locator("#question textarea")).to_be_editable()
    return launcher, panel, frame


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_one_line_embed_adds_a_launcher_and_a_chat_panel_that_remembers(shipped_app, watch, size):
    base, _ = shipped_app
    phone = size == "phone"
    w = watch(**(dict(viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=2) if phone else {}))
    page = w.page()
    launcher, panel, frame = open_widget(page, base)
    box = panel.bounding_box()
    view = PHONE if phone else DESKTOP
    if phone:  # full screen on phones
        assert box["x"] <= 1 and box["y"] <= 1 and box["width"] >= view["width"] - 1 and box["height"] >= view["height"] - 1, box
    else:  # a panel in the corner, the page still visible beside it
        assert box["width"] <= 420 and box["x"] + box["width"] <= view["width"], box
    box_in = frame.locator("#question textarea")
    box_in.fill(QUESTION)
    box_in.press("Enter")
    expect(frame.locator("#chat [data-testid='bot']").first).to_contain_text(FRAMING)
    assert page.evaluate("window.scrollY") == 0, "the widget scrolled the host page"
    overflow = frame.locator("body").evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the chat scrolls sideways by {overflow}px in the widget"
    screenshot(page, "widget-phone.png" if phone else "widget.png")

    page.get_by_role("button", name="Close chat").click()
    expect(panel).to_be_hidden()
    expect(launcher).to_be_visible()

    page.reload()  # the conversation is kept in the browser until the patient clears it
    page.get_by_role("button", name="Questions? Ask Riverside Clinic").click()
    frame = page.frame_locator("#clinic-assistant iframe")
    expect(frame.locator("#chat [data-testid='user']").first).to_contain_text(QUESTION)
    expect(frame.locator("#chat [data-testid='bot']").first).to_contain_text(FRAMING)
    frame.locator("#clear").click()
    expect(frame.locator("#chat [data-testid='bot']")).to_have_count(0)
    page.reload()
    page.get_by_role("button", name="Questions? Ask Riverside Clinic").click()
    frame = page.frame_locator("#clinic-assistant iframe")
    expect(frame.locator("#starters button").first).to_be_visible()
    assert frame.locator("#chat [data-testid='user']").count() == 0


def test_nothing_typed_is_lost_and_questions_sent_while_streaming_wait_their_turn(shipped_app, watch):
    base, _ = shipped_app
    page = watch().page()
    open_patient_chat(page, base)
    box = page.locator("#question textarea")
    box.fill(QUESTION)
    box.press("Enter")
    expect(page.locator("#chat [data-testid='user']").first).to_contain_text(QUESTION)
    expect(box).to_have_value("")
    box.fill("What solutions are used in prolotherapy?")  # while the first answer streams
    box.press("Enter")  # ...and sent before it has finished: it waits its turn
    expect(page.locator("#chat [data-testid='user']")).to_have_count(2)
    second = "How does inflammation help tissue repair?"
    box.type(second)  # typed while the queue is answered: stays until the patient sends it
    expect(bot_messages(page)).to_have_count(2)
    expect(bot_messages(page).nth(1)).to_contain_text(FRAMING)
    expect(box).to_have_value(second)
    users = page.locator("#chat [data-testid='user']")
    assert users.count() == 2 and "solutions" in users.nth(1).inner_text()
    expect(bot_messages(page).nth(0)).to_contain_text("two to three weeks apart")
    expect(bot_messages(page).nth(1)).to_contain_text("dextrose")


# Marks Enter in the page and times, from it, the patient's message and the answer's first words.
TIMER = """() => { window.__timing = new Promise(done => {
  const users0 = document.querySelectorAll("#chat [data-testid='user']").length;
  const bots0 = document.querySelectorAll("#chat [data-testid='bot']").length;
  let t0 = null, shown = null, words = null;
  document.addEventListener('keydown', e => { if (e.key === 'Enter') t0 = performance.now(); }, {capture: true, once: true});
  const look = () => {
    if (t0 === null) return;
    if (shown === null && document.querySelectorAll("#chat [data-testid='user']").length > users0) shown = performance.now() - t0;
    const bot = document.querySelectorAll("#chat [data-testid='bot']")[bots0];
    if (words === null && bot && !bot.querySelector('.typing') && bot.innerText.trim()) words = performance.now() - t0;
    if (shown !== null && words !== null) { seen.disconnect(); done([shown, words]); }
  };
  const seen = new MutationObserver(look);
  seen.observe(document.body, {childList: true, subtree: true, characterData: true});
}); }"""


def test_report_latency_from_enter(shipped_app, watch):
    """Reported, not asserted as a timing: Enter -> the patient's message, and -> the answer's first words."""
    import json

    base, _ = shipped_app
    cases = [json.loads(line) for line in (REPO_ROOT / "evals" / "questions.jsonl").read_text().splitlines() if line.strip()]
    questions = [c["question"] for c in cases if c["kind"] == "answerable" and not c.get("history")][:20]
    page = watch().page()
    open_patient_chat(page, base)
    box = page.locator("#question textarea")
    shown, words = [], []
    for q in questions:
        box.fill(q)
        page.evaluate(TIMER)
        box.press("Enter")
        a, b = page.evaluate("window.__timing")
        shown.append(a)
        words.append(b)
        expect(bot_messages(page).last).to_contain_text(FRAMING)

    def p95(xs):
        return sorted(xs)[max(0, int(round(0.95 * len(xs))) - 1)]
    print(f"\nlatency over {len(questions)} questions (shipped corpus): Enter -> message on screen "
          f"p50 {sorted(shown)[len(shown) // 2]:.0f} ms, p95 {p95(shown):.0f} ms (floor < 100); "
          f"Enter -> first answer words p50 {sorted(words)[len(words) // 2]:.0f} ms, p95 {p95(words):.0f} ms (floor < 300)")
    assert len(shown) == len(questions)


def test_a_person_to_talk_to(shipped_app, watch):
    base, db = shipped_app
    page = watch().page()
    open_patient_chat(page, base)
    for message in ("Can I talk to a person?", "Please call me back", "What is the price of parking downtown?"):
        reply = ask(page, message)
        card = reply.locator(".contact-card")
        expect(card).to_contain_text("Riverside Clinic")
        expect(card).to_contain_text("Mon-Fri 8am-5pm")
        expect(card.get_by_role("link", name="(555) 010-2000")).to_have_attribute("href", "tel:5550102000")
        expect(card.get_by_role("link", name="Book an appointment")).to_have_attribute(
            "href", CONTACT["ASSISTANT_CLINIC_BOOKING_URL"])
    answer = ask(page, QUESTION)
    assert answer.locator(".contact-card").count() == 0  # answered: no card
    rows = poll_db(db, "SELECT question, route, triage FROM questions WHERE triage LIKE '%contact%' AND channel = 'chat'")
    got = {r[0]: (r[1], r[2]) for r in rows}
    assert got.get("Can I talk to a person?") == ("greeting", "contact request"), got
    assert got.get("Please call me back") == ("greeting", "contact request"), got
    assert got.get("What is the price of parking downtown?", ("", ""))[0] == "abstain", got


def test_answers_read_well(shipped_app, watch):
    base, _ = shipped_app
    page = watch().page()
    open_patient_chat(page, base)
    answer = ask(page, QUESTION)
    prose = answer.locator("p").first.inner_text()
    assert prose.count("[1]") == 1, f"one marker per run of sentences from a source: {prose!r}"
    card = answer.locator("details.cite").first
    expect(card.locator(".passage")).to_be_hidden()
    answer.locator("a.cite-ref").first.click()  # the marker opens its source card
    expect(card.locator(".passage")).to_be_visible()
    summary = card.locator("summary").inner_text()
    assert " And " not in summary and " Its " not in summary, f"titles in sentence case: {summary!r}"
    starters = [b.inner_text() for b in page.locator("#starters button").all()] if page.locator("#starters").is_visible() else []
    assert all(not s.lower().startswith(("take the first step", "contact us")) for s in starters)


def settle(page, timeout_ms: int = 5000) -> None:
    """Wait until no finite CSS transition or animation is running and no Gradio output is pending, so a
    check of colours (axe) sees the page as it rests, not a link mid-fade (a fading link measured 4.34:1)."""
    try:
        page.wait_for_function("""() => !document.querySelector('.pending') && document.getAnimations().every(
            a => a.playState !== 'running' || a.effect?.getComputedTiming().endTime === Infinity)""",
                               timeout=timeout_ms)
    except sync_api.TimeoutError:
        pass  # an endless state is audited as it is


def axe_violations(page) -> list[dict]:
    settle(page)
    for frame in page.frames:  # axe audits iframes through the copy injected in each
        frame.add_script_tag(path=str(AXE))
    return page.evaluate("""async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))
        .violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))""", WCAG)


def test_axe_finds_no_wcag_violations_on_the_patient_page_or_the_widget(shipped_app, watch):
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `make axe`") if REQUIRED else pytest.skip("axe-core missing: make axe")
    base, _ = shipped_app
    found = {}
    for size in ("desktop", "phone"):
        page = watch(**({"viewport": PHONE} if size == "phone" else {})).page()
        open_patient_chat(page, base)
        answer = ask(page, QUESTION)
        answer.locator("details.cite summary").first.click()
        ask(page, "Can I talk to a person?")
        page.locator("#chat button[aria-label='Like']").first.click()
        expect(page.locator("#comment textarea")).to_be_visible()
        found[f"patient page ({size})"] = axe_violations(page)
        host = watch(**({"viewport": PHONE} if size == "phone" else {})).page()
        _, _, frame = open_widget(host, base)
        frame.locator("#question textarea").fill(QUESTION)
        frame.locator("#question textarea").press("Enter")
        expect(frame.locator("#chat [data-testid='bot']").first).to_contain_text(FRAMING)
        found[f"widget in its host page ({size})"] = axe_violations(host)  # axe audits the iframe too
    for where, violations in found.items():
        print(f"\naxe (WCAG 2.1 A/AA) on the {where}: {len(violations)} violations {violations}")
    assert all(v == [] for v in found.values()), found


# ---- staff console ----------------------------------------------------------------------------------
def test_staff_console_needs_the_right_login(shipped_app, watch):
    base, _ = shipped_app
    w = watch()
    page = w.page()
    page.goto(base + "/staff/")
    expect(page.get_by_label("password")).to_be_visible()
    expect(page.get_by_text("Clinic staff only.")).to_be_visible()
    assert page.locator("#staff-question").count() == 0
    assert "Staff console" not in page.locator("body").inner_text()
    assert page.evaluate("window.gradio_config.components.length") == 0  # no console layout sent anonymously

    staff_login(page, base, STAFF[0], "not-the-password")
    expect(page.get_by_text("Incorrect Credentials")).to_be_visible()
    assert page.locator("#staff-question").count() == 0

    staff_login(page, base, *STAFF)
    expect(page.locator("#staff-question textarea")).to_be_editable()
    expect(page.get_by_role("heading", name="Staff console")).to_be_visible()
    view = staff_preview(page, QUESTION)
    expect(view.locator("details.cite summary").first).to_contain_text("[1]")
    view.locator("details.cite summary").first.click()
    expect(view.locator("details.cite .passage").first).to_be_visible()
    table = page.locator("#passages")
    expect(table).to_contain_text("prolotherapy.md")
    cells = [table.get_by_test_id(f"cell-0-{i}").inner_text().strip() for i in range(6)]
    assert cells[0].startswith("1") and cells[1] == "prolotherapy.md", cells
    fused, dense = float(cells[3]), float(cells[4])
    assert 0 < fused <= 1 and 0 < dense <= 1, cells
    screenshot(page, "staff-console.png", full_page=True)

    anonymous = watch().page()  # a fresh browser profile: the staff session does not carry over
    anonymous.goto(base + "/staff/")
    expect(anonymous.get_by_label("password")).to_be_visible()
    assert anonymous.locator("#staff-question").count() == 0


# ---- rendering safety -------------------------------------------------------------------------------
def test_html_in_corpus_and_questions_runs_nothing_in_the_patient_chat(xss_app, watch):
    base, _ = xss_app
    w = watch()
    page = w.page()
    open_patient_chat(page, base)
    starter = page.locator("#starters button").first  # the article's heading, payload and all
    expect(starter).to_contain_text("onerror=")
    starter.click()
    expect(bot_messages(page).first).to_contain_text(FRAMING)
    expect(bot_messages(page).first).to_contain_text("two days")
    ask(page, XSS_PASSAGE_QUESTION)
    ask(page, XSS_QUESTION)
    expect(page.locator("#chat [data-testid='user']").last).to_contain_text("onerror=")  # shown as text
    summaries = page.locator("#chat details.cite summary")
    assert summaries.count() >= 2
    for i in range(summaries.count()):
        summaries.nth(i).click()
    expect(page.locator("#chat details.cite .passage").first).to_contain_text("<script>")  # inert text
    page.locator("#chat button[aria-label='Dislike']").last.click()
    expect(page.locator("#comment textarea")).to_be_visible()
    page.locator("#comment textarea").fill(XSS_COMMENT)
    page.locator("#comment-send").click()
    expect(page.locator("#status")).to_contain_text("Comment saved")
    page.wait_for_timeout(1000)  # give anything that was going to run a moment to run
    assert_nothing_ran(page, w, "the patient chat")


def test_html_in_corpus_questions_and_comments_runs_nothing_in_the_staff_console(xss_app, watch):
    base, _ = xss_app
    r = httpx.post(base + "/api/ask", json={"question": XSS_QUESTION}, timeout=60)  # the question log holds it
    assert r.status_code == 200, r.text
    r = httpx.post(base + "/api/feedback", json={"question_id": r.json()["question_id"], "rating": -1,
                                                 "comment": XSS_COMMENT}, timeout=60)
    assert r.status_code == 201, r.text
    w = watch()
    page = w.page()
    logged_in_console(page, base)
    for question in (XSS_PASSAGE_QUESTION, XSS_QUESTION):
        view = staff_preview(page, question)
        source = view.locator("details.cite").first
        # Two previews citing the same passage render the same <details>: Gradio keeps the element, open
        # from the first preview, and a click would close it again.
        if source.get_attribute("open") is None:
            source.locator("summary").click()
        expect(view.locator("details.cite .passage").first).to_be_visible()
        expect(page.locator("#passages")).to_contain_text("knee-gel.md")
    page.get_by_role("tab", name="Question log & feedback").click()
    page.get_by_role("button", name="Refresh").click()
    cells = page.get_by_role("tabpanel").get_by_role("gridcell")
    expect(cells.filter(has_text="window.__xss=5").first).to_be_visible()  # the question, as text
    expect(cells.filter(has_text="window.__xss=6").first).to_be_visible()  # the comment, as text
    page.wait_for_timeout(1000)
    assert_nothing_ran(page, w, "the staff console")
