"""The session hub: the one engine, the open browser sessions, and the one loop that follows streams for a page.

Every tab (Live, Cameras, the webcam, the HTTP API) opens its streams here and reads their events through
`follow` (or `drain`, for the webcam's one-frame-at-a-time handler): events are applied to each stream's
view and, for a browser tab, to its alert rule, in one place.

    watched = hub.open(spec, "clip")
    for _ in hub.follow([watched], stop, session):   # once per refresh, about five times a second
        render(watched.view)
    hub.close(watched)
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import gradio as gr

from dashboard.pose import finds_people, latest_person
from dashboard.session import Session
from dashboard.view import StreamView
from streaming.alerts import AlertLog
from streaming.engine import Engine
from streaming.errors import ActionstreamError, SourceError
from streaming.events import Event, Prediction
from streaming.person import Person
from streaming.sources import NetworkSource, PushSource, Source, open_source

UPDATE_PERIOD_S = 0.2  # the page refreshes about five times a second


class EventQueue(Protocol):
    """A stream's engine subscription, as the hub reads it."""

    def get(self, timeout: float | None = None) -> Event | None: ...


@dataclass
class Watched:
    """One stream a page follows: the engine's id for it, the queue its events arrive on, the view they build."""

    stream_id: str
    subscription: EventQueue
    view: StreamView
    source: Source | None = None


class Hub:
    """Process-wide: the shared engine, the alert log, and the open browser sessions."""

    def __init__(self, engine: Engine, alert_log: AlertLog):
        self.engine = engine
        self.alert_log = alert_log
        self.labels = list(engine.labels)
        self.finds_people = finds_people(engine)
        self._ids = itertools.count(1)
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    # ---- sessions
    def session(self, request: gr.Request | None) -> Session:
        key = (request.session_hash if request is not None else None) or "anonymous"
        with self._lock:
            if key not in self._sessions:
                self._sessions[key] = Session(key, skeleton=self.finds_people)
            return self._sessions[key]

    def close_session(self, request: gr.Request) -> None:
        """Tab closed: drop the webcam stream and end the tab's generators (they close their own streams)."""
        key = request.session_hash or "anonymous"
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is not None:
            session.live_stop.set()
            session.cameras_stop.set()
            self.close_webcam(session)

    # ---- streams
    def view(self, name: str) -> StreamView:
        return StreamView(name, self.labels, self.engine.provider, self.engine.manifest.sampling)

    def open(self, spec: str, name: str, loop: bool = False, camera: bool = False) -> Watched:
        """Open a source and attach it to the engine; its view is called `name` (already without credentials).

        `camera`: a monitored network camera, retried with backoff even if it is down at the start.
        """
        stream_id = f"{name}#{next(self._ids)}"  # the engine wants unique names; several tabs may watch one clip
        if camera and "://" in spec:
            source = NetworkSource(spec, name=stream_id, retry_first_open=True)
        else:
            source = open_source(spec, name=stream_id, realtime=True, loop=loop)
        return self._attach(source, self.view(name))

    def open_push(self, name: str) -> Watched:
        """A stream the caller pushes frames into (the browser's webcam)."""
        return self._attach(PushSource(name=f"{name}#{next(self._ids)}"), self.view(name))

    def _attach(self, source: Source, view: StreamView) -> Watched:
        sub = self.engine.subscribe(source.name)  # before add_source: the first status is not missed
        try:
            self.engine.add_source(source)
        except ActionstreamError:
            self.engine.unsubscribe(sub)
            raise
        return Watched(source.name, sub, view, source)

    def close(self, watched: Watched) -> None:
        self.engine.unsubscribe(watched.subscription)
        try:
            self.engine.remove_source(watched.stream_id)
        except SourceError:
            pass  # already gone (the engine was stopped)

    def close_webcam(self, session: Session) -> None:
        """End the tab's webcam stream; waits for a webcam frame being handled, so none re-creates it after."""
        with session.frame_lock:
            cam, session.webcam = session.webcam, None
        if cam is not None:
            cam.watched.source.close()
            self.close(cam.watched)

    def person(self, session: Session, stream_id: str) -> Person | None:
        """The person to draw on the stream's frame: only for pose bundles, and only while the tab wants it."""
        return latest_person(self.engine, stream_id) if self.finds_people and session.skeleton else None

    # ---- the one follow loop
    def follow(
        self,
        watched: list[Watched],
        stop: threading.Event,
        session: Session | None = None,
        on_prediction: Callable[[Prediction], None] | None = None,
    ) -> Iterator[None]:
        """Yield once per refresh until `stop` is set: in between, every stream's events are applied to its
        view (and, with a `session`, to its alert rule). The caller renders after each yield, and checks `stop`
        again before showing what it rendered (Stop has the last word on the page)."""
        while watched and not stop.is_set():
            deadline = time.monotonic() + UPDATE_PERIOD_S
            for w in watched:  # what every stream has sent so far
                self.drain(w, session, on_prediction)
            first = watched[0]  # then wait on the first one until the refresh is due
            while (remaining := deadline - time.monotonic()) > 0:
                event = first.subscription.get(timeout=remaining)
                if event is None:  # the refresh is due, or the subscription closed: wait out the period
                    stop.wait(max(0.0, deadline - time.monotonic()))
                    break
                self._apply(first, event, session, on_prediction)
            yield

    def drain(
        self, w: Watched, session: Session | None, on_prediction: Callable[[Prediction], None] | None = None
    ) -> None:
        """Apply the events the stream has sent so far, without waiting."""
        while (event := w.subscription.get(timeout=0)) is not None:
            self._apply(w, event, session, on_prediction)

    def _apply(
        self,
        w: Watched,
        event: Event,
        session: Session | None,
        on_prediction: Callable[[Prediction], None] | None,
    ) -> None:
        w.view.apply(event)
        if not isinstance(event, Prediction):
            return
        if session is not None:
            frame = self.engine.latest_frame(w.stream_id)  # the alert's snapshot, if the rule wants one
            session.check_alert(self.alert_log, w.view.name, event, frame.image if frame is not None else None)
        if on_prediction is not None:
            on_prediction(event)
