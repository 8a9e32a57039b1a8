"""Peers measured in the same run: the ``face_recognition`` package (dlib) and the
original project's network (``seed``), trained briefly on the same split.

face_recognition (optional ``peers`` extra) uses its own detection and encoding, as its
README does: ``face_locations`` with its defaults (HOG, upsampled once) and
``face_encodings`` (5-point landmarks, one jitter), distance Euclidean, its default
tolerance 0.6 as the threshold. A photo where it finds no face is encoded whole.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from edge.metrics import clip_namings
from edge import metrics
from edge.timing import Stopwatch

TOLERANCE = 0.6   # face_recognition's default


def face_recognition_version() -> str | None:
    """The installed versions, or None when the peer is not installed."""
    try:
        import dlib
        import face_recognition  # noqa: F401  (needs face_recognition_models)
    except Exception:   # ImportError, or its models package's own quit()
        return None
    except SystemExit:  # face_recognition quits when face_recognition_models is missing
        return None
    from importlib.metadata import version

    return f"face_recognition {version('face_recognition')}, dlib {dlib.__version__}"


def _largest(locations):
    return max(locations, key=lambda b: (b[2] - b[0]) * (b[1] - b[3]))


def fr_encode_photo(rgb):
    """(encoding, detected?) of the one face a photo is about (whole image when none)."""
    import face_recognition as fr

    locs = fr.face_locations(rgb)
    found = bool(locs)
    loc = _largest(locs) if found else (0, rgb.shape[1], rgb.shape[0], 0)
    return fr.face_encodings(rgb, [loc])[0], found


def fr_orl(photos: dict, n_way: int = 20, trials: int = 2000, seed: int = 0, log=print) -> dict:
    """One-shot and verification on the same ORL photos, detection and encoding included."""
    embs, labels, found, watch = [], [], 0, Stopwatch()
    for label, imgs in enumerate(photos.values()):
        for img in imgs:
            with watch:
                e, ok = fr_encode_photo(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            embs.append(e)
            labels.append(label)
            found += ok
    s = metrics.lab_scores(np.array(embs), np.array(labels), TOLERANCE, n_way, trials, seed,
                           curve_points=200)
    shot, ver = s["one_shot"], s["verification"]
    out = {"photos": len(labels), "faces_detected": found, "one_shot": shot,
           **{k: ver[k] for k in ("auc", "eer", "threshold", "accuracy_at_threshold")},
           "ms_per_photo": watch.latency(), "roc": ver["roc"]}
    log(f"  face_recognition on {len(labels)} ORL photos ({found} with a face found): one-shot "
        f"{shot['accuracy']:.2%}, AUC {ver['auc']:.4f}, EER {ver['eer']:.2%}, "
        f"{out['ms_per_photo']['p50']:.0f} ms per photo p50")
    return out


def fr_clip(photos: dict, clip_path: Path, truth: list, upsample: int = 1) -> dict:
    """face_recognition on every frame of the clip: detect, encode, nearest enrolled person
    (enrolled from the same snapshot, photo 1), frames decoded as ``edge-identify`` does."""
    import face_recognition as fr

    from edge.sources import open_source

    names = list(photos)
    gallery = np.array([fr_encode_photo(cv2.cvtColor(imgs[0], cv2.COLOR_BGR2RGB))[0]
                        for imgs in photos.values()])
    source = open_source(video=str(clip_path))
    reported, frames = [], 0
    t0 = time.perf_counter()
    for frame in source:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        locs = fr.face_locations(rgb, number_of_times_to_upsample=upsample)
        faces = []
        for loc, enc in zip(locs, fr.face_encodings(rgb, locs)):
            d = np.linalg.norm(gallery - enc, axis=1)
            k = int(np.argmin(d))
            top, right, bottom, left = loc
            faces.append((names[k] if d[k] <= TOLERANCE else "unknown",
                          (left, top, right, bottom)))
        reported.append(faces)
        frames += 1
    elapsed = time.perf_counter() - t0
    source.close()
    return {"every": 1, "upsample": upsample, "frames": frames, "seconds": elapsed,
            "fps": frames / elapsed, **clip_namings(reported, truth)}


def seed_network(train_dir: Path, eval_dir: Path, work: Path, epochs: int, cwd: Path,
                 log=print) -> dict:
    """``siamese-train fit --arch seed --objective contrastive`` for ``epochs`` epochs on the
    protocol's train split, then ``siamese-train evaluate`` on its eval split."""
    out = work / "seed"
    fit = [sys.executable, "-m", "train.cli", "fit", str(train_dir), str(out), "--arch", "seed",
           "--objective", "contrastive", "--epochs", str(epochs), "--patience", str(epochs)]
    ev = [sys.executable, "-m", "train.cli", "evaluate", str(out), str(eval_dir), "--json"]
    env = {"TF_CPP_MIN_LOG_LEVEL": "3"}
    log("  $ siamese-train fit ... --arch seed --objective contrastive --epochs " + str(epochs))
    fitting = Stopwatch()
    with fitting:
        _run(fit, cwd, env)
    fit_s = fitting.seconds
    result = json.loads(_run(ev, cwd, env))
    summary = json.loads((out / "summary.json").read_text())
    v = result["verification"]
    log(f"  seed, {summary['epochs_run']} epochs ({fit_s:.0f} s): one-shot "
        f"{result['one_shot']['accuracy']:.2%}, AUC {v['auc']:.4f}, EER {v['eer']:.2%}")
    return {"epochs": summary["epochs_run"], "steps": summary["config"]["steps"],
            "batch": summary["config"]["batch"], "fit_seconds": fit_s,
            "best_epoch": summary.get("best_epoch"), "one_shot": result["one_shot"],
            "auc": v["auc"], "eer": v["eer"], "threshold": v["threshold"],
            "threshold_calibrated_here": v["threshold_calibrated_here"],
            "accuracy_at_threshold": v["accuracy_at_threshold"]}


def _run(cmd, cwd, env) -> str:
    import os

    proc = subprocess.run(cmd, cwd=cwd, env={**os.environ, **env}, capture_output=True,
                          text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd[2:4])} exited {proc.returncode}: "
                           f"{proc.stderr.strip()[-400:]}")
    return proc.stdout
