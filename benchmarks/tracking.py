"""What following faces saves: the clip of ``make benchmarks`` with every frame scanned
whole and every face embedded (as before tracking) against the defaults, in one run.

    .venv/bin/python -m benchmarks.tracking            # or: make tracking

The clip is ``benchmarks.pipeline``'s (ORL s21..s40, photos 2..10 pasted into 640x480
scenes, 1 to 3 faces, seeded, a cut every segment), everyone enrolled from photo 1. Each
setting runs ``edge.pipeline.Pipeline.run`` over the decoded clip with a result on every
frame (``--every 1``), ``--runs`` times, the settings taking turns so a busy machine
slows both alike. Printed per setting: detection and embedding time per frame (mean over
the clip), frames per second of the whole loop, and faces named right (over every frame,
and with SETTLE frames after each cut left out), with the multiply-adds of each stage.
Then the detector's recall on photos with the settings ``edge-identify --images`` uses:
the LFW evaluation people's photos (the labelled face is the one holding the photo's
centre) and ORL.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402

SETTINGS = {"whole frame, every face embedded": {"scan_every": 1, "reembed": 1},
            "following faces (defaults)": {}}


def run(bundle, gallery, clip_path, truth, threads, **settings) -> dict:
    from edge.metrics import clip_namings
    from edge.pipeline import Pipeline
    from edge.sources import open_source
    from gallery.match import Matcher

    with Matcher(gallery, bundle.sha256, bundle.threshold_rule()) as matcher, \
            open_source(video=str(clip_path)) as source:
        pipeline = Pipeline(bundle, matcher, threads=threads, every=1, **settings)
        t0 = time.perf_counter()
        reported = [[(f.name, f.box) for f in r.faces] for _, r in pipeline.run(source)]
        seconds = time.perf_counter() - t0
    frames = len(reported)
    ms = pipeline.timings.ms
    return {"frames": frames, "fps": frames / seconds,
            "detect_ms": sum(ms["detect"]) / frames, "embed_ms": sum(ms["embed"]) / frames,
            **clip_namings(reported, truth)}


def recall(bundle, photos: list[Path], centre: bool) -> tuple[int, int]:
    """(photos where the labelled face was found, photos) with edge-identify's photo
    settings; ``centre``: the labelled face is the one holding the photo's centre."""
    from edge.images import ImageError, read_image
    from edge.pipeline import Pipeline

    pipeline = Pipeline(bundle, None, threads=2, stills=True)
    found = total = 0
    for path in photos:
        try:
            image = read_image(path)
        except ImageError:
            continue
        total += 1
        h, w = image.shape[:2]
        faces = pipeline.find(image)
        found += any(f.box[0] <= w / 2 <= f.box[2] and f.box[1] <= h / 2 <= f.box[3]
                     for f in faces) if centre else bool(faces)
    return found, total


@click.command()
@click.option("--data", default="../shared/data", show_default=True, type=click.Path(file_okay=False))
@click.option("--bundle", "bundle_name", default="accurate", show_default=True)
@click.option("--threads", default=2, show_default=True)
@click.option("--runs", default=3, show_default=True, help="Runs of each setting, taking turns.")
@click.option("--segments", default=6, show_default=True)
@click.option("--frames-per-segment", default=40, show_default=True)
def main(data, bundle_name, threads, runs, segments, frames_per_segment):
    from benchmarks.pipeline import build_clip, enrol_gallery, orl_photos
    from edge.bench import machine
    from edge.bundle import load_bundle
    from edge.macs import detector_multiply_adds, model_multiply_adds, near_multiply_adds

    data = Path(data)
    m = machine()
    click.echo(f"machine: {m['cpu']}, {m['cores']} cores, {m['date']}; bundle {bundle_name}, "
               f"{threads} threads, a result every frame")
    bundle = load_bundle(bundle_name)
    photos = orl_photos(data)
    with tempfile.TemporaryDirectory() as tmp:
        clip_path, gallery = Path(tmp) / "clip.mp4", Path(tmp) / "gallery.db"
        clip = build_clip(photos, clip_path, seed=0, segments=segments,
                          frames_per_segment=frames_per_segment)
        enrol_gallery(bundle, photos, gallery)
        results = {name: [] for name in SETTINGS}
        for _ in range(runs):
            for name, settings in SETTINGS.items():
                results[name].append(run(bundle, gallery, clip_path, clip.truth, threads, **settings))
    faces = [len(t) for t in clip.truth]
    click.echo(f"clip: {len(clip.frames)} frames of 640x480, {segments} scenes, "
               f"{statistics.mean(faces):.2f} faces a frame; {runs} runs each, medians\n")
    click.echo(f"{'':<36}{'detect ms':>10}{'embed ms':>10}{'fps':>7}{'named right':>13}"
               f"{'settled':>9}")
    medians = {}
    for name, rs in results.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("detect_ms", "embed_ms", "fps")}
        n, s = rs[0]["naming"], rs[0]["naming_settled"]
        medians[name] = med
        click.echo(f"{name:<36}{med['detect_ms']:>10.2f}{med['embed_ms']:>10.2f}{med['fps']:>7.1f}"
                   f"{n['accuracy']:>12.1%} {s['accuracy']:>8.1%}")
    before, after = medians.values()
    click.echo(f"\ndetection {before['detect_ms'] / after['detect_ms']:.1f}x less time per frame, "
               f"frames per second {after['fps'] / before['fps']:.1f}x")

    det = bundle.detector(1, min_face=40)
    full = detector_multiply_adds(det, 640, 480)
    click.echo(f"\nmultiply-adds: P-Net over a 640x480 frame's pyramid (min face 40, "
               f"{full['levels']} levels) {full['pnet'] / 1e6:.1f} M, then R-Net "
               f"{full['rnet_per_candidate'] / 1e6:.2f} M and O-Net "
               f"{full['onet_per_candidate'] / 1e6:.2f} M per candidate; around a followed face "
               f"no P-Net, R-Net on 5 candidates ({near_multiply_adds(det, 1) / 1e6:.2f} M) and "
               f"O-Net on the survivors; embedding "
               f"{model_multiply_adds(bundle.file(bundle.model.file)) / 1e6:.1f} M per face")

    people = (data / "lfw_eval_people.txt").read_text().split()
    lfw = [p for person in people for p in sorted((data / "lfw" / person).glob("*.jpg"))]
    orl = sorted((data / "orl").glob("s*/*.pgm"))
    for label, files, centre in (("LFW evaluation people", lfw, True), ("ORL", orl, False)):
        found, total = recall(bundle, files, centre)
        click.echo(f"faces found with edge-identify's photo settings, {label}: "
                   f"{found} of {total} photos")
    sys.exit(0)


if __name__ == "__main__":
    main()
