"""The whole flow on real faces, offline, in a few minutes: ``make demo``.

First the shipped default bundle on real photos (LFW's evaluation people: one photo
each enrolled, other photos and strangers identified, names printed), then
prepare -> a short fit -> convert (fp32 and int8) -> enrol one snapshot of each held-out
person -> identify a clip built from their other photos -> what was recognised, and the
fp32 vs int8 table. People come from the shared data folder (``--data``; train: celebs +
orl s1..s20, held out: orl s21..s40) or from any folder of person sub-folders
(``--people``), split in half by name.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click

from edge.cli_errors import fail

from train.cli import DATA_ENV

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _step(title):
    click.secho(f"\n== {title}", bold=True)


def _split_sources(data: Path | None, people: Path | None, root: Path):
    """Folders of links: root/train_src and root/heldout_src (one sub-folder per person)."""
    train, held = root / "train_src", root / "heldout_src"
    train.mkdir()
    held.mkdir()
    if people is not None:
        names = sorted(p.name for p in people.iterdir() if p.is_dir())
        if len(names) < 4:
            fail(f"{people}: need at least 4 person folders")
        half = len(names) // 2
        pairs = [(train, n, people / n) for n in names[:half]] + \
                [(held, n, people / n) for n in names[half:]]
    else:
        pairs = [(train, f"orl_s{i}", data / "orl" / f"s{i}") for i in range(1, 21)]
        pairs += [(train, f"celebs_{p.name}", p) for p in sorted((data / "celebs").iterdir())]
        pairs += [(held, f"s{i}", data / "orl" / f"s{i}") for i in range(21, 41)]
    for into, name, src in pairs:
        if not src.is_dir():
            fail(f"{src}: missing")
        (into / name).symlink_to(src.resolve(), True)
    return train, held


def run(cmd):
    click.echo("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True)


@click.command()
@click.option("--data", type=click.Path(path_type=Path), envvar=DATA_ENV, show_envvar=True,
              help="The shared data folder (orl/, celebs/, lfw/); make demo passes DATA.")
@click.option("--people", type=click.Path(file_okay=False, path_type=Path),
              help="Your own folder of person sub-folders instead of the shared data.")
@click.option("--out", default="runs/demo", type=click.Path(path_type=Path))
@click.option("--epochs", default=12, show_default=True)
def main(data, people, out, epochs):
    """Run the whole flow end to end and print what was recognised."""
    if data is None and people is None:
        raise click.UsageError("give --data (the shared data folder) or --people")
    py = sys.executable
    out.mkdir(parents=True, exist_ok=True)
    if people is None and (data / "lfw").is_dir():
        real_photos(py, data, out)
    with tempfile.TemporaryDirectory() as tmp:
        train_src, held_src = _split_sources(data, people, Path(tmp))
        _step("prepare: align the faces of every photo")
        run([py, "-m", "train.cli", "prepare", train_src, out / "train", "--size", "112",
             "--whole-if-no-face", "--overwrite"])
        run([py, "-m", "train.cli", "prepare", held_src, out / "heldout", "--size", "112",
             "--whole-if-no-face", "--overwrite"])
    _step("fit: a short training run of the device network")
    run([py, "-m", "train.cli", "fit", out / "train", out / "model", "--epochs", epochs,
         "--steps", "60", "--patience", "100"])
    _step("evaluate: 20-way one-shot on people never trained on")
    run([py, "-m", "train.cli", "evaluate", out / "model", out / "heldout", "--out", out / "model"])
    _step("convert: fp32 and int8 TFLite, detector, calibrated thresholds")
    run([py, "-m", "convert.cli", out / "model", out / "bundle", "--train", out / "train",
         "--eval", out / "heldout", "--name", "demo", "--overwrite", "--tolerance", "5"])
    _enrol_and_identify(py, out)


def real_photos(py, data: Path, out: Path, enrolled: int = 6, strangers: int = 3,
                probes: int = 2):
    """The shipped default bundle on news photos: enrol one photo of each of ``enrolled``
    LFW evaluation people, then identify ``probes`` other photos of each and photos of
    ``strangers`` people never enrolled; print who each photo's centre face was named."""
    _step("the default bundle on real photos (LFW): enrol one photo each, identify others")
    listed = (data / "lfw_eval_people.txt").read_text().split()
    people = [p for p in listed if len(list((data / "lfw" / p).glob("*.jpg"))) > probes + 1]
    known, others = people[:enrolled], people[enrolled:enrolled + strangers]
    enrol_dir, probe_dir = out / "real" / "enrol", out / "real" / "probes"
    for d in (enrol_dir, probe_dir):
        if d.exists():
            shutil.rmtree(d)
    truth = {}
    for person in known + others:
        photos = sorted((data / "lfw" / person).glob("*.jpg"))
        if person in known:
            (enrol_dir / person).mkdir(parents=True)
            (enrol_dir / person / photos[0].name).symlink_to(photos[0].resolve())
        for photo in photos[1:1 + probes] if person in known else photos[:probes]:
            probe_dir.mkdir(parents=True, exist_ok=True)
            (probe_dir / photo.name).symlink_to(photo.resolve())
            truth[photo.name] = person if person in known else None
    gallery = out / "real" / "gallery.db"
    if gallery.exists():
        gallery.unlink()
    run([py, "-m", "edge.cli_enroll", "--from-dir", enrol_dir, "--gallery", gallery])
    cmd = [py, "-m", "edge.cli_identify", "--images", probe_dir, "--gallery", gallery, "--json"]
    click.echo("$ " + " ".join(map(str, cmd)))
    proc = subprocess.run(list(map(str, cmd)), capture_output=True, text=True, check=True)
    expected, named = [], []       # per photo: who it shows (None: a stranger), who was named
    for line in proc.stdout.splitlines():
        frame = json.loads(line)
        name = Path(frame["file"]).name
        faces = frame["faces"]
        expected.append(truth[name])
        named.append(None)
        if not faces:
            click.echo(f"  {name}: no face found")
            continue
        # the labelled person is the face nearest the centre of LFW's 250 px photos
        centre = min(faces, key=lambda f: abs((f["box"][0] + f["box"][2]) / 2 - 125)
                     + abs((f["box"][1] + f["box"][3]) / 2 - 125))
        said = named[-1] = None if centre["name"] == "unknown" else centre["name"]
        who = truth[name] or "a stranger"
        click.echo(f"  {name}: {who:<22s} -> {centre['name']:<22s} "
                   f"{'right' if said == truth[name] else 'WRONG'}")
    click.echo(open_set_line(expected, named))


def open_set_line(expected: list, named: list) -> str:
    """The photos' open-set shares (``edge.metrics.identification_shares``) as counts:
    ``expected`` who each photo shows (None for a stranger), ``named`` who it was named
    as (None: unknown, or no face found)."""
    from edge.metrics import identification_shares

    s = identification_shares([e is not None for e in expected], [n is not None for n in named],
                              [n == e for n, e in zip(named, expected)])
    n_known = sum(e is not None for e in expected)
    n_strangers = len(expected) - n_known
    return (f"known people named right on {round(s['known_right'] * n_known)} of {n_known} "
            f"photos, named wrong on {round(s['known_wrong'] * n_known)}; strangers named as "
            f"someone on {round(s['strangers_accepted'] * n_strangers)} of {n_strangers}")


def _enrol_and_identify(py, out):
    import cv2

    from edge.clips import make_clip

    held = out / "heldout"
    gallery = out / "gallery.db"
    if gallery.exists():
        gallery.unlink()
    _step("enrol: one snapshot of each held-out person")
    enrol_dir = out / "enrol_photos"
    photos = {}
    for person in sorted(p for p in held.iterdir() if p.is_dir() and not p.name.startswith("_")):
        files = sorted(person.glob("*.png"))
        if len(files) < 2:
            continue
        (enrol_dir / person.name).mkdir(parents=True, exist_ok=True)
        first = cv2.imread(str(files[0]))
        # the aligned crop sits inside a frame, as a snapshot would
        cv2.imwrite(str(enrol_dir / person.name / "snapshot.png"),
                    cv2.copyMakeBorder(first, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(90, 90, 90)))
        photos[person.name] = [cv2.imread(str(f)) for f in files[1:]]
    for variant in ("int8", "fp32"):
        g = out / f"gallery_{variant}.db"
        if g.exists():
            g.unlink()
        run([py, "-m", "edge.cli_enroll", "--from-dir", enrol_dir, "--bundle", out / "bundle",
             "--variant", variant, "--gallery", g])
    _step("identify: a clip built from their other photos")
    clip = make_clip(photos, seed=0, segments=8, frames_per_segment=30)
    clip.write(out / "clip.mp4")
    (out / "clip_truth.json").write_text(json.dumps(clip.truth))
    for variant in ("int8", "fp32"):
        _identify(py, out, variant, clip)
    _step("fp32 vs int8 (conversion report)")
    click.echo((out / "bundle" / "report.md").read_text())


def _identify(py, out, variant, clip):
    cmd = [py, "-m", "edge.cli_identify", "--video", out / "clip.mp4", "--bundle", out / "bundle",
           "--variant", variant, "--gallery", out / f"gallery_{variant}.db", "--json", "--stats",
           "--save-video", out / f"identified_{variant}.mp4"]
    click.echo("$ " + " ".join(str(c) for c in cmd))
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True)
    from edge.track import iou

    right = wrong = missed = 0
    for line, truth in zip(proc.stdout.splitlines(), clip.truth):
        faces = json.loads(line)["faces"]
        for name, box in truth:
            best = max(faces, key=lambda f: iou(f["box"], box), default=None)
            if best is None or iou(best["box"], box) < 0.3:
                missed += 1
            elif best["name"] == name:
                right += 1
            else:
                wrong += 1
    total = right + wrong + missed
    click.echo(f"{variant}: {right}/{total} face-frames named right ({right / total:.1%}), "
               f"{wrong} named wrong or unknown, {missed} not found")
    click.echo(proc.stderr.strip())


if __name__ == "__main__":
    main()
