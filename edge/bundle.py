"""Reading a model bundle: the one folder that crosses from workstation to device.

``manifest.json`` says everything the device needs (schema version, input size and
colour, normalisation, embedding size, distance, calibrated threshold per variant, the
detector files, and the sha256 of every model file); ``edge.manifest`` reads and checks
it. The device never guesses: a bundle it cannot read, whose files are missing or
altered, or whose embedding model takes other faces than the manifest says, is refused
with one clear BundleError.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from edge.manifest import (MANIFEST, SCHEMA, BundleError, EmbeddingSpec, Manifest, Variant,
                           read_manifest)

SHIPPED = Path(__file__).parent / "bundles"
DEFAULT_BUNDLE = "accurate"
__all__ = ["SCHEMA", "MANIFEST", "BundleError", "Bundle", "load_bundle", "load_embedder",
           "resolve", "sha256_file", "shipped_bundles", "SHIPPED", "DEFAULT_BUNDLE"]


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shipped_bundles() -> list[str]:
    return sorted(p.name for p in SHIPPED.iterdir() if (p / MANIFEST).is_file()) \
        if SHIPPED.is_dir() else []


def resolve(name_or_path) -> Path:
    """A bundle folder from a shipped name (``fast``, ``accurate``) or a path."""
    path = Path(name_or_path)
    if (path / MANIFEST).is_file():
        return path
    if path.exists():
        raise BundleError(f"{path}: not a bundle (no {MANIFEST})")
    if (SHIPPED / str(name_or_path) / MANIFEST).is_file():
        return SHIPPED / str(name_or_path)
    known = ", ".join(shipped_bundles()) or "none installed"
    raise BundleError(f"unknown bundle {name_or_path!r} (shipped: {known}; or give a folder)")


@dataclass
class Bundle:
    """A bundle opened with one of its embedding ``variant``s; ``manifest`` is its
    checked manifest (``edge.manifest.Manifest``)."""
    path: Path
    manifest: Manifest
    variant: str
    # model file -> (threads, interpreter) opened by load_bundle's runtime check (see _take)
    _opened: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The bundle's name: the manifest's, else its folder's."""
        return self.manifest.name or self.path.name

    @property
    def spec(self) -> EmbeddingSpec:
        return self.manifest.embedding

    @property
    def model(self) -> Variant:
        return self.spec.variants[self.variant]

    @property
    def sha256(self) -> str:
        return self.model.sha256

    @property
    def threshold(self) -> float:
        """The bundle's own threshold: for the gallery size and FPIR it was stated for
        (``identification``), or the one calibrated threshold of an older bundle."""
        return float(self.model.threshold)

    def threshold_for(self, gallery_size: int, fpir: float | None = None) -> float:
        """The distance threshold that names at most ``fpir`` (default 1%) of strangers
        as someone, for a gallery of ``gallery_size`` stored faces: a stranger gets one
        chance per stored face, so a larger gallery needs a stricter threshold. Read off
        the manifest's identification curve; a bundle without one has its one threshold."""
        from edge.metrics import FPIR_TARGET, threshold_for_gallery

        curve = self.model.identification
        if curve is None:
            return self.threshold
        return threshold_for_gallery(curve.curve, max(int(gallery_size), 1),
                                     FPIR_TARGET if fpir is None else fpir)

    def threshold_rule(self, fpir: float | None = None):
        """``threshold_for`` as a function of the gallery's size alone (for ``Matcher``)."""
        return lambda size: self.threshold_for(size, fpir)

    def file(self, name: str) -> Path:
        return self.path / name

    def _take(self, name: str, threads: int | None):
        """The interpreter the runtime check opened for model file ``name`` if it has
        ``threads``, else None. The first request takes it or drops it: an interpreter
        serves one user, and its thread count is fixed when it is made."""
        opened = self._opened.pop(name, None)
        return opened[1] if opened is not None and opened[0] == threads else None

    def embedder(self, threads: int | None = None):
        from edge.embed import Embedder

        inp, name = self.spec.input, self.model.file
        embedder = Embedder(self.file(name), inp.mean, inp.scale, threads, self.sha256,
                            self._take(name, threads))
        _check_embedder(self.path, name, self.spec, embedder.interpreter)
        return embedder

    def thumbnail_embedder(self, threads: int | None = None) -> "ThumbnailEmbedder":
        """An embedder of stored thumbnails (112 px BGR aligned crops, see edge.enrolment)."""
        inp = self.spec.input
        return ThumbnailEmbedder(self.embedder(threads), inp.size, inp.colour)

    def detector(self, threads: int | None = None, **overrides):
        from edge.detect import Detector

        det = self.manifest.detector
        names = [net.file for net in det.nets.values()]
        given = det.settings
        settings = {"min_face": given.min_face, "scale_factor": given.scale_factor,
                    "thresholds": given.thresholds, **overrides}
        return Detector(*map(self.file, names), threads=threads,
                        opened=[self._take(n, threads) for n in names], **settings)


def load_bundle(name_or_path, variant: str | None = None, verify: bool = True,
                threads: int | None = None) -> Bundle:
    """Open and check a bundle; ``variant`` defaults to the manifest's default.

    Every value of the manifest is checked (``edge.manifest``) and every file it names
    must exist. ``verify`` also checks the sha256 of the files this variant uses, opens
    each model with this device's runtime and compares the embedding model's input and
    output with the manifest's size, colour and length. The interpreters so made (with
    ``threads``) are kept for the first detector and embedder asked for with the same
    ``threads``, so no model is opened twice.
    """
    path = resolve(name_or_path)
    manifest = read_manifest(path)
    variants = manifest.embedding.variants
    variant = variant or manifest.embedding.default_variant
    if variant not in variants:
        raise BundleError(f"{path}: no variant {variant!r} (has: {', '.join(variants)})")
    bundle = Bundle(path, manifest, variant)
    for name in manifest.file_names():
        if not (path / name).is_file():
            raise BundleError(f"{path}: missing file {name}")
    files = manifest.files(variant)
    if verify:
        for name, digest in files:
            if sha256_file(path / name) != digest:
                raise BundleError(f"{path}: {name} does not match its sha256 (corrupt or altered)")
        bundle._opened = _check_runtime(path, [name for name, _ in files], threads)
        name = bundle.model.file
        _check_embedder(path, name, manifest.embedding, bundle._opened[name][1])
    return bundle


def _check_runtime(path: Path, names, threads: int | None = None) -> dict:
    """Open each model once with this device's TFLite runtime, so a bundle it cannot run
    (ops newer than the runtime) is refused here in one line, not mid-identification.
    Returns {file name: (threads, interpreter)}."""
    from edge.litert import RUNTIME, make_interpreter

    opened = {}
    for name in names:
        try:
            opened[name] = threads, make_interpreter(path / name, threads)
        except ValueError as exc:
            raise BundleError(f"{path}: {name} cannot run on this TFLite runtime ({RUNTIME}: "
                              f"{str(exc).strip().splitlines()[0]})") from None
    return opened


def _check_embedder(path: Path, name: str, spec: EmbeddingSpec, interpreter):
    """Refuse an embedding model that takes other faces than the manifest says (size,
    colour as its channel count) or gives embeddings of another length."""
    shape = [int(n) for n in interpreter.get_input_details()[0]["shape"]]
    dim = int(interpreter.get_output_details()[0]["shape"][-1])
    inp = spec.input
    if shape[1:] != [inp.size, inp.size, inp.channels] or dim != spec.dim:
        takes = "x".join(map(str, shape[1:]))
        raise BundleError(
            f"{path}: {name} takes {takes} faces and gives {dim} numbers, but the manifest "
            f"says {inp.size}x{inp.size}x{inp.channels} ({inp.colour}) and {spec.dim}")


class ThumbnailEmbedder:
    """Embeds canonical thumbnails: resized to the network's size, in its colour.

    The five-point template scales with the crop, so a 112 px aligned crop resized to
    64 px is the 64 px aligned crop: one stored thumbnail serves every bundle.
    """

    def __init__(self, embedder, size: int, colour: str):
        self.embedder, self.size, self.colour = embedder, size, colour
        self.sha256 = embedder.sha256

    def prepare(self, thumbnails):
        import cv2

        from edge.align import to_colour

        out = []
        for t in thumbnails:
            if t.shape[0] != self.size:
                t = cv2.resize(t, (self.size, self.size), interpolation=cv2.INTER_AREA)
            out.append(to_colour(t, self.colour))
        return out

    def embed(self, thumbnails):
        return self.embedder.embed(self.prepare(thumbnails))


def load_embedder(name_or_path, threads: int | None = None, variant: str | None = None):
    """The thumbnail embedder of a bundle (used by ``edge-gallery reembed``)."""
    return load_bundle(name_or_path, variant, threads=threads).thumbnail_embedder(threads)
