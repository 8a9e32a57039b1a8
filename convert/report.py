"""Validating every TFLite variant against the Keras model, and calibrating thresholds.

The figures are ``edge.metrics``'s (lab scores, the wild protocol's open set, the
threshold for a gallery's size); this file puts them side by side and writes the table.
"""
from __future__ import annotations

import numpy as np

from edge import metrics
from edge.embed import Embedder

REFERENCE_GALLERY = metrics.REFERENCE_GALLERY   # faces stored when the bundle's threshold is stated


def variant_scores(emb: np.ndarray, ref: np.ndarray, labels, calib_emb, calib_labels,
                   n_way: int, trials: int, seed: int, fpir: float = metrics.FPIR_TARGET,
                   gallery: int = REFERENCE_GALLERY, wild=None, rounds: int = 5) -> dict:
    """Agreement with the reference, one-shot and verification (lab), the open-set wild
    protocol when ``wild`` = (embeddings, labels) is given, and the identification
    calibration on people used for nothing else: the different-person distance curve
    from which the device reads its threshold for a gallery's size, and the threshold
    it gives for ``gallery`` stored faces at ``fpir`` (the bundle's own threshold)."""
    cos = (emb * ref).sum(1)
    threshold, curve = metrics.identification_threshold(calib_emb, calib_labels, gallery, fpir)
    out = {
        "cosine_to_keras": {"mean": float(cos.mean()), "worst": float(cos.min())},
        **metrics.lab_scores(emb, labels, threshold, n_way, trials, seed),
        "threshold": threshold,
        "identification": {"fpir": fpir, "gallery": gallery, **curve},
    }
    if wild is not None:
        out["wild"] = metrics.open_set(wild[0], wild[1], threshold, rounds=rounds, seed=seed,
                                       fpir=fpir).as_dict()
    return out


def embed_with(path, faces, threads=2) -> np.ndarray:
    e = Embedder(path, threads=threads)
    return np.concatenate([e.embed(faces[i:i + 64]) for i in range(0, len(faces), 64)])


def markdown(report: dict) -> str:
    """The conversion report as a Markdown table."""
    # the N-way actually measured: fewer held-out people than asked for make it smaller
    n_way = next(iter(report["variants"].values()))["one_shot"].get("n_way", report["n_way"])
    lines = [f"# Conversion report: {report['name']}", "",
             f"Held-out faces: {report['eval']['people']} people, {report['eval']['images']} "
             f"images ({report['eval']['folder']}). Thresholds calibrated on "
             f"{report['calibration']['people']} people used for nothing else "
             f"({report['calibration']['images']} images), rule: {report['calibration']['rule']}.",
             "", "| variant | size | cosine to Keras (mean / worst) | "
             f"{n_way}-way one-shot (95% CI) | AUC | EER | threshold | accuracy at threshold |",
             "|---|---|---|---|---|---|---|---|"]
    for name, v in report["variants"].items():
        s, ver = v["one_shot"], v["verification"]
        cos = v.get("cosine_to_keras", {"mean": 1.0, "worst": 1.0})
        size = f"{v['bytes'] / 1e6:.2f} MB" if "bytes" in v else "-"
        lines.append(f"| {name} | {size} | {cos['mean']:.5f} / {cos['worst']:.5f} | "
                     f"{s['accuracy']:.2%} ({s['ci95'][0]:.1%}-{s['ci95'][1]:.1%}) | "
                     f"{ver['auc']:.4f} | {ver['eer']:.1%} | {v['threshold']:.3f} | "
                     f"{ver['accuracy_at_threshold']:.1%} |")
    wild = {k: v["wild"] for k, v in report["variants"].items() if "wild" in v}
    if wild:
        w0 = next(iter(wild.values()))
        lines += ["", f"Wild protocol (open set, {report['wild']['folder']}): {w0['enrolled']} of "
                  f"{w0['people']} people enrolled by one photo, every other photo identified, "
                  f"{w0['rounds']} seeded rounds, at each variant's threshold.", "",
                  "| variant | known named right | known named WRONG | strangers accepted | "
                  f"right at {w0['fpir']:.0%} strangers accepted |", "|---|---|---|---|---|"]
        for name, w in wild.items():
            lines.append(f"| {name} | {w['known_right']:.1%} | {w['known_wrong']:.2%} | "
                         f"{w['strangers_accepted']:.2%} | {w['right_at_fpir']:.1%} |")
    if "shipped" in report:
        lines += ["", f"Shipped in the bundle: {', '.join(report['shipped'])}."]
    lines += ["", f"int8 size ratio fp32/int8: {report.get('int8_size_ratio', 0):.2f}x; "
              f"int8 one-shot change vs Keras: {report.get('int8_one_shot_change', 0):+.2f} points "
              f"(tolerance {report['tolerance']} points): "
              f"{'PASS' if report.get('int8_ok', True) else 'FAIL'}"]
    return "\n".join(lines) + "\n"
