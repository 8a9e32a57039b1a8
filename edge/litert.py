"""The one place that chooses the TFLite interpreter.

LiteRT (``ai_edge_litert``) is the current name; ``tflite_runtime`` serves older Pi
set-ups (numpy < 2); ``tensorflow.lite`` is the last resort on a workstation. The
device never needs TensorFlow itself.
"""
from __future__ import annotations

import importlib


def _find():
    for module, attr in (("ai_edge_litert.interpreter", "Interpreter"),
                         ("tflite_runtime.interpreter", "Interpreter")):
        try:
            return module.split(".")[0], getattr(importlib.import_module(module), attr)
        except ImportError:
            continue
    try:  # a workstation with TensorFlow but neither runtime package
        lite = importlib.import_module("tensorflow.lite")
        return "tensorflow.lite", lite.Interpreter
    except ImportError:
        return None, None


RUNTIME, _INTERPRETER = _find()


def make_interpreter(path: str, threads: int | None = None):
    """A TFLite interpreter for the model file at ``path``, tensors allocated."""
    if _INTERPRETER is None:
        raise RuntimeError("no TFLite interpreter: pip install ai-edge-litert "
                           "(or tflite-runtime on numpy < 2)")
    interpreter = _INTERPRETER(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter
