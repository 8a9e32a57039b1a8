"""edge-bench's measurements at toy sizes: the figures come out, with the keys their
readers use (edge/cli_bench.py, edge/bench_plots.py, benchmarks/report.py and plots.py,
benchmarks/gallery_match.py)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from edge.bench import gallery_latency
from tests.conftest import ROOT
from tests.edge_support import ENV

pytestmark = pytest.mark.edge

LATENCY = ("warmup", "runs", "min", "mean", "p50", "p95", "p99")


def test_gallery_latency_fills_times_and_measures_the_file():
    r = gallery_latency(50, 16, warmup=2, runs=20, checks=10)
    assert (r["stored"], r["dim"], r["warmup"], r["runs"]) == (50, 16, 2, 20)
    assert 0 < r["min"] <= r["p50"] <= r["p95"] <= r["p99"]
    assert r["fill_s"] > 0 and r["load_s"] > 0 and r["check_us"] > 0
    assert r["db_mb"] > r["matrix_mb"] == 50 * 16 * 4 / 1e6   # vectors, names, thumbnails
    assert 0 < r["cpu_share"] < 1.5                           # CPU time over wall time


def test_gallery_match_script_is_a_caller_of_gallery_latency():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gallery_match.py"),
                          "--sizes", "10,100", "--dims", "16", "--warmup", "2", "--runs", "10"],
                         capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    rows = [line.split() for line in run.stdout.splitlines() if line.startswith("  16")]
    assert [row[1] for row in rows] == ["10", "100"]
    assert all(len(row) == 11 for row in rows)              # every column filled
    assert "dim 16: p50 grows 10->100" in run.stdout
    assert "change check alone (PRAGMA data_version)" in run.stdout
