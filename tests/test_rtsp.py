"""A real RTSP camera (GStreamer's server on loopback, H.264) that dies mid-stream and comes back."""

import pytest
from tiny_bundle import write_color_clip

from streaming.engine import Engine, EngineConfig
from streaming.events import Prediction, SourceState, Status
from streaming.sources import NetworkSource

pytestmark = pytest.mark.rtsp

#: Generous bound for the whole scenario; never a timing assertion.
SCENARIO_S = 120.0


@pytest.fixture(scope="module")
def long_red_clip(tmp_path_factory):
    """60 s of red: the server restarts it from the beginning, so it must outlast the test."""
    return write_color_clip(tmp_path_factory.mktemp("rtsp") / "red.avi", [("red", 60.0)], size=(128, 96))


def test_engine_follows_a_camera_through_kill_and_restart(tiny_bundle, long_red_clip, rtsp_server):
    server = rtsp_server(long_red_clip)
    source = NetworkSource(
        server.url, name="cam", open_timeout_s=5.0, read_timeout_s=2.0, backoff_initial_s=0.25, backoff_max_s=1.0
    )
    engine = Engine(tiny_bundle, EngineConfig(device="cpu"))
    seen = []
    phase = "first prediction"
    with engine:
        events = engine.events(duration_s=SCENARIO_S)
        engine.add_source(source)
        for event in events:
            seen.append(event)
            if phase == "first prediction" and isinstance(event, Prediction):
                assert event.label == "red"
                server.kill()  # no goodbye: as a camera losing power
                phase = "reconnecting"
            elif phase == "reconnecting" and isinstance(event, Status) and event.state == SourceState.RECONNECTING:
                server.start()  # same port, same URL
                phase = "live again"
            elif (
                phase == "live again"
                and isinstance(event, Status)
                and event.state == SourceState.LIVE
                and event.warmup is None
            ):
                assert event.reason == "reconnected"
                phase = "predicting again"
            elif phase == "predicting again" and isinstance(event, Prediction):
                assert event.label == "red"
                phase = "done"
                break
    states = [
        e.state.value + (f" {e.reason}" if e.warmup is None else " warmup") for e in seen if isinstance(e, Status)
    ]
    assert phase == "done", f"stuck waiting for {phase}; statuses: {states}"
    assert any("window restarted" in e.reason for e in seen if isinstance(e, Status))
    assert source.reconnects >= 1


def test_engine_reads_a_live_rtsp_stream_alongside_a_dead_one(tiny_bundle, long_red_clip, rtsp_server):
    server = rtsp_server(long_red_clip)
    from rtsp_fixture import free_port

    live = NetworkSource(server.url, name="live")
    dead = NetworkSource(f"rtsp://127.0.0.1:{free_port()}/none", name="dead", open_timeout_s=2.0)
    engine = Engine(tiny_bundle, EngineConfig(device="cpu"))
    preds, dead_states = [], []
    with engine:
        events = engine.events(duration_s=SCENARIO_S)
        engine.add_source(live)
        engine.add_source(dead)
        for event in events:
            if isinstance(event, Status) and event.stream == "dead":
                dead_states.append(event.state)
            if isinstance(event, Prediction) and event.stream == "live":
                preds.append(event)
                if len(preds) == 2:
                    break
    assert [p.label for p in preds] == ["red", "red"]
    assert dead_states[-1] == SourceState.FAILED
    assert engine.latest_frame("live").image.shape == (96, 128, 3)


def test_cli_follows_an_rtsp_camera_through_kill_and_restart(tiny_bundle, long_red_clip, rtsp_server):
    """`python -m streaming run --source rtsp://... --jsonl`, as a user would run it."""
    import json
    import signal
    import subprocess
    import sys
    from pathlib import Path

    server = rtsp_server(long_red_clip)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streaming",
            "run",
            "--bundle",
            str(tiny_bundle),
            "--source",
            server.url,
            "--jsonl",
            "--duration",
            str(SCENARIO_S),
        ],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    phase = "first prediction"
    try:
        for line in proc.stdout:
            event = json.loads(line)
            if phase == "first prediction" and event["type"] == "prediction":
                server.kill()
                phase = "reconnecting"
            elif phase == "reconnecting" and event.get("state") == "reconnecting":
                server.start()
                phase = "live again"
            elif phase == "live again" and event.get("reason") == "reconnected":
                phase = "predicting again"
            elif phase == "predicting again" and event["type"] == "prediction":
                assert event["label"] == "red" and {"t", "score", "topk", "latency_ms"} <= event.keys()
                phase = "done"
                proc.send_signal(signal.SIGINT)
                break
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert phase == "done" and proc.returncode == 130
