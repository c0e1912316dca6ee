"""The streaming engine: many sources in, rolling action predictions out.

One worker thread follows every frame along plain function calls:

    source (capture thread: RateSampler.take(t), only due frames queued) -> preprocess_frame (into a shared
    batch) -> Extractor (one call for the due frames of all streams) -> RingBuffer.push -> every `hop`
    features: Head (one call for the due windows of all streams) -> Smoother -> Prediction event -> subscribers

    with Engine("models/demo") as engine:
        engine.add_source(open_source("demo"))
        for event in engine.events():
            print(event)

The worker waits on one Event that every source sets when it has a frame or a state change, so it never
polls. Queues are bounded and buffers preallocated, so memory stays flat over a long run.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streaming.bundle import Bundle, Manifest, load_bundle
from streaming.errors import SourceError
from streaming.events import Event, Metrics, Prediction, SourceState, Status
from streaming.extractor import Extractor
from streaming.head import Head
from streaming.preprocess import preprocess_frame
from streaming.providers import DEVICES
from streaming.ring_buffer import RingBuffer
from streaming.sampler import loop_to_window
from streaming.smoothing import Smoother
from streaming.sources import TERMINAL_STATES, Frame, Source

log = logging.getLogger("actionstream")

#: A jump in stream time longer than this (a paused webcam, a reconnect) restarts the stream's window:
#: features from both sides of a gap do not make one 4-second action.
GAP_RESET_S = 2.0
#: Recent end-to-end latencies kept per stream for the p50/p95 figures.
LATENCY_SAMPLES = 256
#: Longest the worker sleeps with nothing to do (it also wakes for metrics and on every frame).
IDLE_WAIT_S = 0.5


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


class Subscription:
    """A bounded queue of engine events for one consumer (all streams, or one).

    When the consumer is slow the oldest events are dropped (and counted), so a stalled dashboard cannot
    stall the engine; a `lossless` subscription (replay, CLI) makes the engine wait instead.
    """

    def __init__(self, stream_id: str | None = None, maxsize: int = 256, lossless: bool = False):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.stream_id = stream_id
        self.maxsize = maxsize
        self.lossless = lossless
        self.dropped = 0
        self._events: deque[Event] = deque()
        self._cond = threading.Condition()
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._events)

    def wants(self, event: Event) -> bool:
        return self.stream_id is None or event.stream == self.stream_id

    def offer(self, event: Event) -> None:
        """Called by the engine's worker."""
        with self._cond:
            if self._closed:
                return
            if len(self._events) >= self.maxsize:
                if self.lossless:
                    self._cond.wait_for(lambda: len(self._events) < self.maxsize or self._closed)
                    if self._closed:
                        return
                else:
                    self._events.popleft()
                    self.dropped += 1
            self._events.append(event)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event, waiting up to `timeout` s (None: until one comes or the subscription closes)."""
        with self._cond:
            if not self._events and timeout != 0:
                self._cond.wait_for(lambda: self._events or self._closed, timeout)
            if not self._events:
                return None
            event = self._events.popleft()
            self._cond.notify_all()
            return event

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __iter__(self) -> Iterator[Event]:
        """Events until the subscription is closed (by the consumer or when the engine stops)."""
        while True:
            event = self.get()
            if event is None:
                return
            yield event


@dataclass(eq=False)
class _Stream:
    """Everything the engine keeps for one stream. Touched only by the worker, except the read-only
    `latest_prediction`."""

    id: str
    source: Source
    ring: RingBuffer
    smoother: Smoother
    latest_prediction: Prediction | None = None
    last_frame_t: float | None = None
    newest_t: float = 0.0  # stream time of the newest feature's frame
    newest_captured_at: float = 0.0
    since_prediction: int = 0  # features since the last prediction (or the window restart)
    window_predictions: int = 0  # predictions since the window restart
    predictions: int = 0  # predictions ever
    features: int = 0  # features ever
    needs_reset: str = ""  # why the window must restart at the next frame
    state: SourceState = SourceState.CONNECTING  # last state said to subscribers
    terminal: Status | None = None  # ended/failed status, held until the last frames are processed
    finished: bool = False
    latencies: deque = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    mark_captured: int = 0  # counters at the last metrics event
    mark_features: int = 0


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
        self.extractor = Extractor(self.bundle, int8=config.int8, device=config.device, threads=config.threads)
        self.head = Head(self.bundle, int8=config.int8_head, device=config.device, threads=config.threads)
        self.labels: list[str] = list(self.manifest.labels)
        self.window = self.manifest.sampling.window
        self.feature_fps = float(self.manifest.sampling.feature_rate)
        self.hop = max(1, round(config.hop_s * self.feature_fps))  # features between predictions
        self.topk = min(config.topk, len(self.labels))
        self.provider: str = self.extractor.provider
        if self.manifest.sampling.mode == "segments":
            log.warning(
                "actionstream: %s was trained with `segments` sampling (40 frames spread over each whole "
                "clip); the live engine samples at %g features/s, so its windows span different times "
                "than in training and accuracy may drop. Retrain with `--sampling stride` for streaming.",
                self.bundle.root,
                self.feature_fps,
            )
        spec = self.manifest.frame
        self._spec = spec
        # preallocated batches: frames for one extractor call, windows for one head call
        self._frame_batch = np.empty((config.max_batch, spec.height, spec.width, 3), np.float32)
        self._window_batch = np.zeros((config.max_batch, self.window, self.manifest.feature_size), np.float32)
        self._pending: list[tuple[_Stream, float, float, bool]] = []  # (stream, t, captured_at, partial)
        self._streams: dict[str, _Stream] = {}
        self._lock = threading.Lock()
        self._subs: list[Subscription] = []
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

    def _claim_memory(self) -> None:
        """One extractor and one head call at max_batch: ONNX Runtime's arenas and the batch buffers reach the
        size a backlog could ever need now, so memory stays flat afterwards (it grew in steps, with each
        larger backlog, before) and the first real call is not a cold one."""
        self._frame_batch.fill(0.0)
        for _ in range(2):  # ONNX Runtime plans a shape's memory on its first run and allocates it on the next
            self.extractor(self._frame_batch)
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
        for sub in list(self._subs):  # a lossless subscriber may be what the worker waits on
            sub.close()
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
                ring=RingBuffer(self.window, self.manifest.feature_size),
                smoother=Smoother(
                    len(self.labels),
                    alpha=self.config.ema_alpha,
                    hold_s=self.config.hold_s,
                    tolerance_s=0.5 / self.feature_fps,
                ),
            )
            self._all_done.clear()
        source.sample_at(self.feature_fps)
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
            self._publish(Status(stream=stream_id, state=SourceState.ENDED, reason="removed"))
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

    # -- events ----------------------------------------------------------------------------------------------

    def subscribe(self, stream_id: str | None = None, maxsize: int = 256, lossless: bool = False) -> Subscription:
        """Events of one stream (or all) from now on; see Subscription for what happens when you fall behind."""
        sub = Subscription(stream_id, maxsize, lossless)
        if self._stopping.is_set():
            sub.close()
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        try:
            self._subs.remove(sub)
        except ValueError:
            pass  # already removed

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
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            while True:
                wait = IDLE_WAIT_S
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        return
                done = self._all_done.is_set()  # read before get(): all events of a done engine are queued
                event = sub.get(timeout=wait)
                if event is not None:
                    yield event
                elif done or sub.closed:
                    while (event := sub.get(timeout=0)) is not None:
                        yield event
                    return
        finally:
            self.unsubscribe(sub)

    def _publish(self, event: Event) -> None:
        for sub in list(self._subs):
            if sub.wants(event):
                sub.offer(event)

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
                self._publish(Status(stream=st.id, state=SourceState.FAILED, reason=self.error))
            self._stopping.set()
            for sub in list(self._subs):
                sub.close()
            self._all_done.set()

    def _step(self) -> bool:
        """Take queued frames from every stream, extract due features, classify due windows. True if frames
        are still queued."""
        with self._lock:
            streams = [st for st in self._streams.values() if not st.finished]
        due: list[tuple[_Stream, Frame | str]] = []  # frames due for features, and window restarts, in order
        for st in streams:
            self._take_statuses(st)
        # up to max_batch frames, one per stream in turn: a step (one extractor call) stays short when the engine
        # is behind, its predictions go out at its end, and no stream waits for another's backlog
        readable, taken = list(streams), 0
        while readable and taken < self.config.max_batch:
            for st in list(readable):
                frame = st.source.read()
                if frame is None:
                    readable.remove(st)
                    continue
                self._take_frame(st, frame, due)
                taken += 1
                if taken == self.config.max_batch:
                    break
        more = any(st.source.pending() > 0 for st in streams)
        self._extract(due)
        ending = [st for st in streams if st.source.ended]
        for st in ending:
            self._take_statuses(st)
            if st.predictions == 0 and st.window_predictions == 0:
                if st.ring.count > 0:
                    self._queue_window(st, partial=True)  # a short stream still gets its one (looped) prediction
            elif st.ring.full and st.since_prediction > 0:
                self._queue_window(st, partial=False)  # the stream's last seconds, as training's last window
        self._flush_head()
        for st in ending:
            st.finished = True
            self._publish(st.terminal or Status(stream=st.id, state=st.source.state, reason=st.source.reason))
        if ending:
            with self._lock:
                self._update_done_locked()
        return more

    def _update_done_locked(self) -> None:
        if all(st.finished for st in self._streams.values()):
            self._all_done.set()

    def _take_statuses(self, st: _Stream) -> None:
        for status in st.source.pop_statuses():
            if status.state in TERMINAL_STATES:
                st.terminal = status  # said after the stream's last predictions
                continue
            if status.state == SourceState.RECONNECTING and st.last_frame_t is not None:
                st.needs_reset = "reconnected"
            st.state = status.state
            self._publish(status)

    def _take_frame(self, st: _Stream, frame: Frame, due: list) -> None:
        """Queue a (due) frame for its feature, after a window restart when there was a gap."""
        if st.last_frame_t is not None and frame.t - st.last_frame_t > GAP_RESET_S:
            st.needs_reset = f"gap of {frame.t - st.last_frame_t:.1f} s in the stream"
        st.last_frame_t = frame.t
        if st.needs_reset:
            due.append((st, st.needs_reset))  # the window restarts after the features queued before it
            st.needs_reset = ""
        due.append((st, frame))

    def _restart_window(self, st: _Stream, why: str) -> None:
        had = st.ring.count
        st.ring.reset()
        st.smoother.reset()
        st.since_prediction = st.window_predictions = 0
        if had:
            self._publish(Status(stream=st.id, state=st.state, reason=f"{why}: window restarted", warmup=0.0))

    def _extract(self, due: list[tuple[_Stream, Frame | str]]) -> None:
        """Features for the due frames of all streams, max_batch frames per extractor call, applied in order."""
        batch = self._frame_batch
        i = 0
        while i < len(due):
            chunk, n = [], 0
            while i < len(due) and n < len(batch):
                st, item = due[i]
                if isinstance(item, Frame):
                    preprocess_frame(item.image, self._spec, out=batch[n])
                    n += 1
                chunk.append((st, item))
                i += 1
            if n:
                t0 = time.perf_counter()
                feats = self.extractor(batch[:n])
                self._extract_timing.add(time.perf_counter() - t0)
                self.extractor_calls += 1
                self.extracted_frames += n
                if len({st.id for st, item in chunk if isinstance(item, Frame)}) > 1:
                    self.multi_stream_batches += 1
            k = 0
            for st, item in chunk:
                if isinstance(item, Frame):
                    self._add_feature(st, item, feats[k])
                    k += 1
                else:
                    self._restart_window(st, item)

    def _add_feature(self, st: _Stream, frame: Frame, feat: np.ndarray) -> None:
        st.ring.push(feat)
        st.features += 1
        st.since_prediction += 1
        st.newest_t, st.newest_captured_at = frame.t, frame.captured_at
        if st.ring.full:
            if st.window_predictions == 0 or st.since_prediction >= self.hop:
                self._queue_window(st, partial=False)
        elif st.ring.count == 1 or st.ring.count % self.hop == 0:
            self._publish(Status(stream=st.id, state=st.state, reason="warming up", warmup=st.ring.count / self.window))

    def _queue_window(self, st: _Stream, partial: bool) -> None:
        slot = self._window_batch[len(self._pending)]
        if partial:
            held = st.ring.view()
            slot[:] = held[loop_to_window(len(held), self.window)]
        else:
            st.ring.copy_to(slot)
        self._pending.append((st, st.newest_t, st.newest_captured_at, partial))
        st.since_prediction = 0
        st.window_predictions += 1
        if len(self._pending) == len(self._window_batch):
            self._flush_head()

    def _flush_head(self) -> None:
        if not self._pending:
            return
        n = len(self._pending)
        t0 = time.perf_counter()
        probs = self.head(self._window_batch[:n])
        self._head_timing.add(time.perf_counter() - t0)
        self.head_calls += 1
        for (st, t, captured_at, partial), p in zip(self._pending, probs):
            label, score, smoothed = st.smoother.update(p, t)
            top = np.argsort(-smoothed)[: self.topk]
            raw = int(np.argmax(p))
            latency_ms = 1000.0 * (time.monotonic() - captured_at)
            pred = Prediction(
                stream=st.id,
                t=float(t),
                label=self.labels[label],
                score=score,
                topk=[(self.labels[i], float(smoothed[i])) for i in top],
                latency_ms=latency_ms,
                raw_label=self.labels[raw],
                raw_score=float(p[raw]),
                probs=[float(x) for x in p],
                partial=partial,
            )
            st.latest_prediction = pred
            st.predictions += 1
            st.latencies.append(latency_ms)
            self._publish(pred)
        self._pending.clear()

    def _emit_metrics(self, interval_s: float) -> None:
        extractor_ms = self._extract_timing.take_ms()
        head_ms = self._head_timing.take_ms()
        load, self._busy_s = min(1.0, self._busy_s / interval_s), 0.0
        with self._lock:
            streams = [st for st in self._streams.values() if not st.finished]
        for st in streams:
            captured = st.source.captured
            lat = np.asarray(st.latencies, np.float64)
            p50, p95 = np.percentile(lat, [50, 95]) if len(lat) else (math.nan, math.nan)
            self._publish(
                Metrics(
                    stream=st.id,
                    capture_fps=(captured - st.mark_captured) / interval_s,
                    feature_fps=(st.features - st.mark_features) / interval_s,
                    dropped_frames=st.source.dropped,
                    extractor_ms=extractor_ms,
                    head_ms=head_ms,
                    latency_p50_ms=float(p50),
                    latency_p95_ms=float(p95),
                    provider=self.provider,
                    load=load,
                )
            )
            st.mark_captured, st.mark_features = captured, st.features
