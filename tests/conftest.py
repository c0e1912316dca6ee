"""Shared fixtures. Real parts only: a real (tiny) ONNX bundle, real video files, the real UCF101 sample clips.

Helpers for other areas may add fixtures here; keep each one short and documented.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:  # tiny_bundle, rtsp_fixture: importable from any test module
    sys.path.insert(0, str(TESTS))

from rtsp_fixture import RtspServer, rtsp_unavailable_reason  # noqa: E402
from tiny_bundle import make_tiny_bundle, write_color_clip  # noqa: E402

#: ../shared/data/ucf101-mini beside the repository: 8 genuine UCF101 clips and the official split files.
UCF_MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ucf101-mini"


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A valid bundle (window 8, 5 features/s, labels red/green/blue) that predicts a window's dominant colour."""
    return make_tiny_bundle(tmp_path_factory.mktemp("bundles") / "tiny")


@pytest.fixture(scope="session")
def color_clips(tmp_path_factory) -> dict[str, Path]:
    """Real MJPG clips: 'red', 'green', 'blue' (4 s each), 'red_then_blue' (4 s + 6 s), 'short_green' (0.6 s)."""
    d = tmp_path_factory.mktemp("clips")
    clips = {
        name: write_color_clip(d / f"{name}.avi", [(name, 4.0)], seed=i)
        for i, name in enumerate(("red", "green", "blue"))
    }
    clips["red_then_blue"] = write_color_clip(d / "red_then_blue.avi", [("red", 4.0), ("blue", 6.0)], seed=7)
    clips["short_green"] = write_color_clip(d / "short_green.avi", [("green", 0.6)], seed=8)
    return clips


@pytest.fixture(scope="session")
def ucf_mini() -> Path:
    """The real UCF101 sample (skips when ../shared/data/ucf101-mini is absent)."""
    if not (UCF_MINI / "UCF-101").is_dir():
        pytest.skip(f"real UCF101 sample not found at {UCF_MINI}")
    return UCF_MINI


@pytest.fixture
def rtsp_server(tmp_path):
    """Factory for real GStreamer RTSP servers on loopback: `server = rtsp_server(clip)`; killed at teardown.

    Skips when Debian's /usr/bin/python3 lacks python3-gi or the GstRtspServer typelib.
    """
    reason = rtsp_unavailable_reason()
    if reason:
        pytest.skip(reason)
    servers: list[RtspServer] = []

    def start(clip: Path, port: int | None = None) -> RtspServer:
        server = RtspServer(clip, port=port, log_path=tmp_path / f"rtsp-{len(servers)}.log")
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.kill()


@pytest.fixture
def dashboard(tiny_bundle, color_clips, tmp_path):
    """The dashboard's handlers around a running engine on the tiny bundle (the dashboard tests share it)."""
    from dashboard.app import Dashboard
    from dashboard.source_policy import ClipFolders
    from dashboard.sources import SourceCatalog, find_clips
    from streaming.alerts import AlertLog
    from streaming.engine import Engine

    engine = Engine(tiny_bundle)
    engine.start()
    folders = ClipFolders([color_clips["red"].parent])
    catalog = SourceCatalog(find_clips(folders, None), folders)
    yield Dashboard(engine, catalog, AlertLog(tmp_path / "alerts.jsonl"), Path(tiny_bundle))
    engine.stop()
