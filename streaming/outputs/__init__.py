"""Where the monitor's events go: a JSON-lines file, webhooks, MQTT, event clips.

Every output takes plain JSON-able dicts (`{"type": "alert", "camera": ..., ...}`) through `publish`, returns at
once (slow work happens in the output's own thread), and `close(timeout_s)` ends it without leaving half a file.
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol


class Output(Protocol):
    def publish(self, event: dict) -> None: ...

    def close(self, timeout_s: float = 5.0) -> None: ...


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def event_json(event: dict) -> str:
    """Strict, compact JSON for an event (NaN becomes null, which every JSON parser reads)."""
    return json.dumps(_finite(event), separators=(",", ":"), ensure_ascii=False)
