"""Synthetic 3D human motion: a parametric skeleton in BlazePose's landmark convention and 17 action programs.

An action program writes joint-angle trajectories (degrees; metres for the root) as functions of time, with
every choice a real person would vary drawn from the clip's generator: tempo, amplitude, repetitions, pauses,
where in the window the action starts, which side leads, standing or sitting. Forward kinematics turns them into
the 33 BlazePose landmarks in 3D (metres, y up, the person facing +z at yaw 0); camera.py projects them and
landmark_noise.py makes them look like the extractor's output. No rendering: this is fast.

    motion = simulate("Wave", np.random.default_rng(7))      # Motion: points (40, 33, 3), body, params
    simulate("StandUp", rng_a).points == simulate("SitDown", rng_b).points[::-1]   # same seed: exact reversal

Body proportions are those of the pose extractor's own convention, measured on real frames (see BODY_RATIOS).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from streaming.pose_spec import (
    FEATURE_JOINTS,
    L_ANKLE,
    L_ELBOW,
    L_HIP,
    L_KNEE,
    L_SHOULDER,
    L_WRIST,
    NOSE,
    NUM_BODY_LANDMARKS,
    R_ANKLE,
    R_ELBOW,
    R_HIP,
    R_KNEE,
    R_SHOULDER,
    R_WRIST,
)

#: The model's classes, in output order (issue 13).
LABELS: tuple[str, ...] = (
    "Idle",
    "Walk",
    "SitDown",
    "StandUp",
    "RaiseArms",
    "Wave",
    "Clap",
    "Punch",
    "Kick",
    "Jump",
    "JumpingJack",
    "Squat",
    "Lunge",
    "PushUp",
    "SitUp",
    "Bend",
    "Fall",
)
#: backward -> forward: the backward class is the forward one's clean motion played in reverse, frame for frame.
REVERSED: dict[str, str] = {"StandUp": "SitDown"}
#: Feature rate of the bundle (features per second) and the head's window: 40 steps = 4 s.
FEATURE_RATE_HZ = 10.0
WINDOW_STEPS = 40
#: Real frames come from 25-30 fps video, so a feature's time is off the 10/s grid by up to half a frame.
SAMPLE_TIME_JITTER_S = 0.012

#: Bone lengths as fractions of the torso (hip midpoint to shoulder midpoint), in the pose extractor's own
#: convention. Measured: the BlazePose landmark model (models/pose, through streaming.pose_extractor) on all 1346
#: frames of ucf101-mini (8 clips, real people); its 3D world landmarks (metres, free of foreshortening) on
#: frames where both ends had visibility > 0.5 and lay inside the frame; medians (interquartile range).
#: The 2D image landmarks agree after foreshortening (2D p90: shoulder 0.77, thigh 0.90, shin 0.90).
#: Note the convention: shoulders wider (0.72) and thighs longer (0.79) than textbook anatomy against this torso.
BODY_RATIOS: dict[str, float] = {
    "shoulder_width": 0.716,  # IQR 0.664-0.748, n=1145
    "hip_width": 0.444,  # IQR 0.388-0.468, n=864
    "upper_arm": 0.488,  # IQR 0.447-0.526, n=1783
    "forearm": 0.441,  # IQR 0.382-0.482, n=1391
    "thigh": 0.792,  # IQR 0.735-0.854, n=936
    "shin": 0.737,  # IQR 0.703-0.791, n=884
    "nose": 0.466,  # nose to shoulder midpoint, IQR 0.428-0.499, n=1307
}
#: World torso length (m), median 0.453 (IQR 0.440-0.469) on the same frames.
TORSO_M = 0.453
#: Person-to-person spread of each ratio (relative standard deviation), about half the measured IQR / 1.35:
#: part of the measured spread is the model's own per-frame error, which landmark_noise adds separately.
BODY_RATIO_SPREAD = 0.05

#: Other skeleton conventions, as the same ratios: Kinect v1's joints (UTKinect, MSR Action3D) put the hip and
#: shoulder centres close together, so against that short torso the legs, arms and head look long (and MSR's
#: hips wide). Medians of the 2D bone lengths over all frames of the development subjects 1-5 of each set
#: (near-frontal views; 2D slightly under 3D). Used only to vary the training bodies (random_body), so that
#: a head does not mistake a convention for a pose; the product's own convention stays BODY_RATIOS.
KINECT_CONVENTIONS: dict[str, dict[str, float]] = {
    "utkinect": {
        "shoulder_width": 0.867,
        "hip_width": 0.381,
        "upper_arm": 0.666,
        "forearm": 0.612,
        "thigh": 1.172,
        "shin": 0.876,
        "nose": 0.825,
    },
    "msr": {
        "shoulder_width": 1.005,
        "hip_width": 0.934,
        "upper_arm": 0.748,
        "forearm": 0.802,
        "thigh": 1.518,
        "shin": 1.077,
        "nose": 0.886,
    },
}
#: Share of training bodies moved part of the way towards another convention.
CONVENTION_PROB = 0.5

#: Joint-angle channels of the skeleton, all in degrees except root_x, root_z, lift (metres).
CHANNELS: tuple[str, ...] = (
    "yaw",  # facing direction of the whole body about the vertical
    "body_pitch",  # whole body tipped forward (+) / backward (-): lying prone at +90, supine at -90
    "body_roll",  # whole body tipped to its left (+) / right (-)
    "root_x",
    "root_z",
    "lift",  # height of the feet above the ground (jumps)
    "trunk_pitch",  # torso bent forward at the hips (+)
    "trunk_roll",  # torso leaning to its left (+)
    "trunk_twist",  # shoulders turned left (+) against the hips
    "head_pitch",  # head down (+)
    "head_yaw",  # head turned left (+)
    "l_flex",  # shoulder: arm raised forward (+), 180 = overhead
    "l_abd",  # shoulder: arm raised sideways (+), 180 = overhead
    "l_elbow",  # elbow flexion, 0 = straight
    "l_twist",  # forearm plane turned outwards (+) / inwards (-) about the upper arm
    "r_flex",
    "r_abd",
    "r_elbow",
    "r_twist",
    "l_hip_flex",  # thigh raised forward (+), backwards (-)
    "l_hip_abd",  # thigh raised sideways (+)
    "l_knee",  # knee flexion, 0 = straight
    "r_hip_flex",
    "r_hip_abd",
    "r_knee",
)
_CH = {name: i for i, name in enumerate(CHANNELS)}
#: Channels whose sign flips when the motion is mirrored left <-> right.
_MIRROR_NEGATE = ("yaw", "body_roll", "root_x", "trunk_roll", "trunk_twist", "head_yaw")


@dataclass(frozen=True)
class Body:
    """One person's segment lengths in metres (BlazePose's landmark convention)."""

    torso: float
    shoulder_width: float
    hip_width: float
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    nose: float

    @property
    def height(self) -> float:
        """Standing height, roughly: ankle height + legs + torso + nose + crown above the nose."""
        return 0.08 + self.shin + self.thigh + self.torso + self.nose + 0.12

    def to_dict(self) -> dict:
        return asdict(self)


def random_body(rng: np.random.Generator, convention_prob: float = CONVENTION_PROB) -> Body:
    """A person: torso 0.36-0.55 m (children to tall adults) and the measured ratios with person-to-person spread.

    With `convention_prob`, the ratios move part of the way (uniform) towards another skeleton convention (a
    random point between the KINECT_CONVENTIONS), the legs keeping their length in metres: a head that has seen
    only one convention reads another one's long legs and high head as a different pose.
    """
    torso = float(np.clip(TORSO_M * rng.normal(1.0, 0.08), 0.36, 0.55))
    ratio = {k: v * float(np.clip(rng.normal(1.0, BODY_RATIO_SPREAD), 0.85, 1.15)) for k, v in BODY_RATIOS.items()}
    if rng.random() < convention_prob:
        a, b = rng.random(), rng.random()
        first, second = KINECT_CONVENTIONS.values()
        other = {k: first[k] * (1 - b) + second[k] * b for k in BODY_RATIOS}
        legs = ratio["thigh"] + ratio["shin"]
        ratio = {k: v * (1 - a) + other[k] * a * (ratio[k] / BODY_RATIOS[k]) for k, v in ratio.items()}
        torso *= legs / (ratio["thigh"] + ratio["shin"])
    return Body(torso=torso, **{k: torso * v for k, v in ratio.items()})


@dataclass
class Motion:
    """A clip's clean 3D motion: landmarks (T, 33, 3) in metres, the times (s) and what was drawn for it."""

    label: str
    points: np.ndarray
    times: np.ndarray
    body: Body
    params: dict = field(default_factory=dict)


class Pose:
    """Channel trajectories over a clip's sample times, written by name: `p["l_knee"] = 90 * ramp(...)`."""

    def __init__(self, t: np.ndarray):
        self.t = t
        self.a = np.zeros((len(t), len(CHANNELS)))

    def __getitem__(self, name: str) -> np.ndarray:
        return self.a[:, _CH[name]]

    def __setitem__(self, name: str, value: np.ndarray | float) -> None:
        self.a[:, _CH[name]] = value

    def add(self, name: str, value: np.ndarray | float) -> None:
        self.a[:, _CH[name]] += value

    def arm(self, side: str, flex=None, abd=None, elbow=None, twist=None) -> None:
        for key, v in (("flex", flex), ("abd", abd), ("elbow", elbow), ("twist", twist)):
            if v is not None:
                self[f"{side}_{key}"] = v

    def leg(self, side: str, flex=None, abd=None, knee=None) -> None:
        for key, v in (("hip_flex", flex), ("hip_abd", abd), ("knee", knee)):
            if v is not None:
                self[f"{side}_{key}"] = v


# -- time shapes ------------------------------------------------------------------------------------------------


def ramp(t: np.ndarray, start: float, duration: float) -> np.ndarray:
    """0 before `start`, 1 after `start + duration`, a minimum-jerk curve between (how people move)."""
    x = np.clip((t - start) / max(duration, 1e-3), 0.0, 1.0)
    return x * x * x * (10.0 - 15.0 * x + 6.0 * x * x)


def pulse(t: np.ndarray, start: float, rise: float, hold: float, fall: float) -> np.ndarray:
    """Up over `rise`, held for `hold`, down over `fall`."""
    return ramp(t, start, rise) - ramp(t, start + rise + hold, fall)


def pulses(
    t: np.ndarray, rng: np.random.Generator, start: float, n: int, rise: float, hold: float, fall: float, gap: float
) -> tuple[np.ndarray, list[float]]:
    """`n` pulses, each timing varied by +-20 % and gaps by +-50 %; returns the sum and the pulse start times."""
    out = np.zeros_like(t)
    starts = []
    s = start
    for _ in range(n):
        r, h, f = (v * rng.uniform(0.8, 1.2) for v in (rise, hold, fall))
        out += pulse(t, s, r, h, f)
        starts.append(s)
        s += r + h + f + gap * rng.uniform(0.5, 1.5)
    return out, starts


def sway(
    t: np.ndarray, rng: np.random.Generator, amplitude: float, fmin: float = 0.08, fmax: float = 0.6
) -> np.ndarray:
    """A smooth random signal (three sinusoids) of roughly `amplitude`: postural sway, fidgeting."""
    out = np.zeros_like(t)
    for _ in range(3):
        amp, freq = rng.normal(0.0, amplitude / 1.7), rng.uniform(fmin, fmax)
        out += amp * np.sin(2 * math.pi * freq * t + rng.uniform(0, 6.3))
    return out


def oscillate(t: np.ndarray, freq: float, phase: float = 0.0) -> np.ndarray:
    return np.sin(2 * math.pi * freq * t + phase)


# -- shared postures --------------------------------------------------------------------------------------------


def _sides(rng: np.random.Generator) -> tuple[str, str]:
    """The active side and the other one."""
    return ("l", "r") if rng.random() < 0.5 else ("r", "l")


def _stand(p: Pose, rng: np.random.Generator, arms: bool = True) -> None:
    """Relaxed standing with postural sway; arms hanging (or hands on hips, in pockets, crossed)."""
    t = p.t
    stance = rng.uniform(0.0, 12.0)
    for s in "lr":
        p.leg(s, flex=rng.uniform(-3, 5) + sway(t, rng, 1.5), abd=stance / 2, knee=rng.uniform(0, 8))
    p["trunk_pitch"] = rng.uniform(-3, 6) + sway(t, rng, 1.5)
    p["trunk_roll"] = sway(t, rng, 1.5)
    p["head_pitch"] = rng.uniform(-5, 15) + sway(t, rng, 3)
    p["head_yaw"] = sway(t, rng, 6)
    if arms:
        _arms_rest(p, rng)


def _arms_rest(p: Pose, rng: np.random.Generator) -> None:
    t = p.t
    style = rng.choice(["hang", "hang", "hips", "pockets", "crossed", "behind"])
    for s in "lr":
        if style == "hang":
            p.arm(s, flex=rng.uniform(-5, 12) + sway(t, rng, 2), abd=rng.uniform(3, 14), elbow=rng.uniform(5, 25))
        elif style == "hips":
            p.arm(s, flex=rng.uniform(-15, 0), abd=rng.uniform(35, 55), elbow=rng.uniform(90, 120), twist=-60)
        elif style == "pockets":
            p.arm(s, flex=rng.uniform(-5, 5), abd=rng.uniform(8, 18), elbow=rng.uniform(25, 45), twist=-20)
        elif style == "crossed":
            p.arm(s, flex=rng.uniform(15, 30), abd=rng.uniform(0, 10), elbow=rng.uniform(110, 130), twist=-75)
        else:
            p.arm(s, flex=rng.uniform(-35, -20), abd=rng.uniform(5, 15), elbow=rng.uniform(30, 60), twist=-40)


def _sit(p: Pose, rng: np.random.Generator, amount: np.ndarray | float = 1.0, lean: float | None = None) -> None:
    """Seated on a chair (blended in by `amount`): thighs level, shins down, a lean, hands on lap or desk."""
    t = p.t
    hip, knee = rng.uniform(80, 100), rng.uniform(75, 105)
    lean = rng.uniform(-12, 18) if lean is None else lean
    for s in "lr":
        p.leg(
            s,
            flex=p[f"{s}_hip_flex"] * (1 - amount) + hip * amount,
            abd=rng.uniform(2, 15),
            knee=p[f"{s}_knee"] * (1 - amount) + knee * amount,
        )
    p["trunk_pitch"] = p["trunk_pitch"] * (1 - amount) + (lean + sway(t, rng, 2)) * amount


def _guard(p: Pose, rng: np.random.Generator) -> dict[str, tuple[float, float, float, float]]:
    """Boxing guard: fists in front of the face; returns each arm's (flex, abd, elbow, twist)."""
    out = {}
    for s in "lr":
        out[s] = (rng.uniform(25, 50), rng.uniform(5, 20), rng.uniform(105, 135), rng.uniform(-45, -20))
        p.arm(s, *out[s])
    return out


# -- the 17 action programs -------------------------------------------------------------------------------------


def _idle(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Standing or sitting, doing none of the actions: still, talking, drinking, phone, looking around."""
    t = p.t
    sitting = rng.random() < 0.4
    _stand(p, rng)
    if sitting:
        _sit(p, rng)
        for s in "lr":
            p.arm(s, flex=rng.uniform(10, 45), abd=rng.uniform(0, 15), elbow=rng.uniform(50, 100), twist=-20)
    activity = str(rng.choice(["still", "talk", "drink", "phone", "look", "shift", "scratch", "face", "fidget"]))
    a, b = _sides(rng)
    if activity == "talk":  # gestures: hands in front of the body, small, irregular
        for s in (a, b) if rng.random() < 0.6 else (a,):
            p[f"{s}_flex"] = rng.uniform(15, 40) + sway(t, rng, 8, 0.3, 1.5)
            p[f"{s}_elbow"] = rng.uniform(60, 100) + sway(t, rng, 15, 0.3, 2)
            p[f"{s}_twist"] = rng.uniform(-40, 0) + sway(t, rng, 12, 0.3, 1.5)
        p.add("head_yaw", sway(t, rng, 8, 0.2, 1.0))
        p.add("head_pitch", sway(t, rng, 4, 0.5, 2.0))
    elif activity == "drink":
        start = rng.uniform(-0.5, seconds - 1.5)
        up = pulse(t, start, rng.uniform(0.5, 1.0), rng.uniform(0.8, 2.5), rng.uniform(0.5, 1.0))
        p.arm(a, flex=p[f"{a}_flex"] * (1 - up) + rng.uniform(30, 50) * up, elbow=p[f"{a}_elbow"] * (1 - up) + 140 * up)
        p[f"{a}_twist"] = p[f"{a}_twist"] * (1 - up) - 35 * up
        p.add("head_pitch", -15 * up)
    elif activity == "phone":
        hold = rng.uniform(100, 125)
        for s in (a, b) if rng.random() < 0.5 else (a,):
            p.arm(s, flex=rng.uniform(15, 35), abd=rng.uniform(0, 12), elbow=hold + sway(t, rng, 4), twist=-45)
        p["head_pitch"] = rng.uniform(20, 40) + sway(t, rng, 3)
        if rng.random() < 0.3:  # a call: phone at the ear
            p.arm(a, flex=rng.uniform(20, 40), abd=rng.uniform(15, 30), elbow=145, twist=-10)
            p["head_pitch"] = rng.uniform(-5, 15)
    elif activity == "look":
        p.add("head_yaw", rng.uniform(-50, 50) * ramp(t, rng.uniform(0, seconds - 1), rng.uniform(0.4, 1.0)))
        p.add("trunk_twist", rng.uniform(-15, 15) * ramp(t, rng.uniform(0, seconds - 1), rng.uniform(0.5, 1.2)))
    elif activity == "shift":  # weight shift, a small step or a slow turn
        p.add("trunk_roll", rng.uniform(-6, 6) * ramp(t, rng.uniform(0, seconds - 1), 0.8))
        p.add("yaw", rng.uniform(-40, 40) * ramp(t, rng.uniform(0, seconds - 1.5), rng.uniform(0.8, 1.5)))
        if not sitting:
            step = pulse(t, rng.uniform(0, seconds - 1), 0.3, 0.0, 0.3)
            p.add(f"{a}_hip_flex", 15 * step)
            p.add(f"{a}_knee", 25 * step)
    elif activity == "scratch":  # hand to the head or face and back: briefly, slowly
        up = pulse(t, rng.uniform(-0.3, seconds - 1.5), rng.uniform(0.5, 0.9), rng.uniform(0.5, 1.5), 0.7)
        p.arm(a, flex=p[f"{a}_flex"] * (1 - up) + rng.uniform(60, 95) * up, elbow=p[f"{a}_elbow"] * (1 - up) + 135 * up)
        p[f"{a}_abd"] = p[f"{a}_abd"] * (1 - up) + rng.uniform(20, 45) * up
    elif activity == "face":  # a hand (or both) at the face or head for a while: rubbing, resting the chin,
        # touching the hair, putting something on; small slow movements while there
        start = rng.uniform(-2.0, seconds - 2.0)
        up = pulse(t, start, rng.uniform(0.4, 1.0), rng.uniform(1.5, 5.0), rng.uniform(0.5, 1.0))
        for s in (a, b) if rng.random() < 0.4 else (a,):
            flex = rng.uniform(55, 110) + sway(t, rng, 6, 0.3, 2.5)
            elbow = rng.uniform(125, 150) + sway(t, rng, 6, 0.3, 2.5)
            abd = rng.uniform(5, 50) + sway(t, rng, 5, 0.3, 2.5)
            p.arm(s, flex=p[f"{s}_flex"] * (1 - up) + flex * up, elbow=p[f"{s}_elbow"] * (1 - up) + elbow * up)
            p[f"{s}_abd"] = p[f"{s}_abd"] * (1 - up) + abd * up
            p[f"{s}_twist"] = p[f"{s}_twist"] * (1 - up) + rng.uniform(-50, 0) * up
        p.add("head_pitch", rng.uniform(-10, 20) * up + sway(t, rng, 4, 0.2, 1.0))
        p.add("head_yaw", sway(t, rng, 6, 0.2, 1.0))
    elif activity == "fidget":  # small hand movements in front of the body: adjusting clothes, an object
        for s in (a, b) if rng.random() < 0.6 else (a,):
            p[f"{s}_flex"] = rng.uniform(5, 45) + sway(t, rng, 7, 0.5, 3.0)
            p[f"{s}_abd"] = rng.uniform(0, 20) + sway(t, rng, 5, 0.5, 3.0)
            p[f"{s}_elbow"] = rng.uniform(50, 110) + sway(t, rng, 12, 0.5, 3.0)
            p[f"{s}_twist"] = rng.uniform(-50, 0)
    return {"sitting": sitting, "activity": activity}


def _walk(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Gait: opposite arm and leg swing, knee flexion in swing, the body moving forward (and maybe turning)."""
    t = p.t
    _stand(p, rng, arms=False)
    cadence = rng.uniform(1.5, 2.3)  # steps per second
    freq = cadence / 2
    stride_deg = rng.uniform(14, 30)
    speed = rng.uniform(0.5, 1.0) * cadence * 0.7  # m/s, about a step length per step
    # walking throughout, or starting / stopping inside the window
    mode = str(rng.choice(["through", "through", "start", "stop"]))
    gate = np.ones_like(t)
    if mode == "start":
        gate = ramp(t, rng.uniform(0.2, seconds - 2.5), rng.uniform(0.4, 0.8))
    elif mode == "stop":
        gate = 1 - ramp(t, rng.uniform(2.0, seconds - 0.6), rng.uniform(0.4, 0.8))
    phase = 2 * math.pi * freq * t + rng.uniform(0, 6.3)
    knee_amp = rng.uniform(40, 60)
    for s, off in (("l", 0.0), ("r", math.pi)):
        ph = phase + off
        p.add(f"{s}_hip_flex", gate * (stride_deg * np.sin(ph) + 5))
        p.add(f"{s}_knee", gate * (knee_amp * ((1 + np.cos(ph + 0.5)) / 2) ** 3 + 5))
    swing = rng.uniform(10, 30) if rng.random() < 0.8 else 0.0  # 20 %: hands busy (phone, pockets)
    if swing:
        for s, off in (("l", math.pi), ("r", 0.0)):
            p.arm(
                s,
                flex=gate * swing * np.sin(phase + off) + rng.uniform(0, 8),
                abd=rng.uniform(4, 12),
                elbow=rng.uniform(10, 35) + gate * 8 * np.sin(phase + off),
            )
    else:
        _arms_rest(p, rng)
    p.add("trunk_pitch", rng.uniform(2, 8) * gate)
    p.add("trunk_twist", gate * rng.uniform(2, 6) * np.sin(phase + math.pi))
    turn = rng.uniform(-60, 60) * ramp(t, rng.uniform(0, seconds - 1.5), rng.uniform(1, 2)) if rng.random() < 0.3 else 0
    p.add("yaw", turn)
    # the root travels along the facing direction
    dt = np.diff(t, prepend=t[0])
    heading = np.radians(p["yaw"])
    p["root_x"] = np.cumsum(speed * gate * np.sin(heading) * dt)
    p["root_z"] = np.cumsum(speed * gate * np.cos(heading) * dt)
    return {"cadence": cadence, "speed": speed, "mode": mode}


def _sit_down(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Standing still, then sitting down on a chair (lean forward, hips back and down), then seated."""
    t = p.t
    _stand(p, rng)
    duration = rng.uniform(1.0, 2.2)
    start = rng.uniform(0.2, seconds - duration - 0.3)
    s = ramp(t, start, duration)
    mid = pulse(t, start, duration * 0.5, 0.0, duration * 0.5)
    _sit(p, rng, amount=s, lean=rng.uniform(-8, 15))
    p.add("trunk_pitch", rng.uniform(20, 40) * mid)  # lean forward while lowering
    if rng.random() < 0.5:  # hands reach for the thighs or the armrests
        for side in "lr":
            p.add(f"{side}_flex", rng.uniform(10, 35) * s)
            p.add(f"{side}_elbow", rng.uniform(20, 60) * s)
    else:  # arms forward for balance, then to the lap
        for side in "lr":
            p.add(f"{side}_flex", rng.uniform(20, 50) * mid + rng.uniform(10, 25) * s)
    p.add("head_pitch", rng.uniform(5, 20) * mid)
    return {"start": start, "duration": duration}


def _raise_arms(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Both arms raised in front (straight forward or a little out) to overhead, held still there with the
    hands apart, and lowered; one to three times. Both arms: one raised arm is a wave, a hail or a punch. Through
    the front: arms swept up through the sides over the head are how both real skeleton sets wave with two hands
    (Wave's "arc" style). Held still: a two-arm wave keeps sweeping at the top."""
    t = p.t
    sitting = rng.random() < 0.25
    _stand(p, rng)
    if sitting:
        _sit(p, rng)
    n = int(rng.integers(1, 4))
    rise, hold, fall = rng.uniform(0.4, 1.1), rng.uniform(0.5, 1.8), rng.uniform(0.4, 1.1)
    start = rng.uniform(-0.2, max(0.0, seconds - n * (rise + hold + fall) - 0.2))
    up, _ = pulses(t, rng, start, n, rise, hold, fall, rng.uniform(0.2, 0.8))
    if rng.random() < 0.25:  # raised and kept up
        up = np.maximum(up, ramp(t, start, rise))
    height = rng.uniform(140, 175) if rng.random() < 0.85 else rng.uniform(95, 130)
    out = rng.uniform(0, 40)  # straight forward .. a little out to the sides
    for s in ("l", "r"):
        flex0, abd0, elb0 = p[f"{s}_flex"].copy(), p[f"{s}_abd"].copy(), p[f"{s}_elbow"].copy()
        p[f"{s}_flex"] = flex0 * (1 - up) + (height + rng.uniform(-8, 8)) * up
        p[f"{s}_abd"] = abd0 * (1 - up) + (out + rng.uniform(-5, 5)) * up
        p[f"{s}_elbow"] = elb0 * (1 - up) + rng.uniform(0, 25) * up
    p.add("head_pitch", -rng.uniform(0, 15) * up)
    return {"reps": n, "out_deg": out, "arms": 2, "sitting": sitting}


def _wave(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """A hand raised and waved side to side, then lowered. Styles: the forearm swinging at the elbow; the whole
    arm up and sweeping sideways (a high arm wave); the arm held out in front at shoulder height and swept
    horizontally across the body; both arms overhead sweeping out and in; both arms in big arcs between straight
    out to the sides and overhead, the hands meeting above the head (a wave for attention: how both real skeleton
    sets wave). Fast small waves and slow wide ones: the arms keep moving at the top, which tells a wave from
    raised arms (held still)."""
    t = p.t
    sitting = rng.random() < 0.3
    _stand(p, rng)
    if sitting:
        _sit(p, rng)
    a, b = _sides(rng)
    styles = ["forearm", "high", "horizontal", "overhead", "arc"]
    style = str(rng.choice(styles, p=[0.3, 0.2, 0.15, 0.1, 0.25]))
    both = style in ("overhead", "arc") or rng.random() < (0.35 if style != "horizontal" else 0.1)
    arms = (a, b) if both else (a,)
    rise = rng.uniform(0.3, 1.0)
    waving = rng.uniform(0.6, 3.2)  # a greeting can be one or two sweeps before the arm comes down
    if style == "arc":  # one to three big arcs
        waving = rng.uniform(1.5, 4.5)
    start = rng.uniform(-0.3, max(0.0, seconds - waving - 2 * rise))
    up = pulse(t, start, rise, waving, rise)
    if rng.random() < 0.3:  # still up at the end of the window
        up = ramp(t, start, rise)
    slow = style != "forearm" and rng.random() < (0.85 if style == "horizontal" else 0.6)  # wide sweeps are slower
    freq = rng.uniform(0.35, 1.3) if slow else rng.uniform(1.2, 3.0)
    amp = rng.uniform(30, 60) if slow else rng.uniform(15, 35)
    if style == "horizontal" and slow:  # a sweep from out at the side to across the chest: up to 130 deg
        amp = rng.uniform(35, 65)
    if style == "arc":  # a whole arc out-over-out takes 1.5-4 s; its amplitude is the arc's span (degrees)
        freq = rng.uniform(0.25, 0.7)
        low, high = rng.uniform(65, 100), rng.uniform(178, 200)
        amp = high - low
    ph = rng.uniform(0, 6.3)
    for k_arm, s in enumerate(arms):
        base = {k: p[f"{s}_{k}"].copy() for k in ("flex", "abd", "elbow", "twist")}
        wig = amp * oscillate(t, freq, ph + (math.pi if k_arm and rng.random() < 0.3 else 0.0)) * up
        if style == "high":  # arm up and straight, sweeping sideways
            target = {"flex": rng.uniform(115, 170), "abd": rng.uniform(20, 50) + wig, "elbow": rng.uniform(5, 30)}
            target["twist"] = 0.0
        elif style == "horizontal":  # arm out at shoulder height, swept in front of the body and back out
            target = {"flex": rng.uniform(45, 85) + wig, "abd": rng.uniform(78, 95), "elbow": rng.uniform(0, 35)}
            target["twist"] = rng.uniform(-20, 20)
        elif style == "arc":  # out to the side at shoulder height, up over the head to the hands meeting, back
            arc = (1 - oscillate(t, freq, ph)) / 2
            target = {"flex": rng.uniform(0, 20), "abd": low + (high - low) * arc, "elbow": rng.uniform(0, 25)}
            target["twist"] = 0.0
        elif style == "overhead":  # both arms above the head, sweeping out to the sides and back in
            target = {"flex": rng.uniform(0, 25), "abd": rng.uniform(135, 160) + wig, "elbow": rng.uniform(0, 30)}
            target["twist"] = 0.0
        else:  # upper arm out to the side or up, forearm up, swinging at the elbow; the hand often above the head
            target = {
                "flex": rng.uniform(0, 40),
                "abd": rng.uniform(60, 135),
                "elbow": rng.uniform(70, 110) + wig,
                "twist": rng.uniform(70, 100),
            }
        for k, v in target.items():
            p[f"{s}_{k}"] = base[k] * (1 - up) + v * up
    return {"freq": freq, "amplitude": amp, "style": style, "arms": len(arms), "sitting": sitting}


def _clap(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Hands meeting in front of the chest (or the face), in one or two bouts: small quick claps (1.5-4 a
    second, the hands a hand's width apart between them), or big slow ones (0.4-1.8 a second), the arms swinging
    open sideways at chest to shoulder height and back together in front."""
    t = p.t
    sitting = rng.random() < 0.3
    _stand(p, rng)
    if sitting:
        _sit(p, rng)
    bouts = int(rng.integers(1, 3))
    length = rng.uniform(1.0, 3.0) / bouts
    on, _ = pulses(t, rng, rng.uniform(-0.3, max(0.0, seconds - bouts * (length + 0.6))), bouts, 0.3, length, 0.3, 0.5)
    wide = rng.random() < 0.3
    freq = rng.uniform(0.4, 1.8) if wide else rng.uniform(1.5, 4.0)
    ph = rng.uniform(0, 6.3)
    opened = (1 + oscillate(t, freq, ph)) / 2  # 0: hands together, 1: apart
    if wide:  # the arms out in a near-horizontal plane (abd), swung from the side (low flex) to the front
        closed_flex, open_flex = rng.uniform(88, 108), rng.uniform(10, 50)
        plane, elbow = rng.uniform(50, 88), rng.uniform(0, 35)
    else:  # elbows bent, hands in front of the chest: the forearms swing out (wide: far out) and back
        chest_wide = rng.random() < 0.4
        if chest_wide:
            freq = rng.uniform(0.4, 1.8)
        high = rng.uniform(25, 60) if rng.random() < 0.8 else rng.uniform(70, 100)
        amp = rng.uniform(25, 45) if chest_wide else rng.uniform(12, 25)
        # the upper arms open too: hands 0.2-0.5 m apart between claps (wide: up to 1 m)
        open_abd = rng.uniform(15, 50) if chest_wide else rng.uniform(5, 25)
        closed = -rng.uniform(50, 65)
    for s in "lr":
        base = {k: p[f"{s}_{k}"].copy() for k in ("flex", "abd", "elbow", "twist")}
        if wide:
            target = {
                "flex": closed_flex - (closed_flex - open_flex) * opened,
                "abd": plane + rng.uniform(-4, 4),
                "elbow": elbow + rng.uniform(-5, 5),
                "twist": 0.0,
            }
        else:
            target = {
                "flex": high + rng.uniform(-5, 5),
                "abd": rng.uniform(-5, 8) + open_abd * opened,
                "elbow": rng.uniform(65, 100),
                "twist": closed + 2 * amp * opened,
            }
        for k, v in target.items():
            p[f"{s}_{k}"] = base[k] * (1 - on) + v * on
    return {"freq": freq, "bouts": bouts, "wide": wide, "sitting": sitting}


def _punch(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Straight punches. From a boxing guard (one arm or alternating, the trunk turning into each), or from
    rest: the fist comes up to the chest and shoots out (forward, towards the camera or across, or out to the
    side), then the arm drops back; one to four punches."""
    t = p.t
    _stand(p, rng)
    a, b = _sides(rng)
    style = str(rng.choice(["guard", "forward", "side"], p=[0.45, 0.35, 0.2]))
    alternate = rng.random() < (0.6 if style == "guard" else 0.35)
    if style == "guard":
        p[f"{a}_hip_flex"] = rng.uniform(10, 25)
        p[f"{b}_hip_flex"] = -rng.uniform(5, 15)
        for s in "lr":
            p[f"{s}_knee"] = rng.uniform(10, 25)
        guard = _guard(p, rng)
        n = int(rng.integers(2, 9))
        rate = rng.uniform(1.0, 3.0)
        start = rng.uniform(-0.2, max(0.0, seconds - n / rate))
        t0 = start
        for k in range(n):
            s = (a if k % 2 == 0 else b) if alternate else a
            out = rng.uniform(0.1, 0.25)
            ext = pulse(t, t0, out, rng.uniform(0.0, 0.1), rng.uniform(0.15, 0.35))
            flex, abd, elbow, twist = guard[s]
            p.add(f"{s}_flex", (rng.uniform(80, 100) - flex) * ext)
            p.add(f"{s}_abd", (rng.uniform(-5, 15) - abd) * ext)
            p.add(f"{s}_elbow", (rng.uniform(0, 20) - elbow) * ext)
            p.add(f"{s}_twist", -twist * ext)
            p.add("trunk_twist", (-1 if s == "l" else 1) * rng.uniform(8, 20) * ext)
            t0 += (1 / rate) * rng.uniform(0.7, 1.3)
        return {"punches": n, "rate": rate, "alternate": alternate, "style": style}
    n = int(rng.integers(1, 5))
    rate = rng.uniform(0.4, 1.4)  # punches per second: from rest, each takes the arm up, out and down again
    start = rng.uniform(-0.3, max(0.0, seconds - n / rate))
    t0 = start
    for k in range(n):
        s = (a if k % 2 == 0 else b) if alternate else a
        lift, out, hold, back = (
            rng.uniform(0.15, 0.45),
            rng.uniform(0.1, 0.3),
            rng.uniform(0.0, 0.5),
            rng.uniform(0.2, 0.5),
        )
        on = pulse(t, t0, lift, out + hold, back)  # the fist up at the chest, then back down at the side
        ext = pulse(t, t0 + lift, out, hold, back * 0.6)  # the arm shooting out
        chamber = {"flex": rng.uniform(20, 50), "abd": rng.uniform(5, 25), "elbow": rng.uniform(100, 135)}
        chamber["twist"] = rng.uniform(-45, -20)
        if style == "forward":
            target = {"flex": rng.uniform(75, 100), "abd": rng.uniform(-20, 10), "elbow": rng.uniform(0, 20)}
        else:
            target = {"flex": rng.uniform(0, 35), "abd": rng.uniform(70, 100), "elbow": rng.uniform(0, 20)}
        target["twist"] = 0.0
        for key in ("flex", "abd", "elbow", "twist"):
            p[f"{s}_{key}"] = p[f"{s}_{key}"] * (1 - on) + chamber[key] * on + (target[key] - chamber[key]) * ext
        if style == "side" and rng.random() < 0.5:  # the other fist comes across the chest
            o = b if s == a else a
            p[f"{o}_flex"] = p[f"{o}_flex"] * (1 - on) + rng.uniform(40, 80) * on
            p[f"{o}_abd"] = p[f"{o}_abd"] * (1 - on) - rng.uniform(0, 20) * on
            p[f"{o}_elbow"] = p[f"{o}_elbow"] * (1 - on) + rng.uniform(90, 130) * on
        p.add("trunk_twist", (-1 if s == "l" else 1) * rng.uniform(0, 15) * ext)
        t0 += (1 / rate) * rng.uniform(0.8, 1.3)
    return {"punches": n, "rate": rate, "alternate": alternate, "style": style}


def _kick(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Front kicks (knee up, shin snaps out, back) or side kicks; one to three, same or alternating legs."""
    t = p.t
    _stand(p, rng)
    if rng.random() < 0.5:
        _guard(p, rng)
    n = int(rng.integers(1, 4))
    dur = rng.uniform(0.4, 1.1)
    start = rng.uniform(0.0, max(0.0, seconds - n * (dur + 0.3)))
    a, b = _sides(rng)
    alternate = rng.random() < 0.4
    low = rng.random() < 0.4  # a low, quick kick: the knee barely chambers
    side_kick = rng.random() < 0.3
    t0 = start
    for k in range(n):
        s = (a if k % 2 == 0 else b) if alternate else a
        o = b if s == a else a
        d = dur * rng.uniform(0.85, 1.15)
        chamber = pulse(t, t0, 0.3 * d, 0.4 * d, 0.3 * d)
        snap = pulse(t, t0 + 0.3 * d, 0.15 * d, 0.1 * d, 0.15 * d)
        height = rng.uniform(30, 65) if low else rng.uniform(60, 110)
        if side_kick:
            p.add(f"{s}_hip_abd", height * chamber)
            p.add(f"{s}_hip_flex", 20 * chamber)
            p.add("trunk_roll", (-1 if s == "l" else 1) * rng.uniform(15, 40) * chamber)
        else:
            p.add(f"{s}_hip_flex", height * chamber)
            p.add("trunk_pitch", -rng.uniform(0, 15) * chamber)
        knee = rng.uniform(45, 80) if low else 90.0
        p.add(f"{s}_knee", knee * chamber - (knee - 10) * snap)
        p.add(f"{o}_knee", rng.uniform(5, 20) * chamber)
        for arm in "lr":
            p.add(f"{arm}_abd", rng.uniform(0, 30) * chamber)
        t0 += d + rng.uniform(0.1, 0.6)
    return {"kicks": n, "side": side_kick, "alternate": alternate, "low": low}


def _jump(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Crouch with arms back, take off with arms swinging up, fly, land into a crouch; one to three jumps."""
    t = p.t
    _stand(p, rng)
    n = int(rng.integers(1, 4))
    crouch, flight, land = rng.uniform(0.3, 0.6), rng.uniform(0.25, 0.5), rng.uniform(0.2, 0.45)
    cycle = crouch + flight + land
    start = rng.uniform(0.0, max(0.0, seconds - n * (cycle + 0.3)))
    forward = rng.uniform(0.3, 0.8) if rng.random() < 0.3 else 0.0
    arms_up = rng.uniform(60, 170)
    depth = rng.uniform(0.6, 1.3)
    t0 = start
    for _ in range(n):
        c = pulse(t, t0, crouch * 0.7, 0.0, crouch * 0.3)  # down, then the extension at take-off
        fly = np.clip((t - (t0 + crouch)) / flight, 0.0, 1.0)
        airborne = (fly > 0) & (fly < 1)
        height = 9.81 * flight**2 / 8  # ballistic apex for that flight time
        p.add("lift", np.where(airborne, 4 * height * fly * (1 - fly), 0.0))
        l_ = pulse(t, t0 + crouch + flight, land * 0.4, 0.0, land * 0.6)
        tuck = np.where(airborne, np.sin(np.pi * fly), 0.0) * rng.uniform(0, 40)
        for s in "lr":
            p.add(f"{s}_hip_flex", depth * (60 * c + 45 * l_) + tuck)
            p.add(f"{s}_knee", depth * (90 * c + 70 * l_) + 1.5 * tuck)
            swing = pulse(t, t0 + crouch * 0.6, 0.25, flight * 0.6, 0.3)
            p.add(f"{s}_flex", -40 * c + arms_up * swing)
        p.add("trunk_pitch", depth * (30 * c + 20 * l_))
        p.add("root_z", forward * ramp(t, t0 + crouch, flight))
        t0 += cycle + rng.uniform(0.05, 0.8)
    return {"jumps": n, "forward": forward}


def _jumping_jack(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Arms from the sides to overhead and legs apart, with a hop at each change, 0.8-1.6 cycles a second."""
    t = p.t
    _stand(p, rng, arms=False)
    freq = rng.uniform(0.8, 1.6)
    start = rng.uniform(-2.0, 1.5)
    end = rng.uniform(start + 2.0, seconds + 2.0)
    on = ramp(t, start, 0.3) * (1 - ramp(t, end, 0.3))
    phase = 2 * math.pi * freq * (t - start)
    open_ = (1 - np.cos(phase)) / 2 * on
    arm_top = rng.uniform(150, 185) if rng.random() < 0.85 else rng.uniform(80, 110)  # half jacks
    for s in "lr":
        p.arm(s, flex=rng.uniform(-5, 15), abd=8 + (arm_top - 8) * open_, elbow=rng.uniform(5, 30))
        p.leg(s, abd=3 + rng.uniform(12, 25) * open_, knee=10 + 15 * np.abs(np.cos(phase)) * on)
    p["lift"] = rng.uniform(0.03, 0.1) * np.abs(np.sin(phase)) * on
    return {"freq": freq, "start": start, "end": end}


def _squat(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Hips down and back with the knees bending deeply, trunk leaning forward, arms forward or crossed; reps."""
    t = p.t
    _stand(p, rng)
    n = int(rng.integers(1, 5))
    down, hold, up = rng.uniform(0.5, 1.4), rng.uniform(0.0, 0.8), rng.uniform(0.5, 1.3)
    start = rng.uniform(-0.5, max(0.0, seconds - n * (down + hold + up) * 0.8))
    s_, _ = pulses(t, rng, start, n, down, hold, up, rng.uniform(0.1, 0.8))
    hip, knee, lean = rng.uniform(70, 115), rng.uniform(80, 130), rng.uniform(15, 45)
    wide = rng.uniform(8, 25)
    for s in "lr":
        p.leg(s, flex=p[f"{s}_hip_flex"] + hip * s_, abd=wide, knee=p[f"{s}_knee"] + knee * s_)
    p.add("trunk_pitch", lean * s_)
    style = rng.random()
    if style < 0.4:  # arms forward for balance
        for s in "lr":
            p[f"{s}_flex"] = p[f"{s}_flex"] + (rng.uniform(60, 95) - p[f"{s}_flex"]) * s_
    elif style < 0.6:
        _guard(p, rng)  # hands together at the chest
    return {"reps": n, "depth_knee": knee}


def _lunge(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """A long step forward, the back knee dropping towards the floor, and back up; same or alternating legs."""
    t = p.t
    _stand(p, rng)
    n = int(rng.integers(1, 4))
    down, hold, up = rng.uniform(0.5, 1.0), rng.uniform(0.0, 0.6), rng.uniform(0.5, 1.0)
    start = rng.uniform(-0.3, max(0.0, seconds - n * (down + hold + up + 0.3)))
    a, b = _sides(rng)
    alternate = rng.random() < 0.5
    t0 = start
    for k in range(n):
        f, r = (a, b) if (not alternate or k % 2 == 0) else (b, a)
        d, h, u = (v * rng.uniform(0.85, 1.15) for v in (down, hold, up))
        s_ = pulse(t, t0, d, h, u)
        p.add(f"{f}_hip_flex", rng.uniform(70, 95) * s_)
        p.add(f"{f}_knee", rng.uniform(75, 100) * s_)
        p.add(f"{r}_hip_flex", -rng.uniform(15, 35) * s_)
        p.add(f"{r}_knee", rng.uniform(70, 100) * s_)
        p.add("root_z", rng.uniform(0.2, 0.4) * s_)
        p.add("trunk_pitch", rng.uniform(-5, 12) * s_)
        t0 += d + h + u + rng.uniform(0.1, 0.6)
    return {"reps": n, "alternate": alternate}


def _push_up(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Prone plank on straight arms; elbows bend and straighten, the body pivoting about the toes; reps."""
    t = p.t
    freq = rng.uniform(0.4, 1.1)
    depth = rng.uniform(0.5, 1.0)
    start = rng.uniform(-1.0, 1.0)
    low = (1 - np.cos(2 * math.pi * freq * (t - start))) / 2 * depth * (t > start)
    elbow = 8 + rng.uniform(70, 100) * low
    # the incline that puts hands and toes on the floor: the arm's vertical reach against the body's length
    # (upper arm 0.6 and forearm 0.4 of the elbow angle off the vertical; wrist 0.06 m lower than the ankle)
    reach = body.upper_arm * np.cos(np.radians(0.6 * elbow)) + body.forearm * np.cos(np.radians(0.4 * elbow))
    length = body.torso + body.thigh + body.shin
    pitch = 90 - np.degrees(np.arcsin(np.clip((reach + 0.06) / length, 0.0, 0.9)))
    p["body_pitch"] = pitch
    wide = rng.uniform(5, 35)
    for s in "lr":
        p.arm(s, flex=pitch - 0.6 * elbow, abd=wide, elbow=elbow, twist=rng.uniform(-20, 10))
        p.leg(s, flex=rng.uniform(-3, 8), abd=rng.uniform(2, 8), knee=rng.uniform(0, 10))
    p["trunk_pitch"] = rng.uniform(-8, 12) + sway(t, rng, 2)
    p["head_pitch"] = rng.uniform(-20, 10)
    return {"freq": freq, "depth": depth}


def _sit_up(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Lying on the back with bent knees, curling the trunk up towards the knees and down; reps."""
    t = p.t
    p["body_pitch"] = -90 + rng.uniform(-3, 3)
    hip, knee = rng.uniform(35, 65), rng.uniform(70, 110)
    for s in "lr":
        p.leg(s, flex=hip, abd=rng.uniform(3, 15), knee=knee)
    n = int(rng.integers(1, 5))
    upt, downt = rng.uniform(0.5, 1.3), rng.uniform(0.5, 1.3)
    start = rng.uniform(-0.5, max(0.0, seconds - n * (upt + downt + 0.3)))
    curl, _ = pulses(t, rng, start, n, upt, rng.uniform(0.0, 0.4), downt, rng.uniform(0.0, 0.6))
    top = rng.uniform(45, 95)
    p["trunk_pitch"] = top * curl
    style = str(rng.choice(["crossed", "behind_head", "reach"]))
    for s in "lr":
        if style == "crossed":
            p.arm(s, flex=rng.uniform(20, 40), abd=0, elbow=rng.uniform(120, 140), twist=-75)
        elif style == "behind_head":
            p.arm(s, flex=rng.uniform(140, 170), abd=rng.uniform(40, 70), elbow=rng.uniform(130, 150), twist=-40)
        else:
            p.arm(s, flex=rng.uniform(20, 60) + 40 * curl, abd=rng.uniform(0, 15), elbow=rng.uniform(0, 20))
    p["head_pitch"] = rng.uniform(10, 40)
    return {"reps": n, "arms": style}


def _bend(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Bending forward from the hips (to pick something up, touch the toes, tie a shoe) and back up."""
    t = p.t
    _stand(p, rng)
    n = 1 if rng.random() < 0.75 else 2
    down, hold, up = rng.uniform(0.6, 1.4), rng.uniform(0.2, 1.5), rng.uniform(0.6, 1.4)
    start = rng.uniform(-0.2, max(0.0, seconds - n * (down + hold + up) - 0.2))
    b, _ = pulses(t, rng, start, n, down, hold, up, rng.uniform(0.2, 0.8))
    # a stoop (legs nearly straight, the trunk folding deep) or a pick-up (knees bending deeply too, so the hips
    # drop as in a squat, but the trunk folds over the thighs and the hands go to the floor): real pick-ups
    # (UTKinect's, MSR Action3D's bends) are mostly the second
    pickup = rng.random() < 0.5
    depth = rng.uniform(30, 75) if pickup else rng.uniform(55, 110)
    knees = rng.uniform(60, 120) if pickup else rng.uniform(0, 45)
    thigh = knees * (rng.uniform(0.6, 0.85) if pickup else 0.5)
    p.add("trunk_pitch", depth * b)
    for s in "lr":
        p.add(f"{s}_hip_flex", thigh * b)
        p.add(f"{s}_knee", knees * b)
    a, _ = _sides(rng)
    for s in "lr":  # arms hang from the bent trunk; one may reach further
        reach = rng.uniform(0.75, 1.05) + (0.15 if s == a else 0.0)
        if pickup:  # the arms point at the floor: their angle to the trunk is the trunk's own pitch and more
            reach = reach * rng.uniform(1.0, 1.3)
        p[f"{s}_flex"] = p[f"{s}_flex"] * (1 - b) + depth * reach * b
        p[f"{s}_elbow"] = p[f"{s}_elbow"] * (1 - b) + rng.uniform(0, 25) * b
    return {"reps": n, "depth": depth, "pickup": pickup}


def _fall(p: Pose, rng: np.random.Generator, seconds: float, body: Body) -> dict:
    """Standing or walking, knees give way, the body tips (forward, backward or sideways) to lie on the floor."""
    t = p.t
    _stand(p, rng)
    duration = rng.uniform(0.5, 1.3)
    start = rng.uniform(0.1, seconds - duration - 0.6)
    buckle = ramp(t, start, duration * 0.5)
    tip = ramp(t, start + duration * 0.2, duration * 0.8)
    direction = str(rng.choice(["forward", "backward", "left", "right"]))
    angle = rng.uniform(78, 95)
    if direction == "forward":
        p["body_pitch"] = angle * tip
        for s in "lr":  # hands out to break the fall
            p.add(f"{s}_flex", rng.uniform(60, 140) * tip)
    elif direction == "backward":
        p["body_pitch"] = -angle * tip
        for s in "lr":
            p.add(f"{s}_abd", rng.uniform(30, 100) * tip)
    else:
        p["body_roll"] = (1 if direction == "left" else -1) * angle * tip
        for s in "lr":
            p.add(f"{s}_abd", rng.uniform(20, 120) * tip)
    sag = buckle * (1 - tip)  # knees and hips fold on the way down, straighten somewhat on the floor
    for s in "lr":
        p.add(f"{s}_knee", rng.uniform(30, 70) * sag + rng.uniform(0, 40) * tip)
        p.add(f"{s}_hip_flex", rng.uniform(20, 45) * sag + rng.uniform(-5, 30) * tip)
    p.add("trunk_pitch", rng.uniform(0, 25) * sag)
    travel = rng.uniform(0.1, 0.5) * tip
    heading = {"forward": (0, 1), "backward": (0, -1), "left": (1, 0), "right": (-1, 0)}[direction]
    p.add("root_x", heading[0] * travel)
    p.add("root_z", heading[1] * travel)
    after = ramp(t, start + duration, 0.5)  # lying: small movements
    p.add("head_pitch", sway(t, rng, 8) * after)
    for s in "lr":
        p.add(f"{s}_elbow", sway(t, rng, 10) * after)
    return {"direction": direction, "start": start, "duration": duration}


PROGRAMS: dict[str, Callable[[Pose, np.random.Generator, float, Body], dict]] = {
    "Idle": _idle,
    "Walk": _walk,
    "SitDown": _sit_down,
    "RaiseArms": _raise_arms,
    "Wave": _wave,
    "Clap": _clap,
    "Punch": _punch,
    "Kick": _kick,
    "Jump": _jump,
    "JumpingJack": _jumping_jack,
    "Squat": _squat,
    "Lunge": _lunge,
    "PushUp": _push_up,
    "SitUp": _sit_up,
    "Bend": _bend,
    "Fall": _fall,
}


# -- forward kinematics -----------------------------------------------------------------------------------------


def _rx(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _ry(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def _rz(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _apply(r: np.ndarray, v) -> np.ndarray:
    return np.einsum("tij,tj->ti", r, np.broadcast_to(np.asarray(v, np.float64), r.shape[:-1]))


#: Height of each landmark above the ground when it is the lowest point (ankle above the sole, hip above a seat).
_CLEARANCE_M = 0.07
_ANKLE_CLEARANCE_M = 0.08
_DOWN = (0.0, -1.0, 0.0)


def forward_kinematics(pose: Pose, body: Body) -> np.ndarray:
    """Channel trajectories -> (T, 33, 3) BlazePose landmarks in metres, the lowest point on the ground (y=0)."""
    q = {name: pose.a[:, i] for i, name in enumerate(CHANNELS)}
    rad = {k: np.radians(v) for k, v in q.items() if k not in ("root_x", "root_z", "lift")}
    n = len(pose.t)
    root_r = _ry(rad["yaw"]) @ _rx(rad["body_pitch"]) @ _rz(rad["body_roll"])
    torso_r = root_r @ _rx(rad["trunk_pitch"]) @ _rz(rad["trunk_roll"]) @ _ry(rad["trunk_twist"])
    pelvis = np.stack([q["root_x"], np.zeros(n), q["root_z"]], -1)
    pts = np.zeros((n, NUM_BODY_LANDMARKS, 3))
    shoulder_mid = pelvis + _apply(torso_r, (0.0, body.torso, 0.0))
    head_r = torso_r @ _rx(rad["head_pitch"]) @ _ry(rad["head_yaw"])
    fwd = body.nose * 0.42  # the nose sits in front of the neck line
    pts[:, NOSE] = shoulder_mid + _apply(head_r, (0.0, math.sqrt(body.nose**2 - fwd**2), fwd))
    # face points (not features; for drawing and completeness): eyes, ears, mouth around the nose
    for idx, off in (
        (1, (0.015, 0.035, -0.01)),
        (2, (0.032, 0.035, -0.015)),
        (3, (0.048, 0.035, -0.025)),
        (4, (-0.015, 0.035, -0.01)),
        (5, (-0.032, 0.035, -0.015)),
        (6, (-0.048, 0.035, -0.025)),
        (7, (0.075, 0.015, -0.09)),
        (8, (-0.075, 0.015, -0.09)),
        (9, (0.025, -0.035, -0.01)),
        (10, (-0.025, -0.035, -0.01)),
    ):
        pts[:, idx] = pts[:, NOSE] + _apply(head_r, off)
    for side, sgn, sh, el, wr, hip, kn, an, hand, foot in (
        ("l", 1.0, L_SHOULDER, L_ELBOW, L_WRIST, L_HIP, L_KNEE, L_ANKLE, (17, 19, 21), (29, 31)),
        ("r", -1.0, R_SHOULDER, R_ELBOW, R_WRIST, R_HIP, R_KNEE, R_ANKLE, (18, 20, 22), (30, 32)),
    ):
        pts[:, sh] = shoulder_mid + _apply(torso_r, (sgn * body.shoulder_width / 2, 0.0, 0.0))
        arm_r = torso_r @ _rz(sgn * rad[f"{side}_abd"]) @ _rx(-rad[f"{side}_flex"])
        pts[:, el] = pts[:, sh] + body.upper_arm * _apply(arm_r, _DOWN)
        fore_r = arm_r @ _ry(sgn * rad[f"{side}_twist"]) @ _rx(-rad[f"{side}_elbow"])
        fore = _apply(fore_r, _DOWN)
        pts[:, wr] = pts[:, el] + body.forearm * fore
        for k, h in enumerate(hand):  # pinky, index, thumb
            pts[:, h] = pts[:, wr] + 0.07 * fore + _apply(fore_r, ((0.02 * (1 - k), 0.0, 0.02 * k)))
        pts[:, hip] = pelvis + _apply(root_r, (sgn * body.hip_width / 2, 0.0, 0.0))
        leg_r = root_r @ _rz(sgn * rad[f"{side}_hip_abd"]) @ _rx(-rad[f"{side}_hip_flex"])
        pts[:, kn] = pts[:, hip] + body.thigh * _apply(leg_r, _DOWN)
        shin_r = leg_r @ _rx(rad[f"{side}_knee"])
        pts[:, an] = pts[:, kn] + body.shin * _apply(shin_r, _DOWN)
        pts[:, foot[0]] = pts[:, an] + _apply(shin_r, (0.0, -0.05, -0.05))  # heel
        pts[:, foot[1]] = pts[:, an] + _apply(shin_r, (0.0, -0.06, 0.16))  # toes, forward of the ankle
    # the lowest of the 13 body joints rests on the ground (face, hand and foot points are decoration)
    clearance = np.full(len(FEATURE_JOINTS), _CLEARANCE_M)
    clearance[[FEATURE_JOINTS.index(L_ANKLE), FEATURE_JOINTS.index(R_ANKLE)]] = _ANKLE_CLEARANCE_M
    ground = np.max(clearance[None, :] - pts[:, list(FEATURE_JOINTS), 1], axis=1)
    pts[:, :, 1] += (ground + q["lift"])[:, None]
    return pts


def mirror(pose: Pose) -> None:
    """Swap left and right in place: the same motion done with the other side."""
    a = pose.a.copy()
    for name in CHANNELS:
        if name.startswith(("l_", "r_")):
            other = ("r_" if name.startswith("l_") else "l_") + name[2:]
            pose.a[:, _CH[name]] = a[:, _CH[other]]
    for name in _MIRROR_NEGATE:
        pose.a[:, _CH[name]] *= -1


def sample_times(rng: np.random.Generator, steps: int = WINDOW_STEPS, rate: float = FEATURE_RATE_HZ) -> np.ndarray:
    """When each feature's frame was taken: on the 10/s grid, off by up to about half a video frame."""
    return np.arange(steps) / rate + rng.normal(0.0, SAMPLE_TIME_JITTER_S, steps)


def simulate(label: str, rng: np.random.Generator, steps: int = WINDOW_STEPS, rate: float = FEATURE_RATE_HZ) -> Motion:
    """A clean 3D motion of `label`: `steps` samples at `rate` per second, with a random body and everything else.

    Backward classes (REVERSED) are their forward class's motion, drawn from the same generator, reversed.
    """
    if label in REVERSED:
        fwd = simulate(REVERSED[label], rng, steps, rate)
        return Motion(label, fwd.points[::-1].copy(), fwd.times, fwd.body, {**fwd.params, "reversed_from": fwd.label})
    if label not in PROGRAMS:
        raise ValueError(f"unknown action {label!r}; choose one of {', '.join(LABELS)}")
    body = random_body(rng)
    times = sample_times(rng, steps, rate)
    pose = Pose(times)
    seconds = steps / rate
    params = PROGRAMS[label](pose, rng, seconds, body)
    mirrored = bool(rng.random() < 0.5)
    if mirrored:
        mirror(pose)
    pose.add("yaw", rng.normal(0.0, 4.0))
    return Motion(label, forward_kinematics(pose, body), times, body, {**params, "mirrored": mirrored})
