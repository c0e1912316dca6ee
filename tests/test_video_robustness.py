"""Any real video a user throws at actionstream: every codec, container, size, rate and kind of damage in the zoo
(tests/video_zoo.py) is read with honest timestamps, preprocessed, turned into training features and streamed
by the CLI; broken files end in one clear line, cut files decode up to the cut and say so.
"""

from __future__ import annotations

import functools
import http.server
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from video_zoo import BROKEN_NAMES, TRUNCATED_NAMES, VALID_NAMES, ZooVideo, video_zoo  # noqa: F401 (fixture)

from export.quantize import calibration_frames, calibration_videos
from streaming.bundle import load_bundle
from streaming.clip_features import extract_clip
from streaming.datasets import discover
from streaming.errors import ActionstreamError, SourceError
from streaming.extractor import Extractor
from streaming.preprocess import FrameSpec, preprocess_frame
from streaming.sampler import Sampling, stride_indices
from streaming.video import FALLBACK_FPS, VIDEO_SUFFIXES, FrameReader, FrameTimer, declared_size, probe_video
from training.features import extract_dataset

REPO = Path(__file__).resolve().parents[1]
FEATURE_FPS = 10.0
SPEC = FrameSpec(64, 64)
GREY = ("gray_hevc.mkv", "gray_ffv1.mkv")
#: Damaged mid-file: a frame or two may be lost, so counts and times are checked loosely.
LOSSY = ("zeroed_middle.avi",)


def entry(zoo: dict[str, ZooVideo], name: str) -> ZooVideo:
    if name not in zoo:
        pytest.skip(f"{name}: this ffmpeg has no encoder for it")
    return zoo[name]


#: Zoo videos some OpenCV wheels open but cannot decode (5.0 has no AV1 decoder; 5.1 has one).
FFMPEG_ONLY_CANDIDATES = ("av1.mkv", "prores.mov", "gray_ffv1.mkv", "hevc_10bit.mp4", "h264_10bit.mp4")


def ffmpeg_only(zoo: dict[str, ZooVideo]) -> ZooVideo:
    """A zoo video this OpenCV opens but cannot decode: the one the ffmpeg fallback exists for."""
    for name in FFMPEG_ONLY_CANDIDATES:
        if name in zoo:
            cap = cv2.VideoCapture(str(zoo[name].path))
            try:
                if cap.isOpened() and not cap.read()[0]:
                    return zoo[name]
            finally:
                cap.release()
    pytest.skip(f"this OpenCV ({cv2.__version__}) decodes every zoo video: nothing needs the ffmpeg fallback")


def read_all(path: Path) -> tuple[FrameReader, list[float], list[np.ndarray]]:
    reader = FrameReader(path)
    times, frames = [], []
    for t, frame in reader:
        times.append(t)
        frames.append(frame)
    return reader, times, frames


def shape_ok(frame: np.ndarray, size: tuple[int, int]) -> bool:
    """As displayed; OpenCV's FFmpeg reader rounds odd sizes down to even (the ffmpeg fallback does not)."""
    w, h = size
    return frame.shape in ((h, w, 3), (h & ~1, w & ~1, 3))


# -- reading ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VALID_NAMES)
def test_every_frame_decodes_with_increasing_times_and_preprocesses(video_zoo, name):
    v = entry(video_zoo, name)
    reader, times, frames = read_all(v.path)
    period = 1.0 / v.fps
    if name in LOSSY:
        assert v.frames - 3 <= len(frames) <= v.frames
    else:
        assert len(frames) == v.frames, f"{name}: {len(frames)} frames, header claimed {reader.info.frame_count}"
    assert times[0] == 0.0 and all(b > a for a, b in zip(times, times[1:])), f"{name}: times not increasing"
    assert abs(times[-1] - v.last_t) <= (1.5 if name in LOSSY else 0.5) * period + 1e-3, f"{name}: {times[-1]}"
    if name not in LOSSY:  # each frame at its true time, not just the last one (VFR pauses included)
        assert np.allclose(times, v.times, atol=2e-3), f"{name}: times {times[:12]}..."
    assert not reader.truncated and reader.end_reason.startswith("end of file"), reader.end_reason
    assert reader.frames_read == len(frames)
    assert all(f.dtype == np.uint8 and shape_ok(f, v.size) for f in frames), f"{name}: {frames[0].shape}"
    assert v.frames < 4 or not np.array_equal(frames[0], frames[-1])  # real, moving content
    if name in GREY:
        assert all(np.array_equal(f[..., 0], f[..., 2]) for f in frames[:5])
    assert 5 < float(np.mean(frames[len(frames) // 2])) < 250  # 10-bit and grey decode to sensible 8-bit
    out = np.empty((len(frames), SPEC.height, SPEC.width, 3), np.float32)
    for i, frame in enumerate(frames):
        preprocess_frame(frame, SPEC, out=out[i])
    assert np.isfinite(out).all() and out.min() >= -1.0 and out.max() <= 1.0


@pytest.mark.parametrize("name", TRUNCATED_NAMES)
def test_a_cut_file_decodes_up_to_the_cut_and_says_so(video_zoo, name):
    v = entry(video_zoo, name)
    reader, times, frames = read_all(v.path)
    assert 0.2 * v.frames < len(frames) < v.frames
    assert times[0] == 0.0 and all(b > a for a, b in zip(times, times[1:]))
    assert np.allclose(times, v.times[: len(times)], atol=0.5 / v.fps)
    assert reader.truncated and reader.end_reason.startswith("cut short")
    assert f"of {v.frames} frames" in reader.end_reason and "bytes its container declares" in reader.end_reason
    assert "\n" not in reader.end_reason


#: What the one-line error of each broken zoo file must say.
BROKEN_WHY = {
    "cut_moov_at_end.mp4": "moov box, is missing",
    "zeroed_header.mp4": "header is blank",
    "empty.mp4": "empty, 0 bytes",
    "text.mp4": "text file",
    "random.avi": "unknown container or codec",
    "audio_only.mp4": "no video track",
    "audio_only_wav.wav": "no video",
}


@pytest.mark.parametrize("name", BROKEN_NAMES)
def test_a_broken_file_fails_in_one_line_naming_it_and_the_problem(video_zoo, name):
    v, why = entry(video_zoo, name), BROKEN_WHY[name]
    with pytest.raises(SourceError) as err:
        read_all(v.path)
    message = str(err.value)
    assert message.startswith(f"{v.path}: cannot be opened as a video (") and why in message
    assert "\n" not in message


def test_the_header_is_never_trusted_for_frame_count_or_rate(video_zoo):
    lying = video_zoo["claims_5000_frames.avi"]
    assert probe_video(lying.path).frame_count == 5000
    reader, _, frames = read_all(lying.path)
    assert len(frames) == 50 and not reader.truncated
    assert reader.end_reason == "end of file (decoded 50 of 5000 frames the header claims; the file is complete)"
    fast = video_zoo["fps_90000.avi"]
    assert probe_video(fast.path).fps == 0.0  # not believed
    _, times, _ = read_all(fast.path)
    assert times[-1] == pytest.approx(49 / FALLBACK_FPS)
    vfr = video_zoo["vfr_mkv.mkv"]  # Matroska has no count: OpenCV's duration × fps claims 80
    reader, _, frames = read_all(vfr.path)
    assert len(frames) == 50 and reader.end_reason == "end of file"


def test_a_relative_name_with_a_colon_is_a_file_not_an_ffmpeg_protocol(video_zoo, tmp_path, monkeypatch):
    shutil.copyfile(video_zoo["h264.mp4"].path, tmp_path / "cam1:2024-05-01.mp4")
    monkeypatch.chdir(tmp_path)
    assert len(read_all(Path("cam1:2024-05-01.mp4"))[2]) == 50
    v = ffmpeg_only(video_zoo)  # the ffmpeg fallback too
    shutil.copyfile(v.path, tmp_path / f"-cam2:{v.path.name}")
    reader, _, frames = read_all(Path(f"-cam2:{v.path.name}"))
    assert len(frames) == len(v.times) and reader.decoder == "ffmpeg"


def test_every_zoo_suffix_is_a_known_video_suffix(video_zoo):
    assert {v.path.suffix.lower() for v in video_zoo.values() if v.kind != "broken"} - {".h264"} <= set(VIDEO_SUFFIXES)


def test_folder_scans_find_every_video_suffix_in_the_zoo(video_zoo, tmp_path):
    # one list for the whole project: calibration folders and training data find .ts, .gif, .3gp... alike
    names = ("h264_ts.ts", "anim.gif", "xvid.avi", "vp9.webm")
    cls = tmp_path / "data" / "Walking"
    cls.mkdir(parents=True)
    for name in names:
        if name in video_zoo:
            shutil.copyfile(video_zoo[name].path, cls / name)
    shutil.copyfile(video_zoo["h264.mp4"].path, cls / "clip.3gp")
    shutil.copyfile(video_zoo["h264_ts.ts"].path, cls / "clip.m2ts")
    found = sorted(p.name for p in calibration_videos(tmp_path / "data"))
    assert found == sorted(p.name for p in cls.iterdir())
    assert sorted(c.path.name for c in discover(tmp_path / "data").clips) == found


def test_the_container_says_how_many_bytes_a_whole_file_has(video_zoo):
    for name in ("h264.mp4", "h264_moov_at_end.mp4", "xvid.avi", "mjpeg.avi", "gray_ffv1.mkv", "prores.mov"):
        path = video_zoo[name].path
        assert declared_size(path) == path.stat().st_size, name
    for name in TRUNCATED_NAMES:
        path = video_zoo[name].path
        assert declared_size(path) > path.stat().st_size, name
    assert declared_size(video_zoo["h264_ts.ts"].path) is None  # MPEG-TS carries no total
    assert declared_size(video_zoo["text.mp4"].path) is None


def test_undecodable_codec_without_ffmpeg_says_what_to_do(video_zoo, monkeypatch, tmp_path):
    v = ffmpeg_only(video_zoo)
    assert FrameReader(v.path).info.frame_count == len(v.times)  # OpenCV opens it, but its wheel cannot decode it
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg to fall back on
    with pytest.raises(SourceError, match=r"no decodable frames \(its \S+ video .* install ffmpeg.* re-encode"):
        read_all(v.path)


def test_ffmpeg_fallback_stops_its_decoder_when_the_reader_is_abandoned(video_zoo):
    v = ffmpeg_only(video_zoo)
    reader = FrameReader(v.path)
    frames = iter(reader)
    for _ in range(3):
        next(frames)
    assert reader.decoder == "ffmpeg"
    frames.close()
    if Path("/proc").is_dir():
        children = [s.split() for s in (Path(p).read_text() for p in _child_stats())]
        assert not [c for c in children if c[1] == "(ffmpeg)" and c[2] != "Z"], children


def _child_stats() -> list[str]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            out.append(str(stat))
    return out


# -- int8 calibration frames (export/quantize) --------------------------------------------------------------


def frame_indices(path: Path, chosen: np.ndarray) -> list[int]:
    """Which frame of the video each chosen (preprocessed) frame is."""
    every = [preprocess_frame(f, SPEC) for _, f in FrameReader(path)]
    return [next(i for i, f in enumerate(every) if np.array_equal(f, c)) for c in chosen]


@pytest.mark.parametrize(
    "name", ["vfr_mkv.mkv", "vfr.mp4", "claims_5000_frames.avi", "claims_0_frames.avi", "trimmed_copy.mp4"]
)
def test_calibration_frames_are_picked_by_time_not_by_the_header_count(video_zoo, name):
    v = entry(video_zoo, name)
    calib, held, _ = calibration_frames(v.path, SPEC, 200, 32)  # more than the video has: every frame
    assert len(calib) + len(held) == v.frames and len(held) >= 4, (len(calib), len(held))
    calib, held, _ = calibration_frames(v.path, SPEC, 8, 4)
    assert (len(calib), len(held)) == (8, 4)
    times = [v.times[i] for i in frame_indices(v.path, np.concatenate([calib, held]))]
    split = 0.8 * v.duration_s  # calibration from the first 80 % of the time, held-out from the rest
    assert all(t < split for t in times[:8]) and all(t >= split for t in times[8:]), times
    gaps = np.diff(times[:8])  # spread evenly over the time: no gap much wider than its share
    widest_step = max(np.diff(v.times))
    assert gaps.min() > 0 and gaps.max() <= split / 8 + widest_step + 1e-6, times


def test_a_bad_video_in_a_calibration_folder_is_skipped_and_reported(video_zoo, tmp_path, caplog):
    folder = tmp_path / "calib"
    folder.mkdir()
    for name in ("h264.mp4", "xvid.avi", "random.avi", "mjpeg.avi", "cut_moov_at_end.mp4", "vfr_mkv.mkv"):
        shutil.copyfile(video_zoo[name].path, folder / name)
    with caplog.at_level(logging.WARNING, logger="actionstream"):
        calib, held, info = calibration_frames(folder, SPEC, 24, 8)
    assert (len(calib), len(held)) == (24, 8)
    bad = {str(folder / "random.avi"), str(folder / "cut_moov_at_end.mp4")}
    assert set(info["skipped_videos"]) == bad and all("\n" not in why for why in info["skipped_videos"].values())
    assert bad.isdisjoint(info["calibration_videos"] + info["heldout_videos"])
    assert len(info["calibration_videos"]) == 3 and info["heldout_videos"] == [str(folder / "xvid.avi")]
    assert all(any(b in r.getMessage() for r in caplog.records) for b in bad)
    for good in ("h264.mp4", "xvid.avi", "mjpeg.avi", "vfr_mkv.mkv"):
        (folder / good).unlink()
    with pytest.raises(
        ActionstreamError,
        match=r"^no usable calibration video: .*cannot be opened as a video.*"
        r"\(and 1 other video\(s\) failed\)$",
    ) as err:
        calibration_frames(folder, SPEC, 24, 8)
    assert "\n" not in str(err.value)


# -- timestamps ---------------------------------------------------------------------------------------------


def times_for(pos_msec: list[float], fps: float = 25.0) -> list[float]:
    timer = FrameTimer(fps)
    return [timer.next(p) for p in pos_msec]


def test_frame_timer_counts_from_the_first_frame_and_keeps_true_spacing():
    assert times_for([1400.0, 1440.0, 1480.0]) == pytest.approx([0.0, 0.04, 0.08])  # MPEG-TS start
    assert times_for([-80.0, -40.0, 0.0]) == pytest.approx([0.0, 0.04, 0.08])  # edit list before zero
    assert times_for([0.0, 40.0, 400.0, 440.0]) == pytest.approx([0.0, 0.04, 0.4, 0.44])  # a real pause


def test_frame_timer_replaces_missing_repeated_and_implausible_times():
    nan = float("nan")
    assert times_for([nan, nan, nan]) == pytest.approx([0.0, 0.04, 0.08])
    assert times_for([nan, 1400.0, 1440.0]) == pytest.approx([0.0, 0.04, 0.08])  # times start late
    assert times_for([0.0, 0.0, 0.0, 0.0]) == pytest.approx([0.0, 0.04, 0.08, 0.12])  # all zero (no pts)
    assert times_for([0.0, 40.0, 30.0, 80.0]) == pytest.approx([0.0, 0.04, 0.08, 0.12])  # a step back
    assert times_for([1000 * k / 90000 for k in range(4)], fps=0.0) == pytest.approx([0.0, 0.04, 0.08, 0.12])
    assert times_for([0.0, 40.0, 80.0], fps=90000) == pytest.approx([0.0, 0.04, 0.08])


def test_frame_timer_follows_a_restarted_clock():
    # two files joined, or a wrapped MPEG-TS clock: the second part keeps its own spacing after the first
    got = times_for([0.0, 1000.0, 2000.0, 3000.0, 0.0, 100.0, 200.0], fps=1.0)
    assert got == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0, 4.1, 4.2])
    assert all(b > a for a, b in zip(got, got[1:]))


# -- training extraction ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def extractor(tiny_bundle) -> Extractor:
    return Extractor(load_bundle(tiny_bundle), device="cpu")


@pytest.mark.parametrize("name", VALID_NAMES)
def test_extract_clip_gives_features_at_the_feature_rate(video_zoo, extractor, name):
    v = entry(video_zoo, name)
    clip = extract_clip(v.path, extractor, Sampling("stride", feature_rate=FEATURE_FPS, window=8))
    expected = len(stride_indices(list(v.times), FEATURE_FPS))
    assert abs(len(clip.feats) - expected) <= 1, f"{name}: {len(clip.feats)} features, expected {expected}"
    if name not in ("vfr.mp4", "vfr_mkv.mkv"):  # evenly spaced: one feature per 0.1 s of video
        assert abs(len(clip.feats) - (math.floor(v.last_t * FEATURE_FPS + 1e-6) + 1)) <= 1
    assert clip.feats.shape[1] == extractor.feature_size and np.isfinite(clip.feats).all()
    assert all(b > a for a, b in zip(clip.times, clip.times[1:]))
    assert not clip.truncated


@pytest.mark.parametrize("name", TRUNCATED_NAMES)
def test_extract_clip_of_a_cut_file_keeps_what_decoded(video_zoo, extractor, name):
    v = entry(video_zoo, name)
    clip = extract_clip(v.path, extractor, Sampling("stride", feature_rate=FEATURE_FPS, window=8))
    assert 2 <= len(clip.feats) < v.duration_s * FEATURE_FPS and clip.truncated


def test_extract_dataset_lists_broken_files_as_failed_and_keeps_the_rest(video_zoo, tiny_bundle, tmp_path):
    paths = [v.path for v in video_zoo.values()]
    result = extract_dataset(
        paths,
        load_bundle(tiny_bundle),
        Sampling("stride", feature_rate=FEATURE_FPS, window=8),
        tmp_path / "cache",
        device="cpu",
        batch_size=16,
        progress=False,
    )
    failed = dict(result.failed)
    assert set(failed) == {str(v.path) for v in video_zoo.values() if v.kind == "broken"}
    assert all(why and "\n" not in why and "Traceback" not in why for why in failed.values()), failed
    assert set(result.features) == {str(v.path) for v in video_zoo.values() if v.kind != "broken"}
    for v in video_zoo.values():
        if v.kind != "broken":
            clip = result.features[str(v.path)]
            assert len(clip.feats) >= 1 and clip.truncated == (v.kind == "truncated"), v.name


# -- the streaming CLI --------------------------------------------------------------------------------------


def cli(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streaming", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def noise(stderr: str) -> list[str]:
    """Tracebacks and FFmpeg's or OpenCV's own log lines ('[h264 @ 0x..]', '[ WARN:0@..]')."""
    return [line for line in stderr.splitlines() if line.startswith(("[", "Traceback", "  File "))]


def test_cli_streams_every_readable_file_to_its_end(video_zoo, tiny_bundle):
    readable = [v for v in video_zoo.values() if v.kind != "broken"]
    args = [a for v in readable for a in ("--source", v.path)]
    out = cli("run", "--bundle", tiny_bundle, *args, "--fast", "--jsonl", "--device", "cpu", "--no-metrics")
    assert out.returncode == 0, out.stderr[-3000:]
    assert noise(out.stderr) == [], out.stderr[-3000:]
    events = [json.loads(line) for line in out.stdout.splitlines()]
    for v in readable:
        stream = v.path.stem
        mine = [e for e in events if e["stream"] == stream]
        preds = [e for e in mine if e["type"] == "prediction"]
        ends = [e for e in mine if e["type"] == "status" and e["state"] in ("ended", "failed")]
        assert len(ends) == 1 and ends[0]["state"] == "ended" and ends[0] is mine[-1], (v.name, mine[-3:])
        if v.kind == "truncated":
            assert ends[0]["reason"].startswith("cut short"), ends[0]
        else:
            assert ends[0]["reason"].startswith("end of file"), ends[0]
        if v.name == "short3.mp4":  # 3 frames (0.12 s): one feature, too little to loop into a window
            assert not preds and "no prediction: too short to hold an action" in ends[0]["reason"], ends[0]
        elif v.kind == "truncated" and not preds:  # the part before the cut holds no whole window: not looped
            assert "no prediction: the file was cut short" in ends[0]["reason"], ends[0]
        else:
            assert preds, f"{v.name}: no prediction"
    # each stream that gave no prediction says so on stderr; the others did, so the run succeeded
    warned = {line.split(":")[1].strip() for line in out.stderr.splitlines() if line.startswith("warning: ")}
    assert "short3" in warned, out.stderr


def test_cli_ends_each_broken_file_with_one_clear_line_and_fails(video_zoo, tiny_bundle):
    broken = [v for v in video_zoo.values() if v.kind == "broken"]
    args = [a for v in broken for a in ("--source", v.path)]
    out = cli("run", "--bundle", tiny_bundle, *args, "--fast", "--device", "cpu", "--no-metrics")
    assert out.returncode != 0
    assert noise(out.stderr) == [], out.stderr[-3000:]
    errors = out.stderr.splitlines()
    for v in broken:
        lines = [line for line in out.stdout.splitlines() if f"  {v.path.stem}  failed: " in line]
        assert len(lines) == 1 and str(v.path) in lines[0], (v.name, out.stdout[-2000:])
        assert "cannot be opened as a video" in lines[0] or "no decodable frames" in lines[0]
        mine = [line for line in errors if line.startswith(f"error: {v.path.stem}: {v.path}: ")]
        assert len(mine) == 1 and mine[0].endswith(lines[0].split(" failed: ", 1)[1]), (v.name, errors)
    assert len(errors) == len(broken), errors  # every source failed: each says why on stderr, nothing else


def test_cli_keeps_ffmpeg_quiet_for_network_sources(video_zoo, tiny_bundle):
    handler = functools.partial(QuietFileHandler, directory=str(video_zoo["cut_moov_at_end.mp4"].path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cut_moov_at_end.mp4"
        out = cli("run", "--bundle", tiny_bundle, "--source", url, "--jsonl", "--device", "cpu", "--no-metrics")
    finally:
        server.shutdown()
        server.server_close()
    assert out.returncode == 1
    # FFmpeg's own "[mov,mp4,... @ 0x..] moov atom not found" would come first, from inside OpenCV
    assert out.stderr.splitlines() == [
        f"error: 127.0.0.1:{server.server_address[1]}/cut_moov_at_end.mp4: "
        f"cannot open {url} (refused, no answer within 5 s, or not a video stream)"
    ]


class QuietFileHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_cli_single_broken_file_exits_non_zero_without_a_traceback(video_zoo, tiny_bundle):
    v = video_zoo["cut_moov_at_end.mp4"]
    out = cli("run", "--bundle", tiny_bundle, "--source", v.path, "--fast", "--jsonl", "--device", "cpu")
    assert out.returncode != 0 and noise(out.stderr) == [], out.stderr
    failed = [json.loads(line) for line in out.stdout.splitlines() if '"failed"' in line]
    assert len(failed) == 1 and "moov box, is missing" in failed[0]["reason"]
