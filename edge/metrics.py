"""Recognition metrics in numpy alone: N-way one-shot, verification ROC, EER, thresholds.

Used by training's evaluation, the conversion report and ``edge-bench`` alike, so a
figure means the same thing wherever it is printed. Distances are Euclidean between
embeddings (L2-normalised by the networks here); smaller means more alike.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# numpy < 2 (the tflite-runtime set-up of older Pis) has trapz but not trapezoid
_trapezoid = getattr(np, "trapezoid", None) or np.trapz


def pairwise_distances(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distances between every row of ``a`` and every row of ``b``."""
    a = np.asarray(a, dtype=np.float64)
    b = a if b is None else np.asarray(b, dtype=np.float64)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.maximum(sq, 0.0))


@dataclass
class OneShot:
    n_way: int
    trials: int
    accuracy: float
    ci95: tuple[float, float]

    def as_dict(self):
        return asdict(self)


def one_shot(embeddings: np.ndarray, labels, n_way: int = 20, trials: int = 2000,
             seed: int = 0) -> OneShot:
    """N-way one-shot identification over seeded random trials.

    Each trial picks ``n_way`` people, one gallery image of each (the one snapshot),
    and one different probe image of one of them; it is correct when the nearest
    gallery image belongs to the probe's person. The interval is the normal
    approximation of the binomial (1.96 standard errors).
    """
    labels = np.asarray(labels)
    people = [np.flatnonzero(labels == p) for p in np.unique(labels)]
    people = [idx for idx in people if len(idx) >= 2]
    if len(people) < n_way:
        raise ValueError(f"{n_way}-way one-shot needs {n_way} people with two or more "
                         f"images; found {len(people)}")
    dist = pairwise_distances(embeddings)
    rng = np.random.default_rng(seed)
    correct = 0
    for _ in range(trials):
        chosen = rng.choice(len(people), size=n_way, replace=False)
        shots = [rng.choice(people[c], size=2, replace=False) for c in chosen]
        gallery = np.array([s[0] for s in shots])
        target = rng.integers(n_way)
        probe = shots[target][1]
        correct += int(np.argmin(dist[probe, gallery]) == target)
    p = correct / trials
    half = 1.96 * np.sqrt(p * (1 - p) / trials)
    return OneShot(n_way, trials, p, (max(0.0, p - half), min(1.0, p + half)))


def verification_pairs(labels, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """All same-person pairs and as many different-person pairs sampled at random.

    Returns (pairs as an Mx2 index array, same-person flags).
    """
    labels = np.asarray(labels)
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    pos = np.stack([i[same], j[same]], 1)
    neg_all = np.stack([i[~same], j[~same]], 1)
    rng = np.random.default_rng(seed)
    take = min(len(pos), len(neg_all))
    neg = neg_all[rng.choice(len(neg_all), size=take, replace=False)]
    pairs = np.concatenate([pos, neg])
    flags = np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg), bool)])
    return pairs, flags


def pair_distances(embeddings: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    e = np.asarray(embeddings, dtype=np.float64)
    return np.linalg.norm(e[pairs[:, 0]] - e[pairs[:, 1]], axis=1)


@dataclass
class Roc:
    thresholds: np.ndarray   # ascending distances
    tpr: np.ndarray          # same-person pairs accepted (distance <= threshold)
    fpr: np.ndarray          # different-person pairs accepted
    auc: float
    eer: float
    eer_threshold: float


def roc(distances: np.ndarray, same: np.ndarray) -> Roc:
    """ROC of "same person when distance <= t" over every threshold t."""
    distances = np.asarray(distances, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    order = np.argsort(distances, kind="mergesort")
    d, s = distances[order], same[order]
    tp = np.cumsum(s)
    fp = np.cumsum(~s)
    last = np.r_[np.diff(d) > 0, True]          # one point per distinct threshold
    tpr = np.r_[0.0, tp[last] / max(s.sum(), 1)]
    fpr = np.r_[0.0, fp[last] / max((~s).sum(), 1)]
    thresholds = np.r_[d[0] - 1e-9 if len(d) else 0.0, d[last]]
    auc = float(_trapezoid(tpr, fpr))
    fnr = 1.0 - tpr
    k = int(np.argmin(np.abs(fnr - fpr)))
    eer = float((fnr[k] + fpr[k]) / 2)
    return Roc(thresholds, tpr, fpr, auc, eer, float(thresholds[k]))


def accuracy_at(distances: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Verification accuracy when pairs at distance <= threshold are called the same."""
    return float(np.mean((np.asarray(distances) <= threshold) == np.asarray(same, bool)))


def calibrate_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold of best balanced accuracy, (TPR + TNR) / 2, on these pairs.

    Returned midway between the chosen distance and the next larger one, so a small
    shift (quantisation) does not flip the pairs that sit exactly on it.
    """
    r = roc(distances, same)
    balanced = (r.tpr + 1.0 - r.fpr) / 2
    k = int(np.argmax(balanced))
    if k + 1 < len(r.thresholds):
        return float((r.thresholds[k] + r.thresholds[k + 1]) / 2)
    return float(r.thresholds[k])


def threshold_at_far(distances: np.ndarray, same: np.ndarray, far: float) -> float:
    """The largest threshold whose false-accept rate on these pairs is at most ``far``:
    midway between the last different-person distance it rejects and the one before."""
    neg = np.sort(np.asarray(distances, dtype=np.float64)[~np.asarray(same, bool)])
    if not len(neg):
        raise ValueError("no different-person pairs to calibrate on")
    k = int(np.floor(far * len(neg)))        # different-person pairs allowed through
    if k >= len(neg):
        return float(neg[-1])
    return float((neg[k] + neg[k - 1]) / 2) if k > 0 else float(neg[0] - 1e-6)


def calibrate(distances: np.ndarray, same: np.ndarray, rule: str) -> float:
    """A threshold by rule: ``balanced`` (best balanced accuracy) or ``far:X`` (a target
    false-accept rate X, e.g. far:0.01)."""
    if rule == "balanced":
        return calibrate_threshold(distances, same)
    if rule.startswith("far:"):
        try:
            far = float(rule[4:])
        except ValueError:
            far = -1.0
        if 0.0 <= far < 1.0:
            return threshold_at_far(distances, same, far)
    raise ValueError(f"unknown threshold rule {rule!r} (balanced, or far:X with 0 <= X < 1)")


def verification(embeddings: np.ndarray, labels, threshold: float | None = None,
                 seed: int = 0) -> dict:
    """AUC, EER and accuracy at ``threshold`` (calibrated on these pairs when None)."""
    pairs, same = verification_pairs(labels, seed)
    d = pair_distances(embeddings, pairs)
    r = roc(d, same)
    calibrated = threshold is None
    if calibrated:
        threshold = calibrate_threshold(d, same)
    return {
        "pairs": int(len(pairs)),
        "auc": r.auc,
        "eer": r.eer,
        "threshold": float(threshold),
        "threshold_calibrated_here": calibrated,
        "accuracy_at_threshold": accuracy_at(d, same, threshold),
    }
