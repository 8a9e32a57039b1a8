"""Building a device bundle from a trained model: convert, validate, calibrate, write.

The bundle is written into a temporary folder and moved into place only when every
step succeeded, so a failed conversion never leaves a half-made bundle behind.
"""
from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from convert import report as rep
from convert.embedding import VARIANTS, to_tflite
from edge import metrics
from edge.align import normalise
from edge.bundle import SCHEMA, BundleError, sha256_file
from edge.manifest import Manifest, write_manifest


class ConvertError(Exception):
    """The conversion cannot go on, or its result fails validation."""


@dataclass
class BundleConfig:
    name: str = "fast"
    variants: tuple = ("fp32", "int8")
    default: str = "int8"
    ship: tuple | None = None       # variants kept in the bundle (None: all converted)
    tolerance: float = 1.0          # points of one-shot accuracy int8 may lose
    calib_size: int = 300           # representative faces for int8
    n_way: int = 20
    trials: int = 2000
    seed: int = 0
    detector_int8: bool = False
    fpir: float = 0.01              # strangers named at most this often ...
    gallery: int = rep.REFERENCE_GALLERY   # ... with this many faces stored (the stated threshold)
    calibration: tuple = ()         # prepared folders of people used for nothing else
    wild: str | None = None         # the wild protocol's evaluation folder (LFW eval people)
    licence: str = "MIT (trained by this project)"
    made_by: str = ""
    extra: dict = field(default_factory=dict)


def build_bundle(model_dir, out, train_dir, eval_dir, cfg: BundleConfig = BundleConfig(),
                 overwrite: bool = False, log=print) -> dict:
    """Convert the branch in ``model_dir`` into the bundle folder ``out``; returns the report."""
    from train.data import load_folder, merge, split_people
    from train.evaluate import embed_faces
    from train.fit import SUMMARY_FILE, load_branch

    model_dir, out = Path(model_dir), Path(out)
    if out.exists() and not overwrite:
        raise ConvertError(f"{out}: exists (use --overwrite to replace it)")
    if not 0.0 < cfg.fpir < 1.0:
        raise ConvertError(f"--fpir {cfg.fpir}: the share of strangers accepted is between 0 and 1")
    if cfg.default not in cfg.variants or (cfg.ship is not None and cfg.default not in cfg.ship):
        raise ConvertError(f"default variant {cfg.default} is not among the shipped variants")
    if cfg.ship is not None and not set(cfg.ship) <= set(cfg.variants):
        raise ConvertError(f"--ship {','.join(cfg.ship)}: ship only converted variants")
    for v in cfg.variants:
        if v not in VARIANTS:
            raise ConvertError(f"unknown variant {v!r} (known: {', '.join(VARIANTS)})")
    summary_path = model_dir / SUMMARY_FILE
    if not summary_path.is_file():
        raise ConvertError(f"{model_dir}: not a fit output folder (no {SUMMARY_FILE})")
    summary = json.loads(summary_path.read_text())
    branch = load_branch(model_dir)
    inp = summary["input"]
    train_faces = load_folder(train_dir, inp["size"], inp["colour"])
    fit_cfg = summary["config"]
    train_part, val_part = split_people(train_faces, fit_cfg["val_fraction"], fit_cfg["seed"])
    calib_parts = [load_folder(d, inp["size"], inp["colour"]) for d in cfg.calibration]
    if val_part is not None:
        calib_parts.insert(0, val_part)
    if not calib_parts:
        raise ConvertError("no people to calibrate the threshold on: the model held no "
                           "validation people out; give --calibrate FOLDER")
    # only faces a device would have found: a lab photo kept whole (no face detected,
    # e.g. Yale B in the dark) is not what a stranger at the camera looks like
    calib = merge(*calib_parts).detected()
    eval_faces = load_folder(eval_dir, inp["size"], inp["colour"])
    wild = load_folder(cfg.wild, inp["size"], inp["colour"]) if cfg.wild else None

    rng = np.random.default_rng(cfg.seed)
    pick = rng.choice(len(train_part), size=min(cfg.calib_size, len(train_part)), replace=False)
    representative = normalise(train_part.images[pick], inp["mean"], inp["scale"])

    ref_eval = embed_faces(branch, eval_faces.images)
    ref_calib = embed_faces(branch, calib.images)

    def scores(emb, cal, wild_emb):
        return rep.variant_scores(emb, ref_eval, eval_faces.labels, cal, calib.labels,
                                  cfg.n_way, cfg.trials, cfg.seed, cfg.fpir, cfg.gallery,
                                  None if wild is None else (wild_emb, wild.labels))

    report = {"name": cfg.name, "n_way": cfg.n_way, "tolerance": cfg.tolerance,
              "eval": {"folder": str(eval_dir), "people": len(eval_faces.names),
                       "images": len(eval_faces)},
              "calibration": {"people": len(calib.names), "images": len(calib),
                              "folders": ["training's validation people"] * (val_part is not None)
                              + [str(d) for d in cfg.calibration],
                              "rule": _rule_text(cfg.fpir, cfg.gallery)},
              "representative": {"faces": len(pick), "seed": cfg.seed},
              "variants": {"keras": scores(ref_eval, ref_calib, None if wild is None
                                           else embed_faces(branch, wild.images))}}
    if wild is not None:
        report["wild"] = {"folder": str(cfg.wild), "people": len(wild.names), "images": len(wild)}
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        variants = {}
        for v in cfg.variants:
            log(f"converting {v} ...")
            f = work / f"embedding_{v}.tflite"
            f.write_bytes(to_tflite(branch, v, representative))
            got = scores(rep.embed_with(f, eval_faces.images), rep.embed_with(f, calib.images),
                         None if wild is None else rep.embed_with(f, wild.images))
            got["bytes"] = f.stat().st_size
            report["variants"][v] = got
            variants[v] = {"file": f.name, "sha256": sha256_file(f), "bytes": f.stat().st_size,
                           "threshold": got["threshold"],
                           "identification": got["identification"],
                           "one_shot": got["one_shot"]["accuracy"],
                           "auc": got["verification"]["auc"]}
            if "wild" in got:
                variants[v]["wild"] = {k: got["wild"][k] for k in (
                    "known_right", "known_wrong", "strangers_accepted", "right_at_fpir",
                    "rounds", "enrolled", "people")}
        _judge(report, cfg)
        for v in list(variants):
            if cfg.ship is not None and v not in cfg.ship:
                (work / variants.pop(v)["file"]).unlink()
        report["shipped"] = list(variants)
        log("exporting the detector ...")
        detector = _detector(work, cfg.detector_int8)
        manifest = _manifest({
            "schema": SCHEMA,
            "name": cfg.name,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "made_by": cfg.made_by,
            "licence": cfg.licence,
            "embedding": {
                "architecture": fit_cfg["arch"],
                "input": {"size": inp["size"], "colour": inp["colour"], "mean": inp["mean"],
                          "scale": inp["scale"], "layout": "NHWC",
                          "alignment": "five-point similarity to the ArcFace/SFace template "
                                       "scaled to size (edge.align)"},
                "dim": summary["embedding_dim"],
                "mirror_averaged": bool(summary.get("mirror_averaged", False)),
                "distance": "euclidean between L2-normalised embeddings",
                "threshold_rule": report["calibration"]["rule"],
                "default_variant": cfg.default,
                "variants": variants,
            },
            "detector": detector,
            "training": {k: summary[k] for k in ("config", "parameters", "multiply_adds",
                                                   "train", "validation", "epochs_run",
                                                   "seconds") if k in summary},
            "evaluation": {"folder": str(eval_dir), "trials": cfg.trials, "seed": cfg.seed,
                           # the N measured: fewer people with two faces than asked cap it
                           "n_way": metrics.n_way_for(eval_faces.labels, cfg.n_way)},
            **cfg.extra,
        })
        write_manifest(work, manifest)
        (work / "report.json").write_text(json.dumps(report, indent=2))
        (work / "report.md").write_text(rep.markdown(report))
        if not report["int8_ok"]:
            raise ConvertError(
                f"int8 loses {-report['int8_one_shot_change']:.2f} points of one-shot accuracy "
                f"(tolerance {cfg.tolerance}); bundle not written; report: {out}.report.md")
        os.chmod(work, 0o755)  # mkdtemp made it private; a bundle is meant to be read
        if out.exists():
            shutil.rmtree(out)
        os.replace(work, out)
    except ConvertError:
        if (work / "report.md").exists():
            shutil.copy(work / "report.md", f"{out}.report.md")
        raise
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return report


def _manifest(data: dict) -> Manifest:
    """The manifest checked as a device will check it: a value it would refuse (a NaN
    threshold, say) stops the conversion here instead."""
    try:
        return Manifest.from_dict(data)
    except BundleError as exc:
        raise ConvertError(f"the bundle's manifest would not load on a device: {exc}") from None


def _rule_text(fpir: float, gallery: int) -> str:
    return (f"at most {fpir:.1%} of strangers named as someone (FPIR) for a gallery of "
            f"{gallery} stored faces; the device reads the threshold for its own gallery's "
            "size and FPIR off the identification curve (edge.metrics.threshold_for_gallery)")


def _judge(report: dict, cfg: BundleConfig):
    v = report["variants"]
    keras_acc = v["keras"]["one_shot"]["accuracy"]
    if "int8" in v:
        change = (v["int8"]["one_shot"]["accuracy"] - keras_acc) * 100
        report["int8_one_shot_change"] = change
        report["int8_ok"] = change >= -cfg.tolerance
        if "fp32" in v:
            report["int8_size_ratio"] = v["fp32"]["bytes"] / v["int8"]["bytes"]
    else:
        report["int8_ok"] = True


def _detector(work: Path, int8: bool) -> dict:
    import contextlib
    import io

    from convert.detector import export_detector

    with contextlib.redirect_stdout(io.StringIO()):  # Keras' export chatter
        return export_detector(work, int8=int8)
