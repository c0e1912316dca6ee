"""Decoding the BlazePose person detector: SSD anchors, raw boxes to detections, weighted NMS, letterboxing.

The detector sees the whole frame letterboxed to 224 x 224 and outputs, for each of 2254 anchors, a box (the
face), 4 keypoints (0: hip centre, 1: full-body size/rotation point, 2: shoulder centre, 3: upper-body point) and a
score logit. This is MediaPipe's SsdAnchorsCalculator, TensorsToDetectionsCalculator and NonMaxSuppression
(WEIGHTED) re-done in numpy, with the options of pose_detection_cpu.pbtxt (held in `PoseSpec`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from streaming.pose_roi import Roi, crop_roi, crop_to_frame
from streaming.pose_spec import PoseSpec


@dataclass(frozen=True)
class Detection:
    """One detected person in letterbox-normalised coordinates ([0, 1] over the 224 x 224 detector input).

    `box`: (xmin, ymin, xmax, ymax) of the face; `keypoints`: 4 x 2 (x, y); `score`: sigmoid probability.
    """

    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def _scale(min_scale: float, max_scale: float, index: int, count: int) -> float:
    if count == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * index / (count - 1.0)


def ssd_anchors(spec: PoseSpec) -> np.ndarray:
    """Anchors (num_boxes x 4: x_centre, y_centre, w, h, normalised), as SsdAnchorsCalculator builds them.

    Consecutive layers with the same stride share one feature map; each layer adds one anchor per aspect ratio
    and one interpolated-scale anchor per location. With fixed_anchor_size every anchor is 1 x 1.
    """
    anchors: list[tuple[float, float, float, float]] = []
    n = len(spec.strides)
    layer = 0
    while layer < spec.num_layers:
        widths: list[float] = []
        heights: list[float] = []
        last = layer
        while last < n and spec.strides[last] == spec.strides[layer]:
            scale = _scale(spec.min_scale, spec.max_scale, last, n)
            pairs = [(ar, scale) for ar in spec.aspect_ratios]
            if spec.interpolated_scale_aspect_ratio > 0:
                nxt = 1.0 if last == n - 1 else _scale(spec.min_scale, spec.max_scale, last + 1, n)
                pairs.append((spec.interpolated_scale_aspect_ratio, math.sqrt(scale * nxt)))
            for ar, sc in pairs:
                heights.append(sc / math.sqrt(ar))
                widths.append(sc * math.sqrt(ar))
            last += 1
        stride = spec.strides[layer]
        fh = math.ceil(spec.det_size / stride)
        fw = math.ceil(spec.det_size / stride)
        for y in range(fh):
            for x in range(fw):
                for w, h in zip(widths, heights):
                    cx = (x + spec.anchor_offset) / fw
                    cy = (y + spec.anchor_offset) / fh
                    anchors.append((cx, cy, 1.0, 1.0) if spec.fixed_anchor_size else (cx, cy, w, h))
        layer = last
    out = np.array(anchors, np.float32)
    if len(out) != spec.num_boxes:
        raise ValueError(f"anchor options give {len(out)} anchors, the detector has {spec.num_boxes}")
    return out


def decode_detections(
    raw_boxes: np.ndarray, scores: np.ndarray, anchors: np.ndarray, spec: PoseSpec
) -> list[Detection]:
    """Detections above the score threshold from one image's raw outputs (num_boxes x 12, num_boxes x 1).

    Layout per anchor (reverse_output_order): x, y, w, h, then (x, y) per keypoint, all in 224-pixel units
    relative to the anchor centre; scores are logits, clipped to +-100, then a sigmoid.
    """
    logits = np.clip(scores.reshape(-1).astype(np.float64), -spec.score_clipping, spec.score_clipping)
    probs = 1.0 / (1.0 + np.exp(-logits))
    keep = np.nonzero(probs >= spec.det_score_threshold)[0]
    if len(keep) == 0:
        return []
    raw = raw_boxes.reshape(len(anchors), -1)[keep].astype(np.float64)
    anc = anchors[keep].astype(np.float64)
    s = spec.box_scale
    cx = raw[:, 0] / s * anc[:, 2] + anc[:, 0]
    cy = raw[:, 1] / s * anc[:, 3] + anc[:, 1]
    w = raw[:, 2] / s * anc[:, 2]
    h = raw[:, 3] / s * anc[:, 3]
    kp = raw[:, 4 : 4 + 2 * spec.num_keypoints].reshape(-1, spec.num_keypoints, 2)
    kp = kp / s * anc[:, None, 2:4] + anc[:, None, 0:2]
    return [
        Detection((cx[i] - w[i] / 2, cy[i] - h[i] / 2, cx[i] + w[i] / 2, cy[i] + h[i] / 2), kp[i], float(probs[k]))
        for i, k in enumerate(keep)
    ]


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two (xmin, ymin, xmax, ymax) boxes; 0 when they do not overlap."""
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(detections: list[Detection], iou_threshold: float) -> list[Detection]:
    """MediaPipe's WEIGHTED non-max suppression.

    Take the best remaining detection; every remaining one overlapping it by more than `iou_threshold` (itself
    included) is merged into it: box corners and keypoints become the score-weighted mean, the score stays the
    best one's. Repeat on what did not overlap. Output is in decreasing score order.
    """
    remaining = sorted(detections, key=lambda d: -d.score)
    out: list[Detection] = []
    while remaining:
        best = remaining[0]
        group = [d for d in remaining if iou(d.box, best.box) > iou_threshold]
        remaining = [d for d in remaining if iou(d.box, best.box) <= iou_threshold]
        if not group:  # a degenerate (zero-area) best box overlaps nothing, not even itself
            group = [best]
            remaining = remaining[1:] if remaining and remaining[0] is best else remaining
        weights = np.array([d.score for d in group])
        total = weights.sum()
        box = tuple(float(v) for v in (np.array([d.box for d in group]) * weights[:, None]).sum(0) / total)
        kps = (np.stack([d.keypoints for d in group]) * weights[:, None, None]).sum(0) / total
        out.append(Detection(box, kps, best.score))  # type: ignore[arg-type]
    return out


def letterbox_roi(frame_w: int, frame_h: int) -> Roi:
    """The square that the detector sees: the frame centred in it, the rest padded (keep aspect ratio)."""
    side = float(max(frame_w, frame_h))
    return Roi(frame_w / 2.0, frame_h / 2.0, side, side, 0.0)


def letterbox(frame: np.ndarray, size: int) -> np.ndarray:
    """The frame scaled to fit size x size, centred, with a zero border (ImageToTensor, keep_aspect_ratio)."""
    return crop_roi(frame, letterbox_roi(frame.shape[1], frame.shape[0]), size, border="zero")


def letterbox_to_frame(points: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
    """Map K x 2 letterbox-normalised points ([0, 1] over the detector input) to frame pixels."""
    return crop_to_frame(np.asarray(points, np.float64), letterbox_roi(frame_w, frame_h), 1)


def frame_to_letterbox(points_px: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
    """Map K x 2 frame pixels to letterbox-normalised points (the inverse of `letterbox_to_frame`)."""
    roi = letterbox_roi(frame_w, frame_h)
    return (np.asarray(points_px, np.float64) - [roi.cx, roi.cy]) / roi.width + 0.5
