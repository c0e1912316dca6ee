"""export.pose_export: densify, graph finishing, fp16 storage, wheel checks, NOTICE; the full conversion when the
pinned mediapipe wheel is already on disk (tests never download it)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from export import pose_export as pe
from streaming.errors import ActionstreamError

# ---------------------------------------------------------------------------------------------------- densify


def test_sparse_to_dense_csr_last_dim():
    dense = np.array([[0, 1.5, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]], np.float16)
    # rows DENSE, columns SPARSE_CSR: segments per row, column indices, then the non-zero values in order
    meta = [(pe.DIM_DENSE, None, None, 3), (pe.DIM_SPARSE_CSR, np.array([0, 2, 2, 4]), np.array([1, 3, 0, 3]), 0)]
    got = pe.sparse_to_dense(np.array([1.5, 2, 3, 4], np.float16), (3, 4), [0, 1], meta)
    assert got.dtype == np.float16 and np.array_equal(got, dense)


def test_sparse_to_dense_traversal_order_and_4d():
    # traversal order (1, 0): the tensor is walked column by column (CSC); the first level is dense.
    dense = np.array([[1, 0], [0, 2], [3, 0]], np.float32)
    meta = [(pe.DIM_DENSE, None, None, 2), (pe.DIM_SPARSE_CSR, np.array([0, 2, 3]), np.array([0, 2, 1]), 0)]
    assert np.array_equal(pe.sparse_to_dense(np.array([1, 3, 2], np.float32), (3, 2), [1, 0], meta), dense)
    # the detector's layout: [out, 1, 1, in] with only the last level sparse
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 1, 1, 6)).astype(np.float16) * (rng.random((4, 1, 1, 6)) < 0.4)
    rows = w.reshape(4, 6)
    segments = np.concatenate([[0], np.cumsum((rows != 0).sum(1))])
    indices = np.concatenate([np.flatnonzero(r) for r in rows])
    meta = [
        (pe.DIM_DENSE, None, None, 4),
        (pe.DIM_DENSE, None, None, 1),
        (pe.DIM_DENSE, None, None, 1),
        (pe.DIM_SPARSE_CSR, segments, indices, 0),
    ]
    assert np.array_equal(pe.sparse_to_dense(rows[rows != 0], w.shape, [0, 1, 2, 3], meta), w)


def test_sparse_to_dense_refuses_inconsistent_and_blocked():
    meta = [(pe.DIM_DENSE, None, None, 2), (pe.DIM_SPARSE_CSR, np.array([0, 1, 2]), np.array([0, 1]), 0)]
    with pytest.raises(ActionstreamError, match="3 values for 2"):
        pe.sparse_to_dense(np.ones(3, np.float32), (2, 2), [0, 1], meta)
    with pytest.raises(ActionstreamError, match="block sparsity"):
        pe.sparse_to_dense(np.ones(2, np.float32), (2, 2), [0, 1, 2], meta + [(pe.DIM_DENSE, None, None, 2)])


def _sparse_tflite(dense: np.ndarray) -> bytes:
    """A one-op TFLite model: DENSIFY of a CSR-sparse float32 constant, whose output is the graph's output."""
    flatbuffers = pytest.importorskip("flatbuffers")
    pytest.importorskip("tensorflow")
    from tensorflow.lite.python import schema_py_generated as s

    def vector(values):
        v = s.Int32VectorT()
        v.values = [int(x) for x in values]
        return v

    model = s.ModelT()
    model.version = 3
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.DENSIFY
    code.version = 1
    model.operatorCodes = [code]
    empty, values = s.BufferT(), s.BufferT()
    values.data = np.frombuffer(dense[dense != 0].astype(np.float32).tobytes(), np.uint8)
    model.buffers = [empty, values, s.BufferT()]
    sparsity = s.SparsityParametersT()
    sparsity.traversalOrder = [0, 1]
    rows = s.DimensionMetadataT()
    rows.format, rows.denseSize = s.DimensionType.DENSE, dense.shape[0]
    cols = s.DimensionMetadataT()
    cols.format = s.DimensionType.SPARSE_CSR
    cols.arraySegmentsType = cols.arrayIndicesType = s.SparseIndexVector.Int32Vector
    cols.arraySegments = vector(np.concatenate([[0], np.cumsum((dense != 0).sum(1))]))
    cols.arrayIndices = vector(np.concatenate([np.flatnonzero(r) for r in dense]))
    sparsity.dimMetadata = [rows, cols]
    src, dst = s.TensorT(), s.TensorT()
    for t, name, buffer in ((src, b"sparse", 1), (dst, b"dense", 2)):
        t.shape, t.type, t.name, t.buffer = list(dense.shape), s.TensorType.FLOAT32, name, buffer
    src.sparsity = sparsity
    op = s.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    graph = s.SubGraphT()
    graph.tensors, graph.operators, graph.inputs, graph.outputs = [src, dst], [op], [], [1]
    model.subgraphs = [graph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_densify_tflite_matches_the_interpreter():
    dense = np.array([[0, 1.5, 0, 2], [0, 0, 0, 0], [3, 0, 0, -4]], np.float32)
    original = _sparse_tflite(dense)
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(  # XNNPACK cannot run a graph of one DENSIFY; the builtin kernels can
        model_content=original,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    interpreter.invoke()
    assert np.array_equal(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), dense)

    rewritten, found = pe.densify_tflite(original)
    assert set(found) == {"dense"} and np.array_equal(found["dense"], dense)
    from tensorflow.lite.python import schema_py_generated as s

    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(rewritten, 0))
    graph = model.subgraphs[0]
    assert not graph.operators  # the DENSIFY op is gone; its output is now a constant
    out = graph.tensors[graph.outputs[0]]
    stored = np.frombuffer(bytes(model.buffers[out.buffer].data), np.float32).reshape(out.shape)
    assert np.array_equal(stored, dense)


# ---------------------------------------------------------------------------------------------------- ONNX side


def _tf2onnx_like_graph():
    """What tf2onnx gives for a batch-1 TFLite model: fixed batch, '1, -1, k' reshapes, Identity_N names, an
    output the runtime does not want."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(8, dtype=np.float32).reshape(4, 2) / 8, "long/tf/name/w")
    shape = numpy_helper.from_array(np.array([1, -1, 2], np.int64), "const_fold_opt__611")
    nodes = [
        helper.make_node("MatMul", ["input_1", "long/tf/name/w"], ["mm:0"]),
        helper.make_node("Reshape", ["mm:0", "const_fold_opt__611"], ["Identity"]),
        helper.make_node("Reshape", ["mm:0", "const_fold_opt__611"], ["r2"]),
        helper.make_node("Sigmoid", ["r2"], ["Identity_1"]),
        helper.make_node("Relu", ["mm:0"], ["Identity_2"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, [1, 3, 4])],
        [
            helper.make_tensor_value_info("Identity", TensorProto.FLOAT, [1, 3, 2]),
            helper.make_tensor_value_info("Identity_1", TensorProto.FLOAT, [1, 3, 2]),
            helper.make_tensor_value_info("Identity_2", TensorProto.FLOAT, [1, 3, 2]),
        ],
        [w, shape],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), onnx


def test_finish_graph_dynamic_batch_names_and_dropped_outputs():
    proto, onnx = _tf2onnx_like_graph()
    spec = pe.ModelSpec(
        "x.onnx",
        "inner/x.tflite",
        "image",
        4,
        (0.0, 1.0),
        {"Identity": "boxes", "Identity_1": "scores", "Identity_2": None},
    )
    finished = pe.finish_graph(proto, spec)
    graph = finished.graph
    assert [i.name for i in graph.input] == ["image"] and [o.name for o in graph.output] == ["boxes", "scores"]
    assert "Relu" not in {n.op_type for n in graph.node}  # only the dropped output needed it
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not any("/" in n or ":" in n for node in graph.node for n in list(node.input) + list(node.output))
    x = np.random.default_rng(1).random((5, 3, 4), dtype=np.float32)
    out = pe.onnx_outputs(finished, x)
    w = np.arange(8, dtype=np.float32).reshape(4, 2) / 8
    assert out["boxes"].shape == (5, 3, 2) and np.allclose(out["boxes"], x @ w)
    assert np.allclose(out["scores"], 1 / (1 + np.exp(-(x @ w))))
    single = pe.onnx_outputs(finished, x, batch=1)
    assert np.array_equal(single["boxes"], out["boxes"])
    # canonical names: finishing the same graph again gives the same bytes
    again = pe.finish_graph(_tf2onnx_like_graph()[0], spec)
    assert again.SerializeToString() == finished.SerializeToString()
    with pytest.raises(ActionstreamError, match="not the expected"):
        pe.finish_graph(
            _tf2onnx_like_graph()[0],
            pe.ModelSpec("x.onnx", "inner/x.tflite", "image", 4, (0.0, 1.0), {"Identity": "boxes"}),
        )


def test_fp16_storage_is_lossless_and_halves_the_weights():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    exact = (np.random.default_rng(2).normal(size=(64, 32)).astype(np.float16)).astype(np.float32)
    inexact = np.full((32,), 0.1, np.float32)  # 0.1 is not an fp16 value: stays fp32
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 32])],
        [numpy_helper.from_array(exact, "w"), numpy_helper.from_array(inexact, "b")],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    stored, converted = pe.fp16_storage(proto)
    assert converted == 1
    kinds = {i.name: i.data_type for i in stored.graph.initializer}
    assert kinds == {"w_fp16": TensorProto.FLOAT16, "b": TensorProto.FLOAT}
    assert stored.ByteSize() < proto.ByteSize() - exact.size
    x = np.random.default_rng(3).random((4, 64), dtype=np.float32)
    assert np.array_equal(pe.onnx_outputs(stored, x)["y"], pe.onnx_outputs(proto, x)["y"])
    onnx.checker.check_model(stored)


def test_check_bounds_one_line_and_nan():
    pe.check_bounds({"boxes": 0.001, "pose_flag": 0.0}, "m")
    with pytest.raises(ActionstreamError) as err:
        pe.check_bounds({"landmarks_xy": 0.7}, "pose_landmarks.onnx on real-frame inputs")
    assert "\n" not in str(err.value) and "landmarks_xy" in str(err.value) and "0.7" in str(err.value)
    with pytest.raises(ActionstreamError, match="scores"):
        pe.check_bounds({"scores": float("nan")}, "m")


def test_max_abs_diffs_splits_landmarks():
    ref = {
        "Identity": np.zeros((2, 195), np.float32),
        "Identity_1": np.zeros((2, 1), np.float32),
        "Identity_4": np.zeros((2, 117), np.float32),
    }
    got = {
        "landmarks": np.zeros((2, 195), np.float32),
        "pose_flag": np.full((2, 1), 0.25, np.float32),
        "world_landmarks": np.zeros((2, 117), np.float32),
    }
    got["landmarks"].reshape(2, 39, 5)[1, 7, 2] = 3.0  # one z
    diffs = pe.max_abs_diffs(ref, got, pe.LANDMARKS)
    assert diffs == {
        "landmarks_xy": 0.0,
        "landmarks_z": 3.0,
        "landmarks_scores": 0.0,
        "pose_flag": 0.25,
        "world_landmarks": 0.0,
    }


# ---------------------------------------------------------------------------------------------------- wheel, NOTICE


def test_default_cache_dir_respects_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert pe.default_cache_dir() == tmp_path / "actionstream" / "wheels"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert pe.default_cache_dir() == Path.home() / ".cache" / "actionstream" / "wheels"


def test_cached_wheel_never_downloads(monkeypatch, tmp_path):
    monkeypatch.delenv(pe.ENV_WHEEL, raising=False)
    assert pe.cached_wheel(tmp_path) is None
    (tmp_path / pe.WHEEL_NAME).write_bytes(b"x")
    assert pe.cached_wheel(tmp_path) == tmp_path / pe.WHEEL_NAME


def test_wrong_wheel_is_refused_in_one_line(tmp_path):
    fake = tmp_path / pe.WHEEL_NAME
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr(pe.DETECTOR_INNER_PATH, b"not a model")
        zf.writestr(pe.LANDMARK_INNER_PATH, b"not a model")
    with pytest.raises(ActionstreamError, match="sha256") as err:
        pe.read_tflite_files(fake)
    assert "\n" not in str(err.value) and pe.WHEEL_SHA256 in str(err.value)
    with pytest.raises(ActionstreamError, match="no such wheel"):
        pe.read_tflite_files(tmp_path / "missing.whl")


def _provenance() -> dict:
    return {
        "wheel": pe.WHEEL_NAME,
        "wheel_sha256": pe.WHEEL_SHA256,
        "tf2onnx": "1.17.0",
        "opset": pe.OPSET,
        "inner_paths": {pe.DETECTOR_FILE: pe.DETECTOR_INNER_PATH, pe.LANDMARK_FILE: pe.LANDMARK_INNER_PATH},
    }


def test_notice_names_licence_wheel_hash_and_paths():
    text = pe.notice_text(_provenance())
    for needle in (
        "Apache License, Version 2.0",
        "MediaPipe Authors",
        "BlazePose",
        pe.WHEEL_NAME,
        pe.WHEEL_SHA256,
        f"{pe.DETECTOR_INNER_PATH} -> pose_detector.onnx",
        f"{pe.LANDMARK_INNER_PATH} -> pose_landmarks.onnx",
        "opset 17",
        "tf2onnx 1.17.0",
    ):
        assert needle in text
    assert pe.WHEEL_NAME.startswith(f"mediapipe-{pe.MEDIAPIPE_VERSION}-") and len(pe.WHEEL_SHA256) == 64


# ---------------------------------------------------------------------------------------------------- full export


def test_full_export_when_the_wheel_is_cached(tmp_path):
    wheel = pe.cached_wheel()
    if wheel is None:
        pytest.skip(
            f"{pe.WHEEL_NAME} is not in {pe.default_cache_dir()} and ${pe.ENV_WHEEL} is unset "
            "(tests never download; run export_pose_models once to fetch it)"
        )
    pytest.importorskip("tensorflow")
    provenance = pe.export_pose_models(tmp_path, wheel=wheel)
    assert provenance["wheel_sha256"] == pe.WHEEL_SHA256 and provenance["opset"] == pe.OPSET
    assert provenance["densified_tensors"] == 38
    assert set(provenance["parity"]) == {pe.DETECTOR_FILE, pe.LANDMARK_FILE}
    for name, bound in pe.PARITY_BOUNDS.items():
        for model in provenance["parity"].values():
            for inputs in model.values():
                assert inputs.get(name, 0.0) <= bound
    assert (tmp_path / "NOTICE").read_text() == pe.notice_text(provenance)
    assert not list(tmp_path.glob(".*.tmp"))
    import hashlib

    det = pe.ort_session(tmp_path / pe.DETECTOR_FILE)
    assert [(i.name, i.shape) for i in det.get_inputs()] == [("image", ["batch", 224, 224, 3])]
    boxes, scores = det.run(["boxes", "scores"], {"image": np.zeros((3, 224, 224, 3), np.float32)})
    assert boxes.shape == (3, 2254, 12) and scores.shape == (3, 2254, 1)
    lm = pe.ort_session(tmp_path / pe.LANDMARK_FILE)
    assert [o.name for o in lm.get_outputs()] == ["landmarks", "pose_flag", "world_landmarks"]
    out = lm.run(None, {"image": np.full((2, 256, 256, 3), 0.5, np.float32)})
    assert [o.shape for o in out] == [(2, 195), (2, 1), (2, 117)]
    for file, info in provenance["models"].items():
        assert hashlib.sha256((tmp_path / file).read_bytes()).hexdigest() == info["sha256"]
    # reproducible: converting again in the same process (tf2onnx's counters have moved on) gives the same bytes
    landmarks = pe.read_tflite_files(wheel)[pe.LANDMARK_INNER_PATH]
    first = pe.tflite_to_onnx(landmarks, pe.LANDMARKS).SerializeToString()
    assert pe.tflite_to_onnx(landmarks, pe.LANDMARKS).SerializeToString() == first
