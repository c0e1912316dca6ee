"""Bounded memory: extraction and fitting stream from the per-clip cache instead of holding the data set.

`extract_dataset(in_memory=False)` keeps paths, not arrays (a CachedFeatures reads each clip when asked), and
training windows read their rows per batch from a FeatureRows file; what training runs use. The bench
(bench/extraction_memory_bench.py) shows the same at 1,000 clips in peak RSS.
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc

import numpy as np
import pytest
from test_features import build_variant, write_clip  # tests/ is on sys.path (conftest)

from streaming.clip_features import ClipFeatures
from streaming.sampler import Sampling
from training.features import CachedFeatures, FeatureCache, FeatureRows, extract_dataset
from training.fit import build_windows

WIDE = 2048  # InceptionV3's feature size: what makes holding all clips costly


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    return build_variant(tmp_path_factory.mktemp("wide") / "bundle", dim=WIDE)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return [
        write_clip(root / f"C{i % 3}" / f"v_C{i % 3}_g{i:02d}_c01.avi", seconds=1.0 + 0.2 * (i % 4), seed=i)
        for i in range(24)
    ]


def retained_after(fn) -> tuple[object, int]:
    """What fn() returns, and the bytes it still holds (traced allocations alive once it returned)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = fn()
        gc.collect()
        return out, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_streaming_extraction_keeps_paths_not_features(wide, clips, tmp_path):
    spec = Sampling(feature_rate=10)
    held, _ = retained_after(lambda: extract_dataset(clips, wide, spec, tmp_path / "a", device="cpu", progress=False))
    feature_bytes = sum(c.feats.nbytes for c in held.features.values())
    assert feature_bytes > 24 * 10 * WIDE * 4  # >= 10 rows a clip, 2048-d: about 2 MB
    streamed, kept = retained_after(
        lambda: extract_dataset(clips, wide, spec, tmp_path / "b", device="cpu", progress=False, in_memory=False)
    )
    assert isinstance(streamed.features, CachedFeatures)
    assert kept < feature_bytes / 10, f"the streaming result still holds {kept} bytes"
    # same clips, same order, same features, read from the cache when asked
    assert list(streamed.features) == list(held.features) == [str(p) for p in clips]
    for p in map(str, clips):
        np.testing.assert_array_equal(streamed.features[p].feats, held.features[p].feats)
        np.testing.assert_array_equal(streamed.features[p].times, held.features[p].times)
    # a cached rerun only checks the files: it reads no features
    again, kept_again = retained_after(
        lambda: extract_dataset(clips, wide, spec, tmp_path / "b", device="cpu", progress=False, in_memory=False)
    )
    assert (again.computed, again.cached, again.frames) == (0, 24, 0)
    assert kept_again < feature_bytes / 10


def test_cached_features_name_a_missing_file_and_survive_a_rewritten_video(wide, clips, tmp_path):
    res = extract_dataset(clips[:2], wide, Sampling(), tmp_path / "c", device="cpu", progress=False, in_memory=False)
    first = res.features[str(clips[0])].feats.copy()
    os.utime(clips[0], ns=(time.time_ns(), time.time_ns() + 10**9))  # "rewritten": the cache no longer matches
    np.testing.assert_array_equal(res.features[str(clips[0])].feats, first)  # what this extraction gave
    assert not FeatureCache(tmp_path / "c", wide, Sampling()).valid(clips[0])  # but a rerun recomputes it
    FeatureCache(tmp_path / "c", wide, Sampling()).path_for(clips[1]).unlink()
    with pytest.raises(KeyError, match="gone or damaged; rerun extraction"):
        res.features[str(clips[1])]
    assert "nothing" not in res.features and len(res.features) == 2


def test_feature_rows_read_back_exactly_and_leave_no_file(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {f"c{i}": rng.normal(size=(n, 33)).astype(np.float32) for i, n in enumerate([5, 50, 13, 1, 41])}
    feats = {k: ClipFeatures(k, np.arange(len(a), dtype=float), a, len(a), "end of file") for k, a in arrays.items()}
    rows = FeatureRows.stack(feats, list(arrays), tmp_path)
    assert list(tmp_path.iterdir()) == []  # unlinked at once: nothing to clean up after a kill
    full = np.concatenate(list(arrays.values()))
    assert rows.shape == full.shape and rows.lengths == [5, 50, 13, 1, 41]
    idx = rng.integers(0, len(full), (7, 9))
    np.testing.assert_array_equal(rows[idx], full[idx])
    np.testing.assert_array_equal(rows[10:70], full[10:70])
    with pytest.raises(IndexError):
        rows[np.asarray([len(full)])]
    # windows over the file are the windows over the arrays
    labels = [0, 1, 0, 1, 0]
    a = build_windows(list(arrays.values()), labels, 8, 3, list(arrays))
    b = build_windows([range(n) for n in rows.lengths], labels, 8, 3, list(arrays), stacked=rows)
    np.testing.assert_array_equal(a.index, b.index)
    np.testing.assert_array_equal(a.gather(slice(0, 9)), b.gather(slice(0, 9)))
    with pytest.raises(ValueError, match="stacked has"):
        build_windows([range(3)], [0], 8, 3, stacked=rows)
    rows.close()


def test_windows_hold_one_batch_not_the_data_set(wide, clips, tmp_path):
    res = extract_dataset(clips, wide, Sampling(), tmp_path / "d", device="cpu", progress=False, in_memory=False)
    keys = list(res.features)

    def windows():
        rows = FeatureRows.stack(res.features, keys, tmp_path)
        return build_windows([range(n) for n in rows.lengths], [0] * len(keys), 8, 4, keys, stacked=rows)

    ws, kept = retained_after(windows)
    data_bytes = ws.features.shape[0] * WIDE * 4
    assert kept < data_bytes / 4, f"{kept} bytes held for {data_bytes} bytes of features"
    assert ws.gather(slice(0, 4)).shape == (4, 8, WIDE)
