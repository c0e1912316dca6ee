"""Dataset extraction on Ray Data: the same features as a local extraction, bit for bit, in the same cache.

A local Ray (2 CPUs, actor pools of size 1) is started once for the module; the last test starts a two-node
local cluster instead. Skipped, with the reason, where Ray is not installed or cannot start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from test_features import build_variant, write_clip  # tests/ is on sys.path (conftest)

from streaming.bundle import load_bundle
from streaming.errors import ActionstreamError
from streaming.sampler import Sampling
from training.features import FeatureCache, extract_dataset
from training.synth import ACTIONS, SynthConfig, render_clip
from training.synth import write_clip as write_synth_clip

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'actionstream[ray]'")
pytest.importorskip("ray.data", reason="Ray Data is not installed: pip install 'actionstream[ray]'")

from training.ray_extract import FATAL, ClipExtractor, extract_dataset_ray  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "models" / "demo"


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray for this module; its address, for a second driver to join."""
    if ray.is_initialized():
        ray.shutdown()
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    except Exception as exc:  # noqa: BLE001 - any reason Ray cannot start here is a reason to skip
        pytest.skip(f"Ray cannot start here: {exc}")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def demo():
    return load_bundle(DEMO)


@pytest.fixture(scope="module")
def synth_clips(tmp_path_factory):
    """Rendered stick-figure clips (training.synth) of 1 to 2.5 s, in UCF101's layout."""
    root = tmp_path_factory.mktemp("synth") / "UCF-101"
    config = SynthConfig(width=96, height=72, min_seconds=1.0, max_seconds=2.5)
    paths = []
    for i in range(8):
        action = ACTIONS[i % len(ACTIONS)]
        frames, fps = render_clip(action, seed=i, config=config)
        paths.append(write_synth_clip(root / action / f"v_{action}_g{i:02d}_c01.avi", frames, fps))
    return paths


def assert_same(ray_result, local_result, paths) -> None:
    for p in map(str, paths):
        a, b = ray_result.features[p], local_result.features[p]
        assert np.array_equal(a.feats, b.feats), f"{p}: Ray features differ from local ones"
        assert np.array_equal(a.times, b.times)
        assert (a.frames_read, a.end_reason) == (b.frames_read, b.end_reason)


def cache_names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.npz"))


# --- connecting -----------------------------------------------------------------------------------------------


def test_an_unreachable_address_is_one_clear_error(demo, synth_clips, tmp_path, monkeypatch):
    if ray.is_initialized():
        pytest.skip("runs first in this module, before the driver joins a Ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ActionstreamError, match="cannot connect to Ray at 127.0.0.1:1"):
        extract_dataset_ray(synth_clips[:1], demo, Sampling(), tmp_path, address="127.0.0.1:1", progress=False)


# --- the same features, the same cache ------------------------------------------------------------------------


def test_ray_features_equal_local_ones_bit_for_bit_and_share_the_cache(ray_local, demo, synth_clips, tmp_path):
    spec = Sampling(feature_rate=10)
    local = extract_dataset(synth_clips, demo, spec, tmp_path / "local", device="cpu", progress=False)
    # a shared cache half filled by a local run: the Ray run computes only the other half
    shared = tmp_path / "shared"
    extract_dataset(synth_clips[:4], demo, spec, shared, device="cpu", progress=False)
    on_ray = extract_dataset_ray(synth_clips, demo, spec, shared, device="cpu", progress=False)
    assert (on_ray.computed, on_ray.cached, on_ray.failed) == (4, 4, [])
    assert on_ray.frames > 0 and sum(on_ray.nodes.values()) == 4
    assert_same(on_ray, local, synth_clips)
    assert cache_names(shared) == cache_names(tmp_path / "local")  # same keys, same files
    # and a local run finds everything the Ray run wrote
    again = extract_dataset(synth_clips, demo, spec, shared, device="cpu", progress=False, in_memory=False)
    assert (again.computed, again.cached, again.frames) == (0, 8, 0)


def test_ray_features_equal_local_ones_on_real_ucf101_clips(ray_local, demo, ucf_mini, tmp_path):
    clips = sorted((ucf_mini / "UCF-101").glob("*/*.avi"))
    spec = Sampling(feature_rate=10)
    local = extract_dataset(clips, demo, spec, tmp_path / "local", device="cpu", progress=False)
    on_ray = extract_dataset_ray(clips, demo, spec, tmp_path / "ray", device="cpu", progress=False)
    assert (on_ray.computed, on_ray.cached, on_ray.failed) == (len(clips), 0, [])
    assert_same(on_ray, local, clips)
    assert on_ray.frames == local.frames


# --- failures -------------------------------------------------------------------------------------------------


def test_a_broken_clip_is_reported_by_name_and_the_rest_done(ray_local, demo, synth_clips, tmp_path, capsys):
    junk = tmp_path / "Junk" / "junk.avi"
    junk.parent.mkdir()
    junk.write_bytes(os.urandom(4096))
    missing = tmp_path / "Junk" / "missing.avi"
    paths = [synth_clips[0], junk, synth_clips[1], missing]
    res = extract_dataset_ray(paths, demo, Sampling(), tmp_path / "cache", device="cpu", progress=True)
    assert sorted(res.features) == sorted([str(synth_clips[0]), str(synth_clips[1])])
    assert sorted(p for p, _ in res.failed) == sorted([str(junk), str(missing)])
    assert dict(res.failed)[str(missing)] == "no such video file"
    err = capsys.readouterr().err
    assert "2 of 4 files could not be decoded" in err and str(junk) in err
    assert "clips/s" in err and "frames/s" in err


def test_a_worker_that_cannot_reach_the_cache_or_the_bundle_says_so(ray_local, demo, synth_clips, tmp_path):
    kwargs = dict(sampling=asdict(Sampling()), device="cpu", int8=False, batch_size=8, decode_workers=1)
    batch = {"key": np.asarray([str(synth_clips[0])], object), "file": np.asarray([str(synth_clips[0])], object)}
    no_cache = ClipExtractor(str(DEMO), cache_root=str(tmp_path), probe=str(tmp_path / "absent"), **kwargs)(batch)
    assert no_cache["status"][0] == FATAL
    assert "is not reachable" in no_cache["reason"][0] and str(tmp_path) in no_cache["reason"][0]
    no_bundle = ClipExtractor(str(tmp_path / "nobundle"), cache_root=str(tmp_path), probe="", **kwargs)(batch)
    assert no_bundle["status"][0] == FATAL and "cannot be loaded on worker node" in no_bundle["reason"][0]


# --- an interrupted run resumes -------------------------------------------------------------------------------

KILL_SCRIPT = """
import sys
from pathlib import Path
import ray
from streaming.bundle import load_bundle
from streaming.sampler import Sampling
from training.ray_extract import extract_dataset_ray
address, bundle, cache, paths = sys.argv[1], load_bundle(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]
extract_dataset_ray(paths, bundle, Sampling(feature_rate=25), cache, address=address, device="cpu", batch_size=8,
                    progress=False, clips_per_call=1)
print("finished")
"""


def test_an_interrupted_ray_run_resumes_and_computes_only_the_rest(ray_local, tmp_path):
    slow = build_variant(tmp_path / "slow", size=128, channels=48)  # a few ms per frame: killable mid-way
    n = 10
    paths = [
        write_clip(tmp_path / "data" / f"C{i % 3}" / f"v_C{i % 3}_g0{i}_c01.avi", seconds=3.0, seed=i) for i in range(n)
    ]
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, ray_local, str(slow.root), str(cache), *map(str, paths)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 90
    try:
        while len(list(cache.rglob("*.npz"))) < 2:
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the Ray extraction made no progress"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)  # the driver dies; Ray ends its job's actors
    finally:
        out, _ = proc.communicate(timeout=30)
    assert b"finished" not in out
    before, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 2.0:  # until the killed job's actor is gone for sure
        now = len(list(cache.rglob("*.npz")))
        if now != before:
            before, stable_since = now, time.monotonic()
        time.sleep(0.1)
    assert 2 <= before < n, "the kill came too late to test resuming"

    resumed = extract_dataset_ray(paths, slow, Sampling(feature_rate=25), cache, device="cpu", batch_size=8)
    assert (resumed.computed, resumed.cached, resumed.failed) == (n - before, before, [])
    files = sorted(p for p in cache.rglob("*") if p.is_file())
    assert len(files) == n and all(f.suffix == ".npz" and not f.name.startswith(".") for f in files)
    local = extract_dataset(paths, slow, Sampling(feature_rate=25), tmp_path / "local", device="cpu", batch_size=8)
    assert_same(resumed, local, paths)


# --- two nodes ------------------------------------------------------------------------------------------------


def test_a_two_node_cluster_spreads_clips_over_both_nodes(demo, tmp_path):
    """Two raylets on this machine (2 logical CPUs each: a pool of 2 one-CPU actors leaves Ray Data CPUs to
    schedule with); clips go one per call, so the actor that starts second still gets its share."""
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()  # the module's single-node Ray
    try:
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False})
        cluster.add_node(num_cpus=2)
        cluster.wait_for_nodes()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"a two-node local Ray cluster cannot start here: {exc}")
    try:
        ray.init(address=cluster.address)
        # enough work per clip that the second actor is up long before the first could finish every clip alone
        # (with 16 light clips, a loaded machine once let one actor do them all in 3.7 s)
        slowish = build_variant(tmp_path / "slowish", size=128, channels=48)
        paths = [
            write_clip(tmp_path / "data" / f"C{i % 2}" / f"v_C{i % 2}_g{i:02d}_c01.avi", seconds=3.0, seed=i)
            for i in range(16)
        ]
        res = extract_dataset_ray(
            paths, slowish, Sampling(), tmp_path / "cache", device="cpu", workers=2, clips_per_call=1, progress=False
        )
        assert (res.computed, res.failed) == (16, [])
        assert len(res.nodes) == 2 and min(res.nodes.values()) >= 1, res.nodes
        fc = FeatureCache(tmp_path / "cache", slowish, Sampling())
        assert all(fc.valid(p) for p in paths)
    finally:
        ray.shutdown()
        cluster.shutdown()
