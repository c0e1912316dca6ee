"""Random camera views and the pinhole projection of 3D skeletons into image pixels.

The synthetic motion lives in a world frame with y up, in metres, and the person facing +z at azimuth 0. A
camera looks at a target point from `distance` metres, at `azimuth` degrees around the vertical axis (0 = in
front of the person, 180 = behind) and `elevation` degrees above the target (positive looks down), rolled by
`roll` degrees about its optical axis. Image x grows to the right, y downwards, as in the pose pipeline.

    view = random_view(rng, target=(0.0, 0.9, 0.0), span_m=1.9, framing="full")
    xy, depth = project(points_xyz, view)     # (..., 2) pixels, (...,) metres along the optical axis
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

#: Frame sizes of webcams, phones and the UCF101 clips (w, h); the features are in pixels, so aspect matters.
FRAME_SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720), (320, 240), (1920, 1080), (480, 640))
#: Framings: the whole body in view, a desk webcam (head to about the hips; legs out of frame), or a close-up
#: (head and shoulders, the hips below the frame: someone at a mirror, a video call, UCF101's ApplyEyeMakeup).
FRAMINGS = ("full", "upper", "closeup")


@dataclass(frozen=True)
class CameraView:
    """One clip's camera: where it stands relative to a target point, its lens and its frame size."""

    azimuth_deg: float
    elevation_deg: float
    roll_deg: float
    distance_m: float
    focal_px: float
    width: int
    height: int
    target: tuple[float, float, float] = (0.0, 1.0, 0.0)
    #: The principal point's offset from the frame centre, in frame fractions (subject not centred).
    offset: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if self.distance_m <= 0 or self.focal_px <= 0 or self.width < 2 or self.height < 2:
            raise ValueError(f"bad camera: {self}")

    @property
    def position(self) -> np.ndarray:
        az, el = math.radians(self.azimuth_deg), math.radians(self.elevation_deg)
        direction = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
        return np.asarray(self.target) + self.distance_m * direction

    def axes(self) -> np.ndarray:
        """Rows: the camera's right, down and forward unit vectors in world coordinates."""
        forward = np.asarray(self.target) - self.position
        forward /= np.linalg.norm(forward)
        right = np.cross(forward, [0.0, 1.0, 0.0])
        if np.linalg.norm(right) < 1e-6:  # looking straight down or up: any right vector will do
            right = np.array([1.0, 0.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, forward)
        r = math.radians(self.roll_deg)
        right, up = math.cos(r) * right + math.sin(r) * up, -math.sin(r) * right + math.cos(r) * up
        return np.stack([right, -up, forward])

    def to_dict(self) -> dict:
        return asdict(self)


def project(points: np.ndarray, view: CameraView) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole projection of world points (..., 3) to pixels (..., 2) and their depth (..., ) in metres.

    Points behind the camera get depth <= 0; their pixels are meaningless and callers treat them as out of view.
    """
    cam = (np.asarray(points, np.float64) - view.position) @ view.axes().T
    depth = cam[..., 2]
    safe = np.where(np.abs(depth) < 1e-6, 1e-6, depth)
    cx = view.width * (0.5 + view.offset[0])
    cy = view.height * (0.5 + view.offset[1])
    xy = np.stack([view.focal_px * cam[..., 0] / safe + cx, view.focal_px * cam[..., 1] / safe + cy], axis=-1)
    return xy, depth


def random_view(
    rng: np.random.Generator,
    target: tuple[float, float, float],
    span_m: float,
    framing: str = "full",
) -> CameraView:
    """A plausible camera looking at `target` (world point, metres) so that `span_m` metres of body fill the frame.

    full: any azimuth, half the time near-frontal (sd 30 deg), elevation -10..35 deg, 45-90 deg lenses, the
    span filling 45-90 % of the frame (the caller includes how far the person travels). upper: a desk or
    laptop webcam: near-frontal, 55-80 deg lens, close, `span_m` (head to hips) filling 80-130 % of the frame
    height: legs below the frame.
    closeup: as upper, but `span_m` (the caller's head-and-shoulders span) fills 70-110 % of the frame height,
    so the hips and often the elbows are out of the frame.
    """
    if framing not in FRAMINGS:
        raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
    width, height = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    roll = float(np.clip(rng.normal(0.0, 3.0), -12.0, 12.0))
    if framing in ("upper", "closeup"):
        hfov = math.radians(rng.uniform(55.0, 80.0))
        azimuth = float(rng.normal(0.0, 15.0))
        elevation = float(rng.uniform(-10.0, 20.0))
        fill = rng.uniform(0.8, 1.3) if framing == "upper" else rng.uniform(0.7, 1.1)
        offset = (float(rng.normal(0.0, 0.06)), float(rng.normal(0.05, 0.05)))
    else:
        hfov = math.radians(rng.uniform(45.0, 90.0))
        # people face anywhere, but a camera set up to watch someone mostly sees them from the front
        azimuth = float(rng.normal(0.0, 30.0)) if rng.random() < 0.5 else float(rng.uniform(-180.0, 180.0))
        elevation = float(rng.uniform(-10.0, 35.0))
        fill = rng.uniform(0.45, 0.9)
        offset = (float(rng.normal(0.0, 0.08)), float(rng.normal(0.0, 0.05)))
    focal = (width / 2) / math.tan(hfov / 2)
    frame_px = min(height, width) if framing == "full" else height  # a portrait phone shows more body
    distance = max(0.35, focal * span_m / (fill * frame_px))
    return CameraView(
        azimuth_deg=azimuth,
        elevation_deg=elevation,
        roll_deg=roll,
        distance_m=float(distance),
        focal_px=float(focal),
        width=int(width),
        height=int(height),
        target=tuple(float(v) for v in target),
        offset=offset,
    )
