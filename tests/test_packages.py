"""What the installed packages (train, convert, edge, gallery) may not hold: a path to
the shared data (commands take it as --data; the Makefile and benchmarks/ give it), or a
second definition of a figure that has one home (IoU in edge.track, latency in
edge.timing, the recognition figures in edge.metrics)."""
from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

PACKAGES = ("train", "convert", "edge", "gallery")
ONE_HOME = {"iou": "edge/track.py", "time_calls": "edge/timing.py",
            "one_shot": "edge/metrics.py", "n_way_for": "edge/metrics.py",
            "verification": "edge/metrics.py", "lab_scores": "edge/metrics.py",
            "open_set": "edge/metrics.py", "identification_shares": "edge/metrics.py"}


def _sources(*folders):
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text()


def test_installed_packages_name_no_data_folder():
    found = [f"{name}:{i}" for name, text in _sources(*PACKAGES)
             for i, line in enumerate(text.splitlines(), 1)
             if re.search(r"shared/data|\.\./shared|[\"']shared[\"']", line)]
    assert not found, f"a path to the shared data inside a package: {found}"


def test_each_figure_is_defined_once():
    where = {}
    for name, text in _sources(*PACKAGES, "benchmarks"):
        for node in ast.parse(text).body:
            if isinstance(node, ast.FunctionDef) and node.name in ONE_HOME:
                where.setdefault(node.name, []).append(name)
    assert where == {k: [v] for k, v in ONE_HOME.items()}
