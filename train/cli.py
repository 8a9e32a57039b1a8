"""``siamese-train``: prepare photos, fit a Siamese embedding, evaluate it."""
from __future__ import annotations

import json
import os
import sys

import click

from edge.cli_errors import fail, with_errors

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# where the shared data folder is when --data is not given (the tests read it too); no
# command assumes a place for it: the Makefile passes its DATA
DATA_ENV = "SIAMESE_EDGE_DATA"


@click.group(cls=with_errors("train.prepare:PrepareError", "train.data:DataError", ValueError,
                              group=True), context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """Train a Siamese face embedding on a workstation.

    The flow: prepare (photos -> aligned face crops), fit (train the network),
    evaluate (on people never trained on), then siamese-convert makes a device bundle.
    """


@main.command("prepare")
@click.argument("src", type=click.Path(path_type=str))
@click.argument("dst", type=click.Path(path_type=str))
@click.option("--size", default=112, show_default=True, help="Side of the square crops in pixels.")
@click.option("--colour", type=click.Choice(["grey", "rgb"]), default="grey", show_default=True)
@click.option("--whole-if-no-face", is_flag=True,
              help="For folders of ready face crops (ORL, Yale B): keep and resize the "
                   "whole image where no face is detected instead of rejecting it.")
@click.option("--min-face", default=20, show_default=True, help="Smallest face side in pixels.")
@click.option("--pick", type=click.Choice(["single", "centre"]), default="single", show_default=True,
              help="Which face a photo is about: single (the one clear face; two faces of "
                   "similar size reject the photo) or centre (the face nearest the photo's "
                   "centre, for labelled news photos such as LFW, where others are in shot).")
@click.option("--overwrite", is_flag=True, help="Replace DST if it exists.")
def prepare_cmd(src, dst, size, colour, whole_if_no_face, min_face, pick, overwrite):
    """Align the one face of every photo in SRC/person/* into DST/person/*.png.

    Writes DST/prepare.json (every file's fate and reason) and a contact sheet per
    person in DST/_sheets/ with crops unlike the rest of their person outlined in red.
    """
    from train.prepare import Settings, prepare

    report = prepare(src, dst, Settings(size=size, colour=colour, min_face=min_face,
                                        whole_if_no_face=whole_if_no_face, pick=pick),
                     overwrite)
    _print_prepare(report, dst)


def _print_prepare(report, dst):
    counts = ", ".join(f"{v} {k}" for k, v in sorted(report["counts"].items()))
    click.echo(f"{dst}: {counts}; {report['outliers']} flagged as unlike their person")
    click.echo(f"  face taken: {report['pick']}")
    for err in report["errors"]:
        click.echo(f"  {err}", err=True)
    for f in report["files"]:
        if f["status"] == "rejected":
            click.echo(f"  rejected {f['person']}/{f['file']}: {f['reason']}")


@main.command("prepare-protocol")
@click.argument("out", type=click.Path(path_type=str))
@click.option("--data", required=True, envvar=DATA_ENV, show_envvar=True,
              help="The shared data folder (orl/, yaleb/, celebs/); make data passes DATA.")
@click.option("--size", default=112, show_default=True)
@click.option("--overwrite", is_flag=True)
def prepare_protocol_cmd(out, data, size, overwrite):
    """Prepare the standard protocol: OUT/train (yaleb, celebs, orl s1-s20), OUT/eval (orl s21-s40)."""
    from train.protocol import prepare_protocol

    reports = prepare_protocol(data, out, size=size, overwrite=overwrite)
    for split, report in reports.items():
        _print_prepare(report, os.path.join(out, split))


@main.command("prepare-wild")
@click.argument("out", type=click.Path(path_type=str))
@click.option("--data", required=True, envvar=DATA_ENV, show_envvar=True,
              help="The shared data folder (lfw/ and its two people lists); make data passes DATA.")
@click.option("--size", default=112, show_default=True)
@click.option("--colour", type=click.Choice(["grey", "rgb"]), default="rgb", show_default=True)
@click.option("--split", "splits", multiple=True, type=click.Choice(["eval", "calibration", "train"]),
              help="Prepare only these splits (repeatable; default: all three).")
@click.option("--overwrite", is_flag=True)
def prepare_wild_cmd(out, data, size, colour, splits, overwrite):
    """Prepare the wild protocol (LFW): OUT/eval, OUT/calibration and OUT/train, the face
    nearest each photo's centre (the labelled person), aligned."""
    from train.protocol import prepare_wild

    reports = prepare_wild(data, out, size=size, colour=colour,
                           splits=splits or ("eval", "calibration", "train"),
                           overwrite=overwrite)
    for split, report in reports.items():
        _print_prepare(report, os.path.join(out, split))


@main.command("fit")
@click.argument("train_dir", type=click.Path(path_type=str))
@click.argument("out", type=click.Path(path_type=str))
@click.option("--arch", default="edge", show_default=True,
              help="Embedding network: edge (small, for the device), seed (the original), sface (pretrained).")
@click.option("--objective", type=click.Choice(["cosface", "triplet", "contrastive"]),
              default="cosface", show_default=True)
@click.option("--epochs", default=12, show_default=True)
@click.option("--steps", default=60, show_default=True, help="Batches per epoch.")
@click.option("--batch", default=64, show_default=True)
@click.option("--lr", default=2e-3, show_default=True)
@click.option("--margin", type=float, help="Objective margin (cosface 0.35, triplet 0.3, contrastive 1.0).")
@click.option("--scale", default=16.0, show_default=True, help="CosFace logit scale.")
@click.option("--mining", type=click.Choice(["batch-hard", "semi-hard"]), default="batch-hard")
@click.option("--size", type=int, help="Resize faces to this side (default: the architecture's).")
@click.option("--val-fraction", default=0.1, show_default=True, help="Share of people held out.")
@click.option("--patience", default=8, show_default=True, help="Early stopping on validation AUC.")
@click.option("--seed", default=0, show_default=True)
@click.option("--no-augment", is_flag=True)
@click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker"]),
              default="default", show_default=True,
              help="default: this process; mirrored: every local GPU; multi-worker: one process "
                   "per worker as TF_CONFIG describes (run the same command on each; worker 0 "
                   "writes OUT).")
@click.option("--init", type=click.Path(), help="Pretrained weights (SFace ONNX) for --arch sface.")
@click.option("--mirror/--no-mirror", default=None,
              help="Embed each face plus its mirror image (twice the work, steadier; default: "
                   "on for the edge network).")
@click.option("--freeze", default=0, show_default=True,
              help="Leading blocks kept frozen when fine-tuning (sface: conv_1..conv_14, head).")
def fit_cmd(train_dir, out, arch, objective, epochs, steps, batch, lr, margin, scale, mining, size,
            val_fraction, patience, seed, no_augment, strategy, init, freeze, mirror):
    """Train an embedding branch on TRAIN_DIR (one folder per person) into OUT."""
    from train.data import load_folder
    from train.fit import FitConfig, fit
    from train.models import ARCHITECTURES

    spec = ARCHITECTURES.get(arch, {"size": 112, "colour": "rgb"})
    if arch not in ARCHITECTURES and arch != "sface":
        fail(ValueError(f"unknown architecture {arch!r} (known: {', '.join([*ARCHITECTURES, 'sface'])})"))
    faces = load_folder(train_dir, size=size or spec["size"], colour=spec["colour"])
    cfg = FitConfig(arch=arch, objective=objective, epochs=epochs, steps=steps, batch=batch,
                    lr=lr, margin=margin, scale=scale, mining=mining, val_fraction=val_fraction,
                    patience=patience, seed=seed, augment=not no_augment,
                    strategy=strategy, init=init, freeze=freeze, mirror=mirror)
    summary = fit(faces, out, cfg)
    click.echo(f"saved {out}/embedding.keras: {summary['parameters']:,} parameters, "
               f"{summary['multiply_adds'] / 1e6:.1f} M multiply-adds, "
               f"{summary['epochs_run']} epochs in {summary['seconds']:.0f} s"
               + (f", best validation AUC {summary['best_val_auc']:.4f}"
                  if "best_val_auc" in summary else ""))


@main.command("distil")
@click.argument("out", type=click.Path(path_type=str))
@click.option("--faces", "folders", multiple=True, required=True, type=click.Path(),
              help="A prepared folder of 112 px crops, one sub-folder per person (repeatable). "
                   "Never the evaluation or calibration people.")
@click.option("--teacher", default="accurate", show_default=True,
              help="The bundle whose embeddings the student learns (a shipped name or a folder).")
@click.option("--arch", type=click.Choice(["edge", "sface"]), default="edge", show_default=True,
              help="edge: this project's small network, from scratch; sface: SFace's layers "
                   "at the student's size, starting from its weights (9x slower to train here).")
@click.option("--size", default=64, show_default=True, help="The student's face size in pixels.")
@click.option("--colour", type=click.Choice(["grey", "rgb"]), default="grey", show_default=True)
@click.option("--epochs", default=52, show_default=True)
@click.option("--steps", default=100, show_default=True, help="Batches per epoch.")
@click.option("--batch", default=128, show_default=True)
@click.option("--lr", default=2e-3, show_default=True)
@click.option("--cosface-weight", default=0.1, show_default=True,
              help="Weight of the CosFace term (class centres: the teacher's mean per person).")
@click.option("--val-people", default=40, show_default=True,
              help="People held out of training to choose the epoch kept.")
@click.option("--seed", default=0, show_default=True)
@click.option("--mirror/--no-mirror", default=True, show_default=True,
              help="Keep the student mirror-averaged: each face embedded with its mirror image "
                   "(twice the work; on LFW +5 points of known right at 1% strangers midway).")
@click.option("--resume", is_flag=True, help="Go on from OUT/checkpoint.keras and OUT/log.csv.")
def distil_cmd(out, folders, teacher, arch, size, colour, epochs, steps, batch, lr,
               cosface_weight, val_people, seed, mirror, resume):
    """Train a small student network in OUT to embed faces as the TEACHER bundle does.

    Every epoch is checkpointed (OUT/checkpoint.keras) and the one that agrees best with
    the teacher on validation people kept (OUT/embedding.keras, OUT/summary.json), so
    siamese-convert can take OUT at any time and --resume goes on after an interruption.
    """
    from train.distil import DistilConfig, distil

    cfg = DistilConfig(arch=arch, size=size, colour=colour, epochs=epochs, steps=steps,
                       batch=batch, lr=lr, cosface_weight=cosface_weight,
                       val_people=val_people, seed=seed, teacher=teacher, mirror=mirror)
    summary = distil(folders, out, cfg, resume=resume)
    click.echo(f"saved {out}/embedding.keras: {summary['parameters']:,} parameters, "
               f"{summary['multiply_adds'] / 1e6:.1f} M multiply-adds, {summary['epochs_run']} "
               f"epochs in {summary['seconds']:.0f} s, best validation cosine to the teacher "
               f"{summary['best_val_teacher_cos']:.3f}")


@main.command("evaluate")
@click.argument("model", type=click.Path(path_type=str))
@click.argument("eval_dir", type=click.Path(path_type=str))
@click.option("--out", type=click.Path(), help="Write evaluation.json and roc.png here.")
@click.option("--n-way", default=20, show_default=True)
@click.option("--trials", default=2000, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--threshold", type=float, help="Distance threshold (default: calibrated on these pairs).")
@click.option("--wild", type=click.Path(), help="The wild protocol's evaluation folder "
              "(siamese-train prepare-wild OUT: OUT/eval): open-set identification, 5 rounds.")
@click.option("--calibrate", type=click.Path(), help="People used for nothing else (OUT/calibration) "
              "to calibrate the wild threshold on: 1% of strangers accepted, 50 faces stored.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def evaluate_cmd(model, eval_dir, out, n_way, trials, seed, threshold, wild, calibrate, as_json):
    """Evaluate MODEL (a fit output folder or .keras file) on EVAL_DIR, people never trained on."""
    from train.data import load_folder
    from train.evaluate import evaluate
    from train.fit import SUMMARY_FILE

    info = _model_input(model, SUMMARY_FILE)
    faces = load_folder(eval_dir, size=info["size"], colour=info["colour"])
    wild_faces, calib = (load_folder(d, size=info["size"], colour=info["colour"]) if d else None
                         for d in (wild, calibrate))
    result = evaluate(model, faces, out, n_way, trials, seed, threshold, wild_faces, calib)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    s, v = result["one_shot"], result["verification"]
    click.echo(f"{s['n_way']}-way one-shot: {s['accuracy']:.1%} "
               f"(95% CI {s['ci95'][0]:.1%}-{s['ci95'][1]:.1%}, {s['trials']} trials)")
    click.echo(f"verification: AUC {v['auc']:.4f}, EER {v['eer']:.1%}, accuracy "
               f"{v['accuracy_at_threshold']:.1%} at threshold {v['threshold']:.3f}"
               f"{' (calibrated on these pairs)' if v['threshold_calibrated_here'] else ''}")
    if "wild" in result:
        click.echo(wild_line(result["wild"]))


def wild_line(w: dict) -> str:
    """The wild protocol's open-set figures in one line."""
    at = (f"at threshold {w['threshold']:.3f}: known named right {w['known_right']:.1%}, "
          f"named wrong {w['known_wrong']:.2%}, strangers accepted {w['strangers_accepted']:.2%}; "
          if w["threshold"] is not None else "")
    return (f"wild open set ({w['enrolled']} of {w['people']} people enrolled, {w['rounds']} "
            f"rounds): {at}known right at {w['fpir']:.0%} strangers accepted "
            f"{w['right_at_fpir']:.1%}")


@main.command("omniglot")
@click.argument("out", type=click.Path(path_type=str))
@click.option("--data", required=True,
              help="Folder with images_background_small1/2.zip and all_runs.zip (the shared "
                   "data folder's omniglot/).")
@click.option("--arch", default="edge", show_default=True)
@click.option("--objective", type=click.Choice(["cosface", "triplet", "contrastive"]),
              default="cosface", show_default=True)
@click.option("--size", default=64, show_default=True)
@click.option("--epochs", default=30, show_default=True)
@click.option("--steps", default=100, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--rotations/--no-rotations", default=True, show_default=True,
              help="Train also on every character turned by 90, 180 and 270 degrees, as new classes.")
def omniglot_cmd(out, data, arch, objective, size, epochs, steps, seed, rotations):
    """Omniglot one-shot: train on both small background sets, then the 20 standard
    20-way runs of all_runs.zip, reported beside the Siamese-network paper's 92.0%."""
    from train.data import split_people
    from train.evaluate import embed_faces
    from train.fit import FitConfig, fit, load_branch
    from train.omniglot import evaluate_runs, load_background, load_runs, with_rotations

    cfg = FitConfig(arch=arch, objective=objective, epochs=epochs, steps=steps, seed=seed,
                    flip=False)
    train, val = split_people(load_background(data, size), cfg.val_fraction, seed)
    runs = load_runs(data, size)
    summary = fit(with_rotations(train) if rotations else train, out, cfg, val=val)
    branch = load_branch(out)
    result = evaluate_runs(lambda x: embed_faces(branch, x), runs)
    result["training"] = {k: summary[k] for k in ("parameters", "epochs_run", "seconds")}
    with open(os.path.join(out, "omniglot.json"), "w") as f:
        json.dump(result, f, indent=2)
    click.echo(f"omniglot 20-way one-shot: {result['accuracy']:.1%} over {result['runs']} runs "
               f"({result['items']} items); the paper: {result['paper_accuracy']:.1%}")


def _model_input(model, summary_file):
    """The input size and colour a saved model expects (its summary, else its shape)."""
    from pathlib import Path

    folder = Path(model) if Path(model).is_dir() else Path(model).parent
    summary = folder / summary_file
    if summary.exists():
        return json.loads(summary.read_text())["input"]
    from train.fit import load_branch

    shape = load_branch(model).input_shape
    return {"size": shape[1], "colour": "grey" if shape[3] == 1 else "rgb"}


if __name__ == "__main__":
    sys.exit(main())
