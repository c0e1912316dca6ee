"""Streaming capacity: how many 25 fps streams, replayed in real time, the engine serves without falling behind.

Each trial runs N FileSources (realtime, looping, started at evenly spread phases like unsynchronised cameras)
through one Engine and measures, after the first windows have filled: frames the sources dropped because the
engine fell behind, end-to-end prediction latency (capture of a window's newest frame -> Prediction event),
the feature rate achieved, the extractor's mean batch, the share of time the engine's worker spent inside
extractor calls, and the process's CPU use (all cores). A trial passes with no
dropped frames, p95 latency within the limit and the full feature rate. A long soak run at the largest
passing N reports resident memory at its start and end.

    trials = find_capacity(bundle, clips, device="cpu", counts=(1, 2, 4, 8), seconds=30)
"""

from __future__ import annotations

import math
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.machine import rss_mb
from streaming.bundle import Bundle
from streaming.engine import Engine, EngineConfig
from streaming.events import Metrics, Prediction
from streaming.sources import FileSource

#: The issue's targets on the 2-core CPU.
P95_LIMIT_MS = 250.0
#: Feature rate a trial must reach, as a share of N x the bundle's rate (the rest is start-up rounding).
MIN_FEATURE_SHARE = 0.97
#: Seconds after the start before measuring: the first window (40 features at 10/s) must fill first.
EXTRA_WARMUP_S = 2.0


@dataclass(frozen=True)
class Trial:
    streams: int
    seconds: float
    predictions: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    dropped_frames: int
    captured_frames: int
    features: int
    feature_rate_target: float
    extractor_calls: int
    extractor_ms_per_call: float
    head_ms_per_call: float
    cpu_share: float  # process CPU seconds / (wall seconds x usable cores)
    rss_start_mb: float
    rss_end_mb: float
    rss_samples_mb: tuple[float, ...] = field(default=())
    errors: tuple[str, ...] = field(default=())

    @property
    def feature_fps(self) -> float:
        return self.features / self.seconds

    @property
    def mean_batch(self) -> float:
        return self.features / self.extractor_calls if self.extractor_calls else 0.0

    @property
    def extractor_busy(self) -> float:
        """Share of the wall time the engine's worker spent inside extractor calls."""
        return self.extractor_calls * self.extractor_ms_per_call / 1000.0 / self.seconds

    @property
    def rss_settled_mb(self) -> float:
        """RSS at the second sample (one sampling interval in): ONNX Runtime's arenas have grown to the largest
        batch by then; growth after it is what a leak would show."""
        return self.rss_samples_mb[1] if len(self.rss_samples_mb) > 2 else self.rss_start_mb

    @property
    def passed(self) -> bool:
        return (
            self.dropped_frames == 0
            and not self.errors
            and self.predictions > 0
            and self.latency_p95_ms <= P95_LIMIT_MS
            and self.feature_fps >= MIN_FEATURE_SHARE * self.feature_rate_target
        )

    @property
    def verdict(self) -> str:
        if self.passed:
            return "pass"
        why = []
        if self.errors:
            why.append("; ".join(self.errors))
        if self.dropped_frames:
            why.append(f"{self.dropped_frames} dropped")
        if not self.latency_p95_ms <= P95_LIMIT_MS:
            why.append(f"p95 {self.latency_p95_ms:.0f} ms")
        if self.feature_fps < MIN_FEATURE_SHARE * self.feature_rate_target:
            why.append(f"features {self.feature_fps:.0f}/{self.feature_rate_target:.0f} per s")
        if not self.predictions:
            why.append("no predictions")
        return "FAIL: " + ", ".join(why)


def stream_clips(paths: tuple[Path, ...] | list[Path], fps: float = 25.0) -> list[Path]:
    """The clips at `fps` (the capacity figure is defined for 25 fps streams); all of them if none is."""
    from streaming.video import probe_video

    exact = [p for p in paths if abs(probe_video(p).fps - fps) < 0.01]
    return exact or list(paths)


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_trial(
    bundle: Bundle,
    clips: list[Path],
    streams: int,
    seconds: float,
    device: str,
    threads: int = 0,
    rss_every_s: float = 0.0,
    progress: bool = True,
) -> Trial:
    """N real-time looping streams through one engine for `seconds` after the warm-up."""
    fps = float(bundle.manifest.sampling.feature_rate)
    warmup_s = bundle.manifest.sampling.window / fps + EXTRA_WARMUP_S
    # the int8 files where the bundle has them (a pose bundle's extractor has no int8 version)
    files = bundle.manifest.files
    config = EngineConfig(
        device=device, int8="extractor_int8" in files, int8_head="head_int8" in files, hop_s=1.0, threads=threads
    )
    engine = Engine(bundle, config)
    sub = engine.subscribe(maxsize=max(1024, 64 * streams))
    names = [f"cam{i:02d}" for i in range(streams)]
    sources: list[FileSource] = []
    latencies: list[float] = []
    errors: list[str] = []
    # time inside extractor/head calls, from the engine's per-interval Metrics (mean ms per call) weighted by
    # the calls made in that interval (read off the engine's counters when the first stream's Metrics arrives)
    busy = {"extractor_s": 0.0, "extractor_calls": 0, "head_s": 0.0, "head_calls": 0}
    seen_calls = (0, 0)
    rss_samples: list[float] = []
    engine.start()
    try:
        for i, name in enumerate(names):
            src = FileSource(clips[i % len(clips)], name=name, realtime=True, loop=True)
            engine.add_source(src)
            sources.append(src)
            time.sleep(1.0 / fps / streams)  # spread the streams' sampling phases over one feature period
        t_start = time.monotonic()
        measure_from = t_start + warmup_s
        end = measure_from + seconds
        marks = None
        next_rss = measure_from
        while True:
            now = time.monotonic()
            if marks is None and now >= measure_from:
                marks = (
                    now,
                    _cpu_seconds(),
                    sum(s.dropped for s in sources),
                    sum(s.captured for s in sources),
                    engine.extracted_frames,
                    engine.extractor_calls,
                    rss_mb(),
                )
                seen_calls = (engine.extractor_calls, engine.head_calls)
            if marks is not None and rss_every_s and now >= next_rss:
                rss_samples.append(rss_mb())
                next_rss = now + rss_every_s
                if progress:
                    print(
                        f"[bench]   {streams} streams, {now - measure_from:.0f}/{seconds:.0f} s, "
                        f"RSS {rss_samples[-1]:.0f} MB",
                        flush=True,
                    )
            if now >= end:
                break
            event = sub.get(timeout=min(0.5, end - now))
            if event is None:
                continue
            if isinstance(event, Prediction) and marks is not None:
                latencies.append(event.latency_ms)
            elif isinstance(event, Metrics) and marks is not None and event.stream == names[0]:
                calls = (engine.extractor_calls, engine.head_calls)
                dx, dh = calls[0] - seen_calls[0], calls[1] - seen_calls[1]
                seen_calls = calls
                if dx and math.isfinite(event.extractor_ms):
                    busy["extractor_s"] += event.extractor_ms * dx / 1000.0
                    busy["extractor_calls"] += dx
                if dh and math.isfinite(event.head_ms):
                    busy["head_s"] += event.head_ms * dh / 1000.0
                    busy["head_calls"] += dh
            elif getattr(event, "state", None) is not None and event.state.value in ("failed", "ended"):
                errors.append(f"{event.stream} {event.state.value}: {event.reason}")
        t_end = time.monotonic()
        cpu_end = _cpu_seconds()
        if engine.error:
            errors.append(engine.error)
        t0, cpu0, dropped0, captured0, frames0, calls0, rss0 = marks
        lat = np.asarray(latencies, np.float64)
        p50, p95 = np.percentile(lat, [50, 95]) if len(lat) else (math.nan, math.nan)
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:
            cores = os.cpu_count() or 1
        return Trial(
            streams=streams,
            seconds=t_end - t0,
            predictions=len(lat),
            latency_p50_ms=float(p50),
            latency_p95_ms=float(p95),
            latency_max_ms=float(lat.max()) if len(lat) else math.nan,
            dropped_frames=sum(s.dropped for s in sources) - dropped0,
            captured_frames=sum(s.captured for s in sources) - captured0,
            features=engine.extracted_frames - frames0,
            feature_rate_target=fps * streams,
            extractor_calls=engine.extractor_calls - calls0,
            extractor_ms_per_call=(
                1000.0 * busy["extractor_s"] / busy["extractor_calls"] if busy["extractor_calls"] else math.nan
            ),
            head_ms_per_call=1000.0 * busy["head_s"] / busy["head_calls"] if busy["head_calls"] else math.nan,
            cpu_share=(cpu_end - cpu0) / ((t_end - t0) * cores),
            rss_start_mb=rss0,
            rss_end_mb=rss_mb(),
            rss_samples_mb=tuple(rss_samples),
            errors=tuple(dict.fromkeys(errors)),
        )
    finally:
        engine.stop()


def find_capacity(
    bundle: Bundle,
    clips: list[Path],
    device: str,
    counts: tuple[int, ...],
    seconds: float,
    threads: int = 0,
    refine: bool = True,
    progress: bool = True,
) -> list[Trial]:
    """Trials at increasing N until one fails; then the counts between the last pass and the first failure."""
    trials: list[Trial] = []

    def trial(n: int) -> Trial:
        if progress:
            print(f"[bench] capacity: {n} stream(s) for {seconds:.0f} s ...", flush=True)
        t = run_trial(bundle, clips, n, seconds, device, threads, progress=progress)
        if progress:
            print(
                f"[bench]   p50 {t.latency_p50_ms:.0f} ms, p95 {t.latency_p95_ms:.0f} ms, dropped "
                f"{t.dropped_frames}, {t.feature_fps:.1f}/{t.feature_rate_target:.0f} features/s, CPU "
                f"{100 * t.cpu_share:.0f} % -> {t.verdict}",
                flush=True,
            )
        trials.append(t)
        return t

    last_pass, first_fail = 0, None
    for n in counts:
        if trial(n).passed:
            last_pass = n
        else:
            first_fail = n
            break
    if refine and first_fail is not None:
        for n in range(last_pass + 1, first_fail):
            if trial(n).passed:
                last_pass = n
            else:
                break
    return sorted(trials, key=lambda t: t.streams)


def largest_passing(trials: list[Trial]) -> int:
    passing = [t.streams for t in trials if t.passed]
    failing = [t.streams for t in trials if not t.passed]
    best = 0
    for n in sorted(passing):
        if not any(f <= n for f in failing):
            best = n
    return best


def format_capacity(trials: list[Trial], soak: Trial | None, model: str) -> str:
    lines = [
        f"{model}; streams are looping 25 fps 320x240 files replayed in real time (FileSource realtime=True), "
        "10 features/s, one prediction per second per stream. Latency: capture of a window's newest frame -> "
        "its Prediction event.",
        "",
        "| streams | seconds | p50 ms | p95 ms | max ms | dropped frames | features/s (target) | mean extractor "
        "batch | extractor ms/call (ms/frame) | worker in extractor | head ms/call | CPU use | verdict |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for t in trials:
        lines.append(
            f"| {t.streams} | {t.seconds:.0f} | {t.latency_p50_ms:.0f} | {t.latency_p95_ms:.0f} | "
            f"{t.latency_max_ms:.0f} | {t.dropped_frames} | {t.feature_fps:.1f} ({t.feature_rate_target:.0f}) | "
            f"{t.mean_batch:.1f} | {t.extractor_ms_per_call:.1f} "
            f"({t.extractor_ms_per_call / max(t.mean_batch, 1e-9):.1f}) | "
            f"{100 * t.extractor_busy:.0f} % | {t.head_ms_per_call:.1f} | {100 * t.cpu_share:.0f} % | {t.verdict} |"
        )
    best = largest_passing(trials)
    single = next((t for t in trials if t.streams == 1), None)
    lines += [
        "",
        f"Largest N passing (no dropped frames, p95 <= {P95_LIMIT_MS:.0f} ms, full feature rate): **{best}**.",
    ]
    if single is not None:
        lines.append(f"Single stream: p50 {single.latency_p50_ms:.0f} ms, p95 {single.latency_p95_ms:.0f} ms.")
    if soak is not None:
        samples = soak.rss_samples_mb or (soak.rss_start_mb, soak.rss_end_mb)
        lines.append(
            f"Soak: {soak.streams} streams for {soak.seconds / 60:.1f} min: p50 {soak.latency_p50_ms:.0f} ms, "
            f"p95 {soak.latency_p95_ms:.0f} ms, {soak.dropped_frames} dropped, {soak.predictions} predictions; "
            f"RSS at start {soak.rss_start_mb:.0f} MB, after the first sampling interval {soak.rss_settled_mb:.0f} MB, "
            f"at end {soak.rss_end_mb:.0f} MB (min {min(samples):.0f}, max {max(samples):.0f} over {len(samples)} "
            f"samples) -> {soak.verdict}."
        )
    return "\n".join(lines)
