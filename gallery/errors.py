"""The errors a user can cause. Each message is one line that says what to do.

A command a message asks for is written to be pasted as it is (``reembed_command``).
"""
from __future__ import annotations

import os
import shlex
from pathlib import Path


class GalleryError(Exception):
    """Base of every gallery error; the command line prints it as one line."""


class InvalidName(GalleryError):
    """A name that is empty, too long or holds control characters."""


class UnknownPerson(GalleryError):
    """No one of that name is enrolled."""


class UnknownSighting(GalleryError):
    """No sighting of that id is kept (never made, or pruned since)."""


class DuplicatePerson(GalleryError):
    """Someone of that name is already enrolled (case and Unicode form aside)."""


class AmbiguousName(GalleryError):
    """A name that means several people of a gallery made before names were compared
    without regard to case (``edge-gallery check`` lists them)."""


class ModelMismatch(GalleryError):
    """Embeddings made by different models cannot be compared.

    Made by ``model_mismatch`` when a gallery meets a model other than its own:
    ``gallery`` is then its file, ``stored`` and ``offered`` the two models' sha256
    (otherwise all three are None).
    """

    def __init__(self, message: str, *, gallery=None, stored=None, offered=None):
        super().__init__(message)
        self.gallery, self.stored, self.offered = gallery, stored, offered


class CorruptFile(GalleryError):
    """A gallery or export file that cannot be read as one."""


class ChecksumMismatch(CorruptFile):
    """An export file whose contents do not match its manifest."""


class BadSignature(CorruptFile):
    """An export not signed with the key it was checked against (``gallery.signing``)."""


class SchemaTooNew(GalleryError):
    """A gallery written by a newer siamese-edge than this one."""


class GalleryBusy(GalleryError):
    """Another program kept the gallery's write lock for longer than the wait."""


class NotWritable(GalleryError):
    """The gallery cannot be opened or written there: a read-only file or folder, a
    path under a file, a full or failing disk (``gallery.access`` says which)."""


def _command(gallery, *words: str) -> str:
    """``edge-gallery WORDS...`` for the gallery file ``gallery``, ready to paste:
    ``--gallery`` is given unless ``gallery`` is the file edge-gallery opens without it
    ($EDGE_GALLERY, else ``store.default_path()``)."""
    from .store import default_path  # the store imports this module

    words = ["edge-gallery", *words]
    path = Path(gallery).resolve()
    if path != Path(os.environ.get("EDGE_GALLERY") or default_path()).resolve():
        words += ["--gallery", str(path)]
    return " ".join(shlex.quote(w) for w in words)


def reembed_command(gallery, bundle: str = "NEW", variant: str | None = None) -> str:
    """The ``edge-gallery reembed`` command that re-embeds the gallery file ``gallery``
    with ``bundle`` (its ``variant``), ready to paste; NEW stands for a bundle the
    caller does not know."""
    return _command(gallery, "reembed", "--bundle", str(bundle),
                    *(["--variant", variant] if variant else []))


def check_command(gallery) -> str:
    """The ``edge-gallery check`` command for the gallery file ``gallery``, to paste."""
    return _command(gallery, "check")


def model_mismatch(gallery, stored: str, offered: str, bundle: str = "NEW",
                   variant: str | None = None) -> ModelMismatch:
    """The error for the gallery file ``gallery``, which holds model ``stored``'s
    embeddings, meeting model ``offered`` (``bundle``'s, when the caller knows it)."""
    from .values import short  # values imports this module

    return ModelMismatch(
        f"the gallery {gallery} holds embeddings made by model {short(stored)}, not by "
        f"{short(offered)}; re-embed it for the new model (the old bundle's embeddings "
        f"will then no longer match) with: {reembed_command(gallery, bundle, variant)}",
        gallery=Path(gallery), stored=stored, offered=offered)
