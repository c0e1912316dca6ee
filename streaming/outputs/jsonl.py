"""A JSON-lines event log rotated by size: events.jsonl, events.jsonl.1 (newer) ... events.jsonl.N (older).

Each event is one line written with one O_APPEND write, so a reader (`tail -f`, a log shipper) never sees half a
line and a killed monitor leaves only whole lines; rotation is a rename, so no file is ever half-copied.

    log = JsonlOutput(Path("events.jsonl"), max_bytes=10_000_000, keep=5)
    log.publish({"type": "alert", "camera": "door", "action": "Fall"})
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from streaming.atomic import default_mode
from streaming.outputs import event_json


class JsonlOutput:
    """Appends events to `path`; once it would pass `max_bytes` it becomes `path.1` (keeping `keep` old files)."""

    def __init__(self, path: Path, max_bytes: int = 10_000_000, keep: int = 5, kinds: tuple[str, ...] | None = None):
        if max_bytes < 1 or keep < 0:
            raise ValueError(f"need max_bytes >= 1 and keep >= 0, got {max_bytes}, {keep}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self.kinds = kinds
        self.written = 0
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def publish(self, event: dict) -> None:
        if self.kinds is not None and event.get("type") not in self.kinds:
            return
        line = (event_json(event) + "\n").encode("utf-8")
        with self._lock:
            try:
                size = self.path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size and size + len(line) > self.max_bytes:
                self._rotate()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, default_mode())
            try:
                os.write(fd, line)  # one write: whole lines only
            finally:
                os.close(fd)
            self.written += 1

    def _rotate(self) -> None:
        if self.keep == 0:
            self.path.unlink(missing_ok=True)
            return
        self._numbered(self.keep).unlink(missing_ok=True)
        for n in range(self.keep - 1, 0, -1):
            if self._numbered(n).exists():
                os.replace(self._numbered(n), self._numbered(n + 1))
        os.replace(self.path, self._numbered(1))

    def _numbered(self, n: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{n}")

    def close(self, timeout_s: float = 5.0) -> None:
        """Nothing is buffered: every publish is already on disk."""
