"""Photos from the browser: an upload, judged by its content and its size before decoding,
or a snapshot of the live view.

Flask's MAX_CONTENT_LENGTH caps the bytes; here the image header's width and height are
read (Pillow reads only the header on open) and a photo of more than ``max_pixels`` is
refused before anything is decoded, so a small file that would unpack into gigabytes
(a decompression bomb) costs nothing. The name of the file is never trusted.
"""
from __future__ import annotations

import io
import warnings

from edge.images import ImageError, decode_image

MAX_PIXELS = 12_000_000


def read_upload(file, max_pixels: int = MAX_PIXELS):
    """The BGR image of an uploaded file (werkzeug FileStorage), or ImageError why not."""
    if file is None or not file.filename:
        raise ImageError("no photo was uploaded: choose a file")
    data = file.read()
    name = "the photo"
    if not data:
        raise ImageError(f"{name} is empty")
    width, height = image_size(data, name)
    if width * height > max_pixels:
        raise ImageError(f"{name} is too large ({width}x{height} pixels; "
                         f"at most {max_pixels / 1e6:g} megapixels)")
    return decode_image(data, name)


def image_size(data: bytes, name: str = "the photo") -> tuple[int, int]:
    """(width, height) from the image header alone."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's own bomb warning: we judge below
            with Image.open(io.BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError:
        raise ImageError(f"{name} is far too large (a decompression bomb?)") from None
    except Exception:  # Pillow raises many kinds for garbage: all mean "not an image"
        raise ImageError(f"{name} is not a readable image (JPEG, PNG, PGM, BMP, WebP, ...)") \
            from None


def photo_from(form, files, live, max_pixels: int = MAX_PIXELS):
    """(BGR image, source label) of a request: the live frame when the form's ``source``
    is "live", else its uploaded ``photo``."""
    if form.get("source") == "live":
        frame = live.frame() if live is not None else None
        if frame is None:
            raise ImageError("no frame from the live source yet: is a camera running?")
        return frame, "web snapshot"
    return read_upload(files.get("photo"), max_pixels), "web upload"
