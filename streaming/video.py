"""Reading video files frame by frame with honest timestamps.

Never trusts the container's frame count (some real files report nonsense) or `int(fps)` (29.97 is not 29):
frames are read until the decoder stops, and each gets a time in seconds.

    for t, frame in iter_frames("clip.avi"):
        ...
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from streaming.errors import SourceError

#: Used only when a file declares no usable frame rate and gives no timestamps.
FALLBACK_FPS = 25.0


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself. `frame_count` is the container's claim, not a promise."""

    path: str
    width: int
    height: int
    fps: float
    frame_count: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 and self.frame_count > 0 else float("nan")


def open_capture(path: str | os.PathLike) -> cv2.VideoCapture:
    """Open a video file with OpenCV's FFmpeg backend; raise SourceError naming the file if it cannot."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such video file")
    if not p.is_file():
        raise SourceError(f"{p}: not a file")
    cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"{p}: cannot be opened as a video (unknown container or codec, or a damaged file)")
    return cap


def _sane_fps(value: float) -> float:
    return value if math.isfinite(value) and 1.0 <= value <= 1000.0 else 0.0


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a file's header facts (size, declared fps, claimed frame count)."""
    cap = open_capture(path)
    try:
        return VideoInfo(path=str(path), width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                         height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                         fps=_sane_fps(cap.get(cv2.CAP_PROP_FPS)),
                         frame_count=max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT))))
    finally:
        cap.release()


class FrameTimer:
    """Gives each decoded frame a monotonically increasing time in seconds.

    Prefers the decoder's presentation time; falls back to the declared fps (or FALLBACK_FPS) when the
    container gives none or gives times that go backwards.
    """

    def __init__(self, fps: float):
        self.period = 1.0 / (_sane_fps(fps) or FALLBACK_FPS)
        self.last: float | None = None

    def next(self, pos_msec: float) -> float:
        t = pos_msec / 1000.0 if math.isfinite(pos_msec) else -1.0
        if self.last is None:
            t = max(t, 0.0)
        elif t <= self.last:
            t = self.last + self.period
        self.last = t
        return t


class FrameReader:
    """Iterates (t, frame) over a file and, at the end, knows whether it looked cut short.

        reader = FrameReader("clip.mp4")
        for t, frame in reader: ...
        if reader.truncated: print(reader.end_reason)
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.info = probe_video(self.path)
        self.frames_read = 0
        self.end_reason = ""

    @property
    def truncated(self) -> bool:
        return self.end_reason.startswith("cut short")

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        cap = open_capture(self.path)
        timer = FrameTimer(self.info.fps)
        try:
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                t = timer.next(cap.get(cv2.CAP_PROP_POS_MSEC))
                self.frames_read += 1
                yield t, frame
        finally:
            cap.release()
        claimed = self.info.frame_count
        if self.frames_read == 0:
            self.end_reason = "no decodable frames"
            raise SourceError(f"{self.path}: no decodable frames (damaged file or unsupported codec)")
        if claimed > 0 and self.frames_read < 0.9 * claimed - 2:
            self.end_reason = f"cut short: decoded {self.frames_read} of {claimed} frames the header claims"
        else:
            self.end_reason = "end of file"


def iter_frames(path: str | os.PathLike) -> Iterator[tuple[float, np.ndarray]]:
    """Every decodable frame of a file with its time in seconds. Raises SourceError if none decode."""
    yield from FrameReader(path)
