"""The Cameras tab's view of cameras served on a Ray cluster (`python -m streaming serve`): one table row per
camera with its replica, node, state and current action, kept up to date from the controller's event stream.

    cluster = ClusterCameras("10.0.0.5:6379")          # demo_app.py --ray ADDRESS
    cluster.table()                                    # rows for a gr.Dataframe, refreshed by a gr.Timer

Nothing is served from here: the dashboard only follows the controller of a running serve app (by its name), so
it shows cameras running anywhere on the cluster, and a dashboard restart changes nothing for them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from streaming.errors import one_line

COLUMNS = ["camera", "replica", "node", "state", "action", "updated"]
#: Seconds between attempts to follow the controller again after its stream broke (app restarted, network).
RETRY_S = 2.0


@dataclass
class ClusterRow:
    camera: str
    replica: str = ""
    node: str = ""
    state: str = ""
    action: str = ""
    updated: float = 0.0


class ClusterView:
    """Rows from the controller's events (placement, status, prediction); plain Python, no Ray."""

    def __init__(self) -> None:
        self._rows: dict[str, ClusterRow] = {}
        self._lock = threading.Lock()
        self.note = ""

    def apply(self, event: dict) -> None:
        kind, cam = event.get("type"), event.get("camera")
        if not cam or kind not in ("placement", "status", "prediction"):
            return
        with self._lock:
            if kind == "placement" and event.get("state") == "removed":
                self._rows.pop(cam, None)
                return
            row = self._rows.setdefault(cam, ClusterRow(cam))
            row.updated = time.time()
            if kind == "placement":
                row.replica = event.get("replica") or "(waiting for a replica)"
                row.node = _node(event)
                row.state = event.get("state", "")
                if event.get("state") == "failed":
                    row.action = event.get("reason", "")
            elif kind == "status" and event.get("warmup") is None:
                row.replica, row.node = event.get("replica", row.replica), _node(event)
                row.state = event.get("state", row.state)
            elif kind == "prediction":
                row.replica, row.node, row.state = event.get("replica", row.replica), _node(event), "live"
                row.action = f"{event['label']} {event['score']:.2f}" if event.get("label") else "no person in view"

    def seed(self, placements: list[dict]) -> None:
        """Start from the controller's placements (where each camera runs and its latest label)."""
        for p in placements:
            self.apply({"type": "placement", **p})
            if p.get("label"):
                with self._lock:
                    self._rows[p["camera"]].action = f"{p['label']} {p.get('score', 0.0):.2f}"

    def rows(self) -> list[list[str]]:
        now = time.time()
        with self._lock:
            rows = sorted(self._rows.values(), key=lambda r: r.camera)
            return [[r.camera, r.replica, r.node, r.state, r.action, f"{now - r.updated:.0f} s ago"] for r in rows]


def _node(event: dict) -> str:
    node, host = (event.get("node_id") or "")[:8], event.get("host") or ""
    return f"{host} ({node})" if node else host


class ClusterCameras:
    """Follows a serve app's controller in a thread; `table()` is the Cameras tab's cluster table."""

    def __init__(self, address: str | None, app: str | None = None):
        from streaming.ray_cluster import connect
        from streaming.serve_controller import APP_NAME, controller_handle

        self.app = app or APP_NAME
        self.view = ClusterView()
        self._started_here = connect(address, part="serve", log_to_driver=False)
        self.handle = controller_handle(self.app)
        self._stop = threading.Event()
        self._gen = None
        self._thread = threading.Thread(target=self._follow, name="cluster-cameras", daemon=True)
        self._thread.start()

    def table(self) -> list[list[str]]:
        return self.view.rows()

    def _follow(self) -> None:
        while not self._stop.is_set():
            try:
                self.view.seed(self.handle.placements.remote().result(timeout_s=30))
                self._gen = self.handle.events.options(stream=True).remote()
                self.view.note = ""
                for event in self._gen:
                    self.view.apply(event)
                    if self._stop.is_set():
                        return
            except Exception as exc:  # noqa: BLE001 - shown on the page; tried again
                self.view.note = f"cluster: {one_line(exc)[:200]}"
            self._stop.wait(RETRY_S)

    def close(self) -> None:
        self._stop.set()
        if self._gen is not None:
            self._gen.cancel()
        if self._started_here:
            import ray

            ray.shutdown()
