"""One stream as a page shows it: the view built from its engine events, and the annotated frame.

view = StreamView("cam1", engine.labels, engine.provider, engine.manifest.sampling)
for event in subscription:
    view.apply(event)
status, bars, plot = view.status_line(), view.bars(), view.timeline()
picture = annotate(frame_bgr, view.prediction, view.problem(), person=person)
"""

from __future__ import annotations

import collections
import textwrap
from dataclasses import dataclass, field

import cv2
import numpy as np
import pandas as pd

from dashboard.pose import NO_PERSON, no_person
from streaming.events import Metrics, Prediction, SourceState, Status
from streaming.person import Person
from streaming.pose_draw import draw_person
from streaming.sampler import Sampling

TIMELINE_S = 60.0  # the probability timeline shows the last minute of stream time
TIMELINE_CLASSES = 3
HISTORY_PREDICTIONS = 1200
MAX_FRAME_WIDTH = 640  # frames are scaled to 480..640 px wide before JPEG encoding: what the page shows
MIN_FRAME_WIDTH = 480
ENDED_STATES = (SourceState.ENDED, SourceState.FAILED)
#: A live source capturing below this share of the bundle's feature rate is said to be too slow (a measured
#: 9.6 fps from a 10 fps camera is not news; 5 fps is: every window then spans twice the seconds it was trained on).
RATE_SHORTFALL = 0.9
LABEL_BGR = (80, 255, 80)
IDLE_BGR = (210, 210, 210)
PROBLEM_BGR = (60, 180, 255)


@dataclass
class StreamView:
    """What the page shows for one stream, built from that stream's engine events.

    `sampling`: the bundle's feature rate and window, so a source too slow for it can say so (None: not checked).
    """

    name: str
    labels: list[str]
    provider: str
    sampling: Sampling | None = None
    status: Status | None = None
    metrics: Metrics | None = None
    prediction: Prediction | None = None
    predictions: int = 0
    metrics_seen: int = 0
    warmup: float | None = None  # fraction of the window filled, until the first prediction after a (re)start
    warmup_reason: str = ""
    history: collections.deque = field(default_factory=lambda: collections.deque(maxlen=HISTORY_PREDICTIONS))

    def apply(self, event: Prediction | Status | Metrics) -> None:
        if isinstance(event, Prediction):
            self.prediction = event
            self.predictions += 1
            self.warmup = None
            if not no_person(event):  # nobody in view: no probabilities to plot, a gap in the timeline
                self.history.append((event.t, _probs(event, self.labels)))
            while self.history and (
                self.history[0][0] < event.t - TIMELINE_S or self.history[0][0] > event.t
            ):  # older than a minute, or a stream whose clock went back
                self.history.popleft()
        elif isinstance(event, Status) and event.warmup is not None:
            # warm-up progress, or a window restarted after a gap: not a change of the source's state
            self.warmup, self.warmup_reason = event.warmup, event.reason
        elif isinstance(event, Status):
            self.status = event
        elif isinstance(event, Metrics):
            self.metrics = event
            self.metrics_seen += 1

    @property
    def state(self) -> SourceState:
        return self.status.state if self.status else SourceState.CONNECTING

    @property
    def finished(self) -> bool:
        return self.state in ENDED_STATES

    def problem(self) -> str:
        """What to draw on the frame when the source is not live ('' when it is)."""
        if self.state == SourceState.LIVE or self.status is None:
            return ""
        return f"{self.state.value}: {self.status.reason}" if self.status.reason else self.state.value

    def action(self) -> str:
        """The current action and score, "no person in view", or '' before the first prediction."""
        p = self.prediction
        return "" if p is None else label_text(p)

    def capture_note(self) -> str:
        """The capture rate, and when it is below the bundle's feature rate, what that does to a window.

        Not from the first metrics of a stream: they cover the moments before its first frame too."""
        m, s = self.metrics, self.sampling
        if m is None:
            return ""
        text = f"capture {m.capture_fps:.1f} fps"
        slow = 0 < m.capture_fps < RATE_SHORTFALL * s.feature_rate if s is not None else False
        if not slow or self.state != SourceState.LIVE or self.metrics_seen < 2:
            return text
        span = s.window / m.capture_fps
        return (
            f"{text} < {s.feature_rate:g} features/s the model expects: windows span {round(span, 1):g} s, "
            f"not {round(s.window_seconds, 1):g} s"
        )

    def status_line(self) -> str:
        s = self.status
        parts = [f"**{self.name}**: {self.state.value}" + (f" ({s.reason})" if s and s.reason else "")]
        if self.warmup is not None and not self.finished:
            why = "" if self.warmup_reason in ("", "warming up") else f" ({self.warmup_reason})"
            parts.append(f"warming up {self.warmup:.0%}{why}")
        m = self.metrics
        parts.append(short_provider(m.provider if m and m.provider else self.provider))
        if m:
            latency = (
                f"latency {m.latency_p50_ms:.0f} ms (p95 {m.latency_p95_ms:.0f})"
                if np.isfinite(m.latency_p50_ms)
                else "latency –"
            )
            parts += [
                self.capture_note(),
                f"features {m.feature_fps:.1f}/s",
                f"dropped {m.dropped_frames}",
                latency,
                f"engine load {m.load:.0%}" + (" (at capacity)" if m.at_capacity else ""),
            ]
        p = self.prediction
        if p:
            parts.append(
                f"prediction #{self.predictions} at t={p.t:.1f} s: {self.action()}"
                + (" (partial window)" if p.partial else "")
            )
        return " · ".join(parts)

    def bars(self) -> dict[str, float]:
        p = self.prediction
        return {label: float(score) for label, score in p.topk} if p else {}

    def timeline_classes(self) -> list[str]:
        """The classes that peaked highest in the last minute: the lines drawn and named in the legend."""
        if not self.history:
            return []
        peaks = np.stack([p for _, p in self.history]).max(axis=0)
        return [self.labels[i] for i in np.argsort(-peaks)[:TIMELINE_CLASSES]]

    def timeline(self, drawn: list[str] | None = None) -> pd.DataFrame:
        """Probability per class against seconds before now; NaN (no line) for all but `drawn` (by default
        timeline_classes(); a caller that already has them passes them in).

        Every class has rows, in label order, from the first update on: Gradio's LinePlot fixes its colour
        scale's domain when it first draws and afterwards only swaps the data, so a class missing then would
        never get a line."""
        if self.history:
            times = np.array([t for t, _ in self.history])
            probs = np.stack([p for _, p in self.history])
        else:
            times, probs = np.zeros(1), np.full((1, len(self.labels)), np.nan, np.float32)
        shown = np.full_like(probs, np.nan)
        columns = [self.labels.index(c) for c in (self.timeline_classes() if drawn is None else drawn)]
        shown[:, columns] = probs[:, columns]
        seconds = times - times[-1]
        return pd.DataFrame(
            {
                "seconds": np.tile(seconds, len(self.labels)),
                "probability": shown.T.reshape(-1),
                "action": np.repeat(self.labels, len(seconds)),
            }
        )


def label_text(p: Prediction) -> str:
    """A prediction as the page says it: the steady label with its smoothed score, and, while another action
    already leads the smoothed scores (the Top actions bars) but has not led for the hold time yet, that one too,
    so the frame and the bars never tell two different stories."""
    if no_person(p):
        return NO_PERSON
    text = f"{p.label} {p.score:.2f}"
    if p.topk and p.topk[0][0] != p.label:
        text += f" (held; {p.topk[0][0]} {p.topk[0][1]:.2f} leads)"
    return text


def _probs(p: Prediction, labels: list[str]) -> np.ndarray:
    if len(p.probs) == len(labels):
        return np.asarray(p.probs, np.float32)
    out = np.zeros(len(labels), np.float32)  # engine sent only the top-k: the rest count as ~0
    index = {label: i for i, label in enumerate(labels)}
    for label, score in p.topk:
        if label in index:
            out[index[label]] = score
    return out


def short_provider(provider: str) -> str:
    """'CPUExecutionProvider' -> 'CPU'."""
    return provider.replace("ExecutionProvider", "") or "?"


def annotate(
    frame_bgr: np.ndarray,
    prediction: Prediction | None,
    problem: str = "",
    title: str = "",
    person: Person | None = None,
) -> np.ndarray:
    """The frame as RGB for the page, scaled to 480..640 px wide, with the person's box and skeleton (when
    given), the current label and score (or "no person in view") on a dark band at the top and, when the
    source is not live, what is wrong at the bottom."""
    h, w = frame_bgr.shape[:2]
    width = min(max(w, MIN_FRAME_WIDTH), MAX_FRAME_WIDTH)
    if width != w:
        frame_bgr = cv2.resize(
            frame_bgr, (width, round(h * width / w)), interpolation=cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
        )
    elif person is None:
        frame_bgr = frame_bgr.copy()  # the engine's frame is shared: draw on a copy
    if person is not None:
        frame_bgr = draw_person(frame_bgr, person)  # on a copy; frame fractions, so any size
    h, w = frame_bgr.shape[:2]
    scale = w / 640
    band = int(32 * scale)
    if prediction is None:
        text, colour = "warming up", IDLE_BGR
    elif no_person(prediction):
        text, colour = NO_PERSON, IDLE_BGR
    else:
        text, colour = label_text(prediction), LABEL_BGR
    text = f"{title}: {text}" if title else text
    _text_band(frame_bgr, 0, band, [text], 0.75 * scale, colour)
    if problem:
        lines = textwrap.wrap(problem, 60)[:3]
        height = int((14 + 22 * len(lines)) * scale)
        _text_band(frame_bgr, h - height, height, lines, 0.55 * scale, PROBLEM_BGR)
    return cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)


def _text_band(
    img: np.ndarray, top: int, height: int, lines: list[str], font_scale: float, colour: tuple[int, int, int]
) -> None:
    img[top : top + height] = (img[top : top + height] * 0.3).astype(np.uint8)
    step = height / len(lines)
    for k, line in enumerate(lines):
        y = int(top + step * (k + 0.5) + 8 * font_scale)
        cv2.putText(
            img,
            line,
            (int(10 * font_scale), y),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            colour,
            max(1, round(2.5 * font_scale)),
            cv2.LINE_AA,
        )


def placeholder() -> np.ndarray:
    """A grey BGR frame for a camera that has sent no frame yet."""
    return np.full((360, 480, 3), 70, np.uint8)
