"""Loading and saving the monitor's config file (streaming.monitor_config) from the Cameras tab.

The page shows a camera list (`name = source` lines) and one alert rule; the monitor's file holds more (regions,
outputs, more rules, monitor settings). Loading goes through `load_monitor_config`, so the page refuses what the
monitor would, and a bad file changes nothing on the page. Saving writes the page back into the file it came from:
what the page does not show is kept as the file had it, never made up.

An uploaded file is no way around the source policy: its sources are checked like typed ones (refused ones are
listed, never opened), and nothing on the server is looked at for it. A local path is judged by the policy alone
(outside --clips it is refused whether or not it exists: no probing the server's files); bundle folders and the
environment variables that hold secrets mean something only where the monitor runs, and are left to it.

    tab = MonitorFileTab(hub, catalog, alerts)
    outputs = tab.load(uploaded_path, snapshot, request)  # camera list, alert inputs, rule line, kept, status
    file, status = tab.save(camera_text, actions, threshold, min_duration_s, cooldown_s, kept)
"""

from __future__ import annotations

import atexit
import copy
import os
import re
import shutil
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gradio as gr

from dashboard.alerts_tab import DURATION_SLIDER, THRESHOLD_SLIDER, AlertsTab, SliderRange
from dashboard.cameras import CameraLine, camera_lines, camera_list_text
from dashboard.hub import Hub
from dashboard.sources import SourceCatalog
from streaming.alerts import AlertRule
from streaming.atomic import atomic_write_text
from streaming.errors import ActionstreamError
from streaming.monitor_config import ConfigError, MonitorConfig, dump_toml, key_lines, load_monitor_config
from streaming.sources import NETWORK_SCHEMES

#: A monitor config is a small text file; anything bigger is not one.
MAX_CONFIG_BYTES = 256_000
DEFAULT_FILE_NAME = "cameras.toml"
#: The [[alert]] name of a rule made on the page (a loaded file's rule keeps its own name).
DASHBOARD_RULE = "dashboard"
#: Saved files wait this long for Gradio to copy them into its cache, then go.
SAVED_KEEP_S = 600.0
#: Keys the loader looks up on this server (a bundle's folder, an environment variable): not the page's business.
_SERVER_KEYS = (
    ("monitor", "bundle"),
    ("outputs", "webhook", "token_env"),
    ("outputs", "webhook", "hmac_secret_env"),
    ("outputs", "mqtt", "password_env"),
)


@dataclass(frozen=True)
class Kept:
    """What a loaded file holds beyond what the page shows, saved back as the file had it (one per tab)."""

    file_name: str = DEFAULT_FILE_NAME
    monitor: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
    camera_extras: dict[str, dict[str, Any]] = field(default_factory=dict)  # by camera name: region, loop, ...
    rule_name: str = DASHBOARD_RULE
    rule_cameras: tuple[str, ...] = ()  # the page applies its rule to every camera; the file's list is kept
    hidden_actions: tuple[str, ...] = ()  # the file rule's actions this model has no label for
    other_alerts: tuple[dict[str, Any], ...] = ()  # the file's further [[alert]] rules: kept, not applied here


@dataclass(frozen=True)
class MonitorFile:
    """A checked config file: the loader's config, the file's tables, each camera's source as written, and the
    keys left to the machine the monitor runs on (bundle folders, secrets' environment variables)."""

    name: str
    config: MonitorConfig
    tables: dict[str, Any]
    sources: tuple[str, ...]
    unchecked: tuple[str, ...] = ()


def read_monitor_file(upload: Path) -> MonitorFile:
    """Check an uploaded config with `load_monitor_config`; ConfigError naming the file by its own name."""
    name = _file_name(upload)
    try:
        size = upload.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{name}: {size} bytes is not a monitor config (at most {MAX_CONFIG_BYTES})")
        text = upload.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{name}: not a text file (UTF-8 expected)") from None
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        tables = None  # the loader says where
    view, edits = (text, {}) if tables is None else _loader_view(text, tables, name)
    with tempfile.TemporaryDirectory(prefix="actionstream-config-") as tmp:
        folder = Path(tmp)
        (folder / name).write_text(view, encoding="utf-8")
        try:
            config = load_monitor_config(folder / name)
        except ConfigError as exc:
            raise ConfigError(_without_folder(str(exc), folder, name)) from None
        except ValueError as exc:  # urlsplit on a malformed URL, e.g. an unclosed [IPv6 host
            raise ConfigError(f"{name}: {_without_folder(str(exc), folder, name)}") from None
    assert tables is not None  # the loader refuses what tomllib cannot read
    sources = tuple(str(camera["source"]).strip() for camera in tables["camera"])
    unchecked = tuple(_label(key) for key, value in edits.items() if value is None)
    return MonitorFile(name, config, tables, sources, unchecked)


def _loader_view(text: str, tables: dict[str, Any], name: str) -> tuple[str, dict[tuple, str | None]]:
    """The text the loader reads: local-path sources as "demo", bundle paths and secrets' environment variable
    names left out, every other line where it was.

    The loader looks these up on this server (its disk, its environment); for the page they are the source
    policy's, and the rest is the business of the machine the monitor runs on.
    """
    edits: dict[tuple, str | None] = {}  # key -> its new string value, or None: left out
    cameras = tables.get("camera")
    for i, camera in enumerate(cameras if isinstance(cameras, list) else []):
        if not isinstance(camera, dict):
            continue
        if isinstance(camera.get("source"), str) and _is_local_path(camera["source"].strip()):
            edits[("camera", i, "source")] = "demo"
        if isinstance(camera.get("bundle"), str):
            edits[("camera", i, "bundle")] = None
    for key in _SERVER_KEYS:
        table: Any = tables
        for part in key[:-1]:
            table = table.get(part) if isinstance(table, dict) else None
        if isinstance(table, dict) and isinstance(table.get(key[-1]), str):
            edits[key] = None
    if not edits:
        return text, edits
    lines = text.splitlines(keepends=True)
    where = key_lines(text)
    for key, value in edits.items():
        no = where.get(key)
        if no is None or not re.match(rf"\s*{key[-1]}\s*=", lines[no - 1]):
            raise ConfigError(f'{name}: {_label(key)}: write it as {key[-1]} = "..." in its table to load it here')
        line = lines[no - 1]
        new = f"# ({key[-1]}: looked up where the monitor runs)" if value is None else f'{key[-1]} = "{value}"'
        lines[no - 1] = new + line[len(line.rstrip("\r\n")) :]
    view = "".join(lines)
    try:
        edited = tomllib.loads(view)
    except tomllib.TOMLDecodeError:
        edited = None
    if edited != _edited(tables, edits):  # e.g. a multi-line string: its other lines would stay behind
        raise ConfigError(f"{name}: write each of {', '.join(map(_label, edits))} on one line to load it here")
    return view, edits


def _edited(tables: dict[str, Any], edits: dict[tuple, str | None]) -> dict[str, Any]:
    """`tables` as the edited text should read."""
    out = copy.deepcopy(tables)
    for key, value in edits.items():
        table = out
        for part in key[:-1]:
            table = table[part]
        if value is None:
            del table[key[-1]]
        else:
            table[key[-1]] = value
    return out


def _is_local_path(spec: str) -> bool:
    """Whether the loader would take `spec` as a file path (as streaming.monitor_config reads a source)."""
    if not spec or spec == "demo" or spec.isdigit():
        return False
    try:
        return len(urlsplit(spec).scheme) <= 1
    except ValueError:
        return False


def _label(key: tuple) -> str:
    """("camera", 1, "source") -> "camera[1].source", as the loader names keys."""
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _file_name(upload: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", upload.name).lstrip(".")[:100] or DEFAULT_FILE_NAME


def _without_folder(message: str, folder: Path, name: str) -> str:
    """A loader message without the server's temporary folder: `cameras.toml:14: ...`."""
    for f in {str(folder), str(folder.resolve())}:
        message = message.replace(f"{f}{os.sep}{name}", name).replace(f + os.sep, "").replace(f, ".")
    return message


def config_text(lines: list[CameraLine], rule: AlertRule, kept: Kept) -> tuple[str, list[str]]:
    """The file for the page's cameras and rule, with what `kept` holds; (text, notes on what changed)."""
    cameras = _named(lines)
    for i, (name, source) in enumerate(cameras):
        if problem := _monitor_source_problem(source):
            raise ValueError(f"camera {i + 1} ({name}): {problem}")
    names = {name for name, _ in cameras}
    notes: list[str] = []
    alerts: list[dict[str, Any]] = []
    actions = rule.actions | set(kept.hidden_actions)
    if actions:
        table: dict[str, Any] = {
            "name": kept.rule_name,
            "actions": sorted(actions),
            "threshold": rule.threshold,
            "min_duration_s": rule.min_duration_s,
            "cooldown_s": rule.cooldown_s,
        }
        if kept.rule_cameras:
            if still := [c for c in kept.rule_cameras if c in names]:
                table["cameras"] = still
            else:
                notes.append(f"rule {kept.rule_name} now applies to every camera: none of its cameras is listed")
        alerts.append(table)
    for other in kept.other_alerts:
        if other.get("cameras"):
            still = [c for c in other["cameras"] if c in names]
            if not still:
                notes.append(f"rule {other.get('name')} left out: none of its cameras is listed")
                continue
            other = {**other, "cameras": still}
        alerts.append(other)
    data: dict[str, Any] = {}
    if kept.monitor is not None:
        data["monitor"] = kept.monitor
    data["camera"] = [{"name": n, "source": s, **kept.camera_extras.get(n, {})} for n, s in cameras]
    if alerts:
        data["alert"] = alerts
    if kept.outputs is not None:
        data["outputs"] = kept.outputs
    head = (
        f"# actionstream monitor config, saved from the dashboard: python -m streaming monitor --config "
        f"{_toml_name(kept.file_name)}\n# Relative paths are relative to this file's folder.\n\n"
    )
    return head + dump_toml(data), notes


def _named(lines: list[CameraLine]) -> list[tuple[str, str]]:
    """(name, source) per line; an unnamed line is cam<N> as on its tile (or the next free cam<N>)."""
    if not lines:
        raise ValueError("no cameras: add a line per camera (name = URL) first")
    taken: set[str] = set()
    for line in lines:
        if line.name in taken:
            raise ValueError(f"two cameras are named {line.name!r}: give each its own name")
        if line.name:
            taken.add(line.name)
    out = []
    for i, line in enumerate(lines):
        name = line.name
        if name is None:
            k = i + 1
            while f"cam{k}" in taken:
                k += 1
            name = f"cam{k}"
            taken.add(name)
        out.append((name, line.source))
    return out


def _monitor_source_problem(spec: str) -> str | None:
    """Why the monitor would refuse `spec` as a source (judged here without looking at any file), or None."""
    if spec == "demo" or spec.isdigit():
        return None
    try:
        parts = urlsplit(spec)
        if len(parts.scheme) <= 1:
            return None  # a file path: the monitor checks it where it runs
        if parts.scheme.lower() not in NETWORK_SCHEMES:
            return f"{parts.scheme}: URLs are no camera source; use {', '.join(NETWORK_SCHEMES)}"
        _ = parts.port  # raises on a bad port, as the loader's check does
        if not parts.hostname:
            return "malformed URL (no host)"
    except ValueError as exc:
        return f"malformed URL ({exc})"
    return None


def _toml_name(name: str) -> str:
    return name if name.endswith(".toml") else f"{Path(name).stem or 'cameras'}.toml"


def slider_update(value: float, bounds: SliderRange) -> dict:
    """A slider set to `value`; bounds widened and the step made fine enough when a file's value is off them."""
    low, high, step = bounds
    k = (value - low) / step
    if low <= value <= high and abs(k - round(k)) < 1e-6:
        return gr.update(value=value)
    fine = next((10.0**-d for d in range(1, 7) if abs(round(value, d) - value) < 1e-9), 1e-6)
    return gr.update(value=value, minimum=min(low, value), maximum=max(high, value), step=min(step, fine))


def _code(text: str) -> str:
    """Text as a Markdown code span (a redacted URL's *** must not turn bold)."""
    return "`" + text.replace("`", "'") + "`"


class MonitorFileTab:
    """The Cameras tab's Load and Save of the monitor config."""

    def __init__(self, hub: Hub, catalog: SourceCatalog, alerts: AlertsTab):
        self.hub = hub
        self.catalog = catalog
        self.alerts = alerts
        self._saved_root: Path | None = None
        self._lock = threading.Lock()

    def load(self, upload: str | None, snapshot: bool, request: gr.Request) -> list:
        """Fill the page from an uploaded config: [camera list, actions, threshold, minimum duration, cooldown,
        rule line, kept, status]. The rule applies at once; a bad file changes nothing but the status."""
        unchanged = [gr.skip()] * 7
        if not upload:
            return [*unchanged, gr.skip()]
        try:
            loaded = read_monitor_file(Path(upload))
        except ConfigError as exc:
            return [*unchanged, f"**Not loaded**, nothing on the page changed: {_code(str(exc))}"]
        config, tables = loaded.config, loaded.tables
        cameras = [(c.name, source) for c, source in zip(config.cameras, loaded.sources)]
        refused = []
        for name, source in cameras:
            try:
                self.catalog.typed(source)
            except ActionstreamError as exc:
                refused.append(f"{name}: {exc}")
        first = config.alerts[0] if config.alerts else None
        labels = set(self.hub.labels)
        kept = Kept(
            file_name=loaded.name,
            monitor=tables.get("monitor"),
            outputs=tables.get("outputs"),
            camera_extras={
                t["name"]: {k: v for k, v in t.items() if k not in ("name", "source")} for t in tables["camera"]
            },
            rule_name=first.name if first else DASHBOARD_RULE,
            rule_cameras=first.cameras if first else (),
            hidden_actions=tuple(sorted(first.rule.actions - labels)) if first else (),
            other_alerts=tuple(tables.get("alert", [])[1:]),
        )
        if first is not None:
            r = first.rule
            rule = AlertRule(r.actions & labels, r.threshold, r.min_duration_s, bool(snapshot), r.cooldown_s)
            inputs = [
                sorted(rule.actions),
                slider_update(rule.threshold, THRESHOLD_SLIDER),
                slider_update(rule.min_duration_s, DURATION_SLIDER),
                rule.cooldown_s,
            ]
        else:
            rule = AlertRule(snapshot=bool(snapshot))
            inputs = [[], gr.skip(), gr.skip(), gr.skip()]
        self.hub.session(request).set_rule(rule)
        status = self._loaded_status(loaded, kept, refused)
        return [camera_list_text(cameras), *inputs, self.alerts.describe(rule), kept, status]

    def _loaded_status(self, loaded: MonitorFile, kept: Kept, refused: list[str]) -> str:
        config = loaded.config
        rule = f"alert rule `{kept.rule_name}`" if config.alerts else "no alert rule (alerts off)"
        lines = [
            f"Loaded `{loaded.name}`: {len(config.cameras)} camera(s), {rule}. Press **Start cameras** to watch them."
        ]
        if refused:
            lines.append("Not opened here (this dashboard's source policy): " + "; ".join(map(_code, refused)))
        if kept.rule_cameras:
            lines.append(
                f"The rule applies to every camera on this page; its cameras in the file "
                f"({', '.join(kept.rule_cameras)}) are kept on save."
            )
        if kept.hidden_actions:
            lines.append(f"Not labels of this model, kept on save: {', '.join(kept.hidden_actions)}.")
        if kept.other_alerts:
            names = ", ".join(str(t.get("name")) for t in kept.other_alerts)
            lines.append(f"{len(kept.other_alerts)} more alert rule(s) kept on save, not applied here: {names}.")
        if kept.monitor is not None or kept.outputs is not None:
            lines.append("Monitor settings and outputs are kept on save.")
        if loaded.unchecked:
            lines.append(f"Checked where the monitor runs, not on this server: {', '.join(loaded.unchecked)}.")
        return "\n".join(f"- {line}" for line in lines)

    def save(
        self,
        camera_text: str,
        actions: list[str],
        threshold: float,
        min_duration_s: float,
        cooldown_s: float | None,
        kept: Kept | None,
    ) -> list:
        """Write the page (cameras, alert rule) into a config file to download: [file, status]."""
        kept = kept if isinstance(kept, Kept) else Kept()
        try:
            rule = AlertRule(
                frozenset(actions or []),
                float(threshold),
                float(min_duration_s or 0.0),
                cooldown_s=float(cooldown_s or 0.0),
            )
            text, notes = config_text(camera_lines(camera_text), rule, kept)
        except (ValueError, TypeError) as exc:
            return [gr.update(value=None, visible=False), f"**Not saved:** {_code(str(exc))}"]
        path = self._write(_toml_name(kept.file_name), text)
        status = f"Saved `{path.name}` below: run it with `python -m streaming monitor --config {path.name}`."
        if notes:
            status += " " + "; ".join(notes) + "."
        return [gr.update(value=str(path), visible=True), status]

    def _write(self, name: str, text: str) -> Path:
        """A fresh folder per save (Gradio copies the file to its cache); folders older than SAVED_KEEP_S go."""
        with self._lock:
            if self._saved_root is None:
                self._saved_root = Path(tempfile.mkdtemp(prefix="actionstream-saved-"))
                atexit.register(shutil.rmtree, self._saved_root, ignore_errors=True)  # Gradio holds its own copy
            now = time.time()
            for old in self._saved_root.iterdir():
                if now - old.stat().st_mtime > SAVED_KEEP_S:
                    shutil.rmtree(old, ignore_errors=True)
            folder = Path(tempfile.mkdtemp(dir=self._saved_root))
        return atomic_write_text(folder / name, text, durable=False)
