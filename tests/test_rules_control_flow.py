"""If / Loop / Scan / SequenceMap: subgraph costs times how often they run."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxcost.analysis.analyzer import analyze
from onnxcost.rules.registry import Cost
from tests.ruletools import ctx, run

BODY = Cost(macs=3, flops=10)


def test_if_counts_the_more_expensive_branch() -> None:
    then_c, else_c = Cost(macs=10, flops=20), Cost(flops=30)
    c = ctx(
        "If",
        inputs=[()],
        outputs=[(4,)],
        dtype=TensorProto.BOOL,
        subgraphs={"then_branch": then_c, "else_branch": else_c},
    )
    cost = run(c)
    assert (cost.macs, cost.flops) == (0, 30)
    assert any("else_branch" in n and "more expensive" in n for n in cost.notes)

    # a constant condition picks its branch, even the cheaper one
    c = ctx(
        "If",
        inputs=[()],
        outputs=[(4,)],
        values={0: True},
        subgraphs={"then_branch": then_c, "else_branch": else_c},
    )
    cost = run(c)
    assert (cost.macs, cost.flops) == (10, 20)


def test_if_keeps_a_branch_lower_bound() -> None:
    c = ctx(
        "If",
        inputs=[()],
        subgraphs={"then_branch": Cost(flops=5, lower_bound=True), "else_branch": Cost(flops=1)},
    )
    assert run(c).lower_bound


def test_loop_static_trip_count() -> None:
    c = ctx("Loop", inputs=[(), None, (2,)], values={0: 10}, subgraphs={"body": BODY})
    cost = run(c)
    assert (cost.macs, cost.flops, cost.lower_bound) == (30, 100, False)

    # a huge count is multiplied, never iterated
    c = ctx("Loop", inputs=[(), None], values={0: 2**62}, subgraphs={"body": BODY})
    cost = run(c)
    assert (cost.macs, cost.flops) == (3 * 2**62, 10 * 2**62)


def test_loop_unknown_trip_count_is_a_lower_bound() -> None:
    for c in (
        # M not constant
        ctx("Loop", inputs=[(), None], subgraphs={"body": BODY}),
        # no M: a while loop on cond alone
        ctx("Loop", inputs=[None, ()], subgraphs={"body": BODY}),
        # INT64_MAX with a condition: the exporters' "no limit" sentinel
        ctx("Loop", inputs=[(), ()], values={0: 2**63 - 1}, subgraphs={"body": BODY}),
    ):
        cost = run(c)
        assert (cost.macs, cost.flops) == (3, 10)  # body counted once
        assert cost.lower_bound
        assert "trip count unknown" in cost.notes


def test_loop_constant_false_condition_never_runs() -> None:
    c = ctx("Loop", inputs=[(), ()], values={0: 5, 1: False}, subgraphs={"body": BODY})
    cost = run(c)
    assert (cost.macs, cost.flops, cost.lower_bound) == (0, 0, False)


def test_scan_length_from_the_scan_axis() -> None:
    # opset 9+: one state [4], one scan input [7, 3] scanned along axis 0
    c = ctx("Scan", inputs=[(4,), (7, 3)], attrs={"num_scan_inputs": 1}, subgraphs={"body": BODY})
    assert (run(c).macs, run(c).flops) == (7 * 3, 7 * 10)
    # scan_input_axes moves the axis
    c = ctx(
        "Scan",
        inputs=[(4,), (3, 7)],
        attrs={"num_scan_inputs": 1, "scan_input_axes": [-1]},
        subgraphs={"body": BODY},
    )
    assert run(c).flops == 7 * 10
    # opset 8: [batch, seq, ...] scan inputs after the optional sequence_lens
    c = ctx(
        "Scan",
        inputs=[None, (4,), (2, 5, 3)],
        attrs={"num_scan_inputs": 1},
        subgraphs={"body": BODY},
        opset=8,
    )
    assert run(c).flops == 2 * 5 * 10


def test_scan_and_sequence_map_unknown_lengths() -> None:
    c = ctx("Scan", inputs=[(4,), ("n", 3)], attrs={"num_scan_inputs": 1}, subgraphs={"body": BODY})
    cost = run(c)
    assert (cost.flops, cost.lower_bound) == (10, True)
    cost = run(ctx("SequenceMap", inputs=[None], subgraphs={"body": BODY}))
    assert (cost.flops, cost.lower_bound) == (10, True)


# --- Through the analyzer: subgraphs that read outer-scope tensors, nesting ---------------------


def _vi(name: str, shape: list | None, dtype: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


W = numpy_helper.from_array(np.zeros((8, 8), np.float32), "W")
LOOP_INPUTS = [
    _vi("i", [], TensorProto.INT64),
    _vi("cond_in", [], TensorProto.BOOL),
    _vi("y_in", [4, 8]),
]
LOOP_OUTPUTS = [_vi("cond_out", [], TensorProto.BOOL), _vi("y_out", [4, 8])]


def _model(nodes: list, inputs: list, outputs: list, inits: list) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    onnx.checker.check_model(model)
    return model


def test_if_branches_read_outer_scope_tensors() -> None:
    then_g = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["t"])], "then", [], [_vi("t", [4, 8])]
    )
    else_g = helper.make_graph(
        [helper.make_node("Relu", ["X"], ["e"])], "else", [], [_vi("e", [4, 8])]
    )
    node = helper.make_node("If", ["c"], ["Y"], then_branch=then_g, else_branch=else_g)
    model = _model(
        [node], [_vi("X", [4, 8]), _vi("c", [], TensorProto.BOOL)], [_vi("Y", [4, 8])], [W]
    )
    report = analyze(model)
    assert report.totals.macs == 4 * 8 * 8  # the MatMul branch, not Relu's 32 FLOPs
    assert any("more expensive" in n for n in report.nodes[0].notes)


def test_loop_with_a_nested_if_times_the_trip_count() -> None:
    inner_then = helper.make_graph(
        [helper.make_node("MatMul", ["y_in", "W"], ["a"])], "it", [], [_vi("a", [4, 8])]
    )
    inner_else = helper.make_graph(
        [helper.make_node("Neg", ["y_in"], ["b"])], "ie", [], [_vi("b", [4, 8])]
    )
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node(
                "If", ["cond_in"], ["y_out"], then_branch=inner_then, else_branch=inner_else
            ),
        ],
        "body",
        LOOP_INPUTS,
        LOOP_OUTPUTS,
    )
    trip = numpy_helper.from_array(np.array(3, np.int64), "M")
    node = helper.make_node("Loop", ["M", "", "X"], ["Y"], body=body)
    report = analyze(_model([node], [_vi("X", [4, 8])], [_vi("Y", [4, 8])], [W, trip]))
    assert report.totals.macs == 3 * (4 * 8 * 8)
    assert report.totals.uncounted_nodes == 0


def test_loop_with_a_runtime_trip_count_makes_the_totals_a_lower_bound() -> None:
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("MatMul", ["y_in", "W"], ["y_out"]),
        ],
        "body",
        LOOP_INPUTS,
        LOOP_OUTPUTS,
    )
    node = helper.make_node("Loop", ["M", "", "X"], ["Y"], body=body)
    inputs = [_vi("X", [4, 8]), _vi("M", [], TensorProto.INT64)]
    report = analyze(_model([node], inputs, [_vi("Y", [4, 8])], [W]))
    assert report.nodes[0].macs == 4 * 8 * 8  # the body once
    assert "trip count unknown" in report.nodes[0].notes
    assert report.totals.lower_bound


def test_scan_length_from_a_bound_dim() -> None:
    body = helper.make_graph(
        [
            helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
            helper.make_node("Mul", ["s_out", "s_out"], ["y_t"]),
        ],
        "body",
        [_vi("s_in", [8]), _vi("x_t", [8])],
        [_vi("s_out", [8]), _vi("y_t", [8])],
    )
    node = helper.make_node("Scan", ["init", "xs"], ["final", "ys"], body=body, num_scan_inputs=1)
    model = _model(
        [node],
        [_vi("init", [8]), _vi("xs", ["S", 8])],
        [_vi("final", [8]), _vi("ys", ["S", 8])],
        [],
    )
    assert analyze(model, dims={"S": 6}).totals.flops == 6 * (8 + 8)
