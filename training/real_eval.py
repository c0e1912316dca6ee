"""How a head does on real people: clip accuracy per class on the real skeleton sets, with a confusion matrix.

Why: synthetic accuracy says little about real motion. The sets (training.skeletons) are validation only; the
default subjects are the development part (1-5), subjects 6-10 are kept for the final figure.

A clip's prediction averages its windows' probabilities, then takes the arg-max over all the head's labels
(a clip read as a class the set does not hold counts as wrong). "restricted" accuracy takes the arg-max over
the set's own classes only, a softer figure printed beside it. SitDown-vs-StandUp: of the clips of those two
classes, the share whose SitDown probability beats StandUp's the right way round (order sensitivity).

    fn, labels = bundle_predict_fn(Path("models/people"))
    report = evaluate_on_real(fn, labels=labels)
    print(format_report(report))
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.motion import LABELS
from training.skeletons import (
    DEFAULT_ROOT,
    DEVELOPMENT_SUBJECTS,
    HELD_OUT_SUBJECTS,
    load_set,
    validation_windows,
)

#: (N, window, features) float32 -> (N, len(labels)) class probabilities.
PredictFn = Callable[[np.ndarray], np.ndarray]
BATCH = 256


def keras_predict_fn(model) -> PredictFn:
    """A Keras model as a PredictFn (its output must already be probabilities, as our heads' softmax is)."""
    return lambda x: np.asarray(model.predict(x, batch_size=BATCH, verbose=0))


def onnx_predict_fn(path: Path, labels_count: int) -> PredictFn:
    """A head.onnx file as a PredictFn (CPU provider)."""
    from streaming.onnx_model import OnnxModel

    model = OnnxModel(path, labels_count, device="cpu")
    return model


def bundle_predict_fn(bundle_dir: Path) -> tuple[PredictFn, list[str]]:
    """A bundle's head (CPU) and its labels."""
    from streaming.bundle import load_bundle
    from streaming.head import Head

    head = Head(load_bundle(bundle_dir), device="cpu")
    return head, list(head.labels)


def _batched(fn: PredictFn, x: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.zeros((0, 0), np.float32)
    return np.concatenate([np.asarray(fn(x[i : i + BATCH]), np.float64) for i in range(0, len(x), BATCH)])


@dataclass(frozen=True)
class SetResult:
    """One set's figures; classes are the set's labels present among the chosen subjects, in LABELS order."""

    set_name: str
    subjects: tuple[int, ...]
    classes: list[str]
    clip_counts: dict[str, int]
    window_counts: dict[str, int]
    clip_accuracy: float  # over clips, arg-max over all labels
    balanced_accuracy: float  # mean of per-class accuracies
    restricted_accuracy: float  # arg-max over the set's classes only
    window_accuracy: float
    per_class: dict[str, float]
    confusion: dict[str, dict[str, int]]  # true class -> predicted label -> clips
    sit_stand_accuracy: float | None  # None where the set has no SitDown/StandUp clips

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def score_clips(
    probs: np.ndarray,
    y: np.ndarray,
    clip_ids: np.ndarray,
    labels: Sequence[str],
    set_name: str = "",
    subjects: tuple[int, ...] = (),
) -> SetResult:
    """Figures from window probabilities (N, len(labels)), their true labels and clip ids."""
    labels = list(labels)
    missing = sorted(set(y) - set(labels))
    if missing:
        raise ValueError(f"the head has no label for {missing}; its labels are {labels}")
    classes = [c for c in LABELS if c in set(y)] + sorted(set(y) - set(LABELS))
    order = list(dict.fromkeys(clip_ids))
    clip_prob = np.stack([probs[clip_ids == c].mean(axis=0) for c in order])
    clip_true = np.array([y[clip_ids == c][0] for c in order])
    pred = np.array([labels[i] for i in clip_prob.argmax(axis=1)])
    cls_idx = [labels.index(c) for c in classes]
    restricted = np.array([classes[i] for i in clip_prob[:, cls_idx].argmax(axis=1)])
    per_class = {c: float(np.mean(pred[clip_true == c] == c)) for c in classes}
    confusion = {c: {} for c in classes}
    for t, p in zip(clip_true, pred):
        confusion[t][p] = confusion[t].get(p, 0) + 1
    sit_stand = None
    if "SitDown" in labels and "StandUp" in labels:
        pair = np.isin(clip_true, ["SitDown", "StandUp"])
        if pair.any():
            sit_first = clip_prob[pair, labels.index("SitDown")] > clip_prob[pair, labels.index("StandUp")]
            sit_stand = float(np.mean(sit_first == (clip_true[pair] == "SitDown")))
    window_pred = np.array([labels[i] for i in probs.argmax(axis=1)])
    return SetResult(
        set_name=set_name,
        subjects=tuple(subjects),
        classes=classes,
        clip_counts={c: int(np.sum(clip_true == c)) for c in classes},
        window_counts={c: int(np.sum(y == c)) for c in classes},
        clip_accuracy=float(np.mean(pred == clip_true)),
        balanced_accuracy=float(np.mean(list(per_class.values()))),
        restricted_accuracy=float(np.mean(restricted == clip_true)),
        window_accuracy=float(np.mean(window_pred == y)),
        per_class=per_class,
        confusion=confusion,
        sit_stand_accuracy=sit_stand,
    )


def evaluate_on_real(
    predict_fn: PredictFn,
    sets: Sequence[str] = ("utkinect", "msr"),
    subjects: tuple[int, ...] = DEVELOPMENT_SUBJECTS,
    labels: Sequence[str] = LABELS,
    root: Path = DEFAULT_ROOT,
    hop: int = 10,
) -> dict[str, SetResult]:
    """{set name: SetResult} for a head whose outputs follow `labels` (a bundle's labels, or LABELS)."""
    out = {}
    for name in sets:
        x, y, ids = validation_windows(name, subjects=subjects, root=root, hop=hop, clips=load_set(name, root))
        if len(x) == 0:
            raise ValueError(f"{name}: no labelled clips for subjects {subjects}")
        probs = _batched(predict_fn, x)
        if probs.shape[1] != len(labels):
            raise ValueError(f"the head gives {probs.shape[1]} scores but {len(labels)} labels were given")
        out[name] = score_clips(probs, y, ids, labels, name, subjects)
    return out


# ---------------------------------------------------------------------------------------------- baseline


@dataclass
class MeanPoolBaseline:
    """Order-blind reference: softmax regression on the window's mean feature (time order thrown away).

    A head that does not beat it on real clips has learned poses, not motion; it cannot tell SitDown from
    StandUp at all beyond chance.
    """

    labels: list[str]
    weights: np.ndarray | None = None
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    @staticmethod
    def pool(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float64).mean(axis=1)

    def fit(self, x: np.ndarray, y: Sequence[str], epochs: int = 300, lr: float = 0.5, l2: float = 1e-3):
        """Full-batch gradient descent on standardised pooled features (numpy only, a few seconds)."""
        f = self.pool(x)
        self.mean, self.scale = f.mean(axis=0), f.std(axis=0) + 1e-6
        f = np.c_[(f - self.mean) / self.scale, np.ones(len(f))]
        t = np.zeros((len(f), len(self.labels)))
        t[np.arange(len(f)), [self.labels.index(v) for v in y]] = 1
        w = np.zeros((f.shape[1], len(self.labels)))
        for _ in range(epochs):
            p = _softmax(f @ w)
            w -= lr * (f.T @ (p - t) / len(f) + l2 * w)
        self.weights = w
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("fit the baseline before calling it")
        f = (self.pool(x) - self.mean) / self.scale
        return _softmax(np.c_[f, np.ones(len(f))] @ self.weights).astype(np.float32)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def mean_pool_baseline(train_x: np.ndarray, train_y: Sequence[str], labels: Sequence[str] = LABELS) -> PredictFn:
    """Fit the order-blind baseline on the same training windows as the head; evaluate it like one."""
    return MeanPoolBaseline(list(labels)).fit(train_x, train_y)


# ---------------------------------------------------------------------------------------------- report


def format_report(results: dict[str, SetResult]) -> str:
    """Plain-text figures: per set, accuracy lines, per-class accuracy with counts, and the confusion rows."""
    lines = []
    for name, r in results.items():
        lines.append(
            f"{name} (subjects {','.join(map(str, r.subjects))}): clip accuracy {100 * r.clip_accuracy:.1f} % "
            f"(balanced {100 * r.balanced_accuracy:.1f} %, over the set's classes only "
            f"{100 * r.restricted_accuracy:.1f} %), windows {100 * r.window_accuracy:.1f} %"
            + (f", SitDown vs StandUp {100 * r.sit_stand_accuracy:.1f} %" if r.sit_stand_accuracy is not None else "")
        )
        for c in r.classes:
            conf = ", ".join(f"{p} {n}" for p, n in sorted(r.confusion[c].items(), key=lambda kv: -kv[1]))
            lines.append(
                f"  {c:<11} {100 * r.per_class[c]:5.1f} %  ({r.clip_counts[c]} clips, {r.window_counts[c]} windows)"
                f"  -> {conf}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """python -m training.real_eval BUNDLE [--held-out]: a bundle's head on the real skeleton sets."""
    ap = argparse.ArgumentParser(prog="python -m training.real_eval", description=main.__doc__)
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--sets", nargs="+", default=["utkinect", "msr"])
    ap.add_argument("--held-out", action="store_true", help="subjects 6-10: the final figure only")
    args = ap.parse_args(argv)
    from streaming.errors import BundleError

    try:
        fn, labels = bundle_predict_fn(args.bundle)
    except (BundleError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    subjects = HELD_OUT_SUBJECTS if args.held_out else DEVELOPMENT_SUBJECTS
    print(format_report(evaluate_on_real(fn, args.sets, subjects, labels)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
