"""Options and error handling shared by the device's commands.

Imported before numpy by every device command: matching one face is a small matrix
product, and on a busy 2-4 core device BLAS threads only wait for each other (and for
the interpreter's threads), so the commands use one unless told otherwise.
"""
from __future__ import annotations

import functools
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import click

from edge.bundle import DEFAULT_BUNDLE, BundleError, resolve


from edge.cli_errors import fail  # noqa: E402,F401  (the commands' one way to fail)


def bundle_options(f):
    @click.option("--bundle", default=DEFAULT_BUNDLE, show_default=True, metavar="NAME|PATH",
                  help="A shipped bundle (accurate, fast) or a bundle folder.")
    @click.option("--variant", help="Model variant in the bundle (fp32, int8, ...); default: the bundle's.")
    @click.option("--threads", default=4, show_default=True, help="Interpreter threads (a Pi 4/5 has 4 cores).")
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)
    return wrapper


def match_options(f):
    @click.option("--fpir", default=0.01, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
                  help="The share of strangers the matcher may name as someone: the threshold is "
                       "read off the bundle's calibration for this share and the gallery's size.")
    @click.option("--threshold", type=float, help="A fixed match distance threshold (overrides --fpir).")
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)
    return wrapper


def gallery_option(f):
    return click.option("--gallery", type=click.Path(dir_okay=False), metavar="PATH",
                        help="The gallery file (default: in the user's data folder).")(f)


def open_bundle(name, variant=None, threads=None):
    from edge.bundle import BundleError, load_bundle

    try:
        return load_bundle(name, variant, threads=threads)
    except BundleError as exc:
        fail(str(exc))


def open_matcher(gallery, bundle, threshold=None, fpir=None, create=False):
    """The gallery's matcher: a fixed ``threshold``, else the bundle's for the gallery's
    size at ``fpir`` (kept up to date as the gallery grows). A gallery that does not
    exist is refused (a mistyped path would otherwise name everyone unknown), unless
    ``create`` (the web view will enrol into it)."""
    from pathlib import Path

    from gallery.access import is_empty_file
    from gallery.errors import GalleryError
    from gallery.match import Matcher
    from gallery.store import default_path

    path = Path(gallery) if gallery else default_path()
    if is_empty_file(path) and not create:   # touched: kept as it is
        fail(f"{path} is an empty file, not a gallery: enrol someone into it first "
             f"(edge-enroll NAME --image PHOTO --gallery {path})")
    new = not path.is_file()
    if new and not create:
        fail(f"no gallery at {path}: enrol someone first (edge-enroll NAME --image "
             f"PHOTO{f' --gallery {gallery}' if gallery else ''}), or check the path")
    try:  # a gallery that cannot be opened or made (a read-only folder...) is one line
        matcher = Matcher(gallery, bundle.sha256,
                          bundle.threshold_rule(fpir) if threshold is None else threshold)
    except GalleryError as exc:
        fail(error_line(exc, bundle))
    if new:
        click.echo(f"no gallery at {path} yet: it is created now, for the web view to "
                   "enrol into", err=True)
    return matcher


def error_line(exc: Exception, bundle) -> str:
    """What to print for ``exc`` met while using ``bundle`` (a loaded Bundle): when the
    gallery holds another model's embeddings, its re-embed command names this bundle
    (and variant), so it can be pasted as it is."""
    from gallery.errors import ModelMismatch, model_mismatch

    if not isinstance(exc, ModelMismatch) or exc.gallery is None:
        return str(exc)
    try:  # a shipped bundle by its name, unless a folder of that name here hides it
        shipped = resolve(bundle.path.name).resolve() == bundle.path.resolve()
    except BundleError:
        shipped = False
    name = bundle.path.name if shipped else str(bundle.path.resolve())
    variant = bundle.variant if bundle.variant != bundle.spec.default_variant else None
    return str(model_mismatch(exc.gallery, exc.stored, exc.offered, name, variant))


def start_web(serve, token, bundle, gallery, pipeline, token_file=None):
    try:
        from edge.web import start
    except ImportError as exc:
        fail(f"--serve needs the web extra: pip install 'siamese-edge[web]' ({exc})")
    return start(serve, token, bundle, gallery, pipeline, token_file=token_file)
