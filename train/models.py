"""Embedding networks by name, and the Siamese model that shares one of them.

Every embedding branch takes faces normalised as (x - 127.5) / 128 (``edge.align``)
and returns a raw embedding; distances are taken between L2-normalised embeddings.
The branch alone is what gets exported to the device.
"""
from __future__ import annotations

import keras
from keras import layers

NORMALISATION = {"mean": 127.5, "scale": 128.0}
ARCHITECTURES = {}


def register(name, size, colour, dim, about, mirror=False):
    """``mirror``: whether faces are embedded with their mirror image by default
    (``mirror_averaged``)."""
    def wrap(fn):
        ARCHITECTURES[name] = {"build": fn, "size": size, "colour": colour, "dim": dim,
                               "about": about, "mirror": mirror}
        return fn
    return wrap


@register("seed", 80, "grey", 50, "the original project's network, for parity")
def build_seed(size=80, channels=1, dim=50):
    """Conv 6 -> pool -> Conv 12 -> pool -> Dense 128 -> Dense 50 (ReLU throughout)."""
    x = inputs = keras.Input((size, size, channels), name="face")
    x = layers.Conv2D(6, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(12, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dense(dim, activation="relu", name="embedding")(x)
    return keras.Model(inputs, x, name="seed")


def _conv(x, filters, name, stride=1):
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


@register("edge", 64, "grey", 128, "small int8-friendly CNN for the device (default)",
          mirror=True)
def build_edge(size=64, channels=1, dim=128, widths=(24, 48, 96, 192)):
    """Four stages of 3x3 conv-BN-ReLU (one, then two per stage) each halving the size,
    then a global depthwise convolution over the last map (keeps where features are,
    unlike average pooling), and a linear projection to the embedding (a 1x1
    convolution, so the exported model has no shape arithmetic for a dynamic batch).
    Only ops LiteRT quantises fully: conv, depthwise conv, BN (folded), ReLU, dense.
    """
    x = inputs = keras.Input((size, size, channels), name="face")
    for stage, width in enumerate(widths):
        x = _conv(x, width, f"s{stage}a")
        if stage:
            x = _conv(x, width, f"s{stage}b")
        x = layers.MaxPooling2D(name=f"s{stage}_pool")(x)
    x = layers.DepthwiseConv2D(x.shape[1], use_bias=False, name="gdc")(x)
    x = layers.BatchNormalization(name="gdc_bn")(x)
    x = layers.Dropout(0.2, name="drop")(x)
    x = layers.Conv2D(dim, 1, use_bias=False, name="project")(x)   # dense on the 1x1 map
    x = layers.BatchNormalization(name="embedding")(x)
    x = layers.Flatten(name="flat")(x)   # dropped on export: the device flattens
    return keras.Model(inputs, x, name="edge")


def build(arch: str, size: int | None = None, dim: int | None = None,
          colour: str | None = None, init: str | None = None) -> keras.Model:
    """The embedding branch named ``arch`` (see ``ARCHITECTURES``)."""
    if arch == "sface":
        from train.sface import build_sface
        return build_sface(init)
    if arch not in ARCHITECTURES:
        known = ", ".join(sorted([*ARCHITECTURES, "sface"]))
        raise ValueError(f"unknown architecture {arch!r} (known: {known})")
    spec = ARCHITECTURES[arch]
    channels = 1 if (colour or spec["colour"]) == "grey" else 3
    return spec["build"](size=size or spec["size"], channels=channels, dim=dim or spec["dim"])


def blocks(model: keras.Model) -> dict[str, list]:
    """The model's layers grouped by block, input to output (for freezing when
    fine-tuning): ``conv_1`` .. ``conv_14`` and ``head`` for SFace, ``s0`` .. ``s3`` and
    ``head`` for ``edge``."""
    if model.name == "sface":
        from train.sface import freezable_blocks
        return freezable_blocks(model)
    out: dict[str, list] = {}
    for layer in model.layers:
        if not isinstance(layer, keras.layers.InputLayer):
            stage = layer.name.split("_")[0][:2]
            out.setdefault(stage if stage[1:].isdigit() else "head", []).append(layer)
    return out


def freeze(model: keras.Model, count: int) -> list[str]:
    """Freeze the first ``count`` blocks; returns their names."""
    names = list(blocks(model))[:count]
    for name in names:
        for layer in blocks(model)[name]:
            layer.trainable = False
    return names


@keras.saving.register_keras_serializable("siamese_edge")
class MirrorStack(layers.Layer):
    """N faces -> 2N: the faces, then the same faces mirrored left to right."""

    def call(self, x):
        return keras.ops.concatenate([x, keras.ops.flip(x, axis=2)], axis=0)


@keras.saving.register_keras_serializable("siamese_edge")
class MirrorSum(layers.Layer):
    """2N rows -> N: each face's embedding plus its mirror image's. A reshape with a
    constant shape and a sum, so a dynamic batch needs no shape arithmetic."""

    def call(self, y):
        return keras.ops.sum(keras.ops.reshape(y, (2, -1, *y.shape[1:])), axis=0)


def mirror_averaged(branch: keras.Model) -> keras.Model:
    """The branch applied to each face and to its mirror image, embeddings summed (a
    face and its mirror are the same person, so their mean embedding is steadier).
    Shares the branch's weights; the trailing Flatten stays last for the device to drop."""
    flat = isinstance(branch.layers[-1], layers.Flatten)
    inner = keras.Model(branch.input, branch.layers[-1].input if flat else branch.output,
                        name=f"{branch.name}_core")
    inputs = keras.Input(branch.input_shape[1:], name="face")
    x = MirrorSum(name="mirror_sum")(inner(MirrorStack(name="mirror_stack")(inputs)))
    if flat:
        x = layers.Flatten(name="flat")(x)
    return keras.Model(inputs, x, name=f"{branch.name}_mirror")


def l2_normalise(x):
    return keras.ops.normalize(x, axis=-1, order=2)


def siamese(branch: keras.Model) -> keras.Model:
    """Two faces through the one shared branch; the head is the Euclidean distance."""
    shape = branch.input_shape[1:]
    a, b = keras.Input(shape, name="face_a"), keras.Input(shape, name="face_b")
    ea, eb = l2_normalise(branch(a)), l2_normalise(branch(b))
    d = keras.ops.sqrt(keras.ops.maximum(keras.ops.sum(keras.ops.square(ea - eb), axis=-1,
                                                         keepdims=True), 1e-12))
    return keras.Model([a, b], d, name="siamese")


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one forward pass through conv, depthwise and dense layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += multiply_adds(layer)
            continue
        out = layer.output.shape
        if isinstance(layer, layers.DepthwiseConv2D):
            k = layer.kernel_size
            total += out[1] * out[2] * k[0] * k[1] * layer.input.shape[-1]
        elif isinstance(layer, layers.Conv2D):
            k = layer.kernel_size
            total += out[1] * out[2] * k[0] * k[1] * layer.input.shape[-1] * layer.filters
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
