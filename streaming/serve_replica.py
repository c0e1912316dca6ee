"""One model replica of `python -m streaming serve`: a shared batching Engine and the cameras assigned to it.

On a cluster each replica is a Ray Serve deployment (streaming.serve_controller deploys them); the class itself
is plain Python, so it runs and is tested without Ray:

    replica = EngineReplica("models/people", {"device": "cpu"}, name="engine-0")
    replica.add_camera(ServeCamera("door", "rtsp://10.0.0.7/stream"))
    async for event in replica.events():        # dicts: the engine's events plus camera, replica, node, seq
        ...

The replica opens each camera's source itself (on the node it runs on): frames never travel over Ray, only the
events do. So a camera must be reachable from every node (a network URL, or a file on a shared filesystem at
the same path); a local webcam ("0") is refused.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from streaming.engine import Engine, EngineConfig
from streaming.errors import SourceError
from streaming.events import Metrics, Prediction, Status, jsonable
from streaming.fanout import Subscription
from streaming.monitor_config import CameraConfig
from streaming.sources import FileSource, Source
from streaming.tapped_source import Region, TappedSource

#: Events a replica keeps for a consumer that falls behind before the oldest are dropped (the engine never waits
#: for a remote consumer).
CONSUMER_QUEUE = 4096
#: Seconds between heartbeats on an events() stream: they carry the load and let the controller tell a silent
#: replica (hung) from an idle one.
HEARTBEAT_S = 1.0


@dataclass(frozen=True)
class ServeCamera:
    """A camera as a replica runs it. `realtime=False` replays a file as fast as possible (tests, evaluation);
    cameras from a monitor config are live."""

    name: str
    source: str
    region: tuple[float, float, float, float] | None = None
    loop: bool = False
    realtime: bool = True

    @classmethod
    def of(cls, camera: ServeCamera | CameraConfig | Mapping[str, Any]) -> ServeCamera:
        """From a monitor config's camera, a dict with the same keys, or itself."""
        if isinstance(camera, ServeCamera):
            return camera
        if isinstance(camera, CameraConfig):
            region = camera.region
            box = None if region is None else (region.x0, region.y0, region.x1, region.y1)
            return cls(camera.name, camera.source, box, camera.loop)
        known = {k: camera[k] for k in ("name", "source", "region", "loop", "realtime") if k in camera}
        if "region" in known and known["region"] is not None:
            known["region"] = tuple(float(v) for v in known["region"])
        return cls(**known)


def check_servable(camera: ServeCamera) -> None:
    """Refuse, in one line, a camera that only the machine it is plugged into can open."""
    if camera.source.isdigit():
        raise SourceError(
            f"camera {camera.name}: a local webcam ({camera.source}) cannot be served on a cluster (only the "
            "machine it is plugged into can open it); stream it over RTSP and give its rtsp:// URL, or use "
            "`python -m streaming monitor` on that machine"
        )


def open_camera(camera: ServeCamera) -> Source:
    """The camera's source as the monitor opens it (network cameras retry their first open), its region applied."""
    from streaming.monitor import camera_source

    if camera.realtime or camera.source == "demo":
        source = camera_source(CameraConfig(camera.name, camera.source, loop=camera.loop))
    else:
        source = FileSource(camera.source, name=camera.name, realtime=False, loop=camera.loop)
    if camera.region is None:
        return source
    return TappedSource(source, Region(*camera.region), [])


def _node() -> tuple[str, str]:
    """(Ray node id, host) of this process; the node id is "" outside Ray."""
    node_id = ""
    try:
        import ray

        if ray.is_initialized():
            node_id = ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    return node_id, socket.gethostname()


def _actor_name() -> str:
    try:
        import ray

        if ray.is_initialized():
            return ray.get_runtime_context().get_actor_name() or ""
    except (ImportError, RuntimeError):
        pass
    return ""


class EngineReplica:
    """One Engine (one bundle, one batching worker) and the cameras assigned to it; events out as dicts."""

    def __init__(self, bundle: str | Path, config: Mapping[str, Any] | EngineConfig | None = None, name: str = ""):
        if isinstance(config, EngineConfig):
            engine_config = config
        else:
            engine_config = EngineConfig(**dict(config or {}))
        self.name = name or socket.gethostname()
        self.node_id, self.host = _node()
        self.actor = _actor_name()
        self.engine = Engine(bundle, engine_config)
        self._cameras: dict[str, ServeCamera] = {}
        self._load = 0.0
        self._seq = 0
        self._consumers: list[Subscription] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sub = self.engine.subscribe(maxsize=CONSUMER_QUEUE)
        self.engine.start()
        self._pump = threading.Thread(target=self._run_pump, name=f"replica-{self.name}", daemon=True)
        self._pump.start()

    # -- cameras ---------------------------------------------------------------------------------------------

    def add_camera(self, camera: ServeCamera | CameraConfig | Mapping[str, Any]) -> dict:
        """Open the camera's source here and follow it; returns where it runs."""
        cam = ServeCamera.of(camera)
        check_servable(cam)
        with self._lock:
            if cam.name in self._cameras:
                raise SourceError(f"camera {cam.name} already runs on replica {self.name}")
        source = open_camera(cam)
        self.engine.add_source(source)
        with self._lock:
            self._cameras[cam.name] = cam
        return self.info()

    def remove_camera(self, name: str) -> None:
        """Stop a camera's source (its last event is an `ended: removed` status)."""
        with self._lock:
            if self._cameras.pop(name, None) is None:
                raise SourceError(f"camera {name} does not run on replica {self.name}")
        try:
            self.engine.remove_source(name)
        except SourceError:
            pass  # its stream had already been forgotten

    def cameras(self) -> list[str]:
        with self._lock:
            return sorted(self._cameras)

    def camera_specs(self) -> list[dict]:
        """The cameras as given (a restarted controller adopts them from here)."""
        with self._lock:
            return [asdict(c) for _, c in sorted(self._cameras.items())]

    def load(self) -> float:
        """The engine's latest measured load (Metrics.load: share of time its worker was busy)."""
        return self._load

    def info(self) -> dict:
        """Who and where this replica is (the actor name changes when Serve restarts it)."""
        return {
            "replica": self.name,
            "actor": self.actor,
            "node_id": self.node_id,
            "host": self.host,
            "pid": os.getpid(),
            "cameras": self.cameras(),
            "camera_specs": self.camera_specs(),
            "load": self._load,
            "provider": self.engine.provider,
        }

    # -- events ----------------------------------------------------------------------------------------------

    async def events(self, heartbeat_s: float = HEARTBEAT_S) -> AsyncIterator[dict]:
        """Every event of this replica's cameras from now on, as JSON-able dicts in the order the engine emitted
        them (`seq` counts them per replica), with a `heartbeat` dict (load, cameras) every `heartbeat_s`
        without one. Ends when the replica closes."""
        sub = Subscription(maxsize=CONSUMER_QUEUE)
        with self._lock:
            self._consumers.append(sub)
        loop = asyncio.get_running_loop()
        try:
            while not self._closed.is_set():
                event = await loop.run_in_executor(None, sub.get, heartbeat_s)
                if event is None:
                    if sub.closed:
                        return
                    event = {"type": "heartbeat", "load": self._load, "cameras": self.cameras(), **self._where()}
                yield event
        finally:
            with self._lock:
                if sub in self._consumers:
                    self._consumers.remove(sub)
            sub.close()

    def _where(self) -> dict:
        return {"replica": self.name, "actor": self.actor, "node_id": self.node_id, "host": self.host}

    def _run_pump(self) -> None:
        """Engine events -> dicts with camera, replica, node and seq -> every consumer's queue."""
        while True:
            event = self._sub.get(timeout=None)
            if event is None:
                return
            if isinstance(event, Metrics):
                self._load = event.load
            if not isinstance(event, (Prediction, Status, Metrics)):
                continue
            with self._lock:
                if event.stream not in self._cameras and not (isinstance(event, Status) and event.reason == "removed"):
                    continue  # a stream no camera of ours names (none today); never leak it
                self._seq += 1
                d = jsonable(event.to_dict())
                d.update(camera=event.stream, seq=self._seq, **self._where())
                consumers = list(self._consumers)
            for sub in consumers:
                sub.offer(d)

    def close(self) -> None:
        """Stop the engine and every camera; events() streams end."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.engine.stop()
        with self._lock:
            consumers, self._consumers = list(self._consumers), []
        for sub in consumers:
            sub.close()

    def __del__(self) -> None:  # Serve calls it when the deployment goes: sources stop, connections close
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown; nothing left to tell
            pass
