"""Heads over feature windows and the end-to-end model: real Keras models, tiny sizes, real ONNX export."""

from __future__ import annotations

import numpy as np
import pytest

from training.models import HEADS, build_end_to_end, build_head

WINDOW, DIM, CLASSES = 8, 12, 3


def _windows(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, WINDOW, DIM)).astype(np.float32)


@pytest.mark.parametrize("kind", HEADS)
def test_every_head_builds_predicts_softmax_and_trains_a_step(kind):
    from training.fit import FitConfig, compile_model, seed_everything

    seed_everything(0)
    head = build_head(kind, WINDOW, DIM, CLASSES, units=8, dense=(8,), dropout=0.2)
    x = _windows()
    y = np.eye(CLASSES, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    probs = np.asarray(head(x, training=False))
    assert probs.shape == (6, CLASSES)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    compile_model(head, CLASSES, FitConfig(learning_rate=1e-2))
    before = [w.copy() for w in head.get_weights()]
    logs = head.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    assert "top2" in logs and "top5" not in logs  # top-k only where k < classes
    changed = [not np.array_equal(a, b) for a, b in zip(before, head.get_weights())]
    assert all(changed), f"{kind}: some weights did not move after a training step"


def test_meanpool_ignores_order_and_the_recurrent_heads_do_not():
    from training.fit import seed_everything

    x = _windows(4, seed=1)
    reversed_x = x[:, ::-1].copy()
    for kind in HEADS:
        seed_everything(0)
        head = build_head(kind, WINDOW, DIM, CLASSES, units=8, dense=(8,))
        a = np.asarray(head(x, training=False))
        b = np.asarray(head(reversed_x, training=False))
        if kind == "meanpool":
            np.testing.assert_allclose(a, b, atol=1e-6)
        else:
            assert np.abs(a - b).max() > 1e-4, f"{kind} gives the same answer for a window played backwards"


def test_lstm_default_is_the_reports_model():
    head = build_head("lstm", 40, 2048, 24)
    rnn = head.get_layer("lstm_rnn")
    assert rnn.units == 2048 and rnn.dropout == 0.5
    assert head.get_layer("dense_0").units == 512
    assert head.output_shape == (None, 24)


def test_bad_head_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown head"):
        build_head("transformer", WINDOW, DIM, CLASSES)
    with pytest.raises(ValueError, match="classes must be >= 2"):
        build_head("lstm", WINDOW, DIM, 1)
    with pytest.raises(ValueError, match="dropout"):
        build_head("gru", WINDOW, DIM, CLASSES, dropout=1.0)


def test_end_to_end_model_splits_into_extractor_and_head_with_the_same_outputs(tmp_path):
    """Train the joint model a step, then: Keras parts, and the exported ONNX bundle, agree with the joint model."""
    from export.backbones import build_backbone
    from export.extractor_export import export_extractor
    from export.head_export import export_head
    from streaming.bundle import load_bundle
    from streaming.extractor import Extractor
    from streaming.head import Head
    from streaming.preprocess import FrameSpec
    from streaming.sampler import Sampling
    from training.fit import FitConfig, compile_model, seed_everything

    seed_everything(0)
    size, window = 32, 6
    backbone = build_backbone("smallcnn", weights="none", input_size=size)
    head = build_head("lstm", window, int(backbone.output_shape[-1]), CLASSES, units=8, dense=(8,))
    joint = build_end_to_end(backbone, head, window)
    rng = np.random.default_rng(3)
    frames = rng.uniform(-1, 1, (4, window, size, size, 3)).astype(np.float32)
    compile_model(joint, CLASSES, FitConfig(learning_rate=1e-2))
    joint.train_on_batch(frames, np.eye(CLASSES, dtype=np.float32)[[0, 1, 2, 0]])

    expected = np.asarray(joint(frames, training=False))
    feats = np.asarray(backbone(frames.reshape(-1, size, size, 3), training=False)).reshape(4, window, -1)
    np.testing.assert_allclose(np.asarray(head(feats, training=False)), expected, atol=1e-5)

    out = tmp_path / "bundle"
    export_extractor(backbone, out, FrameSpec(size, size), {"arch": "smallcnn", "weights": "trained"})
    bundle = export_head(head, out, ["a", "b", "c"], Sampling("stride", 10.0, window))
    bundle = load_bundle(bundle.root)
    onnx_feats = Extractor(bundle, device="cpu")(frames.reshape(-1, size, size, 3)).reshape(4, window, -1)
    np.testing.assert_allclose(onnx_feats, feats, atol=1e-4)
    np.testing.assert_allclose(Head(bundle, device="cpu")(onnx_feats), expected, atol=1e-5)


def test_end_to_end_refuses_a_head_of_another_feature_size():
    from export.backbones import build_backbone

    backbone = build_backbone("smallcnn", weights="none", input_size=16)
    head = build_head("lstm", 5, 99, CLASSES, units=4, dense=())
    with pytest.raises(ValueError, match="head expects"):
        build_end_to_end(backbone, head, 5)
