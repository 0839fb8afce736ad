"""Command line: `assistant index | ask | chat | info | eval`. The only place (with the app) that
turns errors into user-facing text."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .errors import AssistantError

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

    report = build_index(s, Embedder(s.model), s.corpus_dir, s.index_dir, full=args.full, progress=progress)
    if bar is not None:
        bar.close()
    if report.load is not None:
        for rel, why in report.load.skipped:
            print(f"skipped {rel}: {why}", file=sys.stderr)
        for doc_id in report.load.stale:
            print(f"left out {doc_id}: past its review_due date", file=sys.stderr)
        print(report.load.summary())
    print(report.summary())
    return 0


def _print_reply(reply, passages: bool) -> None:
    print(reply.text)
    if passages and reply.retrieved:
        print("\nTop passages considered:")
        for i, h in enumerate(reply.retrieved, 1):
            snippet = " ".join(h.text.split())[:160]
            print(f"  {i}. {h.chunk_id}  fused={h.score:.4f} dense={h.dense_score} bm25={h.bm25_score}\n     {snippet}")


def cmd_ask(args) -> int:
    bot = _assistant(args)
    history = json.loads(Path(args.history).read_text(encoding="utf-8")) if args.history else []
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


def _floors(items: list[str]) -> dict[str, float]:
    floors = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            floors[name.strip()] = float(value)
        except ValueError:
            raise AssistantError(f"--fail-under takes METRIC=VALUE, got {item!r}.") from None
    return floors


def cmd_eval(args) -> int:
    from . import evaluate

    bot = _assistant(args)
    cases = evaluate.load_cases(args.questions)
    rows, m = evaluate.run(bot, cases)
    out = evaluate.write_report(args.out, m, rows, f"Eval of {args.questions}")
    print(f"{len(rows)} cases -> {out}/report.json, report.md")
    for k, v in evaluate.flat_metrics(m).items():
        if not k.startswith("confusion"):
            print(f"  {k:40s} {v}")
    if args.compare:
        old = json.loads(Path(args.compare).read_text(encoding="utf-8"))
        for k, a, b, worse in evaluate.compare(m, old):
            print(f"  {'REGRESSED ' if worse else ''}{k}: {a} -> {b} ({b - a:+.4f})")
    bad = evaluate.check_floors(m, _floors(args.fail_under or []))
    for line in bad:
        print(f"FAIL: {line}", file=sys.stderr)
    return 1 if bad else 0


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
    sp.add_argument("--index-type", choices=("flat", "hnsw", "auto"))
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
    sp = common(sub.add_parser("info", help="summary of the index"))
    sp.set_defaults(func=cmd_info)
    sp = common(sub.add_parser("eval", help="run a question benchmark"))
    sp.add_argument("questions", help="JSONL benchmark file")
    sp.add_argument("--out", default="runs/latest", help="report folder (default: runs/latest)")
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
