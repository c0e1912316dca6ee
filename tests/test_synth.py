"""Synthetic stick-figure clips: deterministic, time-reversed pairs, valid lengths, a UCF101-style tree that
decodes and whose split files parse."""

from __future__ import annotations

import os

import numpy as np
import pytest

from streaming.datasets import discover
from streaming.errors import ActionstreamError
from streaming.splits import official_split
from streaming.video import FrameReader
from training.synth import (
    ACTIONS,
    REVERSED_PAIRS,
    SynthConfig,
    demo_schedule,
    demo_stream_frames,
    held_out_groups,
    joint_tracks,
    render_clip,
    write_clip,
    write_dataset,
    write_demo_clip,
)

SHORT = SynthConfig(min_seconds=2.0, max_seconds=2.4)


def test_actions_and_pairs():
    assert len(ACTIONS) >= 6 and len(set(ACTIONS)) == len(ACTIONS)
    assert ("SitDown", "StandUp") in REVERSED_PAIRS and ("RaiseArms", "LowerArms") in REVERSED_PAIRS
    assert all(a in ACTIONS and b in ACTIONS for a, b in REVERSED_PAIRS)


def test_render_is_deterministic_per_action_and_seed():
    a, fps = render_clip("Wave", 5, SHORT)
    b, _ = render_clip("Wave", 5, SHORT)
    assert fps == 25.0 and a.dtype == np.uint8 and a.shape[1:] == (240, 320, 3)
    assert a.tobytes() == b.tobytes()
    c, _ = render_clip("Wave", 6, SHORT)
    d, _ = render_clip("Jump", 5, SHORT)
    assert c.shape != a.shape or not np.array_equal(c, a)
    assert d.shape != a.shape or not np.array_equal(d, a)


def test_frames_change_over_time_and_fill_the_frame():
    frames, _ = render_clip("JumpingJack", 3, SHORT)
    assert np.abs(frames[10].astype(int) - frames[0].astype(int)).mean() > 0.5  # the figure moves
    assert frames.std() > 5  # a textured scene, not a flat colour


def test_clip_lengths_between_2_and_10_seconds():
    lengths = [len(joint_tracks(a, s)["hip"]) for a in ACTIONS for s in range(12)]
    assert min(lengths) >= 2 * 25 and max(lengths) <= 10 * 25
    assert max(lengths) - min(lengths) > 100  # lengths really vary


@pytest.mark.parametrize("forward,backward", REVERSED_PAIRS)
def test_reversed_pairs_are_exact_reversals(forward, backward):
    f, _ = render_clip(forward, 11, SHORT)
    b, _ = render_clip(backward, 11, SHORT)
    assert np.array_equal(b, f[::-1])
    jf, jb = joint_tracks(forward, 11, SHORT), joint_tracks(backward, 11, SHORT)
    assert all(np.array_equal(jb[k], jf[k][::-1]) for k in jf)


def _one_way(y: np.ndarray, scale: float) -> tuple[float, int]:
    """Total smooth travel in +y, and how many steps of 2+ frames moved the other way (cuts are 1 frame)."""
    dy = np.diff(y)
    eps = 0.01 * scale
    forward = float(dy[dy > eps].sum())
    back = dy < -eps
    return forward, int(np.sum(back[1:] & back[:-1]))


@pytest.mark.parametrize(
    "action,joint,sign",
    [("SitDown", "hip", 1), ("StandUp", "hip", -1), ("RaiseArms", "l_hand", -1), ("LowerArms", "l_hand", 1)],
)
def test_reversible_motion_goes_one_way_and_every_4s_window_shows_it(action, joint, sign):
    """SitDown only ever goes down (back to standing by a cut), so no window of it looks like StandUp."""
    config = SynthConfig(min_seconds=10.0, max_seconds=10.0)
    for seed in range(3):
        y = sign * joint_tracks(action, seed, config)[joint][:, 1]
        span = float(np.ptp(y))
        travel, wrong_way = _one_way(y, span)
        assert span > 10 and wrong_way == 0
        for start in range(0, len(y) - 100, 10):  # 4 s windows at 25 fps
            win_travel, _ = _one_way(y[start : start + 100], span)
            assert win_travel > 0.4 * span, (seed, start)


def test_actions_differ_in_pose_except_reversed_pairs():
    """Time-averaged joint layout (what a pooling model sees) separates all actions but reversal partners."""

    def mean_layout(action: str, seed: int) -> np.ndarray:
        j = joint_tracks(action, seed, SHORT)
        height = np.ptp(np.concatenate([j["head"][:, 1], j["l_foot"][:, 1]]))
        rel = np.stack([j[k] - j["hip"] for k in j if k != "hip"], axis=1) / height
        rel[..., 0] = np.abs(rel[..., 0])  # facing left or right is not the action
        return rel.mean(axis=0).ravel()

    layouts = {a: mean_layout(a, 4) for a in ACTIONS}
    for fwd, back in REVERSED_PAIRS:
        assert np.allclose(layouts[fwd], layouts[back])
    partner = {a: b for p in REVERSED_PAIRS for a, b in (p, p[::-1])}
    for i, a in enumerate(ACTIONS):
        for b in ACTIONS[i + 1 :]:
            if partner.get(a) != b:
                assert np.abs(layouts[a] - layouts[b]).max() > 0.05, (a, b)


def test_bad_inputs_are_refused():
    with pytest.raises(ActionstreamError, match="unknown synthetic action"):
        render_clip("Moonwalk", 0)
    with pytest.raises(ActionstreamError, match="non-negative"):
        render_clip("Wave", -1)
    with pytest.raises(ValueError):
        SynthConfig(min_seconds=5, max_seconds=2)


def test_write_dataset_tree_decodes_and_splits_parse(tmp_path):
    out = write_dataset(
        tmp_path / "synth",
        seed=1,
        clips_per_class=2,
        groups=2,
        actions=("SitDown", "StandUp", "Wave"),
        config=SHORT,
        progress=False,
    )
    lists = out / "ucfTrainTestlist"
    assert (lists / "classInd.txt").read_bytes() == b"1 SitDown\r\n2 StandUp\r\n3 Wave\r\n"
    train = (lists / "trainlist01.txt").read_bytes().decode()
    test = (lists / "testlist01.txt").read_bytes().decode()
    assert train.startswith("SitDown/v_SitDown_g02_c01.avi 1\r\n") and train.count("\r\n") == 3
    assert test.startswith("SitDown/v_SitDown_g01_c01.avi\r\n") and " " not in test
    # two groups make two group-wise splits (each tests one group), not three
    assert (lists / "testlist02.txt").read_bytes().startswith(b"SitDown/v_SitDown_g02_c01.avi\r\n")
    assert not (lists / "trainlist03.txt").exists()

    ds = discover(out, class_ind=lists / "classInd.txt")
    assert ds.classes == ["SitDown", "StandUp", "Wave"] and len(ds.clips) == 6
    assert {c.group for c in ds.clips} == {"g01", "g02"}
    split = official_split(ds, lists, 1)
    assert len(split.train) == 3 and len(split.test) == 3
    assert split.missing == [] and split.group_leaks == 0 and split.unlisted == []

    path = out / "UCF-101" / "Wave" / "v_Wave_g01_c01.avi"
    assert path.stat().st_size > 1000
    reader = FrameReader(path)
    decoded = [(t, f) for t, f in reader]
    assert reader.info.fps == 25.0 and reader.end_reason == "end of file"
    assert 50 <= len(decoded) <= 60
    assert decoded[0][1].shape == (240, 320, 3)
    assert np.allclose(np.diff([t for t, _ in decoded]), 0.04, atol=1e-3)
    assert not [p for p in out.rglob(".*tmp*")]  # no temporary files left behind

    # an interrupted run resumes without rewriting; other settings in the same folder are refused
    before = path.stat().st_mtime_ns
    write_dataset(
        out, seed=1, clips_per_class=2, groups=2, actions=("SitDown", "StandUp", "Wave"), config=SHORT, progress=False
    )
    assert path.stat().st_mtime_ns == before
    with pytest.raises(ActionstreamError, match="other settings"):
        write_dataset(
            out,
            seed=2,
            clips_per_class=2,
            groups=2,
            actions=("SitDown", "StandUp", "Wave"),
            config=SHORT,
            progress=False,
        )


def test_written_clip_matches_rendered_frames(tmp_path):
    frames, fps = render_clip("Squat", 2, SHORT)
    for name in ("clip.avi", "clip.mp4"):
        path = write_clip(tmp_path / name, frames, fps)
        decoded = np.stack([f for _, f in FrameReader(path)])
        assert decoded.shape == frames.shape
        mse = np.mean((decoded.astype(float) - frames.astype(float)) ** 2)
        assert 10 * np.log10(255**2 / mse) > 25  # PSNR: the codec kept the picture
    with pytest.raises(ActionstreamError, match="cannot write"):
        write_clip(tmp_path / "clip.gif", frames, fps)
    assert sorted(os.listdir(tmp_path)) == ["clip.avi", "clip.mp4"]


def test_group_rule_matches_ucf101_with_25_groups():
    assert held_out_groups(25, 1) == list(range(1, 8))
    assert held_out_groups(25, 3) == list(range(15, 22))
    assert held_out_groups(5, 2) == [2] and held_out_groups(2, 2) == [2] and held_out_groups(2, 3) == []


def test_dataset_settings_are_checked(tmp_path):
    with pytest.raises(ActionstreamError, match="groups"):
        write_dataset(tmp_path / "x", clips_per_class=3, groups=5, progress=False)
    with pytest.raises(ActionstreamError, match="unknown synthetic action"):
        write_dataset(tmp_path / "y", actions=("Wave", "Fly"), progress=False)


def test_demo_stream_walks_through_every_action(tmp_path):
    config = SynthConfig(width=160, height=120)
    frames, fps = demo_stream_frames(seed=3, seconds_per_action=1.0, config=config)
    schedule = demo_schedule(1.0, ACTIONS, fps)
    assert frames.shape == (len(ACTIONS) * 25, 120, 160, 3) and fps == 25.0
    assert [a for _, _, a in schedule] == list(ACTIONS) and schedule[-1][1] == pytest.approx(len(ACTIONS))
    again, _ = demo_stream_frames(seed=3, seconds_per_action=1.0, config=config)
    assert np.array_equal(frames, again)
    path = write_demo_clip(tmp_path / "demo.mp4", seed=3, seconds_per_action=1.0, config=config)
    reader = FrameReader(path)
    assert sum(1 for _ in reader) == len(frames) and reader.info.width == 160
