"""Camera serving without Ray: camera assignment, one EngineReplica on a real (tiny) bundle, and the serve CLI's
error lines (each refused before Ray is touched)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from streaming.cli import main
from streaming.errors import SourceError
from streaming.monitor_config import CameraConfig
from streaming.serve_controller import DEFAULT_CAMERA_LOAD, ReplicaLoad, assign
from streaming.serve_replica import EngineReplica, ServeCamera
from streaming.tapped_source import Region

# --- assign -----------------------------------------------------------------------------------------------------


def test_idle_replicas_share_cameras_evenly_and_deterministically():
    loads = {"engine-0": ReplicaLoad(0.0, 0), "engine-1": ReplicaLoad(0.0, 0)}
    plan = assign(["a", "b", "c", "d"], loads)
    assert sorted(plan.values()) == ["engine-0", "engine-0", "engine-1", "engine-1"]
    assert plan == assign(["a", "b", "c", "d"], loads)


def test_cameras_go_where_the_measured_load_is_lowest():
    # engine-0: 2 cameras at 0.8 (0.4 each); engine-1: 2 cameras at 0.2 (0.1 each): new cameras go to engine-1
    # until its projected load passes engine-0's next step
    loads = {"engine-0": ReplicaLoad(0.8, 2), "engine-1": ReplicaLoad(0.2, 2)}
    plan = assign(["x", "y", "z"], loads)
    assert set(plan.values()) == {"engine-1"}
    # a replica that runs nothing is costed at DEFAULT_CAMERA_LOAD per camera
    plan = assign(["x"], {"busy": ReplicaLoad(0.5, 1), "empty": ReplicaLoad(0.0, 0)})
    assert plan == {"x": "empty"} and DEFAULT_CAMERA_LOAD < 0.5


def test_cameras_too_light_to_measure_still_spread():
    # three cameras that barely load engine-1 do not make it look emptier than a replica that runs none
    plan = assign(["x", "y"], {"engine-0": ReplicaLoad(0.0, 0), "engine-1": ReplicaLoad(0.01, 3)})
    assert plan == {"x": "engine-0", "y": "engine-0"}


def test_a_dead_replicas_cameras_go_to_the_live_ones_and_none_without_any():
    assert assign(["a", "b"], {"engine-1": ReplicaLoad(0.3, 1)}) == {"a": "engine-1", "b": "engine-1"}
    assert assign(["a"], {}) == {}


# --- EngineReplica ----------------------------------------------------------------------------------------------


def test_serve_camera_from_a_monitor_camera_and_a_dict(tmp_path):
    cam = CameraConfig("door", "rtsp://127.0.0.1:8554/x", region=Region(0.1, 0.2, 0.9, 1.0), loop=False)
    assert ServeCamera.of(cam) == ServeCamera("door", "rtsp://127.0.0.1:8554/x", (0.1, 0.2, 0.9, 1.0), False)
    d = {"name": "f", "source": str(tmp_path / "a.avi"), "region": [0, 0, 0.5, 0.5], "realtime": False}
    assert ServeCamera.of(d) == ServeCamera("f", str(tmp_path / "a.avi"), (0.0, 0.0, 0.5, 0.5), False, False)


def _collect(replica: EngineReplica, cameras: list[ServeCamera], timeout_s: float = 60.0) -> list[dict]:
    """Events of a replica until every camera has ended (subscribed before the cameras start)."""

    async def run() -> list[dict]:
        events = replica.events(heartbeat_s=0.2)
        got = [await events.__anext__()]  # subscribed now (a heartbeat came)
        for cam in cameras:
            replica.add_camera(cam)
        ended: set[str] = set()
        async with asyncio.timeout(timeout_s):
            async for ev in events:
                got.append(ev)
                if ev["type"] == "status" and ev["state"] in ("ended", "failed"):
                    ended.add(ev["camera"])
                if ended >= {c.name for c in cameras}:
                    break
        await events.aclose()
        return got

    return asyncio.run(run())


def test_a_replica_runs_its_cameras_and_streams_their_events_as_dicts(tiny_bundle, color_clips):
    replica = EngineReplica(tiny_bundle, {"device": "cpu"}, name="engine-7")
    try:
        cams = [
            ServeCamera("r", str(color_clips["red"]), realtime=False),
            ServeCamera("b", str(color_clips["blue"]), realtime=False),
        ]
        events = _collect(replica, cams)
        assert replica.cameras() == ["b", "r"]
        assert events[0]["type"] == "heartbeat" and events[0]["replica"] == "engine-7"
        engine_events = [e for e in events if e["type"] != "heartbeat"]
        seqs = [e["seq"] for e in engine_events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        for e in engine_events:
            assert e["camera"] == e["stream"] and e["replica"] == "engine-7" and e["host"] == socket.gethostname()
        labels = {
            c: {e["label"] for e in engine_events if e["type"] == "prediction" and e["camera"] == c} for c in "rb"
        }
        assert labels == {"r": {"red"}, "b": {"blue"}}
        assert 0.0 <= replica.load() <= 1.0 and replica.info()["cameras"] == ["b", "r"]
        replica.remove_camera("r")
        assert replica.cameras() == ["b"]
        with pytest.raises(SourceError, match="does not run on replica engine-7"):
            replica.remove_camera("r")
        with pytest.raises(SourceError, match="already runs"):
            replica.add_camera(cams[1])
    finally:
        replica.close()


def test_a_local_webcam_is_refused_in_one_line(tiny_bundle):
    replica = EngineReplica(tiny_bundle, {"device": "cpu"}, name="engine-0")
    try:
        with pytest.raises(SourceError, match="a local webcam \\(0\\) cannot be served on a cluster"):
            replica.add_camera({"name": "desk", "source": "0"})
        assert replica.cameras() == []
    finally:
        replica.close()


# --- the CLI's error lines --------------------------------------------------------------------------------------


def _toml(tmp_path, name: str, body: str):
    path = tmp_path / f"{name}.toml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    "case, expect",
    [
        ("missing", "no such config file"),
        ("bad toml", "not valid TOML"),
        ("no cameras", "no cameras"),
        ("webcam", "a local webcam (0) cannot be served on a cluster"),
        ("unreachable", "cannot connect to Ray at 127.0.0.1:1"),
        ("duration", "--duration must be positive"),
        ("detach", "--detach leaves the app on a cluster that outlives this command"),
    ],
)
def test_serve_cli_says_what_is_wrong_in_one_line(case, expect, tmp_path, tiny_bundle, color_clips, capsys):
    clip = color_clips["red"]
    good = f'[monitor]\nbundle = "{tiny_bundle}"\n[[camera]]\nname = "a"\nsource = "{clip}"\n'
    files = {
        "missing": tmp_path / "nope.toml",
        "bad toml": _toml(tmp_path, "bad_toml", "[[camera]\nname = 1\n"),
        "no cameras": _toml(tmp_path, "no_cameras", f'[monitor]\nbundle = "{tiny_bundle}"\n'),
        "webcam": _toml(
            tmp_path, "webcam", f'[monitor]\nbundle = "{tiny_bundle}"\n[[camera]]\nname = "a"\nsource = "0"\n'
        ),
        "unreachable": _toml(tmp_path, "unreachable", good),
        "duration": _toml(tmp_path, "duration", good),
        "detach": _toml(tmp_path, "detach", good),
    }
    argv = ["serve", "--ray", "127.0.0.1:1", "--cameras", str(files[case])]
    if case == "duration":
        argv += ["--duration", "0"]
    if case == "detach":
        argv = ["serve", "--ray", "--detach", "--cameras", str(files[case])]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expect in err[0], err


# --- the dashboard's cluster table ------------------------------------------------------------------------------


def test_the_cluster_table_follows_placements_statuses_and_predictions():
    from dashboard.cluster_cameras import ClusterView

    view = ClusterView()
    view.seed([{"camera": "door", "replica": "engine-0", "node_id": "abcdef0123", "host": "n1", "state": "starting"}])
    view.apply(
        {
            "type": "status",
            "camera": "door",
            "replica": "engine-0",
            "node_id": "abcdef0123",
            "host": "n1",
            "state": "live",
            "warmup": None,
        }
    )
    view.apply(
        {
            "type": "prediction",
            "camera": "door",
            "replica": "engine-0",
            "node_id": "abcdef0123",
            "host": "n1",
            "label": "wave",
            "score": 0.91,
        }
    )
    assert view.rows()[0][:5] == ["door", "engine-0", "n1 (abcdef01)", "live", "wave 0.91"]
    view.apply(
        {
            "type": "placement",
            "camera": "door",
            "replica": "engine-1",
            "node_id": "99",
            "host": "n2",
            "state": "starting",
        }
    )
    assert view.rows()[0][:4] == ["door", "engine-1", "n2 (99)", "starting"]
    view.apply({"type": "placement", "camera": "door", "replica": None, "state": "removed"})
    assert view.rows() == []


def test_the_dashboard_says_in_one_line_when_the_cluster_does_not_answer(capsys, tmp_path):
    import demo_app

    assert demo_app.main(["--ray", "127.0.0.1:1", "--alerts-log", str(tmp_path / "a.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("error: cannot connect to Ray at 127.0.0.1:1"), err
