"""The monitor's outputs against real servers on loopback: a JSON-lines log, an http.server webhook endpoint, Debian's
mosquitto broker, and event clips decoded back with OpenCV."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest
from rtsp_fixture import free_port

from streaming.outputs.event_clips import ClipRecorder, count_frames
from streaming.outputs.jsonl import JsonlOutput
from streaming.outputs.webhook import SIGNATURE_HEADER, WebhookOutput
from streaming.sources import Frame

REPO = Path(__file__).resolve().parents[1]


def wait_for(condition, timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


# -- JSON lines -------------------------------------------------------------------------------------------------


def test_jsonl_rotates_by_size_and_keeps_whole_lines(tmp_path):
    log = JsonlOutput(tmp_path / "events.jsonl", max_bytes=300, keep=2, kinds=("alert",))
    for i in range(30):
        log.publish({"type": "alert", "camera": "door", "n": i, "score": float("nan")})
    log.publish({"type": "prediction", "camera": "door"})  # not a kind this log takes
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    lines = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert all(f.stat().st_size <= 300 for f in files) and all(e["score"] is None for e in lines)
    assert max(e["n"] for e in lines) == 29 and all(e["type"] == "alert" for e in lines)
    newest = [json.loads(x)["n"] for x in (tmp_path / "events.jsonl").read_text().splitlines()]
    older = [json.loads(x)["n"] for x in (tmp_path / "events.jsonl.1").read_text().splitlines()]
    assert max(older) < min(newest)  # .1 holds the lines just before the current file


# -- webhook ----------------------------------------------------------------------------------------------------


class Endpoint:
    """A real http.server on 127.0.0.1 that records POSTs; can start later on a fixed port and answer errors."""

    def __init__(self, port: int | None = None, status: int = 200):
        self.port = port or free_port()
        self.status = status
        self.received: list[tuple[dict, bytes]] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Endpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if endpoint.status == 200:
                    endpoint.received.append((dict(self.headers), body))
                self.send_response(endpoint.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def endpoints():
    made: list[Endpoint] = []

    def make(port: int | None = None, status: int = 200) -> Endpoint:
        made.append(Endpoint(port, status))
        return made[-1]

    yield make
    for e in made:
        e.stop()


def test_webhook_posts_the_event_with_bearer_token_and_a_valid_hmac(tmp_path, endpoints):
    endpoint = endpoints().start()
    hook = WebhookOutput(endpoint.url, tmp_path / "spool", token="tok", hmac_secret="s3cret", backoff_initial_s=0.1)
    try:
        hook.publish({"type": "alert", "camera": "door", "action": "Fall", "id": "e1"})
        hook.publish({"type": "status", "camera": "door"})  # every kind when no filter is given
        wait_for(lambda: len(endpoint.received) == 2, what="two POSTs")
    finally:
        hook.close()
    headers, body = endpoint.received[0]
    assert json.loads(body) == {"type": "alert", "camera": "door", "action": "Fall", "id": "e1"}
    assert headers["Authorization"] == "Bearer tok" and headers["Content-Type"] == "application/json"
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    assert headers["X-Actionstream-Event"] == "e1"
    assert list((tmp_path / "spool").iterdir()) == [] and hook.delivered == 2


def test_webhook_endpoint_down_then_up_gets_the_event_after_a_retry(tmp_path, endpoints):
    endpoint = endpoints()  # nothing listens on its port yet
    hook = WebhookOutput(endpoint.url, tmp_path / "spool", backoff_initial_s=0.1, backoff_max_s=0.3, timeout_s=2)
    try:
        t0 = time.monotonic()
        hook.publish({"type": "alert", "camera": "door", "n": 1})
        assert time.monotonic() - t0 < 0.5  # publish never waits for the endpoint
        wait_for(lambda: hook.last_error != "", what="a failed attempt")
        assert hook.spooled == 1 and len(list((tmp_path / "spool").glob("*.json"))) == 1
        endpoint.start()
        wait_for(lambda: len(endpoint.received) == 1, what="the retried POST")
    finally:
        hook.close()
    assert json.loads(endpoint.received[0][1])["n"] == 1 and hook.spooled == 0


def test_webhook_spool_is_bounded_and_survives_a_restart(tmp_path, endpoints):
    endpoint = endpoints()
    spool = tmp_path / "spool"
    hook = WebhookOutput(endpoint.url, spool, max_events=3, backoff_initial_s=0.05, backoff_max_s=0.1, timeout_s=1)
    for n in range(5):
        hook.publish({"type": "alert", "camera": "door", "n": n})
    hook.close()
    assert hook.dropped == 2 and len(list(spool.glob("*.json"))) == 3  # the bound holds on disk
    endpoint.start()  # a new run of the monitor delivers what the last one spooled, in order
    hook = WebhookOutput(endpoint.url, spool, max_events=3, backoff_initial_s=0.05)
    try:
        wait_for(lambda: len(endpoint.received) == 3, what="the spooled events")
    finally:
        hook.close()
    assert [json.loads(b)["n"] for _, b in endpoint.received] == [2, 3, 4]
    assert list(spool.glob("*.json")) == []


def test_webhook_drops_an_event_the_endpoint_refuses_for_good(tmp_path, endpoints):
    endpoint = endpoints(status=400).start()
    hook = WebhookOutput(endpoint.url, tmp_path / "spool", backoff_initial_s=0.05)
    try:
        hook.publish({"type": "alert", "camera": "door"})
        wait_for(lambda: hook.rejected == 1, what="the refusal")
    finally:
        hook.close()
    assert hook.spooled == 0 and hook.last_error == "HTTP 400"


# -- MQTT -------------------------------------------------------------------------------------------------------


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto") if os.path.exists(p)), None
    )


class Broker:
    """Debian's mosquitto on a loopback port, with persistence so sessions survive a restart."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.folder = folder
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {folder}/\nlog_dest stderr\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.folder / "mosquitto.log", "ab")
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(self.conf)], stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("mosquitto did not start: " + (self.folder / "mosquitto.log").read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: mosquitto saves its persistence file
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def broker(tmp_path):
    if mosquitto_binary() is None:
        pytest.skip("mosquitto not installed (scripts/install-system-deps.sh installs it)")
    folder = tmp_path / "broker"
    folder.mkdir()
    b = Broker(folder)
    b.start()
    yield b
    b.stop()


class Listener:
    """A paho subscriber on `actionstream/#` and `homeassistant/#` recording (topic, payload, retain)."""

    def __init__(self, port: int, client_id: str | None = None):
        import paho.mqtt.client as paho

        self.messages: list[tuple[str, str, bool]] = []
        self.subscribed = threading.Event()
        persistent = client_id is not None
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id or "", clean_session=not persistent
        )
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([("actionstream/#", 1), ("homeassistant/#", 1)])
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload.decode(), m.retain))
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscription not acknowledged"

    def on(self, topic: str) -> list[tuple[str, bool]]:
        return [(payload, retain) for t, payload, retain in self.messages if t == topic]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_mqtt_event_retained_state_availability_and_discovery(broker):
    from streaming.outputs.mqtt import MqttOutput

    live = Listener(broker.port)
    mqtt = MqttOutput(port=broker.port, cameras=["door"], home_assistant=True, kinds=("alert",))
    try:
        assert mqtt.connected.wait(10)
        mqtt.set_state("door", {"online": True, "state": "live", "label": "Wave", "person": True})
        mqtt.publish({"type": "alert", "camera": "door", "action": "Wave", "score": 0.9})
        mqtt.publish({"type": "status", "camera": "door"})  # not a kind this output sends
        wait_for(lambda: live.on("actionstream/door/event"), what="the event")
        (event, retained), *_ = live.on("actionstream/door/event")
        assert json.loads(event)["action"] == "Wave" and not retained
        assert len(live.on("actionstream/door/event")) == 1
        late = Listener(broker.port)  # a client connecting later sees the retained state at once
        try:
            wait_for(
                lambda: late.on("actionstream/door/state") and late.on("actionstream/availability"), what="retained"
            )
            state, retained = late.on("actionstream/door/state")[-1]
            assert retained and json.loads(state) == {"online": True, "state": "live", "label": "Wave", "person": True}
            assert late.on("actionstream/availability")[-1] == ("online", True)
            wait_for(lambda: late.on("homeassistant/sensor/actionstream_door/action/config"), what="discovery")
            config = json.loads(late.on("homeassistant/sensor/actionstream_door/action/config")[-1][0])
            assert config["state_topic"] == "actionstream/door/state"
            assert config["availability_topic"] == "actionstream/availability"
            assert late.on("homeassistant/binary_sensor/actionstream_door/person/config")
        finally:
            late.close()
    finally:
        mqtt.close()
    wait_for(lambda: live.on("actionstream/availability")[-1][0] == "offline", what="offline on close")
    wait_for(lambda: json.loads(live.on("actionstream/door/state")[-1][0])["online"] is False, what="camera offline")
    live.close()


LWT_SCRIPT = """
import sys, time
from streaming.outputs.mqtt import MqttOutput
mqtt = MqttOutput(port=int(sys.argv[1]), cameras=["door"], client_id="lwt-test", keepalive_s=5)
assert mqtt.connected.wait(10)
print("ready", flush=True)
time.sleep(60)
"""


def test_mqtt_last_will_says_offline_when_the_monitor_dies(broker):
    live = Listener(broker.port)
    proc = subprocess.Popen(
        [sys.executable, "-c", LWT_SCRIPT, str(broker.port)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        wait_for(lambda: live.on("actionstream/availability")[-1:] == [("online", False)], what="online")
        proc.send_signal(signal.SIGKILL)  # no goodbye: the broker publishes the will
        wait_for(lambda: live.on("actionstream/availability")[-1][0] == "offline", what="the last will")
    finally:
        proc.kill()
        proc.wait()
        live.close()


def test_mqtt_event_published_while_the_broker_is_down_arrives_after_it_returns(broker):
    from streaming.outputs.mqtt import MqttOutput

    live = Listener(broker.port, client_id="persistent-listener")  # its session survives the restart
    mqtt = MqttOutput(port=broker.port, cameras=["door"])
    try:
        assert mqtt.connected.wait(10)
        broker.stop()
        wait_for(lambda: not mqtt.connected.is_set(), what="the disconnect")
        mqtt.publish({"type": "alert", "camera": "door", "action": "Fall"})  # queued by paho, never blocks
        broker.start()
        wait_for(lambda: live.on("actionstream/door/event"), timeout_s=20, what="the queued event")
        assert json.loads(live.on("actionstream/door/event")[0][0])["action"] == "Fall"
    finally:
        mqtt.close()
        live.close()


# -- event clips ------------------------------------------------------------------------------------------------

RED, GREEN = (0, 0, 255), (0, 255, 0)


def feed(ring, t0: float, t1: float, colour, fps: float = 25.0) -> None:
    for i in range(round((t1 - t0) * fps)):
        image = np.zeros((240, 320, 3), np.uint8)
        image[:] = colour
        ring.add(Frame(t=t0 + i / fps, image=image))


def mean_bgr(image: np.ndarray) -> np.ndarray:
    return image.reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("fmt", ["mp4", "avi"])
def test_event_clip_has_pre_and_post_roll_decodes_and_comes_with_snapshot_and_sidecar(tmp_path, fmt):
    clips: list[dict] = []
    recorder = ClipRecorder(tmp_path / "clips", pre_s=1.0, post_s=1.0, fps=10, width=160, fmt=fmt, on_clip=clips.append)
    ring = recorder.ring("door")
    feed(ring, 0.0, 2.0, RED)  # before the alert: red
    recorder.trigger(
        "door",
        {
            "type": "alert",
            "camera": "door",
            "action": "Fall",
            "time": "2026-01-02T03:04:05.678+00:00",
            "stream_t": 2.0,
            "id": "a1",
        },
    )
    feed(ring, 2.0, 3.5, GREEN)  # after it: green
    wait_for(lambda: clips, what="the clip")
    recorder.close()
    clip = clips[0]
    video, snapshot, sidecar = Path(clip["video"]), Path(clip["snapshot"]), Path(clip["sidecar"])
    assert video.suffix == f".{fmt}" and video.parent == tmp_path / "clips" / "door"
    assert snapshot.is_file() and json.loads(sidecar.read_text())["alert"]["id"] == "a1"
    assert clip["pre_s"] == pytest.approx(1.0, abs=0.11) and clip["post_s"] == pytest.approx(1.0, abs=0.11)
    assert count_frames(video) == clip["frames"] == clip["decoded_frames"] >= 19
    cap = cv2.VideoCapture(str(video))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    assert mean_bgr(frames[0])[2] > 150 and mean_bgr(frames[0])[1] < 100  # pre-roll: red
    assert mean_bgr(frames[-1])[1] > 150 and mean_bgr(frames[-1])[2] < 100  # post-roll: green
    assert frames[0].shape[1] == 160  # downscaled
    assert not [f for f in (tmp_path / "clips").rglob(".*")]  # no temporary files left


def test_event_clip_disk_budget_deletes_the_oldest_first(tmp_path):
    clips: list[dict] = []
    recorder = ClipRecorder(tmp_path / "clips", pre_s=0.5, post_s=0.5, fps=10, width=160, on_clip=clips.append)
    ring = recorder.ring("door")
    t = 0.0
    for n in range(3):
        feed(ring, t, t + 1.0, RED)
        recorder.trigger(
            "door", {"camera": "door", "action": "Fall", "time": f"2026-01-02T03:04:0{n}.000", "stream_t": t + 1.0}
        )
        feed(ring, t + 1.0, t + 2.0, GREEN)
        wait_for(lambda n=n: len(clips) == n + 1, what=f"clip {n}")
        if n == 0:
            size = recorder.used_bytes()
            recorder.max_bytes = int(2.5 * size)  # room for two clips
        t += 2.0
    recorder.close()
    videos = sorted(p.name for p in (tmp_path / "clips" / "door").glob("*.mp4"))
    assert len(videos) == 2 and "03_04_00" not in " ".join(videos) and recorder.deleted == 1
    assert recorder.used_bytes() <= recorder.max_bytes
    stems = {p.with_suffix("").name for p in (tmp_path / "clips" / "door").iterdir()}
    assert len(stems) == 2  # video, snapshot and sidecar go together


def test_close_writes_a_pending_clip_with_a_short_post_roll(tmp_path):
    clips: list[dict] = []
    recorder = ClipRecorder(tmp_path / "clips", pre_s=1.0, post_s=5.0, fps=10, on_clip=clips.append)
    ring = recorder.ring("door")
    feed(ring, 0.0, 2.0, RED)
    recorder.trigger("door", {"camera": "door", "action": "Fall", "time": "2026-01-02T03:04:05.000", "stream_t": 1.5})
    recorder.close()  # the camera stopped before the post-roll was in
    assert len(clips) == 1 and clips[0]["post_s"] < 1.0 and count_frames(Path(clips[0]["video"])) > 0
