"""The shipped TFLite MTCNN against the ``mtcnn`` package: agreement and speed.

Agreement: ``benchmarks.detector_agreement`` (its scenes: scikit-image's astronaut and
seeded 640x480 scenes of celebs/ORL faces; its ``compare``, ``package_faces`` and
``agreement``). Speed: ``benchmarks.detector_speed`` (its frames:
the coffee photo at 320x240, 640x480, 1280x720 with one ORL face; its ``timed``). The
detectors measured are the ones the bundles ship (one entry per distinct set of files).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmarks.detector_agreement import agreement_scenes, compare, package_faces
from benchmarks.detector_speed import SIZES, scene, timed
from edge.macs import detector_multiply_adds
from edge.timing import Stopwatch, latency


def distinct_detectors(bundles: dict) -> dict:
    """label -> (a bundle carrying it, [bundle names]) for each distinct detector."""
    seen = {}
    for name, b in bundles.items():
        det = b.manifest.detector
        key = tuple(net.sha256 for net in det.nets.values())
        if key in seen:
            seen[key][2].append(name)
        else:
            seen[key] = (det.variant or "fp32", b, [name])
    return {f"TFLite {variant} ({', '.join(names)})": (b, names)
            for variant, b, names in seen.values()}


def _agreement_summary(pairs, extra, ms, package_ms):
    ious = np.array([p[0] if p is not None else 0.0 for p in pairs])
    found = [p for p in pairs if p is not None and p[0] >= 0.5]
    errors = np.array([p[1] for p in found]) if found else np.zeros(1)
    return {"faces": len(pairs), "found": len(found), "iou_min": float(ious.min()),
            "iou_mean": float(ious.mean()), "below_0_9": int((ious < 0.9).sum()),
            "landmark_max_px": float(errors.max()),
            "landmark_p95_px": float(np.percentile(errors, 95)), "extra": int(extra),
            "ms_median": latency(ms)["p50"], "package_ms_median": latency(package_ms)["p50"]}


def run(bundles: dict, data: Path, scenes: int = 20, runs: int = 20, threads=(1, 2),
        log=print) -> dict:
    """Agreement and speed of each distinct detector of ``bundles`` against the package,
    on scenes of faces from the shared data folder ``data``."""
    from importlib.metadata import version

    from mtcnn import MTCNN

    package = MTCNN()
    frames = agreement_scenes(scenes, data)
    package_faces(package, frames[1])  # warm-up (graph tracing)
    references, package_watch = [], Stopwatch()
    for f in frames:
        with package_watch:
            references.append(package_faces(package, f))
    package_ms = package_watch.ms
    log(f"  {len(frames)} scenes, {sum(map(len, references))} faces found by mtcnn "
        f"{version('mtcnn')}")
    detectors = distinct_detectors(bundles)
    out = {"package": f"mtcnn {version('mtcnn')} (TensorFlow, default threads)",
           "scenes": len(frames), "agreement": {}, "speed": []}
    for label, (b, _) in detectors.items():
        pairs, extra, ms = compare(b.detector(max(threads)), frames, references)
        s = out["agreement"][label] = _agreement_summary(pairs, extra, ms, package_ms)
        log(f"  {label}: {s['found']}/{s['faces']} faces found, IoU min {s['iou_min']:.3f} "
            f"mean {s['iou_mean']:.4f}, landmarks max {s['landmark_max_px']:.1f} px, "
            f"{s['extra']} extra")
    for size in SIZES:
        frame = scene(size, data)
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        first = next(iter(detectors.values()))[0].detector(1)
        row = {"size": f"{size[0]}x{size[1]}",
               "package": timed(package.detect_faces, rgb, 2, max(3, runs // 2)), "tflite": {},
               "multiply_adds": detector_multiply_adds(first, *size)}
        for label, (b, _) in detectors.items():
            for t in threads:
                row["tflite"][f"{label}, {t} thread{'s' * (t > 1)}"] = {
                    "threads": t, **timed(b.detector(t).detect, frame, 3, runs)}
        out["speed"].append(row)
        best = min(r["p50"] for r in row["tflite"].values())
        log(f"  {row['size']}: package p50 {row['package']['p50']:.1f} ms, "
            f"TFLite best p50 {best:.1f} ms")
    return out
