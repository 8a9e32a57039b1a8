"""``edge-bench``: what each model variant costs and scores on this device."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np

from edge.cli_common import fail
from edge.cli_errors import OneLine


@click.command(cls=OneLine, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--bundle", "bundles", multiple=True, default=["fast"], show_default=True,
              metavar="NAME|PATH", help="Bundle(s) to measure; repeat for several.")
@click.option("--threads", default="1,2,4", show_default=True, help="Thread counts to time.")
@click.option("--warmup", default=20, show_default=True)
@click.option("--runs", default=200, show_default=True, help="Timed runs per embedding measurement.")
@click.option("--faces", type=click.Path(file_okay=False),
              help="A labelled folder (one sub-folder per person) for accuracy, scenes and a clip.")
@click.option("--aligned", is_flag=True, help="--faces holds aligned crops (siamese-train prepare output).")
@click.option("--clip", type=click.Path(dir_okay=False), help="A video for the pipeline measurement.")
@click.option("--gallery-sizes", default="10,1000,10000,100000", show_default=True)
@click.option("--skip", default="", help="Comma-separated parts to skip: embed, accuracy, detector, pipeline, gallery.")
@click.option("--out", type=click.Path(file_okay=False), help="Write bench.json and PNG plots here.")
def main(bundles, threads, warmup, runs, faces, aligned, clip, gallery_sizes, skip, out):
    """Measure every variant of each bundle: size, load time, per-face latency
    (min/mean/p50/p95/p99) at several thread counts, peak memory; accuracy on a
    labelled folder; detector latency at 320x240, 640x480, 1280x720; the identify
    pipeline on a clip; gallery matching from 10 to 100,000 stored embeddings.
    """
    from edge import bench
    from edge.bundle import BundleError, load_bundle

    skip = {s.strip() for s in skip.split(",") if s.strip()}
    threads = [int(t) for t in threads.split(",")]
    report = {"machine": bench.machine(), "settings": {"warmup": warmup, "runs": runs,
                                                       "threads": threads}, "bundles": {}}
    click.echo(_machine_line(report["machine"]))
    try:
        loaded = [load_bundle(b) for b in bundles]
    except BundleError as exc:
        fail(str(exc))
    labelled = _labelled(faces) if faces else None
    for b in loaded:
        name = b.name
        entry = report["bundles"][name] = {"path": str(b.path)}
        if "embed" not in skip:
            entry["embedding"] = _embedding(b, threads, warmup, runs)
        if labelled and "accuracy" not in skip:
            entry["accuracy"] = _accuracy(b, labelled, aligned)
        if "detector" not in skip:
            entry["detector"] = _detector(b, labelled, threads)
        if "pipeline" not in skip:
            entry["pipeline"] = _pipeline(b, clip, labelled)
    if "gallery" not in skip:
        report["gallery"] = _gallery([int(s) for s in gallery_sizes.split(",")])
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "bench.json").write_text(json.dumps(report, indent=2))
        from edge.bench_plots import plots
        for path in plots(report, out):
            click.echo(f"wrote {path}")


def _machine_line(m):
    return (f"machine: {m['cpu']}, {m['cores']} cores, {m['machine']}, Python {m['python']}, "
            f"numpy {m['numpy']}, interpreter {m['interpreter']}, {m['date']}")


def _row(label, s):
    return (f"{label:<28}{s['min']:>8.2f}{s['mean']:>8.2f}{s['p50']:>8.2f}{s['p95']:>8.2f}"
            f"{s['p99']:>8.2f}")


HEADER = f"{'':<28}{'min':>8}{'mean':>8}{'p50':>8}{'p95':>8}{'p99':>8}   (ms)"


def _embedding(b, threads, warmup, runs):
    from edge.bench import embedding_latency

    from edge.macs import model_multiply_adds

    click.echo(f"\n[{b.name}] embedding per face, warm-up {warmup}, {runs} runs")
    click.echo(HEADER + "   size MB  load ms  peak RSS MB  M mult-adds")
    out = {}
    for variant, model in b.spec.variants.items():
        out[variant] = []
        macs = model_multiply_adds(b.file(model.file))
        for t in threads:
            r = embedding_latency(b.file(model.file), t, warmup, runs)
            r["multiply_adds"] = macs
            out[variant].append(r)
            click.echo(_row(f"{variant}, {t} thread{'s' if t > 1 else ''}", r)
                       + f"{r['bytes'] / 1e6:>10.2f}{r['load_ms']:>9.1f}{r['peak_rss_mb']:>13.1f}"
                       f"{macs / 1e6:>13.1f}")
    return out


def _labelled(folder):
    from edge.images import ImageError, is_image_name, read_image

    people = {}
    for person in sorted(p for p in Path(folder).iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        imgs = []
        for f in sorted(person.iterdir()):
            if f.is_file() and is_image_name(f):
                try:
                    imgs.append(read_image(f))
                except ImageError:
                    continue
        if imgs:
            people[person.name] = imgs
    if len(people) < 2:
        fail(f"{folder}: needs at least two person sub-folders with photos")
    return people


def _thumbnails(b, labelled, aligned):
    """(aligned 112 px thumbnails, their labels, a Counter of the photos skipped by reason).

    Unless ``aligned``, each photo is cut out as edge-enroll would (``snapshot_of``: one
    face, large and sharp enough, aligned the same way); a photo it would refuse is
    skipped and counted, not measured.
    """
    from collections import Counter

    import cv2

    from edge.enrolment import THUMBNAIL, EnrolError, snapshot_of

    det = None if aligned else b.detector(2)
    thumbs, labels, skipped = [], [], Counter()
    for label, (name, imgs) in enumerate(labelled.items()):
        for img in imgs:
            if aligned:
                thumbs.append(cv2.resize(img, (THUMBNAIL, THUMBNAIL),
                                         interpolation=cv2.INTER_AREA))
            else:
                try:
                    thumbs.append(snapshot_of(img, det).thumbnail)
                except EnrolError as exc:
                    skipped[exc.reason] += 1
                    continue
            labels.append(label)
    return thumbs, np.array(labels), skipped


def _skipped(skipped) -> str:
    """How many photos were skipped and why, in a few words."""
    n = sum(skipped.values())
    if not n:
        return "no photo skipped"
    why = ", ".join(f"{k} {reason}" for reason, k in skipped.most_common())
    return (f"{n} photo{'s' if n > 1 else ''} skipped (edge-enroll would refuse "
            f"{'them' if n > 1 else 'it'}: {why})")


def _accuracy(b, labelled, aligned):
    """Each variant's lab figures (``edge.metrics.lab_scores``: 20-way one-shot over 2000
    trials, AUC, EER and accuracy at the variant's threshold, the ROC) on the folder's
    faces, cut out as edge-enroll would unless ``aligned``."""
    from edge import metrics
    from edge.bundle import load_bundle

    thumbs, labels, skipped = _thumbnails(b, labelled, aligned)
    n_way = metrics.n_way_for(labels, 20)
    click.echo(f"\n[{b.name}] accuracy on {len(thumbs)} faces of "
               f"{len(labelled)} people ({_skipped(skipped)}), "
               f"{n_way}-way one-shot over 2000 trials")
    if n_way < 2:
        click.echo("  (accuracy skipped: fewer than two people with two usable faces)")
        return {}
    out = {}
    for variant in b.spec.variants:
        v = load_bundle(b.path, variant)
        emb = v.thumbnail_embedder(2).embed(thumbs)
        s = metrics.lab_scores(emb, labels, v.threshold, n_way, 2000, 0, curve_points=200)
        shot, ver = s["one_shot"], s["verification"]
        out[variant] = {"faces": len(thumbs), "skipped": dict(skipped), "one_shot": shot,
                        **{k: ver[k] for k in ("auc", "eer", "threshold",
                                               "accuracy_at_threshold", "roc")}}
        click.echo(f"  {variant:<8} one-shot {shot['accuracy']:.2%} (95% CI {shot['ci95'][0]:.1%}-"
                   f"{shot['ci95'][1]:.1%})  AUC {ver['auc']:.4f}  EER {ver['eer']:.2%}  accuracy "
                   f"{ver['accuracy_at_threshold']:.2%} at threshold {v.threshold:.3f}")
    return out


def _detector(b, labelled, threads):
    from edge.bench import detector_latency, scene

    rng = np.random.default_rng(0)
    faces = [imgs[0] for imgs in list(labelled.values())[:2]] if labelled else []
    click.echo(f"\n[{b.name}] detector per frame "
               f"({len(faces)} real face{'s' if len(faces) != 1 else ''} pasted in; warm-up 5, 30 runs)")
    from edge.macs import detector_multiply_adds

    click.echo(HEADER + "   faces  P-Net M mult-adds (levels)")
    out = []
    variant = b.manifest.detector.variant or "fp32"
    det = b.detector(max(threads))
    for size in ((320, 240), (640, 480), (1280, 720)):
        r = detector_latency(det, scene(size, faces, rng))
        macs = detector_multiply_adds(det, *size)
        r.update(size=f"{size[0]}x{size[1]}", variant=variant, threads=max(threads),
                 multiply_adds=macs)
        out.append(r)
        click.echo(_row(f"{variant}, {max(threads)} threads, {r['size']}", r) + f"{r['faces_found']:>8}"
                   + f"{macs['pnet'] / 1e6:>12.1f} ({macs['levels']})")
    click.echo(f"  then per candidate face: R-Net {macs['rnet_per_candidate'] / 1e6:.2f} M, "
               f"O-Net {macs['onet_per_candidate'] / 1e6:.2f} M multiply-adds (min face "
               f"{det.min_face} px)")
    return out


def _pipeline(b, clip, labelled):
    import tempfile

    if clip is None and not labelled:
        click.echo("\n(pipeline skipped: give --clip or --faces)")
        return None
    with tempfile.TemporaryDirectory() as made_dir:
        if clip is None:
            from edge.clips import make_clip
            clip = str(Path(made_dir) / "clip.mp4")
            make_clip(labelled, seed=0, segments=4, frames_per_segment=30).write(clip)
        out = _pipeline_runs(b, clip)
    click.echo(f"\n[{b.name}] pipeline on {clip} (mean ms a frame):")
    click.echo(f"  {'':<44}{'fps':>7}{'detect':>8}{'align':>7}{'embed':>7}{'match':>7}")
    for label, s in out.items():
        click.echo(f"  {label:<44}{s['fps']:>7.1f}"
                   + "".join(f"{s[k]['mean'] * s[k]['runs'] / s['frames'] if k in s else 0:>7.2f}"
                             for k in ("detect", "align", "embed", "match")))
    return out


PIPELINES = {   # label: Pipeline settings (a result every frame unless ``every`` says)
    "every frame, whole frame scanned, every face": {"every": 1, "scan_every": 1, "reembed": 1},
    "every frame, following faces (the default)": {"every": 1},
    "detection every 3rd frame, following faces": {"every": 3},
}


def _pipeline_runs(b, clip):
    """Per-stage latency and frames per second of each of PIPELINES over ``clip``."""
    import tempfile
    import time

    from edge.pipeline import Pipeline
    from edge.sources import open_source
    from gallery.match import Matcher

    out = {}
    for label, settings in PIPELINES.items():
        with tempfile.TemporaryDirectory() as tmp, \
                Matcher(Path(tmp) / "g.db", b.sha256, b.threshold) as matcher, \
                open_source(video=clip) as source:
            pipeline = Pipeline(b, matcher, threads=4, **settings)
            t0 = time.perf_counter()
            for _ in pipeline.run(source):
                pass
            s = pipeline.timings.summary()
            s["fps"] = s["frames"] / (time.perf_counter() - t0)
            out[label] = s
    return out


def _gallery(sizes):
    from edge.bench import gallery_latency

    click.echo("\ngallery: matching one face (128-d), warm-up 20, 300 runs")
    click.echo(HEADER)
    out = []
    for n in sizes:
        r = gallery_latency(n, 128)
        out.append(r)
        click.echo(_row(f"{n:,} stored", r))
    return out


if __name__ == "__main__":
    sys.exit(main())
