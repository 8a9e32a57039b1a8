"""Training spread over workers: two local CPU workers, as two machines would run it
(one process each, TF_CONFIG naming both), train one short epoch together; worker 0
writes the model, the other nothing. Needs TensorFlow (not an edge test)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from train import distribute
from train.cli import main as cli

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.fixture
def faces(tmp_path):
    """Eight people of blurred random patterns (learnable in a few steps), 32 px grey."""
    rng = np.random.default_rng(0)
    root = tmp_path / "faces"
    for p in range(8):
        proto = cv2.GaussianBlur(rng.integers(0, 255, (32, 32)).astype(np.float32), (0, 0), 3)
        (root / f"p{p}").mkdir(parents=True)
        for i in range(5):
            img = np.clip(proto + rng.normal(0, 8, proto.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(root / f"p{p}" / f"{i}.png"), img)
    return root


# One worker: train, then print the sum of its trainable weights' magnitudes.
WORKER = """
import sys, numpy as np
from train.data import load_folder
from train.fit import FitConfig, fit, load_branch
import train.fit
seen = []
class Spy(train.fit.ValidationScore):
    def on_epoch_end(self, epoch, logs=None):
        seen.append(sum(float(np.abs(w.numpy()).sum()) for w in self.branch.trainable_weights))
        super().on_epoch_end(epoch, logs)
train.fit.ValidationScore = Spy
fit(load_folder(sys.argv[1], size=32), sys.argv[2],
    FitConfig(strategy="multi-worker", epochs=1, steps=3, batch=16, val_fraction=0.25,
              mirror=False), verbose=0)
print("WEIGHTS", seen[-1])
"""


def test_two_local_workers_train_one_epoch_together(faces, tmp_path):
    cluster = [f"localhost:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": {"worker": cluster},
                                        "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(faces), str(tmp_path / f"out{index}")],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outs = [p.communicate(timeout=600) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    summary = json.loads((tmp_path / "out0" / "summary.json").read_text())
    assert summary["epochs_run"] == 1 and summary["config"]["strategy"] == "multi-worker"
    assert (tmp_path / "out0" / "embedding.keras").is_file()
    assert not (tmp_path / "out1").exists()          # only the chief writes
    # the workers drew different batches, yet their weights stayed one model: the
    # gradients were all-reduced between them (batch-norm statistics stay per worker)
    weights = [float(out.split("WEIGHTS")[1]) for out, _ in outs]
    assert weights[0] == weights[1]


def test_multi_worker_without_tf_config_is_one_line(faces, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    r = CliRunner().invoke(cli, ["fit", str(faces), str(tmp_path / "o"), "--strategy",
                                 "multi-worker", "--epochs", "1"])
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "TF_CONFIG" in r.output


def test_worker_reads_tf_config(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2", "c:3"]},
                                                "task": {"type": "worker", "index": 2}}))
    assert distribute.worker() == (2, 3) and not distribute.is_chief()
    monkeypatch.setenv("TF_CONFIG", "not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.worker()
    monkeypatch.delenv("TF_CONFIG")
    assert distribute.worker() == (0, 1) and distribute.is_chief()
