"""MTCNN to TFLite: the mtcnn package's P-Net, R-Net and O-Net for ``edge.detect``.

P-Net keeps a dynamic height and width (the device resizes its input per pyramid
level); R-Net (24x24) and O-Net (48x48) keep a dynamic batch. Inputs and outputs are
float32 RGB scaled to (x - 127.5) / 128, as in the package.

The int8 variant quantises the weights of R-Net and O-Net to int8 (dynamic range:
activations stay float). Measured against the package (``benchmarks/detector_agreement.py``),
that keeps every face, while int8 P-Net moves or loses faces, and full-integer int8
(calibrated on scenes of real faces, see ``calibration_inputs``) loses faces and runs
slower than fp32 under LiteRT's XNNPACK.
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
INT8_NETS = ("rnet", "onet")  # int8 P-Net moves and misses faces
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BACKGROUNDS = ("rocket", "coffee", "chelsea", "brick", "grass", "gravel", "camera")


def keras_net(name: str):
    """The package's network ``name`` with its weights, as a functional Keras model."""
    import keras
    from mtcnn.network.onet import ONet
    from mtcnn.network.pnet import PNet
    from mtcnn.network.rnet import RNet
    from mtcnn.utils.tensorflow import load_weights

    net = {"pnet": PNet, "rnet": RNet, "onet": ONet}[name](name=f"mtcnn_{name}")
    net.build()
    net.set_weights(load_weights(NETS[name][1]))
    size = NETS[name][0]
    # fixed names: the file (and its sha256) must not depend on what ran before
    inputs = keras.Input((*size, 3), batch_size=1 if name == "pnet" else None, name="image")
    return keras.Model(inputs, net(inputs), name=name)


def to_tflite(model, mode: str = "fp32", representative=None) -> bytes:
    """Convert with frozen weights. ``mode``: "fp32", "dynamic" (int8 weights) or "full"
    (int8 weights and activations, float32 I/O, calibrated on ``representative``)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode in ("dynamic", "full"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        # Per-channel int8 dense weights need FULLY_CONNECTED v12, which tflite-runtime
        # 2.14 (the last build for older Pis, numpy < 2) cannot load; per-tensor can.
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    if mode == "full":
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


def face_scenes(count: int, seed: int, sources=("celebs", "orl"), data: Path = DATA):
    """``count`` seeded BGR 640x480 scenes, each with 1-4 faces from one of ``sources``."""
    rng = np.random.default_rng(seed)
    scenes = []
    for i in range(count):
        faces = read_faces(data / sources[i % len(sources)], int(rng.integers(1, 5)), rng)
        scenes.append(make_scene(faces, rng, background=BACKGROUNDS[i % len(BACKGROUNDS)]))
    return scenes


def package_faces(detector, image_bgr: np.ndarray) -> list:
    """The mtcnn package's faces (unrounded) in a BGR image, as ``edge.faces.Face``."""
    from edge.faces import Face

    rows = detector.detect_faces(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB),
                                 output_type="numpy", box_format="xyxy")
    return [Face(box=tuple(float(v) for v in r[1:5]), score=float(r[5]),
                 landmarks=np.stack([r[6:11], r[11:16]], axis=1)) for r in rows]


def iou(a, b) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def agreement(reference: list, faces: list) -> list:
    """For each reference face: (IoU, largest landmark error in pixels) of the face that
    overlaps it most, or None when none overlaps."""
    result = []
    for ref in reference:
        best = max(faces, key=lambda f: iou(ref.box, f.box), default=None)
        if best is None or iou(ref.box, best.box) == 0:
            result.append(None)
        else:
            error = float(np.linalg.norm(best.landmarks - ref.landmarks, axis=1).max())
            result.append((iou(ref.box, best.box), error))
    return result


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


def calibration_inputs(pnet: str, rnet: str, onet: str, data: Path = DATA) -> dict[str, list]:
    """What each network sees while the fp32 TFLite detector runs on 16 scenes of
    yaleb and celebs faces (representative data for full-integer int8)."""
    from edge.detect import Detector

    scenes = face_scenes(16, seed=1234, sources=("celebs", "yaleb"), data=data)

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


def _write(path: Path, data: bytes, quantisation: str) -> dict:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return {"file": path.name, "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data), "quantisation": quantisation}


def export_detector(out_dir, int8: bool = False) -> dict:
    """Write the three networks into ``out_dir``; return the bundle's "detector" entry.

    fp32: mtcnn_{pnet,rnet,onet}.tflite. ``int8``: the networks in ``INT8_NETS`` as
    mtcnn_<net>_int8.tflite instead (P-Net stays fp32). The entry names each file with
    its sha256, and the ``settings`` that ``edge.detect.Detector`` takes.
    """
    from importlib.metadata import version

    from edge.detect import MEAN, MIN_FACE, SCALE, SCALE_FACTOR, THRESHOLDS

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entry = {
        "kind": "mtcnn", "source": f"mtcnn {version('mtcnn')}",
        "variant": "int8" if int8 else "fp32",
        "colour": "rgb", "mean": MEAN, "scale": SCALE,
        "settings": {"min_face": MIN_FACE, "scale_factor": SCALE_FACTOR,
                     "thresholds": list(THRESHOLDS)},
    }
    for name in NETS:
        if int8 and name in INT8_NETS:
            entry[name] = _write(out / f"mtcnn_{name}_int8.tflite",
                                 to_tflite(keras_net(name), "dynamic"),
                                 "int8 weights, float activations (dynamic range)")
        else:
            entry[name] = _write(out / f"mtcnn_{name}.tflite", to_tflite(keras_net(name)), "fp32")
    return entry
