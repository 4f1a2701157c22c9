"""Hand-made hostile models: tiny files that once cost minutes, gigabytes or a crash.

Shared by tests/test_bombs.py (each run in a subprocess under fixed limits), tests/test_fuzz.py
and tools/fuzz_campaign.py. Every builder returns serialized bytes: several of these cannot be
built through onnx.helper (or would be rejected by its checker), and the point is the file.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

vi = helper.make_tensor_value_info


def _model(nodes, inputs, outputs, inits=(), opsets=(("", 21),)) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


# --- denial of service ---------------------------------------------------------------------------


def undefined_element_type() -> bytes:
    """A graph input of element type 0 (UNDEFINED) into a MatMul: onnxruntime's symbolic passes
    re-run forever (its loop has no cap)."""
    x = helper.make_tensor_value_info("x", TensorProto.UNDEFINED, ["n", 4])
    node = helper.make_node("MatMul", ["x", "x"], ["y"], name="mm")
    return _model([node], [x], [vi("y", TensorProto.FLOAT, None)]).SerializeToString()


def nested_if(depth: int) -> bytes:
    """`If` nested `depth` deep on a constant condition: each then-branch is the next level."""
    inner = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["o0"])], "leaf", [], [vi("o0", TensorProto.FLOAT, None)]
    )
    for level in range(1, depth + 1):
        out = f"o{level}"
        leaf = helper.make_graph(
            [helper.make_node("Neg", ["x"], [f"e{level}"])],
            f"e{level}",
            [],
            [vi(f"e{level}", TensorProto.FLOAT, None)],
        )
        node = helper.make_node(
            "If", ["c"], [out], name=f"if{level}", then_branch=inner, else_branch=leaf
        )
        inner = helper.make_graph([node], f"g{level}", [], [vi(out, TensorProto.FLOAT, None)])
    cond = helper.make_node(
        "Constant", [], ["c"], value=numpy_helper.from_array(np.array(True), "cv")
    )
    top = inner.node[0]
    # a contrib op onnx cannot infer: onnxruntime's symbolic inference then runs on the graph
    gelu = helper.make_node("Gelu", [top.output[0]], ["z"], name="gelu", domain="com.microsoft")
    return _model(
        [cond, top, gelu],
        [vi("x", TensorProto.FLOAT, [2])],
        [vi("z", TensorProto.FLOAT, None)],
        opsets=(("", 21), ("com.microsoft", 1)),
    ).SerializeToString()


def sparse_constant(elements: int = 10**8) -> bytes:
    """A `Constant` whose sparse_value declares `elements` elements and stores one."""
    values = helper.make_tensor("v", TensorProto.INT64, [1], [1])
    indices = helper.make_tensor("i", TensorProto.INT64, [1], [0])
    sparse = helper.make_sparse_tensor(values, indices, [elements])
    nodes = [
        helper.make_node("Constant", [], ["c"], name="c", sparse_value=sparse),
        helper.make_node("Add", ["c", "c"], ["d"], name="add"),  # value propagation densifies
        helper.make_node("Reshape", ["x", "d"], ["y"], name="reshape"),
    ]
    return _model(
        nodes, [vi("x", TensorProto.FLOAT, [4])], [vi("y", TensorProto.FLOAT, None)]
    ).SerializeToString()


def einsum_two_ellipses(equation: str = "i...j...,k->") -> bytes:
    """An Einsum term with two ellipses: onnx's C++ inference never returns on it."""
    node = helper.make_node("Einsum", ["a", "b"], ["y"], name="e", equation=equation)
    return _model(
        [node],
        [vi("a", TensorProto.FLOAT, [2, 3, 4, 5]), vi("b", TensorProto.FLOAT, [6])],
        [vi("y", TensorProto.FLOAT, None)],
    ).SerializeToString()


def empty_nodes(count: int = 10**6) -> bytes:
    """A graph of `count` empty NodeProtos (2 bytes each on the wire) and one real output."""
    head = _model(
        [helper.make_node("Relu", ["x"], ["y"], name="r")],
        [vi("x", TensorProto.FLOAT, [2])],
        [vi("y", TensorProto.FLOAT, [2])],
    )
    graph = head.graph.SerializeToString() + b"\x0a\x00" * count  # field 1 (node), length 0
    head.ClearField("graph")
    return head.SerializeToString() + _field(7, graph)  # ModelProto.graph is field 7


def chain(count: int = 250_000) -> bytes:
    """A chain of `count` Relu nodes with short names (about 20 bytes a node)."""
    nodes = [helper.make_node("Relu", [f"t{k}"], [f"t{k + 1}"]) for k in range(count)]
    return _model(
        nodes, [vi("t0", TensorProto.FLOAT, [2])], [vi(f"t{count}", TensorProto.FLOAT, [2])]
    ).SerializeToString()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


# --- totals past a float ------------------------------------------------------------------------


def huge_relu(rank: int = 17) -> bytes:
    """A Relu on a tensor of `rank` dims of 2**62: about 2**1054 elements, past any float."""
    shape = [2**62] * rank
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    return _model(
        [node], [vi("x", TensorProto.FLOAT, shape)], [vi("y", TensorProto.FLOAT, shape)]
    ).SerializeToString()


def nested_loops(depth: int = 17, trips: int = 2**62) -> bytes:
    """`depth` nested Loops of `trips` iterations each around one Add."""

    def body(inner: onnx.NodeProto | None, level: int) -> onnx.GraphProto:
        nodes = [helper.make_node("Identity", [f"c{level}"], [f"co{level}"])]
        if inner is None:
            nodes.append(helper.make_node("Add", [f"v{level}", f"v{level}"], [f"vo{level}"]))
        else:
            nodes.append(inner)
        return helper.make_graph(
            nodes,
            f"body{level}",
            [
                vi(f"i{level}", TensorProto.INT64, []),
                vi(f"c{level}", TensorProto.BOOL, []),
                vi(f"v{level}", TensorProto.FLOAT, [4]),
            ],
            [vi(f"co{level}", TensorProto.BOOL, []), vi(f"vo{level}", TensorProto.FLOAT, [4])],
        )

    node = None
    for level in range(depth, 0, -1):
        g = body(node, level)
        # the outer body's input v{level-1} feeds this loop; its output is vo{level-1}
        node = helper.make_node(
            "Loop", ["trip", "", f"v{level - 1}"], [f"vo{level - 1}"], name=f"loop{level}", body=g
        )
    trip = numpy_helper.from_array(np.array(trips, np.int64), "trip")
    return _model(
        [node], [vi("v0", TensorProto.FLOAT, [4])], [vi("vo0", TensorProto.FLOAT, [4])], [trip]
    ).SerializeToString()


def einsum_many_letters(letters: int = 52) -> bytes:
    """A `letters`-letter Einsum outer product of dims 2**62 (input ranks are split in two)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[:letters]
    half = letters // 2
    a, b = alphabet[:half], alphabet[half:]
    node = helper.make_node("Einsum", ["a", "b"], ["y"], name="e", equation=f"{a},{b}->{a}{b}")
    return _model(
        [node],
        [
            vi("a", TensorProto.FLOAT, [2**62] * len(a)),
            vi("b", TensorProto.FLOAT, [2**62] * len(b)),
        ],
        [vi("y", TensorProto.FLOAT, None)],
    ).SerializeToString()


# --- attributes of the wrong type ----------------------------------------------------------------


def matmul_nbits(**attrs) -> bytes:
    """com.microsoft MatMulNBits with the given attributes over a sane default set."""
    base = {"K": 16, "N": 8, "bits": 4, "block_size": 16}
    base.update(attrs)
    node = helper.make_node(
        "MatMulNBits", ["a", "b", "s"], ["y"], name="mmnb", domain="com.microsoft", **base
    )
    b = numpy_helper.from_array(np.zeros((8, 1, 8), np.uint8), "b")
    s = numpy_helper.from_array(np.zeros((8,), np.float32), "s")
    return _model(
        [node],
        [vi("a", TensorProto.FLOAT, [2, 16])],
        [vi("y", TensorProto.FLOAT, None)],
        [b, s],
        opsets=(("", 21), ("com.microsoft", 1)),
    ).SerializeToString()


def constant_value_ints_wrong_type() -> bytes:
    """A Constant whose `value_ints` attribute holds a string."""
    node = helper.make_node("Constant", [], ["c"], name="c")
    node.attribute.append(AttributeProto(name="value_ints", type=AttributeProto.STRING, s=b"1,2,3"))
    reshape = helper.make_node("Reshape", ["x", "c"], ["y"], name="reshape")
    return _model(
        [node, reshape], [vi("x", TensorProto.FLOAT, [6])], [vi("y", TensorProto.FLOAT, None)]
    ).SerializeToString()


# --- model text that would forge output ---------------------------------------------------------

FORGED = "\n::error file=README.md,line=1::forged"
STOP = "\r::stop-commands::tok3n"
ANSI = "\x1b[31mred\x1b]0;title\x07\x1b[0m"


def hostile_names(text: str = FORGED) -> bytes:
    """Dim, tensor, node, op-type, domain and doc strings that carry `text`."""
    dim = "b" + text
    nodes = [
        helper.make_node("Relu", ["x" + text], ["h"], name="r" + STOP, doc_string="d" + text),
        helper.make_node("Op" + text, ["h"], ["y" + text], name="n" + text, domain="dom" + text),
    ]
    m = _model(
        nodes,
        [vi("x" + text, TensorProto.FLOAT, [dim, 3 + 0])],
        [vi("y" + text, TensorProto.FLOAT, None)],
        opsets=(("", 21), ("dom" + text, 1)),
    )
    m.graph.name = "g" + text + ANSI
    m.producer_name = "p" + text
    m.doc_string = "doc" + text
    return m.SerializeToString()
