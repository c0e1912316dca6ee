"""The window rules of one stream, with no I/O: features with timestamps in, "a window is due" out.

The engine feeds every feature of a stream here, in stream-time order, and does what the answer says; the rules
(warm-up, a prediction every `hop` features, a restart after a gap, the last and the partial window at the end of
a stream, a restart when a person comes back after a long absence) live in this one class and are tested
without any model:

    window = StreamWindow(window=40, dim=2048, hop=10)
    update = window.push(feature, t=3.9)
    if update.restarted: say(update.restarted)          # e.g. "gap of 8.2 s in the stream"
    if update.due is Due.WINDOW: window.take_window(head_batch[k])
    ...
    if window.finish() is Due.PARTIAL: window.take_window(head_batch[k], partial=True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

import numpy as np

from streaming.ring_buffer import RingBuffer
from streaming.sampler import loop_to_window

#: A jump in stream time longer than this (a paused webcam, a reconnect) restarts the stream's window:
#: features from both sides of a gap do not make one 4-second action. The same bound applies to a stretch with
#: nobody in view (pose extractors): when a person appears after it, their window starts afresh.
GAP_RESET_S = 2.0
#: A stream that ends before its first full window is classified on what it has, looped (as training fills short
#: clips), only if that is at least this share of a window (1 s of a 4 s window): one frame looped forty times is
#: no action, and its "prediction" would be the model's guess on a still picture.
MIN_PARTIAL_SHARE = 0.25


class Due(Enum):
    """What the head should classify now."""

    NOTHING = "nothing"
    WINDOW = "window"  # the full window of the latest features
    PARTIAL = "partial"  # a stream that ended before its first full window: what it has, looped to full length


@dataclass(frozen=True)
class WindowUpdate:
    """What one new feature did. `restarted`: why the window restarted before it ("" when it did not, or held
    nothing); `warmup`: the share of the first window filled, at the steps worth reporting (else None)."""

    due: Due = Due.NOTHING
    restarted: str = ""
    warmup: float | None = None


class StreamWindow:
    """The ring buffer of one stream's latest features and the rules that say when it goes to the head.

    `person` (per feature): True/False when the extractor looks for people, None when it does not (cnn). A window
    whose newest feature has no person is still due on schedule: the engine reports "no person in view" for it
    instead of classifying it (see `person_in_view`).
    """

    def __init__(self, window: int, dim: int, hop: int, gap_reset_s: float = GAP_RESET_S):
        if hop < 1:
            raise ValueError(f"hop must be >= 1 feature, got {hop}")
        if not gap_reset_s > 0:
            raise ValueError(f"gap_reset_s must be > 0, got {gap_reset_s}")
        self.window = window
        self.hop = hop
        self.gap_reset_s = gap_reset_s
        self.min_partial = max(1, math.ceil(window * MIN_PARTIAL_SHARE))  # features a looped window needs
        self.ring = RingBuffer(window, dim)
        self.features = 0  # features ever pushed
        self.windows = 0  # windows ever taken
        self.newest_t = 0.0  # stream time of the newest feature
        self.person_in_view: bool | None = None  # the newest feature's person flag
        self._last_t: float | None = None  # stream time of the previous feature (across restarts)
        self._first_t: float | None = None  # of the first feature of the current window
        self._last_person_t: float | None = None  # of the newest feature with a person, in the current window
        self._since_window = 0  # features since the last window taken (or the restart)
        self._window_count = 0  # windows taken since the restart
        self._pending_restart = ""  # why the window restarts at the next feature (e.g. a reconnect)

    @property
    def count(self) -> int:
        """Features in the current window (since the restart; may exceed `window`)."""
        return self.ring.count

    @property
    def full(self) -> bool:
        return self.ring.full

    @property
    def too_short(self) -> bool:
        """Never a window, and too few features for a looped one (MIN_PARTIAL_SHARE): nothing to classify."""
        return self.windows == 0 and 0 < self.ring.count < self.min_partial

    def restart_next(self, why: str) -> None:
        """Restart the window before the next feature (a reconnected source), if the stream had any frame."""
        if self._last_t is not None:
            self._pending_restart = why

    def push(self, feature: np.ndarray, t: float, person: bool | None = None) -> WindowUpdate:
        """Add the feature of the frame at stream time `t` (after a restart when the rules say so)."""
        why = self._pending_restart
        if self._last_t is not None and t - self._last_t > self.gap_reset_s:
            why = f"gap of {t - self._last_t:.1f} s in the stream"
        elif person and self.ring.count:
            seen = self._last_person_t if self._last_person_t is not None else self._first_t
            if t - seen > self.gap_reset_s:
                why = f"nobody in view for {t - seen:.1f} s"
        restarted = ""
        if why:
            restarted = why if self.ring.count else ""
            self._restart()
        self._last_t = t
        if self.ring.count == 0:
            self._first_t = t
        if person:
            self._last_person_t = t
        self.ring.push(feature)
        self.features += 1
        self._since_window += 1
        self.newest_t = t
        self.person_in_view = person
        if self.ring.full:
            if self._window_count == 0 or self._since_window >= self.hop:
                return WindowUpdate(Due.WINDOW, restarted)
            return WindowUpdate(Due.NOTHING, restarted)
        if self.ring.count == 1 or self.ring.count % self.hop == 0:
            return WindowUpdate(Due.NOTHING, restarted, warmup=self.ring.count / self.window)
        return WindowUpdate(Due.NOTHING, restarted)

    def finish(self) -> Due:
        """The stream ended: its last seconds as a last full window (as training's last window of a clip), or,
        for a stream that never filled one, what it has, looped (as training fills short clips), when that is at
        least `min_partial` features (see `too_short`)."""
        if self.windows == 0:
            return Due.PARTIAL if self.ring.count >= self.min_partial else Due.NOTHING
        if self.ring.full and self._since_window > 0:
            return Due.WINDOW
        return Due.NOTHING

    def take_window(self, out: np.ndarray | None, partial: bool = False) -> None:
        """Copy the window, oldest feature first, into `out` (window x dim, e.g. a slot of the head's batch) and
        count it as taken. `partial`: fill a short window by looping it. `out` None: count it without a copy (a
        window with nobody in view is reported, not classified)."""
        if out is None:
            pass
        elif partial:
            held = self.ring.view()
            out[:] = held[loop_to_window(len(held), self.window)]
        else:
            self.ring.copy_to(out)
        self._since_window = 0
        self._window_count += 1
        self.windows += 1

    def _restart(self) -> None:
        self.ring.reset()
        self._since_window = self._window_count = 0
        self._first_t = self._last_person_t = None
        self._pending_restart = ""
