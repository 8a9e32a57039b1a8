"""The TFLite MTCNN (``edge.detect``) against the mtcnn package it was exported from.

Scenes are real: celebs and orl faces pasted into 640x480 scikit-image photos (seeded),
plus scikit-image's astronaut. For every face the package finds, the TFLite detector
must find a box with IoU >= 0.9 and all five landmarks within 1 px (fp32) or 3 px
(int8 R-Net and O-Net) of the package's.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import DATA, ROOT, need_data

NETS = ("pnet", "rnet", "onet")
VARIANTS = ("fp32", "int8")
LANDMARK_TOLERANCE = {"fp32": 1.0, "int8": 3.0}  # pixels


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """The detector exported once, fp32 and int8, into one temporary folder."""
    from convert.detector import export_detector

    out = tmp_path_factory.mktemp("mtcnn")
    return out, {variant: export_detector(out, int8=variant == "int8") for variant in VARIANTS}


def files(exported, variant: str) -> list[Path]:
    out, entries = exported
    return [out / entries[variant][n]["file"] for n in NETS]


@pytest.fixture(scope="session")
def package():
    from mtcnn import MTCNN

    return MTCNN()


@pytest.fixture(scope="session")
def scenes():
    import skimage.data

    from benchmarks.detector_scenes import face_scenes

    need_data("celebs"), need_data("orl")
    return [skimage.data.astronaut()[..., ::-1].copy()] + face_scenes(12, seed=7, data=DATA)


@pytest.fixture(scope="session")
def references(package, scenes):
    from benchmarks.detector_agreement import package_faces

    return [package_faces(package, s) for s in scenes]


def test_entry_names_the_files_written(exported):
    out, entries = exported
    for variant, entry in entries.items():
        assert entry["variant"] == variant and entry["colour"] == "rgb"
        assert (entry["mean"], entry["scale"]) == (127.5, 128.0)
        assert entry["settings"] == {"min_face": 20, "scale_factor": 0.709,
                                     "thresholds": [0.6, 0.7, 0.8]}
        for name in NETS:
            data = (out / entry[name]["file"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry[name]["sha256"]
            assert len(data) == entry[name]["bytes"]
    fp32, int8 = entries["fp32"], entries["int8"]
    # weights are frozen into the files (variables left behind would make them tiny)
    assert all(fp32[n]["bytes"] > k for n, k in zip(NETS, (25e3, 350e3, 1.4e6)))
    assert int8["pnet"] == fp32["pnet"]  # P-Net stays fp32
    assert int8["onet"]["file"] == "mtcnn_onet_int8.tflite"
    assert int8["onet"]["bytes"] < fp32["onet"]["bytes"] / 3


def test_bundle_reader_builds_the_detector(exported):
    """The entry is what ``edge.bundle`` reads: per-network files and Detector settings."""
    from edge.detect import Detector

    out, entries = exported
    entry = entries["int8"]
    detector = Detector(*(out / entry[n]["file"] for n in NETS), **entry["settings"])
    assert detector.thresholds == (0.6, 0.7, 0.8) and detector.min_face == 20


def test_inputs_are_resizable(exported):
    from edge.litert import make_interpreter

    pnet, rnet, onet = (make_interpreter(f) for f in files(exported, "fp32"))
    assert list(pnet.get_input_details()[0]["shape_signature"]) == [1, -1, -1, 3]
    assert list(rnet.get_input_details()[0]["shape_signature"]) == [-1, 24, 24, 3]
    assert list(onet.get_input_details()[0]["shape_signature"]) == [-1, 48, 48, 3]
    pnet.resize_tensor_input(0, (1, 100, 120, 3))
    pnet.allocate_tensors()
    pnet.set_tensor(pnet.get_input_details()[0]["index"], np.zeros((1, 100, 120, 3), np.float32))
    pnet.invoke()
    shapes = sorted(tuple(pnet.get_tensor(d["index"]).shape) for d in pnet.get_output_details())
    assert shapes == [(1, 45, 55, 2), (1, 45, 55, 4)]


@pytest.mark.parametrize("variant,tolerance", [("fp32", 1e-4), ("int8", 0.05)])
def test_networks_match_keras(exported, variant, tolerance):
    from convert.detector import keras_net
    from edge.detect import Net

    rng = np.random.default_rng(0)
    for name, path in zip(NETS, files(exported, variant)):
        shape = {"pnet": (1, 60, 80, 3), "rnet": (5, 24, 24, 3), "onet": (5, 48, 48, 3)}[name]
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        expected = {o.shape[-1]: np.asarray(o) for o in keras_net(name)(x)}
        got = Net(path).run(x)
        for key, value in expected.items():
            np.testing.assert_allclose(got[key], value, atol=tolerance)


@pytest.mark.parametrize("method", ["union", "min"])
def test_nms_is_the_packages(method):
    from mtcnn.utils.bboxes import smart_nms_from_bboxes

    from edge.detect import by_score, nms

    rng = np.random.default_rng(1)
    corner = rng.uniform(0, 200, (300, 2))
    boxes = np.column_stack([corner, corner + rng.uniform(10, 60, (300, 2)), rng.random(300)])
    boxes = by_score(boxes)
    ours = boxes[nms(boxes, 0.5, method)]
    theirs = smart_nms_from_bboxes(np.column_stack([np.zeros(300), boxes]), 0.5,
                                   method=method, initial_sort=False)[:, 1:]
    np.testing.assert_array_equal(ours, theirs)


def test_crops_are_tensorflows():
    import tensorflow as tf

    from edge.detect import crops

    rng = np.random.default_rng(2)
    image = rng.uniform(-1, 1, (120, 160, 3)).astype(np.float32)
    corner = rng.uniform(-30, 150, (40, 2))  # some boxes reach outside the image
    boxes = np.column_stack([corner, corner + rng.uniform(8, 90, (40, 1))])
    for size in (24, 48):
        normalised = boxes[:, [1, 0, 3, 2]] / [120, 160, 120, 160]  # y1, x1, y2, x2 in [0, 1]
        expected = tf.image.crop_and_resize(image[None], normalised, np.zeros(40, np.int32),
                                            (size, size)).numpy()
        np.testing.assert_allclose(crops(image, boxes, size), expected, atol=1e-3)


@pytest.mark.parametrize("size", [(320, 240), (640, 480), (1280, 720), (512, 512)])
def test_pyramid_is_the_packages(size):
    from mtcnn.utils.images import build_scale_pyramid

    from edge.detect import pyramid_scales

    np.testing.assert_array_equal(pyramid_scales(*size), build_scale_pyramid(*size, 20, 0.709))


def test_agreement_by_hand():
    """Each package face is matched to the detector's face overlapping it most: (IoU,
    largest landmark distance), or None when none overlaps."""
    from benchmarks.detector_agreement import agreement
    from edge.faces import Face

    marks = np.zeros((5, 2))
    ref = [Face((0, 0, 10, 10), 1.0, marks), Face((100, 100, 110, 110), 1.0, marks)]
    moved = marks.copy()
    moved[2] = (3, 4)                                   # the nose 5 px off
    found = [Face((5, 0, 15, 10), 0.9, moved), Face((0, 0, 10, 10), 0.9, marks + 1)]
    (overlap, error), missed = agreement(ref, found)
    assert (overlap, error) == (1.0, pytest.approx(np.sqrt(2)))   # the exact box wins
    assert missed is None
    assert agreement(ref[:1], found[:1]) == [(pytest.approx(50 / 150), 5.0)]


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_finds_every_face_the_package_finds(exported, scenes, references, variant):
    from benchmarks.detector_agreement import agreement
    from edge.detect import Detector

    detector = Detector(*files(exported, variant))
    total = 0
    for i, (scene, reference) in enumerate(zip(scenes, references)):
        faces = detector.detect(scene)
        if variant == "fp32":
            assert len(faces) == len(reference), f"scene {i}"
        for ref, match in zip(reference, agreement(reference, faces)):
            assert match is not None, f"scene {i}: missed {ref.box}"
            overlap, error = match
            assert overlap >= 0.9, f"scene {i}: {ref.box} IoU {overlap:.3f}"
            assert error <= LANDMARK_TOLERANCE[variant], f"scene {i}: landmarks {error:.2f} px off"
        total += len(reference)
    assert total >= 20  # the scenes really hold faces


def test_grey_frames_and_bad_input(exported, scenes):
    from edge.detect import Detector

    detector = Detector(*files(exported, "fp32"))
    grey = cv2.cvtColor(scenes[1], cv2.COLOR_BGR2GRAY)
    as_grey = detector.detect(grey)
    as_bgr = detector.detect(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    assert as_grey and [f.box for f in as_grey] == [f.box for f in as_bgr]
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(scenes[1].astype(np.float32))


@pytest.mark.edge
def test_device_detector_needs_no_tensorflow(exported, scenes, tmp_path):
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), scenes[0])
    code = textwrap.dedent(f"""
        import sys, cv2
        from edge.detect import Detector
        detector = Detector(*{[str(f) for f in files(exported, "int8")]!r})
        faces = detector.detect(cv2.imread({str(frame)!r}))
        loaded = sorted(m for m in ("tensorflow", "keras", "mtcnn") if m in sys.modules)
        print(len(faces), loaded)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["1", "[]"], result.stdout
