"""Fitting an embedding branch with a Siamese objective, and saving it with a summary."""
from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np

from edge import metrics
from train import batches, distribute, losses
from train.data import Faces, check_trainable, split_people
from train.evaluate import embed_faces
from train.models import (ARCHITECTURES, NORMALISATION, build, freeze, mirror_averaged,
                          multiply_adds, siamese)

OBJECTIVES = ("cosface", "triplet", "contrastive")
MODEL_FILE = "embedding.keras"
SUMMARY_FILE = "summary.json"


@dataclass
class FitConfig:
    arch: str = "edge"
    objective: str = "cosface"
    epochs: int = 12
    steps: int = 60                # batches per epoch
    batch: int = 64
    lr: float = 2e-3
    margin: float | None = None    # objective's margin (default per objective)
    scale: float = 16.0            # cosface logit scale (16 beat 30 on validation AUC)
    mining: str = "batch-hard"     # triplet mining: batch-hard or semi-hard
    val_fraction: float = 0.1
    patience: int = 8
    seed: int = 0
    augment: bool = True
    flip: bool = True              # horizontal flips (off for characters)
    strategy: str = "default"      # or "mirrored", "multi-worker" (train.distribute)
    init: str | None = None        # pretrained weights (sface ONNX) for --arch sface
    freeze: int = 0                # leading blocks kept frozen when fine-tuning
    dim: int | None = None
    size: int | None = None
    mirror: bool | None = None     # embed each face with its mirror image (default: per arch)

    def uses_mirror(self) -> bool:
        """Mirror-averaged embeddings: as asked, else the architecture's default, and
        never for data that is not mirror-symmetric (``flip`` off, e.g. characters)."""
        if self.mirror is not None:
            return self.mirror
        return self.flip and bool(ARCHITECTURES.get(self.arch, {}).get("mirror", False))


class ValidationScore(keras.callbacks.Callback):
    """Per epoch: verification AUC and one-shot accuracy on the held-out people."""

    def __init__(self, branch, val: Faces, seed: int):
        super().__init__()
        self.branch, self.val, self.seed = branch, val, seed

    def on_epoch_end(self, epoch, logs=None):
        emb = embed_faces(self.branch, self.val.images)
        r = metrics.lab_scores(emb, self.val.labels, n_way=20, trials=300, seed=self.seed)
        logs["val_auc"] = r["verification"]["auc"]
        logs["val_one_shot"] = r["one_shot"]["accuracy"]


def _trainer(branch, cfg: FitConfig, n_classes: int):
    """The trainable model, its loss and the batch class for the objective."""
    if cfg.objective == "cosface":
        label = keras.Input((), dtype="int32", name="label")
        head = losses.CosFace(n_classes, cfg.scale, 0.35 if cfg.margin is None else cfg.margin)
        logits = head([branch.output, label])
        model = keras.Model([branch.input, label], logits)
        return model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), batches.LabelBatches
    if cfg.objective == "triplet":
        return branch, losses.triplet(0.3 if cfg.margin is None else cfg.margin, cfg.mining), batches.PKBatches
    if cfg.objective == "contrastive":
        return siamese(branch), losses.contrastive(1.0 if cfg.margin is None else cfg.margin), batches.PairBatches
    raise ValueError(f"unknown objective {cfg.objective!r} (known: {', '.join(OBJECTIVES)})")


def fit(faces: Faces, out_dir, cfg: FitConfig = FitConfig(), verbose: int = 2,
        val: Faces | None = None) -> dict:
    """Train on ``faces`` and save to ``out_dir``. Validation people are split off
    ``faces`` (``cfg.val_fraction``) unless ``val`` gives them (identity-disjoint)."""
    if cfg.arch not in ARCHITECTURES and cfg.arch != "sface":
        build(cfg.arch)  # raises the clear unknown-architecture error
    check_trainable(faces, cfg.objective)
    strat = distribute.strategy(cfg.strategy)   # first: it sets up the workers' links
    keras.utils.set_random_seed(cfg.seed)
    train, val = (faces, val) if val is not None else split_people(faces, cfg.val_fraction,
                                                                    cfg.seed)
    index, _ = distribute.worker()
    # only the chief writes; the other workers write into a folder that is thrown away
    out = Path(out_dir) if index == 0 else Path(tempfile.mkdtemp(prefix="siamese-worker-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _fit(faces, train, val, out, cfg, strat, index, verbose)
    finally:
        if index:
            shutil.rmtree(out, ignore_errors=True)


def _fit(faces, train, val, out, cfg, strat, index, verbose):
    colour = faces.colour
    with distribute.scope(strat):
        branch = build(cfg.arch, size=faces.size, dim=cfg.dim, colour=colour, init=cfg.init)
        if branch.input_shape[1] != faces.size or (branch.input_shape[3] == 1) != (colour == "grey"):
            raise ValueError(f"architecture {cfg.arch} takes {branch.input_shape[1]}px "
                             f"{'grey' if branch.input_shape[3] == 1 else 'rgb'} faces; "
                             f"the data is {faces.size}px {colour} (prepare with --size/--colour)")
        frozen = freeze(branch, cfg.freeze)
        # what is saved and validated: the branch itself, or with the mirror image (shared weights)
        embedding = mirror_averaged(branch) if cfg.uses_mirror() else branch
        model, loss, batch_cls = _trainer(branch, cfg, len(train.names))
        schedule = keras.optimizers.schedules.CosineDecay(cfg.lr, max(1, cfg.epochs * cfg.steps),
                                                          warmup_target=None)
        model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=5e-4), loss=loss)
    # each worker draws its own batches, from its own seed, through tf.data
    drawer = batch_cls(train, cfg.batch, cfg.steps, cfg.seed + 7919 * index, cfg.augment,
                       cfg.flip)
    distribute.prepare_model(model, strat, drawer[0])
    data = distribute.as_dataset(drawer)
    callbacks = [keras.callbacks.CSVLogger(str(out / "log.csv"))]
    if importlib.util.find_spec("tensorboard"):
        callbacks.append(keras.callbacks.TensorBoard(str(out / "tensorboard"), write_graph=False))
    if val is not None:
        callbacks.insert(0, ValidationScore(embedding, val, cfg.seed))
        callbacks.insert(1, keras.callbacks.EarlyStopping("val_auc", mode="max",
                                                          patience=cfg.patience,
                                                          restore_best_weights=True))
    started = time.time()
    if cfg.epochs > 0:
        # shuffle=False: the batches are drawn at random already (Keras cannot shuffle a
        # tf.data stream and warns when asked to, which it is by default)
        history = model.fit(data, epochs=cfg.epochs, steps_per_epoch=cfg.steps, shuffle=False,
                            callbacks=callbacks, verbose=verbose).history
    else:  # keep the network as initialised (a pretrained start, measured as it is)
        history = {"loss": []}
        if val is not None:
            ValidationScore(embedding, val, cfg.seed).on_epoch_end(0, logs := {})
            history.update({k: [v] for k, v in logs.items()})
    seconds = time.time() - started
    embedding.save(out / MODEL_FILE)
    summary = {
        "model": MODEL_FILE,
        "config": asdict(cfg),
        "input": {"size": faces.size, "colour": colour, **NORMALISATION},
        "embedding_dim": int(branch.output_shape[-1]),
        "distance": "euclidean between L2-normalised embeddings",
        "parameters": int(branch.count_params()),
        "frozen_blocks": frozen,
        "mirror_averaged": embedding is not branch,
        "multiply_adds": multiply_adds(branch) * (2 if embedding is not branch else 1),  # per face
        "train": {"people": len(train.names), "images": len(train)},
        "validation": None if val is None else {"people": len(val.names), "images": len(val)},
        "epochs_run": len(history["loss"]),
        "seconds": round(seconds, 1),
        "history": {k: [float(v) for v in vals] for k, vals in history.items()},
    }
    if val is not None:
        best = int(np.argmax(history["val_auc"]))
        summary["best_epoch"] = best + 1 if cfg.epochs else 0
        summary["best_val_auc"] = float(history["val_auc"][best])
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    return summary


def load_branch(path):
    """Load a saved embedding branch (``embedding.keras`` or a run folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no saved model")
    custom = {"CosFace": losses.CosFace}
    return keras.models.load_model(path, custom_objects=custom, compile=False)
