"""MTCNN to TFLite: the mtcnn package's P-Net, R-Net and O-Net for ``edge.detect``.

P-Net keeps a dynamic height and width (the device resizes its input per pyramid
level); R-Net (24x24) and O-Net (48x48) keep a dynamic batch. Inputs and outputs are
float32 RGB scaled to (x - 127.5) / 128, as in the package.

The int8 variant quantises the weights of R-Net and O-Net to int8 (dynamic range:
activations stay float). Measured against the package (``benchmarks/detector_agreement.py``),
that keeps every face, while int8 P-Net moves or loses faces, and full-integer int8
(``to_tflite(..., "full", representative)``, calibrated there on scenes of real faces)
loses faces and runs slower than fp32 under LiteRT's XNNPACK.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

NETS = {  # name: (input height and width, package weights)
    "pnet": ((None, None), "pnet.lz4"),
    "rnet": ((24, 24), "rnet.lz4"),
    "onet": ((48, 48), "onet.lz4"),
}
INT8_NETS = ("rnet", "onet")  # int8 P-Net moves and misses faces


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
