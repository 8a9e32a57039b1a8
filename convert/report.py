"""Validating every TFLite variant against the Keras model, and calibrating thresholds."""
from __future__ import annotations

import numpy as np

from edge import metrics
from edge.embed import Embedder


def variant_scores(emb: np.ndarray, ref: np.ndarray, labels, calib_emb, calib_labels,
                   n_way: int, trials: int, seed: int, rule: str = "far:0.01") -> dict:
    """Agreement with the reference, one-shot and verification, and the threshold
    calibrated on separate validation people by ``rule`` (see edge.metrics.calibrate)."""
    cos = (emb * ref).sum(1)
    pairs, same = metrics.verification_pairs(calib_labels, seed)
    threshold = metrics.calibrate(metrics.pair_distances(calib_emb, pairs), same, rule)
    n_way = min(n_way, int((np.bincount(labels) >= 2).sum()))
    return {
        "cosine_to_keras": {"mean": float(cos.mean()), "worst": float(cos.min())},
        "one_shot": metrics.one_shot(emb, labels, n_way, trials, seed).as_dict(),
        "verification": metrics.verification(emb, labels, threshold, seed),
        "threshold": threshold,
    }


def embed_with(path, faces, threads=2) -> np.ndarray:
    e = Embedder(path, threads=threads)
    return np.concatenate([e.embed(faces[i:i + 64]) for i in range(0, len(faces), 64)])


def markdown(report: dict) -> str:
    """The conversion report as a Markdown table."""
    lines = [f"# Conversion report: {report['name']}", "",
             f"Held-out faces: {report['eval']['people']} people, {report['eval']['images']} "
             f"images ({report['eval']['folder']}). Thresholds calibrated on "
             f"{report['calibration']['people']} validation people, rule: {report['calibration']['rule']}.",
             "", "| variant | size | cosine to Keras (mean / worst) | "
             f"{report['n_way']}-way one-shot (95% CI) | AUC | EER | threshold | accuracy at threshold |",
             "|---|---|---|---|---|---|---|---|"]
    for name, v in report["variants"].items():
        s, ver = v["one_shot"], v["verification"]
        cos = v.get("cosine_to_keras", {"mean": 1.0, "worst": 1.0})
        size = f"{v['bytes'] / 1e6:.2f} MB" if "bytes" in v else "-"
        lines.append(f"| {name} | {size} | {cos['mean']:.5f} / {cos['worst']:.5f} | "
                     f"{s['accuracy']:.2%} ({s['ci95'][0]:.1%}-{s['ci95'][1]:.1%}) | "
                     f"{ver['auc']:.4f} | {ver['eer']:.1%} | {v['threshold']:.3f} | "
                     f"{ver['accuracy_at_threshold']:.1%} |")
    if "shipped" in report:
        lines += ["", f"Shipped in the bundle: {', '.join(report['shipped'])}."]
    lines += ["", f"int8 size ratio fp32/int8: {report.get('int8_size_ratio', 0):.2f}x; "
              f"int8 one-shot change vs Keras: {report.get('int8_one_shot_change', 0):+.2f} points "
              f"(tolerance {report['tolerance']} points): "
              f"{'PASS' if report.get('int8_ok', True) else 'FAIL'}"]
    return "\n".join(lines) + "\n"
