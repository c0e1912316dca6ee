"""The dashboard's parts without a browser: source validation, the alert rule and log, the CLI's refusals, and the
Dashboard's handlers driven in-process against the real engine and the tiny bundle."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from dashboard.source_policy import ClipFolders, check_source, redact_url
from dashboard.sources import SourceKind
from streaming.alerts import AlertEvent, AlertLog, AlertRule, AlertTracker
from streaming.errors import SourceError


# ------------------------------------------------------------------------------------------------ validation
@pytest.fixture
def clip_dir(tmp_path) -> Path:
    d = tmp_path / "clips"
    (d / "sub").mkdir(parents=True)
    (d / "a.avi").write_bytes(b"not really a video; validation does not open it")
    (d / "sub" / "b.mp4").write_bytes(b"x")
    (d / "notes.txt").write_text("not a clip")
    return d


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://cam.local:8554/stream",
        "rtsps://10.0.0.7/live",
        "http://127.0.0.1:8080/video.mjpg",
        "https://example.org/cam?id=3",
        "rtsp://user:secret@192.168.1.20:554/h264",
        "http://[::1]:8080/a",
    ],
)
def test_stream_urls_with_allowed_schemes_pass(url, clip_dir):
    assert check_source(f"  {url} ", ClipFolders([clip_dir])) == url


@pytest.mark.parametrize(
    "text, why",
    [
        ("file:///etc/passwd", "file:// URLs are refused"),
        ("FILE:///etc/passwd", "file:// URLs are refused"),
        ("ftp://host/clip.avi", "scheme 'ftp:' is refused"),
        ("concat:a.avi|b.avi", "scheme 'concat:' is refused"),
        ("rtsp:/one-slash/x", "malformed URL"),
        ("rtsp://", "no valid host"),
        ("rtsp://:554/x", "no valid host"),
        ("rtsp://bad host/x", "contains spaces"),
        ("http://host:99999/x", "malformed URL"),
        ("http://host:port/x", "malformed URL"),
        ("http://h\x00st/x", "control characters"),
        ("", "no source given"),
        ("0", "server cameras cannot be opened"),
    ],
)
def test_bad_sources_are_refused_with_a_reason(text, why, clip_dir):
    with pytest.raises(SourceError, match=why.replace("(", r"\(").replace("?", r"\?")):
        check_source(text, ClipFolders([clip_dir]))


def test_local_paths_only_inside_the_clip_folders(clip_dir, tmp_path):
    folders = ClipFolders([clip_dir])
    assert check_source(str(clip_dir / "a.avi"), folders) == str((clip_dir / "a.avi").resolve())
    assert check_source("sub/b.mp4", folders) == str((clip_dir / "sub" / "b.mp4").resolve())
    assert check_source("clips/a.avi", folders) == str((clip_dir / "a.avi").resolve())  # as the clip list names it
    outside = tmp_path / "secret.avi"
    outside.write_bytes(b"x")
    for text in (str(outside), "/etc/passwd", "../secret.avi", str(clip_dir / ".." / "secret.avi"), "~/x.avi"):
        with pytest.raises(SourceError, match="must be inside the clip folders"):
            check_source(text, folders)
    with pytest.raises(SourceError, match="no such clip"):
        check_source("missing.avi", folders)


def test_a_symlink_out_of_the_clip_folder_is_refused(clip_dir, tmp_path):
    secret = tmp_path / "secret.avi"
    secret.write_bytes(b"x")
    (clip_dir / "link.avi").symlink_to(secret)
    with pytest.raises(SourceError, match="must be inside the clip folders"):
        check_source("link.avi", ClipFolders([clip_dir]))


def test_without_clip_folders_every_path_is_refused(clip_dir):
    with pytest.raises(SourceError, match="no clip folders"):
        check_source(str(clip_dir / "a.avi"), ClipFolders([]))


def test_clip_folders_list_videos_and_reject_missing_folders(clip_dir, tmp_path):
    clips = ClipFolders([clip_dir]).clips()
    assert [p.name for p in clips] == ["a.avi", "b.mp4"]
    with pytest.raises(SourceError, match="clips folder not found"):
        ClipFolders([tmp_path / "nope"])


def test_redact_url_hides_credentials():
    assert "secret" not in redact_url("rtsp://user:secret@cam/x")
    assert "secret" not in redact_url("rtsp://user:secret@cam:notaport/x")
    assert redact_url("rtsp://cam:554/x") == "rtsp://cam:554/x"


# ------------------------------------------------------------------------------------------------ alerts
def test_alert_rule_validates():
    with pytest.raises(ValueError):
        AlertRule(frozenset({"wave"}), threshold=0.0)
    with pytest.raises(ValueError):
        AlertRule(frozenset({"wave"}), threshold=1.5)
    with pytest.raises(ValueError):
        AlertRule(frozenset({"wave"}), min_duration_s=-1)
    assert not AlertRule().enabled
    assert AlertRule(["wave"]).actions == frozenset({"wave"})


def test_alert_fires_once_after_the_minimum_duration_and_rearms():
    tracker = AlertTracker(AlertRule(frozenset({"wave"}), threshold=0.7, min_duration_s=2.0))
    fired = [tracker.update("cam1", t, "wave", 0.9) for t in (10.0, 11.0, 11.9)]
    assert fired == [None, None, None]
    event = tracker.update("cam1", 12.0, "wave", 0.8)
    assert event is not None and (event.camera, event.action, event.score, event.held_s) == ("cam1", "wave", 0.8, 2.0)
    assert event.stream_t == 12.0 and event.time[:4].isdigit()
    assert tracker.update("cam1", 13.0, "wave", 0.9) is None  # same episode: once
    assert tracker.update("cam1", 14.0, "wave", 0.5) is None  # below the threshold: re-armed
    assert tracker.update("cam1", 15.0, "wave", 0.9) is None
    assert tracker.update("cam1", 17.0, "wave", 0.9) is not None


def test_alert_ignores_other_actions_and_keeps_cameras_apart():
    tracker = AlertTracker(AlertRule(frozenset({"wave", "jump"}), threshold=0.5, min_duration_s=1.0))
    assert tracker.update("a", 0.0, "walk", 0.99) is None
    assert tracker.update("a", 5.0, "walk", 0.99) is None
    assert tracker.update("a", 6.0, "wave", 0.9) is None
    assert tracker.update("b", 6.5, "wave", 0.9) is None
    assert tracker.update("a", 6.5, "jump", 0.9) is None  # another action starts its own episode
    assert tracker.update("a", 7.5, "jump", 0.9).action == "jump"
    assert tracker.update("b", 7.5, "wave", 0.9).camera == "b"
    assert tracker.update("c", 3.0, "wave", 0.9) is None
    assert tracker.update("c", 1.0, "wave", 0.9) is None  # the stream's clock went back: start over
    assert tracker.update("c", 1.5, "wave", 0.9) is None


def test_changing_the_rule_starts_episodes_over():
    tracker = AlertTracker(AlertRule(frozenset({"wave"}), threshold=0.5, min_duration_s=1.0))
    tracker.update("a", 0.0, "wave", 0.9)
    tracker.set_rule(AlertRule(frozenset({"wave"}), threshold=0.6, min_duration_s=1.0))
    assert tracker.update("a", 1.0, "wave", 0.9) is None
    assert tracker.update("a", 2.0, "wave", 0.9) is not None


def test_alert_log_appends_json_lines_and_snapshots(tmp_path):
    log = AlertLog(tmp_path / "logs" / "alerts.jsonl")
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :, 2] = 255
    first = log.record(AlertEvent("2026-01-01T10:00:00.000+00:00", "cam1", "wave", 0.91, 2.0, 12.0), snapshot=frame)
    log.record(AlertEvent("2026-01-01T10:00:05.000+00:00", "cam/2", "jump", 0.8, 1.0, 3.0))
    lines = [json.loads(x) for x in (tmp_path / "logs" / "alerts.jsonl").read_text().splitlines()]
    assert [(d["camera"], d["action"], d["score"]) for d in lines] == [("cam1", "wave", 0.91), ("cam/2", "jump", 0.8)]
    snap = Path(lines[0]["snapshot"])
    assert snap == Path(first.snapshot) and snap.parent == tmp_path / "logs" / "alerts-snapshots"
    image = cv2.imread(str(snap))
    assert image.shape == (48, 64, 3) and image[..., 2].mean() > 200  # the red frame, as a real JPEG
    assert lines[1]["snapshot"] == ""
    assert "cam1  wave  0.91" in first.line()
    assert AlertLog(None).record(first) is first  # no file: page only


# ------------------------------------------------------------------------------------------------ the app, in-process
def test_cli_refusals_are_one_line_errors(tmp_path, capsys):
    import demo_app

    assert demo_app.main(["--bundle", str(tmp_path / "no-bundle"), "--alerts-log", str(tmp_path / "a.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "no-bundle" in err[-1] and "Traceback" not in "".join(err)
    assert demo_app.main(["--auth", "nopassword"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --auth / ACTIONSTREAM_AUTH must look like user:password"
    )
    assert demo_app.main(["--clips", str(tmp_path / "nowhere")]) == 2
    assert "clips folder not found" in capsys.readouterr().err


def test_cli_defaults_are_safe(monkeypatch):
    import demo_app

    args = demo_app.parse_args([])
    assert args.host == "127.0.0.1" and not args.share and args.auth is None
    assert demo_app.parse_auth("admin:pa:ss") == ("admin", "pa:ss")
    assert demo_app.parse_auth(None) is None


def _request(key: str):
    import gradio as gr

    return gr.Request(session_hash=key)


def test_live_generator_streams_frames_and_predictions_and_cleans_up(dashboard, color_clips):
    key = f"{color_clips['red'].parent.name}/red.avi"
    assert key in dashboard.catalog.clips
    gen = dashboard.live.run(SourceKind.EXAMPLE, key, None, None, _request("s1"))
    frames, statuses, bars = 0, [], None
    for frame, top, _timeline, status, _alerts in gen:
        frames += isinstance(frame, np.ndarray)
        if isinstance(status, str):
            statuses.append(status)
        if isinstance(top, dict) and top and "__type__" not in top:
            bars = top
        if bars and frames >= 2:
            break
    assert dashboard.engine.stream_ids(), "the clip's stream runs while the page follows it"
    gen.close()  # what Gradio does to a generator whose page went away: its finally removes the stream
    assert dashboard.engine.stream_ids() == []
    assert max(bars, key=bars.get) == "red"
    assert any("prediction #" in s and ": red" in s for s in statuses)
    assert all("CPU" in s or "CUDA" in s for s in statuses)


def test_stop_ends_the_live_generator_with_stopped_as_its_last_update(dashboard, color_clips):
    """The page's last status must be "Stopped.", whatever order Stop's reply and the last refresh arrive in."""
    request = _request("stop-live")
    gen = dashboard.live.run(SourceKind.EXAMPLE, f"{color_clips['red'].parent.name}/red.avi", None, None, request)
    for _frame, _top, _timeline, status, _alerts in gen:
        if isinstance(status, str) and "prediction #" in status:
            break
    assert dashboard.live.stop(request) == "Stopped."
    rest = list(gen)  # ends by itself within a refresh: no cancel needed
    assert rest and rest[-1][3] == "Stopped." and all(out[3] != "Stopped." for out in rest[:-1])
    assert dashboard.engine.stream_ids() == []


def test_stop_during_a_slow_open_still_stops(dashboard, color_clips, monkeypatch):
    request = _request("stop-open")
    real_open = dashboard.hub.open

    def slow_open(*args, **kwargs):  # Stop is pressed while the source is still opening (a slow camera)
        opened = real_open(*args, **kwargs)
        dashboard.live.stop(request)
        return opened

    monkeypatch.setattr(dashboard.hub, "open", slow_open)
    out = list(dashboard.live.run(SourceKind.EXAMPLE, f"{color_clips['red'].parent.name}/red.avi", None, None, request))
    assert [o[3] for o in out] == ["Stopped."]
    assert dashboard.engine.stream_ids() == []


def test_webcam_frames_count_only_while_chosen_and_not_stopped(dashboard):
    import gradio as gr

    request = _request("webcam")
    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 0] = 255  # RGB, as the page sends it
    skipped = (gr.skip(),) * 5
    assert dashboard.live.webcam.frame(red, request) == skipped  # the webcam is not the chosen source yet
    dashboard.live.choose_kind(SourceKind.WEBCAM, request)
    [message] = [o[3] for o in dashboard.live.run(SourceKind.WEBCAM, None, None, None, request)]
    assert "record button" in message
    outputs = dashboard.live.webcam.frame(red, request)
    assert isinstance(outputs[0], np.ndarray) and "webcam" in outputs[3]
    assert len(dashboard.engine.stream_ids()) == 1
    assert dashboard.live.stopped(request) == gr.skip()  # not stopped: the follow-up leaves the page alone
    assert dashboard.live.stop(request) == "Stopped."
    assert dashboard.engine.stream_ids() == []
    assert dashboard.live.webcam.frame(red, request) == skipped  # a frame after Stop changes nothing on the page
    assert dashboard.engine.stream_ids() == []
    assert dashboard.live.stopped(request) == "Stopped."  # Stop's follow-up, a round trip later
    dashboard.live.choose_kind(SourceKind.EXAMPLE, request)
    assert dashboard.live.webcam.frame(red, request) == skipped


def test_closing_the_tab_ends_its_generators(dashboard, color_clips):
    request = _request("closed-tab")
    live = dashboard.live.run(SourceKind.EXAMPLE, f"{color_clips['red'].parent.name}/red.avi", None, None, request)
    cams = dashboard.cameras.run(f"{color_clips['green'].parent.name}/green.avi", request)
    next(live), next(cams)
    dashboard.hub.close_session(request)
    list(live), list(cams)  # both end by themselves
    assert dashboard.engine.stream_ids() == []


def test_live_generator_refuses_bad_sources_on_the_page(dashboard):
    out = list(dashboard.live.run(SourceKind.URL, None, "file:///etc/passwd", None, _request("s2")))
    assert len(out) == 1 and out[0][3].startswith("**Refused:** file:// URLs are refused")
    out = list(dashboard.live.run(SourceKind.EXAMPLE, "/etc/passwd", None, None, _request("s2")))
    assert "pick an example clip" in out[0][3]  # a forged dropdown value is not a path
    out = list(dashboard.live.run(SourceKind.UPLOAD, None, None, "/tmp/x.sh", _request("s2")))
    assert "not a video file name" in out[0][3]
    assert dashboard.engine.stream_ids() == []


def test_classify_api_returns_predictions_and_refusals(dashboard, color_clips):
    key = f"{color_clips['blue'].parent.name}/blue.avi"
    result = dashboard.api.classify(key, 30, _request("api"))
    assert result["state"] == "ended" and result["predictions"]
    assert result["predictions"][-1]["label"] == "blue"
    refused = dashboard.api.classify("http://exa mple/x", 5, _request("api"))
    assert "malformed URL" in refused["error"] and refused["predictions"] == []
    assert dashboard.engine.stream_ids() == []
    assert dashboard.api.model_info()["labels"] == ["red", "green", "blue"]


def test_alert_rule_from_the_page_and_alerts_from_a_stream(dashboard, color_clips, tmp_path):
    request = _request("alerts")
    msg = dashboard.alerts.set_rule(["blue"], 0.6, 1.0, True, request)
    assert "blue" in msg and str(tmp_path / "alerts.jsonl") in msg and "with a snapshot" in msg
    assert "refused" in dashboard.alerts.set_rule(["blue"], 0.0, 1.0, False, request)
    dashboard.alerts.set_rule(["blue"], 0.6, 1.0, True, request)
    key = f"{color_clips['red_then_blue'].parent.name}/red_then_blue.avi"
    gen = dashboard.live.run(SourceKind.EXAMPLE, key, None, None, request)
    log_text = ""
    for *_, alerts in gen:
        if isinstance(alerts, str):
            log_text = alerts
        if "blue" in log_text:
            break
    gen.close()
    assert "red_then_blue  blue" in log_text
    event = json.loads((tmp_path / "alerts.jsonl").read_text().splitlines()[0])
    assert event["action"] == "blue" and event["score"] >= 0.6 and event["held_s"] >= 1.0
    assert cv2.imread(event["snapshot"]) is not None


def test_cameras_generator_tiles_refusals_and_cleanup(dashboard, color_clips):
    lines = "\n".join(["file:///etc/passwd", f"{color_clips['green'].parent.name}/green.avi"])
    gen = dashboard.cameras.run(lines, _request("cams"))
    first = next(gen)
    assert "camera 1 refused: file:// URLs are refused" in first[0]
    tiles = first[1:-1]
    assert tiles[0]["visible"] is False and tiles[1]["visible"] is True
    table = first[0]
    for out in gen:
        if isinstance(out[0], str):
            table = out[0]
        if "| cam2 |" in table and "green" in table.split("| cam2 |")[1]:
            break
    assert len(dashboard.engine.stream_ids()) == 1
    assert dashboard.cameras.stop(_request("cams")) == "Cameras stopped."
    rest = list(gen)  # the generator ends itself; its last update is the stopped status
    assert rest[-1][0] == "Cameras stopped." and all(out[0] != "Cameras stopped." for out in rest[:-1])
    assert dashboard.engine.stream_ids() == []


def test_annotate_draws_on_a_copy_and_scales_for_the_page():
    from dashboard.view import MAX_FRAME_WIDTH, annotate
    from streaming.events import Prediction

    frame = np.zeros((240, 320, 3), np.uint8)
    out = annotate(frame, Prediction("s", 1.0, "wave", 0.9, [("wave", 0.9)], 5.0), problem="reconnecting")
    assert out.shape == (360, 480, 3) and out.dtype == np.uint8
    assert frame.max() == 0, "the engine's frame is shared and must stay untouched"
    assert out[:48].max() > 0 and out[-40:].max() > 0  # the label band and the problem band carry text
    big = annotate(np.zeros((1080, 1920, 3), np.uint8), None)
    assert big.shape[1] == MAX_FRAME_WIDTH


def test_stream_view_status_line_and_timeline():
    from dashboard.view import TIMELINE_S, StreamView
    from streaming.events import Metrics, Prediction, SourceState, Status

    view = StreamView("cam1", ["a", "b", "c", "d"], "CPUExecutionProvider")
    assert "connecting" in view.status_line()
    view.apply(Status("cam1", SourceState.LIVE, "connected"))
    view.apply(Status("cam1", SourceState.LIVE, "warming up", warmup=0.5))
    assert "warming up 50%" in view.status_line() and "live (connected)" in view.status_line()
    view.apply(Metrics("cam1", 25.0, 10.0, 3, 20.0, 1.0, float("nan"), float("nan"), "CPUExecutionProvider", load=0.95))
    for t in range(70):
        probs = [0.7, 0.2, 0.06, 0.04] if t < 60 else [0.1, 0.1, 0.1, 0.7]
        view.apply(
            Prediction(
                "cam1",
                float(t),
                "a",
                probs[0],
                [("a", probs[0]), ("b", probs[1]), ("c", probs[2]), ("d", probs[3])],
                12.0,
                probs=probs,
            )
        )
    line = view.status_line()
    assert "warming up" not in line and "prediction #70 at t=69.0 s: a 0.10" in line
    assert "capture 25.0 fps" in line and "dropped 3" in line and "latency –" in line and "CPU" in line
    assert "engine load 95% (at capacity)" in line
    df = view.timeline()
    assert df["seconds"].min() >= -TIMELINE_S and df["seconds"].max() == 0.0
    assert view.timeline_classes() == ["a", "d", "b"]  # the three that peaked highest in the last minute
    assert set(df.dropna()["action"]) == {"a", "d", "b"}  # drawn; "c" has rows (NaN) so its colour stays fixed
    assert list(dict.fromkeys(df["action"])) == ["a", "b", "c", "d"]
    view.apply(Status("cam1", SourceState.FAILED, "cannot open"))
    assert view.finished and view.problem() == "failed: cannot open"


def test_the_page_builds_with_the_model_panel(dashboard):
    from dashboard.app import build_ui
    from dashboard.model_tab import model_markdown

    demo = build_ui(dashboard, max_sessions=2)
    api = {d.api_name for d in demo.fns.values() if d.api_name}
    assert {"start", "stop", "classify", "model", "cameras"} <= api
    text = model_markdown(dashboard.engine, dashboard.bundle_root)
    assert "tiny test bundle" in text and "red, green, blue" in text and "8 features at 5 per second (1.6 s" in text
    assert "tests/tiny_bundle.py" in text  # provenance, so no one mistakes it for a UCF101 model
    assert f"`{dashboard.bundle_root.name}`" in text and os.fspath(dashboard.bundle_root) not in text  # no server path


# ------------------------------------------------------------------------------------------------ issue 12: pose, rates
def _person():
    """A standing stick figure in the middle of the frame: 13 joints (head, shoulders, elbows, wrists, hips,
    knees, ankles), all visible."""
    from streaming.person import Person

    xy = [
        (0.50, 0.15),
        (0.40, 0.30),
        (0.60, 0.30),
        (0.35, 0.45),
        (0.65, 0.45),
        (0.33, 0.60),
        (0.67, 0.60),
        (0.43, 0.60),
        (0.57, 0.60),
        (0.42, 0.75),
        (0.58, 0.75),
        (0.42, 0.90),
        (0.58, 0.90),
    ]
    landmarks = np.array([(x, y, 1.0) for x, y in xy], np.float32)
    return Person(box=(0.3, 0.1, 0.7, 0.95), landmarks=landmarks, score=0.95)


def _no_person_prediction(t: float = 1.0):
    from streaming.events import Prediction

    if "person" not in Prediction.__dataclass_fields__:
        pytest.skip("Prediction.person is not in this checkout's engine yet")
    return Prediction("s", t, "", 0.0, [], 5.0, person=False)


def _skeleton_pixels(rgb: np.ndarray) -> int:
    """Pure-green limb pixels (pose_draw's LIMB_BGR) below the label band, on a frame with no green of its own."""
    body = rgb[rgb.shape[0] // 8 :]
    return int(((body[..., 1] > 200) & (body[..., 0] < 60) & (body[..., 2] < 60)).sum())


def test_annotate_draws_the_person_on_a_copy():
    from dashboard.view import annotate

    frame = np.full((240, 320, 3), 40, np.uint8)
    plain = annotate(frame, None)
    drawn = annotate(frame, None, person=_person())
    assert _skeleton_pixels(plain) == 0 and _skeleton_pixels(drawn) > 200
    assert frame.max() == 40, "the engine's frame is shared and must stay untouched"
    same_size = np.full((480, 640, 3), 40, np.uint8)  # no resize: drawn on a copy all the same
    assert _skeleton_pixels(annotate(same_size, None, person=_person())) > 200 and same_size.max() == 40


def test_no_person_in_view_replaces_the_label():
    from dashboard.view import StreamView, annotate
    from streaming.events import Prediction, SourceState, Status

    view = StreamView("webcam", ["a", "b"], "CPUExecutionProvider")
    view.apply(Status("webcam", SourceState.LIVE, "receiving frames"))
    view.apply(Prediction("webcam", 0.5, "a", 0.9, [("a", 0.9), ("b", 0.1)], 5.0, probs=[0.9, 0.1]))
    assert "prediction #1 at t=0.5 s: a 0.90" in view.status_line()
    nobody = _no_person_prediction(t=1.0)
    view.apply(nobody)
    line = view.status_line()
    assert "prediction #2 at t=1.0 s: no person in view" in line and ": a 0.90" not in line
    assert view.bars() == {} and view.action() == "no person in view"
    assert len(view.history) == 1, "nobody in view: nothing to plot, never a guessed action"
    black = np.zeros((240, 320, 3), np.uint8)
    band, labelled = annotate(black, nobody)[:48], annotate(black, Prediction("s", 1.0, "a", 0.9, [], 5.0))[:48]
    assert band.max() > 0 and not np.array_equal(band, labelled)  # a text of its own on the frame


def test_a_source_slower_than_the_bundles_feature_rate_says_so():
    from dashboard.view import StreamView
    from streaming.events import Metrics, SourceState, Status
    from streaming.sampler import Sampling

    def line(capture_fps: float, sampling=Sampling(feature_rate=10.0, window=40), state=SourceState.LIVE) -> str:
        view = StreamView("webcam", ["a"], "CPUExecutionProvider", sampling)
        view.apply(Status("webcam", state, ""))
        features = min(capture_fps, 10.0)
        for _ in range(2):  # the first metrics of a stream also cover the time before its first frame
            assert "the model expects" not in view.status_line()
            view.apply(Metrics("webcam", capture_fps, features, 0, 20.0, 1.0, 30.0, 40.0, "CPUExecutionProvider"))
        return view.status_line()

    slow = line(5.0)
    assert "capture 5.0 fps < 10 features/s the model expects: windows span 8 s, not 4 s" in slow
    assert "features 5.0/s" in slow
    for ok in (line(25.0), line(9.5), line(5.0, sampling=None), line(5.0, state=SourceState.RECONNECTING)):
        assert "the model expects" not in ok and "capture " in ok


def test_the_page_sends_webcam_frames_at_twice_the_feature_rate(dashboard):
    from dashboard.app import build_ui
    from dashboard.hub import UPDATE_PERIOD_S
    from dashboard.webcam import webcam_period_s

    assert webcam_period_s(10.0) == pytest.approx(0.05)  # 20 frames/s for a 10 features/s bundle
    assert webcam_period_s(5.0) == pytest.approx(0.1)
    assert webcam_period_s(1.0) == UPDATE_PERIOD_S  # never slower than the page refreshes
    assert webcam_period_s(100.0) == pytest.approx(1 / 30)  # nor faster than a camera
    demo = build_ui(dashboard, max_sessions=2)
    [stream] = [fn for fn in demo.fns.values() if fn.fn == dashboard.live.webcam.frame]
    rate = dashboard.engine.manifest.sampling.feature_rate
    assert stream.stream_every == pytest.approx(webcam_period_s(rate)) and 1 / stream.stream_every >= 2 * rate


def test_webcam_frames_in_between_refreshes_are_pushed_but_not_answered(dashboard):
    """Frames come at twice the feature rate; the page is refreshed at most every UPDATE_PERIOD_S, so the frames
    in between are answered with gr.skip() (a short round trip), yet every one reaches the engine."""
    import gradio as gr

    request = _request("webcam-rate")
    frame = np.zeros((120, 160, 3), np.uint8)
    dashboard.live.choose_kind(SourceKind.WEBCAM, request)
    list(dashboard.live.run(SourceKind.WEBCAM, None, None, None, request))
    assert isinstance(dashboard.live.webcam.frame(frame, request)[0], np.ndarray)
    source = dashboard.hub.session(request).webcam.watched.source
    answers = [dashboard.live.webcam.frame(frame, request) for _ in range(3)]  # well within one refresh
    assert answers == [(gr.skip(),) * 5] * 3
    assert source.captured == 4
    time.sleep(0.25)
    assert isinstance(dashboard.live.webcam.frame(frame, request)[0], np.ndarray)  # the next refresh is due
    dashboard.live.stop(request)
    assert dashboard.engine.stream_ids() == []


def test_the_live_tab_draws_the_person_for_bundles_that_find_people(tiny_bundle, color_clips, tmp_path, monkeypatch):
    """A pose bundle's person (here a fixed one on the real engine) is drawn on the frame; the toggle hides it."""
    from dashboard.app import Dashboard, build_ui
    from dashboard.sources import SourceCatalog, find_clips
    from streaming.engine import Engine

    engine = Engine(tiny_bundle)
    monkeypatch.setattr(engine.extractor, "finds_people", True, raising=False)
    monkeypatch.setattr(engine, "latest_person", lambda stream_id: _person(), raising=False)
    engine.start()
    try:
        folders = ClipFolders([color_clips["red"].parent])
        dash = Dashboard(engine, SourceCatalog(find_clips(folders, None), folders), AlertLog(None), Path(tiny_bundle))
        demo = build_ui(dash, max_sessions=2)
        [toggle] = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "draw-person"]
        assert toggle.visible and toggle.value is True  # on by default for bundles that find people
        request = _request("pose")
        key = f"{color_clips['red'].parent.name}/red.avi"

        def frames(n: int) -> list[np.ndarray]:
            got = []
            gen = dash.live.run(SourceKind.EXAMPLE, key, None, None, request)
            for out in gen:
                if isinstance(out[0], np.ndarray):
                    got.append(out[0])
                if len(got) >= n:
                    break
            gen.close()
            return got

        assert all(_skeleton_pixels(f) > 200 for f in frames(2))
        dash.live.set_skeleton(False, request)
        assert all(_skeleton_pixels(f) == 0 for f in frames(2))
        assert engine.stream_ids() == []
    finally:
        engine.stop()


def test_the_toggle_is_hidden_for_bundles_that_find_nobody(dashboard):
    from dashboard.app import build_ui

    demo = build_ui(dashboard, max_sessions=2)
    [toggle] = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "draw-person"]
    assert not toggle.visible and toggle.value is False
    assert dashboard.hub.person(dashboard.hub.session(_request("cnn")), "any") is None


# ------------------------------------------------------------------- issue 14: the monitor's config file on the page
def test_the_alert_rule_takes_a_cooldown(dashboard):
    request = _request("cooldown")
    msg = dashboard.alerts.set_rule(["blue"], 0.6, 1.0, False, request, 30)  # Gradio passes it after the request
    assert "at most once per camera every 30 s" in msg
    assert dashboard.hub.session(request).tracker.rule == AlertRule(frozenset({"blue"}), 0.6, 1.0, False, 30.0)
    assert "refused" in dashboard.alerts.set_rule(["blue"], 0.6, 1.0, False, request, -1)


def test_the_cameras_tab_loads_and_saves_the_monitor_config(dashboard):
    from dashboard.app import build_ui

    demo = build_ui(dashboard, max_sessions=2)
    ids = {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}
    assert {"cam-load", "cam-save", "cam-file", "cam-file-status", "alert-cooldown"} <= set(ids)
    fns = {d.fn.__name__: d for d in demo.fns.values() if getattr(d.fn, "__self__", None) is dashboard.monitor_file}
    assert [b.elem_id for b in fns["load"].inputs] == ["cam-load", "alert-snapshot"]
    assert [getattr(b, "elem_id", None) for b in fns["load"].outputs][:6] == [
        "cam-urls",
        "alert-actions",
        "alert-threshold",
        "alert-duration",
        "alert-cooldown",
        "alert-rule",
    ]
    assert fns["load"].concurrency_id == "alert-rule"  # in the rule's queue: applied in order with the inputs
    assert [b.elem_id for b in fns["save"].outputs] == ["cam-file", "cam-file-status"]
    rule_fns = [d for d in demo.fns.values() if getattr(d.fn, "__name__", "") == "set_rule"]
    assert rule_fns and all(d.inputs[-1].elem_id == "alert-cooldown" for d in rule_fns)
