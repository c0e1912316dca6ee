"""The plain HTTP API for programs (gradio_client cannot drive the webcam stream): /classify and /model."""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

import gradio as gr

from dashboard.hub import Hub
from dashboard.sources import SourceCatalog
from streaming.errors import ActionstreamError
from streaming.events import Prediction

log = logging.getLogger("actionstream")

MIN_CLASSIFY_S = 1.0
MAX_CLASSIFY_S = 120.0


def classify_seconds(value: object) -> float:
    """The API's `seconds` (any JSON value a client sends) as seconds in 1..120; ActionstreamError when it is not
    a number. Nothing (None, "") means the least; numbers outside the range are brought into it."""
    if value is None or value == "":
        return MIN_CLASSIFY_S
    try:
        if isinstance(value, bool):
            raise TypeError
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ActionstreamError(
            f"seconds must be a number of seconds ({MIN_CLASSIFY_S:g} to {MAX_CLASSIFY_S:g}), got {str(value)[:40]!r}"
        ) from None
    if not math.isfinite(seconds):
        raise ActionstreamError(
            f"seconds must be a finite number of seconds ({MIN_CLASSIFY_S:g} to {MAX_CLASSIFY_S:g}), got {seconds}"
        )
    return min(max(seconds, MIN_CLASSIFY_S), MAX_CLASSIFY_S)


class Api:
    """The API's handlers."""

    def __init__(self, hub: Hub, catalog: SourceCatalog, bundle_root: Path):
        self.hub = hub
        self.catalog = catalog
        self.bundle_root = bundle_root

    def classify(self, source: str, seconds: float, request: gr.Request) -> dict:
        """Run an example clip (by its name in the list) or a validated URL/clip path for up to `seconds`
        (1 to 120) and return its predictions and final state."""
        try:
            seconds = classify_seconds(seconds)
            if not isinstance(source, str):
                raise ActionstreamError(f"source must be a string, got {type(source).__name__}")
            spec, name = self.catalog.named_or_typed(source)
            watched = self.hub.open(spec, name)
        except ActionstreamError as exc:  # a refused input: one line in the log, the reason in the answer
            log.warning("classify refused: %s", exc)
            return {"source": source, "error": str(exc), "predictions": []}
        predictions: list[dict] = []

        def keep(p: Prediction) -> None:
            d = p.to_dict()
            d.pop("probs", None)
            predictions.append(d)

        deadline = time.monotonic() + seconds
        try:
            for _ in self.hub.follow([watched], threading.Event(), on_prediction=keep):
                if watched.view.finished or time.monotonic() >= deadline:
                    break
        finally:
            self.hub.close(watched)
        view = watched.view
        return {
            "source": source,
            "stream": watched.stream_id,
            "state": view.state.value,
            "reason": view.status.reason if view.status else "",
            "provider": self.hub.engine.provider,
            "predictions": predictions,
        }

    def model_info(self) -> dict:
        m = self.hub.engine.manifest
        return {
            "bundle": self.bundle_root.resolve().name,  # the folder's name: where it lies is the server's business
            "description": m.description,
            "labels": list(m.labels),
            "window": m.sampling.window,
            "sampling": {"mode": m.sampling.mode, "fps": m.sampling.feature_rate},
            "provenance": dict(m.provenance),
            "provider": self.hub.engine.provider,
        }
