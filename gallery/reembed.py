"""``Gallery.reembed``: re-make every embedding from its thumbnail with a new model.

The faces are embedded outside the write lock, so enrolment is not held up; then one
transaction embeds whatever was enrolled meanwhile and rewrites every row. The faces
rejected as not someone (``gallery.rejections``) are re-embedded with them, so the
matcher's rule keeps working. A failing embedder leaves the gallery exactly as it was.
"""
from __future__ import annotations

import numpy as np

from . import png
from .errors import GalleryError
from .values import check_sha256


def _embed(embedder, rows, batch_size: int, progress=None, done: int = 0, total: int = 0):
    vectors = {}
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        faces = [png.decode(data) for _, data in chunk]
        try:
            out = np.asarray(embedder.embed(faces), dtype=np.float32)
        except Exception as exc:  # whatever the model objects to, say it in one line
            raise GalleryError(f"the embedder cannot take the stored faces "
                               f"({type(exc).__name__}: {exc})") from None
        if out.ndim != 2 or out.shape[0] != len(faces) or out.shape[1] == 0:
            raise GalleryError(f"the embedder returned shape {out.shape} "
                               f"for {len(faces)} faces")
        norms = np.linalg.norm(out.astype(np.float64), axis=1, keepdims=True)
        if not np.isfinite(out).all() or (norms == 0).any():
            raise GalleryError("the embedder returned a zero or non-finite embedding")
        unit = (out / norms).astype(np.float32)
        vectors.update(zip((eid for eid, _ in chunk), unit))
        if progress:
            progress(done + len(vectors), total)
    return vectors


def reembed(gallery, embedder, *, batch_size: int = 32, progress=None) -> int:
    """Rewrite every embedding not made by ``embedder.sha256``; returns how many."""
    model = check_sha256(getattr(embedder, "sha256", ""))
    with gallery.snapshot():
        rows = gallery.thumbnails_to_reembed(model)
        rejected = gallery.rejections.to_reembed(model)
    vectors = _embed(embedder, rows, batch_size, progress, 0, len(rows))
    others = _embed(embedder, rejected, batch_size)
    with gallery.batch():
        # enrolled or rejected while we worked
        vectors.update(_embed(embedder, _left(gallery.thumbnails_to_reembed(model), vectors),
                              batch_size))
        others.update(_embed(embedder, _left(gallery.rejections.to_reembed(model), others),
                             batch_size))
        dims = {v.size for v in [*vectors.values(), *others.values()]}
        if len(dims) > 1:
            raise GalleryError(f"the embedder returned embeddings of sizes {sorted(dims)}")
        changed = gallery.replace_embeddings(vectors, model)
        gallery.rejections.replace_vectors(others, model)
        return changed


def _left(rows, done: dict) -> list:
    """The (id, PNG) rows not re-embedded yet."""
    return [(i, data) for i, data in rows if i not in done]
