"""The actionstream dashboard: a thin Gradio UI over the one shared streaming engine (the `dashboard` package).

    python demo_app.py                                   # demo model, demo clip, http://127.0.0.1:7860
    python demo_app.py --bundle runs/ucf101 --clips data/ucf101/test --auth admin:secret
    python demo_app.py --ray 10.0.0.5:6379               # the Cameras tab also shows the cluster's served cameras

Every browser session gets its own streams (a clip, a camera URL, an upload or its webcam), all fed to one
Engine, which batches the extractor over every stream. Nothing here knows about models: labels, window and
provenance come from the bundle. This file parses the command line, builds the page and launches it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from starlette.middleware import Middleware

from dashboard.app import CSS, Dashboard, build_ui
from dashboard.login_guard import LoginGuard, LoginLimiter
from dashboard.source_policy import ClipFolders
from dashboard.sources import SourceCatalog, find_clips
from streaming.alerts import AlertLog
from streaming.command import run_command, sigterm_as_interrupt
from streaming.demo import default_bundle_path, demo_clip_path
from streaming.engine import Engine, EngineConfig
from streaming.errors import ActionstreamError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="demo_app.py", description="actionstream dashboard (Gradio)")
    ap.add_argument(
        "--bundle",
        type=Path,
        default=default_bundle_path(),
        help="model bundle folder (default: models/people; models/demo is the stick-figure demo)",
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
    ap.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="also show, on the Cameras tab, the cameras `python -m streaming serve` runs on this Ray cluster",
    )
    ap.add_argument("--ray-app", default=None, metavar="NAME", help="that serve app's name (default: actionstream)")
    return ap.parse_args(argv)


def parse_auth(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user or not password:
        raise ActionstreamError("--auth / ACTIONSTREAM_AUTH must look like user:password")
    return user, password


def available_demo_clip() -> Path | None:
    """The synthetic demo clip (rendered into the cache on first use if not committed), or None if unavailable."""
    try:
        return demo_clip_path()
    except ActionstreamError as exc:
        print(f"warning: no demo clip: {exc}", file=sys.stderr)
        return None


def serve(args: argparse.Namespace) -> int:
    """Build the page on a started engine and serve it until Ctrl-C; user errors raise ActionstreamError."""
    auth = parse_auth(args.auth or os.environ.get("ACTIONSTREAM_AUTH"))
    if args.max_sessions < 1:
        raise ActionstreamError("--max-sessions must be at least 1")
    folders = ClipFolders(args.clips)
    cluster = None
    if args.ray is not None:
        from dashboard.cluster_cameras import ClusterCameras

        cluster = ClusterCameras(args.ray or None, args.ray_app)
    engine = Engine(args.bundle, EngineConfig(device=args.device, int8=args.int8))
    # the synthetic stick-figure clip holds no person: offer it only to models that do not look for people
    demo_clip = None if engine.extractor.finds_people else available_demo_clip()
    catalog = SourceCatalog(find_clips(folders, demo_clip), folders)
    try:
        dash = Dashboard(engine, catalog, AlertLog(args.alerts_log), args.bundle, cluster=cluster)
        demo = build_ui(dash, max_sessions=args.max_sessions)
        demo.queue(default_concurrency_limit=4, max_size=8 * args.max_sessions)
        engine.start()
        print(
            f"actionstream dashboard: {len(catalog.clips)} example clip(s), model {args.bundle}, "
            f"provider {engine.provider}",
            flush=True,
        )
        try:
            # SIGTERM (systemd, docker stop) stops as Ctrl-C does: the engine stops, temp folders go
            with sigterm_as_interrupt():
                demo.launch(  # blocks until Ctrl-C, which Gradio handles by closing the server
                    server_name=args.host,
                    server_port=args.port,
                    share=args.share,
                    auth=auth,
                    ssr_mode=False,
                    show_error=True,
                    max_file_size="500mb",
                    css=CSS,
                    footer_links=["api"],
                    # before a login, a page that tells nothing about the app; failed logins slowed per client
                    app_kwargs={"middleware": [Middleware(LoginGuard, limiter=LoginLimiter())]} if auth else None,
                )
        except OSError as exc:  # port taken, address not available
            raise ActionstreamError(f"cannot listen on {args.host}:{args.port}: {exc}") from exc
    finally:
        engine.stop()
        if cluster is not None:
            cluster.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(serve, parse_args(argv), interrupted="the dashboard was stopped before it started serving")


if __name__ == "__main__":
    sys.exit(main())
