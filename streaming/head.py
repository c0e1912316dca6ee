"""The recurrent head session: windows of features in, class probabilities out."""
from __future__ import annotations

import numpy as np

from export.bundle import Bundle
from streaming.errors import BundleError
from streaming.providers import create_session


class Head:
    """An ONNX Runtime session over the bundle's head; classifies B×window×D feature windows at once."""

    def __init__(self, bundle: Bundle, int8: bool = False, device: str = "auto", threads: int = 0):
        if not bundle.manifest.has_head:
            raise BundleError(f"{bundle.root}: bundle has no head.onnx (extractor only); train one with "
                              "`python -m training run` or use models/demo")
        self.labels = list(bundle.manifest.labels)
        self.window = bundle.manifest.window
        if int8 and "head_int8" not in bundle.manifest.files:
            raise BundleError(f"{bundle.root}: bundle has no int8 head; run `python -m export quantize "
                              f"{bundle.root} --head` first")
        self.role = "head_int8" if int8 else "head"
        self.session = create_session(bundle.path(self.role), device=device, threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities (B×classes) for B windows (B×window×D float32)."""
        if len(windows) == 0:
            return np.empty((0, len(self.labels)), np.float32)
        return self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(windows, np.float32)})[0]
