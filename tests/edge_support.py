"""Helpers shared by the device-runtime tests (no TensorFlow anywhere in here)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import ROOT, need_data

# The shipped bundle the device tests run on (EDGE_TEST_BUNDLE=accurate runs them on the other).
BUNDLE = os.environ.get("EDGE_TEST_BUNDLE", "fast")
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def orl(person: int, photo: int) -> np.ndarray:
    """ORL photo ``photo`` (1..10) of person ``s{person}`` as BGR (92x112, one face)."""
    return cv2.imread(str(need_data("orl", f"s{person}", f"{photo}.pgm")))


def celeb(name: str, index: int = 1, pad: int = 40) -> np.ndarray:
    """A 160 px celebs crop with ``pad`` px of border, so the detector sees a whole head."""
    files = sorted(need_data("celebs", name).glob("*.jpg"))
    image = cv2.imread(str(files[index - 1]))
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)


def write(path: Path, image: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image), path
    return str(path)


def gallery_state(path: Path):
    """Everything a refusal must leave alone: who is enrolled, with which enrolments
    (id, model, source, created) and vectors; None when there is no gallery file."""
    from gallery import Gallery

    if not Path(path).exists():
        return None
    with Gallery(path, create=False) as g:
        people = tuple((p.name, tuple((e.id, e.model_sha256, e.source, e.created)
                                      for e in p.enrolments)) for p in g.people())
        vectors = {m: g.embeddings(m) for m in g.models()}
    return people, {m: (names, matrix.tobytes()) for m, (names, matrix) in vectors.items()}


def error_lines(stderr: str) -> list[str]:
    """stderr without the LiteRT runtime's own INFO lines (it announces XNNPACK)."""
    return [line for line in stderr.splitlines() if not line.startswith("INFO:")]
