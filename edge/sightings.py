"""The sightings output: each decision of the identify loop kept in the gallery.

Attached to the loop like the other outputs, and before them: ``publish(result)``
keeps every "settled" and "changed" decision of the frame ("ended" ones say nothing
new) as a sighting (``gallery.sightings``) and sets ``decision.sighting`` to its id, so
the outputs after it (MQTT, the web view) can name it. ``edge-gallery sightings``,
``assign`` and ``reject`` (and the web view's Recent page) read and correct them.

It must not slow the loop or stop it. A frame's sightings are one small transaction on
a connection of its own that does not wait for the disk (``SightingStore.for_the_loop``);
the file's quick check, which every Gallery runs before its first write, is run when
the output starts, not in the middle of a scene. A gallery another program keeps busy
for more than ``BUSY_WAIT`` seconds, one that cannot be written, or a damaged one costs
the frame its sightings, never its identification: each kind of trouble is said once on
stderr (through ``tell``), and a damaged gallery turns the output off.
"""
from __future__ import annotations

import socket
import sys

from edge.track import UNKNOWN
from gallery.errors import CorruptFile, GalleryBusy, GalleryError
from gallery.sightings import KEEP, KEEP_DAYS, NewSighting
from gallery.store import Gallery

BUSY_WAIT = 0.25     # seconds a frame waits for another program's write lock


def camera_name() -> str:
    """This machine's name, the default camera name (as MQTT's ``--camera-name``)."""
    return socket.gethostname().split(".")[0] or "camera"


class SightingsOutput:
    """Keeps the decisions of the loop in the gallery at ``gallery`` (a path, or None
    for the user's), made by the model ``model_sha256``, seen by ``camera`` (default:
    this machine's name), for ``keep_days`` days and at most ``keep`` of them."""

    def __init__(self, gallery, model_sha256: str, camera: str | None = None, *,
                 keep_days: float | None = KEEP_DAYS, keep: int | None = KEEP, tell=None,
                 busy_wait: float = BUSY_WAIT):
        self.model_sha256 = model_sha256
        self.camera = camera or camera_name()
        self.keep_days, self.keep = keep_days, keep
        self.tell = tell or (lambda line: print(line, file=sys.stderr, flush=True))
        self.kept = self.skipped = 0
        self._said: set[str] = set()
        self._gallery = None
        try:
            self._gallery = Gallery(gallery, create=False)
        except GalleryError as exc:
            self._trouble(exc, off=True)
            return
        self._gallery.sightings.for_the_loop(busy_wait)
        try:   # the first write runs the file's quick check: now, not mid-scene
            self._gallery.sightings.prune(keep_days, keep)
        except GalleryError as exc:
            self._trouble(exc)

    def publish(self, result) -> list[int]:
        """Keep the frame's settled decisions; returns their new ids (none when the
        gallery could not take them now)."""
        decisions = [d for d in result.decisions if d.kind != "ended"
                     and d.thumbnail is not None and d.embedding is not None]
        if not decisions or self._gallery is None:
            return []
        try:
            ids = self._gallery.sightings.add(
                [NewSighting(d.time, self.camera, None if d.name == UNKNOWN else d.name,
                             d.distance, d.margin, d.embedding, d.thumbnail)
                 for d in decisions], self.model_sha256, keep_days=self.keep_days,
                keep=self.keep)
        except GalleryError as exc:
            self.skipped += len(decisions)
            self._trouble(exc)
            return []
        for decision, sighting in zip(decisions, ids):
            decision.sighting = sighting
        self.kept += len(ids)
        return ids

    def _trouble(self, exc: GalleryError, off: bool = False) -> None:
        """Say ``exc`` once for its kind; a damaged gallery, or one that cannot be
        opened, turns the output off."""
        off = off or isinstance(exc, CorruptFile)
        kind = "off" if off else type(exc).__name__
        if kind not in self._said:
            self._said.add(kind)
            if off:
                why, what = str(exc), "no sightings are kept"
            elif isinstance(exc, GalleryBusy):
                why = f"the gallery {self._gallery.path} is busy (another program is writing to it)"
                what = "sightings are skipped while it is"
            else:
                why, what = str(exc), "sightings are skipped while this lasts"
            self.tell(f"sightings: {why.splitlines()[0]} ({what}; identification goes on)")
        if off:
            self.close()

    def close(self) -> None:
        if self._gallery is not None:
            self._gallery.close()
            self._gallery = None
