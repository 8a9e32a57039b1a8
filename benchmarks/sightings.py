"""What keeping sightings costs the identify loop, and the gallery file.

    .venv/bin/python -m benchmarks.sightings                    # accurate, up to 10,000
    .venv/bin/python -m benchmarks.sightings --bundle fast --sightings 2000

Real decisions: the identify loop (``edge.pipeline.Pipeline``, the bundle's threshold)
over frames of ORL people s1..s40, each photo pasted into a 640 x 480 frame until its
name settles; each "settled" decision (with its 112 px aligned crop and embedding) is
kept. A temporary gallery with s1..s10 enrolled. Then:

- **per sighting**: ``SightingsOutput.publish`` of one decision (PNG, insert, prune,
  commit without waiting for the disk), 20 warm-up runs then 200, min / mean / p50 /
  p95, on a gallery holding few sightings and on one holding ``--sightings`` (at the
  cap, so each insert also prunes one);
- **the file**: its size per sighting, and at ``--sightings`` sightings;
- **the quick check** every Gallery runs before its first write (enrolment, a web
  change, the loop's start), with none and with ``--sightings`` sightings kept.

This machine's disk and cores set the figures; a Pi's SD card is slower to write.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

WARMUP, RUNS = 20, 200


def decisions(bundle, gallery, people=range(1, 41), photos=range(1, 11)) -> list:
    """One "settled" decision for each ORL photo whose face settles, by the loop."""
    import cv2
    import numpy as np

    from edge.pipeline import Pipeline
    from gallery.match import Matcher
    from tests.edge_support import orl

    found = []
    with Matcher(gallery, bundle.sha256, bundle.threshold) as matcher:
        for p in people:
            for k in photos:
                image = cv2.resize(orl(p, k), (140, 168), interpolation=cv2.INTER_CUBIC)
                frame = np.full((480, 640, 3), 100, np.uint8)
                frame[150:318, 250:390] = image
                loop = Pipeline(bundle, matcher, threads=2, every=1)
                for _ in range(4):
                    found += [d for d in loop.process(frame).decisions if d.kind == "settled"]
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", default="accurate")
    parser.add_argument("--sightings", type=int, default=10_000,
                        help="the gallery holding this many sightings (the default cap)")
    args = parser.parse_args()

    from edge.bundle import load_bundle
    from edge.pipeline import FrameResult
    from edge.sightings import SightingsOutput
    from edge.timing import latency
    from gallery import Gallery
    from gallery.sightings import NewSighting
    from tests.edge_support import orl

    from edge.api import enrol

    bundle = load_bundle(args.bundle, threads=2)
    folder = Path(tempfile.mkdtemp(prefix="sightings-bench-"))
    try:
        path = folder / "gallery.db"
        for p in range(1, 11):
            enrol(f"s{p}", orl(p, 1), gallery=path, bundle=bundle)
        empty = path.stat().st_size
        made = decisions(bundle, path)
        print(f"{args.bundle}: {len(made)} decisions from the loop over ORL s1..s40")

        def publish_ms(keep):
            out = SightingsOutput(path, bundle.sha256, "bench", keep=keep)
            ms = []
            for i in range(WARMUP + RUNS):
                decision = made[i % len(made)]
                decision.sighting = None
                started = time.perf_counter()
                out.publish(FrameResult(i, time.time(), True, [], [decision]))
                ms.append((time.perf_counter() - started) * 1000)
            out.close()
            return latency(ms[WARMUP:], WARMUP)

        def quick_check_ms():
            with Gallery(path) as g:
                started = time.perf_counter()
                assert g.integrity(quick=True) == []
                return (time.perf_counter() - started) * 1000

        few, check_few = publish_ms(args.sightings), quick_check_ms()
        with Gallery(path) as g:           # fill up to the cap, in batches
            while g.sightings.count() < args.sightings:
                batch = [NewSighting(time.time(), "bench", None if d.name == "unknown" else d.name,
                                     d.distance, d.margin, d.embedding, d.thumbnail)
                         for d in made[:min(500, args.sightings - g.sightings.count())]]
                g.sightings.add(batch, bundle.sha256, keep=args.sightings)
        with Gallery(path) as g:
            g.sightings.prune(keep=args.sightings)
        full_size = path.stat().st_size + sum(
            f.stat().st_size for f in folder.glob("gallery.db-wal"))
        many, check_many = publish_ms(args.sightings), quick_check_ms()
        per = (full_size - empty) / args.sightings
        print(f"\nper sighting kept (warm-up {WARMUP}, {RUNS} runs; ms)")
        print(f"{'gallery holds':<22}{'min':>8}{'mean':>8}{'p50':>8}{'p95':>8}")
        for label, t in (("few sightings", few), (f"{args.sightings:,} (at the cap)", many)):
            print(f"{label:<22}{t['min']:>8.2f}{t['mean']:>8.2f}{t['p50']:>8.2f}{t['p95']:>8.2f}")
        print(f"\nfile: {per / 1024:.1f} KB a sighting; {full_size / 2**20:.0f} MB with "
              f"{args.sightings:,} (10 people enrolled: {empty / 2**20:.2f} MB)")
        print(f"quick check before a first write: {check_few:.0f} ms with few sightings, "
              f"{check_many:.0f} ms with {args.sightings:,}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
