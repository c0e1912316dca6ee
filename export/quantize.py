"""int8 versions of a bundle's networks, with their accuracy cost measured and recorded.

    quantize_extractor(Path("B"), Path("clips/"))   # static QDQ extractor.int8.onnx, calibrated on real frames
    quantize_head_dynamic(Path("B"))                # dynamic int8 head.int8.onnx (the LSTM weights)

Static QDQ (U8 activations, S8 per-channel weights) ran ~2x faster than fp32 for InceptionV3 on a 2-core
CPU; dynamic quantization of the CNN was slower than fp32, so the extractor is quantized statically only.
The LSTM head, whose cost is its weights, gains from dynamic quantization (MEASURED.md).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from export.convert import tool_versions, utc_now
from export.parity import INT8_MIN_COSINE, compare, make_probe, onnx_outputs, probe_recipe, seeded_input
from streaming.bundle import FILE_NAMES, Bundle, OnnxFile, bundle_writer, load_bundle, sha256_file, write_manifest
from streaming.errors import ActionstreamError, SourceError
from streaming.preprocess import FrameSpec, preprocess_frame
from streaming.progress import progress_bar
from streaming.video import VIDEO_SUFFIXES, FrameReader

log = logging.getLogger("actionstream")

#: Fewest frames that make a meaningful calibration / held-out measurement.
MIN_CALIBRATION_FRAMES, MIN_HELDOUT_FRAMES = 8, 4
HEAD_PARITY_SEED, HEAD_PARITY_WINDOWS = 4, 32
#: int8 head probabilities may differ from fp32 by at most this much, and must agree on the top class this often.
HEAD_INT8_MAX_ABS_DIFF, HEAD_INT8_MIN_TOP1 = 0.05, 0.9


def calibration_videos(path: Path) -> list[Path]:
    """A video file, or the video files under a folder (recursively, sorted)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ActionstreamError(f"{path}: calibration video or folder not found")
    videos = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise ActionstreamError(f"{path}: no video files ({', '.join(VIDEO_SUFFIXES)}) in this folder")
    return videos


def calibration_frames(
    source: Path, spec: FrameSpec, max_frames: int, heldout_frames: int
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Preprocessed frames for calibration and for a held-out check, spread evenly in time over the videos.

    With two or more usable videos the held-out frames come from videos not used for calibration (the last
    fifth of them, at least one); with one, from its last fifth of time. Each video is decoded once to learn
    its frames' times (headers lie about frame counts), then again to take the chosen frames. A video that
    gives no frame is skipped, logged and listed in the returned info's "skipped_videos".
    """
    videos = calibration_videos(source)
    times: dict[Path, list[float]] = {}
    skipped: dict[str, str] = {}
    for video in progress_bar(videos, desc="scan calibration videos", unit="video"):
        try:
            times[video] = [t for t, _ in FrameReader(video)]
        except SourceError as exc:
            skipped[str(video)] = str(exc)
            log.warning("skipping calibration video %s", exc)
    usable = [v for v in videos if times.get(v)]
    if not usable:
        first = next(iter(skipped.values()), f"{source}: no frames")
        more = f" (and {len(skipped) - 1} other video(s) failed)" if len(skipped) > 1 else ""
        raise ActionstreamError(f"no usable calibration video: {first}{more}")
    if len(usable) >= 2:
        n_held = max(1, round(len(usable) / 5))
        calib_parts = [(v, 0.0, 1.0) for v in usable[:-n_held]]
        held_parts = [(v, 0.0, 1.0) for v in usable[-n_held:]]
    else:
        calib_parts, held_parts = [(usable[0], 0.0, 0.8)], [(usable[0], 0.8, 1.0)]
    calib = _frames_from(calib_parts, times, spec, max_frames, "calibration", skipped)
    held = _frames_from(held_parts, times, spec, heldout_frames, "held-out", skipped)
    if len(calib) < MIN_CALIBRATION_FRAMES or len(held) < MIN_HELDOUT_FRAMES:
        raise ActionstreamError(
            f"{source}: only {len(calib)} calibration and {len(held)} held-out frames decoded; "
            f"need at least {MIN_CALIBRATION_FRAMES} and {MIN_HELDOUT_FRAMES} (use longer or "
            "more videos)"
        )
    info = {
        "calibration_videos": [str(v) for v, *_ in calib_parts],
        "heldout_videos": [str(v) for v, *_ in held_parts],
        "skipped_videos": skipped,
    }
    return calib, held, info


def _part_indices(times: list[float], start: float, end: float) -> list[int]:
    """Indices of the frames whose time lies in [start, end) fractions of the video's duration."""
    period = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    duration = times[-1] + period
    t0, t1 = start * duration, end * duration
    return [i for i, t in enumerate(times) if t0 <= t and (t < t1 or end >= 1.0)]


def _spread_in_time(times: list[float], indices: list[int], k: int) -> list[int]:
    """k of `indices` (ascending) whose times are closest to k evenly spaced instants over their span.

    Each pick stays after the previous one and leaves room for the rest, so k distinct frames come back.
    """
    if k >= len(indices):
        return list(indices)
    if k <= 0:
        return []
    ts = np.asarray([times[i] for i in indices])
    span = ts[-1] - ts[0]
    picked, lo = [], 0
    for j in range(k):
        target = ts[0] + span * (j + 0.5) / k
        pos = int(np.searchsorted(ts, target))
        if pos > 0 and (pos == len(ts) or target - ts[pos - 1] <= ts[pos] - target):
            pos -= 1  # the nearer neighbour
        pos = min(max(pos, lo), len(ts) - (k - j))
        picked.append(indices[pos])
        lo = pos + 1
    return picked


def _quotas(available: list[int], n: int) -> list[int]:
    """n frames shared as evenly as possible among parts that hold `available` frames each."""
    quotas = [0] * len(available)
    left = min(n, sum(available))
    while left:
        open_parts = [i for i, a in enumerate(available) if quotas[i] < a]
        share = max(1, left // len(open_parts))
        for i in open_parts:
            take = min(share, available[i] - quotas[i], left)
            quotas[i] += take
            left -= take
            if not left:
                break
    return quotas


def _frames_from(
    parts: list[tuple[Path, float, float]],
    times: dict[Path, list[float]],
    spec: FrameSpec,
    n: int,
    what: str,
    skipped: dict[str, str],
) -> np.ndarray:
    """Up to n frames spread evenly in time over the given (video, start fraction, end fraction) parts.

    `times`: each video's decoded frame times. A video that fails on this second decode joins `skipped`.
    """
    candidates = [_part_indices(times[path], start, end) for path, start, end in parts]
    quotas = _quotas([len(c) for c in candidates], n)
    out = np.empty((n, spec.height, spec.width, 3), np.float32)
    filled = 0
    for (path, _, _), cands, quota in progress_bar(
        list(zip(parts, candidates, quotas)), desc=f"decode {what} frames", unit="video"
    ):
        wanted = set(_spread_in_time(times[path], cands, quota))
        if not wanted:
            continue
        last = max(wanted)
        try:
            for i, (_, frame) in enumerate(FrameReader(path)):
                if i > last:
                    break
                if i in wanted:
                    preprocess_frame(frame, spec, out=out[filled])
                    filled += 1
        except SourceError as exc:
            skipped[str(path)] = str(exc)
            log.warning("skipping calibration video %s", exc)
    return out[:filled]


class _FrameReader:
    """ONNX Runtime's CalibrationDataReader protocol over preprocessed frames, one frame per run."""

    def __init__(self, input_name: str, frames: np.ndarray):
        self.input_name = input_name
        self.frames = frames
        self.it: Iterator[int] = iter(progress_bar(range(len(frames)), desc="calibrate", unit="frame"))

    def get_next(self) -> dict[str, np.ndarray] | None:
        i = next(self.it, None)
        return None if i is None else {self.input_name: self.frames[i : i + 1]}

    def rewind(self) -> None:
        self.it = iter(range(len(self.frames)))


def quantize_extractor(
    bundle_dir: str | Path,
    calibration: str | Path,
    max_frames: int = 200,
    heldout_frames: int = 32,
    min_cosine: float = INT8_MIN_COSINE,
) -> Bundle:
    """Static QDQ int8 extractor.int8.onnx calibrated on real frames; refuses (nothing written) if held-out
    int8-vs-fp32 feature cosine falls below `min_cosine`.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    if max_frames < MIN_CALIBRATION_FRAMES or heldout_frames < MIN_HELDOUT_FRAMES:
        raise ActionstreamError(
            f"need max_frames >= {MIN_CALIBRATION_FRAMES} and heldout_frames >= {MIN_HELDOUT_FRAMES}"
        )
    calib, held, info = calibration_frames(Path(calibration), m.frame, max_frames, heldout_frames)
    fp32 = bundle.path("extractor")
    started = time.perf_counter()
    with bundle_writer(bundle_dir, start_from_existing=True) as tmp, tempfile.TemporaryDirectory(dir=tmp) as work:
        pre = Path(work) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=False)
        int8 = tmp / FILE_NAMES["extractor_int8"]
        quantize_static(
            str(pre),
            str(int8),
            _FrameReader(m.files["extractor"].input, calib),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            calibration_providers=["CPUExecutionProvider"],
        )
        # (no CalibMaxIntermediateOutputs: ORT 1.31's MinMax calibrater keeps only per-tensor min/max, and with
        # that option it drops the collected batches instead of merging them -> "No data is collected")
        result = compare(onnx_outputs(fp32, held), onnx_outputs(int8, held))
        if result["cosine_min"] < min_cosine:
            raise ActionstreamError(
                f"{bundle_dir / FILE_NAMES['extractor_int8']}: int8 features too far from fp32 "
                f"on held-out frames (cosine min {result['cosine_min']:.4f} < {min_cosine}); "
                "nothing written; calibrate on more, or more varied, video"
            )
        recipe = _recipe_like(m.probe.get("extractor"), (2, m.frame.height, m.frame.width, 3), "uniform")
        m.files["extractor_int8"] = OnnxFile(
            FILE_NAMES["extractor_int8"], sha256_file(int8), m.files["extractor"].input, m.files["extractor"].output
        )
        m.parity["extractor_int8"] = {
            "cosine_min": result["cosine_min"],
            "cosine_mean": result["cosine_mean"],
            "max_abs_diff": result["max_abs_diff"],
            "heldout_frames": len(held),
            "calibration_frames": len(calib),
            "calibration_source": str(Path(calibration).resolve()),
            **info,
            "method": "static QDQ, QUInt8 activations, QInt8 per-channel weights, MinMax calibration",
        }
        m.probe["extractor_int8"] = make_probe(recipe, onnx_outputs(int8, seeded_input(recipe)))
        m.provenance["extractor_int8"] = {
            "versions": tool_versions(),
            "created": utc_now(),
            "quantize_seconds": round(time.perf_counter() - started, 2),
        }
        write_manifest(tmp, m)
    return load_bundle(bundle_dir)


def quantize_head_dynamic(
    bundle_dir: str | Path,
    max_abs_diff: float = HEAD_INT8_MAX_ABS_DIFF,
    min_top1: float = HEAD_INT8_MIN_TOP1,
) -> Bundle:
    """Dynamic int8 head.int8.onnx (LSTM/MatMul weights int8), with its parity vs the fp32 head recorded;
    refused (nothing written) beyond `max_abs_diff` or under `min_top1` agreement with fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    bundle_dir = Path(bundle_dir)
    bundle = load_bundle(bundle_dir)
    m = bundle.manifest
    if not m.has_head:
        raise ActionstreamError(f"{bundle_dir}: bundle has no head.onnx to quantize")
    fp32 = bundle.path("head")
    with bundle_writer(bundle_dir, start_from_existing=True) as tmp, tempfile.TemporaryDirectory(dir=tmp) as work:
        pre = Path(work) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre))
        int8 = tmp / FILE_NAMES["head_int8"]
        quantize_dynamic(str(pre), str(int8), weight_type=QuantType.QInt8)
        x = seeded_input(
            probe_recipe(HEAD_PARITY_SEED, (HEAD_PARITY_WINDOWS, m.sampling.window, m.feature_size), "normal")
        )
        result = compare(onnx_outputs(fp32, x), onnx_outputs(int8, x))
        if result["max_abs_diff"] > max_abs_diff or result["top1_agreement"] < min_top1:
            raise ActionstreamError(
                f"{bundle_dir / FILE_NAMES['head_int8']}: int8 head too far from fp32 (max abs "
                f"diff {result['max_abs_diff']:.3g}, top-1 agreement "
                f"{result['top1_agreement']:.2f}); nothing written"
            )
        recipe = _recipe_like(m.probe.get("head"), (2, m.sampling.window, m.feature_size), "normal")
        m.files["head_int8"] = OnnxFile(
            FILE_NAMES["head_int8"], sha256_file(int8), m.files["head"].input, m.files["head"].output
        )
        m.parity["head_int8"] = {**result, "method": "dynamic int8 (QInt8 weights)"}
        m.probe["head_int8"] = make_probe(recipe, onnx_outputs(int8, seeded_input(recipe)))
        m.provenance["head_int8"] = {"versions": tool_versions(), "created": utc_now()}
        write_manifest(tmp, m)
    return load_bundle(bundle_dir)


def _recipe_like(probe: dict[str, Any] | None, shape: tuple[int, ...], distribution: str) -> dict[str, Any]:
    """The fp32 file's probe recipe (so both files are probed on the same input), or a fresh one if it has none."""
    if probe:
        return {k: v for k, v in probe.items() if k not in ("outputs", "input_sha256")}
    return probe_recipe(1, shape, distribution)
