"""Inputs that refuse a forged value with one log line instead of a traceback.

Gradio's own checks (a value not among a Radio's or Dropdown's choices, a number out of range) raise `gr.Error`
with `print_exception` on, so every request with a forged value left a full traceback in the server log. `quiet`
wraps one component's check: its refusal becomes one `actionstream` log line and the same message to the client.
(Not a subclass: Gradio's component metaclass writes a .pyi file beside any module that subclasses a component.)

    kind = quiet(gr.Radio(["a", "b"], label="Source"))
"""

from __future__ import annotations

import logging
from typing import TypeVar

import gradio as gr

log = logging.getLogger("actionstream")

C = TypeVar("C", bound=gr.components.Component)


def quiet(component: C) -> C:
    """`component`, whose refused values are logged in one line and answered without a server traceback.

    The component's choices and bounds must not change per session (the check is the one built here)."""
    check = component.preprocess
    name = component.elem_id or component.label or type(component).__name__

    def preprocess(payload):
        try:
            return check(payload)
        except gr.Error as exc:
            log.warning("refused input %s: %s", name, exc.message)
            raise gr.Error(exc.message, print_exception=False) from None

    component.preprocess = preprocess  # type: ignore[method-assign]
    return component
