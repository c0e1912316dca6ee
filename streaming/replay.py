"""Replay evaluation: test clips run through the live engine as streams, scored like training scores them.

Every clip is replayed as fast as possible with nothing dropped (FileSource realtime=False), a few at a time
so their frames share extractor batches. The same clips are then scored offline by training's own path
(streaming.clip_features.extract_clip + streaming.clip_sampling.clip_windows, the same head), so the report shows
whether the live engine keeps the trained model's accuracy.

    engine = Engine("models/demo", EngineConfig(device="cpu"))
    report = replay_report(engine, [ReplayClip(Path("a.avi"), "Wave"), ...])
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streaming.engine import IDLE_WAIT_S, Engine
from streaming.errors import ActionstreamError, SourceError
from streaming.events import Prediction, Status
from streaming.progress import progress_bar
from streaming.sources import TERMINAL_STATES, FileSource

#: Clips replayed at once: enough to fill extractor batches, few enough to keep memory small.
DEFAULT_PARALLEL = 4


@dataclass(frozen=True)
class ReplayClip:
    path: Path
    label: str


@dataclass
class ClipRun:
    """What the engine said about one clip."""

    clip: ReplayClip
    t: list[float] = field(default_factory=list)  # stream time of each window's newest frame
    raw: list[int] = field(default_factory=list)  # argmax of each window
    smoothed: list[int] = field(default_factory=list)  # displayed (EMA + hysteresis) label of each window
    probs: list[list[float]] = field(default_factory=list)
    partial: bool = False
    no_person: int = 0  # windows with nobody in view (pose bundles): reported, not classified, not scored
    end_state: str = ""
    end_reason: str = ""
    duration_s: float = 0.0


def replay_clips(
    engine: Engine, clips: list[ReplayClip], parallel: int = DEFAULT_PARALLEL, progress: bool = True
) -> list[ClipRun]:
    """Run every clip through `engine` (started here if needed), `parallel` streams at a time."""
    index = {name: i for i, name in enumerate(engine.labels)}
    runs = [ClipRun(c) for c in clips]
    todo = deque(enumerate(clips))
    active: dict[str, int] = {}
    sub = engine.subscribe(maxsize=4096, lossless=True)
    engine.start()
    bar = progress_bar(total=len(clips), desc="replay", unit="clip", enabled=progress)
    t0 = time.monotonic()

    def launch() -> None:
        while todo and len(active) < parallel:
            i, clip = todo.popleft()
            try:
                source = FileSource(clip.path, name=f"{i:06d}:{clip.path.stem}", realtime=False)
            except SourceError as exc:
                runs[i].end_state, runs[i].end_reason = "failed", str(exc)
                bar.update(1)
                continue
            active[source.name] = i
            engine.add_source(source)

    try:
        launch()
        while active:
            event = sub.get(timeout=IDLE_WAIT_S)
            if event is None:
                if sub.closed:
                    raise RuntimeError(engine.error or "the engine stopped during the replay")
                continue
            i = active.get(event.stream)
            if i is None:
                continue
            run = runs[i]
            if isinstance(event, Prediction) and event.no_person:
                run.no_person += 1
            elif isinstance(event, Prediction):
                run.t.append(event.t)
                run.raw.append(index[event.raw_label])
                run.smoothed.append(index[event.label])
                run.probs.append(event.probs)
                run.partial = run.partial or event.partial
            elif isinstance(event, Status) and event.state in TERMINAL_STATES and event.warmup is None:
                frame = engine.latest_frame(event.stream)
                run.duration_s = frame.t if frame is not None else 0.0
                run.end_state, run.end_reason = event.state.value, event.reason
                engine.remove_source(event.stream)
                del active[event.stream]
                bar.update(1)
                bar.set_postfix(features_per_s=f"{engine.extracted_frames / max(time.monotonic() - t0, 1e-9):.0f}")
                launch()
    finally:
        bar.close()
        engine.unsubscribe(sub)
    return runs


def offline_clip_probs(engine: Engine, path: Path) -> np.ndarray:
    """Window probabilities (K×C) of one clip by training's path: extract_clip + clip_windows, same head."""
    from streaming.clip_features import extract_clip
    from streaming.clip_sampling import clip_windows

    m = engine.manifest
    spec = m.sampling
    feats = extract_clip(path, engine.extractor, spec).feats
    return engine.head(clip_windows(feats, spec, hop=engine.hop))


def _top_k(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    if len(labels) == 0:
        return float("nan")
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == labels[:, None]).any(axis=1)))


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def score(engine: Engine, runs: list[ClipRun], offline: bool = True, progress: bool = True) -> dict:
    """The replay report: engine window/clip/top-k/smoothed accuracy, time to first correct, flicker, and the
    offline clip accuracy of the same clips for comparison."""
    labels = engine.labels
    index = {name: i for i, name in enumerate(labels)}
    k = min(engine.topk, len(labels))
    scored = [r for r in runs if r.probs]
    clips_out, first_correct, window_true, window_probs, smoothed_hits = [], [], [], [], []
    clip_true, clip_probs, offline_probs = [], [], []
    changes, minutes = 0, 0.0
    for run in progress_bar(runs, desc="offline", unit="clip", enabled=progress and offline):
        entry = {
            "path": str(run.clip.path),
            "true": run.clip.label,
            "predicted": None,
            "windows": len(run.probs),
            "windows_no_person": run.no_person,
            "end": run.end_state,
            "end_reason": run.end_reason,
            "duration_s": round(run.duration_s, 3),
        }
        clips_out.append(entry)
        if not run.probs:
            continue
        y = index[run.clip.label]
        probs = np.asarray(run.probs, np.float32)
        mean = probs.mean(axis=0)
        entry.update(
            predicted=labels[int(np.argmax(mean))],
            score=round(float(mean.max()), 5),
            partial=run.partial,
            window_accuracy=round(float(np.mean(np.asarray(run.raw) == y)), 5),
            smoothed_accuracy=round(float(np.mean(np.asarray(run.smoothed) == y)), 5),
        )
        hits = [t for t, s in zip(run.t, run.smoothed) if s == y]
        entry["time_to_first_correct_s"] = round(hits[0], 3) if hits else None
        if hits:
            first_correct.append(hits[0])
        n_changes = int(np.count_nonzero(np.diff(run.smoothed))) if len(run.smoothed) > 1 else 0
        entry["label_changes"] = n_changes
        changes += n_changes
        minutes += run.duration_s / 60.0
        window_true += [y] * len(probs)
        window_probs.append(probs)
        smoothed_hits += [s == y for s in run.smoothed]
        clip_true.append(y)
        clip_probs.append(mean)
        if offline:
            try:
                off = offline_clip_probs(engine, run.clip.path).mean(axis=0)
            except SourceError as exc:
                entry["offline_error"] = str(exc)
                off = np.full(len(labels), np.nan, np.float32)
            offline_probs.append(off)
            if np.isfinite(off).all():
                entry["offline_predicted"] = labels[int(np.argmax(off))]
                entry["offline_max_abs_diff"] = float(np.abs(off - mean).max())
    y_w = np.asarray(window_true, np.int64)
    p_w = np.concatenate(window_probs) if window_probs else np.zeros((0, len(labels)), np.float32)
    y_c = np.asarray(clip_true, np.int64)
    p_c = np.asarray(clip_probs, np.float32).reshape(-1, len(labels))
    report = {
        "bundle": str(engine.bundle.root),
        "labels": labels,
        "window": engine.window,
        "feature_fps": engine.feature_rate,  # the key keeps its first name: reports stay comparable
        "sampling_mode": engine.manifest.sampling.mode,
        "hop_features": engine.hop,
        "provider": engine.provider,
        "topk": k,
        "clips_total": len(runs),
        "clips_scored": len(scored),
        "clips_failed": [
            {"path": str(r.clip.path), "reason": r.end_reason or "no prediction"} for r in runs if not r.probs
        ],
        "windows": int(len(y_w)),
        "windows_no_person": sum(r.no_person for r in runs),
        "clip_accuracy": _top_k(p_c, y_c, 1),
        "clip_topk_accuracy": _top_k(p_c, y_c, k),
        "window_accuracy": _top_k(p_w, y_w, 1),
        "window_topk_accuracy": _top_k(p_w, y_w, k),
        "smoothed_accuracy": _mean([float(h) for h in smoothed_hits]),
        "median_time_to_first_correct_s": statistics.median(first_correct) if first_correct else None,
        "clips_never_correct": len(scored) - len(first_correct),
        "label_changes_per_minute": changes / minutes if minutes > 0 else None,
        "per_class_clip_accuracy": {
            labels[c]: float(np.mean(np.argmax(p_c[y_c == c], axis=1) == c)) for c in sorted(set(y_c.tolist()))
        },
    }
    if offline and offline_probs:
        p_o = np.asarray(offline_probs, np.float32)
        ok = np.isfinite(p_o).all(axis=1)
        report["offline_clip_accuracy"] = _top_k(p_o[ok], y_c[ok], 1)
        report["offline_clip_topk_accuracy"] = _top_k(p_o[ok], y_c[ok], k)
        report["engine_offline_agreement"] = (
            float(np.mean(np.argmax(p_o[ok], 1) == np.argmax(p_c[ok], 1))) if ok.any() else None
        )
        report["offline_note"] = (
            "training's evaluation path: extract_clip + clip_windows with the engine's hop "
            "(the same windows the engine classifies), same ONNX sessions, no engine"
        )
    report["clips"] = clips_out
    return _json_safe(report)


def _json_safe(obj):
    """NaN/inf -> None, so the report is strict JSON."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


def check_clips(clips: list[ReplayClip], labels: list[str]) -> None:
    """Refuse, in one line, clips the model cannot be scored on."""
    if not clips:
        raise ActionstreamError("no clips to replay (is the split's test list empty for these classes?)")
    unknown = sorted({c.label for c in clips} - set(labels))
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise ActionstreamError(
            f"the clips' classes {shown} are not among the bundle's labels "
            f"({', '.join(labels[:10])}{', ...' if len(labels) > 10 else ''}); replay clips of "
            "the classes the model knows (--classes) or use the matching bundle"
        )


def replay_report(
    engine: Engine,
    clips: list[ReplayClip],
    parallel: int = DEFAULT_PARALLEL,
    offline: bool = True,
    progress: bool = True,
) -> dict:
    """Replay and score; also records the wall time and the engine's throughput."""
    check_clips(clips, engine.labels)
    t0 = time.monotonic()
    runs = replay_clips(engine, clips, parallel=parallel, progress=progress)
    replay_s = time.monotonic() - t0
    frames = engine.extracted_frames
    report = score(engine, runs, offline=offline, progress=progress)
    report["replay_seconds"] = round(replay_s, 3)
    report["features_per_second"] = round(frames / replay_s, 1) if replay_s > 0 else None
    return report


def dataset_clips(
    data: Path, splits: Path | None = None, split: str | None = None, classes: str | None = None
) -> tuple[list[ReplayClip], dict]:
    """The clips to replay: the test clips of a split, or every clip under `data`; plus notes for the report."""
    from streaming.datasets import discover, select_classes
    from streaming.splits import make_split

    class_ind = Path(splits) / "classInd.txt" if splits is not None else None
    dataset = discover(Path(data), class_ind=class_ind if class_ind is not None and class_ind.is_file() else None)
    dataset = select_classes(dataset, classes)
    notes: dict = {"data": str(data), "classes": list(dataset.classes)}
    if split is None and splits is not None:
        split = "1"
    if split is None:
        chosen = dataset.clips
        notes["split"] = None
    else:
        s = make_split(dataset, split, splits)
        chosen = s.test
        notes.update(split=s.name, missing=len(s.missing), missing_examples=s.missing[:10], group_leaks=s.group_leaks)
    return [ReplayClip(Path(c.path), c.label) for c in chosen], notes
