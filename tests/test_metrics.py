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


# Open-set identification on points of a line (distance = difference), by hand:
#   gallery: A at 0 (photo 0), B at 10 (photo 3)
#   known probes: A at 0.1 and 0.5 (right), A at 7 (nearest is B at 3: wrong); B at 10.2
#   strangers (C): at 4 (A, 4 away), 20 (B, 10 away), 0.3 (A, 0.3 away)
LINE = np.array([[0.0], [0.1], [0.5], [10.0], [10.2], [7.0], [4.0], [20.0], [0.3]])
WHO = np.array([0, 0, 0, 1, 1, 0, 2, 2, 2])


@pytest.mark.parametrize("threshold, right, wrong, strangers", [
    (1.0, 3 / 4, 0.0, 1 / 3),       # A at 7 is 3 away: unknown; the stranger at 0.3 gets in
    (3.5, 3 / 4, 1 / 4, 1 / 3),     # now A at 7 is named B
    (0.05, 0.0, 0.0, 0.0),          # everyone unknown
    (100, 3 / 4, 1 / 4, 1.0),       # everyone named
])
def test_open_set_round_by_hand(threshold, right, wrong, strangers):
    r = metrics.open_set_round(LINE, WHO, [0, 3], threshold)
    assert (r["known_probes"], r["stranger_probes"]) == (4, 3)
    assert r["known_right"] == pytest.approx(right)
    assert r["known_wrong"] == pytest.approx(wrong)
    assert r["strangers_accepted"] == pytest.approx(strangers)


def test_right_at_fpir_by_hand():
    # 1%: no stranger may pass, so the threshold sits just under the nearest (0.3)
    assert metrics.open_set_round(LINE, WHO, [0, 3])["right_at_fpir"] == pytest.approx(2 / 4)
    # a third of strangers may pass: just under the second nearest (4): 0.5 gets in
    r = metrics.open_set_round(LINE, WHO, [0, 3], fpir=0.34)
    assert r["right_at_fpir"] == pytest.approx(3 / 4)
    assert "known_right" not in r                    # no threshold, no shares at it


def test_open_set_round_needs_one_photo_per_person():
    with pytest.raises(ValueError, match="one photo per enrolled person"):
        metrics.open_set_round(LINE, WHO, [0, 1])


def test_open_set_rounds_enrol_only_enrollable_photos_and_repeat_by_seed():
    e, y = _clusters(people=10, per=4)
    ok = np.ones(len(y), bool)
    ok[::2] = False                                     # only odd photos may be enrolled
    for r in range(3):
        g = metrics.open_set_gallery(y, 5, np.random.default_rng([7, r]), ok)
        assert len(set(y[g])) == 5 and ok[g].all()
    a = metrics.open_set(e, y, 0.5, rounds=3, seed=7, enrollable=ok)
    b = metrics.open_set(e, y, 0.5, rounds=3, seed=7, enrollable=ok)
    assert a == b and a.enrolled == 5 and a.rounds == 3
    assert a.known_probes == 3 * (5 * 3) and a.stranger_probes == 3 * (5 * 4)
    assert a.known_right == 1.0 and a.strangers_accepted == 0.0   # well-separated clusters


def test_far_for_gallery():
    assert metrics.far_for_gallery(0.01, 1) == pytest.approx(0.01)
    # 1 - (1 - far)^50 = 1%
    far = metrics.far_for_gallery(0.01, 50)
    assert 1 - (1 - far) ** 50 == pytest.approx(0.01)
    with pytest.raises(ValueError):
        metrics.far_for_gallery(0.0, 10)


def test_threshold_for_gallery_keeps_its_promise_on_other_people():
    """Calibrated on some people, the threshold for a gallery of N accepts about the
    target share of strangers when N other people are enrolled (the independence model
    behind far_for_gallery), and tightens as N grows."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(600, 24))
    labels = np.repeat(np.arange(600), 4)
    e = centres[labels] + 0.9 * rng.normal(size=(len(labels), 24))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    cal = labels < 200
    curve = metrics.impostor_far_curve(e[cal], labels[cal])
    thresholds = [metrics.threshold_for_gallery(curve, n, 0.05) for n in (1, 10, 100)]
    assert thresholds[0] > thresholds[1] > thresholds[2]
    rest, who = e[~cal], labels[~cal]
    for n in (10, 100):
        t = metrics.threshold_for_gallery(curve, n, 0.05)
        got = metrics.open_set(rest, who, t, enrolled=n, rounds=5, seed=0, fpir=0.05)
        assert 0.02 < got.strangers_accepted < 0.09, (n, got.strangers_accepted)


def test_clip_naming_counts_each_truth_face_once_by_the_box_holding_its_centre():
    from edge.metrics import clip_naming, clip_namings, scene_cuts

    ada, bob = ("Ada", (0, 0, 100, 100)), ("Bob", (200, 0, 300, 100))
    truth = [[ada, bob], [ada, bob], [ada], [ada]]
    reported = [
        [("Ada", (10, 10, 90, 90)), ("Ada", (210, 10, 290, 90))],   # right, wrong
        [("unknown", (10, 10, 90, 90))],                             # unknown, Bob missed
        [("Ada", (60, 60, 160, 160))],   # centre (110, 110) outside Ada's photo: missed, extra
        [("Ada", (20, 20, 80, 80)), ("Bob", (400, 0, 450, 50))],     # right, extra
    ]
    n = clip_naming(reported, truth)
    assert {k: n[k] for k in ("face_frames", "right", "wrong", "unknown", "missed", "extra")} == \
        {"face_frames": 6, "right": 2, "wrong": 1, "unknown": 1, "missed": 2, "extra": 2}
    assert n["accuracy"] == pytest.approx(2 / 6)
    assert scene_cuts(truth) == [0, 2]
    settled = clip_naming(reported, truth, settle=1)    # frames 0 and 2 left out
    assert (settled["face_frames"], settled["right"], settled["unknown"]) == (3, 1, 1)
    assert clip_namings(reported, truth)["naming"] == n


# ---- the one place each figure is computed ----------------------------------------------

def test_n_way_counts_only_people_with_two_images():
    assert metrics.n_way_for([0, 0, 1, 1, 2, 3, 3], 20) == 3      # person 2 has one image
    assert metrics.n_way_for(["a", "a", "b", "b", "c", "c"], 2) == 2
    assert metrics.n_way_for(np.array([], int)) == 0


def test_lab_scores_are_one_shot_and_verification():
    e, y = _clusters(people=8, per=4, spread=0.6)
    s = metrics.lab_scores(e, y, threshold=0.9, n_way=20, trials=300, seed=2)
    assert s["one_shot"] == metrics.one_shot(e, y, 8, 300, 2).as_dict()   # N capped at 8
    assert s["verification"] == metrics.verification(e, y, 0.9, 2)
    assert s["verification"]["threshold"] == 0.9
    assert not s["verification"]["threshold_calibrated_here"]
    assert metrics.lab_scores(e, y, trials=300)["verification"]["threshold_calibrated_here"]


def test_verification_curve_is_the_roc_thinned():
    e, y = _clusters(people=8, per=4, spread=0.6)
    v = metrics.verification(e, y, curve_points=10)
    r = metrics.roc(*metrics.verification_distances(e, y))
    step = max(1, len(r.fpr) // 10)
    assert v["roc"] == {"fpr": r.fpr[::step].tolist(), "tpr": r.tpr[::step].tolist()}
    assert "roc" not in metrics.verification(e, y)
    assert v["auc"] == r.auc and v["pairs"] == len(metrics.verification_pairs(y)[0])


def test_identification_shares_by_hand():
    #            known  known  known  known  stranger stranger
    known = [True, True, True, True, False, False]
    accepted = [True, True, False, True, True, False]
    right = [True, False, True, True, False, True]   # the third is right but not named
    s = metrics.identification_shares(known, accepted, right)
    assert s == {"known_right": 2 / 4, "known_wrong": 1 / 4, "strangers_accepted": 1 / 2}
    none = metrics.identification_shares([], [], [])
    assert none == {"known_right": 0.0, "known_wrong": 0.0, "strangers_accepted": 0.0}


def test_demo_prints_the_open_set_shares():
    from train.demo import open_set_line

    line = open_set_line({"a": ["a", "b"], "b": ["no face"], None: ["a", "unknown"]})
    assert line == ("known people named right on 1 of 3 photos, named wrong on 1; "
                    "strangers named as someone on 1 of 2")


def test_identification_threshold_is_the_curve_read_for_the_gallery():
    e, y = _clusters(people=30, per=4, spread=0.8, seed=4)
    threshold, curve = metrics.identification_threshold(e, y, gallery=10, fpir=0.05)
    assert curve == metrics.impostor_far_curve(e, y)
    assert threshold == metrics.threshold_for_gallery(curve, 10, 0.05)


def test_clip_said_gives_who_was_shown_and_what_was_said():
    from edge.metrics import clip_said

    truth = [[("Ada", (0, 0, 100, 100)), ("Bob", (200, 0, 300, 100))]]
    reported = [[("Ada", (10, 10, 90, 90)), ("x", (400, 0, 450, 50))]]
    assert sorted(clip_said(reported, truth), key=str) == sorted(
        [(0, "Ada", "Ada"), (0, "Bob", None), (0, None, "x")], key=str)
