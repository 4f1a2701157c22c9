"""The analysis runs with Python's cycle collector paused (analyzer.no_cycle_collection): it must
leave no reference cycles that grow with the graph, or a large model's memory would grow with
garbage. Each graph is analysed twice, at 4 and at 60 layers; what the collector finds after
each must not grow with the layers."""

from __future__ import annotations

import gc
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxcost import analyze
from onnxcost.analysis import formulas
from onnxcost.model.scopes import NAME_SCOPES_KEY


def _stack(layers: int, scopes: bool, if_node: bool = False) -> onnx.ModelProto:
    """Linear + Relu + Reshape a layer, batch symbolic; each node with the dynamo exporter's
    module metadata when `scopes`; an If (a subgraph: the shape engine's nested state) at the
    end when `if_node`."""
    inits = [numpy_helper.from_array(np.array([0, 8], np.int64), "shape")]
    nodes, x = [], "x"
    for i in range(layers):
        inits.append(numpy_helper.from_array(np.ones((8, 8), np.float32), f"w{i}"))
        layer = [
            helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"], name=f"mm{i}"),
            helper.make_node("Relu", [f"m{i}"], [f"r{i}"], name=f"relu{i}"),
            helper.make_node("Reshape", [f"r{i}", "shape"], [f"y{i}"], name=f"rs{i}"),
        ]
        if scopes:
            for n in layer:
                path = f"['', 'layers', 'layers.{i}', '{n.name}']"
                n.metadata_props.add(key=NAME_SCOPES_KEY, value=path)
        nodes += layer
        x = f"y{i}"
    if if_node:
        branch = helper.make_graph(
            [helper.make_node("Relu", [x], ["b"])],
            "branch",
            [],
            [helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", 8])],
        )
        nodes.append(helper.make_node("Greater", ["c", "zero"], ["cond"]))
        inits.append(numpy_helper.from_array(np.array(0, np.float32), "zero"))
        nodes.append(
            helper.make_node("If", ["cond"], ["z"], then_branch=branch, else_branch=branch)
        )
        x = "z"
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])]
    if if_node:
        inputs.append(helper.make_tensor_value_info("c", TensorProto.FLOAT, []))
    graph = helper.make_graph(
        nodes, "stack", inputs, [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], inits
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _left_for_collector(model: onnx.ModelProto, formula: bool) -> int:
    """Bytes (sys.getsizeof) of what only the collector frees after an analysis and a binding
    of its formulas: objects in reference cycles, and what they hold."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what the collector finds is kept in gc.garbage
    try:
        report = analyze(model, dims=None if formula else {"batch": 2}, formulas=formula)
        if formula:
            formulas.bind(report, {"batch": 3})
        del report
        gc.collect()
        return sum(sys.getsizeof(o) for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


@pytest.mark.parametrize("scopes", [False, True])
@pytest.mark.parametrize("if_node", [False, True])
@pytest.mark.parametrize("formula", [False, True])
def test_garbage_does_not_grow_with_the_graph(scopes: bool, if_node: bool, formula: bool) -> None:
    small = _left_for_collector(_stack(4, scopes, if_node), formula)
    large = _left_for_collector(_stack(60, scopes, if_node), formula)
    # before: the shape engine's state held itself (all its types, one a tensor, left for the
    # collector) and the module metadata's parse left closures behind, a few a node
    assert large <= small, (small, large)


def test_the_collector_is_back_after_an_analysis() -> None:
    assert gc.isenabled()
    analyze(_stack(2, True), dims={"batch": 1})
    assert gc.isenabled()
    gc.disable()
    try:
        analyze(_stack(2, True), dims={"batch": 1})
        assert not gc.isenabled()  # as the caller had it
    finally:
        gc.enable()
