"""Symbolic dims: bound by name or by input shape; unbound ones make visible lower bounds."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

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
    # strict: a --dim the model lacks is an error (without it, a warning: see below)
    with pytest.raises(UsageError, match=msg):
        onnxcost.analyze(_symbolic_mlp(), strict=True, **kwargs)


def test_a_dim_the_model_lacks_is_a_warning() -> None:
    # one command line or budget file serves files from several exporters
    r = onnxcost.analyze(_symbolic_mlp(), dims={"batch": 2, "seq": 4, "heads": 8})
    assert any("no dim named 'heads'" in w and "ignored" in w for w in r.warnings)
    assert r.dims == {"batch": 2, "seq": 4}
    assert r.totals.macs == 2 * 4 * 64 * 256 * 2


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


def _exported_bias_model(shape_value: list[int]) -> onnx.ModelProto:
    """A conv whose zero bias is built the way torch's dynamo exporter builds it:
    Expand(CastLike(0, x), Expand(Shape(W)[0:1], [1])); and a ConstantOfShape of `shape_value`."""
    w = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "W")

    def const(name, v):
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(v))

    nodes = [
        helper.make_node("Shape", ["W"], ["ws"], start=0, end=1),
        helper.make_node("Constant", [], ["one"], value_ints=[1]),  # as torch's dynamo writes it
        helper.make_node("Expand", ["ws", "one"], ["bshape"]),
        const("zero", np.array(0.0, np.float32)),
        helper.make_node("CastLike", ["zero", "x"], ["z"]),
        helper.make_node("Expand", ["z", "bshape"], ["bias"]),
        helper.make_node("Conv", ["x", "W", "bias"], ["y"], pads=[1, 1, 1, 1]),
        const("big", np.array(shape_value, np.int64)),
        helper.make_node("ConstantOfShape", ["big"], ["filler"]),
        helper.make_node("Shape", ["filler"], ["fs"]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    outs = [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None) for n in ("y", "fs")]
    graph = helper.make_graph(nodes, "g", [x], outs, [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_constant_shape_arithmetic_is_folded_for_inference() -> None:
    r = onnxcost.analyze(_exported_bias_model([2, 3]))
    nodes = {n.name: n for n in r.nodes}
    assert nodes["Expand_5"].output_shapes == [[8]]  # the bias: Shape(W)[0:1] = [8]
    assert nodes["Conv_6"].macs == 8 * 8 * 8 * 3 * 3 * 3
    assert r.unresolved == [] and not r.totals.lower_bound


def test_folding_never_materialises_a_huge_constant() -> None:
    # 2**40 x 2**40 elements: folding must skip it (its size is known before evaluating), and
    # the analysis must finish with exact Python ints, not allocate 2**80 floats.
    r = onnxcost.analyze(_exported_bias_model([2**40, 2**40]))
    filler = next(n for n in r.nodes if n.op_type == "ConstantOfShape")
    assert filler.output_shapes == [[2**40, 2**40]]


def test_array_feature_extractor_shape_as_onnxruntime_gives_it() -> None:
    # skl2onnx's classifiers map the argmax through the class labels: X a 1-D constant of C
    # labels, indices [N, 1]. onnxruntime treats a 1-D X as one row [1, C] and gives
    # [1, number of indices] = [1, N * 1]; onnx's own inference says [N] (wrong).
    labels = numpy_helper.from_array(np.array([10, 20], np.int64), "labels")
    idx = helper.make_tensor_value_info("idx", TensorProto.INT64, [3, 1])
    out = helper.make_tensor_value_info("y", TensorProto.INT64, None)
    node = helper.make_node("ArrayFeatureExtractor", ["labels", "idx"], ["y"], domain="ai.onnx.ml")
    g = helper.make_graph([node], "g", [idx], [out], [labels])
    m = helper.make_model(
        g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    r = onnxcost.analyze(m)
    assert r.nodes[0].output_shapes == [[1, 3 * 1]]
    assert r.totals.status == "exact"


def test_a_dim_worked_out_to_a_number_is_an_int_with_other_dims_unbound() -> None:
    # Reshape [batch, 64, 4, 4] to [batch, 64, -1]: the -1 is 16 whatever batch is. The shape
    # library writes it as a symbolic dim "16"; the report must say 16 (an int), or in-place
    # reuse and formulas would treat it as a name.
    b = GraphBuilder()
    x = b.input("x", ["batch", 64, 4, 4])
    shape = b.op("Constant", [], value=numpy_helper.from_array(np.array([0, 64, -1], np.int64)))
    y = b.op("Reshape", [x, shape])
    r = onnxcost.analyze(b.build([y]))
    assert r.nodes[-1].output_shapes == [["batch", 64, 4 * 4]]
