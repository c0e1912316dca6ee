"""Train/test splits: UCF101's official lists, and the original report's two rules.

The official splits keep each group (gNN: one actor in one place) wholly in train or in test. The report's
`seed` rule (four of every five clips to train) puts clips of one group on both sides, which flatters test
accuracy; every Split says how many test clips share a group with a training clip (`group_leaks`).

    split = make_split(dataset, "1", splits_dir=Path("data/UCF101/ucfTrainTestlist"))
    print(len(split.train), len(split.test), split.missing[:3], split.group_leaks)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streaming.datasets import Clip, Dataset, natural_key, read_class_ind
from streaming.errors import ActionstreamError

__all__ = [
    "Split",
    "official_split",
    "seed_split",
    "first90_split",
    "make_split",
    "count_group_leaks",
    "read_class_ind",
    "SPLIT_SPECS",
]

SPLIT_SPECS = ("1", "2", "3", "seed", "first-90")
#: The report's seed rule: in every run of this many clips (per class, in name order) the last one is a test clip.
SEED_RUN = 5
#: The report's first experiment: this many clips per class (in name order) train, the rest test.
FIRST_N = 90


@dataclass(frozen=True)
class Split:
    """Which clips train and which test. `missing`: 'Class/file' entries of the split lists not on disk."""

    train: list[Clip]
    test: list[Clip]
    name: str
    missing: list[str]
    group_leaks: int
    #: Clips on disk (of the selected classes) that neither list names; official splits only.
    unlisted: list[Clip] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.group_leaks < 0:
            raise ValueError(f"group_leaks cannot be negative, got {self.group_leaks}")


def count_group_leaks(split: Split) -> int:
    """Test clips whose (class, group) also has a clip in train; clips without a group never count."""
    return _leaks(split.train, split.test)


def _leaks(train: list[Clip], test: list[Clip]) -> int:
    seen = {(c.label, c.group) for c in train if c.group is not None}
    return sum(1 for c in test if c.group is not None and (c.label, c.group) in seen)


def _split(
    train: list[Clip], test: list[Clip], name: str, missing: list[str] | None = None, unlisted: list[Clip] | None = None
) -> Split:
    return Split(
        train=train,
        test=test,
        name=name,
        missing=missing or [],
        group_leaks=_leaks(train, test),
        unlisted=unlisted or [],
    )


def _by_class(dataset: Dataset) -> dict[str, list[Clip]]:
    per: dict[str, list[Clip]] = {name: [] for name in dataset.classes}
    for clip in dataset.clips:
        per[clip.label].append(clip)
    return {name: sorted(clips, key=lambda c: natural_key(c.clip_id)) for name, clips in per.items()}


def _list_lines(path: Path) -> list[tuple[int, str]]:
    if not path.is_file():
        raise ActionstreamError(f"{path}: no such split list (UCF101's ucfTrainTestlist/{path.name})")
    # splitlines() handles the CRLF endings of the real files
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip()]


def official_split(dataset: Dataset, splits_dir: Path, number: int = 1) -> Split:
    """UCF101's split N from trainlist0N.txt / testlist0N.txt, for the dataset's (selected) classes only.

    Listed files that are not on disk go to `missing` (not an error), so a partial copy of UCF101 still trains.
    """
    splits_dir = Path(splits_dir)
    if number not in (1, 2, 3):
        raise ActionstreamError(f"official split must be 1, 2 or 3, got {number}")
    if not splits_dir.is_dir():
        raise ActionstreamError(
            f"{splits_dir}: no such split folder (UCF101's ucfTrainTestlist, with "
            f"trainlist0{number}.txt and testlist0{number}.txt)"
        )
    selected = set(dataset.classes)
    exact = {(c.label, c.path.name): c for c in dataset.clips}
    folded = {(c.label.lower(), c.path.name.lower()): c for c in dataset.clips}
    listed: set[Clip] = set()
    parts: dict[str, list[Clip]] = {"train": [], "test": []}
    missing: list[str] = []
    for kind in ("train", "test"):
        path = splits_dir / f"{kind}list{number:02d}.txt"
        for n, line in _list_lines(path):
            entry = line.split()[0].replace("\\", "/")
            if "/" not in entry:
                raise ActionstreamError(f"{path}:{n}: expected 'Class/clip.avi', got {line!r}")
            label, name = entry.split("/")[0], entry.rsplit("/", 1)[1]
            if label not in selected:
                continue
            clip = exact.get((label, name)) or folded.get((label.lower(), name.lower()))
            if clip is None:
                missing.append(entry)
            else:
                parts[kind].append(clip)
                listed.add(clip)
    order = {name: i for i, name in enumerate(dataset.classes)}

    def key(c: Clip) -> tuple:
        return order[c.label], natural_key(c.clip_id)

    unlisted = [c for c in dataset.clips if c not in listed]
    return _split(
        sorted(parts["train"], key=key), sorted(parts["test"], key=key), f"official-{number}", missing, unlisted
    )


def seed_split(dataset: Dataset) -> Split:
    """The report's final rule: per class, clips in name order, in every run of five the fifth tests."""
    train, test = [], []
    for clips in _by_class(dataset).values():
        for i, clip in enumerate(clips):
            (test if i % SEED_RUN == SEED_RUN - 1 else train).append(clip)
    return _split(train, test, "seed")


def first90_split(dataset: Dataset) -> Split:
    """The report's first experiment: per class, the first 90 clips in name order train, the rest test."""
    train, test = [], []
    for clips in _by_class(dataset).values():
        train += clips[:FIRST_N]
        test += clips[FIRST_N:]
    return _split(train, test, "first-90")


def make_split(dataset: Dataset, spec: str, splits_dir: Path | None = None) -> Split:
    """A split by name: "1", "2", "3" (official, needs splits_dir), "seed" or "first-90"."""
    spec = str(spec).strip().lower()
    if spec in ("1", "2", "3"):
        if splits_dir is None:
            raise ActionstreamError(
                f"split {spec} is an official UCF101 split: give the ucfTrainTestlist folder "
                f"(--splits DIR), or use --split seed or --split first-90"
            )
        return official_split(dataset, Path(splits_dir), int(spec))
    if spec == "seed":
        return seed_split(dataset)
    if spec in ("first-90", "first90"):
        return first90_split(dataset)
    raise ActionstreamError(f"unknown split {spec!r}; choose one of {', '.join(SPLIT_SPECS)}")
