"""A source seen through a camera's region of interest, with every frame shown to taps first.

The monitor needs two things a plain source does not give: the engine should see only a part of the frame (a
doorway, not the street behind it), and the event clips and annotated video need every frame, not only the ones
due for a feature. `TappedSource` wraps any source: its thread reads the inner source's frames, hands each full
frame to the taps (cheap callbacks: a clip ring, a video writer's queue) and queues the cropped frame for the
engine, keeping the inner source's stream time, states and reasons.

    source = TappedSource(open_source("rtsp://cam/stream"), Region(0.0, 0.2, 0.6, 1.0), taps=[ring.add])
    engine.add_source(source)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from streaming.person import Person
from streaming.sources import TERMINAL_STATES, Frame, Source

log = logging.getLogger("actionstream")

#: Longest the wrapper waits for the inner source before it looks at its stop flag again.
WAIT_S = 0.5

Tap = Callable[[Frame], None]


@dataclass(frozen=True)
class Region:
    """A crop rectangle in frame fractions: (x0, y0) top left, (x1, y1) bottom right, 0 <= x0 < x1 <= 1."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.x0 < self.x1 <= 1.0 and 0.0 <= self.y0 < self.y1 <= 1.0):
            raise ValueError(
                f"a region is [x0, y0, x1, y1] in frame fractions with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, "
                f"got [{self.x0}, {self.y0}, {self.x1}, {self.y1}]"
            )

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The rectangle in pixels of a width x height frame, at least one pixel each way."""
        x0, y0 = int(self.x0 * width), int(self.y0 * height)
        x1 = max(x0 + 1, min(width, round(self.x1 * width)))
        y1 = max(y0 + 1, min(height, round(self.y1 * height)))
        return x0, y0, x1, y1

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The region of `image` as its own contiguous array (the engine batches it like any frame)."""
        x0, y0, x1, y1 = self.pixels(image.shape[1], image.shape[0])
        return np.ascontiguousarray(image[y0:y1, x0:x1])

    def to_frame(self, person: Person) -> Person:
        """A person found in the cropped frame, in fractions of the full frame (for drawing on it)."""
        sx, sy = self.x1 - self.x0, self.y1 - self.y0
        bx0, by0, bx1, by1 = person.box
        landmarks = np.array(person.landmarks, np.float32, copy=True)
        landmarks[:, 0] = self.x0 + landmarks[:, 0] * sx
        landmarks[:, 1] = self.y0 + landmarks[:, 1] * sy
        box = (self.x0 + bx0 * sx, self.y0 + by0 * sy, self.x0 + bx1 * sx, self.y0 + by1 * sy)
        return Person(box=box, landmarks=landmarks, score=person.score)


class TappedSource(Source):
    """`inner`'s frames, each shown to `taps` (full frame) and queued cropped to `region` (None: whole frame).

    Same name, queue semantics and stream time as `inner`; its states are passed on, the terminal one only
    after its last frame. A tap that raises is logged and dropped, never the stream.
    """

    def __init__(self, inner: Source, region: Region | None = None, taps: Sequence[Tap] = ()):
        super().__init__(inner.name, inner.queue_frames, drop_oldest=inner.drop_oldest)
        self.inner = inner
        self.region = region
        self.taps: list[Tap] = list(taps)
        self._own_dropped = 0
        self._inner_wake = threading.Event()

    @property
    def dropped(self) -> int:  # type: ignore[override]
        """Frames dropped here and by the inner source to stay current."""
        return self._own_dropped + self.inner.dropped

    @dropped.setter
    def dropped(self, value: int) -> None:
        self._own_dropped = value - self.inner.dropped if hasattr(self, "inner") else value

    def request_stop(self) -> None:
        super().request_stop()
        self.inner.request_stop()
        self._inner_wake.set()

    def _run(self) -> None:
        inner = self.inner
        inner.attach(self._inner_wake)
        inner.start()
        terminal = None
        try:
            while not self._stop.is_set():
                if terminal is None:  # after the end, only queued frames are left: no need to wait
                    self._inner_wake.wait(WAIT_S)
                self._inner_wake.clear()
                while (frame := inner.read()) is not None:
                    self._show(frame)
                    image = frame.image if self.region is None else self.region.crop(frame.image)
                    if not self._emit(image, frame.t, frame.captured_at):
                        return
                for status in inner.pop_statuses():
                    if status.warmup is not None:
                        continue
                    if status.state in TERMINAL_STATES:
                        terminal = status
                    else:
                        self._set_state(status.state, status.reason)
                if terminal is not None and inner.ended:
                    self.truncated = inner.truncated  # a file cut short: its last window is not looped
                    self._set_state(terminal.state, terminal.reason)
                    return
        finally:
            inner.stop(timeout=1.0)

    def _show(self, frame: Frame) -> None:
        for tap in list(self.taps):
            try:
                tap(frame)
            except Exception:  # a broken clip ring or video writer must not stop the camera
                log.exception("%s: a frame tap failed and was removed", self.name)
                self.taps.remove(tap)
