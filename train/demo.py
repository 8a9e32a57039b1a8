"""The whole flow on real faces, offline: ``make demo``.

First the shipped default bundle on real photos (LFW's evaluation people: one photo
each enrolled, other photos and strangers identified, names printed), then
prepare -> a short fit -> convert (fp32 and int8) -> enrol one snapshot of each held-out
person -> identify a clip built from their other photos. It ends with who was recognised,
where its outputs are and the commands to try next. People come from the shared data
folder (``--data``; train: celebs + orl s1..s20, held out: orl s21..s40) or from any folder of person
sub-folders (``--people``), split in half by name; when the training half is too small
to hold validation people out, the threshold is calibrated on LFW's calibration people.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import click

from edge.cli_errors import fail
from train.cli import DATA_ENV

# TensorFlow runs in the steps' own processes, which inherit these before they import it:
# its C++ log to errors only, and without the TFLite converter's note that int8 inputs
# come without statistics (the bundle carries their quantisation itself)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["PYTHONWARNINGS"] = ",".join(
    filter(None, [os.environ.get("PYTHONWARNINGS"),
                  "ignore::UserWarning:tensorflow.lite.python.convert"]))
# what TensorFlow 2.16+ prints whatever TF_CPP_MIN_LOG_LEVEL says, left out of the steps'
# output: absl's start-up notice and INFO / WARNING lines in its format (I0000
# 00:00:1796124172.293600  3791 port.cc:153] oneDNN custom operations are on...), the
# converter's absl warnings about its own deprecated paths and its quantiser's settings
# line. Errors still show.
TF_NOISE = re.compile(r"WARNING: All log messages before absl::InitializeLog\(\) is called"
                      r"|[IW]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] "
                      r"|WARNING:absl:"
                      r"|fully_quantize: \d+, inference_type: ")
CALIBRATION_PEOPLE = 20   # LFW calibration people, when the training half holds none out
CALIBRATION_PHOTOS = 4    # photos each


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


def run(cmd, may_fail=False) -> int:
    """Run one step in its own process, its output shown as it comes (stdout and stderr
    in the order written), TensorFlow's log noise left out; a failed step ends the demo in
    one line (unless ``may_fail``: its exit status is returned)."""
    cmd = [str(c) for c in cmd]
    click.echo("$ " + " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    pending = b""
    while chunk := proc.stdout.read1(65536):
        # pieces end at \n or \r, so progress bars redraw live
        *pieces, pending = re.split(rb"(?<=[\r\n])", pending + chunk)
        for piece in pieces:
            if not TF_NOISE.match(piece.decode(errors="replace")):
                sys.stdout.buffer.write(piece)
        sys.stdout.flush()
    sys.stdout.buffer.write(pending)
    sys.stdout.flush()
    if proc.wait() and not may_fail:
        fail(f"this step failed (exit status {proc.returncode}): "
                                   "its reason is above")
    return proc.returncode


@click.command()
@click.option("--data", type=click.Path(path_type=Path), envvar=DATA_ENV, show_envvar=True,
              help="The shared data folder (orl/, celebs/, lfw/); make demo passes DATA.")
@click.option("--people", type=click.Path(file_okay=False, path_type=Path),
              help="Your own folder of person sub-folders instead of the shared data.")
@click.option("--out", default="runs/demo", type=click.Path(path_type=Path))
@click.option("--epochs", default=12, show_default=True)
def main(data, people, out, epochs):
    """Run the whole flow end to end and say who was recognised."""
    if data is None and people is None:
        raise click.UsageError("give --data (the shared data folder) or --people")
    py = sys.executable
    out.mkdir(parents=True, exist_ok=True)
    real = None
    if people is None and (data / "lfw").is_dir():
        real = real_photos(py, data, out)
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
    calibrate = _calibration(py, data, out)
    _step("evaluate: one-shot identification of people never trained on")
    run([py, "-m", "train.cli", "evaluate", out / "model", out / "heldout", "--out", out / "model"])
    shot = json.loads((out / "model" / "evaluation.json").read_text())["one_shot"]
    click.echo(f"({shot['n_way']}-way: each probe against one photo of each of {shot['n_way']} "
               f"held-out people; chance is {1 / shot['n_way']:.0%}"
               + ("" if shot["n_way"] >= 20 else "; the standard protocol is 20-way") + ")")
    _step("convert: fp32 and int8 TFLite, detector, calibrated thresholds")
    run([py, "-m", "convert.cli", out / "model", out / "bundle", "--train", out / "train",
         "--eval", out / "heldout", "--name", "demo", "--overwrite", "--tolerance", "5",
         *[arg for folder in calibrate for arg in ("--calibrate", folder)]])
    clip = _enrol_and_identify(py, out)
    _finish(py, out, real, clip, shot)


def _calibration(py, data: Path, out: Path) -> list[Path]:
    """No folder when the fit held validation people out (the threshold is calibrated on
    them); else a few LFW calibration people, prepared here, said so."""
    summary = json.loads((out / "model" / "summary.json").read_text())
    if summary["validation"] is not None:
        click.echo(f"validation people: {summary['validation']['people']}, held out of training; "
                   "the match threshold is calibrated on them")
        return []
    trained = summary["train"]["people"]
    listed = data / "lfw_calibration_people.txt"
    if not listed.is_file():
        fail(
            f"no validation people: the {trained} training people are too few to hold some out, "
            f"and {listed} is missing to calibrate the threshold on instead; give --data, or "
            "a folder with more people")
    names = [n for n in listed.read_text().split()
             if len(list((data / "lfw" / n).glob("*.jpg"))) >= 2][:CALIBRATION_PEOPLE]
    click.secho(f"no validation people: the {trained} training people are too few to hold some "
                f"out, so the match threshold is calibrated on {len(names)} of LFW's calibration "
                "people instead (people used for nothing else)", fg="yellow")
    _step("prepare: LFW calibration people, the face nearest each photo's centre")
    folder = out / "calibration"
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            (Path(tmp) / name).mkdir()
            for photo in sorted((data / "lfw" / name).glob("*.jpg"))[:CALIBRATION_PHOTOS]:
                (Path(tmp) / name / photo.name).symlink_to(photo.resolve())
        run([py, "-m", "train.cli", "prepare", tmp, folder, "--size", "112", "--pick", "centre",
             "--overwrite"])
    return [folder]


def real_photos(py, data: Path, out: Path, enrolled: int = 6, strangers: int = 3,
                probes: int = 2) -> dict:
    """The shipped default bundle on news photos: enrol one photo of each of ``enrolled``
    LFW evaluation people, then identify ``probes`` other photos of each and photos of
    ``strangers`` people never enrolled; print who each photo's centre face was named.
    Returns {person (None: a stranger): [names given]}."""
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
    proc = subprocess.run(list(map(str, cmd)), capture_output=True, text=True)
    if proc.returncode:
        click.echo(proc.stderr, err=True)
        fail(f"edge-identify failed (exit status {proc.returncode})")
    said_of: dict = {}
    for line in proc.stdout.splitlines():
        frame = json.loads(line)
        name = Path(frame["file"]).name
        faces = frame["faces"]
        who = truth[name] or "a stranger"
        if not faces:
            click.echo(f"  {name}: {who:<22s} -> no face found")
            said_of.setdefault(truth[name], []).append("no face")
            continue
        # the labelled person is the face nearest the centre of LFW's 250 px photos
        centre = min(faces, key=lambda f: abs((f["box"][0] + f["box"][2]) / 2 - 125)
                     + abs((f["box"][1] + f["box"][3]) / 2 - 125))
        said = None if centre["name"] == "unknown" else centre["name"]
        said_of.setdefault(truth[name], []).append(centre["name"])
        click.echo(f"  {name}: {who:<22s} -> {centre['name']:<22s} "
                   f"{'right' if said == truth[name] else 'WRONG'}")
    click.echo(open_set_line(said_of))
    return said_of


def open_set_line(said_of: dict) -> str:
    """The photos' open-set shares (``edge.metrics.identification_shares``) as counts;
    ``said_of``: {who the photos show (None: a stranger): [name said of each photo]}."""
    from edge.metrics import identification_shares

    pairs = [(shown, None if said in ("unknown", "no face") else said)
             for shown, names in said_of.items() for said in names]
    s = identification_shares([e is not None for e, _ in pairs], [n is not None for _, n in pairs],
                              [n == e for e, n in pairs])
    n_known = sum(e is not None for e, _ in pairs)
    n_strangers = len(pairs) - n_known
    return (f"known people named right on {round(s['known_right'] * n_known)} of {n_known} "
            f"photos, named wrong on {round(s['known_wrong'] * n_known)}; strangers named as "
            f"someone on {round(s['strangers_accepted'] * n_strangers)} of {n_strangers}")


def _enrol_and_identify(py, out) -> dict:
    import cv2

    from edge.clips import make_clip
    from gallery import Gallery

    held = out / "heldout"
    _step("enrol: one snapshot of each held-out person")
    enrol_dir = out / "enrol_photos"
    if enrol_dir.exists():
        shutil.rmtree(enrol_dir)
    # the snapshot: a person's first crop where prepare found the face (not a photo kept whole)
    found = {f["output"] for f in json.loads((held / "prepare.json").read_text())["files"]
             if f["status"] == "aligned"}
    photos = {}
    for person in sorted(p for p in held.iterdir() if p.is_dir() and not p.name.startswith("_")):
        files = sorted(person.glob("*.png"))
        faces = [f for f in files if f"{person.name}/{f.name}" in found]
        if len(files) < 2 or not faces:
            continue
        (enrol_dir / person.name).mkdir(parents=True, exist_ok=True)
        first = cv2.imread(str(faces[0]))
        # the aligned crop sits inside a frame, as a snapshot would
        cv2.imwrite(str(enrol_dir / person.name / "snapshot.png"),
                    cv2.copyMakeBorder(first, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=(90, 90, 90)))
        photos[person.name] = [cv2.imread(str(f)) for f in files if f != faces[0]]
    enrolled = {}
    for variant in ("int8", "fp32"):
        g = out / f"gallery_{variant}.db"
        if g.exists():
            g.unlink()
        # a refused snapshot is shown and the demo goes on with the people enrolled
        run([py, "-m", "edge.cli_enroll", "--from-dir", enrol_dir, "--bundle", out / "bundle",
             "--variant", variant, "--gallery", g], may_fail=True)
        enrolled[variant] = []
        if g.exists():
            with Gallery(g, create=False) as gallery:
                enrolled[variant] = sorted(p.name for p in gallery.people())
        if not enrolled[variant]:
            fail("nobody could be enrolled: the reasons are above")
    _step("identify: a clip built from their other photos")
    clip = make_clip(photos, seed=0, segments=8, frames_per_segment=30)
    clip.write(out / "clip.mp4")
    (out / "clip_truth.json").write_text(json.dumps(clip.truth))
    return {"enrolled": enrolled["int8"], "held_out": sorted(photos),
            **{variant: _identify(py, out, variant, clip) for variant in ("int8", "fp32")}}


def _identify(py, out, variant, clip) -> dict:
    """Identify the clip with one variant: {person in the clip: Counter of names given}."""
    cmd = [py, "-m", "edge.cli_identify", "--video", out / "clip.mp4", "--bundle", out / "bundle",
           "--variant", variant, "--gallery", out / f"gallery_{variant}.db", "--json", "--stats",
           "--save-video", out / f"identified_{variant}.mp4"]
    click.echo("$ " + " ".join(str(c) for c in cmd))
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if proc.returncode:
        click.echo(proc.stderr, err=True)
        fail(f"edge-identify failed (exit status {proc.returncode})")
    from edge.metrics import clip_naming, clip_said

    reported = [[(f["name"], f["box"]) for f in json.loads(line)["faces"]]
                for line in proc.stdout.splitlines()]
    given: dict[str, Counter] = {}
    for _, shown, said in clip_said(reported, clip.truth):
        if shown is not None:
            given.setdefault(shown, Counter())[said or "not found"] += 1
    n = clip_naming(reported, clip.truth)
    click.echo(f"{variant}: {n['right']} of {n['face_frames']} face-frames named right "
               f"({n['accuracy']:.1%}), {n['wrong']} named wrong, {n['unknown']} unknown, "
               f"{n['missed']} not found")
    click.echo(proc.stderr.strip())
    return given


def _command(name: str, module: str, py: str) -> str:
    """How to type a command here: its name if on PATH, else the venv's script, else -m."""
    script = Path(py).parent / name
    if not script.exists():
        return f"{py} -m {module}"
    found = shutil.which(name)
    if found and Path(found).resolve() == script.resolve():
        return name
    relative = os.path.relpath(script)
    return str(script) if relative.startswith("..") else relative


def _names(people) -> str:
    return ", ".join(people) if people else "nobody"


def _recognised(given: dict) -> list[str]:
    """People the clip's frames mostly named right."""
    return [p for p, names in sorted(given.items()) if names.most_common(1)[0][0] == p]


def _finish(py, out: Path, real: dict | None, clip: dict, shot: dict):
    _step("what the demo saw")
    if real is not None:
        known = {p: said for p, said in real.items() if p is not None}
        named = [p for p, said in known.items() if all(s == p for s in said)]
        wrong = [s for s in real.get(None, []) if s != "unknown"]
        click.echo("The shipped `accurate` bundle on news photos, one photo of each person enrolled:")
        click.echo(f"  recognised in every photo: {_names(named)}")
        for person, said in known.items():
            if person not in named:
                click.echo(f"  {person}: named {', '.join(said)}")
        click.echo("  strangers: " + ("all stayed unknown" if not wrong
                                      else f"named {', '.join(wrong)}"))
    given, enrolled = clip["int8"], clip["enrolled"]
    recognised = _recognised(given)
    click.echo(f"The network trained here, on a clip of {len(clip['held_out'])} people it never "
               f"trained on, each enrolled from one snapshot ({shot['n_way']}-way one-shot on "
               f"their photos: {shot['accuracy']:.1%}; chance {1 / shot['n_way']:.0%}):")
    click.echo(f"  recognised (int8, as on the device): {_names(recognised)}")
    for person, names in sorted(given.items()):
        if person not in recognised:
            top = names.most_common(1)[0][0]
            said = "not found by the detector" if top == "not found" else f"called {top}"
            why = "" if person in enrolled else " (not enrolled: its snapshot was refused)"
            click.echo(f"  {person}: mostly {said}{why}")
    fp32 = _recognised(clip["fp32"])
    click.echo("  fp32, before quantisation: " + ("the same" if fp32 == recognised
                                                  else f"recognised {_names(fp32)}"))
    absent = [p for p in enrolled if p not in given]
    if absent:
        click.echo(f"  enrolled but not in the clip: {_names(absent)}")

    click.echo(f"\nOutputs, in {out}/:")
    for path, what in [
            ("model", "the trained network: embedding.keras, summary.json, evaluation.json, roc.png"),
            ("bundle", "the device bundle: manifest.json, the fp32 and int8 models, the "
                       "detector, report.md"),
            ("clip.mp4", "the clip; identified_int8.mp4 and identified_fp32.mp4 with the names"),
            ("gallery_int8.db", "the snapshots enrolled (and gallery_fp32.db); enrol_photos/: "
                                "the snapshots"),
            ("calibration", "the LFW people the threshold was calibrated on"),
            ("real", "the news-photo check: its photos and gallery")]:
        if (out / path).exists():
            click.echo(f"  {path + ('/' if (out / path).is_dir() else ''):<16s} {what}")
    enrol = _command("edge-enroll", "edge.cli_enroll", py)
    identify = _command("edge-identify", "edge.cli_identify", py)
    click.echo("\nNext, try:")
    click.echo(f'  {enrol} "Your Name" --camera')
    click.echo("      one snapshot of you, with the shipped accurate bundle")
    click.echo(f"  {identify} --camera --serve 8080")
    click.echo("      names whoever the camera sees; the live view on http://127.0.0.1:8080")
    click.echo(f"  {identify} --video {out}/clip.mp4 --bundle {out}/bundle "
               f"--gallery {out}/gallery_int8.db --stats")
    click.echo("      the network trained here on the clip again, with its time per stage")


if __name__ == "__main__":
    main()
