"""The embedding branch to TFLite: fp32, fp16, dynamic-range and full-integer int8.

The branch is traced with a dynamic batch dimension and its variables frozen to
constants before conversion (with Keras 3, a converter fed a concrete function can
otherwise leave the weights as variables: a tiny fp32 file, then READ_VARIABLE errors
in int8 calibration).
"""
from __future__ import annotations

import numpy as np

VARIANTS = ("fp32", "fp16", "dynamic", "int8")


SHAPE_ONLY = ("Flatten", "Reshape", "UnitNormalization")


def device_branch(branch):
    """The branch without its trailing Flatten / UnitNormalization layers: the device
    flattens and L2-normalises in numpy, and the model keeps a dynamic batch with no
    SHAPE / PACK arithmetic (which would split XNNPACK's graph)."""
    import keras

    out = branch.output
    layer = branch.layers[-1]
    while type(layer).__name__ in SHAPE_ONLY:
        out = layer.input
        layer = out._keras_history.operation
    return branch if out is branch.output else keras.Model(branch.inputs, out, name=branch.name)


def _frozen_function(branch):
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    shape = [None, *branch.input_shape[1:]]
    fn = tf.function(lambda x: branch(x, training=False))
    concrete = fn.get_concrete_function(tf.TensorSpec(shape, tf.float32, name="face"))
    return convert_variables_to_constants_v2(concrete)


def to_tflite(branch, variant: str, representative: np.ndarray | None = None) -> bytes:
    """Convert a Keras embedding branch; ``representative`` (normalised float faces)
    is required for int8 and calibrates its activation ranges."""
    import tensorflow as tf

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (known: {', '.join(VARIANTS)})")
    frozen = _frozen_function(device_branch(branch))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if variant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if representative is None or not len(representative):
            raise ValueError("int8 needs representative faces")

        def samples():
            for face in representative:
                yield [face[None].astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()
