"""Where the monitor's events go: a JSON-lines file, webhooks, MQTT, event clips.

Every output takes plain JSON-able dicts (`{"type": "alert", "camera": ..., ...}`) through `publish`, returns at
once (slow work happens in the output's own thread), and `close(timeout_s)` ends it without leaving half a file.
"""

from __future__ import annotations

import json
from typing import Protocol

from streaming.events import jsonable


class Output(Protocol):
    def publish(self, event: dict) -> None: ...

    def close(self, timeout_s: float = 5.0) -> None: ...


def event_json(event: dict) -> str:
    """Strict, compact JSON for an event (NaN becomes null, which every JSON parser reads)."""
    return json.dumps(jsonable(event), separators=(",", ":"), ensure_ascii=False)
