"""Corrections that teach: a kept sighting assigned to someone, or rejected as not them.

``assign`` enrols a sighting's face under a name (a new person, or one more face of
someone enrolled), so that face is named from then on. ``reject`` records that the face
is not someone (``gallery.rejections``), so the matcher stops naming faces like it so
(the rule is in ``gallery.match``).

The face is the sighting's own embedding when the model that made it is the gallery's
(or the gallery holds none yet). Otherwise it is embedded again from the sighting's
thumbnail, which is the canonical crop enrolment stores, with ``embedder``: an object
with ``sha256`` and ``embed(faces) -> (N, D)`` (a bundle's thumbnail embedder), read
only then, so callers may load it lazily.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import png
from .errors import GalleryError, model_mismatch
from .names import clean_name
from .values import short, unit_vector


@dataclass(frozen=True)
class Correction:
    sighting: int
    name: str             # as stored (the enrolled spelling)
    id: int               # the enrolment's id (assign) or the rejection's (reject)
    reembedded: bool      # the face was embedded again from its thumbnail

    def as_dict(self) -> dict:
        return {"sighting": self.sighting, "name": self.name, "id": self.id,
                "reembedded": self.reembedded}


def assign(gallery, sighting_id, name: str, embedder=None) -> Correction:
    """Enrol sighting ``sighting_id``'s face under ``name`` (new, or appended to the
    person of that name whatever its case); returns the new enrolment."""
    name = clean_name(name)  # a bad name is refused before anything is read
    sighting = gallery.sightings.get(sighting_id)
    vector, model, data, again = _face(gallery, sighting, embedder)
    eid = gallery.enrol(name, vector, model, data, source=f"sighting {sighting.id}",
                        append=True)
    return Correction(sighting.id, gallery.person(name).name, eid, again)


def reject(gallery, sighting_id, name: str, embedder=None) -> Correction:
    """Record that sighting ``sighting_id``'s face is not ``name`` (who must be
    enrolled); returns the new rejection."""
    person = gallery.person(name)  # UnknownPerson, with a hint, before anything else
    sighting = gallery.sightings.get(sighting_id)
    vector, model, data, again = _face(gallery, sighting, embedder)
    rid = gallery.rejections.add(person.name, vector, model, data, sighting=sighting.id)
    return Correction(sighting.id, person.name, rid, again)


def _face(gallery, sighting, embedder):
    """(vector, model sha256, thumbnail PNG, whether embedded again) of a sighting, for
    the gallery's model."""
    vector, data = gallery.sightings.face(sighting.id)
    models = gallery.models()
    model = models[0] if models else sighting.model_sha256
    if sighting.model_sha256 == model:
        return vector, model, data, False
    if embedder is None:
        raise GalleryError(f"sighting {sighting.id} was made by model "
                           f"{short(sighting.model_sha256)} and the gallery holds model "
                           f"{short(model)}'s embeddings: give that model's bundle to embed "
                           "the face again")
    if embedder.sha256 != model:
        raise model_mismatch(gallery.path, model, embedder.sha256)
    try:
        out = np.asarray(embedder.embed([png.decode(data)]), dtype=np.float32)
    except GalleryError:
        raise
    except Exception as exc:  # whatever the model objects to, in one line
        raise GalleryError(f"the embedder cannot take sighting {sighting.id}'s face "
                           f"({type(exc).__name__}: {exc})") from None
    if out.ndim != 2 or out.shape[0] != 1:
        raise GalleryError(f"the embedder returned shape {out.shape} for one face")
    return unit_vector(out[0]), model, data, True
