"""The Live tab's five outputs for one stream (frame, top-k, timeline, status, alert log), sent only when changed.

A refresh that re-sent an unchanged frame or plot would cost a JPEG encode and a browser redraw for nothing, so
each page remembers what it shows (`Shown`) and gets gr.skip() for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np

from dashboard.session import Session
from dashboard.view import StreamView, annotate
from streaming.events import Prediction
from streaming.person import Person

#: What the Live tab's handlers return when the page should stay as it is.
UNCHANGED = (gr.skip(),) * 5


@dataclass
class Shown:
    """What one page already shows, so a refresh sends gr.skip() for the outputs that did not change."""

    frame: object = None
    problem: str = ""
    person: Person | None = None
    prediction: Prediction | None = None
    predictions: int = 0
    legend: list[str] | None = None
    status: str | None = None
    alerts_seen: int = -1


def live_outputs(
    session: Session,
    view: StreamView,
    frame_key: object,
    frame_bgr: np.ndarray | None,
    person: Person | None,
    shown: Shown,
) -> tuple:
    """(frame, top-k, timeline, status, alert log), gr.skip() where the page is current.

    `frame_key` identifies the frame (the engine's Frame object, or the pushed array) so an unchanged one is
    not re-encoded; `person` is drawn on it when given.
    """
    out_frame = out_bars = out_timeline = out_status = out_alerts = gr.skip()
    problem = view.problem()
    if frame_bgr is not None and (
        frame_key is not shown.frame
        or view.prediction is not shown.prediction
        or problem != shown.problem
        or person is not shown.person
    ):
        out_frame = annotate(frame_bgr, view.prediction, problem, person=person)
        shown.frame, shown.problem, shown.person = frame_key, problem, person
    if view.prediction is not shown.prediction:
        out_bars, shown.prediction = view.bars(), view.prediction
    if view.predictions and view.predictions != shown.predictions:  # the plot re-renders: only on news
        legend = view.timeline_classes()
        out_timeline, shown.predictions = view.timeline(legend), view.predictions
        if legend != shown.legend:  # the legend names only the lines drawn (a change redraws the plot)
            out_timeline, shown.legend = gr.LinePlot(value=out_timeline, colors_in_legend=legend), legend
    status = view.status_line()
    if status != shown.status:
        out_status = shown.status = status
    if session.alerts_seen != shown.alerts_seen:
        shown.alerts_seen, out_alerts = session.alerts_seen, session.alert_text()
    return out_frame, out_bars, out_timeline, out_status, out_alerts
