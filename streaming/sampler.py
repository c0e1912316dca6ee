"""Choosing frames by time, not by count, so every source gives features at the bundle's rate.

The same code picks frames in training (`stride` sampling) and in the live engine, so a 40-step window spans
the same seconds in both, whether the source runs at 25, 29.97, 30 fps or irregularly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

#: A frame this much earlier than its due time still counts as on time (absorbs float rounding).
DUE_TOLERANCE_S = 1e-3


@dataclass
class RateSampler:
    """Decides, frame by frame, whether a frame is due for feature extraction at `fps` features per second.

    The first frame is always taken; after that, the first frame at or after each due time t0 + k/fps.
    Gaps longer than one period skip the missed due times instead of bursting to catch up.

        sampler = RateSampler(fps=10)
        due = [t for t in frame_times if sampler.take(t)]
    """

    fps: float
    next_due: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise ValueError(f"feature rate must be a positive number, got {self.fps}")

    @property
    def period(self) -> float:
        return 1.0 / self.fps

    def take(self, t: float) -> bool:
        if self.next_due is None:
            self.next_due = t + self.period
            return True
        if t < self.next_due - DUE_TOLERANCE_S:
            return False
        # advance by whole periods from the schedule (no drift), past t
        missed = math.floor((t - self.next_due + DUE_TOLERANCE_S) / self.period)
        self.next_due += (missed + 1) * self.period
        return True

    def reset(self) -> None:
        self.next_due = None


def stride_indices(times: list[float], fps: float) -> list[int]:
    """Indices of the frames a RateSampler takes from a clip with these frame times."""
    sampler = RateSampler(fps)
    return [i for i, t in enumerate(times) if sampler.take(t)]


def segment_indices(n_frames: int, segments: int, rng=None) -> list[int]:
    """One frame from each of `segments` equal parts of a clip: the centre, or a random one with `rng`.

    Clips with fewer frames than segments repeat frames (indices are non-decreasing).
    """
    if n_frames <= 0:
        raise ValueError("a clip with no frames has no segments")
    bounds = [n_frames * k / segments for k in range(segments + 1)]
    out = []
    for k in range(segments):
        lo, hi = bounds[k], bounds[k + 1]
        x = rng.uniform(lo, hi) if rng is not None else (lo + hi) / 2
        out.append(min(n_frames - 1, int(math.floor(x))))
    return out


def loop_to_window(n: int, window: int) -> list[int]:
    """Indices that fill a window from a sequence of n < window items by looping it (0,1,..,n-1,0,1,..).

    Training and the live engine both fill short clips this way.
    """
    if n <= 0:
        raise ValueError("cannot loop an empty sequence")
    return [i % n for i in range(window)]
