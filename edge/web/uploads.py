"""Photos from the browser: an upload, judged by its content and its size before decoding,
or a snapshot of the live view.

Flask's MAX_CONTENT_LENGTH caps the bytes; ``edge.images.decode_image`` reads the
header's width and height and refuses a photo of more than ``max_pixels`` before anything
is decoded, and decodes a large photo reduced. The name of the file is never trusted.
At most ``DECODING`` uploads are read into memory and decoded at once (a 48 MP photo
holds the whole upload and its decoded picture); the others wait their turn.
"""
from __future__ import annotations

import threading

from edge.images import MAX_PIXELS, ImageError, decode_image

DECODING = 2
_decoding = threading.BoundedSemaphore(DECODING)


def read_upload(file, max_pixels: int = MAX_PIXELS):
    """The BGR image of an uploaded file (werkzeug FileStorage), or ImageError why not."""
    if file is None or not file.filename:
        raise ImageError("no photo was uploaded: choose a file")
    with _decoding:
        data = file.read()
        if not data:
            raise ImageError("the photo is empty")
        return decode_image(data, "the photo", max_pixels)


def photo_from(form, files, live, max_pixels: int = MAX_PIXELS):
    """(BGR image, source label) of a request: the live frame when the form's ``source``
    is "live", else its uploaded ``photo``."""
    if form.get("source") == "live":
        frame = live.frame() if live is not None else None
        if frame is None:
            raise ImageError("no frame from the live source yet: is a camera running?")
        return frame, "web snapshot"
    return read_upload(files.get("photo"), max_pixels), "web upload"
