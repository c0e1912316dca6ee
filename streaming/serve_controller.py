"""Cameras across machines: engine replicas on Ray Serve and the controller that places cameras on them.

    handle = deploy(ServeSpec(bundle, engine_config, cameras, replicas=2))   # a Serve app named "actionstream"
    print(handle.start.remote().result())                                    # where each camera runs
    for event in handle.events.options(stream=True).remote():                # every camera's events, merged
        ...

The app has one deployment per replica (`engine-0` .. `engine-N-1`, one Serve replica each, so each can be
addressed and fails alone), each an EngineReplica: one batching engine on one GPU (or a few CPUs), opening its
cameras' sources itself. The controller is the app's ingress, a Serve deployment too, so any process on the
cluster (the CLI, a dashboard) reaches it by name (`serve.get_app_handle`) and Serve restarts it if its node
goes. It

- assigns cameras to replicas by measured load (`assign`, the engines' Metrics.load from their heartbeats);
- follows each replica's event stream (a Serve streaming call) and merges them into `events()`, each event
  stamped with a per-camera `camera_seq`; events from a replica that no longer owns the camera are dropped;
- treats a replica whose stream errors (killed, node lost) or falls silent for SILENT_REPLICA_S as dead and
  places its cameras on the live replicas at once;
- probes a dead replica until Serve has restarted it, then uses it again (it takes cameras placed from then on).

Ray is imported only inside functions: the pure parts (assign, the Controller's bookkeeping) import without it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streaming.errors import ActionstreamError, one_line
from streaming.serve_replica import ServeCamera, check_servable

#: The Serve application's default name (`--app` picks another, e.g. for two camera sets on one cluster).
APP_NAME = "actionstream"
#: A replica whose event stream says nothing (not even a heartbeat) this long is taken for dead.
SILENT_REPLICA_S = 15.0
#: How often a dead replica is asked whether Serve has restarted it, and how long one ask may take.
PROBE_EVERY_S = 1.0
PROBE_TIMEOUT_S = 5.0
#: How long a replica may take to open a camera (network cameras open in the background: this is quick).
ADD_TIMEOUT_S = 30.0
#: How often cameras that could not be placed (no live replica) are tried again.
RETRY_EVERY_S = 2.0
#: A camera's share of a replica's load when the replica runs none yet to measure it by.
DEFAULT_CAMERA_LOAD = 0.05
#: Events kept per consumer of events() that falls behind (the oldest are dropped).
CONSUMER_QUEUE = 10_000


@dataclass(frozen=True)
class ReplicaLoad:
    """What assignment knows of a live replica: its engine's measured load (0..1) and how many cameras it runs."""

    load: float
    cameras: int


def assign(cameras: list[str], loads: Mapping[str, ReplicaLoad]) -> dict[str, str]:
    """Camera -> replica for cameras that need a place, given the live replicas' measured loads.

    Greedy, lowest projected load first: a replica's cost per camera is its measured load over its cameras, and
    each camera goes where load + cost stays lowest (ties: fewer cameras, then the name). Both are floored at
    DEFAULT_CAMERA_LOAD per camera, so cameras too light to measure still spread instead of piling onto one
    replica. Deterministic for the same input.
    """
    if not loads:
        return {}
    count = {r: v.cameras for r, v in loads.items()}
    cost = {r: max(DEFAULT_CAMERA_LOAD, v.load / v.cameras if v.cameras else 0.0) for r, v in loads.items()}
    load = {r: max(v.load, DEFAULT_CAMERA_LOAD * v.cameras) for r, v in loads.items()}
    plan = {}
    for cam in cameras:
        best = min(loads, key=lambda r: (load[r] + cost[r], count[r], r))
        plan[cam] = best
        load[best] += cost[best]
        count[best] += 1
    return plan


@dataclass
class Placement:
    """Where a camera runs and what it last said. `replica` None: waiting for a live replica."""

    camera: str
    replica: str | None = None
    node_id: str = ""
    host: str = ""
    state: str = "waiting"
    label: str = ""
    score: float = 0.0
    reason: str = ""
    updated: float = field(default_factory=time.time)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Replica:
    name: str
    handle: Any
    state: str = "starting"  # live, dead
    info: dict = field(default_factory=dict)
    load: float = 0.0
    lost_at: float = 0.0
    reason: str = ""


class Controller:
    """Places cameras on engine replicas, moves them off dead ones, and merges the replicas' event streams.

    `replicas`: replica name -> a Serve DeploymentHandle of an EngineReplica deployment. All methods are
    coroutines of one asyncio loop (the controller's Serve replica).
    """

    def __init__(self, replicas: Mapping[str, Any], cameras: list[Any] = ()):
        self._replicas = {name: _Replica(name, handle) for name, handle in replicas.items()}
        self._wanted: dict[str, ServeCamera] = {}
        for cam in cameras:
            cam = ServeCamera.of(cam)
            check_servable(cam)
            self._wanted[cam.name] = cam
        self._placement: dict[str, Placement] = {}
        self._camera_seq: dict[str, int] = {}
        self._consumers: list[asyncio.Queue] = []
        self._tasks: list[asyncio.Task] = []
        self._started: asyncio.Future | None = None
        self._lock: asyncio.Lock | None = None

    # -- the API ---------------------------------------------------------------------------------------------

    async def start(self) -> list[dict]:
        """Find the replicas, adopt cameras they already run, place the rest, start following. Idempotent."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_future()
            self._lock = asyncio.Lock()
            try:
                await self._start()
                self._started.set_result(True)
            except BaseException as exc:
                self._started.set_exception(exc)
                self._started = None
                raise
        else:
            await asyncio.shield(self._started)
        return await self.placements()

    async def info(self) -> dict:
        """This controller's Ray actor and node (tests kill it; Serve restarts it)."""
        import ray

        ctx = ray.get_runtime_context()
        return {"actor": ctx.get_actor_name() or "", "node_id": ctx.get_node_id()}

    async def placements(self) -> list[dict]:
        """Camera -> replica, node, state and current label, one dict per camera."""
        return [self._placement[c].to_dict() for c in sorted(self._placement)]

    async def replicas(self) -> list[dict]:
        """Each replica's state (starting, live, dead), load, node and cameras."""
        out = []
        for r in self._replicas.values():
            cams = sorted(c for c, p in self._placement.items() if p.replica == r.name)
            out.append(
                {
                    "replica": r.name,
                    "state": r.state,
                    "load": r.load,
                    "actor": r.info.get("actor", ""),
                    "node_id": r.info.get("node_id", ""),
                    "host": r.info.get("host", ""),
                    "cameras": cams,
                    "reason": r.reason,
                }
            )
        return out

    async def add_camera(self, camera: Any, replica: str | None = None) -> dict:
        """Run one more camera: on `replica` if given, else where assignment puts it. Returns its placement."""
        await self.start()
        cam = ServeCamera.of(camera)
        check_servable(cam)
        if cam.name in self._wanted:
            raise ActionstreamError(f"a camera named {cam.name} already runs; give it another name")
        if replica is not None and replica not in self._replicas:
            raise ActionstreamError(f"no replica named {replica}; the replicas are {', '.join(self._replicas)}")
        self._wanted[cam.name] = cam
        async with self._lock:
            if replica is not None:
                await self._place(cam.name, replica, "asked for")
            else:
                await self._place_pending_locked("added")
        return self._placement[cam.name].to_dict()

    async def remove_camera(self, name: str) -> None:
        """Stop a camera wherever it runs."""
        await self.start()
        if self._wanted.pop(name, None) is None:
            raise ActionstreamError(f"no camera named {name}")
        async with self._lock:
            p = self._placement.pop(name, None)
            if p is not None and p.replica is not None:
                try:
                    await asyncio.wait_for(self._replicas[p.replica].handle.remove_camera.remote(name), ADD_TIMEOUT_S)
                except Exception:  # noqa: BLE001 - a dead replica runs nothing anyway
                    pass
        self._publish({"type": "placement", "camera": name, "replica": None, "state": "removed", "reason": ""})

    async def events(self, duration_s: float | None = None) -> AsyncIterator[dict]:
        """Every camera's events, merged (in order per camera: `camera_seq`), after one `placement` event per
        camera saying where it runs now; placement and replica events say what changed. Ends after
        `duration_s` (None: never)."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=CONSUMER_QUEUE)
        snapshot = [self._placement_event(p, "") for p in self._placement.values()]
        self._consumers.append(queue)
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            await self.start()
            for ev in snapshot:
                yield ev
            while True:
                timeout = None if deadline is None else deadline - time.monotonic()
                if timeout is not None and timeout <= 0:
                    return
                try:
                    ev = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    return
                yield ev
        finally:
            if queue in self._consumers:
                self._consumers.remove(queue)

    # -- inside ----------------------------------------------------------------------------------------------

    async def _start(self) -> None:
        infos = await asyncio.gather(
            *(asyncio.wait_for(r.handle.info.remote(), ADD_TIMEOUT_S) for r in self._replicas.values()),
            return_exceptions=True,
        )
        for r, info in zip(self._replicas.values(), infos):
            if isinstance(info, BaseException):
                r.state, r.reason, r.lost_at = "dead", one_line(info), time.monotonic()
                continue
            r.state, r.info, r.load = "live", info, float(info.get("load", 0.0))
            for spec in info.get("camera_specs", []):  # a restarted controller finds its cameras where they run
                cam = ServeCamera.of(spec)
                if cam.name not in self._placement:
                    self._wanted[cam.name] = cam  # added at run time too, not only the config's
                    self._placement[cam.name] = Placement(cam.name, r.name, info["node_id"], info["host"], "adopted")
                else:  # on two replicas (a controller died mid-move): one is enough
                    try:
                        await asyncio.wait_for(r.handle.remove_camera.remote(cam.name), ADD_TIMEOUT_S)
                    except Exception:  # noqa: BLE001 - it went meanwhile: it runs nothing then
                        pass
        async with self._lock:
            await self._place_pending_locked("")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._follow(r)) for r in self._replicas.values()]
        self._tasks.append(loop.create_task(self._retry()))

    def _live_loads(self) -> dict[str, ReplicaLoad]:
        return {
            r.name: ReplicaLoad(r.load, sum(1 for p in self._placement.values() if p.replica == r.name))
            for r in self._replicas.values()
            if r.state == "live"
        }

    async def _place_pending_locked(self, reason: str, since: float | None = None) -> None:
        """Place every wanted camera that has no live replica (the caller holds the lock)."""
        orphans = [
            c
            for c in self._wanted
            if (p := self._placement.get(c)) is None or (p.replica is None and p.state != "failed")
        ]
        plan = assign(orphans, self._live_loads())
        for cam, replica in plan.items():
            await self._place(cam, replica, reason, since)

    async def _place(self, cam: str, replica: str, reason: str, since: float | None = None) -> None:
        r = self._replicas[replica]
        p = self._placement.setdefault(cam, Placement(cam))
        try:
            info = await asyncio.wait_for(r.handle.add_camera.remote(self._wanted[cam]), ADD_TIMEOUT_S)
        except ActionstreamError as exc:  # the camera itself cannot run (a bad path): no replica would help
            p.replica, p.state, p.reason = None, "failed", one_line(exc)
            self._publish(self._placement_event(p, p.reason))
            return
        except Exception as exc:  # noqa: BLE001 - the replica went meanwhile: the camera waits for the next place
            p.replica, p.state, p.reason = None, "waiting", f"replica {replica}: {one_line(exc)}"
            return
        p.replica, p.node_id, p.host, p.state = replica, info["node_id"], info["host"], "starting"
        p.reason, p.updated = reason, time.time()
        event = self._placement_event(p, reason)
        if since is not None:
            event["moved_in_s"] = round(time.monotonic() - since, 3)
        self._publish(event)

    def _placement_event(self, p: Placement, reason: str) -> dict:
        return {
            "type": "placement",
            "camera": p.camera,
            "replica": p.replica,
            "node_id": p.node_id,
            "host": p.host,
            "state": p.state,
            "reason": reason,
        }

    async def _follow(self, r: _Replica) -> None:
        """Follow one replica's events for ever: on an error or silence it is lost; when it is back, again."""
        while True:
            if r.state != "live":
                await self._wait_back(r)
            gen = r.handle.events.options(stream=True).remote()
            try:
                while True:
                    ev = await asyncio.wait_for(gen.__anext__(), SILENT_REPLICA_S)
                    self._on_event(r, ev)
            except asyncio.CancelledError:
                gen.cancel()
                raise
            except StopAsyncIteration:
                reason = "its event stream ended"
            except TimeoutError:
                gen.cancel()
                reason = f"silent for {SILENT_REPLICA_S:g} s"
            except Exception as exc:  # noqa: BLE001 - died, node lost: whatever it is, its cameras move
                reason = one_line(exc).split(". ")[0][:200]
            await self._lost(r, reason)

    def _on_event(self, r: _Replica, ev: dict) -> None:
        kind = ev.get("type")
        if kind == "heartbeat":
            r.load = float(ev.get("load", r.load))
            if ev.get("actor"):
                r.info["actor"] = ev["actor"]
            return
        cam = ev.get("camera")
        p = self._placement.get(cam)
        if p is None or p.replica != r.name:
            return  # from a replica that no longer owns the camera: a late event, never interleaved
        if kind == "metrics":
            r.load = float(ev.get("load") or 0.0)
        elif kind == "status" and ev.get("warmup") is None:
            p.state, p.reason = ev.get("state", p.state), ev.get("reason", "")
        elif kind == "prediction":
            p.state = "live"
            p.label, p.score = ev.get("label", ""), float(ev.get("score") or 0.0)
        p.updated = time.time()
        seq = self._camera_seq.get(cam, 0) + 1
        self._camera_seq[cam] = seq
        self._publish({**ev, "camera_seq": seq})

    async def _lost(self, r: _Replica, reason: str) -> None:
        """A replica is gone: say so and place its cameras on the live ones now."""
        r.state, r.reason, r.lost_at = "dead", reason, time.monotonic()
        self._publish({"type": "replica", "replica": r.name, "state": "dead", "reason": reason, **self._where(r)})
        async with self._lock:
            for p in self._placement.values():
                if p.replica == r.name:
                    p.replica, p.state, p.reason = None, "waiting", f"replica {r.name} lost: {reason}"
            await self._place_pending_locked(f"replica {r.name} lost: {reason}", since=r.lost_at)

    async def _wait_back(self, r: _Replica) -> None:
        """Ask a dead replica until it answers (Serve restarted it, or it was only cut off), then use it again."""
        while True:
            try:
                info = await asyncio.wait_for(r.handle.info.remote(), PROBE_TIMEOUT_S)
                break
            except Exception:  # noqa: BLE001 - not back yet
                await asyncio.sleep(PROBE_EVERY_S)
        async with self._lock:
            for cam in info.get("cameras", []):  # cut off, not dead: what moved away must not run twice
                p = self._placement.get(cam)
                if p is None or p.replica != r.name:
                    try:
                        await asyncio.wait_for(r.handle.remove_camera.remote(cam), ADD_TIMEOUT_S)
                    except Exception:  # noqa: BLE001 - it went again; the next probe finds out
                        pass
            r.state, r.info, r.load, r.reason = "live", info, float(info.get("load", 0.0)), ""
            self._publish(
                {
                    "type": "replica",
                    "replica": r.name,
                    "state": "live",
                    "reason": f"back after {time.monotonic() - r.lost_at:.1f} s",
                    **self._where(r),
                }
            )
            await self._place_pending_locked(f"replica {r.name} back")

    async def _retry(self) -> None:
        while True:
            await asyncio.sleep(RETRY_EVERY_S)
            if any(p.replica is None and p.state == "waiting" for p in self._placement.values()):
                async with self._lock:
                    await self._place_pending_locked("retried")

    @staticmethod
    def _where(r: _Replica) -> dict:
        return {"actor": r.info.get("actor", ""), "node_id": r.info.get("node_id", ""), "host": r.info.get("host", "")}

    def _publish(self, event: dict) -> None:
        for q in list(self._consumers):
            if q.full():
                q.get_nowait()  # the consumer fell behind: drop its oldest
            q.put_nowait(event)

    def __del__(self) -> None:
        for task in self._tasks:
            task.cancel()


# -- deploying on Ray Serve -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServeSpec:
    """What `deploy` puts on the cluster. `gpus`: one GPU per replica (else `cpus_per_replica` each)."""

    bundle: Path
    engine: dict
    cameras: tuple[ServeCamera, ...]
    replicas: int
    cpus_per_replica: float = 1.0
    gpus: bool = False
    app: str = APP_NAME


def plan_replicas(ray, device: str, replicas: int | None, cpus_per_replica: float) -> tuple[int, bool]:
    """(how many replicas, whether each takes a GPU): one per GPU with --device cuda (or auto on a cluster with
    GPUs), else one per node that has `cpus_per_replica` CPUs; `replicas` overrides the count."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    use_gpu = device == "cuda" or (device == "auto" and gpus > 0)
    if device == "cuda" and gpus == 0:
        raise ActionstreamError("--device cuda, but the Ray cluster has no GPU; use --device cpu or add GPU nodes")
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if use_gpu:
        count = replicas or gpus
        if count > gpus:
            raise ActionstreamError(f"{count} replicas need {count} GPUs; the Ray cluster has {gpus}")
        return count, True
    fits = sum(int(n.get("CPU", 0) // cpus_per_replica) for n in nodes)  # Serve would wait for ever otherwise
    count = replicas or max(1, sum(1 for n in nodes if n.get("CPU", 0) >= cpus_per_replica))
    if count > fits:
        total = sum(n.get("CPU", 0) for n in nodes)
        raise ActionstreamError(
            f"{count} replica(s) of {cpus_per_replica:g} CPUs do not fit the Ray cluster ({total:g} CPUs on "
            f"{len(nodes)} node(s)); use fewer --replicas or a smaller --cpus-per-replica"
        )
    return count, False


def build_app(spec: ServeSpec):
    """The Serve application: `engine-i` deployments (one replica each) and the controller as its ingress."""
    from ray import serve

    from streaming.serve_replica import EngineReplica

    resources = {"num_gpus": 1, "num_cpus": 0} if spec.gpus else {"num_cpus": spec.cpus_per_replica}
    engine = dict(spec.engine, device="cuda" if spec.gpus else spec.engine.get("device", "cpu"))
    engines = {}
    for i in range(spec.replicas):
        name = f"engine-{i}"
        deployment = serve.deployment(
            EngineReplica,
            name=name,
            num_replicas=1,
            max_ongoing_requests=1000,  # a streaming call holds a slot for its whole life
            ray_actor_options=resources,
            health_check_period_s=2.0,
            graceful_shutdown_timeout_s=5.0,
        )
        engines[name] = deployment.bind(str(Path(spec.bundle).resolve()), engine, name)
    controller = serve.deployment(
        Controller, name="controller", num_replicas=1, max_ongoing_requests=1000, ray_actor_options={"num_cpus": 0}
    )
    return controller.bind(engines, [asdict(c) for c in spec.cameras])


def deploy(spec: ServeSpec):
    """Put the app on the cluster this process has joined (ray.init done) and return the controller's handle."""
    from ray import serve

    serve.start(proxy_location="Disabled")  # handles only: no HTTP proxy on any node
    return serve.run(
        build_app(spec),
        name=spec.app,
        route_prefix=None,
        logging_config={"log_level": "WARNING", "enable_access_log": False},
    )


def controller_handle(app: str = APP_NAME):
    """The running controller of `app`, from any process on the cluster (a dashboard, a second CLI)."""
    from ray import serve

    try:
        return serve.get_app_handle(app)
    except Exception as exc:  # noqa: BLE001 - Serve says "application not found" in its own words
        raise ActionstreamError(
            f"no camera app {app!r} runs on this Ray cluster ({one_line(exc)}); start it with "
            "`python -m streaming serve --ray ADDRESS --cameras FILE`"
        ) from exc


def teardown(app: str = APP_NAME) -> None:
    """Delete the app: every replica stops its engine and closes its cameras."""
    from ray import serve

    serve.delete(app)
