"""Choosing frames by time, not by count, so every source gives features at the bundle's rate.

The same code picks frames in training (`stride` sampling) and in the live engine, so a 40-step window spans
the same seconds in both, whether the source runs at 25, 29.97, 30 fps or irregularly.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

#: A frame this much earlier than its due time still counts as on time (absorbs float rounding).
DUE_TOLERANCE_S = 1e-3
#: How many features the head sees at once, and how many features per second: a window spans 4 s by default.
DEFAULT_WINDOW = 40
DEFAULT_FEATURE_RATE = 10.0
SAMPLING_MODES = ("stride", "segments")


@dataclass(frozen=True)
class Sampling:
    """How a head's features are sampled: the one contract training, the bundle and the live engine share.

    `stride`: features at `feature_rate` per second (by timestamp), cut into `window`-step windows; the live
    engine does exactly this. `segments`: one feature from each of `window` equal segments of a clip (the
    original report's method); a window spans the whole clip, so the live engine only approximates it.
    `feature_rate` is features per second, never a video's frame rate.
    """

    mode: str = "stride"
    feature_rate: float = DEFAULT_FEATURE_RATE
    window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.mode not in SAMPLING_MODES:
            raise ValueError(f"sampling mode must be one of {', '.join(SAMPLING_MODES)}, got {self.mode!r}")
        rate = self.feature_rate
        if (
            isinstance(rate, bool)
            or not isinstance(rate, numbers.Real)
            or not (math.isfinite(rate) and 0 < rate <= 1000)
        ):
            raise ValueError(f"feature rate must be a number in (0, 1000] features per second, got {rate!r}")
        if isinstance(self.window, bool) or not isinstance(self.window, numbers.Integral) or self.window < 1:
            raise ValueError(f"window must be a positive whole number of steps, got {self.window!r}")
        object.__setattr__(self, "feature_rate", float(rate))  # one spelling: 10 and 10.0 are the same
        object.__setattr__(self, "window", int(self.window))

    @property
    def window_seconds(self) -> float:
        """How long a stride window spans (segments windows span whole clips instead)."""
        return self.window / self.feature_rate


@dataclass
class RateSampler:
    """Decides, frame by frame, whether a frame is due for feature extraction at `fps` features per second.

    The first frame is always taken; after that, the first frame at or after each due time t0 + k/fps.
    Gaps longer than one period skip the missed due times instead of bursting to catch up.

        sampler = RateSampler(feature_rate=10)
        due = [t for t in frame_times if sampler.take(t)]
    """

    feature_rate: float
    next_due: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not (self.feature_rate > 0 and math.isfinite(self.feature_rate)):
            raise ValueError(f"feature rate must be a positive number, got {self.feature_rate}")

    @property
    def period(self) -> float:
        return 1.0 / self.feature_rate

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


def stride_indices(times: list[float], feature_rate: float) -> list[int]:
    """Indices of the frames a RateSampler takes from a clip with these frame times."""
    sampler = RateSampler(feature_rate)
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
