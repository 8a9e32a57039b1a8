"""Scenes of real faces for measuring the detector: face photos from the shared data
pasted into scikit-image photos, seeded, so every run sees the same frames.

Used by ``benchmarks.detector_agreement`` (agreement with the mtcnn package, and the
full-integer int8 calibration it tries), ``benchmarks.detector_speed`` and
``tests/test_detector.py``. ``data`` is always the shared data folder (``orl/``,
``celebs/``, ``yaleb/``), given by the caller; the scripts default it to
``DEFAULT_DATA``.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BACKGROUNDS = ("rocket", "coffee", "chelsea", "brick", "grass", "gravel", "camera")


def make_scene(faces: list[np.ndarray], rng: np.random.Generator,
               size=(640, 480), background: str = "rocket",
               heights=(40, 200)) -> np.ndarray:
    """A BGR scene: a scikit-image photo with these grey face images pasted at random.

    Faces are scaled to a random height in ``heights`` and placed without overlap when
    possible (up to 50 tries each).
    """
    import skimage.data

    photo = getattr(skimage.data, background)()
    photo = cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR if photo.ndim == 2 else cv2.COLOR_RGB2BGR)
    scene = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    taken: list[tuple[int, int, int, int]] = []
    for face in faces:
        h = int(rng.integers(*heights))
        w = max(1, round(face.shape[1] * h / face.shape[0]))
        if h >= size[1] or w >= size[0]:
            continue
        for _ in range(50):
            x, y = int(rng.integers(0, size[0] - w)), int(rng.integers(0, size[1] - h))
            if all(x + w < a or a + c < x or y + h < b or b + d < y for a, b, c, d in taken):
                break
        taken.append((x, y, w, h))
        patch = cv2.resize(face, (w, h), interpolation=cv2.INTER_AREA)
        scene[y:y + h, x:x + w] = patch[..., None] if patch.ndim == 2 else patch
    return scene


def read_faces(folder: Path, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` grey face images picked at random from the image files under ``folder``."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".pgm"))
    if not paths:
        raise FileNotFoundError(f"no face images under {folder}")
    picked = rng.choice(len(paths), size=count, replace=False)
    return [cv2.imread(str(paths[i]), cv2.IMREAD_GRAYSCALE) for i in picked]


def face_scenes(count: int, seed: int, data: Path, sources=("celebs", "orl")):
    """``count`` seeded BGR 640x480 scenes, each with 1-4 faces from one of ``sources``
    (folders of the shared data folder ``data``)."""
    data = Path(data)
    rng = np.random.default_rng(seed)
    scenes = []
    for i in range(count):
        faces = read_faces(data / sources[i % len(sources)], int(rng.integers(1, 5)), rng)
        scenes.append(make_scene(faces, rng, background=BACKGROUNDS[i % len(BACKGROUNDS)]))
    return scenes


def run_in_a_temporary_folder(run, description: str, prefix: str, data_help: str, *arguments):
    """A script's main: ``arguments`` ((args, kwargs) pairs for argparse) and ``--data``
    parsed, then ``run(folder, args)`` with a temporary folder for its exports."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=description)
    for args, kwargs in arguments:
        parser.add_argument(*args, **kwargs)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help=f"the shared data folder{data_help} (default: %(default)s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        run(Path(tmp), args)
