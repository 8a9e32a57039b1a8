"""How closely the TFLite MTCNN follows the mtcnn package, per quantisation choice.

Exports every network as fp32, dynamic-range int8 (int8 weights) and full-integer int8
(calibrated on yaleb/celebs scenes), then runs the package and each detector variant
on 20 seeded scenes of celebs/orl faces plus scikit-image's astronaut. For every face
the package finds: found (IoU >= 0.5), IoU, and the largest landmark distance; also
faces the package does not report (extra) and the median ms per scene (1 thread).

    .venv/bin/python -m benchmarks.detector_agreement [--scenes 20] [--data ../shared/data]

Also the pieces ``benchmarks.detector`` and ``tests/test_detector.py`` compare with:
the package's faces (``package_faces``), the match of each to the detector's
(``agreement``), and what each network sees (``calibration_inputs``, the representative
data of full-integer int8).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmarks.detector_scenes import face_scenes, run_in_a_temporary_folder
from convert.detector import NETS, export_detector, keras_net, to_tflite
from edge.detect import Detector
from edge.timing import Stopwatch, latency
from edge.track import iou


def package_faces(detector, image_bgr: np.ndarray) -> list:
    """The mtcnn package's faces (unrounded) in a BGR image, as ``edge.faces.Face``."""
    from edge.faces import Face

    rows = detector.detect_faces(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB),
                                 output_type="numpy", box_format="xyxy")
    return [Face(box=tuple(float(v) for v in r[1:5]), score=float(r[5]),
                 landmarks=np.stack([r[6:11], r[11:16]], axis=1)) for r in rows]


def agreement(reference: list, faces: list) -> list:
    """For each reference face: (IoU, largest landmark error in pixels) of the face that
    overlaps it most, or None when none overlaps."""
    result = []
    for ref in reference:
        best = max(faces, key=lambda f: iou(ref.box, f.box), default=None)
        if best is None or iou(ref.box, best.box) == 0:
            result.append(None)
        else:
            error = float(np.linalg.norm(best.landmarks - ref.landmarks, axis=1).max())
            result.append((iou(ref.box, best.box), error))
    return result


class _Recorder:
    """Stands in for one of the detector's networks and keeps every input it gets."""

    def __init__(self, net):
        self.net, self.inputs = net, []

    def run(self, x):
        self.inputs.append(x.copy())
        return self.net.run(x)

    def run_batched(self, x, largest):
        self.inputs.append(x.copy())
        return self.net.run_batched(x, largest)


def calibration_inputs(pnet: str, rnet: str, onet: str, data: Path) -> dict[str, list]:
    """What each network sees while the fp32 TFLite detector runs on 16 scenes of
    yaleb and celebs faces from ``data`` (representative data for full-integer int8)."""
    scenes = face_scenes(16, seed=1234, sources=("celebs", "yaleb"), data=data)

    detector = Detector(pnet, rnet, onet)
    recorders = {name: _Recorder(getattr(detector, name)) for name in NETS}
    for name, recorder in recorders.items():
        setattr(detector, name, recorder)
    for scene in scenes:
        detector.detect(scene)
    seen = {name: r.inputs for name, r in recorders.items()}
    # one sample per crop, so the converter's batch of one sees every crop
    seen["rnet"] = [c[None] for batch in seen["rnet"] for c in batch][:400]
    seen["onet"] = [c[None] for batch in seen["onet"] for c in batch][:400]
    return seen


def agreement_scenes(count: int, data: Path) -> list[np.ndarray]:
    """Astronaut (as BGR) and ``count`` face scenes (the tests use the first 12)."""
    import skimage.data

    return [skimage.data.astronaut()[..., ::-1].copy()] + face_scenes(count, seed=7, data=data)


def compare(detector, scenes: list, references: list) -> tuple[list, int, list]:
    """Run ``detector`` on every scene against the package's faces (``references``).

    Returns (for each package face: (IoU, largest landmark error px) or None; faces the
    package does not report (IoU < 0.5 with all of its faces); ms per scene). The first
    two scenes are run once untimed first (warm-up: astronaut and a 640x480 scene).
    """
    for scene in scenes[:2]:
        detector.detect(scene)
    pairs, extra, watch = [], 0, Stopwatch()
    for scene, reference in zip(scenes, references):
        with watch:
            faces = detector.detect(scene)
        pairs += agreement(reference, faces)
        extra += sum(max((iou(f.box, r.box) for r in reference), default=0) < 0.5
                     for f in faces)
    return pairs, extra, watch.ms


def summarise(pairs: list, extra: int, ms: float) -> str:
    found = [p for p in pairs if p is not None and p[0] >= 0.5]
    ious = np.array([p[0] for p in found])
    errors = np.array([p[1] for p in found])
    return (f"{len(found):3d}/{len(pairs):<3d} {extra:5d}  {ious.min():7.3f} {ious.mean():8.4f}"
            f"  {errors.max():6.2f} {np.percentile(errors, 95):6.2f} {errors.mean():6.2f}"
            f"  {ms:6.1f}")


def main():
    run_in_a_temporary_folder(
        run, __doc__.split("\n")[0], "mtcnn-agreement-", ": celebs/, orl/, yaleb/",
        (("--scenes",), {"type": int, "default": 20, "help": "face scenes (plus astronaut)"}))


def run(out: Path, args):
    """Export every variant into ``out``, then compare each with the package."""
    from mtcnn import MTCNN

    export_detector(out)
    fp32 = {n: out / f"mtcnn_{n}.tflite" for n in NETS}
    seen = calibration_inputs(*fp32.values(), data=args.data)
    files = {("fp32", n): fp32[n] for n in NETS}
    for n in NETS:
        model = keras_net(n)
        for mode in ("dynamic", "full"):
            path = out / f"mtcnn_{n}_{mode}.tflite"
            path.write_bytes(to_tflite(model, mode, seen[n]))
            files[(mode, n)] = path

    scenes = agreement_scenes(args.scenes, args.data)
    package = MTCNN()
    references = [package_faces(package, s) for s in scenes]
    variants = [("fp32", "fp32", "fp32")]
    for mode in ("dynamic", "full"):
        variants += [tuple(mode if m == n else "fp32" for m in NETS) for n in NETS]
        variants += [("fp32", mode, mode), (mode, mode, mode)]

    print(f"{len(scenes)} scenes, {sum(map(len, references))} faces found by the package")
    print(f"{'pnet / rnet / onet':27s} found extra  IoU min     mean  lm max    p95   mean (px)"
          "   ms")
    for variant in variants:
        detector = Detector(*(files[(mode, n)] for mode, n in zip(variant, NETS)), threads=1)
        pairs, extra, times = compare(detector, scenes, references)
        print(f"{' / '.join(variant):27s} {summarise(pairs, extra, latency(times)['p50'])}")
    sizes = {k: p.stat().st_size for k, p in files.items()}
    for mode in ("fp32", "dynamic", "full"):
        print(f"{mode:8s} bytes: " + ", ".join(f"{n} {sizes[(mode, n)]:,}" for n in NETS))


if __name__ == "__main__":
    main()
