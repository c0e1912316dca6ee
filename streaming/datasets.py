"""Finding clips in a UCF101-style folder, and choosing which classes to train on.

Layout: DATA/<Class>/<clip>.avi (or DATA/UCF-101/<Class>/...). Class order comes from classInd.txt when one
is given (so label numbers match UCF101's), else from the sorted folder names.

    ds = discover(Path("data/UCF101"), class_ind=Path("data/UCF101/ucfTrainTestlist/classInd.txt"))
    ds = select_classes(ds, "seed-final")
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from streaming.errors import ActionstreamError
from streaming.video import VIDEO_SUFFIXES

#: v_<Class>_gNN_cMM: the class part is not trusted (UCF101's HandstandPushups folder holds v_HandStandPushups_*).
_UCF_NAME = re.compile(r"^v_.+_(g\d+)_(c\d+)$")

#: The original report's class selections.
PRESETS: dict[str, tuple[str, ...]] = {
    # its first experiment: the first 25 classes of classInd.txt (it says 20, but its confusion matrix runs on)
    "seed-experiment": (
        "ApplyEyeMakeup",
        "ApplyLipstick",
        "Archery",
        "BabyCrawling",
        "BalanceBeam",
        "BandMarching",
        "BaseballPitch",
        "Basketball",
        "BasketballDunk",
        "BenchPress",
        "Biking",
        "Billiards",
        "BlowDryHair",
        "BlowingCandles",
        "BodyWeightSquats",
        "Bowling",
        "BoxingPunchingBag",
        "BoxingSpeedBag",
        "BreastStroke",
        "BrushingTeeth",
        "CleanAndJerk",
        "CliffDiving",
        "CricketBowling",
        "CricketShot",
        "CuttingInKitchen",
    ),
    # its final selection across UCF101's five super-categories
    "seed-final": (
        "ApplyEyeMakeup",
        "BrushingTeeth",
        "HammerThrow",
        "HulaHoop",
        "Typing",
        "PullUps",
        "RopeClimbing",
        "TaiChi",
        "Swing",
        "TrampolineJumping",
        "BandMarching",
        "HeadMassage",
        "PlayingCello",
        "Drumming",
        "Archery",
        "BasketballDunk",
        "BoxingPunchingBag",
        "BreastStroke",
        "FieldHockeyPenalty",
        "HorseRace",
        "PoleVault",
        "SumoWrestling",
        "IceDancing",
        "Kayaking",
    ),
}


@dataclass(frozen=True)
class Clip:
    """One video file. `group` is UCF101's gNN (same actor and place), None when the name does not say."""

    path: Path
    label: str
    group: str | None
    clip_id: str  # the file name without suffix, e.g. v_ApplyEyeMakeup_g08_c01; unique within a class


@dataclass(frozen=True)
class Dataset:
    """Classes in label order and their clips (sorted by class order, then name)."""

    root: Path
    classes: list[str]
    clips: list[Clip]
    #: Class folders found on disk but not in the class list (from classInd.txt); not used.
    ignored: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("class names must be unique")
        known = set(self.classes)
        stray = sorted({c.label for c in self.clips} - known)
        if stray:
            raise ValueError(f"clips of classes not in the class list: {stray}")

    def class_counts(self) -> dict[str, int]:
        """Clips per class, every class included (0 for classes with no clips on disk)."""
        counts = dict.fromkeys(self.classes, 0)
        for clip in self.clips:
            counts[clip.label] += 1
        return counts


def parse_clip_name(stem: str) -> tuple[str | None, str]:
    """(group, clip_id) of a file name without suffix: ("g08", "v_X_g08_c01"), or (None, stem)."""
    m = _UCF_NAME.match(stem)
    return (m.group(1) if m else None), stem


def natural_key(name: str) -> tuple:
    """Sort key that puts c2 before c10."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def read_class_ind(path: Path) -> list[str]:
    """Class names in label order from a classInd.txt ("1 ApplyEyeMakeup", CRLF or LF)."""
    path = Path(path)
    if not path.is_file():
        raise ActionstreamError(f"{path}: no such class index file (UCF101's ucfTrainTestlist/classInd.txt)")
    numbered: list[tuple[int, str]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[0].isdigit():
            raise ActionstreamError(f"{path}:{n}: expected '<number> <ClassName>', got {line.strip()!r}")
        numbered.append((int(parts[0]), parts[1]))
    if not numbered:
        raise ActionstreamError(f"{path}: empty class index file")
    names = [name for _, name in sorted(numbered)]
    if len(set(names)) != len(names):
        raise ActionstreamError(f"{path}: a class name appears twice")
    return names


def _video_files(folder: Path) -> list[Path]:
    return sorted(
        (
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith(".")
        ),
        key=lambda p: natural_key(p.name),
    )


def discover(data_dir: Path, class_ind: Path | None = None) -> Dataset:
    """Every clip under DATA/<Class>/ (or DATA/UCF-101/<Class>/), classes from classInd.txt or folder names."""
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise ActionstreamError(
            f"{data_dir}: no such data folder; give a folder with one sub-folder of clips per class (UCF101 layout)"
        )
    if not data_dir.is_dir():
        raise ActionstreamError(f"{data_dir}: not a folder; give a folder with one sub-folder of clips per class")
    root = data_dir / "UCF-101" if (data_dir / "UCF-101").is_dir() else data_dir
    folders = {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    files = {name: _video_files(folder) for name, folder in folders.items()}
    if class_ind is not None:
        classes = read_class_ind(class_ind)
        ignored = sorted(name for name in folders if name not in set(classes) and files[name])
    else:
        classes = sorted((name for name in folders if files[name]), key=natural_key)
        ignored = []
    clips = []
    for label in classes:
        for path in files.get(label, []):
            group, clip_id = parse_clip_name(path.stem)
            clips.append(Clip(path=path, label=label, group=group, clip_id=clip_id))
    if not clips:
        hint = f" for the {len(classes)} classes of {class_ind}" if class_ind is not None else ""
        raise ActionstreamError(
            f"{root}: no video clips found{hint} (expected <Class>/<clip>.avi, .mp4, .mkv, .mov or .webm files)"
        )
    return Dataset(root=root, classes=classes, clips=clips, ignored=ignored)


def _names_from_spec(spec: str | list[str]) -> tuple[list[str], str]:
    """Class names a spec asks for, and how to say where they came from."""
    if not isinstance(spec, str):
        return [str(s).strip() for s in spec], "the class list"
    text = spec.strip()
    if text in PRESETS:
        return list(PRESETS[text]), f"preset {text}"
    path = Path(text)
    if path.is_file():
        names = []
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            names.append(parts[1] if len(parts) == 2 and parts[0].isdigit() else line)  # classInd lines too
        return names, str(path)
    if text.endswith(".txt") or "/" in text:
        raise ActionstreamError(f"{text}: no such class list file (one class name per line)")
    return [part.strip() for part in text.split(",") if part.strip()], "the class list"


def select_classes(dataset: Dataset, spec: str | list[str] | None) -> Dataset:
    """The dataset narrowed to some classes, in the spec's order.

    spec: None (all), a preset name (PRESETS), a comma-separated list, a file with one class per line, or a list.
    """
    if spec is None:
        return dataset
    names, source = _names_from_spec(spec)
    if not names:
        raise ActionstreamError(
            f"empty class list from {source}; name at least one class "
            f"(a preset: {', '.join(PRESETS)}; or Class1,Class2; or a file)"
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ActionstreamError(f"{source} names {', '.join(twice)} more than once")
    known = set(dataset.classes)
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = []
        for n in unknown:
            close = [c for c in dataset.classes if c.lower() == n.lower()] or difflib.get_close_matches(
                n, dataset.classes, n=1
            )
            hints.append(f"{n} (did you mean {close[0]}?)" if close else n)
        raise ActionstreamError(
            f"unknown class{'es' if len(unknown) > 1 else ''} in {source}: "
            f"{', '.join(hints)}; {dataset.root} has {len(dataset.classes)} classes"
        )
    order = {n: i for i, n in enumerate(names)}
    clips = sorted((c for c in dataset.clips if c.label in order), key=lambda c: order[c.label])
    return Dataset(root=dataset.root, classes=names, clips=clips, ignored=dataset.ignored)
