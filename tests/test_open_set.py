"""Honest output: below the bundle's open_set_threshold a prediction says "no clear action", never a label; the
people model's threshold is the lowest that keeps development no-target false alarms at 10 % (the rule, a pure
function), and the shipped bundle records that choice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from streaming.bundle import MANIFEST, load_bundle, write_manifest
from streaming.engine import Engine, EngineConfig
from streaming.errors import BundleError
from streaming.events import NO_CLEAR_ACTION, Prediction
from streaming.sources import FileSource
from training.motion import LABELS
from training.people_model import MAX_FALSE_ALARM_RATE, false_alarms, lowest_threshold, skeleton_no_target_windows
from training.skeletons import DEVELOPMENT_SUBJECTS, HELD_OUT_SUBJECTS

PEOPLE = Path(__file__).resolve().parents[1] / "models" / "people"
SKELETONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "skeletons"


def predictions(bundle, clip) -> list[Prediction]:
    with Engine(bundle, EngineConfig(device="cpu")) as engine:
        events = engine.run_until_done([FileSource(clip, realtime=False)])
        return [e for e in events if isinstance(e, Prediction)]


def with_threshold(tiny_bundle, tmp_path, value: float):
    out = tmp_path / f"t{value}"
    shutil.copytree(tiny_bundle, out)
    bundle = load_bundle(out)
    bundle.manifest.open_set_threshold = value
    write_manifest(out, bundle.manifest)
    return out


def test_a_confident_window_keeps_its_label_and_an_unsure_one_says_so(tiny_bundle, color_clips, tmp_path):
    plain = predictions(tiny_bundle, color_clips["red"])
    assert plain and all(p.label == "red" for p in plain)
    strict = predictions(with_threshold(tiny_bundle, tmp_path, 0.999999), color_clips["red"])
    assert strict and all(p.label == NO_CLEAR_ACTION for p in strict)
    assert all(p.raw_label == "red" and p.topk[0][0] == "red" for p in strict)  # the details stay for whoever looks


def test_threshold_round_trips_and_cnn_manifests_without_it_are_unchanged(tiny_bundle, tmp_path):
    assert "open_set_threshold" not in json.loads((tiny_bundle / MANIFEST).read_text())
    out = with_threshold(tiny_bundle, tmp_path, 0.6)
    assert json.loads((out / MANIFEST).read_text())["open_set_threshold"] == 0.6
    assert load_bundle(out).manifest.open_set_threshold == 0.6


def test_a_threshold_out_of_range_is_refused(tiny_bundle, tmp_path):
    out = with_threshold(tiny_bundle, tmp_path, 0.5)
    raw = json.loads((out / MANIFEST).read_text())
    raw["open_set_threshold"] = 1.5
    (out / MANIFEST).write_text(json.dumps(raw))
    with pytest.raises(BundleError, match="open_set_threshold"):
        load_bundle(out)


# ---------------------------------------------------------------------------------------------- the rule


def _probs(*rows: tuple[int, float]) -> np.ndarray:
    """Windows of 3 classes (0 is Idle): each row gives its top class and that class's probability."""
    out = np.zeros((len(rows), 3))
    for i, (top, p) in enumerate(rows):
        out[i, top] = p
        out[i, [k for k in range(3) if k != top]] = (1 - p) / 2
    return out


def test_lowest_threshold_keeps_false_alarms_at_the_rate():
    # 10 no-target windows: 3 confident wrong labels (0.9, 0.8, 0.7), 2 unsure ones, 5 Idle
    probs = _probs((1, 0.9), (2, 0.8), (1, 0.7), (2, 0.5), (1, 0.45), *[(0, 0.6)] * 5)
    assert lowest_threshold(probs, 0.1, idle=0) == 0.81  # one alarm (0.9) allowed: above the second
    assert lowest_threshold(probs, 0.2, idle=0) == 0.71
    assert lowest_threshold(probs, 0.0, idle=0) == 0.91  # none allowed
    assert lowest_threshold(probs, 0.5, idle=0) == 0.0  # 5 alarms at most, even with no threshold
    # Idle is the honest answer, not an alarm; with idle=None every confident window counts
    assert lowest_threshold(probs, 0.5, idle=None) == 0.61


def test_lowest_threshold_edges():
    assert lowest_threshold(_probs((1, 0.78), (0, 0.9)), 0.0, idle=0) == 0.79  # a tie is an alarm: strictly above
    float32_edge = np.array([[0.22, 0.78, 0.0]], np.float32)  # 0.78 in float32 is a hair below 0.78
    assert lowest_threshold(float32_edge, 0.0, idle=0) == 0.78
    assert lowest_threshold(_probs((1, 1.0)), 0.0, idle=0) is None  # no threshold below 1 helps
    assert lowest_threshold(_probs((1, 0.995)), 0.0, idle=0) is None
    assert lowest_threshold(_probs((0, 0.99)), 0.0, idle=0) == 0.0  # only Idle: no threshold needed
    with pytest.raises(ValueError):
        lowest_threshold(np.zeros((0, 3)), 0.1, idle=0)
    with pytest.raises(ValueError):
        lowest_threshold(_probs((1, 0.5)), 1.0, idle=0)


def test_the_rule_and_the_false_alarm_count_agree():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(len(LABELS), 0.3), size=200)
    idle = LABELS.index("Idle")
    for rate in (0.0, 0.05, 0.1, 0.3):
        t = lowest_threshold(probs, rate, idle=idle)
        count = false_alarms(lambda w: probs, {"c": np.zeros((200, 40, 40))}, t)
        assert count["rate"] <= rate
        if t > 0:  # one step lower breaks the rate: it is the lowest
            assert false_alarms(lambda w: probs, {"c": np.zeros((200, 40, 40))}, round(t - 0.01, 2))["rate"] > rate


@pytest.mark.skipif(not (PEOPLE / "report.json").is_file(), reason="models/people not built")
def test_the_shipped_threshold_is_the_rule_s_choice_on_development_data():
    manifest = load_bundle(PEOPLE).manifest
    report = json.loads((PEOPLE / "report.json").read_text())
    chosen = report["open_set"]
    assert manifest.open_set_threshold == report["open_set_threshold"] == chosen["threshold"]
    assert manifest.provenance["head"]["open_set_threshold"] == chosen["threshold"]
    assert chosen["development_no_target"]["rate"] <= chosen["max_false_alarm_rate"] == MAX_FALSE_ALARM_RATE
    below = [r for r in chosen["tradeoff"] if r["threshold"] < chosen["threshold"]]
    assert all(r["dev_no_target_false_alarm_rate"] > MAX_FALSE_ALARM_RATE for r in below)
    assert "shipped_open_set_threshold" not in report  # the threshold picked on the ucf101 clips is history only
    assert report["false_alarms"]["threshold"] == chosen["threshold"]
    assert report["real_held_out"]["open_set"]["no_target"]["threshold"] == chosen["threshold"]


@pytest.mark.skipif(not (SKELETONS / "msr-action3d").is_dir(), reason="no ../shared/data/skeletons")
def test_no_target_skeleton_windows_keep_development_and_held_out_apart():
    dev = skeleton_no_target_windows(DEVELOPMENT_SUBJECTS)
    held = skeleton_no_target_windows(HELD_OUT_SUBJECTS)
    assert "utkinect/carry" in dev and "msr/hammer" in held and "msr/pick up & throw" not in dev
    assert all(w.shape[1:] == (40, 43) and w.dtype == np.float32 for w in (*dev.values(), *held.values()))
    mapped = {"walk", "sitDown", "standUp", "pickUp", "waveHands", "clapHands", "hand clap", "bend"}
    assert not {k.split("/", 1)[1] for k in (*dev, *held)} & mapped  # none of them is a target action


@pytest.mark.skipif(not (PEOPLE / "report.json").is_file(), reason="models/people not built")
@pytest.mark.skipif(not (SKELETONS / "msr-action3d").is_dir(), reason="no ../shared/data/skeletons")
def test_the_rule_reproduces_the_shipped_threshold():
    from training.real_eval import bundle_predict_fn

    fn, _ = bundle_predict_fn(PEOPLE)
    windows = skeleton_no_target_windows(DEVELOPMENT_SUBJECTS)
    probs = np.concatenate([fn(w) for w in windows.values()])
    assert (
        lowest_threshold(probs, MAX_FALSE_ALARM_RATE, LABELS.index("Idle"))
        == load_bundle(PEOPLE).manifest.open_set_threshold
    )
