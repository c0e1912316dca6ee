"""The Cameras tab: several camera URLs (or clips) at once on the one engine, a tile and a table row each.

A camera that is down keeps retrying with backoff and shows why on its tile; the others go on. Like the Live tab,
the generator ends itself when Stop sets the tab's event, with "Cameras stopped." as its last update.
A line may name its camera, `front-door = rtsp://...`, as the monitor's config file does (dashboard.monitor_file
loads and saves that file); the name is the camera's tile title and its name in alerts.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import gradio as gr

from dashboard.hub import Hub, Watched
from dashboard.session import Session
from dashboard.sources import SourceCatalog
from dashboard.view import annotate, placeholder, short_provider
from streaming.errors import ActionstreamError
from streaming.events import SourceState
from streaming.monitor_config import NAME_PATTERN

MAX_CAMERAS = 8
CAMERAS_STOPPED = "Cameras stopped."
#: "name = source": the name as the monitor's file allows one (a URL's "scheme:" never matches: no ':' in names)
_NAMED_LINE = re.compile(r"^(" + NAME_PATTERN.pattern.strip("^$") + r")\s*=\s*(\S.*)$")


@dataclass(frozen=True)
class CameraLine:
    """One line of the camera list: an optional name and the source as typed."""

    name: str | None
    source: str


def camera_lines(text: str | None) -> list[CameraLine]:
    """The camera list's non-empty lines, each `source` or `name = source`."""
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line:
            m = _NAMED_LINE.match(line)
            out.append(CameraLine(m.group(1), m.group(2).strip()) if m else CameraLine(None, line))
    return out


def camera_list_text(cameras: Iterable[tuple[str, str]]) -> str:
    """The camera list for (name, source) pairs, one `name = source` line each."""
    return "\n".join(f"{name} = {source}" for name, source in cameras)


@dataclass
class Camera:
    """One tile of the Cameras tab."""

    index: int
    watched: Watched
    where: str  # the URL without credentials
    shown: tuple = ()


class CamerasTab:
    """The Cameras tab's handlers."""

    def __init__(self, hub: Hub, catalog: SourceCatalog):
        self.hub = hub
        self.catalog = catalog

    def run(self, urls: str, request: gr.Request) -> Iterator[list]:
        """Watch several camera URLs at once: (table, tile per camera, alert log), refreshed ~5 times a second."""
        hub = self.hub
        session = hub.session(request)
        session.cameras_stop.set()  # a second Start replaces the cameras this tab was showing
        stop = session.cameras_stop = threading.Event()  # before opening: a Stop during slow opens still counts
        lines = camera_lines(urls)
        notes: list[str] = []
        if len(lines) > MAX_CAMERAS:
            notes.append(f"only the first {MAX_CAMERAS} cameras are watched")
            lines = lines[:MAX_CAMERAS]
        cams: list[Camera] = []
        unchanged_tiles = [gr.skip()] * MAX_CAMERAS
        names: set[str] = set()
        try:
            for i, line in enumerate(lines):
                name = line.name or f"cam{i + 1}"
                name = name if name not in names else f"{name}-{i + 1}"  # alerts tell cameras apart by name
                names.add(name)
                try:
                    spec, where = self.catalog.typed(line.source)
                    cams.append(Camera(i, hub.open(spec, name, loop=True, camera=True), where))
                except ActionstreamError as exc:
                    notes.append(f"camera {i + 1}{f' ({line.name})' if line.name else ''} refused: {exc}")
            head = (
                f"{len(cams)} camera(s) on one shared engine ({short_provider(hub.engine.provider)})."
                if cams
                else "No camera running."
            )
            status = " ".join([head] + [f"**{n}.**" for n in notes])
            tiles = [gr.update(visible=False, value=None) for _ in range(MAX_CAMERAS)]
            for cam in cams:
                picture = annotate(placeholder(), None, "connecting", title=cam.watched.view.name)
                tiles[cam.index] = gr.update(visible=True, value=picture)
            table = cameras_table(status, cams) if cams else status
            yield [table, *tiles, gr.skip()]
            shown_alerts = session.alerts_seen
            for _ in hub.follow([cam.watched for cam in cams], stop, session):
                tiles = list(unchanged_tiles)
                for cam in cams:
                    tiles[cam.index] = self.tile(session, cam)
                out_alerts = gr.skip()
                if session.alerts_seen != shown_alerts:
                    shown_alerts, out_alerts = session.alerts_seen, session.alert_text()
                new_table = cameras_table(status, cams)
                out_table = gr.skip() if new_table == table else new_table
                table = new_table
                if stop.is_set():
                    break
                yield [out_table, *tiles, out_alerts]
                if all(cam.watched.view.state == SourceState.ENDED for cam in cams):
                    yield [cameras_table(status + " All streams ended.", cams), *unchanged_tiles, gr.skip()]
                    return
        finally:
            for cam in cams:
                hub.close(cam.watched)
        if stop.is_set():  # the last word on the page, after every refresh of these cameras
            yield [CAMERAS_STOPPED, *unchanged_tiles, gr.skip()]

    def stop(self, request: gr.Request) -> str:
        self.hub.session(request).cameras_stop.set()
        return CAMERAS_STOPPED

    def tile(self, session: Session, cam: Camera):
        """The update for one camera tile, or gr.skip() when nothing it shows has changed."""
        view, stream_id = cam.watched.view, cam.watched.stream_id
        frame = self.hub.engine.latest_frame(stream_id)
        person = self.hub.person(session, stream_id)
        s = view.status
        key = (frame, view.prediction, person, view.state, s.reason if s else "")
        if _same(key, cam.shown):
            return gr.skip()
        cam.shown = key
        p = view.prediction
        if frame is None:
            return gr.update(value=annotate(placeholder(), p, view.problem() or "connecting", title=view.name))
        return gr.update(value=annotate(frame.image, p, view.problem(), title=view.name, person=person))


def _same(key: tuple, shown: tuple) -> bool:
    """Whether a tile's key is what it shows: the same objects (a Person holds arrays: never compared by value)."""
    return len(key) == len(shown) and all(a is b or (isinstance(a, str) and a == b) for a, b in zip(key, shown))


def cameras_table(head: str, cams: list[Camera]) -> str:
    """The Cameras tab's text summary: one row per camera with its source, state and current action."""
    rows = [head, "", "| camera | source | state | action |", "|---|---|---|---|"]
    for cam in cams:
        v = cam.watched.view
        state = v.state.value + (f" ({v.status.reason})" if v.status and v.status.reason else "")
        rows.append(f"| {v.name} | `{cam.where}` | {state} | {v.action() or '–'} |")
    return "\n".join(rows)
