"""``Gallery.check``: SQLite's own integrity check, then the gallery's invariants."""
from __future__ import annotations

import sqlite3

import numpy as np

from . import png
from .errors import GalleryError
from .names import clean_name
from .values import check_sha256, short


def check(gallery) -> list[str]:
    """Every problem found in ``gallery``, one line each; empty when all is well."""
    conn = gallery._conn
    try:
        with gallery.snapshot():
            problems = [f"sqlite: {r[0]}" for r in conn.execute("PRAGMA integrity_check")
                        if r[0] != "ok"]
            problems += [f"sqlite: row {r[1]} of {r[0]} points at a missing {r[2]} row"
                         for r in conn.execute("PRAGMA foreign_key_check")]
            return problems + _invariants(conn)
    except (sqlite3.DatabaseError, GalleryError, TypeError, ValueError) as exc:
        return [f"cannot read the file: it is damaged ({type(exc).__name__}: {exc})"]


def _invariants(conn) -> list[str]:
    problems = []
    kinds = conn.execute("SELECT model_sha256, dim, count(*) FROM embeddings"
                         " GROUP BY model_sha256, dim").fetchall()
    if len(kinds) > 1:
        problems.append("embeddings from more than one model or size: " + ", ".join(
            f"{n} of model {short(m)} (dim {d})" for m, d, n in kinds)
            + "; re-embed with edge-gallery reembed --bundle NEW")
    for model, _, _ in kinds:
        try:
            check_sha256(model)
        except GalleryError as exc:
            problems.append(str(exc))
    for (name,) in conn.execute("SELECT name FROM people"):
        try:
            if clean_name(name) != name:
                problems.append(f"name {name!r} is not in its clean form")
        except GalleryError as exc:
            problems.append(str(exc))
    problems += [f"{name!r} has no embeddings" for (name,) in conn.execute(
        "SELECT name FROM people WHERE id NOT IN (SELECT person FROM embeddings)")]
    problems += [f"enrolment {i} has no thumbnail" for (i,) in conn.execute(
        "SELECT id FROM embeddings WHERE id NOT IN (SELECT embedding FROM thumbnails)")]
    for eid, vector, dim in conn.execute("SELECT id, vector, dim FROM embeddings"):
        if not isinstance(vector, bytes) or len(vector) != 4 * dim:
            problems.append(f"enrolment {eid}: vector is not {dim} float32 values")
            continue
        v = np.frombuffer(vector, "<f4").astype(np.float64)
        if not np.isfinite(v).all() or abs(float(np.linalg.norm(v)) - 1.0) > 1e-3:
            problems.append(f"enrolment {eid}: vector is not finite and of unit length")
    for eid, data in conn.execute("SELECT embedding, png FROM thumbnails"):
        try:
            png.decode(bytes(data))
        except (GalleryError, TypeError) as exc:
            problems.append(f"enrolment {eid}: {exc}")
    return problems
