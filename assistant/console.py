"""The staff console (Gradio): preview with evidence, question log, curated answers, index and evaluation.

Logic lives in service/engine/evaluate; shared rendering helpers come from ui.py (the patient chat)."""
from __future__ import annotations

import datetime as dt
import html
import json
import time
from pathlib import Path

import gradio as gr

from .errors import AssistantError, InputError
from .service import Service
from .settings import REPO_ROOT
from .ui import escape_tags, hosts, patient_markdown

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
