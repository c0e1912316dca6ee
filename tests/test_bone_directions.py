"""The bones' image directions inside the pose head: unit vectors that ignore how long the bones are."""

import numpy as np
import pytest

from streaming.pose_spec import FEATURE_JOINTS, L_ANKLE, L_HIP, L_KNEE, L_SHOULDER, R_SHOULDER

keras = pytest.importorskip("keras")


def _features(rng: np.random.Generator, steps: int = 40, scale: float = 1.0) -> np.ndarray:
    x = (scale * rng.normal(size=(1, steps, 43))).astype(np.float32)
    x[..., 2 : 3 * len(FEATURE_JOINTS) : 3] = 1.0  # visibility
    return x


def _xy(x: np.ndarray, joint: int) -> slice:
    k = 3 * FEATURE_JOINTS.index(joint)
    return slice(k, k + 2)


def test_directions_are_unit_vectors_that_ignore_bone_length():
    from training.bone_directions import BONES, BoneDirections

    x = _features(np.random.default_rng(0), scale=30)  # bones far longer than MIN_LENGTH
    out = np.asarray(BoneDirections()(x))
    assert out.shape == (1, 40, 2 * len(BONES))
    assert np.allclose(np.linalg.norm(out.reshape(1, 40, -1, 2), axis=-1), 1.0, atol=2e-3)
    # a longer shin (the ankle moved further along the same direction): the shin's direction stays
    longer = x.copy()
    knee, ankle = x[..., _xy(x, L_KNEE)], x[..., _xy(x, L_ANKLE)]
    longer[..., _xy(x, L_ANKLE)] = knee + 1.5 * (ankle - knee)
    shin = BONES.index((L_KNEE, L_ANKLE))
    again = np.asarray(BoneDirections()(longer))
    assert np.allclose(again[..., 2 * shin : 2 * shin + 2], out[..., 2 * shin : 2 * shin + 2], atol=2e-3)
    thigh = BONES.index((L_HIP, L_KNEE))
    assert np.allclose(again[..., 2 * thigh : 2 * thigh + 2], out[..., 2 * thigh : 2 * thigh + 2])


def test_the_torso_bones_start_at_the_hips_midpoint_and_a_missing_person_points_nowhere():
    from training.bone_directions import BONES, BoneDirections

    x = np.zeros((1, 2, 43), np.float32)
    x[0, 0, _xy(x, L_SHOULDER)] = (0.0, -1.0)  # straight up from the origin (image y points down)
    x[0, 0, _xy(x, R_SHOULDER)] = (1.0, 0.0)
    out = np.asarray(BoneDirections()(x))
    left, right = BONES.index((None, L_SHOULDER)), BONES.index((None, R_SHOULDER))
    assert np.allclose(out[0, 0, 2 * left : 2 * left + 2], (0.0, -1.0), atol=2e-3)
    assert np.allclose(out[0, 0, 2 * right : 2 * right + 2], (1.0, 0.0), atol=2e-3)
    assert np.allclose(out[0, 1], 0.0)  # no person: all features zero, every bone of length zero


def test_a_head_with_directions_saves_loads_and_ensembles_with_the_same_answers(tmp_path):
    from training.motion_train import build_motion_head
    from training.people_model import ensemble, load_seed

    model = build_motion_head(17, units=8, dense=8, directions=True)
    assert model.get_layer("with_velocity").output.shape[-1] == 41 + 43 + 2 * 28
    x = _features(np.random.default_rng(1), 40).repeat(3, axis=0)
    want = np.asarray(model(x))
    model.save(tmp_path / "seed.keras")
    again = load_seed(tmp_path / "seed.keras")
    assert np.allclose(np.asarray(again(x)), want, atol=1e-6)
    assert np.allclose(np.asarray(ensemble([model, again])(x)), want, atol=1e-5)
