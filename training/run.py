"""A training run, stage by stage, in one self-contained folder:

    RUN_DIR/config.json    what was asked (data, split, classes, backbone, head, sampling, fit settings)
    RUN_DIR/bundle/        extractor.onnx (+ head.onnx once fitted) and manifest.json: what the engine loads
    RUN_DIR/features/      the feature cache (one file per clip; a rerun recomputes nothing)
    RUN_DIR/extract.json   which clips were used, missing or undecodable; extraction speed
    RUN_DIR/head.keras     the best head (atomic checkpoint), head.meta.json its labels/window/sampling
    RUN_DIR/history.json   loss and accuracies per epoch
    RUN_DIR/report.json, confusion.png, curves.png

    config = RunConfig(data="data/UCF101", splits="data/UCF101/ucfTrainTestlist", classes="seed-final")
    prepare(config, run_dir); extract(run_dir); fit(run_dir); evaluate(run_dir)   # = run(config, run_dir)

Each stage reads what the previous one wrote, so `python -m training fit RUN_DIR` can refit a head on the
cached features without touching the videos. No stage holds the data set's features in memory: extraction
writes them clip by clip, and fitting and evaluation copy them from the cache into one temporary file that
batches are read from (training.features.FeatureRows), so a full UCF101 run fits a 16 GB laptop.
`extract(run_dir, ray="")` extracts on Ray (training.ray_extract).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from streaming.bundle import MANIFEST, load_bundle
from streaming.clip_features import ClipFeatures
from streaming.errors import ActionstreamError
from streaming.sampler import Sampling
from training.features import ExtractResult, FeatureRows
from training.fit import FitConfig, write_json_atomic

CONFIG, EXTRACT, HISTORY, REPORT = "config.json", "extract.json", "history.json", "report.json"
BUNDLE, FEATURES, CHECKPOINT = "bundle", "features", "head.keras"
SPLIT_DIR_NAME = "ucfTrainTestlist"
#: The report's LSTM width for InceptionV3's 2048-d features; the small CNN's 256-d features need far less.
DEFAULT_UNITS = {"inceptionv3": 2048, "smallcnn": 128}
#: Random segment draws per clip added to the training windows in `segments` mode (augmentation).
SEGMENT_DRAWS = 4
#: How many missing or failed file names a report lists (the counts are always complete).
LIST_AT_MOST = 20


@dataclass(frozen=True)
class RunConfig:
    """What a run trains on and how; saved as RUN_DIR/config.json."""

    data: str
    splits: str | None = None
    split: str = "1"
    classes: str | None = None
    arch: str = "inceptionv3"
    weights: str = "imagenet"
    #: A bundle whose extractor the run uses as it is (the pose pipeline, a trained small CNN) instead of
    #: exporting `arch`; `arch` then names it ("pose" for the bundled pose extractor).
    extractor: str | None = None
    input_size: int | None = None
    head: str = "lstm"
    units: int | None = None
    dense: tuple[int, ...] = (512,)
    dropout: float = 0.5
    sampling: Sampling = field(default_factory=Sampling)
    #: Steps between evaluation windows of one clip (clip accuracy averages them).
    eval_hop: int = 10
    device: str = "auto"
    cache: str | None = None
    fit: FitConfig = field(default_factory=FitConfig)

    def __post_init__(self) -> None:
        from training.models import HEADS

        if self.head not in HEADS:
            raise ActionstreamError(f"unknown head {self.head!r}; choose one of {', '.join(HEADS)}")
        if self.eval_hop < 1:
            raise ActionstreamError(f"the evaluation hop must be positive, got {self.eval_hop}")
        if self.units is not None and self.units < 1:
            raise ActionstreamError(f"--units must be >= 1, got {self.units}")

    @property
    def head_units(self) -> int:
        return self.units or DEFAULT_UNITS.get(self.arch, 256)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dense"] = list(self.dense)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = dict(d)
        d["fit"] = FitConfig(**d.get("fit", {}))
        if isinstance(d.get("sampling"), dict):
            d["sampling"] = Sampling(**d["sampling"])
        else:  # config.json of runs made before the one sampling contract: sampling, fps and window apart
            d["sampling"] = Sampling(d.get("sampling", "stride"), d.pop("fps", 10.0), d.pop("window", 40))
        d["dense"] = tuple(d.get("dense", (512,)))
        return cls(**d)


def find_splits_dir(data: Path) -> Path | None:
    """ucfTrainTestlist inside the data folder or beside it (UCF101's and `synth`'s layout), else None."""
    for candidate in (data / SPLIT_DIR_NAME, data.parent / SPLIT_DIR_NAME):
        if candidate.is_dir():
            return candidate
    return None


def load_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise ActionstreamError(
            f"{run_dir}: not a training run folder (no {CONFIG}); start one with "
            "`python -m training run --data DIR --out RUN_DIR`"
        )
    try:
        return RunConfig.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ActionstreamError(f"{path}: unreadable run config ({exc})") from exc


# ------------------------------------------------------------------------------------------------ data
@dataclass
class RunData:
    classes: list[str]
    train: list  # streaming.datasets.Clip
    test: list
    split: object  # streaming.splits.Split
    root: Path


#: A run whose clip accuracy is below this multiple of chance ends with a loud warning.
NEAR_CHANCE = 1.5
#: Groups given to motion-data-set clips (clip number modulo this), so validation holds out whole groups.
MOTION_GROUPS = 7


def motion_dataset_root(data: str | Path) -> Path | None:
    """`data` when it is a motion data set (`python -m training motion`): pose features, no videos."""
    manifest = Path(data) / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        kind = json.loads(manifest.read_text()).get("kind")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None
    return Path(data) if kind == "motion" else None


def _select_motion_data(root: Path, config: RunConfig) -> RunData:
    from streaming.datasets import Clip
    from streaming.splits import Split
    from training.motion_dataset import read_motion_dataset

    ds = read_motion_dataset(root)
    clips, test_flags = [], []
    for rel, label, is_test in zip(ds.clip_ids, ds.labels, ds.is_test, strict=True):
        stem = Path(rel).stem
        number = int(stem.rsplit("_", 1)[-1]) if stem.rsplit("_", 1)[-1].isdigit() else 0
        clips.append(Clip(root / rel, ds.names[int(label)], f"g{number % MOTION_GROUPS + 1:02d}", stem))
        test_flags.append(bool(is_test))
    train = [c for c, t in zip(clips, test_flags, strict=True) if not t]
    test = [c for c, t in zip(clips, test_flags, strict=True) if t]
    split = Split(train=train, test=test, name="motion", missing=[], group_leaks=0)
    return RunData(classes=list(ds.names), train=train, test=test, split=split, root=root)


def select_data(config: RunConfig) -> RunData:
    """Discover clips, narrow to the classes, split; every user mistake is one ActionstreamError line."""
    from streaming.datasets import discover, select_classes
    from streaming.splits import make_split

    motion = motion_dataset_root(config.data)
    if motion is not None:
        if config.extractor is None:
            raise ActionstreamError(f"{config.data} is a motion data set (pose features): train on it with --arch pose")
        return _select_motion_data(motion, config)
    data = Path(config.data)
    splits = Path(config.splits) if config.splits else None
    if splits is not None and not splits.is_dir():
        raise ActionstreamError(f"{splits}: no such split folder (UCF101's {SPLIT_DIR_NAME})")
    class_ind = splits / "classInd.txt" if splits is not None and (splits / "classInd.txt").is_file() else None
    dataset = select_classes(discover(data, class_ind), config.classes)
    if len(dataset.classes) < 2:
        raise ActionstreamError(f"need at least 2 classes to train a classifier, got {dataset.classes}")
    absent = [name for name, n in dataset.class_counts().items() if n == 0]
    if absent:
        raise ActionstreamError(
            f"{len(absent)} of {len(dataset.classes)} classes have no clips under {dataset.root} "
            f"(e.g. {', '.join(absent[:3])}); choose classes that do with --classes"
        )
    split = make_split(dataset, config.split, splits)
    if not split.train or not split.test:
        hint = "use more clips per class" if split.name in ("seed", "first-90") else "try --split seed"
        raise ActionstreamError(
            f"split {split.name} leaves {len(split.train)} training and {len(split.test)} test "
            f"clips for these classes; both must be non-empty ({hint})"
        )
    empty = [c for c in dataset.classes if not any(clip.label == c for clip in split.train)]
    if empty:
        raise ActionstreamError(
            f"no training clips for {', '.join(empty[:5])} in split {split.name}; drop those "
            "classes (--classes) or use another split"
        )
    return RunData(
        classes=list(dataset.classes), train=list(split.train), test=list(split.test), split=split, root=dataset.root
    )


def prepare(config: RunConfig, run_dir: Path) -> RunData:
    """Check the data and write RUN_DIR/config.json (the splits folder is found automatically when not given)."""
    run_dir = Path(run_dir)
    if run_dir.is_file():
        raise ActionstreamError(f"{run_dir}: is a file; --out must be a folder")
    if config.splits is None and config.split in ("1", "2", "3") and motion_dataset_root(config.data) is None:
        found = find_splits_dir(Path(config.data))
        if found is None and Path(config.data).is_dir():
            raise ActionstreamError(
                f"split {config.split} is an official UCF101 split but {config.data} has no "
                f"{SPLIT_DIR_NAME} folder; give --splits DIR, or use --split seed or first-90"
            )
        config = replace(config, splits=str(found) if found else None)
    data = select_data(config)
    run_dir.mkdir(parents=True, exist_ok=True)
    existing = run_dir / CONFIG
    if existing.is_file():
        old = load_config(run_dir)
        if (old.data, old.arch, old.weights, old.input_size, old.extractor) != (
            config.data,
            config.arch,
            config.weights,
            config.input_size,
            config.extractor,
        ):
            raise ActionstreamError(f"{run_dir} holds a run on other data or another backbone; choose a new --out")
    write_json_atomic(existing, config.to_dict())
    return data


# ------------------------------------------------------------------------------------------------ stages
def _motion_features(clips: list, bundle) -> ExtractResult:
    """A motion data set's clips are already pose features: read them, as extraction would have given them."""
    if bundle.manifest.extractor_kind != "pose":
        raise ActionstreamError("a motion data set holds pose features: train on it with --arch pose")
    features = {}
    for c in clips:
        with np.load(c.path) as z:
            feats = z["features"].astype(np.float32)
            times = z["times"].astype(np.float64)
        features[str(c.path)] = ClipFeatures(str(c.path), times, feats, len(feats), "motion data set")
    return ExtractResult(features=features, failed=[], computed=0, cached=len(features), seconds=0.0, frames=0)


def _extract_features(config: RunConfig, run_dir: Path, clips: list, progress: bool, ray: str | None = None):
    """Every clip's features, cached; the result reads them from the cache when asked (none held in memory).
    `ray`: extract on the Ray cluster at this address ("": one on this machine) instead of here."""
    from training.features import extract_dataset

    bundle = load_bundle(run_dir / BUNDLE)
    if motion_dataset_root(config.data) is not None:
        return _motion_features(clips, bundle)
    cache = Path(config.cache) if config.cache else run_dir / FEATURES
    paths = [c.path for c in clips]
    if ray is not None:
        from training.ray_extract import extract_dataset_ray

        return extract_dataset_ray(
            paths, bundle, config.sampling, cache, address=ray or None, device=config.device, progress=progress
        )
    return extract_dataset(
        paths, bundle, config.sampling, cache, device=config.device, progress=progress, in_memory=False
    )


def extract(run_dir: Path, progress: bool = True, log: Callable[[str], None] = print, ray: str | None = None) -> dict:
    """Export the backbone into RUN_DIR/bundle (once) and cache every train and test clip's features
    (on the Ray cluster at `ray` when given; "" is one on this machine)."""
    from export.extractor_export import copy_extractor, export_backbone
    from training.fit import seed_everything

    run_dir = Path(run_dir)
    config = load_config(run_dir)
    data = select_data(config)
    bundle_dir = run_dir / BUNDLE
    started = time.perf_counter()
    if not (bundle_dir / MANIFEST).is_file() and config.extractor:
        copy_extractor(config.extractor, bundle_dir)
    elif not (bundle_dir / MANIFEST).is_file():
        seed_everything(config.fit.seed)  # random (--weights none) backbones repeat for a seed
        export_backbone(config.arch, config.weights, bundle_dir, config.input_size)
    export_s = time.perf_counter() - started
    result = _extract_features(config, run_dir, data.train + data.test, progress, ray)
    failed = [{"path": p, "reason": why} for p, why in result.failed]
    summary = {
        "classes": data.classes,
        "split": data.split.name,
        "train_clips": len(data.train),
        "test_clips": len(data.test),
        "failed": failed,
        "computed": result.computed,
        "cached": result.cached,
        "extract_seconds": round(result.seconds, 2),
        "frames": result.frames,
        "frames_per_second": round(result.frames_per_second, 1),
        "backbone_export_seconds": round(export_s, 2),
    }
    write_json_atomic(run_dir / EXTRACT, summary)
    log(
        f"features: {result.computed} clips computed, {result.cached} from the cache, {len(failed)} failed "
        f"({result.frames_per_second:.0f} frames/s)"
    )
    return summary


def _windows(config: RunConfig, run_dir: Path, clips: list, classes: list[str], hop: int, train: bool, progress: bool):
    from training.fit import build_windows

    result = _extract_features(config, run_dir, clips, progress)  # all cached after `extract`: no video is read
    used = [c for c in clips if str(c.path) in result.features]
    if not used:
        raise ActionstreamError("no clip of this set could be decoded; see the failed files listed above")
    rows = FeatureRows.stack(result.features, [str(c.path) for c in used], run_dir)  # one clip in memory at a time
    labels = [classes.index(c.label) for c in used]
    draws = SEGMENT_DRAWS if train and config.sampling.mode == "segments" else 0
    ws = build_windows(
        [range(n) for n in rows.lengths],  # the rows themselves are in `rows`; windows only need the lengths
        labels,
        config.sampling.window,
        hop,
        [str(c.path) for c in used],
        mode=config.sampling.mode,
        segment_draws=draws,
        seed=config.fit.seed,
        stacked=rows,
    )
    return ws, used


def fit(run_dir: Path, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Fit the head on cached features (validation: held-out training groups), export it into the bundle."""
    from export.head_export import export_head, write_head_meta
    from training.fit import fit_model, holdout_groups, make_dataset, seed_everything
    from training.models import build_head

    run_dir = Path(run_dir)
    config = load_config(run_dir)
    if not (run_dir / BUNDLE / MANIFEST).is_file():
        raise ActionstreamError(f"{run_dir}: no features extracted yet; run `python -m training extract` first")
    data = select_data(config)
    classes = len(data.classes)
    val_groups = holdout_groups(
        [c.group for c in data.train if c.group is not None], config.fit.val_fraction, config.fit.seed
    )
    fit_clips = [c for c in data.train if c.group not in val_groups]
    val_clips = [c for c in data.train if c.group in val_groups]
    train_ws, _ = _windows(config, run_dir, fit_clips, data.classes, config.fit.train_hop, True, progress)
    val_ws = (
        _windows(config, run_dir, val_clips, data.classes, config.fit.train_hop, False, progress)[0]
        if val_clips
        else None
    )
    seed_everything(config.fit.seed)
    feature_size = int(train_ws.features.shape[1])
    head = build_head(
        config.head,
        config.sampling.window,
        feature_size,
        classes,
        units=config.head_units,
        dropout=config.dropout,
        dense=config.dense,
    )
    log(
        f"fitting {config.head} ({config.head_units} units) on {len(train_ws)} windows from {len(fit_clips)} "
        f"clips; validation {len(val_ws) if val_ws is not None else 0} windows from {len(val_clips)} clips"
    )
    train_ds = make_dataset(train_ws, classes, config.fit.batch_size, shuffle=True, seed=config.fit.seed)
    val_ds = make_dataset(val_ws, classes, config.fit.batch_size, shuffle=False) if val_ws is not None else None
    result = fit_model(head, train_ds, val_ds, config.fit, checkpoint=run_dir / CHECKPOINT, progress=progress)
    sampling = config.sampling
    write_head_meta(run_dir / CHECKPOINT, data.classes, sampling)
    started = time.perf_counter()
    bundle = load_bundle(run_dir / BUNDLE)
    provenance = {
        "head": config.head,
        "units": config.head_units,
        "dense": list(config.dense),
        "dropout": config.dropout,
        "trained_on": str(data.root),
        "split": data.split.name,
        "train_clips": len(fit_clips),
        "val_clips": len(val_clips),
        "fit": config.fit.to_dict(),
        "best_epoch": result.best_epoch,
    }
    description = (
        f"{config.head} head over {bundle.manifest.description or bundle.manifest.provenance.get('arch')}"
        f"; {classes} classes from {Path(config.data).name}, split {data.split.name}"
    )
    export_head(head, run_dir / BUNDLE, data.classes, sampling, description, provenance)
    history = {
        **result.to_dict(),
        "export_seconds": round(time.perf_counter() - started, 2),
        "params": int(head.count_params()),
        "train_windows": len(train_ws),
        "val_windows": len(val_ws) if val_ws is not None else 0,
        "val_groups": sorted(g for g in val_groups if g is not None),
    }
    write_json_atomic(run_dir / HISTORY, history)
    return history


def evaluate(run_dir: Path, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Score the exported bundle (ONNX extractor features, ONNX head) on the test clips; write the report."""
    from streaming.head import Head
    from training.evaluate import SEED_SPLIT_NOTE, evaluate_head
    from training.plots import plot_confusion, plot_curves

    run_dir = Path(run_dir)
    config = load_config(run_dir)
    bundle = load_bundle(run_dir / BUNDLE)
    if not bundle.manifest.has_head:
        raise ActionstreamError(f"{run_dir}: no fitted head yet; run `python -m training fit {run_dir}` first")
    data = select_data(config)
    if list(bundle.manifest.labels) != data.classes:
        raise ActionstreamError(f"{run_dir / BUNDLE}: head labels differ from the run's classes; refit")
    started = time.perf_counter()
    test_ws, used = _windows(config, run_dir, data.test, data.classes, config.eval_hop, False, progress)
    scores = evaluate_head(Head(bundle, device=config.device), test_ws, data.classes, progress=progress)
    eval_s = time.perf_counter() - started
    extract_info = _read_json(run_dir / EXTRACT)
    history = _read_json(run_dir / HISTORY)
    split = data.split
    leaks = int(split.group_leaks)
    split_info = {
        "name": split.name,
        "train_clips": len(split.train),
        "test_clips": len(split.test),
        "test_clips_evaluated": len(used),
        "val_groups": history.get("val_groups", []),
        "group_leaks": leaks,
        "missing": len(split.missing),
        "missing_examples": split.missing[:LIST_AT_MOST],
        "unlisted": len(split.unlisted),
    }
    if leaks:
        split_info["note"] = (
            f"{leaks} of {len(split.test)} test clips share a group with a training clip: " + SEED_SPLIT_NOTE
        )
    elif split.name == "seed":
        split_info["note"] = (
            "the seed split can put clips of one group (same actor, same background) on both "
            "sides; in this data none of the test clips does"
        )
    m = bundle.manifest
    report = {
        "run": str(run_dir),
        "classes": data.classes,
        "model": {
            "arch": config.arch,
            "weights": config.weights,
            "input_size": m.frame.height,
            "feature_size": m.feature_size,
            "head": config.head,
            "units": config.head_units,
            "dense": list(config.dense),
            "dropout": config.dropout,
            "params": history.get("params"),
        },
        "sampling": {
            "mode": config.sampling.mode,
            "fps": config.sampling.feature_rate,
            "window": config.sampling.window,
            "eval_hop": config.eval_hop,
        },
        "clip": scores["clip"],
        "window": scores["window"],
        "data": {
            "root": str(data.root),
            "classes": len(data.classes),
            "train_clips": len(data.train),
            "test_clips": len(data.test),
            "failed": extract_info.get("failed", [])[:LIST_AT_MOST],
            "failed_count": len(extract_info.get("failed", [])),
        },
        "split": split_info,
        "fit": {k: v for k, v in history.items() if k not in ("history", "checkpoint")},
        "export": {"parity": m.parity},
        "timings": {
            "extract_s": extract_info.get("extract_seconds"),
            "extract_frames_per_s": extract_info.get("frames_per_second"),
            "backbone_export_s": extract_info.get("backbone_export_seconds"),
            "fit_s": history.get("seconds"),
            "head_export_s": history.get("export_seconds"),
            "evaluate_s": round(eval_s, 2),
        },
    }
    write_json_atomic(run_dir / REPORT, report)
    title = f"{config.head} on {config.arch}: clip accuracy {report['clip']['top1']:.1%} ({split.name} split)"
    plot_confusion(report["clip"]["confusion"], data.classes, run_dir / "confusion.png", title)
    if history.get("history"):
        plot_curves(history["history"], run_dir / "curves.png", f"{config.head} on {config.arch} features")
    top2 = report["clip"].get("top2")
    log(
        f"clip accuracy {report['clip']['top1']:.1%}"
        + (f", top-2 {top2:.1%}" if top2 is not None else "")
        + f" on {len(used)} test clips (window accuracy {report['window']['top1']:.1%}); report: "
        f"{run_dir / REPORT}"
    )
    if "note" in split_info:
        log(f"note: {split_info['note']}")
    chance = 1.0 / len(data.classes)
    if report["clip"]["top1"] < NEAR_CHANCE * chance:
        log(
            f"WARNING: clip accuracy {report['clip']['top1']:.1%} is near chance ({chance:.1%} for "
            f"{len(data.classes)} classes): the model learned (almost) nothing. Features from a frozen backbone with "
            "random weights (--weights none) carry no action; use --extractor BUNDLE (a trained extractor), "
            "--arch pose, or ImageNet weights"
        )
    return report


def _read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def run(
    config: RunConfig,
    run_dir: Path,
    progress: bool = True,
    log: Callable[[str], None] = print,
    ray: str | None = None,
) -> dict:
    """extract (on Ray when `ray` is given) + fit + evaluate (+ export) in one go."""
    prepare(config, run_dir)
    extract(run_dir, progress, log, ray)
    fit(run_dir, progress, log)
    return evaluate(run_dir, progress, log)
