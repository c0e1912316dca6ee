"""The browser's webcam as a source: the page streams frames to a handler that pushes them into a PushSource.

The page sends a frame every `webcam_period_s(feature_rate)` seconds: twice the bundle's feature rate, so the
engine's sampler finds a frame for every feature even when the page's timer or the upload jitters (at exactly
the rate, a frame arriving a little early misses its slot and the next one skips a feature). At 5 frames a second
a 10-features/s bundle got 5 features/s, and every 40-step window spanned 8 s instead of the 4 s it was trained on.
The page itself is refreshed at most every UPDATE_PERIOD_S, as for the other sources: frames in between are
pushed and answered with gr.skip(), which keeps each round trip short enough for the next frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import gradio as gr
import numpy as np

from dashboard.hub import UPDATE_PERIOD_S, Hub, Watched
from dashboard.live_outputs import UNCHANGED, Shown, live_outputs
from dashboard.session import Session

WEBCAM_FRAMES_PER_FEATURE = 2.0
MAX_WEBCAM_FPS = 30.0
WEBCAM_NAME = "webcam"


def webcam_period_s(feature_rate: float) -> float:
    """Seconds between the webcam frames the page sends for a bundle with this feature rate."""
    return min(UPDATE_PERIOD_S, 1.0 / min(MAX_WEBCAM_FPS, WEBCAM_FRAMES_PER_FEATURE * feature_rate))


@dataclass
class Webcam:
    """A tab's webcam stream (a PushSource) and what its page already shows."""

    watched: Watched
    shown: Shown = field(default_factory=Shown)
    next_refresh: float = 0.0  # monotonic time from which the page is refreshed again


class WebcamFeed:
    """The Live tab's webcam handler: one frame in, the page's outputs (or gr.skip()s) out."""

    def __init__(self, hub: Hub):
        self.hub = hub

    def frame(self, image_rgb: np.ndarray | None, request: gr.Request) -> tuple:
        """One webcam frame from the page (RGB, not mirrored) into this tab's PushSource."""
        session = self.hub.session(request)
        with session.frame_lock:  # Stop waits for this frame; no frame re-creates the stream after Stop
            return self._frame(session, image_rgb)

    def _frame(self, session: Session, image_rgb: np.ndarray | None) -> tuple:
        if image_rgb is None or not session.webcam_armed:
            return UNCHANGED
        cam = session.webcam
        if cam is None:
            cam = session.webcam = Webcam(self.hub.open_push(WEBCAM_NAME))
        frame_bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
        cam.watched.source.push(frame_bgr)
        self.hub.drain(cam.watched, session)
        now = time.monotonic()
        if now < cam.next_refresh:
            return UNCHANGED
        cam.next_refresh = now + UPDATE_PERIOD_S
        person = self.hub.person(session, cam.watched.stream_id)
        return live_outputs(session, cam.watched.view, frame_bgr, frame_bgr, person, cam.shown)
