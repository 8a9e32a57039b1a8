"""Recognition metrics in numpy alone: N-way one-shot, verification ROC, EER, open-set
identification (the wild protocol) and thresholds for identification by gallery size.

The only place these figures are computed: training's evaluation and distillation
(``train.evaluate``, ``train.distil``), the conversion report (``convert.report``),
``edge-bench``, the demo and ``benchmarks/`` call it, so a figure means the same thing
wherever it is printed. The entry points:

- ``lab_scores``: the lab figures of labelled faces (N-way one-shot, verification AUC,
  EER and accuracy at a threshold);
- ``open_set``: the wild protocol (known named right / wrong, strangers accepted, right
  at 1% strangers); ``identification_shares`` the same three shares for any decisions;
- ``identification_threshold``: the threshold for a gallery's size from calibration
  people, as a bundle states it;
- ``clip_naming``: faces named right in a clip of known truth (``edge.clips``).

Distances are Euclidean between embeddings (L2-normalised by the networks here);
smaller means more alike.
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


def n_way_for(labels, n_way: int = 20) -> int:
    """The N of an N-way one-shot on these labels: ``n_way``, or fewer when fewer people
    have the two images a trial needs (0 or 1: no one-shot can be run)."""
    counts = np.unique(np.asarray(labels), return_counts=True)[1]
    return min(int(n_way), int((counts >= 2).sum()))


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


def verification_distances(embeddings: np.ndarray, labels,
                           seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(distances, same-person flags) of the verification pairs (``verification_pairs``)."""
    pairs, same = verification_pairs(labels, seed)
    return pair_distances(embeddings, pairs), same


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


def roc_points(r: Roc, points: int = 200) -> dict:
    """The curve thinned to about ``points`` points (every k-th), for a JSON file or plot."""
    step = max(1, len(r.fpr) // max(int(points), 1))
    return {"fpr": r.fpr[::step].tolist(), "tpr": r.tpr[::step].tolist()}


def verification(embeddings: np.ndarray, labels, threshold: float | None = None,
                 seed: int = 0, curve_points: int = 0) -> dict:
    """AUC, EER and accuracy at ``threshold`` (calibrated on these pairs when None) on
    the verification pairs; with ``curve_points`` > 0, also the ROC thinned to about
    that many points (``roc_points``) as ``roc``."""
    d, same = verification_distances(embeddings, labels, seed)
    r = roc(d, same)
    calibrated = threshold is None
    if calibrated:
        threshold = calibrate_threshold(d, same)
    out = {
        "pairs": int(len(d)),
        "auc": r.auc,
        "eer": r.eer,
        "threshold": float(threshold),
        "threshold_calibrated_here": calibrated,
        "accuracy_at_threshold": accuracy_at(d, same, threshold),
    }
    if curve_points > 0:
        out["roc"] = roc_points(r, curve_points)
    return out


def lab_scores(embeddings: np.ndarray, labels, threshold: float | None = None,
               n_way: int = 20, trials: int = 2000, seed: int = 0,
               curve_points: int = 0) -> dict:
    """The lab figures of labelled faces: ``one_shot`` (``OneShot.as_dict``, N capped by
    ``n_way_for``) and ``verification`` (``verification``: at ``threshold``, or
    calibrated on these pairs when None). The one-shot needs two people with two images."""
    shot = one_shot(embeddings, labels, n_way_for(labels, n_way), trials, seed)
    return {"one_shot": shot.as_dict(),
            "verification": verification(embeddings, labels, threshold, seed, curve_points)}


# ---- open-set identification (the wild protocol of the shared data's README) ------------

FPIR_TARGET = 0.01   # the default promise: at most 1% of strangers named as someone
REFERENCE_GALLERY = 50   # stored faces a bundle's own threshold is stated for (the wild protocol's)


def identification_shares(known, accepted, right) -> dict:
    """The open-set shares of a set of probes, one flag each: ``known`` (the person is
    enrolled), ``accepted`` (named as someone), ``right`` (the name given, or the nearest
    person's, is theirs).

    ``known_right``: known probes named as themselves, of known probes; ``known_wrong``:
    known probes named as someone else, of known probes; ``strangers_accepted``: strangers
    named as anyone, of strangers (FPIR). A probe not named (no face, or too far) is
    neither right nor wrong.
    """
    known, accepted, right = (np.asarray(a, bool) for a in (known, accepted, right))
    n_known, n_strangers = int(known.sum()), int((~known).sum())
    return {"known_right": float((known & right & accepted).sum() / max(n_known, 1)),
            "known_wrong": float((known & ~right & accepted).sum() / max(n_known, 1)),
            "strangers_accepted": float((~known & accepted).sum() / max(n_strangers, 1))}


@dataclass
class OpenSet:
    """Open-set one-shot identification, averaged over seeded rounds.

    ``known_right`` / ``known_wrong``: of the enrolled people's other photos, named as
    themselves / as someone else (the rest are called unknown); ``strangers_accepted``:
    of the photos of people not enrolled, named as someone (FPIR); ``right_at_fpir``: known
    named right when each round's threshold lets through ``fpir`` of its strangers.
    """
    rounds: int
    enrolled: int              # people enrolled per round
    people: int
    threshold: float | None
    known_probes: int          # per round, summed over rounds
    stranger_probes: int
    known_right: float | None
    known_wrong: float | None
    strangers_accepted: float | None
    fpir: float
    right_at_fpir: float
    per_round: list

    def as_dict(self):
        return asdict(self)


def open_set_round(embeddings: np.ndarray, labels, gallery, threshold: float | None = None,
                   fpir: float = FPIR_TARGET, dist: np.ndarray | None = None) -> dict:
    """One round of open-set identification with the photos ``gallery`` enrolled (one
    index per enrolled person); every other photo is a probe. A probe is named as its
    nearest enrolled photo's person when that distance is at most ``threshold``.

    Returns the probe counts and the shares named right / wrong among known probes and
    accepted among strangers (when a threshold is given), and known named right at the
    largest threshold that accepts at most ``fpir`` of this round's strangers.
    """
    labels = np.asarray(labels)
    gallery = np.asarray(gallery, dtype=int)
    if len(set(labels[gallery].tolist())) != len(gallery):
        raise ValueError("the gallery must hold one photo per enrolled person")
    probes = np.setdiff1d(np.arange(len(labels)), gallery)
    g = (pairwise_distances(np.asarray(embeddings)[probes], np.asarray(embeddings)[gallery])
         if dist is None else dist[np.ix_(probes, gallery)])
    nearest = np.argmin(g, axis=1)
    d = g[np.arange(len(probes)), nearest]
    known = np.isin(labels[probes], labels[gallery])
    right = labels[gallery][nearest] == labels[probes]
    stranger_d = np.sort(d[~known])
    allowed = int(np.floor(fpir * len(stranger_d)))     # strangers that may get through
    if allowed >= len(stranger_d):
        t_fpir = np.inf
    else:  # just below the first stranger that must be turned away
        t_fpir = np.nextafter(stranger_d[allowed], -np.inf)
    out = {"known_probes": int(known.sum()), "stranger_probes": int((~known).sum()),
           "right_at_fpir": identification_shares(known, d <= t_fpir, right)["known_right"]}
    if threshold is not None:
        out.update(identification_shares(known, d <= threshold, right))
    return out


def open_set_gallery(labels, enrolled: int, rng: np.random.Generator, enrollable=None):
    """One round's gallery: ``enrolled`` people drawn at random among those with an
    enrollable photo and another photo, each by the first photo, in a random order, that
    ``enrollable`` accepts."""
    labels = np.asarray(labels)
    ok = np.ones(len(labels), bool) if enrollable is None else np.asarray(enrollable, bool)
    people = [p for p in np.unique(labels) if np.any(ok & (labels == p))
              and np.sum(labels == p) >= 2]
    if enrolled > len(people):
        raise ValueError(f"cannot enrol {enrolled} people: only {len(people)} have an "
                         "enrollable photo and another to probe with")
    chosen = rng.choice(people, size=enrolled, replace=False)
    perm = rng.permutation(len(labels))
    return np.array([next(i for i in perm if labels[i] == p and ok[i]) for p in sorted(chosen)])


def open_set(embeddings: np.ndarray, labels, threshold: float | None = None,
             enrolled: int | None = None, rounds: int = 5, seed: int = 0,
             fpir: float = FPIR_TARGET, enrollable=None) -> OpenSet:
    """The wild protocol's open-set one-shot identification over seeded rounds.

    Each round (``numpy.random.default_rng([seed, round])``) enrols ``enrolled`` people
    (default: half of them) by one photo each (``open_set_gallery``) and identifies every
    other photo of all the people (``open_set_round``); the shares are averaged over rounds.
    """
    labels = np.asarray(labels)
    n_people = len(np.unique(labels))
    n = n_people // 2 if enrolled is None else int(enrolled)
    if not 1 <= n < n_people:
        raise ValueError(f"open set needs enrolled people and strangers: {n} of {n_people} "
                         "people asked to be enrolled")
    if rounds < 1:
        raise ValueError("open set needs at least one round")
    dist = pairwise_distances(embeddings)
    per_round = [open_set_round(embeddings, labels,
                                open_set_gallery(labels, n, np.random.default_rng([seed, r]),
                                                 enrollable),
                                threshold, fpir, dist) for r in range(rounds)]

    def mean(key):
        return float(np.mean([r[key] for r in per_round])) if key in per_round[0] else None

    return OpenSet(rounds, n, n_people, threshold,
                   sum(r["known_probes"] for r in per_round),
                   sum(r["stranger_probes"] for r in per_round),
                   mean("known_right"), mean("known_wrong"), mean("strangers_accepted"),
                   fpir, mean("right_at_fpir"), per_round)


# ---- thresholds for identification: a promise about strangers, by gallery size -----------

def impostor_far_curve(embeddings: np.ndarray, labels, points: int = 64,
                       confidence: float = 0.95, resamples: int = 200, seed: int = 0) -> dict:
    """Different-person distances of the calibration people, as a false-accept curve:
    ``threshold[i]`` is the largest distance at which at most ``far[i]`` of
    different-person pairs are accepted, with ``confidence``: the calibration people are
    resampled (``resamples`` bootstrap draws of people, with replacement) and the share
    of pairs accepted must stay within ``far[i]`` in that fraction of draws. A hundred
    people are a small sample of everyone a camera sees; the bound makes the threshold
    hold for people who look more alike than these. ``far`` is a log grid from the
    smallest share the pairs can resolve up to 50%."""
    labels = np.asarray(labels)
    people, who = np.unique(labels, return_inverse=True)
    i, j = np.triu_indices(len(labels), k=1)
    diff = who[i] != who[j]
    i, j = i[diff], j[diff]
    e = np.asarray(embeddings, dtype=np.float64)
    d = np.linalg.norm(e[i] - e[j], axis=1)
    if len(d) < 100 or len(people) < 3:
        raise ValueError(f"{len(people)} people, {len(d)} different-person pairs: too few "
                         "to calibrate on")
    order = np.argsort(d, kind="stable")
    d, pi, pj = d[order], who[i][order], who[j][order]
    far = np.geomspace(1.0 / len(d), 0.5, points)
    # candidate thresholds: every distance at the grid's shares, and finer between them
    candidates = np.unique(np.quantile(d, np.geomspace(1.0 / len(d), 0.6, 8 * points)))
    upto = np.searchsorted(d, candidates, side="right")
    rng = np.random.default_rng(seed)
    shares = np.empty((resamples, len(candidates)))
    for r in range(resamples):
        w = rng.multinomial(len(people), np.full(len(people), 1.0 / len(people))).astype(float)
        cum = np.r_[0.0, np.cumsum(w[pi] * w[pj])]
        shares[r] = cum[upto] / max(cum[-1], 1e-12)
    bound = np.quantile(shares, confidence, axis=0)   # the share accepted, pessimistically
    bound = np.maximum.accumulate(bound)
    thresholds = []
    for f in far:
        ok = np.flatnonzero(bound <= f)
        thresholds.append(float(candidates[ok[-1]]) if len(ok) else float(d[0] - 1e-6))
    return {"pairs": int(len(d)), "people": int(len(people)), "confidence": confidence,
            "resamples": resamples, "far": far.tolist(), "threshold": thresholds}


def far_for_gallery(fpir: float, gallery_size: int) -> float:
    """The pair false-accept rate at which a stranger, compared with ``gallery_size``
    stored faces, is named as someone with probability ``fpir``:
    1 - (1 - FAR)^N = FPIR, so FAR = 1 - (1 - FPIR)^(1/N)."""
    if not 0.0 < fpir < 1.0:
        raise ValueError(f"FPIR {fpir} must be between 0 and 1")
    return float(-np.expm1(np.log1p(-fpir) / max(int(gallery_size), 1)))


def threshold_for_gallery(curve: dict, gallery_size: int, fpir: float = FPIR_TARGET) -> float:
    """The distance threshold keeping strangers named at most ``fpir`` of the time for a
    gallery of ``gallery_size`` stored faces, read off a calibration curve
    (``impostor_far_curve``), interpolated in log FAR. Below the curve's resolution it is
    the curve's strictest threshold."""
    far = np.asarray(curve["far"], dtype=np.float64)
    thr = np.asarray(curve["threshold"], dtype=np.float64)
    want = far_for_gallery(fpir, gallery_size)
    return float(np.interp(np.log(want), np.log(far), thr))


def identification_threshold(calib_embeddings: np.ndarray, calib_labels,
                             gallery: int = REFERENCE_GALLERY,
                             fpir: float = FPIR_TARGET) -> tuple[float, dict]:
    """(threshold, curve): the calibration people's false-accept curve
    (``impostor_far_curve``) and the threshold it gives for ``gallery`` stored faces at
    ``fpir`` (``threshold_for_gallery``), as a bundle states its own threshold."""
    curve = impostor_far_curve(calib_embeddings, calib_labels)
    return threshold_for_gallery(curve, gallery, fpir), curve


# ---- clips: who was named in which frame ------------------------------------------------

def scene_cuts(truth: list) -> list[int]:
    """Frames where a clip (``edge.clips``) cuts to a new scene (the people shown
    change); 0 included."""
    return [i for i, people in enumerate(truth)
            if i == 0 or sorted(n for n, _ in people) != sorted(n for n, _ in truth[i - 1])]


def clip_said(reported: list, truth: list, settle: int = 0):
    """(frame, person shown, name said or None if not found) for each face-frame of a
    clip, and the reported faces that belong to no one, as (frame, None, name).

    ``reported``: per frame, [(name, (x1, y1, x2, y2)), ...]; ``truth`` likewise (a
    truth box is the whole pasted photo). A reported face belongs to the truth face whose
    photo holds its centre. ``settle``: leave out the first frames after each cut (where
    tracks and their name votes are still those of the scene before).
    """
    skip = {c + k for c in scene_cuts(truth) for k in range(settle)}
    for i, (faces, people) in enumerate(zip(reported, truth)):
        if i in skip:
            continue
        claimed = set()
        for name, (x1, y1, x2, y2) in people:
            inside = [j for j, (_, b) in enumerate(faces)
                      if x1 <= (b[0] + b[2]) / 2 <= x2 and y1 <= (b[1] + b[3]) / 2 <= y2]
            claimed.update(inside)
            yield i, name, faces[inside[0]][0] if inside else None
        for j, (said, _) in enumerate(faces):
            if j not in claimed:
                yield i, None, said


def clip_naming(reported: list, truth: list, settle: int = 0) -> dict:
    """"Named right" in a clip: face-frames named right, named wrong, called unknown,
    or not found, and reported faces on no one (``extra``), counted from ``clip_said``
    (edge-bench, the demo, the benchmarks and the tests all count this way)."""
    right = wrong = unknown = missed = extra = 0
    for _, shown, said in clip_said(reported, truth, settle):
        if shown is None:
            extra += 1
        elif said is None:
            missed += 1
        elif said == shown:
            right += 1
        elif said == "unknown":
            unknown += 1
        else:
            wrong += 1
    total = right + wrong + unknown + missed
    return {"face_frames": total, "right": right, "wrong": wrong, "unknown": unknown,
            "missed": missed, "extra": extra, "accuracy": right / total if total else 0.0,
            "settle": settle}


SETTLE = 10   # frames after a cut left out of the "settled" naming figure


def clip_namings(reported: list, truth: list) -> dict:
    """Naming over every frame, and with the first SETTLE frames after each cut left out."""
    return {"naming": clip_naming(reported, truth),
            "naming_settled": clip_naming(reported, truth, SETTLE)}
