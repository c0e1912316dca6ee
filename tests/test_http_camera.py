"""An HTTP MJPEG camera (a real HTTP server in the test process): read, lost, and found again."""

import http.server
import threading

import cv2
import numpy as np
from rtsp_fixture import free_port
from tiny_bundle import COLORS_BGR

from streaming.engine import Engine, EngineConfig
from streaming.events import Prediction, SourceState, Status
from streaming.sources import NetworkSource

FRAME_PERIOD_S = 0.04


class MjpegCamera:
    """multipart/x-mixed-replace JPEG frames at 25 fps, as many IP cameras serve them."""

    def __init__(self, port: int, colour: str):
        self.port = port
        ok, jpg = cv2.imencode(".jpg", np.full((72, 96, 3), COLORS_BGR[colour], np.uint8))
        self.jpg = jpg.tobytes()
        self.stopped = threading.Event()
        self.server = None

    def start(self) -> None:
        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not camera.stopped.wait(FRAME_PERIOD_S):  # 25 fps until the camera is stopped
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(camera.jpg)
                            + camera.jpg
                            + b"\r\n"
                        )
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.stopped.clear()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is None:
            return
        self.stopped.set()  # open streams end: the client sees the connection close
        self.server.shutdown()
        self.server.server_close()
        self.server = None


def test_http_camera_predicts_drops_and_reconnects(tiny_bundle):
    camera = MjpegCamera(free_port(), "blue")
    camera.start()
    source = NetworkSource(
        f"http://127.0.0.1:{camera.port}/video.mjpg",
        name="door",
        read_timeout_s=2.0,
        backoff_initial_s=0.25,
        backoff_max_s=1.0,
    )
    phase = "predict"
    try:
        with Engine(tiny_bundle, EngineConfig(device="cpu")) as engine:
            events = engine.events(duration_s=120)
            engine.add_source(source)
            for event in events:
                if phase == "predict" and isinstance(event, Prediction):
                    assert event.label == "blue"
                    camera.stop()
                    phase = "lost"
                elif phase == "lost" and isinstance(event, Status) and event.state == SourceState.RECONNECTING:
                    camera.start()
                    phase = "back"
                elif phase == "back" and isinstance(event, Status) and event.state == SourceState.LIVE:
                    assert event.reason == "reconnected"
                    phase = "predict again"
                elif phase == "predict again" and isinstance(event, Prediction):
                    assert event.label == "blue"
                    phase = "done"
                    break
    finally:
        camera.stop()
    assert phase == "done"
