"""Mocap parsing, forward kinematics and retargeting: hand-made files always, real CMU/HDM05 files when present."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streaming.pose_spec import FEATURE_JOINT_NAMES
from training.mocap import (
    ACTION_LABELS,
    INCH_M,
    LICENCE_CMU,
    LICENCE_HDM05,
    MocapClip,
    action_from_description,
    asf_amc_joints,
    asf_forward_kinematics,
    bvh_forward_kinematics,
    bvh_joints,
    bvh_metres_per_unit,
    euler_matrices,
    parse_amc,
    parse_asf,
    parse_bvh,
    resample,
    training_clips,
)
from training.motion import LABELS

MOCAP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mocap"
needs_mocap = pytest.mark.skipif(not MOCAP.is_dir(), reason=f"real mocap not present at {MOCAP}")
J = {n: i for i, n in enumerate(FEATURE_JOINT_NAMES)}

TINY_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Arm
  {
    OFFSET 10 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 5 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.1
1 2 3 0 0 0 0 0 0
1 2 3 90 0 0 90 0 0
"""

TINY_ASF = """:version 1.10
:units
  mass 1.0
  length 0.45
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name arm
     direction 1 0 0
     length 2
     axis 0 0 0 XYZ
    dof rx ry rz
  end
  begin
     id 2
     name fore
     direction 1 0 0
     length 1
     axis 0 0 0 XYZ
    dof rz
  end
:hierarchy
  begin
    root arm
    arm fore
  end
"""

TINY_AMC = """:FULLY-SPECIFIED
:DEGREES
1
root 0 0 0 0 0 0
arm 0 0 0
fore 0
2
root 0 0 0 0 0 90
arm 0 0 0
fore 90
"""


def test_euler_matrices_follow_channel_order():
    r = euler_matrices(np.array([[90.0, 90.0]]), "zx")[0]
    expected = euler_matrices(np.array([[90.0]]), "z")[0] @ euler_matrices(np.array([[90.0]]), "x")[0]
    np.testing.assert_allclose(r, expected, atol=1e-12)
    np.testing.assert_allclose(r @ [0, 1, 0], [0, 0, 1], atol=1e-12)  # x first turns y to z, then z stays


def test_tiny_bvh_is_parsed_and_posed():
    motion = parse_bvh(TINY_BVH)
    assert [j.name for j in motion.joints] == ["Hips", "Arm"]
    assert motion.values.shape == (2, 9) and motion.frame_time == pytest.approx(0.1)
    pos, ends = bvh_forward_kinematics(motion)
    np.testing.assert_allclose(pos[0, 1], [11, 2, 3])
    np.testing.assert_allclose(ends[0, 1], [16, 2, 3])
    # the root turns 90 degrees about z: the arm now points up; the arm turns another 90: its end points back
    np.testing.assert_allclose(pos[1, 1], [1, 12, 3], atol=1e-9)
    np.testing.assert_allclose(ends[1, 1], [-4, 12, 3], atol=1e-9)


def test_tiny_asf_amc_forward_kinematics_in_metres():
    skel = parse_asf(TINY_ASF)
    assert set(skel.bones) == {"arm", "fore"} and skel.parent == {"arm": "root", "fore": "arm"}
    assert skel.metres_per_unit == pytest.approx(INCH_M / 0.45)
    pos = asf_forward_kinematics(skel, parse_amc(TINY_AMC))
    u = INCH_M / 0.45
    np.testing.assert_allclose(pos["arm"][0], [2 * u, 0, 0], atol=1e-12)
    np.testing.assert_allclose(pos["fore"][0], [3 * u, 0, 0], atol=1e-12)
    np.testing.assert_allclose(pos["arm"][1], [0, 2 * u, 0], atol=1e-12)  # root rz 90
    np.testing.assert_allclose(pos["fore"][1], [-u, 2 * u, 0], atol=1e-12)  # fore rz 90 more


def test_bvh_unit_is_judged_from_the_leg():
    assert bvh_metres_per_unit(85.0) == 0.01
    assert bvh_metres_per_unit(15.0) == pytest.approx(INCH_M / 0.45)
    assert bvh_metres_per_unit(0.85) == 1.0
    with pytest.raises(ValueError):
        bvh_metres_per_unit(5000.0)


def test_labels_come_from_descriptions_and_stay_in_the_label_list():
    assert LABELS == tuple(
        "Idle Walk SitDown StandUp RaiseArms Wave Clap Punch Kick Jump JumpingJack Squat Lunge PushUp SitUp Bend "
        "Fall".split()
    )
    assert set(ACTION_LABELS.values()) <= set(LABELS)
    assert action_from_description("soccer - kick ball") == "kick"
    assert action_from_description("bend over, scoop up, rise, lift arm") == "bend"
    assert action_from_description("run/jog") == "run"
    assert action_from_description("forward jump") == "jump"
    assert action_from_description("punch/strike") == "punch"
    assert action_from_description("climb") is None


def test_training_clips_leave_share_alike_out_by_default():
    def clip(licence):
        return MocapClip("c", "x", licence, "", "jump", "Jump", 10.0, np.zeros((3, 13, 3), np.float32), Path("c"))

    clips = [clip(LICENCE_CMU), clip(LICENCE_HDM05)]
    assert [c.licence for c in training_clips(clips)] == [LICENCE_CMU]
    assert len(training_clips(clips, allow_share_alike=True)) == 2


def test_resample_picks_frames_by_time():
    joints = np.arange(120, dtype=np.float32)[:, None, None] * np.ones((1, 13, 3), np.float32)
    c = MocapClip("c", "cmu", LICENCE_CMU, "", "walk", "Walk", 120.0, joints, Path("c"))
    r = resample(c, 10.0)
    assert r.fps == 10.0 and len(r.joints) == 10
    np.testing.assert_array_equal(r.joints[:, 0, 0], np.arange(0, 120, 12))
    assert resample(c, None) is c


def _read(path: Path) -> str:
    return path.read_text(errors="replace")  # HDM05 headers hold Latin-1 bytes


def _bones(j: np.ndarray) -> dict[str, float]:
    def d(a, b):
        return float(np.linalg.norm(j[:, J[a]] - j[:, J[b]], axis=1).mean())

    return {"thigh": d("l_hip", "l_knee"), "shin": d("l_knee", "l_ankle"), "upper_arm": d("l_shoulder", "l_elbow")}


def _plausible(j: np.ndarray) -> None:
    assert j.ndim == 3 and j.shape[1:] == (13, 3)
    b = _bones(j)
    assert 0.3 < b["thigh"] < 0.55 and 0.3 < b["shin"] < 0.55 and 0.2 < b["upper_arm"] < 0.4, b
    hip_y = (j[0, J["l_hip"], 1] + j[0, J["r_hip"], 1]) / 2
    assert 0.7 < hip_y - min(j[0, J["l_ankle"], 1], j[0, J["r_ankle"], 1]) < 1.1
    assert j[0, J["nose"], 1] > j[0, J["l_shoulder"], 1] > hip_y  # y up


def _forward(j: np.ndarray) -> np.ndarray:
    left = j[:, J["l_shoulder"]] - j[:, J["r_shoulder"]]
    up = (j[:, J["l_shoulder"]] + j[:, J["r_shoulder"]]) / 2 - (j[:, J["l_hip"]] + j[:, J["r_hip"]]) / 2
    return np.cross(left, up).mean(axis=0)


@needs_mocap
def test_real_cmu_asf_amc_walk():
    folder = MOCAP / "cmu_amc_cyun9601"
    j = asf_amc_joints(_read(folder / "02.asf"), _read(folder / "02_01.amc"))
    assert len(j) == 343
    _plausible(j)
    hips = (j[:, J["l_hip"]] + j[:, J["r_hip"]]) / 2
    travel = hips[-1] - hips[0]
    travel[1] = 0
    assert np.linalg.norm(travel) > 1.5
    # left/right: the body faces where it walks (a mirrored skeleton would face backwards)
    assert travel @ _forward(j) > 0


@needs_mocap
@pytest.mark.parametrize("path", ["cmu_bvh_daz_przestr/07_01.bvh", "cmu_bvh_bvh11/131_02.bvh"])
def test_real_bvh_walks_in_metres(path):
    j, fps = bvh_joints(_read(MOCAP / path))
    assert fps == pytest.approx(120.0, rel=1e-3)
    _plausible(j)
    hips = (j[:, J["l_hip"]] + j[:, J["r_hip"]]) / 2
    travel = hips[-1] - hips[0]
    travel[1] = 0
    assert travel @ _forward(j) > 0


@needs_mocap
def test_real_hdm05_left_kick_moves_the_left_ankle():
    folder = MOCAP / "hdm05_zhangchi8620"
    amc = folder / "kickLFront1Reps" / "HDM_bd_kickLFront1Reps_001_120.amc"
    j = asf_amc_joints(_read(folder / "HDM_bd.asf"), _read(amc))
    _plausible(j)
    rise = j[:, :, 1].max(axis=0) - j[0, :, 1]
    assert rise[J["l_ankle"]] > 0.5 > rise[J["r_ankle"]]
