"""Who is this face? Nearest enrolled person by Euclidean distance, in one matrix product.

Embeddings are L2-normalised, so for unit vectors ``d^2 = 2 - 2 a.b``: the similarity
of a face to every stored embedding is one product with the gallery matrix. A person's
distance is that of their nearest embedding. The matcher notices enrolments made by
other processes (``PRAGMA data_version``, checked before every match) and reloads.

Rejections (``edge-gallery reject SIGHTING NAME``: "this face is not NAME") refuse
matches. **The rule**: a face is not matched to NAME when it is closer to one of the
faces rejected as not NAME than to NAME's own nearest stored face (strictly closer: a
tie keeps NAME). NAME is then set aside for that face, as if not enrolled: the face goes
to the nearest person not set aside, if within the threshold, else it is unknown; its
distance, margin and candidates are those among the people left, and ``Match.refused``
names who was set aside. A rejection reaches only faces in its own neighbourhood: NAME's
photos nearer to NAME's stored faces than to any rejected one are named as before.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import GalleryError, model_mismatch
from .store import Gallery
from .values import check_sha256


@dataclass(frozen=True)
class Match:
    """The nearest person, or ``name=None`` (unknown) when farther than the threshold.

    ``distance`` is the nearest person's distance, ``margin`` the second nearest
    person's distance minus it (None with fewer than two people), ``candidates`` the
    top-k (name, distance) pairs, nearest first, whether known or not. ``refused``: the
    people set aside for this face by a rejection (see the module's docstring), who are
    in none of the other fields.
    """
    name: str | None
    distance: float | None
    margin: float | None
    candidates: tuple[tuple[str, float], ...]
    refused: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return self.name is not None

    def as_dict(self) -> dict:
        return {"name": self.name, "known": self.known, "distance": self.distance,
                "margin": self.margin,
                "candidates": [{"name": n, "distance": d} for n, d in self.candidates],
                **({"refused": list(self.refused)} if self.refused else {})}


# The Match of every face while no one is enrolled: no name, no distance, no candidates.
# Not named UNKNOWN: that word is the label the commands show for a face with no name.
NO_MATCH = Match(None, None, None, ())


class Matcher:
    """Matches embeddings of one model against the gallery at ``gallery``.

    ``gallery`` is a path or a Gallery (the matcher opens its own connection either
    way). ``threshold`` is the distance beyond which a face is unknown: a number, or a
    function of the gallery's size (stored embeddings), called again whenever the
    gallery changes (a bundle's ``threshold_rule``: more stored faces give a stranger
    more chances, so the threshold tightens as the gallery grows).
    """

    def __init__(self, gallery: str | Path | Gallery | None, model_sha256: str,
                 threshold, top_k: int = 3):
        path = gallery.path if isinstance(gallery, Gallery) else gallery
        self.model_sha256 = check_sha256(model_sha256)
        self.rule = threshold if callable(threshold) else None
        self.threshold = float(threshold(1)) if callable(threshold) else float(threshold)
        self.top_k = max(1, int(top_k))
        self._gallery = Gallery(path)
        self._version = None
        try:
            self.refresh()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._gallery.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def people(self) -> int:
        return len(self._names)

    @property
    def size(self) -> int:
        """How many embeddings are loaded."""
        return len(self._matrix)

    def refresh(self) -> bool:
        """Reload if another process changed the gallery; True when it did."""
        version = self._gallery.data_version()
        if version == self._version:
            return False
        with self._gallery.snapshot():
            models = self._gallery.models()
            if models and models != [self.model_sha256]:
                raise model_mismatch(self._gallery.path, models[0], self.model_sha256)
            rows, matrix = self._gallery.embeddings(self.model_sha256)
            rejected, others = self._gallery.rejections.vectors(self.model_sha256)
        starts = [i for i in range(len(rows)) if i == 0 or rows[i] != rows[i - 1]]
        self._names = [rows[i] for i in starts]
        self._starts = np.array(starts) if len(starts) < len(rows) else None
        self._matrix = matrix
        self._rejections = self._group(rejected, others, matrix.shape[1:])
        self._version = version
        if self.rule is not None:
            self.threshold = float(self.rule(max(len(matrix), 1)))
        return True

    def match(self, embedding) -> Match:
        """The Match of one embedding."""
        return self.match_many(np.asarray(embedding, dtype=np.float32)[None, :])[0]

    def match_many(self, embeddings) -> list[Match]:
        """The Match of each row of an (M, D) array of embeddings."""
        self.refresh()
        q = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if not self._names:
            return [NO_MATCH] * len(q)
        if q.ndim != 2 or q.shape[1] != self._matrix.shape[1]:
            raise GalleryError(f"embeddings of shape {q.shape} do not fit a gallery of "
                               f"{self._matrix.shape[1]}-value embeddings")
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        sims = q @ self._matrix.T                     # (M, N) cosine similarities
        if self._starts is not None:                  # best embedding of each person
            sims = np.maximum.reduceat(sims, self._starts, axis=1)
        refused = np.zeros(sims.shape, bool)
        if self._rejections is not None:              # the rule: closer to a rejected face
            people, starts, rejected = self._rejections
            nearest = np.maximum.reduceat(q @ rejected.T, starts, axis=1)
            refused[:, people] = nearest > sims[:, people]
            sims = np.where(refused, -np.inf, sims)   # set aside: ranked last, then dropped
        n = sims.shape[1]
        k = min(max(self.top_k, 2), n)                # two at least, for the margin
        if k < n:
            idx = np.argpartition(sims, n - k, axis=1)[:, n - k:]  # the k most alike
        else:
            idx = np.broadcast_to(np.arange(n), sims.shape)
        top = np.take_along_axis(sims, idx, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        idx, top = np.take_along_axis(idx, order, 1), np.take_along_axis(top, order, 1)
        dist = np.sqrt(np.clip(2.0 - 2.0 * top.astype(np.float64), 0.0, None))
        return [self._result(i, d, r) for i, d, r in zip(idx, dist, refused)]

    def _result(self, idx: np.ndarray, dist: np.ndarray, refused: np.ndarray) -> Match:
        kept = np.isfinite(dist)                      # the people set aside are infinitely far
        idx, dist = idx[kept], dist[kept]
        refused = tuple(self._names[i] for i in np.flatnonzero(refused))
        if not len(dist):
            return Match(None, None, None, (), refused)
        best = float(dist[0])
        name = self._names[idx[0]] if best <= self.threshold else None
        margin = float(dist[1] - dist[0]) if len(dist) > 1 else None
        candidates = tuple((self._names[i], float(d))
                           for i, d in zip(idx[:self.top_k], dist[:self.top_k]))
        return Match(name, best, margin, candidates, refused)

    def _group(self, names: list[str], matrix: np.ndarray, dim: tuple):
        """(person index of each group, start row of each group, matrix) of the
        rejections of people loaded, grouped by person; None when there are none."""
        where = {name: i for i, name in enumerate(self._names)}
        keep = [i for i, name in enumerate(names) if name in where]
        if not keep or matrix.shape[1:] != dim:
            return None
        names, matrix = [names[i] for i in keep], matrix[keep]
        starts = [i for i in range(len(names)) if i == 0 or names[i] != names[i - 1]]
        return np.array([where[names[i]] for i in starts]), np.array(starts), matrix
