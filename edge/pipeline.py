"""The one pipeline: detect → align → embed → match (→ track and vote), and its loop.

``Pipeline.photo(image)`` names the faces of one photo by that photo alone.
``Pipeline.process(frame)`` does one frame of a scene: detection (with alignment,
embedding and matching) on every ``every``-th frame, the tracks of the last detection
reported as they stand in between, each track's name settled by a vote, and the
decisions (a name settled, changed, a face gone: ``edge.decisions``) said once.
``Pipeline.run(source)`` is the loop every command, the web view, ``edge-bench`` and the
benchmarks run a source through; what happens to each result (console, JSON lines,
video, web, MQTT) is the caller's. Each stage's time is recorded for ``--stats``.

A scene does not redo work every frame. Detection scans the whole frame when no face is
followed and once every ``scan_every`` detections; in between it looks only around the
faces it follows (``Detector.detect_near``), and scans the whole frame at once when one
of them is not found there. A face whose name has settled is embedded again every
``reembed``-th detection, or at once when it changes: its side by a quarter, its
detection score below ``CHANGED_SCORE``, another face's box touching its own, or its
aligned crop no longer like the one last embedded (``CHANGED_LOOK``: a person stepping
into another's place). A new or unsettled face is embedded every time.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.align import align_face, to_colour
from edge.decisions import Decisions
from edge.timing import latency
from edge.track import UNKNOWN, Tracker
from gallery.match import NO_MATCH

STAGES = ("capture", "detect", "align", "embed", "match")
SCAN_EVERY = 10       # a whole-frame scan every 10th detection: 1/3 s at 30 fps
REEMBED = 10          # a settled face is embedded again at least every 10th detection
CHANGED_SIZE = 1.25   # ... or when its side has changed by this factor either way,
CHANGED_SCORE = 0.9   # ... its detection score dropped below this,
CHANGED_LOOK = 0.85   # ... or its look's correlation with the last embedded one is below


@dataclass
class FaceResult:
    track: int             # the scene's track id; in a photo, the face's number (1 = largest)
    name: str              # settled by the track's vote; "unknown" for strangers
    distance: float        # this frame's distance to the nearest person
    box: tuple
    margin: float | None = None
    candidates: tuple = ()

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN

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
    decisions: list = field(default_factory=list)   # edge.decisions.Decision, when any

    def as_dict(self) -> dict:
        return {"frame": self.index, "time": round(self.time, 3), "detected": self.detected,
                "faces": [f.as_dict() for f in self.faces]}


class Timings:
    """Per-stage latencies in milliseconds (the latest ``keep`` of each, so a camera left
    running for weeks does not fill the memory), and frames per second since the start."""

    def __init__(self, keep: int = 10_000):
        self.ms = {s: deque(maxlen=keep) for s in STAGES}
        self.frames, self.started = 0, time.perf_counter()

    def add(self, stage: str, seconds: float):
        self.ms[stage].append(seconds * 1000)

    def summary(self) -> dict:
        elapsed = time.perf_counter() - self.started
        out = {s: latency(list(v)) for s, v in self.ms.items() if v}
        out["frames"] = self.frames
        out["fps"] = self.frames / elapsed if elapsed > 0 else 0.0
        return out


class Pipeline:
    """A bundle's detector and embedder, and a gallery's matcher, as one object.

    ``matcher``: a ``gallery.match.Matcher`` (None: faces are found and embedded, and
    named only when a matcher is given to ``photo``). ``min_face``: the smallest face
    side in pixels (None: the bundle's). ``stills``: the frames are separate photos,
    each named by itself (``process`` is ``photo``).
    """

    def __init__(self, bundle, matcher=None, *, threads: int | None = 2, every: int = 3,
                 max_faces: int = 5, min_face: int | None = 40, max_face: int | None = None,
                 votes: int = 5, stills: bool = False, scan_every: int = SCAN_EVERY,
                 reembed: int = REEMBED):
        overrides = {} if min_face is None else {"min_face": min_face}
        if max_face:
            overrides["max_face"] = max_face
        self.bundle = bundle
        self.detector = bundle.detector(threads, **overrides)
        self.thumbnails = bundle.thumbnail_embedder(threads)   # for enrolment
        self.embedder = self.thumbnails.embedder
        self.size, self.colour = self.thumbnails.size, self.thumbnails.colour
        self.matcher, self.max_faces, self.stills = matcher, max_faces, stills
        self.every = 1 if stills else max(1, every)
        self.scan_every, self.reembed = max(1, scan_every), max(1, reembed)
        self._detections = self._scanned = 0   # detections so far; the last whole-frame one
        # a face moves little in embedding space between detections; another person
        # stepping into the same place is farther than the match threshold
        self.tracker = None if matcher is None else Tracker(
            votes=votes, max_jump=matcher.threshold)
        self.timings = Timings()
        self.decisions = Decisions()
        self._index = 0
        self._last: list[FaceResult] = []

    # -- the stages ---------------------------------------------------------------------

    def find(self, image, near=None) -> list:
        """At most ``max_faces`` detected faces (``edge.detect.Face``), largest first;
        with ``near`` (boxes of faces followed), looking only around those."""
        found = self.detector.detect(image) if near is None else \
            self.detector.detect_near(image, near)
        return sorted(found, key=lambda f: f.size, reverse=True)[:self.max_faces]

    def align(self, image, faces) -> list:
        """Each face cut out and aligned at the embedder's size, in its colour."""
        t = time.perf_counter()
        crops = [to_colour(align_face(image, f.landmarks, self.size), self.colour) for f in faces]
        self.timings.add("align", time.perf_counter() - t)
        return crops

    def embed(self, crops) -> np.ndarray:
        """L2-normalised embeddings of aligned crops, in one batch (N x dim)."""
        t = time.perf_counter()
        vectors = self.embedder.embed(np.stack(crops)) if len(crops) else \
            np.zeros((0, self.embedder.dim), np.float32)
        self.timings.add("embed", time.perf_counter() - t)
        return vectors

    def match(self, vectors, matcher=None) -> list:
        """The gallery's ``Match`` for each embedding (no matcher: no one to name)."""
        matcher = matcher or self.matcher
        t = time.perf_counter()
        matches = ([] if not len(vectors) else [NO_MATCH] * len(vectors) if matcher is None
                   else matcher.match_many(vectors))
        self.timings.add("match", time.perf_counter() - t)
        return matches

    # -- photos and scenes ----------------------------------------------------------------

    def photo(self, image, matcher=None) -> list[FaceResult]:
        """The faces of one photo, largest first, numbered 1, 2, ... and each named by
        itself (no track, no vote)."""
        return self._photo(image, matcher)[0]

    def _photo(self, image, matcher=None):
        """(``photo``'s results, the detected faces, their embeddings)."""
        t = time.perf_counter()
        faces = self.find(image)
        self.timings.add("detect", time.perf_counter() - t)
        vectors = self.embed(self.align(image, faces))
        matches = self.match(vectors, matcher)
        return [FaceResult(i + 1, m.name or UNKNOWN, _distance(m), tuple(float(v) for v in f.box),
                           m.margin, m.candidates)
                for i, (f, m) in enumerate(zip(faces, matches))], faces, vectors

    def process(self, frame, capture_seconds: float = 0.0) -> FrameResult:
        """One frame: detect and identify on every ``every``-th, else the tracks as they stand."""
        self.timings.add("capture", capture_seconds)
        index, self._index = self._index, self._index + 1
        self.timings.frames += 1
        now = time.time()
        if self.stills:
            results, faces, vectors = self._photo(frame)
            return FrameResult(index, now, True, results,
                               self.decisions.photo(frame, results, faces, now, vectors))
        if index % self.every:
            return FrameResult(index, now, False, list(self._last))
        tracks, faces = self._scene(frame)
        decisions = self.decisions.update(frame, self.tracker.by_detection, faces,
                                          {t.id for t in self.tracker.tracks}, now)
        self._last = [FaceResult(t.id, t.name, t.distance, t.box, t.margin) for t in tracks]
        return FrameResult(index, now, True, list(self._last), decisions)

    def _scene(self, frame) -> tuple[list, list]:
        """One detection of a scene: (the tracks seen, each named by its vote; the
        detected faces, ``tracker.by_detection``'s order)."""
        followed = self.tracker.current()
        clock = self._detections = self._detections + 1
        t, faces = time.perf_counter(), None
        if followed and clock - self._scanned < self.scan_every:
            faces = self.find(frame, near=[track.box for track in followed])
            if len(faces) < len(followed):   # someone left or moved out of reach: look
                faces = None                 # everywhere, in this same frame
        if faces is None:
            faces, self._scanned = self.find(frame), clock
        self.timings.add("detect", time.perf_counter() - t)
        crops = self.align(frame, faces)
        looks = [_look(c) for c in crops]
        boxes = [f.box for f in faces]
        assigned = self.tracker.assign(boxes)
        todo = [i for i, track in enumerate(assigned)
                if self._changed(track, i, faces, looks[i], clock)]
        vectors = self.embed([crops[i] for i in todo])
        # a face not embedded now is followed, not identified: no name, so no vote
        names, distances, margins, embedded = ([None] * len(faces) for _ in range(4))
        for i, match, vector in zip(todo, self.match(vectors), vectors):
            names[i], distances[i] = match.name or UNKNOWN, _distance(match)
            margins[i], embedded[i] = match.margin, vector
        seen = self.tracker.update(boxes, names, distances, embedded, margins, assigned)
        for i in todo:
            track = self.tracker.by_detection[i]
            track.embedded_at, track.embedded_size, track.signature = clock, faces[i].size, looks[i]
        return seen, faces

    def _changed(self, track, i, faces, look, clock) -> bool:
        """Whether face ``i`` (``track``'s, if any) must be embedded now (see the module's
        docstring)."""
        face = faces[i]
        if track is None or not track.settled or clock - track.embedded_at >= self.reembed:
            return True
        if not 1 / CHANGED_SIZE <= face.size / max(track.embedded_size, 1e-6) <= CHANGED_SIZE:
            return True
        if face.score < CHANGED_SCORE or float(look @ track.signature) < CHANGED_LOOK:
            return True
        return any(j != i and _touch(other.box, face.box) for j, other in enumerate(faces))

    def run(self, source, max_frames: int | None = None):
        """(frame, FrameResult) for each frame of ``source``, at most ``max_frames``.

        The time between handing out one result and the next frame arriving is the
        capture stage; what the caller does with a result is not counted in it.
        """
        last = time.perf_counter()
        for frame in source:
            yield frame, self.process(frame, time.perf_counter() - last)
            last = time.perf_counter()
            if max_frames and self.timings.frames >= max_frames:
                return


def _distance(match) -> float:
    return float("nan") if match.distance is None else float(match.distance)


def _look(crop) -> np.ndarray:
    """A face's look, cheaply: its aligned crop as 16 x 16 grey, zero mean, unit length
    (two frames of one face correlate above 0.9; two people's faces mostly below 0.8)."""
    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    x = cv2.resize(grey, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    x -= x.mean()
    return x / max(float(np.linalg.norm(x)), 1e-6)


def _touch(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
