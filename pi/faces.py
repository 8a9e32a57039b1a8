"""Fixed faces for the Pi check: cut them once on x86, embed them anywhere.

    python pi/faces.py crops  DATA_DIR OUT_DIR [--bundle NAME ...]
    python pi/faces.py embed  CROPS_DIR OUT.npz [--bundle NAME ...]

``crops`` (x86) detects and aligns ORL photos with each bundle's own detector and
writes, per bundle, the network's exact input as PNG: the crop already resized and in
the network's colour. ``embed`` (x86 and the emulated Pi) reads those PNGs and runs
only the embedding model on them, for every variant the bundle ships, so the two
machines' embeddings differ by the interpreter and the CPU alone, not by OpenCV's
resampling (OpenCV 4 and 5 differ there by a few grey levels). ``embed`` also runs the
detector on the original photos and saves its boxes and landmarks (end to end: there
OpenCV's pyramid resizing takes part).

Device runtime only: no TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

# Photo 1 of people s1..s20: one face each, 92x112 grey PGM.
PHOTOS = [f"s{i}/1.pgm" for i in range(1, 21)]


def bundles(names):
    from edge.bundle import shipped_bundles

    return names or shipped_bundles()


def crops(data: Path, out: Path, names):
    from edge.bundle import load_bundle
    from edge.enrolment import snapshot_of

    for name in bundles(names):
        bundle = load_bundle(name, threads=1)
        prepare = bundle.thumbnail_embedder(threads=1).prepare
        detector = bundle.detector(threads=1)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for photo in PHOTOS:
            image = cv2.imread(str(data / "orl" / photo))
            face = prepare([snapshot_of(image, detector, photo).thumbnail])[0]
            if face.ndim == 3:  # rgb for the network; PNG stores BGR
                face = face[..., ::-1]
            target = folder / (photo.replace("/", "_").replace(".pgm", ".png"))
            if not cv2.imwrite(str(target), face):
                sys.exit(f"cannot write {target}")
        print(f"{name}: {len(PHOTOS)} crops in {folder}")


def read_crop(path: Path, colour: str) -> np.ndarray:
    if colour == "grey":
        return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1]  # back to rgb


def embed(crops_dir: Path, out: Path, data: Path | None, names):
    from edge.bundle import load_bundle
    from edge.litert import RUNTIME

    arrays, info = {}, {"runtime": RUNTIME, "numpy": np.__version__, "opencv": cv2.__version__}
    for name in bundles(names):
        default = load_bundle(name, threads=1)
        files = sorted((crops_dir / name).glob("*.png"))
        if not files:
            sys.exit(f"no crops for bundle {name} in {crops_dir / name}")
        faces = np.stack([read_crop(f, default.spec.input.colour) for f in files])
        for variant in default.spec.variants:
            same = variant == default.variant
            embedder = (default if same else load_bundle(name, variant, threads=1)).embedder(threads=1)
            arrays[f"{name}/{variant}"] = embedder.embed(faces)
        if data is not None:
            detector = default.detector(threads=1)
            found = []
            for photo in PHOTOS:
                faces_found = detector.detect(cv2.imread(str(data / "orl" / photo)))
                best = faces_found[0]
                found.append(np.concatenate([np.asarray(best.box, np.float32),
                                             np.asarray(best.landmarks, np.float32).ravel()]))
            arrays[f"{name}/detector"] = np.stack(found)
    np.savez(out, **arrays)
    out.with_suffix(".json").write_text(json.dumps(info, indent=1))
    print(f"{out}: {', '.join(arrays)} ({RUNTIME}, numpy {np.__version__}, opencv {cv2.__version__})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("crops", help="detect, align and save the network inputs (x86)")
    c.add_argument("data", type=Path)
    c.add_argument("out", type=Path)
    c.add_argument("--bundle", action="append", default=[])
    e = sub.add_parser("embed", help="embed the saved crops with every shipped variant")
    e.add_argument("crops", type=Path)
    e.add_argument("out", type=Path)
    e.add_argument("--data", type=Path, help="also run the detector on the original photos")
    e.add_argument("--bundle", action="append", default=[])
    args = parser.parse_args()
    if args.command == "crops":
        crops(args.data, args.out, args.bundle)
    else:
        embed(args.crops, args.out, args.data, args.bundle)


if __name__ == "__main__":
    main()
