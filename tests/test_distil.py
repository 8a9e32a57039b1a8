"""Distillation from the shipped accurate bundle into a small student, on real faces:
the teacher's targets, the loss, a short run that checkpoints and resumes, and
``siamese-train evaluate --wild`` on its output. Needs TensorFlow (not an edge test)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from tests.conftest import need_data
from train.cli import main as cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """112 px crops in the prepared layout: ORL s1-s8 to train, s9-s16 twice more (as the
    wild evaluation and calibration people), kept whole as ORL photos are face crops."""
    from edge.align import resize_whole

    orl = need_data("orl")
    root = tmp_path_factory.mktemp("faces")
    for split, people in (("train", range(1, 9)), ("eval", range(9, 13)), ("cal", range(13, 17))):
        for p in people:
            (root / split / f"s{p}").mkdir(parents=True)
            for f in sorted((orl / f"s{p}").glob("*.pgm")):
                grey = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
                cv2.imwrite(str(root / split / f"s{p}" / f"{f.stem}.png"), resize_whole(grey, 112))
    return root


def test_teacher_targets_are_mirror_averaged():
    from edge.bundle import load_bundle
    from train.distil import teacher_targets

    face = cv2.imread(str(need_data("orl", "s1") / "1.pgm"))
    face = cv2.cvtColor(cv2.resize(face, (112, 112)), cv2.COLOR_BGR2RGB)
    t = teacher_targets(load_bundle("accurate"), np.stack([face, face[:, ::-1]]))
    assert np.allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    assert np.allclose(t[0], t[1], atol=1e-5)        # a face and its mirror: one target


def test_distil_loss_by_hand():
    import keras

    from train.distil import distil_loss

    centres = np.eye(4, dtype=np.float32)[:2]         # two classes along axes 0 and 1
    target = np.array([[1, 0, 0, 0]], np.float32)
    y = lambda label: np.concatenate([target, [[label]]], 1).astype(np.float32)  # noqa: E731
    plain = distil_loss(centres, 0.0, 30.0, 0.35)
    assert float(plain(y(-1), target)[0]) == pytest.approx(0.0, abs=1e-6)   # on the teacher
    assert float(plain(y(-1), np.array([[0, 1, 0, 0]], np.float32))[0]) == pytest.approx(1.0)
    both = distil_loss(centres, 0.1, 30.0, 0.35)
    right = float(both(y(0), target)[0])              # at its class centre
    wrong = float(both(y(1), target)[0])              # at the other class's centre
    assert 0 <= right < 1e-3 < wrong
    assert float(both(y(-1), target)[0]) == pytest.approx(0.0, abs=1e-6)  # no class: no CosFace
    assert keras.ops.convert_to_numpy(both(y(0), target)).shape == (1,)


def test_a_short_run_checkpoints_resumes_and_evaluates_on_the_wild_protocol(folders, tmp_path):
    out = tmp_path / "student"
    args = ["distil", str(out), "--faces", str(folders / "train"), "--steps", "2", "--batch",
            "16", "--val-people", "3", "--size", "32"]
    r = CliRunner().invoke(cli, [*args, "--epochs", "1"])
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input"] == {"size": 32, "colour": "grey", "mean": 127.5, "scale": 128.0}
    assert summary["epochs_run"] == 1 and summary["validation"]["people"] == 3
    assert summary["train"]["people"] == 5 and summary["teacher"] == "accurate"
    assert summary["mirror_averaged"]
    from train.evaluate import embed_faces
    from train.fit import load_branch

    face = cv2.imread(str(folders / "train" / "s1" / "1.png"), cv2.IMREAD_GRAYSCALE)
    face = cv2.resize(face, (32, 32), interpolation=cv2.INTER_AREA)
    e = embed_faces(load_branch(out), np.stack([face, face[:, ::-1]]))
    assert np.allclose(e[0], e[1], atol=1e-5)        # shipped mirror-averaged
    for f in ("embedding.keras", "checkpoint.keras", "teacher.npz", "log.csv"):
        assert (out / f).is_file(), f
    cached = (out / "teacher.npz").stat().st_mtime_ns
    r = CliRunner().invoke(cli, [*args, "--epochs", "2", "--resume"])
    assert r.exit_code == 0, r.output
    assert (out / "teacher.npz").stat().st_mtime_ns == cached        # targets reused
    assert len((out / "log.csv").read_text().splitlines()) == 3      # header + 2 epochs
    assert json.loads((out / "summary.json").read_text())["epochs_run"] == 2

    r = CliRunner().invoke(cli, ["evaluate", str(out), str(folders / "eval"), "--n-way", "4",
                                 "--trials", "50", "--wild", str(folders / "eval"),
                                 "--calibrate", str(folders / "cal"), "--json"])
    assert r.exit_code == 0, r.output
    wild = json.loads(r.output)["wild"]
    assert wild["rounds"] == 5 and wild["enrolled"] == 2 and wild["threshold_calibrated"]
    for key in ("known_right", "known_wrong", "strangers_accepted", "right_at_fpir"):
        assert 0 <= wild[key] <= 1
    assert wild["known_right"] + wild["known_wrong"] <= 1


def test_distil_refuses_a_missing_folder_in_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["distil", str(tmp_path / "o"), "--faces", str(tmp_path / "nope")])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "not a folder" in r.output


def test_a_finished_run_kept_plain_is_shipped_mirror_averaged_on_resume(folders, tmp_path):
    out = tmp_path / "plain"
    args = ["distil", str(out), "--faces", str(folders / "train"), "--steps", "1", "--batch",
            "8", "--val-people", "3", "--size", "32", "--epochs", "1"]
    assert CliRunner().invoke(cli, [*args, "--no-mirror"]).exit_code == 0
    plain = json.loads((out / "summary.json").read_text())
    assert not plain["mirror_averaged"]
    r = CliRunner().invoke(cli, [*args, "--resume"])      # nothing left to train
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mirror_averaged"] and summary["multiply_adds"] == 2 * plain["multiply_adds"]
    assert len((out / "log.csv").read_text().splitlines()) == 2        # no epoch added
