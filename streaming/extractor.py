"""The feature extractor session: frames in, per-frame feature vectors out.

One instance serves every stream of the engine and the training extraction alike, so training features and
live features come from the same ONNX file through the same preprocessing.

    extractor = Extractor(load_bundle("models/demo"))
    feats = extractor.extract_frames([frame_bgr, ...])   # N×D float32
"""

from __future__ import annotations

import numpy as np

from streaming.bundle import Bundle
from streaming.onnx_model import OnnxModel
from streaming.preprocess import FrameSpec, preprocess_batch


class Extractor(OnnxModel):
    """The bundle's extractor (fp32, or int8 when asked); called on a preprocessed N×h×w×3 batch it gives N×D."""

    def __init__(self, bundle: Bundle, int8: bool = False, device: str = "auto", threads: int = 0):
        self.role = bundle.extractor_role(int8)
        self.spec: FrameSpec = bundle.manifest.frame
        self.feature_size = bundle.manifest.feature_size
        super().__init__(bundle.path(self.role), self.feature_size, device=device, threads=threads)

    def extract_frames(self, frames_bgr: list[np.ndarray]) -> np.ndarray:
        """Features for decoded BGR frames, preprocessed by the one shared function, in one call."""
        return self(preprocess_batch(frames_bgr, self.spec))
