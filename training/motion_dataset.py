"""Synthetic motion clips as pose features, written and read as a data set (one .npz per clip).

A clip is made in four steps, each its own module: motion.simulate (a labelled 3D skeleton sequence),
camera.random_view + camera.project (a random camera, landmarks in pixels), landmark_noise.add_landmark_noise
(what the extractor would report), then streaming.pose_features.pose_features (the runtime's own feature code)
frame by frame. Everything is drawn from one seed per clip, so a data set is the same for the same seed.

    clip = synthesize_clip("Wave", seed=7)              # clip.features (40, 43) float32 at 10/s
    root = write_motion_dataset(Path("data/motion"), clips_per_class=150, seed=0)
    data = read_motion_dataset(root)                    # features, labels, names, clip ids, test flags

Layout: ROOT/<Label>/<Label>_<nnnn>.npz (features T x 40, landmarks T x 33 x 3, present, times, label, meta
JSON), ROOT/classInd.txt ("1 Idle" ...), ROOT/trainlist01.txt and testlist01.txt (UCF101 style: every fifth
clip of each class is a test clip), ROOT/manifest.json (what made it).
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streaming.atomic import atomic_file, atomic_write_text
from streaming.pose_features import feature_size, pose_features
from streaming.pose_spec import FEATURE_JOINTS, L_HIP, L_SHOULDER, NOSE, R_HIP, R_SHOULDER
from training.camera import CameraView, project, random_view
from training.landmark_noise import NoiseConfig, add_landmark_noise
from training.motion import FEATURE_RATE_HZ, LABELS, WINDOW_STEPS, simulate

#: Bump when the generator changes what a seed produces.
GENERATOR_VERSION = 11
#: Chance of a desk-webcam framing (head to hips, legs out of the frame) per class; the rest are full-body.
UPPER_BODY_PROB: dict[str, float] = {
    "Idle": 0.35,
    "RaiseArms": 0.3,
    "Wave": 0.35,
    "Clap": 0.35,
    "Punch": 0.25,
    "SitDown": 0.1,
    "StandUp": 0.1,
    "PushUp": 0.0,
    "SitUp": 0.0,
    "Fall": 0.0,
}
DEFAULT_UPPER_BODY_PROB = 0.05
#: Chance of a close-up (head and shoulders; hips out of the frame), drawn before UPPER_BODY_PROB. Real close-ups
#: (UCF101 ApplyEyeMakeup, HeadMassage) were read as Kick by a head that never saw one: the hidden legs' landmarks
#: jitter like a moving leg. Idle gets the most; the arm actions a few, so a close-up wave is still a wave.
CLOSEUP_PROB: dict[str, float] = {"Idle": 0.25, "Wave": 0.1, "Clap": 0.1, "Punch": 0.05, "RaiseArms": 0.05}
#: Every TEST_EVERY-th clip of a class goes to the test list.
TEST_EVERY = 5


@dataclass
class MotionClip:
    """One synthetic clip: features as the runtime computes them, and what they were made from."""

    label: str
    features: np.ndarray  # (T, 43) float32
    landmarks: np.ndarray  # (T, 33, 3) noisy x, y (pixels), visibility
    clean: np.ndarray  # (T, 33, 3) true projected x, y and in-frame flag, before noise
    present: np.ndarray  # (T,) bool: the extractor found the person
    times: np.ndarray  # (T,) seconds
    view: CameraView
    meta: dict = field(default_factory=dict)


def clip_seed(seed: int, label: str, index: int) -> int:
    """The seed of clip `index` of `label` in a data set made with `seed` (stable across runs and machines)."""
    return int(np.random.SeedSequence([seed, zlib.crc32(label.encode()), index]).generate_state(1)[0])


def _aim(points: np.ndarray, framing: str) -> tuple[tuple[float, float, float], float]:
    """Where the camera looks and how many metres must fit, from statistics that ignore time order (so a
    clip and its reversal get the same camera)."""
    if framing == "closeup":  # head and shoulders: the nose to a little below the shoulders
        shoulder = (points[:, L_SHOULDER] + points[:, R_SHOULDER]) / 2
        nose_y, sh_y = float(np.median(points[:, NOSE, 1])), float(np.median(shoulder[:, 1]))
        span = max(nose_y - sh_y, 0.1) + 0.4
        target = (float(np.median(shoulder[:, 0])), (nose_y + sh_y) / 2, float(np.median(shoulder[:, 2])))
        return target, span
    if framing == "upper":
        hip = (points[:, L_HIP] + points[:, R_HIP]) / 2
        nose_y, hip_y = float(np.median(points[:, NOSE, 1])), float(np.median(hip[:, 1]))
        span = max(nose_y - hip_y, 0.2) + 0.25
        target = (float(np.median(hip[:, 0])), (nose_y + hip_y) / 2 + 0.05, float(np.median(hip[:, 2])))
        return target, span
    lo, hi = points.reshape(-1, 3).min(axis=0), points.reshape(-1, 3).max(axis=0)
    span = max(hi[1] - lo[1] + 0.15, float(np.hypot(hi[0] - lo[0], hi[2] - lo[2])))
    return tuple(float(v) for v in (lo + hi) / 2), span


def synthesize_clip(
    label: str,
    seed: int,
    steps: int = WINDOW_STEPS,
    rate: float = FEATURE_RATE_HZ,
    noise: NoiseConfig = NoiseConfig(),
    framing: str | None = None,
) -> MotionClip:
    """A clip of `label` (`steps` features at `rate` per second) drawn from `seed`; `framing` forces "full",
    "upper" or "closeup" (default: drawn with CLOSEUP_PROB and UPPER_BODY_PROB)."""
    rng = np.random.default_rng(seed)
    motion = simulate(label, rng, steps, rate)
    meta = {
        "seed": int(seed),
        "body": motion.body.to_dict(),
        "params": {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in motion.params.items()},
    }
    return render_clip(label, motion.points, motion.times, rng, noise, framing, meta)


def draw_framing(label: str, rng: np.random.Generator) -> str:
    """full, upper or closeup, with the class's probabilities (one uniform draw)."""
    u = rng.random()
    close = CLOSEUP_PROB.get(label, 0.0)
    if u < close:
        return "closeup"
    return "upper" if u < close + UPPER_BODY_PROB.get(label, DEFAULT_UPPER_BODY_PROB) else "full"


def render_clip(
    label: str,
    points: np.ndarray,
    times: np.ndarray,
    rng: np.random.Generator,
    noise: NoiseConfig = NoiseConfig(),
    framing: str | None = None,
    meta: dict | None = None,
) -> MotionClip:
    """3D landmarks (T, 33, 3; metres, y up) filmed by a random camera, made noisy as the extractor's output and
    turned into the runtime's features. Synthetic programs and retargeted motion capture both end here."""
    drawn = draw_framing(label, rng)
    framing = framing or drawn
    target, span = _aim(points, framing)
    view = random_view(rng, target, span, framing)
    xy, depth = project(points, view)
    w, h = view.width, view.height
    in_frame = (xy[..., 0] >= 0) & (xy[..., 0] < w) & (xy[..., 1] >= 0) & (xy[..., 1] < h) & (depth > 0)
    clean = np.concatenate([xy, in_frame[..., None].astype(np.float64)], axis=-1)
    noisy = add_landmark_noise(xy, depth, (w, h), rng, noise)
    features = np.stack(
        [pose_features(lm, bool(p), FEATURE_JOINTS, (w, h)) for lm, p in zip(noisy.landmarks, noisy.present)]
    )
    meta = {**(meta or {}), "framing": framing, "camera": view.to_dict(), "noise": noise.to_dict()}
    return MotionClip(label, features, noisy.landmarks, clean, noisy.present, np.asarray(times), view, meta)


def _write_clip(path: Path, clip: MotionClip) -> None:
    with atomic_file(path, keep_suffix=True) as tmp:
        np.savez_compressed(
            tmp,
            features=clip.features.astype(np.float32),
            landmarks=clip.landmarks.astype(np.float32),
            present=clip.present,
            times=clip.times.astype(np.float32),
            label=np.array(clip.label),
            meta=np.array(json.dumps(clip.meta)),
        )


def clip_path(root: Path, label: str, index: int) -> Path:
    return Path(root) / label / f"{label}_{index:04d}.npz"


def write_motion_dataset(
    out: Path,
    clips_per_class: int,
    seed: int = 0,
    labels: tuple[str, ...] = LABELS,
    steps: int = WINDOW_STEPS,
    noise: NoiseConfig = NoiseConfig(),
    progress: bool = True,
) -> Path:
    """Write `clips_per_class` clips of each label under `out`; returns `out`. Clips already there are kept
    (same seed, same clip), so an interrupted run resumes."""
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class must be >= 1, got {clips_per_class}")
    unknown = [lab for lab in labels if lab not in LABELS]
    if unknown:
        raise ValueError(f"unknown labels {unknown}; choose from {', '.join(LABELS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train, test = [], []
    total = len(labels) * clips_per_class
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, desc="motion clips", unit="clip", mininterval=2.0)
    for k, label in enumerate(labels):
        (out / label).mkdir(exist_ok=True)
        for i in range(clips_per_class):
            path = clip_path(out, label, i)
            if not path.exists():
                _write_clip(path, synthesize_clip(label, clip_seed(seed, label, i), steps=steps, noise=noise))
            rel = path.relative_to(out).as_posix()
            (test if i % TEST_EVERY == 0 else train).append((rel, k + 1))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    atomic_write_text(out / "classInd.txt", "".join(f"{k + 1} {lab}\n" for k, lab in enumerate(labels)))
    atomic_write_text(out / "trainlist01.txt", "".join(f"{rel} {k}\n" for rel, k in train))
    atomic_write_text(out / "testlist01.txt", "".join(f"{rel}\n" for rel, _ in test))
    manifest = {
        "kind": "motion",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "clips_per_class": clips_per_class,
        "labels": list(labels),
        "feature_rate": FEATURE_RATE_HZ,
        "steps": steps,
        "feature_size": feature_size(FEATURE_JOINTS),
        "feature_joints": list(FEATURE_JOINTS),
        "noise": noise.to_dict(),
        "test_every": TEST_EVERY,
        "seconds": round(time.perf_counter() - start, 2),
    }
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return out


@dataclass
class MotionDataset:
    """A motion data set in memory: per clip a (T, 40) feature array, its class number and whether it is a test clip."""

    features: list[np.ndarray]
    labels: np.ndarray
    names: list[str]
    clip_ids: list[str]
    is_test: np.ndarray


def read_motion_dataset(root: Path) -> MotionDataset:
    """Read what write_motion_dataset wrote (classInd.txt, the two lists and the clips)."""
    root = Path(root)
    class_file = root / "classInd.txt"
    if not class_file.is_file():
        raise FileNotFoundError(f"{root}: no classInd.txt; not a motion data set (make one with write_motion_dataset)")
    names = [line.split(maxsplit=1)[1].strip() for line in class_file.read_text().splitlines() if line.strip()]
    index = {n: k for k, n in enumerate(names)}
    test = {line.strip() for line in (root / "testlist01.txt").read_text().splitlines() if line.strip()}
    rels = [line.split()[0] for line in (root / "trainlist01.txt").read_text().splitlines() if line.strip()]
    rels = sorted(set(rels) | test)
    feats, labels, flags = [], [], []
    for rel in rels:
        with np.load(root / rel) as z:
            feats.append(z["features"].astype(np.float32))
            labels.append(index[str(z["label"])])
        flags.append(rel in test)
    return MotionDataset(feats, np.asarray(labels, np.int64), names, rels, np.asarray(flags, bool))
