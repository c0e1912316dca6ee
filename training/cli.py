"""`python -m training`: synthetic data, feature extraction, fitting, evaluation, whole runs, the demo model.

    python -m training synth --out data/synth --clips-per-class 20
    python -m training run --data data/synth --arch smallcnn --weights none --out runs/synth
    python -m training run --data data/UCF101 --classes seed-final --split seed --out runs/seed-final
    python -m training extract --data DIR --out RUN_DIR [...]; fit RUN_DIR; evaluate RUN_DIR
    python -m training extract --data DIR --out RUN_DIR --ray ADDRESS   # extract on a Ray cluster (`ray start --head`)
    python -m training demo-model --out models/demo

A user error (missing data folder, empty class list, unknown class, bad run folder) prints one line
`error: ...` on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import replace
from pathlib import Path

from export.tf_import import import_tensorflow_quietly
from streaming.bundle import load_bundle
from streaming.command import run_command
from streaming.demo import models_dir
from streaming.errors import ActionstreamError
from streaming.sampler import DEFAULT_FEATURE_RATE, DEFAULT_WINDOW, SAMPLING_MODES, Sampling

EXIT_OK = 0


def _run_options(p: argparse.ArgumentParser) -> None:
    """Options of `run` and `extract`: what to train on and how."""
    from export.backbones import BACKBONES
    from streaming.splits import SPLIT_SPECS
    from training.models import HEADS

    d = p.add_argument_group("data")
    d.add_argument(
        "--data", required=True, type=Path, help="UCF101-layout folder: <Class>/<clip>.avi (or UCF-101/ inside it)"
    )
    d.add_argument("--splits", type=Path, help="ucfTrainTestlist folder (default: found in or beside --data)")
    d.add_argument(
        "--split",
        default="1",
        choices=SPLIT_SPECS,
        help="official split 1-3 (default 1), seed (4 of every 5 clips train), first-90",
    )
    d.add_argument("--classes", help="preset (seed-experiment, seed-final), Class1,Class2,... or a file of names")
    m = p.add_argument_group("model")
    m.add_argument(
        "--arch",
        default="inceptionv3",
        choices=(*BACKBONES, "pose"),
        help="backbone to export, or pose: the bundled body-landmark extractor (models/pose)",
    )
    m.add_argument(
        "--extractor",
        type=Path,
        metavar="BUNDLE",
        help="use this bundle's extractor as it is (e.g. models/demo's trained small CNN) instead of exporting one",
    )
    m.add_argument(
        "--weights",
        default=None,
        metavar="{imagenet,none,PATH}",
        help="backbone weights (default: imagenet for inceptionv3, none for smallcnn)",
    )
    m.add_argument("--input-size", type=int, help="square frame size (default 299 / 112)")
    m.add_argument("--head", default="lstm", choices=HEADS)
    _head_options(m)
    s = p.add_argument_group("sampling")
    s.add_argument("--sampling", default="stride", choices=SAMPLING_MODES)
    s.add_argument(
        "--feature-rate",
        "--fps",
        dest="fps",
        type=float,
        default=DEFAULT_FEATURE_RATE,
        help=f"features per second, not the video's frame rate (default {DEFAULT_FEATURE_RATE:g})",
    )
    s.add_argument("--window", type=int, default=DEFAULT_WINDOW, help=f"steps per window (default {DEFAULT_WINDOW})")
    s.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="for extraction")
    s.add_argument("--cache", type=Path, help="feature cache folder (default RUN_DIR/features)")
    s.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="extract on Ray Data: the cluster at ADDRESS (e.g. auto, ray://head:10001), or without ADDRESS one on "
        "this machine (started if none runs); data, run folder and cache must be at the same paths on every node",
    )
    p.add_argument("--out", required=True, type=Path, help="run folder (created; a rerun resumes)")


def _head_options(g) -> None:
    g.add_argument(
        "--units", type=int, help="recurrent units (default 2048 on inceptionv3 as in the report, 128 on smallcnn)"
    )
    g.add_argument("--dense", help="dense layer widths after the recurrent layer, e.g. 512 or 512,256 (default 512)")
    g.add_argument("--dropout", type=float, help="dropout (default 0.5)")
    g.add_argument("--epochs", type=int, help="at most this many epochs (default 100; early stopping)")
    g.add_argument("--batch-size", type=int)
    g.add_argument("--lr", type=float, help="Adam learning rate (default 1e-4)")
    g.add_argument("--decay", type=float, help="inverse-time decay per step (default 1e-5)")
    g.add_argument("--patience", type=int, help="early-stopping patience in epochs (default 10)")
    g.add_argument("--seed", type=int, help="random seed (default 0)")


def build_parser() -> argparse.ArgumentParser:
    from training.models import HEADS

    p = argparse.ArgumentParser(prog="python -m training", description="Train actionstream recognizers.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("synth", help="write a synthetic stick-figure data set in UCF101's layout (offline)")
    s.add_argument("--out", required=True, type=Path)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--clips-per-class", type=int, default=10)
    s.add_argument(
        "--groups", type=int, default=None, help="actor/place groups (default 5, or the clips per class when fewer)"
    )
    s.set_defaults(func=_synth)

    mo = sub.add_parser(
        "motion", help="write a synthetic 3D-motion data set: pose features of 17 everyday actions (offline, fast)"
    )
    mo.add_argument("--out", required=True, type=Path)
    mo.add_argument("--seed", type=int, default=0)
    mo.add_argument("--clips-per-class", type=int, default=100)
    mo.set_defaults(func=_motion)

    r = sub.add_parser("run", help="extract + fit + evaluate + export in one command")
    _run_options(r)
    r.set_defaults(func=_run)

    e = sub.add_parser("extract", help="start a run: export the backbone and cache the clips' features")
    _run_options(e)
    e.set_defaults(func=_extract)

    f = sub.add_parser("fit", help="fit the head of a run on its cached features and export it into its bundle")
    f.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    f.add_argument("--head", choices=HEADS, help="refit with another head kind")
    _head_options(f)
    f.set_defaults(func=_fit)

    v = sub.add_parser("evaluate", help="score a run's bundle on its test clips: report.json and figures")
    v.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    v.set_defaults(func=_evaluate)

    dm = sub.add_parser("demo-model", help="train the bundled demo model on synthetic clips (models/demo)")
    dm.add_argument("--out", type=Path, default=Path("models/demo"))
    dm.add_argument("--seed", type=int, default=0)
    dm.add_argument("--work", type=Path, help="keep rendered clips and caches here (default: a temporary folder)")
    dm.set_defaults(func=_demo_model)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return run_command(
        args.func, args, "finished work is kept (features cached, files written atomically); rerun to resume"
    )


# ------------------------------------------------------------------------------------------------ commands
def _synth(args: argparse.Namespace) -> int:
    from training.synth import ACTIONS, write_dataset

    if args.seed < 0:
        raise ActionstreamError(f"--seed must be >= 0, got {args.seed}")
    groups = args.groups if args.groups is not None else min(5, args.clips_per_class)
    out = write_dataset(args.out, seed=args.seed, clips_per_class=args.clips_per_class, groups=groups)
    print(
        f"wrote {len(ACTIONS) * args.clips_per_class} clips of {len(ACTIONS)} actions to {out / 'UCF-101'} and "
        f"split lists to {out / 'ucfTrainTestlist'}"
    )
    return EXIT_OK


def _motion(args: argparse.Namespace) -> int:
    from training.motion_dataset import write_motion_dataset

    if args.seed < 0 or args.clips_per_class < 5:
        raise ActionstreamError("--seed must be >= 0 and --clips-per-class >= 5 (every 5th clip is a test clip)")
    out = write_motion_dataset(args.out, clips_per_class=args.clips_per_class, seed=args.seed)
    print(f"wrote a motion data set to {out} (pose features at 10/s; train/test lists beside the clips)")
    return EXIT_OK


def _fit_overrides(args: argparse.Namespace, config):
    """A RunConfig with the head/fit options given on the command line applied."""
    fit_changes = {
        k: v
        for k, v in (
            ("epochs", args.epochs),
            ("batch_size", args.batch_size),
            ("learning_rate", args.lr),
            ("decay", args.decay),
            ("patience", args.patience),
            ("seed", args.seed),
        )
        if v is not None
    }
    try:
        fit = replace(config.fit, **fit_changes) if fit_changes else config.fit
        changes: dict = {"fit": fit}
        if getattr(args, "head", None):
            changes["head"] = args.head
        if args.units is not None:
            changes["units"] = args.units
        if args.dropout is not None:
            changes["dropout"] = args.dropout
        if args.dense:
            changes["dense"] = tuple(int(x) for x in args.dense.split(",") if x.strip())
        return replace(config, **changes)
    except ValueError as exc:
        raise ActionstreamError(f"bad training option: {exc}") from exc


def _config_from_args(args: argparse.Namespace):
    from training.fit import FitConfig
    from training.run import RunConfig

    if not args.data.exists():
        raise ActionstreamError(
            f"{args.data}: no such data folder; give a folder with one sub-folder of clips per "
            "class (UCF101 layout), or make one with `python -m training synth --out DIR`"
        )
    weights = args.weights or ("imagenet" if args.arch == "inceptionv3" else "none")
    extractor = args.extractor
    if extractor is None and args.arch == "pose":
        extractor = models_dir() / "pose"
    if extractor is not None:
        load_bundle(extractor)  # a bad bundle is one error line now, not after the data is read
        weights = "bundle"
    try:
        base = RunConfig(
            data=str(args.data),
            splits=str(args.splits) if args.splits else None,
            split=args.split,
            classes=args.classes,
            arch=args.arch,
            weights=weights,
            extractor=str(extractor) if extractor is not None else None,
            input_size=args.input_size,
            head=args.head,
            sampling=Sampling(args.sampling, args.fps, args.window),
            device=args.device,
            cache=str(args.cache) if args.cache else None,
            fit=FitConfig(),
        )
    except ValueError as exc:
        raise ActionstreamError(str(exc)) from exc
    return _fit_overrides(args, base)


def _run(args: argparse.Namespace) -> int:
    from training import run as r

    config = _config_from_args(args)
    r.prepare(config, args.out)  # data problems surface before TensorFlow loads
    import_tensorflow_quietly()
    r.extract(args.out, ray=args.ray)
    r.fit(args.out)
    r.evaluate(args.out)
    print(f"run folder: {args.out} (bundle: {args.out / r.BUNDLE})")
    return EXIT_OK


def _extract(args: argparse.Namespace) -> int:
    from training import run as r

    r.prepare(_config_from_args(args), args.out)
    import_tensorflow_quietly()
    r.extract(args.out, ray=args.ray)
    print(f"next: python -m training fit {args.out}")
    return EXIT_OK


def _fit(args: argparse.Namespace) -> int:
    from training import run as r
    from training.fit import write_json_atomic

    config = r.load_config(args.run_dir)
    updated = _fit_overrides(args, config)
    if updated != config:
        write_json_atomic(args.run_dir / r.CONFIG, updated.to_dict())
    import_tensorflow_quietly()
    r.fit(args.run_dir)
    print(f"next: python -m training evaluate {args.run_dir}")
    return EXIT_OK


def _evaluate(args: argparse.Namespace) -> int:
    from training import run as r

    r.evaluate(args.run_dir)
    return EXIT_OK


def _demo_model(args: argparse.Namespace) -> int:
    from training.demo_model import DemoConfig, make_demo_model

    if args.seed < 0:
        raise ActionstreamError(f"--seed must be >= 0, got {args.seed}")
    import_tensorflow_quietly()
    make_demo_model(args.out, DemoConfig(seed=args.seed), work=args.work)
    return EXIT_OK
