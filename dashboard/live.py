"""The Live tab: one source at a time (an example clip, a camera URL, an upload or the browser's webcam).

A server-side source is followed by a generator that refreshes the page about five times a second and removes
the stream in its `finally` (Stop, a second Start, or the tab closing). Stop sets the tab's stop event; the
generator notices it within one refresh and ends with "Stopped." as its own last update, so no refresh of the
old stream can land on the page after it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import gradio as gr

from dashboard.hub import Hub
from dashboard.live_outputs import Shown, live_outputs
from dashboard.sources import SourceCatalog, SourceKind
from dashboard.webcam import WebcamFeed
from streaming.errors import ActionstreamError

STOPPED = "Stopped."
WEBCAM_HINT = "Webcam: allow camera access in the browser, then press the record button under the webcam picture."
#: The inputs the source picker shows, in the order of the outputs of `choose_kind`.
KIND_INPUTS = (SourceKind.EXAMPLE, SourceKind.WEBCAM, SourceKind.URL, SourceKind.UPLOAD)


def _status_only(text: str) -> tuple:
    return gr.skip(), gr.skip(), gr.skip(), text, gr.skip()


class LiveTab:
    """The Live tab's handlers."""

    def __init__(self, hub: Hub, catalog: SourceCatalog):
        self.hub = hub
        self.catalog = catalog
        self.webcam = WebcamFeed(hub)

    def run(self, kind: str, example: str | None, url: str | None, upload: str | None, request: gr.Request) -> Iterator:
        """Stream one source to the page: (frame, top-k, timeline, status, alert log) about 5 times a second."""
        hub = self.hub
        session = hub.session(request)
        hub.close_webcam(session)
        # a second Start (the button takes clicks while a stream runs) replaces the stream this tab was showing;
        # its generator sees its stop event set and ends without a last word
        session.live_stop.set()
        stop = session.live_stop = threading.Event()  # before opening: a Stop during a slow open still counts
        session.webcam_armed = kind == SourceKind.WEBCAM  # webcam frames count only while it is the chosen source
        if kind == SourceKind.WEBCAM:
            yield _status_only(WEBCAM_HINT)
            return
        try:
            spec, name = self.catalog.resolve(kind, example, url, upload)
            watched = hub.open(spec, name, loop=kind != SourceKind.URL)
        except ActionstreamError as exc:
            yield _status_only(f"**Refused:** {exc}")
            return
        shown = Shown()
        try:
            for _ in hub.follow([watched], stop, session):
                frame = hub.engine.latest_frame(watched.stream_id)
                person = hub.person(session, watched.stream_id)
                image = frame.image if frame is not None else None
                outputs = live_outputs(session, watched.view, frame, image, person, shown)
                if stop.is_set():
                    break
                yield outputs
                if watched.view.finished:
                    break
        finally:
            hub.close(watched)
        if stop.is_set() and session.live_stop is stop:  # Stop, not another Start: the last word on the page
            yield _status_only(STOPPED)

    def choose_kind(self, kind: str, request: gr.Request) -> tuple:
        """The source picker changed: show its inputs; the webcam's frames count only while it is chosen."""
        session = self.hub.session(request)
        session.webcam_armed = kind == SourceKind.WEBCAM
        if kind != SourceKind.WEBCAM:
            self.hub.close_webcam(session)
        return tuple(gr.update(visible=kind == k) for k in KIND_INPUTS)

    def stop(self, request: gr.Request) -> str:
        session = self.hub.session(request)
        session.live_stop.set()
        session.webcam_armed = False
        self.hub.close_webcam(session)  # waits for a webcam frame being handled: none is answered after this
        return STOPPED

    def stopped(self, request: gr.Request) -> str:
        """Stop's follow-up, a round trip later: outlasts a webcam frame answered just before Stop."""
        session = self.hub.session(request)
        return STOPPED if session.live_stop.is_set() and not session.webcam_armed else gr.skip()

    def set_skeleton(self, on: bool, request: gr.Request) -> None:
        """The "Draw the person" toggle: this tab's Live and Cameras frames show the skeleton and box or not."""
        self.hub.session(request).skeleton = bool(on)
