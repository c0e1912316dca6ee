"""The monitor's one config file (TOML): cameras, alert rules and outputs, read into frozen dataclasses.

A config is read for days of unattended running, so nothing in it is guessed: an unknown key (a typo) or a bad
value is refused at start with the file, the line and the key named, e.g.
`cameras.toml:14: camera[1].region: ...`. Relative paths are relative to the config file's folder.
The documented example is examples/cameras.toml.

    config = load_monitor_config(Path("cameras.toml"))
    for camera in config.cameras:
        print(camera.name, camera.source)
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streaming.alerts import AlertRule
from streaming.errors import ActionstreamError
from streaming.providers import DEVICES
from streaming.sources import NETWORK_SCHEMES, safe_url
from streaming.tapped_source import Region

#: Camera and rule names go into MQTT topics and file names: kept to these characters.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: What an output can be sent: alerts, finished event clips, source state changes, every prediction.
EVENT_KINDS = ("alert", "clip", "status", "prediction")
CLIP_FORMATS = ("mp4", "avi")


class ConfigError(ActionstreamError):
    """A monitor config file that cannot be used; the message names the file, line and key."""


@dataclass(frozen=True)
class MonitorSettings:
    """The `[monitor]` table: the default bundle and how the shared engine runs; status lines every N s."""

    bundle: Path | None = None  # None: the bundled default model (the people model)
    device: str = "auto"
    int8: bool = False
    hop_s: float = 1.0
    hold_s: float = 1.0
    threads: int = 0
    status_interval_s: float = 60.0
    record_segment_s: float = 600.0
    record_max_bytes: int = 20_000_000_000  # per camera: its oldest annotated segments go beyond this


@dataclass(frozen=True)
class CameraConfig:
    """One `[[camera]]`: a name, a source (URL, file path, camera index or "demo"), an optional region of
    interest, bundle, looping (files) and a folder for its annotated video."""

    name: str
    source: str
    region: Region | None = None
    bundle: Path | None = None
    loop: bool = False
    record_dir: Path | None = None
    where: str = field(default="", compare=False)  # "file:line", for errors found later (labels)


@dataclass(frozen=True)
class AlertConfig:
    """One `[[alert]]`: a named rule for some cameras (empty: all)."""

    name: str
    rule: AlertRule
    cameras: tuple[str, ...] = ()
    where: str = field(default="", compare=False)

    def applies_to(self, camera: str) -> bool:
        return not self.cameras or camera in self.cameras


@dataclass(frozen=True)
class JsonlConfig:
    path: Path
    max_bytes: int = 10_000_000
    keep: int = 5
    events: tuple[str, ...] = ("alert", "clip", "status")


@dataclass(frozen=True)
class WebhookConfig:
    url: str
    token: str = ""
    hmac_secret: str = ""
    timeout_s: float = 5.0
    spool_dir: Path = Path("webhook-spool")
    spool_max_events: int = 10_000
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 300.0
    events: tuple[str, ...] = ("alert", "clip")


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password: str = ""
    client_id: str = "actionstream-monitor"
    topic_prefix: str = "actionstream"
    keepalive_s: int = 30
    qos: int = 1
    max_queued: int = 10_000
    home_assistant: bool = False
    discovery_prefix: str = "homeassistant"
    events: tuple[str, ...] = ("alert", "clip")


@dataclass(frozen=True)
class ClipsConfig:
    dir: Path
    pre_s: float = 5.0
    post_s: float = 5.0
    fps: float = 10.0
    width: int = 640
    format: str = "mp4"
    max_disk_mb: float = 2000.0
    jpeg_quality: int = 80


@dataclass(frozen=True)
class MonitorConfig:
    path: Path
    settings: MonitorSettings
    cameras: tuple[CameraConfig, ...]
    alerts: tuple[AlertConfig, ...] = ()
    jsonl: JsonlConfig | None = None
    webhook: WebhookConfig | None = None
    mqtt: MqttConfig | None = None
    clips: ClipsConfig | None = None


# -- where each key is --------------------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_.-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*)\s*=""")


def _key_parts(text: str) -> tuple[str, ...]:
    if text[0] in "\"'":
        return (text[1:-1],)
    return tuple(p.strip() for p in text.split("."))


def key_lines(text: str) -> dict[tuple, int]:
    """Line numbers (1-based) of tables and keys: ("camera", 0, "region") -> 12, ("outputs", "webhook") -> 30.

    A plain scan of the lines, since tomllib keeps no positions; multi-line strings are skipped.
    """
    lines: dict[tuple, int] = {}
    arrays: dict[tuple, int] = {}
    table: tuple = ()
    in_multiline = False
    for no, line in enumerate(text.splitlines(), 1):
        toggles = bool(line.count('"""') % 2 or line.count("'''") % 2)
        if in_multiline:
            in_multiline = not toggles
            continue
        if m := _HEADER.match(line):
            path = _key_parts_dotted(m.group(2))
            if m.group(1) == "[[":
                arrays[path] = arrays.get(path, -1) + 1
                table = (*path, arrays[path])
            else:
                table = path
            lines.setdefault(table, no)
        elif m := _KEY.match(line):
            lines.setdefault((*table, *_key_parts(m.group(1))), no)
        in_multiline = toggles
    return lines


def _key_parts_dotted(text: str) -> tuple[str, ...]:
    return tuple(p.strip().strip("\"'") for p in text.split("."))


class _Table:
    """One TOML table being read: typed takes with checks, and a refusal of keys nobody took."""

    def __init__(self, data: Any, path: tuple, reader: _Reader):
        self.reader = reader
        self.keypath = path
        if not isinstance(data, dict):
            raise reader.error(path, f"must be a table, got {type(data).__name__}")
        self.data = data
        self.taken: set[str] = set()

    def _raw(self, key: str) -> Any:
        self.taken.add(key)
        return self.data.get(key)

    def fail(self, key: str, message: str) -> ConfigError:
        return self.reader.error((*self.keypath, key), message)

    def has(self, key: str) -> bool:
        return key in self.data

    def string(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self._raw(key)
        if value is None:
            if required:
                raise self.fail(key, "is required")
            return default
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {_show(value)}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {_show(value)}")
        return value

    def number(self, key: str, default: float, low: float, high: float, low_open: bool = False) -> float:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(key, f"must be a number, got {_show(value)}")
        if value < low or value > high or (low_open and value == low):
            lo = f"> {low:g}" if low_open else f">= {low:g}"
            raise self.fail(key, f"must be {lo} and <= {high:g}, got {value:g}")
        return float(value)

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"must be a whole number, got {_show(value)}")
        if not low <= value <= high:
            raise self.fail(key, f"must be {low}..{high}, got {value}")
        return value

    def strings(self, key: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
        value = self._raw(key)
        if value is None:
            return default
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, f"must be a list of non-empty strings, got {_show(value)}")
        return tuple(value)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(key, default)
        if value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def path(self, key: str, default: str | None = None, required: bool = False) -> Path | None:
        value = self.string(key, default, required)
        if value is None:
            return None
        if not value.strip():
            raise self.fail(key, "must be a non-empty path")
        return self.reader.resolve(value)

    def secret(self, key: str) -> str:
        """`key` itself, or the environment variable named by `key_env` (keeps tokens out of the file)."""
        direct = self.string(key, "")
        env = self.string(f"{key}_env", "")
        if direct and env:
            raise self.fail(key, f"give {key} or {key}_env, not both")
        if env:
            if env not in os.environ:
                raise self.fail(f"{key}_env", f"environment variable {env} is not set")
            return os.environ[env]
        return direct or ""

    def events(self, default: tuple[str, ...]) -> tuple[str, ...]:
        kinds = self.strings("events", default)
        for kind in kinds:
            if kind not in EVENT_KINDS:
                raise self.fail("events", f"unknown event kind {kind!r}; use {', '.join(EVENT_KINDS)}")
        return kinds

    def sub(self, key: str) -> _Table | None:
        value = self._raw(key)
        return None if value is None else _Table(value, (*self.keypath, key), self.reader)

    def done(self, known_elsewhere: tuple[str, ...] = ()) -> None:
        """Refuse keys nobody read (typos) - the first one, with its line."""
        for key in self.data:
            if key not in self.taken and key not in known_elsewhere:
                raise self.fail(key, f"unknown key{_known(self.taken)}")


def _known(keys: set[str]) -> str:
    return f" (known here: {', '.join(sorted(keys))})" if keys else ""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _label(path: tuple) -> str:
    """("camera", 1, "region") -> "camera[1].region"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _Reader:
    def __init__(self, path: Path, text: str):
        self.file = path
        self.base = path.parent
        self.lines = key_lines(text)

    def where(self, path: tuple) -> str:
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return f"{self.file}:{self.lines[path[:n]]}"
        return str(self.file)

    def error(self, path: tuple, message: str) -> ConfigError:
        return ConfigError(f"{self.where(path)}: {_label(path)}: {message}")

    def resolve(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.base / p).resolve()


# -- the schema ----------------------------------------------------------------------------------------------


def load_monitor_config(path: Path) -> MonitorConfig:
    """Read and check a monitor config; ConfigError (one line: file:line: key: problem) when it is unusable."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise ConfigError(f"{where}: not valid TOML: {str(exc).split(' (at line')[0]}") from None
    reader = _Reader(path, text)
    root = _Table(data, (), reader)
    settings = _settings(root.sub("monitor"))
    cameras = _cameras(root, reader)
    names = {c.name for c in cameras}
    alerts = _alerts(root, reader, names)
    outputs = root.sub("outputs")
    config = MonitorConfig(path=path, settings=settings, cameras=cameras, alerts=alerts)
    if outputs is not None:
        config = _outputs(config, outputs)
    root.done()
    return config


def _settings(t: _Table | None) -> MonitorSettings:
    if t is None:
        return MonitorSettings()
    s = MonitorSettings(
        bundle=t.path("bundle"),
        device=t.choice("device", "auto", DEVICES),
        int8=t.boolean("int8", False),
        hop_s=t.number("hop_s", 1.0, 0.0, 60.0, low_open=True),
        hold_s=t.number("hold_s", 1.0, 0.0, 60.0),
        threads=t.integer("threads", 0, 0, 256),
        status_interval_s=t.number("status_interval_s", 60.0, 1.0, 86400.0),
        record_segment_s=t.number("record_segment_s", 600.0, 10.0, 86400.0),
        record_max_bytes=t.integer("record_max_bytes", 20_000_000_000, 1_000_000, 1 << 50),
    )
    if s.bundle is not None and not (s.bundle / "manifest.json").is_file():
        raise t.fail("bundle", f"{s.bundle} is not a model bundle (no manifest.json)")
    t.done()
    return s


def _array(root: _Table, key: str) -> list:
    value = root._raw(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise root.fail(key, f"must be an array of tables: write [[{key}]] above each one")
    return value


def _name(t: _Table, seen: set[str], what: str) -> str:
    name = t.string("name", required=True)
    if not NAME_PATTERN.match(name):
        raise t.fail("name", f"{name!r}: use 1-64 letters, digits, - and _ (it names topics and files)")
    if name in seen:
        raise t.fail("name", f"another {what} is already named {name!r}")
    seen.add(name)
    return name


def _cameras(root: _Table, reader: _Reader) -> tuple[CameraConfig, ...]:
    items = _array(root, "camera")
    if not items:
        raise reader.error(("camera",), "no cameras: add at least one [[camera]] with a name and a source")
    cameras, seen = [], set()
    for i, item in enumerate(items):
        t = _Table(item, ("camera", i), reader)
        name = _name(t, seen, "camera")
        source = _source(t, reader)
        region = t._raw("region")
        if region is not None:
            if not (isinstance(region, list) and len(region) == 4 and all(_is_number(v) for v in region)):
                raise t.fail("region", f"must be [x0, y0, x1, y1] in frame fractions, got {_show(region)}")
            try:
                region = Region(*(float(v) for v in region))
            except ValueError as exc:
                raise t.fail("region", str(exc)) from None
        bundle = t.path("bundle")
        if bundle is not None and not (bundle / "manifest.json").is_file():
            raise t.fail("bundle", f"{bundle} is not a model bundle (no manifest.json)")
        loop = t.boolean("loop", False)
        record_dir = t.path("record_dir")
        cameras.append(CameraConfig(name, source, region, bundle, loop, record_dir, where=reader.where(("camera", i))))
        t.done()
    return tuple(cameras)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _source(t: _Table, reader: _Reader) -> str:
    """A camera's source, checked as far as it can be without opening it (cameras may come up later)."""
    spec = t.string("source", required=True).strip()
    if not spec:
        raise t.fail("source", "is empty; give an rtsp/http(s) URL, a video file, a camera index or 'demo'")
    if spec == "demo" or spec.isdigit():
        return spec
    try:
        parts = urlsplit(spec)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL" for rtsp://[::1/x
        raise t.fail("source", f"{safe_url(spec)}: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if len(scheme) > 1:
        if scheme not in NETWORK_SCHEMES:
            raise t.fail("source", f"{safe_url(spec)}: unsupported scheme {scheme!r}; use {', '.join(NETWORK_SCHEMES)}")
        try:
            host, _port = parts.hostname, parts.port  # .port raises on a bad port
        except ValueError as exc:
            raise t.fail("source", f"{safe_url(spec)}: malformed URL ({exc})") from None
        if not host:
            raise t.fail("source", f"{safe_url(spec)}: malformed URL (no host)")
        return spec
    path = reader.resolve(spec)
    if not path.is_file():
        raise t.fail("source", f"{path}: no such video file")
    return str(path)


def _alerts(root: _Table, reader: _Reader, cameras: set[str]) -> tuple[AlertConfig, ...]:
    alerts, seen = [], set()
    for i, item in enumerate(_array(root, "alert")):
        t = _Table(item, ("alert", i), reader)
        name = _name(t, seen, "alert")
        actions = t.strings("actions")
        if not actions:
            raise t.fail("actions", 'is required: the labels that raise this alert, e.g. actions = ["Fall"]')
        rule = AlertRule(
            actions=frozenset(actions),
            threshold=t.number("threshold", 0.8, 0.0, 1.0, low_open=True),
            min_duration_s=t.number("min_duration_s", 2.0, 0.0, 3600.0),
            cooldown_s=t.number("cooldown_s", 0.0, 0.0, 86400.0),
        )
        for_cameras = t.strings("cameras")
        for cam in for_cameras:
            if cam not in cameras:
                raise t.fail("cameras", f"no camera named {cam!r} (cameras: {', '.join(sorted(cameras))})")
        alerts.append(AlertConfig(name, rule, for_cameras, where=reader.where(("alert", i))))
        t.done()
    return tuple(alerts)


def _outputs(config: MonitorConfig, outputs: _Table) -> MonitorConfig:
    if (t := outputs.sub("jsonl")) is not None:
        config = replace(
            config,
            jsonl=JsonlConfig(
                path=t.path("path", required=True),
                max_bytes=t.integer("max_bytes", 10_000_000, 1000, 1 << 40),
                keep=t.integer("keep", 5, 0, 1000),
                events=t.events(("alert", "clip", "status")),
            ),
        )
        t.done()
    if (t := outputs.sub("webhook")) is not None:
        url = t.string("url", required=True)
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise t.fail("url", f"{safe_url(url)}: not a valid URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise t.fail("url", f"{safe_url(url)}: must be an http:// or https:// URL with a host")
        backoff_initial = t.number("backoff_initial_s", 1.0, 0.0, 3600.0, low_open=True)
        config = replace(
            config,
            webhook=WebhookConfig(
                url=url,
                token=t.secret("token"),
                hmac_secret=t.secret("hmac_secret"),
                timeout_s=t.number("timeout_s", 5.0, 0.0, 300.0, low_open=True),
                spool_dir=t.path("spool_dir", "webhook-spool"),
                spool_max_events=t.integer("spool_max_events", 10_000, 1, 10_000_000),
                backoff_initial_s=backoff_initial,
                backoff_max_s=t.number("backoff_max_s", max(300.0, backoff_initial), backoff_initial, 86400.0),
                events=t.events(("alert", "clip")),
            ),
        )
        t.done()
    if (t := outputs.sub("mqtt")) is not None:
        prefix = t.string("topic_prefix", "actionstream")
        if not prefix or any(c in prefix for c in "#+") or prefix.startswith("/") or prefix.endswith("/"):
            raise t.fail("topic_prefix", f"{prefix!r}: a topic without wildcards or leading/trailing '/'")
        config = replace(
            config,
            mqtt=MqttConfig(
                host=t.string("host", "127.0.0.1"),
                port=t.integer("port", 1883, 1, 65535),
                username=t.string("username", ""),
                password=t.secret("password"),
                client_id=t.string("client_id", "actionstream-monitor"),
                topic_prefix=prefix,
                keepalive_s=t.integer("keepalive_s", 30, 5, 3600),
                qos=t.integer("qos", 1, 0, 2),
                max_queued=t.integer("max_queued", 10_000, 1, 10_000_000),
                home_assistant=t.boolean("home_assistant", False),
                discovery_prefix=t.string("discovery_prefix", "homeassistant"),
                events=t.events(("alert", "clip")),
            ),
        )
        t.done()
    if (t := outputs.sub("clips")) is not None:
        config = replace(
            config,
            clips=ClipsConfig(
                dir=t.path("dir", required=True),
                pre_s=t.number("pre_s", 5.0, 0.0, 120.0),
                post_s=t.number("post_s", 5.0, 0.0, 120.0),
                fps=t.number("fps", 10.0, 0.0, 60.0, low_open=True),
                width=t.integer("width", 640, 32, 7680),
                format=t.choice("format", "mp4", CLIP_FORMATS),
                max_disk_mb=t.number("max_disk_mb", 2000.0, 0.0, 1e9, low_open=True),
                jpeg_quality=t.integer("jpeg_quality", 80, 10, 100),
            ),
        )
        t.done()
    outputs.done()
    return config


# -- writing a config ----------------------------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_SECRETS = ("token", "hmac_secret", "password")


def dump_monitor_config(config: MonitorConfig) -> str:
    """The TOML text of `config`; `load_monitor_config` reads it back to an equal config (all but `path`).

    Paths are written as held (absolute, once loaded). Secrets are written as values, so a config that read a
    token from `token_env` comes back with the token itself in the text: keep such a file private.
    """
    data: dict[str, Any] = {"monitor": _plain(config.settings), "camera": [_plain(c) for c in config.cameras]}
    if config.alerts:
        data["alert"] = [_alert_table(a) for a in config.alerts]
    outputs = {
        key: _plain(value)
        for key, value in {
            "jsonl": config.jsonl,
            "webhook": config.webhook,
            "mqtt": config.mqtt,
            "clips": config.clips,
        }.items()
        if value is not None
    }
    if outputs:
        data["outputs"] = outputs
    return dump_toml(data)


def _alert_table(alert: AlertConfig) -> dict[str, Any]:
    rule = alert.rule  # `snapshot` is the dashboard's: the file has no such key
    table: dict[str, Any] = {
        "name": alert.name,
        "actions": sorted(rule.actions),
        "threshold": rule.threshold,
        "min_duration_s": rule.min_duration_s,
        "cooldown_s": rule.cooldown_s,
    }
    if alert.cameras:
        table["cameras"] = list(alert.cameras)
    return table


def _plain(obj: Any) -> dict[str, Any]:
    """A config dataclass as its TOML table: None and empty secrets left out, paths as text, a region as a list."""
    table: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.name == "where" or value is None or (f.name in _SECRETS and not value):
            continue
        if isinstance(value, Region):
            value = [value.x0, value.y0, value.x1, value.y1]
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        table[f.name] = value
    return table


def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML text for the shapes a monitor config has: tables, arrays of tables, and keys whose values are
    strings, numbers, booleans or lists of those. (tomllib reads but never writes; this is the small rest.)"""
    lines: list[str] = []
    _write_table(lines, (), data, array_item=False)
    return "\n".join(lines).lstrip("\n") + "\n"


def _write_table(lines: list[str], path: tuple[str, ...], table: Mapping[str, Any], array_item: bool) -> None:
    values = {k: v for k, v in table.items() if not _is_table(v) and not _is_table_array(v)}
    if path and (values or array_item or not table):  # a table of tables only needs no header of its own
        header = ".".join(_toml_key(p) for p in path)
        lines += ["", f"[[{header}]]" if array_item else f"[{header}]"]
    lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items()]
    for key, value in table.items():
        if _is_table(value):
            _write_table(lines, (*path, key), value, array_item=False)
        elif _is_table_array(value):
            for item in value:
                _write_table(lines, (*path, key), item, array_item=True)


def _is_table(value: Any) -> bool:
    return isinstance(value, Mapping)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's; TOML also wants DEL escaped
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # 0.6, 1e-07, inf, nan: all TOML floats
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a TOML value")
