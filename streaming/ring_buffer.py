"""A fixed window of the latest feature vectors of one stream.

Preallocated once; a push writes one row (twice, see below) and never allocates, and the ordered window is a
view, not a copy, so a long run keeps memory flat and the head gets its input without reshuffling.

    ring = RingBuffer(window=40, dim=2048)
    ring.push(feature)                 # O(1)
    if ring.full: head(ring.view()[None])
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """The last `window` rows of `dim` float32 features, oldest first.

    Every row is stored twice, at i and i + window, in a 2·window buffer: the latest `window` rows are then
    always one contiguous slice, so `view()` needs no copy and no modulo arithmetic.
    """

    def __init__(self, window: int, dim: int):
        if window <= 0 or dim <= 0:
            raise ValueError(f"window and dim must be positive, got window={window}, dim={dim}")
        self.window = window
        self.dim = dim
        self._data = np.zeros((2 * window, dim), np.float32)
        self._next = 0  # slot the next push writes (0..window-1)
        self.count = 0  # rows pushed since the last reset (may exceed window)

    def __len__(self) -> int:
        return min(self.count, self.window)

    @property
    def full(self) -> bool:
        return self.count >= self.window

    def push(self, row: np.ndarray) -> None:
        self._data[self._next] = row
        self._data[self._next + self.window] = row
        self._next = (self._next + 1) % self.window
        self.count += 1

    def view(self) -> np.ndarray:
        """The held rows, oldest first (len(self) × dim), as a read-only view valid until the next push."""
        n = len(self)
        start = self._next + self.window - n
        v = self._data[start : start + n]
        v.flags.writeable = False
        return v

    def copy_to(self, out: np.ndarray) -> np.ndarray:
        """Copy the ordered rows into `out` (e.g. a slot of a preallocated head batch)."""
        v = self.view()
        out[: len(v)] = v
        return out

    def reset(self) -> None:
        self._next = 0
        self.count = 0
