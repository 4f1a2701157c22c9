"""One small hand-built model per cause of issue 10 ("Real exports resolve"): each failed on real
third-party exports before the shape engine. Every test checks exact totals against arithmetic
written out here, the totals' status, and every node output's shape against a hand derivation."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import onnxcost
from onnxcost.cli.main import main
from onnxcost.errors import UncountedError, UsageError
from onnxcost.model import engine
from onnxcost.rules.contraction import SOFTMAX_FLOPS
from onnxcost.rules.contrib import LAYERNORM_FLOPS, RELATIVE_BUCKET_FLOPS
from onnxcost.rules.quantized import DEQUANT_FLOPS, QUANT_FLOPS

F, I64, I32, U8, I8, BOOL = (
    TensorProto.FLOAT,
    TensorProto.INT64,
    TensorProto.INT32,
    TensorProto.UINT8,
    TensorProto.INT8,
    TensorProto.BOOL,
)
MS = "com.microsoft"
ML = "ai.onnx.ml"
RNG = np.random.default_rng(0)


def vi(name: str, shape: list | None, dtype: int = F) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, dtype, shape)


def out(name: str) -> onnx.ValueInfoProto:
    return helper.make_empty_tensor_value_info(name)


def init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array), name)


def weight(name: str, shape: list[int], dtype=np.float32) -> onnx.TensorProto:
    """Random contents (so no two weights are stored alike), raw_data as exporters write."""
    return init(name, RNG.standard_normal(shape).astype(dtype))


def const(name: str, values, dtype=np.int64) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=numpy_helper.from_array(np.asarray(values, dtype=dtype))
    )


def model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    inits: list[onnx.TensorProto] = (),
    opset: int = 17,
    extra: dict[str, int] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", opset)]
    opsets += [helper.make_opsetid(d, v) for d, v in (extra or {}).items()]
    return helper.make_model(graph, opset_imports=opsets)


def shapes(report) -> dict[str, list | None]:
    """Every top-level node output's shape, by tensor name."""
    return {o: s for n in report.nodes for o, s in zip(n.outputs, n.output_shapes, strict=True)}


def assert_exact(report) -> None:
    assert report.totals.status == "exact", report.totals.status_reasons
    assert not report.unresolved and not report.uncounted


# --- 1. weight payloads dropped by the loader ---------------------------------------------------


def test_contrib_ops_with_large_weights_resolve():
    """Attention, SkipLayerNormalization and FusedMatMul whose weights are over the loader's
    1024-element payload limit (so stripped): shapes come from the weights' dims, never their
    values, and the MACs are exact."""
    b, s, d, heads, d_ff = 2, 16, 64, 4, 256
    nodes = [
        helper.make_node("Attention", ["x", "w_qkv", "b_qkv"], ["att"], domain=MS, num_heads=heads),
        helper.make_node(
            "SkipLayerNormalization", ["att", "x", "gamma", "beta"], ["ln"], domain=MS, epsilon=1e-5
        ),
        helper.make_node("FusedMatMul", ["ln", "w_ff"], ["ff"], domain=MS, alpha=1.0),
    ]
    inits = [
        weight("w_qkv", [d, 3 * d]),  # 12,288 elements
        weight("b_qkv", [3 * d]),
        weight("gamma", [d]),
        weight("beta", [d]),
        weight("w_ff", [d, d_ff]),  # 16,384 elements
    ]
    m = model(nodes, [vi("x", [b, s, d])], [out("ff")], inits, extra={MS: 1})
    r = onnxcost.analyze(m)
    assert_exact(r)
    assert shapes(r) == {"att": [b, s, d], "ln": [b, s, d], "ff": [b, s, d_ff]}
    proj = b * s * d * 3 * d  # batch * seq * d_in * (q + k + v widths)
    scores = b * heads * s * s  # batch * heads * query * key
    core = scores * (d // heads) * 2  # QK^T and PV, head_size each
    ff = b * s * d * d_ff
    assert r.totals.macs == proj + core + ff
    n = b * s * d
    attention_flops = 2 * proj + b * s * 3 * d + 2 * core + scores * (1 + SOFTMAX_FLOPS)
    assert r.totals.flops == attention_flops + (n + LAYERNORM_FLOPS * n) + 2 * ff
    assert r.totals.params == d * 3 * d + 3 * d + d + d + d * d_ff


# --- 2. value-propagation cap vs. an ordinary float bias ----------------------------------------


def test_big_float_bias_does_not_stop_shape_arithmetic():
    """A 1,536-element float bias next to a Shape -> Gather -> Concat -> Reshape chain: the
    Reshape resolves (the cap counts values actually computed, not every initializer)."""
    batch, seq, hidden, heads = 2, 8, 1536, 12
    head = hidden // heads
    nodes = [
        helper.make_node("Add", ["x", "bias"], ["xb"]),
        helper.make_node("Shape", ["xb"], ["shape"]),
        const("i0", [0]),
        const("i1", [1]),
        helper.make_node("Gather", ["shape", "i0"], ["batch"], axis=0),
        helper.make_node("Gather", ["shape", "i1"], ["seq"], axis=0),
        const("split", [heads, head]),
        helper.make_node("Concat", ["batch", "seq", "split"], ["new_shape"], axis=0),
        helper.make_node("Reshape", ["xb", "new_shape"], ["heads"]),
        helper.make_node("MatMul", ["heads", "w"], ["y"]),
    ]
    inits = [weight("bias", [hidden]), weight("w", [head, 64])]
    m = model(nodes, [vi("x", ["batch", "seq", hidden])], [out("y")], inits)
    r = onnxcost.analyze(m, dims={"batch": batch, "seq": seq})
    assert_exact(r)
    assert not [w for w in r.warnings if "value propagation" in w]
    got = shapes(r)
    assert got["new_shape"] == [4]
    assert got["heads"] == [batch, seq, heads, head]
    assert got["y"] == [batch, seq, heads, 64]
    assert r.totals.macs == batch * seq * heads * head * 64  # rows * k * n
    assert r.totals.params == hidden + head * 64


# --- 3. If branches share names -----------------------------------------------------------------


def _if_model() -> onnx.ModelProto:
    """Both branches define `t`: [2, 8] in then (2*8*8 MACs), [2, 3, 4] in else (2*8*12)."""
    then = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w_then"], ["t"])], "then", [], [out("t")]
    )
    other = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w_else"], ["u"]),
            const("s", [2, 3, 4]),
            helper.make_node("Reshape", ["u", "s"], ["t"]),
        ],
        "else",
        [],
        [out("t")],
    )
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)]
    inits = [weight("w_then", [8, 8]), weight("w_else", [8, 12])]
    return model(nodes, [vi("cond", [], BOOL), vi("x", [2, 8])], [out("y")], inits)


THEN_MACS, ELSE_MACS = 2 * 8 * 8, 2 * 8 * 12  # rows * d_in * d_out of each branch's MatMul


@pytest.mark.parametrize(
    ("cond", "macs", "shape"), [(True, THEN_MACS, [2, 8]), (False, ELSE_MACS, [2, 3, 4])]
)
def test_if_known_condition_costs_its_branch(cond, macs, shape):
    r = onnxcost.analyze(_if_model(), input_values={"cond": np.array(cond)})
    assert_exact(r)
    assert r.totals.macs == macs
    assert r.totals.flops == 2 * macs
    assert shapes(r) == {"y": shape}
    assert r.totals.params == 8 * 8 + 8 * 12  # both branches' weights are in the file


def test_if_branches_keep_their_own_t():
    m = _if_model()
    s = engine.infer(m)
    then_scope, else_scope = ((0, "then_branch"),), ((0, "else_branch"),)
    assert s.infos(then_scope)["t"].shape == (2, 8)
    assert s.infos(else_scope)["u"].shape == (2, 12)
    assert s.infos(else_scope)["t"].shape == (2, 3, 4)


def test_if_unknown_condition_is_an_estimate_naming_the_input():
    r = onnxcost.analyze(_if_model())
    assert r.totals.status == "estimate"
    assert r.totals.macs == max(THEN_MACS, ELSE_MACS)
    assert not r.unresolved and not r.uncounted
    assert any("'cond'" in why and "--input-value" in why for why in r.totals.status_reasons)


# --- 4. a declared -1 dim -----------------------------------------------------------------------


def _minus_one_model() -> onnx.ModelProto:
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[1] * 4)]
    return model(nodes, [vi("x", [-1, 3, 32, 32])], [out("y")], [weight("w", [8, 3, 3, 3])])


def test_minus_one_dim_replaced_by_input_shape():
    r = onnxcost.analyze(_minus_one_model(), input_shapes={"x": [2, 3, 32, 32]}, strict=True)
    assert_exact(r)
    assert r.warnings == []
    assert shapes(r) == {"y": [2, 8, 32, 32]}
    assert r.totals.macs == 2 * 8 * 32 * 32 * 3 * 3 * 3  # N * C_out * H * W * C_in * k * k


def test_minus_one_dim_without_input_shape_warns():
    r = onnxcost.analyze(_minus_one_model())
    assert (
        "graph input 'x' declares dim 0 as -1 (unknown): give its shape with --input-shape x=..."
        in r.warnings
    )
    assert r.totals.status == "lower_bound"
    with pytest.raises(UncountedError, match="--input-shape x="):
        onnxcost.analyze(_minus_one_model(), strict=True)


# --- 5. TorchScript's F.pad chain ---------------------------------------------------------------


def test_torchscript_pad_chain_folds():
    """F.pad(x, (1, 2, 3, 4)) as TorchScript exports it: [1, 2, 3, 4] padded with zeros to
    2 * rank, reshaped to pairs, reversed (Slice step -1), transposed, flattened, cast."""
    nodes = [
        const("torch_pads", [1, 2, 3, 4]),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Shape", ["x_shape"], ["rank"]),
        const("two", [2]),
        helper.make_node("Mul", ["rank", "two"], ["twice_rank"]),
        const("four", [4]),
        helper.make_node("Sub", ["twice_rank", "four"], ["n_zeros"]),
        helper.make_node(
            "ConstantOfShape",
            ["n_zeros"],
            ["zeros"],
            value=numpy_helper.from_array(np.zeros(1, np.int64)),
        ),
        helper.make_node("Concat", ["torch_pads", "zeros"], ["all_pads"], axis=0),
        const("pairs_shape", [-1, 2]),
        helper.make_node("Reshape", ["all_pads", "pairs_shape"], ["pairs"]),
        const("start", [-1]),
        const("end", [-(2**63) + 1]),
        const("axis0", [0]),
        const("step", [-1]),
        helper.make_node("Slice", ["pairs", "start", "end", "axis0", "step"], ["reversed"]),
        helper.make_node("Transpose", ["reversed"], ["by_side"], perm=[1, 0]),
        const("flat", [-1]),
        helper.make_node("Reshape", ["by_side", "flat"], ["onnx_pads"]),
        helper.make_node("Cast", ["onnx_pads"], ["pads"], to=I64),
        helper.make_node("Pad", ["x", "pads"], ["padded"]),
        helper.make_node("Conv", ["padded", "w"], ["y"], kernel_shape=[3, 3]),
    ]
    m = model(nodes, [vi("x", [1, 3, 8, 8])], [out("y")], [weight("w", [6, 3, 3, 3])])
    r = onnxcost.analyze(m)
    assert_exact(r)
    got = shapes(r)
    assert got["all_pads"] == [8]
    assert got["pairs"] == [4, 2]
    assert got["reversed"] == [4, 2]
    assert got["by_side"] == [2, 4]
    assert got["pads"] == [8]
    # ONNX pads [0, 0, 3, 1, 0, 0, 4, 2]: H gains 3 + 4, W gains 1 + 2
    assert got["padded"] == [1, 3, 8 + 3 + 4, 8 + 1 + 2]
    assert got["y"] == [1, 6, 13, 9]
    assert r.totals.macs == 1 * 6 * 13 * 9 * 3 * 3 * 3  # N * C_out * H * W * C_in * k * k


# --- 6. ai.onnx.ml ------------------------------------------------------------------------------


def test_scaler_linear_classifier_zipmap():
    """skl2onnx's StandardScaler + LogisticRegression (3 classes, 4 features), N rows."""
    n, feats, classes = 5, 4, 3
    nodes = [
        helper.make_node(
            "Scaler", ["X"], ["scaled"], domain=ML, offset=[0.5] * feats, scale=[2.0] * feats
        ),
        helper.make_node(
            "LinearClassifier",
            ["scaled"],
            ["label", "probabilities"],
            domain=ML,
            coefficients=list(RNG.standard_normal(classes * feats)),
            intercepts=[0.1, 0.2, 0.3],
            classlabels_ints=[0, 1, 2],
            multi_class=1,
            post_transform="SOFTMAX",
        ),
        helper.make_node(
            "ZipMap",
            ["probabilities"],
            ["output_probability"],
            domain=ML,
            classlabels_int64s=[0, 1, 2],
        ),
    ]
    m = model(
        nodes,
        [vi("X", ["N", feats])],
        [vi("label", ["N"], I64), out("output_probability")],
        opset=15,
        extra={ML: 1},
    )
    m.graph.output[1].CopyFrom(
        helper.make_value_info(
            "output_probability",
            helper.make_sequence_type_proto(
                helper.make_map_type_proto(I64, helper.make_tensor_type_proto(F, None))
            ),
        )
    )
    r = onnxcost.analyze(m, dims={"N": n})
    assert_exact(r)
    assert shapes(r) == {
        "scaled": [n, feats],
        "label": [n],
        "probabilities": [n, classes],
        "output_probability": [n, classes],  # N maps of C (label, probability) items
    }
    by = {o.name: o for o in r.outputs}
    assert by["output_probability"].dtype == "seq(map(int64,float))"
    macs = n * classes * feats  # rows * scores * features
    assert r.totals.macs == macs
    softmax = 5  # the post transform per score (rules/misc.py)
    scaler_flops = 2 * n * feats  # (x - offset) * scale
    classifier_flops = 2 * macs + n * classes * (1 + softmax + 1)  # intercept, softmax, argmax
    assert r.totals.flops == scaler_flops + classifier_flops
    # attribute weights: scaler offset + scale, coefficients + intercepts (fp32); the class
    # labels name the outputs and are not parameters
    params = feats + feats + classes * feats + classes
    assert r.totals.params == params
    assert [(p.dtype, p.params, p.bytes) for p in r.params_by_dtype] == [
        ("float32", params, 4 * params)
    ]
    scaler, classifier, _ = r.nodes
    assert (scaler.params, classifier.params) == (2 * feats, classes * feats + classes)


def test_tree_ensemble_classifier_and_linear_regressor():
    """A one-stump TreeEnsembleClassifier (classlabels_int64s) and a LinearRegressor, on the
    same 4-feature input."""
    n, feats = 5, 4
    tree = helper.make_node(
        "TreeEnsembleClassifier",
        ["X"],
        ["label", "probabilities"],
        domain=ML,
        classlabels_int64s=[0, 1],
        nodes_treeids=[0, 0, 0],
        nodes_nodeids=[0, 1, 2],
        nodes_featureids=[2, 0, 0],
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"],
        nodes_values=[0.5, 0.0, 0.0],
        nodes_truenodeids=[1, 0, 0],
        nodes_falsenodeids=[2, 0, 0],
        class_treeids=[0, 0],
        class_nodeids=[1, 2],
        class_ids=[0, 0],
        class_weights=[0.25, 0.75],
    )
    reg = helper.make_node(
        "LinearRegressor", ["X"], ["variable"], domain=ML,
        coefficients=[1.0, 2.0, 3.0, 4.0], intercepts=[0.5], targets=1,
    )  # fmt: skip
    m = model(
        [tree, reg],
        [vi("X", ["N", feats])],
        [out("label"), out("probabilities"), out("variable")],
        opset=15,
        extra={ML: 1},
    )
    r = onnxcost.analyze(m, dims={"N": n})
    assert_exact(r)
    assert shapes(r) == {"label": [n], "probabilities": [n, 2], "variable": [n, 1]}
    assert {o.name: o.dtype for o in r.outputs}["label"] == "int64"
    assert r.totals.macs == n * 1 * feats  # the regressor: rows * targets * features
    # tree, per row: 1 compare (depth 1) + 1 leaf-weight add (2 weights over 2 leaves);
    # regressor: 2 per MAC + an intercept add per output
    assert r.totals.flops == n * (1 + 1) + 2 * n * feats + n * 1
    # tree: thresholds and class weights fp32 (3 + 2); node, tree, feature, child, class ids
    # int64 (3 * 5 + 2 * 3); the modes are strings (not counted), the labels name outputs
    tree_fp32, tree_int64 = 3 + 2, 3 * 5 + 2 * 3
    reg_fp32 = feats + 1
    assert r.totals.params == tree_fp32 + tree_int64 + reg_fp32
    assert r.totals.weight_bytes == 4 * (tree_fp32 + reg_fp32) + 8 * tree_int64
    by = {p.dtype: p.params for p in r.params_by_dtype}
    assert by == {"float32": tree_fp32 + reg_fp32, "int64": tree_int64}


# --- 7. quantized contrib ops -------------------------------------------------------------------


def _scalar_init(name: str, value, dtype) -> onnx.TensorProto:
    return init(name, np.array(value, dtype=dtype))


def test_qembed_layer_norm_and_qattention():
    """A dynamic-quantized BERT's first layer: QEmbedLayerNormalization, DynamicQuantizeLinear
    of its output, QAttention on the uint8 input with int8 weights."""
    b, s, h, vocab, heads = 2, 8, 32, 100, 4
    emb_ins = [
        "input_ids", "segment_ids", "word_q", "pos_q", "seg_q", "gamma_q", "beta_q", "mask",
        "word_s", "pos_s", "seg_s", "gamma_s", "beta_s",
        "word_zp", "pos_zp", "seg_zp", "gamma_zp", "beta_zp",
    ]  # fmt: skip
    nodes = [
        helper.make_node("QEmbedLayerNormalization", emb_ins, ["emb", "mask_index"], domain=MS),
        helper.make_node("DynamicQuantizeLinear", ["emb"], ["emb_q", "emb_s", "emb_zp"]),
        helper.make_node(
            "QAttention",
            ["emb_q", "w_qkv", "b_qkv", "emb_s", "w_s", "mask_index", "emb_zp", "w_zp"],
            ["att"],
            domain=MS,
            num_heads=heads,
        ),
    ]
    inits = [
        init("word_q", RNG.integers(0, 255, (vocab, h), dtype=np.uint8)),
        init("pos_q", RNG.integers(0, 255, (64, h), dtype=np.uint8)),
        init("seg_q", RNG.integers(0, 255, (2, h), dtype=np.uint8)),
        init("gamma_q", RNG.integers(0, 255, (h,), dtype=np.uint8)),
        init("beta_q", RNG.integers(0, 255, (h,), dtype=np.uint8)),
        init("w_qkv", RNG.integers(-127, 127, (h, 3 * h), dtype=np.int8)),
        weight("b_qkv", [3 * h]),
        _scalar_init("w_s", 0.01, np.float32),
        _scalar_init("w_zp", 0, np.int8),
    ]
    for name in ("word", "pos", "seg", "gamma", "beta"):
        inits += [_scalar_init(f"{name}_s", 0.02, np.float32), _scalar_init(f"{name}_zp", 128, np.uint8)]  # fmt: skip
    ins = [vi("input_ids", [b, s], I32), vi("segment_ids", [b, s], I32), vi("mask", [b, s], I32)]
    m = model(nodes, ins, [out("att")], inits, extra={MS: 1})
    r = onnxcost.analyze(m)
    assert_exact(r)
    assert shapes(r) == {
        "emb": [b, s, h],
        "mask_index": [b],
        "emb_q": [b, s, h],
        "emb_s": [],
        "emb_zp": [],
        "att": [b, s, h],
    }
    by = {n.op_type: n for n in r.nodes}
    n = b * s * h
    tables = 3  # word, position, segment rows gathered, each dequantized
    assert by["QEmbedLayerNormalization"].flops == (
        n * (tables - 1) + LAYERNORM_FLOPS * n + b * s + DEQUANT_FLOPS * (tables * n + 2 * h)
    )  # 2 adds, LayerNorm, mask -> mask_index, dequantize the rows and gamma, beta
    proj = b * s * h * 3 * h
    scores = b * heads * s * s
    core = 2 * scores * (h // heads)
    assert by["QAttention"].macs == proj + core
    assert by["QAttention"].flops == (
        2 * proj + b * s * 3 * h + b * s * 3 * h + 2 * core + scores * (1 + SOFTMAX_FLOPS + 1)
    )  # MACs, bias, int32 -> float rescale, scale + softmax + mask add per score
    assert r.totals.macs == proj + core


def test_qlinear_global_average_pool():
    n, c, hw = 2, 16, 7
    q = ["x_s", "x_zp", "y_s", "y_zp"]
    nodes = [
        helper.make_node("QLinearGlobalAveragePool", ["x", *q], ["y"], domain=MS, channels_last=0)
    ]
    inits = [_scalar_init("x_s", 0.1, np.float32), _scalar_init("x_zp", 0, np.uint8)]
    inits += [_scalar_init("y_s", 0.1, np.float32), _scalar_init("y_zp", 0, np.uint8)]
    m = model(nodes, [vi("x", [n, c, hw, hw], U8)], [out("y")], inits, extra={MS: 1})
    r = onnxcost.analyze(m)
    assert_exact(r)
    assert shapes(r) == {"y": [n, c, 1, 1]}
    elems = n * c * hw * hw
    # dequantize and sum every element, one divide and one quantize per output
    assert r.totals.flops == DEQUANT_FLOPS * elems + elems + n * c + QUANT_FLOPS * n * c


def test_dynamic_quantize_lstm_costs_as_lstm():
    seq, batch, isize, hidden = 6, 2, 10, 16
    lstm_ins = ["x", "w", "r", "b"]
    qin = ["x", "wq", "rq", "b", "", "", "", "", "w_s", "w_zp", "r_s", "r_zp"]
    q = model(
        [
            helper.make_node(
                "DynamicQuantizeLSTM", qin, ["y", "y_h", "y_c"], domain=MS, hidden_size=hidden
            )
        ],
        [vi("x", [seq, batch, isize])],
        [out("y"), out("y_h"), out("y_c")],
        [
            init("wq", RNG.integers(-127, 127, (1, isize, 4 * hidden), dtype=np.int8)),
            init("rq", RNG.integers(-127, 127, (1, hidden, 4 * hidden), dtype=np.int8)),
            weight("b", [1, 8 * hidden]),
            init("w_s", np.array([0.01], np.float32)),
            init("w_zp", np.array([0], np.int8)),
            init("r_s", np.array([0.01], np.float32)),
            init("r_zp", np.array([0], np.int8)),
        ],
        extra={MS: 1},
    )
    plain = model(
        [helper.make_node("LSTM", lstm_ins, ["y", "y_h", "y_c"], hidden_size=hidden)],
        [vi("x", [seq, batch, isize])],
        [out("y"), out("y_h"), out("y_c")],
        [
            weight("w", [1, 4 * hidden, isize]),
            weight("r", [1, 4 * hidden, hidden]),
            weight("b", [1, 8 * hidden]),
        ],
    )
    r, ref = onnxcost.analyze(q), onnxcost.analyze(plain)
    assert_exact(r)
    want = {"y": [seq, 1, batch, hidden], "y_h": [1, batch, hidden], "y_c": [1, batch, hidden]}
    assert shapes(r) == shapes(ref) == want
    # directions * steps * rows * gates * hidden * (input + hidden)
    assert r.totals.macs == 1 * seq * batch * 4 * hidden * (isize + hidden)
    assert (r.totals.macs, r.totals.flops) == (ref.totals.macs, ref.totals.flops)
    assert r.nodes[0].compute_dtype == "int8"


def test_relative_position_bias_lengths_from_shapes():
    """T5's bias: query and key lengths come from Shape -> Gather of the hidden states."""
    b, s, buckets, heads = 2, 12, 32, 8
    nodes = [
        helper.make_node("Shape", ["hidden"], ["shape"]),
        const("one", 1),
        helper.make_node("Gather", ["shape", "one"], ["seq"], axis=0),
        helper.make_node(
            "RelativePositionBias",
            ["table", "seq", "seq"],
            ["bias"],
            domain=MS,
            max_distance=128,
            is_bidirectional=1,
        ),
    ]
    m = model(
        nodes, [vi("hidden", [b, s, 64])], [out("bias")], [weight("table", [buckets, heads])],
        extra={MS: 1},
    )  # fmt: skip
    r = onnxcost.analyze(m)
    assert_exact(r)
    assert shapes(r) == {"shape": [3], "one": [], "seq": [], "bias": [1, heads, s, s]}
    assert r.totals.flops == RELATIVE_BUCKET_FLOPS * s * s  # per (query, key) pair
    assert RELATIVE_BUCKET_FLOPS == 8


# --- 8. unk__N dims declared inside subgraphs ---------------------------------------------------


def test_unk_dims_in_loop_body_are_not_user_dims():
    """tf2onnx/spox declare a Loop body's tensors with placeholder dims (`unk__3`): the body's
    shapes come from what the Loop hands it, and no placeholder is an unbound dim."""
    trips, rows, d = 3, 2, 8
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("MatMul", ["x_in", "w"], ["x_out"]),
            helper.make_node("Relu", ["x_out"], ["scan_out"]),
        ],
        "body",
        [vi("i", [], I64), vi("cond_in", [], BOOL), vi("x_in", ["unk__3", "unk__4"])],
        [
            vi("cond_out", [], BOOL),
            vi("x_out", ["unk__5", d]),
            vi("scan_out", ["unk__6", "unk__7"]),
        ],
    )
    nodes = [
        const("trips", trips),
        helper.make_node("Constant", [], ["cond"], value=helper.make_tensor("c", BOOL, [], [True])),
        helper.make_node("Loop", ["trips", "cond", "x"], ["x_final", "stacked"], body=body),
    ]
    outputs = [vi("x_final", ["unk__8", d]), vi("stacked", ["unk__9", "unk__10", "unk__11"])]
    m = model(nodes, [vi("x", [rows, d])], outputs, [weight("w", [d, d])])
    r = onnxcost.analyze(m, strict=True)
    assert_exact(r)
    assert r.warnings == [] and r.dims == {}
    assert shapes(r) == {
        "trips": [],
        "cond": [],
        "x_final": [rows, d],
        "stacked": [trips, rows, d],  # one scan output per iteration
    }
    body_scope = ((2, "body"),)
    inner = engine.infer(m).infos(body_scope)
    assert {k: inner[k].shape for k in ("x_in", "x_out", "scan_out")} == {
        "x_in": (rows, d),
        "x_out": (rows, d),
        "scan_out": (rows, d),
    }
    assert r.totals.macs == trips * rows * d * d  # trip count * the body's MatMul
    assert r.totals.flops == trips * (2 * rows * d * d + rows * d)  # + the Relu


# --- 9. dims named by expressions ---------------------------------------------------------------


def _optimum_decoder() -> onnx.ModelProto:
    """optimum's naming: a mask over `past_sequence_length + sequence_length`, a present key of
    that length, and an output over `encoder_sequence_length / 2`."""
    total = "past_sequence_length + sequence_length"
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["h"]),
        helper.make_node("MatMul", ["h", "wq"], ["q2"]),
        helper.make_node("MatMul", ["h", "wk"], ["k2"]),
        const("split", [0, 0, 4, 16]),
        helper.make_node("Reshape", ["q2", "split"], ["q3"]),
        helper.make_node("Reshape", ["k2", "split"], ["k3"]),
        helper.make_node("Transpose", ["q3"], ["q"], perm=[0, 2, 1, 3]),
        helper.make_node("Transpose", ["k3"], ["k"], perm=[0, 2, 1, 3]),
        helper.make_node("Concat", ["past_key", "k"], ["present_key"], axis=2),
        helper.make_node("Transpose", ["present_key"], ["kt"], perm=[0, 1, 3, 2]),
        helper.make_node("MatMul", ["q", "kt"], ["scores"]),
        const("axes", [1, 2]),
        helper.make_node("Unsqueeze", ["attention_mask", "axes"], ["mask4"]),
        helper.make_node("Add", ["scores", "mask4"], ["logits"]),
        const("s0", [0]),
        const("s1", [2**62]),
        const("ax", [1]),
        const("st", [2]),
        helper.make_node("Slice", ["encoder_hidden", "s0", "s1", "ax", "st"], ["enc_half"]),
    ]
    inputs = [
        vi("input_ids", ["batch", "sequence_length"], I64),
        vi("attention_mask", ["batch", total]),
        vi("past_key", ["batch", 4, "past_sequence_length", 16]),
        vi("encoder_hidden", ["batch", "encoder_sequence_length", 32]),
    ]
    outputs = [
        vi("logits", ["batch", 4, "sequence_length", total]),
        vi("present_key", ["batch", 4, total, 16]),
        vi("enc_half", ["batch", "encoder_sequence_length / 2", 32]),
    ]
    inits = [weight("emb", [100, 64]), weight("wq", [64, 64]), weight("wk", [64, 64])]
    return model(nodes, inputs, outputs, inits)


DECODER_DIMS = {"batch": 2, "past_sequence_length": 6, "sequence_length": 3}


def test_expression_dims_resolve_from_their_parts():
    b, past, s, enc = 2, 6, 3, 10
    dims = {**DECODER_DIMS, "encoder_sequence_length": enc}
    r = onnxcost.analyze(_optimum_decoder(), dims=dims, strict=True)  # --strict passes
    assert_exact(r)
    assert r.warnings == []
    assert r.dims == dims
    got = shapes(r)
    assert {i.name: i.shape for i in r.inputs}["attention_mask"] == [b, past + s]
    assert got["present_key"] == [b, 4, past + s, 16]
    assert got["scores"] == got["logits"] == [b, 4, s, past + s]
    assert got["mask4"] == [b, 1, 1, past + s]
    assert got["enc_half"] == [b, enc // 2, 32]
    proj = 2 * b * s * 64 * 64  # q and k: batch * seq * d_in * d_out each
    assert r.totals.macs == proj + b * 4 * s * (past + s) * 16  # + QK^T


def test_expression_dims_unbound_part_is_named():
    r = onnxcost.analyze(_optimum_decoder(), dims={"batch": 2, "sequence_length": 3})
    unbound = next(w for w in r.warnings if w.startswith("unbound dims"))
    assert "past_sequence_length" in unbound and "encoder_sequence_length" in unbound
    assert "+" not in unbound and "/" not in unbound  # the atoms, not the expressions


# --- 10. Range with limits computed from shapes -------------------------------------------------


def test_range_from_shape_feeds_gather_and_expand():
    batch, seq, d = 2, 5, 8
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        const("i0", 0),
        const("i1", 1),
        helper.make_node("Gather", ["shape", "i0"], ["n"], axis=0),
        helper.make_node("Gather", ["shape", "i1"], ["s"], axis=0),
        const("zero", 0),
        const("one", 1),
        helper.make_node("Range", ["zero", "s", "one"], ["positions"]),
        const("ax0", [0]),
        helper.make_node("Unsqueeze", ["positions", "ax0"], ["row"]),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Unsqueeze", ["s", "ax0"], ["s1"]),
        helper.make_node("Concat", ["n1", "s1"], ["bs"], axis=0),
        helper.make_node("Expand", ["row", "bs"], ["ids"]),
        helper.make_node("Gather", ["pos_emb", "ids"], ["pos"]),
        helper.make_node("Add", ["x", "pos"], ["xp"]),
        helper.make_node("MatMul", ["xp", "w"], ["y"]),
    ]
    inits = [weight("pos_emb", [32, d]), weight("w", [d, 16])]
    m = model(nodes, [vi("x", ["batch", "seq", d])], [out("y")], inits)
    r = onnxcost.analyze(m, dims={"batch": batch, "seq": seq}, strict=True)
    assert_exact(r)
    got = shapes(r)
    assert got["positions"] == [seq]
    assert got["row"] == [1, seq]
    assert got["bs"] == [2]
    assert got["ids"] == [batch, seq]
    assert got["pos"] == got["xp"] == [batch, seq, d]
    assert got["y"] == [batch, seq, 16]
    assert r.totals.macs == batch * seq * d * 16  # rows * d_in * d_out
    assert r.totals.flops == 2 * batch * seq * d * 16 + seq + batch * seq * d  # + Range, Add


# --- also: duplicates, --dim the model lacks, --input-value -------------------------------------


def test_identical_initializers_are_one_duplicate_both_counted():
    """optimum writes a tied embedding twice: one `duplicates` entry names both copies, and the
    parameters stay those of the file (both copies)."""
    table = RNG.standard_normal((64, 64)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w_in"], ["h"]),
        helper.make_node("MatMul", ["h", "w_out"], ["y"]),
    ]
    inits = [init("w_in", table), init("w_out", table.copy())]  # raw_data, same bytes
    m = model(nodes, [vi("x", [2, 64])], [out("y")], inits)
    r = onnxcost.analyze(m)
    assert_exact(r)
    assert [(d.tensors, d.params, d.dtype) for d in r.duplicates] == [
        (["w_in", "w_out"], 64 * 64, "float32")
    ]
    assert r.totals.params == 2 * 64 * 64
    assert r.totals.macs == 2 * (2 * 64 * 64)  # two MatMuls of rows * d_in * d_out
    from onnxcost.report.render import render

    text = render(r)  # people see them too
    assert "- w_in, w_out: 4.10 k float32 parameters each" in text  # 64 * 64 = 4,096


@pytest.fixture
def if_file(tmp_path):
    path = tmp_path / "if.onnx"
    onnx.save(_if_model(), path)
    return str(path)


def test_cli_dim_the_model_lacks_is_a_warning_unless_strict(if_file):
    runner = CliRunner()
    ok = runner.invoke(main, ["analyze", if_file, "--dim", "seq=8", "--input-value", "cond=1"])
    assert ok.exit_code == 0, ok.output
    assert "--dim seq: the model has no dim named 'seq'" in ok.output
    strict = runner.invoke(
        main, ["analyze", if_file, "--dim", "seq=8", "--input-value", "cond=1", "--strict"]
    )
    assert strict.exit_code == 2
    assert "--dim seq: the model has no dim named 'seq'" in strict.output


@pytest.mark.parametrize(
    ("value", "macs", "status"),
    [("true", THEN_MACS, "exact"), ("false", ELSE_MACS, "exact"), (None, ELSE_MACS, "estimate")],
)
def test_cli_input_value_picks_the_if_branch(if_file, value, macs, status):
    args = ["analyze", if_file, "--format", "json"]
    args += ["--input-value", f"cond={value}"] if value else []
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    totals = json.loads(res.output)["totals"]
    assert (totals["macs"], totals["status"]) == (macs, status)


def test_cli_input_value_on_check_and_diff(if_file):
    runner = CliRunner()
    over = runner.invoke(main, ["check", if_file, "--max-macs", "150", "--input-value", "cond=false"])  # fmt: skip
    within = runner.invoke(main, ["check", if_file, "--max-macs", "150", "--input-value", "cond=true"])  # fmt: skip
    assert (over.exit_code, within.exit_code) == (1, 0), over.output + within.output
    diff = runner.invoke(main, ["diff", if_file, if_file, "--input-value", "cond=true", "--format", "json"])  # fmt: skip
    assert diff.exit_code == 0, diff.output
    bad = runner.invoke(main, ["analyze", if_file, "--input-value", "nope=1"])
    assert bad.exit_code == 2 and "'nope' is not a graph input" in bad.output
    help_text = runner.invoke(main, ["analyze", "--help"]).output
    assert "--input-value NAME=VALUE" in help_text


def test_parse_input_values():
    from onnxcost.cli.options import parse_input_values

    got = parse_input_values(["a=true", "b=3", "c=1,2,3", "d=0.5"])
    assert got["a"].dtype == np.bool_ and got["a"].shape == () and bool(got["a"])
    assert got["b"].dtype == np.int64 and int(got["b"]) == 3
    assert got["c"].tolist() == [1, 2, 3]
    assert float(got["d"]) == 0.5
    with pytest.raises(UsageError, match="not a number"):
        parse_input_values(["a=maybe"])
