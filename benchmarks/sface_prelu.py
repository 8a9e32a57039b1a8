"""Why SFace's PReLU is written as depthwise convolutions: full-int8 TFLite, both ways.

    .venv/bin/python benchmarks/sface_prelu.py [--data ../shared/data] [--threads 1]

Builds the Keras port with native PReLU and with ``prelu_as_depthwise``, converts each to
full-integer int8 with the project's converter (``convert.embedding.to_tflite``,
calibrated on 40 ORL s1..s20 faces) and prints, per model: file size, how many pieces
LiteRT's XNNPACK delegate took the graph in (1 means the whole graph runs in XNNPACK;
each PReLU it cannot take cuts it), latency for one face (5 warm-up runs, then 50:
min / mean / p50 / p95) and the cosine of the int8 embedding to Keras' fp32 one on
40 ORL s21..s40 faces.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import click  # noqa: E402
import numpy as np  # noqa: E402

from edge.align import normalise  # noqa: E402
from edge.embed import Embedder  # noqa: E402
from edge.timing import time_calls  # noqa: E402

WARMUP, RUNS = 5, 50


def interpreter_latency(embedder: Embedder, face: np.ndarray) -> dict:
    """The interpreter's own time for one face (``edge.timing.time_calls``, in ms)."""
    embedder.embed(face[None])            # sets the input, batch of one
    return time_calls(embedder.interpreter.invoke, WARMUP, RUNS)


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--data", type=click.Path(path_type=Path), default=ROOT.parent / "shared" / "data",
              show_default=True, help="The shared real data folder (needs orl/).")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Interpreter threads for the latency runs.")
def main(data: Path, threads: int):
    if not (data / "orl").is_dir():
        raise click.ClickException(f"no ORL faces under {data}: pass --data")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from sface_port import aligned_faces

    from convert.embedding import to_tflite
    from train import sface
    from train.mtcnn_faces import MtcnnFaces

    finder = MtcnnFaces()

    def orl(first, last):
        paths = [data / f"orl/s{k}/{i}.pgm" for k in range(first, last + 1) for i in (1, 2)]
        return aligned_faces(paths, finder)[0]

    click.echo("aligning 80 ORL faces ...")
    calibration, held_out = orl(1, 20), orl(21, 40)
    click.echo(f"LiteRT, {threads} thread(s); latency of one face: {WARMUP} warm-up runs, "
               f"then {RUNS}")
    with tempfile.TemporaryDirectory() as work:
        for as_depthwise in (False, True):
            model = sface.build_sface(prelu_as_depthwise=as_depthwise)
            name = "PReLU as depthwise" if as_depthwise else "native PReLU"
            click.echo(f"{name}: converting to int8 ...")
            path = Path(work) / f"sface_{int(as_depthwise)}.tflite"
            path.write_bytes(to_tflite(model, "int8", normalise(calibration, 127.5, 128.0)))
            embedder = Embedder(path, threads=threads)
            pieces = sum(op["op_name"] == "DELEGATE"
                         for op in embedder.interpreter._get_ops_details())
            reference = model.predict(normalise(held_out, 127.5, 128.0), verbose=0)
            cosine = (embedder.embed(held_out) * reference).sum(1)
            ms = interpreter_latency(embedder, held_out[0])
            click.echo(f"  {path.stat().st_size / 1e6:.1f} MB, {pieces} XNNPACK piece(s), "
                       f"ms min {ms['min']:.1f} mean {ms['mean']:.1f} "
                       f"p50 {ms['p50']:.1f} p95 {ms['p95']:.1f}, "
                       f"cosine to Keras fp32 mean {cosine.mean():.4f} worst {cosine.min():.4f}")


if __name__ == "__main__":
    main()
