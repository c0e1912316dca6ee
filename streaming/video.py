"""Reading video files frame by frame with honest timestamps.

Never trusts the container's frame count (some real files report nonsense) or `int(fps)` (29.97 is not 29):
frames are read until the decoder stops, and each gets a time in seconds, counted from the first frame.
Timestamps that a damaged or odd file gets wrong (missing, repeated, going backwards, a header claiming
90000 fps) are replaced by evenly spaced ones, never by a time that goes backwards. Whether a file was cut
short is judged from the bytes its container declares (AVI, MP4/MOV, Matroska/WebM), not from a frame count.

    for t, frame in iter_frames("clip.avi"):
        ...
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from streaming.errors import SourceError

#: File suffixes of the videos this module reads (everything in tests/video_zoo.py), for folder scans; one list
#: for the whole project instead of one per module.
VIDEO_SUFFIXES = (
    ".avi",
    ".mp4",
    ".m4v",
    ".mkv",
    ".mov",
    ".webm",
    ".mpg",
    ".mpeg",
    ".wmv",
    ".flv",
    ".3gp",
    ".ogv",
    ".ts",
    ".m2ts",
    ".mts",
    ".gif",
)
#: Used only when a file declares no usable frame rate and gives no usable timestamps.
FALLBACK_FPS = 25.0
#: Declared frame rates outside this range are not believed (headers say 0, 1000 or 90000 fps).
MIN_SANE_FPS, MAX_SANE_FPS = 1.0, 1000.0
#: Frames closer together than this are not believed either: their timestamps are replaced.
MIN_FRAME_INTERVAL_S = 1.0 / MAX_SANE_FPS
#: A timestamp this far behind the previous one means the clock restarted (joined files, a wrapped MPEG-TS
#: clock): later frames follow the new clock, shifted so that time keeps increasing.
CLOCK_RESTART_S = 1.0
#: Failed reads in a row after which a file is taken to have ended (one failure can be a damaged packet).
MAX_FAILED_READS = 3
#: FFmpeg's own log level inside OpenCV (AV_LOG_QUIET). Its messages ("moov atom not found", "partial file")
#: would pile up on stderr beside ours, which say the same in one line. Set OPENCV_FFMPEG_LOGLEVEL yourself
#: (e.g. 24 for warnings) to see them; OpenCV reads it once, at its first FFmpeg capture in the process.
FFMPEG_LOGLEVEL_QUIET = "-8"

#: How long ffprobe may take to list a file's packets for the ffmpeg fallback (it reads, but decodes nothing).
FFPROBE_TIMEOUT_S = 120.0

#: OpenCV's log level is one process-wide setting: opens that lower it for a moment take turns.
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself. `frame_count` is the container's claim, not a promise.

    `width`/`height` are the decoded frames' size as displayed (rotation metadata applied; OpenCV rounds odd
    sizes down to even). `fps` is 0.0 when the declared rate is missing or not believable.
    """

    path: str
    width: int
    height: int
    fps: float
    frame_count: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 and self.frame_count > 0 else float("nan")


def quiet_ffmpeg_log() -> None:
    """Silence FFmpeg's own messages for this process (unless the user set OPENCV_FFMPEG_LOGLEVEL).

    Takes effect only before OpenCV's first FFmpeg capture in the process; open_capture calls it, and a CLI
    may call it first thing so that network sources opened earlier are quiet too.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", FFMPEG_LOGLEVEL_QUIET)


@contextmanager
def opencv_log_at_most(level: int) -> Iterator[None]:
    """OpenCV's log level lowered to `level` for the block (never raised), for an open whose failure we report
    ourselves in one line: its own "[ WARN:0@..]" or "[ERROR:0@..]" line would say the same, worse. The level is
    process-wide, so such blocks take turns."""
    with _OPEN_LOCK:
        before = cv2.utils.logging.getLogLevel()
        if before > level:
            cv2.utils.logging.setLogLevel(level)
        try:
            yield
        finally:
            if before > level:
                cv2.utils.logging.setLogLevel(before)


def open_capture(path: str | os.PathLike) -> cv2.VideoCapture:
    """Open a video file with OpenCV's FFmpeg backend; raise SourceError naming the file and the problem.

    OpenCV's warning for a file it cannot open is held back (the SourceError says it, better) without
    changing the log level anyone else set.
    """
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such video file")
    if not p.is_file():
        raise SourceError(f"{p}: not a file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise SourceError(f"{p}: cannot be read ({exc.strerror or exc})") from exc
    if size == 0:
        raise SourceError(f"{p}: cannot be opened as a video (the file is empty, 0 bytes)")
    if not os.access(p, os.R_OK):
        raise SourceError(f"{p}: cannot be read (permission denied)")
    image = still_image_kind(p)
    if image:  # FFmpeg opens it as a one-frame video: a "prediction" on it would be a guess on a still picture
        raise SourceError(f"{p}: a {image} image, not a video; give a video file, a camera or a stream URL")
    quiet_ffmpeg_log()
    with opencv_log_at_most(cv2.utils.logging.LOG_LEVEL_ERROR):
        # absolute: FFmpeg reads a relative "cam1:2024.mp4" as protocol "cam1"
        cap = cv2.VideoCapture(os.path.abspath(p), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"{p}: cannot be opened as a video ({diagnose(p)})")
    return cap


def _sane_fps(value: float) -> float:
    return value if math.isfinite(value) and MIN_SANE_FPS <= value <= MAX_SANE_FPS else 0.0


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Read a file's header facts (size, declared fps, claimed frame count)."""
    cap = open_capture(path)
    try:
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        return VideoInfo(
            path=str(path),
            width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
            fps=_sane_fps(cap.get(cv2.CAP_PROP_FPS)),
            frame_count=int(count) if math.isfinite(count) and 0 < count < 2**31 else 0,
        )
    finally:
        cap.release()


class FrameTimer:
    """Gives each decoded frame a strictly increasing time in seconds, 0 at the first frame.

    Uses the decoder's presentation times where they are believable. A missing time, one that repeats or
    goes back a little, or one closer than MIN_FRAME_INTERVAL_S to the last (a header claiming 90000 fps)
    becomes the last time plus one frame period (declared fps, else FALLBACK_FPS). A clock that jumps back
    by more than CLOCK_RESTART_S restarted: the frames after it keep its spacing, shifted to continue.
    """

    def __init__(self, fps: float):
        self.period = 1.0 / (_sane_fps(fps) or FALLBACK_FPS)
        self.last: float | None = None
        self.offset: float | None = None  # added to the decoder's times; set by the first one there is
        self.replaced = 0  # frames whose time was made up rather than read

    def next(self, pos_msec: float) -> float:
        raw = pos_msec / 1000.0 if isinstance(pos_msec, (int, float)) and math.isfinite(pos_msec) else None
        if raw is not None and self.offset is None:
            self.offset = -raw if self.last is None else self.last + self.period - raw
        if self.last is None:
            self.last = 0.0
            return 0.0
        if raw is None:
            t = self.last + self.period
            self.replaced += 1
        else:
            t = raw + self.offset
            if t < self.last - CLOCK_RESTART_S:
                self.offset += self.last + self.period - t
                t = self.last + self.period
                self.replaced += 1
            elif t - self.last < MIN_FRAME_INTERVAL_S:
                t = self.last + self.period
                self.replaced += 1
        self.last = t
        return t


def _as_bgr8(frame: np.ndarray) -> np.ndarray:
    """The frame as H×W×3 uint8 BGR, whatever OpenCV handed back (it is already, for files, nearly always)."""
    if frame.dtype != np.uint8:
        if frame.dtype == np.uint16:
            frame = (frame >> 8).astype(np.uint8)
        else:
            frame = cv2.convertScaleAbs(frame)
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


def _usable(frame) -> bool:
    return (
        isinstance(frame, np.ndarray)
        and frame.size > 0
        and frame.ndim in (2, 3)
        and (frame.ndim == 2 or frame.shape[2] in (1, 3, 4))
    )


class FrameReader:
    """Iterates (t, frame) over a file and, at the end, knows whether it looked cut short.

        reader = FrameReader("clip.mp4")
        for t, frame in reader: ...
        if reader.truncated: print(reader.end_reason)

    Frames are H×W×3 uint8 BGR. A file OpenCV opens but cannot decode (AV1: the pip wheel has no software
    AV1 decoder) is decoded by the system's ffmpeg when there is one. A read that fails is retried (a damaged
    packet mid-file costs a frame, not the rest of the file); MAX_FAILED_READS failures in a row end it.
    After the loop, `end_reason` is "end of file", "end of file (...)" when the header claimed more frames
    than a complete file held, or "cut short: ..." when the file ends before the bytes its container declares
    (or, for containers that declare none, well before the header's frame count and duration).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.info = probe_video(self.path)
        self.frames_read = 0
        self.failed_reads = 0  # reads that failed and were retried (damaged data)
        self.last_t = float("nan")  # time of the last frame delivered
        self.end_reason = ""
        self.decoder = "opencv"  # or "ffmpeg": the system's ffmpeg, for codecs OpenCV's build cannot decode

    @property
    def truncated(self) -> bool:
        return self.end_reason.startswith("cut short")

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        self.frames_read, self.failed_reads, self.end_reason, self.decoder = 0, 0, "", "opencv"
        cap = open_capture(self.path)
        codec, tools = _fourcc(cap), None
        timer = FrameTimer(self.info.fps)
        failures = 0
        try:
            while failures < MAX_FAILED_READS:
                try:
                    ok, frame = cap.read()
                except cv2.error:  # a decoder or conversion error on damaged data
                    ok, frame = False, None
                if not ok or not _usable(frame):
                    failures += 1
                    continue
                if failures:
                    self.failed_reads += failures
                    failures = 0
                t = timer.next(cap.get(cv2.CAP_PROP_POS_MSEC))
                self.frames_read += 1
                self.last_t = t
                yield t, _as_bgr8(frame)
        finally:
            cap.release()
        if self.frames_read == 0:
            # OpenCV opened it but decodes nothing: a codec its build lacks (AV1 without a hardware decoder)
            tools = _ffmpeg_tools()
            if tools is not None:
                self.decoder = "ffmpeg"
                for t, frame in _ffmpeg_frames(self.path, tools, timer):
                    self.frames_read += 1
                    self.last_t = t
                    yield t, frame
        if self.frames_read == 0:
            self.end_reason = "no decodable frames"
            raise SourceError(f"{self.path}: no decodable frames ({_undecodable(self.path, codec, tools)})")
        self.end_reason = self._end_reason(timer.period)

    def _end_reason(self, period: float) -> str:
        n, claimed = self.frames_read, self.info.frame_count
        declared = declared_size(self.path)
        actual = _file_size(self.path)
        frames = (
            f"decoded {n} of {claimed} frames the header claims"
            if claimed > 0
            else f"decoded {n} frames ({self.last_t + period:.1f} s)"
        )
        if declared is not None and actual < declared:
            return (
                f"cut short: {frames}; the file holds {actual} of the {declared} bytes its container "
                f"declares ({100 * actual / declared:.0f}%)"
            )
        claimed_s = self.info.duration_s  # where the count is only duration × fps (Matroska, VFR), the time
        reached_claimed_time = math.isfinite(claimed_s) and self.last_t + period >= 0.9 * claimed_s - 2 * period
        if not (claimed > 0 and n < 0.9 * claimed - 2) or reached_claimed_time:
            return "end of file"
        if declared is None:
            return f"cut short: {frames}"  # no byte count to go by: the header's count and duration
        return f"end of file ({frames}; the file is complete)"  # e.g. pre-roll hidden by an edit list


def iter_frames(path: str | os.PathLike) -> Iterator[tuple[float, np.ndarray]]:
    """Every decodable frame of a file with its time in seconds. Raises SourceError if none decode."""
    yield from FrameReader(path)


# -- the ffmpeg fallback -----------------------------------------------------------------------------------


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC)) & 0xFFFFFFFF
    text = code.to_bytes(4, "little").decode("latin-1")
    return text.strip() if text.isprintable() and text.strip() else ""


def _ffmpeg_tools() -> tuple[str, str] | None:
    """The system's ffmpeg and ffprobe (both needed), or None."""
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    return (ffmpeg, ffprobe) if ffmpeg and ffprobe else None


def _ffprobe_video(ffprobe: str, path: Path) -> tuple[int, int, list[float]] | None:
    """(width, height) as ffmpeg will output it (rotation applied) and the video packets' times, sorted."""
    try:
        entries = "stream=width,height:stream_side_data=rotation:stream_tags=rotate:packet=pts_time"
        out = subprocess.run(
            [
                ffprobe,
                "-v",
                "error",
                "-select_streams",
                "V:0",
                "-show_entries",
                entries,
                "-of",
                "json",
                _ffmpeg_url(path),
            ],
            capture_output=True,
            text=True,
            timeout=FFPROBE_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        info = json.loads(out.stdout) if out.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    streams = info.get("streams") or []
    if not streams:
        return None
    stream = streams[0]
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width <= 0 or height <= 0:
        return None
    rotation = 0.0
    for side in stream.get("side_data_list") or []:
        rotation = float(side.get("rotation", rotation) or 0)
    rotation = rotation or float((stream.get("tags") or {}).get("rotate", 0) or 0)
    if round(rotation / 90) % 2:  # ffmpeg turns the picture upright, as OpenCV does
        width, height = height, width
    times = []
    for packet in info.get("packets") or []:
        try:
            times.append(float(packet["pts_time"]))
        except (KeyError, TypeError, ValueError):
            times.append(float("nan"))
    if all(math.isfinite(t) for t in times):
        times = sorted(times)
        if times and times[-1] >= 0:  # packets before 0 are pre-roll an edit list hides: they give no frame
            times = [t for t in times if t >= 0]
    return width, height, times


def _ffmpeg_frames(path: Path, tools: tuple[str, str], timer: FrameTimer) -> Iterator[tuple[float, np.ndarray]]:
    """(t, frame) decoded by the system's ffmpeg as raw BGR through a pipe; nothing if it cannot."""
    ffmpeg, ffprobe = tools
    probed = _ffprobe_video(ffprobe, path)
    if probed is None:
        return
    width, height, times = probed
    cmd = [
        ffmpeg,
        "-nostdin",
        "-v",
        "quiet",
        "-i",
        _ffmpeg_url(path),
        "-map",
        "0:V:0",
        "-vsync",
        "passthrough",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "bgr24",
        "pipe:1",
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        for i in itertools.count():
            frame = np.empty((height, width, 3), np.uint8)
            if not _read_exactly(proc.stdout, memoryview(frame).cast("B")):
                return
            yield timer.next(1000.0 * times[i] if i < len(times) else float("nan")), frame
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def _ffmpeg_url(path: Path) -> str:
    """A name ffmpeg takes literally: absolute (no leading '-'), with file: (a ':' in it is no protocol)."""
    return "file:" + os.path.abspath(path)


def _read_exactly(stream, buffer: memoryview) -> bool:
    pos = 0
    while pos < len(buffer):
        n = stream.readinto(buffer[pos:])
        if not n:
            return False
        pos += n
    return True


def _undecodable(path: Path, codec: str, tools: tuple[str, str] | None) -> str:
    """Why a file that opened gives no frame, and what to do."""
    reencode = f"re-encode it: `ffmpeg -i {path.name} -c:v libx264 -pix_fmt yuv420p out.mp4`"
    why = diagnose(path, opened=True)
    if not why.startswith("damaged video data"):
        return why
    name = f"its {codec} video" if codec else "its video"
    if tools is None:
        return (
            f"{name} is damaged or in a codec this OpenCV build cannot decode (AV1 needs a hardware decoder "
            f"here); install ffmpeg, which actionstream then uses for such files, or {reencode}"
        )
    return f"{name} is damaged, or in a codec neither OpenCV nor ffmpeg here can decode; {reencode}"


# -- what a file's bytes say -------------------------------------------------------------------------------

#: Top-level box types that start ISO base media files (MP4, MOV, 3GP, M4A).
_ISO_BOXES = {
    b"ftyp",
    b"moov",
    b"mdat",
    b"free",
    b"skip",
    b"wide",
    b"pnot",
    b"uuid",
    b"styp",
    b"sidx",
    b"moof",
    b"mfra",
    b"meta",
    b"pdin",
    b"prfl",
    b"junk",
}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MATROSKA_SEGMENT = b"\x18\x53\x80\x67"
#: How much of a file's start diagnose() looks at.
_SNIFF_BYTES = 4096


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _iso_boxes(f, size: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, start, end) of each top-level box of an ISO base media file; stops at anything malformed."""
    pos = 0
    while pos + 8 <= size:
        f.seek(pos)
        head = f.read(16)
        if len(head) < 8:
            return
        box_size, kind = struct.unpack(">I4s", head[:8])
        if box_size == 1:
            if len(head) < 16:
                return
            box_size = struct.unpack(">Q", head[8:16])[0]
        elif box_size == 0:
            box_size = size - pos  # runs to the end of the file
        if box_size < 8 or not kind.isascii() or not all(32 <= c < 127 for c in kind):
            return
        yield kind, pos, pos + box_size
        pos += box_size


def _ebml_vint(data: bytes, pos: int) -> tuple[int, int, bool] | None:
    """An EBML variable-size integer at pos: (value, length, all data bits set, i.e. 'unknown size')."""
    if pos >= len(data) or data[pos] == 0:
        return None
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None
    value = first & ((1 << (8 - length)) - 1)
    for b in data[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, length, value == (1 << (7 * length)) - 1


def declared_size(path: str | os.PathLike) -> int | None:
    """How many bytes the file's container says the file has, or None when it does not say.

    AVI: its RIFF chunks (OpenDML files chain several). MP4/MOV: its top-level boxes. Matroska/WebM: the
    Segment's size (None when written as 'unknown', as live recorders do). Other formats (MPEG-TS, raw
    streams) carry no total: None. A file shorter than this was cut short.
    """
    p = Path(path)
    size = _file_size(p)
    try:
        with open(p, "rb") as f:
            head = f.read(64)
            if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
                pos = end = 0
                while pos + 12 <= size:
                    f.seek(pos)
                    chunk = f.read(12)
                    if chunk[:4] != b"RIFF":
                        break
                    end = pos + 8 + struct.unpack("<I", chunk[4:8])[0]
                    end += end & 1  # chunks are padded to even sizes
                    pos = end
                return end or None
            if head[4:8] in _ISO_BOXES:
                end = None
                for _, _, box_end in _iso_boxes(f, size):
                    end = box_end
                return end
            if head[:4] == _EBML_MAGIC:
                header = _ebml_vint(head, 4)
                if header is None:
                    return None
                pos = 4 + header[1] + header[0]
                f.seek(pos)
                seg = f.read(12)
                if seg[:4] != _MATROSKA_SEGMENT:
                    return None
                vint = _ebml_vint(seg, 4)
                if vint is None or vint[2]:
                    return None
                return pos + 4 + vint[1] + vint[0]
    except OSError:
        return None
    return None


#: Still-image formats by their first bytes. JPEG is not among them: a raw MJPEG stream starts as a JPEG does
#: (a single JPEG, one frame, ends as too short to hold an action).
_STILL_IMAGES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def still_image_kind(path: str | os.PathLike) -> str:
    """'PNG', 'BMP', 'TIFF' or 'WebP' when the file's bytes are a still image ('' otherwise)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return ""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _STILL_IMAGES if head.startswith(magic)), "")


def _has_video_track(f, moov_start: int, moov_end: int) -> bool:
    """Whether an MP4/MOV index names a video handler ('vide'); reads at most 64 MB of it."""
    f.seek(moov_start)
    return b"vide" in f.read(min(moov_end - moov_start, 64 << 20))


def diagnose(path: str | os.PathLike, opened: bool = False) -> str:
    """Why a file gives no frames, in a few words with what to do, judged from its bytes.

    `opened`: the file did open as a video (so its container is fine) but no frame decoded.
    """
    p = Path(path)
    size = _file_size(p)
    if size == 0:
        return "the file is empty, 0 bytes"
    try:
        with open(p, "rb") as f:
            head = f.read(_SNIFF_BYTES)
            if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                return "a WAV audio file: it has no video"
            if head[:3] == b"ID3" or head[:4] == b"fLaC":
                return "an audio file (MP3/FLAC): it has no video"
            if head[4:8] in _ISO_BOXES:
                boxes = {kind: (start, end) for kind, start, end in _iso_boxes(f, size)}
                if b"moov" not in boxes:
                    return (
                        "its MP4/MOV index, the moov box, is missing: the file was cut short while being written "
                        "or copied; copy it again, or record with `ffmpeg -movflags +faststart`"
                    )
                start, end = boxes[b"moov"]
                if end > size:
                    return "its MP4/MOV index is cut short: copy the file again"
                if not _has_video_track(f, start, end):
                    return "it has no video track, only audio or data"
    except OSError as exc:
        return f"it cannot be read: {exc.strerror or exc}"
    declared = declared_size(p)
    if declared is not None and size < declared:
        return f"it is cut short: {size} of the {declared} bytes its container declares"
    if not any(head[:512]):
        return "its header is blank, all zero bytes: the file is damaged"
    if _looks_like_text(head):
        return "it is a text file, not a video"
    if opened:
        return "damaged video data, or a codec this OpenCV build cannot decode; try re-encoding it with ffmpeg"
    return "unknown container or codec, or a damaged file; try re-encoding it with ffmpeg"


def _looks_like_text(head: bytes) -> bool:
    for cut in range(4):  # the sniffed bytes may end inside a multi-byte character
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return bool(text) and sum(c.isprintable() or c in "\r\n\t" for c in text) >= 0.97 * len(text)
    return False
