"""Training feature extraction: equal to the live engine's features, cached per clip, resumable after a kill.

Uses the shared tiny bundle (tests/tiny_bundle.py, conftest fixture `tiny_bundle`); build_variant below makes
extractors that differ from it (other weights, other input size, a slow one that can be killed mid-way).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from tiny_bundle import make_tiny_bundle  # tests/ is on sys.path (conftest)

from bench.extraction_memory_bench import make_bundle
from streaming.bundle import load_bundle
from streaming.clip_features import ClipFeatures, extract_clip
from streaming.clip_sampling import clip_windows
from streaming.extractor import Extractor
from streaming.sampler import RateSampler, Sampling
from streaming.video import iter_frames
from training.features import FeatureCache, extract_dataset

REPO = Path(__file__).resolve().parents[1]


def build_variant(root: Path, size: int = 64, dim: int = 16, channels: int = 0, seed: int = 0):
    """An extractor-only bundle unlike the shared tiny one: NHWC frames -> [7x7 conv + relu] -> 8x8 average
    pool -> projection -> tanh. `channels` adds the conv, to make it slow enough to be killed mid-way."""
    return load_bundle(make_bundle(root, size=size, dim=dim, channels=channels, seed=seed))


def write_clip(
    path: Path, fps: float = 25.0, seconds: float = 2.0, seed: int = 0, fourcc: str = "mp4v", size=(160, 120)
) -> Path:
    """A real video: a coloured disc moving over a noisy background."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 120, (size[1], size[0], 3), np.uint8)
    colour = tuple(int(x) for x in rng.integers(80, 255, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    for i in range(int(round(fps * seconds))):
        frame = bg.copy()
        cv2.circle(frame, (15 + (i * 4 + seed * 7) % (size[0] - 30), size[1] // 2), 12, colour, -1)
        writer.write(frame)
    writer.release()
    return path


def live_features(path, bundle, fps: float):
    """The live engine's path: frames from streaming.video, due by RateSampler, Extractor.extract_frames."""
    sampler, times, frames = RateSampler(fps), [], []
    for t, frame in iter_frames(path):
        if sampler.take(t):
            times.append(t)
            frames.append(frame)
    return np.asarray(times), Extractor(bundle, device="cpu").extract_frames(frames)


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    return load_bundle(tiny_bundle)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return [
        write_clip(root / f"Class{i % 2}" / f"v_Class{i % 2}_g01_c{i:02d}.avi", seconds=1.0 + 0.5 * i, seed=i)
        for i in range(4)
    ]


def cache_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


# --- equality with the live engine ---------------------------------------------------------------------------


def test_training_features_equal_live_engine_features_on_a_real_ucf101_clip(bundle, ucf_mini, tmp_path):
    clip = sorted((ucf_mini / "UCF-101").glob("*/*.avi"))[0]
    spec = Sampling(feature_rate=10)
    live_t, live_f = live_features(clip, bundle, spec.feature_rate)
    one = extract_clip(clip, Extractor(bundle, device="cpu"), spec, batch_size=7)
    np.testing.assert_array_equal(one.times, live_t)
    np.testing.assert_allclose(one.feats, live_f, rtol=1e-5, atol=1e-6)
    # the threaded, cross-clip batched, cached path gives the same rows
    others = sorted((ucf_mini / "UCF-101").glob("*/*.avi"))[1:3]
    res = extract_dataset(
        [others[0], clip, others[1]], bundle, spec, tmp_path / "cache", device="cpu", batch_size=16, progress=False
    )
    got = res.features[str(clip)]
    np.testing.assert_array_equal(got.times, live_t)
    np.testing.assert_allclose(got.feats, live_f, rtol=1e-5, atol=1e-6)
    assert got.feats.dtype == np.float32 and got.feats.shape == (len(live_t), 16)
    assert got.frames_read > len(live_t) and got.end_reason == "end of file"
    cached = FeatureCache(tmp_path / "cache", bundle, spec).get(clip)
    np.testing.assert_array_equal(cached.feats, got.feats)


def test_clips_at_25_and_29_97_fps_give_features_at_the_same_times(bundle, tmp_path):
    a = write_clip(tmp_path / "A" / "a25.avi", fps=25.0, seconds=3.0)
    b = write_clip(tmp_path / "A" / "b2997.avi", fps=30000 / 1001, seconds=3.0, fourcc="MJPG")
    res = extract_dataset([a, b], bundle, Sampling(feature_rate=10), tmp_path / "cache", device="cpu", progress=False)
    ta, tb = res.features[str(a)].times, res.features[str(b)].times
    assert len(ta) == len(tb) == 30
    assert np.abs(ta - tb).max() < 1 / 25


def test_segments_mode_caches_candidates_and_draws_windows_from_them(bundle, clips, tmp_path):
    spec = Sampling("segments", feature_rate=10, window=40)
    res = extract_dataset(clips, bundle, spec, tmp_path / "cache", device="cpu", progress=False)
    c = res.features[str(clips[-1])]  # 2.5 s: 25 candidates
    assert len(c.feats) == 25
    centre = clip_windows(c.feats, spec)
    assert centre.shape == (1, 40, 16)
    one_draw = extract_clip(clips[-1], Extractor(bundle, device="cpu"), spec, rng=np.random.default_rng(4))
    np.testing.assert_allclose(
        one_draw.feats, clip_windows(c.feats, spec, rng=np.random.default_rng(4))[0], rtol=1e-5, atol=1e-6
    )


# --- the cache ----------------------------------------------------------------------------------------------


def test_cache_keys_differ_with_bundle_frame_and_sampling(bundle, tmp_path):
    other = build_variant(tmp_path / "other", seed=1)
    bigger = build_variant(tmp_path / "bigger", size=128)
    dirs = {
        FeatureCache(tmp_path, b, s).dir
        for b in (bundle, other, bigger)
        for s in (Sampling(feature_rate=10), Sampling(feature_rate=5))
    }
    assert len(dirs) == 6
    assert FeatureCache(tmp_path, bundle, Sampling()).dir == FeatureCache(tmp_path, bundle, Sampling()).dir
    # the int8 extractor is another extractor
    with_int8 = load_bundle(make_tiny_bundle(tmp_path / "int8", int8=True))
    assert (
        FeatureCache(tmp_path, with_int8, Sampling(), int8=True).dir
        != FeatureCache(tmp_path, with_int8, Sampling()).dir
        == FeatureCache(tmp_path, bundle, Sampling()).dir
    )


def test_changed_bundle_or_rate_recomputes_and_never_reuses(bundle, clips, tmp_path):
    cache = tmp_path / "cache"
    first = extract_dataset(clips, bundle, Sampling(feature_rate=10), cache, device="cpu", progress=False)
    assert (first.computed, first.cached) == (4, 0)
    again = extract_dataset(clips, bundle, Sampling(feature_rate=10), cache, device="cpu", progress=False)
    assert (again.computed, again.cached, again.frames) == (0, 4, 0)
    other = build_variant(tmp_path / "other", seed=1)
    changed = extract_dataset(clips, other, Sampling(feature_rate=10), cache, device="cpu", progress=False)
    assert (changed.computed, changed.cached) == (4, 0)
    assert not np.allclose(changed.features[str(clips[0])].feats, first.features[str(clips[0])].feats)
    slower = extract_dataset(clips, bundle, Sampling(feature_rate=5), cache, device="cpu", progress=False)
    assert (slower.computed, slower.cached) == (4, 0)
    assert len(slower.features[str(clips[3])].times) < len(first.features[str(clips[3])].times)


def test_a_rewritten_video_is_recomputed(bundle, tmp_path):
    clip = write_clip(tmp_path / "data" / "C" / "v.avi", seed=1)
    cache = tmp_path / "cache"
    first = extract_dataset([clip], bundle, Sampling(), cache, device="cpu", progress=False)
    write_clip(clip, seed=2, seconds=3.0)  # same name, other content (e.g. synth with another seed)
    os.utime(clip, ns=(time.time_ns(), time.time_ns() + 10**9))
    second = extract_dataset([clip], bundle, Sampling(), cache, device="cpu", progress=False)
    assert (second.computed, second.cached) == (1, 0)
    assert len(second.features[str(clip)].times) != len(first.features[str(clip)].times)


def test_put_is_atomic_and_a_damaged_cache_file_is_recomputed(bundle, clips, tmp_path):
    cache = FeatureCache(tmp_path, bundle, Sampling())
    clip = ClipFeatures(str(clips[0]), np.arange(3, dtype=np.float64), np.ones((3, 16), np.float32), 30, "end of file")
    path = cache.put(clip)
    assert path == cache.path_for(clips[0]) and path.parent.name == "Class0"
    assert cache_files(tmp_path) == [path]  # no temporary file left beside it
    got = cache.get(clips[0])
    np.testing.assert_array_equal(got.feats, clip.feats)
    assert (got.frames_read, got.end_reason) == (30, "end of file")
    path.write_bytes(path.read_bytes()[:100])  # a half-written file (as a crash without atomic writes leaves)
    assert cache.get(clips[0]) is None
    res = extract_dataset([clips[0]], bundle, Sampling(), tmp_path, device="cpu", progress=False)
    assert res.computed == 1 and cache.get(clips[0]) is not None


# --- failures -----------------------------------------------------------------------------------------------


def test_undecodable_files_are_listed_not_fatal(bundle, clips, tmp_path, capsys):
    junk = tmp_path / "Junk" / "junk.avi"
    junk.parent.mkdir()
    junk.write_bytes(os.urandom(4096))
    empty = tmp_path / "Junk" / "empty.avi"
    empty.write_bytes(b"")
    missing = tmp_path / "Junk" / "missing.avi"
    paths = [clips[0], junk, empty, clips[1], missing]
    res = extract_dataset(paths, bundle, Sampling(), tmp_path / "cache", device="cpu", progress=True)
    assert sorted(res.features) == sorted([str(clips[0]), str(clips[1])])
    assert sorted(p for p, _ in res.failed) == sorted([str(junk), str(empty), str(missing)])
    assert all(why and "\n" not in why for _, why in res.failed)
    assert dict(res.failed)[str(missing)] == "no such video file"
    err = capsys.readouterr().err
    assert "3 of 5 files could not be decoded" in err and str(junk) in err
    assert (res.computed, res.cached) == (2, 0)


# --- resume after a real kill -------------------------------------------------------------------------------

KILL_SCRIPT = """
import sys
from pathlib import Path
from streaming.bundle import load_bundle
from training.features import extract_dataset
from streaming.sampler import Sampling
bundle, cache, paths = load_bundle(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
extract_dataset(paths, bundle, Sampling(feature_rate=25), cache, device="cpu", batch_size=8, decode_workers=1,
                progress=False)
print("finished")
"""


def test_extraction_killed_mid_way_resumes_and_recomputes_nothing(tmp_path):
    slow = build_variant(tmp_path / "slow", size=128, channels=48)  # a few ms per frame: killable mid-way
    paths = [
        write_clip(tmp_path / "data" / f"C{i % 3}" / f"v_C{i % 3}_g0{i}_c01.avi", seconds=3.0, seed=i) for i in range(8)
    ]
    spec = Sampling(feature_rate=25)
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(slow.root), str(cache), *map(str, paths)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while len(list(cache.rglob("*.npz"))) < 2:
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "extraction made no progress"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL and b"finished" not in out
    done_before = len(list(cache.rglob("*.npz")))
    assert 2 <= done_before < 8, "the kill came too late to test resuming"
    # a temporary file as a write cut off by the kill leaves it (the dead writer's pid in its name)
    fc = FeatureCache(cache, slow, spec)
    stale = fc.path_for(paths[-1]).with_name(f".{fc.path_for(paths[-1]).name}.{proc.pid}.abc123.tmp")
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"PK\x03\x04 half")

    resumed = extract_dataset(paths, slow, spec, cache, device="cpu", batch_size=8, progress=False)
    assert (resumed.computed, resumed.cached) == (8 - done_before, done_before)
    assert resumed.failed == []
    files = cache_files(cache)
    assert len(files) == 8 and all(f.suffix == ".npz" and not f.name.startswith(".") for f in files)

    reference = extract_dataset(paths, slow, spec, tmp_path / "reference", device="cpu", batch_size=8, progress=False)
    assert reference.computed == 8
    for p in map(str, paths):
        np.testing.assert_array_equal(resumed.features[p].times, reference.features[p].times)
        np.testing.assert_allclose(resumed.features[p].feats, reference.features[p].feats, rtol=1e-5, atol=1e-6)
        assert resumed.features[p].frames_read == reference.features[p].frames_read == 75

    again = extract_dataset(paths, slow, spec, cache, device="cpu", progress=False)
    assert (again.computed, again.cached, again.frames) == (0, 8, 0)
