"""The pose extractor's numpy/OpenCV parts, on hand-made inputs: anchors, decoding, NMS, crops, features, spec."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from streaming.pose_detector import (
    Detection,
    decode_detections,
    frame_to_letterbox,
    iou,
    letterbox,
    letterbox_to_frame,
    ssd_anchors,
    weighted_nms,
)
from streaming.pose_features import has_placement, pose_features
from streaming.pose_roi import Roi, crop_roi, crop_to_frame, frame_to_crop, roi_from_detection, roi_from_landmarks
from streaming.pose_spec import (
    AUX_CENTER,
    AUX_SCALE,
    FEATURE_JOINTS,
    L_HIP,
    L_SHOULDER,
    NOSE,
    R_HIP,
    R_SHOULDER,
    PoseSpec,
)

SPEC = PoseSpec()


# -- anchors ----------------------------------------------------------------------------------------------------


def test_anchors_count_and_values():
    a = ssd_anchors(SPEC)
    assert a.shape == (2254, 4)
    # stride 8: 28 x 28 locations, 2 anchors each (aspect 1.0 + the interpolated one), then stride 16: 14 x 14 x 2,
    # then the three stride-32 layers share one 7 x 7 map: 6 anchors per location. 1568 + 392 + 294 = 2254.
    np.testing.assert_allclose(a[0], [0.5 / 28, 0.5 / 28, 1, 1])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [1.5 / 28, 0.5 / 28, 1, 1])
    np.testing.assert_allclose(a[1567], [27.5 / 28, 27.5 / 28, 1, 1])
    np.testing.assert_allclose(a[1568], [0.5 / 14, 0.5 / 14, 1, 1])
    np.testing.assert_allclose(a[1960:1966], np.tile([0.5 / 7, 0.5 / 7, 1, 1], (6, 1)))
    np.testing.assert_allclose(a[-1], [6.5 / 7, 6.5 / 7, 1, 1])


def test_anchor_options_that_do_not_fit_the_model_fail():
    with pytest.raises(ValueError, match="anchors"):
        ssd_anchors(PoseSpec(strides=(8, 16, 32, 32, 64)))


# -- decoding ---------------------------------------------------------------------------------------------------


def test_decode_hand_made_box():
    anchors = ssd_anchors(SPEC)
    raw = np.zeros((2254, 12), np.float32)
    scores = np.full((2254, 1), -10.0, np.float32)  # sigmoid(-10) ~ 4.5e-5: below the threshold
    k = 1568  # anchor centre (0.5/14, 0.5/14)
    ax = 0.5 / 14
    raw[k, :4] = [22.4, -11.2, 44.8, 67.2]  # x, y, w, h in 224-pixel units: +0.1, -0.05, 0.2, 0.3
    raw[k, 4:6] = [0.0, 22.4]  # keypoint 0: (ax, ax + 0.1)
    raw[k, 6:8] = [0.0, -22.4]  # keypoint 1: (ax, ax - 0.1)
    scores[k] = 2.0
    dets = decode_detections(raw, scores, anchors, SPEC)
    assert len(dets) == 1
    d = dets[0]
    assert d.score == pytest.approx(1 / (1 + math.exp(-2.0)))
    cx, cy = ax + 0.1, ax - 0.05
    np.testing.assert_allclose(d.box, [cx - 0.1, cy - 0.15, cx + 0.1, cy + 0.15], atol=1e-6)
    np.testing.assert_allclose(d.keypoints[:2], [[ax, ax + 0.1], [ax, ax - 0.1]], atol=1e-6)
    np.testing.assert_allclose(d.keypoints[2:], [[ax, ax], [ax, ax]], atol=1e-6)


def test_decode_clips_huge_logits_and_keeps_nothing_below_threshold():
    anchors = ssd_anchors(SPEC)
    raw = np.zeros((1, 2254, 12), np.float32)
    assert decode_detections(raw, np.full((1, 2254, 1), -1e6, np.float32), anchors, SPEC) == []
    dets = decode_detections(raw, np.full((1, 2254, 1), 1e6, np.float32), anchors, SPEC)
    assert len(dets) == 2254 and all(d.score == 1.0 for d in dets)


# -- weighted NMS -----------------------------------------------------------------------------------------------


def _det(box, score, kp=0.0):
    return Detection(tuple(box), np.full((4, 2), kp), score)


def test_weighted_nms_merges_overlaps_by_score():
    a = _det((0.0, 0.0, 1.0, 1.0), 0.9, kp=0.0)
    b = _det((0.1, 0.0, 1.1, 1.0), 0.6, kp=1.0)  # IoU with a: 0.9 / 1.1 = 0.82
    c = _det((2.0, 2.0, 3.0, 3.0), 0.7, kp=5.0)  # far away: kept as it is
    out = weighted_nms([b, c, a], 0.3)
    assert [d.score for d in out] == [0.9, 0.7]
    np.testing.assert_allclose(out[0].box, [(0.1 * 0.6) / 1.5, 0.0, (0.9 + 1.1 * 0.6) / 1.5, 1.0])
    np.testing.assert_allclose(out[0].keypoints, np.full((4, 2), 0.6 / 1.5))
    np.testing.assert_allclose(out[1].box, c.box)


def test_weighted_nms_keeps_boxes_that_overlap_less_than_threshold():
    a = _det((0.0, 0.0, 1.0, 1.0), 0.9)
    b = _det((0.6, 0.0, 1.6, 1.0), 0.8)  # IoU 0.4 / 1.6 = 0.25 <= 0.3
    assert iou(a.box, b.box) == pytest.approx(0.25)
    assert len(weighted_nms([a, b], 0.3)) == 2
    assert weighted_nms([], 0.3) == []


# -- ROI --------------------------------------------------------------------------------------------------------


def test_roi_vertical_person_has_no_rotation():
    # hip centre at (100, 200), size/rotation point straight above it: 100 px -> side 2 * 100 * 1.25
    roi = roi_from_detection(np.array([[100, 200], [100, 100], [0, 0], [0, 0]], float), SPEC)
    assert (roi.cx, roi.cy) == (100, 200)
    assert roi.width == roi.height == pytest.approx(250.0)
    assert roi.rotation == pytest.approx(0.0)


@pytest.mark.parametrize(
    "scale_point, rotation", [((200, 200), math.pi / 2), ((0, 200), -math.pi / 2), ((100, 300), -math.pi)]
)
def test_roi_rotation_follows_the_body_axis(scale_point, rotation):
    roi = roi_from_detection(np.array([[100, 200], scale_point, [0, 0], [0, 0]], float), SPEC)
    assert roi.rotation == pytest.approx(rotation)
    assert roi.width == pytest.approx(250.0)


def test_roi_from_landmarks_uses_auxiliary_points():
    lm = np.zeros((39, 2))
    lm[AUX_CENTER] = [50, 60]
    lm[AUX_SCALE] = [50, 20]
    roi = roi_from_landmarks(lm, SPEC)
    assert (roi.cx, roi.cy, roi.rotation) == (50, 60, pytest.approx(0.0))
    assert roi.width == pytest.approx(2 * 40 * 1.25)
    lm[AUX_SCALE] = lm[AUX_CENTER]
    assert roi_from_landmarks(lm, SPEC) is None  # no size: no crop


def test_roi_crop_up_points_to_the_head():
    # a lying person, head on the right: the top centre of the crop is to the right of the centre in the frame
    roi = Roi(100, 100, 80, 80, math.pi / 2)
    top = crop_to_frame(np.array([[128.0, 0.0]]), roi, 256)
    np.testing.assert_allclose(top, [[140, 100]], atol=1e-9)


def test_warp_round_trip_and_crop_samples_the_right_pixels():
    roi = Roi(150.5, 90.25, 120, 120, 0.7)
    pts = np.array([[0, 0], [256, 0], [17.5, 200.25], [128, 128]], float)
    np.testing.assert_allclose(frame_to_crop(crop_to_frame(pts, roi, 256), roi, 256), pts, atol=1e-9)
    # a bright dot in the frame lands where the matrix says it does in the crop
    frame = np.zeros((240, 320), np.uint8)
    cv2.circle(frame, (170, 100), 3, 255, -1)
    crop = crop_roi(frame, roi, 256).astype(float)
    ys, xs = np.mgrid[:256, :256]
    centroid = np.array([[(xs * crop).sum() / crop.sum(), (ys * crop).sum() / crop.sum()]]) + 0.5
    np.testing.assert_allclose(crop_to_frame(centroid, roi, 256), [[170.5, 100.5]], atol=0.3)


def test_letterbox_keeps_aspect_and_inverts():
    frame = np.full((240, 320, 3), 200, np.uint8)
    lb = letterbox(frame, 224)
    assert lb.shape == (224, 224, 3)
    assert lb[:27].max() == 0 and lb[-27:].max() == 0 and lb[29:-29].min() == 200  # 28 px bands top and bottom
    pts = np.array([[0, 0], [320, 240], [160, 120]], float)
    np.testing.assert_allclose(frame_to_letterbox(pts, 320, 240), [[0, 0.125], [1, 0.875], [0.5, 0.5]])
    np.testing.assert_allclose(letterbox_to_frame(frame_to_letterbox(pts, 320, 240), 320, 240), pts, atol=1e-9)


# -- features ---------------------------------------------------------------------------------------------------


def _skeleton() -> np.ndarray:
    """33 x 3 landmarks (pixels, visibility): an upright person, hips at (200, 300), shoulders 100 px higher."""
    lm = np.zeros((33, 3))
    lm[:, :2] = [200, 250]
    lm[:, 2] = 0.9
    lm[L_HIP, :2], lm[R_HIP, :2] = [220, 300], [180, 300]
    lm[L_SHOULDER, :2], lm[R_SHOULDER, :2] = [230, 200], [170, 200]
    lm[NOSE, :2] = [200, 160]
    return lm


def test_features_are_hip_centred_and_torso_scaled():
    f = pose_features(_skeleton(), True)
    assert f.shape == (40,) and f.dtype == np.float32
    assert f[-1] == 1.0
    joints = f[:-1].reshape(13, 3)
    order = list(FEATURE_JOINTS)
    np.testing.assert_allclose(joints[order.index(NOSE), :2], [0.0, -1.4], atol=1e-6)  # 140 px above / 100 px
    np.testing.assert_allclose(joints[order.index(L_HIP), :2], [0.2, 0.0], atol=1e-6)
    np.testing.assert_allclose(joints[order.index(R_SHOULDER), :2], [-0.3, -1.0], atol=1e-6)
    np.testing.assert_allclose(joints[:, 2], 0.9, atol=1e-6)


def test_features_invariant_to_translation_and_scale():
    lm = _skeleton()
    moved = lm.copy()
    moved[:, :2] = lm[:, :2] * 2.7 + [-55.0, 313.0]
    np.testing.assert_allclose(pose_features(moved, True), pose_features(lm, True), atol=1e-5)


def test_features_use_shoulder_width_when_torso_is_foreshortened():
    lm = _skeleton()
    lm[[L_SHOULDER, R_SHOULDER], 1] = 290  # bent towards the camera: torso 10 px, shoulders 60 px apart
    joints = pose_features(lm, True)[:-1].reshape(13, 3)
    np.testing.assert_allclose(joints[list(FEATURE_JOINTS).index(L_HIP), :2], [20 / 60, 0.0], atol=1e-6)


def test_features_absent_person_are_zero():
    for lm in (None, _skeleton()):
        f = pose_features(lm, False)
        assert f.shape == (40,) and not f.any()
        f = pose_features(lm, False, frame_size=(640, 480))
        assert f.shape == (43,) and not f.any()


def test_placement_channels_say_where_the_body_is_in_frame_heights():
    """Hips at (200, 300) px, torso 100 px, in a 640x480 frame: size 100/480, hip offset from the centre /480."""
    f = pose_features(_skeleton(), True, frame_size=(640, 480))
    assert f.shape == (43,) and f.dtype == np.float32 and f[39] == 1.0
    np.testing.assert_array_equal(f[:40], pose_features(_skeleton(), True))  # the joints as before
    np.testing.assert_allclose(f[40:], [100 / 480, (200 - 320) / 480, (300 - 240) / 480], atol=1e-6)
    lm = _skeleton()
    lm[:, 1] -= 48  # the whole body 48 px higher (a jump): only hip y changes, by 0.1 frame heights
    g = pose_features(lm, True, frame_size=(640, 480))
    np.testing.assert_allclose(g[:42], f[:42], atol=1e-6)
    assert g[42] == pytest.approx(f[42] - 0.1, abs=1e-6)
    assert has_placement(43) and not has_placement(40)
    with pytest.raises(ValueError, match="not pose features"):
        has_placement(2048)


def test_features_of_a_collapsed_skeleton_stay_bounded():
    lm = np.zeros((33, 3))
    lm[NOSE, :2] = [1e6, 0]
    f = pose_features(lm, True)
    assert np.isfinite(f).all() and np.abs(f).max() <= 10.0


# -- spec -------------------------------------------------------------------------------------------------------


def test_spec_round_trips_through_json():
    d = json.loads(json.dumps(SPEC.to_dict()))
    assert PoseSpec.from_dict(d) == SPEC
    assert SPEC.feature_size == 43 and SPEC.placement
    assert PoseSpec.from_dict({"roi_scale": 1.5}).roi_scale == 1.5
    # a manifest written before the placement channels keeps its 40-d layout (its head expects it)
    before = {k: v for k, v in SPEC.to_dict().items() if k != "placement"}
    assert PoseSpec.from_dict(before).feature_size == 40


def test_spec_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown pose settings"):
        PoseSpec.from_dict({**SPEC.to_dict(), "new_thing": 1})
    with pytest.raises(ValueError):
        PoseSpec(nms_iou=0.0)
    with pytest.raises(ValueError):
        PoseSpec(feature_joints=(0, 40))
    with pytest.raises(ValueError):
        PoseSpec(lm_border="wrap")
