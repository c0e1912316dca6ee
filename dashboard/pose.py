"""What the dashboard needs of a pose bundle: does it find people, where is the person, is nobody in view.

Kept in one place so the rest of the dashboard never asks which extractor kind a bundle has. The engine's
pose support (`Extractor.finds_people`, `Engine.latest_person`, `Prediction.person`) is read with fallbacks,
so the dashboard also runs on an engine without it (then nobody is ever drawn and every prediction has a label).
"""

from __future__ import annotations

from streaming.engine import Engine
from streaming.events import Prediction
from streaming.person import Person

NO_PERSON = "no person in view"


def finds_people(engine: Engine) -> bool:
    """Whether the bundle's extractor looks for a person in each frame (a pose bundle)."""
    says = getattr(engine.extractor, "finds_people", None)
    if says is not None:
        return bool(says)
    return getattr(engine.manifest, "extractor_kind", "cnn") == "pose"


def latest_person(engine: Engine, stream_id: str) -> Person | None:
    """The person found in the stream's newest extracted frame (None: nobody, or no pose support)."""
    get = getattr(engine, "latest_person", None)
    return get(stream_id) if get is not None else None


def no_person(prediction: Prediction | None) -> bool:
    """True when the prediction says nobody is in view: it carries no action label to show."""
    return prediction is not None and getattr(prediction, "person", None) is False
