"""`python -m streaming serve --ray [ADDRESS] --cameras FILE`: the cameras of a monitor config served on Ray.

Deploys the engine replicas and the controller (streaming.serve_controller), says on stderr where each camera
runs, prints one JSON line per event on stdout (like `run --jsonl`, plus camera, replica, node and sequence
numbers), and deletes the app again on Ctrl-C, SIGTERM or after --duration (unless --detach).
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import sys
import threading
import time
from pathlib import Path

from streaming.command import sigterm_as_interrupt
from streaming.errors import ActionstreamError, BundleError, one_line
from streaming.events import jsonable

#: How long after --duration the CLI waits for the controller's stream to end by itself.
STREAM_END_GRACE_S = 10.0
#: How long a broken event stream is followed again (Serve restarting the controller) before the CLI gives up.
RESUBSCRIBE_FOR_S = 60.0


def add_serve_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve", help="serve a camera list on a Ray cluster: engine replicas on Ray Serve, events here as JSON"
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        required=True,
        metavar="ADDRESS",
        help="the Ray cluster (host:port of `ray start --head`); without ADDRESS a Ray on this machine",
    )
    p.add_argument(
        "--cameras", required=True, metavar="FILE", help="camera list: the monitor's TOML ([[camera]], [monitor])"
    )
    p.add_argument("--replicas", type=int, metavar="N", help="engine replicas (default: one per GPU, or per node)")
    p.add_argument(
        "--cpus-per-replica", type=float, default=1.0, metavar="X", help="CPUs each CPU replica reserves (default 1)"
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        help="cuda: one GPU per replica; default: the config's [monitor] device (auto: GPUs when the cluster has any)",
    )
    p.add_argument("--bundle", metavar="DIR", help="model bundle (default: the config's, else the people model)")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--app", default=None, metavar="NAME", help="Serve application name (default: actionstream)")
    p.add_argument("--detach", action="store_true", help="leave the app running on the cluster when this exits")
    p.set_defaults(func=serve_command)
    return p


def _spec(args):
    """Everything checked before Ray is touched: a typo costs no cluster round trip."""
    from streaming.bundle import load_bundle
    from streaming.cli import _bundle_arg
    from streaming.engine import EngineConfig
    from streaming.monitor_config import load_monitor_config
    from streaming.serve_controller import APP_NAME, ServeSpec
    from streaming.serve_replica import ServeCamera, check_servable

    if args.duration is not None and args.duration <= 0:
        raise ActionstreamError(f"--duration must be positive seconds, got {args.duration}")
    if args.replicas is not None and args.replicas < 1:
        raise ActionstreamError(f"--replicas must be >= 1, got {args.replicas}")
    if args.detach and not args.ray:
        raise ActionstreamError(
            "--detach leaves the app on a cluster that outlives this command: start one with `ray start --head` "
            "and pass its address to --ray"
        )
    if not args.cpus_per_replica > 0:
        raise ActionstreamError(f"--cpus-per-replica must be > 0, got {args.cpus_per_replica}")
    config = load_monitor_config(Path(args.cameras))
    s = config.settings
    bundle = Path(args.bundle) if args.bundle else (s.bundle or _bundle_arg(None))
    if not (bundle / "manifest.json").is_file():
        raise BundleError(f"{bundle} is not a model bundle (no manifest.json)")
    load_bundle(bundle)
    cameras = []
    for cam in config.cameras:
        if cam.bundle is not None and cam.bundle.resolve() != bundle.resolve():
            raise ActionstreamError(
                f"{cam.where}: camera {cam.name} has its own bundle; a served camera list runs one bundle on "
                "every replica: serve it from a second config with --app NAME"
            )
        camera = ServeCamera.of(cam)
        check_servable(camera)
        cameras.append(camera)
    device = args.device or s.device
    engine = {"device": device, "int8": s.int8, "hop_s": s.hop_s, "hold_s": s.hold_s, "threads": s.threads}
    try:
        EngineConfig(**engine)
    except ValueError as exc:
        raise ActionstreamError(f"{config.path}: [monitor]: {exc}") from None
    if config.alerts or config.jsonl or config.webhook or config.mqtt or config.clips:
        print(f"note: {config.path}: alerts and outputs are the monitor's; serve prints events only", file=sys.stderr)
    return ServeSpec(bundle.resolve(), engine, tuple(cameras), 0, args.cpus_per_replica, app=args.app or APP_NAME)


def serve_command(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from streaming.ray_cluster import connect, import_ray
    from streaming.serve_controller import deploy, plan_replicas, teardown

    spec = _spec(args)
    ray = import_ray("serve")
    logging.getLogger("ray.serve").setLevel(logging.WARNING)  # its INFO lines say what our stderr lines say
    started_here = connect(args.ray or None, part="serve", log_to_driver=False)  # stdout is for JSON lines only
    deployed = False
    try:
        with sigterm_as_interrupt():  # `docker stop`, systemd: stop as on Ctrl-C
            replicas, gpus = plan_replicas(ray, spec.engine["device"], args.replicas, args.cpus_per_replica)
            spec = replace(spec, replicas=replicas, gpus=gpus)
            print(
                f"serving {len(spec.cameras)} camera(s) on {replicas} replica(s) "
                f"({'1 GPU' if gpus else f'{spec.cpus_per_replica:g} CPU'} each), app {spec.app}",
                file=sys.stderr,
                flush=True,
            )
            deployed = True  # from here on, whatever happens, the app is deleted on the way out
            try:
                handle = deploy(spec)
            except RuntimeError as exc:
                raise ActionstreamError(f"the Serve app {spec.app} did not start: {one_line(exc)[:300]}") from exc
            for p in handle.start.remote().result():
                where = f"{p['replica']} (node {p['node_id'][:8]}, host {p['host']})" if p["replica"] else "nowhere yet"
                print(f"camera {p['camera']}: {where}{': ' + p['reason'] if p['reason'] else ''}", file=sys.stderr)
            for event in _follow(handle, args.duration):
                print(json.dumps(jsonable(event), separators=(",", ":")), flush=True)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left
        sys.stdout = None
        return 0
    finally:
        if sys.stdout is not None:
            sys.stdout.flush()
            sys.stdout = sys.stderr  # Ray's goodbyes ("(raylet) ...") must not land among the JSON lines
        logging.getLogger("ray.serve").setLevel(logging.ERROR)  # its replicas "died" now: we deleted them
        if deployed and not args.detach:
            try:
                teardown(spec.app)
            except Exception as exc:  # noqa: BLE001 - the cluster went meanwhile: nothing left to delete
                print(f"warning: could not delete app {spec.app}: {one_line(exc)[:200]}", file=sys.stderr)
        elif deployed:
            print(f"left app {spec.app} running; `serve shutdown` (Ray's CLI) ends it", file=sys.stderr)
        if started_here:
            ray.shutdown()  # a Ray this started goes with it; a cluster's stays, less this app
    return 0


def _follow(handle, duration_s: float | None):
    """The controller's merged events, read by a thread so this one stays free for Ctrl-C and the deadline. A
    broken stream (the controller's node went; Serve restarts it) is followed again, for up to
    RESUBSCRIBE_FOR_S without one."""
    events: queue.Queue = queue.Queue(maxsize=10_000)
    done = object()
    deadline = None if duration_s is None else time.monotonic() + duration_s

    def pump() -> None:
        broken_since = None
        while deadline is None or time.monotonic() < deadline:
            left = None if deadline is None else max(0.1, deadline - time.monotonic())
            try:
                for event in handle.events.options(stream=True).remote(duration_s=left):
                    broken_since = None
                    events.put(event)
                break  # ended by itself: the duration is over
            except Exception as exc:  # noqa: BLE001 - said below, in one line, if it stays broken
                broken_since = broken_since or time.monotonic()
                if time.monotonic() - broken_since > RESUBSCRIBE_FOR_S:
                    events.put(ActionstreamError(f"the controller's event stream broke: {one_line(exc)[:300]}"))
                    break
                print(
                    f"warning: the controller's event stream broke ({one_line(exc)[:120]}); following again",
                    file=sys.stderr,
                )
                time.sleep(1.0)
        events.put(done)

    threading.Thread(target=pump, name="serve-events", daemon=True).start()
    end = None if deadline is None else deadline + STREAM_END_GRACE_S
    while end is None or time.monotonic() < end:
        try:
            item = events.get(timeout=0.5)
        except queue.Empty:
            continue
        if item is done:
            return
        if isinstance(item, Exception):
            raise item
        yield item
