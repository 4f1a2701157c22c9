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


# --- contrib, quantized and ai.onnx.ml ops (model/fast_contrib.py) -----------------------------

F32, F16, U8, I8, I32, I64 = (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.UINT8,
                              TensorProto.INT8, TensorProto.INT32, TensorProto.INT64)  # fmt: skip
MS, ML = "com.microsoft", "ai.onnx.ml"


def _model(nodes: list, inputs: dict, inits: dict | None = None) -> onnx.ModelProto:
    """Inputs and zero initializers by name: (elem type, shape); outputs: every named output."""
    made = [helper.make_tensor_value_info(n, t, s) for n, (t, s) in inputs.items()]
    weights = [
        numpy_helper.from_array(np.zeros(s, helper.tensor_dtype_to_np_dtype(t)), n)
        for n, (t, s) in (inits or {}).items()
    ]
    outs = [helper.make_empty_tensor_value_info(o) for n in nodes for o in n.output if o]
    graph = helper.make_graph(nodes, "g", made, outs, weights)
    opsets = [helper.make_opsetid(d, v) for d, v in (("", 17), (MS, 1), (ML, 3))]
    return helper.make_model(graph, opset_imports=opsets)


def _agree(model: onnx.ModelProto) -> dict[str, tuple]:
    """The fast path's (elem type, shape) of every tensor, held to the full engine's."""
    quick = _fast(model)
    assert quick is not None, "the fast path gave up"
    assert differences(engine.infer(model), quick) == []
    return {name: (i.elem_type, i.shape) for name, i in quick.infos().items()}


def _why(model: onnx.ModelProto) -> str:
    why: list[str] = []
    assert fast.infer(model, build(model.graph), None, why) is None
    return why[0]


def _node(op: str, ins: list[str], outs: list[str], domain: str = MS, **attrs) -> onnx.NodeProto:
    return helper.make_node(op, ins, outs, domain=domain, **attrs)


@pytest.mark.parametrize("op", ["BiasGelu", "FastGelu", "Gelu", "QuickGelu", "BiasSoftmax"])
def test_contrib_activations_keep_the_input_shape(op):
    ins = ["x", "bias"] if op != "Gelu" and op != "QuickGelu" else ["x"]
    m = _model([_node(op, ins, ["y"])], {"x": (F16, ["batch", 16, 64])}, {"bias": (F16, [64])})
    assert _agree(m)["y"] == (F16, ("batch", 16, 64))  # the bias broadcasts into x


def test_bias_add_and_rotary_embedding():
    # BiasAdd(x [2, 16, 64], bias [64], skip [2, 16, 64]) and RotaryEmbedding of x: x's shape
    nodes = [_node("BiasAdd", ["x", "bias", "x"], ["y"]),
             _node("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["r"])]  # fmt: skip
    inits = {"bias": (F32, [64]), "pos": (I64, [2, 16]), "cos": (F32, [32, 16]),
             "sin": (F32, [32, 16])}  # fmt: skip
    got = _agree(_model(nodes, {"x": (F32, [2, 16, 64])}, inits))
    assert got["y"] == got["r"] == (F32, (2, 16, 64))


def test_skip_layer_normalization_and_its_statistics():
    # outputs: y, mean, inv_std_var, input+skip+bias; y and the sum are x's [2, 16, 64]
    ins = ["x", "skip", "gamma", "beta", "bias"]
    inits = {n: (F16, [64]) for n in ins[2:]}
    for op in ("SkipLayerNormalization", "SkipSimplifiedLayerNormalization"):
        m = _model([_node(op, ins, ["y", "", "", "sum"])], {"x": (F16, [2, 16, 64]),
                   "skip": (F16, [2, 16, 64])}, inits)  # fmt: skip
        got = _agree(m)
        assert got["y"] == got["sum"] == (F16, (2, 16, 64))
    # the full engine leaves mean and inv_std_var unknown: a model naming them is its own
    m = _model([_node("SkipLayerNormalization", ins, ["y", "mean"])],
               {"x": (F16, [2, 16, 64]), "skip": (F16, [2, 16, 64])}, inits)  # fmt: skip
    assert "statistics" in _why(m)


def test_simplified_and_contrib_layer_normalization():
    # x [2, 8, 64] float16, axis -1: mean and inv_std_var are [2, 8, 1] in float (not float16);
    # the contrib LayerNormalization over axis 1 of a float x: [2, 1, 1] in float
    nodes = [_node("SimplifiedLayerNormalization", ["h", "g"], ["y", "m", "v"], domain="",
                   axis=-1, stash_type=1),
             _node("LayerNormalization", ["x", "g32"], ["z", "m2", "v2"], axis=1)]  # fmt: skip
    inits = {"g": (F16, [64]), "g32": (F32, [8, 64])}
    m = _model(nodes, {"h": (F16, [2, 8, 64]), "x": (F32, [2, 8, 64])}, inits)
    got = _agree(m)
    assert got["y"] == (F16, (2, 8, 64))
    assert got["m"] == got["v"] == (F32, (2, 8, 1))
    assert got["m2"] == got["v2"] == (F32, (2, 1, 1))


def test_embed_layer_normalization():
    # input_ids [2, 16] and word_embedding [1000, 64]: [2, 16, 64] in the embedding's float16;
    # mask_index [batch] in int32; the embedding sum (output 2) as output 0
    ins = ["ids", "seg", "word", "pos", "segemb", "gamma", "beta", "mask"]
    inits = {"word": (F16, [1000, 64]), "pos": (F16, [128, 64]), "segemb": (F16, [2, 64]),
             "gamma": (F16, [64]), "beta": (F16, [64])}  # fmt: skip
    m = _model([_node("EmbedLayerNormalization", ins, ["out", "mask_index", "sum"])],
               {n: (I32, ["batch", 16]) for n in ("ids", "seg", "mask")}, inits)  # fmt: skip
    got = _agree(m)
    assert got["out"] == got["sum"] == (F16, ("batch", 16, 64))
    assert got["mask_index"] == (I32, ("batch",))


def test_attention_output_and_present():
    # x [2, 16, 64], weights [64, 192], bias [192]: hidden 192 / 3 = 64, 4 heads of 16;
    # present [2, batch, heads, seq, head]; with past [2, 2, 4, 8, 16] the length is 8 + 16
    inits = {"w": (F32, [64, 192]), "b": (F32, [192]), "past": (F32, [2, 2, 4, 8, 16])}
    nodes = [_node("Attention", ["x", "w", "b"], ["y", "present"], num_heads=4),
             _node("Attention", ["x", "w", "b", "", "past"], ["y2", "grown"], num_heads=4)]  # fmt: skip
    got = _agree(_model(nodes, {"x": (F32, [2, 16, 64])}, inits))
    assert got["y"] == got["y2"] == (F32, (2, 16, 64))
    assert got["present"] == (F32, (2, 2, 4, 16, 16))
    assert got["grown"] == (F32, (2, 2, 4, 24, 16))
    # a past of unbound length grows into `past_len + 16`: the full engine's expression
    m = _model(nodes[1:], {"x": (F32, [2, 16, 64]), "past": (F32, [2, 2, 4, "past_len", 16])},
               {k: inits[k] for k in ("w", "b")})  # fmt: skip
    assert "a sum of dim names" in _why(m)


def test_group_query_attention_packed_and_split():
    # packed QKV [2, 1, 128] with 4 heads and 2 kv heads: head 128 / (4 + 2 * 2) = 16, output
    # [2, 1, 4 * 16]; past [2, 2, 8, 16] grows by the one new token: present [2, 2, 9, 16]
    ins = ["qkv", "", "", "pk", "pv", "seqlens", "total", "cos", "sin"]
    packed = _node("GroupQueryAttention", ins, ["o", "k", "v"], num_heads=4, kv_num_heads=2,
                   do_rotary=1)  # fmt: skip
    # query [2, 5, 64] with key and value [2, 5, 32], no past: output as the query; present
    # [2, kv heads 2, 5, 64 / 4 = 16]
    split = _node("GroupQueryAttention", ["q", "key", "val", "", "", "seqlens", "total"],
                  ["o2", "k2", "v2"], num_heads=4, kv_num_heads=2)  # fmt: skip
    inputs = {"qkv": (F32, [2, 1, 128]), "pk": (F16, [2, 2, 8, 16]), "pv": (F16, [2, 2, 8, 16]),
              "q": (F32, [2, 5, 64]), "key": (F32, [2, 5, 32]), "val": (F32, [2, 5, 32]),
              "seqlens": (I32, [2]), "total": (I32, [])}  # fmt: skip
    inits = {"cos": (F32, [128, 8]), "sin": (F32, [128, 8])}
    got = _agree(_model([packed, split], inputs, inits))
    assert got["o"] == (F32, (2, 1, 64))
    assert got["k"] == got["v"] == (F16, (2, 2, 9, 16))  # past's dtype
    assert got["o2"] == (F32, (2, 5, 64))
    assert got["k2"] == got["v2"] == (F32, (2, 2, 5, 16))


def test_matmul_nbits():
    # A [batch, 1, 64] by 4-bit B packed as [N 128, 2 blocks, 16 bytes]: [batch, 1, N]
    node = _node("MatMulNBits", ["a", "b", "s"], ["y"], K=64, N=128, bits=4, block_size=32)
    inits = {"b": (U8, [128, 2, 16]), "s": (F32, [128, 2])}
    assert _agree(_model([node], {"a": (F32, ["batch", 1, 64])}, inits))["y"] == (
        F32, ("batch", 1, 128))  # fmt: skip


def test_qattention():
    # uint8 x [2, 16, 64], int8 weights [64, 192], float bias [192]: [2, 16, 64] in float;
    # present [2, 2, 4 heads, 16, 16]
    ins = ["x", "w", "b", "xs", "ws", "mask", "xz", "wz"]
    inits = {"w": (I8, [64, 192]), "b": (F32, [192]), "xs": (F32, []), "ws": (F32, []),
             "xz": (U8, []), "wz": (I8, [])}  # fmt: skip
    m = _model([_node("QAttention", ins, ["y", "present"], num_heads=4)],
               {"x": (U8, [2, 16, 64]), "mask": (I32, [2])}, inits)  # fmt: skip
    got = _agree(m)
    assert got["y"] == (F32, (2, 16, 64))
    assert got["present"] == (F32, (2, 2, 4, 16, 16))


def test_qgemm_float_output_and_quantized_output():
    # uint8 A [2, 512] by int8 B [1000, 512] transposed: [2, 1000], float without y_scale
    ins = ["a", "as", "az", "b", "bs", "bz"]
    inits = {"b": (I8, [1000, 512]), "as": (F32, []), "az": (U8, []), "bs": (F32, []),
             "bz": (I8, []), "c": (I32, [1000]), "ys": (F32, []), "yz": (U8, [])}  # fmt: skip
    m = _model([_node("QGemm", ins, ["y"], transB=1)], {"a": (U8, [2, 512])}, inits)
    assert _agree(m)["y"] == (F32, (2, 1000))
    # with y_scale the output is quantized: y_zero_point's uint8 (onnxruntime's type; the
    # library typed it as y_scale's float: both engines now say uint8)
    m = _model([_node("QGemm", [*ins, "c", "ys", "yz"], ["y"], transB=1)],
               {"a": (U8, [2, 512])}, inits)  # fmt: skip
    assert _agree(m)["y"] == (U8, (2, 1000))


def test_qembed_layer_normalization_is_dequantized():
    # uint8 embeddings with float scales: output [2, 16, 64] in float (onnxruntime's type; the
    # library typed it as the uint8 word embedding), mask_index [2] in int32
    ins = ["ids", "seg", "word", "pos", "segemb", "gamma", "beta", "mask",
           "ws", "ps", "ss", "gs", "bs", "wz", "pz", "sz", "gz", "bz"]  # fmt: skip
    inits = {"word": (U8, [1000, 64]), "pos": (U8, [128, 64]), "segemb": (U8, [2, 64]),
             "gamma": (U8, [64]), "beta": (U8, [64])}  # fmt: skip
    inits |= {n: (F32, []) for n in ins[8:13]} | {n: (U8, []) for n in ins[13:]}
    m = _model([_node("QEmbedLayerNormalization", ins, ["out", "mask_index"])],
               {n: (I32, [2, 16]) for n in ("ids", "seg", "mask")}, inits)  # fmt: skip
    got = _agree(m)
    assert got["out"] == (F32, (2, 16, 64))
    assert got["mask_index"] == (I32, (2,))


def test_qlinear_elementwise_and_global_pool():
    # QLinearMul of [2, 4, 16, 16] and [1]: broadcast, in A's uint8; QLinearSoftmax keeps it;
    # QLinearGlobalAveragePool: [2, 512, 7, 7] -> [2, 512, 1, 1], channels last -> [2, 1, 1, 512]
    q = ["s", "z"]
    nodes = [_node("QLinearMul", ["a", *q, "one", *q, *q], ["mul"]),
             _node("QLinearAdd", ["mul", *q, "a", *q, *q], ["add"]),
             _node("QLinearSoftmax", ["add", *q, *q], ["soft"], axis=-1, opset=13),
             _node("QLinearGlobalAveragePool", ["p", *q, *q], ["pool"]),
             _node("QLinearGlobalAveragePool", ["pl", *q, *q], ["pool_l"], channels_last=1)]  # fmt: skip
    inputs = {"a": (U8, [2, 4, 16, 16]), "p": (U8, [2, 512, 7, 7]), "pl": (U8, [2, 7, 7, 512])}
    inits = {"s": (F32, []), "z": (U8, []), "one": (U8, [1])}
    got = _agree(_model(nodes, inputs, inits))
    assert got["mul"] == got["add"] == got["soft"] == (U8, (2, 4, 16, 16))
    assert got["pool"] == (U8, (2, 512, 1, 1))
    assert got["pool_l"] == (U8, (2, 1, 1, 512))


def test_dynamic_quantize_lstm():
    # x [seq 32, batch 2, 64], bidirectional, hidden 48: Y [32, 2, 2, 48], Y_h and Y_c [2, 2, 48]
    ins = ["x", "w", "r", "", "", "", "", "", "ws", "wz", "rs", "rz"]
    inits = {"w": (I8, [2, 64, 192]), "r": (I8, [2, 48, 192]), "ws": (F32, [2]),
             "wz": (I8, [2]), "rs": (F32, [2]), "rz": (I8, [2])}  # fmt: skip
    node = _node("DynamicQuantizeLSTM", ins, ["y", "yh", "yc"], hidden_size=48,
                 direction="bidirectional")  # fmt: skip
    got = _agree(_model([node], {"x": (F32, [32, 2, 64])}, inits))
    assert got["y"] == (F32, (32, 2, 2, 48))
    assert got["yh"] == got["yc"] == (F32, (2, 2, 48))


def test_integer_and_qlinear_matmul_and_conv():
    # MatMulInteger [2, 16, 64] x [64, 32]: [2, 16, 32] in int32; QLinearMatMul the same shape,
    # typed as y_zero_point; ConvInteger 3x3 pad 1 keeps [2, 32, 32, 128] (int32); QLinearConv
    # 7x7 stride 2 pad 3 of [2, 3, 224, 224]: (224 + 6 - 7) // 2 + 1 = 112, typed as y_zp (int8)
    q = ["s", "z"]
    nodes = [_node("MatMulInteger", ["a", "bw", "z", "wz"], ["mi"], domain=""),
             _node("QLinearMatMul", ["a", *q, "bw", "s", "wz", "s", "yz"], ["qm"], domain=""),
             _node("ConvInteger", ["img", "cw", "z", "wz"], ["ci"], domain="",
                   kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             _node("QLinearConv", ["rgb", *q, "w7", "s", "wz", "s", "yz"], ["qc"], domain="",
                   kernel_shape=[7, 7], strides=[2, 2], pads=[3, 3, 3, 3])]  # fmt: skip
    inputs = {"a": (U8, [2, 16, 64]), "img": (U8, [2, 1, 32, 128]), "rgb": (U8, [2, 3, 224, 224])}
    inits = {"bw": (I8, [64, 32]), "cw": (I8, [32, 1, 3, 3]), "w7": (I8, [64, 3, 7, 7]),
             "s": (F32, []), "z": (U8, []), "wz": (I8, []), "yz": (I8, [])}  # fmt: skip
    got = _agree(_model(nodes, inputs, inits))
    assert got["mi"] == (I32, (2, 16, 32))
    assert got["qm"] == (I8, (2, 16, 32))
    assert got["ci"] == (I32, (2, 32, 32, 128))
    assert got["qc"] == (I8, (2, 64, 112, 112))


def test_ml_scalers_regressors_and_classifiers():
    # X [N, 10]: Scaler and Normalizer keep it in float; LinearRegressor [N, 1]; classifiers:
    # label [N] (int64, or string with string labels), scores [N, 3 classes]; a binary SVM
    # without probabilities has one score column
    x = {"x": (F32, ["N", 10])}
    three = {"classlabels_ints": [0, 1, 2]}
    nodes = [_node("Scaler", ["x"], ["sc"], domain=ML, offset=[0.0] * 10, scale=[1.0] * 10),
             _node("Normalizer", ["sc"], ["nm"], domain=ML, norm="L1"),
             _node("LinearRegressor", ["x"], ["reg"], domain=ML, coefficients=[0.0] * 10),
             _node("LinearClassifier", ["x"], ["lab", "prob"], domain=ML, **three,
                   coefficients=[0.0] * 30, intercepts=[0.0] * 3),
             _node("TreeEnsembleClassifier", ["x"], ["tlab", "tprob"], domain=ML,
                   classlabels_strings=["a", "b", "c"], nodes_nodeids=[0]),
             _node("SVMClassifier", ["x"], ["slab", "sprob"], domain=ML,
                   classlabels_ints=[0, 1], vectors_per_class=[1, 1])]  # fmt: skip
    got = _agree(_model(nodes, x))
    assert got["sc"] == got["nm"] == (F32, ("N", 10))
    assert got["reg"] == (F32, ("N", 1))
    assert got["lab"] == (I64, ("N",))
    assert got["prob"] == got["tprob"] == (F32, ("N", 3))
    assert got["tlab"] == (TensorProto.STRING, ("N",))
    assert got["sprob"] == (F32, ("N", 1))


def test_skip_group_norm_and_the_other_qlinear_twins():
    # SkipGroupNorm of NHWC x [2, 8, 8, 64]: Y and the input+skip+bias sum are x's; QLinearSigmoid
    # and QLinearLeakyRelu keep [2, 4, 16] in uint8; the contrib QLinearConv (all 8 inputs) of
    # [1, 3, 10, 10] by a 3x3 kernel: (10 - 3) // 1 + 1 = 8, typed as y_zero_point (uint8)
    q = ["s", "z"]
    nodes = [_node("SkipGroupNorm", ["x", "g", "b", "x"], ["y", "sum"], groups=4, activation=0,
                   channels_last=1),
             _node("QLinearSigmoid", ["a", *q, *q], ["sig"]),
             _node("QLinearLeakyRelu", ["sig", *q, *q], ["lrelu"], alpha=0.1),
             _node("QLinearConv", ["img", *q, "w", *q, *q], ["conv"])]  # fmt: skip
    inputs = {"x": (F16, [2, 8, 8, 64]), "a": (U8, [2, 4, 16]), "img": (U8, [1, 3, 10, 10])}
    inits = {"g": (F16, [64]), "b": (F16, [64]), "s": (F32, []), "z": (U8, []),
             "w": (U8, [5, 3, 3, 3])}  # fmt: skip
    got = _agree(_model(nodes, inputs, inits))
    assert got["y"] == got["sum"] == (F16, (2, 8, 8, 64))
    assert got["sig"] == got["lrelu"] == (U8, (2, 4, 16))
    assert got["conv"] == (U8, (1, 5, 8, 8))


def test_ml_imputer_binarizer_and_regressors():
    # Imputer and Binarizer keep X [N, 4] and its type; an SVM regressor and a one-target tree
    # ensemble give [N, 1]; a 1-D X [4] is one row: [1, 1]
    nodes = [_node("Imputer", ["x"], ["imp"], domain=ML, imputed_value_floats=[0.0],
                   replaced_value_float=1.0),
             _node("Binarizer", ["imp"], ["bin"], domain=ML, threshold=0.5),
             _node("SVMRegressor", ["x"], ["svr"], domain=ML, coefficients=[1.0]),
             _node("TreeEnsembleRegressor", ["v"], ["tree"], domain=ML, n_targets=1,
                   nodes_nodeids=[0])]  # fmt: skip
    got = _agree(_model(nodes, {"x": (F32, ["N", 4]), "v": (F32, [4])}))
    assert got["imp"] == got["bin"] == (F32, ("N", 4))
    assert got["svr"] == (F32, ("N", 1))
    assert got["tree"] == (F32, (1, 1))
    # a tree ensemble's number of targets is its `n_targets`: [N, 3]
    m = _model([_node("TreeEnsembleRegressor", ["x"], ["t"], domain=ML, n_targets=3)],
               {"x": (F32, ["N", 4])})  # fmt: skip
    assert _agree(m)["t"] == (F32, ("N", 3))


def test_small_integer_arithmetic_is_folded_in_numpy():
    # the values exporters compute shapes with, worked out without onnx's reference ops
    b = GraphBuilder(opset=17)
    x = b.input("x", [2, 3])
    vec = _const(b, [10, 20, 30, 40])
    rev = b.op("Slice", [vec, _const(b, [-1]), _const(b, [-100]), _const(b, [0]), _const(b, [-2])])
    rng = b.op("Range", [_const(b, 1), _const(b, 10), _const(b, 3)])
    mod = b.op("Mod", [rng, _const(b, [3])])
    tile = b.op("Tile", [rev, _const(b, [2])])
    m = b.build([b.op("Relu", [x]), mod, tile])
    shapes = _fast(m)
    assert shapes is not None
    values = shapes.values[()]
    assert values[rev].tolist() == [40, 20]  # from the last, every second, to the start
    assert values[rng].tolist() == [1, 4, 7]  # 1 to 10 by 3
    assert values[mod].tolist() == [1, 1, 1]  # 1, 4, 7 mod 3
    assert values[tile].tolist() == [40, 20, 40, 20]
    assert differences(engine.infer(m), shapes) == []


def test_infos_made_without_init_are_those_init_makes() -> None:
    # fast._info writes TensorInfo's fields itself: a field added to TensorInfo must be added there
    from onnxcost.rules.registry import TensorInfo

    made, plain = fast._info("x", 1, (2, "n")), TensorInfo("x", 1, (2, "n"))
    assert plain.type_key  # a cached property: in its dict once read
    assert made.__dict__ == plain.__dict__ and made == plain and hash(made) == hash(plain)
    assert (made.static, made.sized) == (plain.static, plain.sized) == (False, False)
