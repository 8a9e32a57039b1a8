"""Per-frame time of the TFLite MTCNN (``edge.detect``) against the mtcnn package.

The frame is a real scene: scikit-image's coffee photo at 320x240, 640x480 and
1280x720 with one ORL face (s21, unseen identity) pasted at 40% of the frame height.
Every row states warm-up, runs, threads and min / mean / p50 / p95 in milliseconds;
the package runs TensorFlow with its default threads (all cores).

    .venv/bin/python -m benchmarks.detector_speed [--runs 20] [--threads 1,2] [--batches]
        [--data ../shared/data]

``--batches`` also times R-Net and O-Net per crop at batch sizes 1 to 64 (one
interpreter per batch size, as ``edge.detect.Net`` keeps them).
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from benchmarks.detector_scenes import make_scene, run_in_a_temporary_folder
from convert.detector import export_detector
from edge.detect import Detector, Net
from edge.timing import time_calls

SIZES = ((320, 240), (640, 480), (1280, 720))
NETS = ("pnet", "rnet", "onet")
VARIANTS = ("fp32", "int8")


def scene(size, data: Path) -> np.ndarray:
    """The coffee photo at ``size`` with ORL s21's first photo (from the shared data
    folder ``data``) pasted at 40% of the frame height."""
    face = cv2.imread(str(Path(data) / "orl" / "s21" / "1.pgm"), cv2.IMREAD_GRAYSCALE)
    height = int(0.4 * size[1])
    return make_scene([face], np.random.default_rng(0), size=size, background="coffee",
                      heights=(height, height + 1))


def timed(detect, frame, warmup: int, runs: int) -> dict:
    """The faces ``detect`` finds in ``frame`` (one call before the warm-up) and its
    latency (``edge.timing.time_calls``: warmup, runs, min, mean, p50, p95, p99 in ms)."""
    faces = len(detect(frame))
    return {"faces": faces, **time_calls(lambda: detect(frame), warmup, runs)}


def row(name, threads, t: dict) -> str:
    return (f"{name:22s} {threads!s:>7s} {t['warmup']:3d} {t['runs']:4d} {t['faces']:5d}"
            f"  {t['min']:7.1f} {t['mean']:7.1f} {t['p50']:7.1f} {t['p95']:7.1f}")


def per_crop(files: dict, threads: int, runs: int):
    """Milliseconds per crop of R-Net and O-Net at each batch size (64 crops, min of runs)."""
    print(f"\nper crop (ms), 64 crops, min of {runs} runs, {threads} thread(s)")
    batches = (1, 4, 8, 16, 32, 64)
    print(f"{'net':18s}" + "".join(f"  b{b:<5d}" for b in batches))
    for (variant, name), path in files.items():
        net = Net(path, threads)
        size = 24 if name == "rnet" else 48
        crops = np.random.default_rng(0).uniform(-1, 1, (64, size, size, 3)).astype(np.float32)
        cells = []
        for batch in batches:
            t = time_calls(lambda: net.run_batched(crops, batch), 1, runs)
            cells.append(f"  {t['min'] / 64:6.3f}")
        print(f"{variant + ' ' + name:18s}" + "".join(cells))


def main():
    run_in_a_temporary_folder(
        run, __doc__.split("\n")[0], "mtcnn-speed-", ", for ORL s21",
        (("--warmup",), {"type": int, "default": 3, "help": "untimed runs first"}),
        (("--runs",), {"type": int, "default": 20, "help": "timed runs (the package: half)"}),
        (("--threads",), {"default": "1,2", "help": "TFLite threads to try, comma-separated"}),
        (("--batches",), {"action": "store_true", "help": "also time R-Net/O-Net batches"}))


def run(out: Path, args):
    """Export into ``out``, then time every detector at every frame size."""
    from mtcnn import MTCNN

    threads_list = [int(t) for t in args.threads.split(",")]
    entries = {variant: export_detector(out, int8=variant == "int8") for variant in VARIANTS}
    package = MTCNN()
    for variant, entry in entries.items():
        print(f"{variant}: " + ", ".join(f"{n} {entry[n]['file']} {entry[n]['bytes']:,} B"
                                        for n in NETS))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print(f"{'detector':22s} {'threads':>7s} {'wu':>3s} {'runs':>4s} faces"
          f"  {'min':>7s} {'mean':>7s} {'p50':>7s} {'p95':>7s}  (ms)")
    for size in SIZES:
        frame = scene(size, args.data)
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        print(f"-- {size[0]}x{size[1]}")
        base = timed(package.detect_faces, rgb, 2, max(3, args.runs // 2))
        print(row("mtcnn package (TF)", "default", base)
              + "  speed-up: package p50 / p50, min / min")
        for variant in VARIANTS:
            files = [out / entries[variant][n]["file"] for n in NETS]
            for threads in threads_list:
                detector = Detector(*files, threads=threads)
                t = timed(detector.detect, frame, args.warmup, args.runs)
                print(row(f"tflite {variant}", threads, t)
                      + f"  {base['p50'] / t['p50']:4.1f}x p50 {base['min'] / t['min']:4.1f}x min")
    if args.batches:
        files = {(v, n): out / entries[v][n]["file"] for v in VARIANTS for n in ("rnet", "onet")}
        for threads in threads_list:
            per_crop(files, threads, max(3, args.runs // 3))


if __name__ == "__main__":
    main()
