"""Reading photos safely: every failure becomes one ImageError with a plain reason."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pbm", ".gif", ".bmp",
                  ".tif", ".tiff", ".webp"}
MAX_PIXELS = 50_000_000  # refuse decompression bombs before decoding


class ImageError(Exception):
    """A file that cannot be used as a photo; the message says why."""


def is_image_name(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode encoded image bytes to a BGR uint8 array (grey images become BGR)."""
    if not data:
        raise ImageError(f"{name}: empty file")
    buf = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageError(f"{name}: not a readable image (corrupt, truncated or "
                         f"an unsupported format)")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise ImageError(f"{name}: too large ({image.shape[1]}x{image.shape[0]} pixels)")
    if min(image.shape[:2]) < 8:
        raise ImageError(f"{name}: too small ({image.shape[1]}x{image.shape[0]} pixels)")
    return image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a photo as a BGR uint8 array, or raise ImageError saying why not."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise ImageError(f"{path}: is a folder, not an image") from None
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_image(data, str(path))


def encode_png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ImageError("could not encode PNG")
    return buf.tobytes()
