"""What the pose extractor says about a frame: the main person (or nobody) and the feature vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Person:
    """The main person of one frame, in frame fractions (x / width, y / height), for drawing and events.

    `box`: (x0, y0, x1, y1) enclosing the 33 body landmarks, clipped to the frame. `landmarks`: 13 x 3 array of
    (x, y, visibility) for the feature joints (`PoseSpec.feature_joints`, in order). `score`: the landmark model's
    pose flag (probability that a pose is in the crop).
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float

    def to_dict(self) -> dict:
        return {
            "box": [round(v, 5) for v in self.box],
            "score": round(self.score, 5),
            "landmarks": np.round(self.landmarks, 5).tolist(),
        }


@dataclass
class ExtractResult:
    """One `PoseExtractor.extract` call: N x feature_size float32 features, and per frame a Person or None."""

    features: np.ndarray
    persons: list[Person | None]

    def __len__(self) -> int:
        return len(self.persons)
