"""Batches drawn on the fly: pairs (contrastive), P x K (triplet), labelled faces (softmax)."""
from __future__ import annotations

import keras
import numpy as np

from edge.align import normalise
from train.data import Faces, augment


class _Batches(keras.utils.PyDataset):
    def __init__(self, faces: Faces, batch: int, steps: int, seed: int, aug: bool,
                 flip: bool = True):
        super().__init__()
        self.faces, self.batch, self.steps, self.aug, self.flip = faces, batch, steps, aug, flip
        self.rng = np.random.default_rng(seed)
        self.by_person = [np.flatnonzero(faces.labels == p) for p in range(len(faces.names))]
        self.multi = [p for p, idx in enumerate(self.by_person) if len(idx) >= 2]

    def __len__(self):
        return self.steps

    def _x(self, idx):
        imgs = self.faces.images[idx]
        if self.aug:
            imgs = augment(imgs, self.rng, self.flip)
        return normalise(imgs, 127.5, 128.0)


class PairBatches(_Batches):
    """Half same-person pairs, half different-person pairs; y = 1 for the same person.
    A person with a single image serves only in different-person pairs."""

    def __getitem__(self, _):
        n = self.batch // 2
        people = self.rng.choice(self.multi, size=n)
        same = np.array([self.rng.choice(self.by_person[p], 2, replace=False) for p in people])
        a = self.rng.integers(len(self.faces), size=self.batch - n)
        b = self.rng.integers(len(self.faces), size=self.batch - n)
        clash = self.faces.labels[a] == self.faces.labels[b]
        while clash.any():
            b[clash] = self.rng.integers(len(self.faces), size=int(clash.sum()))
            clash = self.faces.labels[a] == self.faces.labels[b]
        left = np.r_[same[:, 0], a]
        right = np.r_[same[:, 1], b]
        y = np.r_[np.ones(n), np.zeros(self.batch - n)].astype(np.float32)
        return (self._x(left), self._x(right)), y


class PKBatches(_Batches):
    """P people x K faces each (K drawn with replacement for small folders)."""

    def __init__(self, faces, batch, steps, seed, aug, flip=True, k=4):
        super().__init__(faces, batch, steps, seed, aug, flip)
        self.k = k

    def __getitem__(self, _):
        p = max(2, self.batch // self.k)
        people = self.rng.choice(self.multi, size=min(p, len(self.multi)), replace=False)
        idx = np.concatenate([self.rng.choice(self.by_person[q], self.k,
                                              replace=len(self.by_person[q]) < self.k)
                              for q in people])
        return self._x(idx), self.faces.labels[idx]


class LabelBatches(_Batches):
    """Faces with their identity, people sampled evenly (big folders do not dominate)."""

    def __getitem__(self, _):
        people = self.rng.integers(len(self.by_person), size=self.batch)
        idx = np.array([self.rng.choice(self.by_person[p]) for p in people])
        y = self.faces.labels[idx]
        return (self._x(idx), y), y
