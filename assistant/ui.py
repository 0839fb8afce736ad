"""Gradio layout of the patient chat (embeddable) and the rendering helpers the staff console shares (console.py)."""
from __future__ import annotations

import html
import re
import time

import gradio as gr

from .errors import AssistantError
from .service import Service, Unavailable

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


def patient_markdown(text: str, citations, link_hosts: tuple[str, ...] = ()) -> str:
    """The reply as the chat shows it: the source list becomes one expandable passage per citation."""
    body = safe_markdown(escape_tags(text), link_hosts)
    if not citations:
        return body
    blocks = []
    for c in citations:
        where = f"{c.title} — {c.section}" if c.section else c.title
        passage = html.escape(c.text).replace("\n", "<br>")
        blocks.append(f'<details class="{_CITE_ID}"><summary>[{c.number}] {html.escape(where)}</summary>'
                      f'<div class="passage">{passage}</div></details>')
    sources = "\n**Sources** (select one to read the passage)\n\n" + "\n".join(blocks) + "\n"
    return _SOURCES.sub(lambda m: sources, body, count=1) if _SOURCES.search(body) else body


def starter_questions(service: Service, n: int = 4) -> list[str]:
    """Questions drawn from the corpus's section headings (headings that are questions kept as they are)."""
    try:
        sections = service.bot.topics(50)
    except Unavailable:
        return []
    out = []
    for h in sections[1:]:
        h = h.strip()
        if h.endswith("?"):
            out.append(h)
        elif not re.match(r"^(start|contact|call|book|schedule)\b", h, re.I):
            out.append("Tell me about " + h[0].lower() + h[1:].lower())
    return out[:n]


def _stream(text: str, step: int = 6):
    words = text.split(" ")
    for i in range(step, len(words) + step, step):
        yield " ".join(words[:i])


def patient_app(service: Service, limiter=None) -> gr.Blocks:
    s = service.settings
    with gr.Blocks(title="Ask our clinic", analytics_enabled=False) as demo:
        history = gr.State([])      # the conversation as the engine sees it (raw text)
        # What the chat shows, kept on the server: the browser's copy of the conversation is never read
        # back, so a client cannot make the server parse or re-send a history of any size.
        shown_state = gr.State([])
        turns = gr.State({})        # chat message index -> {question, answer, question_id, feedback_id}
        last_feedback = gr.State(None)
        gr.Markdown(f"### Ask our clinic\n{DISCLAIMER.format(emergency_number=s.emergency_number)}",
                    elem_id="disclaimer")
        # No "share" button (it is for Hugging Face Spaces) and no floating label: both sat over the first message.
        # At most half the screen high, so the question box stays in view on a phone and in the widget iframe.
        chat = gr.Chatbot(label="Conversation", show_label=False, buttons=["copy", "copy_all"], elem_id="chat",
                          height="min(460px, 50vh)", feedback_options=("Like", "Dislike"),
                          placeholder="Ask a question about our treatments. Answers come from our clinic's "
                                      "articles, with sources.")
        with gr.Row(elem_id="starters") as starters_row:
            starter_buttons = [gr.Button(q, size="sm", variant="secondary", elem_classes=["starter"])
                               for q in starter_questions(service)]
        with gr.Row():
            box = gr.Textbox(placeholder="Type your question and press Enter", show_label=False, scale=5,
                             max_lines=4, elem_id="question", autofocus=True)
            send = gr.Button("Send", variant="primary", scale=1, elem_id="send", min_width=80)
        with gr.Row(visible=False, elem_id="comment-row") as comment_row:
            comment = gr.Textbox(placeholder="Thanks! Tell us more (optional)", show_label=False, scale=5,
                                 elem_id="comment")
            comment_send = gr.Button("Send comment", scale=1, elem_id="comment-send", min_width=80)
        status = gr.Markdown("", elem_id="status")
        clear = gr.Button("Clear conversation", variant="secondary", size="sm", elem_id="clear")

        def respond(question: str, shown: list, raw: list, meta: dict, request: gr.Request):
            question = question if isinstance(question, str) else ""
            shown = list(shown or [])
            raw = list(raw or [])
            meta = dict(meta or {})
            if not question.strip():
                yield shown, raw, meta, "", "Please type a question first."
                return
            if limiter is not None:
                host = request.client.host if request is not None and request.client else "unknown"
                wait = limiter.check(host)
                if wait:
                    yield shown, raw, meta, question, f"You're sending questions quickly; please wait {int(wait) + 1} s."
                    return
            shown.append({"role": "user", "content": escape_tags(question)})
            try:
                reply, qid = service.ask(question, raw, channel="chat")
                text = patient_markdown(reply.text, reply.citations, hosts(s.link_hosts))
                answer_raw = reply.text
            except Unavailable:
                reply, qid = None, None
                text = answer_raw = UNAVAILABLE.format(clinic_contact=s.clinic_contact)
            except AssistantError as exc:
                reply, qid = None, None
                text = answer_raw = f"Sorry, I could not read that message: {exc}"
            shown.append({"role": "assistant", "content": ""})
            idx = len(shown) - 1
            meta[str(idx)] = {"question": question, "answer": answer_raw, "question_id": qid}
            raw = raw + [{"role": "user", "content": question}, {"role": "assistant", "content": answer_raw}]
            plain_answer = reply is not None and reply.route in ("answer", "advice") and "<details" in text
            if plain_answer:  # stream the prose, then show the expandable sources at once
                head, _, tail = text.partition("\n**Sources**")
                for part in _stream(head):
                    shown[idx] = {"role": "assistant", "content": part}
                    yield shown, raw, meta, "", ""
                    time.sleep(0.02)
                shown[idx] = {"role": "assistant", "content": text}
            else:
                shown[idx] = {"role": "assistant", "content": text}
            yield shown, raw, meta, "", ""

        def respond_both(question: str, shown: list, raw: list, meta: dict, request: gr.Request):
            # Starters only while the chat is empty: at phone width (or in the widget) they push the input off screen.
            for shown_now, raw_now, meta_now, box_now, status_now in respond(question, shown, raw, meta, request):
                yield shown_now, shown_now, raw_now, meta_now, box_now, status_now, gr.update(visible=not shown_now)

        outs = [chat, shown_state, history, turns, box, status, starters_row]
        ins = [shown_state, history, turns]
        box.submit(respond_both, [box, *ins], outs, api_name="ask")
        send.click(respond_both, [box, *ins], outs, api_visibility="private")
        for b in starter_buttons:
            b.click(respond_both, [b, *ins], outs, api_visibility="private")

        def on_like(meta: dict, data: gr.LikeData):
            idx = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
            info = (meta or {}).get(str(idx))
            if info is None or data.liked in (None, ""):
                return None, gr.update(visible=False), ""
            rating = 1 if data.liked is True or data.liked == "Like" else -1
            fid = service.store.add_feedback(rating=rating, question=info["question"], answer=info["answer"],
                                             question_id=info.get("question_id"))
            return fid, gr.update(visible=True), "Thank you for the feedback."

        chat.like(on_like, [turns], [last_feedback, comment_row, status], api_visibility="private")

        def on_comment(fid, text):
            if fid is None or not (text or "").strip():
                return gr.update(visible=fid is not None), text, "Type a comment first, or ignore this box."
            service.store.set_comment(int(fid), text.strip())
            return gr.update(visible=False), "", "Comment saved. Thank you."

        comment.submit(on_comment, [last_feedback, comment], [comment_row, comment, status], api_visibility="private")
        comment_send.click(on_comment, [last_feedback, comment], [comment_row, comment, status],
                           api_visibility="private")
        clear.click(lambda: ([], [], [], {}, None, gr.update(visible=False), "", "", gr.update(visible=True)), None,
                    [chat, shown_state, history, turns, last_feedback, comment_row, box, status, starters_row],
                    api_visibility="private")
        # The chatbot's own trash icon empties only the visible messages: forget the conversation too,
        # or the next question is read as a follow-up of turns the patient no longer sees.
        chat.clear(lambda: ([], [], {}, None, gr.update(visible=False), "", gr.update(visible=True)), None,
                   [shown_state, history, turns, last_feedback, comment_row, status, starters_row],
                   api_visibility="private")
    return demo
