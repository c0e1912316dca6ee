"""Exact graph rewrites applied at export: the pooling branch of InceptionV3 runs on fewer channels."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.graph_rewrite import pool_after_pointwise_conv


def _pool_conv_graph(
    count_include_pad: int, pads: list[int], second_user: bool = False, computed_bias: bool = False
) -> onnx.ModelProto:
    """x (1x8x6x6) -> AveragePool 3x3 -> Conv 1x1 (8 -> 3, bias) -> Relu -> y  [and the pool -> Neg -> z]
    [with the bias made by a node between the pool and the conv]."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(3, 8, 1, 1)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(size=(3,)).astype(np.float32), "b0" if computed_bias else "b")
    nodes = [
        helper.make_node(
            "AveragePool",
            ["x"],
            ["p"],
            kernel_shape=[3, 3],
            strides=[1, 1],
            pads=pads,
            count_include_pad=count_include_pad,
        ),
        helper.make_node("Conv", ["p", "w", "b"], ["c"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    if computed_bias:
        nodes.insert(1, helper.make_node("Neg", ["b0"], ["b"]))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 6, 6])]
    if second_user:
        nodes.append(helper.make_node("Neg", ["p"], ["z"]))
        outputs.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 8, 6, 6]))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])], outputs, [w, b]
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _run(model: onnx.ModelProto, x: np.ndarray) -> list[np.ndarray]:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})


def test_pool_moves_after_the_pointwise_conv_and_the_result_is_unchanged():
    model = _pool_conv_graph(count_include_pad=0, pads=[1, 1, 1, 1])
    x = np.random.default_rng(1).normal(size=(1, 8, 6, 6)).astype(np.float32)
    before = _run(model, x)[0]
    assert pool_after_pointwise_conv(model) == 1
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Conv", "AveragePool", "Relu"]
    # the border pixels average fewer neighbours; the bias still comes through exactly
    np.testing.assert_allclose(_run(model, x)[0], before, atol=1e-5)


@pytest.mark.parametrize("case", ["padding counted", "pool has another user", "bias computed after the pool"])
def test_rewrites_that_would_change_or_break_the_graph_are_not_made(case):
    model = {
        "padding counted": lambda: _pool_conv_graph(count_include_pad=1, pads=[1, 1, 1, 1]),
        "pool has another user": lambda: _pool_conv_graph(0, [1, 1, 1, 1], second_user=True),
        "bias computed after the pool": lambda: _pool_conv_graph(0, [1, 1, 1, 1], computed_bias=True),
    }[case]()
    before = model.SerializeToString()
    assert pool_after_pointwise_conv(model) == 0
    assert model.SerializeToString() == before


def test_keras_same_pooling_branch_exports_rewritten_with_parity(tmp_path):
    """The InceptionV3 branch shape (AveragePooling2D 'same' -> 1x1 Conv + BN -> ReLU) through the exporter."""
    import keras
    from keras import layers

    from export.convert import keras_to_onnx
    from export.parity import PARITY_TOLERANCE, parity

    inp = keras.Input((12, 12, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
    branch = layers.AveragePooling2D(3, strides=1, padding="same")(x)
    branch = layers.Conv2D(4, 1, use_bias=False)(branch)
    branch = layers.BatchNormalization()(branch, training=False)
    branch = layers.Activation("relu")(branch)
    out = layers.GlobalAveragePooling2D()(layers.Concatenate()([x, branch]))
    model = keras.Model(inp, out)
    bn = model.layers[4]
    rng = np.random.default_rng(2)
    bn.set_weights([rng.uniform(0.5, 2, 4), rng.normal(size=4), rng.normal(size=4), rng.uniform(0.5, 2, 4)])
    path = tmp_path / "m.onnx"
    keras_to_onnx(model, path, (12, 12, 3), "frames", output_name="features")
    proto = onnx.load(str(path))
    assert {p.key: p.value for p in proto.metadata_props}["actionstream.rewrites"] == "pool_after_pointwise_conv: 1"
    x = rng.uniform(-1, 1, (3, 12, 12, 3)).astype(np.float32)
    assert parity(model, path, x)["max_abs_diff"] <= PARITY_TOLERANCE
