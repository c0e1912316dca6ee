"""The pose pipeline (BlazePose in ONNX Runtime, streaming.pose_extractor) against MediaPipe's own Python pipeline.

    scripts/mediapipe-bench-env.sh                          # once: .cache/mediapipe-bench-venv (mediapipe 0.10.21)
    .venv/bin/python -m bench.pose_bench                    # prints the tables (~4 min + ~3 min capacity)
    .venv/bin/python -m bench.pose_bench --only capacity --write BENCHMARKS.md

Side by side in one run, on the same decoded frames (every frame of the genuine UCF101 clips; decoded once, here,
and handed to MediaPipe in a file, so both see identical pixels):

- MediaPipe: `mp.solutions.pose.Pose(model_complexity=1, smooth_landmarks=False)` (model_complexity=1 is the same
  "full" landmark model the bundle holds; smoothing off because ours does not smooth), one Pose per clip as one
  per stream, in its own venv (it needs numpy < 2, never in the project's), as a child process that runs this
  same file with `--mediapipe-child` and writes landmarks and times to a file.
- Ours: `PoseExtractor` from the committed bundle (models/pose), with tracking (the detector runs only when the
  tracked crop loses the person) and with the detector on every frame; batch 1 (one stream at a time) and
  batch 8 (the 8 clips as 8 streams in lockstep, each looping its clip, one batched call per step).

Reported: ms/frame (wall time over all frames, i.e. throughput; batch 1 also its p95 per frame), CPU ms/frame,
the share of frames with a person found, how many of MediaPipe's frames we find a person on, and landmark
agreement: per frame where both found someone, the mean distance over the 13 feature joints between our landmark
and MediaPipe's, as a share of the body's size (the larger side of the box around MediaPipe's 33 landmarks).
Section `capacity` (`--only capacity`): the engine's real-time capacity with the pose bundle and a random LSTM head
(bench.capacity_bench's trials). Each section writes its own blocks (`pose`, `pose-capacity` and their targets).

This file runs in two interpreters: the project's (everything) and MediaPipe's venv (`--mediapipe-child` only),
so its top-level imports are the standard library and numpy alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MEDIAPIPE_VENV = REPO / ".cache" / "mediapipe-bench-venv"
POSE_BUNDLE = REPO / "models" / "pose"
#: BlazePose indices of the feature joints (streaming.pose_spec.FEATURE_JOINTS; repeated here because the child
#: process cannot import the project, and checked equal to it in the parent).
FEATURE_JOINTS = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
MEDIAPIPE_TIMEOUT_S = 1800.0
WARMUP_FRAMES = 10
# Issue 12's targets on the 2-core CPU.
TARGET_FOUND_SHARE = 0.95  # of the frames where MediaPipe finds a person
TARGET_MEDIAN_AGREEMENT = 0.03  # of body size
TARGET_BATCH8_MS = 35.0
TARGET_STREAMS = 3
TARGET_SINGLE_P95_MS = 150.0
SECTIONS = ("comparison", "capacity")


# ---------------------------------------------------------------------------------------------------------------
# MediaPipe's side (runs in the mediapipe venv)


def mediapipe_child(frames_npz: Path, out: Path) -> None:
    """Run MediaPipe's pose solution over every clip in `frames_npz` (BGR frames per clip); write landmarks
    (N x 33 x 3: x, y in pixels, visibility; NaN where nobody was found), per-frame seconds and CPU seconds."""
    import cv2
    import mediapipe as mp

    clips = np.load(frames_npz)
    names = sorted(clips.files)

    def new_pose():
        return mp.solutions.pose.Pose(
            static_image_mode=False, model_complexity=1, smooth_landmarks=False, enable_segmentation=False
        )

    warm = new_pose()  # graph start-up and first-call allocation, not timed
    for frame in clips[names[0]][:WARMUP_FRAMES]:
        warm.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    warm.close()
    result: dict[str, np.ndarray] = {}
    cpu = 0.0
    for name in names:
        frames = clips[name]
        h, w = frames.shape[1:3]
        landmarks = np.full((len(frames), 33, 3), np.nan, np.float32)
        seconds = np.zeros(len(frames), np.float64)
        pose = new_pose()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        for k, frame in enumerate(frames):
            t0 = time.perf_counter()
            found = pose.process(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).pose_landmarks
            seconds[k] = time.perf_counter() - t0
            if found is not None:
                landmarks[k] = [(p.x * w, p.y * h, p.visibility) for p in found.landmark]
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu += (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
        pose.close()
        result[f"{name}/landmarks"], result[f"{name}/seconds"] = landmarks, seconds
    result["cpu_seconds"] = np.array(cpu)
    result["version"] = np.array(mp.__version__)
    np.savez(out, **result)


# ---------------------------------------------------------------------------------------------------------------
# Results


@dataclass
class Run:
    """One pipeline configuration over the frames: per-frame results in clip order (first pass of each clip)."""

    name: str
    batch: int
    frames: int  # frames processed (batch 8 loops the shorter clips, so more than the clips hold)
    seconds: float
    cpu_seconds: float
    found: np.ndarray  # bool per clip frame (first pass)
    joints: np.ndarray  # clip frames x 13 x 2, pixels; NaN where nobody was found
    call_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per call (batch 1: per frame)
    detector_frames: int = 0
    found_all: float = 0.0  # person-found share over every frame processed

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.seconds / self.frames

    @property
    def cpu_ms_per_frame(self) -> float:
        return 1000.0 * self.cpu_seconds / self.frames


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_mediapipe(clips: dict[str, np.ndarray], python: Path, work: Path) -> tuple[Run, np.ndarray, str]:
    """MediaPipe's pipeline in its venv on exactly these frames; (run, landmarks N x 33 x 3, mediapipe version)."""
    from streaming.errors import ActionstreamError

    frames_npz, out = work / "frames.npz", work / "mediapipe.npz"
    np.savez(frames_npz, **clips)
    cmd = [str(python), str(Path(__file__).resolve()), "--mediapipe-child", str(frames_npz), str(out)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=MEDIAPIPE_TIMEOUT_S)
    if done.returncode != 0 or not out.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ActionstreamError(f"MediaPipe's pipeline failed in {python} ({last[:300]})")
    log(f"mediapipe: done in {time.perf_counter() - t0:.0f} s (child process, start-up included)")
    got = np.load(out)
    names = list(clips)
    landmarks = np.concatenate([got[f"{n}/landmarks"] for n in names])
    seconds = np.concatenate([got[f"{n}/seconds"] for n in names])
    found = ~np.isnan(landmarks[:, 0, 0])
    run = Run(
        name="MediaPipe Python (mp.solutions.pose, complexity 1)",
        batch=1,
        frames=len(seconds),
        seconds=float(seconds.sum()),
        cpu_seconds=float(got["cpu_seconds"]),
        found=found,
        joints=landmarks[:, list(FEATURE_JOINTS), :2],
        call_ms=1000.0 * seconds,
        found_all=float(found.mean()),
    )
    return run, landmarks, str(got["version"])


def _joints_px(person, w: int, h: int) -> np.ndarray:
    if person is None:
        return np.full((len(FEATURE_JOINTS), 2), np.nan, np.float32)
    return person.landmarks[:, :2] * np.array([w, h], np.float32)


def run_ours_batch1(extractor, clips: dict[str, np.ndarray], tracking: bool) -> Run:
    """One stream at a time, one frame per call; a new tracking state per clip."""
    found, joints, call_ms = [], [], []
    det0 = extractor.stats.detector_frames
    cpu0, wall = _cpu_s(), 0.0
    for frames in clips.values():
        h, w = frames.shape[1:3]
        state = extractor.new_state()
        for frame in frames:
            if not tracking:
                state.roi = None
            t0 = time.perf_counter()
            person = extractor.extract([frame], [state]).persons[0]
            dt = time.perf_counter() - t0
            wall += dt
            call_ms.append(1000.0 * dt)
            found.append(person is not None)
            joints.append(_joints_px(person, w, h))
    found_arr = np.array(found)
    return Run(
        name=f"ours, {'tracking' if tracking else 'detector every frame'}",
        batch=1,
        frames=len(found),
        seconds=wall,
        cpu_seconds=_cpu_s() - cpu0,
        found=found_arr,
        joints=np.stack(joints),
        call_ms=np.array(call_ms),
        detector_frames=extractor.stats.detector_frames - det0,
        found_all=float(found_arr.mean()),
    )


def run_ours_batched(extractor, clips: dict[str, np.ndarray], tracking: bool) -> Run:
    """The clips as streams in lockstep, one batched call per step; a clip that ends starts again (a new stream,
    a new tracking state) so every call carries one frame of every stream, until the longest clip ends."""
    names = list(clips)
    lengths = [len(clips[n]) for n in names]
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    found = np.zeros(offsets[-1], bool)
    joints = np.full((offsets[-1], len(FEATURE_JOINTS), 2), np.nan, np.float32)
    states = [extractor.new_state() for _ in names]
    hits = frames_done = 0
    call_ms = []
    det0 = extractor.stats.detector_frames
    cpu0, wall = _cpu_s(), 0.0
    for step in range(max(lengths)):
        batch = []
        for i, name in enumerate(names):
            k = step % lengths[i]
            if k == 0 or not tracking:
                states[i] = extractor.new_state()
            batch.append(clips[name][k])
        t0 = time.perf_counter()
        result = extractor.extract(batch, states)
        dt = time.perf_counter() - t0
        wall += dt
        call_ms.append(1000.0 * dt)
        frames_done += len(batch)
        for i, person in enumerate(result.persons):
            hits += person is not None
            if step < lengths[i]:  # first pass: comparable frame by frame with the other runs
                found[offsets[i] + step] = person is not None
                h, w = batch[i].shape[:2]
                joints[offsets[i] + step] = _joints_px(person, w, h)
    return Run(
        name=f"ours, {'tracking' if tracking else 'detector every frame'}",
        batch=len(names),
        frames=frames_done,
        seconds=wall,
        cpu_seconds=_cpu_s() - cpu0,
        found=found,
        joints=joints,
        call_ms=np.array(call_ms),
        detector_frames=extractor.stats.detector_frames - det0,
        found_all=hits / frames_done,
    )


@dataclass(frozen=True)
class Agreement:
    """Per-frame mean joint distance / body size, over the frames where both pipelines found a person."""

    errors: np.ndarray

    @property
    def median(self) -> float:
        return float(np.median(self.errors)) if self.errors.size else float("nan")

    @property
    def p90(self) -> float:
        return float(np.percentile(self.errors, 90)) if self.errors.size else float("nan")


def agreement(ours: Run, mp_landmarks: np.ndarray) -> Agreement:
    both = ours.found & ~np.isnan(mp_landmarks[:, 0, 0])
    theirs = mp_landmarks[both]
    body = np.ptp(theirs[:, :, :2], axis=1).max(axis=1)  # the larger side of the box around the 33 landmarks
    dist = np.linalg.norm(ours.joints[both] - theirs[:, list(FEATURE_JOINTS), :2], axis=2).mean(axis=1)
    return Agreement(dist / np.maximum(body, 1e-6))


# ---------------------------------------------------------------------------------------------------------------
# The report


@dataclass
class Report:
    clips: dict[str, int]
    mediapipe: Run
    mediapipe_version: str
    mediapipe_landmarks: np.ndarray  # clip frames x 33 x 3 (x, y pixels, visibility); NaN where nobody found
    runs: list[Run]
    agreements: dict[str, Agreement]
    recall: dict[str, float]  # share of MediaPipe's person frames where the run found a person too
    batch_vs_single_px: float  # max |batch 8 - batch 1| landmark difference, tracking, first pass, pixels
    threads: int
    repeats: int = 1
    verdicts: list[str] = field(default_factory=list)

    def run(self, batch: int, tracking: bool) -> Run:
        word = "tracking" if tracking else "detector every frame"
        return next(r for r in self.runs if r.batch == batch and r.name.endswith(word))


def _verdict(what: str, ok: bool, shown: str, wanted: str) -> str:
    return f"- {'MET' if ok else 'MISSED'}: {what}: {shown} (target {wanted})"


def verdicts(rep: Report) -> list[str]:
    mp, tracked1, tracked8 = rep.mediapipe, rep.run(1, True), rep.run(8, True)
    key = tracked1.name + " b1"
    return [
        _verdict(
            "person found on MediaPipe's person frames (ours tracking, batch 1)",
            rep.recall[key] >= TARGET_FOUND_SHARE,
            f"{100 * rep.recall[key]:.1f} % (ours {100 * tracked1.found.mean():.1f} % of all frames, "
            f"MediaPipe {100 * mp.found.mean():.1f} %)",
            f">= {100 * TARGET_FOUND_SHARE:.0f} %",
        ),
        _verdict(
            "landmark agreement with MediaPipe, median (13 joints, share of body size)",
            rep.agreements[key].median <= TARGET_MEDIAN_AGREEMENT,
            f"{100 * rep.agreements[key].median:.1f} % (p90 {100 * rep.agreements[key].p90:.1f} %)",
            f"<= {100 * TARGET_MEDIAN_AGREEMENT:.0f} %",
        ),
        _verdict(
            "faster than MediaPipe's Python pipeline on the same frames (batch 1, tracking)",
            tracked1.ms_per_frame < mp.ms_per_frame,
            f"{tracked1.ms_per_frame:.1f} vs {mp.ms_per_frame:.1f} ms/frame "
            f"({mp.ms_per_frame / tracked1.ms_per_frame:.1f}x)",
            "faster",
        ),
        _verdict(
            "pose pipeline with tracking at batch 8",
            tracked8.ms_per_frame <= TARGET_BATCH8_MS,
            f"{tracked8.ms_per_frame:.1f} ms/frame",
            f"<= {TARGET_BATCH8_MS:.0f} ms/frame",
        ),
    ]


def format_report(rep: Report) -> str:
    total = sum(rep.clips.values())
    lines = [
        f"Frames: every frame of the {len(rep.clips)} genuine UCF101 clips in ../shared/data/ucf101-mini "
        f"({total} frames, 320x240), decoded once and given to both pipelines. MediaPipe {rep.mediapipe_version} "
        "(`solutions.pose.Pose(model_complexity=1, smooth_landmarks=False)`, one per clip) in its own venv; ours: "
        f"models/pose on ONNX Runtime CPU, intra-op threads: {rep.threads or 'one per core'}. Batch 8 = the 8 clips "
        "as 8 streams in lockstep (shorter clips loop, a new stream each time), one batched call per step. "
        "ms/frame = wall time / frames (throughput, detector runs included); CPU ms/frame = process CPU time / "
        f"frames (both cores count); each configuration ran {rep.repeats} times, MediaPipe's and ours alternating, "
        "and the pass with the lowest wall time is shown (the machine may be shared). Agreement: per frame "
        "found by both, mean distance over the 13 feature joints "
        "/ body size (larger side of the box around MediaPipe's 33 landmarks).",
        "",
        "| pipeline | batch | ms/frame | p95 ms per call | CPU ms/frame | detector on | person found | "
        "of MediaPipe's person frames | agreement median | p90 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [(rep.mediapipe, "mediapipe")] + [(r, f"{r.name} b{r.batch}") for r in rep.runs]
    for r, key in rows:
        det = "-" if key == "mediapipe" else f"{100 * r.detector_frames / r.frames:.0f} % of frames"
        ag = rep.agreements.get(key)
        lines.append(
            f"| {r.name} | {r.batch} | {r.ms_per_frame:.1f} | {np.percentile(r.call_ms, 95):.1f} | "
            f"{r.cpu_ms_per_frame:.1f} | {det} | {100 * r.found_all:.1f} % | "
            + ("-" if key == "mediapipe" else f"{100 * rep.recall[key]:.1f} %")
            + " | "
            + (f"{100 * ag.median:.1f} % | {100 * ag.p90:.1f} %" if ag else "- | -")
            + " |"
        )
    lines += [
        "",
        f"Batch 8 vs batch 1 with tracking, same frames: landmarks differ by at most {rep.batch_vs_single_px:.2g} px "
        "(a frame's result does not depend on its batch).",
    ]
    per_clip = []
    mp_found = rep.mediapipe.found
    tracked = rep.run(1, True)
    start = 0
    for name, n in rep.clips.items():
        sl = slice(start, start + n)
        start += n
        both = tracked.found[sl] & mp_found[sl]
        ag = agreement(
            Run("", 1, n, 0, 0, tracked.found[sl], tracked.joints[sl]),
            rep.mediapipe_landmarks[sl],
        )
        per_clip.append(
            f"| {name} | {n} | {100 * tracked.found[sl].mean():.0f} % | {100 * mp_found[sl].mean():.0f} % | "
            f"{int(both.sum())} | " + (f"{100 * ag.median:.1f} %" if ag.errors.size else "-") + " |"
        )
    lines += [
        "",
        "Per clip (ours: tracking, batch 1):",
        "",
        "| clip | frames | ours found | MediaPipe found | both | agreement median |",
        "|---|---:|---:|---:|---:|---:|",
        *per_clip,
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Capacity: the engine with the pose bundle and a random LSTM head


def pose_head_bundle(cache_root: Path, units: int, classes: int):
    """models/pose plus a random LSTM head (timing only), cached under .cache/bench."""
    import shutil

    from bench.artifacts import _build_head, _link_or_copy, run_isolated
    from streaming.atomic import atomic_dir
    from streaming.bundle import MANIFEST, BundleError, load_bundle

    pose = load_bundle(POSE_BUNDLE)
    out = cache_root / f"pose-{pose.manifest.files['pose_landmarks'].sha256[:12]}-lstm{units}-c{classes}"
    if (out / MANIFEST).is_file():
        try:
            bundle = load_bundle(out)
            if bundle.manifest.has_head:
                return bundle
        except BundleError:
            pass
    log(f"capacity: exporting a random LSTM-{units} head onto models/pose -> {out} (once; cached)")
    with atomic_dir(out) as tmp:
        for role, f in pose.manifest.files.items():
            _link_or_copy(pose.path(role), tmp / f.path)
        shutil.copy2(POSE_BUNDLE / MANIFEST, tmp / MANIFEST)
        run_isolated(_build_head, str(tmp), units, classes, pose.manifest.sampling.window)
    return load_bundle(out)


def run_capacity(args: argparse.Namespace) -> tuple[str, list[str]]:
    """Capacity trials with the pose bundle; (markdown, verdicts)."""
    from bench.capacity_bench import find_capacity, format_capacity, largest_passing, stream_clips
    from bench.clips import list_videos, ucf101_mini

    bundle = pose_head_bundle(REPO / ".cache" / "bench", args.head_units, 101)
    clips = stream_clips(list_videos(ucf101_mini()))
    counts = tuple(int(c) for c in args.capacity_counts.split(","))
    trials = find_capacity(bundle, clips, args.device, counts, args.capacity_s, args.threads)
    best = largest_passing(trials)
    model = f"pose bundle (models/pose, {bundle.manifest.feature_size}-d) + random LSTM-{args.head_units} int8 head"
    text = format_capacity(trials, None, model)
    out = [
        _verdict(
            "real-time 25 fps streams at 10 features/s with the pose bundle",
            best >= TARGET_STREAMS,
            str(best),
            f">= {TARGET_STREAMS}",
        )
    ]
    single = next((t for t in trials if t.streams == 1), None)
    if single is not None:
        out.append(
            _verdict(
                "single-stream p95 latency with the pose bundle",
                single.latency_p95_ms <= TARGET_SINGLE_P95_MS,
                f"{single.latency_p95_ms:.0f} ms",
                f"<= {TARGET_SINGLE_P95_MS:.0f} ms",
            )
        )
    return text, out


# ---------------------------------------------------------------------------------------------------------------


def log(text: str) -> None:
    print(f"[pose-bench] {text}", flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.pose_bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--mediapipe-python", type=Path, default=MEDIAPIPE_VENV / "bin" / "python")
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: one per core)")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    p.add_argument("--write", type=Path, metavar="FILE", help="write the section into FILE (e.g. BENCHMARKS.md)")
    p.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma-separated sections (default all): {', '.join(SECTIONS)}"
    )
    p.add_argument("--repeats", type=int, default=2, help="passes per configuration; the fastest is kept")
    p.add_argument("--capacity-s", type=float, default=20.0, help="seconds measured per capacity trial")
    p.add_argument("--capacity-counts", default="1,2,3,4,6,8,10,12", help="stream counts to try")
    p.add_argument("--head-units", type=int, default=512, help="LSTM units of the random head (capacity)")
    p.add_argument("--mediapipe-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_comparison(args: argparse.Namespace) -> tuple[str, list[str]]:
    """MediaPipe vs ours on every frame of the genuine clips; (markdown, verdicts)."""
    from bench.clips import list_videos, ucf101_mini
    from streaming.bundle import load_bundle
    from streaming.errors import ActionstreamError
    from streaming.pose_extractor import PoseExtractor
    from streaming.pose_spec import PoseSpec
    from streaming.video import iter_frames

    if tuple(PoseSpec().feature_joints) != FEATURE_JOINTS:
        raise ActionstreamError("bench.pose_bench.FEATURE_JOINTS differs from streaming.pose_spec's; update it")
    if not args.mediapipe_python.is_file():
        raise ActionstreamError(f"{args.mediapipe_python}: no MediaPipe venv; run scripts/mediapipe-bench-env.sh")
    videos = list_videos(ucf101_mini() / "UCF-101")
    if not videos:
        raise ActionstreamError(f"no clips under {ucf101_mini()}; this comparison needs the genuine ones")
    clips = {v.stem: np.stack([f for _, f in iter_frames(v)]) for v in videos}
    log(f"{len(clips)} clips, {sum(len(c) for c in clips.values())} frames decoded")
    bundle = load_bundle(POSE_BUNDLE)
    extractor = PoseExtractor(
        bundle.path("pose_detector"),
        bundle.path("pose_landmarks"),
        PoseSpec.from_dict(bundle.manifest.pose),
        device=args.device,
        threads=args.threads,
    )
    first = next(iter(clips.values()))
    warm = [extractor.new_state() for _ in range(len(clips))]
    for frame in first[:WARMUP_FRAMES]:  # session start-up and arena growth at both batch sizes, not timed
        extractor.extract([frame], warm[:1])
        extractor.extract([frame] * len(clips), warm)
    # The machine may be shared: every configuration runs `repeats` times, MediaPipe's and ours alternating, and
    # the pass with the lowest wall time (the least disturbed) is kept. Results other than time do not change.
    mp_run, runs = None, []
    for attempt in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="pose-bench.") as work:
            log(f"pass {attempt + 1}/{args.repeats}: mediapipe's pipeline in its own venv ...")
            got, mp_landmarks, mp_version = run_mediapipe(clips, args.mediapipe_python, Path(work))
        mp_run = got if mp_run is None or got.seconds < mp_run.seconds else mp_run
        k = 0
        for batch in (1, len(clips)):
            for tracking in (True, False):
                what = "tracking" if tracking else "detector every frame"
                log(f"pass {attempt + 1}/{args.repeats}: ours, batch {batch}, {what} ...")
                fn = run_ours_batch1 if batch == 1 else run_ours_batched
                got = fn(extractor, clips, tracking)
                if attempt == 0:
                    runs.append(got)
                elif got.seconds < runs[k].seconds:
                    runs[k] = got
                k += 1
    agreements, recall = {}, {}
    for r in runs:
        key = f"{r.name} b{r.batch}"
        agreements[key] = agreement(r, mp_landmarks)
        recall[key] = float((r.found & mp_run.found).sum() / max(1, mp_run.found.sum()))
    t1 = next(r for r in runs if r.batch == 1 and r.name.endswith("tracking"))
    t8 = next(r for r in runs if r.batch != 1 and r.name.endswith("tracking"))
    same = t1.found & t8.found
    gap = float(np.nanmax(np.abs(t1.joints[same] - t8.joints[same]))) if same.any() else float("nan")
    rep = Report(
        clips={k: len(v) for k, v in clips.items()},
        mediapipe=mp_run,
        mediapipe_version=mp_version,
        mediapipe_landmarks=mp_landmarks,
        runs=runs,
        agreements=agreements,
        recall=recall,
        batch_vs_single_px=gap,
        threads=args.threads,
        repeats=args.repeats,
    )
    return format_report(rep), verdicts(rep)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.mediapipe_child:
        mediapipe_child(*args.mediapipe_child)
        return 0
    from bench.machine import cpu_snapshot, describe_machine, format_machine, others_cpu_share
    from bench.run import write_blocks
    from streaming.errors import ActionstreamError

    only = [s.strip() for s in args.only.split(",") if s.strip()]
    if not only or any(s not in SECTIONS for s in only):
        print(f"error: --only {args.only!r}: choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    command = "python -m bench.pose_bench " + " ".join(argv if argv is not None else sys.argv[1:])
    machine = describe_machine(args.device, measure_sgemm=False)
    blocks: dict[str, str] = {}
    titles = {
        "comparison": ("pose", "5. Pose pipeline vs MediaPipe"),
        "capacity": ("pose-capacity", "6. Streaming capacity with the pose bundle"),
    }
    try:
        for name in only:
            started, cpu0 = time.perf_counter(), cpu_snapshot()
            body, section_verdicts = run_comparison(args) if name == "comparison" else run_capacity(args)
            others = others_cpu_share(cpu0, cpu_snapshot(), machine.usable_cores)
            block, title = titles[name]
            load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            stamp = time.strftime("%Y-%m-%d %H:%M %Z")
            blocks[block] = (
                f"### {title}\n\n_`{command.strip()}`, {stamp}, {(time.perf_counter() - started) / 60:.1f} min_\n\n"
                f"{format_machine(machine)}\n- Load average after this section: {load_after}; other processes kept "
                f"{100 * others:.0f} % of the cores busy while it ran (/proc/stat minus this run)\n\n{body}"
            )
            blocks[f"targets-{block}"] = "\n".join(section_verdicts)
            print(f"\n{blocks[block]}\n\n{blocks[f'targets-{block}']}\n", flush=True)
            if args.write:  # after each section, so a later failure keeps this one's figures
                write_blocks(args.write, {k: blocks[k] for k in (block, f"targets-{block}")})
                log(f"wrote {block}, targets-{block} into {args.write}")
            machine = describe_machine(args.device, measure_sgemm=False)  # the next section's load before
    except ActionstreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
