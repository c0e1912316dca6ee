"""`python -m streaming monitor --config cameras.toml`: watch cameras unattended, for days.

One engine per bundle (usually one, shared by every camera) follows all cameras; network cameras reconnect with
backoff and may come up after the monitor. Each camera's source is wrapped in a TappedSource: the engine sees
its region of interest, the event-clip ring and the annotated video see every full frame. One consumer thread
per engine turns predictions into alerts (streaming.alerts, one tracker per rule) and hands events to the
outputs (JSON lines, webhook, MQTT, event clips), none of which blocks the engine. Every `status_interval_s` a
line per camera says its state, label, rates, latency and alerts.

SIGTERM or Ctrl-C stops it cleanly: the engines stop, pending event clips are written with what their ring holds,
annotated videos are finished, MQTT says offline, undelivered webhooks stay in their spool for the next run.
Every file appears whole or not at all (streaming.atomic).

    code = run_monitor(Path("cameras.toml"))            # until SIGTERM / Ctrl-C
    code = run_monitor(Path("cameras.toml"), stop=ev)   # or until ev is set (tests, embedding)
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from streaming.alerts import AlertTracker
from streaming.errors import EXIT_INTERRUPTED, ActionstreamError, one_line
from streaming.events import Metrics, Prediction, SourceState, Status
from streaming.monitor_config import CameraConfig, ConfigError, MonitorConfig, load_monitor_config
from streaming.outputs import Output
from streaming.sources import NETWORK_SCHEMES, TERMINAL_STATES, CameraSource, FileSource, NetworkSource, Source
from streaming.tapped_source import TappedSource

log = logging.getLogger("actionstream")

#: Events a slow consumer thread may fall behind by before the oldest are dropped (counted on the status line).
SUBSCRIPTION_EVENTS = 4096
#: Frame rate of the annotated per-camera videos.
RECORD_FPS = 15.0
#: Width the annotated videos are scaled down to (at most).
RECORD_WIDTH = 960


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="milliseconds")


@dataclass
class CameraRuntime:
    """What the monitor knows about one camera while it runs (updated by its engine's consumer thread)."""

    config: CameraConfig
    engine_key: str
    state: SourceState = SourceState.CONNECTING
    reason: str = ""
    warmup: float | None = None
    prediction: Prediction | None = None
    metrics: Metrics | None = None
    alerts: int = 0
    clips: int = 0
    videos: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.config.name

    def mqtt_state(self) -> dict:
        """The retained MQTT state: changes only when the label, the person or the connection changes."""
        p = self.prediction
        return {
            "online": self.state == SourceState.LIVE,
            "state": self.state.value,
            "label": (p.label if p is not None and not p.no_person else ""),
            "person": None if p is None else p.person,
        }

    def status_line(self) -> str:
        parts = [self.state.value + (f" ({self.reason})" if self.reason and self.state != SourceState.LIVE else "")]
        p = self.prediction
        if p is None:
            parts.append(f"warming up {100 * self.warmup:.0f}%" if self.warmup is not None else "no prediction yet")
        elif p.no_person:
            parts.append("no person in view")
        else:
            parts.append(f"{p.label} {p.score:.2f}")
        m = self.metrics
        if m is not None:
            p95 = f"{m.latency_p95_ms:.0f} ms" if math.isfinite(m.latency_p95_ms) else "-"
            parts.append(
                f"capture {m.capture_fps:.1f} fps, features {m.feature_fps:.1f}/s, dropped {m.dropped_frames}, "
                f"latency p95 {p95}, engine load {100 * m.load:.0f}%"
            )
        parts.append(f"alerts {self.alerts}, clips {self.clips}")
        return f"{self.name}: " + ", ".join(parts)


def camera_source(camera: CameraConfig) -> Source:
    """The camera's own source: network cameras and webcams retry their first open too (they may come up later)."""
    spec = camera.source
    if spec == "demo":
        from streaming.demo import demo_clip_path

        return FileSource(demo_clip_path(), name=camera.name, realtime=True, loop=camera.loop)
    if spec.isdigit():
        return CameraSource(int(spec), name=camera.name, retry_first_open=True)
    if urlsplit(spec).scheme.lower() in NETWORK_SCHEMES:
        return NetworkSource(spec, name=camera.name, retry_first_open=True)
    return FileSource(spec, name=camera.name, realtime=True, loop=camera.loop)


class Monitor:
    """The running monitor: engines, cameras, alert trackers and outputs. start(), then stop() once."""

    def __init__(self, config: MonitorConfig, out: TextIO | None = None, open_outputs: bool = True):
        from streaming.engine import Engine, EngineConfig

        self.config = config
        self.out = out if out is not None else sys.stdout
        s = config.settings
        try:
            engine_config = EngineConfig(
                device=s.device, int8=s.int8, hop_s=s.hop_s, hold_s=s.hold_s, threads=s.threads
            )
        except ValueError as exc:
            raise ConfigError(f"{config.path}: [monitor]: {exc}") from None
        default_bundle = s.bundle if s.bundle is not None else _demo_bundle()
        self.engines: dict[str, Engine] = {}
        self.cameras: dict[str, CameraRuntime] = {}
        for cam in config.cameras:
            bundle = cam.bundle or (
                _demo_clip_bundle() if cam.source == "demo" and s.bundle is None else default_bundle
            )
            key = str(bundle.resolve())
            if key not in self.engines:
                self.engines[key] = Engine(bundle, engine_config)
            self.cameras[cam.name] = CameraRuntime(cam, key)
        self._check_alert_actions()
        self.trackers = [(alert, AlertTracker(alert.rule)) for alert in config.alerts]
        self._alert_lock = threading.Lock()
        self.outputs: list[Output] = []
        self.mqtt = None
        self.clips = None
        self._subs: dict[str, object] = {}
        self._consumers: list[threading.Thread] = []
        self.started = False
        self._stopped = False
        if open_outputs:
            self._open_outputs()
        self._want_predictions = any("prediction" in (getattr(o, "kinds", None) or ()) for o in self.outputs)
        self._want_status = any("status" in (getattr(o, "kinds", None) or ()) for o in self.outputs)

    def _check_alert_actions(self) -> None:
        for i, alert in enumerate(self.config.alerts):
            labels: set[str] = set()
            for cam in self.cameras.values():
                if alert.applies_to(cam.name):
                    labels.update(self.engines[cam.engine_key].labels)
            for action in sorted(alert.rule.actions):
                if action not in labels:
                    known = ", ".join(sorted(labels)) or "none"
                    raise ConfigError(
                        f"{alert.where}: alert[{i}].actions: {action!r} is not a label of the model of its "
                        f"cameras (labels: {known})"
                    )

    def _open_outputs(self) -> None:
        c = self.config
        names = list(self.cameras)
        if c.jsonl is not None:
            from streaming.outputs.jsonl import JsonlOutput

            self.outputs.append(JsonlOutput(c.jsonl.path, c.jsonl.max_bytes, c.jsonl.keep, c.jsonl.events))
        if c.webhook is not None:
            from streaming.outputs.webhook import WebhookOutput

            w = c.webhook
            self.outputs.append(
                WebhookOutput(
                    w.url,
                    w.spool_dir,
                    token=w.token,
                    hmac_secret=w.hmac_secret,
                    timeout_s=w.timeout_s,
                    max_events=w.spool_max_events,
                    backoff_initial_s=w.backoff_initial_s,
                    backoff_max_s=w.backoff_max_s,
                    kinds=w.events,
                )
            )
        if c.mqtt is not None:
            from streaming.outputs.mqtt import MqttOutput

            m = c.mqtt
            self.mqtt = MqttOutput(
                host=m.host,
                port=m.port,
                cameras=names,
                username=m.username,
                password=m.password,
                client_id=m.client_id,
                topic_prefix=m.topic_prefix,
                keepalive_s=m.keepalive_s,
                qos=m.qos,
                max_queued=m.max_queued,
                home_assistant=m.home_assistant,
                discovery_prefix=m.discovery_prefix,
                kinds=m.events,
            )
            self.outputs.append(self.mqtt)
        if c.clips is not None:
            from streaming.outputs.event_clips import ClipRecorder

            k = c.clips
            self.clips = ClipRecorder(
                k.dir,
                pre_s=k.pre_s,
                post_s=k.post_s,
                fps=k.fps,
                width=k.width,
                fmt=k.format,
                max_bytes=int(k.max_disk_mb * 1e6),
                jpeg_quality=k.jpeg_quality,
                on_clip=self._clip_written,
            )

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        from streaming.annotated_video import AnnotatedVideo

        self.started = True
        for key, engine in self.engines.items():
            sub = engine.subscribe(maxsize=SUBSCRIPTION_EVENTS)
            self._subs[key] = sub
            engine.start()
            thread = threading.Thread(target=self._consume, args=(sub,), name="monitor-events", daemon=True)
            thread.start()
            self._consumers.append(thread)
        for cam in self.cameras.values():
            engine = self.engines[cam.engine_key]
            taps = []
            if self.clips is not None:
                taps.append(self.clips.ring(cam.name).add)
            if cam.config.record_dir is not None:
                video = AnnotatedVideo(
                    cam.config.record_dir / f"{cam.name}.mp4",
                    latest=_latest(engine, cam.name),
                    fps=RECORD_FPS,
                    region=cam.config.region,
                    segment_s=self.config.settings.record_segment_s,
                    max_bytes=self.config.settings.record_max_bytes,
                    width=RECORD_WIDTH,
                )
                cam.videos.append(video)
                taps.append(video.add)
            engine.add_source(TappedSource(camera_source(cam.config), cam.config.region, taps))
            if self.mqtt is not None:
                self.mqtt.set_state(cam.name, cam.mqtt_state())

    def finished(self) -> bool:
        """Every camera has ended or failed (only files end; network cameras retry for ever)."""
        return all(cam.state in TERMINAL_STATES for cam in self.cameras.values())

    def stop(self) -> None:
        """Stop everything in the order that leaves nothing half-written; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        for engine in self.engines.values():
            engine.stop()  # closes the subscriptions: the consumers drain what is queued and end
        for thread in self._consumers:
            thread.join(10.0)
        for cam in self.cameras.values():
            for video in cam.videos:
                video.close()
        if self.clips is not None:
            self.clips.close()  # pending clips are written (and published) now
        for cam in self.cameras.values():
            if self.mqtt is not None:
                self.mqtt.set_state(cam.name, {**cam.mqtt_state(), "online": False})
        for output in self.outputs:
            output.close()

    # -- events ----------------------------------------------------------------------------------------------

    def _consume(self, sub) -> None:
        for event in sub:
            cam = self.cameras.get(event.stream)
            if cam is None:
                continue
            if isinstance(event, Prediction):
                self._prediction(cam, event)
            elif isinstance(event, Status):
                self._status(cam, event)
            elif isinstance(event, Metrics):
                cam.metrics = event

    def _prediction(self, cam: CameraRuntime, pred: Prediction) -> None:
        cam.prediction = pred
        if self.mqtt is not None:
            self.mqtt.set_state(cam.name, cam.mqtt_state())
        if self._want_predictions:
            self._publish({**pred.to_dict(), "camera": cam.name, "time": _now(), "id": uuid.uuid4().hex})
        label, score = ("", 0.0) if pred.no_person else (pred.label, pred.score)
        with self._alert_lock:
            fired = [
                (alert, tracker.update(cam.name, pred.t, label, score))
                for alert, tracker in self.trackers
                if alert.applies_to(cam.name)
            ]
        for alert, event in fired:
            if event is None:
                continue
            cam.alerts += 1
            record = {**event.to_dict(), "rule": alert.name, "id": uuid.uuid4().hex}
            self._publish(record)
            if self.clips is not None:
                self.clips.trigger(cam.name, record)

    def _status(self, cam: CameraRuntime, status: Status) -> None:
        if status.warmup is not None:
            cam.warmup = status.warmup
            return
        cam.state, cam.reason = status.state, status.reason
        if self.mqtt is not None:
            self.mqtt.set_state(cam.name, cam.mqtt_state())
        if self._want_status:
            self._publish(
                {
                    "type": "status",
                    "id": uuid.uuid4().hex,
                    "time": _now(),
                    "camera": cam.name,
                    "state": status.state.value,
                    "reason": status.reason,
                }
            )

    def _clip_written(self, clip: dict) -> None:
        cam = self.cameras.get(clip["camera"])
        if cam is not None:
            cam.clips += 1
        self._publish(clip)

    def _publish(self, event: dict) -> None:
        for output in self.outputs:
            try:
                output.publish(event)
            except OSError as exc:  # a full disk for one output must not silence the others or the cameras
                log.warning("%s: could not record a %s event: %s", type(output).__name__, event.get("type"), exc)

    # -- status lines ----------------------------------------------------------------------------------------

    def status_lines(self) -> list[str]:
        stamp = datetime.now().strftime("%H:%M:%S")
        lines = [f"{stamp}  {cam.status_line()}" for cam in self.cameras.values()]
        outs = []
        for output in self.outputs:
            kind = type(output).__name__.removesuffix("Output").lower()
            if kind == "webhook":
                err = f", last error {output.last_error}" if output.last_error else ""
                outs.append(f"webhook delivered {output.delivered}, spooled {output.spooled}{err}")
            elif kind == "mqtt":
                outs.append(f"mqtt {'connected' if output.connected.is_set() else 'not connected'}")
            elif kind == "jsonl":
                outs.append(f"jsonl {output.written} lines")
        if self.clips is not None:
            outs.append(f"clips {self.clips.written} written ({self.clips.used_bytes() / 1e6:.1f} MB)")
        dropped = sum(sub.dropped for sub in self._subs.values())
        if dropped:
            outs.append(f"{dropped} events dropped (monitor behind)")
        if outs:
            lines.append(f"{stamp}  outputs: " + "; ".join(outs))
        return lines

    def print_status(self) -> None:
        for line in self.status_lines():
            print(line, file=self.out, flush=True)


def _latest(engine, name: str):
    return lambda: (engine.latest_prediction(name), engine.latest_person(name))


def _demo_clip_bundle() -> Path:
    """The demo clip shows stick figures: only the stick-figure model knows them (the people model sees nobody)."""
    from streaming.demo import demo_bundle_path

    return demo_bundle_path()


def _demo_bundle() -> Path:
    from streaming.demo import default_bundle_path

    path = default_bundle_path()
    if not (path / "manifest.json").is_file():
        raise ConfigError(f'no [monitor] bundle given and the demo model {path} is missing; set bundle = "DIR"')
    return path


class _Signals:
    """SIGTERM and SIGINT set `stop` while the monitor runs (main thread only); the old handlers come back after."""

    def __init__(self, stop: threading.Event):
        self.stop = stop
        self.received: int | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.received = signum
        self.stop.set()

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def run_monitor(config_path: Path, stop: threading.Event | None = None, out: TextIO | None = None) -> int:
    """Run the monitor of `config_path` until SIGTERM/Ctrl-C, `stop` is set, or every camera (all files) ended.

    0 on a clean stop (SIGTERM, `stop`, files ended); 130 after Ctrl-C (also a clean stop); 1 when every camera
    failed or an engine broke. A bad config raises ConfigError (one line: file:line: key: problem).
    """
    out = out if out is not None else sys.stdout
    config = load_monitor_config(Path(config_path))
    stop = stop if stop is not None else threading.Event()
    monitor = Monitor(config, out)
    with _Signals(stop) as signals:
        try:
            monitor.start()
            print(
                f"monitoring {len(monitor.cameras)} camera(s) with {len(monitor.engines)} engine(s); "
                f"outputs: {_describe_outputs(config)}; SIGTERM or Ctrl-C stops",
                file=out,
                flush=True,
            )
            interval = config.settings.status_interval_s
            next_status = time.monotonic() + interval
            while not stop.wait(min(1.0, max(0.0, next_status - time.monotonic()))):
                if time.monotonic() >= next_status:
                    monitor.print_status()
                    next_status += interval
                if monitor.finished() or any(e.error for e in monitor.engines.values()):
                    break
        finally:
            monitor.stop()
    monitor.print_status()
    errors = [e.error for e in monitor.engines.values() if e.error]
    if errors:
        print(f"error: {errors[0]}", file=sys.stderr)
        return 1
    if all(cam.state == SourceState.FAILED for cam in monitor.cameras.values()):
        for cam in monitor.cameras.values():
            print(f"error: {cam.name}: {one_line(ActionstreamError(cam.reason or 'failed'))}", file=sys.stderr)
        return 1
    print("monitor stopped", file=out, flush=True)
    return EXIT_INTERRUPTED if signals.received == signal.SIGINT else 0


def _describe_outputs(config: MonitorConfig) -> str:
    names = [
        name
        for name, value in (
            ("jsonl", config.jsonl),
            ("webhook", config.webhook),
            ("mqtt", config.mqtt),
            ("event clips", config.clips),
        )
        if value is not None
    ]
    if any(c.record_dir is not None for c in config.cameras):
        names.append("annotated video")
    return ", ".join(names) or "none (status lines only)"


def add_monitor_parser(subparsers) -> argparse.ArgumentParser:
    """`monitor --config FILE [--check]` on the streaming CLI."""
    p = subparsers.add_parser("monitor", help="watch cameras unattended: alerts, clips, webhooks, MQTT (TOML config)")
    p.add_argument(
        "--config", required=True, metavar="FILE", help="the monitor's TOML file (see examples/cameras.toml)"
    )
    p.add_argument("--check", action="store_true", help="check the config (and load its models), then exit")
    p.set_defaults(func=monitor_command)
    return p


def monitor_command(args: argparse.Namespace) -> int:
    if args.check:
        config = load_monitor_config(Path(args.config))
        Monitor(config, open_outputs=False).stop()  # loads the bundles and checks alert actions against their labels
        print(f"{args.config}: {len(config.cameras)} camera(s), {len(config.alerts)} alert rule(s): ok")
        return 0
    return run_monitor(Path(args.config))
