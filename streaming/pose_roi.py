"""The rotated square crop (region of interest) the landmark model looks at, and the one matrix that maps it.

A `Roi` is a rotated rectangle in frame pixels. `roi_matrix` maps crop pixels to frame pixels; the crop is cut
with it (cv2.warpAffine with WARP_INVERSE_MAP) and the model's landmarks are mapped back with the same matrix,
so the two directions cannot disagree.

The ROI comes either from a detection's keypoints (0: hip centre, 1: a point whose distance and direction give
the body's size and rotation; MediaPipe's pose_detection_to_roi.pbtxt) or from the previous frame's auxiliary
landmarks 33 and 34 (pose_landmarks_to_roi.pbtxt): AlignmentPointsRectsCalculator (centre = point 0, side =
2 x distance, rotation = target angle - direction of 0 -> 1), then RectTransformationCalculator (x 1.25,
square on the long side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from streaming.pose_spec import AUX_CENTER, AUX_SCALE, PoseSpec

_BORDERS = {"zero": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}


@dataclass(frozen=True)
class Roi:
    """A rotated rectangle in frame pixels: centre, size, and rotation (radians; 0 = upright person).

    A positive rotation turns the crop's "up" towards the frame's right: a person lying with the head on the
    right has rotation pi/2.
    """

    cx: float
    cy: float
    width: float
    height: float
    rotation: float = 0.0


def normalize_radians(angle: float) -> float:
    """Angle folded into [-pi, pi), as MediaPipe's NormalizeRadians."""
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def roi_from_points(center_xy: np.ndarray, scale_xy: np.ndarray, spec: PoseSpec) -> Roi | None:
    """ROI from two alignment points in frame pixels; None when they coincide (no usable size)."""
    x0, y0 = float(center_xy[0]), float(center_xy[1])
    x1, y1 = float(scale_xy[0]), float(scale_xy[1])
    side = 2.0 * math.hypot(x1 - x0, y1 - y0)
    if not math.isfinite(side) or side < 1e-3:
        return None
    rotation = normalize_radians(math.radians(spec.roi_rotation_target_deg) - math.atan2(-(y1 - y0), x1 - x0))
    side *= spec.roi_scale  # already square: square_long keeps it so
    return Roi(x0, y0, side, side, rotation)


def roi_from_detection(keypoints_px: np.ndarray, spec: PoseSpec) -> Roi | None:
    """ROI from a detection's keypoints (4 x 2, frame pixels): 0 = hip centre, 1 = full-body size/rotation."""
    return roi_from_points(keypoints_px[0], keypoints_px[1], spec)


def roi_from_landmarks(landmarks_px: np.ndarray, spec: PoseSpec) -> Roi | None:
    """The next frame's ROI from this frame's landmarks (>= 35 x 2, frame pixels): auxiliary points 33 -> 34."""
    return roi_from_points(landmarks_px[AUX_CENTER], landmarks_px[AUX_SCALE], spec)


def roi_matrix(roi: Roi, size: int) -> np.ndarray:
    """2 x 3 affine matrix from crop pixels (0..size, continuous) to frame pixels.

    frame = centre + R(rotation) @ ((u / size - 0.5) * width, (v / size - 0.5) * height).
    """
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    sx, sy = roi.width / size, roi.height / size
    a = np.array([[c * sx, -s * sy], [s * sx, c * sy]])
    t = np.array([roi.cx, roi.cy]) - a @ np.array([size / 2.0, size / 2.0])
    return np.concatenate([a, t[:, None]], axis=1)


def crop_to_frame(points_crop: np.ndarray, roi: Roi, size: int) -> np.ndarray:
    """Map K x 2 crop-pixel points to frame pixels."""
    m = roi_matrix(roi, size)
    return points_crop[:, :2] @ m[:, :2].T + m[:, 2]


def frame_to_crop(points_frame: np.ndarray, roi: Roi, size: int) -> np.ndarray:
    """Map K x 2 frame-pixel points to crop pixels (the inverse of `crop_to_frame`)."""
    m = cv2.invertAffineTransform(roi_matrix(roi, size))
    return points_frame[:, :2] @ m[:, :2].T + m[:, 2]


def crop_roi(frame: np.ndarray, roi: Roi, size: int, border: str = "replicate") -> np.ndarray:
    """Cut the ROI out of `frame` as a size x size image (same dtype and channels), bilinear.

    Pixel i of an image covers [i, i + 1), so sampling happens at pixel centres on both sides.
    """
    m = roi_matrix(roi, size)
    m_idx = m.copy()  # index space: frame_idx + 0.5 = M @ (crop_idx + 0.5)
    m_idx[:, 2] = m[:, 2] + m[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return cv2.warpAffine(
        frame,
        m_idx,
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=_BORDERS[border],
        borderValue=0,
    )
