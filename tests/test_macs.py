"""Multiply-adds read from the TFLite graph (edge.macs) agree with the training side's
count and with arithmetic by hand."""
from __future__ import annotations

import pytest

from edge.bundle import load_bundle
from edge.macs import detector_multiply_adds, model_multiply_adds, near_multiply_adds


@pytest.mark.parametrize("name", ["fast", "accurate"])
def test_an_embedding_model_counts_what_keras_counted(name):
    """The manifest keeps Keras's count from training (fast: mirror-averaged, so two
    passes of the network, which the TFLite graph holds as a batch of two)."""
    bundle = load_bundle(name)
    counted = bundle.manifest.training["multiply_adds"]
    assert model_multiply_adds(bundle.file(bundle.model.file)) == counted


def test_the_detector_by_hand():
    """P-Net on one 12x12 input: 3x3 convolutions of 3 to 10 channels over 10x10
    outputs, 10 to 16 over 3x3 (after pooling), 16 to 32 over 1x1, then 1x1 heads of 4
    and 2; R-Net and O-Net have fixed inputs."""
    det = load_bundle("fast").detector(1, min_face=40)
    by_hand = (10 * 10 * 10 * 3 * 3 * 3 + 3 * 3 * 16 * 3 * 3 * 10 + 32 * 3 * 3 * 16
               + 4 * 32 + 2 * 32)
    assert model_multiply_adds(det.pnet.path, (1, 12, 12, 3)) == by_hand == 44_760
    full = detector_multiply_adds(det, 640, 480)
    assert full["levels"] == 8 and full["rnet_per_candidate"] == 1_530_768
    # the pyramid's cost is about its pixels: level k holds 0.709^(2k) of the first
    first = model_multiply_adds(det.pnet.path, (1, 144, 192, 3))
    assert first < full["pnet"] < first / (1 - 0.709 ** 2)
    assert [near_multiply_adds(det, k) for k in (1, 2, 3)] == [5 * 1_530_768 * k for k in (1, 2, 3)]
