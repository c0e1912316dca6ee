"""The bundle: the one artifact that passes from training to the live engine.

A folder with manifest.json, extractor.onnx, optionally extractor.int8.onnx and (once trained) head.onnx.
This module loads, validates and writes bundles and imports no TensorFlow: the live engine depends on it.

    bundle = load_bundle("models/demo")
    print(bundle.manifest.labels, bundle.manifest.window)
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from streaming.errors import BundleError
from streaming.preprocess import FrameSpec

FORMAT = "actionstream-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: Roles a bundle file can play, and their conventional file names.
FILE_NAMES = {"extractor": "extractor.onnx", "extractor_int8": "extractor.int8.onnx", "head": "head.onnx",
              "head_int8": "head.int8.onnx"}
SAMPLING_MODES = ("stride", "segments")


@dataclass(frozen=True)
class Sampling:
    """How the head's training features were sampled; the live engine samples the same way.

    `stride`: features at a fixed rate (`fps` features per second, by timestamp); a window spans window/fps s.
    `segments`: one frame from each of `window` equal segments of a clip (the original report's method).
    """

    mode: str = "stride"
    fps: float = 10.0

    def __post_init__(self) -> None:
        if self.mode not in SAMPLING_MODES:
            raise ValueError(f"sampling mode must be one of {SAMPLING_MODES}, got {self.mode!r}")
        if not self.fps > 0:
            raise ValueError(f"sampling fps must be > 0, got {self.fps}")


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
    window: int = 40
    sampling: Sampling = field(default_factory=Sampling)
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
        # keep a stable, readable key order
        order = ["format", "format_version", "description", "labels", "window", "feature_size", "frame",
                 "sampling", "files", "parity", "probe", "provenance"]
        return {k: d[k] for k in order}

    @classmethod
    def from_dict(cls, d: dict, where: str = MANIFEST) -> "Manifest":
        if d.get("format") != FORMAT:
            raise BundleError(f"{where}: not an actionstream bundle manifest (format={d.get('format')!r})")
        version = d.get("format_version")
        if version != FORMAT_VERSION:
            raise BundleError(f"{where}: bundle format version {version!r} is not supported by this actionstream "
                              f"(supports {FORMAT_VERSION}); re-export the bundle with this version")
        try:
            return cls(
                feature_size=int(d["feature_size"]),
                frame=FrameSpec.from_dict(d["frame"]),
                files={role: OnnxFile(**f) for role, f in d["files"].items()},
                labels=[str(x) for x in d.get("labels", [])],
                window=int(d.get("window", 40)),
                sampling=Sampling(**d.get("sampling", {})),
                parity=dict(d.get("parity", {})),
                probe=dict(d.get("probe", {})),
                provenance=dict(d.get("provenance", {})),
                description=str(d.get("description", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: malformed manifest ({type(exc).__name__}: {exc})") from exc


@dataclass
class Bundle:
    """A validated bundle on disk."""

    root: Path
    manifest: Manifest

    def path(self, role: str) -> Path:
        return self.root / self.manifest.files[role].path

    def extractor_role(self, int8: bool = False) -> str:
        if int8 and "extractor_int8" not in self.manifest.files:
            raise BundleError(f"{self.root}: bundle has no int8 extractor; run `python -m export quantize {self.root} "
                              "--calibration VIDEO` first")
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
    return ([(i.name, list(i.shape)) for i in sess.get_inputs()],
            [(o.name, list(o.shape)) for o in sess.get_outputs()])


def load_bundle(root: str | os.PathLike, check_hashes: bool = True, check_shapes: bool = True) -> Bundle:
    """Load and validate a bundle; any problem raises BundleError naming the file and the fix."""
    root = Path(root)
    if not root.is_dir():
        raise BundleError(f"{root}: bundle folder not found (expected a folder with {MANIFEST})")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{mpath}: missing; {root} is not a bundle (create one with `python -m export backbone`)")
    manifest = Manifest.from_dict(read_json_object(mpath, BundleError), where=str(mpath))
    if "extractor" not in manifest.files:
        raise BundleError(f"{mpath}: names no extractor file")
    for role, f in manifest.files.items():
        fpath = root / f.path
        if not fpath.is_file():
            raise BundleError(f"{fpath}: missing ({role} named in {MANIFEST}); the bundle is incomplete")
        if check_hashes:
            actual = sha256_file(fpath)
            if actual != f.sha256:
                raise BundleError(f"{fpath}: sha256 mismatch (file {actual[:12]}…, manifest {f.sha256[:12]}…); "
                                  "the file is corrupt or was changed after export")
    if check_shapes:
        _check_shapes(root, manifest)
    return Bundle(root=root, manifest=manifest)


def _check_shapes(root: Path, m: Manifest) -> None:
    for role in ("extractor", "extractor_int8"):
        if role not in m.files:
            continue
        path = root / m.files[role].path
        ins, outs = _onnx_io(path)
        out_dim = outs[0][1][-1]
        if isinstance(out_dim, int) and out_dim != m.feature_size:
            raise BundleError(f"{path}: outputs {out_dim}-d features but the manifest says feature_size "
                              f"{m.feature_size}")
        in_shape = ins[0][1]
        if len(in_shape) != 4 or (isinstance(in_shape[1], int) and (in_shape[1], in_shape[2]) !=
                                  (m.frame.height, m.frame.width)):
            raise BundleError(f"{path}: input shape {in_shape} does not match frame "
                              f"{m.frame.height}x{m.frame.width}x3 in the manifest")
    for role in ("head", "head_int8"):
        if role not in m.files:
            continue
        path = root / m.files[role].path
        ins, outs = _onnx_io(path)
        in_shape, out_shape = ins[0][1], outs[0][1]
        if isinstance(in_shape[-1], int) and in_shape[-1] != m.feature_size:
            raise BundleError(f"{path}: head expects {in_shape[-1]}-d features but the extractor gives "
                              f"{m.feature_size}-d; export the head for this extractor")
        if isinstance(in_shape[1], int) and in_shape[1] != m.window:
            raise BundleError(f"{path}: head expects windows of {in_shape[1]} steps, manifest says {m.window}")
        if isinstance(out_shape[-1], int) and out_shape[-1] != len(m.labels):
            raise BundleError(f"{path}: head outputs {out_shape[-1]} classes but the manifest has "
                              f"{len(m.labels)} labels")
        if not m.labels:
            raise BundleError(f"{root / MANIFEST}: bundle has a head but no labels")


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


def default_mode(directory: bool = False) -> int:
    """The permissions a plain open()/mkdir() would give under the current umask.

    mkstemp/mkdtemp create owner-only (0600/0700) files and folders; a bundle should be as readable as any file.
    """
    try:  # Linux says it without touching the process-wide umask
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("Umask:"))
        umask = int(line.split()[1], 8)
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def atomic_write_text(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class BundleWriter:
    """Builds a bundle in a temporary sibling folder and renames it into place only when complete.

        with BundleWriter(out) as tmp:         # tmp is an empty folder (or a copy of an existing bundle)
            write files into tmp, then write_manifest(tmp, manifest)
        # out now holds the finished bundle; on error nothing at `out` changed
    """

    def __init__(self, out: str | os.PathLike, start_from_existing: bool = False):
        self.out = Path(out)
        self.start_from_existing = start_from_existing
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(dir=self.out.parent, prefix=f".{self.out.name}.", suffix=".partial"))
        if self.start_from_existing and self.out.is_dir():
            shutil.copytree(self.out, self.tmp, dirs_exist_ok=True)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if not (self.tmp / MANIFEST).is_file():
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise BundleError(f"{self.out}: internal error, bundle written without {MANIFEST}")
        os.chmod(self.tmp, default_mode(directory=True))
        old = None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.out, old)
        os.replace(self.tmp, self.out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
