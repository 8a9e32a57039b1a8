"""The device API: open a bundle, find faces, embed them, identify, enrol.

Five verbs over ``edge.pipeline.Pipeline``, for scripts that want faces named without
the command line::

    import edge
    edge.enrol("Ada", "ada.jpg")                 # one snapshot into the default gallery
    for face in edge.identify("door.jpg"):
        print(face.name, face.box)               # "Ada" or "unknown", largest face first

Images are BGR uint8 arrays (as OpenCV reads them) or paths to photos. ``bundle`` is a
shipped name (``accurate``, ``fast``), a folder, an opened ``Bundle``, or None for the
default; ``gallery`` a path, or None for the user's gallery. Each bundle's models are
opened once, on first use, and kept for the next call (not thread-safe: give each
thread its own ``Pipeline`` instead). Errors a user can cause are ``BundleError``,
``ImageError``, ``EnrolError`` or ``GalleryError``, each with a one-line message.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edge.bundle import DEFAULT_BUNDLE, Bundle, load_bundle
from edge.images import read_image
from edge.pipeline import FaceResult, Pipeline

_pipelines: dict[tuple, Pipeline] = {}


def open_bundle(bundle: str | os.PathLike = DEFAULT_BUNDLE, variant: str | None = None,
                threads: int | None = 2) -> Bundle:
    """A checked bundle: every file's sha256 verified and every model opened once.

    >>> b = edge.open_bundle("fast")
    >>> b.variant, b.threshold_for(10)          # ('int8', 0.96...)
    """
    return load_bundle(bundle, variant, threads=threads)


def find_faces(image, bundle=None) -> list:
    """The faces in ``image``, largest first: each with ``box`` (x1, y1, x2, y2),
    ``landmarks`` (five points), ``score`` and ``size`` in pixels.

    >>> [f.box for f in edge.find_faces("group.jpg")]
    """
    pipeline = _pipeline(bundle)
    return pipeline.find(_image(image))


def embed_faces(image, faces=None, bundle=None) -> np.ndarray:
    """The L2-normalised embedding of each face (N x dim); ``faces`` from
    ``find_faces`` (default: all found). Two faces of one person are closer than the
    bundle's threshold, Euclidean.

    >>> a, b = edge.embed_faces("ada1.jpg")[0], edge.embed_faces("ada2.jpg")[0]
    >>> float(np.linalg.norm(a - b))            # 0.5: same person at the default bundle
    """
    pipeline, image = _pipeline(bundle), _image(image)
    faces = pipeline.find(image) if faces is None else faces
    return pipeline.embed(pipeline.align(image, faces))


def identify(image, gallery=None, bundle=None, fpir: float = 0.01) -> list[FaceResult]:
    """Who is in ``image``: a ``FaceResult`` per face, largest first (``name``,
    ``distance``, ``margin``, ``box``, ``candidates``), named when nearer than the
    threshold that names at most ``fpir`` of strangers for this gallery's size.

    >>> [(f.name, round(f.distance, 2)) for f in edge.identify("door.jpg")]
    """
    from gallery.errors import GalleryError
    from gallery.match import Matcher
    from gallery.store import default_path

    path = Path(gallery) if gallery is not None else default_path()
    if not path.is_file():
        raise GalleryError(f"{path}: no gallery there (enrol someone first)")
    pipeline = _pipeline(bundle)
    b = pipeline.bundle
    with Matcher(path, b.sha256, b.threshold_rule(fpir)) as matcher:
        return pipeline.photo(_image(image), matcher)


def enrol(name: str, image, gallery=None, bundle=None, append: bool = False) -> list[int]:
    """Store ``name`` from one snapshot (a photo where one face is the clear subject);
    with ``append``, add the snapshot to someone already enrolled. Returns the new
    enrolment ids. Nothing is written if the photo or name is refused.

    >>> edge.enrol("Ada", "ada.jpg", gallery="home.db")    # [1]
    """
    from contextlib import nullcontext

    from edge.enrolment import check_name, enrol as store, snapshot_of
    from gallery.store import Gallery, default_path, open_existing

    path = Path(gallery) if gallery is not None else default_path()
    with open_existing(path) or nullcontext() as g:   # no file is made for a refusal
        name = check_name(g, name, append)
        pipeline = _pipeline(bundle)
        snapshot = snapshot_of(_image(image), pipeline.detector,
                               str(image) if isinstance(image, (str, os.PathLike)) else "")
        with nullcontext(g) if g is not None else Gallery(path) as target:
            return store(target, pipeline.thumbnails, name, [snapshot], append)


def _image(image) -> np.ndarray:
    return read_image(image) if isinstance(image, (str, os.PathLike)) else np.asarray(image)


def _pipeline(bundle) -> Pipeline:
    """The kept pipeline of ``bundle`` (opened on first use)."""
    bundle = DEFAULT_BUNDLE if bundle is None else bundle
    key = (str(bundle.path), bundle.variant) if isinstance(bundle, Bundle) else str(bundle)
    if key not in _pipelines:
        b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle, threads=2)
        _pipelines[key] = Pipeline(b, threads=2, min_face=None, max_faces=100)
    return _pipelines[key]
