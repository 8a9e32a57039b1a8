"""``edge-gallery``: look after the gallery of enrolled people, one verb per job.

The command beside the device's others; the gallery itself (``gallery/``) stays a
library of SQLite and numpy that knows nothing of click or of the runtime."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from edge.cli_errors import OneLineGroup, fail
from gallery import archive, signing
from gallery.store import Gallery, default_path
from gallery.values import short


def _gallery_option(f):
    return click.option(
        "--gallery", "gallery_path", type=click.Path(dir_okay=False, path_type=Path),
        envvar="EDGE_GALLERY",
        help=f"Gallery file. Default: $EDGE_GALLERY, else {default_path()}")(f)


_json_option = click.option("--json", "as_json", is_flag=True,
                            help="Print JSON instead of text.")


def _open(path: Path | None, create: bool = False) -> Gallery:
    return Gallery(path, create=create)


def _load_embedder(bundle, threads, variant):
    """A bundle's thumbnail embedder (None: the default bundle), or one line on why not."""
    try:
        from edge.bundle import load_embedder
        if bundle is None:
            from edge.bundle import DEFAULT_BUNDLE as bundle
    except ImportError as exc:
        fail(f"cannot load bundles: the edge runtime is missing ({exc})")
    try:
        return load_embedder(bundle, threads, variant)
    except Exception as exc:  # a bad bundle is a user error: one line, no traceback
        fail(f"cannot load bundle {bundle}: {exc}")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _echo_json(value) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=1))


def _listed(as_json, payload: dict, rows: list, none: str, header: str) -> bool:
    """Print ``payload`` as JSON, or ``none`` when there are no ``rows``, or ``header``;
    True when the caller is to print the rows under the header."""
    if as_json:
        _echo_json(payload)
    elif not rows:
        click.echo(none)
    else:
        click.echo(header)
        return True
    return False


@click.group(cls=OneLineGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli():
    """Look after the gallery of enrolled people.

    The gallery is one SQLite file of names, face embeddings and face crops, by
    default in the user's data folder (each command takes --gallery PATH, or set
    EDGE_GALLERY). People are added with edge-enroll, or with import.
    """


@cli.command("list")
@_gallery_option
@_json_option
def list_(gallery_path, as_json):
    """List everyone enrolled, with how many embeddings each has."""
    with _open(gallery_path) as g:
        people, models, path = g.people(), g.models(), g.path
    payload = {"gallery": str(path), "models": models, "people": [
        {"name": p.name, "created": p.created, "enrolments": len(p.enrolments)} for p in people]}
    if not _listed(as_json, payload, people, f"no one enrolled in {path}",
                   f"{'EMBEDDINGS':>10}  {'ENROLLED':<25}  NAME"):
        return
    for p in people:
        click.echo(f"{len(p.enrolments):>10}  {p.created:<25}  {p.name}")
    total = sum(len(p.enrolments) for p in people)
    dims = sorted({e.dim for p in people for e in p.enrolments})
    model = ", ".join(short(m) for m in models)
    click.echo(f"{_count(len(people), 'person', 'people')}, {_count(total, 'embedding')}, "
               f"model {model} "
               f"(dim {', '.join(map(str, dims))}) in {path}")


@cli.command()
@click.argument("name")
@_gallery_option
@_json_option
@click.option("--thumbnails", type=click.Path(file_okay=False, path_type=Path),
              help="Also save each enrolment's face crop into this folder as ID.png.")
def show(name, gallery_path, as_json, thumbnails):
    """Show NAME's enrolments: when, from what, by which model."""
    with _open(gallery_path) as g:
        person = g.person(name)
        if thumbnails:
            thumbnails.mkdir(parents=True, exist_ok=True)
            for e in person.enrolments:
                (thumbnails / f"{e.id}.png").write_bytes(g.thumbnail(e.id))
    if as_json:
        _echo_json(person.as_dict())
        return
    click.echo(f"{person.name}: enrolled {person.created}, "
               f"{_count(len(person.enrolments), 'embedding')}")
    for e in person.enrolments:
        quality = "-" if e.quality is None else f"{e.quality:.3f}"
        click.echo(f"  #{e.id}  {e.created}  model {short(e.model_sha256)}  dim {e.dim}"
                   f"  quality {quality}  source {e.source or '-'}")
    if thumbnails:
        click.echo(f"face crops saved in {thumbnails}")


def _interactive() -> bool:
    """Whether someone at a terminal can answer a question."""
    return sys.stdin.isatty()


@cli.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True,
              help="Remove without asking (needed when not run from a terminal).")
@_gallery_option
def remove(name, yes, gallery_path):
    """Forget NAME and all their embeddings, once you confirm (or with --yes).

    There is no undo: export the gallery first to keep a copy.
    """
    with _open(gallery_path) as g:
        person = g.person(name)  # an unknown name is said before anything is asked
        if not yes:
            if not _interactive():
                fail(f"edge-gallery remove asks before forgetting {person.name}, and there is "
                     "no terminal to answer: add --yes")
            faces = _count(len(person.enrolments), "stored face")
            if not click.confirm(f"Remove {person.name} and their {faces} from {g.path}?",
                                 default=False, err=True):
                click.echo("nothing removed", err=True)
                sys.exit(1)
        n = g.remove(person.name)
    click.echo(f"removed {person.name} ({_count(n, 'embedding')})")


@cli.command()
@click.argument("old")
@click.argument("new")
@_gallery_option
def rename(old, new, gallery_path):
    """Give the person called OLD the name NEW.

    Names are one person's without regard to case, so OLD may be typed in any case,
    and NEW may respell OLD ("ada lovelace" to "Ada Lovelace").
    """
    with _open(gallery_path) as g:
        old = g.person(old).name
        new = g.rename(old, new)
    click.echo(f"renamed {old} to {new}")


_KEY_HELP = ("A file holding a secret shared by both ends, at least 16 bytes (make one "
             "with: head -c 32 /dev/urandom | base64 > KEY).")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_gallery_option
@click.option("--sign-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sign FILE with this key (HMAC-SHA256 of its manifest). " + _KEY_HELP)
def export(file, gallery_path, sign_key_file):
    """Write the whole gallery to FILE, to copy or back up.

    FILE is a zip holding a manifest with checksums, the embeddings and the face
    crops as PNG. It is written to a temporary file first, so a failed export never
    leaves half a file. With --sign-key-file, an import given the same key
    (--verify-key-file) knows FILE came from someone holding it, unchanged.
    """
    key = signing.read_key(sign_key_file) if sign_key_file else None
    with _open(gallery_path) as g:
        info = g.export(file, sign_key=key)
    signed = " (signed)" if key else ""
    click.echo(f"exported {_count(info['people'], 'person', 'people')} "
               f"({_count(info['embeddings'], 'embedding')}) to {file}{signed}")


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_gallery_option
@click.option("--skip", "on_duplicate", flag_value="skip",
              help="Keep people already enrolled; ignore them in FILE.")
@click.option("--replace", "on_duplicate", flag_value="replace",
              help="Replace people already enrolled by those in FILE.")
@click.option("--append", "on_duplicate", flag_value="append",
              help="Add FILE's embeddings to people already enrolled.")
@click.option("--verify-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Refuse FILE unless it was exported with --sign-key-file and this key. "
                   + _KEY_HELP)
def import_(file, gallery_path, on_duplicate, verify_key_file):
    """Add everyone in FILE (made by export), all or nothing.

    A name that is already enrolled stops the import unless --skip, --replace or
    --append says what to do. FILE must come from the same model as the gallery
    (or the gallery must be empty): otherwise re-embed one of them first.
    """
    key = signing.read_key(verify_key_file) if verify_key_file else None
    exported = archive.read(file, verify_key=key)  # refused before a gallery is made
    with _open(gallery_path, create=True) as g:
        result = g.import_(exported, on_duplicate=on_duplicate or "refuse")
    click.echo(", ".join(f"{len(names)} {what}" for what, names in result.items())
               + f" from {file}")


@cli.command()
@_gallery_option
@_json_option
@click.pass_context
def check(ctx, gallery_path, as_json):
    """Check the file's integrity and its embeddings.

    Runs SQLite's integrity check, then checks that every embedding is made by one
    model, has the same size and unit length, and has its face crop. Exit status 1
    when anything is wrong.
    """
    with _open(gallery_path) as g:
        problems, people, models = g.check(), g.people(), g.models()
        path = g.path
    report = {"gallery": str(path), "ok": not problems, "problems": problems,
              "people": len(people), "embeddings": sum(len(p.enrolments) for p in people),
              "models": models}
    if as_json:
        _echo_json(report)
    else:
        for problem in problems:
            click.echo(problem)
        verdict = "ok" if not problems else _count(len(problems), "problem")
        click.echo(f"{path}: {verdict} ({_count(report['people'], 'person', 'people')}, "
                   f"{_count(report['embeddings'], 'embedding')})")
    if problems:
        ctx.exit(1)


@cli.command()
@click.option("--bundle", required=True,
              help="The bundle (folder, or name of a bundle that ships) whose model "
                   "makes the new embeddings.")
@click.option("--variant", help="Model variant in the bundle (fp32, int8, ...); "
                                "default: the bundle's.")
@click.option("--threads", type=int, default=None, help="Interpreter threads.")
@_gallery_option
def reembed(bundle, variant, threads, gallery_path):
    """Re-make every embedding from its face crop with BUNDLE's model.

    Needed after switching to a new bundle: a gallery holds one model's embeddings.
    All embeddings change in one transaction, or none do. Afterwards the gallery
    matches faces embedded by the new bundle only: the old bundle's embeddings no
    longer match.
    """
    embedder = _load_embedder(bundle, threads, variant)
    with _open(gallery_path) as g:
        if not sys.stderr.isatty():
            n = g.reembed(embedder)
        else:
            total = sum(e.model_sha256 != embedder.sha256
                        for p in g.people() for e in p.enrolments)
            with click.progressbar(length=total, label="re-embedding", file=sys.stderr) as bar:
                n = g.reembed(embedder, progress=lambda done, _: bar.update(done - bar.pos))
    click.echo(f"re-embedded {_count(n, 'embedding')} with model {short(embedder.sha256)}")


# -- sightings and the corrections that teach ----------------------------------------------

@cli.command()
@_gallery_option
@click.option("--unknown", is_flag=True, help="Only the faces no one was named for.")
@click.option("--since", metavar="DATE|DURATION",
              help="Only those since DATE (2025-06-01, 2025-06-01 08:30; local time) or within "
                   "the last DURATION (90s, 45m, 2h, 7d, 1w).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, newest first.")
@click.option("--thumbnails", type=click.Path(file_okay=False, path_type=Path),
              help="Also save each one's face crop into this folder as ID.png, to look at.")
@_json_option
def sightings(gallery_path, unknown, since, limit, thumbnails, as_json):
    """List the faces edge-identify kept (sightings), newest first.

    Each line: id, time, camera, distance, name. Each face whose name settles (or
    changes) is kept with its face crop, for 30 days and 10,000 at most (edge-identify
    --no-sightings keeps none). Correct one with assign SIGHTING NAME (it was NAME: new,
    or enrolled) or reject SIGHTING NAME (it was not NAME).
    """
    from gallery.when import since as parse_since

    start = None if since is None else parse_since(since)  # refused before opening
    with _open(gallery_path) as g:
        found = g.sightings.list(since=start, unknown=unknown, limit=limit)
        if thumbnails:
            thumbnails.mkdir(parents=True, exist_ok=True)
            for s in found:
                (thumbnails / f"{s.id}.png").write_bytes(g.sightings.thumbnail(s.id))
        path = g.path
    if not _listed(as_json, {"gallery": str(path), "sightings": [s.as_dict() for s in found]},
                   found, f"no sightings{' of unknown faces' if unknown else ''}"
                   f"{' since ' + since if since else ''} in {path}",
                   f"{'ID':>8}  {'TIME':<19}  {'CAMERA':<16}  {'DISTANCE':>8}  NAME"):
        return
    for s in found:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s.time))
        distance = "-" if s.distance is None else f"{s.distance:.3f}"
        click.echo(f"{s.id:>8}  {stamp:<19}  {s.camera[:16]:<16}  {distance:>8}  "
                   f"{s.name if s.known else 'unknown'}")
    click.echo(f"{_count(len(found), 'sighting')} in {path}"
               + (f"; face crops saved in {thumbnails}" if thumbnails else ""))


class _BundleEmbedder:
    """A bundle's thumbnail embedder, loaded only when a sighting's face must be
    embedded again (it was made by a model other than the gallery's)."""

    def __init__(self, bundle, variant, threads):
        self.bundle, self.variant, self.threads = bundle, variant, threads
        self._embedder = None

    def _load(self):
        if self._embedder is None:
            self._embedder = _load_embedder(self.bundle, self.threads, self.variant)
        return self._embedder

    @property
    def sha256(self) -> str:
        return self._load().sha256

    def embed(self, faces):
        return self._load().embed(faces)


def _bundle_options(f):
    f = click.option("--threads", type=int, default=None, help="Interpreter threads.")(f)
    f = click.option("--variant", help="Model variant in the bundle; default: the bundle's.")(f)
    return click.option("--bundle", metavar="NAME|PATH",
                        help="The bundle whose model embeds the face again when the sighting "
                             "was made by another model than the gallery's (default: the "
                             "default bundle); not loaded otherwise.")(f)


@cli.command()
@click.argument("sighting")
@click.argument("name")
@_gallery_option
@_bundle_options
def assign(sighting, name, gallery_path, bundle, variant, threads):
    """Enrol SIGHTING's face as NAME: someone new, or one more face of NAME.

    From then on faces like it are named NAME (edge-identify notices at once). SIGHTING
    is an id from edge-gallery sightings.
    """
    from gallery.corrections import assign as assign_sighting

    with _open(gallery_path) as g:
        new = not g.has(name)
        done = assign_sighting(g, sighting, name, _BundleEmbedder(bundle, variant, threads))
        faces = len(g.person(done.name).enrolments)
    how = "embedded again" if done.reembedded else "its stored embedding"
    what = f"enrolled {done.name}" if new else \
        f"added a face to {done.name} ({_count(faces, 'embedding')} now)"
    click.echo(f"{what} from sighting {done.sighting} ({how}; enrolment {done.id})")


@cli.command()
@click.argument("sighting")
@click.argument("name")
@_gallery_option
@_bundle_options
def reject(sighting, name, gallery_path, bundle, variant, threads):
    """Record that SIGHTING's face is not NAME.

    From then on a face closer to this one than to NAME's own nearest stored face is
    not named NAME (it goes to the next nearest person within the threshold, or is
    unknown). Undo with edge-gallery unreject ID (edge-gallery rejections lists them).
    """
    from gallery.corrections import reject as reject_sighting

    with _open(gallery_path) as g:
        done = reject_sighting(g, sighting, name, _BundleEmbedder(bundle, variant, threads))
    click.echo(f"sighting {done.sighting}'s face is not {done.name}: faces closer to it than "
               f"to {done.name}'s own are no longer named {done.name} (rejection {done.id})")


@cli.command()
@click.argument("name", required=False)
@_gallery_option
@_json_option
def rejections(name, gallery_path, as_json):
    """List the faces said not to be someone (all, or NAME's)."""
    with _open(gallery_path) as g:
        found, path = g.rejections.list(name), g.path
    if not _listed(as_json, {"gallery": str(path), "rejections": [r.as_dict() for r in found]},
                   found, f"no rejections{' of ' + name if name else ''} in {path}",
                   f"{'ID':>6}  {'SIGHTING':>8}  {'MADE':<25}  NOT"):
        return
    for r in found:
        click.echo(f"{r.id:>6}  {r.sighting or '-':>8}  {r.created:<25}  {r.name}")


@cli.command()
@click.argument("rejection")
@_gallery_option
def unreject(rejection, gallery_path):
    """Take back rejection REJECTION (an id from edge-gallery rejections)."""
    with _open(gallery_path) as g:
        name = g.rejections.remove(rejection)
    click.echo(f"took back rejection {rejection}: its face may be named {name} again")


def main() -> None:
    cli(prog_name="edge-gallery")


if __name__ == "__main__":
    main()
