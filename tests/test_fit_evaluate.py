"""Windows from cached features, fitting (early stopping, checkpoint, seeds), evaluation figures and report parts."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluate import (
    classification_summary,
    clip_probabilities,
    confusion_matrix,
    evaluate_head,
    most_confused,
    pair_accuracy,
    top_k_accuracy,
)
from training.fit import (
    FitConfig,
    WindowSet,
    build_windows,
    clip_window_rows,
    fit_model,
    holdout_groups,
    make_dataset,
    seed_everything,
)
from training.models import build_head

WINDOW, DIM = 10, 4


def _ramp_clips(n_per_class: int, flip: bool = False, seed: int = 0):
    """Clips whose class is only in the ORDER of their features: 0 = rising ramp, 1 = falling ramp (same values)."""
    rng = np.random.default_rng(seed)
    feats, labels = [], []
    for i in range(2 * n_per_class):
        label = i % 2
        n = int(rng.integers(6, 25))
        ramp = np.linspace(-1, 1, n)
        if label == 1:
            ramp = ramp[::-1]
        f = rng.normal(0, 0.1, (n, DIM)).astype(np.float32)
        f[:, 0] += ramp.astype(np.float32)
        feats.append(f)
        labels.append(1 - label if flip else label)
    return feats, labels


def test_windows_cover_each_clip_loop_short_ones_and_keep_the_end():
    assert clip_window_rows(25, 10, 5).tolist() == [list(range(s, s + 10)) for s in (0, 5, 10, 15)]
    assert clip_window_rows(23, 10, 5)[-1].tolist() == list(range(13, 23))  # last window ends at the last feature
    assert clip_window_rows(4, 10, 5).tolist() == [[0, 1, 2, 3, 0, 1, 2, 3, 0, 1]]  # looped like the engine
    seg = clip_window_rows(40, 4, 1, mode="segments", segment_draws=2, rng=np.random.default_rng(0))
    assert seg.shape == (3, 4) and seg[0].tolist() == [5, 15, 25, 35]  # centres, then random draws per segment
    assert all(10 * k <= r < 10 * (k + 1) for row in seg for k, r in enumerate(row))


def test_window_set_indexes_features_without_copying_per_window():
    feats = [np.arange(12 * DIM, dtype=np.float32).reshape(12, DIM), np.ones((3, DIM), np.float32)]
    ws = build_windows(feats, [0, 1], WINDOW, 2, ["a", "b"])
    assert ws.features.shape == (15, DIM)
    assert ws.clip.tolist() == [0, 0, 1] and ws.labels.tolist() == [0, 0, 1]
    np.testing.assert_array_equal(ws.gather([1])[0], feats[0][2:12])
    np.testing.assert_array_equal(ws.gather([2])[0], np.ones((WINDOW, DIM)))
    x, y = next(iter(make_dataset(ws, 2, batch_size=3, shuffle=False)))
    np.testing.assert_array_equal(x.numpy(), ws.gather())
    np.testing.assert_array_equal(y.numpy(), [[1, 0], [1, 0], [0, 1]])


def test_holdout_groups_is_deterministic_and_never_takes_every_group():
    groups = [f"g{i:02d}" for i in range(1, 21)] * 3
    a = holdout_groups(groups, 0.15, seed=0)
    assert a == holdout_groups(groups, 0.15, seed=0) and len(a) == 3
    assert holdout_groups(["g01", "g02"], 0.9, seed=1) in ({"g01"}, {"g02"})
    assert holdout_groups(["g01"], 0.5, seed=0) == set()


def test_lstm_learns_temporal_order_keeps_best_checkpoint_and_repeats_for_a_seed(tmp_path):
    import keras

    feats, labels = _ramp_clips(12)
    val_feats, val_labels = _ramp_clips(4, seed=1)
    train = build_windows(feats, labels, WINDOW, 3)
    val = build_windows(val_feats, val_labels, WINDOW, 3)
    config = FitConfig(epochs=12, batch_size=16, learning_rate=1e-2, decay=0.0, patience=12, seed=5)
    weights = []
    for run in range(2):
        seed_everything(config.seed)
        head = build_head("lstm", WINDOW, DIM, 2, units=8, dense=(8,), dropout=0.0)
        ckpt = tmp_path / f"best{run}.keras"
        result = fit_model(
            head,
            make_dataset(train, 2, 16, True, seed=5),
            make_dataset(val, 2, 16, False),
            config,
            checkpoint=ckpt,
            progress=False,
        )
        weights.append(head.get_weights())
    assert set(result.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.epochs_run == 12 and 1 <= result.best_epoch <= 12
    best = min(result.history["val_loss"])
    assert result.history["val_loss"][result.best_epoch - 1] == best
    scores = evaluate_head(lambda x: np.asarray(head(x, training=False)), val, ["rising", "falling"])
    assert scores["clip"]["top1"] >= 0.9, scores["clip"]
    reloaded = keras.models.load_model(ckpt)
    np.testing.assert_allclose(
        np.asarray(reloaded(val.gather(), training=False)), np.asarray(head(val.gather(), training=False)), atol=1e-6
    )
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)  # same seed, same model


def test_early_stopping_on_validation_loss_restores_the_best_epoch():
    feats, labels = _ramp_clips(10)
    val_feats, val_labels = _ramp_clips(4, flip=True, seed=1)  # validation labels are the opposite rule
    train = build_windows(feats, labels, WINDOW, 3)
    val = build_windows(val_feats, val_labels, WINDOW, 3)
    config = FitConfig(epochs=30, batch_size=16, learning_rate=1e-2, decay=0.0, patience=2, seed=0)
    seed_everything(0)
    head = build_head("gru", WINDOW, DIM, 2, units=8, dense=(), dropout=0.0)
    result = fit_model(head, make_dataset(train, 2, 16, True), make_dataset(val, 2, 16, False), config, progress=False)
    assert result.stopped_early and result.epochs_run == result.best_epoch + config.patience
    restored = head.evaluate(make_dataset(val, 2, 16, False), verbose=0, return_dict=True)["loss"]
    assert restored == pytest.approx(min(result.history["val_loss"]), rel=1e-4)


def test_fit_config_refuses_nonsense():
    with pytest.raises(ValueError):
        FitConfig(learning_rate=0)
    with pytest.raises(ValueError):
        FitConfig(epochs=0)
    with pytest.raises(ValueError):
        FitConfig(val_fraction=1.0)


def test_metrics_confusion_and_most_confused_pairs():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.5, 0.4, 0.1]], np.float32)
    labels = np.array([0, 1, 1, 1])
    assert top_k_accuracy(probs, labels, 1) == 0.5
    assert top_k_accuracy(probs, labels, 2) == 1.0
    cm = confusion_matrix(probs.argmax(1), labels, 3)
    assert cm.tolist() == [[1, 0, 0], [1, 1, 1], [0, 0, 0]]
    names = ["Basketball", "BasketballDunk", "Biking"]
    pairs = most_confused(cm, names)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("BasketballDunk", "Basketball", 1),
        ("BasketballDunk", "Biking", 1),
    ]
    s = classification_summary(probs, labels, names)
    assert s["top1"] == 0.5 and s["top2"] == 1.0 and s["top5"] is None  # top-5 means nothing with 3 classes
    assert s["per_class"]["BasketballDunk"] == {"accuracy": round(1 / 3, 4), "count": 3}
    assert s["per_class"]["Biking"] == {"accuracy": None, "count": 0}
    pa = pair_accuracy(s, [("Basketball", "BasketballDunk")])
    assert pa == [{"pair": ["Basketball", "BasketballDunk"], "accuracy": 0.5, "swapped": 1, "count": 4}]


def test_clip_prediction_is_the_mean_of_its_windows():
    ws = WindowSet(
        features=np.zeros((1, 1), np.float32),
        index=np.zeros((3, 1), np.int64),
        labels=np.array([1, 1, 0]),
        clip=np.array([0, 0, 1]),
        clip_ids=["a", "b"],
        clip_labels=np.array([1, 0]),
    )
    window_probs = np.array([[0.6, 0.4], [0.0, 1.0], [0.9, 0.1]], np.float32)
    np.testing.assert_allclose(clip_probabilities(window_probs, ws), [[0.3, 0.7], [0.9, 0.1]])


def test_figures_are_real_pngs_with_the_class_names(tmp_path):
    import matplotlib.image as mpimg

    from training.plots import plot_confusion, plot_curves

    names = [f"Class{i}" for i in range(6)]
    cm = np.diag([5, 4, 3, 2, 1, 6]) + 1
    conf = plot_confusion(cm, names, tmp_path / "confusion.png", "test")
    hist = {
        "loss": [1.2, 0.8, 0.5],
        "val_loss": [1.3, 0.9, 0.7],
        "accuracy": [0.4, 0.7, 0.9],
        "val_accuracy": [0.3, 0.6, 0.8],
        "top2": [0.6, 0.9, 1.0],
        "val_top2": [0.5, 0.8, 0.95],
    }
    curves = plot_curves(hist, tmp_path / "curves.png")
    for path in (conf, curves):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(path)
        assert img.shape[0] > 300 and img.shape[1] > 400 and img[..., :3].std() > 0.05  # not blank
    assert not list(tmp_path.glob(".*"))  # no temporary files left
