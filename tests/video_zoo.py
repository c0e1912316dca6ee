"""A zoo of small real video files, valid and broken, made once per test session.

Real files made by Debian's /usr/bin/ffmpeg (H.264, HEVC, VP9, AV1, XviD, MPEG-2, WMV, FLV, ProRes, GIF in MP4,
MOV, MKV, WebM, AVI, MPEG-TS and raw streams) and by cv2.VideoWriter (MJPG, mp4v), in the shapes users' videos
come in: odd sizes, portrait, rotated by metadata, 29.97/60/12 fps, variable frame rate, grey, 10-bit, moov at
the end, cut short, zeroed headers, headers that lie about the frame count or the frame rate, files that are not
videos at all. Each entry says what a
correct reader must find, so tests compare against facts, not against the header.

    from video_zoo import video_zoo   # the session fixture; use `video_zoo` as a test argument
    for name, v in video_zoo.items(): v.path, v.kind, v.frames, v.duration_s
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

FFMPEG = Path("/usr/bin/ffmpeg")
#: testsrc2 draws moving shapes and a running counter: every frame differs from the last.
SOURCE = "testsrc2=size={w}x{h}:rate={rate}:duration={seconds}"

VALID, TRUNCATED, BROKEN = "valid", "truncated", "broken"

#: Every zoo entry by kind, known before the files exist (for pytest parametrization). An entry whose encoder
#: this ffmpeg lacks is not made; tests skip it.
VALID_NAMES = (
    "h264.mp4",
    "h264_odd_321x239.mp4",
    "h264_bframes.mp4",
    "h264_moov_at_end.mp4",
    "h264_aac.mp4",
    "trimmed_copy.mp4",
    "h264_mov.mov",
    "h264_ts.ts",
    "raw_h264.h264",
    "hevc.mkv",
    "hevc_10bit.mp4",
    "vp9.webm",
    "browser_recording.webm",
    "av1.mkv",
    "xvid.avi",
    "mjpeg.avi",
    "mp4v.mp4",
    "mpeg2.mpg",
    "wmv2.wmv",
    "flv1.flv",
    "prores.mov",
    "anim.gif",
    "hd1080.mp4",
    "tiny160x120.mp4",
    "portrait480x640.mp4",
    "rotated90.mp4",
    "clip ü 100% [1].mp4",
    "fps60.mp4",
    "fps29_97.mp4",
    "fps12.mp4",
    "vfr.mp4",
    "vfr_mkv.mkv",
    "gray_hevc.mkv",
    "gray_ffv1.mkv",
    "h264_10bit.mp4",
    "short3.mp4",
    "claims_5000_frames.avi",
    "claims_0_frames.avi",
    "fps_90000.avi",
    "zeroed_header_avi.avi",
    "zeroed_middle.avi",
)
TRUNCATED_NAMES = ("cut_faststart.mp4", "cut_avi.avi", "cut_mkv.mkv")
BROKEN_NAMES = (
    "cut_moov_at_end.mp4",
    "zeroed_header.mp4",
    "empty.mp4",
    "text.mp4",
    "random.avi",
    "audio_only.mp4",
    "audio_only_wav.wav",
)


@dataclass(frozen=True)
class ZooVideo:
    """One test file and what a correct reader finds in it.

    kind: VALID (every frame decodes), TRUNCATED (decodes up to a cut, then ends saying so) or BROKEN (no
    frame decodes: a clear one-line error). `times`: each frame's true time in seconds, from 0 (VALID), or the
    uncut original's (TRUNCATED: fewer decode). `fps`: the nominal rate. `size`: (width, height) as displayed,
    after the rotation metadata.
    """

    name: str
    path: Path
    kind: str
    times: tuple[float, ...] = ()
    fps: float = 0.0
    size: tuple[int, int] = (0, 0)
    note: str = ""

    @property
    def frames(self) -> int:
        return len(self.times)

    @property
    def last_t(self) -> float:
        return self.times[-1] if self.times else 0.0

    @property
    def duration_s(self) -> float:
        """Last frame's time plus one nominal frame period."""
        return self.last_t + 1.0 / self.fps if self.times else 0.0


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        [str(FFMPEG), "-nostdin", "-y", "-loglevel", "error", *args], check=True, capture_output=True, timeout=120
    )


def _encoder_available(name: str) -> bool:
    out = subprocess.run([str(FFMPEG), "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=30)
    return any(line.split()[1:2] == [name] for line in out.stdout.splitlines() if line.startswith(" "))


def _lavfi(w: int, h: int, rate: str, seconds: float) -> list[str]:
    return ["-f", "lavfi", "-i", SOURCE.format(w=w, h=h, rate=rate, seconds=seconds)]


def _moving_square_frames(n: int, w: int, h: int) -> np.ndarray:
    """Simple moving shapes for cv2.VideoWriter clips: a square crossing a gradient, a frame counter."""
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([(xx * 255 // max(w - 1, 1)), (yy * 255 // max(h - 1, 1)), np.full_like(xx, 96)], -1).astype(
        np.uint8
    )
    frames = np.repeat(base[None], n, 0)
    side = max(4, min(w, h) // 4)
    for i in range(n):
        x = int((w - side) * i / max(n - 1, 1))
        frames[i, h // 3 : h // 3 + side, x : x + side] = (255, 255, 255)
        cv2.putText(frames[i], str(i), (2, h - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    return frames


def _cv2_write(path: Path, fourcc: str, fps: float, frames: np.ndarray) -> None:
    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"cv2.VideoWriter cannot write {fourcc} here"
    for frame in frames:
        writer.write(frame)
    writer.release()


def _ffprobe_times(path: Path) -> tuple[float, ...]:
    """The times of the frames ffprobe decodes (edit lists applied), from 0: an oracle independent of OpenCV."""
    out = subprocess.run(
        [
            str(FFMPEG.with_name("ffprobe")),
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=best_effort_timestamp_time",
            "-of",
            "csv=p=0",
            str(path),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    times = [float(x.strip(",")) for x in out]
    return tuple(t - times[0] for t in times)


def _cut(src: Path, dst: Path, fraction: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def _zero(src: Path, dst: Path, start: int, length: int) -> Path:
    data = bytearray(src.read_bytes())
    data[start : start + length] = bytes(min(length, max(0, len(data) - start)))
    dst.write_bytes(bytes(data))
    return dst


def _patch_avi(src: Path, dst: Path, total_frames: int | None = None, rate: tuple[int, int] | None = None) -> Path:
    """Rewrite an AVI's header claims: avih dwTotalFrames and strh dwLength, or strh dwScale/dwRate."""
    data = bytearray(src.read_bytes())
    avih = data.find(b"avih")
    strh = data.find(b"strh")
    assert avih > 0 and strh > 0 and data[strh + 8 : strh + 12] == b"vids", f"{src}: no avih/strh vids header"
    # avih: usec/frame, max bytes/s, padding, flags, total frames
    # strh: type, handler, flags, priority+language, initial frames, scale, rate, start, length
    if total_frames is not None:
        struct.pack_into("<I", data, avih + 8 + 16, total_frames)
        struct.pack_into("<I", data, strh + 8 + 32, total_frames)
    if rate is not None:
        struct.pack_into("<II", data, strh + 8 + 20, *rate)
    dst.write_bytes(bytes(data))
    return dst


def build_zoo(out: Path) -> dict[str, ZooVideo]:
    """Write every zoo file under `out` (about 10 s); entries whose encoder this ffmpeg lacks are left out.

    File stems are unique, so a stream named after its file (FileSource) is named after its zoo entry.
    """
    out.mkdir(parents=True, exist_ok=True)
    zoo: dict[str, ZooVideo] = {}

    def add(name: str, kind: str, frames: int = 0, fps: float = 25.0, size=(0, 0), note: str = "") -> None:
        zoo[name] = ZooVideo(name, out / name, kind, tuple(k / fps for k in range(frames)), fps, size, note)

    def have(encoder: str) -> bool:
        return _encoder_available(encoder)

    qvga = _lavfi(320, 240, "25", 2)
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    fast = ["-movflags", "+faststart"]
    # -- H.264 in its usual containers
    _ffmpeg(*qvga, *h264, "-bf", "0", *fast, str(out / "h264.mp4"))
    add("h264.mp4", VALID, 50, size=(320, 240))
    _ffmpeg(
        *_lavfi(321, 239, "25", 2),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv444p",
        str(out / "h264_odd_321x239.mp4"),
    )
    add("h264_odd_321x239.mp4", VALID, 50, size=(321, 239), note="odd size (H.264 4:4:4)")
    _ffmpeg(
        *qvga,
        "-c:v",
        "libx264",
        "-preset",
        "medium",
        "-pix_fmt",
        "yuv420p",
        "-x264-params",
        "bframes=3:b-pyramid=normal:b-adapt=0",
        *fast,
        str(out / "h264_bframes.mp4"),
    )
    add("h264_bframes.mp4", VALID, 50, size=(320, 240), note="decode order differs from display order")
    _ffmpeg(*qvga, *h264, str(out / "h264_moov_at_end.mp4"))  # ffmpeg's default layout: index last
    add("h264_moov_at_end.mp4", VALID, 50, size=(320, 240))
    _ffmpeg(
        *qvga,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        *h264,
        "-c:a",
        "aac",
        "-shortest",
        str(out / "h264_aac.mp4"),
    )
    add("h264_aac.mp4", VALID, 50, size=(320, 240), note="with an audio track, as phones record")
    # cut from a longer video without re-encoding (how Kinetics-style clips are made): an edit list hides the
    # frames before the cut that the keyframe needs; the header still counts them. ffprobe says which show.
    _ffmpeg(
        *_lavfi(320, 240, "25", 4),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "50",
        "-bf",
        "2",
        str(out / ".long.mp4"),
    )
    _ffmpeg("-ss", "1.3", "-i", str(out / ".long.mp4"), "-t", "2", "-c", "copy", str(out / "trimmed_copy.mp4"))
    zoo["trimmed_copy.mp4"] = ZooVideo(
        "trimmed_copy.mp4",
        out / "trimmed_copy.mp4",
        VALID,
        _ffprobe_times(out / "trimmed_copy.mp4"),
        25.0,
        (320, 240),
        "edit list: header counts hidden pre-roll frames",
    )
    _ffmpeg(*_lavfi(320, 240, "30", 2), *h264, "-f", "mov", str(out / "h264_mov.mov"))
    add("h264_mov.mov", VALID, 60, 30.0, size=(320, 240))
    _ffmpeg(*qvga, *h264, "-f", "mpegts", str(out / "h264_ts.ts"))
    add("h264_ts.ts", VALID, 50, size=(320, 240), note="MPEG-TS clock starts at 1.4 s")
    _ffmpeg(*qvga, *h264, "-f", "h264", str(out / "raw_h264.h264"))
    add("raw_h264.h264", VALID, 50, size=(320, 240), note="elementary stream: no container, no times")
    # -- other codecs
    if have("libx265"):
        _ffmpeg(
            *qvga, "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", str(out / "hevc.mkv")
        )
        add("hevc.mkv", VALID, 50, size=(320, 240))
        _ffmpeg(
            *qvga,
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
            str(out / "hevc_10bit.mp4"),
        )
        add("hevc_10bit.mp4", VALID, 50, size=(320, 240), note="as iPhones record HDR")
    if have("libvpx-vp9"):
        _ffmpeg(
            *qvga,
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "300k",
            str(out / "vp9.webm"),
        )
        add("vp9.webm", VALID, 50, size=(320, 240))
    if have("libsvtav1") or have("libaom-av1"):
        av1 = (
            ["-c:v", "libsvtav1", "-preset", "12"]
            if have("libsvtav1")
            else ["-c:v", "libaom-av1", "-cpu-used", "8", "-row-mt", "1"]
        )
        _ffmpeg(*_lavfi(320, 240, "25", 1), *av1, str(out / "av1.mkv"))
        add("av1.mkv", VALID, 25, size=(320, 240), note="pip OpenCV cannot decode AV1: ffmpeg fallback")
    if have("libvpx"):  # as browsers record (MediaRecorder): streamed, no sizes, no index, resolution changes
        parts = []
        for i, (w, h) in enumerate(((320, 240), (640, 480))):
            parts.append(out / f".part{i}.webm")
            _ffmpeg(*_lavfi(w, h, "30", 1), "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", str(parts[-1]))
        (out / ".parts.txt").write_text("".join(f"file '{p.name}'\n" for p in parts))
        with open(out / "browser_recording.webm", "wb") as f:
            subprocess.run(
                [
                    str(FFMPEG),
                    "-nostdin",
                    "-loglevel",
                    "error",
                    "-f",
                    "concat",
                    "-safe",
                    "0",
                    "-i",
                    str(out / ".parts.txt"),
                    "-c",
                    "copy",
                    "-f",
                    "webm",
                    "pipe:1",
                ],
                stdout=f,
                check=True,
                timeout=60,
            )
        add(
            "browser_recording.webm",
            VALID,
            60,
            30.0,
            size=(320, 240),
            note="unknown sizes, no cues; 640x480 after 1 s (OpenCV scales it to the first size)",
        )
    xvid = ["-c:v", "libxvid"] if have("libxvid") else ["-c:v", "mpeg4", "-vtag", "XVID"]
    _ffmpeg(*qvga, *xvid, "-q:v", "5", str(out / "xvid.avi"))
    add("xvid.avi", VALID, 50, size=(320, 240), note="as UCF101")
    _cv2_write(out / "mjpeg.avi", "MJPG", 25.0, _moving_square_frames(50, 320, 240))
    add("mjpeg.avi", VALID, 50, size=(320, 240), note="cv2.VideoWriter")
    _cv2_write(out / "mp4v.mp4", "mp4v", 25.0, _moving_square_frames(50, 320, 240))
    add("mp4v.mp4", VALID, 50, size=(320, 240), note="cv2.VideoWriter")
    _ffmpeg(*qvga, "-c:v", "mpeg2video", "-f", "vob", str(out / "mpeg2.mpg"))
    add("mpeg2.mpg", VALID, 50, size=(320, 240), note="MPEG-PS (DVD, broadcast)")
    _ffmpeg(*qvga, "-c:v", "wmv2", str(out / "wmv2.wmv"))
    add("wmv2.wmv", VALID, 50, size=(320, 240))
    _ffmpeg(*qvga, "-c:v", "flv1", str(out / "flv1.flv"))
    add("flv1.flv", VALID, 50, size=(320, 240))
    _ffmpeg(*qvga, "-c:v", "prores_ks", "-profile:v", "0", str(out / "prores.mov"))
    add("prores.mov", VALID, 50, size=(320, 240))
    _ffmpeg(*_lavfi(320, 240, "10", 2), str(out / "anim.gif"))
    add("anim.gif", VALID, 20, 10.0, size=(320, 240), note="animated GIF, 10 fps")
    # -- sizes, orientation, names
    _ffmpeg(*_lavfi(1920, 1080, "25", 1), *h264, str(out / "hd1080.mp4"))
    add("hd1080.mp4", VALID, 25, size=(1920, 1080))
    _ffmpeg(*_lavfi(160, 120, "25", 2), *h264, str(out / "tiny160x120.mp4"))
    add("tiny160x120.mp4", VALID, 50, size=(160, 120))
    _ffmpeg(*_lavfi(480, 640, "25", 2), *h264, str(out / "portrait480x640.mp4"))
    add("portrait480x640.mp4", VALID, 50, size=(480, 640))
    _ffmpeg("-i", str(out / "h264.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(out / "rotated90.mp4"))
    add("rotated90.mp4", VALID, 50, size=(240, 320), note="320x240 stored, a display matrix turns it")
    odd_name = "clip ü 100% [1].mp4"
    shutil.copyfile(out / "h264.mp4", out / odd_name)
    add(odd_name, VALID, 50, size=(320, 240), note="spaces, non-ASCII, '%' and brackets in the name")
    # -- frame rates
    _ffmpeg(*_lavfi(320, 240, "60", 2), *h264, str(out / "fps60.mp4"))
    add("fps60.mp4", VALID, 120, 60.0, size=(320, 240))
    _ffmpeg(*_lavfi(320, 240, "30000/1001", 2.002), *h264, str(out / "fps29_97.mp4"))
    add("fps29_97.mp4", VALID, 60, 30000 / 1001, size=(320, 240))
    _ffmpeg(*_lavfi(320, 240, "12", 2), *h264, str(out / "fps12.mp4"))
    add("fps12.mp4", VALID, 24, 12.0, size=(320, 240))
    # variable frame rate: 25 fps with a 0.32 s pause after every 10th frame (a phone, a screen recorder)
    for name in ("vfr.mp4", "vfr_mkv.mkv"):
        _ffmpeg(*qvga, "-vf", "setpts=(N/25+0.32*floor(N/10))/TB", "-vsync", "vfr", *h264, str(out / name))
        zoo[name] = ZooVideo(
            name,
            out / name,
            VALID,
            tuple(k / 25 + 0.32 * (k // 10) for k in range(50)),
            25.0,
            (320, 240),
            "variable frame rate: pauses of 0.32 s",
        )
    # -- pixel formats
    if have("libx265"):
        _ffmpeg(
            *qvga,
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "gray",
            "-x265-params",
            "log-level=error",
            str(out / "gray_hevc.mkv"),
        )
        add("gray_hevc.mkv", VALID, 50, size=(320, 240))
    _ffmpeg(*qvga, "-c:v", "ffv1", "-pix_fmt", "gray", str(out / "gray_ffv1.mkv"))
    add("gray_ffv1.mkv", VALID, 50, size=(320, 240))
    _ffmpeg(*qvga, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", str(out / "h264_10bit.mp4"))
    add("h264_10bit.mp4", VALID, 50, size=(320, 240))
    # -- short: 3 frames, less than one feature window
    _ffmpeg(*_lavfi(320, 240, "25", 0.12), *h264, str(out / "short3.mp4"))
    add("short3.mp4", VALID, 3, size=(320, 240))
    # -- headers that lie
    _patch_avi(out / "xvid.avi", out / "claims_5000_frames.avi", total_frames=5000)
    add("claims_5000_frames.avi", VALID, 50, size=(320, 240), note="header claims 5000 frames")
    _patch_avi(out / "xvid.avi", out / "claims_0_frames.avi", total_frames=0)
    add("claims_0_frames.avi", VALID, 50, size=(320, 240), note="header claims 0 frames")
    _patch_avi(out / "mjpeg.avi", out / "fps_90000.avi", rate=(1, 90000))
    add("fps_90000.avi", VALID, 50, size=(320, 240), note="header claims 90000 fps: 25 fps assumed")
    _zero(out / "mjpeg.avi", out / "zeroed_header_avi.avi", 0, 4096)
    add(
        "zeroed_header_avi.avi",
        VALID,
        50,
        size=(320, 240),
        note="RIFF header zeroed: ffmpeg finds the JPEG frames by their content, 25 fps assumed",
    )
    # -- damaged in the middle, not cut: decodes around the damage
    _zero(out / "mjpeg.avi", out / "zeroed_middle.avi", (out / "mjpeg.avi").stat().st_size // 2, 4000)
    add("zeroed_middle.avi", VALID, 50, size=(320, 240), note="4 KB zeroed mid-file: a frame or two lost")
    # -- cut short: decodes up to the cut
    _cut(out / "h264.mp4", out / "cut_faststart.mp4", 0.6)
    add("cut_faststart.mp4", TRUNCATED, 50, size=(320, 240), note="index first, data cut at 60 %")
    _cut(out / "xvid.avi", out / "cut_avi.avi", 0.5)
    add("cut_avi.avi", TRUNCATED, 50, size=(320, 240))
    _cut(out / "gray_ffv1.mkv", out / "cut_mkv.mkv", 0.5)
    add("cut_mkv.mkv", TRUNCATED, 50, size=(320, 240))
    # -- broken: no frame can be decoded
    _cut(out / "h264_moov_at_end.mp4", out / "cut_moov_at_end.mp4", 0.6)
    add("cut_moov_at_end.mp4", BROKEN, note="index at the end, lost with the cut")
    _zero(out / "h264.mp4", out / "zeroed_header.mp4", 0, 4096)
    add("zeroed_header.mp4", BROKEN, note="first 4 KB zeroed (ftyp, moov)")
    (out / "empty.mp4").write_bytes(b"")
    add("empty.mp4", BROKEN)
    (out / "text.mp4").write_text("this is not a video\n" * 200)
    add("text.mp4", BROKEN)
    (out / "random.avi").write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    add("random.avi", BROKEN, note="random bytes")
    _ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "aac", "-f", "mp4", str(out / "audio_only.mp4")
    )
    add("audio_only.mp4", BROKEN, note="AAC, no video track")
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(out / "audio_only_wav.wav"))
    add("audio_only_wav.wav", BROKEN)
    stems = [Path(name).stem for name in zoo]
    assert len(set(stems)) == len(stems), "zoo file stems must be unique"
    for names, kind in ((VALID_NAMES, VALID), (TRUNCATED_NAMES, TRUNCATED), (BROKEN_NAMES, BROKEN)):
        assert {n for n, v in zoo.items() if v.kind == kind} <= set(names), f"update the {kind} names"
    return zoo


@pytest.fixture(scope="session")
def video_zoo(tmp_path_factory) -> dict[str, ZooVideo]:
    """Every zoo file, made once per session (about 6 s); skips when Debian's ffmpeg is absent."""
    for tool in (FFMPEG, FFMPEG.with_name("ffprobe")):
        if shutil.which(str(tool)) is None:
            pytest.skip(f"{tool} not found (Debian package ffmpeg): cannot make the test videos")
    return build_zoo(tmp_path_factory.mktemp("video_zoo"))
