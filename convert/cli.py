"""``siamese-convert``: a trained model into a device bundle (TFLite, manifest, report)."""
from __future__ import annotations

import os
import shlex
import sys

import click

from edge.cli_errors import OneLine, fail

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@click.command(cls=OneLine, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model_dir", type=click.Path(path_type=str))
@click.argument("out", type=click.Path(path_type=str))
@click.option("--train", "train_dir", required=True, type=click.Path(),
              help="The prepared training folder: int8 calibration faces come from it, and "
                   "the threshold is calibrated on its validation people.")
@click.option("--eval", "eval_dir", required=True, type=click.Path(),
              help="A prepared folder of people never trained on, to validate every variant.")
@click.option("--name", default="fast", show_default=True, help="The bundle's name.")
@click.option("--variants", default="fp32,int8", show_default=True,
              help="Comma-separated: fp32, fp16, dynamic, int8.")
@click.option("--ship", help="Comma-separated variants kept in the bundle (default: all "
              "converted); the others are only measured in the report.")
@click.option("--default", "default", default="int8", show_default=True,
              help="The variant the device uses unless told otherwise.")
@click.option("--tolerance", default=1.0, show_default=True,
              help="Points of one-shot accuracy int8 may lose against Keras before failing.")
@click.option("--fpir", default=0.01, show_default=True,
              help="The promise the stated threshold keeps: at most this share of strangers "
                   "named as someone, for a gallery of --gallery stored faces.")
@click.option("--gallery", "gallery_size", default=50, show_default=True,
              help="Stored faces the bundle's own threshold is stated for (the device reads "
                   "the threshold for its own gallery's size).")
@click.option("--calibrate", "calibration", multiple=True, type=click.Path(),
              help="A prepared folder of people used for nothing else, to calibrate the "
                   "threshold on (repeatable; e.g. the LFW calibration people), beside the "
                   "training's validation people.")
@click.option("--wild", type=click.Path(),
              help="The wild protocol's evaluation folder (siamese-train prepare-wild OUT: "
                   "OUT/eval), reported as open-set identification beside --eval.")
@click.option("--calib-size", default=300, show_default=True, help="Representative faces for int8.")
@click.option("--trials", default=2000, show_default=True, help="One-shot trials per variant.")
@click.option("--seed", default=0, show_default=True)
@click.option("--detector-int8", is_flag=True, help="Ship the int8 MTCNN instead of fp32.")
@click.option("--licence", default="MIT (trained by this project)",
              show_default=True, help="Licence of the weights, recorded in the manifest.")
@click.option("--overwrite", is_flag=True)
def main(model_dir, out, train_dir, eval_dir, name, variants, ship, default, tolerance,
         fpir, gallery_size, calibration, wild, calib_size,
         trials, seed, detector_int8, licence, overwrite):
    """Convert the embedding branch in MODEL_DIR (a `siamese-train fit` output) into
    the bundle folder OUT: TFLite variants, the MTCNN detector as TFLite, manifest.json
    with calibrated thresholds, and report.md / report.json comparing every variant.

    Exits non-zero, writing no bundle, when int8 loses more than --tolerance points.
    """
    from convert.bundle import BundleConfig, ConvertError, build_bundle
    from train.data import DataError

    cfg = BundleConfig(name=name, variants=tuple(v.strip() for v in variants.split(",") if v.strip()),
                       ship=tuple(v.strip() for v in ship.split(",")) if ship else None,
                       default=default, tolerance=tolerance, calib_size=calib_size,
                       trials=trials, seed=seed, fpir=fpir, gallery=gallery_size,
                       calibration=tuple(calibration), wild=wild,
                       detector_int8=detector_int8, licence=licence,
                       made_by="siamese-convert " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
    try:
        report = build_bundle(model_dir, out, train_dir, eval_dir, cfg, overwrite,
                              log=lambda m: click.echo(m, err=True))
    except (ConvertError, DataError, ValueError) as exc:
        fail(exc)
    from convert.report import markdown

    click.echo(markdown(report))
    click.echo(f"bundle written: {out}")


if __name__ == "__main__":
    sys.exit(main())
