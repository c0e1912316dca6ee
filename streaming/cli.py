"""`python -m streaming`: run the engine on sources, or replay a data set through it and score it.

python -m streaming run --source demo --jsonl
python -m streaming run --bundle runs/ucf/bundle --source rtsp://cam/stream --source 0
python -m streaming replay --bundle B --data data/UCF101 --splits data/UCF101/ucfTrainTestlist --out r.json
python -m streaming serve --ray 10.0.0.5:6379 --cameras cameras.toml     (cameras across a Ray cluster)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from pathlib import Path

from streaming.annotated_video import save_videos
from streaming.command import run_command
from streaming.errors import ActionstreamError, BundleError
from streaming.events import Metrics, Prediction, SourceState, Status, jsonable
from streaming.monitor import add_monitor_parser
from streaming.serve_cli import add_serve_parser

#: The states a stream ends in.
TERMINAL = (SourceState.ENDED, SourceState.FAILED)
#: Said after the engine load on a metrics line when the engine is at capacity.
AT_CAPACITY_HINT = " (at capacity: fewer streams, --int8, or a GPU)"


def event_json(event) -> str:
    return json.dumps(jsonable(event.to_dict()), separators=(",", ":"))


def _ms(x: float) -> str:
    return f"{x:.0f} ms" if math.isfinite(x) else "-"


def event_text(event) -> str:
    """One human-readable line per event."""
    if isinstance(event, Prediction) and event.no_person:
        extra = " [partial: short stream looped]" if event.partial else ""
        return f"{event.t:8.2f}s  {event.stream}  no person in view  latency {_ms(event.latency_ms)}{extra}"
    if isinstance(event, Prediction):
        top = ", ".join(f"{label} {p:.2f}" for label, p in event.topk)
        extra = " [partial: short stream looped]" if event.partial else ""
        raw = f" (window: {event.raw_label} {event.raw_score:.2f})" if event.raw_label != event.label else ""
        return (
            f"{event.t:8.2f}s  {event.stream}  {event.label} {event.score:.2f}{raw}  top: {top}  "
            f"latency {_ms(event.latency_ms)}{extra}"
        )
    if isinstance(event, Status):
        if event.warmup is not None:
            return f"{'':9}  {event.stream}  {event.reason} {100 * event.warmup:.0f}%"
        return f"{'':9}  {event.stream}  {event.state.value}" + (f": {event.reason}" if event.reason else "")
    if isinstance(event, Metrics):
        return (
            f"{'':9}  {event.stream}  capture {event.capture_fps:.1f} fps, features {event.feature_fps:.1f}/s, "
            f"dropped {event.dropped_frames}, extractor {event.extractor_ms:.1f} ms, head {event.head_ms:.1f} ms, "
            f"latency p50 {_ms(event.latency_p50_ms)} p95 {_ms(event.latency_p95_ms)}, engine load "
            f"{100 * event.load:.0f}%{AT_CAPACITY_HINT if event.at_capacity else ''} [{event.provider}]"
        )
    return str(event)


def _bundle_arg(value: str | None) -> Path:
    from streaming.demo import default_bundle_path

    if value is not None:
        return Path(value)
    path = default_bundle_path()
    if not (path / "manifest.json").is_file():
        raise BundleError(
            f"no --bundle given and the bundled model {path} is missing; reinstall actionstream or pass --bundle DIR"
        )
    return path


def _engine(args, bundle=None):
    from streaming.engine import Engine, EngineConfig

    try:
        config = EngineConfig(
            device=args.device,
            int8=args.int8,
            int8_head=args.int8_head,
            hop_s=args.hop,
            topk=args.topk,
            hold_s=args.hold,
            threads=args.threads,
        )
    except ValueError as exc:
        raise ActionstreamError(str(exc)) from exc
    return Engine(bundle if bundle is not None else _bundle_arg(args.bundle), config)


def cmd_run(args) -> int:
    from streaming.sources import open_source

    if args.duration is not None and args.duration <= 0:
        raise ActionstreamError(f"--duration must be positive seconds, got {args.duration}")
    sources, names = [], set()
    for spec in args.source:  # open every source first: a typo fails before the model loads
        source = open_source(spec, realtime=not args.fast, loop=args.loop)
        base, n = source.name, 2
        while source.name in names:  # the same file twice gets two streams
            source.name = f"{base}#{n}"
            n += 1
        names.add(source.name)
        sources.append(source)
    engine = _engine(args)
    videos = []
    if args.save:  # annotated copies of what the engine sees: label, score, person
        sources, videos = save_videos(sources, Path(args.save), engine)
    show = event_json if args.jsonl else event_text
    failed: dict[str, str] = {}  # stream -> why it failed
    try:
        return _follow_run(args, engine, sources, show, failed)
    finally:
        for video in videos:
            video.close()


def _follow_run(args, engine, sources, show, failed: dict[str, str]) -> int:
    ended: dict[str, str] = {}  # stream -> its last word, once it ended or failed
    predicted: set[str] = set()
    try:
        for event in engine.run_until_done(sources, duration_s=args.duration):
            if isinstance(event, Metrics) and args.no_metrics:
                continue
            if isinstance(event, Prediction):
                predicted.add(event.stream)
            elif isinstance(event, Status) and event.warmup is None and event.state in TERMINAL:
                ended[event.stream] = event.reason
            print(show(event), flush=True)
    except KeyboardInterrupt:
        engine.stop()
        print("stopped", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; stop quietly
        engine.stop()
        sys.stdout = None  # nothing more to flush into the closed pipe
        return 0
    engine.stop()
    if engine.error:
        print(f"error: {engine.error}", file=sys.stderr)
        return 1
    # a source that ended without a prediction (failed, not a video, too short, cut short, too few frames) says
    # why where a script looks for errors; when none gave one, the run failed
    for stream, reason in ended.items():
        if stream in predicted and reason.startswith("cut short"):  # predictions on the part before the cut
            print(f"warning: {stream}: {' '.join(reason.split())}", file=sys.stderr)
    failed.update((stream, reason) for stream, reason in ended.items() if stream not in predicted)
    nothing = len(failed) == len(sources)
    for stream, reason in failed.items():
        said = " ".join(reason.split()) or "ended without a prediction"
        print(f"{'error' if nothing else 'warning'}: {stream}: {said}", file=sys.stderr)
    return 1 if failed and nothing else 0


def cmd_replay(args) -> int:
    from streaming.atomic import atomic_write_text
    from streaming.bundle import load_bundle
    from streaming.replay import check_clips, dataset_clips, replay_report

    if args.parallel < 1:
        raise ActionstreamError(f"--parallel must be >= 1, got {args.parallel}")
    classes = ",".join(args.classes) if args.classes else None
    clips, notes = dataset_clips(Path(args.data), Path(args.splits) if args.splits else None, args.split, classes)
    if args.limit is not None:
        clips = clips[: args.limit]
    bundle = load_bundle(_bundle_arg(args.bundle))
    check_clips(clips, bundle.manifest.labels)  # before any session starts: a wrong bundle fails in one line
    engine = _engine(args, bundle)
    try:
        report = replay_report(
            engine, clips, parallel=args.parallel, offline=not args.no_offline, progress=not args.quiet
        )
    except KeyboardInterrupt:
        engine.stop()
        print("stopped", file=sys.stderr)
        return 130
    finally:
        engine.stop()
    report["data"] = notes
    atomic_write_text(Path(args.out), json.dumps(report, indent=2) + "\n")

    def pct(x):
        return "-" if x is None else f"{100 * x:.1f}%"

    line = (
        f"{report['clips_scored']}/{report['clips_total']} clips, {report['windows']} windows: "
        f"clip accuracy {pct(report['clip_accuracy'])}, window {pct(report['window_accuracy'])}, "
        f"smoothed {pct(report['smoothed_accuracy'])}, top-{report['topk']} {pct(report['clip_topk_accuracy'])}"
    )
    if "offline_clip_accuracy" in report:
        line += f"; offline clip accuracy {pct(report['offline_clip_accuracy'])}"
    print(line)
    print(f"report: {args.out}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bundle",
        help="model bundle folder (default: the people model, models/people; models/demo knows the demo clip)",
    )
    p.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="ONNX Runtime device: auto uses CUDA when it can load, else CPU",
    )
    p.add_argument("--int8", action="store_true", help="use the bundle's int8 extractor (extractor.int8.onnx)")
    p.add_argument("--int8-head", action="store_true", help="use the bundle's int8 head (head.int8.onnx)")
    p.add_argument("--hop", type=float, default=1.0, metavar="S", help="seconds of stream between predictions")
    p.add_argument("--topk", type=int, default=5, help="classes listed per prediction")
    p.add_argument(
        "--hold", type=float, default=1.0, metavar="S", help="seconds a new label must lead before it is shown"
    )
    p.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads (0: its default)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m streaming", description="Real-time action recognition on video streams."
    )
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="rolling predictions from files, webcams, RTSP/HTTP cameras")
    _common(run)
    run.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="SRC",
        help="'demo', a camera index (0), an rtsp/rtsps/http/https URL, or a video file; repeatable",
    )
    run.add_argument("--fast", action="store_true", help="replay files as fast as possible, dropping nothing")
    run.add_argument("--loop", action="store_true", help="replay files forever")
    run.add_argument("--jsonl", action="store_true", help="one JSON object per line per event")
    run.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    run.add_argument("--no-metrics", action="store_true", help="leave out the periodic metrics lines")
    run.add_argument(
        "--save", metavar="OUT.mp4", help="also write an annotated video (one per source: OUT-<stream>.mp4)"
    )
    run.set_defaults(func=cmd_run)
    rep = sub.add_parser("replay", help="replay clips as streams through the engine and score them")
    _common(rep)
    rep.add_argument("--data", required=True, metavar="DIR", help="UCF101-style folder: <Class>/<clip>.avi")
    rep.add_argument("--splits", metavar="DIR", help="split lists folder (ucfTrainTestlist); test clips of --split")
    rep.add_argument("--split", metavar="N", help="1, 2, 3 (official; needs --splits), seed or first-90")
    rep.add_argument(
        "--classes",
        nargs="+",
        metavar="C",
        help="a preset (seed-final, seed-experiment), class names, or a file of names",
    )
    rep.add_argument("--out", required=True, metavar="REPORT.json")
    rep.add_argument("--parallel", type=int, default=4, help="clips replayed at once")
    rep.add_argument("--limit", type=int, metavar="N", help="replay only the first N clips")
    rep.add_argument("--no-offline", action="store_true", help="skip the offline comparison (halves the work)")
    rep.add_argument("--quiet", action="store_true", help="no progress bars")
    rep.set_defaults(func=cmd_replay)
    add_monitor_parser(sub)  # monitor --config cameras.toml [--check]
    add_serve_parser(sub)  # serve --ray [ADDRESS] --cameras cameras.toml
    return ap


def _quiet_opencv() -> None:
    """OpenCV warns on stderr for every failed open; our status lines already say what happened."""
    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def main(argv: list[str] | None = None) -> int:
    from streaming.video import quiet_ffmpeg_log

    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    _quiet_opencv()
    quiet_ffmpeg_log()  # before any capture opens, network sources included ("[h264 @ 0x..] ..." lines)
    args = build_parser().parse_args(argv)
    return run_command(args.func, args, "stopped")
