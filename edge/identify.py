"""The identify loop: detect, align, embed in one batch, match, track and vote.

``Identifier.process(frame)`` does one frame. Detection (and with it alignment, embedding
and matching) runs on every ``every``-th frame; in between, the tracks of the last
detection are reported as they stand. With ``stills`` the frames are separate photos,
not a scene: each one is detected and its faces named by that photo alone. Each stage's
time is recorded for ``--stats``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from edge.align import align_face, to_colour
from edge.track import UNKNOWN, Tracker

STAGES = ("capture", "detect", "align", "embed", "match")


@dataclass
class FaceResult:
    track: int
    name: str              # settled by the track's vote; "unknown" for strangers
    distance: float        # this frame's distance to the nearest person
    box: tuple
    margin: float | None = None
    candidates: tuple = ()

    def as_dict(self) -> dict:
        return {"track": self.track, "name": self.name,
                "distance": None if np.isnan(self.distance) else round(self.distance, 4),
                "margin": None if self.margin is None else round(self.margin, 4),
                "box": [round(v, 1) for v in self.box]}


@dataclass
class FrameResult:
    index: int
    time: float
    detected: bool
    faces: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"frame": self.index, "time": round(self.time, 3), "detected": self.detected,
                "faces": [f.as_dict() for f in self.faces]}


class Timings:
    """Per-stage latencies in milliseconds."""

    def __init__(self):
        self.ms = {s: [] for s in STAGES}
        self.frames, self.started = 0, time.perf_counter()

    def add(self, stage: str, seconds: float):
        self.ms[stage].append(seconds * 1000)

    def summary(self) -> dict:
        elapsed = time.perf_counter() - self.started
        out = {s: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95)),
                   "n": len(v)} for s, v in self.ms.items() if v}
        out["frames"] = self.frames
        out["fps"] = self.frames / elapsed if elapsed > 0 else 0.0
        return out


class Identifier:
    def __init__(self, bundle, matcher, threads: int | None = 2, every: int = 3,
                 max_faces: int = 5, min_face: int = 40, votes: int = 5, stills: bool = False):
        if stills:  # every photo is its own scene: no name vote across photos
            every, votes = 1, 1
        self.detector = bundle.detector(threads, min_face=min_face)
        self.embedder = bundle.embedder(threads)
        self.size, self.colour = bundle.spec.input.size, bundle.spec.input.colour
        self.matcher, self.every, self.max_faces = matcher, max(1, every), max_faces
        # a face moves little in embedding space between detections; another person
        # stepping into the same place is farther than the match threshold
        self.tracker = Tracker(votes=votes, max_jump=matcher.threshold)
        self.timings = Timings()
        self._index = 0
        self._last: list[FaceResult] = []

    def faces_of(self, frame):
        """(faces, aligned crops) for at most ``max_faces`` faces, largest first."""
        t = time.perf_counter()
        faces = sorted(self.detector.detect(frame), key=lambda f: f.size, reverse=True)
        faces = faces[:self.max_faces]
        self.timings.add("detect", time.perf_counter() - t)
        t = time.perf_counter()
        crops = [to_colour(align_face(frame, f.landmarks, self.size), self.colour) for f in faces]
        self.timings.add("align", time.perf_counter() - t)
        return faces, crops

    def process(self, frame, capture_seconds: float = 0.0) -> FrameResult:
        self.timings.add("capture", capture_seconds)
        index, self._index = self._index, self._index + 1
        self.timings.frames += 1
        now = time.time()
        if index % self.every:
            return FrameResult(index, now, False, list(self._last))
        faces, crops = self.faces_of(frame)
        t = time.perf_counter()
        emb = self.embedder.embed(np.stack(crops)) if crops else np.zeros((0, 1))
        self.timings.add("embed", time.perf_counter() - t)
        t = time.perf_counter()
        matches = self.matcher.match_many(emb) if len(crops) else []
        self.timings.add("match", time.perf_counter() - t)
        names = [m.name or UNKNOWN for m in matches]
        dists = [m.distance if m.distance is not None else float("nan") for m in matches]
        tracks = self.tracker.update([f.box for f in faces], names, dists,
                                     emb if len(crops) else None, [m.margin for m in matches])
        self._last = [FaceResult(t.id, t.name, t.distance, t.box, t.margin) for t in tracks]
        return FrameResult(index, now, True, list(self._last))
