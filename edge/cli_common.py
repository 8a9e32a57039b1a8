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

from edge.bundle import DEFAULT_BUNDLE


def fail(message: str):
    """One clear line on stderr and exit status 1."""
    raise click.ClickException(str(message).strip().splitlines()[0])


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


def open_matcher(gallery, bundle, threshold=None, fpir=None):
    """The gallery's matcher: a fixed ``threshold``, else the bundle's for the gallery's
    size at ``fpir`` (kept up to date as the gallery grows)."""
    from gallery.errors import GalleryError
    from gallery.match import Matcher

    try:
        return Matcher(gallery, bundle.sha256,
                       bundle.threshold_rule(fpir) if threshold is None else threshold)
    except GalleryError as exc:
        fail(str(exc))


def start_web(serve, token, bundle, gallery, pipeline, token_file=None):
    try:
        from edge.web import start
    except ImportError as exc:
        fail(f"--serve needs the web extra: pip install 'siamese-edge[web]' ({exc})")
    return start(serve, token, bundle, gallery, pipeline, token_file=token_file)
