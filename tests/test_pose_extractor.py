"""The pose extractor with the real BlazePose ONNX models on real UCF101 frames, black frames and noise.

The models come from one place, `pose_model_paths` below: the committed pose bundle, models/pose.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from streaming.errors import BundleError
from streaming.person import ExtractResult
from streaming.pose_draw import draw_person
from streaming.pose_extractor import PoseExtractor, PoseTrack
from streaming.pose_spec import PoseSpec

ROOT = Path(__file__).resolve().parents[1]
POSE_BUNDLE = ROOT / "models" / "pose"
#: Clips with one clear, mostly whole person (of the 8 in ucf101-mini).
PERSON_CLIPS = ("BaseballPitch", "PushUps", "Shotput", "PlayingGuitar")


@pytest.fixture(scope="module")
def pose_model_paths() -> tuple[Path, Path]:
    """(detector, landmarks) ONNX files of the committed pose bundle, loaded (hashes, shapes) as the engine does."""
    from streaming.bundle import load_bundle

    bundle = load_bundle(POSE_BUNDLE)
    return bundle.path("pose_detector"), bundle.path("pose_landmarks")


@pytest.fixture(scope="module")
def extractor(pose_model_paths) -> PoseExtractor:
    return PoseExtractor(*pose_model_paths, PoseSpec(), device="cpu", threads=2)


def _frames(ucf_mini: Path, action: str, count: int) -> list[np.ndarray]:
    clips = sorted((ucf_mini / "UCF-101" / action).glob("*.avi"))
    if not clips:
        pytest.skip(f"no {action} clip in {ucf_mini}")
    cap = cv2.VideoCapture(str(clips[0]))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert frames, f"{clips[0]}: no frames decoded"
    return frames


def _run(extractor: PoseExtractor, frames: list[np.ndarray], track: PoseTrack | None = None) -> list[ExtractResult]:
    track = track or extractor.new_state()
    return [extractor.extract([f], [track]) for f in frames]


def _noise(seed: int, shape=(240, 320, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(BundleError, match="pose model not found"):
        PoseExtractor(tmp_path / "det.onnx", tmp_path / "lm.onnx")


def test_empty_input(extractor):
    r = extractor.extract([], [])
    assert r.features.shape == (0, 43) and r.persons == []
    with pytest.raises(ValueError):
        extractor.extract([np.zeros((8, 8, 3), np.uint8)], [])


def test_finds_a_person_in_most_real_frames(extractor, ucf_mini):
    for action in PERSON_CLIPS:
        results = _run(extractor, _frames(ucf_mini, action, 40))
        found = [r.persons[0] is not None for r in results]
        assert np.mean(found) >= 0.9, f"{action}: person in {np.mean(found):.0%} of frames"
        for r in results:
            p = r.persons[0]
            if p is None:
                continue
            assert r.features.shape == (1, 43) and r.features.dtype == np.float32 and r.features[0, 39] == 1.0
            assert 0 <= p.box[0] < p.box[2] <= 1 and 0 <= p.box[1] < p.box[3] <= 1
            assert p.landmarks.shape == (13, 3) and p.score >= 0.5
            # the joints lie in (or just beyond) the box, and the skeleton is body-sized, not a dot
            assert np.abs(r.features[0, :39].reshape(13, 3)[:, :2]).max() < 6
            assert (p.box[3] - p.box[1]) > 0.1


def test_tracking_skips_the_detector(extractor, ucf_mini):
    frames = _frames(ucf_mini, "BaseballPitch", 30)
    before = extractor.stats.detector_frames, extractor.stats.landmark_frames
    track = extractor.new_state()
    results = _run(extractor, frames, track)
    assert all(r.persons[0] is not None for r in results)
    assert extractor.stats.detector_frames - before[0] == 1  # the first frame only; then the crop is tracked
    assert extractor.stats.landmark_frames - before[1] == 30
    assert track.roi is not None


def test_redetects_after_a_frame_with_nobody(extractor, ucf_mini):
    frames = _frames(ucf_mini, "Shotput", 12)
    track = extractor.new_state()
    assert all(r.persons[0] is not None for r in _run(extractor, frames[:10], track))
    calls = extractor.stats.detector_calls
    for blank in (np.zeros_like(frames[0]), _noise(1, frames[0].shape)):
        r = extractor.extract([blank], [track])
        assert r.persons[0] is None and not r.features.any()
        assert track.roi is None
    assert extractor.stats.detector_calls - calls == 2  # the tracked crop lost the person: looked again, in vain
    r = extractor.extract([frames[10]], [track])
    assert r.persons[0] is not None and r.features[0, 39] == 1.0
    assert extractor.stats.detector_calls - calls == 3  # found again by the detector
    assert track.roi is not None


@pytest.mark.parametrize("kind", ["black", "grey", "noise", "small_noise"])
def test_nobody_in_blank_frames(extractor, kind):
    frames = {
        "black": [np.zeros((240, 320, 3), np.uint8)] * 5,
        "grey": [np.full((480, 640, 3), 128, np.uint8)] * 5,
        "noise": [_noise(s) for s in range(5)],
        "small_noise": [_noise(s, (50, 90)) for s in range(5)],
    }[kind]  # grey, odd size
    track = extractor.new_state()
    for r in _run(extractor, frames, track):
        assert r.persons == [None]
        assert r.features.shape == (1, 43) and not r.features.any()
    assert track.roi is None


def test_batched_streams_equal_each_stream_alone(pose_model_paths, ucf_mini):
    streams = [_frames(ucf_mini, "PushUps", 10), _frames(ucf_mini, "PlayingGuitar", 10), [_noise(s) for s in range(10)]]
    drop = {1: 5}  # stream 1's crop is dropped before frame 5: it needs the detector while 0 is tracked

    def step(ext: PoseExtractor, idx: list[int], tracks: list[PoseTrack], t: int) -> ExtractResult:
        for i, track in zip(idx, tracks):
            if drop.get(i) == t:
                track.roi = None
        return ext.extract([streams[i][t] for i in idx], tracks)

    alone = PoseExtractor(*pose_model_paths, PoseSpec(), device="cpu", threads=2)
    batched = PoseExtractor(*pose_model_paths, PoseSpec(), device="cpu", threads=2)
    solo = []
    for i in range(3):
        track = alone.new_state()
        solo.append([step(alone, [i], [track], t) for t in range(10)])
    tracks = [batched.new_state() for _ in range(3)]
    together = [step(batched, [0, 1, 2], tracks, t) for t in range(10)]
    for i in range(3):
        for t in range(10):
            ref, got = solo[i][t], together[t]
            np.testing.assert_allclose(got.features[i], ref.features[0], atol=1e-5)
            assert (got.persons[i] is None) == (ref.persons[0] is None)
            if ref.persons[0] is not None:
                np.testing.assert_allclose(got.persons[i].landmarks, ref.persons[0].landmarks, atol=1e-5)
                assert got.persons[i].score == pytest.approx(ref.persons[0].score, abs=1e-5)
    assert sum(p is not None for r in together for p in r.persons[:2]) == 20
    assert batched.stats.detector_calls < alone.stats.detector_calls  # the streams' detections were batched


def test_draw_person(extractor, ucf_mini):
    frame = _frames(ucf_mini, "BaseballPitch", 1)[0]
    person = extractor.extract([frame], [extractor.new_state()]).persons[0]
    drawn = draw_person(frame, person, "pitch")
    assert drawn.shape == frame.shape and (drawn != frame).any()
    assert (draw_person(frame, None) == frame).all()
