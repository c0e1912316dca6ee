"""Replay evaluation: clips through the engine as streams, scored, and compared with training's offline path."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_bundle import write_color_clip

from streaming.engine import Engine, EngineConfig
from streaming.errors import ActionstreamError
from streaming.replay import ReplayClip, replay_report

REPO = Path(__file__).resolve().parents[1]


def test_replay_scores_the_engine_and_matches_offline(tiny_bundle, color_clips):
    clips = [
        ReplayClip(color_clips["red"], "red"),
        ReplayClip(color_clips["green"], "green"),
        ReplayClip(color_clips["blue"], "green"),  # mislabelled on purpose: every window wrong
        ReplayClip(color_clips["red_then_blue"], "blue"),
        ReplayClip(color_clips["short_green"], "green"),
    ]
    engine = Engine(tiny_bundle, EngineConfig(device="cpu", ema_alpha=0.6))
    try:
        report = replay_report(engine, clips, parallel=2, progress=False)
    finally:
        engine.stop()
    json.dumps(report, allow_nan=False)  # strict JSON
    by_name = {Path(c["path"]).stem: c for c in report["clips"]}
    assert report["clips_total"] == report["clips_scored"] == 5 and report["clips_failed"] == []
    # windows: 4 per 4 s clip (1.4, 2.4, 3.4 and the end), 10 for red_then_blue (4 red, 6 blue), 1 looped
    assert [c["windows"] for c in report["clips"]] == [4, 4, 4, 10, 1] and report["windows"] == 23
    assert by_name["red_then_blue"]["predicted"] == "blue" and by_name["blue"]["predicted"] == "blue"
    assert report["clip_accuracy"] == pytest.approx(4 / 5)
    assert report["window_accuracy"] == pytest.approx((4 + 4 + 0 + 6 + 1) / 23)
    assert report["smoothed_accuracy"] == pytest.approx((4 + 4 + 0 + 5 + 1) / 23)  # the display lags one window
    assert report["clip_topk_accuracy"] == 1.0 and report["topk"] == 3
    assert by_name["short_green"]["partial"] and by_name["short_green"]["time_to_first_correct_s"] == 0.4
    assert by_name["red_then_blue"]["time_to_first_correct_s"] == pytest.approx(6.4)
    assert by_name["red_then_blue"]["label_changes"] == 1 and report["clips_never_correct"] == 1
    assert report["median_time_to_first_correct_s"] == pytest.approx(1.4)
    assert report["label_changes_per_minute"] == pytest.approx(60 / (3 * 3.96 + 9.96 + 0.56), rel=1e-3)
    assert report["offline_clip_accuracy"] == report["clip_accuracy"] and report["engine_offline_agreement"] == 1.0
    assert all(c["offline_max_abs_diff"] < 1e-4 for c in report["clips"])  # the engine keeps the offline numbers
    assert report["per_class_clip_accuracy"] == {"red": 1.0, "green": 2 / 3, "blue": 1.0}


def test_replay_refuses_classes_the_bundle_does_not_know(tiny_bundle, color_clips):
    engine = Engine(tiny_bundle, EngineConfig(device="cpu"))
    with pytest.raises(ActionstreamError, match="not among the bundle's labels"):
        replay_report(engine, [ReplayClip(color_clips["red"], "Punch")], progress=False)
    engine.stop()


@pytest.fixture(scope="module")
def colour_dataset(tmp_path_factory):
    """A UCF101-style folder of coloured clips with official-format split files (test: group 2)."""
    root = tmp_path_factory.mktemp("colours")
    train, test = [], []
    for k, label in enumerate(["red", "green", "blue"]):
        for g in (1, 2):
            name = f"v_{label}_g{g:02d}_c01.avi"
            write_color_clip(root / "data" / label / name, [(label, 3.0)], seed=10 * k + g)
            (test if g == 2 else train).append(f"{label}/{name}")
    lists = root / "lists"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 red\r\n2 green\r\n3 blue\r\n")
    (lists / "trainlist01.txt").write_text("".join(f"{x} 1\r\n" for x in train))
    (lists / "testlist01.txt").write_text("".join(f"{x}\r\n" for x in test))
    return root


def replay_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "streaming", "replay", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_replay_cli_on_a_split(tiny_bundle, colour_dataset, tmp_path):
    out_file = tmp_path / "report.json"
    out = replay_cli(
        "--bundle",
        tiny_bundle,
        "--data",
        colour_dataset / "data",
        "--splits",
        colour_dataset / "lists",
        "--split",
        "1",
        "--out",
        out_file,
        "--device",
        "cpu",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out_file.read_text())
    assert report["data"]["split"] == "official-1" and report["clips_total"] == 3
    assert {Path(c["path"]).name for c in report["clips"]} == {f"v_{c}_g02_c01.avi" for c in ("red", "green", "blue")}
    assert report["clip_accuracy"] == report["window_accuracy"] == report["offline_clip_accuracy"] == 1.0
    assert all(c["true"] == c["predicted"] and c["windows"] == 3 for c in report["clips"])  # 3 s: 1.4, 2.4, 2.8
    assert "clip accuracy 100.0%" in out.stdout


def test_replay_cli_every_clip_of_some_classes(tiny_bundle, colour_dataset, tmp_path):
    out_file = tmp_path / "r.json"
    out = replay_cli(
        "--bundle",
        tiny_bundle,
        "--data",
        colour_dataset / "data",
        "--classes",
        "red",
        "blue",
        "--out",
        out_file,
        "--device",
        "cpu",
        "--quiet",
        "--no-offline",
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out_file.read_text())
    assert report["clips_total"] == 4 and "offline_clip_accuracy" not in report
    assert {c["true"] for c in report["clips"]} == {"red", "blue"}


def test_replay_cli_on_real_ucf101_says_when_the_model_does_not_know_the_classes(tiny_bundle, ucf_mini, tmp_path):
    out = replay_cli(
        "--bundle",
        tiny_bundle,
        "--data",
        ucf_mini,
        "--splits",
        ucf_mini / "ucfTrainTestlist",
        "--out",
        tmp_path / "r.json",
        "--quiet",
    )
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "not among the bundle's labels" in out.stderr and not (tmp_path / "r.json").exists()


def test_replay_cli_user_errors(tiny_bundle, tmp_path):
    out = replay_cli("--bundle", tiny_bundle, "--data", tmp_path / "none", "--out", tmp_path / "r.json")
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "no such data folder" in out.stderr
