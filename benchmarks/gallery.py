"""Gallery scaling: ``edge.bench.gallery_latency`` at each size, with numpy's default BLAS
threads (as ``edge-identify`` runs) and with one BLAS thread (as
``benchmarks/gallery_match.py`` does, like one core of a Pi), each in a fresh child
process so the thread setting takes effect before numpy loads."""
from __future__ import annotations

import multiprocessing
import os

BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _child(sizes, dim, queue):
    from edge.bench import gallery_latency

    queue.put([gallery_latency(n, dim) for n in sizes])


def scaling(sizes, dim: int = 128, blas_threads: int | None = None) -> list[dict]:
    saved = {k: os.environ.get(k) for k in BLAS_VARS}
    try:
        for k in BLAS_VARS:
            if blas_threads is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(blas_threads)
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_child, args=(list(sizes), dim, queue))
        proc.start()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    rows = queue.get(timeout=900)
    proc.join()
    label = "default" if blas_threads is None else blas_threads
    return [{**r, "blas_threads": label} for r in rows]
