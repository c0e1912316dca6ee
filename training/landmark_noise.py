"""What the pose extractor does to a true skeleton: visibility, jitter, per-person bias, outliers and dropouts.

Every number below was measured on the real pipeline (streaming.pose_extractor.PoseExtractor with the BlazePose
ONNX models now in models/pose) run over all 1346 frames of ../shared/data/ucf101-mini (8 clips of real people at
25 fps, tracking across frames as the live engine does). Jitter is in body scales (the feature's unit:
max(torso, shoulder width) in pixels), measured as the second-difference residual x[t] - (x[t-1] + x[t+1]) / 2
of the hip-centred features on the least-moving quarter of frames (white noise of sd s gives a residual of
sd s * sqrt(1.5)); root mean square, so it keeps the heavy tail (the median absolute residual gives about half).

    noisy = add_landmark_noise(xy, depth, (640, 480), rng)   # noisy.landmarks (T, 33, 3), noisy.present (T,)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from streaming.pose_features import body_frame
from streaming.pose_spec import (
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

#: Jitter sd (body scales) per joint kind: (visible, vis > 0.5; hidden, vis <= 0.5). Measured as above, left and
#: right averaged; hips measured 0.0048 / 0.0095 in the hip-centred feature, i.e. about sqrt(2) more per hip.
JITTER_SD: dict[str, tuple[float, float]] = {
    "nose": (0.018, 0.030),  # n=314 visible; hidden never seen: taken as the shoulders' ratio
    "shoulder": (0.011, 0.020),
    "elbow": (0.024, 0.048),
    "wrist": (0.034, 0.065),
    "hip": (0.007, 0.014),
    "knee": (0.029, 0.057),
    "ankle": (0.040, 0.078),
}
#: Median visibility of in-frame joints (measured): nose, shoulders, hips 0.997-1.000; elbows 0.92; wrists 0.66
#: (hands blur and hide); knees 0.93 on the near side, 0.71 on the far side; ankles 0.93 / 0.77. As logits:
VIS_LOGIT: dict[str, float] = {
    "nose": 6.5,
    "shoulder": 6.5,
    "elbow": 2.8,
    "wrist": 0.9,
    "hip": 6.0,
    "knee": 3.0,
    "ankle": 3.0,
}
#: Out-of-frame joints (measured, 4361 of them): visibility median 0.017, p75 0.23, p95 0.70, 10.5 % above 0.5:
#: near the edge still fairly visible, far out not. Logit = OUT_LOGIT - OUT_SLOPE * (body scales outside);
#: on 340 synthetic clips this gives median 0.06, p75 0.28, p95 0.73, 13 % above 0.5 (in frame: p5 0.17,
#: p25 0.74, median 0.96, 85 % above 0.5).
OUT_LOGIT, OUT_SLOPE = 0.3, 4.0
#: In-frame visibility (all joints, measured): p5 0.10, p25 0.77, median 0.97, 84.5 % above 0.5. The spreads
#: below reproduce that with the per-joint medians (per-clip offset sd, per-frame sd of a slow AR(1) process).
VIS_CLIP_SD, VIS_FRAME_SD, VIS_AR = 0.8, 1.3, 0.6
#: A joint behind the body from the camera loses up to this much logit (self-occlusion), reached at a torso's
OCCLUSION_LOGIT = 4.0
#: ... measured in metres behind the torso's mean depth; a torso is about 0.45 m (training.motion.TORSO_M).
OCCLUSION_DEPTH_M = 0.45
#: No person found: 2 of the 8 real clips had gaps (fast motion, blur, partial views), 2-12 frames long at
#: 25 fps, 2.8 % of all frames. At 10 features/s: a quarter of the clips get gaps, 0.6 per second, 1-5 steps.
DROPOUT_CLIP_PROB, DROPOUT_RATE_HZ, DROPOUT_MAX_STEPS = 0.25, 0.6, 5
#: Landmark-model errors that last the clip (clothing, hair, lens): a constant per-joint offset, body scales.
BIAS_SD = 0.03
#: Occasional grossly wrong landmarks (the gap between RMS and median residuals): probability per hidden
#: joint and frame, and their size in body scales.
OUTLIER_PROB, OUTLIER_SD = 0.02, 0.25
#: A person is found only with this many of the 13 joints in the frame and a shoulder or the nose among them.
MIN_JOINTS_IN_FRAME = 5


def _kinds() -> list[str]:
    """The joint kind (JITTER_SD / VIS_LOGIT key) of each of the 33 BlazePose landmarks."""
    kind = ["nose"] * NUM_BODY_LANDMARKS  # face points 1-10 move with the nose
    for j, k in (
        (L_SHOULDER, "shoulder"),
        (R_SHOULDER, "shoulder"),
        (L_ELBOW, "elbow"),
        (R_ELBOW, "elbow"),
        (L_WRIST, "wrist"),
        (R_WRIST, "wrist"),
        (L_HIP, "hip"),
        (R_HIP, "hip"),
        (L_KNEE, "knee"),
        (R_KNEE, "knee"),
        (L_ANKLE, "ankle"),
        (R_ANKLE, "ankle"),
    ):
        kind[j] = k
    for j in range(17, 23):
        kind[j] = "wrist"
    for j in range(29, 33):
        kind[j] = "ankle"
    return kind


_KIND = _kinds()
_SD_VISIBLE = np.array([JITTER_SD[k][0] for k in _KIND])
_SD_HIDDEN = np.array([JITTER_SD[k][1] for k in _KIND])
_BASE_LOGIT = np.array([VIS_LOGIT[k] for k in _KIND])
_FEATURE_13 = (NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST, L_HIP, R_HIP, L_KNEE, R_KNEE)
_FEATURE_13 += (L_ANKLE, R_ANKLE)


@dataclass(frozen=True)
class NoiseConfig:
    """How noisy: `jitter` scales every jitter sd (per clip it also varies by a log-normal factor of sd
    `jitter_spread`); `dropouts` False gives none; `enabled` False keeps the true landmarks (visibility 1 in frame)."""

    jitter: float = 1.0
    jitter_spread: float = 0.3
    dropouts: bool = True
    enabled: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class NoisyLandmarks:
    """(T, 33, 3) landmarks as the extractor would give them (x, y pixels, visibility) and who was found (T,)."""

    landmarks: np.ndarray
    present: np.ndarray


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], rho: float, sd: float) -> np.ndarray:
    """A stationary AR(1) process along axis 0 (time) with marginal sd `sd`."""
    out = np.empty(shape)
    out[0] = rng.normal(0.0, sd, shape[1:])
    innov = rng.normal(0.0, sd * np.sqrt(1 - rho * rho), shape)
    for t in range(1, shape[0]):
        out[t] = rho * out[t - 1] + innov[t]
    return out


def _outside(xy: np.ndarray, size: tuple[int, int], scale: np.ndarray) -> np.ndarray:
    """How far (body scales) each point lies outside the frame; 0 inside."""
    w, h = size
    dx = np.maximum(0.0, np.maximum(-xy[..., 0], xy[..., 0] - w))
    dy = np.maximum(0.0, np.maximum(-xy[..., 1], xy[..., 1] - h))
    return np.hypot(dx, dy) / scale[:, None]


def _found(xy: np.ndarray, depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Frames where the detector can find the person: enough joints in view, in front of the camera."""
    w, h = size
    joints = xy[:, list(_FEATURE_13)]
    inside = (joints[..., 0] >= 0) & (joints[..., 0] < w) & (joints[..., 1] >= 0) & (joints[..., 1] < h)
    anchor = inside[:, :3].any(axis=1)  # nose or a shoulder
    # BlazePose's detector finds the face and the landmark model infers the rest: a close-up with only the head
    # and shoulders in view is still found (ucf101-mini's ApplyEyeMakeup: a person in every frame, hips unseen)
    face_and_shoulders = inside[:, :3].all(axis=1)
    enough = (inside.sum(axis=1) >= MIN_JOINTS_IN_FRAME) & anchor
    # the camera must be in front of the head and shoulders (a sitting person's knees may come closer)
    in_front = depth[:, [NOSE, L_SHOULDER, R_SHOULDER]].min(axis=1) > 0.2
    return (enough | face_and_shoulders) & in_front


def add_landmark_noise(
    xy: np.ndarray,
    depth: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    config: NoiseConfig = NoiseConfig(),
) -> NoisyLandmarks:
    """Make true projected landmarks ((T, 33, 2) pixels, (T, 33) depths in metres) look like the extractor's."""
    t_len = xy.shape[0]
    scale = np.array([body_frame(frame)[1] for frame in xy])  # body scale (pixels) per frame, as the feature uses
    present = _found(xy, depth, size)
    out = np.zeros((t_len, NUM_BODY_LANDMARKS, 3))
    if not config.enabled:
        out[..., :2] = xy
        out[..., 2] = np.where(_outside(xy, size, scale) > 0, 0.0, 1.0)
        return NoisyLandmarks(out, present)

    # visibility: per-joint base, self-occlusion, frame edges, per-clip and per-frame variation, motion blur
    torso_depth = depth[:, [L_SHOULDER, R_SHOULDER, L_HIP, R_HIP]].mean(axis=1, keepdims=True)
    behind = np.clip((depth - torso_depth) / OCCLUSION_DEPTH_M, 0.0, 1.0)
    speed = np.zeros(xy.shape[:2])
    speed[1:] = np.linalg.norm(np.diff(xy, axis=0), axis=-1) / scale[1:, None]
    logit = (
        _BASE_LOGIT[None]
        + rng.normal(0.0, VIS_CLIP_SD, NUM_BODY_LANDMARKS)[None]
        + _ar1(rng, (t_len, NUM_BODY_LANDMARKS), VIS_AR, VIS_FRAME_SD)
        - OCCLUSION_LOGIT * behind
        - 2.0 * np.maximum(0.0, speed - 0.3)
    )
    outside = _outside(xy, size, scale)
    out_logit = OUT_LOGIT - OUT_SLOPE * outside + rng.normal(0.0, 1.5, outside.shape)
    logit = np.where(outside > 0, np.minimum(logit, out_logit), logit)
    vis = _sigmoid(logit)

    # position: per-clip bias + white jitter growing as visibility falls (and out of the frame) + outliers
    clip_factor = config.jitter * float(np.exp(rng.normal(0.0, config.jitter_spread)))
    sd = clip_factor * (_SD_VISIBLE[None] * vis + _SD_HIDDEN[None] * (1 - vis)) * (1 + np.minimum(outside, 3.0))
    noise = rng.normal(0.0, 1.0, xy.shape) * sd[..., None]
    noise += rng.normal(0.0, BIAS_SD * config.jitter, (1, NUM_BODY_LANDMARKS, 2))
    wild = rng.random(xy.shape[:2]) < OUTLIER_PROB * (1 - vis)
    noise += np.where(wild[..., None], rng.normal(0.0, OUTLIER_SD, xy.shape), 0.0)
    out[..., :2] = xy + noise * scale[:, None, None]
    out[..., 2] = vis

    if config.dropouts and rng.random() < DROPOUT_CLIP_PROB:
        steps = np.arange(t_len)
        for _ in range(rng.poisson(DROPOUT_RATE_HZ * t_len / 10.0)):
            start, length = int(rng.integers(t_len)), int(rng.integers(1, DROPOUT_MAX_STEPS + 1))
            present &= ~((steps >= start) & (steps < start + length))
    return NoisyLandmarks(out, present)
