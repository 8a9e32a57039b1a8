"""Evaluation on people never trained on: N-way one-shot, verification ROC, EER, and the
wild protocol's open set.

This file embeds faces with a Keras branch and writes the results; every figure is
computed by ``edge.metrics`` (numpy only), so the device, the conversion report and the
benchmarks report the same figures with their TFLite models.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edge import metrics
from edge.align import normalise
from train.data import Faces


def embed_faces(branch, faces: np.ndarray, batch: int = 32) -> np.ndarray:
    """L2-normalised embeddings of uint8 faces through a Keras embedding branch."""
    out = []
    for i in range(0, len(faces), batch):
        out.append(np.asarray(branch(normalise(faces[i:i + batch], 127.5, 128.0),
                                     training=False)))
    e = np.concatenate(out).astype(np.float64)
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)


def roc_png(emb_by_name: dict, labels, path, seed: int = 0):
    """ROC curves of one or more embeddings of the same faces, on one chart."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, emb in emb_by_name.items():
        r = metrics.roc(*metrics.verification_distances(emb, labels, seed))
        ax.plot(r.fpr, r.tpr, label=f"{name} (AUC {r.auc:.4f}, EER {r.eer:.1%})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title("Verification ROC, unseen people")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def wild_scores(emb, labels, calib_emb=None, calib_labels=None, threshold=None, rounds=5,
                seed=0, fpir=metrics.FPIR_TARGET, gallery=metrics.REFERENCE_GALLERY) -> dict:
    """The wild protocol's open set: at ``threshold``, else at the threshold calibrated
    on the calibration people for ``gallery`` stored faces at ``fpir`` (when given)."""
    calibrated = threshold is None and calib_emb is not None
    if calibrated:
        threshold, _ = metrics.identification_threshold(calib_emb, calib_labels, gallery, fpir)
    r = metrics.open_set(emb, labels, threshold, rounds=rounds, seed=seed, fpir=fpir).as_dict()
    r["threshold_calibrated"] = calibrated
    return r


def evaluate(model_path, faces: Faces, out_dir=None, n_way=20, trials=2000, seed=0,
             threshold=None, wild: Faces | None = None, calibration: Faces | None = None,
             rounds: int = 5) -> dict:
    """Evaluate a saved embedding branch on a face folder (and the wild protocol's
    people, ``wild``, with a threshold calibrated on ``calibration``); write JSON and a
    ROC PNG."""
    from train.fit import load_branch

    branch = load_branch(model_path)
    emb = embed_faces(branch, faces.images)
    result = {"model": str(model_path), "people": len(faces.names), "images": len(faces),
              **metrics.lab_scores(emb, faces.labels, threshold, n_way, trials, seed)}
    if wild is not None:
        calibration = calibration.detected() if calibration is not None else None
        cal = embed_faces(branch, calibration.images) if calibration is not None else None
        result["wild"] = {"people": len(wild.names), "images": len(wild),
                          **wild_scores(embed_faces(branch, wild.images), wild.labels, cal,
                                        None if calibration is None else calibration.labels,
                                        threshold, rounds, seed)}
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.json").write_text(json.dumps(result, indent=2))
        roc_png({Path(model_path).stem: emb}, faces.labels, out / "roc.png", seed)
    return result
