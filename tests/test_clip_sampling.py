"""Training sampling: frames by timestamp (stride), segments (centre/random), windows and looping short clips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from streaming.clip_sampling import (
    cache_key,
    clip_window_rows,
    clip_windows,
    extraction_indices,
    sample_clip,
    window_rows,
    window_starts,
    windows_from_features,
)
from streaming.sampler import Sampling, loop_to_window, segment_indices, stride_indices
from streaming.video import FrameReader


def write_clip(path, fps: float, seconds: float, size=(160, 120), fourcc="mp4v") -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    for i in range(int(round(fps * seconds))):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        cv2.circle(frame, (10 + (i * 3) % (size[0] - 20), size[1] // 2), 8, (0, 200, 255), -1)
        writer.write(frame)
    writer.release()


def frame_times(path) -> list[float]:
    return [t for t, _ in FrameReader(path)]


# --- Sampling -------------------------------------------------------------------------------------------


def test_spec_defaults_and_bundle_sampling():
    spec = Sampling()
    assert (spec.mode, spec.feature_rate, spec.window) == ("stride", 10.0, 40)
    assert spec.window_seconds == 4.0
    assert Sampling("segments", 5, 40).mode == "segments"


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(mode="dense"),
        dict(feature_rate=0),
        dict(feature_rate=-1),
        dict(feature_rate=float("nan")),
        dict(feature_rate=float("inf")),
        dict(feature_rate="10"),
        dict(feature_rate=True),
        dict(window=0),
        dict(window=2.5),
        dict(window=True),
    ],
)
def test_spec_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        Sampling(**kwargs)


def test_spec_key_names_what_the_features_depend_on():
    # 10 and 10.0 are one rate; a different rate is a different cache
    assert cache_key(Sampling(feature_rate=10)) == cache_key(Sampling(feature_rate=10.0))
    assert cache_key(Sampling(feature_rate=10)) != cache_key(Sampling(feature_rate=5))
    assert cache_key(Sampling(feature_rate=10)) != cache_key(Sampling(feature_rate=10.5))
    # mode and window are applied to cached features later, so they share the cache
    assert cache_key(Sampling("stride", 10, 40)) == cache_key(Sampling("segments", 10, 16))
    assert "/" not in cache_key(Sampling(feature_rate=29.97)) and len(cache_key(Sampling(feature_rate=29.97))) < 24


# --- stride: time, not frame counts -------------------------------------------------------------------------


@pytest.mark.parametrize("native_fps", [25.0, 30000 / 1001, 30.0, 50.0])
def test_stride_takes_one_frame_per_period_without_drift(native_fps):
    """Ten minutes of video at 25/29.97/30/50 fps: feature k falls within one frame after k/10 s, always."""
    times = [i / native_fps for i in range(int(600 * native_fps))]
    picked = [times[i] for i in sample_clip(times, Sampling(feature_rate=10))]
    assert len(picked) == 6000
    due = np.arange(6000) / 10
    late = np.asarray(picked) - due
    assert late.min() >= -1e-3 - 1e-9 and late.max() < 1 / native_fps  # DUE_TOLERANCE_S early at most


def test_stride_on_irregular_times_skips_gaps_instead_of_bursting():
    rng = np.random.default_rng(0)
    times = list(np.cumsum(rng.uniform(0.02, 0.06, 500)))
    times[200:] = [t + 3.0 for t in times[200:]]  # a 3 s gap
    picked = np.asarray([times[i] for i in sample_clip(times, Sampling(feature_rate=10))])
    gaps = np.diff(picked)
    assert gaps.min() >= 0.1 - 1e-3 - 0.06  # never two features within one period (less one frame of jitter)
    assert gaps.max() > 3.0  # the gap is a gap, not filled with a burst
    assert (gaps[gaps < 1.0] < 0.1 + 0.06 + 1e-9).all()


def test_stride_feature_times_match_between_25_and_29_97_fps_clips(tmp_path):
    """A clip written at 29.97 fps and one at 25 fps give the same feature times, within one frame."""
    p25, p2997 = tmp_path / "a25.mp4", tmp_path / "a2997.avi"
    write_clip(p25, 25.0, 4.0)
    write_clip(p2997, 30000 / 1001, 4.0, fourcc="MJPG")
    spec = Sampling(feature_rate=10)
    t25, t2997 = frame_times(p25), frame_times(p2997)
    assert len(t25) == 100 and len(t2997) == 120  # real files: 4 s at each rate
    f25 = np.asarray([t25[i] for i in sample_clip(t25, spec)])
    f2997 = np.asarray([t2997[i] for i in sample_clip(t2997, spec)])
    assert len(f25) == len(f2997) == 40
    assert np.abs(f25 - f2997).max() < 1 / 25
    assert np.abs(np.diff(f2997) - 0.1).max() < 1 / 29.97


# --- segments ------------------------------------------------------------------------------------------------


def test_segments_centre_is_the_reports_method_when_every_frame_is_a_candidate():
    times = [i / 25 for i in range(180)]  # UCF101's mean clip: 7.2 s at 25 fps
    spec = Sampling("segments", feature_rate=25, window=40)
    assert extraction_indices(times, spec) == list(range(180))
    centre = sample_clip(times, spec)
    assert centre == segment_indices(180, 40)
    assert len(centre) == 40 and centre == sorted(centre)
    # the frame holding the centre of segment k (4.5 frames each)
    assert centre == [int((k + 0.5) * 4.5) for k in range(40)]


def test_segments_random_draws_stay_in_their_segments_and_vary():
    times = [i / 25 for i in range(180)]
    spec = Sampling("segments", feature_rate=25, window=40)
    draws = [sample_clip(times, spec, np.random.default_rng(s)) for s in range(5)]
    for d in draws:
        assert len(d) == 40
        for k, i in enumerate(d):
            assert int(180 * k / 40) <= i < 180 * (k + 1) / 40  # a frame overlapping segment k
    assert len({tuple(d) for d in draws}) == 5  # different draws differ
    assert sample_clip(times, spec, np.random.default_rng(3)) == draws[3]  # reproducible per seed
    assert sample_clip(times, spec) != draws[0]


def test_segments_candidates_at_a_lower_rate_are_frames_due_at_that_rate():
    times = [i * 1001 / 30000 for i in range(300)]  # 10 s at 29.97
    spec = Sampling("segments", feature_rate=10, window=40)
    cand = extraction_indices(times, spec)
    assert cand == stride_indices(times, 10)
    picked = sample_clip(times, spec)
    assert set(picked) <= set(cand) and len(picked) == 40
    # the centre pick lies within one candidate spacing (0.1 s) of each segment's true centre
    dur = times[-1] + 1001 / 30000
    centres = (np.arange(40) + 0.5) * dur / 40
    assert np.abs(np.asarray([times[i] for i in picked]) - centres).max() < 0.1 + 1 / 29.97


def test_segments_on_a_clip_shorter_than_the_window_repeat_frames_in_order():
    spec = Sampling("segments", feature_rate=10, window=40)
    times = [i / 25 for i in range(25)]  # 1 s: 10 candidates
    picked = sample_clip(times, spec)
    assert len(picked) == 40 and picked == sorted(picked)
    assert set(picked) == set(extraction_indices(times, spec))


# --- windows -------------------------------------------------------------------------------------------------


def test_windows_every_hop_and_one_ending_at_the_clip_end():
    feats = np.arange(100 * 3, dtype=np.float32).reshape(100, 3)
    w = windows_from_features(feats, 40, hop=10)
    assert w.shape == (7, 40, 3)
    assert [int(x[0, 0]) // 3 for x in w] == [0, 10, 20, 30, 40, 50, 60]
    np.testing.assert_array_equal(w[2], feats[20:60])
    w = windows_from_features(feats[:45], 40, hop=10)
    assert [int(x[0, 0]) // 3 for x in w] == [0, 5]  # the clip's last 40 steps are kept
    np.testing.assert_array_equal(w[-1], feats[5:45])
    assert window_starts(40, 40, 10) == [0]
    assert windows_from_features(feats[:40], 40).shape == (1, 40, 3)


def test_default_hop_is_a_quarter_window():
    feats = np.zeros((80, 2), np.float32)
    assert windows_from_features(feats, 40).shape[0] == len(range(0, 41, 10))


def test_short_clip_is_looped_to_fill_exactly_one_window_like_the_live_engine():
    feats = np.arange(7 * 2, dtype=np.float32).reshape(7, 2)
    w = windows_from_features(feats, 40, hop=10)
    assert w.shape == (1, 40, 2)
    np.testing.assert_array_equal(w[0], feats[loop_to_window(7, 40)])
    np.testing.assert_array_equal(w[0, 7:14], feats)
    one = windows_from_features(feats[:1], 40)
    assert (one == feats[0]).all()


def test_window_rows_index_the_same_windows_lazily():
    feats = np.random.default_rng(0).normal(size=(63, 4)).astype(np.float32)
    rows = window_rows(63, 40, 10)
    assert rows.dtype == np.int64 and rows.shape == (4, 40)
    np.testing.assert_array_equal(feats[rows], windows_from_features(feats, 40, 10))
    assert not np.shares_memory(windows_from_features(feats, 40, 10), feats)


def test_windows_reject_bad_input():
    with pytest.raises(ValueError):
        windows_from_features(np.zeros((0, 4), np.float32), 40)
    with pytest.raises(ValueError):
        windows_from_features(np.zeros(10, np.float32), 4)
    with pytest.raises(ValueError):
        windows_from_features(np.zeros((50, 4), np.float32), 40, hop=0)


def test_clip_windows_stride_and_segments():
    feats = np.random.default_rng(1).normal(size=(72, 8)).astype(np.float32)
    stride = Sampling("stride", 10, 40)
    np.testing.assert_array_equal(clip_windows(feats, stride), windows_from_features(feats, 40, 10))
    # with rng, the start grid moves by less than one hop and the clip's end is still covered
    shifted = clip_window_rows(72, stride, hop=10, rng=np.random.default_rng(5))
    assert 0 <= shifted[0, 0] < 10 and shifted[-1, -1] == 71
    seg = Sampling("segments", 10, 40)
    centre = clip_windows(feats, seg)
    assert centre.shape == (1, 40, 8)
    np.testing.assert_array_equal(centre[0], feats[segment_indices(72, 40)])
    rand = clip_windows(feats, seg, rng=np.random.default_rng(2))
    np.testing.assert_array_equal(rand[0], feats[segment_indices(72, 40, np.random.default_rng(2))])
