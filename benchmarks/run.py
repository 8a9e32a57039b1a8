"""The workstation benchmark suite: one run, one machine, every figure of RESULTS.md.

    .venv/bin/python -m benchmarks.run            # or: make benchmarks

From the standard protocol (``../shared/data/README.md``) and the shipped bundles, in
this order: fp32 vs int8 per bundle (size, per-face latency at 1 and 2 threads, 20-way
one-shot over 2,000 trials, AUC, EER, accuracy at the bundle's threshold on ORL
s21..s40); the TFLite detector against the ``mtcnn`` package (agreement, speed); end to
end on a seeded clip of ORL s21..s40 faces (fps with detection every frame and every 3rd,
naming accuracy; the real ``edge-identify`` for its first result and peak memory);
gallery matching from 10 to 100,000 people; peers when installed (``face_recognition``;
the original project's ``seed`` network, trained briefly on the same split). Writes
``benchmarks/RESULTS.md``, ``benchmarks/HEADLINE.md``, ``benchmarks/results/*.png`` and
``benchmarks/results/results.json``. Nothing is reused from an earlier run.
"""
from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import datetime  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import click  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("variants", "wild", "detector", "pipeline", "gallery", "peers", "seed")


def log(msg=""):
    click.echo(msg)
    sys.stdout.flush()


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Section:
    """Times a part of the run and records the load average before and after."""

    def __init__(self, results, name):
        self.results, self.name = results, name

    def __enter__(self):
        self.t0, self.before = time.perf_counter(), load()
        log(f"\n== {self.name} (load average {self.before[0]:.2f})")
        return self

    def __exit__(self, exc_type, exc, tb):
        seconds = time.perf_counter() - self.t0
        self.results["sections"][self.name] = {"seconds": round(seconds, 1),
                                               "load_before": self.before, "load_after": load()}
        if exc is not None:
            self.results["errors"][self.name] = f"{exc_type.__name__}: {exc}"
            log(f"   {self.name} FAILED after {seconds:.0f} s: {exc_type.__name__}: {exc}")
            return not isinstance(exc, KeyboardInterrupt)
        log(f"   ({seconds:.0f} s)")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data", type=click.Path(file_okay=False, path_type=Path),
              default=ROOT.parent / "shared" / "data", show_default=True,
              help="The shared real data (orl/, yaleb/, celebs/).")
@click.option("--protocol", type=click.Path(file_okay=False, path_type=Path),
              default=ROOT / "runs" / "protocol112", show_default=True,
              help="siamese-train prepare-protocol output (train/ and eval/).")
@click.option("--wild", type=click.Path(file_okay=False, path_type=Path),
              default=ROOT / "runs" / "wild", show_default=True,
              help="siamese-train prepare-wild output (eval/: LFW's evaluation people).")
@click.option("--bundle", "bundles", multiple=True, default=["accurate", "fast"],
              show_default=True, help="Bundles to measure (shipped names or folders).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=ROOT / "benchmarks", show_default=True,
              help="Where RESULTS.md and HEADLINE.md go (plots in OUT/results).")
@click.option("--runs", default=200, show_default=True, help="Timed runs per latency figure.")
@click.option("--segments", default=6, show_default=True, help="Clip segments (1-3 faces each).")
@click.option("--frames-per-segment", default=20, show_default=True)
@click.option("--seed-epochs", default=10, show_default=True,
              help="Epochs for the seed network (0: not trained; the shared README's figure is shown instead).")
@click.option("--gallery-sizes", default="10,1000,10000,100000", show_default=True)
@click.option("--skip", default="", help=f"Comma-separated sections to skip: {', '.join(SECTIONS)}.")
def main(data, protocol, wild, bundles, out, runs, segments, frames_per_segment, seed_epochs,
         gallery_sizes, skip):
    """Run every benchmark once on this machine and write RESULTS.md, HEADLINE.md and plots."""
    from benchmarks import report
    from benchmarks.plots import all_plots
    from edge.bench import machine

    skip = {s.strip() for s in skip.split(",") if s.strip()}
    if unknown := skip - set(SECTIONS):
        raise click.ClickException(f"--skip: unknown section(s) {', '.join(sorted(unknown))}")
    if not (data / "orl").is_dir():
        raise click.ClickException(f"{data}: no orl/ (pass --data)")
    if not (protocol / "eval").is_dir():
        raise click.ClickException(f"{protocol}/eval: missing; run siamese-train "
                                   f"prepare-protocol {protocol}")
    if "wild" not in skip and not (wild / "eval").is_dir():
        raise click.ClickException(f"{wild}/eval: missing; run siamese-train prepare-wild {wild}")
    start = time.perf_counter()
    m = machine()
    m.update(load_start=load(), started=datetime.datetime.now().isoformat(timespec="seconds"),
             memory_gb=round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1))
    results = {"machine": m, "sections": {}, "errors": {}, "skipped": sorted(skip),
               "settings": {"runs": runs, "warmup": 20, "threads": [1, 2],
                            "segments": segments, "frames_per_segment": frames_per_segment,
                            "seed_epochs": seed_epochs, "data": _shown(data),
                            "protocol": _shown(protocol), "wild": _shown(wild),
                            "bundles": list(bundles)},
               "bundles": {}, "pipeline": [], "multiply_adds": {}, "command": [], "gallery": [], "peers": {}}
    log(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['date']}, "
        f"load average {m['load_start']}")
    work = Path(tempfile.mkdtemp(prefix="siamese-bench-"))
    try:
        run_all(results, data, protocol, wild, bundles, work, runs, segments, frames_per_segment,
                seed_epochs, [int(s) for s in gallery_sizes.split(",")], skip)
    finally:
        results["total_seconds"] = round(time.perf_counter() - start, 1)
        results["machine"]["load_end"] = load()
        plots_dir = out / "results"
        plots_dir.mkdir(parents=True, exist_ok=True)
        (plots_dir / "results.json").write_text(json.dumps(results, indent=2, default=float))
        written = all_plots(results, plots_dir)
        (out / "RESULTS.md").write_text(report.results_md(results, written, out))
        (out / "HEADLINE.md").write_text(report.headline_md(results))
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    log(f"\nwrote {out / 'RESULTS.md'}, {out / 'HEADLINE.md'}, {len(written)} plots in "
        f"{plots_dir}; the whole run took {results['total_seconds'] / 60:.1f} min")
    for t in report.targets(results):
        log(f"  {t['verdict']:>7s}  {t['target']}: {t['measured']}")


def _shown(path: Path) -> str:
    """A path relative to the project when it lies inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run_all(results, data, protocol, wild, bundle_names, work, runs, segments, fps_seg,
            seed_epochs, gallery_sizes, skip):
    from benchmarks import variants as var
    from edge.cli_bench import _labelled

    loaded = {}
    with Section(results, "bundles"):
        for name in bundle_names:
            b, notes = var.complete_bundle(name, work / "bundles", log=log)
            key = b.manifest.name or str(name)
            loaded[key] = b
            results["bundles"][key] = {
                "path": str(name), "notes": notes, "created": b.manifest.created,
                "default_variant": b.spec.default_variant,
                "shipped": list(var.load_bundle(name).spec.variants),
                "architecture": b.spec.architecture,
                "input": b.spec.input.to_dict(), "detector_variant": b.manifest.detector.variant,
                "variants": {}}
            for v, note in notes.items():
                log(f"  {key} {v}: {note}")
    photos = None
    if not skip >= {"variants", "pipeline", "peers"}:
        from benchmarks.pipeline import orl_photos
        photos = orl_photos(data)
    if "variants" not in skip:
        with Section(results, "variants"):
            aligned = _labelled(protocol / "eval")
            for name, b in loaded.items():
                log(f"  [{name}]")
                results["bundles"][name]["variants"] = var.measure(b, aligned, photos, (1, 2),
                                                                   20, runs, log=log)
    if "wild" not in skip:
        with Section(results, "wild"):
            from benchmarks import peers
            from benchmarks import wild as wild_protocol
            with_peer = "peers" not in skip and peers.face_recognition_version() is not None
            results["wild"] = wild_protocol.run(loaded, wild / "eval", data / "lfw", with_peer,
                                                log=log)
    if "detector" not in skip:
        with Section(results, "detector"):
            from benchmarks import detector
            results["detector"] = detector.run(loaded, data, log=log)
    clip = clip_path = None
    if not skip >= {"pipeline", "peers"}:
        from benchmarks.pipeline import build_clip
        clip_path = work / "clip.mp4"
        clip = build_clip(photos, clip_path, seed=0, segments=segments,
                          frames_per_segment=fps_seg)
        faces = [len(t) for t in clip.truth]
        results["clip"] = {"frames": len(clip.frames), "size": "640x480", "seed": 0,
                           "segments": segments, "frames_per_segment": fps_seg,
                           "faces_per_frame": [min(faces), max(faces)],
                           "face_frames": sum(faces), "video_fps": clip.fps,
                           "people": "ORL s21..s40, photos 2..10 (photo 1 is the enrolled snapshot)"}
    if "pipeline" not in skip:
        with Section(results, "pipeline"):
            pipeline_section(results, loaded, photos, clip, clip_path, work)
    if "gallery" not in skip:
        with Section(results, "gallery"):
            from benchmarks.gallery import scaling
            for blas in (None, 1):
                for r in scaling(gallery_sizes, 128, blas):
                    results["gallery"].append(r)
                    log(f"  {r['stored']:>7,} people, BLAS threads {r['blas_threads']}: "
                        f"p50 {r['p50']:.3f} ms, p95 {r['p95']:.3f} ms")
    if "peers" not in skip:
        with Section(results, "peers"):
            from benchmarks import peers
            version = peers.face_recognition_version()
            if version is None:
                results["peers"]["face_recognition"] = {
                    "skipped": "not installed (pip install 'siamese-edge[peers]'; see setup.cfg)"}
                log("  face_recognition not installed: skipped")
            else:
                fr = results["peers"]["face_recognition"] = {"version": version}
                fr["orl"] = peers.fr_orl(photos, log=log)
                if clip is not None:
                    fr["clip"] = peers.fr_clip(photos, clip_path, clip.truth)
                    log(f"  face_recognition on the clip, detection every frame: "
                        f"{fr['clip']['fps']:.2f} fps, named right "
                        f"{fr['clip']['naming']['accuracy']:.1%}")
    if "seed" not in skip and seed_epochs > 0:
        with Section(results, "seed"):
            from benchmarks import peers
            results["peers"]["seed"] = peers.seed_network(protocol / "train", protocol / "eval",
                                                          work, seed_epochs, ROOT, log=log)
    else:
        results["peers"]["seed"] = {"not_measured": "skipped in this run (--seed-epochs 0 or "
                                                    "--skip seed)"}


def _multiply_adds(bundle) -> dict:
    """The stages' multiply-adds: machine-independent beside the milliseconds."""
    from edge.macs import detector_multiply_adds, model_multiply_adds, near_multiply_adds

    det = bundle.detector(1, min_face=40)     # edge-identify's default smallest face
    return {"embedding_per_face": model_multiply_adds(bundle.file(bundle.model.file)),
            "detector_640x480": detector_multiply_adds(det, 640, 480),
            "near_rnet_per_face": near_multiply_adds(det, 1)}


def pipeline_section(results, loaded, photos, clip, clip_path, work):
    from benchmarks.pipeline import enrol_gallery, run_clip, run_command
    from edge.bundle import load_bundle

    log(f"  clip: {len(clip.frames)} frames 640x480, {results['clip']['face_frames']} "
        f"face-frames, 1-3 faces")
    for name, b in loaded.items():
        for variant in b.spec.variants:
            v = load_bundle(b.path, variant)
            gallery = work / f"gallery_{name}_{variant}.db"
            enrol_gallery(v, photos, gallery)
            settings = [(1, 4, True), (3, 4, True)]
            if variant == b.spec.default_variant:   # and as before following faces
                settings += [(1, 2, False), (1, 2, True), (3, 2, True)]
            for every, threads, follow in settings:
                r = run_clip(v, gallery, clip_path, clip.truth, every, threads, follow)
                r.update(bundle=name, variant=variant)
                results["pipeline"].append(r)
                log(f"  {name} {variant}, detect every {every}, {threads} threads"
                    f"{'' if follow else ', whole frame, every face'}: {r['fps']:.1f} fps, "
                    f"detection {r['ms_per_frame'].get('detect', 0):.1f} ms a frame, named right "
                    f"{r['naming']['accuracy']:.1%} (load {load()[0]:.2f})")
        results["multiply_adds"][name] = _multiply_adds(b)
    for name, b in loaded.items():
        shipped = results["bundles"][name]["path"]
        variant = b.spec.default_variant
        gallery = work / f"gallery_{name}_{variant}.db"
        r = run_command(shipped, gallery, clip_path, clip.truth, ROOT)
        r.update(bundle=name, variant=variant, load=load())
        results["command"].append(r)
        log(f"  $ {r['command']}\n    first result {r['first_result_s']:.2f} s, first name "
            f"{r['first_named_s'] or float('nan'):.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB, "
            f"{r['fps_reported'] or float('nan'):.1f} fps")


if __name__ == "__main__":
    main()
