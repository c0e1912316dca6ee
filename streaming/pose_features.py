"""The pose feature vector: the main person's joints, centred on the hips and scaled by the torso, and where the
body is in the frame.

Defined once, here; training extraction and the live engine both call `pose_features`, so a head trained on
these vectors sees the same numbers live.

Layout (43 floats with the default 13 joints): for each joint of `PoseSpec.feature_joints`, in order,
(x, y, visibility), then a presence flag (1 = a person was found, 0 = nobody; then everything else is 0 too),
then the three placement channels (size, hip x, hip y).

- x, y: the joint's position in frame *pixels* (so x and y share one unit whatever the frame's aspect), minus the
  hip midpoint, divided by the body scale; y grows downwards, as in the image.
- body scale: max(shoulder-mid to hip-mid distance, shoulder width), at least 1 pixel. The torso length alone
  collapses when a person bends towards the camera or lies along the view axis; shoulder width collapses for a
  person seen side-on; they rarely collapse together, and the max of the two is continuous, so the features do
  not jump. For an upright person facing the camera it is the torso length (torso ~ 1.3 x shoulder width).
- values are clipped to +-FEATURE_CLIP so that a degenerate detection cannot put huge numbers into the head.
- visibility: the landmark model's visibility probability (sigmoid of its logit), in [0, 1].
- placement: the body scale and the hip midpoint's offset from the frame's centre, all in frame heights. Why:
  hip-centred joints cannot see the whole body move: sitting down, squatting and bending all fold the body the
  same way around the hips, and only the hips' own path (down and staying, down and back up, hardly moving) and a
  jump's lift tell them apart. A head should use how these change, not their values (where someone stands says
  nothing about what they do): the pose heads feed the LSTM the hip offset's change only (training.motion_train).

Bundles made before the placement channels have 40-d features: `PoseSpec.placement` False (a manifest without the
key) gives that layout, so their heads keep working.
"""

from __future__ import annotations

import numpy as np

from streaming.pose_spec import (
    FEATURE_JOINTS,
    L_HIP,
    L_SHOULDER,
    R_HIP,
    R_SHOULDER,
    feature_size,
)

#: Bound on the normalised coordinates (in body scales); a real body spans about +-4 of them.
FEATURE_CLIP = 10.0
#: Smallest body scale, in pixels, so a collapsed skeleton cannot divide by zero.
MIN_BODY_SCALE_PX = 1.0


def has_placement(size: int, joints: tuple[int, ...] = FEATURE_JOINTS) -> bool:
    """Whether `size`-d features of these joints carry the placement channels (43) or not (40)."""
    if size not in (feature_size(joints, True), feature_size(joints, False)):
        raise ValueError(f"{size}-d features are not pose features of {len(joints)} joints")
    return size == feature_size(joints, True)


def body_frame(landmarks_xy: np.ndarray) -> tuple[np.ndarray, float]:
    """Hip midpoint (2,) and body scale (pixels) of BlazePose landmarks given in frame pixels."""
    hip_mid = (landmarks_xy[L_HIP] + landmarks_xy[R_HIP]) / 2.0
    shoulder_mid = (landmarks_xy[L_SHOULDER] + landmarks_xy[R_SHOULDER]) / 2.0
    torso = float(np.linalg.norm(shoulder_mid - hip_mid))
    shoulders = float(np.linalg.norm(landmarks_xy[L_SHOULDER] - landmarks_xy[R_SHOULDER]))
    return hip_mid, max(torso, shoulders, MIN_BODY_SCALE_PX)


def pose_features(
    landmarks_xy_vis: np.ndarray | None,
    present: bool,
    joints: tuple[int, ...] = FEATURE_JOINTS,
    frame_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """One frame's feature vector (float32) from BlazePose landmarks.

    `landmarks_xy_vis`: (>= 33, 3) array of (x, y, visibility) in frame pixels, indexed by BlazePose landmark
    number; ignored (may be None) when `present` is False, which gives all zeros. `frame_size` (width, height):
    the frame's, which adds the placement channels (3 * len(joints) + 4 values); None gives the 40-d layout of
    bundles made before them (3 * len(joints) + 1).
    """
    out = np.zeros(feature_size(joints, frame_size is not None), np.float32)
    if not present or landmarks_xy_vis is None:
        return out
    lm = np.asarray(landmarks_xy_vis, np.float64)
    hip_mid, scale = body_frame(lm[:, :2])
    sel = lm[list(joints)]
    xy = np.clip((sel[:, :2] - hip_mid) / scale, -FEATURE_CLIP, FEATURE_CLIP)
    vis = np.clip(sel[:, 2], 0.0, 1.0)
    n = 3 * len(joints)
    out[:n] = np.concatenate([xy, vis[:, None]], axis=1).reshape(-1)
    out[n] = 1.0
    if frame_size is not None:
        width, height = (max(float(v), 1.0) for v in frame_size)
        where = (scale, hip_mid[0] - width / 2.0, hip_mid[1] - height / 2.0)
        out[n + 1 :] = np.clip(np.asarray(where) / height, -FEATURE_CLIP, FEATURE_CLIP)
    return out
