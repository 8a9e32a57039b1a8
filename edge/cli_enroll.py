"""``edge-enroll``: add a person to the gallery from one snapshot or a few photos."""
from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from pathlib import Path

import click

from edge.cli_common import bundle_options, error_line, fail, gallery_option, open_bundle
from edge.cli_errors import OneLine
from edge.enrolment import MIN_FACE, MIN_SHARPNESS


@click.command(cls=OneLine, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("name", required=False)
@click.option("--camera", is_flag=False, flag_value="auto", default=None, metavar="[N|pi]",
              help="Take one snapshot from the camera after a short countdown.")
@click.option("--image", "images", multiple=True, type=click.Path(), metavar="PATH",
              help="A photo of the person (repeat for several).")
@click.option("--from-dir", type=click.Path(file_okay=False),
              help="Batch: one sub-folder of photos per person, named after them.")
@click.option("--append", is_flag=True, help="Add snapshots to a person already enrolled.")
@click.option("--countdown", default=3, show_default=True, help="Seconds before the camera snapshot.")
@click.option("--min-face", default=MIN_FACE, show_default=True, help="Smallest face side in pixels.")
@click.option("--min-sharpness", default=MIN_SHARPNESS, show_default=True,
              help="Blur limit (Laplacian variance of the aligned face).")
@bundle_options
@gallery_option
def main(name, camera, images, from_dir, append, countdown, min_face, min_sharpness,
         bundle, variant, threads, gallery):
    """Enrol NAME from one camera snapshot (--camera) or photos (--image PATH ...),
    or everyone in a folder (--from-dir DIR, one sub-folder per person).

    A photo must show exactly one face, large and sharp enough; otherwise nothing is
    written and the reason is given in one line.
    """
    from edge.enrolment import EnrolError
    from gallery.errors import GalleryError
    from gallery.access import check_can_make
    from gallery.store import Gallery, default_path, open_existing

    if sum(bool(x) for x in (camera, images, from_dir)) != 1:
        fail("give exactly one of --camera, --image or --from-dir")
    if from_dir and name:
        fail("--from-dir takes the names from its sub-folders; give no NAME")
    if not from_dir and not name:
        fail("give the person's NAME")
    b = open_bundle(bundle, variant, threads)
    path = Path(gallery) if gallery else default_path()
    # the gallery is closed however the command ends (sys.exit and fail included)
    with ExitStack() as opened:
        def create():
            return opened.enter_context(Gallery(path))
        try:
            # an existing gallery is opened (and checked) now; a new one is created only
            # when someone passes, so a refused first enrolment leaves no file behind
            existing = open_existing(path)
            store = opened.enter_context(existing) if existing is not None else None
            if store is None:  # one that could not be made is said before any work
                check_can_make(path)
            detector = b.detector(threads)
            embedder = b.thumbnail_embedder(threads)
            opts = dict(min_face=min_face, min_sharpness=min_sharpness)
            if from_dir:
                sys.exit(_from_dir(store, create, detector, embedder, Path(from_dir), append,
                                   opts))
            if camera:
                snaps = [_camera_snapshot(camera, detector, countdown, opts)]
            else:
                snaps = _photo_snapshots(images, detector, opts)
            _store(store, create, embedder, name, snaps, append)
        except (EnrolError, GalleryError) as exc:  # another model's gallery: say the fix
            fail(error_line(exc, b))


def _store(store, create, embedder, name, snaps, append):
    """Enrol ``name`` and return the gallery; ``store`` None: there is none yet, and
    ``create()`` makes it now that the name and snapshots have passed. With ``append``,
    says how many faces the person now has stored."""
    from edge.enrolment import check_name, enrol

    name = check_name(store, name, append)
    if store is None:
        store = create()
    ids = enrol(store, embedder, name, snaps, append)
    total = f", {len(store.person(name).enrolments)} stored faces in all" if append else ""
    click.echo(f"enrolled {name}: {len(ids)} snapshot{'s' if len(ids) > 1 else ''}{total} "
               f"(gallery {store.path})")
    return store


def _photo_snapshots(paths, detector, opts):
    from edge.enrolment import EnrolError, snapshot_of
    from edge.images import ImageError, read_image

    snaps = []
    for p in paths:
        try:
            snaps.append(snapshot_of(read_image(p), detector, str(p), **opts))
        except ImageError as exc:
            raise EnrolError(str(exc)) from None
    return snaps


def _camera_snapshot(camera, detector, countdown, opts):
    from edge.enrolment import EnrolError, snapshot_of
    from edge.sources import SourceError, open_source

    try:
        source = open_source(camera=camera)
    except SourceError as exc:
        raise EnrolError(str(exc)) from None
    try:
        for left in range(countdown, 0, -1):
            click.echo(f"snapshot in {left}...", err=True)
            time.sleep(1)
        frame = next(iter(source))
    except (SourceError, StopIteration) as exc:
        raise EnrolError(str(exc) or "the camera gave no frame") from None
    finally:
        source.close()
    return snapshot_of(frame, detector, "camera", **opts)


def _from_dir(store, create, detector, embedder, root, append, opts) -> int:
    """Each sub-folder a person, each person all-or-nothing; returns the exit status.
    A gallery of another model's embeddings, busy, not writable or damaged stops it at
    the first person (``GALLERY_REFUSES``)."""
    from edge.enrolment import GALLERY_REFUSES, EnrolError
    from edge.images import is_image_name
    from gallery.errors import GalleryError

    people = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not people:
        fail(f"{root}: no person sub-folders")
    failed = 0
    for person in people:
        photos = sorted(str(f) for f in person.iterdir() if f.is_file() and is_image_name(f))
        try:
            if not photos:
                raise EnrolError(f"{person}: no photos")
            snaps = _photo_snapshots(photos, detector, opts)
            store = _store(store, create, embedder, person.name, snaps, append)
        except GALLERY_REFUSES:
            raise  # refuses everyone alike: said once, by the caller
        except (EnrolError, GalleryError) as exc:
            click.echo(f"refused {person.name}: {exc}", err=True)
            failed += 1
    click.echo(f"{len(people) - failed} of {len(people)} people enrolled")
    return 1 if failed else 0


if __name__ == "__main__":
    main()
