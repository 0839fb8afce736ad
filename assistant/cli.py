"""Command line: `assistant index | ask | chat | info | eval`. The only place (with the app) that
turns errors into user-facing text."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import AssistantError, InputError
from .settings import INDEX_TYPES

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _settings(args):
    from .settings import load_settings

    return load_settings(getattr(args, "config", None), corpus_dir=getattr(args, "corpus", None),
                         index_dir=getattr(args, "index", None))


def _assistant(args):
    from .engine import Assistant

    s = _settings(args)
    return Assistant.load(s.index_dir, s)


def cmd_index(args) -> int:
    from tqdm import tqdm

    from .embedding import Embedder
    from .index import build_index

    s = _settings(args)
    if args.index_type:
        s = s.replace(index_type=args.index_type)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="chunk", desc="embedding", disable=args.quiet)
        bar.n = done
        bar.refresh()

    embedder = Embedder(s.model, query_encoder=s.query_encoder)
    report = build_index(s, embedder, s.corpus_dir, s.index_dir, full=args.full, progress=progress)
    if bar is not None:
        bar.close()
    if report.load is not None:
        for rel, why in report.load.skipped:
            print(f"skipped {rel}: {why}", file=sys.stderr)
        for doc_id in report.load.stale:
            print(f"left out {doc_id}: past its review_due date", file=sys.stderr)
        print(report.load.summary())
    for f in report.flags:
        what = "held back (not indexed) until the source is edited" if f.kind == "hold" else "for review"
        print(f"staff review: {f.document} line {f.line}, {what}: {f.text[:100]}", file=sys.stderr)
    print(report.summary())
    print(calibrate_index(s, embedder, force=report.written))
    return 0


def calibrate_index(s, embedder, force: bool = True) -> str:
    """Check the answer decision on the corpus just indexed (its heading questions answered, a generic
    off-topic pool not), record the cut-off it uses in the index, and say so in one line."""
    from . import prompts
    from .decide import MODEL_PATH, OFFTOPIC_POOL, calibrate, calibration_summary
    from .engine import Assistant
    from .index import read_manifest, set_calibration

    if s.answer_decision != "learned":
        return "answer decision: rule (settings.answer_decision)"
    if not MODEL_PATH.is_file():
        return "answer decision: not calibrated (no trained model; run evals/train_answer.py)"
    cal = read_manifest(s.index_dir).get("calibration")
    if force or not cal:
        bot = Assistant.load(s.index_dir, s, embedder=embedder)
        pool = [line.strip() for line in prompts.text(s.prompts_dir, OFFTOPIC_POOL).splitlines()
                if line.strip() and not line.startswith("#")]
        cal = calibrate(bot, pool)
        set_calibration(s.index_dir, cal)
    return calibration_summary(cal)


def _print_reply(reply, passages: bool) -> None:
    print(reply.text)
    if passages and reply.retrieved:
        print("\nTop passages considered:")
        for i, h in enumerate(reply.retrieved, 1):
            snippet = " ".join(h.text.split())[:160]
            dense = "-" if h.dense_score is None else f"{h.dense_score:.3f}"
            bm25 = "-" if h.bm25_score is None else f"{h.bm25_score:.3f}"
            print(f"  {i}. {h.chunk_id}  fused={h.score:.4f} dense={dense} bm25={bm25}\n     {snippet}")


def _read_history(path: str) -> list[dict]:
    """The --history file: a JSON list of earlier turns, or an InputError that says what is wrong."""
    try:
        history = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"Cannot read the history file {path} ({exc.strerror or exc}); pass a JSON file "
                         'such as [{"role": "user", "content": "How many sessions?"}].') from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"The history file {path} is not UTF-8 JSON ({exc}).") from None
    if not isinstance(history, list):
        raise InputError(f"The history file {path} must hold a JSON list of turns [{{role, content}}, ...].")
    return history


def cmd_ask(args) -> int:
    history = _read_history(args.history) if args.history else []
    bot = _assistant(args)
    reply = bot.ask(args.question, history=history)
    if args.json:
        print(json.dumps(reply.to_dict(), indent=1, ensure_ascii=False, default=str))
    else:
        _print_reply(reply, args.passages)
    return 0


def cmd_chat(args) -> int:
    bot = _assistant(args)
    history: list[dict] = []
    print("Ask a question about our clinic's materials (empty line or Ctrl-D to quit).")
    while True:
        try:
            question = input("\nyou> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question:
            return 0
        reply = bot.ask(question, history=history)
        print()
        _print_reply(reply, args.passages)
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": reply.text}]


def cmd_info(args) -> int:
    from .index import read_manifest

    s = _settings(args)
    m = read_manifest(s.index_dir)
    print(f"index {s.index_dir}/: {m['counts']['documents']} documents, {m['counts']['chunks']} chunks, "
          f"model {m['model']['id']} ({m['model']['dimension']}-d), {m['index_type']} FAISS, built {m['built_at']}")
    return 0


def _print_compare(rows: list[tuple[str, float, float, bool]], old_path: str) -> None:
    """Deltas against an earlier run, regressions marked and summed up at the end."""
    print(f"\nCompared with {old_path}:")
    print(f"  {'':9s} {'metric':40s} {'old':>10s} {'new':>10s} {'delta':>9s}")
    for k, a, b, worse in rows:
        delta = f"{b - a:+.4f}" if a is not None and b is not None else "new" if a is None else "missing"
        print(f"  {'REGRESSED' if worse else '':9s} {k:40s} {str(a):>10s} {str(b):>10s} {delta:>9s}")
    regressed = [k for k, _, _, worse in rows if worse]
    if regressed:
        print(f"REGRESSIONS ({len(regressed)}): {', '.join(regressed)}")
    else:
        print("No regressions.")


def _print_paired(diffs: dict[str, dict]) -> None:
    """Paired differences on the shared cases, with their 95% bootstrap intervals."""
    if not diffs:
        print("No cases in common with the earlier run: no paired differences.")
        return
    n = next(iter(diffs.values()))["cases"]
    print(f"\nPaired on the {n} shared cases (difference new - old, 95% bootstrap interval):")
    for k, d in diffs.items():
        if d["difference"] or d["shown"]:
            ci = d["interval"]
            print(f"  {'CHANGED' if d['shown'] else '':8s} {k:40s} {d['difference']:+.4f}  [{ci[0]:+.4f}, {ci[1]:+.4f}]")
    shown = [k for k, d in diffs.items() if d["shown"]]
    print(f"Shown to change (interval excludes 0): {', '.join(shown) if shown else 'none'}.")


def _finish(m: dict, args, rows: list[dict] | None = None) -> int:
    """--compare and --fail-under, shared by both kinds of benchmark."""
    from . import evaluate

    if args.compare:
        old = json.loads(Path(args.compare).read_text(encoding="utf-8"))
        _print_compare(evaluate.compare(m, old), args.compare)
        if rows is not None and old.get("rows") and "kind" in old["rows"][0]:
            _print_paired(evaluate.paired(rows, old["rows"]))
    bad = evaluate.check_floors(m, evaluate.parse_floors(args.fail_under or []))
    for line in bad:
        print(f"FAIL: {line}", file=sys.stderr)
    return 1 if bad else 0


def cmd_serve(args) -> int:
    from .server import main as serve

    return serve([*(["--host", args.host] if args.host else []), *(["--port", str(args.port)] if args.port else [])])


def cmd_eval(args) -> int:
    from . import evaluate

    if bool(args.questions) == bool(args.beir):
        raise AssistantError("Give either a QUESTIONS.jsonl file or --beir DIR (not both).")
    if args.compare and not Path(args.compare).is_file():
        raise AssistantError(f"No earlier report at {args.compare} to compare with; pass a report.json of an earlier run.")
    if args.beir:
        return cmd_eval_beir(args)
    if args.min_grade is not None or args.index_dir:
        raise AssistantError("--min-grade and --index-dir apply to --beir runs; use --index for a question benchmark.")
    bot = _assistant(args)
    cases = evaluate.load_cases(args.questions)
    rows, m = evaluate.run(bot, cases)
    out = evaluate.write_report(args.out or "runs/latest", m, rows, f"Eval of {args.questions}",
                                thresholds=evaluate.abstain_thresholds(bot))
    print(f"{len(rows)} cases -> {out}/report.json, report.md, {', '.join(evaluate.PLOTS.values())}")
    ci = json.loads((out / "report.json").read_text(encoding="utf-8")).get("intervals", {})
    for k, v in evaluate.flat_metrics(m).items():
        if not k.startswith("confusion"):
            print(f"  {k:40s} {v}" + (f"  [{ci[k][0]}, {ci[k][1]}]" if ci.get(k) else ""))
    return _finish(m, args, rows)


def cmd_eval_beir(args) -> int:
    import time

    from tqdm import tqdm

    from . import beir
    from .embedding import Embedder
    from .engine import Assistant
    from .index import build_index

    if args.index:
        raise AssistantError("With --beir the index folder is set by --index-dir (default DIR/index).")
    min_grade = 1 if args.min_grade is None else args.min_grade
    if min_grade < 1:
        raise AssistantError(f"--min-grade {min_grade}: grades below 1 mean not relevant; choose 1 or more.")
    folder = Path(args.beir)
    if not folder.is_dir():
        raise AssistantError(f"No BEIR folder at {folder}/ (it should hold corpus.jsonl, queries.jsonl, qrels.tsv).")
    s = _settings(args)
    docs, empty = beir.load_corpus_jsonl(folder / "corpus.jsonl")
    queries = beir.load_queries(folder / "queries.jsonl")
    qrels = beir.load_qrels(folder / "qrels.tsv")
    index_dir = Path(args.index_dir) if args.index_dir else folder / "index"
    print(f"{len(docs)} documents ({len(empty)} with empty text left out), {len(queries)} queries, "
          f"{sum(map(len, qrels.values()))} judgements; index {index_dir}/")
    embedder = Embedder(s.model, query_encoder=s.query_encoder)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="chunk", desc="embedding", mininterval=5)
        bar.n = done
        bar.refresh()

    report = build_index(s, embedder, folder, index_dir, documents=docs, progress=progress)
    if bar is not None:
        bar.close()
    print(report.summary())
    bot = Assistant.load(index_dir, s, embedder=embedder)
    known = {d.id for d in docs}
    t0 = time.perf_counter()
    qbar = tqdm(total=len(queries), unit="query", desc="retrieving", mininterval=5)
    rows, m = beir.run(bot, queries, qrels, min_grade=min_grade,
                       progress=lambda i, n: (setattr(qbar, "total", n), qbar.update(1)))
    qbar.close()
    run_info = {
        "dataset": str(folder), "index_dir": str(index_dir), "min_grade": min_grade, "depth": beir.DEPTH,
        "documents": len(docs), "chunks": len(bot.index), "queries_in_file": len(queries),
        "queries_without_relevant": len(queries) - len(rows),
        "qrels_unknown_queries": sum(1 for q in qrels if q not in queries),
        "qrels_unknown_documents": sum(1 for g in qrels.values() for d in g if d not in known),
        "rrf_k": s.rrf_k, "candidate_pool": s.candidate_pool, "max_tokens": s.max_tokens,
        "model": bot.index.manifest["model"]["id"], "seconds": round(time.perf_counter() - t0, 1),
    }
    out = beir.write_report(args.out or Path("runs") / f"beir-{folder.resolve().name}", m, rows, run_info,
                            f"Retrieval on {folder}")
    print(f"{len(rows)} judged queries ({run_info['queries_without_relevant']} without a relevant document left out) "
          f"in {run_info['seconds']} s -> {out}/report.json, report.md")
    print("\n".join(beir.table(m)))
    print(beir.floor_check(m)[1])
    return _finish(m, args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assistant", description="Patient FAQ assistant over a clinic's own materials.")
    p.add_argument("--config", help="settings TOML file (default: assistant.toml if present)")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--index", help="index folder (default: index)")
        return sp

    sp = common(sub.add_parser("index", help="build or update the index from the corpus"))
    sp.add_argument("--corpus", help="corpus folder (default: corpus)")
    sp.add_argument("--full", action="store_true", help="re-embed everything")
    sp.add_argument("--index-type", choices=INDEX_TYPES)
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    sp.set_defaults(func=cmd_index)
    sp = common(sub.add_parser("ask", help="answer one question"))
    sp.add_argument("question")
    sp.add_argument("--json", action="store_true", help="print the whole reply as JSON")
    sp.add_argument("--passages", action="store_true", help="also print the ranked passages")
    sp.add_argument("--history", help="JSON file with earlier turns [{role, content}, ...]")
    sp.set_defaults(func=cmd_ask)
    sp = common(sub.add_parser("chat", help="interactive session that keeps history"))
    sp.add_argument("--passages", action="store_true")
    sp.set_defaults(func=cmd_chat)
    sp = sub.add_parser("serve", help="the web app: patient chat at /, staff console at /staff/, API at /api/")
    sp.add_argument("--host", help="address to listen on (default 127.0.0.1, or ASSISTANT_HOST)")
    sp.add_argument("--port", type=int, help="port (default 7860, or ASSISTANT_PORT)")
    sp.set_defaults(func=cmd_serve)
    sp = common(sub.add_parser("info", help="summary of the index"))
    sp.set_defaults(func=cmd_info)
    sp = common(sub.add_parser("eval", help="run a question benchmark, or a judged retrieval benchmark (--beir)"))
    sp.add_argument("questions", nargs="?", help="JSONL benchmark file")
    sp.add_argument("--beir", metavar="DIR", help="BEIR folder (corpus.jsonl, queries.jsonl, qrels.tsv) to score "
                    "hybrid, dense and BM25 retrieval on")
    sp.add_argument("--min-grade", type=int, help="with --beir: lowest qrels grade that counts as relevant (default 1)")
    sp.add_argument("--index-dir", help="with --beir: index of the BEIR corpus, built or reused (default DIR/index)")
    sp.add_argument("--out", help="report folder (default: runs/latest, or runs/beir-NAME with --beir)")
    sp.add_argument("--fail-under", nargs="*", metavar="METRIC=VALUE", help="exit 1 when a metric is below its floor")
    sp.add_argument("--compare", help="an earlier report.json to print deltas against")
    sp.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    for noisy in ("bm25s", "sentence_transformers", "transformers", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a stack trace to a user; ASSISTANT_DEBUG=1 shows it
        if os.environ.get("ASSISTANT_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (set ASSISTANT_DEBUG=1 for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
