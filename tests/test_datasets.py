"""Clip discovery, class subsets and splits, on the real UCF101 split files and the real mini clip tree."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from streaming.datasets import PRESETS, Clip, Dataset, discover, parse_clip_name, select_classes
from streaming.errors import ActionstreamError
from streaming.splits import (
    Split,
    count_group_leaks,
    first90_split,
    make_split,
    official_split,
    read_class_ind,
    seed_split,
)

MINI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ucf101-mini"
LISTS = MINI / "ucfTrainTestlist"
needs_lists = pytest.mark.skipif(
    not (LISTS / "trainlist01.txt").is_file(), reason=f"UCF101 split files not found at {LISTS}"
)
needs_mini = pytest.mark.skipif(not (MINI / "UCF-101").is_dir(), reason=f"ucf101-mini clips not found at {MINI}")

SIZES = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}


def _listed_dataset() -> Dataset:
    """Every clip the official lists name, as a dataset of names only (no files needed)."""
    classes = read_class_ind(LISTS / "classInd.txt")
    entries = set()
    for n in (1, 2, 3):
        for kind in ("train", "test"):
            text = (LISTS / f"{kind}list{n:02d}.txt").read_text()
            entries |= {line.split()[0] for line in text.splitlines() if line.strip()}
    clips = []
    for entry in sorted(entries):
        label, name = entry.split("/")
        group, clip_id = parse_clip_name(Path(name).stem)
        clips.append(Clip(path=Path("/nowhere") / entry, label=label, group=group, clip_id=clip_id))
    return Dataset(root=Path("/nowhere"), classes=classes, clips=clips)


@needs_lists
def test_class_ind_has_101_classes_with_crlf():
    assert b"\r\n" in (LISTS / "classInd.txt").read_bytes()
    classes = read_class_ind(LISTS / "classInd.txt")
    assert len(classes) == 101 and classes[0] == "ApplyEyeMakeup" and classes[-1] == "YoYo"
    assert classes[36] == "HandstandPushups" and not any("\r" in c for c in classes)


@needs_lists
@pytest.mark.parametrize("number", [1, 2, 3])
def test_official_splits_parse_fully_and_keep_groups_apart(number):
    ds = _listed_dataset()
    assert len(ds.clips) == 13320
    split = official_split(ds, LISTS, number)
    assert (len(split.train), len(split.test)) == SIZES[number]
    assert split.missing == [] and split.unlisted == [] and split.name == f"official-{number}"
    assert split.group_leaks == 0 == count_group_leaks(split)
    assert not set(split.train) & set(split.test)
    assert all(c.group is not None and "\r" not in c.clip_id for c in split.train + split.test)
    # UCF101's name quirk: folder HandstandPushups, files v_HandStandPushups_*
    assert any(c.label == "HandstandPushups" and "HandStand" in c.clip_id for c in split.train)


@needs_lists
def test_seed_split_leaks_groups_and_counts_them():
    ds = _listed_dataset()
    split = seed_split(ds)
    per_class = Counter(c.label for c in ds.clips)
    test_per_class = Counter(c.label for c in split.test)
    assert all(test_per_class[k] == n // 5 for k, n in per_class.items())
    assert len(split.train) + len(split.test) == 13320
    train_groups = {(c.label, c.group) for c in split.train}
    expected = sum((c.label, c.group) in train_groups for c in split.test)
    assert split.group_leaks == expected == count_group_leaks(split) > 2000


@needs_lists
def test_first90_split():
    ds = select_classes(_listed_dataset(), "seed-experiment")
    split = first90_split(ds)
    counts = Counter(c.label for c in ds.clips)
    train = Counter(c.label for c in split.train)
    assert all(train[k] == min(90, n) for k, n in counts.items())
    assert len(split.test) == sum(max(0, n - 90) for n in counts.values()) > 0
    assert split.group_leaks > 0


def test_group_leaks_count_only_shared_class_and_group():
    def clip(label, group, i):
        return Clip(Path(f"/x/{label}/{i}.avi"), label, group, f"{label}{i}")

    train = [clip("A", "g01", 1), clip("B", "g02", 2), clip("C", None, 3)]
    test = [clip("A", "g01", 4), clip("A", "g02", 5), clip("B", "g01", 6), clip("C", None, 7)]
    assert count_group_leaks(Split(train, test, "hand", [], 0)) == 1


@needs_mini
def test_discover_mini_tree_with_class_ind():
    ds = discover(MINI, class_ind=LISTS / "classInd.txt")
    assert ds.root == MINI / "UCF-101" and len(ds.classes) == 101 and len(ds.clips) == 8
    assert all(c.path.is_file() and c.group and c.clip_id == c.path.stem for c in ds.clips)
    counts = ds.class_counts()
    assert counts["ApplyEyeMakeup"] == 1 and counts["YoYo"] == 0
    plain = discover(MINI / "UCF-101")
    assert plain.classes == sorted(p.name for p in (MINI / "UCF-101").iterdir()) and len(plain.clips) == 8


@needs_mini
def test_official_split_on_mini_reports_missing_files():
    ds = discover(MINI, class_ind=LISTS / "classInd.txt")
    split = make_split(ds, "1", splits_dir=LISTS)
    assert len(split.train) + len(split.test) == 8
    assert len(split.missing) == 13320 - 8
    present = {f"{c.label}/{c.path.name}" for c in ds.clips}
    assert not present & set(split.missing)
    sub = official_split(select_classes(ds, "Biking,Punch"), LISTS, 1)
    assert {c.label for c in sub.train + sub.test} == {"Biking", "Punch"}
    assert {m.split("/")[0] for m in sub.missing} == {"Biking", "Punch"}


@needs_lists
def test_presets_resolve_against_class_ind():
    classes = read_class_ind(LISTS / "classInd.txt")
    assert list(PRESETS["seed-experiment"]) == classes[:25] and classes[24] == "CuttingInKitchen"
    assert len(PRESETS["seed-final"]) == 24 and set(PRESETS["seed-final"]) <= set(classes)
    ds = _listed_dataset()
    final = select_classes(ds, "seed-final")
    assert final.classes == list(PRESETS["seed-final"]) and {c.label for c in final.clips} == set(final.classes)


def _tiny_dataset() -> Dataset:
    clips = [Clip(Path(f"/x/{k}/v_{k}_g01_c0{i}.avi"), k, "g01", f"v_{k}_g01_c0{i}") for k in "ABC" for i in (1, 2)]
    return Dataset(root=Path("/x"), classes=["Alpha", "A", "B", "C"], clips=clips)


def test_select_classes_by_list_and_file(tmp_path):
    ds = _tiny_dataset()
    assert select_classes(ds, None) is ds
    sub = select_classes(ds, "C, A")
    assert sub.classes == ["C", "A"] and [c.label for c in sub.clips] == ["C", "C", "A", "A"]
    listing = tmp_path / "classes.txt"
    listing.write_bytes(b"B\r\n# a comment\r\n\r\nC\r\n")
    assert select_classes(ds, str(listing)).classes == ["B", "C"]
    assert select_classes(ds, ["A"]).classes == ["A"]


def test_select_classes_errors_are_clear():
    ds = _tiny_dataset()
    with pytest.raises(ActionstreamError, match="empty class list"):
        select_classes(ds, " , ")
    with pytest.raises(ActionstreamError, match="empty class list"):
        select_classes(ds, [])
    with pytest.raises(ActionstreamError, match=r"unknown class .*: Alpa \(did you mean Alpha\?\)"):
        select_classes(ds, "A,Alpa")
    with pytest.raises(ActionstreamError, match="more than once"):
        select_classes(ds, "A,A")
    with pytest.raises(ActionstreamError, match="no such class list file"):
        select_classes(ds, "missing/classes.txt")


def test_discover_errors_are_clear(tmp_path):
    with pytest.raises(ActionstreamError, match="no such data folder"):
        discover(tmp_path / "absent")
    (tmp_path / "Empty").mkdir()
    (tmp_path / "Empty" / "notes.txt").write_text("x")
    with pytest.raises(ActionstreamError, match="no video clips found"):
        discover(tmp_path)
    with pytest.raises(ActionstreamError, match="no such class index file"):
        discover(tmp_path, class_ind=tmp_path / "classInd.txt")


def test_split_errors_are_clear(tmp_path):
    ds = _tiny_dataset()
    with pytest.raises(ActionstreamError, match="--splits"):
        make_split(ds, "1")
    with pytest.raises(ActionstreamError, match="unknown split"):
        make_split(ds, "random")
    with pytest.raises(ActionstreamError, match="no such split folder"):
        make_split(ds, "2", splits_dir=tmp_path / "absent")
    with pytest.raises(ActionstreamError, match="no such split list"):
        official_split(ds, tmp_path, 1)
    assert make_split(ds, "seed").name == "seed" and make_split(ds, "first-90").name == "first-90"
