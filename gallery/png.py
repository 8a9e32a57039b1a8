"""Face thumbnails as PNG bytes, through OpenCV's codec.

Arrays follow OpenCV: grey is HxW, colour is HxWx3 in BGR order; the file itself holds
the right colours, so an exported thumbnail opens correctly anywhere.
"""
from __future__ import annotations

import cv2
import numpy as np

from .errors import CorruptFile

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 grey (HxW) or BGR (HxWx3) image."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or 0 in image.shape \
            or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"a thumbnail must be a uint8 HxW or HxWx3 image, "
                         f"not {image.dtype} {image.shape}")
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ValueError("the thumbnail could not be encoded as PNG")
    return buf.tobytes()


def decode(data: bytes) -> np.ndarray:
    """The image in PNG bytes (grey HxW or BGR HxWx3); CorruptFile if it is not one."""
    data = bytes(data)
    if not data.startswith(SIGNATURE):
        raise CorruptFile("a thumbnail is not a PNG file")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint8:
        raise CorruptFile("a thumbnail PNG is damaged or not 8-bit")
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image
