"""Distillation: a small, fast network learns to embed faces as a large one does.

The teacher is a device bundle (``accurate``), run with the TFLite runtime on the 112 px
crops; its target for a face is the L2-normalised sum of the face's and its mirror
image's embeddings. The student sees the same face at its own size and colour (64 px
grey by default), augmented, and is trained with

    loss = (1 - cos(student(x), teacher(x))) + w * CosFace(student(x), y)

where CosFace's class centres are fixed: each training person's mean teacher
embedding. People with one photo serve the first term only. Validation people, drawn
from the training folders and never trained on, pick the epoch that is kept; every
epoch is checkpointed, so a long run can be stopped, converted and resumed.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import keras
import numpy as np
from keras import ops

from edge import metrics
from edge.align import normalise, to_colour
from train import distribute
from train.data import Faces, augment, load_folder, merge
from train.evaluate import embed_faces
from train.models import NORMALISATION, mirror_averaged, multiply_adds

TEACHER_FILE = "teacher.npz"
CHECKPOINT = "checkpoint.keras"   # the student after the last epoch, to resume from
MODEL = "embedding.keras"         # the best student so far, as it is shipped


@dataclass
class DistilConfig:
    arch: str = "edge"             # edge: from scratch; sface: SFace's layers at the student's size
    size: int = 64
    colour: str = "grey"
    epochs: int = 52
    steps: int = 100
    batch: int = 128
    lr: float = 2e-3
    cosface_weight: float = 0.1
    scale: float = 30.0
    margin: float = 0.35
    val_people: int = 40
    seed: int = 0
    teacher: str = "accurate"
    mirror: bool = True            # keep the student mirror-averaged (train.models.mirror_averaged)


def teacher_targets(bundle, faces: np.ndarray, batch: int = 64, progress=None) -> np.ndarray:
    """Mirror-averaged, L2-normalised teacher embeddings of 112 px RGB crops."""
    embedder = bundle.thumbnail_embedder()
    out = []
    for i in range(0, len(faces), batch):
        # stored crops are RGB here; the thumbnail embedder wants BGR thumbnails
        chunk = faces[i:i + batch][..., ::-1]
        e = embedder.embed(chunk) + embedder.embed(chunk[:, :, ::-1])
        out.append(e / np.linalg.norm(e, axis=1, keepdims=True))
        if progress:
            progress(len(chunk))
    return np.concatenate(out).astype(np.float32)


def student_faces(faces: np.ndarray, size: int, colour: str) -> np.ndarray:
    """112 px RGB crops at the student's size and colour (as the device makes them:
    the aligned crop resized by area, then converted)."""
    out = []
    for f in faces:
        small = cv2.resize(f[..., ::-1], (size, size), interpolation=cv2.INTER_AREA)
        out.append(to_colour(small, colour))
    return np.stack(out)


def distil_loss(centres: np.ndarray, weight: float, scale: float, margin: float):
    """y_true: the teacher's embedding, then the class (-1: none); y_pred: the student's."""
    c = ops.convert_to_tensor(centres.T.astype(np.float32))   # dim x classes
    classes = centres.shape[0]

    def loss(y_true, y_pred):
        target, label = y_true[:, :-1], ops.cast(y_true[:, -1], "int32")
        e = ops.normalize(y_pred, axis=-1)
        distance = 1.0 - ops.sum(e * target, axis=-1)
        if not weight:
            return distance
        has = ops.cast(label >= 0, "float32")
        onehot = ops.one_hot(ops.maximum(label, 0), classes)
        logits = scale * (ops.matmul(e, c) - margin * onehot)
        ce = keras.losses.categorical_crossentropy(onehot, logits, from_logits=True)
        return distance + weight * has * ce
    return loss


class DistilBatches(keras.utils.PyDataset):
    """Faces drawn uniformly, augmented; y = teacher embedding and class."""

    def __init__(self, x, y, batch, steps, seed):
        super().__init__()
        self.x, self.y, self.batch, self.steps = x, y, batch, steps
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.steps

    def __getitem__(self, _):
        idx = self.rng.integers(len(self.x), size=self.batch)
        faces = augment(self.x[idx], self.rng)
        if faces.ndim == 3:
            faces = faces[..., None]
        return normalise(faces, NORMALISATION["mean"], NORMALISATION["scale"]), self.y[idx]


class Validation(keras.callbacks.Callback):
    """Per epoch, on the validation people: one-shot, open-set known right at 1% FPIR,
    and cosine agreement with the teacher, of ``kept`` (the student as it is shipped:
    mirror-averaged or not); checkpoints the student every epoch and keeps the ``kept``
    that agrees best with the teacher (the steadiest of the three: with 40 people,
    known right at 1% strangers rests on a handful of stranger photos and moves by ten
    points from one epoch to the next)."""

    def __init__(self, branch, kept, faces: np.ndarray, labels, targets, out: Path, seed: int):
        super().__init__()
        self.branch, self.kept, self.faces, self.labels = branch, kept, faces, labels
        self.targets, self.out, self.seed, self.best = targets, out, seed, -1.0

    def on_epoch_end(self, epoch, logs=None):
        emb = embed_faces(self.kept, self.faces)
        shot = metrics.one_shot(emb, self.labels, metrics.n_way_for(self.labels, 20), 300,
                                self.seed)
        wild = metrics.open_set(emb, self.labels, rounds=3, seed=self.seed)
        logs["val_one_shot"] = shot.accuracy
        logs["val_right_at_fpir"] = wild.right_at_fpir
        logs["val_teacher_cos"] = float(np.mean(np.sum(emb * self.targets, axis=1)))
        self.branch.save(self.out / CHECKPOINT)
        logs["kept"] = float(logs["val_teacher_cos"] >= self.best)   # every epoch: one CSV shape
        if logs["kept"]:
            self.best = logs["val_teacher_cos"]
            self.kept.save(self.out / MODEL)
        print(f"epoch {epoch + 1}: validation one-shot {shot.accuracy:.1%}, right at 1% "
              f"strangers {wild.right_at_fpir:.1%}, cosine to teacher "
              f"{logs['val_teacher_cos']:.3f}", flush=True)


def split_validation(faces: Faces, people: int, seed: int):
    """Validation people (at least 5 photos each) drawn from ``faces``; the rest trains."""
    counts = faces.counts()
    eligible = np.flatnonzero(counts >= 5)
    rng = np.random.default_rng(seed)
    val = np.sort(rng.choice(eligible, size=min(people, len(eligible)), replace=False))
    keep = np.setdiff1d(np.arange(len(faces.names)), val)
    return faces.subset(keep), faces.subset(val)


def cached_targets(faces: Faces, cache: Path, teacher: str) -> np.ndarray:
    """The teacher's targets for ``faces``, computed once and kept in ``cache``."""
    if cache.exists():
        targets = np.load(cache)["targets"]
        if len(targets) == len(faces):
            return targets
    from tqdm import tqdm

    from edge.bundle import load_bundle

    bundle = load_bundle(teacher)
    with tqdm(total=len(faces), unit="face", desc="teacher") as bar:
        targets = teacher_targets(bundle, faces.images, progress=bar.update)
    np.savez(cache, targets=targets)
    return targets


def build_student(cfg: DistilConfig, init=None) -> keras.Model:
    if init is not None:
        from train.fit import load_branch
        return load_branch(init)
    if cfg.arch == "sface":
        from train.sface import build_sface
        return build_sface(size=cfg.size, colour=cfg.colour)
    from train.models import build
    return build(cfg.arch, size=cfg.size, colour=cfg.colour)


def distil(folders, out_dir, cfg: DistilConfig = DistilConfig(), resume: bool = False,
           verbose: int = 2) -> dict:
    """Train a student on the faces of ``folders`` (112 px RGB crops, one folder per
    person) to embed as the teacher bundle does; save it to ``out_dir`` as a fit output
    (``embedding.keras``, ``summary.json``) that ``siamese-convert`` takes."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)
    faces = merge(*[load_folder(f, 112, "rgb") for f in folders])
    targets = cached_targets(faces, out / TEACHER_FILE, cfg.teacher)
    # split by person on photo indices, so images and teacher targets are picked alike
    labelled = Faces(np.arange(len(faces)), faces.labels, faces.names, faces.colour)
    train, val = split_validation(labelled, cfg.val_people, cfg.seed)
    small = student_faces(faces.images, cfg.size, cfg.colour)
    counts = train.counts()
    classes = np.flatnonzero(counts >= 2)
    remap = np.full(len(train.names), -1)
    remap[classes] = np.arange(len(classes))
    t_train = targets[train.images]
    centres = np.stack([t_train[train.labels == c].mean(0) for c in classes])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.concatenate([t_train, remap[train.labels][:, None]], 1).astype(np.float32)

    student = build_student(cfg, out / CHECKPOINT if resume and (out / CHECKPOINT).exists()
                            else None)
    log = out / "log.csv"
    initial = 0
    if resume and log.exists():
        initial = max(0, len(log.read_text().splitlines()) - 1)
    schedule = keras.optimizers.schedules.CosineDecay(cfg.lr, max(1, cfg.epochs * cfg.steps))
    student.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=5e-5),
                    loss=distil_loss(centres, cfg.cosface_weight, cfg.scale, cfg.margin))
    if initial:  # resume the schedule where it stopped
        student.optimizer.iterations.assign(initial * cfg.steps)
    data = DistilBatches(small[train.images], y, cfg.batch, cfg.steps, cfg.seed + initial)
    val_x = small[val.images]
    kept = mirror_averaged(student) if cfg.mirror else student
    validation = Validation(student, kept, val_x, val.labels, targets[val.images], out, cfg.seed)
    previous = {}
    if initial and (out / "summary.json").exists():   # the best kept so far stays the bar
        previous = json.loads((out / "summary.json").read_text())
        validation.best = previous.get("best_val_teacher_cos", -1.0)
    started = time.time() - previous.get("seconds", 0.0)
    summary = {
        "model": MODEL,
        "config": {**asdict(cfg), "objective": "distil", "val_fraction": 0.0},
        "input": {"size": cfg.size, "colour": cfg.colour, **NORMALISATION},
        "embedding_dim": int(student.output_shape[-1]),
        "distance": "euclidean between L2-normalised embeddings",
        "parameters": int(student.count_params()),
        "mirror_averaged": cfg.mirror,
        "multiply_adds": multiply_adds(student) * (2 if cfg.mirror else 1),   # per face
        "teacher": cfg.teacher,
        "train": {"people": len(train.names), "images": len(train), "classes": len(classes),
                  "folders": [str(f) for f in folders]},
        "validation": {"people": len(val.names), "images": len(val)},
    }

    class Summary(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            summary["epochs_run"] = epoch + 1
            summary["seconds"] = round(time.time() - started, 1)
            summary["best_val_teacher_cos"] = validation.best
            (out / "summary.json").write_text(json.dumps(summary, indent=2))

    if initial < cfg.epochs:
        student.fit(distribute.as_dataset(data), steps_per_epoch=cfg.steps, epochs=cfg.epochs,
                    initial_epoch=initial, verbose=verbose, shuffle=False,  # drawn at random already
                    callbacks=[validation, keras.callbacks.CSVLogger(str(log), append=resume),
                               Summary()])
    return _shipped_form(out, cfg.mirror)


def _shipped_form(out: Path, mirror: bool) -> dict:
    """The kept student in the form asked for: a run whose kept model is not yet
    mirror-averaged (made before ``mirror`` existed) is wrapped and saved again."""
    summary = json.loads((out / "summary.json").read_text())
    if mirror and not summary.get("mirror_averaged"):
        from train.fit import load_branch

        mirror_averaged(load_branch(out / MODEL)).save(out / MODEL)
        summary.update(mirror_averaged=True, multiply_adds=2 * summary["multiply_adds"])
        summary["config"]["mirror"] = True
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
