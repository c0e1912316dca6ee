"""Event clips: the seconds before and after each alert as a video players open, a JPEG snapshot and a JSON
sidecar, under a disk budget.

Each camera keeps a `FrameRing` of recent frames, taken at `fps` by stream time, downscaled to `width` and held as
JPEG bytes (about 30 KB each: 10 s at 10 fps is ~3 MB per camera), bounded in time and in count. On an alert the
recorder waits until the ring holds `post_s` seconds past the alert, then a writer thread turns the frames from
`alert - pre_s` to `alert + post_s` into `<dir>/<camera>/<time>_<camera>_<action>.mp4` (mp4v; or MJPG .avi),
checks that it decodes, and writes `.jpg` (the frame at the alert) and `.json` (the alert, the clip's span and
frame count) beside it. Every file is written through streaming.atomic and the sidecar comes last, so a clip
with a sidecar is complete. After each clip the oldest clips go until the folder fits `max_bytes`.

    recorder = ClipRecorder(Path("clips"), pre_s=5, post_s=5, on_clip=outputs.publish)
    ring = recorder.ring("door")            # source tap: ring.add(frame) for every frame
    recorder.trigger("door", alert_event)   # when an alert fires
"""

from __future__ import annotations

import json
import logging
import math
import os
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streaming.atomic import atomic_file, atomic_write_bytes, atomic_write_text, temp_file_pid
from streaming.sampler import RateSampler
from streaming.sources import Frame

log = logging.getLogger("actionstream")

#: Seconds of wall time a clip waits for its post-roll beyond `post_s` before it is written with what there is
#: (the camera stalled or ended).
POST_ROLL_GRACE_S = 5.0
#: Clips waiting for the writer thread; more are dropped (and logged) rather than holding frames in memory.
WRITE_QUEUE = 16
CODECS = {"mp4": "mp4v", "avi": "MJPG"}


@dataclass(frozen=True)
class RingFrame:
    t: float
    wall: float  # time.time() when captured
    jpeg: bytes


class FrameRing:
    """One camera's recent frames as JPEG bytes: at most `fps` per second of stream time, `keep_s` seconds."""

    def __init__(self, camera: str, keep_s: float, fps: float, width: int, jpeg_quality: int, on_frame=None):
        self.camera = camera
        self.keep_s = keep_s
        self.fps = fps
        self.width = width
        self.jpeg_quality = jpeg_quality
        self._frames: deque[RingFrame] = deque(maxlen=max(2, math.ceil(keep_s * fps) + 2))
        self._sampler = RateSampler(fps)
        self._lock = threading.Lock()
        self._on_frame = on_frame

    def add(self, frame: Frame) -> None:
        """A source tap: keep the frame if it is due at `fps` (downscaled, JPEG-encoded)."""
        t = frame.t
        newest = self.newest_t()
        if newest is not None and t < newest:
            self._sampler.reset()  # time went back (a restarted stream): start over
        if not self._sampler.take(t):
            return
        image = frame.image
        h, w = image.shape[:2]
        if w > self.width:
            image = cv2.resize(image, (self.width, max(2, round(h * self.width / w))), interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            return
        item = RingFrame(t, time.time(), buf.tobytes())
        with self._lock:
            if self._frames and t < self._frames[-1].t:
                self._frames.clear()
            self._frames.append(item)
            while self._frames and self._frames[0].t < t - self.keep_s:
                self._frames.popleft()
        if self._on_frame is not None:
            self._on_frame(self.camera, t)

    def newest_t(self) -> float | None:
        with self._lock:
            return self._frames[-1].t if self._frames else None

    def between(self, t0: float, t1: float) -> list[RingFrame]:
        with self._lock:
            return [f for f in self._frames if t0 <= f.t <= t1]

    def __len__(self) -> int:
        return len(self._frames)


@dataclass
class _Pending:
    camera: str
    event: dict
    t: float  # the alert's stream time
    deadline: float  # monotonic time by which it is written anyway


class ClipRecorder:
    """Per-camera frame rings, pending alerts, a writer thread and the disk budget of one clip folder."""

    def __init__(
        self,
        folder: Path,
        pre_s: float = 5.0,
        post_s: float = 5.0,
        fps: float = 10.0,
        width: int = 640,
        fmt: str = "mp4",
        max_bytes: int = 2_000_000_000,
        jpeg_quality: int = 80,
        on_clip: Callable[[dict], None] | None = None,
    ):
        if fmt not in CODECS:
            raise ValueError(f"clip format must be one of {', '.join(CODECS)}, got {fmt!r}")
        self.folder = Path(folder)
        self.pre_s, self.post_s, self.fps, self.width = pre_s, post_s, fps, width
        self.fmt = fmt
        self.max_bytes = max_bytes
        self.jpeg_quality = jpeg_quality
        self.on_clip = on_clip
        self.written = 0
        self.deleted = 0
        self.failed = 0
        self._rings: dict[str, FrameRing] = {}
        self._pending: list[_Pending] = []
        self._lock = threading.Lock()
        self._jobs: queue.Queue = queue.Queue(maxsize=WRITE_QUEUE)
        self._stop = threading.Event()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._remove_dead_temp_files()
        self._thread = threading.Thread(target=self._run, name="clip-writer", daemon=True)
        self._thread.start()

    def ring(self, camera: str) -> FrameRing:
        """The camera's ring (created once); use `ring.add` as a source tap."""
        with self._lock:
            if camera not in self._rings:
                keep = self.pre_s + self.post_s + 1.0
                self._rings[camera] = FrameRing(
                    camera, keep, self.fps, self.width, self.jpeg_quality, on_frame=self._frame_added
                )
            return self._rings[camera]

    def trigger(self, camera: str, event: dict) -> None:
        """Record a clip around the alert `event` (needs "stream_t"); written once the post-roll is in."""
        pending = _Pending(
            camera, dict(event), float(event["stream_t"]), time.monotonic() + self.post_s + POST_ROLL_GRACE_S
        )
        with self._lock:
            self._pending.append(pending)
        self._frame_added(camera, None)

    def close(self, timeout_s: float = 10.0) -> None:
        """Write every pending clip with what its ring holds (a shortened post-roll), then stop the writer."""
        with self._lock:
            pending, self._pending = self._pending, []
        for p in pending:
            self._queue(p)
        self._stop.set()
        self._thread.join(timeout_s)

    # -- when frames come in (source threads) ----------------------------------------------------------------

    def _frame_added(self, camera: str, t: float | None) -> None:
        ready = []
        now = time.monotonic()
        with self._lock:
            ring = self._rings.get(camera)
            newest = ring.newest_t() if ring is not None else None
            keep = []
            for p in self._pending:
                if p.camera == camera and newest is not None and newest >= p.t + self.post_s:
                    ready.append(p)
                elif now >= p.deadline:
                    ready.append(p)
                else:
                    keep.append(p)
            self._pending = keep
        for p in ready:
            self._queue(p)

    def _queue(self, p: _Pending) -> None:
        ring = self._rings.get(p.camera)
        frames = ring.between(p.t - self.pre_s, p.t + self.post_s) if ring is not None else []
        try:
            self._jobs.put_nowait((p, frames))
        except queue.Full:
            self.failed += 1
            log.warning(
                "%s: clip writer behind; the clip of the alert at %s was dropped", p.camera, p.event.get("time")
            )

    # -- the writer thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                p, frames = self._jobs.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    return
                self._frame_added("", None)  # pending clips of a stalled camera time out
                continue
            try:
                self._write(p, frames)
            except Exception as exc:  # one bad clip must not end clip recording
                self.failed += 1
                log.warning("%s: could not write the event clip: %s", p.camera, exc)

    def _write(self, p: _Pending, frames: list[RingFrame]) -> None:
        if not frames:
            self.failed += 1
            log.warning("%s: no frames for the clip of the alert at %s", p.camera, p.event.get("time"))
            return
        stem = _safe(f"{str(p.event.get('time', ''))[:23]}_{p.camera}_{p.event.get('action', 'event')}")
        folder = self.folder / _safe(p.camera)
        video = folder / f"{stem}.{self.fmt}"
        images = [cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR) for f in frames]
        span = frames[-1].t - frames[0].t
        fps = min(self.fps, (len(frames) - 1) / span) if span > 0 and len(frames) > 1 else self.fps
        h, w = images[0].shape[:2]
        with atomic_file(video, keep_suffix=True) as tmp:
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*CODECS[self.fmt]), max(1.0, fps), (w, h))
            if not writer.isOpened():
                raise RuntimeError(f"OpenCV cannot write {self.fmt} ({CODECS[self.fmt]}) video here")
            try:
                for image in images:
                    if image.shape[:2] != (h, w):  # the camera changed resolution mid-clip
                        image = cv2.resize(image, (w, h))
                    writer.write(image)
            finally:
                writer.release()
            decoded = count_frames(tmp)
            if decoded == 0:
                raise RuntimeError(f"the written clip {video.name} does not decode")
        at = min(range(len(frames)), key=lambda i: abs(frames[i].t - p.t))
        snapshot = atomic_write_bytes(folder / f"{stem}.jpg", frames[at].jpeg)
        clip = {
            "type": "clip",
            "id": f"{p.event.get('id', '')}-clip" if p.event.get("id") else "",
            "time": p.event.get("time", ""),
            "camera": p.camera,
            "action": p.event.get("action", ""),
            "rule": p.event.get("rule", ""),
            "video": str(video),
            "snapshot": str(snapshot),
            "sidecar": str(folder / f"{stem}.json"),
            "frames": len(frames),
            "decoded_frames": decoded,
            "fps": round(max(1.0, fps), 3),
            "pre_s": round(p.t - frames[0].t, 3),
            "post_s": round(frames[-1].t - p.t, 3),
            "alert": p.event,
        }
        atomic_write_text(folder / f"{stem}.json", json.dumps(clip, indent=2) + "\n")
        self.written += 1
        self._enforce_budget(keep=stem)
        if self.on_clip is not None:
            self.on_clip(clip)

    # -- the disk budget -------------------------------------------------------------------------------------

    def clip_sets(self) -> list[tuple[float, int, list[Path]]]:
        """Every clip (video, snapshot, sidecar: files sharing a stem) as (newest mtime, bytes, files), oldest first."""
        sets: dict[Path, list[Path]] = {}
        for f in self.folder.rglob("*"):
            if f.is_file() and not f.name.startswith("."):
                sets.setdefault(f.with_suffix(""), []).append(f)
        out = []
        for files in sets.values():
            stats = [f.stat() for f in files if f.exists()]
            out.append((max((s.st_mtime for s in stats), default=0.0), sum(s.st_size for s in stats), files))
        return sorted(out, key=lambda x: x[0])

    def used_bytes(self) -> int:
        return sum(size for _, size, _ in self.clip_sets())

    def _enforce_budget(self, keep: str) -> None:
        sets = self.clip_sets()
        total = sum(size for _, size, _ in sets)
        for _, size, files in sets:
            if total <= self.max_bytes:
                return
            if any(f.stem == keep for f in files):
                continue  # never the clip just written, even when it alone is over the budget
            for f in files:
                f.unlink(missing_ok=True)
            total -= size
            self.deleted += 1

    def _remove_dead_temp_files(self) -> None:
        """Temporary files of a monitor that was killed mid-write (never those of a live process)."""
        for f in self.folder.rglob(".*"):
            pid = temp_file_pid(f.name)
            if pid is not None and f.is_file() and not _alive(pid):
                f.unlink(missing_ok=True)


def count_frames(path: Path) -> int:
    """Frames OpenCV decodes from a video file (0: it does not open or decode)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    try:
        while cap.isOpened():
            ok, _ = cap.read()
            if not ok:
                break
            n += 1
    finally:
        cap.release()
    return n


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
