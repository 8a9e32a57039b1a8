import numpy as np
import pytest

from edge import metrics


def _clusters(people=25, per=6, spread=0.05, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 16))
    labels = np.repeat(np.arange(people), per)
    e = centres[labels] + spread * rng.normal(size=(len(labels), 16))
    return e / np.linalg.norm(e, axis=1, keepdims=True), labels


def test_one_shot_separable_and_random():
    e, y = _clusters()
    assert metrics.one_shot(e, y, 20, 300).accuracy == 1.0
    rnd = np.random.default_rng(3).normal(size=e.shape)
    r = metrics.one_shot(rnd, y, 20, 2000)
    assert r.ci95[0] < 0.05 < r.ci95[1] + 0.02 and r.accuracy < 0.1


def test_one_shot_needs_enough_people():
    e, y = _clusters(people=5)
    with pytest.raises(ValueError, match="20-way"):
        metrics.one_shot(e, y, 20)


def test_roc_auc_eer_threshold():
    d = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8])
    same = np.array([1, 1, 1, 0, 0, 0], bool)
    r = metrics.roc(d, same)
    assert r.auc == pytest.approx(1.0) and r.eer == 0.0
    t = metrics.calibrate_threshold(d, same)
    assert 0.3 < t < 0.6
    assert metrics.accuracy_at(d, same, t) == 1.0
    flipped = metrics.roc(d, ~same)
    assert flipped.auc == pytest.approx(0.0)


def test_verification_pairs_balanced():
    _, y = _clusters(people=6, per=4)
    pairs, same = metrics.verification_pairs(y)
    assert same.sum() == 6 * 6 and (~same).sum() == 36
    assert np.all((y[pairs[:, 0]] == y[pairs[:, 1]]) == same)


def test_threshold_at_a_target_false_accept_rate():
    rng = np.random.default_rng(0)
    same = np.r_[np.ones(500, bool), np.zeros(1000, bool)]
    d = np.r_[rng.normal(0.6, 0.1, 500), rng.normal(1.2, 0.1, 1000)]
    for far in (0.0, 0.01, 0.05):
        t = metrics.calibrate(d, same, f"far:{far}")
        assert np.mean(d[~same] <= t) <= far
        assert np.mean(d[~same] <= t + 0.02) > far or far == 0.0   # the largest such threshold
    assert metrics.calibrate(d, same, "balanced") == metrics.calibrate_threshold(d, same)
    for bad in ("far:2", "far:x", "median"):
        with pytest.raises(ValueError, match="threshold rule"):
            metrics.calibrate(d, same, bad)
