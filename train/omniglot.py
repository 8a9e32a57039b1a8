"""Omniglot, the one-shot benchmark of the Siamese-network paper (Koch et al. 2015).

Train on ``images_background_small1.zip`` and ``images_background_small2.zip`` (a
character is the pair alphabet/character; the two sets share alphabet names, not
drawings), evaluate on ``all_runs.zip`` exactly as each run's ``class_labels.txt`` says:
20 runs x 20 test items, 20-way, percent correct.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np

from edge.images import decode_image
from train.data import DataError, Faces

BACKGROUND = ("images_background_small1.zip", "images_background_small2.zip")
RUNS = "all_runs.zip"
PAPER_ACCURACY = 0.92


def _read(z: zipfile.ZipFile, name: str, size: int) -> np.ndarray:
    img = cv2.cvtColor(decode_image(z.read(name), name), cv2.COLOR_BGR2GRAY)
    return cv2.resize(255 - img, (size, size), interpolation=cv2.INTER_AREA)  # strokes bright


def load_background(folder, size: int = 64) -> Faces:
    """Every drawing of both small background sets; a class per alphabet/character."""
    images, labels, names = [], [], {}
    for archive in BACKGROUND:
        path = Path(folder) / archive
        if not path.is_file():
            raise DataError(f"{path}: missing")
        with zipfile.ZipFile(path) as z:
            for name in sorted(n for n in z.namelist() if n.endswith(".png")):
                _, alphabet, character, _ = name.split("/")
                key = f"{alphabet}/{character}"
                labels.append(names.setdefault(key, len(names)))
                images.append(_read(z, name, size))
    return Faces(np.stack(images), np.array(labels), list(names), "grey")


def with_rotations(chars: Faces) -> Faces:
    """Each character also turned by 90, 180 and 270 degrees, as three new classes
    (Santoro et al. 2016, Vinyals et al. 2016): four times the classes to learn from,
    drawn from the background sets alone."""
    n = len(chars.names)
    return Faces(np.concatenate([np.rot90(chars.images, k, axes=(1, 2)) for k in range(4)]),
                 np.concatenate([chars.labels + k * n for k in range(4)]),
                 [f"{name}@{90 * k}" if k else name for k in range(4) for name in chars.names],
                 chars.colour)


def load_runs(folder, size: int = 64):
    """The 20 evaluation runs: (test images, training images, true index per test item)."""
    path = Path(folder) / RUNS
    if not path.is_file():
        raise DataError(f"{path}: missing")
    runs = []
    with zipfile.ZipFile(path) as z:
        for run in sorted({n.split("/")[0] for n in z.namelist() if n.startswith("run")}):
            pairs = [line.split() for line in
                     z.read(f"{run}/class_labels.txt").decode().splitlines() if line.strip()]
            train_names = sorted({t for _, t in pairs})
            tests = np.stack([_read(z, t, size) for t, _ in pairs])
            trains = np.stack([_read(z, t, size) for t in train_names])
            truth = np.array([train_names.index(t) for _, t in pairs])
            runs.append((tests, trains, truth))
    return runs


def evaluate_runs(embed, runs) -> dict:
    """Percent correct over all runs; ``embed`` maps uint8 images to L2-normalised rows."""
    from edge.metrics import pairwise_distances

    per_run = []
    for tests, trains, truth in runs:
        d = pairwise_distances(embed(tests), embed(trains))
        per_run.append(float(np.mean(np.argmin(d, axis=1) == truth)))
    return {"runs": len(runs), "items": int(sum(len(r[2]) for r in runs)),
            "accuracy": float(np.mean(per_run)), "per_run": per_run,
            "paper_accuracy": PAPER_ACCURACY}
