"""Choosing the one face a photo is about, and judging whether it is usable.

Shared by ``siamese-train prepare`` (with the mtcnn package) and enrolment on the
device (with the TFLite detector), so both refuse the same photos for the same reasons.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Face:
    box: tuple[float, float, float, float]   # x1, y1, x2, y2 in pixels
    score: float
    landmarks: np.ndarray                    # 5x2: left eye, right eye, nose, mouth l, r

    @property
    def size(self) -> float:
        x1, y1, x2, y2 = self.box
        return float(min(x2 - x1, y2 - y1))


class FaceError(Exception):
    """The photo has no usable single face; the message says why."""


def pick_single_face(faces: list[Face], min_score: float = 0.9,
                     similar: float = 0.5) -> Face:
    """The largest confident face, unless another confident face is of similar size.

    ``similar``: a second face whose side is at least this fraction of the largest
    makes the photo ambiguous (two people of similar prominence).
    """
    confident = sorted((f for f in faces if f.score >= min_score),
                       key=lambda f: f.size, reverse=True)
    if not confident:
        raise FaceError("no face found")
    if len(confident) > 1 and confident[1].size >= similar * confident[0].size:
        raise FaceError(f"{len(confident)} faces of similar size; "
                        "use a photo of one person")
    return confident[0]


def pick_centre_face(faces: list[Face], width: int, height: int,
                     min_score: float = 0.9) -> Face:
    """The confident face whose box centre is nearest the image centre.

    For photos labelled with the one person they are centred on (LFW and other news
    photos), where other people may be larger or as large.
    """
    confident = [f for f in faces if f.score >= min_score]
    if not confident:
        raise FaceError("no face found")

    def off_centre(f: Face) -> float:
        x1, y1, x2, y2 = f.box
        return float(np.hypot((x1 + x2) / 2 - width / 2, (y1 + y2) / 2 - height / 2))

    return min(confident, key=off_centre)


def sharpness(face_crop: np.ndarray) -> float:
    """Variance of the Laplacian of a grey crop: low values mean blur."""
    grey = face_crop if face_crop.ndim == 2 else cv2.cvtColor(face_crop, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
