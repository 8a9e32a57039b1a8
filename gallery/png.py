"""PNG in numpy and zlib alone, for face thumbnails.

Arrays follow OpenCV: grey is HxW, colour is HxWx3 in BGR order. The file holds RGB,
so an exported thumbnail opens with the right colours anywhere. ``decode`` reads any
8-bit, non-interlaced grey, grey+alpha, RGB or RGBA PNG (alpha is dropped).
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from .errors import CorruptFile

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def encode(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 grey (HxW) or BGR (HxWx3) image."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or 0 in image.shape \
            or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"a thumbnail must be a uint8 HxW or HxWx3 image, "
                         f"not {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    colour = 0 if image.ndim == 2 else 2
    rows = image if image.ndim == 2 else image[:, :, ::-1]  # BGR -> RGB
    raw = np.zeros((h, 1 + rows[0].size), np.uint8)  # filter byte 0 on each row
    raw[:, 1:] = rows.reshape(h, -1)
    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + _chunk(b"IEND", b""))


def chunks(data: bytes):
    """(kind, payload) of each chunk, checking the signature and every CRC."""
    if not data.startswith(SIGNATURE):
        raise CorruptFile("thumbnail is not a PNG")
    pos = len(SIGNATURE)
    while pos < len(data):
        if pos + 12 > len(data):
            raise CorruptFile("thumbnail PNG is truncated")
        (length,), kind = struct.unpack(">I", data[pos:pos + 4]), data[pos + 4:pos + 8]
        payload = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        expected = struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
        if crc != expected:
            raise CorruptFile("thumbnail PNG fails its checksum")
        yield kind, payload
        pos += 12 + length
        if kind == b"IEND":
            return
    raise CorruptFile("thumbnail PNG has no end")


def _unfilter(raw: bytes, h: int, stride: int, bpp: int) -> np.ndarray:
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        start = y * (stride + 1)
        kind = raw[start]
        line = np.frombuffer(raw, np.uint8, stride, start + 1).astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: running sum along the row, per channel
            cur = (line.reshape(-1, bpp).cumsum(0) % 256).reshape(-1)
        elif kind == 2:  # Up
            cur = (line + prev) % 256
        elif kind in (3, 4):  # Average, Paeth: each byte needs the one to its left
            cur, up = line.tolist(), prev.tolist()
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b = up[i]
                if kind == 3:
                    pred = (a + b) // 2
                else:
                    c = up[i - bpp] if i >= bpp else 0
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (cur[i] + pred) & 0xFF
            cur = np.array(cur, np.int32)
        else:
            raise CorruptFile(f"thumbnail PNG has unknown filter {kind}")
        out[y] = cur
        prev = cur
    return out


def decode(data: bytes) -> np.ndarray:
    """The uint8 grey (HxW) or BGR (HxWx3) image in these PNG bytes."""
    header, idat = None, []
    for kind, payload in chunks(data):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", payload)
        elif kind == b"IDAT":
            idat.append(payload)
    if header is None:
        raise CorruptFile("thumbnail PNG has no header")
    w, h, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise CorruptFile(f"thumbnail PNG kind not supported (bit depth {depth}, "
                          f"colour type {colour}, interlace {interlace})")
    n = _CHANNELS[colour]
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise CorruptFile(f"thumbnail PNG data is damaged ({exc})") from None
    if len(raw) != h * (w * n + 1):
        raise CorruptFile("thumbnail PNG data has the wrong size")
    pixels = _unfilter(raw, h, w * n, n).reshape(h, w, n)
    if n <= 2:
        return pixels[:, :, 0].copy()
    return pixels[:, :, 2::-1].copy()  # RGB(A) -> BGR
