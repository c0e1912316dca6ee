"""MediaPipe BlazePose (detector + full landmark model) from the pinned mediapipe wheel to ONNX, parity-checked.

    from export.pose_export import export_pose_models
    provenance = export_pose_models(Path("models/pose"))   # fetches the wheel into ~/.cache/actionstream/wheels

The two .tflite files ship inside the `mediapipe` wheel (Apache-2.0). mediapipe itself is never imported or installed:
only the wheel file is fetched (`pip download --no-deps`), its sha256 checked, and the two files read out of the zip.
TensorFlow (the TFLite interpreter, for parity and for the flatbuffer schema) and tf2onnx are needed at export time
only; the runtime needs just the ONNX files.

Steps: extract -> densify the detector's sparse fp16 weights (tf2onnx cannot read TFLite sparse tensors) -> tf2onnx
(opset 17) -> dynamic batch, readable output names, drop outputs the runtime does not use -> onnx.checker -> parity
against the TFLite interpreter on seeded random inputs and real video frames -> atomic writes + NOTICE.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streaming.errors import ActionstreamError

if TYPE_CHECKING:
    import onnx

log = logging.getLogger("actionstream")

MEDIAPIPE_VERSION = "0.10.21"
#: The one wheel the models are read from (cp311, manylinux_2_28 x86_64, 35.6 MB, uploaded to PyPI 2025-02-06).
WHEEL_NAME = f"mediapipe-{MEDIAPIPE_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_PLATFORM = "manylinux_2_28_x86_64"
#: sha256 of WHEEL_NAME as downloaded from PyPI (and as PyPI's JSON API lists it).
WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
DETECTOR_INNER_PATH = "mediapipe/modules/pose_detection/pose_detection.tflite"
LANDMARK_INNER_PATH = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
#: Newest opset tf2onnx 1.17 converts.
OPSET = 17
DETECTOR_FILE = "pose_detector.onnx"
LANDMARK_FILE = "pose_landmarks.onnx"
ENV_WHEEL = "ACTIONSTREAM_MEDIAPIPE_WHEEL"
UCF_MINI = Path(__file__).resolve().parents[2] / "shared" / "data" / "ucf101-mini" / "UCF-101"


@dataclass(frozen=True)
class ModelSpec:
    """One model: where it lives in the wheel, its input, and how its tflite outputs are renamed (None = dropped)."""

    file: str
    inner_path: str
    input_name: str
    input_size: int
    input_range: tuple[float, float]
    outputs: dict[str, str | None]  # tflite output name -> ONNX output name (None: dropped from the ONNX graph)


DETECTOR = ModelSpec(
    DETECTOR_FILE, DETECTOR_INNER_PATH, "image", 224, (-1.0, 1.0), {"Identity": "boxes", "Identity_1": "scores"}
)
LANDMARKS = ModelSpec(
    LANDMARK_FILE,
    LANDMARK_INNER_PATH,
    "image",
    256,
    (0.0, 1.0),
    {
        "Identity": "landmarks",
        "Identity_1": "pose_flag",
        "Identity_2": None,  # segmentation
        "Identity_3": None,  # heatmap
        "Identity_4": "world_landmarks",
    },
)


# ----------------------------------------------------------------------------------------------------------------
# The wheel


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/actionstream/wheels`, else `~/.cache/actionstream/wheels`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "actionstream" / "wheels"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_wheel(cache_dir: Path | None = None) -> Path | None:
    """The pinned wheel if already on disk ($ACTIONSTREAM_MEDIAPIPE_WHEEL, else the cache dir); never downloads."""
    env = os.environ.get(ENV_WHEEL)
    if env and Path(env).is_file():
        return Path(env)
    path = (cache_dir or default_cache_dir()) / WHEEL_NAME
    return path if path.is_file() else None


def fetch_wheel(cache_dir: Path | None = None) -> Path:
    """The pinned mediapipe wheel in `cache_dir`, downloaded with pip (the file only, no install) when missing."""
    cache_dir = cache_dir or default_cache_dir()
    path = cache_dir / WHEEL_NAME
    if path.is_file():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download.") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"mediapipe=={MEDIAPIPE_VERSION}",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--platform",
            WHEEL_PLATFORM,
            "-d",
            tmp,
        ]
        log.info("downloading %s", WHEEL_NAME)
        done = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(tmp) / WHEEL_NAME
        if done.returncode != 0 or not got.is_file():
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ActionstreamError(
                f"could not download {WHEEL_NAME} with pip ({last[:200]}); download it by hand "
                f"and pass --wheel PATH or put it in {cache_dir}"
            )
        os.replace(got, path)
    return path


def read_tflite_files(wheel: Path) -> dict[str, bytes]:
    """The two .tflite files from the wheel, after checking the wheel's sha256 against the pinned one."""
    if not wheel.is_file():
        raise ActionstreamError(f"{wheel}: no such wheel file; pass the path of {WHEEL_NAME}")
    digest = sha256_file(wheel)
    if digest != WHEEL_SHA256:
        raise ActionstreamError(
            f"{wheel}: sha256 {digest} is not the pinned {WHEEL_SHA256} of {WHEEL_NAME}; "
            f"delete it and download {WHEEL_NAME} again"
        )
    with zipfile.ZipFile(wheel) as zf:
        return {inner: zf.read(inner) for inner in (DETECTOR_INNER_PATH, LANDMARK_INNER_PATH)}


# ----------------------------------------------------------------------------------------------------------------
# Densify: TFLite sparse constants -> dense, so tf2onnx can read them

DIM_DENSE, DIM_SPARSE_CSR = 0, 1


def sparse_to_dense(
    values: np.ndarray,
    dense_shape: tuple[int, ...],
    traversal_order: list[int],
    dim_metadata: list[tuple[int, np.ndarray | None, np.ndarray | None, int]],
) -> np.ndarray:
    """Expand a TFLite sparse tensor (the DENSIFY op's input) into its dense array.

    dim_metadata is one (format, segments, indices, dense_size) per level in traversal order: a DENSE level has
    dense_size entries; a SPARSE_CSR level keeps, for each position p of the level above, the entries
    indices[segments[p]:segments[p+1]]. The leaves, in traversal order, are `values`, one each (the same walk as
    TFLite's FormatConverter::SparseToDense). Block sparsity (block_map) is not supported.
    """
    rank = len(dense_shape)
    if sorted(traversal_order) != list(range(rank)) or len(dim_metadata) != rank:
        raise ActionstreamError(
            f"sparse tensor with traversal order {traversal_order} and {len(dim_metadata)} "
            f"levels for rank {rank}: block sparsity is not supported"
        )
    positions = np.zeros(1, dtype=np.int64)  # position of each node within its level
    coords: list[np.ndarray] = []  # per level, the coordinate of each node
    for level, (fmt, segments, indices, dense_size) in enumerate(dim_metadata):
        if fmt == DIM_DENSE:
            size = int(dense_shape[traversal_order[level]]) if dense_size in (0, None) else int(dense_size)
            coords = [np.repeat(c, size) for c in coords] + [np.tile(np.arange(size), len(positions))]
            positions = (positions[:, None] * size + np.arange(size)[None, :]).reshape(-1)
        elif fmt == DIM_SPARSE_CSR:
            segments = np.asarray(segments, dtype=np.int64)
            starts, counts = segments[positions], segments[positions + 1] - segments[positions]
            total = int(counts.sum())
            new_positions = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
            coords = [np.repeat(c, counts) for c in coords] + [np.asarray(indices, dtype=np.int64)[new_positions]]
            positions = new_positions
        else:
            raise ActionstreamError(f"sparse tensor level {level} has unknown format {fmt}")
    if len(positions) != values.size:
        raise ActionstreamError(f"sparse tensor has {values.size} values for {len(positions)} stored positions")
    dense = np.zeros(dense_shape, dtype=values.dtype)
    index = [None] * rank
    for level, dim in enumerate(traversal_order):
        index[dim] = coords[level]
    dense[tuple(index)] = values.reshape(-1)
    return dense


_TFLITE_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


def _sparse_index_vector(vec: Any) -> np.ndarray | None:
    return None if vec is None else np.asarray(vec.values)


def densify_tflite(model_bytes: bytes) -> tuple[bytes, dict[str, np.ndarray]]:
    """Replace every DENSIFY op by a dense constant; returns the new flatbuffer and {dense tensor name: values}.

    The sparse input tensor stays (unused) as a 1-D dense tensor of its stored values, so no index shifts.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(model_bytes, 0))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    dense_by_name: dict[str, np.ndarray] = {}
    for graph in model.subgraphs:
        kept = []
        for op in graph.operators:
            if codes[op.opcodeIndex] != schema.BuiltinOperator.DENSIFY:
                kept.append(op)
                continue
            src, dst = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
            sp = src.sparsity
            if sp is None or (sp.blockMap is not None and len(sp.blockMap)):
                raise ActionstreamError(f"DENSIFY input {src.name!r} has no sparsity or block sparsity: unsupported")
            dtype = _TFLITE_DTYPES[src.type]
            values = np.frombuffer(bytes(model.buffers[src.buffer].data), dtype=dtype)
            meta = [
                (d.format, _sparse_index_vector(d.arraySegments), _sparse_index_vector(d.arrayIndices), d.denseSize)
                for d in sp.dimMetadata
            ]
            dense = sparse_to_dense(values, tuple(int(x) for x in src.shape), [int(x) for x in sp.traversalOrder], meta)
            buffer = schema.BufferT()
            buffer.data = np.frombuffer(dense.astype(dtype).tobytes(), dtype=np.uint8)
            model.buffers.append(buffer)
            dst.buffer = len(model.buffers) - 1
            src.sparsity, src.shape, src.shapeSignature = None, np.array([values.size], np.int32), None
            dense_by_name[dst.name.decode()] = dense
        graph.operators = kept
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), dense_by_name


# ----------------------------------------------------------------------------------------------------------------
# tflite -> ONNX, then the graph made fit for batching and serving


def tflite_to_onnx(tflite_bytes: bytes, spec: ModelSpec, opset: int = OPSET) -> "onnx.ModelProto":
    """tf2onnx on a (dense) tflite flatbuffer, then `finish_graph`."""
    import tf2onnx

    for name in (
        "tf2onnx",
        "tf2onnx.tfonnx",
        "tf2onnx.optimizer",
        "tf2onnx.tflite_utils",
        "tf2onnx.shape_inference",
        "tf2onnx.tf_utils",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="pose_export.") as tmp:
        path = Path(tmp) / Path(spec.inner_path).name
        path.write_bytes(tflite_bytes)
        try:
            proto, _ = tf2onnx.convert.from_tflite(str(path), opset=opset)
        except (ValueError, TypeError, NotImplementedError, RuntimeError, KeyError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ActionstreamError(f"{spec.inner_path}: tf2onnx could not convert it ({first[:200]})") from exc
    return finish_graph(proto, spec)


def finish_graph(proto: "onnx.ModelProto", spec: ModelSpec) -> "onnx.ModelProto":
    """Dynamic batch, named input/outputs, unused outputs dropped, canonical names (so exports are reproducible)."""
    import onnx
    from onnx import numpy_helper

    graph = proto.graph
    if len(graph.input) != 1:
        raise ActionstreamError(f"{spec.inner_path}: expected one input, the graph has {len(graph.input)}")
    renames = {graph.input[0].name: spec.input_name}
    found = {o.name for o in graph.output}
    if found != set(spec.outputs):
        raise ActionstreamError(
            f"{spec.inner_path}: outputs {sorted(found)} are not the expected "
            f"{sorted(spec.outputs)}; is this the pinned wheel?"
        )
    keep = [o for o in graph.output if spec.outputs[o.name]]
    renames.update({o.name: spec.outputs[o.name] for o in keep})
    del graph.output[:]
    graph.output.extend(keep)
    # Keep only what the kept outputs need, in an order that depends on the graph's structure alone: a depth-first
    # walk from the outputs, inputs in order, each node after its inputs (tf2onnx's own node order and initializer
    # order vary from run to run, which would make the files differ byte for byte).
    producer = {out: node for node in graph.node for out in node.output}
    nodes, needed, placed = [], set(), set()
    stack: list[tuple[str, bool]] = [(o.name, False) for o in reversed(keep)]
    while stack:
        name, inputs_done = stack.pop()
        node = producer.get(name)
        if inputs_done:
            if id(node) not in placed:
                placed.add(id(node))
                nodes.append(node)
            continue
        if name in needed:
            continue
        needed.add(name)
        if node is not None:
            stack.append((name, True))
            stack.extend((i, False) for i in reversed(node.input) if i and i not in needed)
    inits = [i for i in graph.initializer if i.name in needed]
    # Batch: tf2onnx keeps TFLite's "1, -1, k" reshapes; 0 copies the batch dim from the (NHWC, batch-first) input.
    init_by_name = {i.name: i for i in inits}
    for node in nodes:
        if node.op_type == "Reshape" and node.input[1] in init_by_name:
            shape = numpy_helper.to_array(init_by_name[node.input[1]])
            if shape.ndim == 1 and len(shape) >= 2 and shape[0] == 1 and -1 in shape[1:]:
                fixed_name = node.input[1] + "_batch"
                if fixed_name not in init_by_name:  # one shape constant may serve several reshapes
                    fixed = numpy_helper.from_array(np.concatenate([[0], shape[1:]]).astype(shape.dtype), fixed_name)
                    inits.append(fixed)
                    init_by_name[fixed_name] = fixed
                node.input[1] = fixed_name
    # Canonical names: tf2onnx's counters depend on what ran before in the process.
    # Names follow the order of first use along the nodes (tf2onnx's initializer order varies from run to run).
    order = [graph.input[0].name]
    for node in nodes:
        order.extend(node.input)
        order.extend(node.output)
    counter = 0
    for name in order:
        if name and name not in renames:
            renames[name] = f"t{counter}"
            counter += 1
    used_inits = {i for n in nodes for i in n.input}
    new_inits = []
    for init in inits:
        if init.name in used_inits and init.name in renames:
            init.name = renames[init.name]
            new_inits.append(init)
    for k, node in enumerate(nodes):
        node.name = f"{node.op_type}_{k}"
        node.input[:] = [renames.get(i, i) for i in node.input]
        node.output[:] = [renames.get(o, o) for o in node.output]
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(sorted(new_inits, key=lambda i: int(i.name[1:])))
    del graph.value_info[:]  # shapes recorded for batch 1; ORT infers them again
    graph.input[0].name = spec.input_name
    for value in list(graph.input) + list(graph.output):
        value.name = renames.get(value.name, value.name)
        value.type.tensor_type.shape.dim[0].ClearField("dim_value")
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    graph.name = Path(spec.file).stem
    proto.producer_name, proto.producer_version = "actionstream (tf2onnx)", ""
    del proto.metadata_props[:]
    onnx.checker.check_model(proto)
    return proto


def fp16_storage(proto: "onnx.ModelProto", min_size: int = 16) -> tuple["onnx.ModelProto", int]:
    """Store fp32 weights that are exactly fp16 values (BlazePose ships fp16 weights) as fp16 + a Cast to fp32.

    Lossless by construction (a weight is converted only if fp16 holds it exactly); ONNX Runtime folds the Casts
    when it loads the model, so it computes exactly what the fp32 file computes, from a file half the size.
    Returns the new model and how many initializers were converted.
    """
    import onnx
    from onnx import helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(proto)
    graph = out.graph
    casts, converted = [], 0
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        value = numpy_helper.to_array(init)
        half = value.astype(np.float16)
        if value.size < min_size or not np.array_equal(half.astype(np.float32), value):
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(half, name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], name=f"Cast_{name}", to=onnx.TensorProto.FLOAT))
        converted += 1
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(out)
    return out, converted


# ----------------------------------------------------------------------------------------------------------------
# Parity


def tflite_outputs(tflite_bytes: bytes, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """The TFLite interpreter's outputs {tflite output name: array}, one example at a time (the model is batch 1)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=tflite_bytes, num_threads=2)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    details = interpreter.get_output_details()
    results: dict[str, list[np.ndarray]] = {d["name"]: [] for d in details}
    for x in inputs:
        interpreter.set_tensor(index, x[None].astype(np.float32))
        interpreter.invoke()
        for d in details:
            results[d["name"]].append(interpreter.get_tensor(d["index"])[0].copy())
    return {name: np.stack(arrays) for name, arrays in results.items()}


def ort_session(model: "onnx.ModelProto | bytes | str | os.PathLike", threads: int = 2):
    """A CPU ONNX Runtime session as the runtime makes it (ORT_ENABLE_ALL, no busy-spinning)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif not isinstance(model, bytes):
        model = str(model)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def onnx_outputs(model: Any, inputs: np.ndarray, batch: int | None = None) -> dict[str, np.ndarray]:
    """{output name: array} from ONNX Runtime, in batches of `batch` (all at once when None)."""
    session = ort_session(model)
    name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]
    batch = batch or len(inputs)
    parts = [session.run(names, {name: inputs[i : i + batch].astype(np.float32)}) for i in range(0, len(inputs), batch)]
    return {n: np.concatenate([p[k] for p in parts]) for k, n in enumerate(names)}


def max_abs_diffs(reference: dict[str, np.ndarray], got: dict[str, np.ndarray], spec: ModelSpec) -> dict[str, float]:
    """Max abs difference per ONNX output (reference keyed by tflite name); landmarks split into x/y, z and scores."""
    diffs: dict[str, float] = {}
    for tfl_name, onnx_name in spec.outputs.items():
        if not onnx_name:
            continue
        a, b = reference[tfl_name].astype(np.float64), got[onnx_name].astype(np.float64)
        if a.shape != b.shape:
            raise ActionstreamError(f"{spec.file}: output {onnx_name} has shape {b.shape}, TFLite gives {a.shape}")
        if onnx_name == "landmarks":  # 39 x (x, y, z, visibility, presence): different units, bounded apart
            a, b = a.reshape(len(a), 39, 5), b.reshape(len(b), 39, 5)
            diffs["landmarks_xy"] = float(np.abs(a[..., :2] - b[..., :2]).max())
            diffs["landmarks_z"] = float(np.abs(a[..., 2] - b[..., 2]).max())
            diffs["landmarks_scores"] = float(np.abs(a[..., 3:] - b[..., 3:]).max())
        else:
            diffs[onnx_name] = float(np.abs(a - b).max())
    return diffs


def real_frames(folder: Path = UCF_MINI, per_video: int = 6) -> list[np.ndarray]:
    """RGB uint8 frames spread evenly over each .avi under folder/*/ (sorted); [] when the folder is absent."""
    import cv2

    frames: list[np.ndarray] = []
    for video in sorted(Path(folder).glob("*/*.avi")) if Path(folder).is_dir() else []:
        capture = cv2.VideoCapture(str(video))
        decoded = []
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                decoded.append(frame)
        finally:
            capture.release()
        if decoded:
            picks = np.linspace(0, len(decoded) - 1, min(per_video, len(decoded))).round().astype(int)
            frames.extend(cv2.cvtColor(decoded[i], cv2.COLOR_BGR2RGB) for i in picks)
    return frames


def detector_input(frames: list[np.ndarray], size: int = DETECTOR.input_size) -> np.ndarray:
    """Whole frames letterboxed to size x size keeping aspect ratio (zero border in [-1, 1] units), as MediaPipe."""
    import cv2

    out = np.zeros((len(frames), size, size, 3), np.float32)
    for k, frame in enumerate(frames):
        h, w = frame.shape[:2]
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
        top, left = (size - nh) // 2, (size - nw) // 2
        out[k, top : top + nh, left : left + nw] = resized
    return out


def landmark_input(frames: list[np.ndarray], size: int = LANDMARKS.input_size) -> np.ndarray:
    """The centre square of each frame resized to size x size, in [0, 1] (a stand-in for a tracked body crop)."""
    import cv2

    out = np.zeros((len(frames), size, size, 3), np.float32)
    for k, frame in enumerate(frames):
        h, w = frame.shape[:2]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        crop = frame[top : top + side, left : left + side]
        out[k] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return out


# ----------------------------------------------------------------------------------------------------------------
# Bounds and the export itself

#: Largest |ONNX - TFLite| accepted per output, on random and real inputs. Measured on this machine (x86-64, ORT
#: CPU vs the TFLite interpreter/XNNPACK, 8 seeded random inputs and 48 UCF101 frames) the differences are float32
#: summation-order noise: boxes <= 2.1e-3 px, score logits <= 1.4e-3, landmark x/y <= 2.8e-3 px, z <= 1.3e-2,
#: landmark logits <= 1.8e-3, pose flag <= 1.7e-5, world landmarks <= 4.5e-5 m. The bounds leave >= 10x room for
#: other CPUs' kernels and other frames, and stay far below what matters: 1% of
#: a body's size is >= 0.5 px even for a 50-px body in the 256-px crop (and 2 px of the 224-px detector input);
#: 0.02 on a logit moves a probability by <= 0.005; 1 mm in world coordinates. A conversion bug (a wrong weight,
#: a transposed layout) gives differences of whole pixels or more, so these bounds still catch it.
PARITY_BOUNDS: dict[str, float] = {
    "boxes": 0.05,  # 224-px detector input units
    "scores": 0.02,  # logits
    "landmarks_xy": 0.05,  # 256-px crop pixels
    "landmarks_z": 0.2,  # same pixel scale; z is the least precise coordinate of the model (observed 8e-3)
    "landmarks_scores": 0.02,  # visibility / presence logits
    "pose_flag": 1e-3,  # probability (thresholded at 0.5)
    "world_landmarks": 1e-3,  # metres
}
RANDOM_SEED, RANDOM_EXAMPLES, PARITY_BATCH = 20250206, 8, 8

NOTICE_TEXT = """\
This folder's pose_detector.onnx and pose_landmarks.onnx are derived from MediaPipe BlazePose models
(pose detection and pose landmark "full"), Copyright The MediaPipe Authors, licensed under the
Apache License, Version 2.0 (https://www.apache.org/licenses/LICENSE-2.0). They are distributed here
under the same licence, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND.

Source: the PyPI wheel {wheel}
  sha256 {sha256}
  {detector_inner} -> pose_detector.onnx
  {landmark_inner} -> pose_landmarks.onnx

Changes made by actionstream (export/pose_export.py): sparse fp16 weights of the detector made dense;
converted with tf2onnx {tf2onnx} to ONNX opset {opset}; batch dimension made dynamic; inputs/outputs renamed;
the landmark model's segmentation and heatmap outputs removed; fp16 weights stored as fp16 with a Cast to
float32. Model card: https://github.com/google-ai-edge/mediapipe/blob/master/docs/solutions/models.md#pose
"""


def notice_text(provenance: dict[str, Any]) -> str:
    """The NOTICE file for the converted models (Apache-2.0 attribution and where they came from)."""
    return NOTICE_TEXT.format(
        wheel=provenance["wheel"],
        sha256=provenance["wheel_sha256"],
        detector_inner=provenance["inner_paths"][DETECTOR_FILE],
        landmark_inner=provenance["inner_paths"][LANDMARK_FILE],
        tf2onnx=provenance["tf2onnx"],
        opset=provenance["opset"],
    )


def check_bounds(diffs: dict[str, float], what: str) -> None:
    """Raise, in one line, when an output differs from TFLite by more than its bound."""
    for name, diff in diffs.items():
        if not diff <= PARITY_BOUNDS[name]:  # also catches NaN
            raise ActionstreamError(
                f"{what}: output {name} differs from the TFLite model by {diff:.3g} (bound "
                f"{PARITY_BOUNDS[name]:g}); the conversion is wrong, no ONNX file was written"
            )


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parity(
    spec: ModelSpec, tflite_bytes: bytes, proto: "onnx.ModelProto", inputs: np.ndarray, what: str
) -> dict[str, float]:
    """Max abs diffs ONNX (batches of PARITY_BATCH) vs TFLite; also requires batch-1 runs to agree with batched."""
    reference = tflite_outputs(tflite_bytes, inputs)
    batched = onnx_outputs(proto, inputs, PARITY_BATCH)
    diffs = max_abs_diffs(reference, batched, spec)
    check_bounds(diffs, f"{spec.file} on {what} inputs")
    single = onnx_outputs(proto, inputs[:PARITY_BATCH], 1)
    for name, values in single.items():
        gap = float(np.abs(values - batched[name][:PARITY_BATCH]).max())
        if not gap <= 1e-4:
            raise ActionstreamError(
                f"{spec.file}: output {name} at batch 1 differs from batch {PARITY_BATCH} by "
                f"{gap:.3g}; the dynamic batch is broken, the ONNX files were not written"
            )
        diffs[f"batch1_vs_batch{PARITY_BATCH}_{name}"] = gap
    return diffs


def export_pose_models(out_dir: Path, wheel: Path | None = None, cache_dir: Path | None = None) -> dict[str, Any]:
    """Convert the pinned MediaPipe BlazePose models to `out_dir`/pose_detector.onnx and pose_landmarks.onnx (+ NOTICE).

    wheel: the mediapipe wheel file (else $ACTIONSTREAM_MEDIAPIPE_WHEEL, else cache_dir, downloading it when absent).
    Returns provenance and parity figures for the bundle manifest. Raises ActionstreamError (one line) when the
    wheel is wrong or the ONNX models differ from the TFLite ones beyond PARITY_BOUNDS; nothing is written then.
    """
    import warnings

    import onnx
    import onnxruntime
    import tensorflow as tf
    import tf2onnx
    from tqdm import tqdm

    out_dir = Path(out_dir)
    wheel = Path(wheel) if wheel else (cached_wheel(cache_dir) or fetch_wheel(cache_dir))
    tflites = read_tflite_files(wheel)
    frames = real_frames()
    provenance: dict[str, Any] = {
        "source": "MediaPipe BlazePose (pose detection + pose landmark full)",
        "license": "Apache-2.0",
        "wheel": WHEEL_NAME,
        "wheel_sha256": WHEEL_SHA256,  # read_tflite_files checked the hash
        "inner_paths": {DETECTOR_FILE: DETECTOR_INNER_PATH, LANDMARK_FILE: LANDMARK_INNER_PATH},
        "tf2onnx": tf2onnx.__version__,
        "onnx": onnx.__version__,
        "tensorflow": tf.__version__,
        "onnxruntime": onnxruntime.__version__,
        "opset": OPSET,
        "weights": "fp16 storage, float32 compute",
        "parity_bounds": dict(PARITY_BOUNDS),
        "parity": {},
        "real_frames": len(frames),
        "models": {},
    }
    rng = np.random.default_rng(RANDOM_SEED)
    written: dict[str, bytes] = {}
    with warnings.catch_warnings(), tqdm(total=4, desc="export pose models", unit="step", disable=None) as bar:
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        detector_bytes, dense = densify_tflite(tflites[DETECTOR_INNER_PATH])
        probe = rng.uniform(-1, 1, (2, DETECTOR.input_size, DETECTOR.input_size, 3)).astype(np.float32)
        before, after = tflite_outputs(tflites[DETECTOR_INNER_PATH], probe), tflite_outputs(detector_bytes, probe)
        if any(not np.array_equal(before[k], after[k]) for k in before):
            raise ActionstreamError(
                f"{DETECTOR_INNER_PATH}: the densified model computes something else than the "
                "original; the ONNX files were not written"
            )
        provenance["densified_tensors"] = len(dense)
        for spec, tflite_bytes, prep in (
            (DETECTOR, detector_bytes, detector_input),
            (LANDMARKS, tflites[LANDMARK_INNER_PATH], landmark_input),
        ):
            proto, stored_fp16 = fp16_storage(tflite_to_onnx(tflite_bytes, spec))
            for key, value in {
                "actionstream.source": f"{WHEEL_NAME}:{spec.inner_path}",
                "actionstream.source_sha256": WHEEL_SHA256,
                "actionstream.license": "Apache-2.0",
                "actionstream.input_range": f"{spec.input_range[0]:g}..{spec.input_range[1]:g}",
            }.items():
                entry = proto.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.checker.check_model(proto)
            bar.update(1)
            lo, hi = spec.input_range
            random_inputs = rng.uniform(lo, hi, (RANDOM_EXAMPLES, spec.input_size, spec.input_size, 3))
            parity = {"random": _parity(spec, tflite_bytes, proto, random_inputs.astype(np.float32), "random")}
            if frames:
                parity["real"] = _parity(spec, tflite_bytes, proto, prep(frames), "real-frame")
            provenance["parity"][spec.file] = parity
            data = proto.SerializeToString()
            written[spec.file] = data
            session = ort_session(data)
            provenance["models"][spec.file] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "fp16_initializers": stored_fp16,
                "input": {
                    "name": spec.input_name,
                    "shape": ["batch", spec.input_size, spec.input_size, 3],
                    "range": list(spec.input_range),
                },
                "outputs": {o.name: o.shape for o in session.get_outputs()},
            }
            bar.update(1)
    for name, data in written.items():
        _write_atomic(out_dir / name, data)
    _write_atomic(out_dir / "NOTICE", notice_text(provenance).encode())
    return provenance
