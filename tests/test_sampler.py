"""The timestamp sampler gives the same feature spacing at 25, 29.97 and 30 fps and on irregular webcams."""

import numpy as np
import pytest
from tiny_bundle import write_color_clip

from streaming.engine import Engine, EngineConfig
from streaming.events import Prediction
from streaming.sampler import RateSampler, stride_indices
from streaming.sources import FileSource
from streaming.video import iter_frames


def picked_times(times, fps=10.0):
    return np.asarray(times)[stride_indices(list(times), fps)]


@pytest.mark.parametrize("source_fps", [25.0, 30000 / 1001, 30.0])
def test_same_spacing_at_common_frame_rates(source_fps):
    times = np.arange(int(20 * source_fps)) / source_fps  # 20 s
    picked = picked_times(times)
    gaps = np.diff(picked)
    assert 199 <= len(picked) <= 201
    assert abs(gaps.mean() - 0.1) < 1e-3  # no drift: the schedule is t0 + k/fps
    assert (gaps > 0.1 - 1 / source_fps - 1e-9).all() and (gaps < 0.1 + 1 / source_fps + 1e-9).all()


def test_25_and_29_97_fps_pick_frames_at_the_same_times_to_within_a_frame():
    a = picked_times(np.arange(250) / 25.0)
    b = picked_times(np.arange(300) / (30000 / 1001))
    n = min(len(a), len(b))
    assert abs(len(a) - len(b)) <= 1
    assert np.abs(a[:n] - b[:n]).max() < 1 / 25.0


def test_irregular_webcam_timestamps_still_give_the_feature_rate():
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.01, 0.07, 2000))  # 15-100 fps jitter
    picked = picked_times(times)
    rate = (len(picked) - 1) / (picked[-1] - picked[0])
    assert 9.0 < rate <= 10.0 + 1e-6
    slots = np.floor((picked - picked[0] + 1.0001e-3) / 0.1)  # the due time each frame answers (1 ms early is on time)
    assert (np.diff(slots) >= 1).all()  # never two features for one due time


def test_a_gap_skips_missed_due_times_instead_of_bursting():
    s = RateSampler(10.0)
    assert s.take(0.0)
    assert s.take(5.0)  # after a 5 s gap: one frame, not 50
    assert not s.take(5.05)
    assert s.take(5.1)


def test_real_files_at_25_and_29_97_fps_give_the_same_feature_rate(tmp_path, tiny_bundle):
    """Through the whole engine: decoded timestamps -> sampler -> features, from real files."""
    clips = {
        fps: write_color_clip(tmp_path / f"c{fps:.2f}.avi", [("red", 6.0)], fps=fps) for fps in (25.0, 30000 / 1001)
    }
    per_clip = {}
    for fps, clip in clips.items():
        times = [t for t, _ in iter_frames(clip)]
        assert abs(1 / np.diff(times).mean() - fps) < 0.05  # the file really runs at that rate
        engine = Engine(tiny_bundle, EngineConfig(device="cpu", hop_s=0.2))  # a prediction per feature
        preds = [e for e in engine.run_until_done([FileSource(clip, realtime=False)]) if isinstance(e, Prediction)]
        engine.stop()
        per_clip[fps] = np.asarray([p.t for p in preds])
    a, b = per_clip.values()
    assert abs(len(a) - len(b)) <= 1 and len(a) > 15
    n = min(len(a), len(b))
    assert np.abs(a[:n] - b[:n]).max() < 1 / 25.0  # the newest frame of each window: same time to within a frame


def test_real_ucf101_clips_at_25_and_29_97_fps(ucf_mini):
    """BaseballPitch (29.97 fps) and Punch (25 fps) from UCF101: 5 features/s spaced 0.2 s in both."""
    for name, fps in [("BaseballPitch/v_BaseballPitch_g01_c01.avi", 29.97), ("Punch/v_Punch_g03_c01.avi", 25.0)]:
        times = [t for t, _ in iter_frames(ucf_mini / "UCF-101" / name)]
        assert abs(1 / np.diff(times).mean() - fps) < 0.05
        picked = picked_times(times, fps=5.0)
        assert abs(np.diff(picked).mean() - 0.2) < 0.01
