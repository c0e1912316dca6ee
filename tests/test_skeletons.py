"""Real skeleton sets as pose features, and the real-set evaluation: maps, projection, windows, scoring."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.pose_spec import FEATURE_JOINTS
from training.motion import LABELS
from training.real_eval import MeanPoolBaseline, evaluate_on_real, format_report, score_clips
from training.skeletons import (
    DEFAULT_ROOT,
    DEVELOPMENT_SUBJECTS,
    HELD_OUT_SUBJECTS,
    KINECT_CAMERA,
    LZQ_CLASSES,
    MSR_CLASSES,
    UTKINECT_CLASSES,
    cut_windows,
    load_lzq,
    load_msr,
    load_utkinect,
    resample_landmarks,
    split_take,
    validation_windows,
)

needs_sets = pytest.mark.skipif(not DEFAULT_ROOT.is_dir(), reason=f"real skeleton sets not present at {DEFAULT_ROOT}")
# feature vector offsets: joint k's (x, y, vis) start at 3k; FEATURE_JOINT_NAMES order
L_SHOULDER_X, R_SHOULDER_X, L_WRIST, R_WRIST = 3, 6, 15, 18


def test_class_maps_are_exactly_the_issue_lists():
    assert UTKINECT_CLASSES == {
        "walk": "Walk",
        "sitDown": "SitDown",
        "standUp": "StandUp",
        "pickUp": "Bend",
        "waveHands": "Wave",
        "clapHands": "Clap",
    }
    assert MSR_CLASSES == {1: "Wave", 2: "Wave", 11: "Wave", 10: "Clap", 5: "Punch", 12: "Punch", 14: "Kick"} | {
        15: "Kick",
        13: "Bend",
    }
    assert LZQ_CLASSES == {"squat": "Squat", "stand": "Idle", "walk": "Walk", "wave": "Wave", "fall_down": "Fall"}
    for m in (UTKINECT_CLASSES, MSR_CLASSES, LZQ_CLASSES):
        assert set(m.values()) <= set(LABELS)


def test_subject_split_is_disjoint():
    assert set(DEVELOPMENT_SUBJECTS).isdisjoint(HELD_OUT_SUBJECTS)
    assert set(DEVELOPMENT_SUBJECTS) | set(HELD_OUT_SUBJECTS) == set(range(1, 11))


def test_camera_puts_the_sensor_left_on_the_image_left():
    uv = KINECT_CAMERA.project(np.array([[0.0, 0.0, 2.0], [0.5, 0.5, 2.0]]))
    np.testing.assert_allclose(uv[0], [319.5, 239.5])
    assert uv[1, 0] < uv[0, 0] and uv[1, 1] < uv[0, 1]  # +x: image left; +y: up


def test_cut_windows_loops_short_clips_and_covers_long_ones():
    short = np.arange(15, dtype=np.float32)[:, None]
    w = cut_windows(short, window=40)
    assert w.shape == (1, 40, 1)
    np.testing.assert_array_equal(w[0, :, 0], np.arange(40) % 15)
    long = np.arange(65, dtype=np.float32)[:, None]
    w = cut_windows(long, window=40, hop=10)
    assert [int(x[0, 0]) for x in w] == [0, 10, 20, 25]
    assert cut_windows(np.zeros((40, 2)), 40).shape == (1, 40, 2)


def test_resample_interpolates_slow_sources_and_picks_frames_from_fast_ones():
    lm = np.zeros((5, 33, 3), np.float32)
    lm[:, 0, 0] = np.arange(5) * 10
    slow = resample_landmarks(np.arange(5) / 4.0, lm, 10.0)  # 4 frames/s -> 10/s
    assert len(slow) == 11
    np.testing.assert_allclose(slow[:, 0, 0], np.arange(11) * 4.0, atol=1e-4)
    fast = resample_landmarks(np.arange(5) / 30.0, lm, 10.0)
    np.testing.assert_array_equal(fast[:, 0, 0], [0, 30])


def test_score_clips_averages_windows_and_reads_sit_stand_order():
    labels = ["SitDown", "StandUp", "Wave"]
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.5, 0.1, 0.4]])
    y = np.array(["SitDown", "SitDown", "StandUp", "Wave", "Wave"])
    ids = np.array(["a", "a", "b", "c", "d"])
    r = score_clips(probs, y, ids, labels)
    assert r.clip_counts == {"SitDown": 1, "StandUp": 1, "Wave": 2}
    assert r.per_class == {"SitDown": 0.0, "StandUp": 1.0, "Wave": 0.5}  # clip a averages to StandUp
    assert r.clip_accuracy == pytest.approx(0.5) and r.sit_stand_accuracy == pytest.approx(0.5)
    assert r.confusion["Wave"] == {"Wave": 1, "SitDown": 1}


def test_mean_pool_baseline_learns_static_poses_but_not_order():
    rng = np.random.default_rng(0)
    up = np.linspace(0, 1, 40)[None, :, None] + 0.01 * rng.standard_normal((20, 40, 3))
    x = np.concatenate([up, up[:, ::-1], up + 2])
    y = ["SitDown"] * 20 + ["StandUp"] * 20 + ["Wave"] * 20
    p = MeanPoolBaseline(["SitDown", "StandUp", "Wave"]).fit(x, y)(x)
    assert (p[40:].argmax(1) == 2).all()
    assert abs((p[:40].argmax(1) == np.repeat([0, 1], 20)).mean() - 0.5) < 0.3  # time reversal: near chance


@needs_sets
def test_utkinect_joints_land_in_the_image_facing_the_camera():
    clips = load_utkinect()
    assert len(clips) == 199  # 20 takes x 10 actions, one carry span is NaN
    lm = np.concatenate([c.landmarks for c in clips])
    assert lm.shape[1:] == (33, 3)
    assert lm[:, list(FEATURE_JOINTS), 2].mean() > 0.95  # visibility: inside the 640x480 frame
    f = np.concatenate([c.features() for c in clips if c.label])
    assert f.shape[1] == 43
    assert (f[:, L_SHOULDER_X] > f[:, R_SHOULDER_X]).mean() > 0.95  # left shoulder on the image right
    assert (f[:, 1] < -1).mean() > 0.95  # the head above the hips (y down)


@needs_sets
def test_msr_one_arm_wave_moves_the_right_wrist():
    clips = [c for c in load_msr() if c.clip_id.startswith("a01_")]
    assert clips and all(c.label == "Wave" for c in clips)
    moved = []
    for c in clips:
        f = c.features()
        moved.append(np.ptp(f[:, R_WRIST : R_WRIST + 2], axis=0).sum() > np.ptp(f[:, L_WRIST : L_WRIST + 2], 0).sum())
    assert np.mean(moved) > 0.8
    f = np.concatenate([c.features() for c in clips])
    assert (f[:, L_SHOULDER_X] > f[:, R_SHOULDER_X]).mean() > 0.95


@needs_sets
def test_validation_windows_shapes_labels_and_split():
    x, y, ids = validation_windows("utkinect")
    assert x.shape[1:] == (40, 43) and x.dtype == np.float32 and len(x) == len(y) == len(ids)
    assert set(y) == set(UTKINECT_CLASSES.values())
    assert all(int(i[1:3]) in DEVELOPMENT_SUBJECTS for i in ids)
    _, y2, ids2 = validation_windows("msr", subjects=HELD_OUT_SUBJECTS)
    assert set(y2) == set(MSR_CLASSES.values())
    assert all(int(i.split("_")[1][1:]) in HELD_OUT_SUBJECTS for i in ids2)


@needs_sets
def test_lzq_takes_load_once_and_split_cleanly():
    clips = {c.raw_class: c for c in load_lzq()}
    assert set(clips) == {"stand", "walk", "squat", "wave", "operate", "fall_down", "run"}
    assert len(clips["stand"].times) == 744 and len(clips["walk"].times) == 722  # not doubled
    assert clips["operate"].label is None and clips["run"].label is None
    a, b = split_take(clips["squat"], 0.8)
    assert len(a.times) + len(b.times) == len(clips["squat"].times) and b.times[0] == 0
    f = clips["stand"].features()
    assert (f[:, L_SHOULDER_X] > f[:, R_SHOULDER_X]).mean() > 0.95


@needs_sets
def test_evaluate_on_real_runs_end_to_end():
    uniform = lambda x: np.full((len(x), len(LABELS)), 1 / len(LABELS), np.float32)  # noqa: E731
    r = evaluate_on_real(uniform, sets=("utkinect",))["utkinect"]
    assert set(r.clip_counts) == set(UTKINECT_CLASSES.values()) and sum(r.clip_counts.values()) == 60
    assert "utkinect" in format_report({"utkinect": r})
