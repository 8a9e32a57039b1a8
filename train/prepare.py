"""From a folder of photos per person to aligned face crops, a report and contact sheets.

``prepare(src, dst)`` finds the one face each photo is about, aligns it by its five
landmarks (``edge.align``), converts it to the network's colour and size and writes
``dst/person/name.png``. Every file's fate goes into ``dst/prepare.json``; a contact
sheet per person (``dst/_sheets/person.png``) shows the crops at a glance, with crops
that look unlike the rest of their person outlined in red.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from edge.align import align_face, resize_whole, to_colour
from edge.faces import FaceError, pick_centre_face, pick_single_face
from edge.images import ImageError, is_image_name, read_image

REPORT = "prepare.json"
SHEETS = "_sheets"


class PrepareError(Exception):
    """The whole batch cannot start (bad SRC or DST); the message says why."""


@dataclass
class Settings:
    size: int = 64
    colour: str = "grey"          # "grey" or "rgb"
    whole_if_no_face: bool = False
    min_face: int = 20
    min_score: float = 0.9
    pad: float = 0.25             # border added around already-cropped faces for detection
    outlier_z: float = 3.0
    pick: str = "single"          # "single": the one clear face; "centre": nearest the centre


@dataclass
class Outcome:
    person: str
    file: str
    status: str                   # "aligned", "whole", "rejected"
    reason: str = ""
    output: str = ""
    outlier: bool = False
    score: float | None = None
    faces: int = 0                # confident faces found in the photo


def list_people(src: Path) -> dict[str, list[Path]]:
    """Person folder name -> image files (sorted). Raises PrepareError if none."""
    if not src.is_dir():
        raise PrepareError(f"{src}: not a folder")
    people = {}
    try:
        entries = sorted(src.iterdir())
    except OSError as exc:
        raise PrepareError(f"{src}: cannot read ({exc.strerror})") from None
    for entry in entries:
        if entry.is_dir() and not entry.name.startswith((".", "_")):
            try:
                people[entry.name] = sorted(p for p in entry.iterdir() if p.is_file())
            except OSError as exc:
                people[entry.name] = exc  # reported per person, the batch goes on
    if not people:
        raise PrepareError(f"{src}: no person folders (expected one sub-folder per person)")
    return people


def _detect_padded(finder, image: np.ndarray, pad: float):
    """Detect on the image with a border, so tight crops still show a whole head."""
    h, w = image.shape[:2]
    py, px = int(h * pad), int(w * pad)
    padded = cv2.copyMakeBorder(image, py, py, px, px, cv2.BORDER_CONSTANT, value=0)
    faces = finder.find(padded)
    for f in faces:
        f.landmarks = f.landmarks - np.array([px, py])
        x1, y1, x2, y2 = f.box
        f.box = (x1 - px, y1 - py, x2 - px, y2 - py)
    return faces


PICKS = ("single", "centre")


def crop_face(image: np.ndarray, finder, settings: Settings):
    """(crop, status, score, confident faces found) for one photo, or raise FaceError.

    ``settings.pick``: "single" takes the one clear face (a second face of similar size
    rejects the photo); "centre" takes the face nearest the image centre, for photos
    labelled with the person they are centred on (LFW).
    """
    faces = _detect_padded(finder, image, settings.pad)
    found = sum(f.score >= settings.min_score for f in faces)
    try:
        if settings.pick == "centre":
            h, w = image.shape[:2]
            face = pick_centre_face(faces, w, h, settings.min_score)
        elif settings.pick == "single":
            face = pick_single_face(faces, settings.min_score)
        else:
            raise ValueError(f"unknown pick {settings.pick!r} (known: {', '.join(PICKS)})")
    except FaceError:
        if settings.whole_if_no_face and not found:
            return to_colour(resize_whole(image, settings.size), settings.colour), "whole", None, 0
        raise
    if face.size < settings.min_face:
        raise FaceError(f"face too small ({face.size:.0f} px)")
    crop = align_face(image, face.landmarks, settings.size)
    return to_colour(crop, settings.colour), "aligned", face.score, found


def flag_outliers(crops: list[np.ndarray], z: float) -> list[bool]:
    """Crops far from their person's median crop (robust z-score of pixel distance)."""
    if len(crops) < 4:
        return [False] * len(crops)
    x = np.stack([c.astype(np.float32).ravel() for c in crops])
    x = (x - x.mean(1, keepdims=True)) / (x.std(1, keepdims=True) + 1e-6)
    d = np.linalg.norm(x - np.median(x, axis=0), axis=1)
    mad = np.median(np.abs(d - np.median(d))) * 1.4826 + 1e-6
    return list((d - np.median(d)) / mad > z)


def contact_sheet(crops: list[np.ndarray], flags: list[bool], path: Path, cols: int = 10):
    """A grid of crops; outliers outlined in red."""
    if not crops:
        return
    size = crops[0].shape[0]
    rows = (len(crops) + cols - 1) // cols
    sheet = np.full((rows * (size + 4), min(cols, len(crops)) * (size + 4), 3), 255, np.uint8)
    for i, (crop, bad) in enumerate(zip(crops, flags)):
        tile = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR if crop.ndim == 2 else cv2.COLOR_RGB2BGR)
        r, c = divmod(i, cols)
        y, x = r * (size + 4) + 2, c * (size + 4) + 2
        sheet[y:y + size, x:x + size] = tile
        if bad:
            cv2.rectangle(sheet, (x - 2, y - 2), (x + size + 1, y + size + 1), (0, 0, 255), 2)
    cv2.imwrite(str(path), sheet)


def prepare(src, dst, settings: Settings = Settings(), overwrite: bool = False,
            finder=None, progress: bool = True) -> dict:
    """Prepare every photo under ``src`` into ``dst``; returns the report dict.

    Work goes into a temporary folder beside ``dst`` that replaces it only at the end,
    so an interrupted run never leaves a half-written ``dst``.
    """
    src, dst = Path(src), Path(dst)
    people = list_people(src)
    if dst.exists() and any(dst.iterdir()) and not overwrite:
        raise PrepareError(f"{dst}: exists and is not empty (use --overwrite to replace it)")
    if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents:
        raise PrepareError(f"{dst}: must not be inside the source folder")
    dst.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        if finder is None:
            finder = __import__("train.mtcnn_faces", fromlist=["x"]).MtcnnFaces(settings.min_face)
        outcomes, errors = _run(people, work, settings, finder, progress)
        report = _report(src, settings, outcomes, errors)
        (work / REPORT).write_text(json.dumps(report, indent=2, ensure_ascii=False))
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(work, dst)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
    return report


def _run(people, work, settings, finder, progress):
    outcomes, errors = [], []
    total = sum(len(v) for v in people.values() if isinstance(v, list))
    bar = tqdm(total=total, unit="photo", disable=not progress)
    (work / SHEETS).mkdir()
    for person, files in people.items():
        if not isinstance(files, list):
            errors.append(f"{person}: cannot read folder ({files.strerror})")
            continue
        crops, kept = [], []
        (work / person).mkdir()
        for path in files:
            bar.update()
            out = Outcome(person, path.name, "rejected")
            outcomes.append(out)
            if not is_image_name(path):
                out.reason = "not an image file name"
                continue
            try:
                crop, out.status, out.score, out.faces = crop_face(read_image(path), finder,
                                                                   settings)
            except (ImageError, FaceError) as exc:
                out.reason = str(exc).replace(str(path) + ": ", "")
                continue
            name = f"{path.stem}.png"
            cv2.imwrite(str(work / person / name),
                        crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
            out.output = f"{person}/{name}"
            crops.append(crop)
            kept.append(out)
        flags = flag_outliers(crops, settings.outlier_z)
        for out, bad in zip(kept, flags):
            out.outlier = bool(bad)
        contact_sheet(crops, flags, work / SHEETS / f"{person}.png")
    bar.close()
    return outcomes, errors


def _report(src, settings, outcomes, errors):
    counts = {}
    for o in outcomes:
        counts[o.status] = counts.get(o.status, 0) + 1
    several = sum(o.faces > 1 for o in outcomes if o.status == "aligned")
    return {
        "source": str(src),
        "settings": settings.__dict__,
        "pick": (f"the face nearest the photo's centre; {several} photos held other faces"
                 if settings.pick == "centre" else
                 "the one clear face; photos with two faces of similar size are rejected"),
        "several_faces": several,
        "alignment": "five-point similarity to the ArcFace/SFace template scaled to size",
        "counts": counts,
        "outliers": sum(o.outlier for o in outcomes),
        "errors": errors,
        "files": [o.__dict__ for o in outcomes],
    }
