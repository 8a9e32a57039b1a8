"""Embedding aligned faces with a TFLite model, whatever its quantisation.

The model takes faces normalised as (x - mean) / scale (the bundle's manifest says
which); int8 models are fed through their input quantisation and answered through
their output dequantisation. Embeddings come back L2-normalised.
"""
from __future__ import annotations

import numpy as np

from edge.align import normalise
from edge.litert import make_interpreter


class Embedder:
    """``interpreter``: one already made for ``model_path`` with ``threads`` (by the
    bundle's check, see ``Bundle.embedder``), used instead of making another."""

    def __init__(self, model_path, mean: float = 127.5, scale: float = 128.0,
                 threads: int | None = None, sha256: str = "", interpreter=None):
        if interpreter is None:
            interpreter = make_interpreter(model_path, threads)
        self.interpreter = interpreter
        self.mean, self.scale, self.sha256 = mean, scale, sha256
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]
        self.size = int(self._in["shape"][1])
        self.channels = int(self._in["shape"][3])
        self.dim = int(self._out["shape"][-1])
        self._batch = int(self._in["shape"][0])

    def _resize(self, n: int):
        if n != self._batch:
            self.interpreter.resize_tensor_input(self._in["index"], [n, self.size, self.size,
                                                                    self.channels])
            self.interpreter.allocate_tensors()
            self._in = self.interpreter.get_input_details()[0]
            self._out = self.interpreter.get_output_details()[0]
            self._batch = n

    def embed(self, faces) -> np.ndarray:
        """L2-normalised embeddings (N x dim, float32) of aligned uint8 faces."""
        faces = np.asarray(faces)
        if faces.ndim == 2 or (faces.ndim == 3 and self.channels == 3 and faces.shape[-1] == 3
                               and faces.shape[0] == self.size):
            faces = faces[None]
        if len(faces) == 0:
            return np.zeros((0, self.dim), np.float32)
        x = normalise(faces, self.mean, self.scale)
        if x.shape[1:] != (self.size, self.size, self.channels):
            raise ValueError(f"faces are {x.shape[1:]}, the model takes "
                             f"{(self.size, self.size, self.channels)}")
        self._resize(len(x))
        dtype = self._in["dtype"]
        if dtype != np.float32:
            s, z = self._in["quantization"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / s + z), info.min, info.max).astype(dtype)
        self.interpreter.set_tensor(self._in["index"], x)
        self.interpreter.invoke()
        y = self.interpreter.get_tensor(self._out["index"])
        if self._out["dtype"] != np.float32:
            s, z = self._out["quantization"]
            y = (y.astype(np.float32) - z) * s
        y = y.reshape(len(x), -1).astype(np.float32)
        return y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
