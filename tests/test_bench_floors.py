"""benchmarks/bench.py's floors and table, on a made-up result (no benchmark is run): each floor of issue 13
is checked on the default configuration, p50 and p95 on both corpora, and a missed one is named."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import bench  # noqa: E402


def warm(ours50, ours95, stock50, stock95) -> dict:
    return {"ours_p50_ms": ours50, "ours_p95_ms": ours95, "stock_p50_ms": stock50, "stock_p95_ms": stock95,
            "stock_onnx_p50_ms": 4.0, "stock_onnx_p95_ms": 6.0, "our_chunks": 100}


def result(**over) -> dict:
    r = {"warm_ask": {"shipped": warm(8.0, 12.0, 10.0, 14.0), "medquad": warm(20.0, 30.0, 25.0, 30.0),
                      "stock_info": {"stock": {"chunks": 12}}},
         "medquad_index": {"documents": 1000, "subset": True},
         "build": {"documents": 200, "build_chunks_per_s": 9.0, "raw_chunks_per_s": 10.0},
         "cold": {"ours_median_s": 2.0, "stock_median_s": 7.0, "stock_onnx_median_s": 1.4,
                  "stock_vmhwm_mib_shipped": 500.0, "stock_vmhwm_mib_medquad": 520.0},
         "app": {"healthy_median_s": 8.0, "vmhwm_mib_shipped": 400.0, "vmhwm_mib_medquad": 600.0,
                 "levels": [{"clients": 8, "requests_per_s": 80.0, "p50_ms": 90.0, "p95_ms": 150.0, "errors": 0}]}}
    for path, value in over.items():
        *keys, last = path.split("__")
        d = r
        for k in keys:
            d = d[k]
        d[last] = value
    return r


def missed(r: dict) -> list[str]:
    return [row["figure"] for row in bench.rows_from(r) if row["ok"] is False]


def test_all_floors_met():
    rows = bench.rows_from(result())
    assert missed(result()) == []
    floors = [row["figure"] for row in rows if row["floor"]]
    assert sum("warm ask p50" in f for f in floors) == 2 and sum("warm ask p95" in f for f in floors) == 2
    assert any("default settings" in f for f in floors) and any("cold" in f for f in floors)


@pytest.mark.parametrize("over, figure", [
    ({"warm_ask__shipped": warm(10.5, 12.0, 10.0, 14.0)}, "warm ask p50, shipped"),
    ({"warm_ask__medquad": warm(20.0, 46.0, 25.0, 30.0)}, "warm ask p95, MedQuAD"),
    ({"cold__ours_median_s": 2.6}, "cold `assistant ask`"),
    ({"build__build_chunks_per_s": 4.0}, "index build, default settings"),
    ({"app__levels": [{"clients": 8, "requests_per_s": 80.0, "p50_ms": 90.0, "p95_ms": 150.0, "errors": 3}]},
     "HTTP /api/ask 8 clients"),
])
def test_a_missed_floor_is_named(over, figure):
    got = missed(result(**over))
    assert len(got) >= 1 and all(figure in g for g in got[:1]), got


def test_table_shows_both_ratios():
    tab = bench.table(bench.rows_from(result()))
    line = next(l for l in tab.splitlines() if l.startswith("| warm ask p50, shipped"))
    assert "0.800×" in line and "2.000×" in line  # 8/10 vs the stock stack, 8/4 vs it on our ONNX encoder
