"""Measurements for ``edge-bench``: on the device, no TensorFlow.

Every latency is stated with its warm-up and runs, as min / mean / p50 / p95 / p99 in
milliseconds (after LiteRT's ``benchmark_model``; measured by ``edge.timing``). Each
embedding variant is measured in its own child process, so its load time and peak
resident memory are its own.
"""
from __future__ import annotations

import multiprocessing
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from edge.timing import Stopwatch, time_calls


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from edge.litert import RUNTIME

    return {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version(), "numpy": np.__version__,
            "interpreter": RUNTIME, "date": time.strftime("%Y-%m-%d")}


def _embed_child(path, threads, warmup, runs, queue):
    from edge.embed import Embedder

    load = Stopwatch()
    with load:
        emb = Embedder(path, threads=threads)
    face = np.random.default_rng(0).integers(0, 256, (emb.size, emb.size) if emb.channels == 1
                                             else (emb.size, emb.size, 3), dtype=np.uint8)
    result = time_calls(lambda: emb.embed(face), warmup, runs)
    result["load_ms"] = load.last_ms
    result["peak_rss_mb"] = peak_rss_mb()
    queue.put(result)


def peak_rss_mb() -> float:
    """This process's own peak resident memory. On Linux, ``ru_maxrss`` carries over
    the parent's peak through fork and exec (so a spawned child would report at least
    its parent's), while ``VmHWM`` belongs to the current program image alone."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def embedding_latency(path, threads: int, warmup: int = 20, runs: int = 200) -> dict:
    """Per-face latency of one model file, in a fresh child process."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_embed_child, args=(str(path), threads, warmup, runs, queue))
    proc.start()
    result = queue.get(timeout=600)
    proc.join()
    return {"threads": threads, "bytes": Path(path).stat().st_size, **result}


def scene(size, faces: list, rng) -> np.ndarray:
    """A frame of this size with these face photos pasted in (or none)."""
    from edge.clips import background

    w, h = size
    frame = background(size, rng)
    for i, face in enumerate(faces):
        fh = min(h // 2, 160)
        fw = int(face.shape[1] * fh / face.shape[0])
        x = int((i + 0.5) * w / max(1, len(faces)) - fw / 2)
        y = int(h / 2 - fh / 2)
        if 0 <= x and x + fw <= w:
            frame[y:y + fh, x:x + fw] = cv2.resize(face, (fw, fh))
    return frame


def detector_latency(detector, frame, warmup: int = 5, runs: int = 30) -> dict:
    found = len(detector.detect(frame))
    return {"faces_found": found, **time_calls(lambda: detector.detect(frame), warmup, runs)}


def gallery_latency(n: int, dim: int, warmup: int = 20, runs: int = 300, seed: int = 0,
                    checks: int = 1000) -> dict:
    """Matching one face against ``n`` stored embeddings (one per person), the change
    check included, as ``edge-identify`` calls it.

    Besides the latency: ``fill_s`` enrolling the ``n`` people (one transaction),
    ``db_mb`` the gallery file's size, ``matrix_mb`` the embeddings in memory,
    ``load_s`` opening a Matcher on it, ``check_us`` the change check alone (mean of
    ``checks`` calls) and ``cpu_share`` this process's CPU time over wall time while
    timing matches (well under 1: the machine was busy and the tails are inflated; over
    1: BLAS threads worked, or spun waiting, beside the main one).
    """
    from gallery import Gallery, Matcher

    rng = np.random.default_rng(seed)
    model = "0" * 64
    thumb = np.zeros((8, 8), np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gallery.db"
        vectors = rng.normal(size=(n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        fill, load, timing, check = Stopwatch(), Stopwatch(), Stopwatch(), Stopwatch()
        with fill, Gallery(path) as g, g.batch():
            for i, v in enumerate(vectors):
                g.enrol(f"person {i}", v, model, thumb)
        with load:
            matcher = Matcher(path, model, threshold=0.8, top_k=3)
        with matcher:
            queries = rng.normal(size=(warmup + runs, dim)).astype(np.float32)
            it = iter(queries)
            cpu = time.process_time()
            with timing:
                result = time_calls(lambda: matcher.match(next(it)), warmup, runs)
            cpu_share = (time.process_time() - cpu) / timing.seconds
            with check:
                for _ in range(checks):
                    matcher.refresh()
        db_mb = path.stat().st_size / 1e6
    return {"stored": n, "dim": dim, **result, "fill_s": fill.seconds, "load_s": load.seconds,
            "check_us": check.seconds / checks * 1e6, "cpu_share": cpu_share, "db_mb": db_mb,
            "matrix_mb": n * dim * 4 / 1e6}
