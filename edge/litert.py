"""The one place that chooses the TFLite interpreter.

LiteRT (``ai_edge_litert``) is the current name; ``tflite_runtime`` serves older Pi
set-ups (numpy < 2); ``tensorflow.lite`` is the last resort on a workstation. The
device never needs TensorFlow itself.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sys


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


def make_interpreter(path: str, threads: int | None = None, plain: bool = False):
    """A TFLite interpreter for the model file at ``path``, tensors allocated.

    ``plain``: the built-in kernels alone, without the default (XNNPACK) delegate, whose
    tensors the interpreter no longer sizes: for reading the graph, not for speed."""
    if _INTERPRETER is None:
        raise RuntimeError("no TFLite interpreter: pip install ai-edge-litert "
                           "(or tflite-runtime on numpy < 2)")
    options = {}
    if plain:
        resolver = getattr(sys.modules[_INTERPRETER.__module__], "OpResolverType", None)
        if resolver is not None:
            options["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with _quiet_stderr():  # the runtime's "INFO: Created ... XNNPACK delegate" line
        interpreter = _INTERPRETER(model_path=str(path), num_threads=threads, **options)
        interpreter.allocate_tensors()
    return interpreter


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C++ runtime's informational lines on file descriptor 2 (a failure
    still raises, with its message, as a Python exception)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
