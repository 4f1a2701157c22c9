"""Fuzzing: mutated valid models (flipped bytes, truncation, random field edits) end in a Report or
an OnnxCostError, never in another exception.

The harness (seeds, mutations, the check) is shared with `tools/fuzz_atheris.py`, which runs it
for hours. Here it is bounded (about 200 examples, derandomized so the suite is repeatable); set
ONNXCOST_FUZZ_EXAMPLES=N for more and ONNXCOST_FUZZ_RANDOM=1 for fresh random draws.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

import onnxcost
from onnxcost.errors import OnnxCostError
from onnxcost.report.records import Report
from onnxcost.report.render import render
from onnxcost.rules.registry import registered

vi = helper.make_tensor_value_info


# --- seeds: small valid models that reach many code paths ----------------------------------------


def _model(nodes, inputs, outputs, inits=(), opsets=(("", 21),)) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


def _w(name: str, shape: Sequence[int], dtype: Any = np.float32) -> TensorProto:
    return numpy_helper.from_array(np.zeros(shape, dtype), name)


def _cnn() -> onnx.ModelProto:
    return _model(
        [
            helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
            helper.make_node(
                "MaxPool", ["r1"], ["p1"], name="pool", kernel_shape=[2, 2], strides=[2, 2]
            ),
            helper.make_node("Conv", ["p1", "w2"], ["c2"], name="dw", group=4, kernel_shape=[3, 3]),
            helper.make_node("GlobalAveragePool", ["c2"], ["g"], name="gap"),
            helper.make_node("Flatten", ["g"], ["f"], name="flat"),
            helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], name="fc", transB=1),
            helper.make_node("Softmax", ["y"], ["prob"], name="softmax", axis=1),
        ],
        [vi("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [vi("prob", TensorProto.FLOAT, [1, 10])],
        [
            _w("w1", [4, 3, 3, 3]),
            _w("b1", [4]),
            _w("w2", [4, 1, 3, 3]),
            _w("wf", [10, 4]),
            _w("bf", [10]),
        ],
    )


def _attention() -> onnx.ModelProto:
    shape = numpy_helper.from_array(np.array([0, 0, 2, 4], np.int64), "heads")
    return _model(
        [
            helper.make_node("MatMul", ["x", "wq"], ["q"], name="q_proj"),
            helper.make_node("Reshape", ["q", "heads"], ["qh"], name="split_heads"),
            helper.make_node("Transpose", ["qh"], ["qt"], name="t", perm=[0, 2, 1, 3]),
            helper.make_node("Transpose", ["qh"], ["kt"], name="tk", perm=[0, 2, 3, 1]),
            helper.make_node("MatMul", ["qt", "kt"], ["s"], name="scores"),
            helper.make_node("Softmax", ["s"], ["a"], name="attn", axis=-1),
            helper.make_node("MatMul", ["a", "qt"], ["o"], name="context"),
            helper.make_node(
                "LayerNormalization", ["o", "gamma", "beta"], ["y"], name="ln", axis=-1
            ),
        ],
        [vi("x", TensorProto.FLOAT, ["batch", "seq", 8])],
        [vi("y", TensorProto.FLOAT, None)],
        [_w("wq", [8, 8]), shape, _w("gamma", [4]), _w("beta", [4])],
    )


def _dynamic_reshape() -> onnx.ModelProto:
    idx = numpy_helper.from_array(np.array(0, np.int64), "zero")
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    minus1 = numpy_helper.from_array(np.array([-1], np.int64), "minus1")
    return _model(
        [
            helper.make_node("Shape", ["x"], ["s"], name="shape"),
            helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
            helper.make_node("Unsqueeze", ["n", "axes"], ["n1"], name="unsq"),
            helper.make_node("Concat", ["n1", "minus1"], ["target"], name="concat", axis=0),
            helper.make_node("Reshape", ["x", "target"], ["flat"], name="reshape"),
            helper.make_node("ConstantOfShape", ["target"], ["ones"], name="cos"),
            helper.make_node("Expand", ["flat", "target"], ["y"], name="expand"),
        ],
        [vi("x", TensorProto.FLOAT, ["n", 2, 3])],
        [vi("y", TensorProto.FLOAT, None), vi("ones", TensorProto.FLOAT, None)],
        [idx, axes, minus1],
    )


def _control_flow() -> onnx.ModelProto:
    then = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["t"])], "then", [], [vi("t", TensorProto.FLOAT, [4])]
    )
    other = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])], "else", [], [vi("e", TensorProto.FLOAT, [4])]
    )
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "v_in"], ["v_out"]),
        ],
        "body",
        [
            vi("i", TensorProto.INT64, []),
            vi("cond_in", TensorProto.BOOL, []),
            vi("v_in", TensorProto.FLOAT, [4]),
        ],
        [vi("cond_out", TensorProto.BOOL, []), vi("v_out", TensorProto.FLOAT, [4])],
    )
    return _model(
        [
            helper.make_node("If", ["c"], ["r"], name="if", then_branch=then, else_branch=other),
            helper.make_node("Loop", ["trip", "", "r"], ["v"], name="loop", body=body),
        ],
        [vi("x", TensorProto.FLOAT, [4]), vi("c", TensorProto.BOOL, [])],
        [vi("v", TensorProto.FLOAT, [4])],
        [numpy_helper.from_array(np.array(5, np.int64), "trip")],
    )


def _recurrent_and_quantized() -> onnx.ModelProto:
    scale = numpy_helper.from_array(np.array(0.1, np.float32), "scale")
    zp = numpy_helper.from_array(np.array(0, np.uint8), "zp")
    return _model(
        [
            helper.make_node("LSTM", ["x", "W", "R"], ["h_all", "h"], name="lstm", hidden_size=4),
            helper.make_node("QuantizeLinear", ["h", "scale", "zp"], ["hq"], name="q"),
            helper.make_node("DequantizeLinear", ["hq", "scale", "zp"], ["hd"], name="dq"),
            helper.make_node("Mystery", ["hd"], ["y"], name="custom", domain="com.example"),
        ],
        [vi("x", TensorProto.FLOAT, [5, 1, 3])],
        [vi("y", TensorProto.FLOAT, None)],
        [_w("W", [1, 16, 3]), _w("R", [1, 16, 4]), scale, zp],
        opsets=(("", 21), ("com.example", 1)),
    )


def _external() -> onnx.ModelProto:
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3, 3])
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="w.bin")
    return _model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        [vi("x", TensorProto.FLOAT, [2, 3])],
        [vi("y", TensorProto.FLOAT, [2, 3])],
        [w],
    )


SEEDS: list[Callable[[], onnx.ModelProto]] = [
    _cnn,
    _attention,
    _dynamic_reshape,
    _control_flow,
    _recurrent_and_quantized,
    _external,
]


# --- the check -----------------------------------------------------------------------------------


def check(model: str | Path | onnx.ModelProto) -> Report | OnnxCostError:
    """Analyse and render; a clean outcome is a Report or an OnnxCostError. Anything else raises."""
    try:
        report = onnxcost.analyze(model)
    except OnnxCostError as e:
        assert "\n" not in str(e).strip(), f"multi-line error: {e}"
        return e
    json.loads(render(report, "json"))
    for fmt in ("table", "markdown", "csv"):
        _assert_safe(render(report, fmt, per_node=True, top=5))
    return report


def _assert_safe(text: str) -> None:
    """Model text never starts a command line, carries an escape or breaks a line."""
    assert "\x1b" not in text and "\r" not in text, text[:2000]
    for line in text.splitlines():
        head = line.lstrip().lstrip("|# ")
        assert not head.startswith(("::", "error file=", "stop-commands")), line


def check_bytes(data: bytes, folder: Path) -> Report | OnnxCostError:
    path = folder / "fuzz.onnx"
    path.write_bytes(data)
    return check(path)


# --- mutations, driven by any source of choices (hypothesis here, atheris in tools/) -------------


class Chooser(Protocol):
    def int(self, lo: int, hi: int) -> int: ...


def pick(ch: Chooser, seq: Sequence[Any]) -> Any:
    return seq[ch.int(0, len(seq) - 1)]


INTERESTING_INTS = [0, 1, 2, 3, -1, -2, 7, 255, 2**31 - 1, 2**31, 2**40, 2**62, 2**63 - 1, -(2**63)]
INTERESTING_FLOATS = [0.0, 1.0, -1.0, 0.5, 1e30, -1e-30, math.inf, -math.inf, math.nan]
STRINGS = [
    b"",
    b"NOTSET",
    b"SAME_UPPER",
    b"SAME_LOWER",
    b"VALID",
    b"constant",
    b"nearest",
    b"\xff\x00",
]
ATTR_NAMES = [
    "group", "pads", "kernel_shape", "strides", "dilations", "axis", "axes", "perm", "to",
    "transA", "transB", "auto_pad", "hidden_size", "num_heads", "keepdims", "alpha", "mode",
    "value", "then_branch", "body", "direction", "ceil_mode", "output_padding", "block_size",
]  # fmt: skip
OP_TYPES = [*sorted({op for _dom, op in registered()}), "NoSuchOp", ""]
ATTR_TYPES = sorted(AttributeProto.AttributeType.values())
DOMAINS = ["", "ai.onnx", "com.microsoft", "ai.onnx.ml", "com.example", "bogus"]
LOCATIONS = ["w.bin", "../w.bin", "/etc/passwd", "", "a\x00b", "sub/../../w.bin", "C:\\w.bin"]


def _graphs(g: onnx.GraphProto) -> list[onnx.GraphProto]:
    out = [g]
    for node in g.node:
        for a in node.attribute:
            if a.type == AttributeProto.GRAPH:
                out.extend(_graphs(a.g))
            elif a.type == AttributeProto.GRAPHS:
                for sub in a.graphs:
                    out.extend(_graphs(sub))
    return out


def _nodes(m: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for g in _graphs(m.graph) for n in g.node]


def _value_infos(m: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    return [v for g in _graphs(m.graph) for v in (*g.input, *g.output, *g.value_info)]


def _tensors(m: onnx.ModelProto) -> list[TensorProto]:
    out = [t for g in _graphs(m.graph) for t in g.initializer]
    out += [a.t for n in _nodes(m) for a in n.attribute if a.type == AttributeProto.TENSOR]
    return out


def _names(m: onnx.ModelProto) -> list[str]:
    names = {v.name for v in _value_infos(m)} | {t.name for t in _tensors(m)}
    names |= {o for n in _nodes(m) for o in n.output}
    return [*sorted(names), "", "ghost"]


def _ints(ch: Chooser) -> list[int]:
    return [pick(ch, INTERESTING_INTS) for _ in range(ch.int(0, 5))]


def edit_dim(m: onnx.ModelProto, ch: Chooser) -> None:
    infos = [v for v in _value_infos(m) if v.type.HasField("tensor_type")]
    if not infos:
        return
    shape = pick(ch, infos).type.tensor_type.shape
    if not shape.dim or ch.int(0, 4) == 0:
        shape.dim.add()
    d = pick(ch, shape.dim)
    if ch.int(0, 3) == 0:
        d.dim_param = pick(ch, ["n", "batch", ""])
    else:
        d.dim_value = pick(ch, INTERESTING_INTS)


def edit_tensor(m: onnx.ModelProto, ch: Chooser) -> None:
    tensors = _tensors(m)
    if not tensors:
        return
    t = pick(ch, tensors)
    what = ch.int(0, 3)
    if what == 0:
        del t.dims[:]
        t.dims.extend(_ints(ch))
    elif what == 1:
        t.data_type = ch.int(0, 30)
    elif what == 2:
        t.data_location = TensorProto.EXTERNAL
        del t.external_data[:]
        t.external_data.add(key="location", value=pick(ch, LOCATIONS))
    else:
        t.raw_data = bytes(ch.int(0, 255) for _ in range(ch.int(0, 16)))


def edit_attribute(m: onnx.ModelProto, ch: Chooser) -> None:
    nodes = _nodes(m)
    if not nodes:
        return
    node = pick(ch, nodes)
    if not node.attribute or ch.int(0, 2) == 0:
        a = node.attribute.add(name=pick(ch, ATTR_NAMES))
        a.type = pick(ch, [AttributeProto.INT, AttributeProto.INTS, AttributeProto.FLOAT])
    a = pick(ch, node.attribute)
    kind = ch.int(0, 6)
    for f in ("i", "f", "s", "ints", "floats", "strings", "t", "g"):
        if ch.int(0, 1):
            a.ClearField(f)
    if kind == 0:
        a.i = pick(ch, INTERESTING_INTS)
    elif kind == 1:
        del a.ints[:]
        a.ints.extend(_ints(ch))
    elif kind == 2:
        a.f = pick(ch, INTERESTING_FLOATS)
    elif kind == 3:
        a.s = pick(ch, STRINGS)
    elif kind == 4:
        a.type = pick(ch, ATTR_TYPES)  # possibly a type that does not match the fields set
    elif kind == 5 and a.type == AttributeProto.GRAPH and a.g.node:
        del a.g.node[ch.int(0, len(a.g.node) - 1)]
    else:
        a.t.CopyFrom(numpy_helper.from_array(np.array(_ints(ch) or [0], np.int64)))
        a.type = AttributeProto.TENSOR


def edit_input(m: onnx.ModelProto, ch: Chooser) -> None:
    nodes = _nodes(m)
    if not nodes:
        return
    node = pick(ch, nodes)
    names = _names(m)
    if not node.input or ch.int(0, 3) == 0:
        node.input.append(pick(ch, names))
    else:
        node.input[ch.int(0, len(node.input) - 1)] = pick(ch, names)


def edit_output(m: onnx.ModelProto, ch: Chooser) -> None:
    nodes = _nodes(m)
    if nodes:
        node = pick(ch, nodes)
        if node.output:
            node.output[ch.int(0, len(node.output) - 1)] = pick(ch, _names(m))


def edit_op(m: onnx.ModelProto, ch: Chooser) -> None:
    nodes = _nodes(m)
    if not nodes:
        return
    node = pick(ch, nodes)
    if ch.int(0, 3):
        node.op_type = pick(ch, OP_TYPES)
    else:
        node.domain = pick(ch, DOMAINS)


def edit_structure(m: onnx.ModelProto, ch: Chooser) -> None:
    g = pick(ch, _graphs(m.graph))
    if not g.node:
        return
    k = ch.int(0, len(g.node) - 1)
    what = ch.int(0, 3)
    if what == 0:
        del g.node[k]
    elif what == 1:
        g.node.add().CopyFrom(g.node[k])  # duplicates its outputs
    elif what == 2:
        node = g.node[k]
        del g.node[k]
        g.node.insert(0, node)  # out of topological order
    elif g.initializer:
        del g.initializer[ch.int(0, len(g.initializer) - 1)]


def edit_opset(m: onnx.ModelProto, ch: Chooser) -> None:
    if m.opset_import:
        pick(ch, m.opset_import).version = pick(ch, [1, 6, 7, 9, 11, 13, 17, 21, 23, 99, -1])
    if ch.int(0, 5) == 0:
        m.ir_version = pick(ch, INTERESTING_INTS)


HOSTILE_TEXT = [
    "\n::error file=README.md,line=1::forged",
    "\r::stop-commands::tok3n",
    "\x1b[31m\x1b]0;t\x07",
    "=HYPERLINK(1)",
    "\x00\x01\u2028\ud7ff",
    "##[error]x",
    "a|b<c>",
]
MS_ATTRS = ["K", "N", "bits", "block_size", "accuracy_level", "num_heads", "qkv_hidden_sizes"]


def edit_text(m: onnx.ModelProto, ch: Chooser) -> None:
    """Names, op types, domains and dims that try to forge output (found: workflow commands,
    escape sequences, CSV formulas, XML that does not parse)."""
    text = pick(ch, HOSTILE_TEXT)
    what = ch.int(0, 4)
    nodes = _nodes(m)
    if what == 0 and nodes:
        pick(ch, nodes).name += text
    elif what == 1:
        infos = [v for v in _value_infos(m) if v.type.tensor_type.shape.dim]
        if infos:
            pick(ch, pick(ch, infos).type.tensor_type.shape.dim).dim_param = "d" + text
    elif what == 2 and nodes:
        node = pick(ch, nodes)
        node.op_type += text if ch.int(0, 1) else ""
        node.domain = "dom" + text
    elif what == 3:
        m.graph.name += text
        m.producer_name = text
    else:
        m.doc_string = text


def edit_bomb(m: onnx.ModelProto, ch: Chooser) -> None:
    """The shapes of the hand-made bombs (tests/bombs.py), planted in a seed: element type 0,
    huge ranks and dims, sparse constants, Einsum equations, contrib attributes of wrong types,
    inputs of the wrong rank."""
    nodes = _nodes(m)
    what = ch.int(0, 6)
    infos = [v for v in _value_infos(m) if v.type.HasField("tensor_type")]
    if what == 0 and infos:
        pick(ch, infos).type.tensor_type.elem_type = 0
    elif what == 1 and infos:
        shape = pick(ch, infos).type.tensor_type.shape
        del shape.dim[:]
        for _ in range(pick(ch, [3, 17, 40])):
            shape.dim.add().dim_value = pick(ch, [2**62, 2**63 - 1, 1])
    elif what == 2:
        values = helper.make_tensor("v", TensorProto.INT64, [1], [1])
        indices = helper.make_tensor("i", TensorProto.INT64, [1], [0])
        sparse = helper.make_sparse_tensor(values, indices, [pick(ch, [10**8, 2**40, 3])])
        m.graph.node.insert(
            0, helper.make_node("Constant", [], [pick(ch, _names(m))], sparse_value=sparse)
        )
    elif what == 3 and nodes:
        node = pick(ch, nodes)
        node.op_type = "Einsum"
        node.domain = ""
        del node.attribute[:]
        eq = pick(ch, ["i...j...,k->", "ij,jk->ik", "...ii->...i", "a.b->", "ij->ji->k", "Zz,zZ"])
        node.attribute.add(name="equation", type=AttributeProto.STRING, s=eq.encode())
    elif what == 4 and nodes:
        node = pick(ch, nodes)
        node.domain = "com.microsoft"
        node.op_type = pick(ch, ["MatMulNBits", "Attention", "GroupQueryAttention", "QMoE"])
        a = node.attribute.add(name=pick(ch, MS_ATTRS))
        a.type = pick(ch, [AttributeProto.STRING, AttributeProto.INTS, AttributeProto.FLOAT])
        a.s, a.f = b"four", math.inf
        a.ints.extend([16])
    elif what == 5 and infos:
        shape = pick(ch, infos).type.tensor_type.shape
        del shape.dim[ch.int(0, len(shape.dim)) :]  # a lower rank than the op takes
    elif nodes:
        node = pick(ch, nodes)
        node.op_type = pick(ch, ["GRU", "LSTM", "TopK", "STFT", "DFT", "Scan", "If", "Loop"])
        node.domain = ""


EDITS = [
    edit_text,
    edit_bomb,
    edit_dim,
    edit_tensor,
    edit_attribute,
    edit_input,
    edit_output,
    edit_op,
    edit_structure,
    edit_opset,
]


def mutate_fields(m: onnx.ModelProto, ch: Chooser) -> onnx.ModelProto:
    for _ in range(ch.int(1, 3)):
        pick(ch, EDITS)(m, ch)
    return m


def serialize(m: onnx.ModelProto) -> bytes | None:
    try:
        return m.SerializeToString()
    except Exception:  # an edit protobuf itself will not encode: nothing for us to read
        return None


def flip_bytes(data: bytes, ch: Chooser) -> bytes:
    buf = bytearray(data)
    for _ in range(ch.int(1, 8)):
        buf[ch.int(0, len(buf) - 1)] ^= 1 << ch.int(0, 7)
    return bytes(buf)


def truncate(data: bytes, ch: Chooser) -> bytes:
    return data[: ch.int(0, len(data) - 1)]


# --- hypothesis ----------------------------------------------------------------------------------

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # hypothesis is a test extra; without it these tests are skipped
    st = None

if st is not None:
    import pytest

    _TOTAL = int(os.environ.get("ONNXCOST_FUZZ_EXAMPLES", "200"))
    _SETTINGS = settings(
        deadline=None,
        database=None,  # writes nothing into the working tree
        derandomize=not os.environ.get("ONNXCOST_FUZZ_RANDOM"),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )

    class _Draw:
        def __init__(self, data: Any) -> None:
            self.data = data

        def int(self, lo: int, hi: int) -> int:
            return self.data.draw(st.integers(lo, hi))

    @pytest.fixture(scope="module")
    def folder():
        with tempfile.TemporaryDirectory() as tmp:
            yield Path(tmp)

    @settings(_SETTINGS, max_examples=max(1, _TOTAL * 3 // 10))
    @given(seed=st.sampled_from(SEEDS), data=st.data())
    def test_flipped_bytes(folder, seed, data) -> None:
        raw = seed().SerializeToString()
        check_bytes(flip_bytes(raw, _Draw(data)), folder)

    @settings(_SETTINGS, max_examples=max(1, _TOTAL // 10))
    @given(seed=st.sampled_from(SEEDS), data=st.data())
    def test_truncated(folder, seed, data) -> None:
        raw = seed().SerializeToString()
        check_bytes(truncate(raw, _Draw(data)), folder)

    @settings(_SETTINGS, max_examples=max(1, _TOTAL * 6 // 10))
    @given(seed=st.sampled_from(SEEDS), data=st.data())
    def test_field_edits(folder, seed, data) -> None:
        raw = serialize(mutate_fields(seed(), _Draw(data)))
        if raw is not None:
            check_bytes(raw, folder)


def test_seeds_are_valid(tmp_path) -> None:
    for seed in SEEDS:
        assert isinstance(check_bytes(seed().SerializeToString(), tmp_path), Report), seed.__name__
