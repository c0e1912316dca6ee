"""What the engine emits. The dashboard, the CLI and the replay evaluation all consume these."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import Enum

#: Engine load (share of time the worker is busy) from which the CLI and the dashboard say it is at capacity.
AT_CAPACITY_LOAD = 0.9


class SourceState(str, Enum):
    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"


#: The label a prediction carries when no class is confident enough (below the bundle's open_set_threshold).
NO_CLEAR_ACTION = "no clear action"


@dataclass(frozen=True)
class Prediction:
    """One classified window of one stream.

    `t` is the stream time (s) of the newest frame in the window; `latency_ms` runs from that frame's capture
    to this event's emission. `label`/`score` are the smoothed, hysteresis-held display label; `raw_label` is
    the plain argmax of this window. `partial` marks a window filled by looping a stream that ended early.

    `person`: whether the newest frame of the window shows a person (None: the extractor does not look for
    people); `box`: that person's (x0, y0, x1, y1) in frame fractions. When `person` is False nobody is in
    view: the window is not classified, so `label`, `raw_label` are "" and `topk`, `probs` empty (see
    `no_person`), never a guessed action.
    """

    stream: str
    t: float
    label: str
    score: float
    topk: list[tuple[str, float]]
    latency_ms: float
    raw_label: str = ""
    raw_score: float = 0.0
    probs: list[float] = field(default_factory=list)
    partial: bool = False
    person: bool | None = None
    box: tuple[float, float, float, float] | None = None
    type: str = "prediction"

    @property
    def no_person(self) -> bool:
        """Nobody in view: this event carries no action label."""
        return self.person is False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["topk"] = [[lab, round(p, 5)] for lab, p in self.topk]
        d["probs"] = [round(p, 5) for p in self.probs]
        d["box"] = None if self.box is None else [round(v, 5) for v in self.box]
        return d


@dataclass(frozen=True)
class Status:
    """A stream changed state (connecting/live/reconnecting/ended/failed), or reports warm-up progress."""

    stream: str
    state: SourceState
    reason: str = ""
    warmup: float | None = None  # fraction of the first window filled, while warming up
    type: str = "status"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["state"] = self.state.value
        return d


@dataclass(frozen=True)
class Metrics:
    """Periodic health figures for one stream (and the shared extractor/head timings).

    `load` is the share of the interval the engine's worker spent working (shared by all streams): near 1 the
    engine is at capacity, and live streams start dropping frames due for features.
    """

    stream: str
    capture_fps: float
    feature_fps: float
    dropped_frames: int
    extractor_ms: float
    head_ms: float
    latency_p50_ms: float
    latency_p95_ms: float
    provider: str = ""
    load: float = 0.0
    type: str = "metrics"

    @property
    def at_capacity(self) -> bool:
        return self.load >= AT_CAPACITY_LOAD

    def to_dict(self) -> dict:
        return asdict(self)


Event = Prediction | Status | Metrics


def jsonable(obj):
    """Strict JSON: NaN (e.g. latency before the first prediction) becomes null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj
