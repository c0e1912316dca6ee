"""Alerts: a chosen action held above a threshold for a minimum time, logged once per episode.

A single confident window is noise; an action that stays the smoothed label for a few seconds is an event.
The tracker works on stream time (the prediction's `t`), so replaying a clip gives the same alerts however
fast the machine is, and the tests need no clock.

    tracker = AlertTracker(AlertRule(actions=frozenset({"wave"}), threshold=0.8, min_duration_s=2.0))
    log = AlertLog(Path("alerts.jsonl"))
    for pred in predictions:
        event = tracker.update(camera, pred.t, pred.label, pred.score)
        if event:
            log.record(event, snapshot=frame_bgr)
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from streaming.atomic import atomic_write_bytes


@dataclass(frozen=True)
class AlertRule:
    """Which actions alert, above which smoothed score, held for how many seconds of stream time; after an
    alert, `cooldown_s` of stream time must pass before the same camera alerts again (0: each new episode)."""

    actions: frozenset[str] = frozenset()
    threshold: float = 0.8
    min_duration_s: float = 2.0
    snapshot: bool = False
    cooldown_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "actions", frozenset(self.actions))
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"alert threshold must be in (0, 1], got {self.threshold}")
        if not 0.0 <= self.min_duration_s <= 3600.0:
            raise ValueError(f"alert minimum duration must be 0..3600 s, got {self.min_duration_s}")
        if not 0.0 <= self.cooldown_s <= 86400.0:
            raise ValueError(f"alert cooldown must be 0..86400 s, got {self.cooldown_s}")

    @property
    def enabled(self) -> bool:
        return bool(self.actions)


@dataclass(frozen=True)
class AlertEvent:
    """One alert: when (wall clock, ISO 8601), which camera/stream, which action, its score, how long it held."""

    time: str
    camera: str
    action: str
    score: float
    held_s: float
    stream_t: float
    snapshot: str = ""
    rule: str = ""  # the monitor's rule name ("" in the dashboard)
    type: str = "alert"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"] = round(self.score, 4)
        d["held_s"] = round(self.held_s, 2)
        d["stream_t"] = round(self.stream_t, 3)
        return d

    def line(self) -> str:
        """One human-readable line for the page's event log."""
        snap = f"  [snapshot {Path(self.snapshot).name}]" if self.snapshot else ""
        return f"{self.time[11:19]}  {self.camera}  {self.action}  {self.score:.2f} (held {self.held_s:.1f} s){snap}"


class AlertTracker:
    """Fires once per episode and per camera; re-arms when the action drops below the threshold.

    Not thread-safe: one tracker belongs to one consumer loop (a dashboard session).
    """

    def __init__(self, rule: AlertRule):
        self.rule = rule
        self._episodes: dict[str, tuple[str, float, bool]] = {}  # camera -> (action, start t, fired)
        self._fired_at: dict[str, float] = {}  # camera -> stream time of its last alert (for the cooldown)

    def set_rule(self, rule: AlertRule) -> None:
        """Change the rule; running episodes start over so a stricter rule is not met by past evidence."""
        if rule != self.rule:
            self.rule = rule
            self._episodes.clear()
            self._fired_at.clear()

    def reset(self, camera: str) -> None:
        self._episodes.pop(camera, None)
        self._fired_at.pop(camera, None)

    def _cooling(self, camera: str, t: float) -> bool:
        last = self._fired_at.get(camera)
        if last is None or t < last:  # never fired, or the stream restarted
            return False
        return t < last + self.rule.cooldown_s

    def update(self, camera: str, t: float, label: str, score: float) -> AlertEvent | None:
        """Feed one smoothed prediction of `camera` at stream time `t`; return an event when one fires."""
        rule = self.rule
        if not rule.enabled or label not in rule.actions or score < rule.threshold:
            self._episodes.pop(camera, None)
            return None
        action, start, fired = self._episodes.get(camera, (label, t, False))
        if action != label or t < start:  # another action, or the stream restarted (a looping clip)
            action, start, fired = label, t, False
        held = t - start
        if not fired and held >= rule.min_duration_s and not self._cooling(camera, t):
            self._episodes[camera] = (action, start, True)
            self._fired_at[camera] = t
            return AlertEvent(
                time=datetime.now().astimezone().isoformat(timespec="milliseconds"),
                camera=camera,
                action=action,
                score=float(score),
                held_s=held,
                stream_t=t,
            )
        self._episodes[camera] = (action, start, fired)
        return None


class AlertLog:
    """Appends alert events to a JSON-lines file (one write per line) and saves optional JPEG snapshots.

    Shared by every session of a dashboard, hence the lock.
    """

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self.snapshot_dir = self.path.with_name(self.path.stem + "-snapshots") if self.path else None
        self._lock = threading.Lock()

    def record(self, event: AlertEvent, snapshot: np.ndarray | None = None) -> AlertEvent:
        """Write the event (and the BGR snapshot, if given); returns the event with its snapshot path."""
        if self.path is None:
            return event
        with self._lock:
            if snapshot is not None and self.snapshot_dir is not None:
                name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{event.time[:23]}_{event.camera}_{event.action}") + ".jpg"
                target = self.snapshot_dir / name
                atomic_write_bytes(target, _jpeg(snapshot))
                event = replace(event, snapshot=str(target))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = (json.dumps(event.to_dict()) + "\n").encode()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)  # one O_APPEND write: readers never see half a line
            finally:
                os.close(fd)
        return event


def _jpeg(frame_bgr: np.ndarray, quality: int = 90) -> bytes:
    ok, buf = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the snapshot as JPEG")
    return buf.tobytes()
