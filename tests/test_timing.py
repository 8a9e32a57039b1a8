"""edge.timing: the one way latencies are measured and summarised. The summary is pinned
on known timings; the timers on a fake clock, so no test depends on the machine's speed."""
from __future__ import annotations

import numpy as np
import pytest

from edge import timing

pytestmark = pytest.mark.edge


def test_latency_of_known_timings():
    r = timing.latency([4.0, 1.0, 3.0, 2.0, 10.0])
    assert list(r) == list(timing.KEYS)
    assert (r["runs"], r["min"], r["mean"]) == (5, 1.0, 4.0)
    assert r["p50"] == 3.0                          # the middle one
    # linear between order statistics: p95 sits 0.8 of the way from 4 to 10
    assert r["p95"] == pytest.approx(4.0 + 0.8 * 6.0)
    assert r["p99"] == pytest.approx(4.0 + 0.96 * 6.0)


def test_latency_of_a_hundred_runs_and_the_warmup_stated_first():
    r = timing.latency(np.arange(1, 101), warmup=7)
    assert list(r)[:2] == ["warmup", "runs"] and r["warmup"] == 7 and r["runs"] == 100
    assert (r["min"], r["mean"], r["p50"]) == (1.0, 50.5, 50.5)
    assert r["p95"] == pytest.approx(95.05) and r["p99"] == pytest.approx(99.01)
    assert all(isinstance(v, (int, float)) for v in r.values())     # JSON-ready


def test_latency_needs_a_timing():
    with pytest.raises(ValueError, match="no timings"):
        timing.latency([])


@pytest.fixture
def clock(monkeypatch):
    """perf_counter as a fake clock that the work advances by hand."""
    now = [100.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    return now


def test_time_calls_warms_up_untimed_then_times_each_run(clock):
    calls = []

    def work():                      # call k takes k milliseconds
        calls.append(1)
        clock[0] += len(calls) / 1000

    r = timing.time_calls(work, warmup=3, runs=5)
    assert len(calls) == 8 and (r["warmup"], r["runs"]) == (3, 5)
    assert r["min"] == pytest.approx(4.0) and r["mean"] == pytest.approx(6.0)
    assert r["p50"] == pytest.approx(6.0) and r["p95"] == pytest.approx(7.8)


def test_stopwatch_times_each_block(clock):
    watch = timing.Stopwatch()
    for ms in (2.0, 0.5, 1.5):
        with watch:
            clock[0] += ms / 1000
        clock[0] += 1.0              # time between blocks is not counted
    assert watch.ms == pytest.approx([2.0, 0.5, 1.5])
    assert watch.last_ms == pytest.approx(1.5) and watch.seconds == pytest.approx(0.004)
    assert watch.latency()["mean"] == pytest.approx(4 / 3)
    assert "warmup" not in watch.latency() and watch.latency(2)["warmup"] == 2


def test_stopwatch_records_a_block_that_raises(clock):
    watch = timing.Stopwatch()
    with pytest.raises(RuntimeError):
        with watch:
            clock[0] += 0.003
            raise RuntimeError("stops")
    assert watch.ms == pytest.approx([3.0])


def test_time_calls_on_the_real_clock():
    r = timing.time_calls(lambda: sum(range(1000)), warmup=2, runs=20)
    assert 0 < r["min"] <= r["p50"] <= r["p95"] <= r["p99"] and r["runs"] == 20
