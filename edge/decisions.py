"""Decisions: what a scene's tracks settle on, as events, not frames.

A door camera sees the same face thirty times a second; what a home wants to hear is
that a face was named (``settled``), that its name changed (``changed``), and that it
left (``ended``). ``Decisions.update`` turns the pipeline's tracks into those events, each
with the aligned face as enrolment would store it (a 112 px thumbnail) and the face's
embedding at that moment, so an output (MQTT, the sightings kept in the gallery) can act
on a decision without watching frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.align import align_face
from edge.enrolment import THUMBNAIL
from edge.track import UNKNOWN


@dataclass
class Decision:
    kind: str                      # "settled", "changed" or "ended"
    track: int
    name: str                      # "unknown" for a stranger
    distance: float | None
    margin: float | None
    box: tuple
    time: float
    previous: str | None = None    # the name before, for "changed"
    thumbnail: np.ndarray | None = None   # 112 px aligned crop (BGR); None for "ended"
    sighting: int | None = None    # its id among the gallery's sightings, once kept there
    embedding: np.ndarray | None = None   # the face's embedding (bundle's model); None for "ended"

    @property
    def known(self) -> bool:
        return self.name != UNKNOWN

    def as_dict(self) -> dict:
        return {"kind": self.kind, "track": self.track, "name": self.name,
                "distance": rounded(self.distance), "margin": rounded(self.margin),
                "box": [round(float(v), 1) for v in self.box], "time": round(self.time, 3),
                **({"previous": self.previous} if self.previous is not None else {}),
                **({"sighting": self.sighting} if self.sighting is not None else {})}


class Decisions:
    """Remembers what was announced for each track, and says what is new."""

    def __init__(self, thumbnail: int = THUMBNAIL):
        self.thumbnail = thumbnail
        self._said: dict[int, Decision] = {}

    def update(self, frame, tracks, faces, live_ids, now: float) -> list[Decision]:
        """Events for one detection: ``tracks[i]`` follows ``faces[i]`` (detections, with
        landmarks) in ``frame``; ``live_ids``: the ids of every track still followed."""
        events = []
        for track, face in zip(tracks, faces):
            said = self._said.get(track.id)
            if not track.settled or (said is not None and said.name == track.name):
                continue
            kind = "settled" if said is None else "changed"
            events.append(self._decide(kind, track, face, frame, now,
                                       None if said is None else said.name))
        for track_id in [t for t in self._said if t not in live_ids]:
            last = self._said.pop(track_id)
            events.append(Decision("ended", track_id, last.name, last.distance, last.margin,
                                   last.box, now))
        return events

    def photo(self, frame, results, faces, now: float, embeddings=None) -> list[Decision]:
        """Each face of a photo is its own decision (``embeddings[i]``: ``faces[i]``'s)."""
        embeddings = [None] * len(faces) if embeddings is None else list(embeddings)
        return [Decision("settled", r.track, r.name, _finite(r.distance), r.margin, r.box, now,
                         thumbnail=align_face(frame, f.landmarks, self.thumbnail), embedding=e)
                for r, f, e in zip(results, faces, embeddings)]

    def _decide(self, kind, track, face, frame, now, previous) -> Decision:
        decision = Decision(kind, track.id, track.name, _finite(track.distance), track.margin,
                            tuple(float(v) for v in track.box), now, previous,
                            align_face(frame, face.landmarks, self.thumbnail),
                            embedding=track.embedding)
        self._said[track.id] = decision
        return decision


def _finite(x):
    return None if x is None or x != x else float(x)


def rounded(x):
    """A distance or margin as outputs give it: 4 decimals, None kept."""
    return None if x is None else round(float(x), 4)
