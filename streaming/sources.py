"""Where frames come from: files, webcams, network cameras, and frames pushed in by the dashboard.

Each source runs its own capture thread and hands frames over through a small bounded queue. Live sources
drop the oldest queued frame when the consumer falls behind (and count it), so what the engine sees stays
current; a file replayed for evaluation blocks instead and drops nothing. The engine has each source sample
frames by time in its capture thread (`sample_at`), so the queue holds only frames due for a feature: a slow
engine step then costs nothing, where a queue of every 25 fps frame would overflow in 160 ms. Every state change
(connecting, live, reconnecting, ended, failed) is kept as a Status with a reason for the engine to forward.

    source = open_source("rtsp://cam.local/stream")
    source.start()
    frame = source.read(timeout=1.0)      # Frame(t, image, captured_at) or None
    source.stop()
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import cv2
import numpy as np

from streaming.errors import SourceError
from streaming.events import SourceState, Status
from streaming.sampler import RateSampler
from streaming.video import FALLBACK_FPS, FrameReader, opencv_log_at_most

log = logging.getLogger("actionstream")

#: Frames a live source holds before it drops the oldest: enough to ride out one slow engine step.
LIVE_QUEUE_FRAMES = 4
#: Frames a replay (no-drop) source decodes ahead of the engine: lets the engine batch several at once.
REPLAY_QUEUE_FRAMES = 64
#: ...unless that many frames would hold more than this: a replay of a 4K file (25 MB a frame) queues about
#: 10, not 64 (1.6 GB). Decided at the first frame; never fewer than MIN_REPLAY_QUEUE_FRAMES.
REPLAY_QUEUE_BYTES = 256 << 20
MIN_REPLAY_QUEUE_FRAMES = 4
#: Status changes kept for a consumer that has not collected them yet (older ones are discarded).
STATUS_BACKLOG = 64
#: A local camera that sends no frame for this long is taken as lost and reopened (a network camera has its own
#: read timeout).
CAMERA_READ_TIMEOUT_S = 5.0
NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
TERMINAL_STATES = (SourceState.ENDED, SourceState.FAILED)


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame. `t`: stream time in seconds; `captured_at`: time.monotonic() when it was captured.

    The image is shared with whoever else holds the frame (engine, dashboard): treat it as read-only.
    """

    t: float
    image: np.ndarray
    captured_at: float = field(default_factory=time.monotonic)


class Source:
    """Base of all sources: a capture thread (in subclasses), a bounded frame queue and a state with a reason.

    `captured` counts frames the source produced; `dropped` counts queued frames discarded to stay current;
    `latest` is the newest captured frame, queued or not (what a preview shows).
    """

    def __init__(
        self, name: str, queue_frames: int = LIVE_QUEUE_FRAMES, drop_oldest: bool = True, queue_bytes: int | None = None
    ):
        if not name:
            raise SourceError("a source needs a non-empty name")
        if queue_frames <= 0:
            raise ValueError(f"queue_frames must be positive, got {queue_frames}")
        if queue_bytes is not None and queue_bytes <= 0:
            raise ValueError(f"queue_bytes must be positive, got {queue_bytes}")
        self.name = name
        self.state = SourceState.CONNECTING
        self.reason = ""
        self.dropped = 0
        self.captured = 0
        self.queue_frames = queue_frames  # lowered at the first frame when queue_bytes would be exceeded
        self.queue_bytes = queue_bytes
        self.drop_oldest = drop_oldest
        self.latest: Frame | None = None
        self.truncated = False  # ended before its data did (a file cut short): its last window is not whole
        self._sampler: RateSampler | None = None
        self._frames: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._statuses: deque[Status] = deque(maxlen=STATUS_BACKLOG)
        self._wakeups: list[threading.Event] = []

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, state={self.state.value})"

    # -- consumer side ---------------------------------------------------------------------------------------

    def attach(self, wakeup: threading.Event) -> None:
        """Set `wakeup` whenever a frame or a state change arrives (how the engine waits on many sources)."""
        self._wakeups.append(wakeup)
        wakeup.set()

    def sample_at(self, fps: float) -> None:
        """Queue only the frames due at `fps` per second (RateSampler, as in training); the rest only update
        `latest` and `captured`. Call before start()."""
        sampler = RateSampler(fps)
        with self._cond:
            self._sampler = sampler

    def start(self) -> None:
        """Start the capture thread (once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run_guarded, name=f"source-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Tell the capture thread to end, without waiting (to stop many sources at once)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the capture thread to end and wait up to `timeout` s.

        A thread blocked inside OpenCV (a network open or read) cannot be interrupted; it is a daemon and
        leaves once OpenCV's own timeout returns.
        """
        self.request_stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self.state not in TERMINAL_STATES:
            self._set_state(SourceState.ENDED, "stopped")

    def read(self, timeout: float = 0.0) -> Frame | None:
        """The oldest queued frame, waiting up to `timeout` s for one; None when there is none."""
        with self._cond:
            if not self._frames and timeout > 0:
                self._cond.wait_for(lambda: self._frames or self.state in TERMINAL_STATES, timeout)
            if not self._frames:
                return None
            frame = self._frames.popleft()
            self._cond.notify_all()  # a blocked replay producer may go on
            return frame

    def pending(self) -> int:
        return len(self._frames)

    @property
    def ended(self) -> bool:
        """True once the source has ended or failed and its queued frames have all been read."""
        return self.state in TERMINAL_STATES and not self._frames

    def pop_statuses(self) -> list[Status]:
        """State changes since the last call, oldest first."""
        out = []
        while True:
            try:
                out.append(self._statuses.popleft())
            except IndexError:
                return out

    # -- producer side ---------------------------------------------------------------------------------------

    def _notify(self) -> None:
        for w in self._wakeups:
            w.set()

    def _set_state(self, state: SourceState, reason: str = "") -> None:
        if (state == self.state and reason == self.reason) or self.state in TERMINAL_STATES:
            return  # ended and failed are final: a late capture thread cannot revive a stopped source
        self.state, self.reason = state, reason
        self._statuses.append(Status(stream=self.name, state=state, reason=reason))
        if state in TERMINAL_STATES:
            with self._cond:
                self._cond.notify_all()
        log.debug("source %s: %s %s", self.name, state.value, reason)
        self._notify()

    def _emit(self, image: np.ndarray, t: float, captured_at: float | None = None) -> bool:
        """Queue a frame: drop the oldest when full (live), or wait for room (replay). False if stopped."""
        frame = Frame(t=t, image=image, captured_at=time.monotonic() if captured_at is None else captured_at)
        with self._cond:
            self.latest = frame
            if self._sampler is not None and not self._sampler.take(t):
                self.captured += 1
                return True  # not due for a feature: nobody waits for it
            if self.queue_bytes is not None and self.captured == 0:
                fit = self.queue_bytes // max(1, image.nbytes)
                self.queue_frames = min(self.queue_frames, max(MIN_REPLAY_QUEUE_FRAMES, fit))
            if len(self._frames) >= self.queue_frames:
                if self.drop_oldest:
                    self._frames.popleft()
                    self.dropped += 1
                else:
                    self._cond.wait_for(lambda: len(self._frames) < self.queue_frames or self._stop.is_set())
                    if self._stop.is_set():
                        return False
            self._frames.append(frame)
            self.captured += 1
            self._cond.notify_all()
        self._notify()
        return True

    def _run(self) -> None:
        raise NotImplementedError

    def _run_guarded(self) -> None:
        try:
            self._run()
        except SourceError as exc:
            self._set_state(SourceState.FAILED, str(exc))
        except Exception as exc:  # a bug must not kill the engine silently: say it, keep the trace in the log
            log.exception("source %s crashed", self.name)
            self._set_state(SourceState.FAILED, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if self.state not in TERMINAL_STATES:
                self._set_state(SourceState.ENDED, "stopped")


class FileSource(Source):
    """A video file as a stream: paced by its timestamps (`realtime`, live semantics, drops when behind) or as
    fast as possible with nothing dropped (`realtime=False`, for evaluation). `loop` replays it forever.

    A replay queues REPLAY_QUEUE_FRAMES ahead, fewer for large frames (REPLAY_QUEUE_BYTES), unless
    `queue_frames` is given."""

    def __init__(
        self,
        path: str | os.PathLike,
        name: str | None = None,
        realtime: bool = True,
        loop: bool = False,
        queue_frames: int | None = None,
    ):
        p = Path(path)
        if not p.exists():
            raise SourceError(f"{p}: no such video file")
        if not p.is_file():
            raise SourceError(f"{p}: not a file")
        capped = not realtime and queue_frames is None
        super().__init__(
            name or p.stem,
            queue_frames or (LIVE_QUEUE_FRAMES if realtime else REPLAY_QUEUE_FRAMES),
            drop_oldest=realtime,
            queue_bytes=REPLAY_QUEUE_BYTES if capped else None,
        )
        self.path = p
        self.realtime = realtime
        self.loop = loop

    def _run(self) -> None:
        self._set_state(SourceState.CONNECTING, f"opening {self.path.name}")
        offset = 0.0  # stream time added to each pass when looping
        clock0 = None  # monotonic time of stream time 0 (realtime pacing)
        while True:
            reader = FrameReader(self.path)  # SourceError -> FAILED with the file's reason
            last_t = None
            for t, image in reader:
                if self._stop.is_set():
                    return
                if self.state != SourceState.LIVE:
                    self._set_state(SourceState.LIVE, "playing in real time" if self.realtime else "replaying")
                st = offset + t
                if self.realtime:
                    now = time.monotonic()
                    if clock0 is None:
                        clock0 = now - st
                    delay = clock0 + st - now
                    if delay > 0 and self._stop.wait(delay):
                        return
                if not self._emit(image, st):
                    return
                last_t = t
            if not self.loop or last_t is None or self._stop.is_set():
                break
            offset += last_t + 1.0 / (reader.info.fps or FALLBACK_FPS)
        self.truncated = reader.truncated
        self._set_state(SourceState.ENDED, reader.end_reason or "end of file")


class _Reader:
    """One open VideoCapture, read by its own thread, so that a read that blocks (a frozen camera) cannot hold
    the source's state: the supervising thread abandons it after the read timeout, and from then on nothing it
    reads is handed out (OpenCV returns the frames it still held after its own timeout: old frames, which would
    otherwise go out with new timestamps). The thread releases the capture when its last read returns."""

    def __init__(self, cap: cv2.VideoCapture, name: str, read_timeout_s: float, on_frame, news: threading.Event):
        self.cap = cap
        self.read_timeout_s = read_timeout_s
        self.on_frame = on_frame  # called with (image, now, first) under self.lock, never after abandon()
        self.news = news  # set when the reader ends
        self.lock = threading.Lock()
        self.frames = 0
        self.last_at = time.monotonic()  # when the last frame came (or the capture opened)
        self.ended = False  # the capture said the stream ended or failed
        self.abandoned = False
        self.thread = threading.Thread(target=self._run, name=f"reader-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def abandon(self) -> None:
        """Hand out nothing more from this capture (its thread leaves when OpenCV's read returns)."""
        with self.lock:
            self.abandoned = True

    def _run(self) -> None:
        try:
            while True:
                started = time.monotonic()
                try:
                    ok, image = self.cap.read()
                except cv2.error:
                    ok, image = False, None
                now = time.monotonic()
                with self.lock:
                    if self.abandoned:
                        return
                    if not ok or image is None:
                        self.ended = True
                        return
                    if now - started > self.read_timeout_s:  # held back by a stall: a frame from before it
                        self.abandoned = True
                        return
                    self.frames += 1
                    self.last_at = now
                    self.on_frame(image, now, self.frames == 1)
        finally:
            self.cap.release()
            self.news.set()


class _CaptureSource(Source):
    """A cv2.VideoCapture that may drop out: reopened with exponential backoff, its state reported.

    Frames are read by a `_Reader` thread per connection; this source's own thread watches it, and a connection
    that sends no frame for `read_timeout_s` is given up at once (state reconnecting), whatever OpenCV's read is
    still waiting for. Stream time is the monotonic time since the first frame, so it keeps running across
    reconnects (the gap shows, and the engine restarts the window instead of joining features from both sides).
    """

    def __init__(
        self,
        name: str,
        backoff_initial_s: float,
        backoff_max_s: float,
        retry_first_open: bool,
        read_timeout_s: float,
        queue_frames: int = LIVE_QUEUE_FRAMES,
    ):
        if not 0 < backoff_initial_s <= backoff_max_s:
            raise ValueError(f"need 0 < backoff_initial_s <= backoff_max_s, got {backoff_initial_s}, {backoff_max_s}")
        if not read_timeout_s > 0:
            raise ValueError(f"read_timeout_s must be positive, got {read_timeout_s}")
        super().__init__(name, queue_frames, drop_oldest=True)
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.retry_first_open = retry_first_open
        self.read_timeout_s = read_timeout_s
        self.reconnects = 0
        self._news = threading.Event()  # a reader ended, or stop was requested
        self._been_live = False
        self._t0: float | None = None

    def _open(self) -> cv2.VideoCapture | None:
        raise NotImplementedError

    def _open_failure(self) -> str:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def request_stop(self) -> None:
        super().request_stop()
        self._news.set()

    def _on_frame(self, image: np.ndarray, now: float, first: bool) -> None:
        if self._t0 is None:
            self._t0 = now
        if first:
            self._set_state(SourceState.LIVE, "reconnected" if self._been_live else "connected")
            self._been_live = True
        self._emit(image, now - self._t0, now)

    def _follow(self, cap: cv2.VideoCapture) -> tuple[bool, str]:
        """Read one connection until it ends, stalls or the source stops: (got a frame, what went wrong)."""
        self._news.clear()
        reader = _Reader(cap, self.name, self.read_timeout_s, self._on_frame, self._news)
        reader.start()
        while not self._stop.is_set():
            with reader.lock:
                ended, abandoned, last_at = reader.ended, reader.abandoned, reader.last_at
            if ended or abandoned:
                break
            wait = last_at + self.read_timeout_s - time.monotonic()
            if wait <= 0:
                break
            self._news.wait(wait)
            self._news.clear()
        reader.abandon()
        if self._stop.is_set():  # let it release the capture before we end: a process must not exit mid-read
            reader.thread.join(self.read_timeout_s)
        got_frame = reader.frames > 0
        if reader.ended:
            problem = "stream lost (connection closed)" if got_frame else f"{self._describe()} opened but sent no frame"
        else:
            problem = f"no frame for {self.read_timeout_s:g} s (stream frozen or lost)"
        return got_frame, problem

    def _run(self) -> None:
        backoff = self.backoff_initial_s
        self._set_state(SourceState.CONNECTING, f"opening {self._describe()}")
        while not self._stop.is_set():
            cap = self._open()
            if cap is None:
                got_frame, problem = False, self._open_failure()
            else:
                got_frame, problem = self._follow(cap)
            if got_frame:
                backoff = self.backoff_initial_s
            if self._stop.is_set():
                return
            if not self._been_live and not self.retry_first_open:
                self._set_state(SourceState.FAILED, problem)
                return
            self.reconnects += 1
            self._set_state(SourceState.RECONNECTING, f"{problem}; retry {self.reconnects} in {backoff:.1f} s")
            if self._stop.wait(backoff):
                return
            backoff = min(2 * backoff, self.backoff_max_s)


class CameraSource(_CaptureSource):
    """A local camera by index (/dev/video<index> on Linux); stream time = seconds since its first frame."""

    def __init__(
        self,
        index: int,
        name: str | None = None,
        width: int | None = None,
        height: int | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        retry_first_open: bool = False,
        read_timeout_s: float = CAMERA_READ_TIMEOUT_S,
    ):
        if index < 0:
            raise SourceError(f"camera index must be >= 0, got {index}")
        super().__init__(name or f"camera{index}", backoff_initial_s, backoff_max_s, retry_first_open, read_timeout_s)
        self.index = index
        self.width, self.height = width, height

    def _describe(self) -> str:
        return f"camera {self.index}"

    def _open(self) -> cv2.VideoCapture | None:
        with opencv_log_at_most(cv2.utils.logging.LOG_LEVEL_SILENT):  # a missing index: our state line says it
            cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            return None
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        return cap

    def _open_failure(self) -> str:
        return f"camera {self.index} cannot be opened (no such device, no permission, or in use)"


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # not parseable (a bad port, "Invalid IPv6 URL"): hide whatever precedes an @
        return re.sub(r"//[^/@]*@", "//***@", url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if port:
        host += f":{port}"
    return parts._replace(netloc=f"***@{host}").geturl()


def url_stream_name(url: str) -> str:
    """A short default name for a network stream: host[:port]/path, no credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "stream"
    if parts.port:
        host += f":{parts.port}"
    return host + parts.path.rstrip("/")


class NetworkSource(_CaptureSource):
    """An RTSP/RTSPS/HTTP(S) stream through OpenCV's FFmpeg backend, TCP transport for RTSP.

    Open and read timeouts keep a dead camera from blocking; after a failure or a stall the capture is
    recreated with exponential backoff (a reconnect needs a fresh VideoCapture). The first open failing ends
    the source as failed (a mistyped URL says so at once) unless `retry_first_open`, for monitoring cameras
    that may come up later.
    """

    def __init__(
        self,
        url: str,
        name: str | None = None,
        open_timeout_s: float = 5.0,
        read_timeout_s: float = 3.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        retry_first_open: bool = False,
    ):
        parts = urlsplit(url)
        if parts.scheme.lower() not in NETWORK_SCHEMES:
            raise SourceError(
                f"{safe_url(url)}: unsupported URL scheme {parts.scheme!r}; use one of {', '.join(NETWORK_SCHEMES)}"
            )
        if not parts.hostname:
            raise SourceError(f"{safe_url(url)}: malformed URL (no host)")
        if open_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError("open_timeout_s and read_timeout_s must be positive")
        super().__init__(
            name or url_stream_name(url), backoff_initial_s, backoff_max_s, retry_first_open, read_timeout_s
        )
        self.url = url
        self.open_timeout_s = open_timeout_s

    def _describe(self) -> str:
        return safe_url(self.url)

    def _open(self) -> cv2.VideoCapture | None:
        if urlsplit(self.url).scheme.lower().startswith("rtsp"):
            # read by OpenCV at every open; a user's own setting wins
            os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
        cap = cv2.VideoCapture(
            self.url,
            cv2.CAP_FFMPEG,
            [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                int(self.open_timeout_s * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                int(self.read_timeout_s * 1000),
            ],
        )
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def _open_failure(self) -> str:
        return (
            f"cannot open {safe_url(self.url)} (refused, no answer within {self.open_timeout_s:g} s, "
            "or not a video stream)"
        )


class PushSource(Source):
    """Frames handed in by the caller (the dashboard's browser webcam): push BGR uint8 images, close() to end.

    Stream time defaults to seconds since the first push; explicit times must increase (others are dropped).
    """

    def __init__(self, name: str, queue_frames: int = LIVE_QUEUE_FRAMES):
        super().__init__(name, queue_frames, drop_oldest=True)
        self._t0: float | None = None
        self._last_t: float | None = None
        self._started = False

    def start(self) -> None:
        if not self._started:
            self._started = True
            self._set_state(SourceState.CONNECTING, "waiting for frames")

    def push(self, image_bgr: np.ndarray, t: float | None = None) -> bool:
        """Queue one frame; False if it was refused (source closed, or `t` not after the previous frame)."""
        if (
            not isinstance(image_bgr, np.ndarray)
            or image_bgr.dtype != np.uint8
            or not (image_bgr.ndim == 2 or (image_bgr.ndim == 3 and image_bgr.shape[2] in (3, 4)))
        ):
            raise ValueError(
                "push() needs an H×W×3 (BGR), H×W×4 or H×W uint8 numpy image, got "
                f"{getattr(image_bgr, 'shape', type(image_bgr))} {getattr(image_bgr, 'dtype', '')}"
            )
        if self.state in TERMINAL_STATES:
            return False
        now = time.monotonic()
        with self._cond:
            if t is None:
                if self._t0 is None:
                    self._t0 = now
                t = now - self._t0
            if self._last_t is not None and t <= self._last_t:
                self.dropped += 1
                return False
            self._last_t = t
        if self.state != SourceState.LIVE:
            self._set_state(SourceState.LIVE, "receiving frames")
        return self._emit(image_bgr, float(t), now)

    def close(self, reason: str = "closed by the sender") -> None:
        if self.state not in TERMINAL_STATES:
            self._set_state(SourceState.ENDED, reason)

    def request_stop(self) -> None:
        self._stop.set()
        self.close("stopped")

    def stop(self, timeout: float = 2.0) -> None:
        self.request_stop()


def open_source(spec: str, name: str | None = None, realtime: bool = True, loop: bool = False) -> Source:
    """A source from what a user typed: "demo", a camera index ("0"), an rtsp/http(s) URL, or a file path.

    Not started yet. Anything unusable raises SourceError with one line naming it.
    """
    spec = str(spec).strip()
    if not spec:
        raise SourceError("empty source; give a file path, a camera index, an rtsp/http(s) URL, or 'demo'")
    if spec == "demo":
        from streaming.demo import demo_clip_path

        return FileSource(demo_clip_path(), name=name or "demo", realtime=realtime, loop=loop)
    if spec.isdigit():
        return CameraSource(int(spec), name=name)
    if os.path.isfile(spec):  # "cam1:2024.mp4" is a file, not a URL with scheme "cam1"
        return FileSource(spec, name=name, realtime=realtime, loop=loop)
    scheme = urlsplit(spec).scheme.lower()
    if len(scheme) > 1:  # one letter would be a Windows drive
        if scheme not in NETWORK_SCHEMES:
            raise SourceError(
                f"{safe_url(spec)}: unsupported source scheme {scheme!r}; "
                f"use {', '.join(NETWORK_SCHEMES)}, a file path, a camera index or 'demo'"
            )
        return NetworkSource(spec, name=name)
    return FileSource(spec, name=name, realtime=realtime, loop=loop)
