"""The Alerts tab: a tab's alert rule, set from the page and said back in one line.

The inputs share one concurrency queue (see `build_ui`), so changes apply in the order they were made. Loading
a monitor config (dashboard.monitor_file) sets the same rule from the file's first [[alert]].
"""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr

from dashboard.hub import Hub
from streaming.alerts import AlertRule

ALERTS_OFF = "Alerts off: pick one or more actions."


class SliderRange(NamedTuple):
    """A slider's bounds and step on the page (a loaded file may hold a value off them: see monitor_file)."""

    low: float
    high: float
    step: float


THRESHOLD_SLIDER = SliderRange(0.05, 1.0, 0.05)
DURATION_SLIDER = SliderRange(0.0, 30.0, 0.5)
#: The monitor's file allows a cooldown of 0..86400 s (a day), and so does the page.
MAX_COOLDOWN_S = 86400.0


class AlertsTab:
    """The Alerts tab's handler."""

    def __init__(self, hub: Hub):
        self.hub = hub

    def set_rule(
        self,
        actions: list[str],
        threshold: float,
        min_duration_s: float,
        snapshot: bool,
        request: gr.Request,
        cooldown_s: float | None = 0.0,  # after `request`: Gradio passes the page's fifth input here
    ) -> str:
        try:
            rule = AlertRule(
                frozenset(actions or []),
                float(threshold),
                float(min_duration_s or 0.0),
                bool(snapshot),
                float(cooldown_s or 0.0),
            )
        except ValueError as exc:
            return f"Alert settings refused: {exc}"
        self.hub.session(request).set_rule(rule)
        return self.describe(rule)

    def describe(self, rule: AlertRule) -> str:
        """The rule in one line, as the page shows it."""
        if not rule.enabled:
            return ALERTS_OFF
        path = self.hub.alert_log.path
        where = f" and appended to `{path}`" if path else ""
        snap = ", each with a snapshot of the frame" if rule.snapshot and path else ""
        cooldown = f", at most once per camera every {rule.cooldown_s:g} s" if rule.cooldown_s else ""
        return (
            f"Alerting on {', '.join(sorted(rule.actions))} when held ≥ {rule.threshold:.2f} for "
            f"{rule.min_duration_s:.1f} s{cooldown}; events are listed below{where}{snap}."
        )
