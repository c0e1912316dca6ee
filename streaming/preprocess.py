"""The one frame preprocessing shared by training extraction and the live engine.

Training features and live features are equal only if both go through exactly this code, so nothing
else in the project resizes, converts colour or scales frames for a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Preprocessing names a bundle manifest may carry. "inception": RGB scaled to [-1, 1] (x / 127.5 - 1),
#: as keras.applications.inception_v3.preprocess_input does. "unit": scaled to [0, 1] (x / 255), what the pose
#: landmark model takes (the pose pipeline crops and scales its own inputs; see streaming.pose_spec).
PREPROCESSING_NAMES = ("inception", "unit")


@dataclass(frozen=True)
class FrameSpec:
    """What the extractor expects: frame size, colour order and value scaling."""

    height: int = 299
    width: int = 299
    color: str = "RGB"
    preprocessing: str = "inception"

    def __post_init__(self) -> None:
        if self.height <= 0 or self.width <= 0:
            raise ValueError(f"frame size must be positive, got {self.height}x{self.width}")
        if self.color not in ("RGB", "BGR"):
            raise ValueError(f"frame color must be RGB or BGR, got {self.color!r}")
        if self.preprocessing not in PREPROCESSING_NAMES:
            raise ValueError(f"unknown preprocessing {self.preprocessing!r}; known: {PREPROCESSING_NAMES}")

    def to_dict(self) -> dict:
        return {"height": self.height, "width": self.width, "color": self.color, "preprocessing": self.preprocessing}

    @classmethod
    def from_dict(cls, d: dict) -> "FrameSpec":
        return cls(
            height=int(d["height"]),
            width=int(d["width"]),
            color=str(d.get("color", "RGB")),
            preprocessing=str(d.get("preprocessing", "inception")),
        )


def preprocess_frame(frame_bgr: np.ndarray, spec: FrameSpec, out: np.ndarray | None = None) -> np.ndarray:
    """Turn one decoded OpenCV frame (H×W×3 uint8, BGR) into the extractor's float32 input (h×w×3).

    `out` lets a caller write straight into a preallocated batch slot.
    """
    if frame_bgr.ndim == 2:  # grey frames from some cameras/containers
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_GRAY2BGR)
    elif frame_bgr.shape[2] == 4:
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_BGRA2BGR)
    if frame_bgr.shape[0] != spec.height or frame_bgr.shape[1] != spec.width:
        interp = cv2.INTER_AREA if frame_bgr.shape[0] > spec.height else cv2.INTER_LINEAR
        frame_bgr = cv2.resize(frame_bgr, (spec.width, spec.height), interpolation=interp)
    if spec.color == "RGB":
        frame_bgr = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
    if out is None:
        out = np.empty((spec.height, spec.width, 3), np.float32)
    if spec.preprocessing == "unit":  # x / 255 -> [0, 1]
        np.multiply(frame_bgr, np.float32(1.0 / 255.0), out=out, casting="unsafe")
        return out
    # inception: x / 127.5 - 1 -> [-1, 1]
    np.multiply(frame_bgr, np.float32(1.0 / 127.5), out=out, casting="unsafe")
    out -= np.float32(1.0)
    return out


def preprocess_batch(frames_bgr: list[np.ndarray], spec: FrameSpec) -> np.ndarray:
    """Preprocess frames into one contiguous N×h×w×3 float32 batch for a single extractor call."""
    batch = np.empty((len(frames_bgr), spec.height, spec.width, 3), np.float32)
    for i, frame in enumerate(frames_bgr):
        preprocess_frame(frame, spec, out=batch[i])
    return batch
