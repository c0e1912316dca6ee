"""The Model tab and the line under the title: which bundle this is, so nobody mistakes a demo model for a
UCF101 one. Everything comes from the bundle's manifest."""

from __future__ import annotations

from pathlib import Path

from dashboard.view import short_provider
from streaming.engine import Engine


def model_summary(engine: Engine, bundle_root: Path) -> str:
    """One line under the title."""
    m = engine.manifest
    what = m.description or str(m.provenance.get("dataset", "")) or bundle_root.name
    return (
        f"**Model:** {what} · {len(m.labels)} actions · window {m.sampling.window} features at "
        f"{m.sampling.feature_rate:g}/s ({m.sampling.window_seconds:.1f} s) · {short_provider(engine.provider)}"
    )


def model_markdown(engine: Engine, bundle_root: Path) -> str:
    """The Model tab: labels, window, extractor input, provider and the one-line provenance facts."""
    m = engine.manifest
    rows = [
        f"### {m.description or bundle_root.name}",
        "",
        f"- **Bundle:** `{bundle_root.resolve().name}`",  # not where it lies on the server
        f"- **Actions ({len(m.labels)}):** {', '.join(m.labels)}",
        f"- **Window:** {m.sampling.window} features at {m.sampling.feature_rate:g} per second "
        f"({m.sampling.window_seconds:.1f} s of video), sampling `{m.sampling.mode}`",
        f"- **Extractor input:** {m.frame.height}×{m.frame.width} {m.frame.color}, {m.feature_size}-d features",
        f"- **Execution provider:** {engine.provider}",
    ]
    facts = [(k, v) for k, v in m.provenance.items() if not isinstance(v, (dict, list))]
    if facts:  # the one-line facts; nested details (configs, versions, parity) are in the accordion below
        rows += ["", "**Where it came from:**", ""] + [f"- {k}: {v}" for k, v in facts]
    return "\n".join(rows)
