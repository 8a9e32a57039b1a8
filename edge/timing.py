"""Latency stated the way LiteRT's ``benchmark_model`` states it: the warm-up, the timed
runs, and min / mean / p50 / p95 / p99 in milliseconds; in numpy and the standard library.

Every latency this project reports is measured here:

- ``time_calls(fn, warmup, runs)``: one call repeated (a model on one face, a detector
  on one frame, a match against the gallery);
- ``Stopwatch``: blocks that differ (a detector over several scenes, a model's load),
  each block timed as it runs: ``with watch: work()``;
- ``latency(ms)``: the summary of milliseconds measured either way.
"""
from __future__ import annotations

import time

import numpy as np

KEYS = ("runs", "min", "mean", "p50", "p95", "p99")   # what ``latency`` returns


def latency(ms, warmup: int | None = None) -> dict:
    """The summary of these timings in milliseconds: ``runs`` (how many), ``min``,
    ``mean``, ``p50``, ``p95`` and ``p99`` (numpy's linear percentiles); with
    ``warmup`` first when it is given. Needs at least one timing."""
    a = np.asarray(ms, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no timings to summarise")
    out = {} if warmup is None else {"warmup": int(warmup)}
    out.update(runs=int(a.size), min=float(a.min()), mean=float(a.mean()),
               p50=float(np.percentile(a, 50)), p95=float(np.percentile(a, 95)),
               p99=float(np.percentile(a, 99)))
    return out


def time_calls(fn, warmup: int = 20, runs: int = 200) -> dict:
    """Call ``fn()`` ``warmup`` times untimed, then ``runs`` times, each timed on its own;
    returns ``latency`` of those runs with the warm-up stated. (The loop reads the clock
    itself rather than through a ``Stopwatch``, so sub-millisecond calls carry no
    context-manager overhead.)"""
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - start) * 1000)
    return latency(ms, warmup)


class Stopwatch:
    """Times each block run under it, in milliseconds, with ``time.perf_counter``::

        watch = Stopwatch()
        for scene in scenes:
            with watch:
                detector.detect(scene)
        watch.ms           # one entry per block, in order
        watch.latency()    # their summary

    ``seconds`` is the sum of the blocks' times, ``last_ms`` the latest block's.
    """

    def __init__(self):
        self.ms: list[float] = []
        self._start: float | None = None

    def __enter__(self) -> "Stopwatch":
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.ms.append((time.perf_counter() - self._start) * 1000)
        self._start = None
        return False

    @property
    def last_ms(self) -> float:
        return self.ms[-1]

    @property
    def seconds(self) -> float:
        return sum(self.ms) / 1000

    def latency(self, warmup: int | None = None) -> dict:
        return latency(self.ms, warmup)
