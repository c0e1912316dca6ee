"""Drawing the main person on a frame (dashboard, annotated video): box, skeleton lines, joints."""

from __future__ import annotations

import cv2
import numpy as np

from streaming.person import Person
from streaming.pose_spec import SKELETON_EDGES

#: Joints with a lower visibility are drawn thin and grey: the model thinks they are hidden or out of frame.
MIN_VISIBILITY = 0.5
BOX_BGR = (0, 200, 255)
LIMB_BGR = (0, 255, 0)
HIDDEN_BGR = (128, 128, 128)
JOINT_BGR = (0, 0, 255)


def draw_person(frame_bgr: np.ndarray, person: Person | None, label: str | None = None) -> np.ndarray:
    """A copy of the frame with the person's box (and the optional label above it) and skeleton drawn on it."""
    out = frame_bgr.copy()
    if person is None:
        return out
    h, w = out.shape[:2]
    thick = max(1, round(max(h, w) / 320))
    x0, y0, x1, y1 = person.box
    cv2.rectangle(out, (round(x0 * w), round(y0 * h)), (round(x1 * w), round(y1 * h)), BOX_BGR, thick)
    if label:
        cv2.putText(
            out,
            label,
            (round(x0 * w), max(12, round(y0 * h) - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4 * thick,
            BOX_BGR,
            thick,
            cv2.LINE_AA,
        )
    pts = np.round(person.landmarks[:, :2] * [w, h]).astype(int)
    vis = person.landmarks[:, 2]
    for a, b in SKELETON_EDGES:
        seen = min(vis[a], vis[b]) >= MIN_VISIBILITY
        cv2.line(out, tuple(pts[a]), tuple(pts[b]), LIMB_BGR if seen else HIDDEN_BGR, thick if seen else 1, cv2.LINE_AA)
    for p, v in zip(pts, vis):
        if v >= MIN_VISIBILITY:
            cv2.circle(out, tuple(p), thick + 1, JOINT_BGR, -1, cv2.LINE_AA)
    return out
