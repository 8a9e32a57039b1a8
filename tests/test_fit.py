"""Training: every objective on small synthetic data, clear errors, and a real-data run."""
import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from train.cli import main as cli
from train.data import DataError, Faces, check_trainable, load_folder, split_people
from train.fit import FitConfig, fit, load_branch
from train.evaluate import embed_faces


def _synthetic(people=8, per=5, size=32, seed=0):
    """Each person a distinct blob pattern with noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 255, size=(people, size, size)).astype(np.float32)
    protos = np.stack([cv2.GaussianBlur(p, (0, 0), 3) for p in protos])
    images, labels = [], []
    for p in range(people):
        for _ in range(per):
            images.append(np.clip(protos[p] + rng.normal(0, 8, (size, size)), 0, 255))
            labels.append(p)
    return Faces(np.array(images, np.uint8), np.array(labels), [f"p{i}" for i in range(people)], "grey")


@pytest.mark.parametrize("objective", ["cosface", "triplet", "contrastive"])
def test_each_objective_trains_and_saves(tmp_path, objective):
    faces = _synthetic()
    cfg = FitConfig(objective=objective, epochs=2, steps=3, batch=16, val_fraction=0.25,
                    patience=5, size=32)
    summary = fit(faces, tmp_path, cfg, verbose=0)
    assert summary["epochs_run"] == 2 and summary["embedding_dim"] == 128
    assert summary["validation"]["people"] == 2 and summary["train"]["people"] == 6
    assert len(summary["history"]["val_auc"]) == 2
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["input"] == {"size": 32, "colour": "grey", "mean": 127.5, "scale": 128.0}
    assert (tmp_path / "log.csv").read_text().count("\n") == 3
    emb = embed_faces(load_branch(tmp_path), faces.images[:4])
    assert emb.shape == (4, 128) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)


def test_the_edge_network_is_saved_mirror_averaged(tmp_path):
    faces = _synthetic(people=6)
    summaries = {}
    for name, cfg in {"edge": FitConfig(), "plain": FitConfig(mirror=False),
                      "characters": FitConfig(flip=False), "seed": FitConfig(arch="seed")}.items():
        cfg.epochs, cfg.steps, cfg.batch, cfg.val_fraction, cfg.size = 1, 2, 16, 0.0, 32
        summaries[name] = fit(faces, tmp_path / name, cfg, verbose=0)
    assert [s["mirror_averaged"] for s in summaries.values()] == [True, False, False, False]
    assert summaries["edge"]["multiply_adds"] == 2 * summaries["plain"]["multiply_adds"]
    assert summaries["edge"]["parameters"] == summaries["plain"]["parameters"]
    branch = load_branch(tmp_path / "edge")
    x = faces.images[:5]
    np.testing.assert_allclose(embed_faces(branch, x), embed_faces(branch, x[:, :, ::-1].copy()),
                               atol=1e-5)


def test_given_validation_people_are_used_as_they_are(tmp_path):
    faces = _synthetic(people=9)
    train, val = faces.subset(range(6)), faces.subset(range(6, 9))
    cfg = FitConfig(epochs=1, steps=2, batch=16, val_fraction=0.5, size=32)
    summary = fit(train, tmp_path, cfg, verbose=0, val=val)
    assert summary["train"]["people"] == 6 and summary["validation"]["people"] == 3


def test_split_is_identity_disjoint():
    faces = _synthetic(people=20)
    train, val = split_people(faces, 0.2, seed=1)
    assert not set(train.names) & set(val.names)
    assert len(val.names) == 4 and len(train) + len(val) == len(faces)


def test_bad_training_data_is_refused_clearly(tmp_path):
    one = _synthetic(people=1)
    with pytest.raises(DataError, match="at least two people"):
        check_trainable(one, "cosface")
    single_images = Faces(np.zeros((3, 8, 8), np.uint8), np.array([0, 1, 2]), ["a", "b", "c"], "grey")
    with pytest.raises(DataError, match="two or more images"):
        check_trainable(single_images, "triplet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no person folders"):
        load_folder(tmp_path / "empty")


def test_mixed_sizes_are_resized_and_singletons_kept_for_negatives(tmp_path):
    for person, sizes in {"a": [40, 50], "b": [64, 30], "c": [20]}.items():
        (tmp_path / person).mkdir()
        for i, s in enumerate(sizes):
            cv2.imwrite(str(tmp_path / person / f"{i}.png"), np.full((s, s), 100 + i, np.uint8))
    faces = load_folder(tmp_path, size=32)
    assert faces.images.shape == (5, 32, 32)
    assert list(faces.counts()) == [2, 2, 1]


def test_cli_fit_errors_are_one_line(tmp_path):
    (tmp_path / "d").mkdir()
    r = CliRunner().invoke(cli, ["fit", str(tmp_path / "d"), str(tmp_path / "o")])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "no person folders" in r.output
    r = CliRunner().invoke(cli, ["fit", str(tmp_path / "d"), str(tmp_path / "o"), "--arch", "vgg"])
    assert r.exit_code == 1 and "unknown architecture 'vgg'" in r.output


@pytest.mark.slow
def test_real_faces_brief_training_recognises_unseen_people(tmp_path, orl_prepared):
    """Train briefly on ORL s1..s20 and evaluate 20-way one-shot on s21..s40 (never seen):
    chance is 5%; a short run must be far above it."""
    train_dir, eval_dir = orl_prepared
    faces = load_folder(train_dir, size=64)
    fit(faces, tmp_path / "m", FitConfig(epochs=6, steps=40, batch=32, val_fraction=0.0), verbose=0)
    r = CliRunner().invoke(cli, ["evaluate", str(tmp_path / "m"), str(eval_dir), "--json",
                                 "--trials", "1000", "--out", str(tmp_path / "ev")])
    assert r.exit_code == 0, r.output
    result = json.loads(r.output)
    print("brief training, ORL s21-s40 20-way one-shot:", result["one_shot"]["accuracy"])
    assert result["one_shot"]["n_way"] == 20
    assert result["one_shot"]["accuracy"] > 0.5
    assert (tmp_path / "ev" / "roc.png").stat().st_size > 1000
