"""What the pages and the JSON API do, once: list, enrol, rename, remove, identify a photo,
and the sightings the identify loop keeps, with their corrections (assign, reject).

The web has its own pipeline (detector and embedder), made from the bundle on first use
and never touched by the identify loop. TFLite interpreters are not thread-safe, so the
web's model work (detect, embed, match, store an enrolment) runs on one thread of its
own, one request after another. So does drawing the boxes and names: OpenCV keeps some
6 MB of text-drawing state in every thread that draws text, which would be paid once
per worker of the server. The gallery is opened per request and per thread (SQLite
connections belong to one thread); the live loop's matcher notices every change.
Until someone is enrolled there may be no gallery file: the pages then show an empty
gallery and name no one, and the file is created only when the first person passes.
Errors a user can cause (``USER_ERRORS``) pass through unchanged: their messages are
the ones ``edge-enroll`` and ``edge-gallery`` print.
"""
from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path

import cv2

from edge.draw import annotate
from edge.enrolment import EnrolError, check_name, enrol, snapshot_of
from edge.images import ImageError
from edge.pipeline import FaceResult, Pipeline
from gallery import corrections
from gallery.errors import DuplicatePerson, GalleryError, UnknownPerson, UnknownSighting
from gallery.match import Matcher
from gallery.names import clean_name
from gallery.store import Gallery, default_path, open_existing

USER_ERRORS = (EnrolError, ImageError, GalleryError)
MAX_SIDE = 1600      # larger photos are scaled down before detection
MAX_FACES = 10


def status_of(exc: Exception) -> int:
    """The HTTP status of a user error."""
    if isinstance(exc, (UnknownPerson, UnknownSighting)):
        return 404
    if isinstance(exc, DuplicatePerson) or "already enrolled" in str(exc):
        return 409
    return 400


class Operations:
    def __init__(self, bundle, gallery_path=None, threshold=None, threads: int | None = 1):
        """``threshold``: a fixed distance, a function of the gallery's size, or None for
        the bundle's (at 1% of strangers accepted, for the gallery's size)."""
        self.bundle = bundle
        self.path = Path(gallery_path) if gallery_path is not None else default_path()
        self._threshold = (bundle.threshold_rule() if threshold is None else
                           threshold if callable(threshold) else float(threshold))
        self.threshold = bundle.threshold if callable(self._threshold) else self._threshold
        self.threads = threads
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="edge-web-models")
        self._pipeline = None

    def gallery(self):
        """The gallery, opened for one request, to use in ``with``; when there is no file
        yet, a context of None (no one is enrolled), and no file is created."""
        return open_existing(self.path) or nullcontext()

    def _run(self, work):
        """``work()`` run on the model thread, once the requests before it are done."""
        return self._thread.submit(work).result()

    def _models(self) -> Pipeline:
        """The web's pipeline (no matcher of its own); call on the model thread."""
        if self._pipeline is None:
            self._pipeline = Pipeline(self.bundle, threads=self.threads, max_faces=MAX_FACES,
                                      min_face=None)
        return self._pipeline

    # -- reads ----------------------------------------------------------------------------

    def people(self) -> list[dict]:
        with self.gallery() as g:
            if g is None:
                return []
            return [{"name": p.name, "created": p.created,
                     "enrolments": [{"id": e.id, "source": e.source, "created": e.created,
                                     "quality": None if e.quality is None else round(e.quality, 1),
                                     "thumbnail": f"/thumbnails/{e.id}.png"}
                                    for e in p.enrolments]}
                    for p in g.people()]

    def thumbnail(self, enrolment_id: int) -> bytes:
        with self.gallery() as g:
            if g is None:
                raise GalleryError(f"no thumbnail for enrolment {enrolment_id}")
            return g.thumbnail(enrolment_id)

    def sightings(self, *, unknown: bool = False, since: float | None = None,
                  limit: int | None = None, before: int | None = None) -> list[dict]:
        """The sightings kept, newest first (see ``SightingStore.list``)."""
        with self.gallery() as g:
            if g is None:
                return []
            return [{**s.as_dict(), "timestamp": s.time, "thumbnail": f"/sightings/{s.id}.png"}
                    for s in g.sightings.list(unknown=unknown, since=since, limit=limit,
                                              before=before)]

    def sighting_thumbnail(self, sighting_id: int) -> bytes:
        with self.gallery() as g:
            if g is None:
                raise UnknownSighting(f"no sighting {sighting_id}")
            return g.sightings.thumbnail(sighting_id)

    # -- changes --------------------------------------------------------------------------

    def enrol(self, name: str, image, source: str, append: bool = False) -> dict:
        """Enrol (or with ``append``, add a snapshot to) ``name`` from one photo.

        With no gallery file yet, it is created only once the name and photo have passed.
        """
        with self.gallery() as g:
            name = check_name(g, name, append)
        image = _fit(image)

        def work():
            models = self._models()
            snap = dataclasses.replace(snapshot_of(image, models.detector), source=source)
            with Gallery(self.path) as store:
                return enrol(store, models.thumbnails, name, [snap], append)
        return {"name": name, "enrolments": self._run(work), "appended": append}

    def rename(self, old: str, new: str) -> str:
        with self.gallery() as g:
            if g is None:
                clean_name(new)  # a bad new name is refused first, as by Gallery.rename
                raise self._no_one(old)
            return g.rename(old, new)

    def remove(self, name: str) -> int:
        with self.gallery() as g:
            if g is None:
                raise self._no_one(name)
            return g.remove(name)

    def assign(self, sighting, name: str) -> dict:
        """Enrol a sighting's face as ``name`` (``gallery.corrections.assign``)."""
        return self._correct(corrections.assign, sighting, name)

    def reject(self, sighting, name: str) -> dict:
        """Record that a sighting's face is not ``name`` (``corrections.reject``)."""
        return self._correct(corrections.reject, sighting, name)

    def _correct(self, correct, sighting, name: str) -> dict:
        with self.gallery() as g:
            if g is None:
                raise UnknownSighting(f"no sighting {str(sighting)[:40]} (none is kept yet)")
            return correct(g, sighting, name, _ModelThread(self)).as_dict()

    def _no_one(self, name: str) -> UnknownPerson:
        return UnknownPerson(f"no one named {name!r} in {self.path} (no one is enrolled yet)")

    # -- identify a photo ---------------------------------------------------------------

    def identify(self, image):
        """(a dict per face, largest first; the photo, scaled to at most MAX_SIDE, with
        boxes and names). Boxes are in the given photo's pixels."""
        given_width, image = image.shape[1], _fit(image)
        scale = given_width / image.shape[1]
        def work():
            # no gallery file: no one is enrolled, so no one is named (and no file is made)
            if not self.path.exists():
                results, threshold = self._models().photo(image, None), None
            else:
                with Matcher(self.path, self.bundle.sha256, self._threshold) as matcher:
                    results, threshold = self._models().photo(image, matcher), matcher.threshold
            return results, threshold, annotate(image, results)
        results, threshold, drawn = self._run(work)
        if threshold is not None:
            self.threshold = threshold   # the one used, for the gallery's size
        return [_as_dict(r, scale) for r in results], drawn


class _ModelThread:
    """The web's thumbnail embedder, on the model thread, made only if a sighting's face
    must be embedded again (it was made by another model than the gallery's)."""

    def __init__(self, ops: Operations):
        self.ops, self.sha256 = ops, ops.bundle.sha256

    def embed(self, faces):
        return self.ops._run(lambda: self.ops._models().thumbnails.embed(faces))


def _as_dict(face: FaceResult, scale: float) -> dict:
    d = face.as_dict()
    return {"face": face.track, "name": face.name, "known": face.known,
            "distance": d["distance"], "margin": d["margin"],
            "box": [round(v * scale, 1) for v in face.box],
            "candidates": [{"name": n, "distance": round(v, 4)} for n, v in face.candidates]}


def _fit(image, max_side: int = MAX_SIDE):
    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
