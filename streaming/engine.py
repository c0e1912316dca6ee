"""The streaming engine: many sources in, rolling action predictions out.

One worker thread follows every frame along plain function calls:

    source (capture thread: RateSampler.take(t), only due frames queued) -> FrameBatch.add (cnn: preprocessed
    into a shared batch) -> extractor (one call for the due frames of all streams; cnn or pose) ->
    StreamWindow.push (the stream's window rules) -> when a window is due: Head (one call for the due windows of
    all streams) -> Smoother -> Prediction event -> Fanout -> subscribers

    with Engine("models/demo") as engine:
        engine.add_source(open_source("demo"))
        for event in engine.events():
            print(event)

The engine keeps the stream registry, the worker and the batching; the window rules live in
streaming.stream_window, the event fan-out in streaming.fanout. The worker waits on one Event that every source
sets when it has a frame or a state change, so it never polls. Queues are bounded and buffers preallocated, so
memory stays flat over a long run.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from streaming.bundle import Bundle, Manifest, load_bundle
from streaming.errors import SourceError
from streaming.events import NO_CLEAR_ACTION, Event, Metrics, Prediction, SourceState, Status
from streaming.extractor import AnyExtractor, ExtractorState, FrameBatch, open_extractor
from streaming.fanout import Fanout, Subscription, follow
from streaming.head import Head
from streaming.person import Person
from streaming.providers import DEVICES
from streaming.smoothing import Smoother
from streaming.sources import TERMINAL_STATES, Frame, Source
from streaming.stream_window import GAP_RESET_S, Due, StreamWindow

__all__ = ["GAP_RESET_S", "IDLE_WAIT_S", "Engine", "EngineConfig", "Subscription"]

log = logging.getLogger("actionstream")

#: Recent end-to-end latencies kept per stream for the p50/p95 figures.
LATENCY_SAMPLES = 256
#: Longest the worker sleeps with nothing to do (it also wakes for metrics and on every frame).
IDLE_WAIT_S = 0.5
#: Features more than this many feature periods apart come from a source slower than the bundle's feature rate;
#: SLOW_FEATURES_IN_A_ROW of them in a row and the stream is told so, once (until the rate recovers).
SLOW_INTERVAL_PERIODS = 1.5
SLOW_FEATURES_IN_A_ROW = 3


@dataclass(frozen=True)
class EngineConfig:
    """How the engine runs. `hop_s`: stream seconds between predictions; `ema_alpha`: weight of the newest
    window in the smoothed probabilities; `hold_s`: how long a new label must lead before it is shown."""

    device: str = "auto"
    int8: bool = False
    int8_head: bool = False
    hop_s: float = 1.0
    topk: int = 5
    ema_alpha: float = 0.5
    hold_s: float = 1.0
    metrics_every_s: float = 2.0
    max_batch: int = 32
    threads: int = 0

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if not (self.hop_s > 0 and math.isfinite(self.hop_s)):
            raise ValueError(f"hop_s must be a positive number of seconds, got {self.hop_s}")
        if self.topk < 1:
            raise ValueError(f"topk must be >= 1, got {self.topk}")
        if not 0.0 < self.ema_alpha <= 1.0:
            raise ValueError(f"ema_alpha must be in (0, 1], got {self.ema_alpha}")
        if self.hold_s < 0:
            raise ValueError(f"hold_s must be >= 0, got {self.hold_s}")
        if not self.metrics_every_s > 0:
            raise ValueError(f"metrics_every_s must be > 0, got {self.metrics_every_s}")
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0 = ONNX Runtime's default), got {self.threads}")


@dataclass(eq=False)
class _Stream:
    """Everything the engine keeps for one stream. Touched only by the worker, except the read-only
    `latest_prediction` and `latest_person`."""

    id: str
    source: Source
    window: StreamWindow
    smoother: Smoother
    extractor_state: ExtractorState = None  # the pose pipeline's tracking state; None for a cnn
    latest_prediction: Prediction | None = None
    latest_person: Person | None = None  # the person in the newest feature's frame
    newest_captured_at: float = 0.0  # capture time of the newest feature's frame
    predictions: int = 0  # predictions ever
    state: SourceState = SourceState.CONNECTING  # last state said to subscribers
    terminal: Status | None = None  # ended/failed status, held until the last frames are processed
    finished: bool = False
    latencies: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    mark_captured: int = 0  # counters at the last metrics event
    mark_features: int = 0
    last_t: float | None = None  # stream time of the newest feature
    slow_run: int = 0  # features in a row that came too long after the one before
    slow_note: str = ""  # what was said about a source too slow for the feature rate ('' when it is not)


@dataclass(frozen=True)
class _Queued:
    """A window waiting for the head call. `slot`: its row in the head batch; None when nobody is in view (it
    becomes a "no person" prediction without the head)."""

    stream: _Stream
    t: float
    captured_at: float
    partial: bool
    person: Person | None
    slot: int | None


class _Timing:
    """Mean milliseconds per call since the last read; shared by all streams' metrics."""

    def __init__(self) -> None:
        self.total_s = 0.0
        self.calls = 0
        self.last_ms = 0.0

    def add(self, seconds: float) -> None:
        self.total_s += seconds
        self.calls += 1

    def take_ms(self) -> float:
        if self.calls:
            self.last_ms = 1000.0 * self.total_s / self.calls
        self.total_s, self.calls = 0.0, 0
        return self.last_ms


class Engine:
    """Rolling action recognition over any number of sources with one extractor and one head session."""

    def __init__(self, bundle: str | Path | Bundle, config: EngineConfig = EngineConfig()):
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.manifest: Manifest = self.bundle.manifest
        self.config = config
        self.extractor: AnyExtractor = open_extractor(
            self.bundle, int8=config.int8, device=config.device, threads=config.threads
        )
        self.head = Head(self.bundle, int8=config.int8_head, device=config.device, threads=config.threads)
        self.labels: list[str] = list(self.manifest.labels)
        #: a smoothed score under this is shown as "no clear action", never as a confident-looking label
        self.open_set_threshold = self.manifest.open_set_threshold
        self.window = self.manifest.sampling.window
        self.feature_rate = float(self.manifest.sampling.feature_rate)
        self.hop = max(1, round(config.hop_s * self.feature_rate))  # features between predictions
        self.topk = min(config.topk, len(self.labels))
        self.provider: str = self.extractor.provider
        if self.manifest.sampling.mode == "segments":
            log.warning(
                "actionstream: %s was trained with `segments` sampling (40 frames spread over each whole "
                "clip); the live engine samples at %g features/s, so its windows span different times "
                "than in training and accuracy may drop. Retrain with `--sampling stride` for streaming.",
                self.bundle.root,
                self.feature_rate,
            )
        # preallocated batches: frames for one extractor call, windows for one head call
        self._frame_batch = FrameBatch(self.extractor, config.max_batch)
        self._window_batch = np.zeros((config.max_batch, self.window, self.manifest.feature_size), np.float32)
        self._queued: list[_Queued] = []
        self._slots_used = 0  # rows of _window_batch held by queued windows
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()
        self._fanout = Fanout()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._all_done = threading.Event()
        self._all_done.set()
        self._worker: threading.Thread | None = None
        self._extract_timing = _Timing()
        self._head_timing = _Timing()
        self._busy_s = 0.0  # worker time spent in steps since the last metrics
        self.extractor_calls = 0
        self.extracted_frames = 0
        self.multi_stream_batches = 0  # extractor calls that held frames of more than one stream
        self.head_calls = 0
        self.error = ""
        self._claim_memory()

    @property
    def feature_fps(self) -> float:
        """The bundle's feature rate (features per second); the old name of `feature_rate`."""
        return self.feature_rate

    def _claim_memory(self) -> None:
        """One extractor and one head call at max_batch: ONNX Runtime's arenas and the batch buffers reach the
        size a backlog could ever need now, so memory stays flat afterwards (it grew in steps, with each
        larger backlog, before) and the first real call is not a cold one."""
        self._frame_batch.claim_memory()
        for _ in range(2):  # ONNX Runtime plans a shape's memory on its first run and allocates it on the next
            self.head(self._window_batch)

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._worker is not None:
            return
        self._worker = threading.Thread(target=self._run_worker, name="actionstream-engine", daemon=True)
        self._worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker and every source; closes all subscriptions."""
        self._stopping.set()
        self._wake.set()
        self._fanout.close()  # a lossless subscriber may be what the worker waits on
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout)
        with self._lock:
            streams = list(self._streams.values())
        for st in streams:
            st.source.request_stop()
        for st in streams:
            st.source.stop(timeout=1.0)
        self._all_done.set()

    def __enter__(self) -> "Engine":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    # -- streams ---------------------------------------------------------------------------------------------

    def add_source(self, source: Source) -> str:
        """Start `source` and follow it; its name is the stream id (unique among running streams)."""
        if self._stopping.is_set():
            raise SourceError("the engine has been stopped; create a new one")
        with self._lock:
            old = self._streams.get(source.name)
            if old is not None and not old.finished:
                raise SourceError(f"a stream named {source.name!r} is already running; give the source another name")
            self._streams[source.name] = _Stream(
                id=source.name,
                source=source,
                window=StreamWindow(self.window, self.manifest.feature_size, self.hop),
                smoother=Smoother(
                    len(self.labels),
                    alpha=self.config.ema_alpha,
                    hold_s=self.config.hold_s,
                    tolerance_s=0.5 / self.feature_rate,
                ),
                extractor_state=self.extractor.new_state(),
            )
            self._all_done.clear()
        source.sample_at(self.feature_rate)
        source.attach(self._wake)
        source.start()
        return source.name

    def remove_source(self, stream_id: str) -> None:
        """Stop a stream's source and forget the stream."""
        with self._lock:
            st = self._streams.pop(stream_id, None)
            if st is None:
                raise SourceError(f"no stream named {stream_id!r}")
            self._update_done_locked()
        st.source.stop(timeout=1.0)
        if not st.finished:
            st.finished = True
            self._fanout.publish(Status(stream=stream_id, state=SourceState.ENDED, reason="removed"))
        self._wake.set()

    def stream_ids(self) -> list[str]:
        with self._lock:
            return list(self._streams)

    def get_source(self, stream_id: str) -> Source | None:
        st = self._streams.get(stream_id)
        return st.source if st else None

    def latest_frame(self, stream_id: str) -> Frame | None:
        """The newest frame this stream captured, due for a feature or not (shared: do not modify its image)."""
        st = self._streams.get(stream_id)
        return st.source.latest if st else None

    def latest_prediction(self, stream_id: str) -> Prediction | None:
        st = self._streams.get(stream_id)
        return st.latest_prediction if st else None

    def latest_person(self, stream_id: str) -> Person | None:
        """The person in the newest frame that got a feature (None: nobody, or a cnn extractor, or no stream)."""
        st = self._streams.get(stream_id)
        return st.latest_person if st else None

    # -- events ----------------------------------------------------------------------------------------------

    def subscribe(self, stream_id: str | None = None, maxsize: int = 256, lossless: bool = False) -> Subscription:
        """Events of one stream (or all) from now on; see Subscription for what happens when you fall behind."""
        return self._fanout.subscribe(stream_id, maxsize, lossless)

    def unsubscribe(self, sub: Subscription) -> None:
        self._fanout.unsubscribe(sub)

    def events(self, duration_s: float | None = None, stream_id: str | None = None) -> Iterator[Event]:
        """Every event (nothing dropped) until all streams have ended or failed, or `duration_s` passed.

        Subscribes at the call, so call it before adding sources to see their first status.
        """
        return self._follow(self.subscribe(stream_id, maxsize=1024, lossless=True), duration_s)

    def run_until_done(self, sources: Iterable[Source], duration_s: float | None = None) -> Iterator[Event]:
        """Start, add `sources`, and yield every event until they have all ended or failed (or time is up)."""
        sub = self.subscribe(maxsize=1024, lossless=True)
        try:
            self.start()
            for source in sources:
                self.add_source(source)
        except BaseException:
            self.unsubscribe(sub)  # an unread lossless subscription would hold the worker up
            raise
        yield from self._follow(sub, duration_s)

    def _follow(self, sub: Subscription, duration_s: float | None) -> Iterator[Event]:
        try:
            yield from follow(sub, self._all_done, duration_s)
        finally:
            self.unsubscribe(sub)

    # -- the worker ------------------------------------------------------------------------------------------

    def _run_worker(self) -> None:
        try:
            next_metrics = time.monotonic() + self.config.metrics_every_s
            metrics_from = time.monotonic()
            while not self._stopping.is_set():
                self._wake.wait(timeout=max(0.0, min(IDLE_WAIT_S, next_metrics - time.monotonic())))
                self._wake.clear()
                if self._stopping.is_set():
                    break
                started = time.monotonic()
                if self._step():
                    self._wake.set()  # frames left in some queue: go round again without waiting
                now = time.monotonic()
                self._busy_s += now - started
                if now >= next_metrics:
                    self._emit_metrics(now - metrics_from)
                    metrics_from, next_metrics = now, now + self.config.metrics_every_s
        except Exception as exc:  # a bug or an ONNX Runtime failure: every stream learns why, then we stop
            log.exception("actionstream engine worker crashed")
            self.error = f"engine error: {type(exc).__name__}: {exc}"
            with self._lock:
                streams = [st for st in self._streams.values() if not st.finished]
            for st in streams:
                st.finished = True
                self._fanout.publish(Status(stream=st.id, state=SourceState.FAILED, reason=self.error))
            self._stopping.set()
            self._fanout.close()
            self._all_done.set()

    def _step(self) -> bool:
        """Take queued frames from every stream, extract their features in one call, classify due windows in one
        call. True if frames are still queued."""
        with self._lock:
            streams = [st for st in self._streams.values() if not st.finished]
        for st in streams:
            self._take_statuses(st)
        # up to max_batch frames, one per stream in turn: a step (one extractor call) stays short when the engine
        # is behind, its predictions go out at its end, and no stream waits for another's backlog. A stream with
        # tracking state (pose) gives one frame per step: its next crop comes from this frame's landmarks.
        batch = self._frame_batch
        readable = list(streams)
        while readable and not batch.full:
            for st in list(readable):
                if not batch.room_for(st.extractor_state):
                    readable.remove(st)
                    continue
                frame = st.source.read()
                if frame is None:
                    readable.remove(st)
                    continue
                batch.add(frame.image, st.extractor_state, (st, frame))
                if batch.full:
                    break
        more = any(st.source.pending() > 0 for st in streams)
        self._extract()
        ending = [st for st in streams if st.source.ended]
        last_words = {}
        for st in ending:
            self._take_statuses(st)
            due = st.window.finish()  # a short stream's one (looped) window, or the stream's last seconds
            if due is Due.PARTIAL and st.source.truncated:
                due = Due.NOTHING  # the part of an action before a cut, looped, is not the action
            if due is not Due.NOTHING:
                self._queue_window(st, partial=due is Due.PARTIAL)
            last_words[st.id] = self._no_prediction_reason(st) if st.predictions == 0 and due is Due.NOTHING else ""
        self._flush_head()
        for st in ending:
            st.finished = True
            end = st.terminal or Status(stream=st.id, state=st.source.state, reason=st.source.reason)
            if last_words[st.id]:
                end = replace(end, reason=f"{end.reason}; no prediction: {last_words[st.id]}")
            self._fanout.publish(end)
        if ending:
            with self._lock:
                self._update_done_locked()
        return more

    def _no_prediction_reason(self, st: _Stream) -> str:
        """Why a stream that ended never got a prediction ('' when it simply had no frame)."""
        rate, win = self.feature_rate, st.window
        held = f"{win.count} frame{'s' if win.count != 1 else ''} at {rate:g} features/s ({win.count / rate:.1f} s)"
        if st.slow_note:
            return st.slow_note
        if win.too_short:
            return (
                f"too short to hold an action: {held}, where the model needs at least {win.min_partial / rate:.1f} s "
                f"(its window is {self.window / rate:.1f} s)"
            )
        if st.source.truncated and win.count:
            return f"the file was cut short after {held}, less than one {self.window / rate:.1f} s window"
        return ""

    def _check_rate(self, st: _Stream, t: float) -> None:
        """Say, once, when a source delivers fewer frames than the bundle's feature rate: windows then span more
        seconds than in training, and with frames over GAP_RESET_S apart no window ever fills."""
        dt = t - st.last_t if st.last_t is not None else 0.0
        st.last_t = t
        if dt <= SLOW_INTERVAL_PERIODS / self.feature_rate:
            st.slow_run, st.slow_note = 0, ""
            return
        st.slow_run += 1
        if st.slow_run < SLOW_FEATURES_IN_A_ROW or st.slow_note:
            return
        need = f"the model needs {self.feature_rate:g} frames per second"
        if dt > st.window.gap_reset_s:
            st.slow_note = (
                f"too few frames: the source delivers one every {dt:.1f} s and {need}; a gap over "
                f"{st.window.gap_reset_s:g} s restarts its window, so none ever fills (no prediction)"
            )
        else:
            st.slow_note = (
                f"too few frames: the source delivers {1 / dt:.1f} per second and {need}; each window spans "
                f"{self.window * dt:.0f} s instead of {self.window / self.feature_rate:.0f} s"
            )
        self._fanout.publish(Status(stream=st.id, state=st.state, reason=st.slow_note))

    def _update_done_locked(self) -> None:
        if all(st.finished for st in self._streams.values()):
            self._all_done.set()

    def _take_statuses(self, st: _Stream) -> None:
        for status in st.source.pop_statuses():
            if status.state in TERMINAL_STATES:
                st.terminal = status  # said after the stream's last predictions
                continue
            if status.state == SourceState.RECONNECTING:
                st.window.restart_next("reconnected")
            st.state = status.state
            self._fanout.publish(status)

    def _extract(self) -> None:
        """Features for the frames in the batch (all streams, one call), applied in the order they were taken."""
        if not len(self._frame_batch):
            return
        t0 = time.perf_counter()
        tags, result = self._frame_batch.run()
        self._extract_timing.add(time.perf_counter() - t0)
        self.extractor_calls += 1
        self.extracted_frames += len(tags)
        if len({st.id for st, _ in tags}) > 1:
            self.multi_stream_batches += 1
        for (st, frame), feat, person in zip(tags, result.features, result.persons):
            self._add_feature(st, frame, feat, person)

    def _add_feature(self, st: _Stream, frame: Frame, feat: np.ndarray, person: Person | None) -> None:
        st.latest_person = person
        st.newest_captured_at = frame.captured_at
        self._check_rate(st, frame.t)
        update = st.window.push(feat, frame.t, (person is not None) if self.extractor.finds_people else None)
        if update.restarted:
            st.smoother.reset()
            self._fanout.publish(
                Status(stream=st.id, state=st.state, reason=f"{update.restarted}: window restarted", warmup=0.0)
            )
        if update.due is Due.WINDOW:
            self._queue_window(st, partial=False)
        elif update.warmup is not None:
            self._fanout.publish(Status(stream=st.id, state=st.state, reason="warming up", warmup=update.warmup))

    def _queue_window(self, st: _Stream, partial: bool) -> None:
        """Copy the stream's window into the head batch, or, with nobody in view, queue a "no person" event."""
        slot = None
        if st.window.person_in_view is False:
            st.window.take_window(None, partial)
        else:
            slot = self._slots_used
            st.window.take_window(self._window_batch[slot], partial)
            self._slots_used += 1
        self._queued.append(_Queued(st, st.window.newest_t, st.newest_captured_at, partial, st.latest_person, slot))
        if self._slots_used == len(self._window_batch):
            self._flush_head()

    def _flush_head(self) -> None:
        if not self._queued:
            return
        probs = None
        if self._slots_used:
            t0 = time.perf_counter()
            probs = self.head(self._window_batch[: self._slots_used])
            self._head_timing.add(time.perf_counter() - t0)
            self.head_calls += 1
        finds_people = self.extractor.finds_people
        for q in self._queued:
            st = q.stream
            latency_ms = 1000.0 * (time.monotonic() - q.captured_at)
            if q.slot is None:
                pred = Prediction(
                    stream=st.id,
                    t=float(q.t),
                    label="",
                    score=0.0,
                    topk=[],
                    latency_ms=latency_ms,
                    partial=q.partial,
                    person=False,
                )
            else:
                p = probs[q.slot]
                label, score, smoothed = st.smoother.update(p, q.t)
                top = np.argsort(-smoothed)[: self.topk]
                raw = int(np.argmax(p))
                shown = self.labels[label] if score >= self.open_set_threshold else NO_CLEAR_ACTION
                pred = Prediction(
                    stream=st.id,
                    t=float(q.t),
                    label=shown,
                    score=score,
                    topk=[(self.labels[i], float(smoothed[i])) for i in top],
                    latency_ms=latency_ms,
                    raw_label=self.labels[raw],
                    raw_score=float(p[raw]),
                    probs=[float(x) for x in p],
                    partial=q.partial,
                    person=True if finds_people else None,
                    box=q.person.box if q.person is not None else None,
                )
            st.latest_prediction = pred
            st.predictions += 1
            st.latencies.append(latency_ms)
            self._fanout.publish(pred)
        self._queued.clear()
        self._slots_used = 0

    def _emit_metrics(self, interval_s: float) -> None:
        extractor_ms = self._extract_timing.take_ms()
        head_ms = self._head_timing.take_ms()
        load, self._busy_s = min(1.0, self._busy_s / interval_s), 0.0
        with self._lock:
            streams = [st for st in self._streams.values() if not st.finished]
        for st in streams:
            captured = st.source.captured
            features = st.window.features
            lat = np.asarray(st.latencies, np.float64)
            p50, p95 = np.percentile(lat, [50, 95]) if len(lat) else (math.nan, math.nan)
            self._fanout.publish(
                Metrics(
                    stream=st.id,
                    capture_fps=(captured - st.mark_captured) / interval_s,
                    feature_fps=(features - st.mark_features) / interval_s,
                    dropped_frames=st.source.dropped,
                    extractor_ms=extractor_ms,
                    head_ms=head_ms,
                    latency_p50_ms=float(p50),
                    latency_p95_ms=float(p95),
                    provider=self.provider,
                    load=load,
                )
            )
            st.mark_captured, st.mark_features = captured, features
