"""A pose bundle: the two BlazePose ONNX files, NOTICE and a manifest, written atomically as one folder.

    bundle = build_pose_bundle(Path("models/pose"))            # wheel from the cache, else pip downloads it
    bundle = build_pose_bundle(Path("out"), wheel=Path("mediapipe-0.10.21-....whl"))

The bundle has no head and no labels: it turns frames into 43-d pose features (streaming.pose_features) and is
the extractor a pose head is later trained on and exported into. Everything that makes the files is in
export.pose_export; this module only describes them in the bundle contract (streaming.bundle), so that
`load_bundle` can check them and the engine knows how to serve them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from export.pose_export import DETECTOR, DETECTOR_FILE, LANDMARK_FILE, LANDMARKS, MEDIAPIPE_VERSION, export_pose_models
from streaming.bundle import Bundle, Manifest, OnnxFile, bundle_writer, load_bundle, sha256_file, write_manifest
from streaming.pose_spec import PoseSpec
from streaming.preprocess import FrameSpec
from streaming.sampler import Sampling

#: Bundle role -> (file name, the converted model's spec: input name, primary output).
POSE_FILES = {
    "pose_detector": (DETECTOR_FILE, DETECTOR, "boxes"),
    "pose_landmarks": (LANDMARK_FILE, LANDMARKS, "landmarks"),
}
DEFAULT_DESCRIPTION = (
    f"MediaPipe BlazePose (mediapipe {MEDIAPIPE_VERSION}, Apache-2.0) person detector + full landmark model in "
    "ONNX: per frame, the main person's 13 body joints (x, y, visibility; hip-centred, torso-scaled) plus a "
    "presence flag and where the body is in the frame (size, hip offset). No head yet: a pose extractor for "
    "training a head on."
)


def pose_manifest(root: Path, provenance: dict[str, Any], spec: PoseSpec, description: str = "") -> Manifest:
    """The manifest for the pose files already in `root`, from what export_pose_models returned.

    `frame` describes the landmark model's input (the crop the features are computed from): 256x256 RGB. The
    scaling of each model's input is in `pose` (det_range, lm_range), which is what the pose runtime reads.
    """
    files = {}
    for role, (name, model, output) in POSE_FILES.items():
        files[role] = OnnxFile(path=name, sha256=sha256_file(root / name), input=model.input_name, output=output)
    parity = {role: provenance["parity"][name] for role, (name, _, _) in POSE_FILES.items()}
    parity["bounds"] = provenance["parity_bounds"]
    parity["real_frames"] = provenance["real_frames"]
    return Manifest(
        feature_size=spec.feature_size,
        frame=FrameSpec(height=spec.lm_size, width=spec.lm_size, color="RGB", preprocessing="unit"),
        files=files,
        labels=[],
        sampling=Sampling(),
        extractor_kind="pose",
        pose=spec.to_dict(),
        parity=parity,
        provenance={k: v for k, v in provenance.items() if k not in ("parity", "parity_bounds")},
        description=description or DEFAULT_DESCRIPTION,
    )


def build_pose_bundle(
    out: Path, wheel: Path | None = None, cache_dir: Path | None = None, description: str = ""
) -> Bundle:
    """Convert the pinned BlazePose models into a new pose bundle at `out` (replaced only when complete).

    Raises ActionstreamError in one line for a missing or wrong wheel, a failed download or a parity failure;
    nothing at `out` changes then.
    """
    from export.extractor_export import check_out_dir

    out = Path(out)
    check_out_dir(out)
    spec = PoseSpec()
    with bundle_writer(out) as tmp:
        provenance = export_pose_models(tmp, wheel=wheel, cache_dir=cache_dir)
        write_manifest(tmp, pose_manifest(tmp, provenance, spec, description))
    return load_bundle(out)
