"""HTTP load on `POST /api/ask`: N concurrent clients, each asking different questions, against the real app.

Each client is a thread with its own keep-alive httpx connection, cycling through evals/questions.jsonl
(with their histories) from its own starting point. By default every question is sent with a random
mix of letter case: the model and the lexical side are case-blind, so the answer is the same, but the
app's query-vector cache misses, as it would for the varied wording of real patients (--no-vary to send
the questions verbatim). The app is started here via tests/appserver.running_app (rate limit off)
unless --url names one already running.

Usage:
  python benchmarks/http_load.py [--clients 1,8,16,32] [--seconds 20 | --requests 400] [--url URL]
  python benchmarks/http_load.py --soak [--seconds 180] [--interval 15]     # 32 clients, latency over time

Prints requests/s, p50/p95/p99 and errors per client count; writes benchmarks/results/http_load.json
(http_load_soak.json for --soak).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from pathlib import Path

from provenance import write_result  # noqa: E402 - benchmarks/ is the script's folder

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "tests"))
RESULTS = REPO_ROOT / "benchmarks" / "results"
FLOORS_P95_MS = {8: 300.0, 16: 500.0}


def load_questions(path: Path) -> list[dict]:
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{"question": c["question"], "history": c.get("history") or []} for c in cases]


def vary(text: str, rng: random.Random) -> str:
    """The same question in a random mix of letter case (a cache miss, the same answer)."""
    return "".join(ch.upper() if ch.isalpha() and rng.random() < 0.3 else ch for ch in text)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Run:
    """One load level: `clients` threads asking until the deadline or the request budget is spent."""

    def __init__(self, url: str, questions: list[dict], clients: int, seconds: float | None, requests: int | None,
                 verbatim: bool, seed: int = 13):
        self.url, self.questions, self.clients = url.rstrip("/") + "/api/ask", questions, clients
        self.seconds, self.requests, self.verbatim, self.seed = seconds, requests, verbatim, seed
        self.samples: list[tuple[float, float, bool]] = []  # (finished at, latency ms, ok)
        self.errors: dict[str, int] = {}
        self._lock = threading.Lock()
        self._issued = 0

    def _take(self) -> bool:
        with self._lock:
            if self.requests is not None and self._issued >= self.requests:
                return False
            self._issued += 1
            return True

    def _client(self, i: int, start: float, deadline: float) -> None:
        rng = random.Random(self.seed * 1000 + i)
        pos = (i * len(self.questions)) // max(1, self.clients)  # different questions per client
        with httpx.Client(timeout=60) as http:
            while time.perf_counter() < deadline and self._take():
                case = self.questions[pos % len(self.questions)]
                pos += 1
                body = case if self.verbatim else {"question": vary(case["question"], rng), "history": case["history"]}
                t = time.perf_counter()
                try:
                    r = http.post(self.url, json=body)
                    ok = r.status_code == 200 and r.json().get("route") is not None
                    why = None if ok else f"HTTP {r.status_code}"
                except Exception as exc:  # noqa: BLE001 - counted, not raised: the run goes on
                    ok, why = False, type(exc).__name__
                done = time.perf_counter()
                with self._lock:
                    self.samples.append((done - start, (done - t) * 1000, ok))
                    if why:
                        self.errors[why] = self.errors.get(why, 0) + 1

    def go(self) -> dict:
        start = time.perf_counter()
        deadline = start + (self.seconds if self.seconds is not None else 3600)
        threads = [threading.Thread(target=self._client, args=(i, start, deadline), daemon=True)
                   for i in range(self.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        return summarise(self.samples, elapsed, self.clients, self.errors)


def summarise(samples: list[tuple[float, float, bool]], elapsed: float, clients: int, errors: dict) -> dict:
    lat = [ms for _, ms, ok in samples if ok]
    return {"clients": clients, "requests": len(samples), "seconds": round(elapsed, 2),
            "requests_per_s": round(len(samples) / elapsed, 2) if elapsed else 0.0,
            "p50_ms": round(percentile(lat, 0.50), 1), "p95_ms": round(percentile(lat, 0.95), 1),
            "p99_ms": round(percentile(lat, 0.99), 1), "max_ms": round(max(lat), 1) if lat else None,
            "mean_ms": round(statistics.fmean(lat), 1) if lat else None,
            "errors": sum(1 for *_, ok in samples if not ok), "error_kinds": errors}


def server_rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def machine(url: str) -> dict:
    try:
        health = httpx.get(url.rstrip("/") + "/healthz", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        health = {}
    def git(*cmd: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(REPO_ROOT), *cmd], capture_output=True, text=True,
                                  timeout=10).stdout.rstrip()
        except OSError:
            return ""

    # Uncommitted changes to the code under test (a URL given here may of course run something else).
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "assistant", "app.py").splitlines()]
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted": dirty, "index": health.get("index")}


def print_row(row: dict) -> None:
    kinds = f" ({', '.join(f'{k}: {v}' for k, v in row['error_kinds'].items())})" if row["error_kinds"] else ""
    print(f"{row['clients']:>7} {row['requests']:>8} {row['requests_per_s']:>8.1f} {row['p50_ms']:>8.1f} "
          f"{row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['errors']:>6}{kinds}", flush=True)


def warm(url: str, questions: list[dict], n: int = 10) -> None:
    with httpx.Client(timeout=60) as http:
        for case in questions[:n]:
            http.post(url.rstrip("/") + "/api/ask", json=case)


def load(url: str, questions: list[dict], args) -> dict:
    print(f"POST {url}/api/ask, {len(questions)} questions, "
          f"{'verbatim' if args.no_vary else 'letter case varied (cache misses)'}; "
          + (f"{args.requests} requests" if args.requests else f"{args.seconds:g} s") + " per level", flush=True)
    print(f"{'clients':>7} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
    rows = []
    for n in args.clients:
        row = Run(url, questions, n, None if args.requests else args.seconds, args.requests, args.no_vary).go()
        print_row(row)
        rows.append(row)
    floors = {f"p95_ms@{n}": {"floor": floor, "measured": r["p95_ms"], "ok": r["p95_ms"] < floor and r["errors"] == 0}
              for n, floor in FLOORS_P95_MS.items() for r in rows if r["clients"] == n}
    for name, f in floors.items():
        print(f"{name}: {f['measured']} ms (floor {f['floor']:g} ms, no errors) {'OK' if f['ok'] else 'MISSED'}")
    return {"mode": "levels", "url_kind": "given" if args.url else "started here", "varied": not args.no_vary,
            "per_level": {"seconds": None if args.requests else args.seconds, "requests": args.requests},
            "levels": rows, "floors": floors}


def soak(url: str, questions: list[dict], args, pid: int | None) -> dict:
    clients = args.clients[-1] if args.clients_given else 32
    print(f"Soak: {clients} clients for {args.seconds:g} s on {url}/api/ask, report every {args.interval:g} s",
          flush=True)
    run = Run(url, questions, clients, args.seconds, None, args.no_vary)
    worker = threading.Thread(target=run.go, daemon=True)
    t0 = time.perf_counter()
    worker.start()
    print(f"{'t (s)':>6} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6} {'rss MB':>7}")
    windows = []
    for k in range(math.ceil(args.seconds / args.interval)):
        lo, hi = k * args.interval, min((k + 1) * args.interval, args.seconds)
        time.sleep(max(0.0, t0 + hi - time.perf_counter()))
        if hi >= args.seconds:
            worker.join()  # the last window takes the requests still in flight at the deadline
        with run._lock:
            chunk = [x for x in run.samples if lo <= x[0] < hi or (hi >= args.seconds and x[0] >= hi)]
        w = summarise(chunk, hi - lo, clients, {})
        row = {"t_end_s": round(hi, 1), **{key: w[key] for key in (
            "requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms", "errors")},
               "server_rss_mb": server_rss_mb(pid)}
        windows.append(row)
        print(f"{row['t_end_s']:>6.0f} {row['requests']:>8} {row['requests_per_s']:>8.1f} {row['p50_ms']:>8.1f} "
              f"{row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['errors']:>6} {row['server_rss_mb'] or '-':>7}",
              flush=True)
    worker.join()
    total = summarise(run.samples, time.perf_counter() - t0, clients, run.errors)
    print(f"total: {total['requests']} requests, {total['requests_per_s']} req/s, p50 {total['p50_ms']} ms, "
          f"p95 {total['p95_ms']} ms, p99 {total['p99_ms']} ms, max {total['max_ms']} ms, errors {total['errors']}"
          + (f" {total['error_kinds']}" if total["error_kinds"] else ""), flush=True)
    return {"mode": "soak", "clients": clients, "seconds": args.seconds, "interval_s": args.interval,
            "varied": not args.no_vary, "total": total, "windows": windows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an app already running (its rate limit must be off); default: start one here")
    ap.add_argument("--clients", default=None, help="comma-separated client counts (default 1,8,16,32)")
    ap.add_argument("--seconds", type=float, default=None, help="per level (default 20), or the soak length (180)")
    ap.add_argument("--requests", type=int, default=None, help="per level, instead of --seconds")
    ap.add_argument("--soak", action="store_true", help="32 clients for --seconds, latency and errors over time")
    ap.add_argument("--interval", type=float, default=15.0, help="soak report interval in seconds")
    ap.add_argument("--questions", default=str(REPO_ROOT / "evals" / "questions.jsonl"))
    ap.add_argument("--index", default=str(REPO_ROOT / "index"), help="index the started app serves")
    ap.add_argument("--no-vary", action="store_true", help="send the questions verbatim (query-vector cache hits)")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the started app, e.g. ASSISTANT_APP_CONCURRENCY=32")
    ap.add_argument("--out", default=None, help="result file (default benchmarks/results/http_load[_soak].json)")
    ap.add_argument("--allow-dirty", action="store_true",
                    help="write the results file even with uncommitted code (the file names the paths)")
    args = ap.parse_args(argv)
    args.clients_given = args.clients is not None
    args.clients = [int(x) for x in (args.clients or "1,8,16,32").split(",") if x.strip()]
    if args.seconds is None:
        args.seconds = 180.0 if args.soak else 20.0
    questions = load_questions(Path(args.questions))
    out = Path(args.out) if args.out else RESULTS / ("http_load_soak.json" if args.soak else "http_load.json")

    with ExitStack() as stack:
        pid = None
        if args.url:
            url = args.url.rstrip("/")
        else:
            from appserver import running_app

            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="http-load-")))
            env = dict(e.split("=", 1) for e in args.env)
            print(f"Starting app.py on the index {args.index} ...", flush=True)
            url, proc, _ = stack.enter_context(running_app(tmp, index_dir=Path(args.index), env=env))
            pid = proc.pid
        warm(url, questions)
        load_before = [round(x, 2) for x in os.getloadavg()]
        result = soak(url, questions, args, pid) if args.soak else load(url, questions, args)
        result["machine"] = machine(url)
        # Other work on the machine skews every figure: the 1/5/15-minute load averages around the run.
        result["machine"]["loadavg_before"] = load_before
        result["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
        print(f"load average before {load_before}, after {result['machine']['loadavg_after']} "
              f"({os.cpu_count()} cpus)")
        result["app_env"] = dict(e.split("=", 1) for e in args.env)
        result["recorded_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_result(out, result, args.allow_dirty)
    print(f"wrote {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}")
    bad = result.get("total", {}).get("errors", 0) if args.soak else sum(r["errors"] for r in result["levels"])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
