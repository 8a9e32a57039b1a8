"""Five-point face alignment and preprocessing, shared by training and the device.

A face is cut out with a similarity transform (rotation, uniform scale, translation)
that maps its five landmarks (left eye, right eye, nose, left mouth corner, right mouth
corner, in image coordinates) onto a canonical template. Training imports this module,
so a face is cropped the same way on the workstation and on the device.
"""
from __future__ import annotations

import cv2
import numpy as np

# The ArcFace / SFace template for a 112x112 crop (OpenCV's FaceRecognizerSF uses it).
TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def template(size: int) -> np.ndarray:
    """The five-point template scaled to a square crop of ``size`` pixels."""
    return TEMPLATE_112 * (size / 112.0)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama 1991) taking ``src`` points to ``dst``.

    Returns the 2x3 matrix for ``cv2.warpAffine``. OpenCV's estimateAffinePartial2D is a
    robust (RANSAC/LMEDS) estimator; with five reliable landmarks the closed form is
    exact and deterministic.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    var_src = (src_c**2).sum() / len(src)
    scale = (s * d).sum() / var_src
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = dst_mean - scale * rot @ src_mean
    return matrix


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """Cut the face with these five landmarks out of ``image`` as a ``size`` square."""
    matrix = similarity_transform(landmarks, template(size))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def resize_whole(image: np.ndarray, size: int) -> np.ndarray:
    """Keep a whole (already cropped) face image: centre-crop to square, then resize."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top:top + side, left:left + side]
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)


def to_colour(image: np.ndarray, colour: str) -> np.ndarray:
    """Convert a grey or BGR uint8 image to the network's colour: 'grey' (HxW) or 'rgb'."""
    if colour == "grey":
        if image.ndim == 3:
            return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return image
    if colour == "rgb":
        if image.ndim == 2:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise ValueError(f"unknown colour {colour!r} (expected 'grey' or 'rgb')")


def normalise(faces: np.ndarray, mean: float, scale: float) -> np.ndarray:
    """Map uint8 pixels to the network's float input: (x - mean) / scale, channel last."""
    x = (np.asarray(faces, dtype=np.float32) - mean) / scale
    if x.ndim == 3:  # a batch of grey faces: add the channel axis
        x = x[..., None]
    return x
