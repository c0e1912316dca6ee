"""Procedural stick-figure action clips: a data set made offline in which temporal order matters.

Two pairs of actions are exact time-reversals of each other (SitDown/StandUp, RaiseArms/LowerArms): a clip of
one is a clip of the other played backwards, frame for frame, so a model that pools over time sees the same
frames in both and cannot separate them, while a model that reads order can. The other actions differ in pose.

A reversible action repeats its motion only in its own direction: hold, move (0.7-1.4 s), hold, then a cut
back to the start pose. Every 4 s window therefore holds a motion in the clip's direction, and none looks like
its reverse.

    frames, fps = render_clip("SitDown", seed=3)           # T x 240 x 320 x 3 uint8 BGR, 25.0
    write_dataset(Path("data/synth"), clips_per_class=10)  # UCF101 layout plus official-format split files
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from streaming.atomic import atomic_file, atomic_write_bytes
from streaming.errors import ActionstreamError
from streaming.progress import progress_bar

ACTIONS: tuple[str, ...] = ("SitDown", "StandUp", "RaiseArms", "LowerArms", "Wave", "Jump", "Squat", "JumpingJack")
#: (forward, backward): render_clip(backward, s) is render_clip(forward, s) with its frames reversed.
REVERSED_PAIRS: tuple[tuple[str, str], ...] = (("SitDown", "StandUp"), ("RaiseArms", "LowerArms"))
_FORWARD_OF = {back: fwd for fwd, back in REVERSED_PAIRS}

#: Official UCF101 splits test 7 of 25 groups each (split n: groups 7n-6 .. 7n); synthetic sets keep that share.
_TEST_GROUP_SHARE = 7 / 25
#: Camera shake and noise crops move inside a background this many pixels larger on every side.
_PAD_PX = 8
#: Highest a figure may reach above the ground, in standing heights (arms up during a jump); sizes the layout.
_MAX_LIFT = 0.2

_FOURCC_BY_SUFFIX = {".avi": "XVID", ".mkv": "XVID", ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v"}


@dataclass(frozen=True)
class SynthConfig:
    """Frame size, frame rate and clip length range of rendered clips."""

    width: int = 320
    height: int = 240
    fps: float = 25.0
    min_seconds: float = 2.0
    max_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.width < 32 or self.height < 32:
            raise ValueError(f"frame size must be at least 32x32, got {self.width}x{self.height}")
        if not (math.isfinite(self.fps) and 1.0 <= self.fps <= 240.0):
            raise ValueError(f"fps must be between 1 and 240, got {self.fps}")
        if not (0.0 < self.min_seconds <= self.max_seconds and math.isfinite(self.max_seconds)):
            raise ValueError(f"need 0 < min_seconds <= max_seconds, got {self.min_seconds}, {self.max_seconds}")


# ---------------------------------------------------------------------------------------------------- poses
# A pose is 11 numbers. Angles in radians, 0 = pointing straight down, +pi/2 = pointing right in the image;
# torso lean > 0 leans right. Limb angles are absolute (not relative to the parent limb). "l" = the limb drawn on
# the image's left when not mirrored. LIFT raises the body off the ground, DX shifts it sideways; SW and HW are
# half the shoulder and hip widths (0 in side view). Lengths in standing heights.
LIFT, DX, TORSO, LU, LL, RU, RL, LT, LS, RT, RS, SW, HW = range(13)
_NAMES = {
    "lift": LIFT,
    "dx": DX,
    "torso": TORSO,
    "lu": LU,
    "ll": LL,
    "ru": RU,
    "rl": RL,
    "lt": LT,
    "ls": LS,
    "rt": RT,
    "rs": RS,
    "sw": SW,
    "hw": HW,
}
_ANGLES = [TORSO, LU, LL, RU, RL, LT, LS, RT, RS]


def _pose(base: np.ndarray | None = None, **channels: float) -> np.ndarray:
    p = np.zeros(len(_NAMES)) if base is None else base.copy()
    for name, value in channels.items():
        p[_NAMES[name]] = value
    return p


# front view
_STAND = _pose(lu=-0.12, ll=-0.06, ru=0.12, rl=0.06, lt=-0.04, ls=-0.02, rt=0.04, rs=0.02, sw=0.075, hw=0.04)
_ARMS_UP = _pose(_STAND, lu=-2.8, ll=-2.9, ru=2.8, rl=2.9)
_WAVE_ARM = _pose(_STAND, ru=2.3, rl=math.pi)
_JJ_OPEN = _pose(_STAND, lu=-2.7, ll=-2.85, ru=2.7, rl=2.85, lt=-0.38, ls=-0.36, rt=0.38, rs=0.36)
_CROUCH = _pose(_STAND, lu=-0.45, ll=-0.35, ru=0.45, rl=0.35, lt=-0.85, ls=0.45, rt=0.85, rs=-0.45)
_EXTEND = _pose(_STAND, lu=-1.5, ll=-1.6, ru=1.5, rl=1.6, lt=-0.05, ls=-0.03, rt=0.05, rs=0.03)
_APEX = _pose(_STAND, lu=-2.7, ll=-2.8, ru=2.7, rl=2.8, lt=-0.15, ls=-0.05, rt=0.15, rs=0.05)
# side view, facing right
_SIDE_STAND = _pose(torso=0.02, lu=0.08, ll=0.15, ru=-0.04, rl=0.05, lt=0.04, ls=-0.02, rt=-0.06, rs=0.0)
_SIT = _pose(torso=0.1, lu=0.3, ll=1.25, ru=0.2, rl=1.1, lt=1.45, ls=0.02, rt=1.55, rs=-0.04)
_SQUAT = _pose(torso=0.6, lu=1.5, ll=1.55, ru=1.45, rl=1.5, lt=1.3, ls=-0.5, rt=1.38, rs=-0.45)


def _jitter(pose: np.ndarray, rng: np.random.Generator, sd: float = 0.05) -> np.ndarray:
    p = pose.copy()
    p[_ANGLES] += rng.normal(0.0, sd, len(_ANGLES))
    return p


# ---------------------------------------------------------------------------------------------------- motion
# Keyframes: times (K), poses (K x 13) and the easing of the segment that ends at each key. Two keys at the
# same time make a cut.
_EASE_IO, _EASE_OUT, _EASE_IN, _EASE_LIN = 0, 1, 2, 3


class _Keys:
    def __init__(self) -> None:
        self.t: list[float] = []
        self.p: list[np.ndarray] = []
        self.ease: list[int] = []

    def add(self, t: float, pose: np.ndarray, ease: int = _EASE_IO) -> float:
        self.t.append(t)
        self.p.append(pose)
        self.ease.append(ease)
        return t

    def evaluate(self, times: np.ndarray) -> np.ndarray:
        kt = np.asarray(self.t)
        kp = np.stack(self.p)
        ke = np.asarray(self.ease)
        k = np.clip(np.searchsorted(kt, times, side="right"), 1, len(kt) - 1)
        t0, t1 = kt[k - 1], kt[k]
        u = np.clip((times - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)
        e = ke[k]
        w = np.where(
            e == _EASE_IO,
            0.5 - 0.5 * np.cos(np.pi * u),
            np.where(
                e == _EASE_OUT, np.sin(0.5 * np.pi * u), np.where(e == _EASE_IN, 1.0 - np.cos(0.5 * np.pi * u), u)
            ),
        )
        return kp[k - 1] + (kp[k] - kp[k - 1]) * w[:, None]


def _reversible(
    rng: np.random.Generator, start: np.ndarray, end: np.ndarray, speed: float, total_s: float
) -> tuple[_Keys, float]:
    """Hold, move start->end, hold, cut back; repeated. Cycle + move <= 4 s, so any 4 s window shows motion."""
    keys = _Keys()
    t, first_hold = 0.0, None
    while t < total_s:
        h1 = float(np.clip(rng.uniform(0.2, 0.6) / speed, 0.15, 0.6))
        move = float(np.clip(rng.uniform(0.8, 1.4) / speed, 0.7, 1.4))
        h2 = float(np.clip(rng.uniform(0.2, 0.6) / speed, 0.15, 0.6))
        a, b = _jitter(start, rng), _jitter(end, rng)
        keys.add(t, a)
        keys.add(t + h1, a)
        keys.add(t + h1 + move, b)
        t = keys.add(t + h1 + move + h2, b)
        first_hold = h1 if first_hold is None else first_hold
    keys.add(t, _jitter(start, rng))  # the cut that ends the last cycle
    keys.add(t + 1.0, keys.p[-1])
    return keys, rng.uniform(0.0, 0.9 * first_hold)


def _alternate(
    rng: np.random.Generator,
    poses: list[np.ndarray],
    half: tuple[float, float],
    hold: tuple[float, float],
    speed: float,
    total_s: float,
    sd: float = 0.05,
) -> tuple[_Keys, float]:
    """Swing back and forth through `poses` (a periodic action); starts at a random phase."""
    keys = _Keys()
    t, i, first_cycle = 0.0, 0, None
    while t < total_s + 2.0:
        pose = _jitter(poses[i % len(poses)], rng, sd)
        keys.add(t, pose)
        h = rng.uniform(*hold) / speed
        if h > 0.02:
            t = keys.add(t + h, pose)
        t += rng.uniform(*half) / speed
        i += 1
        if i == len(poses):
            first_cycle = t
    return keys, rng.uniform(0.0, first_cycle)


def _wave(rng: np.random.Generator, speed: float, total_s: float) -> tuple[_Keys, float]:
    amp = rng.uniform(0.35, 0.55)
    left = _pose(_WAVE_ARM, rl=math.pi - amp, ru=2.3 - 0.1 * amp)
    right = _pose(_WAVE_ARM, rl=math.pi + amp, ru=2.3 + 0.1 * amp)
    return _alternate(rng, [left, right], (0.22, 0.4), (0.0, 0.0), speed, total_s, sd=0.04)


def _jump(rng: np.random.Generator, speed: float, total_s: float) -> tuple[_Keys, float]:
    keys = _Keys()
    t, first_cycle = 0.0, None
    while t < total_s + 2.0:
        lift = rng.uniform(0.1, _MAX_LIFT)
        stand, crouch = _jitter(_STAND, rng), _jitter(_CROUCH, rng)
        keys.add(t, stand)
        t = keys.add(t + rng.uniform(0.25, 0.4) / speed, crouch)
        t = keys.add(t + 0.12 / speed, _jitter(_EXTEND, rng), _EASE_IN)
        t = keys.add(t + 0.2, _pose(_jitter(_APEX, rng), lift=lift), _EASE_OUT)  # flight time is physics
        t = keys.add(t + 0.2, _jitter(_EXTEND, rng), _EASE_IN)
        t = keys.add(t + 0.15 / speed, _jitter(_CROUCH, rng), _EASE_OUT)
        t = keys.add(t + rng.uniform(0.25, 0.4) / speed, stand)
        t += rng.uniform(0.0, 0.3) / speed
        first_cycle = t if first_cycle is None else first_cycle
    keys.add(t, keys.p[-1])
    return keys, rng.uniform(0.0, first_cycle)


def _motion(action: str, rng: np.random.Generator, total_s: float) -> tuple[_Keys, float]:
    """Keyframes of a forward action over at least `total_s` seconds, and where in them the clip starts."""
    speed = rng.uniform(0.8, 1.25)
    if action == "SitDown":
        return _reversible(rng, _SIDE_STAND, _SIT, speed, total_s)
    if action == "RaiseArms":
        return _reversible(rng, _STAND, _ARMS_UP, speed, total_s)
    if action == "Wave":
        return _wave(rng, speed, total_s)
    if action == "Jump":
        return _jump(rng, speed, total_s)
    if action == "Squat":
        return _alternate(rng, [_SIDE_STAND, _SQUAT], (0.55, 0.9), (0.0, 0.2), speed, total_s)
    if action == "JumpingJack":
        return _alternate(rng, [_STAND, _JJ_OPEN], (0.35, 0.55), (0.0, 0.05), speed, total_s)
    raise AssertionError(f"no motion for {action}")


# ---------------------------------------------------------------------------------------------------- look
# An actor (_Body) in a place (_Scene) is what a UCF101 group shares. The body is drawn from the look's random
# stream first, so the figure's joints can be computed without making any pixels (joint_tracks).
@dataclass(frozen=True)
class _Body:
    """Limb lengths in standing heights, and size and line width as fractions of the frame height."""

    head: float
    torso: float
    upper: float
    fore: float
    thigh: float
    shin: float
    build: float  # shoulder and hip width factor
    height_frac: float
    line_frac: float


@dataclass(frozen=True)
class _Scene:
    colors: tuple[tuple[int, int, int], ...]  # head, torso+arms, legs
    head_filled: bool
    background: np.ndarray  # (H + 2 pad) x (W + 2 pad) x 3 uint8
    floor: tuple[int, int, int]
    floor_alpha: float
    noise_sigma: float
    shake_px: float


def _luma(bgr) -> float:
    b, g, r = (float(c) for c in bgr)
    return 0.114 * b + 0.587 * g + 0.299 * r


def _random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    hsv = np.array([[[rng.integers(0, 180), rng.integers(0, 256), rng.integers(40, 256)]]], np.uint8)
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def _contrasting_color(rng: np.random.Generator, background_luma: float) -> tuple[int, int, int]:
    for _ in range(30):
        c = _random_color(rng)
        if abs(_luma(c) - background_luma) >= 70:
            return c
    return (0, 0, 0) if background_luma > 128 else (255, 255, 255)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A textured backdrop: gradients, stripes, blotches, checks, a few panels, fine grain."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    layers = []
    for kind in rng.choice(["gradient", "stripes", "blotches", "checks"], size=rng.integers(1, 3), replace=False):
        c0 = np.array(_random_color(rng), np.float32)
        c1 = np.array(_random_color(rng), np.float32)
        if kind == "gradient":
            a = rng.uniform(0, 2 * np.pi)
            u = xx * np.cos(a) + yy * np.sin(a)
            m = (u - u.min()) / max(float(np.ptp(u)), 1.0)
        elif kind == "stripes":
            a = rng.uniform(0, np.pi)
            u = (xx * np.cos(a) + yy * np.sin(a)) * (2 * np.pi / rng.uniform(8, 48))
            m = 0.5 + 0.5 * np.sin(u)
            if rng.random() < 0.5:
                m = (m > 0.5).astype(np.float32)
            m *= rng.uniform(0.15, 0.5)
        elif kind == "blotches":
            small = rng.random((int(rng.integers(3, 9)), int(rng.integers(3, 9)))).astype(np.float32)
            m = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
        else:
            cell = rng.uniform(10, 40)
            m = (((xx // cell) + (yy // cell)) % 2) * rng.uniform(0.1, 0.35)
        layers.append(c0 + (c1 - c0) * m[..., None])
    img = np.mean(layers, axis=0)
    for _ in range(int(rng.integers(0, 4))):  # panels: doors, windows, furniture
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(10, w // 3)), y0 + int(rng.integers(10, h // 2))
        img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * 0.4 + np.array(_random_color(rng), np.float32) * 0.6
    img += rng.normal(0.0, rng.uniform(0.0, 8.0), img.shape).astype(np.float32)
    return img.clip(0, 255).astype(np.uint8)


def _body(rng: np.random.Generator) -> _Body:
    head, torso = rng.uniform(0.055, 0.075), rng.uniform(0.28, 0.34)
    upper, fore = rng.uniform(0.13, 0.17), rng.uniform(0.12, 0.16)
    thigh, shin = rng.uniform(0.20, 0.25), rng.uniform(0.20, 0.25)
    total = thigh + shin + torso + 2.2 * head
    return _Body(
        head=head / total,
        torso=torso / total,
        upper=upper / total,
        fore=fore / total,
        thigh=thigh / total,
        shin=shin / total,
        build=rng.uniform(0.8, 1.25),
        height_frac=rng.uniform(0.42, 0.66),
        line_frac=rng.uniform(0.022, 0.045),
    )


def _scene(rng: np.random.Generator, config: SynthConfig) -> _Scene:
    bg = _background(rng, config.height + 2 * _PAD_PX, config.width + 2 * _PAD_PX)
    bg_luma = _luma(bg.reshape(-1, 3).mean(axis=0))
    body = _contrasting_color(rng, bg_luma)
    legs = body if rng.random() < 0.4 else _contrasting_color(rng, bg_luma)
    head = body if rng.random() < 0.5 else _contrasting_color(rng, bg_luma)
    return _Scene(
        colors=(head, body, legs),
        head_filled=bool(rng.random() < 0.5),
        background=bg,
        floor=_random_color(rng),
        floor_alpha=rng.uniform(0.0, 0.6),
        noise_sigma=rng.uniform(0.0, 6.0),
        shake_px=rng.uniform(0.0, 2.5),
    )


# ---------------------------------------------------------------------------------------------------- geometry
#: Joint names of joint_tracks(); _BONES joins them (third number: 0 body, 1 far limb, drawn darker).
JOINTS = (
    "hip",
    "neck",
    "head",
    "l_shoulder",
    "l_elbow",
    "l_hand",
    "r_shoulder",
    "r_elbow",
    "r_hand",
    "l_hip",
    "l_knee",
    "l_foot",
    "r_hip",
    "r_knee",
    "r_foot",
)
_J = {name: j for j, name in enumerate(JOINTS)}
_BONES = [
    (_J[a], _J[b], far)
    for a, b, far in [
        ("l_hip", "l_knee", 1),
        ("l_knee", "l_foot", 1),
        ("r_hip", "r_knee", 0),
        ("r_knee", "r_foot", 0),
        ("l_hip", "r_hip", 0),
        ("hip", "neck", 0),
        ("l_shoulder", "r_shoulder", 0),
        ("l_shoulder", "l_elbow", 1),
        ("l_elbow", "l_hand", 1),
        ("r_shoulder", "r_elbow", 0),
        ("r_elbow", "r_hand", 0),
    ]
]
_LEG_BONES = 4  # the first four bones are legs (drawn in the legs' colour)


def _unit(a: np.ndarray) -> np.ndarray:
    return np.stack([np.sin(a), np.cos(a)], axis=-1)


def _skeleton(poses: np.ndarray, body: _Body) -> np.ndarray:
    """T x 13 poses -> T x len(JOINTS) x 2 points in standing heights, ground point below the feet at (0, 0)."""
    side = np.stack([poses[:, HW] * body.build, np.zeros(len(poses))], axis=-1)
    knee_l = -side + body.thigh * _unit(poses[:, LT])
    foot_l = knee_l + body.shin * _unit(poses[:, LS])
    knee_r = side + body.thigh * _unit(poses[:, RT])
    foot_r = knee_r + body.shin * _unit(poses[:, RS])
    hip = np.stack(
        [
            -(foot_l[:, 0] + foot_r[:, 0]) / 2 + poses[:, DX],  # feet stay put; the hip moves
            -np.maximum(foot_l[:, 1], foot_r[:, 1]) - poses[:, LIFT],
        ],
        axis=-1,
    )
    up = np.stack([np.sin(poses[:, TORSO]), -np.cos(poses[:, TORSO])], axis=-1)
    across = np.stack([-up[:, 1], up[:, 0]], axis=-1) * (poses[:, SW] * body.build)[:, None]
    neck = hip + body.torso * up
    head = neck + 1.15 * body.head * up
    shoulders = hip + 0.88 * body.torso * up
    shoulder_l, shoulder_r = shoulders - across, shoulders + across
    elbow_l = shoulder_l + body.upper * _unit(poses[:, LU])
    elbow_r = shoulder_r + body.upper * _unit(poses[:, RU])
    return np.stack(
        [
            hip,
            neck,
            head,
            shoulder_l,
            elbow_l,
            elbow_l + body.fore * _unit(poses[:, LL]),
            shoulder_r,
            elbow_r,
            elbow_r + body.fore * _unit(poses[:, RL]),
            hip - side,
            hip + knee_l,
            hip + foot_l,
            hip + side,
            hip + knee_r,
            hip + foot_r,
        ],
        axis=1,
    )


@dataclass
class _Track:
    """Where the figure is in every frame of a clip, and the random streams the pixels still draw from."""

    joints_px: np.ndarray  # T x J x 2, frame coordinates before shake
    ground_px: float
    height_px: float
    body: _Body
    clip_rng: np.random.Generator
    look_rng: np.random.Generator


def _seed_of(*parts: int | str) -> np.random.SeedSequence:
    return np.random.SeedSequence([zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in parts])


def _check_seed(seed: int, what: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ActionstreamError(f"{what} must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_action(action: str) -> None:
    if action not in ACTIONS:
        raise ActionstreamError(f"unknown synthetic action {action!r}; known: {', '.join(ACTIONS)}")


def _track(action: str, seed: int, config: SynthConfig, appearance_seed: int | None) -> _Track:
    rng = np.random.default_rng(_seed_of(seed, action, 1))
    look_seed = _seed_of(seed, action, 2) if appearance_seed is None else _seed_of(appearance_seed, "look")
    look_rng = np.random.default_rng(look_seed)
    body = _body(look_rng)
    h, w, fps = config.height, config.width, config.fps
    n = max(1, int(round(rng.uniform(config.min_seconds, config.max_seconds) * fps)))
    keys, start = _motion(action, rng, n / fps + 1.0)
    poses = keys.evaluate(start + np.arange(n) / fps)
    mirror = rng.random() < 0.5
    # layout: the tallest reach (arms up at the top of a jump) fits above the ground line
    reach = body.thigh + body.shin + body.torso + body.upper + body.fore + _MAX_LIFT
    height_px = min(body.height_frac * h * rng.uniform(0.9, 1.1), (h - 8) / reach)
    ground = rng.uniform(min(reach * height_px + 4, h - 4), h - 4)
    margin = 0.45 * height_px + 4
    anchor = rng.uniform(margin, max(margin, w - margin))
    skeleton = _skeleton(poses, body)
    if mirror:  # the figure faces (and waves) the other way
        skeleton[..., 0] *= -1.0
    return _Track(
        joints_px=skeleton * height_px + np.array([anchor, ground]),
        ground_px=ground,
        height_px=height_px,
        body=body,
        clip_rng=rng,
        look_rng=look_rng,
    )


def _draw(track: _Track, config: SynthConfig) -> np.ndarray:
    """The clip's frames: background with floor, figure, camera shake, sensor noise."""
    scene = _scene(track.look_rng, config)
    rng, h, w, fps = track.clip_rng, config.height, config.width, config.fps
    n = len(track.joints_px)
    bg = scene.background.copy()
    floor_row = int(track.ground_px) + _PAD_PX + 2
    if floor_row < bg.shape[0] and scene.floor_alpha > 0:
        part = bg[floor_row:].astype(np.float32)
        bg[floor_row:] = part * (1 - scene.floor_alpha) + np.array(scene.floor, np.float32) * scene.floor_alpha
    # camera shake: two slow sinusoids per axis, whole pixels
    t = np.arange(n) / fps
    shake = np.zeros((n, 2))
    amp = scene.shake_px * rng.uniform(0.5, 1.0)
    for axis in range(2):
        for _ in range(2):
            shake[:, axis] += amp / 2 * np.sin(2 * np.pi * rng.uniform(0.3, 2.0) * t + rng.uniform(0, 2 * np.pi))
    shake = np.clip(np.round(shake), -_PAD_PX, _PAD_PX).astype(np.int64)
    # sensor noise: a small bank of noise images, cropped at a random offset each frame
    sigma = scene.noise_sigma * rng.uniform(0.6, 1.4)
    bank = []
    if sigma >= 0.5:
        for _ in range(3):
            z = rng.normal(0.0, sigma, bg.shape).astype(np.float32)
            bank.append((np.clip(z, 0, 255).astype(np.uint8), np.clip(-z, 0, 255).astype(np.uint8)))
    pick = np.stack(
        [rng.integers(0, 3, n), rng.integers(0, 2 * _PAD_PX + 1, n), rng.integers(0, 2 * _PAD_PX + 1, n)], axis=1
    ).tolist()
    line_px = max(2, int(round(track.body.line_frac * track.height_px)))
    shade = 0.75  # limbs on the far side ("l") drawn darker
    bone_colors = []
    for k, (_, _, far) in enumerate(_BONES):
        c = scene.colors[2] if k < _LEG_BONES else scene.colors[1]
        bone_colors.append(tuple(int(x * (shade if far else 1.0)) for x in c))
    head_color = tuple(int(x) for x in scene.colors[0])
    one = 1 << _SUBPIXEL_BITS
    head_r = int(round(track.body.head * track.height_px * one))
    head_thick = -1 if scene.head_filled else line_px
    head = _J["head"]
    pts = np.round(track.joints_px * one).astype(np.int64)
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        dy, dx = int(shake[i, 0]), int(shake[i, 1])
        frame = frames[i]
        np.copyto(frame, bg[_PAD_PX + dy : _PAD_PX + dy + h, _PAD_PX + dx : _PAD_PX + dx + w])
        p = (pts[i] - np.array([dx * one, dy * one])).tolist()
        for (a, b, _), color in zip(_BONES, bone_colors):
            cv2.line(frame, p[a], p[b], color, line_px, cv2.LINE_AA, _SUBPIXEL_BITS)
        cv2.circle(frame, p[head], head_r, head_color, head_thick, cv2.LINE_AA, _SUBPIXEL_BITS)
        if bank:
            k, oy, ox = pick[i]
            pos, neg = bank[k]
            cv2.add(frame, pos[oy : oy + h, ox : ox + w], dst=frame)
            cv2.subtract(frame, neg[oy : oy + h, ox : ox + w], dst=frame)
    return frames


#: Sub-pixel precision of drawn points, so slow motion moves smoothly.
_SUBPIXEL_BITS = 4


# ---------------------------------------------------------------------------------------------------- public
def render_clip(
    action: str, seed: int, config: SynthConfig = SynthConfig(), *, appearance_seed: int | None = None
) -> tuple[np.ndarray, float]:
    """One clip of `action` as (T x H x W x 3 uint8 BGR frames, fps); the same (action, seed) gives the same bytes.

    `appearance_seed` fixes the actor and the place (a UCF101 "group"); by default they follow `seed`.
    A backward action of REVERSED_PAIRS is its forward action with the same seed, played backwards.
    """
    _check_action(action)
    seed = _check_seed(seed)
    if appearance_seed is not None:
        appearance_seed = _check_seed(appearance_seed, "appearance_seed")
    forward = _FORWARD_OF.get(action, action)
    frames = _draw(_track(forward, seed, config, appearance_seed), config)
    if forward != action:
        frames = np.ascontiguousarray(frames[::-1])
    return frames, float(config.fps)


def joint_tracks(
    action: str, seed: int, config: SynthConfig = SynthConfig(), *, appearance_seed: int | None = None
) -> dict[str, np.ndarray]:
    """The figure's joints in a clip of render_clip(action, seed): {joint: T x 2 (x, y) pixels, before shake}."""
    _check_action(action)
    forward = _FORWARD_OF.get(action, action)
    joints = _track(forward, _check_seed(seed), config, appearance_seed).joints_px
    if forward != action:
        joints = joints[::-1]
    return {name: joints[:, j].copy() for j, name in enumerate(JOINTS)}


def _fourcc_for(path: Path) -> str:
    try:
        return _FOURCC_BY_SUFFIX[path.suffix.lower()]
    except KeyError:
        raise ActionstreamError(
            f"{path}: cannot write a {path.suffix or 'suffix-less'} video; "
            f"use one of {', '.join(sorted(_FOURCC_BY_SUFFIX))}"
        ) from None


class _AtomicVideoWriter:
    """cv2.VideoWriter into a temporary file beside `path`, renamed into place only when closed cleanly."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int], fourcc: str | None = None):
        self.path = Path(path)
        code = fourcc or _fourcc_for(self.path)
        self.size = size
        self._atomic = atomic_file(self.path, keep_suffix=True)
        self.tmp = self._atomic.__enter__()
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*code), float(fps), size)
        if not self.writer.isOpened():
            self.writer.release()
            error = ActionstreamError(f"{self.path}: OpenCV cannot write {code} video here; try another suffix")
            self._atomic.__exit__(ActionstreamError, error, None)  # removes the temporary file
            raise error

    def write(self, frames: Iterable[np.ndarray]) -> None:
        for frame in frames:
            if frame.dtype != np.uint8 or frame.shape != (self.size[1], self.size[0], 3):
                raise ValueError(
                    f"frames must be {self.size[1]}x{self.size[0]}x3 uint8, got {frame.shape} {frame.dtype}"
                )
            self.writer.write(frame)

    def __enter__(self) -> "_AtomicVideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.writer.release()
        self._atomic.__exit__(exc_type, exc, tb)


def write_clip(path: Path, frames: np.ndarray, fps: float, fourcc: str | None = None) -> Path:
    """Write frames (T x H x W x 3 uint8 BGR) as a video, atomically. XVID for .avi/.mkv, mp4v for .mp4/.mov."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) == 0:
        raise ValueError(f"need T x H x W x 3 frames with T > 0, got shape {frames.shape}")
    path = Path(path)
    with _AtomicVideoWriter(path, fps, (frames.shape[2], frames.shape[1]), fourcc) as writer:
        writer.write(frames)
    return path


def clip_name(action: str, group: int, clip: int, suffix: str = ".avi") -> str:
    """UCF101's file name: v_<Action>_gNN_cMM.avi."""
    return f"v_{action}_g{group:02d}_c{clip:02d}{suffix}"


def held_out_groups(groups: int, split: int) -> list[int]:
    """Groups a set with `groups` groups tests on in split 1..3 (UCF101's rule, scaled); [] if it has no such split.

    With 25 groups this is the official rule: split 1 tests groups 1-7, split 2 8-14, split 3 15-21.
    """
    per = max(1, round(groups * _TEST_GROUP_SHARE))
    if per >= groups or split * per > groups:
        return []
    return list(range((split - 1) * per + 1, split * per + 1))


def _write_text(path: Path, lines: list[str]) -> None:
    """Atomically, with CRLF endings like the real UCF101 list files."""
    atomic_write_bytes(path, "".join(line + "\r\n" for line in lines).encode())


def _clip_seed(seed: int, action: str, group: int, clip: int) -> int:
    return int(_seed_of(seed, action, group, clip, "clip").generate_state(1)[0])


def _group_seed(seed: int, group: int) -> int:
    """Shared by every class: a group's actor and place say nothing about the action."""
    return int(_seed_of(seed, group, "group").generate_state(1)[0])


def write_dataset(
    out: Path,
    seed: int = 0,
    clips_per_class: int = 10,
    groups: int = 5,
    actions: Iterable[str] = ACTIONS,
    config: SynthConfig = SynthConfig(),
    progress: bool = True,
) -> Path:
    """Write a UCF101-style tree: out/UCF-101/<Action>/v_<Action>_gNN_cMM.avi and out/ucfTrainTestlist/.

    Clip i of a class goes to group i % groups + 1; a group is one actor in one place, as in UCF101, and is the
    same for every class. Split files follow UCF101's group-wise rule (held_out_groups). Clips already written by
    an interrupted run with the same settings are kept; other settings in the same folder are refused.
    """
    out = Path(out)
    seed = _check_seed(seed)
    actions = list(actions)
    for a in actions:
        _check_action(a)
    if not actions or len(set(actions)) != len(actions):
        raise ActionstreamError(f"need a non-empty list of distinct actions, got {actions}")
    if clips_per_class < 1:
        raise ActionstreamError(f"clips per class must be at least 1, got {clips_per_class}")
    if not 2 <= groups <= clips_per_class:
        raise ActionstreamError(f"groups must be between 2 and clips per class ({clips_per_class}), got {groups}")
    settings = {
        "generator": "actionstream.training.synth",
        "version": 1,
        "seed": seed,
        "clips_per_class": clips_per_class,
        "groups": groups,
        "actions": actions,
        "config": asdict(config),
    }
    out.mkdir(parents=True, exist_ok=True)
    marker = out / "synth.json"
    if marker.exists():
        try:
            old = json.loads(marker.read_text())
        except (OSError, ValueError):
            old = None
        if old != settings:
            raise ActionstreamError(
                f"{out} already holds a synthetic set made with other settings; choose another --out or delete it"
            )
    else:
        _write_text(marker, [json.dumps(settings, indent=1)])
    video_root, lists = out / "UCF-101", out / "ucfTrainTestlist"
    lists.mkdir(exist_ok=True)
    todo = [(a, i % groups + 1, i // groups + 1) for a in actions for i in range(clips_per_class)]

    for action, g, c in progress_bar(todo, desc="synth clips", unit="clip", enabled=progress):
        path = video_root / action / clip_name(action, g, c)
        if path.exists():
            continue
        frames, fps = render_clip(action, _clip_seed(seed, action, g, c), config, appearance_seed=_group_seed(seed, g))
        write_clip(path, frames, fps)
    _write_text(lists / "classInd.txt", [f"{i} {a}" for i, a in enumerate(actions, 1)])
    ordered = sorted(todo, key=lambda x: (actions.index(x[0]), x[1], x[2]))
    for split in (1, 2, 3):
        held_out = set(held_out_groups(groups, split))
        if not held_out:
            continue
        train = [f"{a}/{clip_name(a, g, c)} {actions.index(a) + 1}" for a, g, c in ordered if g not in held_out]
        test = [f"{a}/{clip_name(a, g, c)}" for a, g, c in ordered if g in held_out]
        _write_text(lists / f"trainlist{split:02d}.txt", train)
        _write_text(lists / f"testlist{split:02d}.txt", test)
    return out


def demo_schedule(
    seconds_per_action: float = 6.0, actions: Iterable[str] = ACTIONS, fps: float = 25.0
) -> list[tuple[float, float, str]]:
    """(start_s, end_s, action) of each segment of the demo stream, in order."""
    n = max(1, int(round(seconds_per_action * fps)))
    return [(k * n / fps, (k + 1) * n / fps, a) for k, a in enumerate(actions)]


def iter_demo_segments(
    seed: int = 0,
    seconds_per_action: float = 6.0,
    config: SynthConfig = SynthConfig(),
    actions: Iterable[str] = ACTIONS,
) -> Iterator[tuple[str, np.ndarray]]:
    """(action, frames) for each segment of the demo stream: one actor in one place doing each action in turn."""
    seed = _check_seed(seed)
    if not seconds_per_action > 0:
        raise ValueError(f"seconds per action must be positive, got {seconds_per_action}")
    segment = replace(config, min_seconds=seconds_per_action, max_seconds=seconds_per_action)
    for k, action in enumerate(actions):
        frames, _ = render_clip(
            action, _clip_seed(seed, action, 0, k), segment, appearance_seed=_group_seed(seed, 10_000)
        )
        yield action, frames


def demo_stream_frames(
    seed: int = 0,
    seconds_per_action: float = 6.0,
    config: SynthConfig = SynthConfig(),
    actions: Iterable[str] = ACTIONS,
) -> tuple[np.ndarray, float]:
    """The whole demo stream in memory (8 actions x 6 s at 320x240 is 276 MB; write_demo_clip streams)."""
    frames = [f for _, f in iter_demo_segments(seed, seconds_per_action, config, actions)]
    return np.concatenate(frames), float(config.fps)


def write_demo_clip(
    path: Path,
    seed: int = 0,
    seconds_per_action: float = 6.0,
    config: SynthConfig = SynthConfig(),
    actions: Iterable[str] = ACTIONS,
) -> Path:
    """Write the demo stream (every action in turn, see demo_schedule) as one video file, atomically."""
    path = Path(path)
    with _AtomicVideoWriter(path, config.fps, (config.width, config.height)) as writer:
        for _, frames in iter_demo_segments(seed, seconds_per_action, config, actions):
            writer.write(frames)
    return path
