"""The bundled demo model (models/demo): a small CNN and an LSTM trained end to end on synthetic stick figures.

Nothing is downloaded: the clips are rendered by training.synth, the small CNN starts from random weights, and
it ends trained together with its LSTM head on 40-step windows of frames sampled at the live engine's rate;
then the two are exported separately as the bundle's extractor and head. A `meanpool` head trained the same
way is the baseline: it averages the window over time, so it cannot tell an action from its time-reversal.

A CNN trained from scratch on a few hundred clips memorizes them (each clip's colours and place) instead of
learning the figure, so training starts with a cheap per-frame stage that the renderer makes possible: the CNN
learns to tell the figure's pose (its joints, relative to the hip; training.synth.joint_tracks) and the action
from single frames, on clips whose looks are shared by every action, with random shifts, colour swaps and
mirroring. Then each head is fitted on that CNN's features, then CNN and head are trained end to end.

    python -m training demo-model --out models/demo          # make demo-model

It is evaluated through the exported bundle (ONNX extractor and head, the live engine's preprocessing) on
clips rendered from seeds never used in training, and on the demo stream itself.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streaming.atomic import atomic_dir
from streaming.bundle import MANIFEST, Bundle, load_bundle
from streaming.errors import ActionstreamError
from streaming.preprocess import FrameSpec, preprocess_frame
from streaming.progress import progress_bar
from streaming.sampler import RateSampler, Sampling
from streaming.video import FrameReader

if TYPE_CHECKING:
    from training.fit import FitConfig

DESCRIPTION = "demo model, synthetic stick-figure actions — will not recognize real people"
#: Dataset seeds are derived from the demo seed by these offsets, so train, validation, test and the demo
#: stream never share a clip seed (every clip's seed is a hash of its set's seed, action, group and number).
VAL_SEED_OFFSET = 1_000_003
TEST_SEED_OFFSET = 2_000_029
DEMO_STREAM_SEED_OFFSET = 3_000_017


@dataclass(frozen=True)
class DemoConfig:
    """Everything the demo model depends on; the same config and seed give the same model."""

    seed: int = 0
    #: Training looks (actor, colours, place): every action is rendered once in each look, so a look says
    #: nothing about the action. Validation and test looks are new.
    looks: int = 80
    val_looks: int = 10
    #: Test clips per action (rendered by synth.write_dataset from a seed used nowhere else).
    test_clips_per_class: int = 12
    input_size: int = 48
    sampling: Sampling = field(default_factory=Sampling)
    units: int = 64
    dense: tuple[int, ...] = (64,)
    dropout: float = 0.2
    #: Epochs of the stages (see train_models): CNN on single frames, head on frozen features, end to end.
    frame_epochs: int = 7
    head_epochs: int = 30
    #: Augmented versions of the training clips the heads also see in stage 1.
    augmented_copies: int = 2
    finetune_epochs: int = 1
    patience: int = 4
    frame_batch_size: int = 64
    #: Stage 0 uses every `frame_step`-th sampled frame (neighbours at 10/s are near copies).
    frame_step: int = 2
    #: Weight of the pose loss (mean squared error of hip-relative joints) beside the action's cross-entropy.
    pose_weight: float = 10.0
    batch_size: int = 8
    learning_rate: float = 1e-3
    finetune_learning_rate: float = 3e-4
    decay: float = 1e-4
    #: Steps between training windows of one clip (10 steps at 10/s: a new 4-s window every second).
    hop: int = 10
    #: Steps between evaluation windows; clip accuracy averages them.
    eval_hop: int = 5
    #: Length range of the rendered training and validation clips (test clips: synth's default 2-10 s),
    #: and of each action in demo.avi.
    clip_seconds: tuple[float, float] = (3.0, 6.0)
    demo_seconds_per_action: float = 6.0

    def __post_init__(self) -> None:
        if min(self.looks, self.val_looks, self.test_clips_per_class) < 2:
            raise ValueError(f"need at least 2 looks / clips per action in each set: {self}")
        if self.input_size < 16:
            raise ValueError(f"bad input_size: {self}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dense"] = list(self.dense)
        d["clip_seconds"] = list(self.clip_seconds)
        return d


# ------------------------------------------------------------------------------------------------ frames
def frame_codes(path: Path, frame: FrameSpec, fps: float) -> tuple[np.ndarray, list[int]]:
    """A clip's frames due at `fps` (the live engine's RateSampler), preprocessed, stored as uint8 codes, and
    which decoded frames they are.

    Preprocessed frames are x/127.5 - 1 for integer x, so the integer is kept (4x less memory) and
    codes_to_input redoes the same float32 arithmetic: the values are bit for bit preprocess_frame's.
    """
    sampler = RateSampler(fps)
    out: list[np.ndarray] = []
    picked: list[int] = []
    buf = np.empty((frame.height, frame.width, 3), np.float32)
    for i, (t, bgr) in enumerate(FrameReader(path)):
        if sampler.take(t):
            preprocess_frame(bgr, frame, out=buf)
            out.append(np.rint((buf + 1.0) * 127.5).astype(np.uint8))
            picked.append(i)
    return np.stack(out), picked


def codes_to_input(codes: np.ndarray) -> np.ndarray:
    """uint8 codes -> the extractor's float32 input, with preprocess_frame's exact operations."""
    x = np.multiply(codes, np.float32(1.0 / 127.5), dtype=np.float32)
    x -= np.float32(1.0)
    return x


@dataclass
class ClipSet:
    """Rendered clips as the engine would see them (written, decoded, sampled at the feature rate)."""

    codes: list[np.ndarray]  # per clip: N×s×s×3 uint8 frame codes
    poses: list[np.ndarray]  # per clip: N×(2·joints) hip-relative joint positions, in figure heights
    labels: list[int]
    paths: list[Path]


def _derived_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def render_set(out: Path, seed: int, looks: int, cfg: DemoConfig, progress: bool, desc: str) -> ClipSet:
    """Every action once in each of `looks` looks: clips written as video (resumable), decoded like a stream,
    with the figure's pose for each sampled frame (from the renderer: training.synth.joint_tracks)."""

    from training.synth import ACTIONS, JOINTS, SynthConfig, clip_name, joint_tracks, render_clip, write_clip

    synth = SynthConfig(min_seconds=cfg.clip_seconds[0], max_seconds=cfg.clip_seconds[1])
    frame = FrameSpec(cfg.input_size, cfg.input_size, "RGB", "inception")
    clips = ClipSet([], [], [], [])
    jobs = [(k, a) for k in range(looks) for a in range(len(ACTIONS))]
    for k, a in progress_bar(jobs, desc=desc, unit="clip", enabled=progress):
        action = ACTIONS[a]
        clip_seed, look = _derived_seed(seed, k, a), _derived_seed(seed, k, 1_000_000)
        path = out / action / clip_name(action, k + 1, 1)
        if not path.is_file():
            frames, fps = render_clip(action, clip_seed, synth, appearance_seed=look)
            write_clip(path, frames, fps)
        tracks = joint_tracks(action, clip_seed, synth, appearance_seed=look)
        joints = np.stack([tracks[j] for j in JOINTS], axis=1)  # T×J×2 pixels
        height = float((joints[..., 1].max(axis=1) - joints[..., 1].min(axis=1)).max())
        rel = ((joints - joints[:, :1]) / max(height, 1.0)).reshape(len(joints), -1).astype(np.float32)
        codes, picked = frame_codes(path, frame, cfg.sampling.feature_rate)
        clips.codes.append(codes)
        clips.poses.append(rel[np.minimum(picked, len(rel) - 1)])
        clips.labels.append(a)
        clips.paths.append(path)
    return clips


# ------------------------------------------------------------------------------------------------ training
@dataclass
class TrainedModel:
    kind: str
    backbone: object
    head: object
    fit: dict
    params: int


def _fit_config(cfg: DemoConfig, epochs: int, learning_rate: float, patience: int) -> "FitConfig":
    from training.fit import FitConfig

    return FitConfig(
        epochs=epochs,
        batch_size=cfg.batch_size,
        learning_rate=learning_rate,
        decay=cfg.decay,
        patience=patience,
        seed=cfg.seed,
        train_hop=cfg.hop,
        val_fraction=0.0,
    )


def _frame_features(backbone, ws) -> np.ndarray:
    """The backbone's feature for every stored frame (run once per frame, not once per window)."""
    out = []
    for start in range(0, len(ws.features), 256):
        out.append(np.asarray(backbone(codes_to_input(ws.features[start : start + 256]), training=False)))
    return np.concatenate(out)


def _with_features(ws, features: np.ndarray):
    from training.fit import WindowSet

    return WindowSet(features, ws.index, ws.labels, ws.clip, ws.clip_ids, ws.clip_labels)


def _augment(codes: np.ndarray, poses: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random shift (up to 1/8 of the frame), colour channel order and mirroring (which mirrors the pose too):
    what a clip's colours and place could otherwise teach is noise here."""
    x = codes_to_input(codes)
    y = poses.copy()
    size = x.shape[1]
    pad = max(1, size // 8)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    for b in range(len(x)):
        oy, ox = rng.integers(0, 2 * pad + 1, 2)
        img = padded[b, oy : oy + size, ox : ox + size][..., rng.permutation(3)]
        if rng.random() < 0.5:
            img = img[:, ::-1]
            y[b, 0::2] *= -1.0  # x coordinates
        x[b] = img
    return x, y


def _augment_clip(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random shift, colour order and mirroring applied to every frame of a clip or window (T×h×w×3)."""
    x = codes_to_input(codes)
    size = x.shape[1]
    pad = max(1, size // 8)
    oy, ox = rng.integers(0, 2 * pad + 1, 2)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="edge")
    x = padded[:, oy : oy + size, ox : ox + size][..., rng.permutation(3)]
    return np.ascontiguousarray(x[:, :, ::-1] if rng.random() < 0.5 else x)


def _augmented_windows(rng: np.random.Generator):
    """A make_dataset transform for B×T frame windows: each window gets its own _augment_clip."""

    def transform(batch: np.ndarray) -> np.ndarray:
        return np.stack([_augment_clip(w, rng) for w in batch])

    return transform


def _head_training_set(cnn, clips: ClipSet, ws, copies: int, rng: np.random.Generator):
    """The windows of `ws` over the CNN's features of the clips as they are, plus `copies` augmented versions
    (each clip shifted, recoloured, maybe mirrored as a whole): more looks for the head, at one CNN pass each."""
    from training.fit import WindowSet

    feats = [_frame_features(cnn, ws)]
    for _ in range(copies):
        feats.append(np.concatenate([np.asarray(cnn(_augment_clip(c, rng), training=False)) for c in clips.codes]))
    rows = len(ws.features)
    return WindowSet(
        np.concatenate(feats),
        np.concatenate([ws.index + k * rows for k in range(copies + 1)]),
        np.tile(ws.labels, copies + 1),
        np.tile(ws.clip, copies + 1),
        ws.clip_ids,
        ws.clip_labels,
    )


def _frame_stage(cnn, train, val, classes: int, cfg: DemoConfig, progress: bool) -> dict:
    """Stage 0: the CNN learns pose (hip-relative joints) and action from single augmented frames."""
    import keras
    import tensorflow as tf

    from training.fit import FitConfig, fit_model

    def stack(clips: ClipSet, step: int):
        codes = np.concatenate(clips.codes)[::step]
        poses = np.concatenate(clips.poses)[::step]
        labels = np.concatenate([np.full(len(c), y) for c, y in zip(clips.codes, clips.labels)])[::step]
        return codes, poses, labels.astype(np.int64)

    feats = cnn.outputs[0]
    pose = keras.layers.Dense(int(train.poses[0].shape[1]), name="pose")(feats)
    hidden = keras.layers.Dense(cfg.dense[0] if cfg.dense else 64, activation="relu", name="cls_hidden")(feats)
    action = keras.layers.Dense(classes, activation="softmax", name="action")(hidden)
    model = keras.Model(cnn.inputs, {"pose": pose, "action": action}, name="cnn_on_frames")
    schedule = keras.optimizers.schedules.InverseTimeDecay(cfg.learning_rate, 1, cfg.decay)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss={"pose": "mse", "action": "sparse_categorical_crossentropy"},
        loss_weights={"pose": cfg.pose_weight, "action": 1.0},
        metrics={"action": "accuracy"},
    )
    codes, poses, labels = stack(train, cfg.frame_step)
    v_codes, v_poses, v_labels = stack(val, cfg.frame_step)
    rng = np.random.default_rng(cfg.seed)
    size, n_pose = cfg.input_size, poses.shape[1]

    def augmented(idx: np.ndarray):
        return _augment(codes[idx], poses[idx], rng)

    def load_train(idx):
        x, y = tf.numpy_function(augmented, [idx], [tf.float32, tf.float32], stateful=True)
        x.set_shape((None, size, size, 3))
        y.set_shape((None, n_pose))
        return x, {"pose": y, "action": tf.gather(labels, idx)}

    def load_val(idx):
        x = tf.numpy_function(lambda i: codes_to_input(v_codes[i]), [idx], tf.float32, stateful=False)
        x.set_shape((None, size, size, 3))
        return x, {"pose": tf.gather(v_poses, idx), "action": tf.gather(v_labels, idx)}

    train_ds = (
        tf.data.Dataset.from_tensor_slices(np.arange(len(codes)))
        .shuffle(len(codes), seed=cfg.seed)
        .batch(cfg.frame_batch_size)
        .map(load_train, num_parallel_calls=1, deterministic=True)
        .prefetch(2)
    )
    val_ds = (
        tf.data.Dataset.from_tensor_slices(np.arange(len(v_codes)))
        .batch(cfg.frame_batch_size * 2)
        .map(load_val, num_parallel_calls=1, deterministic=True)
    )
    config = FitConfig(
        epochs=cfg.frame_epochs,
        batch_size=cfg.frame_batch_size,
        learning_rate=cfg.learning_rate,
        decay=cfg.decay,
        patience=cfg.frame_epochs,
        seed=cfg.seed,
    )
    result = fit_model(model, train_ds, val_ds, config, progress=progress)
    return {**result.to_dict(), "frames": len(codes)}


def train_models(
    train: ClipSet, val: ClipSet, classes: int, cfg: DemoConfig, progress: bool
) -> dict[str, TrainedModel]:
    """The lstm model and the meanpool baseline, trained the same way in stages that keep costly passes few:

    0. smallcnn on single frames: pose and action (a frame costs 1/40 of a window; see the module docstring).
    Then for each head, on its own copy of that CNN:
    1. the head alone on the CNN's features (CNN frozen; features computed once per frame: cheap epochs), for
       the clips as they are and `augmented_copies` shifted/recoloured/mirrored versions;
    2. smallcnn + head end to end on 40-step frame windows (each augmented), the way the engine runs them.
    """
    import keras

    from export.backbones import build_backbone
    from training.fit import build_windows, fit_model, make_dataset, seed_everything
    from training.models import build_end_to_end, build_head

    def data(train_ws, val_ws, train_transform=None, val_transform=None):
        return (
            make_dataset(train_ws, classes, cfg.batch_size, shuffle=True, seed=cfg.seed, transform=train_transform),
            make_dataset(val_ws, classes, cfg.batch_size, shuffle=False, transform=val_transform),
        )

    def say(text: str) -> None:
        if progress:
            print(text, flush=True)

    train_ws = build_windows(train.codes, train.labels, cfg.sampling.window, cfg.hop, [str(p) for p in train.paths])
    val_ws = build_windows(val.codes, val.labels, cfg.sampling.window, cfg.hop, [str(p) for p in val.paths])
    seed_everything(cfg.seed)
    cnn = build_backbone("smallcnn", weights="none", input_size=cfg.input_size)
    dim = int(cnn.output_shape[-1])
    say(f"0/2 smallcnn on single frames: pose and action, {sum(len(c) for c in train.codes) // cfg.frame_step} frames")
    pre = _frame_stage(cnn, train, val, classes, cfg, progress)

    models: dict[str, TrainedModel] = {}
    for kind in ("meanpool", "lstm"):
        seed_everything(cfg.seed)
        own_cnn = keras.models.clone_model(cnn)
        own_cnn.set_weights(cnn.get_weights())
        head = build_head(
            kind, cfg.sampling.window, dim, classes, units=cfg.units, dropout=cfg.dropout, dense=cfg.dense
        )
        say(f"1/2 {kind} head on the frozen CNN's features: {len(train_ws)} windows ({len(val_ws)} validation)")
        rng = np.random.default_rng(cfg.seed)
        head_fit = fit_model(
            head,
            *data(
                _head_training_set(own_cnn, train, train_ws, cfg.augmented_copies, rng),
                _with_features(val_ws, _frame_features(own_cnn, val_ws)),
            ),
            _fit_config(cfg, cfg.head_epochs, cfg.learning_rate, cfg.patience * 2),
            progress=progress,
        )
        joint = build_end_to_end(own_cnn, head, cfg.sampling.window)
        say(f"2/2 smallcnn + {kind} end to end")
        fine = fit_model(
            joint,
            *data(train_ws, val_ws, _augmented_windows(rng), codes_to_input),
            _fit_config(cfg, cfg.finetune_epochs, cfg.finetune_learning_rate, cfg.patience),
            progress=progress,
        )
        stages = {"cnn_on_frames": pre, "head_on_frozen_cnn": head_fit.to_dict(), "end_to_end": fine.to_dict()}
        models[kind] = TrainedModel(kind, own_cnn, head, stages, int(joint.count_params()))
    return models


def export_trained(
    model: TrainedModel, out: Path, labels: list[str], cfg: DemoConfig, description: str, provenance: dict
) -> Bundle:
    """The trained CNN as extractor.onnx and its head as head.onnx of a new bundle at `out`."""
    from export.extractor_export import export_extractor
    from export.head_export import export_head

    frame = FrameSpec(cfg.input_size, cfg.input_size, "RGB", "inception")
    export_extractor(
        model.backbone,
        out,
        frame,
        {**provenance, "arch": "smallcnn", "weights": "trained", "input_size": cfg.input_size},
        description,
    )
    return export_head(
        model.head,
        out,
        labels,
        cfg.sampling,
        description,
        {**provenance, "head": model.kind, "units": cfg.units, "dense": list(cfg.dense)},
    )


# ------------------------------------------------------------------------------------------------ evaluation
def evaluate_bundle(
    bundle: Bundle,
    paths: list[Path],
    labels: list[int],
    names: list[str],
    cfg: DemoConfig,
    cache_dir: Path,
    progress: bool,
) -> dict:
    """Clip and window accuracy of a bundle on clips, through its ONNX files as the live engine runs them."""
    from streaming.head import Head
    from training.evaluate import evaluate_head
    from training.features import extract_dataset
    from training.fit import build_windows

    spec = cfg.sampling
    result = extract_dataset(paths, bundle, spec, cache_dir, device="cpu", progress=progress)
    if result.failed:
        raise ActionstreamError(f"{len(result.failed)} evaluation clips did not decode: {result.failed[0]}")
    keys = [str(p) for p in paths]
    ws = build_windows([result.features[k].feats for k in keys], labels, cfg.sampling.window, cfg.eval_hop, keys)
    return evaluate_head(Head(bundle, device="cpu"), ws, names)


def evaluate_demo_stream(bundle: Bundle, path: Path, names: list[str], cfg: DemoConfig, cache_dir: Path) -> dict:
    """Window accuracy over the demo stream: every window (hop 1) that lies wholly inside one action's segment."""
    from streaming.head import Head
    from training.features import extract_dataset
    from training.synth import demo_schedule

    spec = cfg.sampling
    clip = extract_dataset([path], bundle, spec, cache_dir, device="cpu", progress=False).features[str(path)]
    schedule = demo_schedule(cfg.demo_seconds_per_action)
    starts = range(0, len(clip.feats) - cfg.sampling.window + 1)
    windows, truth = [], []
    for s in starts:
        t0, t1 = clip.times[s], clip.times[s + cfg.sampling.window - 1]
        inside = [a for a0, a1, a in schedule if a0 <= t0 and t1 < a1]
        if inside:
            windows.append(clip.feats[s : s + cfg.sampling.window])
            truth.append(names.index(inside[0]))
    if not windows:
        return {"windows": 0}
    probs = Head(bundle, device="cpu")(np.stack(windows))
    pred = probs.argmax(axis=1)
    truth_arr = np.asarray(truth)
    per_action = {
        names[i]: round(float(np.mean(pred[truth_arr == i] == i)), 4)
        for i in sorted(set(truth))
        if (truth_arr == i).any()
    }
    return {
        "windows": len(windows),
        "window_accuracy": round(float(np.mean(pred == truth_arr)), 4),
        "per_action": per_action,
        "note": "windows lying wholly inside one action's segment of demo.avi, one per feature step",
    }


def single_core_speed(bundle: Bundle, repeats: int = 20) -> dict:
    """Milliseconds per frame (extractor, batch 1) and per window (head) on one CPU thread."""
    from streaming.extractor import Extractor
    from streaming.head import Head

    m = bundle.manifest
    ext = Extractor(bundle, device="cpu", threads=1)
    head = Head(bundle, device="cpu", threads=1)
    frame = np.zeros((1, m.frame.height, m.frame.width, 3), np.float32)
    window = np.zeros((1, m.sampling.window, m.feature_size), np.float32)
    timings = {}
    for name, fn, x in (("extractor_ms_per_frame", ext, frame), ("head_ms_per_window", head, window)):
        fn(x)
        start = time.perf_counter()
        for _ in range(repeats):
            fn(x)
        timings[name] = round((time.perf_counter() - start) / repeats * 1000, 3)
    # frames/s one core sustains at the bundle's rate: an extractor call per sampled frame, a head call per step
    per_step_ms = timings["extractor_ms_per_frame"] + timings["head_ms_per_window"]
    timings["realtime_factor_at_feature_rate"] = round(1000.0 / (per_step_ms * m.sampling.feature_rate), 1)
    return timings


# ------------------------------------------------------------------------------------------------ the command
@contextlib.contextmanager
def _work_dir(work: Path | None) -> Iterator[Path]:
    if work is not None:
        work.mkdir(parents=True, exist_ok=True)
        yield work
        return
    with tempfile.TemporaryDirectory(prefix="actionstream-demo-") as tmp:
        yield Path(tmp)


def _clips(root: Path) -> tuple[list[Path], list[int], list[str]]:
    from streaming.datasets import discover

    ds = discover(root, root / "ucfTrainTestlist" / "classInd.txt")
    return [c.path for c in ds.clips], [ds.classes.index(c.label) for c in ds.clips], ds.classes


def make_demo_model(
    out: Path,
    cfg: DemoConfig = DemoConfig(),
    work: Path | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Render the data, train lstm (and the meanpool baseline), export, evaluate; write the bundle and its
    report (report.json, confusion.png, curves.png) and the demo stream (demo.avi) into `out`."""
    from training.evaluate import pair_accuracy
    from training.fit import write_json_atomic
    from training.plots import join_histories, plot_confusion, plot_curves
    from training.synth import ACTIONS, REVERSED_PAIRS, write_dataset, write_demo_clip

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ActionstreamError(f"{out}: is a file; --out must be a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ActionstreamError(f"{out}: folder exists and is not a bundle; choose a new or empty folder")
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 1)
        return now

    with _work_dir(work) as wd:
        t = time.perf_counter()
        train = render_set(wd / f"train-s{cfg.seed}", cfg.seed, cfg.looks, cfg, progress, "train clips")
        val = render_set(
            wd / f"val-s{cfg.seed + VAL_SEED_OFFSET}",
            cfg.seed + VAL_SEED_OFFSET,
            cfg.val_looks,
            cfg,
            progress,
            "validation clips",
        )
        test_seed = cfg.seed + TEST_SEED_OFFSET
        test_root = write_dataset(
            wd / f"test-s{test_seed}-n{cfg.test_clips_per_class}",
            seed=test_seed,
            clips_per_class=cfg.test_clips_per_class,
            groups=cfg.test_clips_per_class,
            actions=ACTIONS,
            progress=progress,
        )
        test_paths, test_labels, names = _clips(test_root)
        data = {
            "train": (cfg.seed, len(train.paths)),
            "val": (cfg.seed + VAL_SEED_OFFSET, len(val.paths)),
            "test": (test_seed, len(test_paths)),
        }
        t = lap("render_and_decode_s", t)

        trained = train_models(train, val, len(names), cfg, progress)
        t = lap("fit_s", t)
        del train, val

        provenance = {
            "demo_model": True,
            "trained_on": "synthetic stick-figure clips (training.synth), no real "
            "people; it will not recognize real people",
            "seed": cfg.seed,
            "train_clips": data["train"][1],
            "command": "python -m training demo-model",
            "config": cfg.to_dict(),
        }
        with atomic_dir(out, check=load_bundle) as staged:  # replaces `out` only once complete and loadable
            bundle = export_trained(trained["lstm"], staged, names, cfg, DESCRIPTION, provenance)
            baseline_bundle = export_trained(
                trained["meanpool"],
                wd / "baseline-bundle",
                names,
                cfg,
                "demo baseline (meanpool), not shipped",
                provenance,
            )
            t = lap("export_s", t)

            cache = wd / "features"
            results = {"lstm": evaluate_bundle(bundle, test_paths, test_labels, names, cfg, cache, progress)}
            results["meanpool"] = evaluate_bundle(baseline_bundle, test_paths, test_labels, names, cfg, cache, progress)
            demo_path = write_demo_clip(
                staged / "demo.avi",
                seed=cfg.seed + DEMO_STREAM_SEED_OFFSET,
                seconds_per_action=cfg.demo_seconds_per_action,
            )
            demo_eval = {"lstm": evaluate_demo_stream(bundle, demo_path, names, cfg, cache)}
            demo_eval["meanpool"] = evaluate_demo_stream(baseline_bundle, demo_path, names, cfg, cache)
            t = lap("evaluate_s", t)

            pairs = []
            lstm_pairs = pair_accuracy(results["lstm"]["clip"], REVERSED_PAIRS)
            base_pairs = pair_accuracy(results["meanpool"]["clip"], REVERSED_PAIRS) if "meanpool" in results else []
            for i, p in enumerate(lstm_pairs):
                row = {
                    "pair": p["pair"],
                    "lstm_accuracy": p["accuracy"],
                    "lstm_swapped": p["swapped"],
                    "clips": p["count"],
                }
                if base_pairs:
                    row.update(meanpool_accuracy=base_pairs[i]["accuracy"], meanpool_swapped=base_pairs[i]["swapped"])
                pairs.append(row)
            bundle_files = [p for p in staged.iterdir() if p.name != "demo.avi"]
            report = {
                "description": DESCRIPTION,
                "what": (
                    "smallcnn trained end to end with an lstm head on synthetic stick-figure clips, then "
                    "exported as extractor.onnx + head.onnx; evaluated through the ONNX bundle"
                ),
                "classes": names,
                "reversed_pairs": [list(p) for p in REVERSED_PAIRS],
                "model": {
                    "arch": "smallcnn",
                    "input_size": cfg.input_size,
                    "feature_size": bundle.manifest.feature_size,
                    "head": "lstm",
                    "units": cfg.units,
                    "dense": list(cfg.dense),
                    "params": trained["lstm"].params,
                },
                "sampling": {
                    "mode": cfg.sampling.mode,
                    "fps": cfg.sampling.feature_rate,
                    "window": cfg.sampling.window,
                    "window_seconds": cfg.sampling.window / cfg.sampling.feature_rate,
                },
                "data": {
                    name: {"seed": seed, "clips": n, "clips_per_class": n // len(names)}
                    for name, (seed, n) in data.items()
                },
                "test_note": (
                    f"test clips are rendered by training.synth.write_dataset from set seed {test_seed}, "
                    "used nowhere else (each clip's seed hashes its set's seed, action, group and number; "
                    "training and validation clips hash other seeds), with new looks and the synth "
                    "default 2-10 s lengths"
                ),
                "clip": results["lstm"]["clip"],
                "window": results["lstm"]["window"],
                "baseline": (
                    {
                        "head": "meanpool",
                        "params": trained["meanpool"].params,
                        "clip": results["meanpool"]["clip"],
                        "window": results["meanpool"]["window"],
                    }
                    if "meanpool" in results
                    else None
                ),
                "reversed_pair_accuracy": pairs,
                "demo_stream": {"file": "demo.avi", "seconds_per_action": cfg.demo_seconds_per_action, **demo_eval},
                "fit": {
                    kind: {stage: {k: v for k, v in r.items() if k != "checkpoint"} for stage, r in m.fit.items()}
                    for kind, m in trained.items()
                },
                "bundle_bytes": sum(p.stat().st_size for p in bundle_files if p.is_file()),
                "speed_one_core": single_core_speed(bundle),
                "timings": timings,
                "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
                "config": cfg.to_dict(),
            }
            _ = lap("total_before_plots_s", started)
            plot_confusion(
                report["clip"]["confusion"],
                names,
                staged / "confusion.png",
                f"demo model (smallcnn + lstm), held-out synthetic clips: clip accuracy {report['clip']['top1']:.1%}",
            )
            fits = trained["lstm"].fit
            frame_hist = {k.replace("action_", ""): v for k, v in fits["cnn_on_frames"]["history"].items()}
            history, stages = join_histories(
                [
                    ("0 cnn on frames", frame_hist),
                    ("1 lstm on frozen cnn", fits["head_on_frozen_cnn"]["history"]),
                    ("2 cnn+lstm end to end", fits["end_to_end"]["history"]),
                ]
            )
            plot_curves(
                history,
                staged / "curves.png",
                "demo model: smallcnn on frames, lstm on its features, then both end to end",
                stages,
            )
            timings["total_s"] = round(time.perf_counter() - started, 1)
            write_json_atomic(staged / "report.json", report)
    log(summary_lines(report))
    return report


def summary_lines(report: dict) -> str:
    """A few lines for the terminal: accuracy of both heads, the reversed pairs, size and time."""
    lines = [
        f"demo model: clip accuracy {report['clip']['top1']:.1%} on {report['clip']['count']} held-out clips "
        f"(window {report['window']['top1']:.1%})"
    ]
    if report.get("baseline"):
        lines.append(f"meanpool baseline: clip accuracy {report['baseline']['clip']['top1']:.1%}")
    for row in report["reversed_pair_accuracy"]:
        base = f", meanpool {row['meanpool_accuracy']:.1%}" if "meanpool_accuracy" in row else ""
        lines.append(f"  {row['pair'][0]}/{row['pair'][1]}: lstm {row['lstm_accuracy']:.1%}{base}")
    demo = report["demo_stream"].get("lstm", {})
    if demo.get("windows"):
        lines.append(f"demo stream: window accuracy {demo['window_accuracy']:.1%} over {demo['windows']} windows")
    lines.append(
        f"bundle {report['bundle_bytes'] / 1e6:.2f} MB, {report['speed_one_core']['extractor_ms_per_frame']} "
        f"ms/frame on one core; total {report['timings']['total_s']} s"
    )
    return "\n".join(lines)
