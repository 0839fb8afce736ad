"""Gradio layouts: the patient chat (embeddable) and the staff console. Logic lives in service/engine/evaluate."""
from __future__ import annotations

import datetime as dt
import html
import json
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
