"""``Gallery.check``: SQLite's own integrity check, then the gallery's invariants."""
from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict

import numpy as np

from . import png
from .errors import GalleryError, reembed_command
from .names import clean_name, name_key
from .values import check_sha256, short


def check(gallery) -> list[str]:
    """Every problem found in ``gallery``, one line each; empty when all is well."""
    try:
        with gallery.snapshot():
            rows = gallery.rows()
            return gallery.integrity() + _invariants(rows, gallery.path) + \
                _rejections(gallery.rejections.list(), rows, gallery.path)
    except (sqlite3.DatabaseError, GalleryError, TypeError, ValueError) as exc:
        return [f"cannot read the file: it is damaged ({type(exc).__name__}: {exc})"]


def _invariants(rows, path) -> list[str]:
    """What the gallery at ``path`` promises beyond SQLite's constraints, checked on
    ``rows``."""
    problems = []
    kinds = Counter((model, dim) for _, _, _, dim, model, *_ in rows.embeddings)
    if len(kinds) > 1:
        problems.append("embeddings from more than one model or size: " + ", ".join(
            f"{n} of model {short(m)} (dim {d})" for (m, d), n in sorted(kinds.items()))
            + f"; re-embed with {reembed_command(path)}")
    for model, _ in sorted(kinds):
        try:
            check_sha256(model)
        except GalleryError as exc:
            problems.append(str(exc))
    for _, name, _ in rows.people:
        try:
            if clean_name(name) != name:
                problems.append(f"name {name!r} is not in its clean form")
        except GalleryError as exc:
            problems.append(str(exc))
    problems += _one_name_several_people(rows.people)
    with_embeddings = {person for _, person, *_ in rows.embeddings}
    problems += [f"{name!r} has no embeddings" for pid, name, _ in rows.people
                 if pid not in with_embeddings]
    problems += [f"enrolment {eid} has no thumbnail" for eid, *_ in sorted(rows.embeddings)
                 if eid not in rows.thumbnails]
    for eid, _, vector, dim, *_ in sorted(rows.embeddings):
        if not isinstance(vector, bytes) or len(vector) != 4 * dim:
            problems.append(f"enrolment {eid}: vector is not {dim} float32 values")
            continue
        v = np.frombuffer(vector, "<f4").astype(np.float64)
        if not np.isfinite(v).all() or abs(float(np.linalg.norm(v)) - 1.0) > 1e-3:
            problems.append(f"enrolment {eid}: vector is not finite and of unit length")
    for eid, data in rows.thumbnails.items():
        try:
            png.decode(bytes(data))
        except (GalleryError, TypeError) as exc:
            problems.append(f"enrolment {eid}: {exc}")
    return problems


def _rejections(rejections, rows, path) -> list[str]:
    """Rejections the matcher cannot use: made by a model the embeddings are not."""
    models = {model for _, _, _, _, model, *_ in rows.embeddings}
    stale = [r for r in rejections if models and r.model_sha256 not in models]
    return [f"{len(stale)} rejection(s) made by another model than the embeddings' are not "
            f"used; re-embed with {reembed_command(path)}"] if stale else []


def _one_name_several_people(people) -> list[str]:
    """Names that differ only by case or Unicode form ("Ada", "ADA"): one name now, but
    kept apart in a gallery made before that rule, until renamed."""
    spellings = defaultdict(list)
    for _, name, _ in people:
        if isinstance(name, str) and name_key(name):
            spellings[name_key(name)].append(name)
    return [f"{' and '.join(map(repr, sorted(names)))} are one name (case and Unicode form "
            f"aside) but {len(names)} people: rename or remove all but one (edge-gallery "
            "rename, edge-gallery remove take the name exactly as listed)"
            for names in spellings.values() if len(names) > 1]
