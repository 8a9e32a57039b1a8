"""End to end on a clip of moving real faces: frames per second and naming accuracy.

The clip is ``edge.clips.make_clip`` from ORL s21..s40 (people never trained on), photos
2..10 of each, 640x480, seeded, 1 to 3 faces per segment; each person is enrolled from
one snapshot (photo 1) with ``edge.enrolment``. The loop is ``edge-identify``'s: frames
decoded from the clip's MP4 by ``edge.sources``, ``edge.pipeline.Pipeline.run`` over them.
The real command is also run as a subprocess, for its time to the first result and its
peak resident memory.
"""
from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from edge.metrics import clip_namings


PEOPLE = [f"s{i}" for i in range(21, 41)]


def orl_photos(data: Path, people=PEOPLE) -> dict:
    """person -> BGR photos in number order (1.pgm first)."""
    from edge.images import read_image

    return {p: [read_image(f) for f in sorted((data / "orl" / p).glob("*.pgm"),
                                               key=lambda f: int(f.stem))] for p in people}


def build_clip(photos: dict, path: Path, seed: int = 0, segments: int = 6,
               frames_per_segment: int = 20):
    """The clip from every photo but the snapshot, written to ``path`` (MP4)."""
    from edge.clips import make_clip

    clip = make_clip({p: imgs[1:] for p, imgs in photos.items()}, seed=seed, size=(640, 480),
                     segments=segments, frames_per_segment=frames_per_segment, max_faces=3)
    clip.write(path)
    return clip


def enrol_gallery(bundle, photos: dict, path: Path) -> int:
    """A gallery at ``path`` with everyone enrolled from their first photo."""
    from edge.enrolment import enrol, snapshot_of
    from gallery.store import Gallery

    det, emb = bundle.detector(2), bundle.thumbnail_embedder(2)
    with Gallery(path) as g:
        for person, imgs in photos.items():
            enrol(g, emb, person, [snapshot_of(imgs[0], det, f"{person}/1.pgm")])
    return len(photos)


def run_clip(bundle, gallery: Path, clip_path: Path, truth: list, every: int,
             threads: int, follow: bool = True) -> dict:
    """``edge-identify``'s loop over the clip; fps over the whole loop (decoding included).

    ``follow``: the defaults, which look only around the faces followed and embed a
    settled face again only now and then; else every detection scans the whole frame
    and embeds every face (as before following, ``--scan-every 1 --reembed 1``)."""
    from edge.pipeline import Pipeline
    from edge.sources import open_source
    from gallery.match import Matcher

    with Matcher(gallery, bundle.sha256, bundle.threshold) as matcher, \
            open_source(video=str(clip_path)) as source:
        pipeline = Pipeline(bundle, matcher, threads=threads, every=every,
                            **({} if follow else {"scan_every": 1, "reembed": 1}))
        t0 = time.perf_counter()
        reported = [[(f.name, f.box) for f in result.faces] for _, result in pipeline.run(source)]
        elapsed = time.perf_counter() - t0
    s = pipeline.timings.summary()
    stages = {k: v for k, v in s.items() if isinstance(v, dict)}
    per_frame = {k: sum(pipeline.timings.ms[k]) / s["frames"] for k in stages}
    return {"every": every, "threads": threads, "follow": follow, "frames": s["frames"],
            "seconds": elapsed, "fps": s["frames"] / elapsed, "stages": stages,
            "ms_per_frame": per_frame,
            **clip_namings(reported, truth)}


def identify_command() -> list[str]:
    """``edge-identify`` when installed beside this Python, else ``python -m edge.cli_identify``."""
    script = Path(sys.executable).with_name("edge-identify")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "edge.cli_identify"]


def run_command(bundle_name: str, gallery: Path, clip_path: Path, truth: list,
                cwd: Path) -> dict:
    """The real ``edge-identify --video CLIP --json --stats`` with default settings, as a
    subprocess under ``/usr/bin/time -v``: seconds from start to the first JSON line and to
    the first line naming a face, peak RSS, and the fps it reports itself."""
    cmd = identify_command() + ["--video", str(clip_path), "--bundle", bundle_name,
                                "--gallery", str(gallery), "--json", "--stats"]
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    full = ([timer, "-v"] if timer else []) + cmd
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.Popen(full, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = first_named = None
    reported = []
    for line in proc.stdout:
        now = time.perf_counter() - t0
        first = first if first is not None else now
        d = json.loads(line)
        faces = [(f["name"], f["box"]) for f in d["faces"]]
        reported.append(faces)
        if first_named is None and any(n not in (None, "unknown") for n, _ in faces):
            first_named = now
    stderr = proc.stderr.read()
    proc.wait()
    total = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {stderr.strip()[-500:]}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    if m:
        rss_mb, how = int(m.group(1)) / 1024, "/usr/bin/time -v"
    else:
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rss_mb = after / 1024
        how = "getrusage(RUSAGE_CHILDREN)" + ("" if after > before else " (may be an earlier child's)")
    fps = re.search(r"([\d.]+) frames per second", stderr)
    shown = ["edge-identify", "--video", "clip.mp4", "--bundle", bundle_name, "--gallery",
             "gallery.db", "--json", "--stats"]
    return {"command": " ".join(shown), "ran": " ".join(cmd),
            "first_result_s": first, "first_named_s": first_named, "total_s": total,
            "peak_rss_mb": rss_mb, "rss_measured_by": how,
            "fps_reported": float(fps.group(1)) if fps else None,
            **clip_namings(reported, truth)}
