"""Face thumbnails as PNG bytes, with the standard library's zlib (no image library).

Arrays follow OpenCV: grey is HxW, colour is HxWx3 in BGR order; the file itself holds
the right colours, so an exported thumbnail opens correctly anywhere. Written: 8-bit
grey or RGB, every row "Up"-filtered. Read: any 8-bit, non-interlaced grey or colour PNG
(an alpha channel is dropped), whatever row filters its writer chose, so thumbnails made
by other programs (OpenCV's, in galleries made before) read the same.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from .errors import CorruptFile

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIDE = 4096                      # a thumbnail is 112 px; anything far larger is refused
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel (grey, RGB, +alpha)
DAMAGED = "a thumbnail PNG is damaged or not 8-bit"


def encode(image: np.ndarray, level: int = 9) -> bytes:
    """PNG bytes of a uint8 grey (HxW) or BGR (HxWx3) image, compressed at zlib
    ``level`` (9: smallest; the sightings kept while identifying use a quicker one)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or 0 in image.shape \
            or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"a thumbnail must be a uint8 HxW or HxWx3 image, "
                         f"not {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    rows = np.ascontiguousarray(image[..., ::-1] if image.ndim == 3 else image).reshape(h, -1)
    up = np.diff(rows, axis=0, prepend=np.zeros((1, rows.shape[1]), np.uint8))  # wraps mod 256
    raw = np.concatenate([np.full((h, 1), 2, np.uint8), up], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", w, h, 8, 2 if image.ndim == 3 else 0, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, level)) \
        + _chunk(b"IEND", b"")


def decode(data: bytes) -> np.ndarray:
    """The image in PNG bytes (grey HxW or BGR HxWx3); CorruptFile if it is not one."""
    data = bytes(data)
    if not data.startswith(SIGNATURE):
        raise CorruptFile("a thumbnail is not a PNG file")
    header, idat = _chunks(data)
    w, h, depth, colour, _, _, interlace = header
    bpp = CHANNELS.get(colour)
    if depth != 8 or bpp is None or interlace or not 0 < w <= MAX_SIDE or not 0 < h <= MAX_SIDE:
        raise CorruptFile(DAMAGED)
    stride = w * bpp
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(idat, h * (stride + 1) + 1)
    except zlib.error:
        raise CorruptFile(DAMAGED) from None
    if len(raw) != h * (stride + 1):
        raise CorruptFile(DAMAGED)
    rows = np.frombuffer(raw, np.uint8).reshape(h, stride + 1)
    image = _unfilter(rows[:, 0], rows[:, 1:], bpp).reshape(h, w, bpp)
    if bpp <= 2:                     # grey, with or without alpha
        return np.ascontiguousarray(image[..., 0])
    return np.ascontiguousarray(image[..., 2::-1])   # RGB(A) -> BGR


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _chunks(data: bytes) -> tuple[tuple, bytes]:
    """(IHDR fields, the joined IDAT data); every chunk's CRC checked, up to IEND."""
    pos, header, idat = len(SIGNATURE), None, []
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body, crc = data[pos + 8:pos + 8 + length], data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc) != 4 \
                or zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise CorruptFile(DAMAGED)
        if kind == b"IHDR" and length == 13:
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    else:
        raise CorruptFile(DAMAGED)   # ended before IEND
    if header is None or not idat:
        raise CorruptFile(DAMAGED)
    return header, b"".join(idat)


def _unfilter(kinds: np.ndarray, rows: np.ndarray, bpp: int) -> np.ndarray:
    """Undo PNG's per-row filters (None, Sub, Up, Average, Paeth); uint8 sums wrap."""
    if np.all(kinds == 2):           # every row "Up", as encode writes: one cumulative sum
        return np.cumsum(rows, axis=0, dtype=np.uint8)
    out = np.empty_like(rows)
    prev = np.zeros(rows.shape[1], np.uint8)
    for y, (kind, line) in enumerate(zip(kinds, rows)):
        if kind == 0:
            cur = line
        elif kind == 1:
            cur = np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).ravel()
        elif kind == 2:
            cur = line + prev
        elif kind in (3, 4):
            cur = _left_dependent(line, prev, bpp, average=kind == 3)
        else:
            raise CorruptFile(DAMAGED)
        out[y] = cur
        prev = out[y]
    return out


def _left_dependent(line: np.ndarray, prev: np.ndarray, bpp: int, average: bool) -> np.ndarray:
    """Average and Paeth, which need each byte's reconstructed left neighbour: one pass."""
    x, up, out = line.tolist(), prev.tolist(), [0] * len(line)
    for i in range(len(x)):
        a = out[i - bpp] if i >= bpp else 0
        if average:
            out[i] = (x[i] + ((a + up[i]) >> 1)) & 255
            continue
        c = up[i - bpp] if i >= bpp else 0
        p = a + up[i] - c
        pa, pb, pc = abs(p - a), abs(p - up[i]), abs(p - c)
        out[i] = (x[i] + (a if pa <= pb and pa <= pc else up[i] if pb <= pc else c)) & 255
    return np.array(out, np.uint8)
