"""The staff console (Gradio): preview with evidence, question log, curated answers, index and evaluation.

Logic lives in service/engine/evaluate; shared rendering helpers come from ui.py (the patient chat)."""
from __future__ import annotations

import datetime as dt
import html
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import gradio as gr

from .errors import AssistantError, InputError
from .service import Service
from .settings import REPO_ROOT
from .patient import escape_tags
from .text import question_key
from .ui import hosts, patient_markdown

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


# Selected tab and primary buttons in a blue with at least 4.5:1 against their text (the default orange
# gave 2.8:1); links and the JSON viewer's values likewise (WCAG 2.1 AA 1.4.3).
CSS = """
:root, .dark, body, gradio-app {
  --button-primary-background-fill: #1d4ed8 !important;
  --button-primary-background-fill-hover: #1e40af !important;
  --button-primary-text-color: #ffffff !important;
  --button-primary-text-color-hover: #ffffff !important;
  --button-primary-border-color: #1d4ed8 !important;
  --button-cancel-background-fill: #b91c1c !important;
  --button-cancel-background-fill-hover: #991b1b !important;
  --button-cancel-text-color: #ffffff !important;
  --button-cancel-border-color: #b91c1c !important;
  --color-accent: #1d4ed8 !important;
  --color-accent-soft: #dbeafe !important;
  --link-text-color: #1d4ed8 !important;
  --link-text-color-visited: #6d28d9 !important;
  --body-text-color-subdued: #4b5563 !important;
  --block-info-text-color: #4b5563 !important;
}
#console-tabs button[role="tab"][aria-selected="true"] { color: #1e40af !important; border-color: #1d4ed8 !important; }
#console-tabs .tab-container button[role="tab"] { color: #1f2937; }
a.export { color: #1d4ed8; font-weight: 600; margin-right: 1.2em; }
#eval-plots img { width: min(100%, 1000px); height: auto; }
"""

LOG_COLUMNS = [("ts", "time"), ("route", "route"), ("question", "question"),
               ("standalone_question", "rewritten question"), ("triage", "triage"), ("sources", "sources"),
               ("latency_ms", "ms"), ("channel", "channel")]
# Shares of the page: route and the rewritten question stay in view at 1280 px (no sideways scroll).
LOG_WIDTHS = ["11%", "7%", "27%", "27%", "9%", "9%", "5%", "5%"]
FEEDBACK_COLUMNS = [("ts", "time"), ("rating", "rating"), ("question", "question"), ("comment", "comment"),
                    ("answer", "answer")]
FEEDBACK_WIDTHS = ["12%", "6%", "27%", "20%", "35%"]
# evaluate.PLOTS in order: signals, route accuracy, latency.
PLOT_CAPTIONS = ("Abstention signals against their thresholds", "Route accuracy per kind of question",
                 "Latency per kind of question (ms)")
ROUTES = ["all", "answer", "abstain", "advice", "emergency", "greeting"]

# One line per metric, shown beside it in the Evaluate tab (names as evaluate.flat_metrics gives them).
METRIC_HELP = {
    "cases": "Questions in the set.",
    "hit@1": "Answerable questions whose first retrieved passage holds the expected evidence.",
    "hit@3": "Answerable questions with the evidence in one of the first three passages.",
    "mrr@5": "Mean of 1/rank of the first passage with the evidence (top 5; 1.0 = always first).",
    "citation_evidence_rate": "Answerable questions where a quoted sentence carries the expected evidence.",
    "citation_precision": "Share of quoted sentences that carry the expected evidence.",
    "route_accuracy_overall": "Questions routed as expected (answer, abstain, emergency, advice, greeting).",
    "emergency_recall": "Emergencies escalated (must be 1.0).",
    "emergency_false_alarm_rate": "Non-emergencies escalated by mistake (lower is better).",
    "abstain_precision": "Of the questions it declined, the share that were really out of scope.",
    "abstain_recall": "Out-of-scope questions it declined rather than answered.",
    "framing_rate": "Non-emergency replies ending with the consult-a-physician framing (must be 1.0).",
    "latency_p50_ms": "Median time to answer, in milliseconds.",
    "latency_p95_ms": "95th-percentile time to answer, in milliseconds (lower is better).",
}
METRIC_PREFIX_HELP = {
    "route_accuracy.": "Questions of this kind routed as expected.",
    "latency_ms.": "Time to answer questions of this kind, in milliseconds (p50 median, p95 slow tail).",
}


def metric_help(name: str) -> str:
    if name in METRIC_HELP:
        return METRIC_HELP[name]
    return next((text for prefix, text in METRIC_PREFIX_HELP.items() if name.startswith(prefix)), "")


def filter_rows(store, table: str, route: str | None = None, text: str | None = None, limit: int = 500) -> list[dict]:
    """Rows of the question log or feedback as the console's filters choose them: route (feedback: of the
    question rated) and text the question contains."""
    route = None if route in (None, "", "all") else route
    needle = (text or "").strip().casefold()
    if table == "questions":
        rows = store.rows("questions", limit if not needle else 100_000, route)
    else:
        rows = store.rows("feedback", limit if not (needle or route) else 100_000)
        if route:
            ids = {r["id"] for r in store.rows("questions", 100_000, route)}
            rows = [r for r in rows if r["question_id"] in ids]
    if table == "feedback" and any(not r["question"] and r["question_id"] for r in rows):
        asked = {r["id"]: r["question"] for r in store.rows("questions", 100_000)}  # ratings sent by id only
        rows = [dict(r, question=r["question"] or asked.get(r["question_id"], "")) for r in rows]
    if needle:
        rows = [r for r in rows if needle in (r.get("question") or "").casefold()
                or needle in (r.get("standalone_question") or "").casefold()]
    return rows[:limit]


def export_links(route: str | None = None, text: str | None = None) -> str:
    """Links to the staff API's CSV exports with the console's filters (the API accepts the console's session)."""
    query = urlencode({k: v for k, v in (("route", route if route not in (None, "all") else ""),
                                         ("q", (text or "").strip())) if v})
    suffix = f"?{query}" if query else ""
    what = "" if not query else " (filtered)"
    return (f'<a class="export" id="export-questions" href="/api/staff/questions.csv{html.escape(suffix)}" '
            f'download="questions.csv">Export questions{what} (CSV)</a>'
            f'<a class="export" id="export-feedback" href="/api/staff/feedback.csv{html.escape(suffix)}" '
            f'download="feedback.csv">Export feedback{what} (CSV)</a>')


def table_frame(rows: list[dict], columns: list[tuple[str, str]], empty: str):
    """Rows as a Dataframe update with the chosen columns and headers."""
    if not rows:
        return gr.update(value=[["" for _ in columns]], headers=[h for _, h in columns])
    out = []
    for r in rows:
        line = []
        for key, _ in columns:
            v = r.get(key)
            if key == "sources":
                try:
                    v = ", ".join(json.loads(v or "[]"))
                except (TypeError, ValueError):
                    pass
            if key == "ts" and isinstance(v, str):
                v = v.replace("T", " ").rstrip("Z")
            if key == "answer" and isinstance(v, str) and len(v) > 300:
                v = v[:300] + "…"
            line.append("" if v is None else v)
        out.append(line)
    return gr.update(value=out, headers=[h for _, h in columns])


def index_summary(info: dict) -> str:
    """The service status as a few readable lines instead of raw JSON."""
    state = {"ready": "Ready: patients are being answered.", "loading": "Loading the index…",
             "error": "Not serving: " + html.escape(str(info.get("reason", "")))}.get(info.get("status"), info.get("status"))
    lines = [f"**Status:** {state}"]
    ix = info.get("index")
    if ix:
        built = str(ix.get("built_at") or "unknown").replace("T", " ")
        lines += ["", "| | |", "| --- | --- |",
                  f"| Documents | {ix.get('documents')} |", f"| Passages (chunks) | {ix.get('chunks')} |",
                  f"| Embedding model | `{html.escape(str(ix.get('model')))}` |",
                  f"| Vector index | {html.escape(str(ix.get('index_type')))} |",
                  f"| Built | {html.escape(built)} |", f"| Version folder | `{html.escape(str(ix.get('version')))}` |"]
        flags = ix.get("review_flags") or []
        lines += ["", f"**Lines flagged for review:** {len(flags) or 'none'}"]
        for f in flags[:20]:
            lines.append(f"- `{html.escape(str(f.get('document')))}` ({html.escape(str(f.get('kind')))}): "
                         f"{escape_tags(str(f.get('text') or f.get('line') or ''))[:200]}")
    for problem in info.get("problems") or []:
        lines += ["", f"**Problem:** {escape_tags(str(problem))}"]
    rb = info.get("rebuild") or {}
    progress = f" ({rb.get('done')}/{rb.get('total')})" if rb.get("running") and rb.get("total") else ""
    lines += ["", f"**Last rebuild:** {escape_tags(str(rb.get('message', '')))}{progress}"]
    return "\n".join(lines)


def decision_summary(reply) -> str:
    """The preview's decision as readable lines: route, triage, the standalone question, citations, signals."""
    lines = [f"**Route:** {reply.route}", f"**Triage:** {html.escape(str(reply.triage or '—'))}",
             f"**Standalone question:** {escape_tags(reply.standalone_question or '')}"]
    if reply.citations:
        lines.append("**Citations:** " + "; ".join(f"[{c.number}] `{html.escape(c.source)}` {html.escape(c.chunk_id)}"
                                                    for c in reply.citations))
    if reply.signals:
        lines += ["", "| signal | value |", "| --- | --- |"]
        for k, v in signal_rows(reply.signals):
            lines.append(f"| {html.escape(k)} | {escape_tags(v)[:200]} |")
    return "\n".join(lines)


def signal_rows(signals: dict, prefix: str = "") -> list[tuple[str, str]]:
    """One (name, value) row per signal; a nested dict (the triage's findings, probabilities and flags) is
    spread over rows named "triage.p_topic", "triage.topic_vetoed"..., so no flag is cut off by a long
    neighbour. A dict of numbers (intent, disposition probabilities) stays one row: "advice 0.03, ..."."""
    rows = []
    for k, v in signals.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v and not all(isinstance(x, (int, float)) for x in v.values()):
            rows += signal_rows(v, name + ".")
        elif isinstance(v, dict):
            rows.append((name, ", ".join(f"{a} {_number(b)}" for a, b in v.items()) or "{}"))
        else:
            rows.append((name, str(_number(v))))
    return rows


def _number(v):
    return round(v, 4) if isinstance(v, float) else v


def staff_app(service: Service) -> gr.Blocks:
    from . import gaps as gap_finder

    s = service.settings
    runs_root = RUNS_ROOT
    two = s.curated_approvals > 1
    with gr.Blocks(title="Clinic assistant — staff console", analytics_enabled=False) as demo:
        gr.Markdown("## Staff console\nPreview answers with their evidence, read the question log and feedback, "
                    "curate answers, find content gaps, rebuild the index and run benchmarks.")
        with gr.Tabs(elem_id="console-tabs") as tabs:
            with gr.Tab("Preview", id="preview", elem_id="tab-preview"):
                with gr.Row():
                    q = gr.Textbox(label="Question", scale=3, elem_id="staff-question")
                    hist = gr.Textbox(label="History (optional): one turn a line, 'user: ...' / 'assistant: ...', "
                                      "or JSON", lines=3, scale=2)
                go = gr.Button("Preview answer", variant="primary", elem_id="staff-preview")
                with gr.Row():
                    with gr.Column():
                        gr.Markdown("**What the patient sees**")
                        patient_view = gr.Markdown("", elem_id="patient-view")
                    with gr.Column():
                        gr.Markdown("**Decision**")
                        decision = gr.Markdown("", elem_id="decision")
                passages = gr.Dataframe(headers=PASSAGE_COLUMNS, label="Ranked passages (* = cited)", wrap=True,
                                        elem_id="passages", column_widths=PASSAGE_WIDTHS)
                timings = gr.Dataframe(headers=["stage", "ms"], label="Latency by stage")

                def preview(question, history_text):
                    try:
                        reply = service.bot.ask(question or "", parse_history(history_text))
                    except AssistantError as exc:
                        raise gr.Error(str(exc)) from None
                    stages = ([[k, v] for k, v in reply.timings.items()]
                              + [["total", round(sum(reply.timings.values()), 2)]])
                    return (patient_markdown(reply.text, reply.citations, hosts(s.link_hosts)),
                            decision_summary(reply), _passages(reply), stages)

                go.click(preview, [q, hist], [patient_view, decision, passages, timings], api_visibility="private")
                q.submit(preview, [q, hist], [patient_view, decision, passages, timings], api_visibility="private")

            with gr.Tab("Question log & feedback", id="log", elem_id="tab-log"):
                with gr.Row(equal_height=True):
                    route = gr.Dropdown(ROUTES, value="all", label="Route", elem_id="log-route", scale=1)
                    contains = gr.Textbox(label="Question contains", elem_id="log-contains", scale=2)
                    refresh = gr.Button("Refresh", scale=0, min_width=100)
                # Plain links to the staff API, which accepts this console's session: the files never pass
                # through Gradio's shared file cache, which the patient app also serves.
                # Markdown, not gr.HTML: Gradio 6 renders gr.HTML through eval(), which the CSP forbids.
                exports = gr.Markdown(export_links(), elem_id="exports")
                log_table = gr.Dataframe(headers=[h for _, h in LOG_COLUMNS], column_widths=LOG_WIDTHS, wrap=True,
                                         label="Questions (newest first; personal data redacted)", elem_id="log-table")
                fb_table = gr.Dataframe(headers=[h for _, h in FEEDBACK_COLUMNS], column_widths=FEEDBACK_WIDTHS,
                                        wrap=True, label="Feedback (newest first)", elem_id="feedback-table")

                def load_log(r, text):
                    return (table_frame(filter_rows(service.store, "questions", r, text), LOG_COLUMNS, "questions"),
                            table_frame(filter_rows(service.store, "feedback", r, text), FEEDBACK_COLUMNS, "feedback"),
                            export_links(r, text))

                log_outs = [log_table, fb_table, exports]
                refresh.click(load_log, [route, contains], log_outs, api_visibility="private")
                route.change(load_log, [route, contains], log_outs, api_visibility="private")
                contains.submit(load_log, [route, contains], log_outs, api_visibility="private")
                demo.load(load_log, [route, contains], log_outs, api_visibility="private")

            with gr.Tab("Curated answers", id="curate", elem_id="tab-curate"):
                gr.Markdown("Write a reviewed FAQ entry for a question the assistant could not answer, or edit one. "
                            + ("A second reviewer approves it below; then it is saved in " if two else "It is saved in ")
                            + f"`{s.corpus_dir}/{s.faq_subdir}/`, indexed at once and cited like any other source. "
                            "Saving the same question again revises its entry.")
                with gr.Row(equal_height=True):
                    pick = gr.Dropdown([], label="Start from an abstained question (not yet curated)",
                                       allow_custom_value=True, scale=3, elem_id="faq-pick")
                    reload_pick = gr.Button("Load abstained questions", size="sm", scale=1)
                with gr.Row(equal_height=True):
                    existing = gr.Dropdown([], label="Or edit a curated answer", scale=3, elem_id="faq-existing")
                    edit = gr.Button("Edit", size="sm", scale=0, min_width=80, elem_id="faq-edit")
                    retire = gr.Button("Retire", size="sm", scale=0, min_width=80, variant="stop",
                                       elem_id="faq-retire")
                ftitle = gr.Textbox(label="Title patients see on the source (short; the question when empty)",
                                    elem_id="faq-title")
                fq = gr.Textbox(label="Question", elem_id="faq-question")
                fa = gr.Textbox(label="Answer text (reviewed)", lines=6, elem_id="faq-answer")
                with gr.Row():
                    reviewer = gr.Textbox(label="Reviewer", elem_id="faq-reviewer")
                    rdate = gr.Textbox(label="Review date (YYYY-MM-DD)", value=dt.date.today().isoformat())
                save = gr.Button("Propose for approval" if two else "Save and index", variant="primary",
                                 elem_id="faq-save")
                faq_status = gr.Markdown("", elem_id="faq-status")
                with gr.Row(visible=two):
                    pending = gr.Dropdown([], label="Waiting for a second reviewer", allow_custom_value=False, scale=3,
                                          elem_id="faq-pending")
                    approver = gr.Textbox(label="Approving reviewer (not the author)", scale=2, elem_id="faq-approver")
                    approve = gr.Button("Approve and publish", scale=1, elem_id="faq-approve")
                pending_text = gr.Markdown("", visible=two)

                def login_of(request) -> str:
                    return getattr(request, "username", "") or ""

                def curated_keys() -> set[str]:

                    return {question_key(e["question"]) for e in service.curated_entries(limit=10_000)}

                def abstained():
                    done = curated_keys()

                    qs = [x for x in dict.fromkeys(r["question"] for r in service.store.rows("questions", 2000, "abstain"))
                          if not x.startswith("sha256:") and question_key(x) not in done]
                    # No preselected value: the question box fills only when one is chosen.
                    return gr.update(choices=qs, value=None)

                def entry_label(e: dict) -> str:
                    state = "live" if e["status"] == "published" else (
                        "revision waiting for approval" if e["path"] else "waiting for approval")
                    return f"#{e['id']} {(e['title'] or e['question'])[:70]} ({state})"

                def pending_entries():
                    rows = service.curated_entries("pending", 200)
                    return gr.update(choices=[(f"#{r['id']} {r['question'][:80]} (by {r['author']})", r["id"])
                                              for r in rows], value=rows[0]["id"] if rows else None)

                def existing_entries():
                    rows = service.curated_entries(limit=500)
                    return gr.update(choices=[(entry_label(e), e["id"]) for e in rows], value=None)

                def show_pending(entry_id):
                    entry = service.curated(int(entry_id)) if entry_id else None
                    if entry is None:
                        return ""
                    title = f"*{html.escape(entry['title'])}* — " if entry["title"] else ""
                    return (f"{title}**{html.escape(entry['question'])}** (written by {html.escape(entry['author'])}, "
                            f"{entry['review_date']})\n\n{escape_tags(entry['answer'])}")

                def load_entry(entry_id):
                    entry = service.curated(int(entry_id)) if entry_id else None
                    if entry is None:
                        raise gr.Error("Choose a curated answer to edit.")
                    return (entry["title"], entry["question"], entry["answer"],
                            f"Editing #{entry['id']}: saving proposes the new text"
                            + (" (the live version stays until it is approved)." if two and entry["path"] else "."))

                def save_faq(title, question, answer, who, when, request: gr.Request, progress=gr.Progress()):
                    try:
                        entry = service.add_faq(question, answer, who, when, login=login_of(request), title=title,
                                                progress=lambda d, t: progress((d, t), desc="Embedding"))
                    except AssistantError as exc:
                        raise gr.Error(str(exc)) from None
                    if entry["status"] == "pending":
                        msg = (f"Saved as curated answer #{entry['id']}; it goes live when a second reviewer approves "
                               "it below.")
                    else:
                        msg = f"Saved `{entry['path']}` and indexed it. {service.build.message}"
                    return msg, pending_entries(), existing_entries(), abstained()

                def approve_faq(entry_id, who, request: gr.Request, progress=gr.Progress()):
                    if not entry_id:
                        raise gr.Error("Choose a curated answer to approve.")
                    try:
                        entry = service.approve_faq(int(entry_id), who, login=login_of(request),
                                                    progress=lambda d, t: progress((d, t), desc="Embedding"))
                    except AssistantError as exc:
                        raise gr.Error(str(exc)) from None
                    return (f"Published `{entry['path']}` and indexed it. {service.build.message}", pending_entries(),
                            existing_entries(), abstained())

                def retire_faq(entry_id, request: gr.Request, progress=gr.Progress()):
                    if not entry_id:
                        raise gr.Error("Choose a curated answer to retire.")
                    try:
                        msg = service.retire_faq(int(entry_id), login=login_of(request),
                                                 progress=lambda d, t: progress((d, t), desc="Embedding"))
                    except AssistantError as exc:
                        raise gr.Error(str(exc)) from None
                    return msg, pending_entries(), existing_entries(), abstained()

                lists = [pending, existing, pick]
                # today's date on each page load (a callable default would be listed as a public API endpoint)
                demo.load(lambda: dt.date.today().isoformat(), None, rdate, api_visibility="private")
                reload_pick.click(abstained, None, pick, api_visibility="private")
                pick.input(lambda v: v or "", pick, fq, api_visibility="private")
                edit.click(load_entry, existing, [ftitle, fq, fa, faq_status], api_visibility="private")
                retire.click(retire_faq, existing, [faq_status, *lists], api_visibility="private")
                save.click(save_faq, [ftitle, fq, fa, reviewer, rdate], [faq_status, *lists], api_visibility="private")
                approve.click(approve_faq, [pending, approver], [faq_status, *lists], api_visibility="private")
                pending.change(show_pending, pending, pending_text, api_visibility="private")
                demo.load(lambda: (pending_entries(), existing_entries(), abstained()), None, lists,
                          api_visibility="private")

            with gr.Tab("Content gaps", id="gaps", elem_id="tab-gaps"):
                gr.Markdown("Questions the assistant declined and answers patients rated thumbs down, grouped by "
                            "meaning, largest first: what to write next. Questions already curated are left out. "
                            "**Select a group** to start a curated answer from it.")
                with gr.Row(equal_height=True):
                    period = gr.Dropdown(list(gap_finder.PERIODS), value="Last 30 days", label="Period", scale=2,
                                         elem_id="gaps-period")
                    find = gr.Button("Find gaps", variant="primary", scale=1, elem_id="gaps-find")
                gaps_status = gr.Markdown("", elem_id="gaps-status")
                gap_columns = ["asked", "declined", "thumbs down", "question (most typical)", "also asked as",
                               "last seen"]
                gaps_table = gr.Dataframe(headers=gap_columns, wrap=True, interactive=False, elem_id="gaps-table",
                                          column_widths=["7%", "8%", "9%", "30%", "34%", "12%"],
                                          label="Groups (select one to draft a curated answer)")
                found = gr.State([])

                def find_gaps(label):
                    start = gap_finder.since(gap_finder.PERIODS.get(label, 30))
                    items = gap_finder.collect(service.store, start, curated_keys())
                    try:
                        groups = gap_finder.group(service.bot.embedder, items)
                    except AssistantError as exc:
                        raise gr.Error(str(exc)) from None
                    rows = [[g.count, g.abstained, g.disliked, g.question, " · ".join(g.examples[:5])
                             + (f" (+{len(g.examples) - 5} more)" if len(g.examples) > 5 else ""),
                             g.last_seen.replace("T", " ").rstrip("Z")] for g in groups]
                    msg = (f"{len(items)} questions in {len(groups)} groups ({label.lower()})." if groups
                           else f"No declined or thumbs-down questions ({label.lower()}).")
                    return (msg, gr.update(value=rows or [["", "", "", "", "", ""]], headers=gap_columns),
                            [g.question for g in groups])

                def draft(questions, evt: gr.SelectData):
                    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
                    if not questions or row is None or row >= len(questions):
                        return gr.update(), gr.update(), gr.update(), gr.update()
                    question = questions[row]
                    return (gr.update(selected="curate"), "", question,
                            f"Drafting an answer to the group “{escape_tags(question)}”: write the answer, then save.")

                find.click(find_gaps, period, [gaps_status, gaps_table, found], api_visibility="private")
                period.change(find_gaps, period, [gaps_status, gaps_table, found], api_visibility="private")
                gaps_table.select(draft, found, [tabs, ftitle, fq, faq_status], api_visibility="private")

            with gr.Tab("Index", id="index", elem_id="tab-index"):
                index_info = gr.Markdown("", elem_id="index-summary")
                with gr.Row():
                    check = gr.Button("Refresh status")
                    rebuild = gr.Button("Rebuild index from the corpus", variant="primary")
                rebuild_status = gr.Markdown("")
                gr.Markdown("The full status as JSON: [/api/staff/status](/api/staff/status)")

                def status_text():
                    return index_summary(service.status())

                def do_rebuild(progress=gr.Progress()):
                    progress(0, desc="Reading the corpus")
                    try:
                        msg = service.rebuild(progress=lambda d, t: progress((d, t), desc="Embedding"))
                    except AssistantError as exc:
                        raise gr.Error(str(exc)) from None
                    return msg, status_text()

                check.click(status_text, None, index_info, api_visibility="private")
                rebuild.click(do_rebuild, None, [rebuild_status, index_info], api_visibility="private")
                demo.load(status_text, None, index_info, api_visibility="private")

            with gr.Tab("Evaluate", id="eval", elem_id="tab-eval"):
                with gr.Row():
                    bench = gr.Dropdown(_eval_files(), value=(_eval_files() or [None])[0], label="Benchmark file")
                    previous = gr.Dropdown(_eval_runs(runs_root), label="Compare with an earlier run (optional)",
                                           allow_custom_value=True)
                pasted = gr.Textbox(label="…or paste a benchmark set (JSONL: one case per line, as in evals/)", lines=4,
                                    max_lines=16, elem_id="eval-paste")
                run_btn = gr.Button("Run benchmark", variant="primary", elem_id="eval-run")
                eval_status = gr.Markdown("", elem_id="eval-status")
                metric_table = gr.Dataframe(headers=["metric", "value", "95% interval", "previous",
                                                     "change (paired, 95% interval)", "what it measures"],
                                            label="Metrics", wrap=True, elem_id="eval-metrics",
                                            column_widths=["17%", "8%", "12%", "8%", "17%", "38%"])
                confusion = gr.Dataframe(label="Routes: expected kind (rows) by the route taken (columns)")
                # One plot per row at the page's width: three side by side in a 320 px gallery were unreadable.
                # Served by the staff API (the console's session is accepted), with alt text for screen readers.
                plots = gr.Markdown("", elem_id="eval-plots")
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
                        table.append([k, v, "" if not ci.get(k) else f"{ci[k][0]} – {ci[k][1]}",
                                      "" if before is None else before, change, metric_help(k)])
                    failed = [[r["id"], r["kind"], r["route"], r["question"][:120]] for r in evaluate.failures(rows)]
                    images = "\n\n".join(f"**{caption}**\n\n![{caption}](/api/staff/runs/{out.name}/{name})"
                                           for name, caption in zip(evaluate.PLOTS.values(), PLOT_CAPTIONS))
                    routes = sorted({r for v in m["confusion"].values() for r in v})
                    matrix = [[kind] + [m["confusion"][kind].get(r, 0) for r in routes] for kind in m["confusion"]]
                    msg = (f"{len(rows)} cases, {len(failed)} failures. Report: "
                           f"[report.md](/api/staff/runs/{out.name}/report.md) · "
                           f"[report.json](/api/staff/runs/{out.name}/report.json) (rows, metrics, intervals).")
                    return (msg, table, gr.update(value=failed, headers=["id", "kind", "route", "question"]),
                            gr.update(choices=_eval_runs(runs_root)),
                            gr.update(value=matrix, headers=["kind"] + routes), images)

                run_btn.click(run_eval, [bench, pasted, previous],
                              [eval_status, metric_table, fails, previous, confusion, plots], api_visibility="private")
    return demo
