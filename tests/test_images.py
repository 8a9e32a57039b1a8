"""Reading photos in bounded memory: the header first, large photos decoded reduced,
detection at a bounded working size (edge.images, edge.detect)."""
from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest

from edge.images import ImageError, decode_image, image_size, reduction
from tests.edge_support import BUNDLE, orl


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with a token of data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def test_reduction_keeps_the_long_side_at_least_the_decode_side():
    assert reduction(8000, 6000, 3000) == 2
    assert reduction(12000, 9000, 3000) == 4
    assert reduction(24000, 100, 3000) == 8
    assert reduction(2999, 2000, 3000) == 1
    assert reduction(6000, 4000, 3000) == 2


def test_a_large_jpeg_is_decoded_reduced_and_a_small_one_whole():
    big = np.zeros((2400, 3200, 3), np.uint8)
    cv2.circle(big, (1600, 1200), 900, (40, 180, 220), -1)
    data = jpeg(big)
    assert image_size(data) == (3200, 2400)
    assert decode_image(data, side=1600).shape == (1200, 1600, 3)
    assert decode_image(data, side=800).shape == (600, 800, 3)
    assert decode_image(data, side=None).shape == (2400, 3200, 3)
    assert decode_image(jpeg(orl(1, 1))).shape == (112, 92, 3)


def test_a_bomb_is_refused_from_its_header_before_decoding():
    data = bomb_png(20_000, 20_000)
    assert len(data) < 1000
    with pytest.raises(ImageError, match="too large|bomb"):
        decode_image(data, "bomb.png")
    with pytest.raises(ImageError, match=r"too large \(8000x7000 pixels; at most 50 megapixels\)"):
        decode_image(bomb_png(8000, 7000), "big.png")
    with pytest.raises(ImageError, match="at most 0.01 megapixels"):
        decode_image(jpeg(np.zeros((200, 100, 3), np.uint8)), max_pixels=10_000)


def test_exif_rotation_is_applied_to_a_reduced_decode():
    from PIL import Image

    image = np.zeros((3000, 6400, 3), np.uint8)
    image[:, :100] = 255                           # a white band on the left edge
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6                               # shown turned 90 degrees clockwise
    Image.fromarray(image).save(buf, "JPEG", exif=exif)
    decoded = decode_image(buf.getvalue(), side=3000)
    assert decoded.shape[:2] == (3200, 1500)       # upright, and halved
    assert decoded[:40].mean() > 200 and decoded[-40:].mean() < 50   # the band is on top


def test_a_large_photo_is_detected_at_the_working_size_with_boxes_in_its_own_pixels():
    from edge.bundle import load_bundle

    detector = load_bundle(BUNDLE).detector(2)
    small = orl(1, 1)
    big = cv2.resize(small, None, fx=25, fy=25, interpolation=cv2.INTER_CUBIC)  # 2300 x 2800
    assert max(big.shape) > detector.max_side
    [face_small] = detector.detect(small)
    [face_big] = detector.detect(big)
    np.testing.assert_allclose(np.array(face_big.box) / 25, face_small.box, atol=3)
    np.testing.assert_allclose(face_big.landmarks / 25, face_small.landmarks, atol=3)
