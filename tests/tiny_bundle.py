"""A tiny but real bundle for tests, built with onnx.helper (no TensorFlow, no training, ~20 KB).

Extractor (64×64 RGB in, 16 features out): the mean of each colour channel (3 features) followed by a fixed
random projection of a 4×4 average-pooled image (13 features, tanh).
Head: a real ONNX LSTM over (B, window, 16) whose cell adds up tanh(channel mean) over the window, then a
dense layer and softmax over the labels red, green, blue. So a clip's dominant colour over the window is the
prediction: tests can write coloured clips and assert the answer, and a clip that turns from red to blue
turns the prediction too, once blue dominates the window.

    bundle_dir = make_tiny_bundle(tmp_path / "bundle", window=8, fps=5.0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from streaming.bundle import Manifest, OnnxFile, bundle_writer, sha256_file, write_manifest
from streaming.preprocess import FrameSpec
from streaming.sampler import Sampling

LABELS = ["red", "green", "blue"]
SIZE = 64
FEATURES = 16
HIDDEN = 8
OPSET = 17

#: BGR colours (what cv2 writes) for each label.
COLORS_BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    """A float32 initializer (weights)."""
    return numpy_helper.from_array(np.asarray(array, np.float32), name)


def extractor_model(seed: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    proj = rng.normal(0, 0.5, (48, FEATURES - 3)).astype(np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["rgb"], axes=[1, 2], keepdims=0),
        helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node("AveragePool", ["nchw"], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]),
        helper.make_node("Reshape", ["pooled", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "proj"], ["projected"]),
        helper.make_node("Tanh", ["projected"], ["texture"]),
        helper.make_node("Concat", ["rgb", "texture"], ["features"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_extractor",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", SIZE, SIZE, 3])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", FEATURES])],
        [_init("proj", proj), numpy_helper.from_array(np.array([-1, 48], np.int64), "flat_shape")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tiny_bundle", ir_version=8
    )
    onnx.checker.check_model(model)
    return model


def head_model(window: int, seed: int = 1) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    h, d = HIDDEN, FEATURES
    # ONNX LSTM gate order: input, output, forget, cell
    w = np.zeros((1, 4 * h, d), np.float32)
    r = np.zeros((1, 4 * h, h), np.float32)
    b = np.zeros((1, 8 * h), np.float32)
    b[0, 0 : 3 * h] = 10.0  # input, output and forget gates wide open: the cell sums
    cell = slice(3 * h, 4 * h)
    w[0, cell][:3, :3] = np.eye(3)  # units 0-2: tanh(channel mean), summed over the window
    w[0, cell][3:, 3:] = rng.normal(0, 0.3, (h - 3, d - 3))  # the rest: texture, so real clips vary
    dense = np.zeros((h, len(LABELS)), np.float32)
    dense[:3, :3] = 6.0 * np.eye(3)
    dense[3:, :] = rng.normal(0, 0.2, (h - 3, len(LABELS)))
    nodes = [
        helper.make_node("Transpose", ["features"], ["time_major"], perm=[1, 0, 2]),
        helper.make_node("LSTM", ["time_major", "W", "R", "B"], ["Y", "Y_h"], hidden_size=h),
        helper.make_node("Squeeze", ["Y_h", "axis0"], ["last"]),
        helper.make_node("MatMul", ["last", "dense"], ["logits0"]),
        helper.make_node("Add", ["logits0", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_head",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["B", window, d])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["B", len(LABELS)])],
        [
            _init("W", w),
            _init("R", r),
            _init("B", b),
            _init("dense", dense),
            _init("bias", np.zeros(len(LABELS), np.float32)),
            numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        ],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tiny_bundle", ir_version=8
    )
    onnx.checker.check_model(model)
    return model


def make_tiny_bundle(
    out: str | Path, window: int = 8, fps: float = 5.0, mode: str = "stride", head: bool = True, int8: bool = False
) -> Path:
    """Write a valid bundle to `out` with streaming.bundle (hashes, manifest, atomic rename) and return it."""
    out = Path(out)
    with bundle_writer(out) as tmp:
        files = {}
        onnx.save(extractor_model(), tmp / "extractor.onnx")
        files["extractor"] = OnnxFile("extractor.onnx", sha256_file(tmp / "extractor.onnx"), "input", "features")
        if int8:  # a real int8 file (dynamic quantization of the projection), enough to drive --int8
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(tmp / "extractor.onnx", tmp / "extractor.int8.onnx", weight_type=QuantType.QInt8)
            files["extractor_int8"] = OnnxFile(
                "extractor.int8.onnx", sha256_file(tmp / "extractor.int8.onnx"), "input", "features"
            )
        if head:
            onnx.save(head_model(window), tmp / "head.onnx")
            files["head"] = OnnxFile("head.onnx", sha256_file(tmp / "head.onnx"), "features", "probs")
        manifest = Manifest(
            feature_size=FEATURES,
            frame=FrameSpec(SIZE, SIZE, "RGB", "inception"),
            files=files,
            labels=list(LABELS) if head else [],
            sampling=Sampling(mode, fps, window),
            provenance={"made_by": "tests/tiny_bundle.py", "note": "hand-set weights: dominant colour"},
            description="tiny test bundle: predicts the dominant colour (red/green/blue) of the window",
        )
        write_manifest(tmp, manifest)
    return out


def write_color_clip(
    path: str | Path,
    segments: list[tuple[str, float]],
    fps: float = 25.0,
    size: tuple[int, int] = (96, 72),
    codec: str = "MJPG",
    seed: int = 0,
) -> Path:
    """Write a real video file of solid colours with a little noise: segments of (label, seconds).

    MJPG in .avi by default (the pip OpenCV cannot write H.264); `codec="mp4v"` with a .mp4 path also works.
    """
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"cannot write {path} with codec {codec}")
    rng = np.random.default_rng(seed)
    try:
        for label, seconds in segments:
            colour = np.array(COLORS_BGR[label], np.int16)
            for _ in range(max(1, round(seconds * fps))):
                noise = rng.integers(-20, 21, (h, w, 3), dtype=np.int16)
                writer.write(np.clip(colour + noise, 0, 255).astype(np.uint8))
    finally:
        writer.release()
    return path
