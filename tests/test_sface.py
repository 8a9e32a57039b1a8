"""The Keras port of SFace computes what the ONNX model it came from computes."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("mtcnn")
import keras  # noqa: E402
import onnx  # noqa: E402

from edge.align import normalise  # noqa: E402
from edge.images import read_image  # noqa: E402
from tests.conftest import need_data  # noqa: E402
from train import sface  # noqa: E402
from train.mtcnn_faces import MtcnnFaces  # noqa: E402
from train.prepare import Settings, crop_face  # noqa: E402

# Real faces: grey ORL and celebrity crops, and Yale B under hard light.
FACES = ["orl/s1/1.pgm", "orl/s7/4.pgm", "orl/s23/9.pgm", "orl/s35/2.pgm",
         "celebs/iu/iu-010.jpg", "celebs/kim_hyesoo/kim_hyesoo-012.jpg",
         "yaleb/yaleB02/yaleB02_P00A+000E+00.png", "yaleb/yaleB11/yaleB11_P00A+025E+00.png"]


@pytest.fixture(scope="module")
def onnx_path():
    try:
        return sface.default_onnx_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def faces():
    """The FACES as the project prepares them: MTCNN's five landmarks, edge.align, 112 RGB."""
    finder = MtcnnFaces()
    settings = Settings(size=sface.INPUT_SIZE, colour="rgb")   # no face: FaceError, test fails
    return np.stack([crop_face(read_image(need_data(name)), finder, settings)[0]
                     for name in FACES])


def keras_embeddings(model, faces):
    return model.predict(normalise(faces, sface.INPUT_MEAN, sface.INPUT_SCALE), verbose=0)


@pytest.fixture(scope="module")
def model(onnx_path):
    return sface.build_sface(onnx_path)


def test_keras_matches_onnx_on_real_aligned_faces(onnx_path, model, faces):
    ours = keras_embeddings(model, faces)
    reference = sface.onnx_reference(onnx_path)(faces)
    assert ours.shape == (len(FACES), sface.EMBEDDING_SIZE)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = (ours * reference).sum(1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.999, dict(zip(FACES, cosine.round(6)))


def test_depthwise_prelu_is_exactly_prelu(onnx_path, model, faces):
    native = sface.build_sface(onnx_path, prelu_as_depthwise=False)
    assert not any(isinstance(layer, keras.layers.PReLU) for layer in model.layers)
    x = normalise(faces, sface.INPUT_MEAN, sface.INPUT_SCALE)
    np.testing.assert_allclose(model.predict(x, verbose=0), native.predict(x, verbose=0),
                               rtol=0, atol=1e-6)
    # Deep inside too, before the head's normalisation can hide anything.
    inner = [keras.Model(m.input, m.get_layer("conv_14_relu").output) for m in (model, native)]
    a, b = (m.predict(x[:2], verbose=0) for m in inner)
    assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max()


def test_freezable_blocks_cover_the_network(model):
    blocks = sface.freezable_blocks(model)
    assert list(blocks) == [f"conv_{k}" for k in range(1, 15)] + ["head"]
    assert [layer.name for layer in blocks["head"]][-3:] == ["fc1", "flatten", "l2_normalize"]
    constant = [layer for layer in model.layers if layer.name.endswith(("_pos", "_neg"))]
    assert constant and not any(layer.trainable for layer in constant)
    listed = {layer.name for layers in blocks.values() for layer in layers}
    assert listed.isdisjoint(layer.name for layer in constant)


@pytest.mark.parametrize("damage", ["truncated", "not_onnx", "other_model"])
def test_bad_file_fails_with_one_clear_line(onnx_path, tmp_path, damage):
    bad = tmp_path / "model.onnx"
    if damage == "truncated":
        data = onnx_path.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        expected = "not a readable ONNX model"
    elif damage == "not_onnx":
        bad.write_bytes(b"P5\n92 112\n255\n" + bytes(92 * 112))   # a grey PGM image
        expected = "not a readable ONNX model"
    else:
        other = sorted(p for p in onnx_path.parent.glob("*.onnx") if "sface" not in p.name)
        if not other:
            pytest.skip("no other ONNX model next to SFace")
        bad.write_bytes(other[0].read_bytes())
        expected = "not the SFace model"
    with pytest.raises(ValueError, match=expected) as error:
        sface.load_onnx_weights(bad)
    message = str(error.value)
    assert str(bad) in message and "\n" not in message


def test_missing_file_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        sface.load_onnx_weights(tmp_path / "absent.onnx")
