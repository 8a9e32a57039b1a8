"""Signed exports: an HMAC-SHA256 of the export's manifest, with a key both ends share.

The manifest holds the sha256 of every other member of the export, so its HMAC vouches
for all of them. The signature is the zip's comment (``siamese-edge hmac-sha256:HEX``),
which readers without a key (and older versions) pass over, so a signed export imports
anywhere; given the key, a reader refuses an export that is unsigned, signed with
another key, or changed since it was signed.

A key is the bytes of a file, surrounding whitespace aside, at least 16 of them; make
one with ``head -c 32 /dev/urandom | base64 > gallery.key``.
"""
from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from .errors import BadSignature, GalleryError

PREFIX = b"siamese-edge hmac-sha256:"
MIN_KEY = 16


def read_key(path: str | Path) -> bytes:
    """The key in the file ``path``; GalleryError when there is none fit to use."""
    path = Path(path)
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise GalleryError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
    if len(key) < MIN_KEY:
        raise GalleryError(f"the key file {path} holds {len(key)} bytes; a key needs at least "
                           f"{MIN_KEY} (make one with: head -c 32 /dev/urandom | base64 > KEY)")
    return key


def sign(manifest: bytes, key: bytes) -> bytes:
    """The zip comment that signs the manifest bytes ``manifest`` with ``key``."""
    return PREFIX + hmac.new(key, manifest, hashlib.sha256).hexdigest().encode("ascii")


def verify(path: Path, manifest: bytes, comment: bytes, key: bytes) -> None:
    """Refuse (BadSignature) the export ``path``, whose manifest is the bytes
    ``manifest`` and zip comment ``comment``, unless ``key`` signed it."""
    if not comment.startswith(PREFIX):
        raise BadSignature(f"{path} is not signed, and a signed export was asked for "
                           "(export it with --sign-key-file)")
    if not hmac.compare_digest(comment, sign(manifest, key)):
        raise BadSignature(f"{path} is not signed with this key, or was changed after it "
                           "was signed: it is refused")
