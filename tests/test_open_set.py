"""Honest output: below the bundle's open_set_threshold a prediction says "no clear action", never a label."""

from __future__ import annotations

import json
import shutil

import pytest

from streaming.bundle import MANIFEST, load_bundle, write_manifest
from streaming.engine import Engine, EngineConfig
from streaming.errors import BundleError
from streaming.events import NO_CLEAR_ACTION, Prediction
from streaming.sources import FileSource


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
