"""Export and import: a gallery as one portable, checksummed zip file.

The zip holds ``manifest.json`` (format, version, counts, models and the sha256 of
every other member), ``data.json`` (people, their enrolments, vectors as base64
little-endian float32) and ``thumbnails/NNNNNN.png`` (the face crops, viewable as
they are). Import checks every checksum before it touches the gallery, then adds
everyone in one transaction. A file that would unpack to more than a gallery export
holds is refused before it is unpacked (``gallery.unzip``).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import png, signing, unzip
from .errors import (ChecksumMismatch, CorruptFile, DuplicatePerson, GalleryError, ModelMismatch,
                     reembed_command)
from .names import clean_name, name_key
from .values import check_sha256, now, short, unit_vector

FORMAT = "siamese-edge-gallery"
VERSION = 1
ON_DUPLICATE = ("refuse", "skip", "replace", "append")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def export(gallery, path: str | Path, sign_key: bytes | None = None) -> dict:
    """Write the whole gallery to ``path`` (via a temporary file, then a rename), signed
    with ``sign_key`` when given (``gallery.signing``)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise GalleryError(f"cannot write {path}: there is no folder {path.parent}")
    rows = gallery.rows()
    people = rows.people
    files, by_person = {}, {pid: [] for pid, _, _ in people}
    for eid, pid, vector, dim, model, source, quality, created in rows.embeddings:
        data = rows.thumbnails.get(eid)
        if data is None:
            raise GalleryError("an enrolment has no thumbnail: run edge-gallery check")
        member = f"thumbnails/{len(files) + 1:06d}.png"
        files[member] = data
        by_person[pid].append({"vector": base64.b64encode(vector).decode("ascii"),
                               "dim": dim, "model_sha256": model, "source": source,
                               "quality": quality, "created": created, "thumbnail": member})
    data_json = json.dumps({"people": [
        {"name": name, "created": created, "enrolments": by_person[pid]}
        for pid, name, created in people]}, ensure_ascii=False, indent=1).encode("utf-8")
    models = sorted({r[4] for r in rows.embeddings})
    manifest = {"format": FORMAT, "version": VERSION, "exported": now(),
                "people": len(people), "embeddings": len(rows.embeddings), "models": models,
                "files": {"data.json": _sha256(data_json),
                          **{m: _sha256(d) for m, d in files.items()}}}
    _write_atomically(path, json.dumps(manifest, indent=1).encode("utf-8"), data_json, files,
                      sign_key)
    return {"people": len(people), "embeddings": len(rows.embeddings), "models": models}


def _write_atomically(path: Path, manifest: bytes, data_json: bytes, files: dict,
                      sign_key: bytes | None) -> None:
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:  # a read-only folder, a full disk: one line, nothing written
        raise GalleryError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("manifest.json", manifest)
                if sign_key is not None:
                    zf.comment = signing.sign(manifest, sign_key)
                zf.writestr("data.json", data_json)
                for member, data in files.items():
                    zf.writestr(member, data, compress_type=zipfile.ZIP_STORED)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GalleryError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


@dataclass
class Export:
    """An export file's contents, checked. Each person is ``{"name", "created",
    "enrolments"}``; an enrolment holds ``vector`` (unit float32), ``model_sha256``,
    ``source``, ``quality``, ``created`` and ``png`` (bytes)."""
    path: Path
    manifest: dict
    people: list[dict]
    models: list[str]


def read(path: str | Path, limits: unzip.Limits = unzip.Limits(),
         verify_key: bytes | None = None) -> Export:
    """The contents of an export file, every checksum and value checked; refused before
    it is unpacked when it would unpack to more than ``limits`` allow, and with
    ``verify_key``, unless signed with that key (``gallery.signing``)."""
    path = Path(path)
    if not path.is_file():
        raise GalleryError(f"no export file at {path}")
    path.open("rb").close()  # cannot read it at all: say so as it is
    try:
        with zipfile.ZipFile(path) as zf:
            unzip.check_sizes(path, zf, limits)
            raw = unzip.read(path, zf, "manifest.json", limits)
            if verify_key is not None:  # before anything in it is believed
                signing.verify(path, raw, zf.comment, verify_key)
            manifest = json.loads(raw)
            if manifest.get("format") != FORMAT:
                raise CorruptFile(f"{path} is not a siamese-edge gallery export")
            if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
                raise CorruptFile(f"{path} is export format version {manifest.get('version')}"
                                  f"; this siamese-edge reads up to {VERSION}: upgrade it")
            sums = manifest["files"]
            members = set(zf.namelist()) - {"manifest.json"}
            if members != set(sums):
                raise ChecksumMismatch(f"{path}: its files do not match its manifest; "
                                       "the file is damaged")
            blobs = {}
            for member, expected in sums.items():
                blobs[member] = unzip.read(path, zf, member, limits)
                if _sha256(blobs[member]) != expected:
                    raise ChecksumMismatch(f"{path}: {member} does not match its checksum;"
                                           " the file is damaged")
        people = _people(json.loads(blobs["data.json"]), blobs)
        if len(people) != manifest["people"] or \
                sum(len(p["enrolments"]) for p in people) != manifest["embeddings"]:
            raise CorruptFile(f"{path}: its counts do not match its manifest")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
            RuntimeError) as exc:  # what zipfile raises on damaged bytes
        raise CorruptFile(f"{path} is damaged or not a zip file ({exc})") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptFile(f"{path} is malformed ({type(exc).__name__}: {exc})") from None
    models = sorted({e["model_sha256"] for p in people for e in p["enrolments"]})
    if len(models) > 1:
        raise ModelMismatch(f"{path} mixes embeddings of {len(models)} models; "
                            "re-embed the gallery it came from first")
    return Export(path, manifest, people, models)


def _people(data: dict, blobs: dict) -> list[dict]:
    people, seen = [], {}
    for person in data["people"]:
        name = clean_name(person["name"])
        if name_key(name) in seen:
            first = seen[name_key(name)]
            if first == name:
                raise CorruptFile(f"the export lists {name!r} twice")
            raise DuplicatePerson(f"the export lists {first!r} and {name!r}, one name (case "
                                  "and Unicode form aside): rename one in the gallery it "
                                  "came from and export it again")
        seen[name_key(name)] = name
        enrolments = []
        for e in person["enrolments"]:
            vector = np.frombuffer(base64.b64decode(e["vector"], validate=True), "<f4")
            if vector.size != e["dim"]:
                raise CorruptFile(f"a vector of {name!r} is not {e['dim']} values")
            data = blobs[e["thumbnail"]]
            png.decode(data)
            quality = e["quality"]
            enrolments.append({"vector": unit_vector(vector),
                               "model_sha256": check_sha256(e["model_sha256"]),
                               "source": str(e["source"]),
                               "quality": None if quality is None else float(quality),
                               "created": str(e["created"]), "png": data})
        if not enrolments:
            raise CorruptFile(f"the export lists {name!r} without embeddings")
        people.append({"name": name, "created": str(person["created"]),
                       "enrolments": enrolments})
    return people


def import_(gallery, source: str | Path | Export, on_duplicate: str = "refuse",
            verify_key: bytes | None = None) -> dict:
    """Add everyone in the export file ``source`` (or its ``read``) to ``gallery``,
    all or nothing.

    A name already in the gallery (case and Unicode form aside: ``names.name_key``) is
    refused (``"refuse"``, the default), left as it is (``"skip"``), replaced by the
    export's (``"replace"``) or given the export's embeddings as well (``"append"``).
    Refused when the export's model differs from the one in a non-empty gallery, and
    with ``verify_key`` when the file is not signed with that key. Returns the names
    added, skipped, replaced and appended to.
    """
    if on_duplicate not in ON_DUPLICATE:
        raise ValueError(f"on_duplicate must be one of {ON_DUPLICATE}")
    if isinstance(source, Export) and verify_key is not None:
        raise ValueError("an Export is checked as it is read: archive.read(path, verify_key=)")
    exported = source if isinstance(source, Export) else read(source, verify_key=verify_key)
    path, people, models = exported.path, exported.people, exported.models
    result = {"added": [], "skipped": [], "replaced": [], "appended": []}
    with gallery.batch():
        stored = gallery.models()
        if models and stored and stored != models:
            raise ModelMismatch(
                f"{path} holds embeddings of model {short(models[0])}, this gallery of "
                f"model {short(stored[0])}: re-embed one so both use the same bundle "
                f"(this one with {reembed_command(gallery.path)})")
        taken = {name_key(p.name) for p in gallery.people()}
        clashes = [p["name"] for p in people if name_key(p["name"]) in taken]
        if clashes and on_duplicate == "refuse":
            listed = ", ".join(repr(n) for n in clashes[:3])
            more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
            raise DuplicatePerson(f"already enrolled: {listed}{more}; import with "
                                  "--skip, --replace or --append")
        for person in people:
            name, append = person["name"], on_duplicate == "append"
            if name_key(name) not in taken:
                result["added"].append(name)
            elif on_duplicate == "skip":
                result["skipped"].append(name)
                continue
            elif on_duplicate == "replace":
                gallery.remove(name)
                result["replaced"].append(name)
            else:
                result["appended"].append(name)
            for e in person["enrolments"]:
                gallery.enrol(name, e["vector"], e["model_sha256"], e["png"],
                              source=e["source"], quality=e["quality"], append=append,
                              created=e["created"], person_created=person["created"])
                append = True
    return result
