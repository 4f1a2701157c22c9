"""Symbolic dims: bound by name or by input shape; unbound ones make visible lower bounds."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

import onnxcost
from onnxcost.errors import ModelError, UsageError
from tests.builders import GraphBuilder


def _symbolic_mlp() -> onnx.ModelProto:
    b = GraphBuilder()
    x = b.input("x", ["batch", "seq", 64])
    h = b.op("Relu", [b.op("MatMul", [x, b.weight("w1", [64, 256])])])
    y = b.op("MatMul", [h, b.weight("w2", [256, 64])])
    return b.build([y])


def test_unbound_dims_are_lower_bounds_and_listed() -> None:
    r = onnxcost.analyze(_symbolic_mlp())
    assert r.totals.lower_bound
    assert r.totals.macs == 0
    assert {u.node for u in r.unresolved} >= {r.nodes[0].name, r.nodes[2].name}
    assert any("batch" in w and "seq" in w for w in r.warnings)
    assert r.totals.params == 64 * 256 * 2  # weights do not depend on the dims


def test_bound_dims_give_exact_counts() -> None:
    r = onnxcost.analyze(_symbolic_mlp(), dims={"batch": 2, "seq": 128})
    tokens = 2 * 128
    assert r.totals.macs == tokens * 64 * 256 + tokens * 256 * 64
    assert r.totals.flops == 2 * r.totals.macs + tokens * 256  # + Relu
    assert not r.totals.lower_bound
    assert r.dims == {"batch": 2, "seq": 128}
    assert r.inputs[0].shape == [2, 128, 64]


def test_input_shape_fixes_a_whole_input() -> None:
    r = onnxcost.analyze(_symbolic_mlp(), input_shapes={"x": [1, 10, 64]})
    assert r.totals.macs == 10 * 64 * 256 * 2
    assert r.dims == {"batch": 1, "seq": 10}


def test_partly_bound_stays_a_lower_bound() -> None:
    r = onnxcost.analyze(_symbolic_mlp(), dims={"batch": 2})
    assert r.totals.lower_bound
    assert any("seq" in w for w in r.warnings)


@pytest.mark.parametrize(
    ("kwargs", "msg"),
    [
        ({"dims": {"heads": 8}}, "no dim named 'heads'.*batch, seq"),
        ({"input_shapes": {"y": [1, 2, 64]}}, "'y' is not a graph input"),
        ({"input_shapes": {"x": [1, 64]}}, "rank 3, got 2"),
    ],
)
def test_bad_bindings_are_usage_errors(kwargs, msg) -> None:
    with pytest.raises(UsageError, match=msg):
        onnxcost.analyze(_symbolic_mlp(), **kwargs)


def test_negative_dim_in_model_is_an_error() -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [-3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [-3, 4])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    with pytest.raises(ModelError, match="negative dim"):
        onnxcost.analyze(helper.make_model(g))


def test_user_model_is_not_modified() -> None:
    m = _symbolic_mlp()
    before = m.SerializeToString()
    onnxcost.analyze(m, dims={"batch": 1, "seq": 4})
    assert m.SerializeToString() == before


def test_onnxruntime_fallback_infers_contrib_op_shapes() -> None:
    # onnx knows nothing of com.microsoft FastGelu; onnxruntime's symbolic inference does.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("FastGelu", ["x"], ["g"], domain="com.microsoft"),
        helper.make_node("Relu", ["g"], ["y"]),
    ]
    m = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
    )
    r = onnxcost.analyze(m)
    relu = r.nodes[1]
    assert relu.output_shapes == [[2, 8]]
    assert relu.flops == 16
