"""Reading photos safely: bounded memory whatever the file, and every failure one
ImageError with a plain reason.

A photo's width and height are read from its header (Pillow reads only the header on
open) before anything is decoded: more than ``MAX_PIXELS`` is refused there, so a small
file that would unpack into gigabytes (a decompression bomb) costs nothing. A photo
larger than needed is decoded reduced (libjpeg's 1/2, 1/4 or 1/8 scaling, through
OpenCV's ``IMREAD_REDUCED_COLOR_*``), keeping at least ``DECODE_SIDE`` pixels on its long
side: a 48 MP phone photo becomes a 12 MP array, not a 48 MP one. The detector then
works at a bounded size of its own (``edge.detect.WORKING_SIDE``).
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".pbm", ".gif", ".bmp",
                  ".tif", ".tiff", ".webp"}
MAX_PIXELS = 50_000_000  # the largest photo taken, by its header (48 MP phones pass)
DECODE_SIDE = 3000       # a photo's long side is reduced no further than this
REDUCED = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
           8: cv2.IMREAD_REDUCED_COLOR_8}


class ImageError(Exception):
    """A file that cannot be used as a photo; the message says why."""


def is_image_name(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def image_size(data: bytes, name: str = "image") -> tuple[int, int]:
    """(width, height) from the image header alone, before any decoding."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning: judged by the caller
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError:
        raise ImageError(f"{name}: far too large (a decompression bomb?)") from None
    except Exception:  # Pillow raises many kinds for garbage: all mean "not an image"
        raise ImageError(f"{name}: not a readable image (corrupt, truncated or an "
                         f"unsupported format)") from None


def reduction(width: int, height: int, side: int = DECODE_SIDE) -> int:
    """The largest of 1, 2, 4, 8 that keeps the long side at least ``side`` pixels."""
    return max([f for f in REDUCED if max(width, height) // f >= side] or [1])


def decode_image(data: bytes, name: str = "image", max_pixels: int = MAX_PIXELS,
                 side: int | None = DECODE_SIDE) -> np.ndarray:
    """Decode encoded image bytes to a BGR uint8 array (grey images become BGR), reduced
    to no less than ``side`` pixels on the long side (None: full size)."""
    if not data:
        raise ImageError(f"{name}: empty file")
    width, height = image_size(data, name)
    if width * height > max_pixels:
        raise ImageError(f"{name}: too large ({width}x{height} pixels; at most "
                         f"{max_pixels / 1e6:g} megapixels)")
    if min(width, height) < 8:
        raise ImageError(f"{name}: too small ({width}x{height} pixels)")
    flags = REDUCED[reduction(width, height, side) if side else 1]
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if image is None:
        raise ImageError(f"{name}: not a readable image (corrupt, truncated or "
                         f"an unsupported format)")
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
