"""Costs as formulas of the dims: hand-derived expressions, and formulas == bound analyses."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import numpy as np
import pytest
import sympy
from builders import GraphBuilder
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import onnxcost
from onnxcost.analysis import formulas as F
from onnxcost.analysis import roofline, scaling
from onnxcost.analysis.analyzer import analyze, analyze_with_formulas
from onnxcost.analysis.poly import (
    MAX_DEGREE,
    Poly,
    PolyError,
    TooLarge,
    Undecidable,
    floordiv,
    pmax,
)
from onnxcost.cli.main import main
from onnxcost.hardware import database as hardware
from onnxcost.model import engine, fast
from onnxcost.model.dims import to_poly

B, S, H, W, N = (Poly(n) for n in ("batch", "seq", "H", "W", "N"))


def _sympify(expr: str, names) -> sympy.Expr:
    # dims named like sympy's own functions (N, S, E, I) must be declared symbols
    return sympy.sympify(expr, locals={n: sympy.Symbol(n) for n in names})


def _sym(expr: str, b: dict[str, int]) -> int:
    return int(_sympify(expr, b).subs(b))


# --- the polynomial type ----------------------------------------------------------------------


def test_poly_arithmetic_and_sympy_syntax() -> None:
    p = 3 * B * S + S * S - 7
    assert isinstance(p - p, int) and p - p == 0  # constants are plain ints
    for b in ({"batch": 2, "seq": 5}, {"batch": 9, "seq": 1}):
        assert p.subs(b) == _sym(str(p), b) == 3 * b["batch"] * b["seq"] + b["seq"] ** 2 - 7
    # floor division: the part k divides comes out exactly, the rest is one floor atom
    q = floordiv(4 * S + 3, 2)
    assert str(q) == "2*seq + 1"
    r = floordiv(S + 1, 2)
    assert [r.subs({"seq": v}) for v in range(5)] == [(v + 1) // 2 for v in range(5)]
    assert _sym(str(r), {"seq": 4}) == 2
    assert (S % 3).subs({"seq": 8}) == 2


def test_poly_decides_only_what_holds_for_every_dim() -> None:
    assert B * S + 1 > 0 and S * S + S >= S
    with pytest.raises(Undecidable, match="not decidable for symbolic dims"):
        _ = S == 1
    with pytest.raises(Undecidable):
        _ = S > B
    assert str(pmax(S, S + 1, 3 * S)) == "Max(3*seq, seq + 1)"  # S <= S + 1: dropped


def test_poly_caps_growth() -> None:
    with pytest.raises(TooLarge):
        _ = S ** (MAX_DEGREE + 1)
    big = sum(Poly(f"d{i}") for i in range(80))
    with pytest.raises(TooLarge):
        _ = big * big * big


def test_pretty_groups_coefficients_and_factors() -> None:
    p = 85_000_000 * B * S + 1_180_000 * B * S * S
    assert p.pretty() == "batch·seq·(85.0 M + 1.18 M·seq)"


def test_dim_texts_of_the_shape_engine_parse() -> None:
    # sympy's text for a stride-2 conv output: floor((H - 1)/2) + 1 == floor((H + 1)/2)
    p = to_poly("floor(H/2 - 1/2) + 1")
    assert [p.subs({"H": h}) for h in range(1, 9)] == [(h - 1) // 2 + 1 for h in range(1, 9)]
    assert (
        to_poly("past_sequence_length + sequence_length").subs(
            {"past_sequence_length": 3, "sequence_length": 4}
        )
        == 7
    )
    assert to_poly("ceiling(seq/4)").subs({"seq": 9}) == 3
    assert to_poly("seq / 2") is None  # not an integer for every seq
    assert to_poly("__import__('os')") is None


# --- hand-derived formulas --------------------------------------------------------------------


def _linear():
    g = GraphBuilder()
    x = g.input("x", ["batch", "seq", 64])
    y = g.op("MatMul", [x, g.weight("w", [64, 32])])
    return g.build([g.op("Add", [y, g.weight("b", [32])])])


def test_linear_formula() -> None:
    r = analyze(_linear(), formulas=True)
    f = F.figures(r)
    # MatMul [batch, seq, 64] x [64, 32]: batch*seq*32*64 MACs, 2 FLOPs each; the Add: one FLOP
    # per output element, batch*seq*32
    assert f["macs"] == 2048 * B * S
    assert f["flops"] == 2 * 2048 * B * S + 32 * B * S
    # traffic: MatMul reads x (64 floats a row) and w (64*32*4 B), writes y (32 floats a row);
    # Add reads y and b (32*4 B), writes 32 floats a row
    assert f["memory_traffic_bytes"] == (64 + 32 + 32 + 32) * 4 * B * S + 64 * 32 * 4 + 32 * 4
    assert f["params"] == 64 * 32 + 32


def _attention():
    g = GraphBuilder()
    q = g.input("q", ["batch", "seq", 64])
    k = g.input("k", ["batch", 64, "seq"])
    v = g.input("v", ["batch", "seq", 64])
    s = g.op("MatMul", [q, k])
    p = g.op("Softmax", [s], axis=-1)
    return g.build([g.op("MatMul", [p, v])])


def test_attention_formula_has_seq_squared() -> None:
    r = analyze(_attention(), formulas=True)
    # scores: batch * seq * seq * 64 MACs; probabilities x V: batch * seq * 64 * seq MACs
    assert F.figures(r)["macs"] == 2 * 64 * B * S * S
    for b in ({"batch": 2, "seq": 7}, {"batch": 1, "seq": 100}):
        assert F.bind(r, b).totals.macs == 128 * b["batch"] * b["seq"] ** 2


def _strided_conv():
    g = GraphBuilder()
    x = g.input("x", ["N", 3, "H", "W"])
    return g.build([g.conv(x, 3, 8, 3, strides=[2, 2], pads=[1, 1, 1, 1])])


def test_strided_conv_floor_division() -> None:
    r = analyze(_strided_conv(), formulas=True)
    # output side: floor((H + 2 - 3) / 2) + 1 = floor((H + 1) / 2); per output element
    # 3 * 3 * 3 MACs for each of 8 channels
    oh, ow = floordiv(H + 1, 2), floordiv(W + 1, 2)
    assert F.figures(r)["macs"] == 8 * 27 * N * oh * ow
    assert "floor((H + 1)/2)" in str(F.figures(r)["macs"])
    for h in (7, 8, 31, 224):
        b = {"N": 2, "H": h, "W": h + 3}
        assert F.bind(r, b).totals.macs == analyze(_strided_conv(), dims=b).totals.macs


def _lstm(hidden: int = 16, isize: int = 8):
    g = GraphBuilder()
    x = g.input("x", ["seq", "batch", isize])
    w = g.weight("W", [1, 4 * hidden, isize])
    rw = g.weight("R", [1, 4 * hidden, hidden])
    y = g.op("LSTM", [x, w, rw], n_out=3, hidden_size=hidden)[0]
    return g.build([y])


def test_lstm_over_symbolic_sequence() -> None:
    r = analyze(_lstm(), formulas=True)
    # 4 gates, each h * (I + h) MACs per step and batch row: 4 * 16 * (8 + 16) = 1536
    macs = F.figures(r)["macs"]
    assert macs == 1536 * S * B
    # elementwise per step and row: the gate sums 4h, sigmoid on i, o, f, tanh on c~ and C,
    # and the state update 4h: linear in seq * batch as well
    flops = F.figures(r)["flops"]
    assert isinstance(flops, Poly) and flops.degree("seq") == 1 and flops.degree("batch") == 1
    assert (
        flops.subs({"seq": 10, "batch": 3})
        == analyze(_lstm(), dims={"seq": 10, "batch": 3}).totals.flops
    )


def _loop_over_dim():
    body = helper.make_graph(
        [
            helper.make_node("MatMul", ["v", "w"], ["v2"]),
            helper.make_node("Identity", ["c"], ["co"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("it", TensorProto.INT64, []),
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v", TensorProto.FLOAT, [1, 4]),
        ],
        [
            helper.make_tensor_value_info("co", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v2", TensorProto.FLOAT, [1, 4]),
        ],
        [numpy_helper.from_array(np.zeros((4, 4), np.float32), "w")],
    )
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"]),
        helper.make_node("Gather", ["shp", "i0"], ["trip"], axis=0),
        helper.make_node("Loop", ["trip", "", "v0"], ["out"], body=body),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["seq", 4])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4])],
        [
            numpy_helper.from_array(np.array(0, np.int64), "i0"),
            numpy_helper.from_array(np.zeros((1, 4), np.float32), "v0"),
        ],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


def test_loop_whose_trip_count_is_a_dim() -> None:
    r = analyze(_loop_over_dim(), formulas=True)
    # trip count = x.shape[0] = seq; the body's MatMul [1, 4] x [4, 4] is 16 MACs
    assert F.figures(r)["macs"] == 16 * S
    assert not r.unresolved
    assert analyze(_loop_over_dim(), dims={"seq": 9}).totals.macs == 144


def _quantized_matmuls():
    g = GraphBuilder()
    a = g.input("a", ["batch", 4, "seq", 16], TensorProto.UINT8)
    bt = g.input("bt", ["batch", 4, 16, "seq"], TensorProto.UINT8)
    sc, zp = g.weight("s", [], np.float32), g.weight("z", [], np.uint8)
    y = g.op("QLinearMatMul", [a, sc, zp, bt, sc, zp, sc, zp])
    w = g.weight("w", [16, 8], np.int8)
    x = g.input("x", ["batch", "seq", 16], TensorProto.UINT8)
    return g.build([y, g.op("MatMulInteger", [x, w])])


def test_quantized_matmuls_over_symbolic_batch() -> None:
    r = analyze(_quantized_matmuls(), formulas=True)
    assert not r.unresolved and r.totals.status == "exact"
    # QLinearMatMul [batch, 4, seq, 16] x [batch, 4, 16, seq]: batch * 4 * seq * seq * 16 MACs,
    # 2 FLOPs each + 4 (requantize) per output element (batch * 4 * seq * seq);
    # MatMulInteger [batch, seq, 16] x [16, 8]: batch * seq * 8 * 16 = 128 * batch * seq MACs
    f = F.figures(r)
    assert f["macs"] == 64 * B * S * S + 128 * B * S
    assert f["flops"] == 2 * 64 * B * S * S + 4 * 4 * B * S * S + 2 * 128 * B * S
    b = {"batch": 3, "seq": 5}  # 64 * 3 * 25 + 128 * 15 = 4800 + 1920
    assert F.bind(r, b).totals.macs == analyze(_quantized_matmuls(), dims=b).totals.macs == 6720


def _odd_names(n: str = "p2o.DynamicDimension.0", h: str = "p2o.DynamicDimension.1"):
    g = GraphBuilder()
    x = g.input("x", [n, 3, h, "p2o.DynamicDimension.2"])
    return g.build([g.conv(x, 3, 8, 3, strides=[2, 2], pads=[1, 1, 1, 1])])


def test_dim_names_that_are_not_identifiers_are_written_as_identifiers() -> None:
    r = analyze(_odd_names(), formulas=True)
    assert not r.unresolved
    strings = F.formulas(r)
    # paddle2onnx's names: identifiers in the formulas, listed in `symbols`
    assert strings["symbols"] == {
        f"p2o_DynamicDimension_{i}": f"p2o.DynamicDimension.{i}" for i in range(3)
    }
    # the strided conv: out side floor((H + 2 - 3)/2) + 1 = floor((H + 1)/2), each output element
    # 3 * 3 * 3 MACs for each of 8 channels: 216 * N * floor((H + 1)/2) * floor((W + 1)/2)
    b = {f"p2o.DynamicDimension.{i}": v for i, v in enumerate((2, 9, 6))}  # 216*2*5*3 = 6480
    written = {F.symbol(k): v for k, v in b.items()}
    assert _sym(strings["macs"], written) == 6480 == analyze(_odd_names(), dims=b).totals.macs
    for key in F.FIGURES:
        assert _sym(strings[key], written) == getattr(F.bind(r, b).totals, key), key
    # two names written alike would make a formula ambiguous: refused, not guessed
    with pytest.raises(PolyError, match="would both be written"):
        F.formulas(analyze(_odd_names("a.b", "a_b"), formulas=True))
    # other text that names a dim is an identifier made of it; quotes or brackets: no formula
    assert str(to_poly("?")) == "dim" and str(to_poly("seq len") * 2) == "2*seq_len"
    assert str(to_poly("floor(p2o.H/2 - 1/2) + 1")) == "floor((p2o_H + 1)/2)"


def _zeros_of_a_computed_shape():
    # TorchScript's RNN zero state: ConstantOfShape(Concat([4], Unsqueeze(Shape(x)[1]), [48]))
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i1"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "ax"], ["bu"]),
        helper.make_node("Concat", ["four", "bu", "h"], ["shp"], axis=0),
        helper.make_node(
            "ConstantOfShape",
            ["shp"],
            ["z"],
            value=numpy_helper.from_array(np.zeros(1, np.float32)),
        ),
        helper.make_node("Relu", ["z"], ["y"]),
    ]
    ints = {"i1": np.array(1), "ax": np.array([0]), "four": np.array([4]), "h": np.array([48])}
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["seq", "batch", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v.astype(np.int64), k) for k, v in ints.items()],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_constant_of_a_shape_worked_out_from_dims() -> None:
    r = analyze(_zeros_of_a_computed_shape(), formulas=True)
    assert not r.unresolved and r.nodes[4].output_shapes == [[4, "batch", 48]]
    # the Relu: one FLOP per element of [4, batch, 48], 192 * batch. Buffers: x, seq * batch * 8
    # floats (32 * batch * seq bytes); the zeros, 192 * batch floats (768 * batch bytes), which
    # the Relu runs in (elementwise, their last use); Shape's 3 int64 (24 B), Gather's 1 (8 B),
    # Concat's 3 (24 B); Unsqueeze is a view
    f = F.figures(r)
    assert f["flops"] == 192 * B
    assert f["activations_total_bytes"] == 32 * B * S + 768 * B + 24 + 8 + 24


def _slice_of_the_last_seq_rows():
    # T5's position bias [1, heads, seq, seq][:, :, -seq:, :], seq read from another input
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i1"], ["n"], axis=0),
        helper.make_node("Neg", ["n"], ["minus_n"]),
        helper.make_node("Unsqueeze", ["minus_n", "ax"], ["starts"]),
        helper.make_node("Slice", ["p", "starts", "end", "two"], ["y"]),
        helper.make_node("Relu", ["y"], ["z"]),
    ]
    ints = {"i1": np.array(1), "ax": np.array([0]), "end": np.array([2**63 - 1]), "two": [2]}
    g = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 8]),
            helper.make_tensor_value_info("p", TensorProto.FLOAT, [1, 4, "seq", "seq"]),
        ],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v, np.int64), k) for k, v in ints.items()],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_slice_of_the_last_seq_rows_is_the_whole_axis() -> None:
    r = analyze(_slice_of_the_last_seq_rows(), formulas=True)
    assert not r.unresolved and r.nodes[4].output_shapes == [[1, 4, "seq", "seq"]]
    # rows -seq.. of seq rows: all of them; the Relu, one FLOP per element: 4 * seq**2; the
    # Neg of one scalar: 1
    assert F.figures(r)["flops"] == 4 * S * S + 1


def _broadcast_add(x_shape: list, y_shape: list):
    g = GraphBuilder()
    return g.build([g.op("Add", [g.input("x", x_shape), g.input("y", y_shape)])])


def test_in_place_reuse_that_depends_on_the_dims_is_flagged() -> None:
    m = _broadcast_add(["batch", 1, 8], [1, "seq", 8])
    r = analyze(m, formulas=True)
    # x [batch, 1, 8], y [1, seq, 8], their sum [batch, seq, 8]: three buffers, 8 * batch +
    # 8 * seq + 8 * batch * seq floats. At seq = 1 the sum fits in x (its last use): a bound
    # analysis counts 8 * batch + 8 * seq; the formula cannot say so, and is flagged
    assert F.figures(r)["activations_total"] == 8 * B + 8 * S + 8 * B * S
    assert r.totals.lower_bound and "in-place reuse of 'x' depends" in r.unresolved[0].reason
    at = {"batch": 2, "seq": 3}  # 16 + 24 + 48
    assert (
        analyze(m, dims=at).totals.activations_total == 88 == F.bind(r, at).totals.activations_total
    )
    at = {"batch": 2, "seq": 1}  # 16 + 8: the sum in x's buffer
    assert analyze(m, dims=at).totals.activations_total == 24
    # shapes equal as texts: the same buffer in both analyses, nothing to flag
    assert not analyze(_broadcast_add(["batch", "seq", 8], [8]), formulas=True).unresolved


# --- property: every formula equals the bound analysis at random bindings -------------------

MODELS = [
    "models/transformer_block.onnx",
    "models/lstm.onnx",
    "models/cnn.onnx",
    _linear,
    _attention,
    _strided_conv,
    _lstm,
    _loop_over_dim,
    _quantized_matmuls,
    _zeros_of_a_computed_shape,
    _slice_of_the_last_seq_rows,
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m if isinstance(m, str) else m.__name__)
def test_formulas_equal_bound_analyses(model) -> None:
    load = (lambda: model) if isinstance(model, str) else model
    r = analyze(load(), formulas=True)
    spec = hardware.get("h100")
    strings = F.formulas(r, spec)
    rng = random.Random(11)
    names = r.formula_data.unbound
    for _ in range(4):
        b = {n: rng.randint(2, 300) for n in names}
        bound = analyze(load(), dims=b)
        roofline.apply(bound, spec)
        for key in F.FIGURES:
            assert _sym(strings[key], b) == getattr(bound.totals, key), (key, b)
        lat = float(_sympify(strings["latency_s"], b).subs(b))
        assert lat == pytest.approx(bound.totals.latency_s, rel=1e-9)
        # the whole bound report, per node and per op type, is what bind() gives
        assert F.bind(r, b).to_dict() == analyze(load(), dims=b).to_dict()


def test_sweep_evaluates_one_analysis_with_the_same_rows(monkeypatch) -> None:
    spec = hardware.get("h100")
    values = [1, 17, 128, 512]
    calls = []

    def counting(*a, **k):
        calls.append(k.get("formulas", False))
        return analyze(*a, **k)

    monkeypatch.setattr(scaling, "run_analysis", counting)
    rows = scaling.scale(
        "models/transformer_block.onnx", "seq", values, spec, counting, dims={"batch": 2}
    )
    assert calls == [True]  # one formula analysis for four values
    rows_each = []
    for v in values:
        rep = analyze("models/transformer_block.onnx", dims={"batch": 2, "seq": v})
        roofline.apply(rep, spec)
        rows_each.append(scaling.row(v, rep))
    assert [r.to_dict() for r in rows] == [r.to_dict() for r in rows_each]


def test_peak_bottleneck_moves_with_seq() -> None:
    r = analyze("models/transformer_block.onnx", formulas=True)
    ranges = F.bottleneck_ranges(r, "seq", 1, 8192, {"batch": 1})
    assert ranges[0].lo == 1 and ranges[-1].hi == 8192
    assert len(ranges) >= 2  # linear terms lead at short sequences, seq² ones at long ones
    for rg in ranges:
        for v in (rg.lo, rg.hi):
            rep = analyze("models/transformer_block.onnx", dims={"batch": 1, "seq": v})
            assert rep.memory.peak_node == rg.node


def _if_of_unknown_condition():
    # branches of different output widths: an unknown condition takes the costlier's shapes
    def branch(name: str, width: int):
        w = numpy_helper.from_array(np.zeros((8, width), np.float32), f"w_{name}")
        node = helper.make_node("MatMul", ["x", f"w_{name}"], [f"y_{name}"])
        out = helper.make_tensor_value_info(f"y_{name}", TensorProto.FLOAT, ["seq", width])
        return helper.make_graph([node], name, [], [out], [w])

    nodes = [
        helper.make_node(
            "If", ["c"], ["y"], then_branch=branch("t", 16), else_branch=branch("e", 4)
        ),
        helper.make_node("Relu", ["y"], ["z"]),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["seq", 8]),
        ],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
    )
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


@pytest.mark.parametrize("model", ["models/transformer_block.onnx", _if_of_unknown_condition])
def test_one_engine_run_gives_the_plain_and_the_formula_report(model, monkeypatch) -> None:
    load = (lambda: model) if isinstance(model, str) else model
    runs = []
    for module in (fast, engine):  # the fast path, or the full engine where it gives up
        monkeypatch.setattr(module, "infer", lambda *a, f=module.infer: runs.append(1) or f(*a))
    plain, later = analyze_with_formulas(load())
    symbolic = later()
    both = len(runs)
    assert plain.to_dict() == analyze(load()).to_dict()  # the same as two analyses give
    assert both == len(runs) - both  # one shape inference for both reports, as for one
    alone = analyze(load(), formulas=True)
    assert F.formulas(symbolic) == F.formulas(alone)
    assert [n.macs for n in symbolic.nodes] == [n.macs for n in alone.nodes]
    assert symbolic.unresolved == alone.unresolved and symbolic.warnings == alone.warnings
    for b in ({"seq": 5, "batch": 2}, {"seq": 40, "batch": 1}):
        b = {k: v for k, v in b.items() if k in symbolic.formula_data.unbound}
        bound, at = F.bind(symbolic, b).totals, analyze(load(), dims=b).totals
        assert [getattr(bound, k) for k in F.FIGURES] == [getattr(at, k) for k in F.FIGURES]


def test_if_of_unknown_condition_takes_the_branch_costlier_for_every_dim() -> None:
    r = analyze(_if_of_unknown_condition(), formulas=True)
    # then: [seq, 8] x [8, 16] = 128*seq MACs, 256*seq FLOPs; else: [seq, 8] x [8, 4] = 32*seq
    # MACs, 64*seq FLOPs. Equal at seq = 0 (a tie goes to then_branch), then's above for every
    # seq: then_branch, whatever seq is
    assert F.figures(r)["macs"] == 128 * S and F.figures(r)["flops"] == 256 * S
    assert "counted the more expensive branch, then_branch" in r.nodes[0].notes[0]


# --- CLI --------------------------------------------------------------------------------------


def test_json_formulas_and_table() -> None:
    res = CliRunner().invoke(
        main, ["analyze", "models/transformer_block.onnx", "--format", "json", "--hw", "h100"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(F.FIGURES) | {"latency_s"} == set(doc["formulas"])
    res = CliRunner().invoke(main, ["analyze", "models/transformer_block.onnx"])
    assert "MACs = batch·seq·(786 k + 512·seq)" in res.output


def test_fit_transformer_answer_fits_and_next_does_not() -> None:
    args = ["fit", "models/transformer_block.onnx", "--solve", "seq", "--dim", "batch=4"]
    res = CliRunner().invoke(main, [*args, "--max-peak-memory", "64MB", "--format", "json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    n = doc["value"]
    assert doc["solve"] == "seq" and doc["binding_budget"] == "peak_memory"
    for v, fits in ((n, True), (n + 1, False)):
        rep = analyze("models/transformer_block.onnx", dims={"batch": 4, "seq": v})
        assert (rep.totals.peak_memory_bytes <= 64_000_000) is fits
    assert (
        doc["at_value"]["peak_memory_bytes"]
        <= 64_000_000
        < doc["at_value_plus_1"]["peak_memory_bytes"]
    )


def test_fit_messages() -> None:
    base = ["fit", "models/transformer_block.onnx", "--solve", "seq", "--dim", "batch=4"]
    res = CliRunner().invoke(main, [*base, "--max-peak-memory", "1MB"])
    assert res.exit_code == 1 and "even seq=1 does not fit" in res.output
    res = CliRunner().invoke(main, [*base, "--max-params", "1G"])
    assert res.exit_code == 0 and "no upper limit" in res.output


def test_peak_over_a_range_from_the_command_line() -> None:
    # `--dim seq=LO..HI`: where the activation peak's step moves, from one formula analysis;
    # each end of each span is checked against a bound analysis at that value
    from onnxcost.cli.main import main

    path = str(Path(__file__).resolve().parent.parent / "models" / "transformer_block.onnx")
    res = CliRunner().invoke(
        main, ["analyze", path, "--dim", "batch=1", "--dim", "seq=1..4096", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    spans = json.loads(res.output)["bottlenecks"]
    assert spans[0]["lo"] == 1 and spans[-1]["hi"] == 4096
    assert all(a["hi"] + 1 == b["lo"] for a, b in itertools.pairwise(spans))
    for span in spans:
        for seq in (span["lo"], span["hi"]):
            bound = onnxcost.analyze(path, dims={"batch": 1, "seq": seq})
            assert bound.memory.peak_node == span["node"], (seq, span)
            value = sympy.sympify(span["peak_bytes"]).subs({"seq": seq})
            assert int(value) == bound.memory.peak_bytes
    bad = CliRunner().invoke(main, ["analyze", path, "--dim", "seq=1..8", "--hw", "h100"])
    assert bad.exit_code == 2 and "one range" in bad.output
