"""The bundled demo model (models/demo): what it is, that it recognizes fresh synthetic clips, how it is made."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streaming.bundle import load_bundle
from streaming.preprocess import FrameSpec, preprocess_frame
from streaming.sampler import Sampling
from training.demo_model import DESCRIPTION, DemoConfig, codes_to_input, frame_codes, make_demo_model
from training.synth import ACTIONS, REVERSED_PAIRS, render_clip, write_clip

DEMO = Path(__file__).resolve().parents[1] / "models" / "demo"
#: Clip seeds for the fresh clips below: far from anything `make demo-model` renders with seed 0.
FRESH_SEEDS = (424_242, 515_151)


@pytest.fixture(scope="module")
def demo_bundle():
    return load_bundle(DEMO)  # checks hashes and shapes; fails clearly if the committed bundle is missing


def test_demo_bundle_says_what_it_is_and_is_small(demo_bundle):
    m = demo_bundle.manifest
    assert m.description == DESCRIPTION and "will not recognize real people" in m.description
    assert "synthetic" in m.provenance["trained_on"] and m.provenance["demo_model"] is True
    assert m.labels == list(ACTIONS) and m.has_head
    assert (m.sampling.mode, m.sampling.feature_rate, m.sampling.window) == ("stride", 10.0, 40)
    size = sum(p.stat().st_size for p in DEMO.iterdir() if p.is_file() and p.name != "demo.avi")
    assert size < 10_000_000
    assert (DEMO / "demo.avi").is_file() and (DEMO / "confusion.png").is_file() and (DEMO / "curves.png").is_file()


def test_demo_report_meets_the_quality_bars(demo_bundle):
    report = json.loads((DEMO / "report.json").read_text())
    assert report["clip"]["top1"] >= 0.95
    assert report["baseline"]["head"] == "meanpool"
    pairs = {tuple(r["pair"]): r for r in report["reversed_pair_accuracy"]}
    assert set(pairs) == set(REVERSED_PAIRS)
    for row in pairs.values():  # the order-blind baseline falls short exactly where order matters
        assert row["meanpool_accuracy"] < row["lstm_accuracy"]
    assert report["demo_stream"]["lstm"]["window_accuracy"] >= 0.9


def test_demo_model_classifies_freshly_rendered_clips_of_every_action(demo_bundle, tmp_path):
    from streaming.clip_features import extract_clip
    from streaming.clip_sampling import clip_windows
    from streaming.extractor import Extractor
    from streaming.head import Head

    m = demo_bundle.manifest
    extractor, head = Extractor(demo_bundle, device="cpu"), Head(demo_bundle, device="cpu")
    spec = m.sampling
    wrong = []
    for action in ACTIONS:
        for seed in FRESH_SEEDS:
            frames, fps = render_clip(action, seed)
            path = write_clip(tmp_path / f"{action}_{seed}.avi", frames, fps)  # through a real codec, like a file
            feats = extract_clip(path, extractor, spec).feats
            probs = head(clip_windows(feats, spec, hop=5)).mean(axis=0)
            if m.labels[int(probs.argmax())] != action:
                wrong.append((action, seed, m.labels[int(probs.argmax())]))
    assert len(wrong) <= 2, f"misclassified fresh clips: {wrong}"


def test_frame_codes_reproduce_the_live_preprocessing_bit_for_bit(tmp_path):
    from streaming.sampler import stride_indices
    from streaming.video import iter_frames

    frames, fps = render_clip("Wave", 7)
    path = write_clip(tmp_path / "wave.avi", frames[:30], fps)
    spec = FrameSpec(48, 48, "RGB", "inception")
    codes, picked_here = frame_codes(path, spec, 10.0)
    decoded = list(iter_frames(path))
    picked = stride_indices([t for t, _ in decoded], 10.0)  # 1.2 s at 25 fps: 12 frames due at 10/s
    assert picked_here == picked
    assert codes.dtype == np.uint8 and codes.shape == (len(picked), 48, 48, 3) and len(picked) == 12
    for k, i in enumerate(picked):
        np.testing.assert_array_equal(codes_to_input(codes[k]), preprocess_frame(decoded[i][1], spec))


def test_make_demo_model_end_to_end_on_a_micro_config(tmp_path):
    """The whole recipe (render, train both heads, export, evaluate through ONNX, report, demo stream) at toy size."""
    from export.verify import verify_bundle

    cfg = DemoConfig(
        looks=2,
        val_looks=2,
        test_clips_per_class=3,
        input_size=16,
        units=8,
        dense=(8,),
        frame_epochs=1,
        head_epochs=2,
        finetune_epochs=1,
        augmented_copies=1,
        sampling=Sampling(window=10),
        hop=10,
        clip_seconds=(1.0, 2.0),
        demo_seconds_per_action=1.5,
    )
    out = tmp_path / "demo"
    report = make_demo_model(out, cfg, work=tmp_path / "work", progress=False, log=lambda _: None)
    assert verify_bundle(out).ok
    for name in (
        "manifest.json",
        "extractor.onnx",
        "head.onnx",
        "report.json",
        "confusion.png",
        "curves.png",
        "demo.avi",
    ):
        assert (out / name).is_file(), name
    saved = json.loads((out / "report.json").read_text())
    assert saved["clip"]["count"] == 3 * len(ACTIONS) and saved["baseline"]["clip"]["count"] == 3 * len(ACTIONS)
    assert {tuple(r["pair"]) for r in saved["reversed_pair_accuracy"]} == set(REVERSED_PAIRS)
    assert saved["config"]["seed"] == 0 and saved["bundle_bytes"] > 0
    assert saved["speed_one_core"]["extractor_ms_per_frame"] > 0
    m = load_bundle(out).manifest
    assert m.description == DESCRIPTION and m.sampling.window == 10 and m.frame.height == 16
    assert not list(tmp_path.glob(".demo*"))  # staging folders removed
    assert report["timings"]["total_s"] > 0
