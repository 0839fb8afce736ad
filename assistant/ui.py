"""Gradio layouts: the patient chat (embeddable) and the staff console. Logic lives in service/engine/evaluate."""
from __future__ import annotations

import datetime as dt
import html
import json
import logging
import re
import time
from pathlib import Path

import gradio as gr

from .errors import AssistantError, InputError
from .service import Service, Unavailable
from .settings import REPO_ROOT

DISCLAIMER = ("General education from our clinic's materials, not medical advice. "
              "In an emergency call {emergency_number} now.")
UNAVAILABLE = "Sorry, the assistant is not available right now. Please contact {clinic_contact}."
_SOURCES = re.compile(r"\n\*\*Sources\*\*\n(?:\[\d+\][^\n]*\n?)+")
_CITE_ID = "cite"


def escape_tags(text: str) -> str:
    """Neutralise HTML in text shown as markdown; entities the engine already escaped stay as they are."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


_IMAGE = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\(\s*((?:[^()\s]|\([^()\s]*\))+)[^)\n]*\)")
_BARE_URL = re.compile(r"(?<![`(\w])(?:https?|ftp)://[^\s<>`)\]]+|(?<![`\w/.])www\.[^\s<>`)\]]+", re.I)


def link_allowed(url: str, hosts: tuple[str, ...]) -> bool:
    """An http(s) link to one of the clinic's hosts (or a subdomain of one)."""
    m = re.match(r"https?://([^/:?#\s]+)", url, re.I)
    host = m.group(1).lower() if m else ""
    return bool(host) and any(host == h or host.endswith("." + h) for h in hosts)


def safe_markdown(text: str, link_hosts: tuple[str, ...] = ()) -> str:
    """Corpus text as patients see it: no images (their alt text instead), links only to the clinic's
    hosts (others as plain text), addresses of other hosts not made clickable."""
    text = _IMAGE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: m.group(0) if link_allowed(m.group(2), link_hosts) else m.group(1), text)
    return _BARE_URL.sub(lambda m: m.group(0) if link_allowed(m.group(0), link_hosts) else f"`{m.group(0)}`", text)


def hosts(setting: str) -> tuple[str, ...]:
    return tuple(h.strip().lower() for h in setting.split(",") if h.strip())


_MARKER = re.compile(r"\[(\d+)\]")


def _passage_html(text: str) -> str:
    """A cited passage as paragraphs and lists, every character escaped."""
    out: list[str] = []
    items: list[str] = []
    for line in text.split("\n") + [""]:
        bullet = _BULLET_LINE.match(line)
        if bullet:
            items.append(f"<li>{html.escape(line[bullet.end():].strip())}</li>")
            continue
        if items:
            out.append("<ul>" + "".join(items) + "</ul>")
            items = []
        if line.strip():
            out.append(f"<p>{html.escape(line.strip())}</p>")
    return "".join(out)


_BULLET_LINE = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


def source_card(c) -> str:
    """One source: '[n] Title — Section' (sentence case) that opens on the passage, who reviewed it and
    when (front matter), and a link to the full article when the document has an http(s) URL."""
    from .patient import reviewed_line, sentence_case

    title = sentence_case(c.title)
    where = f"{title} — {sentence_case(c.section)}" if c.section and c.section != c.title else title
    extra = ""
    reviewed = reviewed_line(getattr(c, "metadata", None) or {})
    if reviewed:
        extra += f'<p class="reviewed">{html.escape(reviewed)}</p>'
    url = getattr(c, "url", None)
    if url and re.match(r"https?://[^\s<>\"']+$", url, re.I):
        extra += (f'<p><a href="{html.escape(url, quote=True)}" target="_blank" rel="noopener noreferrer">'
                  f"Read the full article</a></p>")
    return (f'<details class="{_CITE_ID}"><summary>[{c.number}] {html.escape(where)}</summary>'
            f'<div class="passage">{_passage_html(c.text)}</div>{extra}</details>')


def patient_markdown(text: str, citations, link_hosts: tuple[str, ...] = ()) -> str:
    """The reply as the chat shows it: one citation marker per run of sentences from a source, each a link
    to its source card; quoted list items as a list; the source list as expandable cards."""
    from .patient import group_citations

    body = safe_markdown(escape_tags(text), link_hosts)
    found = _SOURCES.search(body) if citations else None
    if found is None:
        return body
    numbers = {c.number for c in citations}
    head = "\n\n".join(group_citations(p) for p in body[:found.start()].split("\n\n"))
    head = _MARKER.sub(lambda m: (f'<a class="cite-ref" href="#source-{m.group(1)}" title="Open source {m.group(1)}">'
                                  f"[{m.group(1)}]</a>") if int(m.group(1)) in numbers else m.group(0), head)
    sources = ("\n\n**Sources** (select one to read the passage)\n\n" +
               "\n".join(source_card(c) for c in citations) + "\n")
    return head + sources + body[found.end():]


_QUESTION_WORD = re.compile(r"^(?:what|how|why|when|who|which|where|is|are|can|does|do|should|will)\b", re.I)
_CALL_TO_ACTION = re.compile(r"^(?:start|contact|call|book|schedule|take the|get started|request|learn more|next steps?)\b", re.I)


def patient_question(heading: str) -> str | None:
    """A section heading as a patient would ask it ('Timeline And Expected Sessions' -> 'What should I know
    about timeline and expected sessions?'); None for calls to action."""
    from .patient import sentence_case

    h = heading.strip().rstrip(".:")
    if not h or _CALL_TO_ACTION.match(h):
        return None
    h = sentence_case(h)
    if h.endswith("?"):
        return h
    if _QUESTION_WORD.match(h):
        return h + "?"
    first = h.split()[0]
    return f"What should I know about {h if first.isupper() and len(first) > 1 else h[0].lower() + h[1:]}?"


def starter_questions(service: Service, n: int = 4) -> list[str]:
    """Questions drawn from the corpus's section headings, spread over the library, as patients ask them."""
    try:
        sections = service.bot.topics(50)
    except Unavailable:
        return []
    asked = [q for q in (patient_question(h) for h in sections[1:]) if q]
    step = max(1.0, len(asked) / max(n, 1))  # spread over the library, not its first article's sections
    return list(dict.fromkeys(asked[int(i * step)] for i in range(min(n, len(asked)))))


def _stream(text: str, step: int = 6):
    words = text.split(" ")
    for i in range(step, len(words) + step, step):
        yield " ".join(words[:i])


# The patient page's styles: a chat that uses the height it has (the whole panel inside the widget), a
# primary colour with AA contrast (Gradio's orange on white text is 2.8:1), toolbar icons clear of the text,
# source cards and the contact card, and nothing wider than a 390 px phone.
PATIENT_CSS = """
.gradio-container{--button-primary-background-fill:#0b5563;--button-primary-background-fill-hover:#083f49;
  --button-primary-text-color:#fff;--button-primary-border-color:#0b5563;--color-accent:#0b5563;
  --color-accent-soft:#e0f2f1;--link-text-color:#0b5563;--link-text-color-hover:#083f49;
  --link-text-color-visited:#0b5563;--body-text-color-subdued:#4b5563;--input-placeholder-color:#5b6470;
  max-width:900px!important;margin:0 auto!important}
html.embedded .gradio-container{padding:8px!important;max-width:none!important}
html.embedded #disclaimer h3{display:none}
.gradio-container>.main,.gradio-container .contain{min-height:0}
#chat{flex:1 1 auto!important;min-height:260px;height:calc(100dvh - 250px)!important;max-height:none!important}
html.embedded #chat{height:calc(100dvh - 240px)!important}
#chat .bubble-wrap{padding-top:2.6rem}
#chat details.cite summary{cursor:pointer;text-decoration:underline}
#chat details.cite{margin:.25rem 0}
#chat details.cite .passage{border-left:3px solid #0b5563;padding-left:.6rem;margin:.3rem 0}
#chat details.cite .reviewed{color:#4b5563;font-size:.9em;margin:.2rem 0}
#chat a.cite-ref{text-decoration:none;font-weight:600}
#chat .contact-card{border:1px solid #0b5563;border-radius:10px;padding:.6rem .8rem;margin-top:.5rem;background:#f0f7f7}
#chat .contact-card ul{margin:.3rem 0 0;padding-left:1.1rem}
#chat .typing .dot{display:inline-block;width:6px;height:6px;margin-right:3px;border-radius:50%;background:#4b5563;
  animation:typing 1s infinite ease-in-out}
#chat .typing .dot:nth-child(2){animation-delay:.15s}#chat .typing .dot:nth-child(3){animation-delay:.3s}
@keyframes typing{0%,80%,100%{opacity:.25}40%{opacity:1}}
@media (prefers-reduced-motion:reduce){#chat .typing .dot{animation:none}}
.starter{white-space:normal}
#chat .placeholder-content{padding:0 1rem;text-align:center}
#footer-row{align-items:center}
#status{min-height:0}
#comment-row{margin-top:-.4rem}
@media (max-width:600px){#chat{height:calc(100dvh - 250px)!important}#ask-row{flex-wrap:nowrap}
  html.embedded #chat{height:calc(100dvh - 250px)!important}}
"""


def patient_head() -> str:
    """The page script of the patient chat (assistant/static/chat.js), inline: the CSP allows only this origin."""
    return "<script>" + (Path(__file__).resolve().parent / "static" / "chat.js").read_text(encoding="utf-8") + "</script>"


def patient_app(service: Service, limiter=None) -> gr.Blocks:
    from .patient import (CLEARED, MAX_QUEUED, Conversation, Conversations, contact_card, restore, save, state_key,
                          wants_contact)

    s = service.settings
    key = state_key(s)
    conversations = Conversations()

    def current(request) -> Conversation:
        return conversations.get(getattr(request, "session_hash", None) if request is not None else None)
    link_hosts = hosts(s.link_hosts)

    def render(question: str, history: list) -> tuple[str, str, int | None, bool]:
        """(shown, raw, question id, streamable) for one question."""
        try:
            reply, qid = service.ask(question, history, channel="chat")
        except Unavailable:
            text = UNAVAILABLE.format(clinic_contact=s.clinic_contact)
            return text + "\n\n" + contact_card(s), text, None, False
        except AssistantError as exc:
            text = f"Sorry, I could not read that message: {exc}"
            return escape_tags(text), text, None, False
        except Exception:  # never leave a question stuck behind a typing indicator
            logging.getLogger("assistant.ui").exception("answering failed")
            text = UNAVAILABLE.format(clinic_contact=s.clinic_contact)
            return text + "\n\n" + contact_card(s), text, None, False
        shown = patient_markdown(reply.text, reply.citations, link_hosts)
        if wants_contact(reply):
            shown += "\n\n" + contact_card(s)
        return shown, reply.text, qid, reply.route in ("answer", "advice") and "<details" in shown

    with gr.Blocks(title="Ask our clinic", analytics_enabled=False) as demo:
        # The conversation lives on the server (one object per browser tab, by Gradio session, shared by the
        # event that accepts a question and the one that answers the queue); the browser keeps only a signed
        # copy, so a client cannot make the server re-send or believe a history it never gave.
        saved = gr.BrowserState("", storage_key="clinic-assistant-conversation")
        gr.Markdown(f"### Ask {html.escape(s.clinic_name)}\n"
                    f"{DISCLAIMER.format(emergency_number=s.emergency_number)}", elem_id="disclaimer")
        # No "share" button (it is for Hugging Face Spaces) and no floating label: both sat over the first message.
        chat = gr.Chatbot(label="Conversation", show_label=False, buttons=["copy", "copy_all"], elem_id="chat",
                          feedback_options=("Like", "Dislike"), autoscroll=True,
                          placeholder="Ask a question about our treatments. Answers come from our clinic's "
                                      "articles, with sources.")
        with gr.Row(elem_id="comment-row", visible=False) as comment_row:
            comment = gr.Textbox(placeholder="Thanks! Tell us more (optional)", show_label=False, scale=5,
                                 elem_id="comment", label="Comment on this answer")
            comment_send = gr.Button("Send comment", scale=1, elem_id="comment-send", min_width=80)
        with gr.Row(elem_id="starters") as starters_row:
            starter_buttons = [gr.Button(q, size="sm", variant="secondary", elem_classes=["starter"])
                               for q in starter_questions(service)]
        with gr.Row(elem_id="ask-row"):
            # No autofocus: inside a clinic's page it would scroll the host page to the chat.
            box = gr.Textbox(placeholder="Type your question and press Enter", show_label=False, scale=5,
                             max_lines=4, elem_id="question", label="Your question")
            send = gr.Button("Send", variant="primary", scale=1, elem_id="send", min_width=72)
        with gr.Row(elem_id="footer-row"):
            status = gr.Markdown("", elem_id="status")
            clear = gr.Button("Clear conversation", variant="secondary", size="sm", elem_id="clear", scale=0)
        api_ask = gr.Button("ask", visible=False, elem_id="api-ask")  # the /ask API endpoint (Gradio clients)

        def accept(question, request: gr.Request):
            """Show the patient's message at once (and a typing indicator); the answer event follows."""
            question = question if isinstance(question, str) else ""
            conv = current(request)
            if not question.strip():
                return conv.messages(), "", "Please type a question first.", gr.update()
            if limiter is not None:
                client = request.client.host if request is not None and request.client else "unknown"
                wait = limiter.check(client)
                if wait:
                    return (conv.messages(), question,
                            f"You're sending questions quickly; please wait {int(wait) + 1} s.", gr.update())
            if conv.queued() > MAX_QUEUED:
                return conv.messages(), question, "Please wait for the answers above first.", gr.update()
            waiting = conv.queued()
            conv.add(question)
            note = "Your question is next, after the answer above." if waiting else ""
            return conv.messages(), "", note, gr.update(visible=False)

        def answer(request: gr.Request):
            """Answer queued questions in order, streaming each answer's prose."""
            conv = current(request)
            answered = False
            while (turn := conv.next()) is not None:
                answered = True
                epoch = conv.epoch
                shown, raw, qid, streamable = render(turn.question, conv.history())
                turn.raw, turn.question_id = raw, qid
                if streamable:  # stream the prose, then show the expandable sources at once
                    head = shown.partition("\n**Sources**")[0]
                    for part in _stream(head):
                        if conv.epoch != epoch:
                            return  # cleared meanwhile
                        turn.shown = part
                        yield conv.messages(), gr.update(), "", gr.update(visible=False)
                        time.sleep(0.02)
                if conv.epoch != epoch:
                    return
                turn.shown, turn.state = shown, "done"
                yield conv.messages(), save(conv, key), "", gr.update(visible=False)
            if not answered:  # an earlier run answered the queue already: change nothing (no output = empty chat)
                yield gr.update(), gr.update(), gr.update(), gr.update()

        def ask_whole(question, request: gr.Request):
            """The Gradio API's /ask: the same steps in one call (the question, then the finished answer)."""
            shown, box_value, note, _ = accept(question, request)
            if box_value or not (question or "").strip():  # refused: nothing was added
                return shown, box_value, note
            for _ in answer(request):
                pass
            return current(request).messages(), "", ""

        accept_outs = [chat, box, status, starters_row]
        # The starters hide here too: the page-load step may land after the question that started the chat.
        answer_outs = [chat, saved, status, starters_row]
        for trigger, source in [(box.submit, box), (send.click, box)] + [(b.click, b) for b in starter_buttons]:
            trigger(accept, [source], accept_outs, queue=False, trigger_mode="multiple",
                    show_progress="hidden", api_visibility="private").then(
                answer, None, answer_outs, trigger_mode="always_last", show_progress="hidden",
                api_visibility="private")
        api_ask.click(ask_whole, [box], [chat, box, status], api_name="ask")

        def on_load(value, request: gr.Request):
            conv = current(request)
            conv.restore_from(restore(value, key))
            return conv.messages(), gr.update(visible=not conv.turns)

        demo.load(on_load, [saved], [chat, starters_row], api_visibility="private")

        last_feedback = gr.State(None)

        def on_like(data: gr.LikeData, request: gr.Request):
            idx = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
            turn = current(request).turn_at(idx) if isinstance(idx, int) else None
            if turn is None or turn.state != "done" or data.liked in (None, ""):
                return None, gr.update(visible=False), ""
            rating = 1 if data.liked is True or data.liked == "Like" else -1
            fid = service.store.add_feedback(rating=rating, question=turn.question, answer=turn.raw,
                                             question_id=turn.question_id)
            return fid, gr.update(visible=True), "Thank you for the feedback."

        chat.like(on_like, None, [last_feedback, comment_row, status], api_visibility="private")

        def on_comment(fid, text):
            if fid is None or not (text or "").strip():
                return gr.update(visible=fid is not None), text, "Type a comment first, or ignore this box."
            service.store.set_comment(int(fid), text.strip())
            return gr.update(visible=False), "", "Comment saved. Thank you."

        comment.submit(on_comment, [last_feedback, comment], [comment_row, comment, status], api_visibility="private")
        comment_send.click(on_comment, [last_feedback, comment], [comment_row, comment, status],
                           api_visibility="private")

        def forget(request: gr.Request):
            # The same object is reset (not replaced): an answer still streaming for it stops writing.
            current(request).reset()
            return [], CLEARED, None, gr.update(visible=False), "", gr.update(visible=True)

        forget_outs = [chat, saved, last_feedback, comment_row, status, starters_row]
        clear.click(forget, None, forget_outs, queue=False, api_visibility="private")
        # The chatbot's own trash icon empties only the visible messages: forget the conversation too,
        # or the next question is read as a follow-up of turns the patient no longer sees.
        chat.clear(forget, None, forget_outs, queue=False, api_visibility="private")
    return demo


# ---- staff console ---------------------------------------------------------------------------------
PASSAGE_COLUMNS = ["rank", "source", "section", "fused", "dense", "bm25", "dense rank", "bm25 rank", "passage"]
# Fixed shares so the scores and the passage fit the page (auto widths pushed the passage off to the right).
PASSAGE_WIDTHS = ["5%", "11%", "17%", "7%", "7%", "7%", "6%", "6%", "34%"]


def parse_history(text: str) -> list[dict]:
    """History typed by staff: a JSON list of turns, or lines "user: ..." / "assistant: ..."."""
    text = (text or "").strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise gr.Error(f"The history is not valid JSON: {exc}") from None
        return data if isinstance(data, list) else []
    turns = []
    for line in text.splitlines():
        role, _, content = line.partition(":")
        role = role.strip().lower()
        if role in ("user", "assistant") and content.strip():
            turns.append({"role": role, "content": content.strip()})
        elif line.strip():
            turns.append({"role": "user", "content": line.strip()})
    return turns


def _passages(reply) -> list[list]:
    cited = {c.chunk_id for c in reply.citations}
    rows = []
    for i, h in enumerate(reply.retrieved, 1):
        r = lambda x: None if x is None else round(float(x), 4)  # noqa: E731
        rows.append([f"{i}{' *' if h.chunk_id in cited else ''}", h.source, h.section or h.title, r(h.score),
                     r(h.dense_score), r(h.bm25_score), h.dense_rank, h.bm25_rank, h.text[:300]])
    return rows


RUNS_ROOT = Path("runs") / "console"  # the console's benchmark runs (relative to where the app runs)


def _eval_files() -> list[str]:
    return sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / "evals").glob("*.jsonl"))


def _eval_runs(root: Path) -> list[str]:
    return sorted((str(p.parent) for p in root.glob("*/report.json")), reverse=True)


def staff_app(service: Service) -> gr.Blocks:
    s = service.settings
    runs_root = RUNS_ROOT
    with gr.Blocks(title="Clinic assistant — staff console", analytics_enabled=False) as demo:
        gr.Markdown("## Staff console\nPreview answers with their evidence, read the question log and feedback, "
                    "curate answers, rebuild the index and run benchmarks.")
        with gr.Tab("Preview", elem_id="tab-preview"):
            with gr.Row():
                q = gr.Textbox(label="Question", scale=3, elem_id="staff-question")
                hist = gr.Textbox(label="History (optional): one turn a line, 'user: ...' / 'assistant: ...', or JSON",
                                  lines=3, scale=2)
            go = gr.Button("Preview answer", variant="primary", elem_id="staff-preview")
            with gr.Row():
                patient_view = gr.Markdown(label="What the patient sees", elem_id="patient-view")
                decision = gr.JSON(label="Decision: route, triage, standalone question, signals")
            passages = gr.Dataframe(headers=PASSAGE_COLUMNS, label="Ranked passages (* = cited)", wrap=True,
                                    elem_id="passages", column_widths=PASSAGE_WIDTHS)
            timings = gr.Dataframe(headers=["stage", "ms"], label="Latency by stage")

            def preview(question, history_text):
                try:
                    reply = service.bot.ask(question or "", parse_history(history_text))
                except AssistantError as exc:
                    raise gr.Error(str(exc)) from None
                info = {"route": reply.route, "triage": reply.triage, "standalone_question": reply.standalone_question,
                        "signals": reply.signals, "citations": [f"[{c.number}] {c.source} {c.chunk_id}" for c in reply.citations]}
                stages = [[k, v] for k, v in reply.timings.items()] + [["total", round(sum(reply.timings.values()), 2)]]
                return (patient_markdown(reply.text, reply.citations, hosts(s.link_hosts)), info, _passages(reply),
                        stages)

            go.click(preview, [q, hist], [patient_view, decision, passages, timings], api_visibility="private")
            q.submit(preview, [q, hist], [patient_view, decision, passages, timings], api_visibility="private")

        with gr.Tab("Question log & feedback", elem_id="tab-log"):
            with gr.Row():
                route = gr.Dropdown(["all", "answer", "abstain", "advice", "emergency", "greeting"], value="all",
                                    label="Route")
                refresh = gr.Button("Refresh")
                # Plain links to the staff API, which accepts this console's session: the files never pass
                # through Gradio's shared file cache, which the patient app also serves.
                gr.HTML('<a class="export" href="/api/staff/questions.csv" download>Export questions (CSV)</a>'
                        ' &nbsp; <a class="export" href="/api/staff/feedback.csv" download>Export feedback (CSV)</a>',
                        elem_id="exports")
            log_table = gr.Dataframe(label="Questions (newest first; personal data redacted)", wrap=True)
            fb_table = gr.Dataframe(label="Feedback (newest first)", wrap=True)

            def load_log(r):
                rows = service.store.rows("questions", 500, None if r == "all" else r)
                fb = service.store.rows("feedback", 500)
                return rows_frame(rows), rows_frame(fb)

            refresh.click(load_log, [route], [log_table, fb_table], api_visibility="private")
            route.change(load_log, [route], [log_table, fb_table], api_visibility="private")
            demo.load(load_log, [route], [log_table, fb_table], api_visibility="private")

        with gr.Tab("Curated answers", elem_id="tab-curate"):
            two = s.curated_approvals > 1
            gr.Markdown("Turn a question the assistant abstained on into a reviewed FAQ entry. "
                        + ("A second reviewer approves it below; then it is saved in " if two else "It is saved in ")
                        + f"`{s.corpus_dir}/{s.faq_subdir}/`, indexed at once and cited like any other source.")
            pick = gr.Dropdown([], label="Abstained questions from the log", allow_custom_value=True)
            reload_pick = gr.Button("Load abstained questions", size="sm")
            fq = gr.Textbox(label="Question")
            fa = gr.Textbox(label="Answer text (reviewed)", lines=6)
            with gr.Row():
                reviewer = gr.Textbox(label="Reviewer")
                rdate = gr.Textbox(label="Review date (YYYY-MM-DD)", value=dt.date.today().isoformat())
            save = gr.Button("Propose for approval" if two else "Save and index", variant="primary")
            faq_status = gr.Markdown()
            with gr.Row(visible=two):
                pending = gr.Dropdown([], label="Waiting for a second reviewer", allow_custom_value=False, scale=3)
                approver = gr.Textbox(label="Approving reviewer (not the author)", scale=2)
                approve = gr.Button("Approve and publish", scale=1)
            pending_text = gr.Markdown(visible=two)

            def abstained():
                qs = list(dict.fromkeys(r["question"] for r in service.store.rows("questions", 500, "abstain")))
                return gr.update(choices=qs, value=qs[0] if qs else None)

            def pending_entries():
                rows = service.store.rows("curated", 200, "pending")
                return gr.update(choices=[(f"#{r['id']} {r['question'][:80]} (by {r['author']})", r["id"])
                                          for r in rows], value=rows[0]["id"] if rows else None)

            def show_pending(entry_id):
                entry = service.store.curated(int(entry_id)) if entry_id else None
                if entry is None:
                    return ""
                return (f"**{html.escape(entry['question'])}** (written by {html.escape(entry['author'])}, "
                        f"{entry['review_date']})\n\n{escape_tags(entry['answer'])}")

            def save_faq(question, answer, who, when, request: gr.Request, progress=gr.Progress()):
                try:
                    entry = service.add_faq(question, answer, who, when, login=getattr(request, "username", "") or "",
                                            progress=lambda d, t: progress((d, t), desc="Embedding"))
                except AssistantError as exc:
                    raise gr.Error(str(exc)) from None
                if entry["status"] == "pending":
                    return (f"Saved as curated answer #{entry['id']}; it goes live when a second reviewer approves "
                            "it below."), pending_entries()
                return f"Saved `{entry['path']}` and indexed it. {service.build.message}", pending_entries()

            def approve_faq(entry_id, who, request: gr.Request, progress=gr.Progress()):
                if not entry_id:
                    raise gr.Error("Choose a curated answer to approve.")
                try:
                    entry = service.approve_faq(int(entry_id), who, login=getattr(request, "username", "") or "",
                                                progress=lambda d, t: progress((d, t), desc="Embedding"))
                except AssistantError as exc:
                    raise gr.Error(str(exc)) from None
                return f"Published `{entry['path']}` and indexed it. {service.build.message}", pending_entries()

            # today's date on each page load (a callable default would be listed as a public API endpoint)
            demo.load(lambda: dt.date.today().isoformat(), None, rdate, api_visibility="private")
            reload_pick.click(abstained, None, pick, api_visibility="private")
            pick.change(lambda v: v or "", pick, fq, api_visibility="private")
            save.click(save_faq, [fq, fa, reviewer, rdate], [faq_status, pending], api_visibility="private")
            approve.click(approve_faq, [pending, approver], [faq_status, pending], api_visibility="private")
            pending.change(show_pending, pending, pending_text, api_visibility="private")
            demo.load(pending_entries, None, pending, api_visibility="private")

        with gr.Tab("Index", elem_id="tab-index"):
            index_info = gr.JSON(label="Index status (from the manifest)")
            with gr.Row():
                check = gr.Button("Refresh status")
                rebuild = gr.Button("Rebuild index from the corpus", variant="primary")
            rebuild_status = gr.Markdown()

            def do_rebuild(progress=gr.Progress()):
                progress(0, desc="Reading the corpus")
                try:
                    msg = service.rebuild(progress=lambda d, t: progress((d, t), desc="Embedding"))
                except AssistantError as exc:
                    raise gr.Error(str(exc)) from None
                return msg, service.status()

            check.click(service.status, None, index_info, api_visibility="private")
            rebuild.click(do_rebuild, None, [rebuild_status, index_info], api_visibility="private")
            demo.load(service.status, None, index_info, api_visibility="private")

        with gr.Tab("Evaluate", elem_id="tab-eval"):
            with gr.Row():
                bench = gr.Dropdown(_eval_files(), value=(_eval_files() or [None])[0], label="Benchmark file")
                previous = gr.Dropdown(_eval_runs(runs_root), label="Compare with an earlier run (optional)",
                                       allow_custom_value=True)
            pasted = gr.Textbox(label="…or paste a benchmark set (JSONL: one case per line, as in evals/)", lines=4,
                                max_lines=16, elem_id="eval-paste")
            run_btn = gr.Button("Run benchmark", variant="primary")
            eval_status = gr.Markdown()
            confusion = gr.Dataframe(label="Routes: expected kind (rows) by the route taken (columns)")
            metric_table = gr.Dataframe(headers=["metric", "value", "95% interval", "previous",
                                                 "change (paired, 95% interval)"], label="Metrics")
            plots = gr.Gallery(label="Plots", columns=3, height=320)
            fails = gr.Dataframe(label="Failures", wrap=True)

            def run_eval(path, text, prev, progress=gr.Progress()):
                from . import evaluate

                try:
                    if (text or "").strip():  # a pasted set is kept with the console's runs
                        runs_root.mkdir(parents=True, exist_ok=True)
                        path = str((runs_root / f"pasted-{time.strftime('%Y%m%d-%H%M%S')}.jsonl").resolve())
                        Path(path).write_text(text.strip() + "\n", encoding="utf-8")
                    if not path:
                        raise InputError("Choose a benchmark file or paste a set.")
                    cases = evaluate.load_cases(REPO_ROOT / path if not Path(path).is_absolute() else path)
                    bot = service.bot
                except (AssistantError, TypeError) as exc:
                    raise gr.Error(str(exc)) from None
                rows, m = evaluate.run(bot, cases, progress=lambda i, n: progress((i, n), desc="Asking"))
                out = runs_root / f"{time.strftime('%Y%m%d-%H%M%S')}-{Path(path).stem}"
                evaluate.write_report(out, m, rows, f"Eval of {path}", evaluate.abstain_thresholds(bot))
                ci = json.loads((out / "report.json").read_text(encoding="utf-8")).get("intervals", {})
                old, diffs = {}, {}
                if prev and (Path(prev) / "report.json").is_file():
                    previous_report = json.loads((Path(prev) / "report.json").read_text(encoding="utf-8"))
                    old = evaluate.flat_metrics(previous_report)
                    if previous_report.get("rows") and "kind" in previous_report["rows"][0]:
                        diffs = evaluate.paired(rows, previous_report["rows"])
                table = []
                for k, v in evaluate.flat_metrics(m).items():
                    if k.startswith("confusion"):
                        continue
                    before, d = old.get(k), diffs.get(k)
                    if d:  # paired on the shared cases: a change only when the interval excludes 0
                        lo, hi = d["interval"]
                        change = (f"{'better' if evaluate.regressed(k, v, before) else 'worse'}: " if d["shown"]
                                  else "within noise: ") + f"{d['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}]"
                    else:
                        change = "" if before is None or v is None else (
                            "worse" if evaluate.regressed(k, before, v) else "same" if before == v else "better")
                    table.append([k, v, "" if not ci.get(k) else f"{ci[k][0]} – {ci[k][1]}", before, change])
                failed = [[r["id"], r["kind"], r["route"], r["question"][:120]] for r in evaluate.failures(rows)]
                images = [str(out / name) for name in evaluate.PLOTS.values()]
                routes = sorted({r for v in m["confusion"].values() for r in v})
                matrix = [[kind] + [m["confusion"][kind].get(r, 0) for r in routes] for kind in m["confusion"]]
                msg = (f"{len(rows)} cases, {len(failed)} failures. Report: [report.md](/api/staff/runs/{out.name}/report.md)"
                       f" · [report.json](/api/staff/runs/{out.name}/report.json) (rows, metrics, intervals).")
                return (msg, table, images, gr.update(value=failed, headers=["id", "kind", "route", "question"]),
                        gr.update(choices=_eval_runs(runs_root)),
                        gr.update(value=matrix, headers=["kind"] + routes))

            run_btn.click(run_eval, [bench, pasted, previous],
                          [eval_status, metric_table, plots, fails, previous, confusion], api_visibility="private")
    return demo


def rows_frame(rows: list[dict]):
    """A list of row dicts as a Dataframe update (headers from the first row)."""
    if not rows:
        return gr.update(value=[], headers=["(no rows yet)"])
    return gr.update(value=[list(r.values()) for r in rows], headers=list(rows[0].keys()))
