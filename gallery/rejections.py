"""Rejections: faces someone said are not a person ("this face is not NAME").

Each is a face's embedding (with the model that made it and its thumbnail, so the
gallery can re-embed it as it re-embeds enrolments) held against one person; it goes
when they are removed. ``gallery.match`` uses them: see ``Matcher`` for the rule.

Part of the store: the SQL of the ``rejections`` table is here (``schema`` makes it);
everything else reaches it through ``Gallery.rejections``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import GalleryError
from .store import StoreTable, _reads
from .values import check_sha256, grouped_vectors, now, thumbnail_png, unit_vector


@dataclass(frozen=True)
class Rejection:
    id: int
    name: str                # the person this face is not
    model_sha256: str
    sighting: int | None     # the sighting it was made from, if any
    created: str

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "model_sha256": self.model_sha256,
                "sighting": self.sighting, "created": self.created}


class RejectionStore(StoreTable):
    """The rejections of one open Gallery (``gallery.rejections``)."""

    def add(self, name: str, embedding, model_sha256: str, thumbnail, *,
            sighting: int | None = None) -> int:
        """Say that the face (``embedding`` by ``model_sha256``, its aligned crop
        ``thumbnail``) is not ``name``, who must be enrolled; returns the rejection's
        id. The model must be the gallery's, as for an enrolment."""
        vector = unit_vector(embedding)
        model = check_sha256(model_sha256)
        data = thumbnail_png(thumbnail)
        with self._gallery.batch():
            pid = self._gallery._person_id(name)
            self._gallery._require_model(model, vector.size)
            return self._conn.execute(
                "INSERT INTO rejections (person, vector, dim, model_sha256, png, sighting,"
                " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (pid, vector.astype("<f4").tobytes(), int(vector.size), model, data,
                 None if sighting is None else int(sighting), now())).lastrowid

    def remove(self, rejection_id: int) -> str:
        """Take back one rejection; returns the name it was held against."""
        rid = str(rejection_id).strip()
        rid = int(rid) if rid.isascii() and rid.isdigit() and 1 <= int(rid) < 2**63 else None
        with self._gallery.batch():
            row = None if rid is None else self._conn.execute(
                "SELECT p.name FROM rejections r JOIN people p ON p.id = r.person"
                " WHERE r.id = ?", (rid,)).fetchone()
            if row is None:
                raise GalleryError(f"no rejection {str(rejection_id)[:40]!r} in "
                                   f"{self._gallery.path} (see edge-gallery rejections)")
            self._conn.execute("DELETE FROM rejections WHERE id = ?", (rid,))
        return row[0]

    @_reads
    def list(self, name: str | None = None) -> list[Rejection]:
        """Every rejection (of ``name``'s, if given), by name, then id."""
        sql = ("SELECT r.id, p.name, r.model_sha256, r.sighting, r.created FROM rejections r"
               " JOIN people p ON p.id = r.person")
        args = ()
        if name is not None:
            sql += " WHERE r.person = ?"
            args = (self._gallery._person_id(name),)
        return [Rejection(*row) for row in self._conn.execute(sql + " ORDER BY p.name, r.id",
                                                              args)]

    @_reads
    def vectors(self, model_sha256: str) -> tuple[list[str], np.ndarray]:
        """(name each face is not, float32 matrix K x D) of this model's rejections,
        grouped by person as ``Gallery.embeddings`` is."""
        rows = self._conn.execute(
            "SELECT p.name, r.vector, r.dim FROM rejections r JOIN people p"
            " ON p.id = r.person WHERE r.model_sha256 = ? ORDER BY r.person, r.id",
            (check_sha256(model_sha256),)).fetchall()
        return grouped_vectors(rows, self._gallery.path, "rejection")

    # -- re-embedding, with the enrolments (``gallery.reembed``) ------------------------

    def to_reembed(self, model_sha256: str) -> list[tuple[int, bytes]]:
        """(rejection id, PNG) of every rejection not made by ``model_sha256``, by id."""
        return self._conn.execute(
            "SELECT id, png FROM rejections WHERE model_sha256 != ? ORDER BY id",
            (check_sha256(model_sha256),)).fetchall()

    def replace_vectors(self, vectors: dict, model_sha256: str) -> int:
        """Give each rejection (id -> vector) a new embedding made by ``model_sha256``,
        inside the caller's transaction; returns how many changed."""
        vectors = {rid: unit_vector(v) for rid, v in vectors.items()}
        with self._gallery.batch():
            return self._gallery._set_vectors("rejections", vectors, check_sha256(model_sha256))
