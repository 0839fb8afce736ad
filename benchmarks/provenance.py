"""Where a benchmark's numbers come from: every results file records the commit it measured, and is
written only when the code it measures is committed (no uncommitted change under assistant/, assistant/prompts/,
benchmarks/, app.py or pyproject.toml). From a dirty tree the numbers are printed, not saved, unless
--allow-dirty is given, in which case the file says which paths were uncommitted. `paths=None` checks the
whole tree (tracked changes and untracked files that are not ignored), as `make bench` does.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CODE_PATHS = ("assistant", "benchmarks", "app.py", "pyproject.toml")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def commit_info(paths: tuple[str, ...] | None = CODE_PATHS) -> dict:
    """The measured commit and the paths with uncommitted changes (results files excepted): under `paths`,
    or anywhere in the tree when paths is None."""
    dirty = [line[3:] for line in _git("status", "--porcelain", "--", *(paths or ())).splitlines()
             if not line[3:].startswith("benchmarks/results/")]
    return {"commit": _git("rev-parse", "--short", "HEAD").strip() or None, "uncommitted": dirty}


def write_result(path: str | Path, data: dict | str, allow_dirty: bool = False,
                 paths: tuple[str, ...] | None = CODE_PATHS) -> bool:
    """Write a results file (JSON for a dict, text otherwise) stamped with the commit; refuse from a dirty
    tree (under `paths`; None: the whole tree) unless allow_dirty. Returns whether it was written."""
    info = commit_info(paths)
    if info["uncommitted"] and not allow_dirty:
        print(f"not writing {path}: uncommitted changes in {', '.join(info['uncommitted'][:5])} "
              "(commit them, or pass --allow-dirty)")
        return False
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, dict):
        data = {"provenance": info, **data}
        path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    else:
        stamp = f"\n\n_Measured at commit {info['commit']}" + (
            f" with uncommitted changes in {', '.join(info['uncommitted'])}_" if info["uncommitted"] else "_") + "\n"
        path.write_text(data.rstrip("\n") + stamp, encoding="utf-8")
    return True
