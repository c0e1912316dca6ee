"""The recipe of models/people: data mix -> N seeds -> one averaged head -> export -> real-skeleton figures -> report.

Data (all licensed for training shipped weights; the validation-only sets never reach `fit`):
- synthetic 3D motion of the 17 classes (training.motion, our own), filmed by random cameras with the noise
  the pose pipeline measurably produces (training.motion_dataset.render_clip);
- CMU motion capture (walk, jump, kick, punch, bend takes): retargeted to the extractor's bone proportions with
  a random body, played at a random speed, mirrored at random, then filmed and made noisy like the synthetic
  clips: real timing and dynamics. Credit: training.mocap.CMU_CREDIT;
- lzq-openpose takes (Apache-2.0; training.skeletons.LZQ_CREDIT): stand and operate as Idle, walk, wave, squat,
  fall; one person's 2D keypoints, mirrored, sped up or slowed, jittered, with BlazePose-like visibility.

Each seed trains one LSTM head (training.motion_train.build_motion_head) per kind in Recipe.heads (what it sees:
the joints, or also the bones' directions; how the mix's short clips fill a window); the shipped head averages
the members' logits (or only those best on the development subjects: `--keep`, `best_seeds`) inside one Keras
model (one ONNX file, N small LSTMs). Figures on the real sets
(UTKinect, MSR Action3D) use the development subjects 1-5 unless `held_out` asks for the final figure (6-10).

    python -m training.people_model --out models/people                # 5 seeds x 3 kinds: development figures
    python -m training.people_model --out models/people --held-out     # the final figure, once
    python -m training.people_model --out DIR --seeds 10 --keep 5      # average the 5 best of 10 on development
    python -m training.people_model --out models/people --choose-threshold     # open-set threshold only

The open-set threshold (below it the engine says "no clear action") is chosen on development data only
(OPEN_SET_RULE: real people doing none of the 17 actions, the skeleton sets' unmapped classes, subjects 1-5) and
measured on subjects 6-10 and on real no-target videos (ucf101-mini).

The bundle folder is rebuilt atomically (streaming.atomic.atomic_dir): a crash leaves the previous bundle whole.
Trained seeds are kept under data/people/ (named by the mix and the training settings) and reused by a rerun.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streaming.atomic import atomic_dir, atomic_write_text
from streaming.bundle import load_bundle, write_manifest
from streaming.pose_features import pose_features
from streaming.pose_spec import FEATURE_JOINTS, MIRRORED, NUM_BODY_LANDMARKS
from streaming.sampler import Sampling, loop_to_window
from training.landmark_noise import JITTER_SD, VIS_LOGIT
from training.mocap import CMU_CREDIT, load_mocap_clips, training_clips
from training.motion import FEATURE_RATE_HZ, LABELS, WINDOW_STEPS, Body, random_body, sample_times
from training.motion_dataset import clip_seed, render_clip, synthesize_clip
from training.real_eval import evaluate_on_real, keras_predict_fn, mean_pool_baseline
from training.skeletons import (
    DEVELOPMENT_SUBJECTS,
    HELD_OUT_SUBJECTS,
    LZQ_CREDIT,
    SkeletonClip,
    cut_windows,
    load_set,
    resample_landmarks,
)

if TYPE_CHECKING:  # pragma: no cover
    import keras

REPO = Path(__file__).resolve().parents[1]
POSE_BUNDLE = REPO / "models" / "pose"
MOCAP_ROOT = REPO.parent / "shared" / "data" / "mocap"
UCF_ROOT = REPO.parent / "shared" / "data" / "ucf101-mini" / "UCF-101"
#: Real clips of people doing none of the 17 actions (ucf101-mini, through the pose pipeline): a final false-alarm
#: figure of the open-set threshold, never used to choose it.
NO_TARGET_CLASSES = ("ApplyEyeMakeup", "HeadMassage", "PlayingGuitar")
#: The open-set rule's no-target data: real people doing none of the 17 actions, the unmapped classes of the
#: validation-only skeleton sets (UTKinect carry/throw/push/pull; MSR Action3D hammer, hand catch, high throw, draw
#: x/tick/circle, jogging, tennis swing/serve, golf swing). Left out: MSR "pick up & throw", whose pick-up is what the
#: project labels Bend (UTKinect's pickUp is Bend), so Bend there is no false alarm; lzq-openpose "operate" (trained
#: on as Idle) and "run" (one take of the lzq actor whose other takes are training data, and no held-out part).
NO_TARGET_SKELETON_SETS = ("utkinect", "msr")
NOT_NO_TARGET = {("msr", "pick up & throw")}
#: The issue's target: at most 10 % of no-target windows labelled with a target action.
MAX_FALSE_ALARM_RATE = 0.10
NO_TARGET_DATA = (
    "unmapped classes of UTKinect (carry, throw, push, pull) and MSR Action3D (hammer, hand catch, high throw, "
    "draw x/tick/circle, jogging, tennis swing/serve, golf swing), windows every 10 steps; subjects 1-5 choose, "
    "6-10 measure; MSR 'pick up & throw' left out (its pick-up is Bend)"
)
OPEN_SET_RULE = (
    "the lowest threshold (0.01 steps) at which at most 10 % of the development no-target windows (subjects 1-5) "
    "show a target action (top class other than Idle at or above the threshold; Idle is the honest answer for a "
    "person doing nothing in particular, so it is no false alarm). Those sets are validation only: this tunes one "
    "number on their development part, as the previous rule (keep 90 % of correct development windows) did"
)
#: Thresholds of earlier models (and rules), with their false alarms on the ucf101-mini clips.
OPEN_SET_HISTORY = (
    {
        "threshold": 0.46,
        "how": "kept 90 % of the correct development target windows (recorded, not shipped)",
        "ucf101_no_target_false_alarm_rate": 0.3372,
    },
    {
        "threshold": 0.8,
        "how": "picked for an earlier model while looking at the ucf101-mini no-target clips (shipped before 0.78)",
        "ucf101_no_target_false_alarm_rate": 0.1221,
        "note": "optimistic: chosen on the clips it was measured on",
    },
    {
        "threshold": 0.78,
        "how": "OPEN_SET_RULE on the previous model (generator v4, 40-d features, 49.7 % held-out), shipped before",
        "ucf101_no_target_false_alarm_rate": 0.1628,
    },
    {
        "threshold": 0.96,
        "how": "OPEN_SET_RULE on the previous model (generator v8, 43-d features, 66.0 % held-out), shipped before",
        "ucf101_no_target_false_alarm_rate": 0.0233,
    },
    {
        "threshold": 0.92,
        "how": "OPEN_SET_RULE on the previous model (generator v11, joints only, short clips looped, 72.3 % "
        "held-out), shipped before",
        "ucf101_no_target_false_alarm_rate": 0.0988,
    },
    {
        "threshold": 0.94,
        "how": "OPEN_SET_RULE on the previous model (joints/both + bones/both, 75.4 % held-out), shipped before",
        "ucf101_no_target_false_alarm_rate": 0.1221,
    },
)
#: Shortest short clip (steps at 10/s) and the share of each source's windows that are short clips, filled
#: to a window (FILLS).
SHORT_MIN_STEPS = 10
SHORT_PROB = 0.45
DOWN_AND_UP = ("Squat", "Bend", "Lunge", "Jump", "PushUp", "SitUp", "Kick")
#: What a member of the head sees (the first part of a Recipe.heads entry), as motion_inputs' (positions,
#: directions): the joints' positions, also the bones' directions, or the directions without the positions.
HEAD_INPUTS: dict[str, tuple[bool, bool]] = {"joints": (True, False), "bones": (True, True), "dirs": (False, True)}
#: The cached members' name part of each kind (the first two kept their names from before "dirs").
HEAD_SUFFIX = {"joints": "", "bones": "_dir", "dirs": "_dirsonly"}
#: How a member's short training clips fill a window (the second part of a Recipe.heads entry).
FILLS = ("loop", "both")
#: lzq-openpose takes used for training and the class each teaches. "operate" (working at something at a bench)
#: is a person in view doing none of the actions: Idle by the issue's definition. "run" has no class: left out.
LZQ_TRAIN_CLASSES: dict[str, str] = {
    "stand": "Idle",
    "operate": "Idle",
    "walk": "Walk",
    "wave": "Wave",
    "squat": "Squat",
    "fall_down": "Fall",
}
CREDITS = (
    CMU_CREDIT,
    LZQ_CREDIT,
    "Pose extractor: MediaPipe BlazePose (Apache-2.0); see NOTICE.",
)


@dataclass(frozen=True)
class Recipe:
    """How much of each source, and how the heads are trained."""

    synthetic_per_class: int = 1000
    mocap_windows_per_class: int = 200
    lzq_windows_per_class: int = 160
    synthetic_test_per_class: int = 60
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    #: How many of the trained seeds the shipped head averages: the best on the development subjects (0: all).
    keep: int = 0
    #: Whether the head also averages over each window's mirror image (left and right swapped). Measured on
    #: generator v11: development accuracy 71.3 -> 73.0 %, but ucf101-mini no-target false alarms 9.9 -> 16.9 %
    #: (HeadMassage read as Punch more surely), over the 10 % target: not shipped.
    mirror: bool = False
    epochs: int = 30
    patience: int = 6
    batch_size: int = 64
    learning_rate: float = 2e-3
    units: int = 96
    #: The mix's random draw (`--data-seed`). It moves the figures as much as a recipe change does: generator v13
    #: on draws 0 and 1 gave 5-seed development means 63.3 / 59.5 % (ensembles 70.1 / 69.0 %); the same with
    #: short clips held at their ends instead of looped, 61.5 / 63.4 % (74.1 / 67.8 %). Compare recipes over more
    #: than one draw before believing a few points.
    data_seed: int = 0
    #: The ensemble's kinds of member, "inputs/fill"; every seed is trained once per kind. inputs (HEAD_INPUTS):
    #: "joints", the 13 joints' positions and their change; "bones", also the bones' image directions and their change
    #: (training.bone_directions: the pose without the bones' lengths, which differ between people and skeleton
    #: conventions); "dirs", the directions and every channel's change but no positions. fill (FILLS): how a short
    #: training clip fills its window: "loop", as the engine fills a short stream, or "both": held at its ends (first
    #: pose before, last after) on a random half, looped on the rest (a loop jumps from the last pose back to the
    #: first, which no person does; holding only was worse on real claps and waves). Members that see the pose
    #: differently err apart, so their average is right more often: more seeds of one kind saturate (8 joints/loop
    #: seeds: 70.1 %). Development ensembles, 5 seeds a kind, with the ucf101-mini no-target false alarms: on draw 0,
    #: joints/loop 71.3 % (9.9 %), bones/both 75.9 % (11.6 %), joints/both + bones/both 78.2 % (12.2 %), joints/loop +
    #: bones/both 77.6 % (13.4 %), joints/loop + joints/both + bones/both 77.0 % (14.5 %), joints/loop + bones/loop
    #: 76.4 % (19.8 %); on draw 1 (an earlier coin for "both"), joints/loop 70.7 % (11.0 %), joints/both + bones/both
    #: 70.1 % (12.8 %), joints/loop + bones/both 76.4 % (14.5 %), joints/loop + bones/loop 79.3 % (12.8 %). The false
    #: alarms are one clip's (HeadMassage read as Punch).
    #: A third kind, measured the same way (draws 0 / 1, the shipped coin on 0): dirs/both 74.7 / 70.7 % (10.5 / 1.7
    #: %); joints/both + dirs/both 79.3 / 73.6 % (11.0 / 0.6 %); bones/both + dirs/both 77.0 / 77.6 % (11.6 / 8.1 %);
    #: all three kinds (the default) 79.9 / 77.0 % (14.5 / 7.6 %), against joints/both + bones/both's 78.2 / 70.1 %
    #: (12.2 / 12.8 %): the best mean over both draws. Tried against it afterwards and not shipped (same draws):
    #: adding 5 temporal-convolution members over the bones view (three dilated Conv1D, mean over time; single seeds
    #: 47-66 %) 74.7 / 79.3 % at threshold 0.99 (ucf101-mini 0.0 / 5.8 %; alone or with only two LSTM kinds they were
    #: so confident on the development no-target windows that the rule found no threshold below 1); adding 5 LSTMs
    #: over the directions of the pose smoothed over 3 steps 77.0 / 77.6 % (11.6 / 11.6 %); the 15 members of both
    #: draws together (30, bagging) 79.9 % (12.2 %).
    heads: tuple[str, ...] = ("joints/both", "bones/both", "dirs/both")

    def __post_init__(self) -> None:
        if not self.heads:
            raise ValueError("heads: at least one kind of member")
        for head in self.heads:
            head_kind(head)

    def members(self) -> list[tuple[str, int]]:
        """(kind, seed) of every member the recipe trains, in training order."""
        return [(head, seed) for head in self.heads for seed in self.seeds]

    def first_fill(self) -> str:
        """The fill of the first kind's mix: the window counts and the mean-pool baseline come from it (every
        fill's mix has the same windows per class)."""
        return head_kind(self.heads[0])[1]

    def to_dict(self) -> dict:
        return asdict(self)


def head_kind(head: str) -> tuple[str, str]:
    """A Recipe.heads entry as (inputs, fill); ValueError names what is wrong."""
    inputs, _, fill = head.partition("/")
    if inputs not in HEAD_INPUTS or fill not in FILLS:
        raise ValueError(
            f"a head is inputs/fill with inputs one of {', '.join(HEAD_INPUTS)} and fill one of {', '.join(FILLS)}, "
            f"got {head!r}"
        )
    return inputs, fill


@dataclass
class TrainingData:
    """Windows (N, 40, 43) float32, class numbers (N,) into LABELS and the source of each window."""

    x: np.ndarray
    y: np.ndarray
    source: np.ndarray
    counts: dict[str, dict[str, int]] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- synthetic


def filled(features: np.ndarray, coin: np.random.Generator | None = None, window: int = WINDOW_STEPS) -> np.ndarray:
    """A clip shorter than a window, looped to fill it as the live engine fills a short stream; with a `coin`
    (the fill "both" of a Recipe.heads entry), held at its ends instead (first pose before, last pose after) on
    half the clips. The coin is its own generator, so the mix's other draws stay as they were."""
    if len(features) >= window:
        return features[:window]
    if coin is not None and coin.random() < 0.5:
        before = (window - len(features)) // 2
        return features[np.clip(np.arange(window) - before, 0, len(features) - 1)]
    return features[loop_to_window(len(features), window)]


def fill_coin(fill: str, seed: int, source: int) -> np.random.Generator | None:
    """The coin of the fill "both" (FILLS) for one source of the mix (None: every short clip looped)."""
    return np.random.default_rng([seed, source, 13]) if fill == "both" else None


def short_steps(rng: np.random.Generator, label: str = "") -> int:
    """A short clip's length in steps: real labelled clips are often trimmed to the action (MSR Action3D's are
    1-5 s, UTKinect's segments 1.7 s and up), and a window over one is looped. Down-and-up classes get at
    least 2 s, so a short clip of them is not only the way down (which would look like SitDown)."""
    low = 20 if label in DOWN_AND_UP else SHORT_MIN_STEPS
    return int(rng.integers(low, WINDOW_STEPS))


def busiest_stretch(features: np.ndarray, clean: np.ndarray, steps: int, rng: np.random.Generator) -> np.ndarray:
    """`steps` consecutive rows of a clip's features where its true skeleton moves most (of three random
    candidates): a clip trimmed to the action, as real labelled clips are."""
    joints = clean[:, list(FEATURE_JOINTS), :2]
    scale = np.maximum(np.ptp(joints[..., 1], axis=1).mean(), 1.0)
    speed = np.r_[0.0, np.abs(np.diff(joints, axis=0)).sum(axis=(1, 2)) / scale]
    starts = rng.integers(0, len(features) - steps + 1, size=3)
    best = max(starts, key=lambda s: speed[s : s + steps].sum())
    return features[best : best + steps]


def synthetic_windows(
    per_class: int, seed: int, short_prob: float = 0.0, fill: str = "loop"
) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` synthetic clips (one 40-step window each) of every label; `short_prob` of them are short
    clips (the action inside a shorter span) filled to 40 steps as `fill` says (FILLS)."""
    coin = fill_coin(fill, seed, 1)
    xs, ys = [], []
    for k, label in enumerate(LABELS):
        for i in range(per_class):
            cs = clip_seed(seed, label, i)
            rng = np.random.default_rng([cs, 5])
            clip = synthesize_clip(label, cs)
            if rng.random() < short_prob:
                xs.append(filled(busiest_stretch(clip.features, clip.clean, short_steps(rng, label), rng), coin))
            else:
                xs.append(clip.features)
            ys.append(k)
    return np.stack(xs).astype(np.float32), np.asarray(ys, np.int64)


# ---------------------------------------------------------------------------------------------- motion capture


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-6)


def retarget(joints: np.ndarray, body: Body) -> np.ndarray:
    """(T, 13, 3) mocap joints (metres, y up, FEATURE_JOINT_NAMES order) -> (T, 33, 3) BlazePose landmarks with
    `body`'s bone lengths (the extractor's convention): every bone keeps its direction, takes the new length.
    The root path is scaled by the leg-length ratio, so steps and jumps fit the new legs."""
    nose, lsh, rsh, lel, rel, lwr, rwr, lhip, rhip, lkn, rkn, lan, ran = (joints[:, i] for i in range(13))
    hip_mid, sh_mid = (lhip + rhip) / 2, (lsh + rsh) / 2
    leg = float(np.median(np.linalg.norm(lkn - lhip, axis=-1) + np.linalg.norm(lan - lkn, axis=-1)))
    root = hip_mid * ((body.thigh + body.shin) / max(leg, 1e-3))
    out = np.zeros((len(joints), NUM_BODY_LANDMARKS, 3))
    hip_dir, sh_dir = _unit(lhip - rhip), _unit(lsh - rsh)
    new_sh_mid = root + _unit(sh_mid - hip_mid) * body.torso
    out[:, 0] = new_sh_mid + _unit(nose - sh_mid) * body.nose
    for sgn, sh, el, wr, hip, kn, an, idx in (
        (1, lsh, lel, lwr, lhip, lkn, lan, (11, 13, 15, 23, 25, 27)),
        (-1, rsh, rel, rwr, rhip, rkn, ran, (12, 14, 16, 24, 26, 28)),
    ):
        s_new = new_sh_mid + sgn * sh_dir * body.shoulder_width / 2
        e_new = s_new + _unit(el - sh) * body.upper_arm
        w_new = e_new + _unit(wr - el) * body.forearm
        h_new = root + sgn * hip_dir * body.hip_width / 2
        k_new = h_new + _unit(kn - hip) * body.thigh
        a_new = k_new + _unit(an - kn) * body.shin
        for i, p in zip(idx, (s_new, e_new, w_new, h_new, k_new, a_new)):
            out[:, i] = p
    for i in range(1, 11):  # face points sit on the nose; hands on the wrists, feet on the ankles
        out[:, i] = out[:, 0]
    for i, src in ((17, 15), (19, 15), (21, 15), (18, 16), (20, 16), (22, 16), (29, 27), (31, 27), (30, 28), (32, 28)):
        out[:, i] = out[:, src]
    return out


def _mirror_points(points: np.ndarray) -> np.ndarray:
    """Reflect x and swap left and right: the same motion done with the other side."""
    out = points.copy()
    for a, b in MIRRORED.items():
        out[:, a] = points[:, b]
    out[..., 0] *= -1
    return out


def key_frame(joints: np.ndarray, label: str) -> int | None:
    """The frame a window of this take must show to be `label` (long takes hold more than the action, e.g.
    a run-up or standing): Kick the highest ankle, Jump both feet highest, Bend the lowest shoulders against
    the hips. None: any stretch will do (Walk, Punch)."""
    y = joints[..., 1]
    if label == "Kick":
        ankles = y[:, 11:13] - y[:, 11:13].min(axis=0)
        return int(np.argmax(ankles.max(axis=1)))
    if label == "Jump":
        return int(np.argmax(y[:, 11:13].min(axis=1)))
    if label == "Bend":
        return int(np.argmin(y[:, 1:3].mean(axis=1) - y[:, 7:9].mean(axis=1)))
    return None


def mocap_window(
    joints: np.ndarray,
    fps: float,
    label: str,
    rng: np.random.Generator,
    steps: int = WINDOW_STEPS,
    coin: np.random.Generator | None = None,
) -> np.ndarray:
    """One 40-step feature window from a mocap take (all its frames at `fps`): a random stretch at a random
    speed that shows the take's key frame (a take shorter than the window is held still before and after, as a
    person stands), a random body, mirrored half the time, then the synthetic clips' cameras and noise. A short
    window (`steps` < 40) is filled to 40 (filled, with `coin`)."""
    speed = float(rng.uniform(0.8, 1.25))
    times = sample_times(rng, steps, FEATURE_RATE_HZ)
    span = (times[-1] - times[0]) * speed
    duration = (len(joints) - 1) / fps
    lo, hi = (0.0, duration - span) if duration > span else (duration - span, 0.0)
    key = key_frame(joints, label)
    if key is not None:  # the key frame inside the window, away from its edges
        k = key / fps
        lo, hi = max(lo, k - 0.85 * span), min(hi, k - 0.15 * span)
        if lo > hi:
            lo = hi = float(np.clip(k - span / 2, *sorted((0.0, duration - span))))
    t0 = rng.uniform(lo, hi)
    src_t = np.clip(t0 + (times - times[0]) * speed, 0.0, duration) * fps
    k = np.minimum(np.floor(src_t).astype(int), len(joints) - 2)
    w = (src_t - k)[:, None, None]
    sampled = joints[k] * (1 - w) + joints[k + 1] * w
    points = retarget(sampled.astype(np.float64), random_body(rng))
    if rng.random() < 0.5:
        points = _mirror_points(points)
    points[..., 1] -= points[..., 1].min() - 0.07  # the lowest point on the ground
    return filled(render_clip(label, points, times, rng, framing="full").features, coin)


def mocap_windows(
    per_class: int, seed: int, root: Path = MOCAP_ROOT, fill: str = "loop"
) -> tuple[np.ndarray, np.ndarray]:
    """About `per_class` windows of each class the labelled CMU takes hold, shared among its takes (HDM05 is
    validation-only and never used here)."""
    clips = [c for c in training_clips(load_mocap_clips(root, rate=None)) if c.label in LABELS]
    rng, coin = np.random.default_rng([seed, 7]), fill_coin(fill, seed, 2)
    takes: dict[str, int] = {}
    for c in clips:
        takes[c.label] = takes.get(c.label, 0) + 1
    xs, ys = [], []
    for clip in clips:
        for _ in range(int(np.ceil(per_class / takes[clip.label]))):
            steps = short_steps(rng, clip.label) if rng.random() < SHORT_PROB else WINDOW_STEPS
            xs.append(mocap_window(clip.joints, clip.fps, clip.label, rng, steps, coin))
            ys.append(LABELS.index(clip.label))
    return np.stack(xs).astype(np.float32), np.asarray(ys, np.int64)


# ---------------------------------------------------------------------------------------------- lzq-openpose


def _kind(j: int) -> str:
    return {0: "nose", 11: "shoulder", 13: "elbow", 15: "wrist", 23: "hip", 25: "knee", 27: "ankle"}[
        j if j % 2 == 1 or j == 0 else j - 1
    ]


def lzq_variant(clip: SkeletonClip, rng: np.random.Generator) -> np.ndarray:
    """One augmented copy of an lzq take as features: random speed, mirror, extra jitter, BlazePose-like
    visibility (found keypoints visible with the measured per-joint medians; missing ones low)."""
    speed = float(rng.uniform(0.8, 1.25))
    lm = resample_landmarks(clip.times / speed, clip.landmarks, FEATURE_RATE_HZ).astype(np.float64)
    if rng.random() < 0.5:  # the frame flipped: x -> width - x
        lm = _mirror_points(lm)
        lm[..., 0] += clip.frame_size[0]
    joints = list(FEATURE_JOINTS)
    found = lm[:, joints, 2] > 0.5
    logit = np.array([VIS_LOGIT[_kind(j)] for j in joints])
    vis = 1 / (1 + np.exp(-(logit + rng.normal(0.0, 1.3, found.shape))))
    vis = np.where(found, vis, 1 / (1 + np.exp(-rng.normal(-2.0, 1.5, found.shape))))
    lm[:, joints, 2] = vis
    scale = np.linalg.norm((lm[:, 11, :2] + lm[:, 12, :2]) / 2 - (lm[:, 23, :2] + lm[:, 24, :2]) / 2, axis=-1)
    sd = np.array([JITTER_SD[_kind(j)][0] for j in joints]) * 0.7
    lm[:, joints, :2] += rng.normal(0.0, 1.0, (len(lm), len(joints), 2)) * sd[None, :, None] * scale[:, None, None]
    return np.stack([pose_features(f, True, frame_size=clip.frame_size) for f in lm])


def lzq_windows(per_class: int, seed: int, fill: str = "loop") -> tuple[np.ndarray, np.ndarray]:
    """About `per_class` 40-step windows for each lzq class, from augmented copies of its takes."""
    rng, coin = np.random.default_rng([seed, 11]), fill_coin(fill, seed, 3)
    takes: dict[str, list[SkeletonClip]] = {}
    for clip in load_set("lzq"):
        if clip.raw_class in LZQ_TRAIN_CLASSES:
            takes.setdefault(LZQ_TRAIN_CLASSES[clip.raw_class], []).append(clip)
    xs, ys = [], []
    for label, clips in takes.items():
        got = 0
        while got < per_class:
            for clip in clips:
                feats = lzq_variant(clip, rng)
                w = cut_windows(feats, WINDOW_STEPS, hop=int(rng.integers(7, 14)))
                w = w[rng.permutation(len(w))[: max(1, per_class // (2 * len(clips)))]]
                for j in np.flatnonzero(rng.random(len(w)) < SHORT_PROB):  # a short stretch, filled
                    n = short_steps(rng, label)
                    start = int(rng.integers(0, len(feats) - n))
                    w[j] = filled(feats[start : start + n], coin)
                xs.append(w)
                ys += [LABELS.index(label)] * len(w)
                got += len(w)
    return np.concatenate(xs).astype(np.float32), np.asarray(ys, np.int64)


# ---------------------------------------------------------------------------------------------- the mix


def mix_key(recipe: Recipe, fill: str = "loop") -> str:
    """The name of a training mix in the cache: changes when the generator or the mix's sizes do."""
    from training.motion_dataset import GENERATOR_VERSION

    shorts = "short" if fill == "loop" else "fill" + fill  # "short": the name from before the fills
    key = f"mix_v{GENERATOR_VERSION}_{shorts}{SHORT_PROB}_s{recipe.synthetic_per_class}"
    return key + f"_m{recipe.mocap_windows_per_class}_l{recipe.lzq_windows_per_class}_d{recipe.data_seed}"


def seed_path(cache_dir: Path, recipe: Recipe, seed: int, head: str = "joints/loop") -> Path:
    """Where a member's trained head is kept (reused by a rerun of the same recipe, and by finalize_held_out)."""
    inputs, fill = head_kind(head)
    name = f"_u{recipe.units}_e{recipe.epochs}" + HEAD_SUFFIX[inputs]
    return Path(cache_dir) / f"{mix_key(recipe, fill)}{name}_seed{seed}.keras"


def build_training_data(recipe: Recipe, cache_dir: Path | None = None, fill: str = "loop") -> TrainingData:
    """The mix with short clips filled as `fill` says, cached as one .npz per recipe and fill under `cache_dir`
    (regenerated when the recipe changes). The fill changes only the short clips' contents, never the counts."""
    path = Path(cache_dir) / f"{mix_key(recipe, fill)}.npz" if cache_dir else None
    if path is not None and path.is_file():
        with np.load(path) as z:
            x, y, source = z["x"], z["y"], z["source"]
    else:
        parts = []
        if recipe.synthetic_per_class:
            synthetic = synthetic_windows(recipe.synthetic_per_class, recipe.data_seed, SHORT_PROB, fill)
            parts.append(("synthetic", *synthetic))
        if recipe.mocap_windows_per_class:
            parts.append(("cmu", *mocap_windows(recipe.mocap_windows_per_class, recipe.data_seed, fill=fill)))
        if recipe.lzq_windows_per_class:
            parts.append(("lzq", *lzq_windows(recipe.lzq_windows_per_class, recipe.data_seed, fill)))
        x = np.concatenate([p[1] for p in parts])
        y = np.concatenate([p[2] for p in parts])
        source = np.concatenate([np.full(len(p[2]), p[0]) for p in parts])
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, x=x, y=y, source=source)
    counts: dict[str, dict[str, int]] = {}
    for s in np.unique(source):
        sel = source == s
        counts[str(s)] = {LABELS[k]: int(np.sum(y[sel] == k)) for k in range(len(LABELS)) if np.any(y[sel] == k)}
    return TrainingData(x.astype(np.float32), y.astype(np.int64), source, counts)


# ---------------------------------------------------------------------------------------------- training


def train_head(
    data: TrainingData, seed: int, recipe: Recipe, progress: bool = False, inputs: str = "joints"
) -> tuple["keras.Model", dict]:
    """One seed's head: 10 % of the windows (stratified by the seed) for early stopping; best weights kept."""
    import keras

    from training.fit import seed_everything
    from training.motion_train import build_motion_head

    rng = np.random.default_rng([seed, 3])
    val = rng.random(len(data.y)) < 0.1
    seed_everything(seed)
    model = build_motion_head(
        len(LABELS),
        WINDOW_STEPS,
        data.x.shape[2],
        units=recipe.units,
        positions=HEAD_INPUTS[inputs][0],
        directions=HEAD_INPUTS[inputs][1],
    )
    model.compile(
        optimizer=keras.optimizers.Adam(recipe.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    start = time.perf_counter()
    stop = keras.callbacks.EarlyStopping(patience=recipe.patience, restore_best_weights=True)
    lower = keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=max(2, recipe.patience // 2))
    hist = model.fit(
        data.x[~val],
        data.y[~val],
        validation_data=(data.x[val], data.y[val]),
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        callbacks=[stop, lower],
        verbose=2 if progress else 0,
    )
    history = {k: [round(float(v), 4) for v in vals] for k, vals in hist.history.items()}
    info = {
        "seed": seed,
        "epochs_run": len(history["loss"]),
        "best_val_loss": min(history["val_loss"]),
        "seconds": round(time.perf_counter() - start, 1),
    }
    return model, info


def load_seed(path: Path) -> "keras.Model":
    """A trained seed from the cache (its layers may include training.bone_directions.BoneDirections)."""
    import keras

    import training.bone_directions  # noqa: F401  (registers the layer with Keras)

    return keras.models.load_model(path)


def best_seeds(infos: list[dict], keep: int) -> list[int]:
    """Positions (in training order) of the `keep` seeds with the best development clip accuracy (0: all).

    Why: seeds of one recipe differ by 10-15 points on real people, and a seed's development figure (subjects
    1-5) predicted its held-out one (6-10) in the recipe's history; choosing on development data keeps the held-out
    figure honest. Ties go to the earlier seed; infos without real figures keep the first `keep`.
    """
    order = list(range(len(infos)))
    if keep <= 0 or keep >= len(infos):
        return order
    score = [-(info.get("real_dev") or {}).get("overall", 0.0) for info in infos]
    return sorted(sorted(order, key=lambda k: (score[k], k))[:keep])


def member_inputs(model: "keras.Model") -> str:
    """The HEAD_INPUTS kind of a build_motion_head model, from its layers: a bone_directions layer means the
    directions; its input concatenation then has 3 parts without the positions ([directions, their change, every
    channel's change]) and 4 with them."""
    if not any(layer.name == "bone_directions" for layer in model.layers):
        return "joints"
    return "dirs" if len(model.get_layer("with_velocity").input) == 3 else "bones"


def ensemble(models: list["keras.Model"], mirror: bool = False) -> "keras.Model":
    """One flat Keras model whose output is the softmax of the members' mean logits (members: build_motion_head
    models of one window, feature size and width, of any HEAD_INPUTS kind: member_inputs). Flat, so the export can
    rebuild it layer by layer; each input view is built once and shared by the members that see it. `mirror`:
    every member also sees the window flipped left to right (a fixed matrix, motion_train.mirror_matrix) and the
    mean runs over both views."""
    import keras

    from training.models import FEATURES_INPUT
    from training.motion_train import mirror_matrix, motion_inputs

    first = models[0]
    window, size = int(first.inputs[0].shape[1]), int(first.inputs[0].shape[2])
    units = first.get_layer("lstm_rnn").units
    dense = first.get_layer("dense_0").units
    x_in = keras.Input((window, size), name=FEATURES_INPUT)
    windows = [("", x_in)]
    if mirror:
        flip = keras.layers.Dense(size, use_bias=False, trainable=False, name="mirror")
        windows.append(("mirrored_", flip(x_in)))
        flip.set_weights([mirror_matrix(size)])
    views: dict[str, list] = {}  # a HEAD_INPUTS kind -> the views of each window
    logits = []
    for k, member in enumerate(models):
        kind = member_inputs(member)
        if kind not in views:
            names = f"{kind}_" if views else ""  # the first kind keeps the plain layer names
            positions, directions = HEAD_INPUTS[kind]
            views[kind] = [
                motion_inputs(x, size, prefix=names + prefix, directions=directions, positions=positions)
                for prefix, x in windows
            ]
        lstm = keras.layers.LSTM(units, name=f"lstm_rnn_{k}")
        hidden = keras.layers.Dense(dense, activation="relu", name=f"dense_0_{k}")
        to_logits = keras.layers.Dense(len(LABELS), name=f"logits_{k}")
        logits.extend(to_logits(hidden(lstm(x))) for x in views[kind])
    mean = keras.layers.Average(name="mean_logits")(logits) if len(logits) > 1 else logits[0]
    probs = keras.layers.Activation("softmax", name="probs")(mean)
    out = keras.Model(x_in, probs, name=f"head_pose_lstm_x{len(models)}")
    for k, m in enumerate(models):
        out.get_layer(f"lstm_rnn_{k}").set_weights(m.get_layer("lstm_rnn").get_weights())
        out.get_layer(f"dense_0_{k}").set_weights(m.get_layer("dense_0").get_weights())
        out.get_layer(f"logits_{k}").set_weights(m.get_layer("probs").get_weights())
    return out


# ---------------------------------------------------------------------------------------------- figures


def real_figures(predict_fn, subjects: tuple[int, ...]) -> dict[str, Any]:
    """UTKinect and MSR clip accuracy per class, the combined accuracy over both sets' clips, SitDown/StandUp."""
    res = evaluate_on_real(predict_fn, ("utkinect", "msr"), subjects, LABELS)
    clips = sum(sum(r.clip_counts.values()) for r in res.values())
    right = sum(r.clip_accuracy * sum(r.clip_counts.values()) for r in res.values())
    return {
        "subjects": list(subjects),
        "overall_clip_accuracy": right / max(clips, 1),
        "sit_stand_accuracy": res["utkinect"].sit_stand_accuracy,
        **{name: r.to_dict() for name, r in res.items()},
    }


def short(fig: dict) -> dict:
    """The headline numbers of real_figures."""
    return {
        "overall": round(fig["overall_clip_accuracy"], 4),
        "utkinect": round(fig["utkinect"]["clip_accuracy"], 4),
        "msr": round(fig["msr"]["clip_accuracy"], 4),
        "sit_stand": None if fig["sit_stand_accuracy"] is None else round(fig["sit_stand_accuracy"], 4),
    }


def synthetic_accuracy(predict_fn, per_class: int, seed: int) -> dict[str, Any]:
    """Accuracy on fresh synthetic clips (a data seed the training mix never used)."""
    x, y = synthetic_windows(per_class, seed, SHORT_PROB)
    pred = np.asarray(predict_fn(x)).argmax(axis=1)
    per = {lab: float(np.mean(pred[y == k] == k)) for k, lab in enumerate(LABELS)}
    return {"accuracy": float(np.mean(pred == y)), "per_class": per, "clips": int(len(y))}


def no_target_windows(bundle_dir: Path = POSE_BUNDLE, classes: tuple[str, ...] = NO_TARGET_CLASSES) -> dict:
    """{clip path: (N, 40, 43) windows, one per feature step} of the real no-target clips, through the bundle's
    own extractor exactly as the live engine computes them."""
    from streaming.bundle import load_bundle
    from streaming.clip_features import extract_clip
    from streaming.extractor import open_extractor

    extractor = open_extractor(load_bundle(bundle_dir), device="cpu")
    out = {}
    for cls in classes:
        for path in sorted((UCF_ROOT / cls).glob("*.avi")):
            feats = extract_clip(path, extractor, Sampling("stride", FEATURE_RATE_HZ, WINDOW_STEPS)).feats
            out[str(path.relative_to(UCF_ROOT))] = cut_windows(feats, WINDOW_STEPS, hop=1)
    return out


def false_alarms(predict_fn, windows: dict[str, np.ndarray], threshold: float) -> dict[str, Any]:
    """Share of windows labelled with a target action (anything but Idle) at or above `threshold`."""
    idle = LABELS.index("Idle")
    per_clip, total, alarms = {}, 0, 0
    labels_seen: dict[str, int] = {}
    for name, w in windows.items():
        p = np.asarray(predict_fn(w), np.float64)  # compared in float64, as the engine compares its score
        top, conf = p.argmax(axis=1), p.max(axis=1)
        hit = (top != idle) & (conf >= threshold)
        per_clip[name] = {"windows": len(w), "false_alarms": int(hit.sum())}
        for k in top[hit]:
            labels_seen[LABELS[k]] = labels_seen.get(LABELS[k], 0) + 1
        total += len(w)
        alarms += int(hit.sum())
    return {
        "threshold": threshold,
        "windows": total,
        "false_alarms": alarms,
        "rate": alarms / max(total, 1),
        "labels": labels_seen,
        "per_clip": per_clip,
    }


def skeleton_no_target_windows(
    subjects: tuple[int, ...], root: Path | None = None, hop: int = 10
) -> dict[str, np.ndarray]:
    """{"set/class": (N, 40, 43) windows} of real people doing none of the 17 actions: the unmapped classes of the
    validation-only skeleton sets (NO_TARGET_SKELETON_SETS) for these subjects, cut like their labelled windows
    (training.skeletons.validation_windows). Subjects 1-5 choose the open-set threshold, 6-10 measure it."""
    from training.skeletons import DEFAULT_ROOT

    out: dict[str, list[np.ndarray]] = {}
    for name in NO_TARGET_SKELETON_SETS:
        for clip in load_set(name, root or DEFAULT_ROOT):
            if clip.label is not None or clip.subject not in subjects or (name, clip.raw_class) in NOT_NO_TARGET:
                continue
            out.setdefault(f"{name}/{clip.raw_class}", []).append(cut_windows(clip.features(), WINDOW_STEPS, hop))
    return {k: np.concatenate(v).astype(np.float32) for k, v in out.items()}


def lowest_threshold(
    probs: np.ndarray, max_rate: float = MAX_FALSE_ALARM_RATE, idle: int | None = None, step: float = 0.01
) -> float | None:
    """The open-set rule: the lowest threshold (a multiple of `step`) at which at most `max_rate` of these
    no-target windows' probabilities (N, labels) would be shown with a target action, i.e. a top class other
    than Idle (`idle`; None: every class is a target) scoring at or above it. 0.0 where the rate holds with no
    threshold at all; None where no threshold below 1 meets it (the windows are too confidently wrong)."""
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or len(probs) == 0:
        raise ValueError("lowest_threshold needs at least one window of probabilities (N, labels)")
    if not 0.0 <= max_rate < 1.0:
        raise ValueError(f"max_rate must be in [0, 1), got {max_rate}")
    top, conf = probs.argmax(axis=1), probs.max(axis=1)
    alarms = np.sort(conf[top != idle] if idle is not None else conf)[::-1]  # an alarm's confidence, highest first
    allowed = int(np.floor(max_rate * len(probs) + 1e-9))
    if len(alarms) <= allowed:
        return 0.0
    # the threshold must lie above the (allowed + 1)-th most confident alarm: the next multiple of `step`
    n_steps = int(np.floor(alarms[allowed] / step + 1e-9)) + 1
    threshold = round(n_steps * step, 6)
    while threshold > step and np.sum(alarms >= round(threshold - step, 6)) <= allowed:  # float edge of the grid
        threshold = round(threshold - step, 6)
    return threshold if threshold < 1.0 else None


def _correct_confidences(predict_fn, subjects: tuple[int, ...]) -> tuple[np.ndarray, int]:
    """Top probabilities of the correctly labelled real target windows (UTKinect and MSR) of these subjects, and
    how many target windows there are in all."""
    from training.skeletons import validation_windows

    confs, total = [], 0
    for name in ("utkinect", "msr"):
        x, y, _ = validation_windows(name, subjects)
        p = np.asarray(predict_fn(x))
        right = np.array([LABELS[k] for k in p.argmax(axis=1)]) == y
        confs.append(p.max(axis=1)[right])
        total += len(y)
    return np.concatenate(confs), total


def targets_kept(predict_fn, subjects: tuple[int, ...], threshold: float) -> dict[str, Any]:
    """What the threshold costs on the real target windows and clips (UTKinect and MSR) of these subjects: of the
    correctly labelled ones, the share still shown with their label; and of all of them, the share shown right."""
    from training.skeletons import validation_windows

    win_right = win_kept = win_all = clip_right = clip_kept = clip_all = 0
    for name in ("utkinect", "msr"):
        x, y, ids = validation_windows(name, subjects)
        p = np.asarray(predict_fn(x), np.float64)
        right = np.array([LABELS[k] for k in p.argmax(axis=1)]) == y
        win_right += int(right.sum())
        win_kept += int((right & (p.max(axis=1) >= threshold)).sum())
        win_all += len(y)
        for c in dict.fromkeys(ids):  # a clip's prediction: its windows' mean probabilities (training.real_eval)
            cp = p[ids == c].mean(axis=0)
            ok = LABELS[int(cp.argmax())] == y[ids == c][0]
            clip_right += int(ok)
            clip_kept += int(ok and cp.max() >= threshold)
            clip_all += 1
    return {
        "subjects": list(subjects),
        "threshold": threshold,
        "correct_windows_kept": round(win_kept / max(win_right, 1), 4),
        "windows_shown_right": round(win_kept / max(win_all, 1), 4),
        "windows": win_all,
        "correct_clips_kept": round(clip_kept / max(clip_right, 1), 4),
        "clips_shown_right": round(clip_kept / max(clip_all, 1), 4),
        "clips": clip_all,
    }


def choose_open_set(predict_fn, thresholds=(0.5, 0.6, 0.7, 0.8, 0.9, 0.95)) -> dict[str, Any]:
    """The open-set threshold from development data only (OPEN_SET_RULE): the no-target windows of subjects 1-5
    and, beside it, the share of their correctly labelled target windows still shown."""
    windows = skeleton_no_target_windows(DEVELOPMENT_SUBJECTS)
    probs = np.concatenate([np.asarray(predict_fn(w)) for w in windows.values()])
    threshold = lowest_threshold(probs, MAX_FALSE_ALARM_RATE, LABELS.index("Idle"))
    if threshold is None:
        raise ValueError(f"no threshold below 1 keeps development false alarms at {MAX_FALSE_ALARM_RATE:.0%} or less")
    confs, _ = _correct_confidences(predict_fn, DEVELOPMENT_SUBJECTS)
    return {
        "threshold": threshold,
        "rule": OPEN_SET_RULE,
        "max_false_alarm_rate": MAX_FALSE_ALARM_RATE,
        "idle_is_a_false_alarm": False,
        "no_target_data": NO_TARGET_DATA,
        "development_no_target": false_alarms(predict_fn, windows, threshold),
        "development_no_target_without_threshold": false_alarms(predict_fn, windows, 0.0),
        "correct_dev_windows_kept": round(float(np.mean(confs >= threshold)), 4),
        "tradeoff": [
            {
                "threshold": t,
                "dev_no_target_false_alarm_rate": round(false_alarms(predict_fn, windows, t)["rate"], 4),
                "correct_dev_windows_kept": round(float(np.mean(confs >= t)), 4),
            }
            for t in sorted({*thresholds, threshold})
        ],
    }


def held_out_open_set(predict_fn, threshold: float) -> dict[str, Any]:
    """The final open-set figures on subjects 6-10: false alarms on their no-target windows, and the correct
    target windows and clips still shown at `threshold`."""
    windows = skeleton_no_target_windows(HELD_OUT_SUBJECTS)
    return {
        "no_target": false_alarms(predict_fn, windows, threshold),
        "no_target_without_threshold": false_alarms(predict_fn, windows, 0.0),
        "targets_kept": targets_kept(predict_fn, HELD_OUT_SUBJECTS, threshold),
    }


def open_set_report(predict_fn, pose_bundle: Path = POSE_BUNDLE) -> dict[str, Any]:
    """report.json's open-set part: the threshold OPEN_SET_RULE chooses on development data, then its false alarms
    on the ucf101-mini no-target clips through the pose pipeline (a final figure, never used to choose)."""
    chosen = choose_open_set(predict_fn)
    windows = no_target_windows(pose_bundle)
    return {
        "open_set_threshold": chosen["threshold"],
        "open_set": chosen,
        "false_alarms": false_alarms(predict_fn, windows, chosen["threshold"]),
        "false_alarms_without_threshold": false_alarms(predict_fn, windows, 0.0),
        "open_set_history": list(OPEN_SET_HISTORY),
    }


# ---------------------------------------------------------------------------------------------- the recipe


def _confusion_matrix(fig: dict) -> tuple[np.ndarray, list[str]]:
    """Rows: the real sets' classes; columns: the same classes plus any other label predicted."""
    rows = [c for c in LABELS if any(c in fig[s]["classes"] for s in ("utkinect", "msr"))]
    preds = {p for s in ("utkinect", "msr") for c in fig[s]["confusion"].values() for p in c}
    cols = rows + [c for c in LABELS if c in preds and c not in rows]
    cm = np.zeros((len(cols), len(cols)), np.int64)
    for s in ("utkinect", "msr"):
        for t, row in fig[s]["confusion"].items():
            for p, n in row.items():
                cm[cols.index(t), cols.index(p)] += n
    return cm, cols


def make_people_model(
    out: Path,
    recipe: Recipe = Recipe(),
    held_out: bool = False,
    cache_dir: Path | None = REPO / "data" / "people",
    pose_bundle: Path = POSE_BUNDLE,
    real: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the whole recipe and write the bundle at `out` (head.onnx, labels, report.json, confusion.png).

    `real` False skips every real-data figure (tests: tiny settings, no data sets needed beyond lzq and mocap).
    """
    from export.extractor_export import copy_extractor
    from export.head_export import export_head

    def say(msg: str) -> None:
        if progress:
            print(msg, flush=True)

    started = time.perf_counter()
    data = build_training_data(recipe, cache_dir, recipe.first_fill())
    mixes = {recipe.first_fill(): data}
    say(f"training windows: {len(data.y)} ({json.dumps({k: sum(v.values()) for k, v in data.counts.items()})})")
    models, seeds = [], []
    for head_name, seed in recipe.members():
        inputs, fill = head_kind(head_name)
        kept = seed_path(cache_dir, recipe, seed, head_name) if cache_dir is not None else None
        if kept is not None and kept.is_file():  # same recipe, same data: reuse the trained seed
            model, info = load_seed(kept), {"seed": seed, "reused": kept.name}
        else:
            if fill not in mixes:
                mixes[fill] = build_training_data(recipe, cache_dir, fill)
            model, info = train_head(mixes[fill], seed, recipe, progress=False, inputs=inputs)
            if kept is not None:
                kept.parent.mkdir(parents=True, exist_ok=True)
                model.save(str(kept))
        info = {"seed": seed, "head": head_name} | info
        fn = keras_predict_fn(model)
        info["synthetic"] = synthetic_accuracy(fn, recipe.synthetic_test_per_class, 10_000 + seed)["accuracy"]
        if real:
            info["real_dev"] = short(real_figures(fn, DEVELOPMENT_SUBJECTS))
        say(f"seed {seed}: {json.dumps(info)}")
        models.append(model)
        seeds.append(info)
    chosen = best_seeds(seeds, recipe.keep)
    for k, info in enumerate(seeds):
        info["kept"] = k in chosen
    models = [models[k] for k in chosen]
    if len(chosen) < len(seeds):
        kept_names = [f"{seeds[k]['head']} {seeds[k]['seed']}" for k in chosen]
        say(f"kept seeds {kept_names} (best {recipe.keep} on the development subjects)")
    head = ensemble(models, mirror=recipe.mirror)
    head_fn = keras_predict_fn(head)
    report: dict[str, Any] = {
        "labels": list(LABELS),
        "recipe": recipe.to_dict(),
        "training_windows": data.counts,
        "seeds": seeds,
        "kept_seeds": [[seeds[k]["head"], seeds[k]["seed"]] for k in chosen],
        "synthetic": synthetic_accuracy(head_fn, recipe.synthetic_test_per_class, 10_000 + 99),
    }
    keys = ("synthetic",) + (("real_dev",) if real else ())
    report["seed_mean"] = {
        "synthetic": float(np.mean([s["synthetic"] for s in seeds])),
        **(
            {k: float(np.mean([s["real_dev"][k] for s in seeds])) for k in ("overall", "utkinect", "msr", "sit_stand")}
            if "real_dev" in keys
            else {}
        ),
    }
    if real:
        baseline = mean_pool_baseline(data.x, [LABELS[k] for k in data.y], LABELS)
        report["real_dev"] = {"ensemble": real_figures(head_fn, DEVELOPMENT_SUBJECTS)}
        report["real_dev"]["baseline"] = short(real_figures(baseline, DEVELOPMENT_SUBJECTS))
        report.update(open_set_report(head_fn, pose_bundle))
        threshold = report["open_set_threshold"]
        dev = short(report["real_dev"]["ensemble"])
        say(f"ensemble dev: {json.dumps(dev)}, baseline {report['real_dev']['baseline']}")
        say(f"threshold {threshold}: false alarms {report['false_alarms']['rate']:.3f}")
    report["seconds"] = round(time.perf_counter() - started, 1)

    description = (
        "People out of the box: MediaPipe BlazePose pose features (13 joints, 10/s) and an LSTM head over 4 s "
        f"(mean logits of {len(models)} members, kinds {' and '.join(recipe.heads)}: inputs/fill, see the recipe) "
        "for 17 everyday actions. Trained on the project's synthetic 3D "
        "motion (random bodies, views, framings, landmark noise measured on the pose pipeline), CMU motion capture "
        "retargeted to the joints (walk, jump, kick, punch, bend) and the lzq-openpose takes (stand/operate as "
        "Idle, walk, wave, squat, fall). Measured on real skeletons (UTKinect, MSR Action3D; never trained on): "
        "see report.json. Below open_set_threshold the display should say 'no clear action'."
    )
    provenance = {
        "training_data": {
            "synthetic": "training.motion (this project)",
            "cmu_mocap": {"licence": "free for all uses, with acknowledgement", "credit": CMU_CREDIT},
            "lzq_openpose": {"licence": "Apache-2.0", "credit": LZQ_CREDIT},
            "not_trained_on": "UTKinect, MSR Action3D, HDM05 (validation only)",
        },
        "credits": list(CREDITS),
        "open_set_threshold": report.get("open_set_threshold"),
        "recipe": recipe.to_dict(),
    }
    out = Path(out)
    if out.exists() and not (out / "manifest.json").is_file():
        raise FileExistsError(f"{out}: exists and is not a bundle; choose a new folder")
    # built in a temporary sibling folder that replaces `out` whole only once complete: a crash or an export
    # refusal leaves the previous bundle as it was, never a half-written one
    with atomic_dir(out, check=load_bundle) as tmp:
        copy_extractor(pose_bundle, tmp)
        sampling = Sampling("stride", FEATURE_RATE_HZ, WINDOW_STEPS)
        export_head(head, tmp, list(LABELS), sampling, description, provenance)
        bundle = load_bundle(tmp)
        if "open_set_threshold" in report:  # what the engine applies
            bundle.manifest.open_set_threshold = report["open_set_threshold"]
            write_manifest(tmp, bundle.manifest)
        notice = tmp / "NOTICE"
        credit_text = "\n\nTraining data of the head (head.onnx):\n" + "".join(f"- {c}\n" for c in CREDITS[:2])
        notice.write_text((notice.read_text() if notice.is_file() else "") + credit_text)
        report["credits"] = list(CREDITS)
        if real:
            _write_confusion(report, "real_dev", tmp)
        _write_report(tmp, report)
    if held_out:
        report = finalize_held_out(out, recipe, cache_dir, progress)
    return report


def _write_report(out: Path, report: dict) -> None:
    atomic_write_text(Path(out) / "report.json", json.dumps(report, indent=1, default=_json_default) + "\n")


def _write_confusion(report: dict, key: str, out: Path) -> None:
    from training.plots import plot_confusion

    cm, names = _confusion_matrix(report[key]["ensemble"])
    which = "held-out subjects 6-10" if key == "real_held_out" else "development subjects 1-5"
    plot_confusion(cm, names, Path(out) / "confusion.png", f"UTKinect + MSR Action3D clips, {which}")
    report["confusion"] = {"rows": names, "cols": names, "matrix": cm.tolist(), "subjects": which}


def targets(report: dict) -> dict[str, dict]:
    """The issue's targets against the held-out figures and the false-alarm rate: value, target, met."""
    final = report["real_held_out"]["ensemble"]
    rows = {
        "overall_clip_accuracy": (final["overall_clip_accuracy"], 0.80, True),
        "utkinect_clip_accuracy": (final["utkinect"]["clip_accuracy"], 0.80, True),
        "msr_clip_accuracy": (final["msr"]["clip_accuracy"], 0.80, True),
        "sit_stand_accuracy": (final["sit_stand_accuracy"], 0.90, True),
        "false_alarm_rate": (report["false_alarms"]["rate"], MAX_FALSE_ALARM_RATE, False),
    }
    held_open = report["real_held_out"].get("open_set")
    if held_open:
        rate = held_open["no_target"]["rate"]
        rows["held_out_no_target_false_alarm_rate"] = (rate, MAX_FALSE_ALARM_RATE, False)
    return {
        k: {"value": round(v, 4), "target": t, "met": bool(v >= t if higher else v <= t)}
        for k, (v, t, higher) in rows.items()
    }


def _built_bundle(out: Path) -> tuple[dict[str, Any], Any]:
    """A built bundle's report.json and its head as a PredictFn, refusing one whose labels are not the recipe's."""
    from training.real_eval import bundle_predict_fn

    report = json.loads((out / "report.json").read_text())
    fn, labels = bundle_predict_fn(out)
    if labels != list(LABELS):
        raise ValueError(f"{out}: labels {labels} are not the 17 of the recipe")
    return report, fn


def finalize_held_out(
    out: Path, recipe: Recipe = Recipe(), cache_dir: Path | None = REPO / "data" / "people", progress: bool = True
) -> dict[str, Any]:
    """The final figure, once: the exported bundle's head (and each seed's head, and the mean-pool baseline
    refitted on the same training mix) on the held-out subjects 6-10; written into the bundle's report.json
    and confusion.png."""
    out = Path(out)
    report, fn = _built_bundle(out)
    data = build_training_data(recipe, cache_dir, recipe.first_fill())
    baseline = mean_pool_baseline(data.x, [LABELS[k] for k in data.y], LABELS)
    final = real_figures(fn, HELD_OUT_SUBJECTS)
    held: dict[str, Any] = {"ensemble": final, "baseline": short(real_figures(baseline, HELD_OUT_SUBJECTS))}
    if cache_dir is not None:
        seeds = []
        for head_name, seed in recipe.members():
            path = seed_path(cache_dir, recipe, seed, head_name)
            if path.is_file():
                member = keras_predict_fn(load_seed(path))
                seeds.append({"seed": seed, "head": head_name, **short(real_figures(member, HELD_OUT_SUBJECTS))})
        held["seeds"] = seeds
        if seeds:
            keys = ("overall", "utkinect", "msr", "sit_stand")
            held["seed_mean"] = {k: float(np.mean([s[k] for s in seeds])) for k in keys}
    if "open_set_threshold" in report:
        held["open_set"] = held_out_open_set(fn, report["open_set_threshold"])
    report["real_held_out"] = held
    report["targets"] = targets(report)
    with atomic_dir(out, start_from_existing=True) as tmp:  # report and figure replaced together
        _write_confusion(report, "real_held_out", tmp)
        _write_report(tmp, report)
    if progress:
        print(f"held-out: {json.dumps(short(final))}, baseline {held['baseline']}", flush=True)
    return report


def finalize_open_set(out: Path, progress: bool = True) -> dict[str, Any]:
    """Choose the open-set threshold of the bundle at `out` again by OPEN_SET_RULE (its head untouched), measure
    it (ucf101-mini no-target clips through the bundle's own extractor; held-out subjects 6-10 where the report
    already has the held-out figures) and write it into manifest.json and report.json together."""
    out = Path(out)
    report, fn = _built_bundle(out)
    fresh = open_set_report(fn, out)
    stale = {"threshold_tradeoff", "shipped_open_set_threshold"}  # the rules before OPEN_SET_RULE
    merged: dict[str, Any] = {}
    for key, value in report.items():  # the open-set part where the threshold was, the rest in its order
        if key == "open_set_threshold":
            merged.update(fresh)
        elif key not in stale and key not in fresh:
            merged[key] = value
    report = merged | {k: v for k, v in fresh.items() if k not in merged}
    threshold = report["open_set_threshold"]
    if "real_held_out" in report:
        report["real_held_out"]["open_set"] = held_out_open_set(fn, threshold)
        report["targets"] = targets(report)
    manifest = load_bundle(out).manifest
    manifest.open_set_threshold = threshold
    if isinstance(manifest.provenance.get("head"), dict):
        manifest.provenance["head"]["open_set_threshold"] = threshold
    with atomic_dir(out, start_from_existing=True, check=load_bundle) as tmp:  # manifest and report together
        write_manifest(tmp, manifest)
        _write_report(tmp, report)
    if progress:
        held = report.get("real_held_out", {}).get("open_set")
        line = (
            f"open_set_threshold {threshold}: development no-target false alarms "
            f"{report['open_set']['development_no_target']['rate']:.3f}, correct development windows kept "
            f"{report['open_set']['correct_dev_windows_kept']:.3f}; ucf101-mini no-target false alarms "
            f"{report['false_alarms']['rate']:.3f}"
        )
        if held:
            line += f"; held-out no-target {held['no_target']['rate']:.3f}, {json.dumps(held['targets_kept'])}"
        print(line, flush=True)
    return report


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(type(o).__name__)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.people_model", description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "models" / "people")
    ap.add_argument("--seeds", type=int, default=len(Recipe.seeds))
    ap.add_argument("--keep", type=int, default=Recipe.keep, help="average the best N seeds on development data")
    ap.add_argument("--epochs", type=int, default=Recipe.epochs)
    ap.add_argument("--synthetic-per-class", type=int, default=Recipe.synthetic_per_class)
    ap.add_argument("--data-seed", type=int, default=Recipe.data_seed, help="the mix's random draw (Recipe.data_seed)")
    ap.add_argument("--mirror", action="store_true", help="also average each window's mirror image (Recipe.mirror)")
    ap.add_argument(
        "--heads",
        default=",".join(Recipe.heads),
        help="the kinds of member, comma-separated inputs/fill (Recipe.heads), each trained once per seed",
    )
    ap.add_argument("--held-out", action="store_true", help="also the final figure on subjects 6-10")
    ap.add_argument("--held-out-only", action="store_true", help="only the final figure, for the bundle at --out")
    ap.add_argument(
        "--choose-threshold",
        action="store_true",
        help="only choose and measure the open-set threshold of the bundle at --out (its head untouched)",
    )
    args = ap.parse_args(argv)
    try:
        recipe = Recipe(
            seeds=tuple(range(args.seeds)),
            keep=args.keep,
            epochs=args.epochs,
            synthetic_per_class=args.synthetic_per_class,
            mirror=args.mirror,
            data_seed=args.data_seed,
            heads=tuple(k.strip() for k in args.heads.split(",") if k.strip()),
        )
    except ValueError as exc:
        ap.error(str(exc))
    if args.choose_threshold:
        finalize_open_set(args.out)
    elif args.held_out_only:
        finalize_held_out(args.out, recipe)
    else:
        make_people_model(args.out, recipe, held_out=args.held_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
