"""Counting a model's multiply-accumulates from its ONNX graph, so GFLOP/s figures rest on the model we run.

Counts Conv, Gemm/MatMul and LSTM; element-wise ops, pooling and batch-norm are left
out (they are a few percent of InceptionV3's work). One MAC is counted as 2 FLOPs.

    macs = count_macs("bundle/extractor.onnx")   # per input item (batch 1)
"""

from __future__ import annotations

import math
import os

#: The figure usually quoted for InceptionV3 at 299x299 (multiply-adds, Szegedy et al. 2015), for comparison.
INCEPTION_V3_PUBLISHED_GMACS = 5.72


def _shape(vi) -> list[int] | None:
    dims = vi.type.tensor_type.shape.dim
    out = []
    for d in dims:
        if not d.HasField("dim_value"):
            return None
        out.append(int(d.dim_value))
    return out


def count_macs(path: str | os.PathLike) -> int:
    """Multiply-accumulates for one input item (batch dimension fixed to 1) of an fp32 ONNX model."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(str(path))
    graph = model.graph
    inits = {t.name: list(t.dims) for t in graph.initializer}
    for inp in graph.input:
        if inp.name in inits:
            continue
        dims = inp.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    model = shape_inference.infer_shapes(model)
    shapes: dict[str, list[int]] = {}
    for vi in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input):
        s = _shape(vi)
        if s is not None:
            shapes[vi.name] = s
    # constants produced by Constant nodes (tf2onnx sometimes emits weights that way)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    inits[node.output[0]] = list(numpy_helper.to_array(a.t).shape)

    def dims_of(name: str) -> list[int] | None:
        return inits.get(name) or shapes.get(name)

    macs = 0
    for node in model.graph.node:
        op = node.op_type
        if op == "Conv":
            w, y = dims_of(node.input[1]), shapes.get(node.output[0])
            if w and y:
                macs += math.prod(y) * math.prod(w[1:])
        elif op in ("Gemm", "MatMul"):
            a, y = dims_of(node.input[0]), shapes.get(node.output[0])
            if a and y:
                trans_a = any(at.name == "transA" and at.i for at in node.attribute)
                k = a[-2] if (op == "Gemm" and trans_a) else a[-1]
                macs += math.prod(y) * k
        elif op == "LSTM":
            w, r, x = dims_of(node.input[1]), dims_of(node.input[2]), dims_of(node.input[0])
            if w and r and x:
                directions, four_h, d = w
                h = r[2]
                steps = x[0]  # ONNX LSTM input is [seq, batch, features] (layout 0)
                if any(at.name == "layout" and at.i == 1 for at in node.attribute):
                    steps = x[1]
                macs += steps * directions * four_h * (d + h)
    return int(macs)
