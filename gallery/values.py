"""The values a gallery stores, checked and put in their stored form."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import numpy as np

from . import png
from .errors import GalleryError

_SHA256 = re.compile(r"[0-9a-f]{64}")


def short(sha256: str) -> str:
    """The first 12 hex digits of a model's sha256, enough to tell models apart."""
    return str(sha256)[:12]


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_sha256(sha256) -> str:
    """A model sha256 as 64 lower-case hex digits; GalleryError if it is not one."""
    text = str(sha256).strip().lower()
    if not _SHA256.fullmatch(text):
        raise GalleryError(f"model sha256 must be 64 hex digits, not {sha256!r}")
    return text


def unit_vector(embedding) -> np.ndarray:
    """``embedding`` as a finite, L2-normalised float32 vector (unit ones kept as they are)."""
    vec = np.asarray(embedding, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vec.astype(np.float64))) if vec.size else 0.0
    if not np.isfinite(vec).all() or norm == 0.0:
        raise GalleryError("an embedding must be a non-empty, finite, non-zero vector")
    return vec if abs(norm - 1.0) < 1e-6 else (vec / norm).astype(np.float32)


def thumbnail_png(thumbnail, level: int = 9) -> bytes:
    """PNG bytes from a uint8 image (grey HxW or BGR HxWx3; compressed at zlib
    ``level``) or checked PNG bytes."""
    if isinstance(thumbnail, (bytes, bytearray, memoryview)):
        data = bytes(thumbnail)
        png.decode(data)  # refuse now what could not be re-embedded later
        return data
    try:
        return png.encode(thumbnail, level)
    except ValueError as exc:
        raise GalleryError(str(exc)) from None


def grouped_vectors(rows, path, what: str) -> tuple[list[str], np.ndarray]:
    """(name of each row, float32 matrix N x D) from rows of (name, little-endian float32
    bytes, dimension), as the store reads embeddings and rejections; vectors of two sizes
    in one gallery are a GalleryError naming ``what``."""
    if not rows:
        return [], np.zeros((0, 0), np.float32)
    dims = {r[2] for r in rows}
    if len(dims) != 1:
        raise GalleryError(f"{path} mixes {what} sizes {sorted(dims)}: run edge-gallery check")
    matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4")
    return [r[0] for r in rows], matrix.reshape(len(rows), dims.pop()).astype(np.float32)
