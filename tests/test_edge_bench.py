"""edge-bench's measurements at toy sizes: the figures come out, with the keys their
readers use (edge/cli_bench.py, edge/bench_plots.py, benchmarks/report.py and plots.py,
benchmarks/gallery_match.py); accuracy on real ORL faces cut out as edge-enroll would."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edge.bench import gallery_latency
from edge.bundle import load_bundle
from edge.cli_bench import _thumbnails
from edge.cli_bench import main as bench_main
from edge.enrolment import snapshot_of
from tests.conftest import ROOT
from tests.edge_support import BUNDLE, ENV, orl, write

pytestmark = pytest.mark.edge

LATENCY = ("warmup", "runs", "min", "mean", "p50", "p95", "p99")


def test_gallery_latency_fills_times_and_measures_the_file():
    r = gallery_latency(50, 16, warmup=2, runs=20, checks=10)
    assert (r["stored"], r["dim"], r["warmup"], r["runs"]) == (50, 16, 2, 20)
    assert 0 < r["min"] <= r["p50"] <= r["p95"] <= r["p99"]
    assert r["fill_s"] > 0 and r["load_s"] > 0 and r["check_us"] > 0
    assert r["db_mb"] > r["matrix_mb"] == 50 * 16 * 4 / 1e6   # vectors, names, thumbnails
    # all threads' CPU time over wall time: up to the cores when BLAS threads work or spin
    assert 0 < r["cpu_share"] < (os.cpu_count() or 1) + 0.5


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


# -- accuracy on a labelled folder: faces cut out as edge-enroll would ---------------------

@pytest.fixture(scope="module")
def bundle():
    return load_bundle(BUNDLE)


def blurred(face):
    return cv2.GaussianBlur(face, (0, 0), 4)


def small(face):
    tiny = cv2.resize(face, (round(30 * 92 / 112), 30), interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(tiny, 40, 40, 40, 40, cv2.BORDER_REPLICATE)


BLANK = np.full((240, 240, 3), 128, np.uint8)


def test_thumbnails_are_enrolment_snapshots_and_refusals_are_counted(bundle):
    labelled = {"s1": [orl(1, 1), orl(1, 2), orl(1, 3), blurred(orl(1, 1)), small(orl(1, 1))],
                "s5": [orl(5, 1), orl(5, 2), np.hstack([orl(1, 1), orl(5, 1)]), BLANK]}
    thumbs, labels, skipped = _thumbnails(bundle, labelled, aligned=False)
    assert labels.tolist() == [0, 0, 0, 1, 1]
    assert skipped == {"face too blurred": 1, "face too small": 1, "several faces": 1,
                       "no face": 1}
    same = snapshot_of(orl(1, 1), bundle.detector(2)).thumbnail
    assert np.array_equal(thumbs[0], same)                # exactly what edge-enroll stores


def bench(*args):
    return CliRunner().invoke(bench_main, ["--bundle", BUNDLE, "--skip",
                                           "embed,detector,pipeline,gallery", *map(str, args)])


def test_edge_bench_reports_skipped_photos_and_measures_the_rest(tmp_path):
    for person, photos in (("s1", [orl(1, 1), orl(1, 2), orl(1, 3), blurred(orl(1, 4))]),
                           ("s5", [orl(5, 1), orl(5, 2), BLANK])):
        for i, image in enumerate(photos):
            write(tmp_path / "faces" / person / f"{i}.png", image)
    result = bench("--faces", tmp_path / "faces", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert ("accuracy on 5 faces of 2 people (2 photos skipped (edge-enroll would refuse "
            "them: 1 face too blurred, 1 no face)), 2-way one-shot") in result.output
    report = json.loads((tmp_path / "out" / "bench.json").read_text())
    (entry,) = report["bundles"].values()
    for variant, acc in entry["accuracy"].items():
        assert acc["faces"] == 5, variant
        assert acc["skipped"] == {"face too blurred": 1, "no face": 1}
        assert 0 <= acc["one_shot"]["accuracy"] <= 1


def test_edge_bench_without_two_usable_faces_a_person_skips_accuracy(tmp_path):
    for person in (1, 5):
        write(tmp_path / "faces" / f"s{person}" / "1.png", orl(person, 1))
        write(tmp_path / "faces" / f"s{person}" / "2.png", BLANK)
    result = bench("--faces", tmp_path / "faces", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "2 photos skipped (edge-enroll would refuse them: 2 no face)" in result.output
    assert "accuracy skipped: fewer than two people with two usable faces" in result.output
    assert "Traceback" not in result.output
