"""An annotated output video: each frame with the current label and score, and the person's box and skeleton
when the bundle finds people.

Frames come in through `add` (a source tap, from the capture thread) and wait in a small bounded queue; a writer
thread draws and encodes them, so a slow disk never holds up a camera (frames it cannot keep up with are
dropped and counted). The video keeps real time: frames are placed by their stream time at `fps`, a gap repeats
the last frame (up to MAX_GAP_S) and extra frames are skipped. Each file is written through streaming.atomic and
appears only when complete; with `segment_s` a long run becomes a file per segment (`<stem>-<start>.mp4`), and
with `max_bytes` the oldest segments of this video go once they add up to more (a camera recorded for weeks
never fills the disk; the segment just finished always stays).

    video = AnnotatedVideo(Path("out.mp4"), latest=lambda: (engine.latest_prediction("cam"), None))
    source = TappedSource(open_source("rtsp://..."), taps=[video.add])
    ...
    video.close()
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from streaming.atomic import atomic_file
from streaming.errors import ActionstreamError
from streaming.events import Prediction
from streaming.person import Person
from streaming.pose_draw import draw_person
from streaming.sources import Frame, Source
from streaming.tapped_source import Region, TappedSource

log = logging.getLogger("actionstream")

#: Frames waiting for the writer thread; a camera faster than the disk loses the newest beyond this.
QUEUE_FRAMES = 32
#: Longest gap (stream seconds) filled by repeating the last frame; longer gaps are left out.
MAX_GAP_S = 2.0
CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
BAND_BGR = (24, 24, 24)
LABEL_BGR = (255, 255, 255)
IDLE_BGR = (170, 170, 170)
REGION_BGR = (255, 160, 0)

Latest = Callable[[], tuple[Prediction | None, Person | None]]


def annotate_frame(
    image: np.ndarray, prediction: Prediction | None, person: Person | None, region: Region | None = None
) -> np.ndarray:
    """A copy of `image` with the label band on top, the region of interest outlined and the person drawn.

    `person` is in fractions of the frame the engine saw (the region when there is one).
    """
    if person is not None:
        out = draw_person(image, region.to_frame(person) if region is not None else person)
    else:
        out = image.copy()
    h, w = out.shape[:2]
    if region is not None:
        x0, y0, x1, y1 = region.pixels(w, h)
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), REGION_BGR, max(1, round(w / 480)))
    if prediction is None:
        text, colour = "warming up", IDLE_BGR
    elif prediction.no_person:
        text, colour = "no person in view", IDLE_BGR
    else:
        text, colour = f"{prediction.label}  {prediction.score:.2f}", LABEL_BGR
    scale = max(0.4, w / 900)
    band = int(30 * scale)
    out[:band] = (out[:band] * 0.35 + np.array(BAND_BGR) * 0.65).astype(np.uint8)
    cv2.putText(
        out, text, (int(8 * scale), int(band * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, colour, 2, cv2.LINE_AA
    )
    return out


class AnnotatedVideo:
    """Writes `path` (or one file per `segment_s` of wall time) from tapped frames with the latest prediction."""

    def __init__(
        self,
        path: Path,
        latest: Latest,
        fps: float = 15.0,
        region: Region | None = None,
        segment_s: float | None = None,
        width: int | None = None,
        lossless: bool = False,
        max_bytes: int | None = None,
    ):
        self.path = Path(path)
        codec = CODECS.get(self.path.suffix.lower())
        if codec is None:
            raise ActionstreamError(f"{self.path}: the annotated video's name must end in {', '.join(CODECS)}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.codec = codec
        self.latest = latest
        self.fps = fps
        self.region = region
        self.segment_s = segment_s
        self.width = width
        self.lossless = lossless  # a replayed file waits for the writer instead of dropping frames
        self.max_bytes = max_bytes
        self.removed: list[Path] = []
        self.dropped = 0
        self.written_frames = 0
        self.files: list[Path] = []
        self.error = ""
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"video-{self.path.stem}", daemon=True)
        self._thread.start()

    def add(self, frame: Frame) -> None:
        """A source tap: queue the frame with the current prediction and person (a live source never waits)."""
        if self._stop.is_set() or self.error:
            return
        prediction, person = self.latest()
        item = (frame, prediction, person)
        while self.lossless and not self._stop.is_set() and self._thread.is_alive():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def close(self, timeout_s: float = 10.0) -> None:
        """Write what is queued and finish the current file (it appears only now)."""
        self._stop.set()
        self._thread.join(timeout_s)

    # -- the writer thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        segment = None
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.5)
                except queue.Empty:
                    if self._stop.is_set():
                        break
                    continue
                frame, prediction, person = item
                image = annotate_frame(self._scaled(frame.image), prediction, person, self.region)
                if segment is not None and segment.full(image):
                    self._finish(segment)
                    segment = None
                if segment is None:
                    segment = _Segment(self._next_path(), self.codec, self.fps, image.shape[1], image.shape[0])
                    self.files.append(segment.path)
                self.written_frames += segment.write(frame.t, image)
                if self.segment_s is not None and time.monotonic() - segment.started_wall >= self.segment_s:
                    self._finish(segment)
                    segment = None
        except Exception as exc:  # a full disk or a codec problem: say it once, keep the camera running
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("annotated video %s stopped: %s", self.path, self.error)
        finally:
            if segment is not None:
                self._finish(segment)

    def _finish(self, segment: _Segment) -> None:
        segment.close()
        if self.max_bytes is not None and self.segment_s is not None:
            self._enforce_budget(keep=segment.path)

    def _enforce_budget(self, keep: Path) -> None:
        """Remove this video's oldest segments (by the start time in their names) until the rest fit `max_bytes`."""
        total, segments = 0, []
        for p in self.path.parent.glob(f"{self.path.stem}-*{self.path.suffix}"):
            m = self._segment_name.fullmatch(p.name)
            if m is None:
                continue
            try:
                size = p.stat().st_size
            except FileNotFoundError:
                continue
            segments.append(((m.group(1), int(m.group(2) or 0)), p, size))
            total += size
        for _, old, size in sorted(segments):
            if total <= self.max_bytes:
                break
            if old == keep:
                continue
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
                self.removed.append(old)
            total -= size

    def _scaled(self, image: np.ndarray) -> np.ndarray:
        if self.width is None or image.shape[1] <= self.width:
            return image
        h = max(2, round(image.shape[0] * self.width / image.shape[1]))
        return cv2.resize(image, (self.width, h), interpolation=cv2.INTER_AREA)

    @property
    def _segment_name(self) -> re.Pattern:
        return re.compile(re.escape(self.path.stem) + r"-(\d{8}-\d{6})(?:-(\d+))?" + re.escape(self.path.suffix))

    def _next_path(self) -> Path:
        if self.segment_s is None:
            return self.path
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path, n = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}"), 0
        while path in self.files or path.exists():  # two segments in one second (the camera changed resolution)
            n += 1
            path = self.path.with_name(f"{self.path.stem}-{stamp}-{n}{self.path.suffix}")
        return path


def save_videos(
    sources: list[Source], path: Path, engine, fps: float = 25.0
) -> tuple[list[Source], list[AnnotatedVideo]]:
    """`run --save out.mp4`: wrap each source so its frames go into an annotated video, labelled with `engine`'s
    latest prediction and person for that stream; `path` for one source, `<stem>-<stream><suffix>` for several.
    A replayed file (`--fast`) waits for the writer, a live source drops what the writer cannot keep up with."""
    wrapped, videos = [], []
    for source in sources:
        target = path if len(sources) == 1 else path.with_name(f"{path.stem}-{_file_part(source.name)}{path.suffix}")
        name = source.name
        video = AnnotatedVideo(
            target,
            latest=lambda name=name: (engine.latest_prediction(name), engine.latest_person(name)),
            fps=fps,
            lossless=not source.drop_oldest,
        )
        videos.append(video)
        wrapped.append(TappedSource(source, taps=[video.add]))
    return wrapped, videos


def _file_part(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


class _Segment:
    """One output file being written: a temporary file renamed into place by close()."""

    def __init__(self, path: Path, codec: str, fps: float, width: int, height: int):
        self.path = path
        self.fps = fps
        self.size = (width, height)
        self.started_wall = time.monotonic()
        self._t0: float | None = None
        self._count = 0
        self._last: np.ndarray | None = None
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_file(path, keep_suffix=True))
        self._writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*codec), fps, self.size)
        if not self._writer.isOpened():
            error = RuntimeError(f"OpenCV cannot write {codec} video to {path}")
            self._stack.__exit__(RuntimeError, error, None)  # removes the temporary file
            raise error

    def full(self, image: np.ndarray) -> bool:
        """A frame of another size cannot go into this file (the camera changed resolution): start a new one."""
        return (image.shape[1], image.shape[0]) != self.size

    def write(self, t: float, image: np.ndarray) -> int:
        """Place the frame at stream time `t`: repeat the last frame over a short gap, skip a frame ahead of time."""
        if self._t0 is None or t < self._t0 + (self._count - 1) / self.fps - MAX_GAP_S:
            self._t0 = t - self._count / self.fps  # first frame, or time went back: continue from here
        due = round((t - self._t0) * self.fps)  # index this frame belongs at
        n = 0
        if due > self._count and self._last is not None:
            for _ in range(min(due - self._count, round(MAX_GAP_S * self.fps))):
                self._writer.write(self._last)
                n += 1
            self._count = due
        elif due < self._count:
            return 0  # ahead of the video's clock: skip
        self._writer.write(image)
        self._count += 1
        self._last = image
        return n + 1

    def close(self) -> None:
        self._writer.release()
        self._stack.close()
