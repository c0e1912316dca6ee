"""The feature extractor session: frames in, per-frame feature vectors out.

One instance serves every stream of the engine and the training extraction alike, so training features and
live features come from the same ONNX file through the same preprocessing.

    extractor = Extractor(load_bundle("models/demo"))
    feats = extractor.extract_frames([frame_bgr, ...])   # N×D float32
"""
from __future__ import annotations

import numpy as np

from export.bundle import Bundle
from streaming.preprocess import FrameSpec, preprocess_batch
from streaming.providers import create_session


class Extractor:
    """An ONNX Runtime session over the bundle's extractor (fp32, or int8 when asked)."""

    def __init__(self, bundle: Bundle, int8: bool = False, device: str = "auto", threads: int = 0):
        self.role = bundle.extractor_role(int8)
        self.spec: FrameSpec = bundle.manifest.frame
        self.feature_size = bundle.manifest.feature_size
        self.session = create_session(bundle.path(self.role), device=device, threads=threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    @property
    def provider(self) -> str:
        return self.session.get_providers()[0]

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """Features for an already preprocessed N×h×w×3 float32 batch."""
        if len(batch) == 0:
            return np.empty((0, self.feature_size), np.float32)
        return self.session.run([self.output_name], {self.input_name: batch})[0]

    def extract_frames(self, frames_bgr: list[np.ndarray]) -> np.ndarray:
        """Features for decoded BGR frames, preprocessed by the one shared function, in one call."""
        return self(preprocess_batch(frames_bgr, self.spec))
