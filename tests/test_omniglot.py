"""Omniglot loading and the 20 standard runs, read exactly as class_labels.txt says."""
import numpy as np

from tests.conftest import need_data
from train.data import Faces
from train.omniglot import evaluate_runs, load_background, load_runs, with_rotations


def test_background_sets_and_runs_load():
    folder = need_data("omniglot")
    faces = load_background(folder, size=32)
    # 136 + 156 characters, Greek and Latin shared by name: 242 distinct pairs
    assert len(faces.names) == 242 and len(faces) == (136 + 156) * 20
    assert faces.images.shape[1:] == (32, 32)
    runs = load_runs(folder, size=32)
    assert len(runs) == 20
    for tests, trains, truth in runs:
        assert tests.shape == trains.shape == (20, 32, 32)
        assert sorted(truth) == list(range(20))   # every training class is asked once


def test_runs_scoring_is_exact():
    runs = load_runs(need_data("omniglot"), size=32)

    def flat(x):
        v = x.reshape(len(x), -1).astype(float)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    raw = evaluate_runs(flat, runs)
    assert raw["items"] == 400 and 0.1 < raw["accuracy"] < 0.5   # pixels: weak, above 5% chance
    # an oracle embedding that knows each item's class scores 100%
    oracle_runs = [(np.arange(20)[truth][:, None, None] * np.ones((20, 2, 2)),
                    np.arange(20)[:, None, None] * np.ones((20, 2, 2)), truth)
                   for _, _, truth in runs]
    onehot = lambda x: np.eye(20)[x[:, 0, 0].astype(int)]
    assert evaluate_runs(onehot, oracle_runs)["accuracy"] == 1.0


def test_rotations_are_new_classes_of_the_same_drawings():
    chars = Faces(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3), np.array([0, 1]),
                  ["greek/a", "greek/b"], "grey")
    more = with_rotations(chars)
    assert len(more.names) == 8 and len(more) == 8
    assert more.names[:2] == ["greek/a", "greek/b"] and more.names[2] == "greek/a@90"
    assert list(more.labels) == list(range(8))
    np.testing.assert_array_equal(more.images[2], np.rot90(chars.images[0]))
    np.testing.assert_array_equal(more.images[5], np.rot90(chars.images[1], 2))
