"""Following faces from frame to frame, and settling each one's name by a vote.

Detections are matched to tracks by box overlap (IoU), greedily, best overlap first;
when embeddings are given, a detection continues a track only if it also looks like the
face the track saw last (distance within ``max_jump``), so a new person stepping into
the spot someone left starts a new track instead of inheriting the old one's votes.
A track's name is the most frequent name among its last few identifications, so one
bad frame does not make a name flicker; a stranger stays "unknown".
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

UNKNOWN = "unknown"  # the name shown for a face the gallery does not name (Match.name None)


def iou(a, b) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes; 0 when both are empty.
    The one IoU of the project: tracking, the detector's agreement with the mtcnn
    package (benchmarks, tests) and the demo's clip check."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


SETTLED = 3   # a track's name has settled when its last this many votes agree


@dataclass
class Track:
    id: int
    box: tuple
    votes: deque
    distance: float = float("nan")
    margin: float | None = None      # the last identification's margin to the runner-up
    missed: int = 0
    hits: int = 0
    embedding: np.ndarray | None = None
    # when the face was last embedded: the caller's clock, the face's side and a small
    # signature of its aligned crop (see edge.pipeline), to tell when it has changed
    embedded_at: int = -1
    embedded_size: float = 0.0
    signature: np.ndarray | None = None

    @property
    def name(self) -> str:
        """The settled name: the most frequent vote (ties go to the latest)."""
        if not self.votes:
            return UNKNOWN
        counts = Counter(self.votes)
        best = max(counts.values())
        for vote in reversed(self.votes):
            if counts[vote] == best:
                return vote
        return UNKNOWN

    @property
    def settled(self) -> bool:
        """True once the last SETTLED votes agree (and there are at least that many)."""
        last = list(self.votes)[-SETTLED:]
        return len(last) >= min(SETTLED, self.votes.maxlen or SETTLED) and len(set(last)) == 1


@dataclass
class Tracker:
    min_iou: float = 0.3
    votes: int = 5
    max_missed: int = 5
    max_jump: float | None = None    # embedding distance a track may move between detections
    tracks: list = field(default_factory=list)
    _next: int = 1
    by_detection: list = field(default_factory=list)   # the last update's, in the boxes' order

    def assign(self, boxes, embeddings=None) -> list:
        """For each box, the track it continues (or None): pairs of best overlap first,
        and with ``embeddings``, only a track whose last embedding is alike."""
        embs = [None] * len(boxes) if embeddings is None else list(embeddings)
        pairs = sorted(((iou(t.box, b), ti, di) for ti, t in enumerate(self.tracks)
                        for di, b in enumerate(boxes)), reverse=True)
        assigned, used = [None] * len(boxes), set()
        for overlap, ti, di in pairs:
            if overlap < self.min_iou or ti in used or assigned[di] is not None:
                continue
            if self._alike(self.tracks[ti], embs[di]):
                used.add(ti)
                assigned[di] = self.tracks[ti]
        return assigned

    def update(self, boxes, names, distances, embeddings=None, margins=None,
               assigned=None) -> list[Track]:
        """Feed one frame's detections: their names (None: not identified this frame, so
        no vote), distances, L2-normalised embeddings and match margins, if any; returns
        the tracks seen this frame, by id (``by_detection``: the same, in the boxes'
        order). ``assigned``: the tracks ``assign`` gave the boxes (taken as they are,
        unless an embedding given now is not alike)."""
        embs = [None] * len(boxes) if embeddings is None else list(embeddings)
        margins = [None] * len(boxes) if margins is None else list(margins)
        if assigned is None:
            assigned = self.assign(boxes, embs)
        seen = []
        for di, box in enumerate(boxes):
            track = assigned[di]
            if track is None or track in seen or not self._alike(track, embs[di]):
                track = Track(self._next, tuple(box), deque(maxlen=self.votes))
                self._next += 1
                self.tracks.append(track)
            seen.append(self._hit(track, box, names[di], distances[di], embs[di], margins[di]))
        for track in self.tracks:
            if track not in seen:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        self.by_detection = seen
        return sorted(seen, key=lambda t: t.id)

    def _alike(self, track, embedding) -> bool:
        if self.max_jump is None or embedding is None or track.embedding is None:
            return True
        return float(np.linalg.norm(track.embedding - embedding)) <= self.max_jump

    @staticmethod
    def _hit(track, box, name, distance, embedding=None, margin=None):
        track.box, track.missed = tuple(float(v) for v in box), 0
        track.hits += 1
        if name is None:           # followed, not identified: the name and distance stand
            return track
        if embedding is not None:
            track.embedding = np.asarray(embedding, dtype=np.float32)
        track.votes.append(name)
        track.distance = float(distance)
        track.margin = margin
        return track

    def current(self) -> list[Track]:
        """Tracks seen at the last detection (for frames where detection is skipped)."""
        return [t for t in self.tracks if t.missed == 0]
