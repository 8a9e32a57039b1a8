"""Enrolment: from one snapshot (or a few photos) to a person in the gallery.

A snapshot must show exactly one face that is large and sharp enough. What is stored
is the face's embedding and its canonical thumbnail: the crop aligned to the 112 px
five-point template in colour, from which any bundle can re-embed it later.
Nothing is written unless every photo of the person passes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.align import align_face
from edge.faces import sharpness
from gallery.errors import CorruptFile, GalleryBusy, ModelMismatch, NotWritable

THUMBNAIL = 112
MIN_FACE = 48          # pixels, the face box's shorter side
MIN_SHARPNESS = 25.0   # Laplacian variance of the 112 px thumbnail (sigma-2 blur gives ~27)
MIN_SCORE = 0.9
DOMINANT = 0.6         # a second enrollable face smaller than this share of the largest is
                       # a bystander; a larger one makes the photo ambiguous


# What refuses everyone alike, said once rather than for each person of a batch.
GALLERY_REFUSES = (ModelMismatch, GalleryBusy, NotWritable, CorruptFile)


class EnrolError(Exception):
    """The photo or the name cannot be enrolled; the message says why.

    ``reason``: the kind of refusal in a few words ("no face", "face too small"...), the
    same for every photo refused alike, so refusals can be counted (edge-bench does).
    """

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


@dataclass
class Snapshot:
    thumbnail: np.ndarray    # 112 x 112 BGR aligned crop
    box: tuple
    sharpness: float
    source: str


def snapshot_of(image, detector, source: str = "", min_face: int = MIN_FACE,
                min_sharpness: float = MIN_SHARPNESS) -> Snapshot:
    """The one usable face of ``image`` (BGR), or EnrolError saying why not.

    Only faces that could themselves be enrolled (confident and at least ``min_face``)
    count: a face in the background too small to enrol does not spoil the photo, and
    the largest face is taken when every other is smaller than ``DOMINANT`` of it.
    """
    found = sorted((f for f in detector.detect(image) if f.score >= MIN_SCORE),
                   key=lambda f: f.size, reverse=True)
    where = f"{source}: " if source else ""
    if not found:
        raise EnrolError(f"{where}no face found", "no face")
    faces = [f for f in found if f.size >= min_face] or found[:1]
    if len(faces) > 1 and faces[1].size >= DOMINANT * faces[0].size:
        sizes = ", ".join(f"{f.size:.0f}" for f in faces)
        raise EnrolError(f"{where}{len(faces)} faces of similar size found ({sizes} px); "
                         "enrol from a photo where one person is the clear subject",
                         "several faces")
    face = faces[0]
    if face.size < min_face:
        raise EnrolError(f"{where}face too small ({face.size:.0f} px; at least {min_face} px)",
                         "face too small")
    if image.ndim == 2:
        import cv2
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    thumb = align_face(image, face.landmarks, THUMBNAIL)
    sharp = sharpness(thumb)
    if sharp < min_sharpness:
        raise EnrolError(f"{where}face too blurred (sharpness {sharp:.0f}; at least "
                         f"{min_sharpness:.0f})", "face too blurred")
    return Snapshot(thumb, face.box, sharp, source)


def check_name(gallery, name: str, append: bool) -> str:
    """The name to enrol under, or EnrolError (bad name, duplicate without append,
    unknown with append).

    The cleaned name, or with ``append`` the person's stored spelling: names are one
    person's without regard to case and Unicode form, so "alan turing" appends to
    "Alan Turing". ``gallery`` None: there is no gallery yet, so no one is enrolled.
    """
    from gallery.errors import GalleryError
    from gallery.names import clean_name

    try:
        name = clean_name(name)
        stored = gallery.person(name).name if gallery is not None and gallery.has(name) \
            else None
    except GalleryError as exc:
        raise EnrolError(str(exc)) from None
    if stored is not None and not append:
        spelt = f" as {stored!r}" if stored != name else ""
        raise EnrolError(f"{name!r} is already enrolled{spelt} (use --append to add a "
                         "snapshot)")
    if append and stored is None:
        raise EnrolError(f"{name!r} is not enrolled, nothing to append to")
    return stored or name


def enrol(gallery, embedder, name: str, snapshots: list[Snapshot], append: bool = False) -> list[int]:
    """Store every snapshot under ``name`` in one transaction; returns enrolment ids.

    ``embedder``: a thumbnail embedder (``Bundle.thumbnail_embedder``). A gallery of
    another model's embeddings raises its ModelMismatch as it is, so the caller can
    name the bundle to re-embed it with; a gallery no one can be enrolled into now
    (``GALLERY_REFUSES``: busy, not writable, damaged) raises its own error too, so a
    batch stops at the first person; other refusals are EnrolError.
    """
    from gallery.errors import GalleryError

    if not snapshots:
        raise EnrolError("no snapshot to enrol")
    vectors = embedder.embed([s.thumbnail for s in snapshots])
    ids = []
    try:
        with gallery.batch():
            for i, (snap, vec) in enumerate(zip(snapshots, vectors)):
                ids.append(gallery.enrol(name, vec, embedder.sha256, snap.thumbnail,
                                         source=snap.source, quality=snap.sharpness,
                                         append=append or i > 0))
    except GALLERY_REFUSES:
        raise
    except GalleryError as exc:
        raise EnrolError(str(exc)) from None
    return ids
