#!/usr/bin/python3
"""A real RTSP server on loopback for the tests (GStreamer's GstRtspServer), serving a video file re-encoded
to H.264 as a live camera would.

Runs with Debian's /usr/bin/python3 (python3-gi is not in the project's venv):

    /usr/bin/python3 tests/rtsp_server.py --clip clip.avi --port 8554   # prints "ready rtsp://127.0.0.1:8554/test"

Kill it (SIGKILL) to simulate a camera that dies; start it again on the same port to bring the camera back.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", required=True, help="video file to serve")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--mount", default="/test")
    args = ap.parse_args()

    Gst.init(None)
    for element in ("x264enc", "rtph264pay", "decodebin"):
        if Gst.ElementFactory.find(element) is None:
            print(f"error: GStreamer element {element} missing", flush=True)
            return 1
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    location = args.clip.replace("\\", "\\\\").replace('"', '\\"')
    factory.set_launch(
        f'( filesrc location="{location}" ! decodebin ! videoconvert ! video/x-raw,format=I420 '
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"error: cannot listen on {args.host}:{args.port}", flush=True)
        return 1
    print(f"ready rtsp://{args.host}:{args.port}{args.mount}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
