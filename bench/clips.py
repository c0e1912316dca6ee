"""The videos the benchmarks read: the genuine UCF101 clips beside the repository when present, else synthetic ones.

Real XviD clips make decode costs and int8 calibration realistic; a fresh clone without ../shared still runs
on synthetic clips in UCF101 layout (training.synth), and the report says which it used.

    clips = bench_clips(cache_dir)          # Clips(paths=[...], real=True)
    frames = read_frames(clips.paths, 32)   # BGR uint8 frames spread over the clips
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streaming.video import iter_frames

VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov")


def ucf101_mini() -> Path:
    """Where the genuine sample clips live: ../shared/data/ucf101-mini beside the repository."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ucf101-mini"


@dataclass(frozen=True)
class Clips:
    paths: tuple[Path, ...]
    real: bool

    @property
    def label(self) -> str:
        return "genuine UCF101 clips (../shared/data/ucf101-mini)" if self.real else "synthetic clips (training.synth)"


def list_videos(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())


def synthetic_dataset(out: Path, clips_per_class: int, classes: int | None = None, seed: int = 0) -> list[Path]:
    """Synthetic clips in UCF101 layout (320x240, 25 fps, 2-10 s, XviD) of the first `classes` actions (default
    all), written once and reused."""
    from training.synth import ACTIONS, write_dataset

    write_dataset(out, seed=seed, clips_per_class=clips_per_class, groups=2, actions=ACTIONS[:classes], progress=False)
    videos = list_videos(out / "UCF-101")
    if not videos:
        raise RuntimeError(f"{out}: training.synth.write_dataset wrote no videos")
    return videos


def bench_clips(cache_dir: Path, prefer_real: bool = True) -> Clips:
    """The genuine clips when present, else a small synthetic set cached under `cache_dir`."""
    root = ucf101_mini()
    if prefer_real and root.is_dir():
        videos = list_videos(root)
        if videos:
            return Clips(tuple(videos), real=True)
    return Clips(tuple(synthetic_dataset(cache_dir / "synthetic-ucf101-2", clips_per_class=2)), real=False)


def read_frames(paths: tuple[Path, ...] | list[Path], count: int, skip_s: float = 0.5) -> list[np.ndarray]:
    """`count` decoded BGR frames, taken round-robin from the clips, one every `skip_s` seconds of each."""
    per_clip = -(-count // max(1, len(paths)))
    pools: list[list[np.ndarray]] = []
    for path in paths:
        picked, next_t = [], 0.0
        for t, frame in iter_frames(path):
            if t >= next_t:
                picked.append(frame)
                next_t = t + skip_s
                if len(picked) == per_clip:
                    break
        pools.append(picked)
    frames: list[np.ndarray] = []
    i = 0
    while len(frames) < count and any(pools):
        pool = pools[i % len(pools)]
        if pool:
            frames.append(pool.pop(0))
        i += 1
    if not frames:
        raise RuntimeError("no frames could be read from the benchmark clips")
    while len(frames) < count:  # fewer frames than asked: repeat (timing does not depend on content)
        frames.append(frames[len(frames) % max(1, len(frames))])
    return frames
