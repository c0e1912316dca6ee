"""The pose feature vector: the main person's joints, centred on the hips and scaled by the torso.

Defined once, here; training extraction and the live engine both call `pose_features`, so a head trained on
these vectors sees the same numbers live.

Layout (40 floats with the default 13 joints): for each joint of `PoseSpec.feature_joints`, in order,
(x, y, visibility), then a presence flag (1 = a person was found, 0 = nobody; then everything else is 0 too).

- x, y: the joint's position in frame *pixels* (so x and y share one unit whatever the frame's aspect), minus the
  hip midpoint, divided by the body scale; y grows downwards, as in the image.
- body scale: max(shoulder-mid to hip-mid distance, shoulder width), at least 1 pixel. The torso length alone
  collapses when a person bends towards the camera or lies along the view axis; shoulder width collapses for a
  person seen side-on; they rarely collapse together, and the max of the two is continuous, so the features do
  not jump. For an upright person facing the camera it is the torso length (torso ~ 1.3 x shoulder width).
- values are clipped to +-FEATURE_CLIP so that a degenerate detection cannot put huge numbers into the head.
- visibility: the landmark model's visibility probability (sigmoid of its logit), in [0, 1].
"""

from __future__ import annotations

import numpy as np

from streaming.pose_spec import FEATURE_JOINTS, L_HIP, L_SHOULDER, R_HIP, R_SHOULDER

#: Bound on the normalised coordinates (in body scales); a real body spans about +-4 of them.
FEATURE_CLIP = 10.0
#: Smallest body scale, in pixels, so a collapsed skeleton cannot divide by zero.
MIN_BODY_SCALE_PX = 1.0


def feature_size(joints: tuple[int, ...] = FEATURE_JOINTS) -> int:
    return 3 * len(joints) + 1


def body_frame(landmarks_xy: np.ndarray) -> tuple[np.ndarray, float]:
    """Hip midpoint (2,) and body scale (pixels) of BlazePose landmarks given in frame pixels."""
    hip_mid = (landmarks_xy[L_HIP] + landmarks_xy[R_HIP]) / 2.0
    shoulder_mid = (landmarks_xy[L_SHOULDER] + landmarks_xy[R_SHOULDER]) / 2.0
    torso = float(np.linalg.norm(shoulder_mid - hip_mid))
    shoulders = float(np.linalg.norm(landmarks_xy[L_SHOULDER] - landmarks_xy[R_SHOULDER]))
    return hip_mid, max(torso, shoulders, MIN_BODY_SCALE_PX)


def pose_features(
    landmarks_xy_vis: np.ndarray | None, present: bool, joints: tuple[int, ...] = FEATURE_JOINTS
) -> np.ndarray:
    """One frame's feature vector (float32, 3 * len(joints) + 1) from BlazePose landmarks.

    `landmarks_xy_vis`: (>= 33, 3) array of (x, y, visibility) in frame pixels, indexed by BlazePose landmark
    number; ignored (may be None) when `present` is False, which gives all zeros.
    """
    out = np.zeros(feature_size(joints), np.float32)
    if not present or landmarks_xy_vis is None:
        return out
    lm = np.asarray(landmarks_xy_vis, np.float64)
    hip_mid, scale = body_frame(lm[:, :2])
    sel = lm[list(joints)]
    xy = np.clip((sel[:, :2] - hip_mid) / scale, -FEATURE_CLIP, FEATURE_CLIP)
    vis = np.clip(sel[:, 2], 0.0, 1.0)
    out[:-1] = np.concatenate([xy, vis[:, None]], axis=1).reshape(-1)
    out[-1] = 1.0
    return out
