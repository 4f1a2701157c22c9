"""Einsum, attention and the other arithmetic ops of rules/contraction.py (hand counts)."""

from __future__ import annotations

import pytest
from onnx import TensorProto, helper

from onnxcost.analysis.analyzer import analyze
from onnxcost.rules.contraction import einsum_cost
from onnxcost.rules.registry import Cost, Unresolved
from tests.ruletools import ctx, run

# --- Einsum -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("equation", "shapes", "macs", "flops"),
    [
        # matmul: per output element the contracted j
        ("ij,jk->ik", [(2, 3), (3, 4)], 2 * 3 * 4, 2 * 24),
        # implicit output (ik), spaces ignored
        ("ij, jk", [(2, 3), (3, 4)], 24, 48),
        # ellipsis batch dims broadcast: [2,1] with [5] -> [2,5]
        ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 6)], 2 * 5 * 3 * 4 * 6, 2 * 720),
        # dot product, implicit scalar output
        ("i,i", [(7,), (7,)], 7, 14),
        # Hadamard and outer products sum nothing: one multiply per point, no MACs
        ("ij,ij->ij", [(3, 4), (3, 4)], 0, 12),
        ("i,j->ij", [(3,), (4,)], 0, 12),
        # transpose and diagonal are free
        ("ij->ji", [(3, 4)], 0, 0),
        ("ii->i", [(5, 5)], 0, 0),
        # trace: the diagonal's 5 values summed (4 adds); row sums: 3 rows of 4 (3 * 3 adds)
        ("ii", [(5, 5)], 0, 5 - 1),
        ("ij->i", [(3, 4)], 0, 12 - 3),
        # three operands, left to right: (ij,jk->ik) then (ik,kl->il)
        ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)], 2 * 3 * 4 + 2 * 4 * 5, 2 * 64),
        # bilinear: n contracted first (m kept for the third operand), then m
        ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)], 2 * 3 * 4 * 5 + 2 * 4 * 5, 2 * 160),
        # k used by the second operand alone is summed first (12 - 3 adds), then ij,j->i
        ("ij,jk->i", [(2, 3), (3, 4)], 2 * 3, 2 * 6 + (12 - 3)),
        # attention scores
        ("bhqd,bhkd->bhqk", [(1, 2, 3, 8), (1, 2, 5, 8)], 1 * 2 * 3 * 5 * 8, 2 * 240),
    ],
)
def test_einsum(equation: str, shapes: list[tuple[int, ...]], macs: int, flops: int) -> None:
    cost = einsum_cost(equation, shapes)
    assert (cost.macs, cost.flops) == (macs, flops)


def test_einsum_rule_reads_the_equation() -> None:
    c = ctx("Einsum", inputs=[(2, 3), (3, 4)], outputs=[(2, 4)], attrs={"equation": b"ij,jk->ik"})
    assert run(c).macs == 24
    with pytest.raises(Unresolved):
        run(ctx("Einsum", inputs=[("n", 3), (3, 4)], attrs={"equation": "ij,jk->ik"}))


# --- Attention family ---------------------------------------------------------------------------


def test_attention_4d_mha() -> None:
    q = (2, 8, 16, 64)  # B, heads, seq, head size
    cost = run(ctx("Attention", inputs=[q, q, q], outputs=[q], opset=23))
    scores = 2 * 8 * 16 * 16
    macs = scores * 64 + scores * 64  # Q K^T and P V
    assert cost.macs == macs == 524288
    assert cost.flops == 2 * macs + scores * (1 + 5)  # scale, softmax


def test_attention_3d_gqa_with_past_and_causal() -> None:
    # decode step: 32 query heads, 8 kv heads, head 64, 512 cached positions + 1 new
    cost = run(
        ctx(
            "Attention",
            inputs=[(1, 1, 32 * 64), (1, 1, 8 * 64), (1, 1, 8 * 64), None, (1, 8, 512, 64)],
            outputs=[(1, 1, 2048)],
            attrs={"q_num_heads": 32, "kv_num_heads": 8, "is_causal": 1},
            opset=23,
        )
    )
    scores = 1 * 32 * 1 * (512 + 1)
    macs = scores * 64 * 2
    assert cost.macs == macs == 2101248
    assert cost.flops == 2 * macs + scores * (1 + 1 + 5)  # scale, causal bias, softmax


def test_attention_value_head_size_and_softcap() -> None:
    cost = run(
        ctx(
            "Attention",
            inputs=[(1, 2, 4, 8), (1, 2, 6, 8), (1, 2, 6, 16), (4, 6)],
            outputs=[(1, 2, 4, 16)],
            attrs={"softcap": 30.0},
            opset=24,
        )
    )
    scores = 1 * 2 * 4 * 6
    macs = scores * 8 + scores * 16
    assert cost.macs == macs
    assert cost.flops == 2 * macs + scores * (1 + 1 + 3 + 5)  # scale, mask, softcap, softmax


def test_linear_attention_update_rules() -> None:
    # B=1, T=4, 4 query heads, 2 kv heads, dk=8, dv=16: state 8 x 16 = 128
    shapes = [(1, 4, 4 * 8), (1, 4, 2 * 8), (1, 4, 2 * 16)]
    attrs = {"q_num_heads": 4, "kv_num_heads": 2}
    cost = run(ctx("LinearAttention", inputs=shapes, attrs={**attrs, "update_rule": "linear"}))
    macs = 4 * (2 * 128 + 4 * 128)  # per token: kv outer products, query reads of the state
    assert cost.macs == macs
    assert cost.flops == 2 * macs + 4 * (4 * 16)  # output scale

    # gated_delta with a per-head decay [B, T, H_kv]
    cost = run(ctx("LinearAttention", inputs=[*shapes, None, (1, 4, 2), (1, 4, 2)], attrs=attrs))
    macs = 4 * (2 * (128 + 128) + 4 * 128)  # + S^T k per kv head
    flops_kv = 128 + 1 + 2 * 16  # decay multiply, one exp, v - . and beta * .
    assert cost.macs == macs
    assert cost.flops == 2 * macs + 4 * (2 * flops_kv + 4 * 16)


def test_rotary_embedding_full_and_partial() -> None:
    cost = run(ctx("RotaryEmbedding", inputs=[(1, 4, 10, 64), (10, 32), (10, 32)], opset=23))
    assert cost.flops == 3 * (1 * 4 * 10 * 64)  # 2 mul + 1 add per rotated value
    # 3D input, 4 heads of 64, rotating the first 32 of each head
    cost = run(
        ctx(
            "RotaryEmbedding",
            inputs=[(1, 10, 256), (10, 16), (10, 16)],
            attrs={"num_heads": 4, "rotary_embedding_dim": 32},
            opset=23,
        )
    )
    assert cost.flops == 3 * (10 * 4 * 32)


# --- Per-element math ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "shape", "attrs", "flops"),
    [
        ("RMSNormalization", (2, 10, 64), {}, 4 * 1280),  # square, sum, normalise, scale
        ("MeanVarianceNormalization", (1, 3, 4, 4), {}, 5 * 48),
        ("LpNormalization", (2, 5), {"p": 1}, 3 * 10),
        ("LRN", (1, 4, 2, 2), {"size": 5}, 16 * (2 * 5 + 4)),
        ("Hardmax", (3, 4), {}, 12),
        ("Shrink", (10,), {}, 2 * 10),
        ("Swish", (10,), {}, (1 + 4 + 1) * 10),  # alpha mul, sigmoid, mul
        ("SwiGLU", (10,), {}, (6 + 1) * 10),
        ("CumSum", (3, 4), {}, 12),
        ("CumProd", (3, 4), {}, 12),
    ],
)
def test_per_element_rules(op: str, shape: tuple[int, ...], attrs: dict, flops: int) -> None:
    inputs = [shape, shape] if op == "SwiGLU" else [shape]
    cost = run(ctx(op, inputs=inputs, outputs=[shape], attrs=attrs, opset=28))
    assert (cost.macs, cost.flops) == (0, flops)


def test_det_topk_nms() -> None:
    assert run(ctx("Det", inputs=[(5, 3, 3)], outputs=[(5,)])).macs == 5 * 3**3 // 3
    # top 5 of 100 per row: 100 * ceil(log2 5) compares per row
    c = ctx("TopK", inputs=[(2, 100), (1,)], outputs=[(2, 5), (2, 5)], values={1: [5]})
    assert run(c).flops == 2 * 100 * 3
    # 10 boxes, 2 classes: sort 10 * ceil(log2 10) + 13 FLOPs per IoU of the 45 pairs
    c = ctx("NonMaxSuppression", inputs=[(1, 10, 4), (1, 2, 10)], outputs=[("n", 3)])
    assert run(c).flops == 2 * (10 * 4 + 13 * 45)


# --- Sampling and interpolation -----------------------------------------------------------------


def test_resize_modes() -> None:
    x, y = (1, 3, 8, 8), (1, 3, 16, 16)
    out = 1 * 3 * 16 * 16
    # two axes resized: linear 2*2 taps, cubic 4*4 taps; 2 FLOPs per tap less one add
    for mode, taps in (("linear", 4), ("cubic", 16)):
        cost = run(ctx("Resize", inputs=[x, None, (4,)], outputs=[y], attrs={"mode": mode}))
        assert cost.flops == out * (2 * taps - 1)
    assert run(ctx("Resize", inputs=[x], outputs=[y], attrs={"mode": "nearest"})).flops == 0
    # antialiased 2x downscale: the linear filter spans ceil(2 * 8 / 4) = 4 inputs per axis
    cost = run(
        ctx(
            "Resize",
            inputs=[(1, 1, 8, 8)],
            outputs=[(1, 1, 4, 4)],
            attrs={"mode": "linear", "antialias": 1},
            opset=18,
        )
    )
    assert cost.flops == 16 * (2 * 16 - 1)
    # Upsample (deprecated, opset 7-9) uses the same rule
    c = ctx("Upsample", inputs=[x], outputs=[y], attrs={"mode": "linear"}, opset=7)
    assert run(c).flops == out * 7


def test_grid_sample_roi_align_affine_grid() -> None:
    # bilinear (opset 16 name) on 2D: 4 taps (7 FLOPs) per output value + 2 per coordinate
    c = ctx("GridSample", inputs=[(1, 3, 8, 8), (1, 4, 4, 2)], outputs=[(1, 3, 4, 4)], opset=16)
    assert run(c).flops == 48 * 7 + 2 * 2 * 16
    # RoiAlign: 2x2 samples per bin, 8 FLOPs each, + 1 divide
    c = ctx(
        "RoiAlign",
        inputs=[(1, 3, 8, 8), (5, 4), (5,)],
        outputs=[(5, 3, 2, 2)],
        attrs={"sampling_ratio": 2},
    )
    assert run(c).flops == 60 * (8 * 4 + 1)
    c = ctx("RoiAlign", inputs=[(1, 3, 8, 8), (5, 4), (5,)], outputs=[(5, 3, 2, 2)])
    cost = run(c)
    assert cost.flops == 60 * 33 and cost.notes  # adaptive ratio counted as 2, and said so
    # AffineGrid 2D: each of the 2 coordinates of 2*4*5 points is a 3-term dot product
    c = ctx(
        "AffineGrid", inputs=[(2, 2, 3), (4,)], outputs=[(2, 4, 5, 2)], values={1: [2, 1, 4, 5]}
    )
    assert run(c).macs == 2 * 4 * 5 * 2 * 3
    # MaxRoiPool: whole-map bins of ceil(8/2) * ceil(8/2) compares
    c = ctx(
        "MaxRoiPool",
        inputs=[(1, 1, 8, 8), (3, 5)],
        outputs=[(3, 1, 2, 2)],
        attrs={"pooled_shape": [2, 2]},
    )
    assert run(c).flops == 12 * 16


def test_conv_like_ops() -> None:
    # DeformConv: X [1,4,5,5], W [6,2,3,3], group 2, out [1,6,3,3], with mask
    c = ctx(
        "DeformConv",
        inputs=[(1, 4, 5, 5), (6, 2, 3, 3), (1, 18, 3, 3), None, (1, 9, 3, 3)],
        outputs=[(1, 6, 3, 3)],
        attrs={"group": 2},
    )
    cost = run(c)
    macs = 1 * 6 * 9 * 2 * 9  # N * oC * prod(o) * C/g * prod(k)
    samples = 1 * 4 * 9 * 9  # N * C * prod(o) * prod(k)
    assert cost.macs == macs
    assert cost.flops == 2 * macs + samples * (7 + 1)
    # CausalConvWithState: depthwise k=4 over [2, 8, 10], SiLU 5 FLOPs per output
    c = ctx(
        "CausalConvWithState",
        inputs=[(2, 8, 10), (8, 1, 4)],
        outputs=[(2, 8, 10), (2, 8, 3)],
        attrs={"activation": "silu"},
        opset=27,
    )
    cost = run(c)
    assert cost.macs == 160 * 4
    assert cost.flops == 2 * 640 + 5 * 160
    # Col2Im: one add per column value
    c = ctx("Col2Im", inputs=[(1, 12, 9), (2,), (2,)], outputs=[(1, 3, 4, 4)])
    assert run(c).flops == 108


def test_signal_ops() -> None:
    # real DFT of length 8 along axis 1 (opset 17 attribute): 5 n log2 n / 2
    c = ctx("DFT", inputs=[(1, 8, 1)], outputs=[(1, 8, 2)], opset=17)
    assert run(c).flops == 5 * 8 * 3 // 2
    # complex, opset 20 default axis -2: two transforms of length 16
    c = ctx("DFT", inputs=[(2, 16, 2)], outputs=[(2, 16, 2)], opset=20)
    assert run(c).flops == 2 * 5 * 16 * 4
    # dft_length input overrides the axis size
    c = ctx("DFT", inputs=[(1, 8, 2), ()], outputs=[(1, 4, 2)], values={1: 4}, opset=20)
    assert run(c).flops == 5 * 4 * 2
    # STFT: 7 frames of length 16: window multiply + real FFT each
    c = ctx(
        "STFT",
        inputs=[(1, 64, 1), (), (16,), ()],
        outputs=[(1, 7, 9, 2)],
        values={1: 8, 3: 16},
    )
    assert run(c).flops == 7 * (16 + 5 * 16 * 4 // 2)
    assert run(ctx("HannWindow", inputs=[()], outputs=[(10,)])).flops == 5 * 10
    assert run(ctx("BlackmanWindow", inputs=[()], outputs=[("n",)], values={0: 10})).flops == 90
    assert run(ctx("MelWeightMatrix", inputs=[(), (), (), (), ()], outputs=[(5, 3)])).flops == 60


def test_losses() -> None:
    # NLL mean over 4 targets: negate each (4), sum (4), divide (1)
    c = ctx("NegativeLogLikelihoodLoss", inputs=[(4, 10), (4,)], outputs=[()])
    assert run(c).flops == 4 + 4 + 1
    # with weights and no reduction: negate and weight each target
    c = ctx(
        "NegativeLogLikelihoodLoss",
        inputs=[(4, 10), (4,), (10,)],
        outputs=[(4,)],
        attrs={"reduction": "none"},
    )
    assert run(c).flops == 2 * 4
    # SoftmaxCrossEntropyLoss: LogSoftmax (5 per score) + the NLL part
    c = ctx("SoftmaxCrossEntropyLoss", inputs=[(4, 10), (4,)], outputs=[()])
    assert run(c).flops == 5 * 40 + 4 + 4 + 1


def test_no_arithmetic_math_neighbours() -> None:
    for op in ("MaxUnpool", "CenterCropPad", "Trilu"):
        cost = run(ctx(op, inputs=[(1, 2, 4, 4)], outputs=[(1, 2, 8, 8)]))
        assert (cost.macs, cost.flops) == (0, 0)


def test_flex_attention_adds_its_modifier_subgraphs() -> None:
    q = (1, 4, 8, 16)
    mod = Cost(flops=1 * 4 * 8 * 8)  # e.g. one add per score
    c = ctx(
        "FlexAttention",
        inputs=[q, (1, 2, 8, 16), (1, 2, 8, 32)],
        outputs=[(1, 4, 8, 32)],
        domain="ai.onnx.preview",
        opset=1,
        subgraphs={"score_mod": mod},
    )
    cost = run(c)
    scores = 1 * 4 * 8 * 8
    macs = scores * 16 + scores * 32
    assert cost.macs == macs
    assert cost.flops == 2 * macs + scores * (1 + 5) + scores


def test_attention_op_in_a_model_with_a_kv_cache() -> None:
    """ONNX Attention (opset 23) with past key/value, analysed at prefill and decode dims."""
    hq, hkv, d = 8, 2, 16
    f = TensorProto.FLOAT
    graph = helper.make_graph(
        [
            helper.make_node(
                "Attention",
                ["q", "k", "v", "", "past_k", "past_v"],
                ["y", "present_k", "present_v"],
                q_num_heads=hq,
                kv_num_heads=hkv,
                is_causal=1,
            )
        ],
        "attention",
        [
            helper.make_tensor_value_info("q", f, [1, "seq", hq * d]),
            helper.make_tensor_value_info("k", f, [1, "seq", hkv * d]),
            helper.make_tensor_value_info("v", f, [1, "seq", hkv * d]),
            helper.make_tensor_value_info("past_k", f, [1, hkv, "past", d]),
            helper.make_tensor_value_info("past_v", f, [1, hkv, "past", d]),
        ],
        [helper.make_tensor_value_info(n, f, None) for n in ("y", "present_k", "present_v")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)])
    prefill = analyze(model, dims={"past": 0, "seq": 512})
    assert prefill.totals.macs == 8 * 512 * 512 * (16 + 16)  # heads * seq * total * (Dh + Dv)
    decode = analyze(model, dims={"past": 512, "seq": 1})
    assert decode.totals.macs == 8 * 1 * 513 * (16 + 16)
    assert decode.outputs[1].shape == [1, 2, 513, 16]
