"""The bundle: the one artifact that passes from training to the live engine.

A folder with manifest.json, extractor.onnx, optionally extractor.int8.onnx and (once trained) head.onnx.
The runtime owns this contract: it is what the engine reads, and export/ and training/ write it through here.

    bundle = load_bundle("models/demo")
    print(bundle.manifest.labels, bundle.manifest.sampling.window)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streaming.atomic import atomic_dir, atomic_write_text
from streaming.errors import BundleError
from streaming.preprocess import FrameSpec
from streaming.sampler import Sampling

FORMAT = "actionstream-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Roles a bundle file can play, and their conventional file names.
FILE_NAMES = {
    "extractor": "extractor.onnx",
    "extractor_int8": "extractor.int8.onnx",
    "head": "head.onnx",
    "head_int8": "head.int8.onnx",
    "pose_detector": "pose_detector.onnx",
    "pose_landmarks": "pose_landmarks.onnx",
}
#: Extractor kinds and the files each needs. `cnn`: one stateless per-frame network (InceptionV3, the small
#: CNN). `pose`: a person detector and a landmark model with tracking state per stream.
EXTRACTOR_FILES = {"cnn": ("extractor",), "pose": ("pose_detector", "pose_landmarks")}


@dataclass(frozen=True)
class OnnxFile:
    """One ONNX file of the bundle: its name, hash and tensor names."""

    path: str
    sha256: str
    input: str
    output: str


@dataclass
class Manifest:
    """Everything the runtime needs to know about a bundle (manifest.json)."""

    feature_size: int
    frame: FrameSpec
    files: dict[str, OnnxFile]
    labels: list[str] = field(default_factory=list)
    sampling: Sampling = field(default_factory=Sampling)
    extractor_kind: str = "cnn"
    pose: dict[str, Any] = field(default_factory=dict)  # the pose pipeline's settings (streaming.pose_spec)
    #: Below this smoothed score the engine says "no clear action" instead of a label (0: always a label).
    open_set_threshold: float = 0.0
    parity: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def has_head(self) -> bool:
        return "head" in self.files

    def to_dict(self) -> dict:
        d = asdict(self)
        d["frame"] = self.frame.to_dict()
        # the file keeps its first layout, so bundles written before and after read the same
        d["window"] = self.sampling.window
        d["sampling"] = sampling_to_manifest(self.sampling)
        # keep a stable, readable key order
        order = [
            "format",
            "format_version",
            "description",
            "labels",
            "window",
            "feature_size",
            "extractor_kind",
            "frame",
            "sampling",
            "pose",
            "files",
            "parity",
            "probe",
            "provenance",
        ]
        if self.extractor_kind == "cnn":  # cnn manifests read exactly as before the pose kind existed
            order = [k for k in order if k not in ("extractor_kind", "pose")]
        if self.open_set_threshold > 0:
            order.insert(order.index("labels") + 1, "open_set_threshold")
        return {k: d[k] for k in order}

    @classmethod
    def from_dict(cls, d: dict, where: str = MANIFEST) -> "Manifest":
        if d.get("format") != FORMAT:
            raise BundleError(f"{where}: not an actionstream bundle manifest (format={d.get('format')!r})")
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            raise BundleError(
                f"{where}: bundle format version {version!r} is not supported by this actionstream "
                f"(supports {FORMAT_VERSION}); re-export the bundle with this version"
            )
        try:
            return cls(
                feature_size=int(d["feature_size"]),
                frame=FrameSpec.from_dict(d["frame"]),
                files={role: OnnxFile(**f) for role, f in d["files"].items()},
                labels=[str(x) for x in d.get("labels", [])],
                sampling=sampling_from_manifest(d),
                extractor_kind=str(d.get("extractor_kind", "cnn")),
                pose=dict(d.get("pose", {})),
                open_set_threshold=_threshold(d.get("open_set_threshold", 0.0)),
                parity=dict(d.get("parity", {})),
                probe=dict(d.get("probe", {})),
                provenance=dict(d.get("provenance", {})),
                description=str(d.get("description", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from exc


def _threshold(value: Any) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"open_set_threshold must be in [0, 1), got {value}")
    return value


def sampling_to_manifest(sampling: Sampling) -> dict:
    """The manifest's `sampling` object; the window is written beside it, as `window`."""
    return {"mode": sampling.mode, "fps": sampling.feature_rate}


def sampling_from_manifest(d: dict) -> Sampling:
    """The manifest's sampling: `sampling: {mode, fps}` (fps there means the feature rate) and `window`."""
    raw = d.get("sampling", {})
    if not isinstance(raw, dict):
        raise TypeError(f"sampling must be an object, got {raw!r}")
    unknown = set(raw) - {"mode", "fps"}
    if unknown:
        raise TypeError(f"unknown sampling keys {sorted(unknown)}")
    default = Sampling()
    return Sampling(
        mode=raw.get("mode", default.mode),
        feature_rate=raw.get("fps", default.feature_rate),
        window=d.get("window", default.window),
    )


@dataclass
class Bundle:
    """A validated bundle on disk."""

    root: Path
    manifest: Manifest

    def path(self, role: str) -> Path:
        return self.root / self.manifest.files[role].path

    def extractor_role(self, int8: bool = False) -> str:
        if int8 and "extractor_int8" not in self.manifest.files:
            raise BundleError(
                f"{self.root}: bundle has no int8 extractor; run `python -m export quantize {self.root} "
                "--calibration VIDEO` first"
            )
        return "extractor_int8" if int8 else "extractor"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _onnx_io(path: Path) -> tuple[list[tuple[str, list]], list[tuple[str, list]]]:
    """Input and output (name, shape) of an ONNX file, read with onnxruntime (no TensorFlow)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - ORT's own exception types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BundleError(f"{path}: not a loadable ONNX model ({first[:200]})") from exc
    return ([(i.name, list(i.shape)) for i in sess.get_inputs()], [(o.name, list(o.shape)) for o in sess.get_outputs()])


def load_bundle(root: str | os.PathLike, check_hashes: bool = True, check_shapes: bool = True) -> Bundle:
    """Load and validate a bundle; any problem raises BundleError naming the file and the fix."""
    root = Path(root)
    if not root.is_dir():
        raise BundleError(f"{root}: bundle folder not found (expected a folder with {MANIFEST})")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{mpath}: missing; {root} is not a bundle (create one with `python -m export backbone`)")
    manifest = Manifest.from_dict(read_json_object(mpath, BundleError), where=str(mpath))
    if manifest.extractor_kind not in EXTRACTOR_FILES:
        raise BundleError(
            f"{mpath}: unknown extractor_kind {manifest.extractor_kind!r} (this actionstream knows "
            f"{', '.join(EXTRACTOR_FILES)}); update actionstream or re-export the bundle"
        )
    for role in EXTRACTOR_FILES[manifest.extractor_kind]:
        if role not in manifest.files:
            raise BundleError(f"{mpath}: names no {role} file, which a {manifest.extractor_kind} bundle needs")
    for role, f in manifest.files.items():
        fpath = root / f.path
        if not fpath.is_file():
            raise BundleError(f"{fpath}: missing ({role} named in {MANIFEST}); the bundle is incomplete")
        if check_hashes:
            actual = sha256_file(fpath)
            if actual != f.sha256:
                raise BundleError(
                    f"{fpath}: sha256 mismatch (file {actual[:12]}…, manifest {f.sha256[:12]}…); "
                    "the file is corrupt or was changed after export"
                )
    if check_shapes:
        _check_shapes(root, manifest)
        _check_head_labels(root, manifest)
    return Bundle(root=root, manifest=manifest)


#: The head file's metadata key that holds its labels (written by export.head_export since the first exports).
LABELS_METADATA = "actionstream.labels"


def head_labels(path: Path) -> list[str] | None:
    """The labels an ONNX head carries in its metadata (LABELS_METADATA), or None for a file without them (an
    older export): the manifest's labels are only a copy, and a copy can be edited out of order."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        sess = ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        raw = sess.get_modelmeta().custom_metadata_map.get(LABELS_METADATA)
    except Exception as exc:  # noqa: BLE001 - ORT's own exception types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BundleError(f"{path}: not a loadable ONNX model ({first[:200]})") from exc
    if raw is None:
        return None
    try:
        labels = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: its {LABELS_METADATA} metadata is not JSON ({exc}); re-export the head") from exc
    if not isinstance(labels, list):
        raise BundleError(f"{path}: its {LABELS_METADATA} metadata is not a list of labels; re-export the head")
    return [str(x) for x in labels]


def _check_head_labels(root: Path, m: Manifest) -> None:
    """The manifest's labels against those inside the head files: the same names in the same order, or refused
    (reversed labels would turn every SitDown into a JumpingJack without a single failed check)."""
    for role in ("head", "head_int8"):
        if role not in m.files:
            continue
        path = root / m.files[role].path
        inside = head_labels(path)
        if inside is None or inside == m.labels:
            continue
        if len(inside) != len(m.labels):
            differ = f"{len(inside)} labels in the head, {len(m.labels)} in the manifest"
        else:
            i = next(i for i, (a, b) in enumerate(zip(inside, m.labels)) if a != b)
            differ = f"output {i} is {inside[i]!r} in the head, {m.labels[i]!r} in the manifest"
        raise BundleError(
            f"{path}: the manifest's labels do not match the labels inside the head ({differ}); "
            f"{MANIFEST} was edited or belongs to another head: restore it or re-export the head"
        )


def _check_shapes(root: Path, m: Manifest) -> None:
    if m.extractor_kind == "pose":
        _check_pose_shapes(root, m)
    for role in ("extractor", "extractor_int8"):
        if role not in m.files:
            continue
        path = root / m.files[role].path
        ins, outs = _onnx_io(path)
        out_dim = outs[0][1][-1]
        if isinstance(out_dim, int) and out_dim != m.feature_size:
            raise BundleError(
                f"{path}: outputs {out_dim}-d features but the manifest says feature_size {m.feature_size}"
            )
        in_shape = ins[0][1]
        if len(in_shape) != 4 or (
            isinstance(in_shape[1], int) and (in_shape[1], in_shape[2]) != (m.frame.height, m.frame.width)
        ):
            raise BundleError(
                f"{path}: input shape {in_shape} does not match frame "
                f"{m.frame.height}x{m.frame.width}x3 in the manifest"
            )
    for role in ("head", "head_int8"):
        if role not in m.files:
            continue
        path = root / m.files[role].path
        ins, outs = _onnx_io(path)
        in_shape, out_shape = ins[0][1], outs[0][1]
        if isinstance(in_shape[-1], int) and in_shape[-1] != m.feature_size:
            raise BundleError(
                f"{path}: head expects {in_shape[-1]}-d features but the extractor gives "
                f"{m.feature_size}-d; export the head for this extractor"
            )
        if isinstance(in_shape[1], int) and in_shape[1] != m.sampling.window:
            raise BundleError(f"{path}: head expects windows of {in_shape[1]} steps, manifest says {m.sampling.window}")
        if isinstance(out_shape[-1], int) and out_shape[-1] != len(m.labels):
            raise BundleError(
                f"{path}: head outputs {out_shape[-1]} classes but the manifest has {len(m.labels)} labels"
            )
        if not m.labels:
            raise BundleError(f"{root / MANIFEST}: bundle has a head but no labels")


def _check_pose_shapes(root: Path, m: Manifest) -> None:
    """The pose files against the manifest's pose settings: input sizes, output sizes and the feature size.

    Output sizes are counted per image (the runtime tells the outputs apart by size, not by name), so a file
    converted another way (other names, NCHW) passes as long as the sizes are right.
    """
    from streaming.pose_spec import NUM_MODEL_LANDMARKS, PoseSpec

    mpath = root / MANIFEST
    try:
        spec = PoseSpec.from_dict(m.pose)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"{mpath}: bad pose settings ({exc}); re-export with `python -m export pose`") from exc
    if m.feature_size != spec.feature_size:
        raise BundleError(
            f"{mpath}: feature_size {m.feature_size} but the pose settings give {spec.feature_size}-d features"
        )
    wanted = {
        "pose_detector": (spec.det_size, {spec.num_boxes * (4 + 2 * spec.num_keypoints), spec.num_boxes}),
        "pose_landmarks": (spec.lm_size, {NUM_MODEL_LANDMARKS * 5, 1}),
    }
    for role, (size, counts) in wanted.items():
        path = root / m.files[role].path
        ins, outs = _onnx_io(path)
        in_shape = ins[0][1]
        spatial = [d for d in in_shape[1:] if isinstance(d, int) and d != 3]
        if len(ins) != 1 or len(in_shape) != 4 or any(d != size for d in spatial):
            raise BundleError(
                f"{path}: input {ins[0][0]} {in_shape} does not take {size}x{size}x3 images as the "
                f"manifest's pose settings say; re-export with `python -m export pose`"
            )
        sizes = set()
        for _, shape in outs:
            per_image = shape[1:]
            if all(isinstance(d, int) for d in per_image):
                sizes.add(math.prod(per_image))
        missing = counts - sizes
        if missing:
            raise BundleError(
                f"{path}: no output of {' or '.join(str(c) for c in sorted(missing))} values per image "
                f"(outputs {[(n, s) for n, s in outs]}); not a {role.replace('_', ' ')} model for these settings"
            )


def read_json_object(path: Path, error: type[Exception] = BundleError, not_object: str = "not a JSON object") -> dict:
    """A JSON file that must hold an object; anything else raises `error` in one line naming the file."""
    try:
        raw = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise error(f"{path}: {not_object}")
    return raw


def write_manifest(root: Path, manifest: Manifest) -> None:
    """Write manifest.json atomically (temporary file, then rename)."""
    atomic_write_text(Path(root) / MANIFEST, json.dumps(manifest.to_dict(), indent=2) + "\n")


@contextmanager
def bundle_writer(out: str | os.PathLike, start_from_existing: bool = False) -> Iterator[Path]:
    """A temporary folder to build a bundle in; it replaces `out` only when complete (with a manifest).

    with bundle_writer(out) as tmp:        # tmp is an empty folder (or a copy of an existing bundle)
        write files into tmp, then write_manifest(tmp, manifest)
    # out now holds the finished bundle; on error nothing at `out` changed
    """

    def has_manifest(tmp: Path) -> None:
        if not (tmp / MANIFEST).is_file():
            raise BundleError(f"{out}: internal error, bundle written without {MANIFEST}")

    with atomic_dir(out, start_from_existing, check=has_manifest) as tmp:
        yield tmp
