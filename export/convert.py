"""Keras -> ONNX with tf2onnx, checked and written atomically.

    out_name = keras_to_onnx(model, Path("extractor.onnx"), (299, 299, 3), "frames", metadata={"role": "extractor"})

An explicit input signature with a dynamic batch dimension is what works with TensorFlow 2.21 / Keras 3 /
tf2onnx 1.17 (see MEASURED.md); the model is traced in inference mode as a tf.function. Output names differ by
route, so the name is read from the graph.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING

from export.graph_rewrite import pool_after_pointwise_conv
from streaming.atomic import atomic_file
from streaming.errors import ActionstreamError

if TYPE_CHECKING:
    import keras
    import onnx

#: Newest opset tf2onnx 1.17 converts (19+ is "not supported yet").
DEFAULT_OPSET = 17


def keras_to_onnx(
    model: "keras.Model",
    path: str | os.PathLike,
    input_shape: tuple,
    input_name: str,
    opset: int = DEFAULT_OPSET,
    metadata: dict[str, str] | None = None,
    *,
    output_name: str | None = None,
) -> str:
    """Convert `model` to an ONNX file at `path`; returns the output tensor's name as read from the graph.

    input_shape is one example's shape (no batch; a leading None is accepted and dropped): the batch is dynamic.
    metadata goes into the file's metadata_props (strings), so the file explains itself without the manifest.
    output_name, when given, renames the graph's one output (tf2onnx calls it e.g. "Identity:0").
    Exact rewrites that make the graph cheaper (export.graph_rewrite) are applied and listed in the metadata.
    """
    import tensorflow as tf
    import tf2onnx

    shape = tuple(input_shape)
    if shape and shape[0] is None:
        shape = shape[1:]
    _quiet_tf2onnx()
    spec = [tf.TensorSpec((None, *shape), tf.float32, name=input_name)]

    # from_function rather than from_keras: from_keras looks outputs up by Keras tensor name, which fails for
    # Sequential models under Keras 3 (KeyError 'keras_tensor_N').
    @tf.function(input_signature=spec)
    def inference(x):
        return model(x, training=False)

    try:
        proto, _ = tf2onnx.convert.from_function(inference, input_signature=spec, opset=opset)
    except (ValueError, TypeError, NotImplementedError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ActionstreamError(f"{model.name}: tf2onnx could not convert the model ({first[:200]})") from exc
    if len(proto.graph.output) != 1:
        raise ActionstreamError(f"{model.name}: expected one output, the ONNX graph has {len(proto.graph.output)}")
    if proto.graph.input[0].name != input_name:  # tf2onnx keeps the TensorSpec's name; make sure of it
        _rename_value(proto.graph, proto.graph.input[0].name, input_name)
        proto.graph.input[0].name = input_name
    if output_name:
        _rename_value(proto.graph, proto.graph.output[0].name, output_name)
        proto.graph.output[0].name = output_name
    for value in (proto.graph.input[0], proto.graph.output[0]):  # "unk__40" -> "batch"
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    metadata = dict(metadata or {})
    moved = pool_after_pointwise_conv(proto)  # exact; parity below is measured on the rewritten graph
    if moved:
        metadata["actionstream.rewrites"] = f"pool_after_pointwise_conv: {moved}"
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = str(key), str(value)
    proto.producer_name = "actionstream (tf2onnx)"
    save_onnx_atomic(proto, Path(path))
    return proto.graph.output[0].name


def save_onnx_atomic(proto: "onnx.ModelProto", path: Path) -> None:
    """onnx.checker, then write to a temporary file beside `path` and rename it into place."""
    import onnx

    onnx.checker.check_model(proto)
    with atomic_file(path) as tmp:
        onnx.save_model(proto, str(tmp))


def _rename_value(graph: "onnx.GraphProto", old: str, new: str) -> None:
    """Rename a tensor everywhere nodes of the graph produce or consume it."""
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name == old:
                node.output[i] = new
        for i, name in enumerate(node.input):
            if name == old:
                node.input[i] = new


def op_types(path_or_proto: "str | os.PathLike | onnx.ModelProto") -> set[str]:
    """Every op type in the graph, including those inside subgraphs (Loop/Scan/If bodies)."""
    import onnx

    proto = path_or_proto if isinstance(path_or_proto, onnx.ModelProto) else onnx.load(str(path_or_proto))
    found: set[str] = set()

    def walk(graph: "onnx.GraphProto") -> None:
        for node in graph.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for g in attr.graphs:
                    walk(g)

    walk(proto.graph)
    return found


def _quiet_tf2onnx() -> None:
    """tf2onnx logs every rewrite at INFO; keep the user's terminal to what matters."""
    for name in ("tf2onnx", "tf2onnx.tfonnx", "tf2onnx.optimizer", "tf2onnx.tf_utils", "tf2onnx.shape_inference"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # "TF freezing failed. Attempting to fix freezing errors." and "Removed MatMul ...AssignVariableOp" are
    # warnings about a Keras 3 LSTM that tf2onnx then freezes fine (parity is checked after): not the user's concern
    logging.getLogger("tf2onnx.tf_loader").setLevel(logging.ERROR)


def tool_versions() -> dict[str, str]:
    """Versions of the tools that produced a file, for the manifest's provenance."""
    import platform
    from importlib import metadata

    import onnxruntime

    versions = {"python": platform.python_version(), "onnxruntime": onnxruntime.__version__}
    for dist in ("tensorflow", "keras", "tf2onnx", "onnx", "numpy", "actionstream"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return versions


def utc_now() -> str:
    from datetime import datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
