"""FAISS index types at scale: flat vs HNSW vs IVF-PQ on 10^6 synthetic 384-d vectors, and on the
MedQuAD index's real embeddings. A script, not a test:

    nice -n 10 .venv/bin/python benchmarks/index_scale.py --n 100000       # quick check
    nice -n 10 .venv/bin/python benchmarks/index_scale.py                  # 1,000,000 vectors
    nice -n 10 .venv/bin/python benchmarks/index_scale.py --medquad        # data/medquad_beir/index

Synthetic data: a Gaussian mixture on the unit sphere, not uniform random vectors (uniform 384-d data
has no neighbourhood structure and is a known, unrealistic worst case). n / --points-per-cluster
cluster centres (random directions pulled towards one shared direction, as sentence embeddings share
a common component), log-normal cluster sizes, every vector normalised. Within a cluster, --generator
lowrank (default) spreads points mostly along 16 cluster-specific directions plus a little isotropic
noise; --generator isotropic spreads them along all 384 directions. The lowrank defaults were calibrated
against the MedQuAD chunk embeddings (--medquad): mean cosine of random pairs 0.16-0.17 vs 0.20, of
the 10th nearest neighbour 0.72 vs 0.68, local intrinsic dimension 10.5-10.7 vs 9.9 (the figure that
governs how hard approximate search is). The isotropic generator matches the cosines but has a local
intrinsic dimension of about 24: a much harder case for every approximate index. Every run prints
these figures. How real corpora look at 10^6 is an assumption: here the clusters keep their size and
their number grows with n.
Queries: --queries vectors held out from the same distribution (MedQuAD: chunk vectors held out of the
indexed set). Metric: inner product on unit vectors (cosine), as in the assistant.

Measured per index: build seconds (--build-threads OpenMP threads), serialized index bytes, resident
memory growth while building, p50/p95 of single-query search latency (one query per call, k=10,
--search-threads OpenMP threads, after a warm-up) and recall@10 against the exact (flat) top 10.
IVF-PQ is measured as the assistant builds and uses it (assistant.index: IndexIVFPQFastScan, 4-bit
codes, its training recipe): PQ candidates re-scored exactly against the stored embeddings (rerank
factor f: 10*f candidates; the assistant uses f=10), and bare (f=0) for reference. HNSW defaults to the
assistant's M and efConstruction.
Results are merged into benchmarks/results/index_scale.json (one entry per dataset) and the tables are
written between markers in benchmarks/results/index_scale.md. Floor for an approximate index at 10^6
vectors: recall@10 >= 0.95 with p95 < 10 ms.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

from provenance import commit_info  # noqa: E402 - benchmarks/ is the script's folder

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from assistant.index import (  # noqa: E402
    CURRENT, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M, IVFPQ_RERANK, _ivfpq_index, ivfpq_params,
)

K = 10
RECALL_FLOOR = 0.95
P95_CEILING_MS = 10.0
RESULTS = REPO_ROOT / "benchmarks" / "results"
MD_BEGIN, MD_END = "<!-- index_scale:begin (written by benchmarks/index_scale.py) -->", "<!-- index_scale:end -->"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def current_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def machine_info() -> dict:
    import faiss

    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "")
    mem_kib = next((int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                    if l.startswith("MemTotal:")), 0)
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "mem_total_gib": round(mem_kib / 1024 ** 2, 1),
            "python": platform.python_version(), "faiss": faiss.__version__, "numpy": np.__version__,
            "affinity": len(os.sched_getaffinity(0)), "nice": os.nice(0)}


# ---- data ----------------------------------------------------------------------------------------

def _centres(rng, n: int, dim: int, points_per_cluster: int, shared: float) -> tuple[np.ndarray, np.ndarray]:
    """Cluster centres (random directions pulled towards one common direction) and each point's cluster."""
    k = max(1, n // points_per_cluster)
    common = rng.standard_normal(dim).astype(np.float32)
    common /= np.linalg.norm(common)
    centres = rng.standard_normal((k, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    centres += shared * common
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.lognormal(0.0, 1.0, k)
    return centres, rng.choice(k, n, p=weights / weights.sum())


def synthetic(n: int, dim: int, args) -> np.ndarray:
    """n unit vectors from a Gaussian mixture (see the module docstring).

    lowrank: each cluster spreads mostly along its own random --local-dim directions (norm --spread,
    scales j^-0.5) plus isotropic noise of norm --noise, so the local intrinsic dimension is low, as
    in real sentence embeddings. isotropic: noise of norm --sigma along all dim directions (scales
    j^-alpha in a random basis): a much higher local intrinsic dimension, a harder case."""
    rng = np.random.default_rng(args.seed)
    if args.generator == "isotropic":
        basis = np.linalg.qr(rng.standard_normal((dim, dim)))[0].astype(np.float32)
    centres, labels = _centres(rng, n, dim, args.points_per_cluster, args.shared)
    out = np.empty((n, dim), dtype=np.float32)
    if args.generator == "isotropic":
        scales = np.arange(1, dim + 1, dtype=np.float32) ** -args.alpha
        scales *= args.sigma / np.sqrt((scales ** 2).sum())
        for s in range(0, n, 100_000):
            e = min(n, s + 100_000)
            out[s:e] = (rng.standard_normal((e - s, dim), dtype=np.float32) * scales) @ basis
    else:
        r = args.local_dim
        scales = np.arange(1, r + 1, dtype=np.float32) ** -0.5
        scales *= args.spread / np.sqrt((scales ** 2).sum())
        out[:] = rng.standard_normal((n, dim), dtype=np.float32)
        out *= args.noise / np.sqrt(dim)
        order = np.argsort(labels, kind="stable")
        bounds = np.searchsorted(labels[order], np.arange(len(centres) + 1))
        for c in range(len(centres)):
            idx = order[bounds[c]:bounds[c + 1]]
            if len(idx):
                directions = rng.standard_normal((r, dim)).astype(np.float32) / np.sqrt(dim)
                out[idx] += (rng.standard_normal((len(idx), r), dtype=np.float32) * scales) @ directions
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        out[s:e] += centres[labels[s:e]]
        out[s:e] /= np.linalg.norm(out[s:e], axis=1, keepdims=True)
    return out


def local_intrinsic_dim(scores: np.ndarray) -> float:
    """Median maximum-likelihood local intrinsic dimension (Levina-Bickel) from each query's 20 nearest
    cosines: how hard approximate search is locally (real MiniLM embeddings of MedQuAD: about 10)."""
    d = np.sqrt(np.maximum(2 - 2 * scores[:, :20].astype(np.float64), 1e-12))
    return float(np.median(-1 / np.mean(np.log(d[:, :-1] / d[:, -1:]), axis=1)))


def medquad_vectors(index_dir: Path) -> tuple[np.ndarray, str]:
    version = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    path = index_dir / version / "embeddings.npy"
    return np.load(path, allow_pickle=False), str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)


# ---- measuring -----------------------------------------------------------------------------------

def serialized_bytes(index) -> int:
    import faiss

    with tempfile.NamedTemporaryFile(suffix=".faiss", dir=tempfile.gettempdir()) as fh:
        faiss.write_index(index, fh.name)
        return os.path.getsize(fh.name)


def time_queries(search, queries: np.ndarray, warmup: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(result ids of every query, per-query seconds): one query per call. secs has two columns: wall
    time, and CPU time of this thread (with one search thread FAISS works in the calling thread), which
    leaves out the time other processes on a shared machine take the CPU away."""
    for q in queries[:warmup]:
        search(q)
    ids = np.full((len(queries), K), -1, dtype=np.int64)
    secs = np.empty((len(queries), 2))
    for i, q in enumerate(queries):
        c, t = time.thread_time(), time.perf_counter()
        got = search(q)
        secs[i] = time.perf_counter() - t, time.thread_time() - c
        ids[i, :len(got)] = got[:K]
    return ids, secs


def recall(ids: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a[a >= 0].tolist()) & set(b.tolist())) / K for a, b in zip(ids, truth)]))


def row(method: str, params: str, build_s: float, build_cpu_s: float, nbytes: int | None, rss_mib: float | None,
        secs: np.ndarray, rec: float, n: int, dim: int, approximate: bool, note: str = "") -> dict:
    p50, p95 = (float(np.percentile(secs[:, 0], q) * 1000) for q in (50, 95))
    cpu_p95 = float(np.percentile(secs[:, 1], 95) * 1000)
    return {"method": method, "params": params, "build_s": build_s, "build_cpu_s": build_cpu_s, "index_bytes": nbytes,
            "build_rss_delta_mib": rss_mib,
            # the assistant keeps embeddings.npy in memory beside the FAISS index (and IVF-PQ re-scores from it)
            "app_ram_mib": None if nbytes is None else (nbytes + n * dim * 4) / 2 ** 20,
            "p50_ms": p50, "p95_ms": p95, "cpu_p95_ms": cpu_p95, "recall_at_10": rec, "queries_timed": len(secs),
            "meets_floor": (rec >= RECALL_FLOOR and p95 < P95_CEILING_MS) if approximate else None, "note": note}


def trim() -> None:
    """Collect garbage and hand freed heap memory back to the system, so RSS growth means new memory."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def built(fn):
    """(result, wall seconds, process CPU seconds, resident-memory growth in MiB) of building an index
    (earlier indexes stay alive)."""
    trim()
    rss = current_rss_mib()
    c, t = cpu_s(), time.perf_counter()
    out = fn()
    secs, cpu = time.perf_counter() - t, cpu_s() - c
    trim()
    return out, secs, cpu, current_rss_mib() - rss


def run(base: np.ndarray, queries: np.ndarray, args, label: str) -> dict:
    import faiss

    n, dim = base.shape
    rows: list[dict] = []
    hnsw = ivf = None  # every index stays alive to the end, so no build reuses another's freed memory
    faiss.omp_set_num_threads(args.build_threads)

    log(f"{label}: flat, n={n:,}")
    flat, t_flat, c_flat, rss_flat = built(lambda: _flat(base))
    truth_scores, truth = flat.search(queries, 2 * K)  # batched, exact: the ground truth
    truth = truth[:, :K]
    flat_bytes = serialized_bytes(flat)
    faiss.omp_set_num_threads(args.search_threads)
    lat_q = queries[:args.flat_latency_queries]
    ids, secs = time_queries(lambda q: flat.search(q[None], K)[1][0], lat_q)
    rows.append(row("flat", "IndexFlatIP", t_flat, c_flat, flat_bytes, rss_flat, secs, recall(ids, truth[:len(lat_q)]), n, dim,
                    False, f"latency over the first {len(lat_q)} queries"))
    log(f"  flat p95 {rows[-1]['p95_ms']:.2f} ms")

    if "hnsw" in args.methods:
        faiss.omp_set_num_threads(args.build_threads)
        log(f"{label}: HNSW M={args.hnsw_m} efConstruction={args.ef_construction}")

        def make_hnsw():
            ix = faiss.IndexHNSWFlat(dim, args.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            ix.hnsw.efConstruction = args.ef_construction
            ix.add(base)
            return ix

        hnsw, t_h, c_h, rss_h = built(make_hnsw)
        log(f"  built in {t_h:.1f} s ({c_h:.1f} CPU s)")
        h_bytes = serialized_bytes(hnsw)
        faiss.omp_set_num_threads(args.search_threads)
        for ef in args.ef_search:
            hnsw.hnsw.efSearch = ef
            ids, secs = time_queries(lambda q: hnsw.search(q[None], K)[1][0], queries)
            rows.append(row("hnsw", f"M={args.hnsw_m} efC={args.ef_construction} efSearch={ef}", t_h, c_h, h_bytes, rss_h,
                            secs, recall(ids, truth), n, dim, True))
            log(f"  efSearch={ef}: recall {rows[-1]['recall_at_10']:.4f} p95 {rows[-1]['p95_ms']:.2f} ms")
    if "ivfpq" in args.methods:
        faiss.omp_set_num_threads(args.build_threads)
        p = ivfpq_params(n, dim)
        p.update({k: v for k, v in (("nlist", args.nlist), ("m", args.pq_m), ("nbits", args.nbits)) if v})
        log(f"{label}: IVF-PQ {p}")
        trim()
        rss0, c0 = current_rss_mib(), cpu_s()
        t = time.perf_counter()
        ivf = _ivfpq_index(base, p)  # the assistant's index and training recipe
        t_train = time.perf_counter() - t
        t = time.perf_counter()
        ivf.add(base)
        t_add = time.perf_counter() - t
        trim()
        rss_i, c_ivf = current_rss_mib() - rss0, cpu_s() - c0
        t_ivf = t_train + t_add
        i_bytes = serialized_bytes(ivf)
        log(f"  trained in {t_train:.1f} s, added in {t_add:.1f} s, {i_bytes / 2 ** 20:.1f} MiB")
        faiss.omp_set_num_threads(args.search_threads)
        nprobes = args.nprobe or sorted({max(1, p["nlist"] // d) for d in (64, 32, 16, 8, 4)})
        for nprobe in nprobes:
            ivf.nprobe = nprobe
            for factor in args.rerank:
                if factor == 0:
                    def search(q):
                        return ivf.search(q[None], K)[1][0]
                else:
                    def search(q, c=K * factor):  # exactly as Index.dense_search
                        ids = ivf.search(q[None], c)[1][0]
                        ids = ids[ids >= 0]
                        exact = base[ids] @ q
                        return ids[np.argsort(-exact, kind="stable")[:K]]
                ids, secs = time_queries(search, queries)
                rows.append(row("ivfpq" if factor else "ivfpq (no rerank)",
                                f"nlist={p['nlist']} m={p['m']} nbits={p['nbits']} nprobe={nprobe} rerank={factor}",
                                t_ivf, c_ivf, i_bytes, rss_i, secs, recall(ids, truth), n, dim, True,
                                f"train {t_train:.1f} s + add {t_add:.1f} s"))
                log(f"  nprobe={nprobe} rerank={factor}: recall {rows[-1]['recall_at_10']:.4f} "
                    f"p95 {rows[-1]['p95_ms']:.2f} ms")
    flat_by_n = []
    for size in sorted({s for s in args.flat_sizes if 0 < s < n} | {n}):
        if size == n:
            f_ix = flat
        else:
            faiss.omp_set_num_threads(args.build_threads)
            f_ix = _flat(base[:size])
            faiss.omp_set_num_threads(args.search_threads)
        _, s_ = time_queries(lambda q: f_ix.search(q[None], K)[1][0], lat_q)
        flat_by_n.append({"n": size, "p50_ms": float(np.percentile(s_[:, 0], 50) * 1000),
                          "p95_ms": float(np.percentile(s_[:, 0], 95) * 1000),
                          "cpu_p95_ms": float(np.percentile(s_[:, 1], 95) * 1000), "queries_timed": len(lat_q)})
        log(f"  flat n={size:,} p95 {flat_by_n[-1]['p95_ms']:.2f} ms")
        del f_ix

    del flat, hnsw, ivf
    gc.collect()

    rng = np.random.default_rng(7)
    sample = base[rng.choice(n, min(n, 2000), replace=False)]
    return {
        "n": n, "dim": dim, "queries": len(queries),
        "data_stats": {"mean_cos_random_pair": float((queries[:500] @ sample.T).mean()),
                       "mean_cos_nn1": float(truth_scores[:, 0].mean()),
                       "mean_cos_nn10": float(truth_scores[:, K - 1].mean()),
                       "local_intrinsic_dim": local_intrinsic_dim(truth_scores)},
        "rows": rows, "flat_by_n": flat_by_n,
    }


def _flat(x: np.ndarray):
    import faiss

    ix = faiss.IndexFlatIP(x.shape[1])
    ix.add(x)
    return ix


# ---- output --------------------------------------------------------------------------------------

def _mib(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


HEADER = ("| Index | Parameters | Build s (CPU s) | Index MiB | RSS growth MiB | App RAM MiB | p50 ms | p95 ms "
          "| p95 CPU ms | Recall@10 | Floor |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
NOTES = ("Build: wall seconds (CPU seconds of the process; up to 2 per wall second with 2 threads). Index MiB: "
         "serialized FAISS index; RSS growth: resident memory added by the build. App RAM: index + the embeddings.npy "
         "matrix the assistant also keeps in memory (IVF-PQ re-scores its candidates from it). Latency: one query per "
         "call, after 20 warm-up queries (p95 CPU: CPU time of the searching thread, without the waits for the CPU "
         "that other work on the machine causes){flat}. Recall@10: share of the exact top 10 (flat) returned. Floor "
         "(approximate indexes): recall@10 ≥ 0.95 and p95 < 10 ms.")


def tables(key: str, r: dict) -> str:
    st, m = r["data_stats"], r["machine"]
    lines = [f"#### {r['title']}", "",
             f"{r['n']:,} vectors × {r['dim']}-d, {r['queries']:,} held-out queries, k=10; {r['data']}. "
             f"Mean cosine of random pairs {st['mean_cos_random_pair']:.2f}, of the nearest neighbour "
             f"{st['mean_cos_nn1']:.2f}, of the 10th {st['mean_cos_nn10']:.2f}; local intrinsic "
             f"dimension {st.get('local_intrinsic_dim', float('nan')):.1f}.", "", HEADER]
    for x in r["rows"]:
        floor = "–" if x["meets_floor"] is None else ("✅" if x["meets_floor"] else "❌")
        lines.append(f"| {x['method']} | {x['params']} | {x['build_s']:.1f} ({x['build_cpu_s']:.0f}) | "
                     f"{_mib(x['index_bytes'] / 2 ** 20)} | {_mib(x['build_rss_delta_mib'])} | {_mib(x['app_ram_mib'])} | "
                     f"{x['p50_ms']:.2f} | {x['p95_ms']:.2f} | {x['cpu_p95_ms']:.2f} | {x['recall_at_10']:.4f} | {floor} |")
    lines += ["", "Flat (exact) single-query latency by corpus size (prefixes of the same vectors):", "",
              "| Vectors | p50 ms | p95 ms | p95 CPU ms |", "| ---: | ---: | ---: | ---: |"]
    lines += [f"| {f['n']:,} | {f['p50_ms']:.2f} | {f['p95_ms']:.2f} | {f['cpu_p95_ms']:.2f} |" for f in r["flat_by_n"]]
    flat = (f"; flat over the first {r['flat_latency_queries']} queries"
            if r["flat_latency_queries"] < r["queries"] else "")
    lines += [""] + ([f"Note: {r['note']}  "] if r.get("note") else []) + [
        f"Command: `{r['command']}`  ",
        f"Machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total_gib']} GiB RAM, shared with other work "
        f"(load average {r['loadavg_before']} before, {r['loadavg_after']} after); faiss {m['faiss']}, "
        f"numpy {m['numpy']}; builds with {r['build_threads']} OpenMP threads, searches with "
        f"{r['search_threads']}; {r['date_utc']}, {r['total_s']:.0f} s in all.  ",
        NOTES.format(flat=flat), ""]
    return "\n".join(lines)


def write_outputs(key: str, result: dict, json_path: Path, md_path: Path, allow_dirty: bool = False) -> str:
    if not commit_info()["uncommitted"] or allow_dirty:
        result = {**result, "provenance": commit_info()}
    else:
        print(f"not writing {json_path} and {md_path}: uncommitted code (commit it, or pass --allow-dirty)")
        return tables(key, result)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    allres = json.loads(json_path.read_text(encoding="utf-8")) if json_path.is_file() else {}
    allres[key] = result
    order = lambda kv: (kv[0].startswith("medquad"), "isotropic" in kv[0], kv[1]["n"])  # noqa: E731
    allres = dict(sorted(allres.items(), key=order))
    json_path.write_text(json.dumps(allres, indent=1) + "\n", encoding="utf-8")
    block = "\n".join([MD_BEGIN, ""] + [tables(k, v) for k, v in allres.items()] + [MD_END])
    old = md_path.read_text(encoding="utf-8") if md_path.is_file() else ""
    if MD_BEGIN in old and MD_END in old:
        new = old[:old.index(MD_BEGIN)] + block + old[old.index(MD_END) + len(MD_END):]
    else:
        new = (old + "\n\n" if old else "") + block + "\n"
    md_path.write_text(new, encoding="utf-8")
    return tables(key, result)


def ints(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    import faiss

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=lambda s: int(float(s.replace("_", ""))), default=1_000_000, help="synthetic vectors")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000, help="held-out queries")
    ap.add_argument("--medquad", nargs="?", const=str(REPO_ROOT / "data" / "medquad_beir" / "index"), default=None,
                    metavar="INDEX_DIR", help="use the embeddings of an index folder instead of synthetic vectors")
    ap.add_argument("--generator", choices=("lowrank", "isotropic"), default="lowrank")
    ap.add_argument("--points-per-cluster", type=int, default=100)
    ap.add_argument("--shared", type=float, default=0.7, help="pull of the centres towards a common direction")
    ap.add_argument("--local-dim", type=int, default=16, help="lowrank: directions each cluster spreads along")
    ap.add_argument("--spread", type=float, default=1.0, help="lowrank: spread norm relative to a unit centre")
    ap.add_argument("--noise", type=float, default=0.3, help="lowrank: isotropic noise norm")
    ap.add_argument("--sigma", type=float, default=0.9, help="isotropic: noise norm relative to a unit centre")
    ap.add_argument("--alpha", type=float, default=0.5, help="isotropic: noise spectrum decay j^-alpha")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--methods", default="flat,hnsw,ivfpq")
    ap.add_argument("--hnsw-m", type=int, default=HNSW_M)
    ap.add_argument("--ef-construction", type=int, default=HNSW_EF_CONSTRUCTION)
    ap.add_argument("--ef-search", type=ints, default=sorted({32, 64, HNSW_EF_SEARCH, 256}))
    ap.add_argument("--nlist", type=int, default=0, help="IVF lists (default: the assistant's rule)")
    ap.add_argument("--pq-m", type=int, default=0)
    ap.add_argument("--nbits", type=int, default=0)
    ap.add_argument("--nprobe", type=ints, default=[], help="default: nlist/64 ... nlist/4")
    ap.add_argument("--rerank", type=ints, default=sorted({0, IVFPQ_RERANK, 3 * IVFPQ_RERANK}),
                    help="candidates re-scored exactly, as a multiple of k (0: bare PQ scores)")
    ap.add_argument("--flat-sizes", type=ints, default=[10_000, 25_000, 50_000, 100_000, 250_000, 500_000])
    ap.add_argument("--flat-latency-queries", type=int, default=200)
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--search-threads", type=int, default=1)
    ap.add_argument("--json", default=str(RESULTS / "index_scale.json"))
    ap.add_argument("--md", default=str(RESULTS / "index_scale.md"))
    ap.add_argument("--allow-dirty", action="store_true",
                    help="write the results file even with uncommitted code (the file names the paths)")
    args = ap.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",")]
    command = shlex.join(["nice", "-n", str(os.nice(0))] * (os.nice(0) > 0)
                         + [sys.executable if not sys.executable.startswith(str(REPO_ROOT))
                            else os.path.relpath(sys.executable, REPO_ROOT)]
                         + [os.path.relpath(__file__, REPO_ROOT)] + sys.argv[1:])
    t0 = time.perf_counter()
    load_before = [round(x, 2) for x in os.getloadavg()]
    rng = np.random.default_rng(args.seed + 1)
    if args.medquad:
        vecs, source = medquad_vectors(Path(args.medquad))
        held = np.zeros(len(vecs), dtype=bool)
        held[rng.choice(len(vecs), args.queries, replace=False)] = True
        base, queries = np.ascontiguousarray(vecs[~held]), np.ascontiguousarray(vecs[held])
        key, title = "medquad", f"MedQuAD chunk embeddings ({len(vecs):,} all-MiniLM-L6-v2 vectors)"
        data = f"real embeddings from {source}, queries = {args.queries} chunk vectors held out of the index"
    else:
        log(f"generating {args.n + args.queries:,} vectors")
        vecs = synthetic(args.n + args.queries, args.dim, args)
        perm = rng.permutation(len(vecs))
        base, queries = vecs[np.sort(perm[args.queries:])], vecs[np.sort(perm[:args.queries])]
        del vecs
        key, title = f"synthetic_{args.generator}_{args.n}", f"Synthetic ({args.generator}), {args.n:,} vectors"
        shape = (f"local dimension {args.local_dim}, spread {args.spread}, noise {args.noise}"
                 if args.generator == "lowrank" else f"sigma {args.sigma}, spectrum j^-{args.alpha}")
        data = (f"clustered synthetic (Gaussian mixture of {(args.n + args.queries) // args.points_per_cluster:,} "
                f"clusters, {args.generator}: {shape}, shared direction {args.shared}, seed {args.seed}, unit length)")
    result = run(base, queries, args, key)
    result.update({
        "title": title, "data": data, "benchmark": "index_scale", "command": command,
        "date_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(), "build_threads": args.build_threads, "search_threads": args.search_threads,
        "flat_latency_queries": min(args.flat_latency_queries, args.queries),
        "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "total_s": time.perf_counter() - t0,
        "floor": {"recall_at_10": RECALL_FLOOR, "p95_ms_below": P95_CEILING_MS},
    })
    print()
    print(write_outputs(key, result, Path(args.json), Path(args.md), args.allow_dirty))
    ok = [x for x in result["rows"] if x["meets_floor"]]
    for method in ("hnsw", "ivfpq"):
        best = min((x for x in ok if x["method"] == method), key=lambda x: x["p95_ms"], default=None)
        print(f"Fastest {method} meeting the floor: " + (f"{best['params']} (recall@10 {best['recall_at_10']:.4f}, "
              f"p95 {best['p95_ms']:.2f} ms)" if best else "none"))
    print(f"Results: {args.json}, {args.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
