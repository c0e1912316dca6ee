"""The actionstream dashboard: a thin Gradio UI over the one shared streaming engine.

    python demo_app.py                                   # demo model, demo clip, http://127.0.0.1:7860
    python demo_app.py --bundle runs/ucf101 --clips data/ucf101/test --auth admin:secret

Every browser session gets its own streams (a clip, a camera URL, an upload or its webcam), all fed to one
Engine, which batches the extractor over every stream. A session's generator turns the engine's events into
the page's outputs about five times a second; its `finally` removes the stream when the user presses Stop
or closes the tab. Nothing here knows about models: labels, window and provenance come from the bundle.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import gradio as gr
import numpy as np
import pandas as pd

from streaming.alerts import AlertEvent, AlertLog, AlertRule, AlertTracker
from streaming.demo import default_bundle_path, demo_clip_path
from streaming.engine import Engine, EngineConfig
from streaming.errors import ActionstreamError, SourceError
from streaming.events import Metrics, Prediction, SourceState, Status
from streaming.sources import NetworkSource, PushSource, Source, open_source
from streaming.validate import VIDEO_SUFFIXES, ClipFolders, check_source, redact_url

UPDATE_PERIOD_S = 0.2  # the page refreshes about five times a second
STOPPED = "Stopped."
CAMERAS_STOPPED = "Cameras stopped."
TIMELINE_S = 60.0  # the probability timeline shows the last minute of stream time
TIMELINE_CLASSES = 3
MAX_CAMERAS = 8
MAX_FRAME_WIDTH = 640  # frames are scaled to 480..640 px wide before JPEG encoding: what the page shows
MIN_FRAME_WIDTH = 480
ALERT_LINES = 50
MAX_EXAMPLE_CLIPS = 1000  # a UCF101 test split has ~3800: the dropdown lists the first ones, the rest can be typed
DEMO_CLIP_KEY = "demo clip (synthetic actions)"
KINDS = ("Example clip", "Webcam (this browser)", "Camera URL (RTSP/HTTP)", "Upload a video")
ENDED_STATES = (SourceState.ENDED, SourceState.FAILED)


# ----------------------------------------------------------------------------------------------- one stream's view
@dataclass
class StreamView:
    """What the page shows for one stream, built from that stream's engine events."""

    name: str
    labels: list[str]
    provider: str
    status: Status | None = None
    metrics: Metrics | None = None
    prediction: Prediction | None = None
    predictions: int = 0
    warmup: float | None = None  # fraction of the window filled, until the first prediction after a (re)start
    warmup_reason: str = ""
    history: collections.deque = field(default_factory=lambda: collections.deque(maxlen=1200))

    def apply(self, event: Prediction | Status | Metrics) -> None:
        if isinstance(event, Prediction):
            self.prediction = event
            self.predictions += 1
            self.warmup = None
            self.history.append((event.t, _probs(event, self.labels)))
            while (
                self.history
                and self.history[0][0] < event.t - TIMELINE_S
                or (self.history and self.history[0][0] > event.t)
            ):  # a stream whose clock went back
                self.history.popleft()
        elif isinstance(event, Status) and event.warmup is not None:
            # warm-up progress, or a window restarted after a gap: not a change of the source's state
            self.warmup, self.warmup_reason = event.warmup, event.reason
        elif isinstance(event, Status):
            self.status = event
        elif isinstance(event, Metrics):
            self.metrics = event

    @property
    def state(self) -> SourceState:
        return self.status.state if self.status else SourceState.CONNECTING

    @property
    def finished(self) -> bool:
        return self.state in ENDED_STATES

    def problem(self) -> str:
        """What to draw on the frame when the source is not live ('' when it is)."""
        if self.state == SourceState.LIVE or self.status is None:
            return ""
        return f"{self.state.value}: {self.status.reason}" if self.status.reason else self.state.value

    def status_line(self) -> str:
        s = self.status
        parts = [f"**{self.name}**: {self.state.value}" + (f" ({s.reason})" if s and s.reason else "")]
        if self.warmup is not None and not self.finished:
            why = "" if self.warmup_reason in ("", "warming up") else f" ({self.warmup_reason})"
            parts.append(f"warming up {self.warmup:.0%}{why}")
        m = self.metrics
        parts.append(_short_provider(m.provider if m and m.provider else self.provider))
        if m:
            latency = (
                f"latency {m.latency_p50_ms:.0f} ms (p95 {m.latency_p95_ms:.0f})"
                if np.isfinite(m.latency_p50_ms)
                else "latency –"
            )
            parts += [
                f"capture {m.capture_fps:.1f} fps",
                f"features {m.feature_fps:.1f}/s",
                f"dropped {m.dropped_frames}",
                latency,
                f"engine load {m.load:.0%}" + (" (at capacity)" if m.at_capacity else ""),
            ]
        p = self.prediction
        if p:
            parts.append(
                f"prediction #{self.predictions} at t={p.t:.1f} s: {p.label} {p.score:.2f}"
                + (" (partial window)" if p.partial else "")
            )
        return " · ".join(parts)

    def bars(self) -> dict[str, float]:
        p = self.prediction
        return {label: float(score) for label, score in p.topk} if p else {}

    def timeline_classes(self) -> list[str]:
        """The classes that peaked highest in the last minute: the lines drawn and named in the legend."""
        if not self.history:
            return []
        peaks = np.stack([p for _, p in self.history]).max(axis=0)
        return [self.labels[i] for i in np.argsort(-peaks)[:TIMELINE_CLASSES]]

    def timeline(self, drawn: list[str] | None = None) -> pd.DataFrame:
        """Probability per class against seconds before now; NaN (no line) for all but `drawn` (by default
        timeline_classes(); a caller that already has them passes them in).

        Every class has rows, in label order, from the first update on: Gradio's LinePlot fixes its colour
        scale's domain when it first draws and afterwards only swaps the data, so a class missing then would
        never get a line."""
        if self.history:
            times = np.array([t for t, _ in self.history])
            probs = np.stack([p for _, p in self.history])
        else:
            times, probs = np.zeros(1), np.full((1, len(self.labels)), np.nan, np.float32)
        shown = np.full_like(probs, np.nan)
        columns = [self.labels.index(c) for c in (self.timeline_classes() if drawn is None else drawn)]
        shown[:, columns] = probs[:, columns]
        seconds = times - times[-1]
        return pd.DataFrame(
            {
                "seconds": np.tile(seconds, len(self.labels)),
                "probability": shown.T.reshape(-1),
                "action": np.repeat(self.labels, len(seconds)),
            }
        )


def _probs(p: Prediction, labels: list[str]) -> np.ndarray:
    if len(p.probs) == len(labels):
        return np.asarray(p.probs, np.float32)
    out = np.zeros(len(labels), np.float32)  # engine sent only the top-k: the rest count as ~0
    index = {label: i for i, label in enumerate(labels)}
    for label, score in p.topk:
        if label in index:
            out[index[label]] = score
    return out


def _short_provider(provider: str) -> str:
    return provider.replace("ExecutionProvider", "") or "?"


def annotate(frame_bgr: np.ndarray, prediction: Prediction | None, problem: str = "", title: str = "") -> np.ndarray:
    """The frame as RGB for the page, scaled to 480..640 px wide, with the current label and score on a dark band
    at the top and, when the source is not live, what is wrong at the bottom."""
    h, w = frame_bgr.shape[:2]
    width = min(max(w, MIN_FRAME_WIDTH), MAX_FRAME_WIDTH)
    if width != w:
        frame_bgr = cv2.resize(
            frame_bgr, (width, round(h * width / w)), interpolation=cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
        )
    else:
        frame_bgr = frame_bgr.copy()  # the engine's frame is shared: draw on a copy
    h, w = frame_bgr.shape[:2]
    scale = w / 640
    band = int(32 * scale)
    text = f"{prediction.label}  {prediction.score:.2f}" if prediction else "warming up"
    text = f"{title}: {text}" if title else text
    _text_band(frame_bgr, 0, band, [text], 0.75 * scale, (80, 255, 80) if prediction else (210, 210, 210))
    if problem:
        lines = textwrap.wrap(problem, 60)[:3]
        height = int((14 + 22 * len(lines)) * scale)
        _text_band(frame_bgr, h - height, height, lines, 0.55 * scale, (60, 180, 255))
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)


def _text_band(
    img: np.ndarray, top: int, height: int, lines: list[str], font_scale: float, colour: tuple[int, int, int]
) -> None:
    img[top : top + height] = (img[top : top + height] * 0.3).astype(np.uint8)
    step = height / len(lines)
    for k, line in enumerate(lines):
        y = int(top + step * (k + 0.5) + 8 * font_scale)
        cv2.putText(
            img,
            line,
            (int(10 * font_scale), y),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            colour,
            max(1, round(2.5 * font_scale)),
            cv2.LINE_AA,
        )


def placeholder() -> np.ndarray:
    """A grey BGR frame for a camera that has sent no frame yet."""
    return np.full((360, 480, 3), 70, np.uint8)


# --------------------------------------------------------------------------------------------- browser sessions
class Session:
    """One browser tab: its webcam stream, its alert rule and its page's alert log."""

    def __init__(self, key: str):
        self.key = key
        self.lock = threading.Lock()
        self.tracker = AlertTracker(AlertRule())
        self.alerts: collections.deque[AlertEvent] = collections.deque(maxlen=ALERT_LINES)
        self.alerts_seen = 0  # bumps on every new alert so generators know when to re-render the log
        self.webcam: Webcam | None = None
        self.webcam_armed = False  # webcam frames count while the webcam is the chosen source and not stopped
        self.frame_lock = threading.RLock()  # held while a webcam frame is handled: closing waits for it
        # Set by Stop. The generator notices it within one refresh and ends with its own "Stopped." update: a
        # cancel from the browser would race the generator's last refresh to the page (Gradio delivers the two
        # events independently), so the status could end on a stale live line.
        self.live_stop = threading.Event()
        self.cameras_stop = threading.Event()


@dataclass
class Shown:
    """What one page already shows, so a refresh sends gr.skip() for the outputs that did not change."""

    frame: object = None
    problem: str = ""
    prediction: Prediction | None = None
    predictions: int = 0
    legend: list[str] | None = None
    status: str | None = None
    alerts_seen: int = -1


@dataclass
class Camera:
    """One tile of the Cameras tab."""

    index: int
    stream_id: str
    subscription: object
    view: StreamView
    where: str  # the URL without credentials
    shown: tuple = ()


@dataclass
class Webcam:
    """A browser webcam feeding a PushSource, with the subscription the page reads from."""

    source: PushSource
    stream_id: str
    subscription: object
    view: StreamView
    shown: Shown = field(default_factory=lambda: Shown())


class Dashboard:
    """Process-wide state: the shared engine, the clip list, the alert log, and the open browser sessions."""

    def __init__(
        self, engine: Engine, clips: dict[str, Path], clip_folders: ClipFolders, alert_log: AlertLog, bundle_root: Path
    ):
        self.engine = engine
        self.clips = clips
        self.clip_folders = clip_folders
        self.alert_log = alert_log
        self.bundle_root = bundle_root
        self.labels = list(engine.labels)
        self.topk = engine.topk
        self._ids = itertools.count(1)
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    # ---- sessions
    def session(self, request: gr.Request | None) -> Session:
        key = (request.session_hash if request is not None else None) or "anonymous"
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = Session(key)
            return self._sessions[key]

    def close_session(self, request: gr.Request) -> None:
        """Tab closed: drop the webcam stream and end the tab's generators (they close their own streams)."""
        key = request.session_hash or "anonymous"
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is not None:
            session.live_stop.set()
            session.cameras_stop.set()
            self._close_webcam(session)

    # ---- sources
    def resolve(self, kind: str, example: str | None, url: str | None, upload: str | None) -> tuple[str, str]:
        """The source spec and display name for the Live tab's choice; SourceError if refused."""
        if kind == KINDS[0]:
            if not example or example not in self.clips:
                raise SourceError("pick an example clip from the list")
            return str(self.clips[example]), _clip_name(example)
        if kind == KINDS[2]:
            spec = check_source(url or "", self.clip_folders)
            return spec, _display_name(spec)
        if kind == KINDS[3]:
            if not upload:
                raise SourceError("upload a video file first")
            path = Path(upload)
            if path.suffix.lower() not in VIDEO_SUFFIXES:
                raise SourceError(f"{path.name}: not a video file name ({', '.join(VIDEO_SUFFIXES)})")
            return str(path), path.stem
        raise SourceError(f"unknown source kind {kind!r}")

    def open(self, spec: str, name: str, loop: bool = False, camera: bool = False) -> tuple[str, Source, object]:
        """Open a source and attach it to the engine; returns (stream id, source, subscription).

        `camera`: a monitored network camera, retried with backoff even if it is down at the start.
        """
        stream_id = f"{name}#{next(self._ids)}"  # the engine wants unique names; several tabs may watch one clip
        if camera and "://" in spec:
            source = NetworkSource(spec, name=stream_id, retry_first_open=True)
        else:
            source = open_source(spec, name=stream_id, realtime=True, loop=loop)
        sub = self.engine.subscribe(stream_id)  # before add_source: the first status is not missed
        try:
            self.engine.add_source(source)
        except ActionstreamError:
            self.engine.unsubscribe(sub)
            raise
        return stream_id, source, sub

    def close(self, stream_id: str, subscription) -> None:
        self.engine.unsubscribe(subscription)
        try:
            self.engine.remove_source(stream_id)
        except SourceError:
            pass  # already gone (the engine was stopped)

    # ---- alerts
    def set_alert_rule(
        self, actions: list[str], threshold: float, min_duration_s: float, snapshot: bool, request: gr.Request
    ) -> str:
        session = self.session(request)
        try:
            rule = AlertRule(frozenset(actions or []), float(threshold), float(min_duration_s or 0.0), bool(snapshot))
        except ValueError as exc:
            return f"Alert settings refused: {exc}"
        with session.lock:
            session.tracker.set_rule(rule)
        if not rule.enabled:
            return "Alerts off: pick one or more actions."
        where = f" and appended to `{self.alert_log.path}`" if self.alert_log.path else ""
        snap = ", each with a snapshot of the frame" if rule.snapshot and self.alert_log.path else ""
        return (
            f"Alerting on {', '.join(sorted(rule.actions))} when held ≥ {rule.threshold:.2f} for "
            f"{rule.min_duration_s:.1f} s; events are listed below{where}{snap}."
        )

    def check_alert(self, session: Session, camera: str, p: Prediction, frame: np.ndarray | None) -> None:
        with session.lock:
            event = session.tracker.update(camera, p.t, p.label, p.score)
            snapshot = frame if event is not None and session.tracker.rule.snapshot else None
        if event is None:
            return
        event = self.alert_log.record(event, snapshot=snapshot)
        with session.lock:
            session.alerts.appendleft(event)
            session.alerts_seen += 1

    @staticmethod
    def alert_text(session: Session) -> str:
        with session.lock:
            return "\n".join(e.line() for e in session.alerts) or "No alerts yet."

    # ---- Live tab: server-side sources
    def live_run(
        self, kind: str, example: str | None, url: str | None, upload: str | None, request: gr.Request
    ) -> Iterator[tuple]:
        """Stream one source to the Live tab: (frame, top-k, timeline, status, alert log) about 5 times a second."""
        session = self.session(request)
        self._close_webcam(session)
        session.webcam_armed = kind == KINDS[1]  # webcam frames count only while the webcam is the chosen source
        if kind == KINDS[1]:
            yield (
                gr.skip(),
                gr.skip(),
                gr.skip(),
                ("Webcam: allow camera access in the browser, then press the record button under the webcam picture."),
                gr.skip(),
            )
            return
        session.live_stop.set()  # a second Start replaces the stream this tab was showing
        stop = session.live_stop = threading.Event()  # before opening: a Stop during a slow open still counts
        try:
            spec, name = self.resolve(kind, example, url, upload)
            stream_id, source, sub = self.open(spec, name, loop=kind != KINDS[2])
        except ActionstreamError as exc:
            yield gr.skip(), gr.skip(), gr.skip(), f"**Refused:** {exc}", gr.skip()
            return
        view = StreamView(
            name=name if "://" not in spec else redact_url(spec), labels=self.labels, provider=self.engine.provider
        )
        try:
            yield from self._follow(session, stream_id, sub, view, stop)
        finally:
            self.close(stream_id, sub)
        if stop.is_set():  # the last word on the page, after every refresh of this stream
            yield gr.skip(), gr.skip(), gr.skip(), STOPPED, gr.skip()

    def _follow(
        self, session: Session, stream_id: str, sub, view: StreamView, stop: threading.Event
    ) -> Iterator[tuple]:
        shown = Shown()
        while not stop.is_set():
            deadline = time.monotonic() + UPDATE_PERIOD_S
            while (remaining := deadline - time.monotonic()) > 0:
                event = sub.get(timeout=remaining)
                if event is None:
                    break
                view.apply(event)
                if isinstance(event, Prediction):
                    self.check_alert(session, view.name, event, _image(self.engine.latest_frame(stream_id)))
            frame = self.engine.latest_frame(stream_id)
            outputs = self._outputs(session, view, frame, _image(frame), shown)
            if stop.is_set():
                return
            yield outputs
            if view.finished:
                return

    def _outputs(
        self, session: Session, view: StreamView, frame_key: object, frame_bgr: np.ndarray | None, shown: Shown
    ) -> tuple:
        """(frame, top-k, timeline, status, alert log) for the Live tab, gr.skip() where the page is current."""
        out_frame = out_bars = out_timeline = out_status = out_alerts = gr.skip()
        problem = view.problem()
        if frame_bgr is not None and (
            frame_key is not shown.frame or view.prediction is not shown.prediction or problem != shown.problem
        ):
            out_frame = annotate(frame_bgr, view.prediction, problem)
            shown.frame, shown.problem = frame_key, problem
        if view.prediction is not shown.prediction:
            out_bars, shown.prediction = view.bars(), view.prediction
        if view.predictions and view.predictions != shown.predictions:  # the plot re-renders: only on news
            legend = view.timeline_classes()
            out_timeline, shown.predictions = view.timeline(legend), view.predictions
            if legend != shown.legend:  # the legend names only the lines drawn (a change redraws the plot)
                out_timeline, shown.legend = gr.LinePlot(value=out_timeline, colors_in_legend=legend), legend
        status = view.status_line()
        if status != shown.status:
            out_status = shown.status = status
        if session.alerts_seen != shown.alerts_seen:
            shown.alerts_seen, out_alerts = session.alerts_seen, self.alert_text(session)
        return out_frame, out_bars, out_timeline, out_status, out_alerts

    def choose_kind(self, kind: str, request: gr.Request) -> tuple:
        """The source picker changed: show its inputs; the webcam's frames count only while it is chosen."""
        session = self.session(request)
        session.webcam_armed = kind == KINDS[1]
        if kind != KINDS[1]:
            self._close_webcam(session)
        return tuple(gr.update(visible=kind == k) for k in (KINDS[0], KINDS[1], KINDS[2], KINDS[3]))

    def stop_live(self, request: gr.Request) -> str:
        session = self.session(request)
        session.live_stop.set()
        session.webcam_armed = False
        self._close_webcam(session)  # waits for a webcam frame being handled: none is answered after this
        return STOPPED

    def stopped(self, request: gr.Request) -> str:
        """Stop's follow-up, a round trip later: outlasts a webcam frame answered just before Stop."""
        session = self.session(request)
        return STOPPED if session.live_stop.is_set() and not session.webcam_armed else gr.skip()

    # ---- Live tab: the browser's webcam
    def webcam_frame(self, image_rgb: np.ndarray | None, request: gr.Request) -> tuple:
        """One webcam frame from the page (RGB, not mirrored) into this session's PushSource; returns the outputs."""
        session = self.session(request)
        with session.frame_lock:
            return self._webcam_frame(session, image_rgb)

    def _webcam_frame(self, session: Session, image_rgb: np.ndarray | None) -> tuple:
        if image_rgb is None or not session.webcam_armed:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        with session.lock:
            cam = session.webcam
            if cam is None:
                stream_id = f"webcam#{next(self._ids)}"
                source = PushSource(name=stream_id)
                sub = self.engine.subscribe(stream_id)
                self.engine.add_source(source)
                cam = session.webcam = Webcam(
                    source, stream_id, sub, StreamView(name="webcam", labels=self.labels, provider=self.engine.provider)
                )
        frame_bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
        cam.source.push(frame_bgr)
        while (event := cam.subscription.get(timeout=0)) is not None:
            cam.view.apply(event)
            if isinstance(event, Prediction):
                self.check_alert(session, "webcam", event, frame_bgr)
        return self._outputs(session, cam.view, frame_bgr, frame_bgr, cam.shown)

    def _close_webcam(self, session: Session) -> None:
        with session.frame_lock:  # a frame in flight could otherwise re-create the webcam stream after this
            cam, session.webcam = session.webcam, None
        if cam is not None:
            cam.source.close()
            self.close(cam.stream_id, cam.subscription)

    # ---- Cameras tab
    def cameras_run(self, urls: str, request: gr.Request) -> Iterator[list]:
        """Watch several camera URLs at once: a tile per camera (frame, label, state), refreshed ~5 times a second.

        A camera that is down keeps retrying with backoff and shows why on its tile; the others go on.
        """
        session = self.session(request)
        session.cameras_stop.set()  # a second Start replaces the cameras this tab was showing
        stop = session.cameras_stop = threading.Event()  # before opening: a Stop during slow opens still counts
        lines = [line.strip() for line in (urls or "").splitlines() if line.strip()]
        notes: list[str] = []
        if len(lines) > MAX_CAMERAS:
            notes.append(f"only the first {MAX_CAMERAS} cameras are watched")
            lines = lines[:MAX_CAMERAS]
        cams: list[Camera] = []
        try:
            for i, line in enumerate(lines):
                try:
                    spec = check_source(line, self.clip_folders)
                    stream_id, _, sub = self.open(spec, f"cam{i + 1}", loop=True, camera=True)
                except ActionstreamError as exc:
                    notes.append(f"camera {i + 1} refused: {exc}")
                    continue
                view = StreamView(name=f"cam{i + 1}", labels=self.labels, provider=self.engine.provider)
                cams.append(Camera(i, stream_id, sub, view, _display_name(spec)))
            head = (
                f"{len(cams)} camera(s) on one shared engine ({_short_provider(self.engine.provider)})."
                if cams
                else "No camera running."
            )
            status = " ".join([head] + [f"**{n}.**" for n in notes])
            tiles = [gr.update(visible=False, value=None) for _ in range(MAX_CAMERAS)]
            for cam in cams:
                tiles[cam.index] = gr.update(
                    visible=True, value=annotate(placeholder(), None, "connecting", title=cam.view.name)
                )
            table = self.cameras_table(status, cams) if cams else status
            yield [table, *tiles, gr.skip()]
            shown_alerts = session.alerts_seen
            while cams and not stop.is_set():
                deadline = time.monotonic() + UPDATE_PERIOD_S
                for cam in cams:  # drain every camera, then wait on the first one until the next refresh
                    while (event := cam.subscription.get(timeout=0)) is not None:
                        self._camera_event(session, cam, event)
                while (remaining := deadline - time.monotonic()) > 0:
                    event = cams[0].subscription.get(timeout=remaining)
                    if event is None:
                        break
                    self._camera_event(session, cams[0], event)
                tiles = [gr.skip()] * MAX_CAMERAS
                for cam in cams:
                    tiles[cam.index] = self._tile(cam)
                out_alerts = gr.skip()
                if session.alerts_seen != shown_alerts:
                    shown_alerts, out_alerts = session.alerts_seen, self.alert_text(session)
                new_table = self.cameras_table(status, cams)
                out_table = gr.skip() if new_table == table else new_table
                table = new_table
                if stop.is_set():
                    break
                yield [out_table, *tiles, out_alerts]
                if all(cam.view.state == SourceState.ENDED for cam in cams):
                    yield [
                        self.cameras_table(status + " All streams ended.", cams),
                        *([gr.skip()] * MAX_CAMERAS),
                        gr.skip(),
                    ]
                    return
        finally:
            for cam in cams:
                self.close(cam.stream_id, cam.subscription)
        if stop.is_set():  # the last word on the page, after every refresh of these cameras
            yield [CAMERAS_STOPPED, *([gr.skip()] * MAX_CAMERAS), gr.skip()]

    def stop_cameras(self, request: gr.Request) -> str:
        self.session(request).cameras_stop.set()
        return CAMERAS_STOPPED

    def _tile(self, cam: Camera):
        """The update for one camera tile, or gr.skip() when nothing it shows has changed."""
        view, frame = cam.view, self.engine.latest_frame(cam.stream_id)
        s = view.status
        key = (frame, view.prediction, view.state, s.reason if s else "")
        if key == cam.shown:
            return gr.skip()
        cam.shown = key
        p = view.prediction
        if frame is None:
            return gr.update(value=annotate(placeholder(), p, view.problem() or "connecting", title=view.name))
        return gr.update(value=annotate(frame.image, p, view.problem(), title=view.name))

    @staticmethod
    def cameras_table(head: str, cams: list[Camera]) -> str:
        """The Cameras tab's text summary: one row per camera with its source, state and current action."""
        rows = [head, "", "| camera | source | state | action |", "|---|---|---|---|"]
        for cam in cams:
            v, p = cam.view, cam.view.prediction
            state = v.state.value + (f" ({v.status.reason})" if v.status and v.status.reason else "")
            rows.append(f"| {v.name} | `{cam.where}` | {state} | {f'{p.label} {p.score:.2f}' if p else '–'} |")
        return "\n".join(rows)

    def _camera_event(self, session: Session, cam: Camera, event) -> None:
        cam.view.apply(event)
        if isinstance(event, Prediction):
            self.check_alert(session, cam.view.name, event, _image(self.engine.latest_frame(cam.stream_id)))

    # ---- plain API for programs (gradio_client cannot drive the webcam stream)
    def classify(self, source: str, seconds: float, request: gr.Request) -> dict:
        """Run an example clip (by its name in the list) or a validated URL/clip path for up to `seconds`
        (at most 120) and return its predictions and final state."""
        seconds = float(min(max(seconds or 0.0, 1.0), 120.0))
        try:
            if source in self.clips:
                spec, name = str(self.clips[source]), _clip_name(source)
            else:
                spec = check_source(source, self.clip_folders)
                name = _display_name(spec)
            stream_id, _, sub = self.open(spec, name)
        except ActionstreamError as exc:
            return {"source": source, "error": str(exc), "predictions": []}
        view = StreamView(name=name, labels=self.labels, provider=self.engine.provider)
        predictions = []
        try:
            deadline = time.monotonic() + seconds
            while not view.finished and (remaining := deadline - time.monotonic()) > 0:
                event = sub.get(timeout=min(remaining, 1.0))
                if event is None:
                    continue
                view.apply(event)
                if isinstance(event, Prediction):
                    d = event.to_dict()
                    d.pop("probs", None)
                    predictions.append(d)
        finally:
            self.close(stream_id, sub)
        return {
            "source": source,
            "stream": stream_id,
            "state": view.state.value,
            "reason": view.status.reason if view.status else "",
            "provider": self.engine.provider,
            "predictions": predictions,
        }

    def model_info(self) -> dict:
        m = self.engine.manifest
        return {
            "bundle": str(self.bundle_root),
            "description": m.description,
            "labels": list(m.labels),
            "window": m.sampling.window,
            "sampling": {"mode": m.sampling.mode, "fps": m.sampling.feature_rate},
            "provenance": dict(m.provenance),
            "provider": self.engine.provider,
        }


def _image(frame) -> np.ndarray | None:
    return frame.image if frame is not None else None


def _clip_name(key: str) -> str:
    return "demo" if key == DEMO_CLIP_KEY else Path(key).stem


def _display_name(spec: str) -> str:
    return redact_url(spec) if "://" in spec else Path(spec).stem


# ------------------------------------------------------------------------------------------------------ the page
def model_summary(dash: Dashboard) -> str:
    """One line under the title, so nobody mistakes a demo model for a UCF101 one."""
    m = dash.engine.manifest
    what = m.description or str(m.provenance.get("dataset", "")) or dash.bundle_root.name
    span = m.sampling.window_seconds
    return (
        f"**Model:** {what} · {len(m.labels)} actions · window {m.sampling.window} features at "
        f"{m.sampling.feature_rate:g}/s ({span:.1f} s) · {_short_provider(dash.engine.provider)}"
    )


def model_markdown(dash: Dashboard) -> str:
    m = dash.engine.manifest
    rows = [
        f"### {m.description or dash.bundle_root.name}",
        "",
        f"- **Bundle:** `{dash.bundle_root}`",
        f"- **Actions ({len(m.labels)}):** {', '.join(m.labels)}",
        f"- **Window:** {m.sampling.window} features at {m.sampling.feature_rate:g} per second "
        f"({m.sampling.window_seconds:.1f} s of video), sampling `{m.sampling.mode}`",
        f"- **Extractor input:** {m.frame.height}×{m.frame.width} {m.frame.color}, {m.feature_size}-d features",
        f"- **Execution provider:** {dash.engine.provider}",
    ]
    facts = [(k, v) for k, v in m.provenance.items() if not isinstance(v, (dict, list))]
    if facts:  # the one-line facts; nested details (configs, versions, parity) are in the accordion below
        rows += ["", "**Where it came from:**", ""] + [f"- {k}: {v}" for k, v in facts]
    return "\n".join(rows)


PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def class_colors(labels: list[str]) -> dict[str, str]:
    """A fixed colour per action, so a line keeps its colour while the top classes change."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


CSS = """
#live-status, #cams-status {min-height: 2.5em}
#alert-log textarea {font-family: monospace}
"""


def build_ui(dash: Dashboard, max_sessions: int = 8) -> gr.Blocks:
    """The page. Event handlers are Dashboard methods; nothing here touches the engine directly."""
    clip_names = list(dash.clips)
    with gr.Blocks(title="actionstream", delete_cache=(60, 180), analytics_enabled=False) as demo:
        gr.Markdown("## actionstream: live action recognition")
        gr.Markdown(model_summary(dash), elem_id="model-summary")
        with gr.Tabs():
            with gr.Tab("Live", id="live"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=280):
                        kind = gr.Radio(list(KINDS), value=KINDS[0], label="Source", elem_id="source-kind")
                        example = gr.Dropdown(
                            clip_names,
                            value=clip_names[0] if clip_names else None,
                            label="Example clip",
                            elem_id="example",
                        )
                        url = gr.Textbox(
                            label="Camera URL or clip path",
                            visible=False,
                            elem_id="source-url",
                            placeholder="rtsp://camera.local:8554/stream",
                        )
                        upload = gr.File(
                            label="Video file",
                            file_count="single",
                            type="filepath",
                            file_types=list(VIDEO_SUFFIXES),
                            visible=False,
                            elem_id="upload",
                        )
                        webcam = gr.Image(
                            sources=["webcam"],
                            streaming=True,
                            type="numpy",
                            label="Your webcam",
                            webcam_options=gr.WebcamOptions(mirror=False),
                            visible=False,
                            elem_id="webcam",
                        )
                        with gr.Row():
                            start = gr.Button("Start", variant="primary", elem_id="start")
                            stop = gr.Button("Stop", elem_id="stop")
                    with gr.Column(scale=2):
                        frame = gr.Image(
                            label="Live",
                            show_label=False,
                            format="jpeg",
                            interactive=False,
                            height=400,
                            elem_id="live-frame",
                        )
                        status = gr.Markdown("Pick a source and press Start.", elem_id="live-status")
                with gr.Row():
                    bars = gr.Label(num_top_classes=dash.topk, label="Top actions", elem_id="live-topk")
                    timeline = gr.LinePlot(
                        x="seconds",
                        y="probability",
                        color="action",
                        y_lim=[0, 1],
                        x_lim=[-TIMELINE_S, 0],
                        color_map=class_colors(dash.labels),
                        x_title="seconds before now (last minute)",
                        height=300,
                        label="Last minute",
                        show_label=False,
                        elem_id="live-timeline",
                    )
            with gr.Tab("Cameras", id="cameras"):
                cam_urls = gr.Textbox(
                    lines=4,
                    label=f"Camera URLs, one per line (up to {MAX_CAMERAS})",
                    placeholder="rtsp://cam1.local:8554/stream\nrtsp://cam2.local:8554/stream",
                    elem_id="cam-urls",
                )
                with gr.Row():
                    cam_start = gr.Button("Start cameras", variant="primary", elem_id="cam-start")
                    cam_stop = gr.Button("Stop cameras", elem_id="cam-stop")
                cam_status = gr.Markdown("", elem_id="cams-status")
                tiles = []
                for row in range(0, MAX_CAMERAS, 4):
                    with gr.Row():
                        for i in range(row, row + 4):
                            tiles.append(
                                gr.Image(
                                    label=f"cam{i + 1}",
                                    show_label=False,
                                    format="jpeg",
                                    interactive=False,
                                    visible=False,
                                    height=240,
                                    elem_id=f"cam-tile-{i}",
                                )
                            )
            with gr.Tab("Alerts", id="alerts"):
                with gr.Row():
                    actions = gr.CheckboxGroup(dash.labels, label="Alert on these actions", elem_id="alert-actions")
                    with gr.Column():
                        threshold = gr.Slider(
                            0.05,
                            1.0,
                            value=0.8,
                            step=0.05,
                            label="Threshold (smoothed score)",
                            elem_id="alert-threshold",
                        )
                        min_duration = gr.Slider(
                            0.0, 30.0, value=2.0, step=0.5, label="Minimum duration (s)", elem_id="alert-duration"
                        )
                        snapshot = gr.Checkbox(
                            label="Save a snapshot of the frame", value=False, elem_id="alert-snapshot"
                        )
                alert_rule = gr.Markdown("Alerts off: pick one or more actions.", elem_id="alert-rule")
            with gr.Tab("Model", id="model"):
                gr.Markdown(model_markdown(dash), elem_id="model-info")
                with gr.Accordion("Full provenance and parity (manifest.json)", open=False):
                    gr.JSON({"provenance": dash.engine.manifest.provenance, "parity": dash.engine.manifest.parity})
        alert_log = gr.Textbox(
            label="Alert events (this page)",
            value="No alerts yet.",
            lines=4,
            max_lines=12,
            interactive=False,
            elem_id="alert-log",
        )
        kind.change(dash.choose_kind, kind, [example, webcam, url, upload], queue=False, api_visibility="private")
        live_outputs = [frame, bars, timeline, status, alert_log]
        start.click(
            dash.live_run,
            [kind, example, url, upload],
            live_outputs,
            api_name="start",
            concurrency_limit=max_sessions,
            concurrency_id="live",
            show_progress="hidden",
        )
        cam_stream = webcam.stream(
            dash.webcam_frame,
            [webcam],
            live_outputs,
            stream_every=UPDATE_PERIOD_S,
            time_limit=60,
            concurrency_limit=max_sessions,
            show_progress="hidden",
            api_visibility="private",
        )
        # Stop cancels only the webcam's frame stream; the live and camera generators end themselves (see Session)
        stop.click(dash.stop_live, None, status, cancels=[cam_stream], api_name="stop", show_progress="hidden").then(
            dash.stopped, None, status, api_visibility="private", show_progress="hidden"
        )
        cam_start.click(
            dash.cameras_run,
            cam_urls,
            [cam_status, *tiles, alert_log],
            api_name="cameras",
            concurrency_limit=max(1, max_sessions // 2),
            show_progress="hidden",
        )
        cam_stop.click(dash.stop_cameras, None, cam_status, api_visibility="private", show_progress="hidden")
        rule_inputs = [actions, threshold, min_duration, snapshot]
        for comp in rule_inputs:
            # one queue for the four inputs: changes apply in the order they were made, the last one wins
            comp.change(
                dash.set_alert_rule,
                rule_inputs,
                alert_rule,
                api_visibility="private",
                concurrency_id="alert-rule",
                concurrency_limit=1,
            )
        api_source = gr.Textbox(visible=False)
        api_seconds = gr.Number(visible=False)
        api_result = gr.JSON(visible=False)
        gr.Button(visible=False).click(
            dash.classify, [api_source, api_seconds], api_result, api_name="classify", concurrency_limit=4
        )
        gr.Button(visible=False).click(dash.model_info, None, api_result, api_name="model")
        demo.unload(dash.close_session)
    return demo


# ------------------------------------------------------------------------------------------------------ the CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="demo_app.py", description="actionstream dashboard (Gradio)")
    ap.add_argument(
        "--bundle", type=Path, default=default_bundle_path(), help="model bundle folder (default: models/demo)"
    )
    ap.add_argument(
        "--clips",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="folder of video clips offered as examples and allowed as typed paths (repeatable)",
    )
    ap.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    ap.add_argument("--port", type=int, default=7860)
    ap.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    ap.add_argument(
        "--auth", default=None, metavar="USER:PASS", help="require a login (or set ACTIONSTREAM_AUTH=user:pass)"
    )
    ap.add_argument(
        "--alerts-log",
        type=Path,
        default=Path("alerts.jsonl"),
        metavar="FILE",
        help="JSON-lines file alerts are appended to (default ./alerts.jsonl)",
    )
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--int8", action="store_true", help="use the bundle's int8 extractor")
    ap.add_argument("--max-sessions", type=int, default=8, help="live streams served at once (others queue)")
    return ap.parse_args(argv)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ActionstreamError("--auth / ACTIONSTREAM_AUTH must look like user:password")
    return user, password


def find_clips(clip_folders: ClipFolders, demo_clip: Path | None) -> dict[str, Path]:
    """Example clips by display name: the bundled demo clip first, then clips under --clips folders."""
    clips: dict[str, Path] = {}
    if demo_clip is not None and demo_clip.is_file():
        clips[DEMO_CLIP_KEY] = demo_clip
    found = clip_folders.clips(limit=MAX_EXAMPLE_CLIPS)
    if len(found) >= MAX_EXAMPLE_CLIPS:
        print(
            f"warning: only the first {MAX_EXAMPLE_CLIPS} clips under --clips are listed as examples (the others "
            "can still be typed as paths)",
            file=sys.stderr,
        )
    for path in found:
        root = next(r for r in clip_folders.roots if path.is_relative_to(r))
        clips[f"{root.name}/{path.relative_to(root)}"] = path
    return clips


def available_demo_clip() -> Path | None:
    """The synthetic demo clip (rendered into the cache on first use if not committed), or None if unavailable."""
    try:
        return demo_clip_path()
    except ActionstreamError as exc:
        print(f"warning: no demo clip: {exc}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    engine = None
    try:
        auth = parse_auth(args.auth or os.environ.get("ACTIONSTREAM_AUTH"))
        if args.max_sessions < 1:
            raise ActionstreamError("--max-sessions must be at least 1")
        clip_folders = ClipFolders(args.clips)
        clips = find_clips(clip_folders, available_demo_clip())
        engine = Engine(args.bundle, EngineConfig(device=args.device, int8=args.int8))
        dash = Dashboard(engine, clips, clip_folders, AlertLog(args.alerts_log), Path(args.bundle))
        demo = build_ui(dash, max_sessions=args.max_sessions)
        demo.queue(default_concurrency_limit=4, max_size=8 * args.max_sessions)
        engine.start()
        print(
            f"actionstream dashboard: {len(clips)} example clip(s), model {args.bundle}, provider {engine.provider}",
            flush=True,
        )
        try:
            demo.launch(
                server_name=args.host,
                server_port=args.port,
                share=args.share,
                auth=auth,
                ssr_mode=False,
                show_error=True,
                max_file_size="500mb",
                css=CSS,
                footer_links=["api"],
            )
        except OSError as exc:  # port taken, address not available
            raise ActionstreamError(f"cannot listen on {args.host}:{args.port}: {exc}") from exc
    except ActionstreamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        if engine is not None:
            engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
