"""One browser tab: its alert rule and alert log, its webcam stream, its Stop signals and its skeleton toggle.

Gradio calls a tab's handlers on several threads at once (a generator, webcam frames, Stop, rule changes), so
what they share is guarded here: `lock` for the alert state, `frame_lock` so a webcam frame and Stop take turns.
"""

from __future__ import annotations

import collections
import threading
from typing import TYPE_CHECKING

import numpy as np

from streaming.alerts import AlertEvent, AlertLog, AlertRule, AlertTracker
from streaming.events import Prediction

if TYPE_CHECKING:
    from dashboard.webcam import Webcam

ALERT_LINES = 50
NO_ALERTS = "No alerts yet."


class Session:
    """One browser tab's state; created on its first event, dropped when the tab closes."""

    def __init__(self, key: str, skeleton: bool = False):
        self.key = key
        self.lock = threading.Lock()
        self.tracker = AlertTracker(AlertRule())
        self.alerts: collections.deque[AlertEvent] = collections.deque(maxlen=ALERT_LINES)
        self.alerts_seen = 0  # bumps on every new alert so generators know when to re-render the log
        self.skeleton = skeleton  # draw the person's skeleton and box (pose bundles; the page has a toggle)
        self.webcam: Webcam | None = None
        self.webcam_armed = False  # webcam frames count while the webcam is the chosen source and not stopped
        self.frame_lock = threading.RLock()  # held while a webcam frame is handled: closing waits for it
        # Set by Stop. The generator notices it within one refresh and ends with its own "Stopped." update: a
        # cancel from the browser would race the generator's last refresh to the page (Gradio delivers the two
        # events independently), so the status could end on a stale live line.
        self.live_stop = threading.Event()
        self.cameras_stop = threading.Event()

    def set_rule(self, rule: AlertRule) -> None:
        with self.lock:
            self.tracker.set_rule(rule)

    def check_alert(self, log: AlertLog, camera: str, p: Prediction, frame_bgr: np.ndarray | None) -> None:
        """Feed one prediction to the tab's alert rule; a fired alert goes to the log (file) and the page's list."""
        with self.lock:
            event = self.tracker.update(camera, p.t, p.label, p.score)
            snapshot = frame_bgr if event is not None and self.tracker.rule.snapshot else None
        if event is None:
            return
        event = log.record(event, snapshot=snapshot)  # outside the lock: a file write
        with self.lock:
            self.alerts.appendleft(event)
            self.alerts_seen += 1

    def alert_text(self) -> str:
        """The page's alert list, newest first."""
        with self.lock:
            return "\n".join(e.line() for e in self.alerts) or NO_ALERTS
