"""`python -m streaming run`: JSON lines, readable lines, one-line errors, Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rtsp_fixture import free_port
from tiny_bundle import write_color_clip

REPO = Path(__file__).resolve().parents[1]
PREDICTION_KEYS = {"type", "stream", "t", "label", "score", "topk", "latency_ms"}


def cli(*args, env=None, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "streaming", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_run_jsonl_prints_one_json_object_per_event(tiny_bundle, color_clips):
    out = cli(
        "run",
        "--bundle",
        tiny_bundle,
        "--source",
        color_clips["red"],
        "--source",
        color_clips["blue"],
        "--fast",
        "--jsonl",
        "--device",
        "cpu",
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    preds = [e for e in events if e["type"] == "prediction"]
    assert len(preds) == 8 and all(PREDICTION_KEYS <= e.keys() for e in preds)
    assert {(e["stream"], e["label"]) for e in preds} == {("red", "red"), ("blue", "blue")}
    assert all(isinstance(e["topk"][0][0], str) and 0 <= e["score"] <= 1 for e in preds)
    ends = [e for e in events if e["type"] == "status" and e["state"] == "ended"]
    assert sorted(e["stream"] for e in ends) == ["blue", "red"]


def test_run_prints_readable_lines_and_names_duplicate_sources_apart(tiny_bundle, color_clips):
    out = cli(
        "run",
        "--bundle",
        tiny_bundle,
        "--source",
        color_clips["green"],
        "--source",
        color_clips["green"],
        "--fast",
        "--device",
        "cpu",
        "--no-metrics",
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert sum("  green  green 1.00" in line for line in lines) == 4
    assert sum("  green#2  green 1.00" in line for line in lines) == 4
    assert any("warming up 12%" in line for line in lines) and any("ended: end of file" in line for line in lines)
    assert not any("capture" in line for line in lines)


def test_run_demo_source(tiny_bundle, tmp_path):
    out = cli(
        "run",
        "--bundle",
        tiny_bundle,
        "--source",
        "demo",
        "--fast",
        "--jsonl",
        "--duration",
        "100",
        env={"XDG_CACHE_HOME": str(tmp_path)},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    preds = [json.loads(x) for x in out.stdout.splitlines() if '"prediction"' in x]
    assert len(preds) > 10 and all(p["stream"] == "demo" for p in preds)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--source", "/no/such/clip.avi"], "no such video file"),
        (["--source", "file:///etc/passwd"], "unsupported source scheme"),
        (["--source", "CLIP", "--bundle", "/no/such/bundle"], "bundle folder not found"),
        (["--source", "CLIP", "--hop", "0"], "hop_s must be a positive"),
        (["--source", "CLIP", "--duration", "-1"], "--duration must be positive"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(args, message, tiny_bundle, color_clips):
    args = [str(color_clips["red"]) if a == "CLIP" else a for a in args]
    if "--bundle" not in args:
        args += ["--bundle", str(tiny_bundle)]
    out = cli("run", *args)
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_corrupt_bundle_is_one_line(tmp_path, tiny_bundle, color_clips):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_bundle, bad)
    with open(bad / "head.onnx", "ab") as f:
        f.write(b"x")
    out = cli("run", "--bundle", bad, "--source", color_clips["red"])
    assert out.returncode == 2 and "sha256 mismatch" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_default_bundle_is_the_people_model(color_clips):
    from streaming.demo import default_bundle_path

    if not (REPO / "models" / "people" / "manifest.json").is_file():
        pytest.skip("models/people is not in this checkout")
    assert default_bundle_path().name == "people"
    # a solid red clip holds nobody: predictions say so and carry no label, the run itself succeeds
    out = cli("run", "--source", color_clips["red"], "--fast", "--device", "cpu", "--duration", "60", "--jsonl")
    assert out.returncode == 0, out.stderr
    preds = [json.loads(x) for x in out.stdout.splitlines() if '"prediction"' in x]
    assert preds and all(p["person"] is False and p["label"] == "" for p in preds)


def test_only_dead_sources_exit_1_with_the_reason(tiny_bundle):
    out = cli("run", "--bundle", tiny_bundle, "--source", f"rtsp://127.0.0.1:{free_port()}/x", "--jsonl")
    assert out.returncode == 1
    last = json.loads(out.stdout.splitlines()[-1])
    assert last["state"] == "failed" and last["reason"].startswith("cannot open rtsp://127.0.0.1:")


def test_ctrl_c_stops_cleanly(tiny_bundle, tmp_path):
    clip = write_color_clip(tmp_path / "long.avi", [("red", 60.0)])
    proc = subprocess.Popen(
        [sys.executable, "-m", "streaming", "run", "--bundle", str(tiny_bundle), "--source", str(clip), "--jsonl"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:  # real time: wait for the first prediction
            if '"prediction"' in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err and "stopped" in err
