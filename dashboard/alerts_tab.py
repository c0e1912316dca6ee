"""The Alerts tab: a tab's alert rule, set from the page and said back in one line.

The four inputs share one concurrency queue (see `build_ui`), so changes apply in the order they were made.
"""

from __future__ import annotations

import gradio as gr

from dashboard.hub import Hub
from streaming.alerts import AlertRule

ALERTS_OFF = "Alerts off: pick one or more actions."


class AlertsTab:
    """The Alerts tab's handler."""

    def __init__(self, hub: Hub):
        self.hub = hub

    def set_rule(
        self, actions: list[str], threshold: float, min_duration_s: float, snapshot: bool, request: gr.Request
    ) -> str:
        try:
            rule = AlertRule(frozenset(actions or []), float(threshold), float(min_duration_s or 0.0), bool(snapshot))
        except ValueError as exc:
            return f"Alert settings refused: {exc}"
        self.hub.session(request).set_rule(rule)
        if not rule.enabled:
            return ALERTS_OFF
        path = self.hub.alert_log.path
        where = f" and appended to `{path}`" if path else ""
        snap = ", each with a snapshot of the frame" if rule.snapshot and path else ""
        return (
            f"Alerting on {', '.join(sorted(rule.actions))} when held ≥ {rule.threshold:.2f} for "
            f"{rule.min_duration_s:.1f} s; events are listed below{where}{snap}."
        )
