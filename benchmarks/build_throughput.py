"""Index build throughput on MedQuAD: whole build vs raw SentenceTransformer.encode, memory, size,
incremental rebuilds. A script, not a test:

    .venv/bin/python benchmarks/build_throughput.py --limit 500          # quick check
    .venv/bin/python benchmarks/build_throughput.py --repeat 1           # all 16,407 documents

Per repetition, on a fresh index folder under /tmp: a full build_index(..., documents=docs, full=True),
then raw model.encode(batch_size=64, normalize_embeddings=True) of exactly the built chunks'
embed_text (read back with load_index). The model is loaded and warmed up before any timing.
Then, on the last built index: a rebuild with one document changed and a rebuild with none changed.
Figures go to benchmarks/results/build_throughput.json; a Markdown table is printed.
Floors: build/raw chunks/s >= 0.85; one-changed-document rebuild < 10 s (in-process, no start-up).
Data attribution (MedQuAD, CC BY 4.0): see benchmarks/medquad.py.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from provenance import write_result  # noqa: E402 - benchmarks/ is the script's folder

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from assistant.index import build_index, load_index  # noqa: E402
from assistant.embedding import Embedder  # noqa: E402
from assistant.settings import load_settings  # noqa: E402
from medquad import load_medquad, medquad_path  # noqa: E402 - benchmarks/ itself (pysbd ships a package named "benchmarks")

RATIO_FLOOR = 0.85
INCREMENTAL_CEILING_S = 10.0


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def folder_size(folder: Path) -> dict:
    apparent = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    try:
        du_kib = int(subprocess.run(["du", "-sk", str(folder)], capture_output=True, text=True,
                                    check=True).stdout.split()[0])
    except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
        du_kib = -1
    files = {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}
    return {"du_kib": du_kib, "du_mib": round(du_kib / 1024, 1), "apparent_bytes": apparent, "files": files}


def machine_info() -> dict:
    import faiss
    import sentence_transformers
    import torch

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kib = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                       if l.startswith("MemTotal:"))
    except (OSError, StopIteration):
        mem_kib = 0
    return {
        "nproc": int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or os.cpu_count()),
        "os_cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "faiss": getattr(faiss, "__version__", "?"),
        "faiss_omp_threads": faiss.omp_get_max_threads(),
        "sentence_transformers": sentence_transformers.__version__,
        "env_threads": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM")
                        if k in os.environ},
    }


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="first N MedQuAD documents (default: all)")
    ap.add_argument("--repeat", type=int, default=1, help="build + raw-encode passes; medians reported")
    ap.add_argument("--data", default=None, help="medquad.jsonl (default: $MEDQUAD_PATH or ../shared/...)")
    ap.add_argument("--batch-size", type=int, default=64, help="raw encode batch size (build uses 64)")
    ap.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "build_throughput.json"))
    ap.add_argument("--keep-index", action="store_true", help="leave the /tmp index folder in place")
    ap.add_argument("--allow-dirty", action="store_true",
                    help="write the results file even with uncommitted code (the file names the paths)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    command = shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))

    settings = load_settings()
    log(f"loading MedQuAD from {medquad_path(args.data)} (limit={args.limit})")
    t = time.perf_counter()
    docs = load_medquad(args.data, limit=args.limit)
    load_seconds = time.perf_counter() - t
    assert len({d.id for d in docs}) == len(docs), "document ids must be unique"
    rss_after_load = peak_rss_mib()
    log(f"{len(docs)} documents in {load_seconds:.1f} s")

    embedder = Embedder(settings.model)
    t = time.perf_counter()
    model = embedder.model
    model.encode(["warm-up sentence for the benchmark"] * 8, batch_size=8, normalize_embeddings=True,
                 show_progress_bar=False)
    embedder.count_tokens(["warm-up"])
    model_seconds = time.perf_counter() - t
    rss_after_model = peak_rss_mib()
    machine = machine_info()
    log(f"model {embedder.model_id} loaded + warmed in {model_seconds:.1f} s; torch threads {machine['torch_threads']}")

    tmp_root = Path(tempfile.mkdtemp(prefix="medquad-bench-", dir="/tmp"))
    log(f"index folders under {tmp_root}")
    reps: list[dict] = []
    index_dir = None
    try:
        for r in range(1, args.repeat + 1):
            index_dir = tmp_root / f"rep{r}"
            last = [0]

            def progress(done: int, total: int) -> None:
                if done - last[0] >= max(512, total // 10) or done == total:
                    last[0] = done
                    log(f"  build {r}: embedded {done}/{total}")

            log(f"pass {r}/{args.repeat}: full build of {len(docs)} documents")
            load_before_build = loadavg()
            c = cpu_seconds()
            t = time.perf_counter()
            report = build_index(settings, embedder, index_dir=index_dir, documents=docs, full=True,
                                 progress=progress)
            build_wall = time.perf_counter() - t
            build_cpu = cpu_seconds() - c
            rss_after_build = peak_rss_mib()
            log(f"  {report.summary()} (wall {build_wall:.1f} s, embed {report.embed_seconds:.1f} s)")

            built = load_index(index_dir)
            texts = [c.embed_text for c in built.chunks]
            assert len(texts) == report.chunks
            log(f"pass {r}/{args.repeat}: raw model.encode of the same {len(texts)} chunk texts")
            load_before_raw = loadavg()
            c = cpu_seconds()
            t = time.perf_counter()
            raw = model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True,
                               show_progress_bar=False)
            raw_seconds = time.perf_counter() - t
            raw_cpu = cpu_seconds() - c
            rss_after_raw = peak_rss_mib()
            agree = float((raw * built.embeddings).sum(axis=1).min()) if len(texts) else 1.0
            log(f"  raw {raw_seconds:.1f} s, {len(texts) / raw_seconds:.1f} chunks/s; min cosine vs index {agree:.6f}")
            reps.append({
                "build_wall_seconds": build_wall,
                "build_report_seconds": report.seconds,
                "build_embed_seconds": report.embed_seconds,
                "build_non_embed_seconds": build_wall - report.embed_seconds,
                "raw_encode_seconds": raw_seconds,
                "chunks": report.chunks,
                "documents": report.documents,
                "embedded": report.embedded,
                "build_chunks_per_s": report.chunks / build_wall,
                "build_embed_only_chunks_per_s": report.embedded / report.embed_seconds if report.embed_seconds else None,
                "raw_chunks_per_s": len(texts) / raw_seconds,
                "ratio_build_over_raw": (report.chunks / build_wall) / (len(texts) / raw_seconds),
                "min_cosine_raw_vs_index": agree,
                "build_cpu_seconds": build_cpu,
                "raw_cpu_seconds": raw_cpu,
                "build_cores_used": build_cpu / build_wall,
                "raw_cores_used": raw_cpu / raw_seconds,
                "loadavg_before_build": load_before_build,
                "loadavg_before_raw": load_before_raw,
                "loadavg_after_raw": loadavg(),
                "peak_rss_mib_after_build": rss_after_build,
                "peak_rss_mib_after_raw": rss_after_raw,
                "version_folder": Path(report.folder).name,
                "index_size": folder_size(Path(report.folder)),
                "total_tokens": sum(c.n_tokens for c in built.chunks),
                "max_chunk_tokens": max((c.n_tokens for c in built.chunks), default=0),
            })
            del built, raw, texts

        # Incremental rebuild: one document of all of them changed (the middle one), then none changed.
        k = len(docs) // 2
        d = docs[k]
        changed_docs = list(docs)
        changed_docs[k] = replace(d, text=d.text.rstrip("\n") + " This sentence was added by the build benchmark.\n")
        log(f"incremental rebuild: 1 of {len(docs)} documents changed ({d.id})")
        t = time.perf_counter()
        inc = build_index(settings, embedder, index_dir=index_dir, documents=changed_docs)
        inc_wall = time.perf_counter() - t
        log(f"  {inc.summary()} (wall {inc_wall:.2f} s)")
        log("no-change rebuild")
        t = time.perf_counter()
        same = build_index(settings, embedder, index_dir=index_dir, documents=changed_docs)
        same_wall = time.perf_counter() - t
        log(f"  {same.summary()} (wall {same_wall:.2f} s)")
        after_inc = load_index(index_dir)
        inc_consistent = len(after_inc.chunks) == inc.chunks and any(
            "added by the build benchmark" in c.text for c in after_inc.chunks if c.source == d.id)
        del after_inc
    finally:
        if not args.keep_index:
            shutil.rmtree(tmp_root, ignore_errors=True)

    med = lambda key: statistics.median(x[key] for x in reps)  # noqa: E731
    last_rep = reps[-1]
    results = {
        "benchmark": "build_throughput",
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command,
        "cwd": os.getcwd(),
        "data": str(medquad_path(args.data)),
        "limit": args.limit,
        "repeat": args.repeat,
        "raw_batch_size": args.batch_size,
        "settings": {"model": embedder.model_id, "max_tokens": settings.max_tokens,
                     "overlap_sentences": settings.overlap_sentences, "index_type": settings.index_type},
        "machine": machine,
        "documents": len(docs),
        "chunks": last_rep["chunks"],
        "load_documents_seconds": load_seconds,
        "model_load_warmup_seconds": model_seconds,
        "median": {
            "build_wall_seconds": med("build_wall_seconds"),
            "build_embed_seconds": med("build_embed_seconds"),
            "build_non_embed_seconds": med("build_non_embed_seconds"),
            "raw_encode_seconds": med("raw_encode_seconds"),
            "build_chunks_per_s": med("build_chunks_per_s"),
            "raw_chunks_per_s": med("raw_chunks_per_s"),
            "ratio_build_over_raw": med("ratio_build_over_raw"),
        },
        "ratio_floor": RATIO_FLOOR,
        "ratio_ok": med("ratio_build_over_raw") >= RATIO_FLOOR,
        "incremental_one_changed": {
            "wall_seconds": inc_wall, "report_seconds": inc.seconds, "embed_seconds": inc.embed_seconds,
            "embedded": inc.embedded, "changed": inc.changed, "new": inc.new, "removed": inc.removed,
            "written": inc.written, "changed_document": d.id, "consistent": inc_consistent,
            "ceiling_seconds": INCREMENTAL_CEILING_S, "ok": inc_wall < INCREMENTAL_CEILING_S,
        },
        "no_change": {"wall_seconds": same_wall, "report_seconds": same.seconds, "embedded": same.embedded,
                      "written": same.written, "ok": same.embedded == 0},
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_note": "ru_maxrss of the whole benchmark process (documents, model, build, raw encode, "
                         "rebuilds), not of the build alone",
        "peak_rss_mib_after_load_documents": rss_after_load,
        "peak_rss_mib_after_model": rss_after_model,
        "current_rss_mib_at_end": current_rss_mib(),
        "index_size_du_mib": last_rep["index_size"]["du_mib"],
        "passes": reps,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_result(out, results, args.allow_dirty)

    m = results["median"]
    inc_r, same_r = results["incremental_one_changed"], results["no_change"]
    med_note = f" (median of {args.repeat})" if args.repeat > 1 else ""
    rows = [
        ("Documents (MedQuAD answers)", f"{len(docs):,}"),
        ("Chunks", f"{last_rep['chunks']:,}"),
        (f"Full build, wall{med_note}", f"{m['build_wall_seconds']:.1f} s (embedding {m['build_embed_seconds']:.1f} s, "
                                       f"rest {m['build_non_embed_seconds']:.1f} s)"),
        ("Full build throughput", f"{m['build_chunks_per_s']:.1f} chunks/s"),
        (f"Raw `model.encode`, same chunks, batch {args.batch_size}",
         f"{m['raw_encode_seconds']:.1f} s, {m['raw_chunks_per_s']:.1f} chunks/s"),
        ("CPU cores busy (process CPU s / wall s), build / raw",
         f"{med('build_cores_used'):.2f} / {med('raw_cores_used'):.2f}"),
        (f"Build / raw (floor ≥ {RATIO_FLOOR})",
         f"{m['ratio_build_over_raw']:.3f} {'✅' if results['ratio_ok'] else '❌ below floor'}"),
        ("Rebuild, 1 document changed (floor < 10 s)",
         f"{inc_r['wall_seconds']:.2f} s, {inc_r['embedded']} chunks embedded {'✅' if inc_r['ok'] else '❌ over floor'}"),
        ("Rebuild, nothing changed", f"{same_r['wall_seconds']:.2f} s, {same_r['embedded']} chunks embedded "
                                     f"{'✅' if same_r['ok'] else '❌'}"),
        ("Peak resident memory (process peak, ru_maxrss)", f"{results['peak_rss_mib']:,.0f} MiB"),
        ("Index size on disk (du of the version folder)", f"{results['index_size_du_mib']:,.1f} MiB"),
    ]
    print()
    print("| Measure | Value |")
    print("| --- | --- |")
    for k_, v in rows:
        print(f"| {k_} | {v} |")
    print()
    print(f"Command: `{command}`  ")
    print(f"Machine: {machine['nproc']} CPUs (nproc), {machine['cpu_model']}, {machine['mem_total_gib']} GiB RAM; "
          f"Python {machine['python']}, torch {machine['torch']} ({machine['torch_threads']} intra-op threads, "
          f"{machine['torch_interop_threads']} inter-op), sentence-transformers {machine['sentence_transformers']}, "
          f"faiss {machine['faiss']} ({machine['faiss_omp_threads']} OpenMP threads)"
          + (f", env {machine['env_threads']}" if machine["env_threads"] else "") + ".  ")
    print(f"Model {embedder.model_id}, max_tokens {settings.max_tokens}, index_type {settings.index_type}; "
          f"model load + warm-up ({model_seconds:.1f} s) and interpreter start-up not included.  ")
    print(f"Load average (1/5/15 min) before the first build {reps[0]['loadavg_before_build']}, after the last raw "
          f"encode {reps[-1]['loadavg_after_raw']}: other processes on the machine share its {machine['nproc']} CPUs.  ")
    print(f"Results: {out}")
    ok = results["ratio_ok"] and inc_r["ok"] and same_r["ok"] and inc_r["embedded"] > 0 and inc_consistent
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
