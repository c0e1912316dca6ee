"""The settings of the pose extractor (MediaPipe BlazePose: a person detector, then a landmark model on a crop).

Every number is MediaPipe's, looked up in its graphs, not tuned here; the source of each is named beside it.
`PoseSpec` travels in a bundle's manifest under the key "pose", so a bundle trained on pose features is served
with exactly the settings it was trained with. The feature layout (which joints, in which order) is defined once,
here, and `streaming.pose_features` builds the vectors from it.

    spec = PoseSpec()
    PoseSpec.from_dict(spec.to_dict()) == spec
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

#: BlazePose landmark indices (mediapipe/modules/pose_landmark/pose_landmark_cpu.pbtxt).
NOSE, L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_WRIST, R_WRIST = 0, 11, 12, 13, 14, 15, 16
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 23, 24, 25, 26, 27, 28
_LEFT_RIGHT = (
    (L_SHOULDER, R_SHOULDER),
    (L_ELBOW, R_ELBOW),
    (L_WRIST, R_WRIST),
    (L_HIP, R_HIP),
    (L_KNEE, R_KNEE),
    (L_ANKLE, R_ANKLE),
)
#: Each body joint's left/right counterpart, both ways (the nose has none): a person seen in a mirror.
MIRRORED: dict[int, int] = {a: b for left, right in _LEFT_RIGHT for a, b in ((left, right), (right, left))}
#: The two auxiliary landmarks after the 33 body ones: the body centre and a point encoding size and rotation;
#: the next frame's crop is derived from them (pose_landmarks_to_roi.pbtxt via tensors_to_pose_landmarks...).
AUX_CENTER, AUX_SCALE = 33, 34
NUM_BODY_LANDMARKS = 33
NUM_MODEL_LANDMARKS = 39  # 33 body + 2 auxiliary + 4 unused; 5 values each (x, y, z, visibility, presence)

#: The 13 joints BlazePose shares with Kinect and OpenPose skeletons (nose standing in for the head), in feature
#: order. Changing this list changes what a trained head expects: it is stored with the bundle.
FEATURE_JOINTS: tuple[int, ...] = (
    NOSE,
    L_SHOULDER,
    R_SHOULDER,
    L_ELBOW,
    R_ELBOW,
    L_WRIST,
    R_WRIST,
    L_HIP,
    R_HIP,
    L_KNEE,
    R_KNEE,
    L_ANKLE,
    R_ANKLE,
)
FEATURE_JOINT_NAMES: tuple[str, ...] = (
    "nose",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ankle",
    "r_ankle",
)
#: The placement channels after the presence flag (streaming.pose_features): body scale, hip x, hip y.
PLACEMENT_CHANNELS = ("size", "hip_x", "hip_y")


def feature_size(joints: tuple[int, ...] = FEATURE_JOINTS, placement: bool = True) -> int:
    """x, y, visibility per joint, a presence flag, and the placement channels unless `placement` is False."""
    return 3 * len(joints) + 1 + (len(PLACEMENT_CHANNELS) if placement else 0)


#: Skeleton lines between FEATURE_JOINTS positions (for drawing): arms, shoulders, torso sides, hips, legs.
SKELETON_EDGES: tuple[tuple[int, int], ...] = (
    (1, 3),
    (3, 5),
    (2, 4),
    (4, 6),
    (1, 2),
    (1, 7),
    (2, 8),
    (7, 8),
    (7, 9),
    (9, 11),
    (8, 10),
    (10, 12),
)


@dataclass(frozen=True)
class PoseSpec:
    """Detector, crop and landmark settings; raises on values that cannot work.

    Sources: det_* anchors and decoding from mediapipe/modules/pose_detection/pose_detection_cpu.pbtxt
    (SsdAnchorsCalculator, TensorsToDetectionsCalculator, NonMaxSuppressionCalculator: WEIGHTED, IoU 0.3).
    Detection score threshold 0.5: MediaPipe's pose solution (python/solutions/pose.py) overrides the pbtxt's
    min_score_thresh 0.2 with min_detection_confidence=0.5; the Tasks pose detector defaults to 0.5 too.
    roi_*: the full-body pose_detection_to_roi / pose_landmarks_to_roi.pbtxt (AlignmentPointsRectsCalculator
    keypoints 0->1, target 90 degrees; RectTransformationCalculator scale 1.25, square_long), as also set in
    tasks/cc/vision/pose_detector/pose_detector_graph.cc (older upper-body revisions used keypoints 2->3, 1.5).
    lm_*: pose_landmark_by_roi_cpu.pbtxt (ImageToTensorCalculator 256x256, [0, 1], border unset = replicate)
    and tensors_to_pose_landmarks_and_segmentation.pbtxt (39 landmarks, sigmoid visibility, pose flag >= 0.5).
    """

    # detector input: the whole frame letterboxed (keep aspect, zero border) to 224x224, RGB in [-1, 1]
    det_size: int = 224
    det_range: tuple[float, float] = (-1.0, 1.0)
    # SSD anchors (SsdAnchorsCalculatorOptions)
    num_layers: int = 5
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset: float = 0.5
    strides: tuple[int, ...] = (8, 16, 32, 32, 32)
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0  # the proto's default: one extra anchor per location and layer
    fixed_anchor_size: bool = True
    num_boxes: int = 2254
    # decoding (TensorsToDetectionsCalculatorOptions): x, y, w, h then 4 keypoints (x, y), all divided by 224
    num_keypoints: int = 4
    box_scale: float = 224.0
    score_clipping: float = 100.0
    det_score_threshold: float = 0.5
    nms_iou: float = 0.3  # WEIGHTED non-max suppression, overlap = intersection over union
    # crop (ROI): from detection keypoints 0 (hip centre) -> 1 (size/rotation point), or landmarks 33 -> 34
    roi_rotation_target_deg: float = 90.0
    roi_scale: float = 1.25
    # landmark model input: the rotated square crop, 256x256, RGB in [0, 1], border pixels replicated
    lm_size: int = 256
    lm_range: tuple[float, float] = (0.0, 1.0)
    lm_border: str = "replicate"
    pose_flag_threshold: float = 0.5
    # features
    feature_joints: tuple[int, ...] = FEATURE_JOINTS
    #: The placement channels (body size and hip offset in frame heights, streaming.pose_features); False: the
    #: 40-d layout of bundles made before them (a manifest without the key).
    placement: bool = True

    def __post_init__(self) -> None:
        if self.det_size <= 0 or self.lm_size <= 0:
            raise ValueError(f"model input sizes must be positive, got {self.det_size} and {self.lm_size}")
        if len(self.strides) != self.num_layers:
            raise ValueError(f"{len(self.strides)} strides for {self.num_layers} anchor layers")
        if not 0.0 <= self.det_score_threshold <= 1.0 or not 0.0 <= self.pose_flag_threshold <= 1.0:
            raise ValueError("score thresholds must lie in [0, 1]")
        if not 0.0 < self.nms_iou <= 1.0:
            raise ValueError(f"nms_iou must lie in (0, 1], got {self.nms_iou}")
        if self.roi_scale <= 0:
            raise ValueError(f"roi_scale must be positive, got {self.roi_scale}")
        if self.lm_border not in ("replicate", "zero"):
            raise ValueError(f"lm_border must be 'replicate' or 'zero', got {self.lm_border!r}")
        if not self.feature_joints or any(not 0 <= j < NUM_BODY_LANDMARKS for j in self.feature_joints):
            raise ValueError(f"feature_joints must be BlazePose body landmarks 0..32, got {self.feature_joints}")

    @property
    def feature_size(self) -> int:
        """x, y, visibility per joint, a presence flag and the 3 placement channels: 13 * 3 + 1 + 3 = 43 with
        the default joints (40 without placement)."""
        return feature_size(self.feature_joints, self.placement)

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "PoseSpec":
        """Rebuild from a manifest's "pose" entry; unknown keys are an error (a newer format), missing keys default
        (except `placement`: a manifest without it predates the placement channels)."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"unknown pose settings {unknown}; this actionstream is older than the bundle")
        kwargs = {"placement": False}  # written before the placement channels: their 40-d layout
        for name, value in d.items():
            default = getattr(cls, name, None)
            kwargs[name] = tuple(value) if isinstance(default, tuple) else type(default)(value)
        return cls(**kwargs)
