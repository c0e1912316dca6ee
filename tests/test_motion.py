"""The synthetic motion generator: exact labels, reproducible seeds, exact time reversal, runtime features,
camera geometry, distinguishable classes, the data set's round trip, and the styles of the confusable classes."""

from __future__ import annotations

import numpy as np
import pytest

import streaming.pose_features
import training.motion_dataset as motion_dataset
from streaming.pose_features import pose_features
from streaming.pose_spec import (
    FEATURE_JOINTS,
    L_ANKLE,
    L_HIP,
    L_SHOULDER,
    L_WRIST,
    R_ANKLE,
    R_HIP,
    R_SHOULDER,
    R_WRIST,
)
from training.camera import CameraView, project
from training.landmark_noise import NoiseConfig
from training.motion import LABELS, simulate
from training.motion_dataset import read_motion_dataset, synthesize_clip, write_motion_dataset


def test_labels_are_exactly_the_issue_list():
    assert LABELS == tuple(
        "Idle Walk SitDown StandUp RaiseArms Wave Clap Punch Kick Jump JumpingJack Squat Lunge PushUp SitUp Bend "
        "Fall".split()
    )


@pytest.mark.parametrize("label", LABELS)
def test_every_class_is_reproducible_and_finite(label):
    a, b = synthesize_clip(label, 11), synthesize_clip(label, 11)
    assert a.features.shape == (40, 43) and a.features.dtype == np.float32
    assert np.array_equal(a.features, b.features) and np.array_equal(a.landmarks, b.landmarks)
    assert np.isfinite(a.features).all()
    assert not np.array_equal(a.features, synthesize_clip(label, 12).features)
    assert a.present.mean() > 0.5  # the person is mostly in view


def test_standup_is_sitdown_reversed_exactly_before_noise():
    for seed in range(5):
        up = simulate("StandUp", np.random.default_rng(seed))
        down = simulate("SitDown", np.random.default_rng(seed))
        assert np.array_equal(up.points, down.points[::-1])
        clip_up, clip_down = synthesize_clip("StandUp", seed), synthesize_clip("SitDown", seed)
        assert clip_up.view == clip_down.view  # the camera ignores time order
        assert np.array_equal(clip_up.clean, clip_down.clean[::-1])
    # and it is a real motion: the hips go down in SitDown
    hips = down.points[:, [23, 24], 1].mean(axis=1)
    assert hips[0] - hips[-1] > 0.2


def test_features_are_the_runtime_pose_features():
    assert motion_dataset.pose_features is streaming.pose_features.pose_features
    clip = synthesize_clip("Wave", 3)
    for t in range(len(clip.features)):
        size = (clip.view.width, clip.view.height)
        want = pose_features(clip.landmarks[t], bool(clip.present[t]), FEATURE_JOINTS, size)
        assert np.array_equal(clip.features[t], want)


def test_noise_off_gives_the_projected_skeleton():
    clip = synthesize_clip("Clap", 5, noise=NoiseConfig(enabled=False))
    assert np.allclose(clip.landmarks[..., :2], clip.clean[..., :2])


def test_projection_centre_and_left_right():
    view = CameraView(0.0, 0.0, 0.0, 3.0, 500.0, 640, 480, target=(0.0, 1.0, 0.0))
    xy, depth = project(np.array([0.0, 1.0, 0.0]), view)
    assert np.allclose(xy, (320, 240)) and depth == pytest.approx(3.0)
    left = np.array([0.3, 1.0, 0.0])  # the person's left (+x) when facing the camera (+z)
    up = np.array([0.0, 1.5, 0.0])
    assert project(left, view)[0][0] > 320  # a person facing the camera: their left on the image's right
    assert project(up, view)[0][1] < 240  # image y grows downwards
    behind = CameraView(180.0, 0.0, 0.0, 3.0, 500.0, 640, 480, target=(0.0, 1.0, 0.0))
    assert project(left, behind)[0][0] < 320  # seen from behind: left on the left
    assert 0 <= project(left, behind)[0][0] < 640


def test_facing_the_camera_puts_the_left_shoulder_on_the_right():
    m = simulate("Idle", np.random.default_rng(0))
    view = CameraView(0.0, 10.0, 0.0, 3.0, 600.0, 640, 480, target=(0.0, 1.0, 0.0))
    xy, _ = project(m.points, view)
    assert (xy[:, L_SHOULDER, 0] > xy[:, R_SHOULDER, 0]).mean() > 0.9


def test_desk_webcam_framing_loses_the_legs():
    vis, below = [], []
    for seed in range(6):
        clip = synthesize_clip("Wave", seed, framing="upper")
        vis.append(clip.landmarks[clip.present][:, [L_ANKLE, R_ANKLE], 2].mean())
        below.append((clip.clean[:, [L_ANKLE, R_ANKLE], 1] > clip.view.height).mean())
    assert np.mean(vis) < 0.3 and np.mean(below) > 0.9


def _summary(features: np.ndarray) -> np.ndarray:
    """Mean and spread of positions and speeds over the window: enough for a nearest-centroid sanity check."""
    vel = np.diff(features, axis=0)
    return np.concatenate([features.mean(0), features.std(0), np.abs(vel).mean(0), features[-10:].mean(0)])


def test_classes_are_distinguishable():
    train = [(_summary(synthesize_clip(lab, 100 + i).features), k) for k, lab in enumerate(LABELS) for i in range(12)]
    test = [(_summary(synthesize_clip(lab, 900 + i).features), k) for k, lab in enumerate(LABELS) for i in range(5)]
    x = np.stack([f for f, _ in train])
    y = np.array([k for _, k in train])
    mu, sd = x.mean(0), x.std(0) + 1e-6
    centroids = np.stack([((x[y == k] - mu) / sd).mean(0) for k in range(len(LABELS))])
    hits = [int(np.argmin(((((f - mu) / sd) - centroids) ** 2).sum(1)) == k) for f, k in test]
    assert np.mean(hits) > 4 / len(LABELS)  # over 4x chance (chance 5.9 %)


def test_dataset_round_trip_and_determinism(tmp_path):
    labels = ("Idle", "SitDown", "StandUp")
    a = write_motion_dataset(tmp_path / "a", clips_per_class=6, seed=4, labels=labels, progress=False)
    b = write_motion_dataset(tmp_path / "b", clips_per_class=6, seed=4, labels=labels, progress=False)
    da, db = read_motion_dataset(a), read_motion_dataset(b)
    assert da.names == list(labels) and len(da.features) == 18
    assert all(np.array_equal(x, y) for x, y in zip(da.features, db.features))
    assert da.is_test.sum() == 6  # clips 0 and 5 of each class
    assert sorted(np.bincount(da.labels).tolist()) == [6, 6, 6]
    assert (a / "classInd.txt").read_text().splitlines()[0] == "1 Idle"
    c = write_motion_dataset(tmp_path / "c", clips_per_class=2, seed=5, labels=labels, progress=False)
    assert not np.array_equal(read_motion_dataset(c).features[0], da.features[0])


def test_velocity_head_shapes():
    keras = pytest.importorskip("keras")
    from training.motion_train import build_motion_head

    model = build_motion_head(classes=17, units=8, dense=8)
    x = np.random.default_rng(0).normal(size=(2, 40, 43)).astype(np.float32)
    assert model(x).shape == (2, 17)
    inner = keras.Model(model.input, model.get_layer("with_velocity").output)
    out = np.asarray(inner(x))
    # every channel but the raw hip offset (the last two), then every channel's change
    assert out.shape == (2, 40, 41 + 43)
    assert np.allclose(out[:, :, :41], x[:, :, :41])
    assert np.allclose(out[:, 0, 41:], 0) and np.allclose(out[:, 1:, 41:], np.diff(x, axis=1), atol=1e-6)
    # the 40-d features of bundles made before the placement channels: all of them, and their change
    old = build_motion_head(classes=17, feature_size=40, units=8, dense=8)
    assert keras.Model(old.input, old.get_layer("with_velocity").output)(x[:, :, :40]).shape == (2, 40, 80)


def test_closeup_framing_keeps_the_person_with_the_hips_out_of_view():
    """A head-and-shoulders close-up (ApplyEyeMakeup): BlazePose still finds the person, the hips are below."""
    found, hips_out = [], []
    for seed in range(6):
        clip = synthesize_clip("Idle", seed, framing="closeup")
        found.append(clip.present.mean())
        hips_out.append((clip.clean[:, [23, 24], 1] > clip.view.height).mean())
    assert np.mean(found) > 0.75 and np.mean(hips_out) > 0.6


def test_framing_draws_follow_the_class_probabilities():
    rng = np.random.default_rng(0)
    idle = [motion_dataset.draw_framing("Idle", rng) for _ in range(2000)]
    kick = [motion_dataset.draw_framing("Kick", rng) for _ in range(2000)]
    assert abs(idle.count("closeup") / 2000 - motion_dataset.CLOSEUP_PROB["Idle"]) < 0.04
    assert "closeup" not in kick and abs(kick.count("upper") / 2000 - 0.05) < 0.02


def _styles(label: str, key: str, n: int = 60) -> dict[str, int]:
    out: dict[str, int] = {}
    for seed in range(n):
        v = str(simulate(label, np.random.default_rng(seed)).params[key])
        out[v] = out.get(v, 0) + 1
    return out


def test_the_confusable_classes_come_in_the_ways_people_do_them():
    """Waves: forearm, high, horizontal and two-hand overhead; punches from a guard and from rest (forward or to
    the side); big and small claps; low and high kicks; idle hands at the face and fidgeting; bends as
    stoops and as pick-ups."""
    assert set(_styles("Wave", "style")) == {"forearm", "high", "horizontal", "overhead", "arc"}
    assert set(_styles("Punch", "style")) == {"guard", "forward", "side"}
    assert set(_styles("Clap", "wide")) == {"True", "False"} and set(_styles("Kick", "low")) == {"True", "False"}
    assert {"face", "fidget"} <= set(_styles("Idle", "activity", 120))
    assert set(_styles("Bend", "pickup")) == {"True", "False"}


def test_a_pick_up_drops_the_hips_a_stoop_does_not():
    """Real pick-ups bend the knees deeply: the hips drop (as in a squat) while the trunk folds; a stoop keeps the
    legs nearly straight. Measured as the hips' travel in leg lengths over the clip."""
    drops: dict[bool, list[float]] = {True: [], False: []}
    for seed in range(40):
        m = simulate("Bend", np.random.default_rng(seed))
        hips = m.points[:, [L_HIP, R_HIP], 1].mean(axis=1)
        drops[bool(m.params["pickup"])].append(float(np.ptp(hips)) / (m.body.thigh + m.body.shin))
    assert drops[True] and drops[False]
    assert min(drops[True]) > 0.1 and float(np.median(drops[False])) < 0.1


def test_a_punch_from_rest_reaches_out_from_hanging_arms():
    """Arms hang at the start of a from-rest punch clip; a fist gets at least a forearm in front of its shoulder."""
    for seed in range(40):
        m = simulate("Punch", np.random.default_rng(seed))
        if m.params["style"] != "forward" or m.params["punches"] < 2:
            continue
        wrists, shoulders = m.points[:, [L_WRIST, R_WRIST]], m.points[:, [L_SHOULDER, R_SHOULDER]]
        reach = (wrists[..., 2] - shoulders[..., 2]).max()  # the person faces +z (yaw near 0)
        assert reach > m.body.forearm and (wrists[0, :, 1] < shoulders[0, :, 1]).all()
        return
    pytest.fail("no forward punch from rest with two punches in 40 seeds")
