"""The workstation face finder: the ``mtcnn`` package, answering in ``edge.faces.Face``."""
from __future__ import annotations

import os

import numpy as np

from edge.faces import Face

_ORDER = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


class MtcnnFaces:
    """Loads the mtcnn networks once; ``find(image_bgr)`` lists the faces found."""

    def __init__(self, min_face: int = 20):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        from mtcnn import MTCNN

        self._mtcnn = MTCNN()
        self.min_face = min_face

    def find(self, image_bgr: np.ndarray) -> list[Face]:
        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        found = self._mtcnn.detect_faces(rgb, min_face_size=self.min_face)
        faces = []
        for f in found:
            x, y, w, h = f["box"]
            marks = np.array([f["keypoints"][k] for k in _ORDER], dtype=np.float64)
            faces.append(Face((x, y, x + w, y + h), float(f["confidence"]), marks))
        return faces
