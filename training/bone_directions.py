"""A Keras layer that turns pose features into the image directions of the body's bones (unit vectors).

Why: joint positions scaled by the torso still carry how long each bone is, and that differs between people and
between skeleton conventions (Kinect's thighs are 1.2-1.5 torso lengths, BlazePose's 0.8), so a head that has
seen one convention reads another's long legs as a bigger motion (real walks read as Kick). A bone's direction
is the same whatever its length. The layer has no weights and runs inside the head (ONNX: Gather, Sub, Sqrt,
Div), so the bundle's per-frame feature does not change.
"""

from __future__ import annotations

import keras
from keras import ops

from streaming.pose_spec import (
    FEATURE_JOINTS,
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    NOSE,
    R_ANKLE,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
)

#: (from, to) BlazePose landmarks of each bone; None is the hips' midpoint, the features' origin.
BONES: tuple[tuple[int | None, int], ...] = (
    (L_SHOULDER, L_ELBOW),
    (L_ELBOW, L_WRIST),
    (R_SHOULDER, R_ELBOW),
    (R_ELBOW, R_WRIST),
    (L_HIP, L_KNEE),
    (L_KNEE, L_ANKLE),
    (R_HIP, R_KNEE),
    (R_KNEE, R_ANKLE),
    (R_SHOULDER, L_SHOULDER),
    (R_HIP, L_HIP),
    (None, L_SHOULDER),  # hips' midpoint to each shoulder: the torso's lean and turn
    (None, R_SHOULDER),
    (L_SHOULDER, NOSE),
    (R_SHOULDER, NOSE),
)
#: A bone shorter than this (in body scales: a joint on top of another, or a frame with no person) points nowhere.
MIN_LENGTH = 0.05


def channels(bones: tuple[tuple[int | None, int], ...] = BONES, joints: tuple[int, ...] = FEATURE_JOINTS) -> list:
    """Per bone, the feature channels of its two ends' x (y is the next channel); -1 for the origin."""
    return [[-1 if a is None else 3 * joints.index(a), 3 * joints.index(b)] for a, b in bones]


@keras.saving.register_keras_serializable(package="actionstream")
class BoneDirections(keras.layers.Layer):
    """(batch, steps, features) pose features -> (batch, steps, 2 * bones): each bone's (dx, dy) / length."""

    def __init__(self, ends: list | None = None, **kwargs):
        super().__init__(**kwargs)
        self.ends = [list(map(int, e)) for e in (ends if ends is not None else channels())]

    def call(self, x):
        def xy(channel: int):
            if channel < 0:
                return 0.0, 0.0
            return x[..., channel], x[..., channel + 1]

        out = []
        for a, b in self.ends:
            (ax, ay), (bx, by) = xy(a), xy(b)
            dx, dy = bx - ax, by - ay
            length = ops.sqrt(dx * dx + dy * dy + MIN_LENGTH**2)
            out += [dx / length, dy / length]
        return ops.stack(out, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * len(self.ends))

    def get_config(self) -> dict:
        return {**super().get_config(), "ends": self.ends}
