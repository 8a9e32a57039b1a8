"""The sightings kept in the gallery: each face whose name the identify loop settled.

A sighting is one decision of ``edge-identify`` (a face named, or found unknown, and
each change of that name), kept with what it takes to correct it later: the aligned
face crop (the canonical 112 px thumbnail enrolment stores, as PNG), the face's
embedding and the model that made it, the camera, the time, the name given (None:
unknown), its distance and margin. ``gallery.corrections`` turns a sighting into an
enrolment (assign) or a rejection.

Sightings are kept for ``KEEP_DAYS`` days and at most ``KEEP`` of them; older ones go
when new ones are added, in the same transaction (two indexed deletes). Ids are never
given twice, so an id shown on a page or sent in a message keeps meaning that face.

Part of the store: the SQL of the ``sightings`` table is here (``schema`` makes it);
everything else reaches it through ``Gallery.sightings``.
"""
from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from .errors import UnknownSighting
from .store import StoreTable, _reads
from .values import check_sha256, thumbnail_png, unit_vector

KEEP_DAYS = 30.0
KEEP = 10_000
PNG_LEVEL = 3            # zlib level of a sighting's thumbnail: quick, 5% larger than 9
MAX_CAMERA = 64
MAX_ID = 2**63 - 1       # SQLite's largest row id


@dataclass(frozen=True)
class Sighting:
    id: int
    time: float              # seconds since 1970, UTC
    camera: str
    name: str | None         # None: unknown
    distance: float | None
    margin: float | None
    model_sha256: str
    dim: int

    @property
    def known(self) -> bool:
        return self.name is not None

    @property
    def when(self) -> str:
        """The time as ISO 8601 in UTC, to the second."""
        return datetime.fromtimestamp(self.time, timezone.utc).isoformat(timespec="seconds")

    def as_dict(self) -> dict:
        return {"id": self.id, "time": self.when, "camera": self.camera,
                "name": self.name if self.known else "unknown", "known": self.known,
                "distance": _round(self.distance), "margin": _round(self.margin),
                "model_sha256": self.model_sha256}


@dataclass(frozen=True)
class NewSighting:
    """What the identify loop hands over: ``thumbnail`` is the aligned crop (uint8 BGR
    array, or PNG bytes), ``embedding`` the face's, ``name`` None for unknown."""
    time: float
    camera: str
    name: str | None
    distance: float | None
    margin: float | None
    embedding: np.ndarray
    thumbnail: object


_COLUMNS = "id, time, camera, name, distance, margin, model_sha256, dim"


class SightingStore(StoreTable):
    """The sightings of one open Gallery (``gallery.sightings``)."""

    # -- writes -------------------------------------------------------------------------

    def add(self, sightings: list[NewSighting], model_sha256: str, *,
            keep_days: float | None = KEEP_DAYS, keep: int | None = KEEP) -> list[int]:
        """Keep ``sightings`` (made by ``model_sha256``) in one transaction, pruning
        what is now older than ``keep_days`` or beyond the newest ``keep``; returns
        their ids, in order. Everything is checked and encoded before the write lock."""
        model = check_sha256(model_sha256)
        rows = [_row(s, model) for s in sightings]
        if not rows:
            return []
        with self._gallery.batch():
            ids = [self._conn.execute(
                "INSERT INTO sightings (time, camera, name, distance, margin, model_sha256,"
                " vector, dim, png) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row).lastrowid
                for row in rows]
            self._prune(keep_days, keep)
        return ids

    def prune(self, keep_days: float | None = KEEP_DAYS, keep: int | None = KEEP) -> int:
        """Forget sightings older than ``keep_days`` and all but the newest ``keep``
        (None: no limit); returns how many went."""
        with self._gallery.batch():
            return self._prune(keep_days, keep)

    def _prune(self, keep_days, keep) -> int:
        gone = 0
        if keep_days is not None:
            gone += self._conn.execute("DELETE FROM sightings WHERE time < ?",
                                       (clock.time() - float(keep_days) * 86400,)).rowcount
        if keep is not None:  # ids only grow: the newest ``keep`` have the largest ids
            gone += self._conn.execute(
                "DELETE FROM sightings WHERE id <= (SELECT max(id) FROM sightings) - ?",
                (max(0, int(keep)),)).rowcount
        return gone

    def for_the_loop(self, busy_timeout: float) -> None:
        """Settle this connection for writing while identifying: wait at most
        ``busy_timeout`` seconds for the write lock (a busy gallery is skipped, not
        waited for), and commit without waiting for the disk (SQLite's synchronous
        NORMAL in WAL mode: the file stays whole on power loss, the last sightings
        may be lost; other connections keep FULL)."""
        self._conn.execute(f"PRAGMA busy_timeout = {max(0, int(busy_timeout * 1000))}")
        self._conn.execute("PRAGMA synchronous = NORMAL")

    # -- reads --------------------------------------------------------------------------

    @_reads
    def list(self, *, since: float | None = None, unknown: bool = False,
             limit: int | None = None, before: int | None = None) -> list[Sighting]:
        """Sightings, newest first: from ``since`` on (seconds since 1970), only the
        unknown ones, at most ``limit``, only those older than id ``before``."""
        where, args = [], []
        if since is not None:
            where.append("time >= ?")
            args.append(float(since))
        if unknown:
            where.append("name IS NULL")
        if before is not None:
            where.append("id < ?")
            args.append(min(int(before), MAX_ID))
        sql = f"SELECT {_COLUMNS} FROM sightings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(max(0, int(limit)))
        return [Sighting(*row) for row in self._conn.execute(sql, args)]

    @_reads
    def get(self, sighting_id) -> Sighting:
        """One sighting; UnknownSighting when there is none of that id (or it was pruned)."""
        row = self._conn.execute(f"SELECT {_COLUMNS} FROM sightings WHERE id = ?",
                                 (_id(sighting_id),)).fetchone()
        if row is None:
            raise UnknownSighting(f"no sighting {sighting_id} in {self._gallery.path} (see "
                                  "edge-gallery sightings; old ones are pruned)")
        return Sighting(*row)

    @_reads
    def face(self, sighting_id) -> tuple[np.ndarray, bytes]:
        """(embedding as float32, thumbnail PNG bytes) of one sighting."""
        row = self._conn.execute("SELECT vector, png FROM sightings WHERE id = ?",
                                 (_id(sighting_id),)).fetchone()
        if row is None:
            self.get(sighting_id)  # raises UnknownSighting
        return np.frombuffer(row[0], "<f4").astype(np.float32), bytes(row[1])

    def thumbnail(self, sighting_id) -> bytes:
        """The PNG bytes of one sighting's face crop."""
        return self.face(sighting_id)[1]

    @_reads
    def count(self) -> int:
        return self._conn.execute("SELECT count(*) FROM sightings").fetchone()[0]


def _row(sighting: NewSighting, model: str) -> tuple:
    """The stored values of one new sighting, checked and encoded."""
    vector = unit_vector(sighting.embedding)
    return (float(sighting.time), _camera(sighting.camera),
            None if sighting.name is None else str(sighting.name),
            _number(sighting.distance), _number(sighting.margin), model,
            vector.astype("<f4").tobytes(), int(vector.size),
            thumbnail_png(sighting.thumbnail, PNG_LEVEL))


def _id(sighting_id) -> int:
    """A sighting id as SQLite takes it; UnknownSighting for anything that is not one."""
    try:
        value = int(str(sighting_id).strip())
    except ValueError:
        raise UnknownSighting(f"{str(sighting_id)[:40]!r} is not a sighting id (a whole "
                              "number, see edge-gallery sightings)") from None
    if not 1 <= value <= MAX_ID:
        raise UnknownSighting(f"no sighting {str(sighting_id).strip()[:40]} (ids are whole "
                              "numbers from 1, see edge-gallery sightings)")
    return value


def _camera(camera) -> str:
    text = " ".join(str(camera or "").split())[:MAX_CAMERA]
    return text or "camera"


def _number(x) -> float | None:
    return None if x is None or x != x else float(x)


def _round(x):
    return None if x is None else round(float(x), 4)
