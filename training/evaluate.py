"""Scoring a head on held-out clips: window and clip accuracy, top-k, per class, confusion, report.json.

A clip's prediction is the mean of its windows' probabilities (every window cut from it, or the one looped
window of a short clip), the way a viewer would judge a whole clip.

    probs = predict_windows(head, test_windows)          # head: any callable B×T×D -> B×C
    clip_probs = clip_probabilities(probs, test_windows)
    summary = classification_summary(clip_probs, test_windows.clip_labels, classes)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from streaming.progress import progress_bar
from training.fit import WindowSet

#: The top-k accuracies reported (k=2 as in the report, and 5); null where k >= number of classes.
REPORT_TOP_K = (1, 2, 5)
#: How many most-confused class pairs the report lists.
MOST_CONFUSED = 10
#: Said in every report of a `seed` split (the report's final rule), because its accuracy is flattered by it.
SEED_SPLIT_NOTE = (
    "these test clips share actors and backgrounds with training clips (the seed split puts clips "
    "of one group on both sides), so accuracy is optimistic; the official splits keep each group on "
    "one side"
)


def predict_windows(
    head: Callable[[np.ndarray], np.ndarray], ws: WindowSet, batch_size: int = 256, progress: bool = False
) -> np.ndarray:
    """Probabilities (n_windows × C) from any head callable (an ONNX `streaming.head.Head`, a Keras model)."""

    out = []
    for start in progress_bar(range(0, len(ws), batch_size), desc="evaluate", unit="batch", enabled=progress):
        out.append(np.asarray(head(ws.gather(slice(start, start + batch_size))), np.float32))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def clip_probabilities(window_probs: np.ndarray, ws: WindowSet) -> np.ndarray:
    """Mean window probabilities per clip (n_clips × C), in ws.clip_ids order."""
    n_clips = len(ws.clip_ids)
    sums = np.zeros((n_clips, window_probs.shape[1]), np.float64)
    np.add.at(sums, ws.clip, window_probs)
    counts = np.bincount(ws.clip, minlength=n_clips)
    if (counts == 0).any():
        raise ValueError("some clips have no windows")
    return (sums / counts[:, None]).astype(np.float32)


def top_k_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of rows whose true class is among the k most probable."""
    if len(labels) == 0:
        return float("nan")
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean((top == labels[:, None]).any(axis=1)))


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """cm[true, predicted] counts."""
    cm = np.zeros((classes, classes), np.int64)
    np.add.at(cm, (labels, pred), 1)
    return cm


def most_confused(cm: np.ndarray, names: Sequence[str], n: int = MOST_CONFUSED) -> list[dict]:
    """The largest off-diagonal cells: which class was taken for which, how often and at what rate."""
    rows = cm.sum(axis=1)
    cells = [(int(cm[i, j]), i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i, j] > 0]
    cells.sort(key=lambda c: (-c[0], c[1], c[2]))
    return [
        {"true": names[i], "predicted": names[j], "count": c, "rate": round(c / max(1, rows[i]), 4)}
        for c, i, j in cells[:n]
    ]


def classification_summary(probs: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict:
    """top-1/2/5, per-class accuracy, confusion matrix and most-confused pairs for one set of predictions."""
    labels = np.asarray(labels, np.int64)
    classes = len(names)
    pred = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
    cm = confusion_matrix(pred, labels, classes)
    per_class = {}
    for i, name in enumerate(names):
        total = int(cm[i].sum())
        per_class[name] = {"accuracy": round(cm[i, i] / total, 4) if total else None, "count": total}
    summary: dict = {"count": int(len(labels))}
    for k in REPORT_TOP_K:
        summary[f"top{k}"] = round(top_k_accuracy(probs, labels, k), 4) if k < classes or k == 1 else None
    summary["per_class"] = per_class
    summary["confusion"] = cm.tolist()
    summary["most_confused"] = most_confused(cm, names)
    return summary


def pair_accuracy(summary: dict, pairs: Sequence[Sequence[str]]) -> list[dict]:
    """Accuracy on each pair of classes (e.g. time-reversed actions) from a summary's per-class counts, and how
    often one was taken for the other."""
    names = list(summary["per_class"])
    cm = np.asarray(summary["confusion"])
    out = []
    for a, b in pairs:
        if a not in names or b not in names:
            continue
        i, j = names.index(a), names.index(b)
        total = cm[i].sum() + cm[j].sum()
        correct = cm[i, i] + cm[j, j]
        out.append(
            {
                "pair": [a, b],
                "accuracy": round(float(correct / total), 4) if total else None,
                "swapped": int(cm[i, j] + cm[j, i]),
                "count": int(total),
            }
        )
    return out


def evaluate_head(
    head: Callable[[np.ndarray], np.ndarray], ws: WindowSet, names: Sequence[str], progress: bool = False
) -> dict:
    """Window-level and clip-level summaries of a head on a WindowSet."""
    probs = predict_windows(head, ws, progress=progress)
    clip_probs = clip_probabilities(probs, ws)
    return {
        "clip": classification_summary(clip_probs, ws.clip_labels, names),
        "window": {
            k: v
            for k, v in classification_summary(probs, ws.labels, names).items()
            if k in ("count", "top1", "top2", "top5")
        },
    }
