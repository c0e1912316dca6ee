"""The pose extractor: frames of many streams in, the main person's landmarks and feature vectors out.

Per stream it follows MediaPipe's BlazePose pipeline (pose_landmark_cpu.pbtxt): while a person is tracked, the
landmark model runs on a crop derived from the previous frame's landmarks and the detector is skipped; when
there is no crop yet, or the tracked crop lost the person (pose flag below threshold), the detector finds one.
The extractor itself holds no per-stream state: each stream keeps a `PoseTrack` (from `new_state()`) and passes
it in with its frame, so one extractor (two ONNX sessions) serves every stream, batched:

    extractor = PoseExtractor("models/pose/pose_detector.onnx", "models/pose/pose_landmarks.onnx", PoseSpec())
    tracks = [extractor.new_state() for _ in streams]
    result = extractor.extract([frame_a, frame_b], tracks)   # result.features: 2 x 40; result.persons[i]

In one `extract` call: one detector call for all frames without a crop; one landmark call for all frames with a
crop; then, for frames whose tracked crop lost the person, one more detector and landmark call for those only.
A frame's result does not depend on the other frames in its batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from streaming.errors import BundleError
from streaming.person import ExtractResult, Person
from streaming.pose_detector import decode_detections, letterbox, letterbox_to_frame, ssd_anchors, weighted_nms
from streaming.pose_features import pose_features
from streaming.pose_roi import Roi, crop_roi, crop_to_frame, roi_from_detection, roi_from_landmarks
from streaming.pose_spec import NUM_BODY_LANDMARKS, NUM_MODEL_LANDMARKS, PoseSpec
from streaming.providers import create_session


@dataclass
class PoseTrack:
    """One stream's tracking state: the crop to look at in its next frame, or None (run the detector)."""

    roi: Roi | None = None


@dataclass
class PoseStats:
    """Model calls so far (a call is one batched session run); for metrics and to check that tracking works."""

    detector_calls: int = 0
    detector_frames: int = 0
    landmark_calls: int = 0
    landmark_frames: int = 0


@dataclass
class _Found:
    landmarks: np.ndarray  # 39 x 3: x, y in frame pixels, visibility probability
    score: float


@dataclass
class _Session:
    """An ONNX session plus what we learned about its input layout and which output is which."""

    session: object
    input_name: str
    nchw: bool
    batch_one: bool  # exported with a fixed batch of 1: run frame by frame
    outputs: dict[str, str] = field(default_factory=dict)  # role -> output name

    def run(self, batch: np.ndarray, roles: tuple[str, ...]) -> list[np.ndarray]:
        if self.nchw:
            batch = batch.transpose(0, 3, 1, 2)
        batch = np.ascontiguousarray(batch, np.float32)
        names = [self.outputs[r] for r in roles]
        if not self.batch_one:
            return self.session.run(names, {self.input_name: batch})
        parts = [self.session.run(names, {self.input_name: batch[i : i + 1]}) for i in range(len(batch))]
        return [np.concatenate([p[k] for p in parts]) for k in range(len(names))]


def _open(path: str | os.PathLike, device: str, threads: int) -> _Session:
    if not Path(path).is_file():
        raise BundleError(f"{path}: pose model not found (expected a BlazePose ONNX file there)")
    sess = create_session(path, device=device, threads=threads)
    inp = sess.get_inputs()[0]
    shape = list(inp.shape)
    nchw = len(shape) == 4 and shape[1] == 3 and shape[3] != 3
    batch_one = shape[0] == 1
    return _Session(sess, inp.name, nchw, batch_one)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


class PoseExtractor:
    """BlazePose detector + landmark model on ONNX Runtime; stateless, batched across streams."""

    def __init__(
        self,
        detector_path: str | os.PathLike,
        landmarks_path: str | os.PathLike,
        spec: PoseSpec | None = None,
        device: str = "auto",
        threads: int = 0,
    ):
        self.spec = spec or PoseSpec()
        self.anchors = ssd_anchors(self.spec)
        self.detector = _open(detector_path, device, threads)
        self.landmarker = _open(landmarks_path, device, threads)
        self._identify_outputs()
        self.stats = PoseStats()

    @property
    def feature_size(self) -> int:
        return self.spec.feature_size

    @property
    def provider(self) -> str:
        return self.detector.session.get_providers()[0]

    def new_state(self) -> PoseTrack:
        return PoseTrack()

    def _identify_outputs(self) -> None:
        """Tell the outputs apart by their shapes on one blank input (names differ between conversions)."""
        spec = self.spec
        for model, size, wanted in (
            (
                self.detector,
                spec.det_size,
                {"boxes": spec.num_boxes * (4 + 2 * spec.num_keypoints), "scores": spec.num_boxes},
            ),
            (self.landmarker, spec.lm_size, {"landmarks": NUM_MODEL_LANDMARKS * 5, "flag": 1}),
        ):
            names = [o.name for o in model.session.get_outputs()]
            blank = np.zeros((1, size, size, 3), np.float32)
            if model.nchw:
                blank = blank.transpose(0, 3, 1, 2)
            arrays = model.session.run(names, {model.input_name: np.ascontiguousarray(blank)})
            for role, count in wanted.items():
                match = [n for n, a in zip(names, arrays) if a.size == count]
                if len(match) != 1:
                    shapes = {n: a.shape for n, a in zip(names, arrays)}
                    raise BundleError(
                        f"pose model outputs {shapes}: cannot tell which is {role!r} "
                        f"({count} values per image expected)"
                    )
                model.outputs[role] = match[0]

    # -- the two models, batched ---------------------------------------------------------------------------

    def _detect(self, frames: list[np.ndarray]) -> list[Roi | None]:
        """The crop for the main person of each frame from the detector, or None (nobody found)."""
        if not frames:
            return []
        spec = self.spec
        batch = np.empty((len(frames), spec.det_size, spec.det_size, 3), np.float32)
        lo, hi = spec.det_range
        for i, frame in enumerate(frames):
            rgb = cv2.cvtColor(letterbox(frame, spec.det_size), cv2.COLOR_BGR2RGB)
            np.multiply(rgb, np.float32((hi - lo) / 255.0), out=batch[i], casting="unsafe")
            batch[i] += np.float32(lo)
        boxes, scores = self.detector.run(batch, ("boxes", "scores"))
        self.stats.detector_calls += 1
        self.stats.detector_frames += len(frames)
        rois: list[Roi | None] = []
        for i, frame in enumerate(frames):
            dets = weighted_nms(decode_detections(boxes[i], scores[i], self.anchors, spec), spec.nms_iou)
            if not dets:
                rois.append(None)
                continue
            best = max(dets, key=lambda d: d.area)  # the main person: the biggest in view
            h, w = frame.shape[:2]
            rois.append(roi_from_detection(letterbox_to_frame(best.keypoints, w, h), spec))
        return rois

    def _landmarks(self, frames: list[np.ndarray], rois: list[Roi]) -> list[_Found]:
        """Landmarks (frame pixels) and pose flag of each frame's crop."""
        if not frames:
            return []
        spec = self.spec
        size = spec.lm_size
        batch = np.empty((len(frames), size, size, 3), np.float32)
        lo, hi = spec.lm_range
        for i, (frame, roi) in enumerate(zip(frames, rois)):
            rgb = cv2.cvtColor(crop_roi(frame, roi, size, spec.lm_border), cv2.COLOR_BGR2RGB)
            np.multiply(rgb, np.float32((hi - lo) / 255.0), out=batch[i], casting="unsafe")
            if lo:
                batch[i] += np.float32(lo)
        raw, flag = self.landmarker.run(batch, ("landmarks", "flag"))
        self.stats.landmark_calls += 1
        self.stats.landmark_frames += len(frames)
        raw = raw.reshape(len(frames), NUM_MODEL_LANDMARKS, 5).astype(np.float64)
        flag = flag.reshape(len(frames)).astype(np.float64)
        found = []
        for i, roi in enumerate(rois):
            lm = np.empty((NUM_MODEL_LANDMARKS, 3))
            lm[:, :2] = crop_to_frame(raw[i, :, :2], roi, size)
            lm[:, 2] = _sigmoid(raw[i, :, 3])
            found.append(_Found(lm, float(flag[i])))
        return found

    # -- the public call ------------------------------------------------------------------------------------

    def extract(self, frames_bgr: list[np.ndarray], states: list[PoseTrack]) -> ExtractResult:
        """Features (N x feature_size float32) and the main person (or None) of each frame; updates `states`.

        `states[i]` is the PoseTrack of the stream `frames_bgr[i]` came from (one frame per stream per call).
        """
        if len(frames_bgr) != len(states):
            raise ValueError(f"{len(frames_bgr)} frames but {len(states)} tracking states")
        n = len(frames_bgr)
        spec = self.spec
        frames = [_as_bgr(f) for f in frames_bgr]
        rois: list[Roi | None] = [s.roi for s in states]
        tracked = [r is not None for r in rois]

        fresh = [i for i in range(n) if rois[i] is None]
        for i, roi in zip(fresh, self._detect([frames[i] for i in fresh])):
            rois[i] = roi
        with_roi = [i for i in range(n) if rois[i] is not None]
        found: dict[int, _Found] = {}
        lost: list[int] = []
        for i, f in zip(with_roi, self._landmarks([frames[i] for i in with_roi], [rois[i] for i in with_roi])):
            if f.score >= spec.pose_flag_threshold:
                found[i] = f
            elif tracked[i]:
                lost.append(i)  # the tracked crop lost the person: look for them again, this frame
        if lost:
            again = [(i, r) for i, r in zip(lost, self._detect([frames[i] for i in lost])) if r is not None]
            for (i, _), f in zip(again, self._landmarks([frames[i] for i, _ in again], [r for _, r in again])):
                if f.score >= spec.pose_flag_threshold:
                    found[i] = f

        features = np.zeros((n, spec.feature_size), np.float32)
        persons: list[Person | None] = [None] * n
        for i in range(n):
            f = found.get(i)
            if f is None:
                states[i].roi = None
                continue
            states[i].roi = roi_from_landmarks(f.landmarks, spec)
            size = (frames[i].shape[1], frames[i].shape[0]) if spec.placement else None
            features[i] = pose_features(f.landmarks, True, spec.feature_joints, size)
            persons[i] = self._person(f, frames[i].shape[1], frames[i].shape[0])
        return ExtractResult(features, persons)

    def _person(self, f: _Found, w: int, h: int) -> Person:
        body = f.landmarks[:NUM_BODY_LANDMARKS, :2]
        x0, y0 = np.clip(body.min(0), 0, [w, h])
        x1, y1 = np.clip(body.max(0), 0, [w, h])
        joints = f.landmarks[list(self.spec.feature_joints)].copy()
        joints[:, 0] /= w
        joints[:, 1] /= h
        return Person((float(x0 / w), float(y0 / h), float(x1 / w), float(y1 / h)), joints.astype(np.float32), f.score)
