"""Multiply-adds of a TFLite model, read from its graph: a figure that does not depend
on the machine, so a Pi owner can set this project's costs beside published ones.

Counted: convolutions, depthwise convolutions, transposed convolutions and fully
connected layers (everything else in these networks is a rounding error), at the input
shape the interpreter is allocated for.
"""
from __future__ import annotations

import numpy as np

WEIGHTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED"}


def multiply_adds(interpreter) -> int:
    """Multiply-adds of one invocation of ``interpreter`` at its current input shape,
    read after an invocation (a graph that stacks a face with its mirror image knows
    the doubled batch only once it has run)."""
    shapes = {t["index"]: t["shape"] for t in interpreter.get_tensor_details()}
    total = 0
    for op in interpreter._get_ops_details():   # the runtimes' one view of the graph
        name = op["op_name"]
        if name not in WEIGHTED:
            continue
        out = int(np.prod(shapes[op["outputs"][0]]))
        weights = shapes[op["inputs"][1]]
        if name == "CONV_2D":                # weights: out_c, kh, kw, in_c
            total += out * int(weights[1] * weights[2] * weights[3])
        elif name == "DEPTHWISE_CONV_2D":    # weights: 1, kh, kw, out_c
            total += out * int(weights[1] * weights[2])
        elif name == "TRANSPOSE_CONV":       # weights: out_c, kh, kw, in_c; per input pixel
            total += int(np.prod(shapes[op["inputs"][2]])) * int(np.prod(weights))
        else:                                # FULLY_CONNECTED, weights: units, in
            total += out * int(weights[1])
    return total


def model_multiply_adds(path, shape=None) -> int:
    """Multiply-adds of one invocation of the model at ``path`` (at ``shape``, if given)."""
    from edge.litert import make_interpreter

    interpreter = make_interpreter(path, 1, plain=True)
    if shape is not None:
        interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], list(shape))
    interpreter.allocate_tensors()
    given = interpreter.get_input_details()[0]
    interpreter.set_tensor(given["index"], np.zeros(given["shape"], given["dtype"]))
    interpreter.invoke()
    return multiply_adds(interpreter)


def detector_multiply_adds(detector, width: int, height: int) -> dict:
    """A detector's multiply-adds for one ``width`` x ``height`` frame: P-Net over the
    whole pyramid (at the detector's min_face, max_face and working size), and R-Net
    and O-Net per candidate face (how many candidates reach them depends on the frame)."""
    from edge.detect import pyramid_scales

    scale = min(1.0, detector.max_side / max(width, height))
    w, h = round(width * scale), round(height * scale)
    levels = [(int(h * s), int(w * s)) for s in pyramid_scales(
        w, h, detector.min_face, detector.scale_factor, max_face=detector.max_face)]
    levels = [(lh, lw) for lh, lw in levels if min(lh, lw) >= 12]
    return {"pnet": sum(model_multiply_adds(detector.pnet.path, (1, lh, lw, 3))
                        for lh, lw in levels),
            "levels": len(levels),
            "rnet_per_candidate": model_multiply_adds(detector.rnet.path),
            "onet_per_candidate": model_multiply_adds(detector.onet.path)}


def near_multiply_adds(detector, faces: int) -> int:
    """R-Net's multiply-adds for ``detect_near`` following ``faces`` faces (each judged
    at NEAR_SHIFTS candidate boxes; O-Net then runs on the survivors, usually one a face)."""
    from edge.detect import NEAR_SHIFTS

    return faces * len(NEAR_SHIFTS) * model_multiply_adds(detector.rnet.path)
