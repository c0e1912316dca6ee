"""Train the pose head on a motion data set: a small LSTM over the pose features with velocities computed inside.

The bundle's per-frame feature stays the pose vector (43-d); the model itself appends x[t] - x[t-1] (0 at t=0)
to each step with plain Keras layers (Cropping1D, Subtract, ZeroPadding1D, Permute, Concatenate), so it saves,
exports to ONNX and runs in the live engine unchanged. The throwaway prototype of issue 13 lost 10 points
without velocities.

    result = train_motion_head(Path("data/motion"), Path("runs/motion"), seed=0)
    result["model"], result["history"], result["per_class"]       # Keras head, fit history, held-out accuracy
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streaming.pose_features import feature_size as pose_feature_size
from streaming.pose_features import has_placement
from streaming.pose_spec import FEATURE_JOINTS, MIRRORED
from training.fit import FitConfig, build_windows, fit_model, make_dataset, seed_everything, write_json_atomic
from training.models import FEATURES_INPUT
from training.motion import WINDOW_STEPS
from training.motion_dataset import read_motion_dataset

if TYPE_CHECKING:  # pragma: no cover
    import keras

POSE_FEATURES = pose_feature_size()


def motion_inputs(
    x_in: "keras.KerasTensor", feature_size: int, prefix: str = "", directions: bool = False, positions: bool = True
) -> "keras.KerasTensor":
    """Each step's [x, x[t] - x[t-1]] (0 at t=0), in plain Keras layers that export to ONNX. With the placement
    channels (streaming.pose_features), the raw hip offset is left out and only its change goes on: where a person
    stands in the frame says nothing about what they do, how the hips move does. `directions` also appends the
    bones' image directions and their change (training.bone_directions: the pose without the bones' lengths);
    `positions` False (with `directions`) leaves the positions out: [directions, their change, every channel's
    change]. `prefix` names the layers apart when one model builds this twice."""
    import keras

    if not (positions or directions):
        raise ValueError("a head sees the positions, the bones' directions, or both")
    parts = []
    if directions:
        from training.bone_directions import BoneDirections

        bones = BoneDirections(name=f"{prefix}bone_directions")(x_in)
        parts = [bones, step_change(bones, f"{prefix}bone_")]
    if not positions:
        return keras.layers.Concatenate(name=f"{prefix}with_velocity")([*parts, step_change(x_in, prefix)])
    x = x_in
    if has_placement(feature_size):  # drop the last two channels (hip x, y): Cropping1D crops the middle axis
        x = keras.layers.Permute((2, 1), name=f"{prefix}channels_first")(x)
        x = keras.layers.Cropping1D((0, 2), name=f"{prefix}without_hip_offset")(x)
        x = keras.layers.Permute((2, 1), name=f"{prefix}steps_first")(x)
    return keras.layers.Concatenate(name=f"{prefix}with_velocity")([x, step_change(x_in, prefix), *parts])


def step_change(x: "keras.KerasTensor", prefix: str = "") -> "keras.KerasTensor":
    """x[t] - x[t-1] along the steps, 0 at t=0."""
    import keras

    later = keras.layers.Cropping1D((1, 0), name=f"{prefix}x_next")(x)
    earlier = keras.layers.Cropping1D((0, 1), name=f"{prefix}x_prev")(x)
    vel = keras.layers.Subtract(name=f"{prefix}velocity")([later, earlier])
    return keras.layers.ZeroPadding1D((1, 0), name=f"{prefix}velocity_pad")(vel)


def mirror_matrix(feature_size: int, joints: tuple[int, ...] = FEATURE_JOINTS) -> np.ndarray:
    """(feature_size, feature_size) matrix M: features @ M are the features of the same frame flipped left to
    right (x negated, left and right joints swapped, the hip offset negated). A head can average its answers
    for a window and its mirror image, since people do every action with either side."""
    placement = has_placement(feature_size, joints)  # also refuses sizes that are not pose features of these joints
    m = np.zeros((feature_size, feature_size), np.float32)
    for k, j in enumerate(joints):
        src = joints.index(MIRRORED.get(j, j))
        for c, sign in enumerate((-1.0, 1.0, 1.0)):  # x, y, visibility
            m[3 * src + c, 3 * k + c] = sign
    for c in range(3 * len(joints), feature_size):  # presence, then size, hip x, hip y
        m[c, c] = 1.0
    if placement:
        m[-2, -2] = -1.0  # the hip's x offset from the frame centre
    return m


def build_motion_head(
    classes: int,
    window: int = WINDOW_STEPS,
    feature_size: int = POSE_FEATURES,
    units: int = 96,
    dense: int = 64,
    dropout: float = 0.3,
    directions: bool = False,
    positions: bool = True,
) -> "keras.Model":
    """(window, feature_size) pose features -> class probabilities, through motion_inputs and one LSTM."""
    import keras

    x_in = keras.Input((window, feature_size), name=FEATURES_INPUT)
    x = motion_inputs(x_in, feature_size, directions=directions, positions=positions)
    x = keras.layers.LSTM(units, dropout=dropout, name="lstm_rnn")(x)
    x = keras.layers.Dense(dense, activation="relu", name="dense_0")(x)
    x = keras.layers.Dropout(dropout, name="dropout_0")(x)
    probs = keras.layers.Dense(classes, activation="softmax", name="probs")(x)
    return keras.Model(x_in, probs, name="head_pose_lstm")


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> np.ndarray:
    out = np.zeros((classes, classes), np.int64)
    np.add.at(out, (y_true, y_pred), 1)
    return out


def train_motion_head(
    dataset_dir: Path,
    out_dir: Path,
    seed: int = 0,
    epochs: int = 60,
    batch_size: int = 64,
    learning_rate: float = 2e-3,
    units: int = 96,
    patience: int = 10,
    progress: bool = False,
) -> dict[str, Any]:
    """Fit on the data set's train list (15 % of it held out for early stopping), measure on its test list.

    Writes OUT/head.keras, OUT/head.meta.json (labels, window, sampling) and OUT/motion_report.json. Returns
    {"model", "history", "labels", "accuracy", "per_class", "confusion", "fit"}.
    """
    from export.head_export import write_head_meta
    from streaming.sampler import Sampling
    from training.fit import save_model_atomic

    data = read_motion_dataset(dataset_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = len(data.names)
    window = int(data.features[0].shape[0])
    train_idx = np.flatnonzero(~data.is_test)
    test_idx = np.flatnonzero(data.is_test)
    rng = np.random.default_rng(seed)
    val_mask = rng.random(len(train_idx)) < 0.15
    fit_idx, val_idx = train_idx[~val_mask], train_idx[val_mask]

    def windows(idx: np.ndarray):
        return build_windows([data.features[i] for i in idx], data.labels[idx], window=window, hop=window)

    config = FitConfig(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, decay=1e-4, patience=patience, seed=seed
    )
    seed_everything(seed)
    model = build_motion_head(classes, window, int(data.features[0].shape[1]), units=units)
    train_ws, val_ws, test_ws = windows(fit_idx), windows(val_idx), windows(test_idx)
    result = fit_model(
        model,
        make_dataset(train_ws, classes, batch_size, shuffle=True, seed=seed),
        make_dataset(val_ws, classes, batch_size, shuffle=False),
        config,
        checkpoint=None,
        classes=classes,
        progress=progress,
    )
    probs = model.predict(test_ws.gather(), verbose=0, batch_size=256)
    pred = probs.argmax(axis=1)
    truth = test_ws.labels
    cm = confusion(truth, pred, classes)
    per_class = {name: float(cm[k, k] / max(cm[k].sum(), 1)) for k, name in enumerate(data.names)}
    accuracy = float((pred == truth).mean())
    save_model_atomic(model, out_dir / "head.keras")
    write_head_meta(out_dir / "head.keras", data.names, Sampling("stride", 10.0, window))
    report = {
        "dataset": str(dataset_dir),
        "seed": seed,
        "train_clips": len(fit_idx),
        "val_clips": len(val_idx),
        "test_clips": len(test_idx),
        "accuracy": accuracy,
        "per_class": per_class,
        "confusion": cm.tolist(),
        "labels": data.names,
        "fit": result.to_dict(),
    }
    write_json_atomic(out_dir / "motion_report.json", report)
    return {"model": model, "history": result.history, **{k: v for k, v in report.items() if k != "fit"}, "fit": result}


def _main() -> None:  # pragma: no cover - a manual entry until the CLI grows a `motion-train` command
    import argparse

    ap = argparse.ArgumentParser(description="train the pose head on a motion data set")
    ap.add_argument("dataset", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=60)
    args = ap.parse_args()
    res = train_motion_head(args.dataset, args.out, args.seed, args.epochs, progress=True)
    print(json.dumps({"accuracy": res["accuracy"], "per_class": res["per_class"]}, indent=1))


if __name__ == "__main__":  # pragma: no cover
    _main()
