"""`python -m export`: make, quantize, extend and verify bundles.

    python -m export backbone --arch smallcnn --weights none --out models/tiny
    python -m export quantize models/tiny --calibration clips/          # + --head for a dynamic int8 head
    python -m export head --keras runs/x/head.keras --bundle models/tiny [--labels labels.txt]
    python -m export verify models/tiny --json
    python -m export pose --out models/pose [--wheel mediapipe-0.10.21-cp311-...whl]   # BlazePose, no head

A user error (missing path, corrupt or changed file, wrong weights, other bundle version) prints one line
`error: ...` on stderr and exits 2; verify exits 1 when the bundle loads but a probe disagrees.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from export.backbones import BACKBONES
from export.tf_import import import_tensorflow_quietly
from streaming.command import run_command
from streaming.errors import EXIT_USER_ERROR, ActionstreamError
from streaming.providers import DEVICES
from streaming.sampler import SAMPLING_MODES

EXIT_OK, EXIT_FAILED = 0, 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export", description="Keras -> ONNX bundles for actionstream.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("backbone", help="export a per-frame backbone as a new bundle (extractor.onnx + manifest)")
    b.add_argument("--arch", required=True, choices=BACKBONES)
    b.add_argument(
        "--weights",
        required=True,
        metavar="{imagenet,none,PATH}",
        help="imagenet (Keras download+cache, inceptionv3 only), none (random: tests only), or a "
        ".h5/.keras file of the same architecture",
    )
    b.add_argument("--input-size", type=int, default=None, help="square frame size (default 299 / 112)")
    b.add_argument("--out", required=True, type=Path, help="bundle folder to create (or replace)")
    b.add_argument("--description", default="")
    b.set_defaults(func=_backbone)

    q = sub.add_parser("quantize", help="add an int8 extractor (static, calibrated on video) and/or int8 head")
    q.add_argument("bundle", type=Path)
    q.add_argument("--calibration", type=Path, help="a video file or a folder of videos")
    q.add_argument("--max-frames", type=int, default=200, help="calibration frames (default 200)")
    q.add_argument("--heldout-frames", type=int, default=32, help="frames for the int8-vs-fp32 check (default 32)")
    q.add_argument("--head", action="store_true", help="also write head.int8.onnx (dynamic int8)")
    q.set_defaults(func=_quantize)

    h = sub.add_parser("head", help="export a trained Keras head into a bundle (head.onnx, labels, window)")
    h.add_argument("--keras", required=True, type=Path, help="the trained head, MODEL.keras")
    h.add_argument("--bundle", required=True, type=Path, help="bundle whose extractor made the training features")
    h.add_argument("--labels", type=Path, help="labels file, one per line (default: MODEL.meta.json's labels)")
    h.add_argument("--sampling", choices=SAMPLING_MODES, help="how training features were sampled")
    h.add_argument(
        "--feature-rate",
        "--fps",
        dest="fps",
        type=float,
        help="features per second the head was trained at (default: MODEL.meta.json's, else 10)",
    )
    h.add_argument("--window", type=int, help="window length (default: the head's, else MODEL.meta.json's)")
    h.add_argument("--description")
    h.set_defaults(func=_head)

    ps = sub.add_parser(
        "pose",
        help="build a pose bundle (BlazePose detector + landmarks, ONNX) from the pinned mediapipe wheel",
    )
    ps.add_argument("--out", required=True, type=Path, help="bundle folder to create (or replace)")
    ps.add_argument(
        "--wheel",
        type=Path,
        help="a local mediapipe-0.10.21 wheel (default: the cached one, else pip downloads it into the cache)",
    )
    ps.add_argument("--cache-dir", type=Path, help="where the wheel is cached (default ~/.cache/actionstream/wheels)")
    ps.add_argument("--description", default="")
    ps.set_defaults(func=_pose)

    v = sub.add_parser("verify", help="re-check hashes, shapes, labels and probes on this machine")
    v.add_argument("bundle", type=Path)
    v.add_argument("--json", action="store_true", help="last line printed is one JSON object")
    v.add_argument("--device", choices=DEVICES, default="auto")
    v.set_defaults(func=_verify)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ log: errors we report ourselves
    return run_command(args.func, args, "bundles are written atomically, nothing half-written was left")


def _backbone(args: argparse.Namespace) -> int:
    from export.backbones import check_weights
    from export.extractor_export import check_out_dir, export_backbone

    check_out_dir(args.out)  # before the slow TensorFlow import
    check_weights(args.weights, args.arch)
    import_tensorflow_quietly()
    bundle = export_backbone(
        args.arch, args.weights, args.out, input_size=args.input_size, description=args.description
    )
    m = bundle.manifest
    print(
        f"wrote {bundle.root}: {args.arch} {m.frame.height}x{m.frame.width} -> {m.feature_size}-d, "
        f"parity max abs diff {m.parity['extractor']['max_abs_diff']:.3g}, "
        f"{bundle.path('extractor').stat().st_size / 1e6:.1f} MB"
    )
    if m.provenance.get("weights_random"):
        print(f"warning: {m.provenance['warning']}", file=sys.stderr)
    return EXIT_OK


def _quantize(args: argparse.Namespace) -> int:
    from export.quantize import quantize_extractor, quantize_head_dynamic

    if args.calibration is None and not args.head:
        raise ActionstreamError("quantize: give --calibration VIDEO_OR_FOLDER (int8 extractor) and/or --head")
    if args.calibration is not None:
        bundle = quantize_extractor(
            args.bundle, args.calibration, max_frames=args.max_frames, heldout_frames=args.heldout_frames
        )
        p = bundle.manifest.parity["extractor_int8"]
        print(
            f"wrote {bundle.path('extractor_int8')}: int8 vs fp32 cosine min {p['cosine_min']:.4f} mean "
            f"{p['cosine_mean']:.4f} on {p['heldout_frames']} held-out frames"
        )
    if args.head:
        bundle = quantize_head_dynamic(args.bundle)
        p = bundle.manifest.parity["head_int8"]
        print(
            f"wrote {bundle.path('head_int8')}: max abs diff {p['max_abs_diff']:.3g}, top-1 agreement "
            f"{p['top1_agreement']:.3f}"
        )
    return EXIT_OK


def _head(args: argparse.Namespace) -> int:
    from export.head_export import export_head_file
    from streaming.bundle import load_bundle

    if not args.keras.is_file():
        raise ActionstreamError(f"{args.keras}: no such Keras model file")
    load_bundle(args.bundle)  # before the slow TensorFlow import
    import_tensorflow_quietly()
    bundle = export_head_file(
        args.keras,
        args.bundle,
        labels=args.labels,
        mode=args.sampling,
        feature_rate=args.fps,
        window=args.window,
        description=args.description,
    )
    m = bundle.manifest
    print(
        f"wrote {bundle.path('head')}: {m.sampling.window}x{m.feature_size} -> {len(m.labels)} classes, "
        f"{m.sampling.mode} sampling at {m.sampling.feature_rate:g}/s, parity max abs diff "
        f"{m.parity['head']['max_abs_diff']:.3g}, top-1 agreement {m.parity['head']['top1_agreement']:.3f}"
    )
    return EXIT_OK


def _pose(args: argparse.Namespace) -> int:
    from export.extractor_export import check_out_dir
    from export.pose_bundle import build_pose_bundle
    from export.pose_export import read_tflite_files

    check_out_dir(args.out)  # these before the slow TensorFlow import
    if args.wheel is not None:
        read_tflite_files(args.wheel)  # exists, and is the pinned wheel (sha256)
    import_tensorflow_quietly()
    bundle = build_pose_bundle(args.out, wheel=args.wheel, cache_dir=args.cache_dir, description=args.description)
    m = bundle.manifest
    sizes = ", ".join(f"{bundle.path(r).name} {bundle.path(r).stat().st_size / 1e6:.1f} MB" for r in m.files)
    lm = m.parity["pose_landmarks"].get("real") or m.parity["pose_landmarks"]["random"]
    print(
        f"wrote {bundle.root}: pose extractor -> {m.feature_size}-d features ({sizes}); landmarks vs TFLite: "
        f"max abs diff {lm['landmarks_xy']:.3g} px on {m.parity['real_frames']} real frames; no head yet"
    )
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    from export.verify import describe, verify_bundle

    result = verify_bundle(args.bundle, device=args.device)
    for line in describe(result):
        print(line)
    if args.json:
        print(json.dumps(result.to_dict()))
    if result.ok:
        return EXIT_OK
    print(f"error: {' '.join(result.first_failure.split())}", file=sys.stderr)
    return EXIT_USER_ERROR if result.checks[0][0] == "bundle" else EXIT_FAILED
