"""`python -m training` as a user runs it: synth, run (extract + fit + evaluate + export), refit, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLASSES = "SitDown,StandUp,Wave"


def _training(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    p = _training("synth", "--out", str(out), "--clips-per-class", "6", "--groups", "3", "--seed", "4")
    assert p.returncode == 0, p.stderr
    assert "wrote 48 clips" in p.stdout
    return out


@pytest.fixture(scope="module")
def run_dir(synth_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "run"
    p = _training(
        "run",
        "--data",
        str(synth_data),
        "--classes",
        CLASSES,
        "--arch",
        "smallcnn",
        "--input-size",
        "32",
        "--units",
        "16",
        "--dense",
        "16",
        "--epochs",
        "2",
        "--out",
        str(out),
    )
    assert p.returncode == 0, p.stderr[-3000:]
    assert "clip accuracy" in p.stdout
    return out


def test_synth_writes_ucf101_layout_and_official_split_files(synth_data):
    videos = sorted((synth_data / "UCF-101").glob("*/*.avi"))
    assert len(videos) == 48 and videos[0].name.startswith("v_")
    lists = synth_data / "ucfTrainTestlist"
    assert {p.name for p in lists.iterdir()} >= {"classInd.txt", "trainlist01.txt", "testlist01.txt"}


def test_run_makes_a_self_contained_run_folder_with_report_figures_and_a_verified_bundle(run_dir):
    for name in (
        "config.json",
        "report.json",
        "confusion.png",
        "curves.png",
        "history.json",
        "head.keras",
        "bundle/manifest.json",
        "bundle/extractor.onnx",
        "bundle/head.onnx",
    ):
        assert (run_dir / name).is_file(), name
    report = json.loads((run_dir / "report.json").read_text())
    assert report["classes"] == CLASSES.split(",")
    clip = report["clip"]
    assert clip["count"] == 6 and 0.0 <= clip["top1"] <= 1.0 and clip["top2"] >= clip["top1"]
    assert clip["top5"] is None  # 3 classes
    assert set(clip["per_class"]) == set(CLASSES.split(",")) and len(clip["confusion"]) == 3
    assert report["split"]["name"] == "official-1" and report["split"]["group_leaks"] == 0
    assert report["sampling"] == {"mode": "stride", "fps": 10.0, "window": 40, "eval_hop": 10}
    assert report["export"]["parity"]["head"]["max_abs_diff"] < 1e-4
    assert report["fit"]["epochs_run"] <= 2 and report["timings"]["fit_s"] > 0
    manifest = json.loads((run_dir / "bundle" / "manifest.json").read_text())
    assert manifest["labels"] == CLASSES.split(",") and manifest["sampling"] == {"mode": "stride", "fps": 10.0}
    v = subprocess.run(
        [sys.executable, "-m", "export", "verify", str(run_dir / "bundle")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert v.returncode == 0, v.stdout + v.stderr
    assert "verified" in v.stdout


def test_refit_another_head_on_the_cached_features_then_evaluate(run_dir):
    p = _training("fit", str(run_dir), "--head", "meanpool", "--epochs", "1")
    assert p.returncode == 0, p.stderr[-3000:]
    assert "features:" not in p.stdout  # nothing re-extracted: every clip came from the cache
    p = _training("evaluate", str(run_dir))
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["model"]["head"] == "meanpool"
    manifest = json.loads((run_dir / "bundle" / "manifest.json").read_text())
    assert manifest["provenance"]["head"]["head"] == "meanpool"


def test_seed_split_report_says_test_clips_share_actors_with_training(synth_data, tmp_path):
    out = tmp_path / "seed-run"
    p = _training(
        "run",
        "--data",
        str(synth_data / "UCF-101"),
        "--split",
        "seed",
        "--classes",
        "Jump,Squat",
        "--arch",
        "smallcnn",
        "--input-size",
        "16",
        "--head",
        "meanpool",
        "--dense",
        "8",
        "--epochs",
        "1",
        "--sampling",
        "segments",
        "--out",
        str(out),
    )
    assert p.returncode == 0, p.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    split = report["split"]
    assert split["name"] == "seed"
    assert split["group_leaks"] == 2  # clip 5 of each class is in group 2, and so are training clips 2
    assert "share actors and backgrounds with training clips" in split["note"]
    assert report["sampling"]["mode"] == "segments"
    assert json.loads((out / "bundle" / "manifest.json").read_text())["sampling"]["mode"] == "segments"


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--data", "/no/such/folder", "--out", "OUT"], "/no/such/folder: no such data folder"),
        (["run", "--data", "DATA", "--classes", ",", "--arch", "smallcnn", "--out", "OUT"], "empty class list"),
        (
            ["run", "--data", "DATA", "--classes", "SitDown,Sitdown", "--arch", "smallcnn", "--out", "OUT"],
            "unknown class",
        ),
        (["run", "--data", "DATA", "--classes", "Wave", "--arch", "smallcnn", "--out", "OUT"], "at least 2 classes"),
        (["evaluate", "NOTARUN"], "not a training run folder"),
        (["synth", "--out", "OUT", "--clips-per-class", "0"], "clips per class must be at least 1"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(args, message, synth_data, tmp_path):
    args = [
        a.replace("DATA", str(synth_data)).replace("OUT", str(tmp_path / "out")).replace("NOTARUN", str(tmp_path))
        for a in args
    ]
    p = _training(*args, timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_pose_run_on_a_motion_data_set_makes_a_pose_bundle_with_the_17_labels(tmp_path):
    from streaming.bundle import load_bundle

    if not (REPO / "models" / "pose" / "manifest.json").is_file():
        pytest.skip("models/pose (the bundled pose extractor) is not in this checkout")
    data = tmp_path / "motion"
    p = _training("motion", "--out", str(data), "--clips-per-class", "5", "--seed", "3")
    assert p.returncode == 0, p.stderr
    p = _training("run", "--data", str(data), "--arch", "pose", "--epochs", "1", "--out", str(tmp_path / "run"))
    assert p.returncode == 0, p.stderr
    assert "clip accuracy" in p.stdout and "\r" not in p.stderr  # progress as lines off a terminal
    m = load_bundle(tmp_path / "run" / "bundle").manifest
    assert m.extractor_kind == "pose" and m.feature_size == 43 and len(m.labels) == 17
    assert (tmp_path / "run" / "report.json").is_file() and (tmp_path / "run" / "confusion.png").is_file()


def test_motion_data_set_without_arch_pose_is_one_error_line(tmp_path):
    data = tmp_path / "motion"
    assert _training("motion", "--out", str(data), "--clips-per-class", "5").returncode == 0
    p = _training("run", "--data", str(data), "--arch", "smallcnn", "--out", str(tmp_path / "run"))
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "--arch pose" in p.stderr
