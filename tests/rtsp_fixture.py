"""Start, kill and restart the loopback RTSP server (tests/rtsp_server.py) from the tests."""

from __future__ import annotations

import functools
import select
import socket
import subprocess
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
SERVER_SCRIPT = Path(__file__).resolve().parent / "rtsp_server.py"
READY_TIMEOUT_S = 30.0


@functools.lru_cache(maxsize=1)
def rtsp_unavailable_reason() -> str | None:
    """None when Debian's python3 can run GstRtspServer with x264enc; else why not (a skip reason)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found (the RTSP test server runs with Debian's python3 and python3-gi)"
    probe = (
        "import gi; gi.require_version('Gst','1.0'); gi.require_version('GstRtspServer','1.0'); "
        "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
        "missing=[e for e in ('x264enc','rtph264pay','decodebin') if Gst.ElementFactory.find(e) is None]; "
        "print(','.join(missing))"
    )
    try:
        out = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot probe GStreamer with {SYSTEM_PYTHON}: {exc}"
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return (
            f"{SYSTEM_PYTHON} lacks python3-gi / gir1.2-gst-rtsp-server-1.0 ({last}); "
            "install them with scripts/install-system-deps.sh"
        )
    if out.stdout.strip():
        return f"GStreamer elements missing: {out.stdout.strip()} (install gstreamer1.0-plugins-ugly/-good)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspServer:
    """One server process serving `clip` at rtsp://127.0.0.1:<port>/test; restartable on the same port."""

    def __init__(self, clip: Path, port: int | None = None, log_path: Path | None = None):
        self.clip = Path(clip)
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}/test"

    def start(self) -> None:
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--clip", str(self.clip), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=log,
        )
        if log is not subprocess.DEVNULL:
            log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith(b"ready") or not line:
                    break
            if self.proc.poll() is not None:
                break
        if not line.startswith(b"ready"):
            self.kill()
            raise RuntimeError(
                f"RTSP server did not start on port {self.port}: {line.decode(errors='replace')!r}"
                f" (log: {self.log_path})"
            )

    def kill(self) -> None:
        """SIGKILL, as when a camera loses power: no goodbye to the clients."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()
