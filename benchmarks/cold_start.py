"""Cold `assistant ask`: wall time of a fresh process from start to exit, index already built.

Each run is a new `assistant ask QUESTION` subprocess (imports, index and model load, triage with
its emergency exemplars, retrieval, answer, exit). Query encoders are interleaved run by run so a
busy machine slows both alike; one untimed run of each first makes sure the ONNX export exists and
the files are in the page cache (a cold process, not a cold disk). Also timed: `import assistant`
alone, the floor that no encoder choice changes. The answers of both encoders must be identical.
Medians are quoted; the issue's target is under 4 s wall for the default (onnx). CPU seconds (user +
system of the child) are recorded too: on a shared machine wall time stretches with the load, CPU
time much less so (it can exceed wall time where a library runs threads).

Usage: python benchmarks/cold_start.py [--index index] [--runs 5] [--encoders onnx torch]
Writes benchmarks/results/cold_start.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from provenance import write_result  # noqa: E402 - benchmarks/ is the script's folder

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 4.0


def assistant_command() -> list[str]:
    """The installed `assistant` script beside this Python, else `python -m assistant.cli`."""
    script = Path(sys.executable).with_name("assistant")
    if script.is_file():
        return [str(script)]
    found = shutil.which("assistant")
    return [found] if found else [sys.executable, "-m", "assistant.cli"]


def shown(part: str) -> str:
    """A command word as recorded: paths inside the repository made relative to it."""
    try:
        return str(Path(part).relative_to(REPO_ROOT))
    except ValueError:
        return part


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, stdout) of one subprocess."""
    c, t = cpu_children(), time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=600)
    seconds, cpu = time.perf_counter() - t, cpu_children() - c
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    return seconds, cpu, out.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default="index")
    ap.add_argument("--question", default="How many sessions are needed?")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--encoders", nargs="+", default=["onnx", "torch"], choices=("onnx", "torch"))
    ap.add_argument("--out", default="benchmarks/results/cold_start.json")
    ap.add_argument("--allow-dirty", action="store_true",
                    help="write the results file even with uncommitted code (the file names the paths)")
    args = ap.parse_args()
    if not (REPO_ROOT / args.index / "CURRENT").is_file() and not (Path(args.index) / "CURRENT").is_file():
        sys.exit(f"No index at {args.index}/. Run `assistant index` first.")
    ask = assistant_command() + ["ask", "--index", args.index, args.question]
    base_env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_QUERY_ENCODER"}
    envs = {enc: base_env | {"ASSISTANT_QUERY_ENCODER": enc} for enc in args.encoders}
    imports = [sys.executable, "-c", "import assistant"]

    answers = {enc: timed_run(ask, env)[2] for enc, env in envs.items()}  # warm-up; makes the export
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {enc: [] for enc in envs}
    cpus: dict[str, list[float]] = {enc: [] for enc in envs}
    import_times: list[float] = []
    for _ in range(args.runs):
        for enc, env in envs.items():
            seconds, cpu, out = timed_run(ask, env)
            if out != answers[enc]:
                sys.exit(f"The {enc} answer changed between runs:\n{answers[enc]}\n---\n{out}")
            times[enc].append(seconds)
            cpus[enc].append(cpu)
        import_times.append(timed_run(imports, base_env)[0])
    load_after = os.getloadavg()
    same = len(set(answers.values())) == 1

    result = {
        "question": args.question, "runs": args.runs, "command": " ".join(shown(c) for c in ask),
        "target_s": TARGET_S,
        "encoders": {enc: {"median_s": round(statistics.median(ts), 3), "min_s": round(min(ts), 3),
                           "max_s": round(max(ts), 3), "runs_s": [round(t, 3) for t in ts],
                           "cpu_median_s": round(statistics.median(cpus[enc]), 3)}
                     for enc, ts in times.items()},
        "import_assistant_median_s": round(statistics.median(import_times), 3),
        "identical_answers": same,
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    out = REPO_ROOT / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    write_result(out, result, args.allow_dirty)

    print(f"cold `assistant ask` wall time, {args.runs} runs each (index {args.index}/, load average "
          f"{load_before[0]:.1f} -> {load_after[0]:.1f} on {os.cpu_count()} cores)")
    print("| query encoder | median wall s | min s | max s | median CPU s |")
    print("| --- | --- | --- | --- | --- |")
    for enc, r in result["encoders"].items():
        print(f"| {enc} | {r['median_s']} | {r['min_s']} | {r['max_s']} | {r['cpu_median_s']} |")
    print(f"| (`import assistant` alone) | {result['import_assistant_median_s']} | | | |")
    print(f"identical answers across encoders: {same}")
    if args.encoders[0] != "torch":
        ours = result["encoders"][args.encoders[0]]["median_s"]
        print(f"{args.encoders[0]} median {ours} s: {'under' if ours < TARGET_S else 'NOT under'} the {TARGET_S} s target")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
