"""Steady labels from noisy window predictions: an exponential moving average plus hysteresis.

A live display that shows each window's argmax flickers between close classes. The EMA damps the
probabilities; the hysteresis replaces the displayed label only after a new one has led for `hold_s` seconds
of stream time (stream time, so a replay at full speed behaves exactly like the live stream).

    smoother = Smoother(n_classes=3, alpha=0.5, hold_s=1.0)
    label_index, score, probs = smoother.update(window_probs, t)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Smoother:
    """EMA over class probabilities (`alpha` = weight of the newest window) and a held display label.

    `tolerance_s` absorbs the jitter of sampled frame times (half a feature period is right), so a hold of
    1 s with one prediction per second means "leads in two predictions in a row", not sometimes three.
    """

    n_classes: int
    alpha: float = 0.5
    hold_s: float = 1.0
    tolerance_s: float = 0.0

    def __post_init__(self) -> None:
        if self.n_classes <= 0:
            raise ValueError(f"n_classes must be positive, got {self.n_classes}")
        if not 0.0 < self.alpha <= 1.0:
            raise ValueError(f"EMA alpha must be in (0, 1], got {self.alpha}")
        if self.hold_s < 0 or self.tolerance_s < 0:
            raise ValueError("hold_s and tolerance_s must be >= 0")
        self.probs = np.zeros(self.n_classes, np.float32)
        self.reset()

    def reset(self) -> None:
        self.probs[:] = 0.0
        self.started = False
        self.label: int = -1  # displayed label index (-1: nothing yet)
        self._candidate: int = -1  # label leading the EMA but not yet displayed
        self._candidate_since = 0.0

    def update(self, window_probs: np.ndarray, t: float) -> tuple[int, float, np.ndarray]:
        """Fold in one window's probabilities at stream time t; returns (label index, its score, EMA probs)."""
        p = np.asarray(window_probs, np.float32)
        if not self.started:
            self.probs[:] = p
            self.started = True
        else:
            self.probs *= 1.0 - self.alpha
            self.probs += self.alpha * p
        lead = int(np.argmax(self.probs))
        if self.label < 0:
            self.label = lead
        elif lead == self.label:
            self._candidate = -1
        elif lead != self._candidate:
            self._candidate, self._candidate_since = lead, t
        if self._candidate >= 0 and t - self._candidate_since >= self.hold_s - self.tolerance_s:
            self.label, self._candidate = self._candidate, -1
        return self.label, float(self.probs[self.label]), self.probs
