"""The report's figures: a confusion heatmap with class names (its figures 8 and 10) and accuracy/loss per
epoch, train and validation (its figure 11). matplotlib with the Agg backend: no display needed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streaming.atomic import atomic_file


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig, path: Path) -> Path:
    """Save atomically: a temporary PNG beside the target, then rename."""
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def plot_confusion(cm: Sequence[Sequence[int]], names: Sequence[str], path: Path, title: str = "") -> Path:
    """Row-normalised heatmap (each true class sums to 1) with counts written in the cells when few classes."""
    cm = np.asarray(cm, np.float64)
    n = len(names)
    rows = cm.sum(axis=1, keepdims=True)
    rate = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    side = min(24.0, max(5.0, 0.38 * n + 3.0))
    fig = _figure(side + 1.0, side)
    ax = fig.add_subplot()
    im = ax.imshow(rate, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(n), labels=list(names), rotation=90, fontsize=8 if n > 20 else 9)
    ax.set_yticks(range(n), labels=list(names), fontsize=8 if n > 20 else 9)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        f"{int(cm[i, j])}",
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if rate[i, j] > 0.5 else "black",
                    )
    ax.set_title(title or "confusion (clips)")
    fig.colorbar(im, ax=ax, shrink=0.8, label="share of the true class")
    return _save(fig, path)


def plot_curves(
    history: dict[str, Sequence[float]], path: Path, title: str = "", stages: Sequence[tuple[int, str]] = ()
) -> Path:
    """Accuracy (and top-2 where recorded) and loss per epoch, train and validation, side by side.

    `stages`: (first epoch, name) of each training stage when `history` joins several (see join_histories).
    """
    fig = _figure(11.0, 4.2)
    acc_ax, loss_ax = fig.subplots(1, 2)
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for key, style in (("accuracy", "-"), ("top2", ":")):
        for prefix, color in (("", "tab:blue"), ("val_", "tab:orange")):
            values = history.get(prefix + key)
            if values:
                acc_ax.plot(epochs, values, style, color=color, label=f"{'val' if prefix else 'train'} {key}")
    for prefix, color in (("", "tab:blue"), ("val_", "tab:orange")):
        values = history.get(prefix + "loss")
        if values:
            loss_ax.plot(epochs, values, color=color, label=f"{'val' if prefix else 'train'} loss")
    acc_ax.set_ylim(0.0, 1.02)
    from matplotlib.ticker import MaxNLocator

    for ax in (acc_ax, loss_ax):
        for first, name in stages:
            ax.axvline(first - 0.5, color="grey", linestyle="--", linewidth=0.8)
            ax.text(
                first - 0.4,
                0.02,
                name,
                transform=ax.get_xaxis_transform(),
                fontsize=7,
                color="dimgrey",
                rotation=90,
                va="bottom",
            )
    for ax, name in ((acc_ax, "accuracy"), (loss_ax, "loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(title or "training curves")
    return _save(fig, path)


def join_histories(
    parts: Sequence[tuple[str, dict[str, Sequence[float]]]],
) -> tuple[dict[str, list[float]], list[tuple[int, str]]]:
    """One history from consecutive training stages (keys all stages share), and where each stage starts."""
    keys = set.intersection(*(set(h) for _, h in parts)) if parts else set()
    joined: dict[str, list[float]] = {k: [] for k in sorted(keys)}
    stages = []
    for name, h in parts:
        stages.append((len(joined.get("loss", [])) + 1, name))
        for k in joined:
            joined[k].extend(float(v) for v in h[k])
    return joined, stages
