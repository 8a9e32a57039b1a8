"""Identity-labelled face folders in memory, identity-disjoint splits and augmentation.

A prepared folder (``siamese-train prepare``) holds ``person/*.png`` crops of one size.
Everything fits in memory (a few thousand small crops), so batches are drawn on the
fly; no pair arrays are ever written to disk.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.images import ImageError, is_image_name, read_image


class DataError(Exception):
    """The folder cannot serve as training or evaluation data; the message says why."""


@dataclass
class Faces:
    images: np.ndarray        # N x S x S (grey) or N x S x S x 3 (RGB), uint8
    labels: np.ndarray        # N ints
    names: list[str]          # label -> person folder name
    colour: str
    whole: np.ndarray | None = None   # per image: kept whole, no face found (prepare's report)

    def __len__(self):
        return len(self.labels)

    @property
    def size(self) -> int:
        return int(self.images.shape[1])

    def subset(self, people) -> "Faces":
        """Only these label ids, relabelled 0..k-1 in the given order."""
        people = list(people)
        remap = {p: i for i, p in enumerate(people)}
        keep = np.isin(self.labels, people)
        labels = np.array([remap[p] for p in self.labels[keep]], dtype=np.int64)
        return Faces(self.images[keep], labels, [self.names[p] for p in people], self.colour,
                     None if self.whole is None else self.whole[keep])

    def detected(self) -> "Faces":
        """Only the images whose face was found (not kept whole by prepare), the faces a
        device would have embedded; people left without one are dropped."""
        if self.whole is None or not self.whole.any():
            return self
        keep = ~self.whole
        people = np.unique(self.labels[keep])
        kept = Faces(self.images[keep], self.labels[keep], self.names, self.colour, self.whole[keep])
        return kept.subset(people)

    def counts(self) -> np.ndarray:
        return np.bincount(self.labels, minlength=len(self.names))


def load_folder(folder, size: int | None = None, colour: str | None = None) -> Faces:
    """Load ``folder/person/*`` images. Size and colour default to what prepare wrote.

    Images of another size are resized (and said to be, by the returned data's size);
    unreadable files raise DataError naming the file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    settings, whole_files = {}, set()
    report = folder / "prepare.json"
    if report.exists():
        prepared = json.loads(report.read_text())
        settings = prepared.get("settings", {})
        whole_files = {f["output"] for f in prepared.get("files", []) if f.get("status") == "whole"}
    colour = colour or settings.get("colour", "grey")
    people = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    images, labels, names, whole = [], [], [], []
    for person in people:
        files = sorted(f for f in person.iterdir() if f.is_file() and is_image_name(f))
        if not files:
            continue
        for f in files:
            try:
                img = read_image(f)
            except ImageError as exc:
                raise DataError(str(exc)) from None
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY if colour == "grey" else cv2.COLOR_BGR2RGB)
            if size is None:
                size = settings.get("size") or min(img.shape[:2])
            if img.shape[:2] != (size, size):
                img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
            images.append(img)
            labels.append(len(names))
            whole.append(f"{person.name}/{f.name}" in whole_files)
        names.append(person.name)
    if not names:
        raise DataError(f"{folder}: no person folders with images")
    return Faces(np.stack(images), np.array(labels, dtype=np.int64), names, colour, np.array(whole))


def merge(*parts: Faces) -> Faces:
    """Concatenate datasets of the same size and colour; people stay distinct."""
    images, labels, names, offset = [], [], [], 0
    for part in parts:
        if part.images.shape[1:] != parts[0].images.shape[1:]:
            raise DataError("cannot merge faces of different sizes or colours")
        images.append(part.images)
        labels.append(part.labels + offset)
        names += part.names
        offset += len(part.names)
    whole = [p.whole if p.whole is not None else np.zeros(len(p), bool) for p in parts]
    return Faces(np.concatenate(images), np.concatenate(labels), names, parts[0].colour,
                 np.concatenate(whole))


def check_trainable(faces: Faces, objective: str):
    counts = faces.counts()
    usable = int((counts >= 2).sum())
    if len(faces) == 0:
        raise DataError("no images to train on")
    if usable < 2:
        raise DataError(f"need at least two people with two or more images each; "
                        f"found {usable}")


def split_people(faces: Faces, val_fraction: float, seed: int) -> tuple[Faces, Faces | None]:
    """Identity-disjoint split: validation people never appear in training."""
    counts = faces.counts()
    eligible = np.flatnonzero(counts >= 2)
    rng = np.random.default_rng(seed)
    n_val = int(round(len(eligible) * val_fraction))
    if val_fraction <= 0 or n_val < 2 or len(eligible) - n_val < 2:
        return faces, None
    val = np.sort(rng.choice(eligible, size=n_val, replace=False))
    train = np.setdiff1d(np.arange(len(faces.names)), val)
    return faces.subset(train), faces.subset(val)


def augment(batch: np.ndarray, rng: np.random.Generator, flip: bool = True) -> np.ndarray:
    """Flip (faces, not characters), small affine (rotation, scale, shift),
    brightness/contrast and blur."""
    out = np.empty_like(batch)
    size = batch.shape[1]
    for i, img in enumerate(batch):
        if flip and rng.random() < 0.5:
            img = img[:, ::-1]
        angle = rng.uniform(-10, 10)
        scale = rng.uniform(0.92, 1.08)
        m = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        m[:, 2] += rng.uniform(-0.05, 0.05, size=2) * size
        img = cv2.warpAffine(np.ascontiguousarray(img), m, (size, size),
                             borderMode=cv2.BORDER_REPLICATE)
        x = img.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)
        if rng.random() < 0.2:
            x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.2))
        out[i] = np.clip(x, 0, 255).astype(np.uint8).reshape(out[i].shape)
    return out
