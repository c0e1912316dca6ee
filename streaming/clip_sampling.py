"""Which frames of a training clip become features, and how a clip's features become head windows.

Both modes extract the same thing: frames picked by timestamp at the feature rate with the live engine's
sampler, so a 25 fps and a 29.97 fps clip give the same spacing and the cache never depends on mode or window.

- `stride` (matches the live engine exactly): the clip's features at the feature rate are cut into `window`-step windows
  every `hop` steps; a clip shorter than a window is looped to fill one, as the live engine does.
- `segments` (the original report's method): one window per clip, one feature from each of `window` equal
  segments of the clip's features — the centre one at test, a random one at train (a fresh draw every
  epoch costs nothing because all candidates are cached). With a feature rate at or above the clip's frame rate every
  frame is a candidate, which is the report's method exactly; the default 10/s picks within about 0.1 s of
  it, and lets extraction stream frames in one pass without trusting the container's frame count (the exact
  method needs the count first). A segments window spans the whole clip, whatever its length, so the live
  engine, which samples at the manifest's feature rate, only approximates it (and warns).

    spec = Sampling("stride", feature_rate=10, window=40)
    idx = extraction_indices(frame_times, spec)     # frames whose features are computed and cached
    windows = clip_windows(features, spec)          # K×40×D for the head (rows of the cached features)
"""

from __future__ import annotations

import numpy as np

from streaming.sampler import Sampling, loop_to_window, segment_indices, stride_indices

#: Bumped when the cached features' meaning changes, so old caches are never read as new.
CACHE_FORMAT = 1


def cache_key(spec: Sampling) -> str:
    """Names what cached features depend on: the feature rate only (mode and window are applied later)."""
    return f"v{CACHE_FORMAT}-fps{float(spec.feature_rate)!r}"


def extraction_indices(times: list[float], spec: Sampling) -> list[int]:
    """The frames whose features the cache holds: by timestamp at spec.feature_rate, in both modes."""
    return stride_indices(times, spec.feature_rate)


def sample_clip(times: list[float], spec: Sampling, rng: np.random.Generator | None = None) -> list[int]:
    """Indices (into the clip's decoded frames) of the frames that make up the clip's sequence.

    stride: every frame due at spec.feature_rate. segments: `window` of those, one per equal segment — the centre at
    test (rng None), a random one with `rng` for train augmentation.
    """
    picked = extraction_indices(times, spec)
    if spec.mode == "stride":
        return picked
    return [picked[i] for i in segment_indices(len(picked), spec.window, rng)]


def default_hop(window: int) -> int:
    """A quarter window: at 10 features/s and 40 steps, a new window every second."""
    return max(1, window // 4)


def window_starts(n: int, window: int, hop: int | None = None) -> list[int]:
    """First step of each window cut from n features: every `hop` steps, plus one ending at the last feature.

    A clip shorter than a window gives one window at 0 (looped by windows_from_features).
    """
    if n <= 0:
        raise ValueError("a clip with no features has no windows")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    hop = default_hop(window) if hop is None else hop
    if hop < 1:
        raise ValueError(f"hop must be >= 1, got {hop}")
    if n <= window:
        return [0]
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] != n - window:  # keep the clip's end: the last seconds are often the action's end
        starts.append(n - window)
    return starts


def window_rows(n: int, window: int, hop: int | None = None, offset: int = 0) -> np.ndarray:
    """Row numbers (K×window int64) of the windows cut from a clip of n features, for indexing lazily.

    Windows start every `hop` steps from `offset` (< hop; shifts the grid, for augmentation) and one more ends
    at the last feature. A clip shorter than a window is looped to fill exactly one
    (streaming.sampler.loop_to_window), as the live engine fills its buffer from a short stream.
    """
    if n <= 0:
        raise ValueError("a clip with no features has no windows")
    if n < window:
        return np.asarray([loop_to_window(n, window)], np.int64)
    if not 0 <= offset <= n - window:
        raise ValueError(f"offset {offset} leaves no window in {n} features")
    starts = np.asarray(window_starts(n - offset, window, hop), np.int64) + offset
    return starts[:, None] + np.arange(window, dtype=np.int64)[None, :]


def windows_from_features(feats: np.ndarray, window: int, hop: int | None = None, offset: int = 0) -> np.ndarray:
    """Cut an N×D feature sequence into K×window×D windows (a new array; see window_rows for the rule).

    When all clips' windows would not fit in memory, keep the features once and index them with window_rows.
    """
    feats = np.asarray(feats)
    if feats.ndim != 2:
        raise ValueError(f"features must be N×D, got shape {feats.shape}")
    return feats[window_rows(len(feats), window, hop, offset)]


def clip_window_rows(
    n: int, spec: Sampling, hop: int | None = None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Row numbers (K×window) of the head's windows for a clip of n cached features, in either mode.

    stride: windows every `hop` steps (with `rng`: the start grid shifted by a random offset < hop).
    segments: one window, the centre of each of `window` equal segments (rng None) or a random draw with `rng`.
    """
    if spec.mode == "segments":
        return np.asarray([segment_indices(n, spec.window, rng)], np.int64)
    hop = default_hop(spec.window) if hop is None else hop
    offset = 0
    if rng is not None and n > spec.window:
        offset = int(rng.integers(0, min(hop, n - spec.window + 1)))
    return window_rows(n, spec.window, hop, offset)


def clip_windows(
    feats: np.ndarray, spec: Sampling, hop: int | None = None, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The head's windows (K×window×D) for one clip's cached features; see clip_window_rows."""
    feats = np.asarray(feats)
    if feats.ndim != 2:
        raise ValueError(f"features must be N×D, got shape {feats.shape}")
    return feats[clip_window_rows(len(feats), spec, hop, rng)]
