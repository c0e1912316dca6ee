"""int8: static QDQ extractor calibrated on real frames, dynamic int8 LSTM head; accuracy cost recorded."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_models import (
    UCF_MINI,
    copy_bundle,
    error_lines,
    inceptionv3_bundle,
    run_cli,
    shared,
    smallcnn_bundle,
    smallcnn_head_bundle,
    write_clip,
)

from export.parity import INT8_MIN_COSINE, cosine_rows
from export.verify import verify_bundle
from streaming.bundle import load_bundle
from streaming.errors import ActionstreamError

needs_ucf = pytest.mark.skipif(
    not (UCF_MINI / "UCF-101").is_dir(),
    reason=f"real UCF101 clips not found at {UCF_MINI} (only beside the dev checkout)",
)


@pytest.fixture(scope="session")
def smallcnn(tmp_path_factory):
    return shared("smallcnn", tmp_path_factory, smallcnn_bundle)[1]


@pytest.fixture(scope="session")
def with_head(tmp_path_factory):
    return shared("smallcnn_head", tmp_path_factory, lambda p: smallcnn_head_bundle(p, tmp_path_factory))[1]


@pytest.fixture(scope="session")
def inception(tmp_path_factory):
    return shared("inceptionv3", tmp_path_factory, inceptionv3_bundle)


def _real_frames_cosine(bundle_dir, n=12):
    """int8 vs fp32 features, through the runtime's Extractor, on frames of a real clip."""
    from streaming.extractor import Extractor
    from streaming.video import iter_frames

    clip = sorted((UCF_MINI / "UCF-101").rglob("*.avi"))[0]
    frames = [f for i, (_, f) in enumerate(iter_frames(clip)) if i % 10 == 0][:n]
    bundle = load_bundle(bundle_dir)
    fp32 = Extractor(bundle, device="cpu").extract_frames(frames)
    int8 = Extractor(bundle, int8=True, device="cpu").extract_frames(frames)
    return cosine_rows(fp32, int8)


@needs_ucf
def test_smallcnn_int8_on_real_frames(smallcnn, tmp_path):
    from export.quantize import quantize_extractor

    path = copy_bundle(smallcnn, tmp_path / "b")
    bundle = quantize_extractor(path, UCF_MINI / "UCF-101", max_frames=48, heldout_frames=16)
    p = bundle.manifest.parity["extractor_int8"]
    assert p["cosine_min"] >= INT8_MIN_COSINE and p["heldout_frames"] == 16 and p["calibration_frames"] == 48
    assert set(p["heldout_videos"]).isdisjoint(p["calibration_videos"])
    assert (path / "extractor.int8.onnx").stat().st_size < (path / "extractor.onnx").stat().st_size
    assert _real_frames_cosine(path).min() >= INT8_MIN_COSINE
    assert verify_bundle(path, device="cpu").ok


@needs_ucf
@pytest.mark.slow
def test_inceptionv3_int8_on_real_frames(inception, tmp_path):
    """InceptionV3 (random weights), calibrated on 32 real frames: cosine >= 0.99 on frames of other videos."""
    from export.quantize import quantize_extractor

    path = copy_bundle(inception, tmp_path / "b")
    bundle = quantize_extractor(path, UCF_MINI / "UCF-101", max_frames=32, heldout_frames=16)
    p = bundle.manifest.parity["extractor_int8"]
    assert p["cosine_min"] >= INT8_MIN_COSINE, p
    assert _real_frames_cosine(path, n=6).min() >= INT8_MIN_COSINE
    result = verify_bundle(path, device="cpu")
    assert result.ok, result.checks


def test_int8_from_a_synthetic_clip(smallcnn, tmp_path):
    """Works without ../shared: one video file, held-out frames from its last fifth."""
    from export.quantize import quantize_extractor

    clip = write_clip(tmp_path / "clip.avi", frames=80)
    path = copy_bundle(smallcnn, tmp_path / "b")
    bundle = quantize_extractor(path, clip, max_frames=16, heldout_frames=8, min_cosine=0.9)
    p = bundle.manifest.parity["extractor_int8"]
    assert p["calibration_frames"] == 16 and p["heldout_frames"] == 8 and p["cosine_min"] >= 0.9
    assert "extractor_int8" in bundle.manifest.probe


def test_quantize_bad_calibration_source(smallcnn, tmp_path):
    from export.quantize import quantize_extractor

    path = copy_bundle(smallcnn, tmp_path / "b")
    with pytest.raises(ActionstreamError, match="not found"):
        quantize_extractor(path, tmp_path / "missing.avi")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ActionstreamError, match="no video files"):
        quantize_extractor(path, tmp_path / "empty")
    (tmp_path / "broken.avi").write_bytes(b"RIFF but not a video")
    with pytest.raises(ActionstreamError):
        quantize_extractor(path, tmp_path / "broken.avi")
    assert not (path / "extractor.int8.onnx").exists()
    r = run_cli("quantize", path)
    assert r.returncode == 2 and "--calibration" in error_lines(r.stderr)[0]


def test_refuses_when_int8_is_too_far_from_fp32(smallcnn, tmp_path):
    from export.quantize import quantize_extractor

    clip = write_clip(tmp_path / "clip.avi", frames=40)
    path = copy_bundle(smallcnn, tmp_path / "b")
    with pytest.raises(ActionstreamError, match="too far from fp32"):
        quantize_extractor(path, clip, max_frames=8, heldout_frames=4, min_cosine=1.01)
    assert not (path / "extractor.int8.onnx").exists() and "extractor_int8" not in load_bundle(path).manifest.files


def test_dynamic_int8_head(with_head, tmp_path):
    from export.convert import op_types
    from export.quantize import quantize_head_dynamic

    path = copy_bundle(with_head, tmp_path / "b")
    bundle = quantize_head_dynamic(path)
    p = bundle.manifest.parity["head_int8"]
    assert p["top1_agreement"] >= 0.9 and p["max_abs_diff"] <= 0.05
    assert "DynamicQuantizeLSTM" in op_types(path / "head.int8.onnx")
    result = verify_bundle(path, device="cpu")
    assert result.ok and "probe.head_int8" in [n for n, _, _ in result.checks]
    probs = _run(path / "head.int8.onnx", np.random.default_rng(0).standard_normal((2, 40, 256)).astype(np.float32))
    assert np.allclose(probs.sum(1), 1.0, atol=1e-4)


def test_new_head_drops_stale_int8_head(with_head, tmp_path):
    from tiny_models import small_head

    from export.head_export import export_head
    from export.quantize import quantize_head_dynamic
    from streaming.sampler import Sampling

    path = copy_bundle(with_head, tmp_path / "b")
    quantize_head_dynamic(path)
    bundle = export_head(small_head(256, classes=2, units=8), path, ["x", "y"], Sampling())
    assert "head_int8" not in bundle.manifest.files and not (path / "head.int8.onnx").exists()


def _run(onnx_path, x):
    from streaming.providers import create_session

    s = create_session(onnx_path, device="cpu")
    return s.run(None, {s.get_inputs()[0].name: x})[0]
