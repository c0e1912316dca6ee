"""Joining a Ray cluster, for the runtime's `--ray` paths (camera serving) and training's (dataset extraction).

    started_here = connect("10.0.0.5:6379")   # None or "": a Ray on this machine, started if none runs
    ...
    if started_here:
        ray.shutdown()

Ray is an optional extra (`actionstream[ray]`): it is imported only here, when asked for, and a missing install
or an address that does not answer is one line naming the fix, never a traceback or minutes of ray.init retries.
"""

from __future__ import annotations

import logging
import os
import socket

from streaming.errors import ActionstreamError

INSTALL_HINT = "install it with `pip install 'actionstream[ray]'`"
#: How long a cluster address may take to accept a connection; ray.init itself retries for minutes.
CONNECT_TIMEOUT_S = 5.0


def import_ray(part: str = "data"):
    """Ray with one of its libraries ("data" or "serve"), or one clear line saying how to get them."""
    try:
        import ray

        if part == "data":
            import ray.data  # noqa: F401 - the [data] extra
        elif part == "serve":
            import ray.serve  # noqa: F401 - the [serve] extra
    except ImportError as exc:
        raise ActionstreamError(f"--ray needs Ray {part.capitalize()} ({exc}); {INSTALL_HINT}") from exc
    return ray


def connect(address: str | None, part: str = "data", log_to_driver: bool = True) -> bool:
    """Join the Ray cluster at `address` (None or "": one on this machine, started if none runs). Returns
    whether this call started the connection (and so should end it)."""
    ray = import_ray(part)
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or _running_here(ray)
    if address:
        check_reachable(address)
    try:
        ray.init(address=address or "local", logging_level=logging.WARNING, log_to_driver=log_to_driver)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        where = address or "this machine"
        raise ActionstreamError(
            f"cannot connect to Ray at {where}: {str(exc).strip().splitlines()[0]}; start one with "
            "`ray start --head` and pass its address to --ray"
        ) from exc
    return True


def _running_here(ray) -> str:
    """The address of the Ray that `ray start` left on this machine, if it still answers; "" (start a new one)
    when none runs or its address file outlived it (ray.init would wait minutes for a dead one)."""
    try:
        from ray._private.utils import read_ray_address

        address = read_ray_address() or ""
    except (ImportError, OSError):
        return ""
    try:
        check_reachable(address)
    except ActionstreamError:
        return ""
    return address


def check_reachable(address: str) -> None:
    """Fail in seconds, with one line, when a host:port (or ray://host:port) address does not answer."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", "local" and the like: Ray resolves them itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ActionstreamError(
            f"cannot connect to Ray at {address}: {exc.strerror or exc}; is the cluster up (`ray start --head`) "
            "and its port open from here?"
        ) from exc
