"""MTCNN to TFLite: the mtcnn package's P-Net, R-Net and O-Net for ``edge.detect``.

P-Net keeps a dynamic height and width (the device resizes its input per pyramid
level); R-Net (24x24) and O-Net (48x48) keep a dynamic batch. Inputs and outputs are
float32 RGB scaled to (x - 127.5) / 128, as in the package.

int8 (full-integer inside, float32 in and out) is calibrated on what each network
really sees: pyramid levels, R-Net and O-Net crops of scenes built from real faces
(``yaleb`` and ``celebs``, pasted onto scikit-image photos). It is written only for the
networks listed in ``INT8_NETS``: the others lose agreement with the package (see
``benchmarks/detector_agreement.py``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

NETS = {  # name: (input height and width, package weights)
    "pnet": ((None, None), "pnet.lz4"),
    "rnet": ((24, 24), "rnet.lz4"),
    "onet": ((48, 48), "onet.lz4"),
}
INT8_NETS = ("rnet", "onet")  # P-Net in int8 misses faces the package finds
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BACKGROUNDS = ("rocket", "coffee", "chelsea", "brick", "grass", "gravel", "camera")


def keras_net(name: str):
    """The package's network ``name`` with its weights, as a functional Keras model."""
    import keras
    from mtcnn.network.onet import ONet
    from mtcnn.network.pnet import PNet
    from mtcnn.network.rnet import RNet
    from mtcnn.utils.tensorflow import load_weights

    net = {"pnet": PNet, "rnet": RNet, "onet": ONet}[name]()
    net.build()
    net.set_weights(load_weights(NETS[name][1]))
    size = NETS[name][0]
    inputs = keras.Input((*size, 3), batch_size=1 if name == "pnet" else None)
    return keras.Model(inputs, net(inputs), name=name)


def to_tflite(model, representative=None) -> bytes:
    """Convert with frozen weights; int8 inside (float32 I/O) when given calibration data."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([x] for x in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    data = converter.convert()
    if model.name == "pnet":
        data = default_input_shape(data, (1, 12, 12, 3))
    return data


def default_input_shape(model: bytes, shape) -> bytes:
    """Give the dynamic input a valid default shape (its signature stays dynamic).

    The converter stores 1 for every unknown dimension; P-Net cannot run on 1x1, so an
    interpreter could not allocate its tensors before the first resize.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    obj = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    graph = obj.subgraphs[0]
    graph.tensors[graph.inputs[0]].shape = list(shape)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(obj))


def make_scene(faces: list[np.ndarray], rng: np.random.Generator,
               size=(640, 480), background: str = "rocket",
               heights=(40, 200)) -> np.ndarray:
    """A BGR scene: a scikit-image photo with these grey face images pasted at random.

    Faces are scaled to a random height in ``heights`` and placed without overlap when
    possible (up to 50 tries each).
    """
    import skimage.data

    photo = getattr(skimage.data, background)()
    photo = cv2.cvtColor(photo, cv2.COLOR_GRAY2BGR if photo.ndim == 2 else cv2.COLOR_RGB2BGR)
    scene = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
    taken: list[tuple[int, int, int, int]] = []
    for face in faces:
        h = int(rng.integers(*heights))
        w = max(1, round(face.shape[1] * h / face.shape[0]))
        if h >= size[1] or w >= size[0]:
            continue
        for _ in range(50):
            x, y = int(rng.integers(0, size[0] - w)), int(rng.integers(0, size[1] - h))
            if all(x + w < a or a + c < x or y + h < b or b + d < y for a, b, c, d in taken):
                break
        taken.append((x, y, w, h))
        patch = cv2.resize(face, (w, h), interpolation=cv2.INTER_AREA)
        scene[y:y + h, x:x + w] = patch[..., None] if patch.ndim == 2 else patch
    return scene


def read_faces(folder: Path, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` grey face images picked at random from the image files under ``folder``."""
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".png", ".pgm"))
    if not paths:
        raise FileNotFoundError(f"no face images under {folder}")
    picked = rng.choice(len(paths), size=count, replace=False)
    return [cv2.imread(str(paths[i]), cv2.IMREAD_GRAYSCALE) for i in picked]


def calibration_scenes(count: int = 16, seed: int = 1234, data: Path = DATA) -> list[np.ndarray]:
    """BGR scenes of 640x480 with 1-4 faces from yaleb and celebs (train identities)."""
    rng = np.random.default_rng(seed)
    scenes = []
    for i in range(count):
        folder = data / ("yaleb" if i % 2 else "celebs")
        faces = read_faces(folder, int(rng.integers(1, 5)), rng)
        scenes.append(make_scene(faces, rng, background=BACKGROUNDS[i % len(BACKGROUNDS)]))
    return scenes


class _Recorder:
    """Stands in for one of the detector's networks and keeps every input it gets."""

    def __init__(self, net):
        self.net, self.inputs = net, []

    def run(self, x):
        self.inputs.append(x.copy())
        return self.net.run(x)

    def run_batched(self, x, largest):
        self.inputs.append(x.copy())
        return self.net.run_batched(x, largest)


def calibration_inputs(pnet: str, rnet: str, onet: str, scenes) -> dict[str, list]:
    """What each network sees while the fp32 TFLite detector runs on ``scenes``."""
    from edge.detect import Detector

    detector = Detector(pnet, rnet, onet)
    recorders = {name: _Recorder(getattr(detector, name)) for name in NETS}
    for name, recorder in recorders.items():
        setattr(detector, name, recorder)
    for scene in scenes:
        detector.detect(scene)
    seen = {name: r.inputs for name, r in recorders.items()}
    # one sample per crop, so the converter's batch of one sees every crop
    seen["rnet"] = [c[None] for batch in seen["rnet"] for c in batch][:400]
    seen["onet"] = [c[None] for batch in seen["onet"] for c in batch][:400]
    return seen


def _write(path: Path, data: bytes) -> dict:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def export_detector(out_dir, int8: bool = False, data: Path = DATA) -> dict:
    """Write mtcnn_{pnet,rnet,onet}.tflite into ``out_dir``; return their manifest entry.

    ``int8``: also write ``mtcnn_<net>_int8.tflite`` for the networks in ``INT8_NETS``
    and list those in ``int8`` (the fp32 files stay for the rest).
    """
    from importlib.metadata import version

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    models = {name: keras_net(name) for name in NETS}
    fp32 = {name: _write(out / f"mtcnn_{name}.tflite", to_tflite(m)) for name, m in models.items()}
    manifest = {
        "kind": "mtcnn", "source": f"mtcnn {version('mtcnn')}",
        "colour": "rgb", "mean": 127.5, "scale": 128.0,
        "fp32": fp32,
    }
    if int8:
        seen = calibration_inputs(*(out / fp32[n]["file"] for n in NETS), calibration_scenes(data=data))
        manifest["int8"] = {
            name: (_write(out / f"mtcnn_{name}_int8.tflite", to_tflite(models[name], seen[name]))
                   if name in INT8_NETS else fp32[name])
            for name in NETS}
    return manifest
