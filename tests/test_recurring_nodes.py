"""Nodes that recur with the same op, attributes and tensor types (each layer of a stack) are
worked out once and the result reused: the shape engine's fast path and the costing keep them.
What a node reads beyond its key (a constant's value) must never be taken from another node."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxcost import analyze
from onnxcost.model import fast
from onnxcost.model.loader import load
from onnxcost.rules.registry import _REGISTRY, Cost, NodeContext, register

DOMAIN = "test.recurring"


@pytest.fixture
def value_rule() -> Iterator[None]:
    """A rule whose cost is the value of its second input (as DFT's length or TopK's k)."""

    @register("ValueMacs", domain=DOMAIN)
    def value_macs(ctx: NodeContext) -> Cost:
        v = ctx.value(1)
        return Cost(macs=int(v.reshape(-1)[0]), flops=0)

    yield
    del _REGISTRY[(DOMAIN, "ValueMacs")]


def _model(nodes: list, inputs: list, inits: list, outputs: list, opsets: dict) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    imports = [helper.make_opsetid(d, v) for d, v in opsets.items()]
    return helper.make_model(graph, opset_imports=imports)


def test_a_rule_that_reads_a_value_gets_its_own(value_rule: None) -> None:
    # Two nodes alike in op, attributes and types; their constant inputs hold 5 and 7.
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    inits = [
        numpy_helper.from_array(np.array(5, np.int64), "five"),
        numpy_helper.from_array(np.array(7, np.int64), "seven"),
    ]
    nodes = [
        helper.make_node("ValueMacs", ["x", "five"], ["a"], domain=DOMAIN),
        helper.make_node("ValueMacs", ["x", "seven"], ["b"], domain=DOMAIN),
    ]
    out = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in ("a", "b")]
    r = analyze(_model(nodes, [x], inits, out, {"": 17, DOMAIN: 1}))
    assert [n.macs for n in r.nodes] == [5, 7]  # each its own constant
    assert r.totals.macs == 5 + 7


def test_recurring_reshapes_take_their_own_targets() -> None:
    # Same input type, no attributes: only the target constants differ, [4, 8] and [8, 4].
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 16])
    inits = [
        numpy_helper.from_array(np.array([4, 8], np.int64), "s1"),
        numpy_helper.from_array(np.array([8, 4], np.int64), "s2"),
    ]
    nodes = [
        helper.make_node("Reshape", ["x", "s1"], ["a"]),
        helper.make_node("Reshape", ["x", "s2"], ["b"]),
        helper.make_node("Relu", ["a"], ["ra"]),
        helper.make_node("Relu", ["b"], ["rb"]),
    ]
    out = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("ra", "rb")]
    model = _model(nodes, [x], inits, out, {"": 17})
    loaded = load(model)
    shapes = fast.infer(loaded.model, loaded.graph)
    assert shapes is not None  # the fast path, with its memo, worked it out
    infos = shapes.infos(())
    assert (infos["ra"].shape, infos["rb"].shape) == ((4, 8), (8, 4))
    r = analyze(model)
    # Relu: 1 FLOP an element, 32 elements each; written 32 x 4 bytes
    assert [(n.flops, n.bytes_written) for n in r.nodes[2:]] == [(32, 128), (32, 128)]


def test_recurring_unresolved_nodes_list_their_own_tensors() -> None:
    # Two MatMul layers alike in types, batch left unbound: the second's unresolved items are
    # the first's, on its own tensors (x -> h1, h1 -> h2).
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8])
    inits = [
        numpy_helper.from_array(np.ones((8, 8), np.float32), "w1"),
        numpy_helper.from_array(np.ones((8, 8), np.float32), "w2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"], name="first"),
        helper.make_node("MatMul", ["h1", "w2"], ["h2"], name="second"),
    ]
    out = [helper.make_tensor_value_info("h2", TensorProto.FLOAT, None)]
    r = analyze(_model(nodes, [x], inits, out, {"": 17}))
    first = [(u.tensor, u.reason) for u in r.unresolved if u.node == "first"]
    second = [(u.tensor, u.reason) for u in r.unresolved if u.node == "second"]
    rename = {"x": "h1", "h1": "h2", "w1": "w2"}
    assert first and second == [(rename[t], why) for t, why in first]
    assert {t for t, _ in second} <= {"h1", "w2", "h2"}
    assert [n.status for n in r.nodes] == ["unresolved", "unresolved"]


def test_ops_that_share_a_shape_rule_keep_their_own_dtypes() -> None:
    # Add and Equal share the fast path's broadcast rule and see the same input types; Equal's
    # output is bool (found on roberta's dynamo export, where the second took the first's type).
    ins = [helper.make_tensor_value_info(n, TensorProto.INT64, [2, 3]) for n in ("x", "y")]
    nodes = [
        helper.make_node("Add", ["x", "y"], ["a"]),
        helper.make_node("Equal", ["x", "y"], ["e"]),
    ]
    out = [helper.make_tensor_value_info(n, TensorProto.UNDEFINED, None) for n in ("a", "e")]
    loaded = load(_model(nodes, ins, [], out, {"": 17}))
    shapes = fast.infer(loaded.model, loaded.graph)
    assert shapes is not None
    infos = shapes.infos(())
    assert (infos["a"].elem_type, infos["e"].elem_type) == (TensorProto.INT64, TensorProto.BOOL)


def test_no_key_copies_a_tensor_or_graph_attribute() -> None:
    # The table is read before weights' payloads are dropped: a Constant holding a weight must
    # not have its bytes copied into a key (it costs the weight's size, for the whole analysis).
    weight = numpy_helper.from_array(np.zeros((64, 64), np.float32), "w")
    nodes = [
        helper.make_node("Constant", [], ["c"], value=weight),
        helper.make_node("Transpose", ["c"], ["t"], perm=[1, 0]),
    ]
    out = [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)]
    loaded = load(_model(nodes, [], [], out, {"": 17}))
    keys = loaded.graph.attr_keys
    assert keys[0] is None  # the Constant: never taken for another node
    assert keys[1] is not None and len(keys[1]) == 1  # perm, 2 x 8 bytes and its name
    assert sum(map(len, keys[1])) < 64
