"""Gradio layout of the patient chat (embeddable) and the rendering helpers the staff console shares (console.py)."""
from __future__ import annotations

import html
import logging
import re
import time
from pathlib import Path

import gradio as gr

from .errors import AssistantError
from .patient import escape_tags
from .service import Service, Unavailable

DISCLAIMER = ("General education from our clinic's materials, not medical advice. "
              "In an emergency call {emergency_number} now.")
UNAVAILABLE = "Sorry, the assistant is not available right now. Please contact {clinic_contact}."
_SOURCES = re.compile(r"\n\*\*Sources\*\*\n(?:\[\d+\][^\n]*\n?)+")
_CITE_ID = "cite"


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
