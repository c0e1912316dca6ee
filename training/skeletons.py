"""Real skeleton sets (UTKinect, MSR Action3D, lzq-openpose) as the pose features the live engine computes.

Why: a head trained on synthetic motion must be measured on real people. Each set's joints are mapped to the 13
feature joints, 3D Kinect joints are projected to the image as the Kinect's own camera would see them, laid out
as BlazePose landmarks (T, 33, 3: x, y pixels, visibility) and turned into features by the one feature function,
`streaming.pose_features.pose_features`, at 10 features/s by timestamp.

Use (see ../shared/data/skeletons/README.md):
- UTKinect and MSR Action3D: validation only (no licence to train shipped weights). Subjects 1-5 are the
  development part; subjects 6-10 (HELD_OUT_SUBJECTS) stay untouched until the final figure.
- lzq-openpose: Apache-2.0, may be used for training with attribution (LZQ_CREDIT).

    X, y, clip_ids = validation_windows("utkinect")          # subjects 1-5, (N, 40, 43) windows
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from streaming.pose_features import feature_size, pose_features
from streaming.pose_spec import FEATURE_JOINTS, NUM_BODY_LANDMARKS
from streaming.sampler import DEFAULT_FEATURE_RATE, DEFAULT_WINDOW, loop_to_window, stride_indices

#: ../shared/data/skeletons beside the repository.
DEFAULT_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "skeletons"
SETS = ("utkinect", "msr", "lzq")
DEVELOPMENT_SUBJECTS: tuple[int, ...] = (1, 2, 3, 4, 5)
#: Never looked at while tuning: the final figure only.
HELD_OUT_SUBJECTS: tuple[int, ...] = (6, 7, 8, 9, 10)
ALL_SUBJECTS = DEVELOPMENT_SUBJECTS + HELD_OUT_SUBJECTS

LZQ_CREDIT = "lzq-openpose keypoints: LZQthePlane/Online-Realtime-Action-Recognition-based-on-OpenPose, Apache-2.0."

#: Set class -> our label; classes not listed stay unlabelled (label None) and are kept for open-set checks.
UTKINECT_CLASSES: dict[str, str] = {
    "walk": "Walk",
    "sitDown": "SitDown",
    "standUp": "StandUp",
    "pickUp": "Bend",
    "waveHands": "Wave",
    "clapHands": "Clap",
}
MSR_ACTIONS: tuple[str, ...] = (
    "high arm wave",
    "horizontal arm wave",
    "hammer",
    "hand catch",
    "forward punch",
    "high throw",
    "draw x",
    "draw tick",
    "draw circle",
    "hand clap",
    "two hand wave",
    "side-boxing",
    "bend",
    "forward kick",
    "side kick",
    "jogging",
    "tennis swing",
    "tennis serve",
    "golf swing",
    "pick up & throw",
)
MSR_CLASSES: dict[int, str] = {1: "Wave", 2: "Wave", 11: "Wave", 10: "Clap", 5: "Punch", 12: "Punch"}
MSR_CLASSES |= {14: "Kick", 15: "Kick", 13: "Bend"}
#: operate (working at something, half the right arm unseen) and run (no Run class; Walk would teach that running
#: is walking) stay unlabelled.
LZQ_CLASSES: dict[str, str] = {"squat": "Squat", "stand": "Idle", "walk": "Walk", "wave": "Wave", "fall_down": "Fall"}
LZQ_SCENE_CLASSES = ("stand", "walk", "operate", "fall_down", "run")  # data_under_scene.csv's 0..4

#: Kinect v1 SDK joint order (UTKinect) -> feature joint order (head stands in for the nose).
KINECT_SDK_TO_FEATURE: tuple[int, ...] = (3, 4, 8, 5, 9, 6, 10, 12, 16, 13, 17, 14, 18)
#: MSR Action3D's 20 joints (0-based) -> feature joints. Left/right checked on the data: in a01/a02/a05 (one
#: arm, the right arm by the set's protocol) joints 2/9/11 (1-based) move and in a14/a15 (kicks) 15/17 do, so
#: 1/8/10/5/14/16 are the left side; both sets put the right shoulder at larger x (the Kinect convention: x
#: grows to the sensor's left, so a person facing it has their right at larger x).
MSR_TO_FEATURE: tuple[int, ...] = (19, 0, 1, 7, 8, 9, 10, 4, 5, 13, 14, 15, 16)
#: OpenPose COCO-18 (nose, neck, r sho, r elb, r wri, l sho, l elb, l wri, r hip, r knee, r ank, l hip, ...).
OPENPOSE_TO_FEATURE: tuple[int, ...] = (0, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)

#: UTKinect's frame numbers count a 30 fps stream (only tracked frames were stored, about every 4th); a
#: hesitant indoor walk then takes ~1.3 s a step at ~0.35 m/s and a wave ~2.7 s a cycle (15 fps would double
#: both to implausible values).
UTKINECT_FRAME_RATE = 30.0
MSR_FPS = 15.0  # the set's depth camera rate
#: Not stated anywhere: estimated from the walk take (5.4 frames a step; a step takes ~0.5-0.55 s).
LZQ_FPS = 10.0
LZQ_FRAME_PX = (1280, 720)  # the repo's webcam setting; its CSV stores x / 1280 and y / 720, rounded to 0.01


@dataclass(frozen=True)
class PinholeCamera:
    """Kinect v1 colour camera: 640x480, focal length ~525 px. Kinect coordinates are camera-centred already
    (x to the sensor's left, y up, z depth in metres), so pixel u = cx - f x / z, v = cy - f y / z."""

    width: int = 640
    height: int = 480
    focal_px: float = 525.0

    def project(self, xyz: np.ndarray) -> np.ndarray:
        """(..., 3) Kinect-space points -> (..., 2) pixels (x right, y down)."""
        z = np.maximum(xyz[..., 2], 1e-6)
        u = (self.width - 1) / 2 - self.focal_px * xyz[..., 0] / z
        v = (self.height - 1) / 2 - self.focal_px * xyz[..., 1] / z
        return np.stack([u, v], axis=-1)

    def inside(self, uv: np.ndarray) -> np.ndarray:
        return (uv[..., 0] >= 0) & (uv[..., 0] < self.width) & (uv[..., 1] >= 0) & (uv[..., 1] < self.height)


KINECT_CAMERA = PinholeCamera()


@dataclass(frozen=True)
class SkeletonClip:
    """One labelled action of one person: BlazePose-layout landmarks (T, 33, 3: x, y pixels, visibility).

    `label` is our class, or None where the set's class has none (kept for open-set checks).
    """

    set_name: str
    clip_id: str
    subject: int
    raw_class: str
    label: str | None
    times: np.ndarray  # (T,) seconds from the clip's start, increasing
    landmarks: np.ndarray  # (T, 33, 3)
    frame_size: tuple[int, int] = (KINECT_CAMERA.width, KINECT_CAMERA.height)  # the image the pixels are in

    def features(self, rate: float = DEFAULT_FEATURE_RATE) -> np.ndarray:
        """(N, 43) features at `rate` per second (see `resample_landmarks`)."""
        lm = resample_landmarks(self.times, self.landmarks, rate)
        return np.stack([pose_features(f, True, frame_size=self.frame_size) for f in lm])


def blazepose_layout(joints13_xy: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """(T, 13, 2) feature-joint pixels and (T, 13) visibility -> (T, 33, 3) BlazePose landmarks (others zero)."""
    out = np.zeros((len(joints13_xy), NUM_BODY_LANDMARKS, 3), np.float32)
    out[:, list(FEATURE_JOINTS), :2] = joints13_xy
    out[:, list(FEATURE_JOINTS), 2] = visibility
    return out


def project_joints(joints13_xyz: np.ndarray, camera: PinholeCamera = KINECT_CAMERA) -> np.ndarray:
    """(T, 13, 3) camera-space joints -> (T, 33, 3) landmarks; visibility 1 inside the frame, 0 outside."""
    uv = camera.project(joints13_xyz)
    return blazepose_layout(uv, camera.inside(uv).astype(np.float32))


def resample_landmarks(times: np.ndarray, landmarks: np.ndarray, rate: float) -> np.ndarray:
    """Landmarks at `rate` per second by timestamp.

    Sources at or above the rate: the frames the live engine's sampler would take (first frame at or after each
    due time). Slower sources (UTKinect stores ~7.5 frames/s of its 30 fps stream): linear interpolation at each
    due time, which is what a camera delivering frames in between would show; visibility takes the earlier frame.
    """
    times = np.asarray(times, np.float64)
    if len(times) == 1:
        return landmarks[:1]
    src_rate = 1.0 / float(np.median(np.diff(times)))
    if src_rate >= rate * 0.999:
        return landmarks[stride_indices(times.tolist(), rate)]
    due = times[0] + np.arange(int(np.floor((times[-1] - times[0]) * rate + 1e-9)) + 1) / rate
    k = np.clip(np.searchsorted(times, due, side="right") - 1, 0, len(times) - 2)
    w = np.clip((due - times[k]) / (times[k + 1] - times[k]), 0.0, 1.0)[:, None, None]
    out = landmarks[k] * (1 - w) + landmarks[k + 1] * w
    out[..., 2] = landmarks[k][..., 2]
    return out.astype(np.float32)


# ---------------------------------------------------------------------------------------------- UTKinect


def read_utkinect_labels(path: Path) -> dict[str, dict[str, tuple[int, int]]]:
    """actionLabel file -> {"s01_e01": {"walk": (first, last frame number), ...}}; NaN entries are skipped."""
    out: dict[str, dict[str, tuple[int, int]]] = {}
    take = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if re.fullmatch(r"s\d\d_e\d\d", line):
            take = line
            out[take] = {}
        elif ":" in line and take is not None:
            name, span = line.split(":", 1)
            words = span.split()
            if len(words) == 2 and "NaN" not in words:
                out[take][name.strip()] = (int(words[0]), int(words[1]))
    return out


def load_utkinect(root: Path = DEFAULT_ROOT, labels_file: str = "actionLabel_modified.txt") -> list[SkeletonClip]:
    """Every labelled segment of every take. The modified label copy fixes spans that are plainly wrong in the
    original (s01_e02 walk 1.3 s -> 3.9 s; a 35 s push; a few push/pull/carry bounds)."""
    folder = _folder(root, "utkinect")
    clips = []
    for take, actions in sorted(read_utkinect_labels(folder / labels_file).items()):
        data = np.loadtxt(folder / f"joints_{take}.txt", ndmin=2)
        frames, keep = np.unique(data[:, 0], return_index=True)  # numbers repeat: keep each once
        joints = data[keep, 1:].reshape(-1, 20, 3)[:, list(KINECT_SDK_TO_FEATURE)]
        for name, (first, last) in actions.items():
            sel = (frames >= first) & (frames <= last)
            if sel.sum() < 2:
                continue
            clips.append(
                SkeletonClip(
                    set_name="utkinect",
                    clip_id=f"{take}_{name}",
                    subject=int(take[1:3]),
                    raw_class=name,
                    label=UTKINECT_CLASSES.get(name),
                    times=(frames[sel] - frames[sel][0]) / UTKINECT_FRAME_RATE,
                    landmarks=project_joints(joints[sel]),
                )
            )
    return clips


# ---------------------------------------------------------------------------------------------- MSR Action3D


def load_msr(root: Path = DEFAULT_ROOT) -> list[SkeletonClip]:
    """The 557 sequences of files_used_in_cvpr12_paper.txt (the others include broken ones); frames whose joints
    are all zero (not tracked) are dropped, keeping the others' timestamps."""
    folder = _folder(root, "msr-action3d")
    names = sorted(set((folder / "files_used_in_cvpr12_paper.txt").read_text().split()))
    clips = []
    for name in names:
        m = re.fullmatch(r"a(\d\d)_s(\d\d)_e(\d\d)", name)
        path = folder / f"{name}_skeleton3D.txt"
        if m is None or not path.exists():
            continue
        data = np.loadtxt(path, ndmin=2)
        if data.size == 0 or data.size % 80:
            continue
        joints = data.reshape(-1, 20, 4)[:, list(MSR_TO_FEATURE), :3]
        times = np.arange(len(joints)) / MSR_FPS
        tracked = np.abs(joints).sum(axis=(1, 2)) > 0
        if tracked.sum() < 2:
            continue
        action = int(m.group(1))
        clips.append(
            SkeletonClip(
                set_name="msr",
                clip_id=name,
                subject=int(m.group(2)),
                raw_class=MSR_ACTIONS[action - 1],
                label=MSR_CLASSES.get(action),
                times=times[tracked] - times[tracked][0],
                landmarks=project_joints(joints[tracked]),
            )
        )
    return clips


# ---------------------------------------------------------------------------------------------- lzq-openpose


def load_lzq(root: Path = DEFAULT_ROOT) -> list[SkeletonClip]:
    """One clip per take (class): 2D OpenPose keypoints in 1280x720 pixels, as a camera saw them.

    data_under_scene.csv repeats data.csv's stand and walk takes row for row; they are loaded once. Keypoints
    OpenPose did not find (0, 0) get visibility 0 and a position interpolated over time within the take (hips
    and shoulders must exist for the body frame); found ones get visibility 1.
    """
    folder = _folder(root, "lzq-openpose")
    rows: dict[str, list[list[float]]] = {}
    for file in ("data.csv", "data_under_scene.csv"):
        with open(folder / file, newline="") as f:
            reader = csv.reader(f)
            next(reader)
            for row in reader:
                cls = row[-1].strip()
                cls = LZQ_SCENE_CLASSES[int(cls)] if cls.isdigit() else cls
                if file == "data_under_scene.csv" and cls in ("stand", "walk") and cls in rows:
                    continue
                rows.setdefault(cls, []).append([float(v) for v in row[:36]])
    clips = []
    for cls, values in rows.items():
        kp = np.asarray(values, np.float64).reshape(-1, 18, 2)[:, list(OPENPOSE_TO_FEATURE)]
        found = (kp != 0).any(axis=-1)
        xy = kp * np.array(LZQ_FRAME_PX, np.float64)
        t = np.arange(len(xy))
        for j in range(xy.shape[1]):
            if found[:, j].any() and not found[:, j].all():
                for c in range(2):
                    xy[~found[:, j], j, c] = np.interp(t[~found[:, j]], t[found[:, j]], xy[found[:, j], j, c])
        clips.append(
            SkeletonClip(
                set_name="lzq",
                clip_id=f"lzq_{cls}",
                subject=1,
                raw_class=cls,
                label=LZQ_CLASSES.get(cls),
                times=t / LZQ_FPS,
                landmarks=blazepose_layout(xy, found.astype(np.float32)),
                frame_size=LZQ_FRAME_PX,
            )
        )
    return clips


def split_take(clip: SkeletonClip, fraction: float) -> tuple[SkeletonClip, SkeletonClip]:
    """Cut one continuous take in two at `fraction` of its length, so its windows never straddle a split."""
    cut = int(round(len(clip.times) * fraction))
    a = replace(clip, clip_id=f"{clip.clip_id}_a", times=clip.times[:cut], landmarks=clip.landmarks[:cut])
    b = replace(
        clip,
        clip_id=f"{clip.clip_id}_b",
        times=clip.times[cut:] - clip.times[cut],
        landmarks=clip.landmarks[cut:],
    )
    return a, b


# ---------------------------------------------------------------------------------------------- windows


def load_set(set_name: str, root: Path = DEFAULT_ROOT) -> list[SkeletonClip]:
    loaders = {"utkinect": load_utkinect, "msr": load_msr, "lzq": load_lzq}
    if set_name not in loaders:
        raise ValueError(f"unknown skeleton set {set_name!r}; choose from {', '.join(SETS)}")
    return loaders[set_name](root)


def cut_windows(features: np.ndarray, window: int = DEFAULT_WINDOW, hop: int = 10) -> np.ndarray:
    """(N, window, D) windows every `hop` steps (the last one flush with the end); a clip shorter than a window
    is looped to fill one, as the engine does (`streaming.sampler.loop_to_window`)."""
    n = len(features)
    if n < window:
        return features[loop_to_window(n, window)][None]
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] != n - window:
        starts.append(n - window)
    return np.stack([features[s : s + window] for s in starts])


def validation_windows(
    set_name: str,
    subjects: tuple[int, ...] = DEVELOPMENT_SUBJECTS,
    root: Path = DEFAULT_ROOT,
    rate: float = DEFAULT_FEATURE_RATE,
    window: int = DEFAULT_WINDOW,
    hop: int = 10,
    clips: list[SkeletonClip] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Windows of the labelled clips of these subjects: X (N, window, 43) float32, y (N,) labels, clip ids (N,).

    Default: the development subjects 1-5; pass HELD_OUT_SUBJECTS only for the final figure.
    """
    clips = load_set(set_name, root) if clips is None else clips
    xs, ys, ids = [], [], []
    for clip in clips:
        if clip.label is None or clip.subject not in subjects:
            continue
        w = cut_windows(clip.features(rate), window, hop)
        xs.append(w)
        ys += [clip.label] * len(w)
        ids += [clip.clip_id] * len(w)
    if not xs:
        return np.zeros((0, window, feature_size()), np.float32), np.array([], str), np.array([], str)
    return np.concatenate(xs).astype(np.float32), np.array(ys), np.array(ids)


def class_counts(clips: list[SkeletonClip], subjects: tuple[int, ...] = ALL_SUBJECTS) -> dict[str, int]:
    """Clips per label (None: "-") among these subjects."""
    out: dict[str, int] = {}
    for c in clips:
        if c.subject in subjects:
            key = c.label or "-"
            out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def _folder(root: Path, name: str) -> Path:
    folder = Path(root) / name
    if not folder.is_dir():
        raise FileNotFoundError(f"no {name} folder at {folder}: point to ../shared/data/skeletons")
    return folder
