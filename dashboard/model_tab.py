"""The Model tab and the line under the title: which bundle this is, so nobody mistakes a demo model for a
UCF101 one. Everything comes from the bundle's manifest, and from its report.json where it measured itself on
real people (the people model)."""

from __future__ import annotations

import json
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
    if m.open_set_threshold > 0:
        rows.append(
            f"- **Open set:** below a smoothed score of {m.open_set_threshold:g} it says *no clear action* "
            "instead of a label"
        )
    rows += real_figures(bundle_root)
    facts = [(k, v) for k, v in m.provenance.items() if not isinstance(v, (dict, list))]
    if facts:  # the one-line facts; nested details (configs, versions, parity) are in the accordion below
        rows += ["", "**Where it came from:**", ""] + [f"- {k}: {v}" for k, v in facts]
    return "\n".join(rows)


def real_figures(bundle_root: Path) -> list[str]:
    """How the model did on real people's skeletons it never trained on (report.json's held-out figures)."""
    try:
        report = json.loads((Path(bundle_root) / "report.json").read_text())
        held = report["real_held_out"]["ensemble"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    rows = ["", "**Measured on real people** (skeleton sets never trained on, held-out subjects):", ""]
    rows += ["| set | clip accuracy | per class |", "|---|---:|---|"]
    for name in ("utkinect", "msr"):
        r = held.get(name)
        if not isinstance(r, dict):
            continue
        per_class = ", ".join(f"{c} {100 * v:.0f} %" for c, v in r.get("per_class", {}).items())
        rows.append(f"| {name} | {100 * r.get('clip_accuracy', 0):.1f} % | {per_class} |")
    if "sit_stand_accuracy" in held:
        rows.append(f"| SitDown vs StandUp | {100 * held['sit_stand_accuracy']:.0f} % | |")
    confused = [
        f"{true} → {guess} ({n})"
        for r in (held.get("utkinect", {}), held.get("msr", {}))
        if isinstance(r, dict)
        for true, row in r.get("confusion", {}).items()
        for guess, n in row.items()
        if guess != true and n >= 2
    ]
    if confused:
        rows += ["", "Most confused (true → shown, clips): " + "; ".join(confused)]
    return rows
