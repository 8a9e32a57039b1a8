"""Test clips built from real face photos: faces placed and moving in 640x480 scenes.

Reproducible from a seed, with the ground truth (who is where in every frame), so the
pipeline's speed and its naming can be measured on the same frames anywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class Clip:
    frames: list                      # BGR uint8 frames
    truth: list = field(default_factory=list)   # per frame: [(name, (x1, y1, x2, y2)), ...]
    fps: float = 15.0

    def write(self, path) -> None:
        h, w = self.frames[0].shape[:2]
        out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        if not out.isOpened():
            raise OSError(f"{path}: cannot write video")
        for f in self.frames:
            out.write(f)
        out.release()


def background(size, rng) -> np.ndarray:
    """A soft textured scene: smoothed noise with a light gradient."""
    w, h = size
    noise = rng.normal(0, 1, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32)
    base = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(0.7, 1.1, w, dtype=np.float32)[None, :, None]
    img = (110 + 35 * base) * ramp
    return np.clip(img, 0, 255).astype(np.uint8)


def make_clip(people: dict, seed: int = 0, size=(640, 480), segments: int = 6,
              frames_per_segment: int = 30, max_faces: int = 3, face_height=(140, 200),
              fps: float = 15.0) -> Clip:
    """``people``: name -> list of BGR photos. Each segment shows 1..max_faces people
    (different ones), each a random photo of theirs drifting across the scene."""
    rng = np.random.default_rng(seed)
    names = sorted(people)
    w, h = size
    clip = Clip([], [], fps)
    for _ in range(segments):
        k = int(rng.integers(1, min(max_faces, len(names)) + 1))
        chosen = rng.choice(len(names), size=k, replace=False)
        actors, slot = [], w // k
        for i, c in enumerate(chosen):
            photos = people[names[c]]
            photo = photos[int(rng.integers(len(photos)))]
            fh = int(rng.integers(*face_height))
            fw = int(round(photo.shape[1] * fh / photo.shape[0]))
            fw = min(fw, slot - 8)
            fh = int(round(photo.shape[0] * fw / photo.shape[1]))
            img = cv2.resize(photo, (fw, fh), interpolation=cv2.INTER_AREA)
            x0 = i * slot + rng.uniform(0, max(1, slot - fw))
            y0 = rng.uniform(0, h - fh)
            v = rng.uniform(-1.5, 1.5, size=2)
            actors.append([names[c], img, np.array([x0, y0]), v, i * slot, slot])
        scene = background(size, rng)
        for _ in range(frames_per_segment):
            frame, truth = scene.copy(), []
            for a in actors:
                name, img, pos, v, lo, span = a
                fh, fw = img.shape[:2]
                pos += v
                if not lo <= pos[0] <= lo + span - fw:
                    v[0] = -v[0]
                    pos[0] = np.clip(pos[0], lo, lo + span - fw)
                if not 0 <= pos[1] <= h - fh:
                    v[1] = -v[1]
                    pos[1] = np.clip(pos[1], 0, h - fh)
                x, y = int(pos[0]), int(pos[1])
                frame[y:y + fh, x:x + fw] = img
                truth.append((name, (x, y, x + fw, y + fh)))
            clip.frames.append(frame)
            clip.truth.append(truth)
    return clip
