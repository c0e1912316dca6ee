"""The reliability gaps a hostile test of the build found (issue 14, section 2), each pinned by a test.

Everything is real: the loopback GStreamer RTSP server (frozen with SIGSTOP), broken files made with OpenCV and
ffmpeg, the `python -m streaming` CLI in a subprocess, ONNX files with their metadata.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_bundle import write_color_clip

from streaming.events import SourceState

REPO = Path(__file__).resolve().parents[1]
UCF_MINI = REPO.parent / "shared" / "data" / "ucf101-mini"


def cli(*args: str | Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streaming", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


# -- a frozen RTSP camera -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return write_color_clip(tmp_path_factory.mktemp("frozen") / "red.avi", [("red", 60.0)], size=(128, 96))


@pytest.mark.rtsp
def test_a_frozen_rtsp_camera_is_reconnecting_within_the_read_timeout_and_replays_no_frame(long_clip, rtsp_server):
    from streaming.sources import NetworkSource

    server = rtsp_server(long_clip)
    read_timeout_s = 3.0
    source = NetworkSource(server.url, name="cam", read_timeout_s=read_timeout_s, backoff_initial_s=0.5)
    source.start()
    try:
        deadline = time.monotonic() + 30
        frames = 0
        while frames < 10 and time.monotonic() < deadline:  # live, and frames flowing
            frames += source.read(timeout=1.0) is not None
        assert source.state == SourceState.LIVE, source.pop_statuses()
        source.pop_statuses()
        os.kill(server.proc.pid, signal.SIGSTOP)  # the camera freezes: the connection stays open, nothing comes
        frozen_at = time.monotonic()
        late = []  # frames handed out as new after the freeze
        reconnecting_at = None
        while time.monotonic() < frozen_at + 3 * read_timeout_s and reconnecting_at is None:
            frame = source.read(timeout=0.05)
            if frame is not None and frame.captured_at > frozen_at + 0.3:  # in flight at the freeze: not late
                late.append(round(frame.captured_at - frozen_at, 2))
            for status in source.pop_statuses():
                if status.state == SourceState.RECONNECTING and reconnecting_at is None:
                    reconnecting_at = time.monotonic()
                    assert "no frame for 3 s" in status.reason, status
            if source.state == SourceState.LIVE:
                assert reconnecting_at is None
        assert reconnecting_at is not None, f"still {source.state.value} {3 * read_timeout_s:g} s after the freeze"
        assert reconnecting_at - frozen_at <= read_timeout_s + 0.75, reconnecting_at - frozen_at
        time.sleep(read_timeout_s * 2)  # OpenCV's own read timeouts hand back the frames it held: never as new
        while (frame := source.read()) is not None:
            late.append(round(frame.captured_at - frozen_at, 2))
        assert late == [], f"frames handed out as new after the freeze, at +{late} s"
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
        source.stop()


# -- files that hold no action --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def no_action_files(tmp_path_factory) -> dict[str, Path]:
    """A real clip cut to its first 30 %, a PNG named .mp4, a one-frame video, a video with frames 3 s apart."""
    import cv2

    d = tmp_path_factory.mktemp("no_action")
    ucf = sorted((UCF_MINI / "UCF-101").glob("*/*.avi"))
    if ucf:
        data = ucf[0].read_bytes()
        (d / "cut.avi").write_bytes(data[: int(0.3 * len(data))])
    else:  # no shared data here: a colour clip cut the same way
        data = write_color_clip(d / "whole.avi", [("red", 4.0)]).read_bytes()
        (d / "cut.avi").write_bytes(data[: int(0.3 * len(data))])
    ok, png = cv2.imencode(".png", np.full((72, 96, 3), 40, np.uint8))
    (d / "still.mp4").write_bytes(png.tobytes())
    write_color_clip(d / "one.avi", [("red", 0.04)])
    # frames 3 s apart: every frame is past the 2 s gap rule, so no window ever fills
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=96x72:r=1/3", "-t", "30"]
        + ["-c:v", "mjpeg", str(d / "sparse.avi")],
        check=True,
    )
    return {p.stem: p for p in d.iterdir()}


@pytest.mark.parametrize(
    "name, said",
    [
        ("cut", "cut short"),
        ("still", "a PNG image, not a video"),
        ("one", "too short to hold an action"),
        ("sparse", "too few frames"),
    ],
)
def test_a_single_file_without_a_real_prediction_says_why_and_fails(no_action_files, name, said):
    """With the demo model (a 4 s window), as the hostile test ran it."""
    out = cli("run", "--source", no_action_files[name], "--fast", "--jsonl", "--device", "cpu")
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert out.returncode == 1, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    assert [e for e in events if e["type"] == "prediction"] == []  # not "red 1.00 [partial]"
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and said in errors[0], errors
    assert "Traceback" not in out.stderr
    ends = [e for e in events if e["type"] == "status" and e["state"] in ("ended", "failed")]
    assert len(ends) == 1 and said in ends[0]["reason"], ends


def test_a_source_with_frames_3_s_apart_is_told_it_delivers_too_few_frames(tiny_bundle, no_action_files):
    from streaming.engine import Engine, EngineConfig
    from streaming.events import Status
    from streaming.sources import FileSource

    engine = Engine(tiny_bundle, EngineConfig(device="cpu"))
    with engine:
        statuses = [
            e
            for e in engine.run_until_done([FileSource(no_action_files["sparse"], realtime=False)])
            if isinstance(e, Status)
        ]
    said = [s.reason for s in statuses if s.reason.startswith("too few frames")]
    assert len(said) == 1, [s.reason for s in statuses]
    assert "one every 3.0 s" in said[0] and "5 frames per second" in said[0], said


def test_a_file_cut_short_after_whole_windows_predicts_and_warns(tiny_bundle, no_action_files):
    """The tiny model's window is 1.6 s: the 1.8 s before the cut hold one; the cut is still said on stderr."""
    out = cli("run", "--bundle", tiny_bundle, "--source", no_action_files["cut"], "--fast", "--jsonl")
    assert out.returncode == 0, out.stderr[-2000:]
    assert any(json.loads(line)["type"] == "prediction" for line in out.stdout.splitlines())
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning: cut: cut short")]
    assert len(warnings) == 1, out.stderr


def test_replay_reports_files_without_an_action_as_failed_clips(no_action_files, color_clips):
    from streaming.demo import demo_bundle_path
    from streaming.engine import Engine, EngineConfig
    from streaming.replay import ReplayClip, replay_report

    clips = [ReplayClip(no_action_files[n], "SitDown") for n in ("cut", "still", "one")]
    clips.append(ReplayClip(color_clips["red"], "SitDown"))  # 4 s: one whole window of the demo model
    with Engine(demo_bundle_path(), EngineConfig(device="cpu")) as engine:
        report = replay_report(engine, clips, offline=False, progress=False)
    failed = {Path(f["path"]).stem: f["reason"] for f in report["clips_failed"]}
    assert set(failed) == {"cut", "still", "one"}, failed
    assert "cut short" in failed["cut"] and "not a video" in failed["still"] and "too short" in failed["one"]
    assert report["clips_scored"] == 1


# -- labels that travel with the head ------------------------------------------------------------------------


def _demo_copy(tmp_path: Path) -> Path:
    import shutil

    from streaming.demo import demo_bundle_path

    out = tmp_path / "demo"
    shutil.copytree(demo_bundle_path(), out)
    return out


def test_reversed_labels_in_the_manifest_are_refused_by_load_and_verify(tmp_path):
    from export.verify import verify_bundle
    from streaming.bundle import load_bundle
    from streaming.errors import BundleError

    bundle = _demo_copy(tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["labels"] = manifest["labels"][::-1]  # same count: every shape check still holds
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))
    with pytest.raises(BundleError, match="labels do not match the labels inside the head") as exc:
        load_bundle(bundle)
    assert "\n" not in str(exc.value) and "'SitDown' in the head, 'JumpingJack' in the manifest" in str(exc.value)
    result = verify_bundle(bundle, device="cpu")
    assert not result.ok and "labels do not match" in result.first_failure
    out = subprocess.run(
        [sys.executable, "-m", "export", "verify", str(bundle), "--device", "cpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0 and "labels do not match" in out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    run = cli("run", "--bundle", bundle, "--source", "demo", "--fast", "--duration", "5")
    assert run.returncode == 2 and run.stderr.strip().splitlines()[-1].startswith("error: "), run.stderr


def test_a_head_without_labels_inside_still_loads(tmp_path, tiny_bundle):
    """Older exports (and the tiny test bundle) carry no labels in the head: the manifest's are taken."""
    import onnx

    from export.verify import verify_bundle
    from streaming.bundle import MANIFEST, head_labels, load_bundle, sha256_file

    assert head_labels(tiny_bundle / "head.onnx") is None and load_bundle(tiny_bundle).manifest.labels
    bundle = _demo_copy(tmp_path)
    model = onnx.load(bundle / "head.onnx")
    del model.metadata_props[:]
    onnx.save(model, bundle / "head.onnx")
    manifest = json.loads((bundle / MANIFEST).read_text())
    manifest["files"]["head"]["sha256"] = sha256_file(bundle / "head.onnx")
    (bundle / MANIFEST).write_text(json.dumps(manifest, indent=2))
    assert load_bundle(bundle).manifest.labels == manifest["labels"]
    result = verify_bundle(bundle, device="cpu")
    assert result.ok, result.first_failure
    assert any(name == "labels" and "an older export" in detail for name, _, detail in result.checks)


# -- the Live tab ----------------------------------------------------------------------------------------------


def test_the_frame_label_and_the_top_actions_tell_one_story():
    """The held label (hysteresis) may trail the smoothed leader for the hold time: the frame then says both."""
    from dashboard.view import StreamView, annotate, label_text
    from streaming.events import Prediction

    held = Prediction("cam", 3.0, "Jump", 0.41, [("Squat", 0.55), ("Jump", 0.41)], 5.0, raw_label="Squat")
    assert label_text(held) == "Jump 0.41 (held; Squat 0.55 leads)"
    steady = Prediction("cam", 4.0, "Squat", 0.62, [("Squat", 0.62), ("Jump", 0.30)], 5.0, raw_label="Squat")
    assert label_text(steady) == "Squat 0.62"
    view = StreamView("cam", ["Jump", "Squat"], "CPUExecutionProvider")
    view.apply(held)
    assert "Jump 0.41 (held; Squat 0.55 leads)" in view.status_line()
    assert annotate(np.zeros((72, 96, 3), np.uint8), held).shape[1] == 480  # draws it


@pytest.fixture(scope="module")
def live_app(tiny_bundle, color_clips, tmp_path_factory):
    from browser import DashboardApp

    with DashboardApp(tiny_bundle, clips=[color_clips["red"].parent], log_dir=tmp_path_factory.mktemp("live")) as app:
        yield app


@pytest.mark.browser
def test_start_while_a_stream_runs_switches_to_the_chosen_clip(live_app, color_clips):
    from browser import browser_unavailable_reason, launch_chromium, markdown_text, open_dashboard, wait_for_markdown

    reason = browser_unavailable_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    folder = color_clips["red"].parent.name
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = open_dashboard(browser, live_app.url)
        for name in ("red", "blue"):  # the second Start comes while the red clip still streams (it loops)
            page.locator("#example input").click()
            page.get_by_role("option", name=f"{folder}/{name}.avi", exact=True).click()
            page.click("#start")
            wait_for_markdown(page, "live-status", f"{name}: live", f": {name} ")
        time.sleep(2.0)  # no late refresh of the red stream, and no "Stopped." from it
        status = markdown_text(page, "live-status")
        assert status.startswith("blue: live") and ": blue " in status, status
        assert "smoothed" in page.locator("#live-topk").inner_text()
        page.click("#stop")
        wait_for_markdown(page, "live-status", "Stopped.")
        browser.close()


def test_a_missing_camera_is_one_line_without_opencv_noise():
    index = next(i for i in range(10, 64) if not Path(f"/dev/video{i}").exists())
    out = cli("run", "--source", str(index), "--device", "cpu")
    assert out.returncode == 1
    assert [line for line in out.stderr.splitlines() if line.startswith("[")] == [], out.stderr
    assert f"error: camera{index}: camera {index} cannot be opened" in out.stderr
