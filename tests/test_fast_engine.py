"""The shape engine's fast path (model/fast.py): exact where it answers, and it gives way.

Shapes are worked out by hand in each test; the parity test holds the fast path to the full
engine's shapes and values on every model the onnx wheel ships and on models/.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxcost.model import engine, fast
from onnxcost.model.graph import build
from tests.builders import GraphBuilder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from fast_parity import differences  # noqa: E402


def _fast(model: onnx.ModelProto) -> engine.Shapes | None:
    return fast.infer(model, build(model.graph))


def _shape(model: onnx.ModelProto, name: str) -> tuple | None:
    shapes = _fast(model)
    assert shapes is not None, "the fast path gave up"
    return shapes.infos()[name].shape


def _const(b: GraphBuilder, value: object) -> str:
    name = b.fresh("c")
    b.inits.append(numpy_helper.from_array(np.array(value, np.int64), name))
    return name


def test_strided_conv_and_pool_dims():
    b = GraphBuilder()
    x = b.input("x", [1, 3, 224, 224])
    c = b.conv(x, 3, 64, 7, strides=[2, 2], pads=[3, 3, 3, 3])
    p = b.op("MaxPool", [c], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    v = b.conv(p, 64, 8, 3, auto_pad=b"VALID")
    s = b.conv(p, 64, 8, 3, strides=[2, 2], auto_pad=b"SAME_UPPER")
    m = b.build([v, s])
    # (224 + 3 + 3 - 7) // 2 + 1 = 112; (112 + 1 + 1 - 3) // 2 + 1 = 56
    assert _shape(m, c) == (1, 64, 112, 112)
    assert _shape(m, p) == (1, 64, 56, 56)
    assert _shape(m, v) == (1, 8, 54, 54)  # VALID: (56 - 3) // 1 + 1
    assert _shape(m, s) == (1, 8, 28, 28)  # SAME: ceil(56 / 2)


def test_symbolic_shape_chain_keeps_dim_names():
    # Shape -> Gather -> Unsqueeze -> Concat -> Reshape: the exporters' [batch, seq, heads, -1]
    b = GraphBuilder(opset=17)
    x = b.input("x", ["batch", "seq", 256])
    shp = b.op("Shape", [x])
    zero, one, axes, heads = (_const(b, v) for v in (0, 1, [0], [8, -1]))
    g0 = b.op("Gather", [shp, zero], axis=0)
    g1 = b.op("Gather", [shp, one], axis=0)
    u0, u1 = b.op("Unsqueeze", [g0, axes]), b.op("Unsqueeze", [g1, axes])
    target = b.op("Concat", [u0, u1, heads], axis=0)
    y = b.op("Reshape", [x, target])
    m = b.build([y])
    shapes = _fast(m)
    assert shapes is not None
    assert shapes.infos()[y].shape == ("batch", "seq", 8, 32)  # -1 = 256 / 8
    assert shapes.dim_values[()][g1] == "seq"  # a scalar holding a dim name
    assert np.array_equal(shapes.values[()][heads], [8, -1])


@pytest.mark.parametrize(
    ("opset", "attrs", "split", "want"),
    [
        (18, {"num_outputs": 3}, None, [3, 3, 1]),  # ceil(7 / 3) = 3; the last gets 7 - 6
        (13, {}, [2, 5], [2, 5]),
        (11, {"split": [4, 3]}, None, [4, 3]),
    ],
)
def test_split_sizes(opset, attrs, split, want):
    b = GraphBuilder(opset=opset)
    x = b.input("x", [2, 7])
    ins = [x]
    if split is not None:
        ins.append(_const(b, split))
    outs = b.op("Split", ins, n_out=len(want), axis=1, **attrs)
    m = b.build(outs)
    assert [_shape(m, o) for o in outs] == [(2, w) for w in want]


def test_lstm_and_flatten_negative_axis():
    b = GraphBuilder(opset=14)
    x = b.input("x", [5, 2, 16])  # seq 5, batch 2, input 16
    w, r = b.weight("w", [2, 48, 16]), b.weight("r", [2, 48, 12])
    y, yh = b.op("LSTM", [x, w, r], n_out=2, hidden_size=12, direction=b"bidirectional")
    f = b.op("Flatten", [y], axis=-1)
    m = b.build([f, yh])
    assert _shape(m, y) == (5, 2, 2, 12)  # [seq, directions, batch, hidden]
    assert _shape(m, yh) == (2, 2, 12)
    assert _shape(m, f) == (5 * 2 * 2, 12)  # axis -1 of rank 4 is axis 3


def _concat_of_two_names() -> onnx.ModelProto:
    # past + seq is an expression: the full engine's to write, not the fast path's
    b = GraphBuilder()
    past = b.input("past", ["batch", "past_len", 64])
    new = b.input("new", ["batch", "seq", 64])
    return b.build([b.op("Concat", [past, new], axis=1)])


def test_gives_way_to_the_full_engine_on_expressions():
    m = _concat_of_two_names()
    why: list[str] = []
    assert fast.infer(m, build(m.graph), None, why) is None
    assert "a sum of dim names" in why[0]
    from onnxcost.analysis.analyzer import analyze

    out = analyze(m).nodes[0].output_shapes[0]
    assert out == ["batch", "past_len + seq", 64]


def test_gives_way_on_a_declared_shape_that_disagrees():
    b = GraphBuilder()
    x = b.input("x", [2, 3])
    y = b.op("Relu", [x])
    m = b.build([y])
    m.graph.value_info.append(helper.make_tensor_value_info(y, TensorProto.FLOAT, [2, 4]))
    assert _fast(m) is None  # the full engine reports the disagreement as a warning


def test_plain_analysis_never_imports_the_full_engine(tmp_path):
    b = GraphBuilder()
    x = b.input("x", ["batch", 64])
    m = b.build([b.fc(b.op("Relu", [x]), 64, 10)])
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    code = (
        "import sys; from onnxcost import analyze; r = analyze(sys.argv[1], dims={'batch': 4}); "
        "assert r.totals.macs == 4 * 64 * 10, r.totals.macs; "
        "assert 'onnx_ir' not in sys.modules and 'sympy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, cwd=ROOT)


def _parity_models() -> list[Path]:
    data = Path(onnx.__file__).parent / "backend" / "test" / "data"
    return sorted(data.rglob("*.onnx")) + sorted((ROOT / "models").glob("*.onnx"))


def test_parity_with_the_full_engine():
    """Wherever the fast path answers, its shapes and values are the full engine's."""
    from onnxcost.model.loader import load

    taken = 0
    for path in _parity_models():
        loaded = load(path)
        g = loaded.graph or build(loaded.model.graph)
        quick = fast.infer(loaded.model, g)
        if quick is None:
            continue
        taken += 1
        full = engine.infer(loaded.model, None if g.file_order else g.order)
        assert differences(full, quick) == [], path.name
    assert taken >= 120  # of 155: the rest hold sequences, strings, ConvTranspose...


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pad", "want"),
    [
        (6, 2, 2, 1, 4),  # span 6 + 2 - 2 = 6: ceil(6 / 2) + 1 = 4
        (5, 2, 2, 0, 3),  # span 3: ceil(3 / 2) + 1 = 3
        # span 4: ceil(4 / 3) + 1 = 3, but the third window would start at (3 - 1) * 3 = 6,
        # past the input and its left pad (4 + 1): dropped, 2 (onnxruntime gives 2 too)
        (4, 2, 3, 1, 2),
    ],
)
def test_ceil_mode_pool(size, kernel, stride, pad, want):
    b = GraphBuilder(opset=17)
    x = b.input("x", [1, 1, size])
    y = b.op("MaxPool", [x], kernel_shape=[kernel], strides=[stride], pads=[pad, pad], ceil_mode=1)
    m = b.build([y])
    # onnx's own inference declares 3 for the last case: a disagreement is the full engine's
    m.graph.output[0].type.tensor_type.ClearField("shape")
    assert _shape(m, y) == (1, 1, want)


def test_einsum_explicit_and_implicit():
    b = GraphBuilder()
    q, k = b.input("q", [2, 8, 16, 64]), b.input("k", [2, 8, 32, 64])
    s = b.op("Einsum", [q, k], equation="bhqd,bhkd->bhqk")
    t = b.op("Einsum", [q, k], equation="bhqd,bhkd")  # implicit: letters seen once, sorted: k, q
    m = b.build([s, t])
    assert _shape(m, s) == (2, 8, 16, 32)
    assert _shape(m, t) == (32, 16)


def _if_model(then_shape: list[int], cond_value: bool | None) -> onnx.ModelProto:
    """x [2, 6] -> If(cond): then Reshape(x, then_shape), else Reshape(x, [3, 4])."""

    def branch(name: str, shape: list[int]) -> onnx.GraphProto:
        target = numpy_helper.from_array(np.array(shape, np.int64), f"{name}_shape")
        node = helper.make_node("Reshape", ["x", target.name], [f"{name}_y"])
        out = helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, None)
        return helper.make_graph([node], name, [], [out], [target])

    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])]
    inits = []
    if cond_value is None:
        inputs.append(helper.make_tensor_value_info("cond", TensorProto.BOOL, []))
    else:
        inits.append(numpy_helper.from_array(np.array(cond_value), "cond"))
    node = helper.make_node(
        "If", ["cond"], ["y"], then_branch=branch("then", then_shape),
        else_branch=branch("else", [3, 4]),
    )  # fmt: skip
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([node], "g", inputs, [out], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_if_takes_the_known_branch_and_keeps_both_scopes():
    m = _if_model([4, 3], cond_value=False)
    shapes = _fast(m)
    assert shapes is not None
    assert shapes.infos()["y"].shape == (3, 4)  # cond is false: the else branch's [3, 4]
    assert shapes.scopes[((0, "then_branch"),)]["then_y"].shape == (4, 3)  # walked, costed
    assert shapes.infos(((0, "else_branch"),))["x"].shape == (2, 6)  # outer names seen
    full = engine.infer(m)
    assert differences(full, shapes) == []


def test_if_with_an_unknown_condition():
    # both branches make [3, 4]: that is the output; they differ: the full engine's to merge
    assert _shape(_if_model([3, 4], cond_value=None), "y") == (3, 4)
    assert _fast(_if_model([4, 3], cond_value=None)) is None
