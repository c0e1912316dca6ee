"""What the extractor and the head share: one ONNX Runtime session with one input and one output."""

from __future__ import annotations

import os

import numpy as np

from streaming.providers import create_session


class OnnxModel:
    """A session on the best usable provider that maps an N×… float32 batch to an N×`out_size` array."""

    def __init__(self, path: str | os.PathLike, out_size: int, device: str = "auto", threads: int = 0):
        self.out_size = out_size
        self.session = create_session(path, device=device, threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) == 0:  # ORT rejects empty batches on some models; nothing to run anyway
            return np.empty((0, self.out_size), np.float32)
        return self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(batch, np.float32)})[0]
