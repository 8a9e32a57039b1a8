"""pytest plugin for the device run (``-p pytest_device``): the edge and gallery tests only.

Keeps the tests marked ``edge`` and every test in ``tests/test_gallery_*.py``, and
deselects the rest. A device has no TensorFlow: a test module or a fixture that imports
a package outside the device install (tensorflow, mtcnn, tqdm, scikit-image, ...) is
reported as skipped with that reason instead of as an error, and those skips are
counted at the end so nothing disappears silently. A missing device package (numpy,
OpenCV, the interpreter, click, platformdirs) and every other failure stay failures.
"""
from __future__ import annotations

import re

import pytest

DEVICE = {"numpy", "cv2", "click", "platformdirs", "ai_edge_litert", "tflite_runtime",
          "edge", "gallery", "tests", "pytest", "_pytest"}
_skipped: dict[str, int] = {}


def _outside(name: str | None) -> str | None:
    top = (name or "").split(".")[0]
    return top if top and top not in DEVICE else None


def _workstation_module(excinfo) -> str | None:
    exc = getattr(excinfo, "value", None)
    while exc is not None:
        if isinstance(exc, ModuleNotFoundError) and _outside(exc.name):
            return _outside(exc.name)
        exc = exc.__cause__ or exc.__context__
    return None


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        gallery = item.path.name.startswith("test_gallery_")
        (keep if gallery or item.get_closest_marker("edge") else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if report.failed and isinstance(collector, pytest.Module):
        found = re.search(r"ModuleNotFoundError: No module named '([\w.]+)'", str(report.longrepr))
        name = _outside(found and found.group(1))
        if name:
            _skipped[name] = _skipped.get(name, 0) + 1
            report.outcome = "skipped"
            report.longrepr = (str(collector.path), 0, f"not a device module: needs {name}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and report.failed and call.when in ("setup", "call"):
        name = _workstation_module(call.excinfo)
        if name:
            _skipped[name] = _skipped.get(name, 0) + 1
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0,
                               f"needs {name}, not part of the device install")


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        counts = ", ".join(f"{n} x {k}" for k, n in sorted(_skipped.items()))
        terminalreporter.write_line(f"device run: skipped for want of packages outside the device install: {counts}")
