"""Dataset feature extraction end to end (decode, sample, preprocess, infer, write the cache) vs pure inference.

The end-to-end rate runs training.features.extract_dataset into a fresh, empty cache; the ceiling is the same
extractor session on an already preprocessed batch of the same size, timed in the same process. Their ratio
says how well decoding overlaps inference (goal >= 0.8). Decoding alone is timed too, to show its share.

    r = run_extraction_bench(bundle, clips, int8=True, device="auto", batch_size=32, workdir=tmp, budget=b)
    print(format_extraction([r]))
"""

from __future__ import annotations

import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.clips import read_frames
from bench.timing import Budget, time_calls
from streaming.bundle import Bundle
from streaming.extractor import Extractor
from streaming.preprocess import preprocess_frame
from streaming.sampler import RateSampler
from streaming.video import FrameReader

#: All of UCF101, and the original report's extraction (about 3,000 clips in 12 hours on a K80).
UCF101_CLIPS = 13_320
UCF101_MEAN_CLIP_S = 7.2  # 27 hours of video over 13,320 clips
FRAMES_PER_CLIP = 40
REPORT_CLIPS, REPORT_HOURS = 3_000, 12.0


@dataclass(frozen=True)
class ExtractionResult:
    model: str
    clips_label: str
    clips: int
    failed: int
    frames: int
    e2e_s: float
    pure_fps: float
    decode_fps: float
    batch_size: int
    decode_workers: int

    @property
    def e2e_fps(self) -> float:
        return self.frames / self.e2e_s

    @property
    def ratio(self) -> float:
        return self.e2e_fps / self.pure_fps

    def ucf101_hours(self, frames_per_clip: float = FRAMES_PER_CLIP) -> float:
        return UCF101_CLIPS * frames_per_clip / self.e2e_fps / 3600


def decode_rate(paths: list[Path], bundle: Bundle, fps: float, max_frames: int) -> float:
    """Sampled frames per second for decode + sample + preprocess alone, one thread, no inference."""
    out = np.empty((bundle.manifest.frame.height, bundle.manifest.frame.width, 3), np.float32)
    done, t0 = 0, time.perf_counter()
    for path in paths:
        sampler = RateSampler(fps)
        for t, frame in FrameReader(path):
            if sampler.take(t):
                preprocess_frame(frame, bundle.manifest.frame, out=out)
                done += 1
        if done >= max_frames:
            break
    return done / (time.perf_counter() - t0)


def run_extraction_bench(
    model: str,
    bundle: Bundle,
    paths: list[Path],
    clips_label: str,
    int8: bool,
    device: str,
    batch_size: int,
    decode_workers: int,
    workdir: Path,
    budget: Budget,
    fps: float = 10.0,
) -> ExtractionResult:
    """extract_dataset over `paths` into a fresh cache, then the same session's pure batched rate."""
    from streaming.sampler import Sampling
    from training.features import extract_dataset

    cache = Path(tempfile.mkdtemp(dir=workdir, prefix="features-"))
    try:
        t0 = time.perf_counter()
        result = extract_dataset(
            list(paths),
            bundle,
            Sampling("stride", feature_rate=fps, window=40),
            cache,
            device=device,
            int8=int8,
            batch_size=batch_size,
            decode_workers=decode_workers,
            progress=False,
        )
        e2e_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    if result.frames == 0:
        raise RuntimeError(f"extract_dataset ran no frames over {len(paths)} clips ({len(result.failed)} failed)")
    ex = Extractor(bundle, int8=int8, device=device)
    frames = read_frames(list(paths)[:4], batch_size)
    from streaming.preprocess import preprocess_batch

    x = preprocess_batch(frames, bundle.manifest.frame)
    pure = time_calls(lambda: ex(x), batch_size, budget)
    ex = None  # free the session before the next measurement
    dec = decode_rate(list(paths), bundle, fps, max_frames=max(200, batch_size * 8))
    return ExtractionResult(
        model=model,
        clips_label=clips_label,
        clips=len(paths),
        failed=len(result.failed),
        frames=result.frames,
        e2e_s=e2e_s,
        pure_fps=pure.items_per_s,
        decode_fps=dec,
        batch_size=batch_size,
        decode_workers=decode_workers,
    )


def format_extraction(results: list[ExtractionResult]) -> str:
    report_fps = REPORT_CLIPS * FRAMES_PER_CLIP / (REPORT_HOURS * 3600)
    lines = [
        "| extractor | clips | frames | end to end frames/s | pure batched frames/s | ratio (goal >= 0.8) | "
        "decode+preprocess alone, 1 thread, frames/s | UCF101 hours (x40 frames) | UCF101 hours (10/s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.model} | {r.clips} {r.clips_label} | {r.frames} | {r.e2e_fps:.1f} | {r.pure_fps:.1f} | "
            f"{r.ratio:.2f} | {r.decode_fps:.0f} | {r.ucf101_hours():.2f} | "
            f"{r.ucf101_hours(UCF101_MEAN_CLIP_S * 10):.2f} |"
        )
    lines += [
        "",
        f"Batch {results[0].batch_size}, {results[0].decode_workers} decoder threads, stride sampling at 10 "
        "features/s, into an empty cache (written atomically, one .npz per clip); the end-to-end time includes "
        "creating the session. UCF101 projections: 13,320 clips x 40 frames (the report's segments), and x "
        f"{UCF101_MEAN_CLIP_S * 10:.0f} frames (10 features/s over the mean {UCF101_MEAN_CLIP_S} s clip).",
        f"The original report: about {REPORT_CLIPS:,} clips x 40 frames in {REPORT_HOURS:.0f} hours on a K80, "
        f"Keras one frame at a time = {report_fps:.1f} frames/s; all of UCF101 at that rate would take "
        f"{UCF101_CLIPS * FRAMES_PER_CLIP / report_fps / 3600:.0f} hours.",
    ]
    if any(r.failed for r in results):
        lines.append("Failed clips: " + ", ".join(f"{r.model}: {r.failed}" for r in results if r.failed))
    return "\n".join(lines)
