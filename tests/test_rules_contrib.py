"""onnxruntime contrib ops (com.microsoft): one test per family, numbers counted by hand.

Per-element weights used below (README table): softmax 5, scale 1 and mask 1 per attention score,
Gelu 5, FastGelu 9, Sigmoid 4, LayerNorm 7 (6 without beta), RMSNorm 4 + 3 per row, rotary 3
per rotated element, dequantize 2, quantize 4, dynamic quantize 6.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx import numpy_helper as nh

import onnxcost
from onnxcost.errors import OnnxCostError
from onnxcost.rules.registry import Unresolved
from tests.ruletools import ctx, kind, run

F, U8, I8, I32, I64 = (
    TensorProto.FLOAT,
    TensorProto.UINT8,
    TensorProto.INT8,
    TensorProto.INT32,
    TensorProto.INT64,
)
MS = "com.microsoft"


def ms(op, inputs, outputs=(None,), **kw):
    return run(ctx(op, inputs, outputs, domain=MS, **kw))


# --- attention --------------------------------------------------------------------------------


def test_attention_with_merged_qkv_projection() -> None:
    # input [B=2, S=8, 64], weights [64, 192] (q, k, v 64 each), bias, 4 heads -> head size 16
    # projection MACs = 2*8*64*192 = 196,608; bias adds = 2*8*192 = 3,072
    # scores = B*heads*S*T = 2*4*8*8 = 512; QK^T + PV MACs = 512*(16 + 16) = 16,384
    # core FLOPs = 2*16,384 + 512*(1 scale + 5 softmax) = 32,768 + 3,072 = 35,840
    c = ms("Attention", [(2, 8, 64), (64, 192), (192,)], attrs={"num_heads": 4})
    assert c.macs == 196_608 + 16_384 == 212_992
    assert c.flops == 2 * 196_608 + 3_072 + 35_840 == 432_128

    # past (2, B, heads, P=24, 16), unidirectional: T = 24 + 8 = 32
    # scores = 2*4*8*32 = 2,048; MACs = 2,048*32 = 65,536
    # core FLOPs = 131,072 + 2,048*(1 + 5 + 1 causal mask) = 145,408
    c = ms(
        "Attention",
        [(2, 8, 64), (64, 192), (192,), None, (2, 2, 4, 24, 16)],
        attrs={"num_heads": 4, "unidirectional": 1},
    )
    assert c.macs == 196_608 + 65_536
    assert c.flops == 2 * 196_608 + 3_072 + 145_408

    # QAttention: int8 projection of the same shapes, + 1 scale per projected value (2*8*192)
    c = ms(
        "QAttention",
        [(2, 8, 64), (64, 192), (192,), (), ()],
        attrs={"num_heads": 4},
        dtype=[U8, I8, F, F, F],
    )
    assert (c.macs, c.flops, c.compute_dtype) == (212_992, 432_128 + 3_072, "uint8")


def test_multi_head_attention_with_kv_cache() -> None:
    # q, k, v [1, 4, 32], past_key/past_value [1, 2, 10, 16], 2 heads -> head size 16
    # T = past 10 + new 4 = 14; scores = 1*2*4*14 = 112; MACs = 112*(16+16) = 3,584
    # FLOPs = 2*3,584 + 112*(1 + 5) = 7,168 + 672 = 7,840
    past = (1, 2, 10, 16)
    c = ms(
        "MultiHeadAttention",
        [(1, 4, 32), (1, 4, 32), (1, 4, 32), None, None, None, past, past],
        attrs={"num_heads": 2},
    )
    assert (c.macs, c.flops) == (3_584, 7_840)

    # Packed QKV (B, S, heads, 3, H) = (1, 4, 2, 3, 16): T = 4; scores 1*2*4*4 = 32
    # MACs = 32*32 = 1,024
    assert ms("MultiHeadAttention", [(1, 4, 2, 3, 16)], attrs={"num_heads": 2}).macs == 1_024

    # DecoderMaskedMultiHeadAttention, one new token over past 10: T = 11
    # scores = 1*2*1*11 = 22; MACs = 22*32 = 704
    c = ms(
        "DecoderMaskedMultiHeadAttention",
        [(1, 1, 32), (1, 1, 32), (1, 1, 32), None, None, past, past],
        attrs={"num_heads": 2},
    )
    assert c.macs == 704


def gqa(s, past, present=None, values=None, **attrs):
    # query [1, S, 8*64], key/value [1, S, 2*64], past [1, 2, P, 64], seqlens_k, total_seq_len
    kv = (1, 2, past, 64) if past is not None else None
    pres = (1, 2, present, 64) if present is not None else None
    return ms(
        "GroupQueryAttention",
        [(1, s, 512), (1, s, 128), (1, s, 128), kv, kv, (1,), ()],
        [(1, s, 512), pres, pres],
        attrs={"num_heads": 8, "kv_num_heads": 2, **attrs},
        dtype=[F, F, F, F, F, I32, I32],
        values=values,
    )


def test_group_query_attention_prefill_and_decode() -> None:
    # Prefill S = 16, empty past: T = 16. MACs are per query head (8 heads share 2 kv heads):
    # scores = 1*8*16*16 = 2,048; MACs = 2,048*(64 + 64) = 262,144
    # FLOPs = 2*262,144 + 2,048*(1 scale + 5 softmax + 1 causal mask) = 524,288 + 14,336
    c = gqa(16, 0)
    assert (c.macs, c.flops) == (262_144, 538_624)

    # Decode S = 1 over past 16: T = 17; scores = 8*17 = 136; MACs = 136*128 = 17,408
    # FLOPs = 34,816 + 136*7 = 35,768
    c = gqa(1, 16)
    assert (c.macs, c.flops) == (17_408, 35_768)
    assert c.macs == gqa(1, 16, present=17).macs  # present = past + new agrees

    # Shared past/present buffer of capacity 64: T comes from total_sequence_length (= 20)
    # scores = 8*20 = 160; MACs = 160*128 = 20,480
    assert gqa(1, 64, present=64, values={6: 20}).macs == 20_480
    # ... without its value, T = past + new = 65: 8*65*128 = 66,560
    assert gqa(1, 64, present=64).macs == 66_560

    # Rotary inside the op: 3 per rotated q and k value = 3 * 16*(8 + 2)*64 = 30,720
    assert gqa(16, 0, do_rotary=1).flops == 538_624 + 30_720

    # Packed QKV: query [1, 4, (8 + 2*2)*64 = 768], no key/value: head size 64
    # scores = 8*4*4 = 128; MACs = 128*128 = 16,384
    c = ms(
        "GroupQueryAttention",
        [(1, 4, 768), None, None, None, None, (1,), ()],
        attrs={"num_heads": 8, "kv_num_heads": 2},
    )
    assert c.macs == 16_384

    with pytest.raises(OnnxCostError, match="kv_num_heads"):
        ms("GroupQueryAttention", [(1, 4, 512), (1, 4, 128), (1, 4, 128)], attrs={"num_heads": 8})
    with pytest.raises(Unresolved):
        gqa("seq", 0)


def test_packed_attention_uses_sequence_lengths() -> None:
    # input [8 tokens, 32], weights [32, 96], bias, token_offset [2, 5], cumulative [0, 3, 8]
    # 2 heads, head size 16. Sequences of 3 and 5 tokens: sum len^2 = 9 + 25 = 34
    # projection MACs = 8*32*96 = 24,576; bias = 8*96 = 768
    # scores = 2*34 = 68; MACs = 68*32 = 2,176; core FLOPs = 4,352 + 68*6 = 4,760
    inputs = [(8, 32), (32, 96), (96,), (2, 5), (3,)]
    c = ms(
        "PackedAttention",
        inputs,
        attrs={"num_heads": 2},
        dtype=[F, F, F, I32, I32],
        values={4: [0, 3, 8]},
    )
    assert (c.macs, c.flops) == (24_576 + 2_176, 2 * 24_576 + 768 + 4_760)
    # Lengths unknown: padded bound 2 * 5^2 = 50 -> scores 100, MACs 100*32 = 3,200
    c = ms("PackedAttention", inputs, attrs={"num_heads": 2}, dtype=[F, F, F, I32, I32])
    assert c.macs == 24_576 + 3_200 and c.notes


# --- normalization ----------------------------------------------------------------------------


def test_fused_normalizations() -> None:
    x = (2, 4, 8)  # 64 elements, 8 rows of 8
    # SkipLayerNormalization with beta and bias: input + skip + bias (2 adds) + LayerNorm 7
    # = 64*2 + 64*7 = 576
    c = ms("SkipLayerNormalization", [x, x, (8,), (8,), (8,)], [x])
    assert c.flops == 576
    # without beta and bias: 64*1 + 64*6 = 448
    assert ms("SkipLayerNormalization", [x, x, (8,)], [x]).flops == 448
    # SkipSimplifiedLayerNormalization: add 64 + RMSNorm (4*64 + 3*8 rows) = 64 + 256 + 24 = 344
    assert ms("SkipSimplifiedLayerNormalization", [x, x, (8,)], [x]).flops == 344
    # SimplifiedLayerNormalization (onnxruntime's, ONNX domain): 4*64 + 3*8 = 280
    assert run(ctx("SimplifiedLayerNormalization", [x, (8,)], [x])).flops == 280
    # axis=1: rows = 2 -> 256 + 6 = 262
    assert ms("SimplifiedLayerNormalization", [x, (4, 8)], [x], attrs={"axis": 1}).flops == 262

    # EmbedLayerNormalization: ids [2, 5], segments, word [100, 8], position [16, 8],
    # segment [2, 8], gamma, beta, mask [2, 5]: 80 outputs
    # word + position + segment = 2 adds * 80 = 160; LayerNorm 7*80 = 560; mask sum 10 -> 730
    c = ms(
        "EmbedLayerNormalization",
        [(2, 5), (2, 5), (100, 8), (16, 8), (2, 8), (8,), (8,), (2, 5)],
        dtype=[I32, I32, F, F, F, F, F, I32],
    )
    assert c.flops == 730


# --- activations ------------------------------------------------------------------------------


def test_fused_activations() -> None:
    x = (2, 10)  # 20 elements
    assert ms("Gelu", [x], [x]).flops == 20 * 5
    assert ms("FastGelu", [x, (10,)], [x]).flops == 20 * (9 + 1)  # + bias add
    assert ms("BiasGelu", [x, (10,)], [x]).flops == 20 * (1 + 5)
    assert ms("QuickGelu", [x], [x]).flops == 20 * (1 + 4 + 1)  # alpha*x, sigmoid, *x
    assert ms("BiasAdd", [x, (10,), x], [x]).flops == 20 * 2
    # BiasSplitGelu [1, 4, 20] -> [1, 4, 10]: per output 2 bias adds + Gelu 5 + 1 mul = 8
    assert ms("BiasSplitGelu", [(1, 4, 20), (20,)], [(1, 4, 10)]).flops == 40 * 8
    # Output shape unknown: broadcast of the inputs ([2, 10] + [10])
    assert ms("BiasGelu", [x, (10,)], [None]).flops == 120
    assert kind("Gelu", MS) == "elementwise"

    # RotaryEmbedding [1, 4, 64], 4 heads (head 16), rotary dim 8:
    # rotated = 256 / 16 * 8 = 128 values * 3 = 384; full rotation: 256 * 3 = 768
    rope = [(1, 4, 64), (1, 4), (32, 4), (32, 4)]
    attrs = {"num_heads": 4, "rotary_embedding_dim": 8}
    assert ms("RotaryEmbedding", rope, [(1, 4, 64)], attrs=attrs).flops == 384
    assert ms("RotaryEmbedding", rope, [(1, 4, 64)]).flops == 768
    # GemmaRotaryEmbedding: sin + cos of emb [1, 4, 16] (2*64) + 3 per value of q and k
    # [1, 2, 4, 16] (3*128 each) = 128 + 768 = 896
    qk = (1, 2, 4, 16)
    assert ms("GemmaRotaryEmbedding", [(1, 4, 16), qk, qk, qk, qk], [qk, qk]).flops == 896


# --- contractions -----------------------------------------------------------------------------


def test_fused_contractions() -> None:
    # FusedMatMul transA: A [3, 8, 4] -> [3, 4, 8] x B [8, 5]: MACs = 3*4*5*8 = 480
    c = ms("FusedMatMul", [(3, 8, 4), (8, 5)], attrs={"transA": 1})
    assert (c.macs, c.flops) == (480, 960)
    # alpha != 1 scales each of the 60 outputs: + 60
    assert ms("FusedMatMul", [(3, 8, 4), (8, 5)], attrs={"transA": 1, "alpha": 0.5}).flops == 1_020
    # transBatchA moves dim 0 behind the batch dims: [8, 3, 4] -> [3, 8, 4]; with transA
    # -> [3, 4, 8]: same 480 MACs (K = 8)
    assert ms("FusedMatMul", [(8, 3, 4), (8, 5)], attrs={"transA": 1, "transBatchA": 1}).macs == 480

    # FusedConv + Relu: [1,3,8,8] * [4,3,3,3], pad 1 -> 256 outputs; MACs 256*27 = 6,912
    # FLOPs = 13,824 + 256 * 1 (Relu) = 14,080
    c = ms(
        "FusedConv",
        [(1, 3, 8, 8), (4, 3, 3, 3)],
        attrs={"activation": "Relu", "pads": [1, 1, 1, 1]},
    )
    assert (c.macs, c.flops) == (6_912, 14_080)

    # GemmFastGelu [2, 8] x [8, 4] + bias: 8 outputs, MACs 64; FLOPs 128 + 8*(9 + 1) = 208
    assert ms("GemmFastGelu", [(2, 8), (8, 4), (4,)]).flops == 208

    # FusedGemm transB + LeakyRelu (2 per element): [4, 16] x [8, 16]^T -> 32 outputs
    # MACs = 4*8*16 = 512; FLOPs = 1,024 + 32*2 = 1,088
    c = ms("FusedGemm", [(4, 16), (8, 16)], attrs={"transB": 1, "activation": "LeakyRelu"})
    assert (c.macs, c.flops) == (512, 1_088)


def test_block_quantized_matmuls() -> None:
    # MatMulNBits: A [1, 5, 64], K=64, N=32, 4 bits, block 32: B uint8 [32, 2, 16]
    # MACs = 5*32*64 = 10,240; FLOPs = 2*10,240 + 2 (dequantize) * 32*64 = 20,480 + 4,096
    nbits = {"K": 64, "N": 32, "bits": 4, "block_size": 32}
    a, b, scales = (1, 5, 64), (32, 2, 16), (32, 2)
    c = ms("MatMulNBits", [a, b, scales], attrs=nbits, dtype=[F, U8, F])
    assert (c.macs, c.flops, c.compute_dtype) == (10_240, 24_576, None)
    # + bias (input 5): 5*32 = 160
    c = ms("MatMulNBits", [a, b, scales, None, None, (32,)], attrs=nbits, dtype=[F, U8, F])
    assert c.flops == 24_576 + 160
    # accuracy_level 4: A quantized to int8 (6 per element of A: 320) and int8 dot products
    c = ms("MatMulNBits", [a, b, scales], attrs={**nbits, "accuracy_level": 4}, dtype=[F, U8, F])
    assert (c.flops, c.compute_dtype) == (24_576 + 6 * 320, "int8")
    with pytest.raises(OnnxCostError, match="K and N"):
        ms("MatMulNBits", [a, b, scales], attrs={"bits": 4}, dtype=[F, U8, F])

    # MatMulNBitsMlp: RMSNorm(A [1, 3, 64]) -> gate and up (K=64 -> N=32) -> silu(gate) * up
    # MACs = 2 * 3*32*64 = 12,288; FLOPs = 24,576 + dequantize 2 * 2*32*64 = 8,192
    #   + RMSNorm (4*192 + 3*3 rows = 777) + 96 outputs * (silu 5 + mul 1) = 576 -> 34,121
    mlp = [a, None, (64,), b, scales, None, b, scales]
    attrs = {**nbits, "activation": "silu"}
    c = ms("MatMulNBitsMlp", [(1, 3, 64), *mlp[1:]], attrs=attrs, dtype=[F, F, F, U8, F, F, U8])
    assert (c.macs, c.flops) == (12_288, 34_121)
    # MatMulNBitsQkv: RMSNorm + Q (64), K (16), V (16) projections of K=64:
    # MACs = 3*64*(64 + 16 + 16) = 18,432; FLOPs = 36,864 + 2*64*96 (12,288) + 777 = 49,929
    qkv = [(1, 3, 64), None, (64,), (64, 2, 16), (64, 2), None, (16, 2, 16), (16, 2)]
    qkv += [None, (16, 2, 16), (16, 2)]
    c = ms("MatMulNBitsQkv", qkv, attrs={"K": 64, "Nq": 64, "Nkv": 16, "bits": 4}, dtype=F)
    assert (c.macs, c.flops) == (18_432, 49_929)

    # GemmFloat8 [4, 16] x [8, 16]^T in float8: 512 MACs at the fp8 rate
    f8 = TensorProto.FLOAT8E4M3FN
    c = ms("GemmFloat8", [(4, 16), (8, 16)], attrs={"transB": 1}, dtype=f8)
    assert (c.macs, c.compute_dtype) == (512, "float8e4m3fn")

    # MatMulBnb4 A [2, 16], K=16, N=8: MACs 2*8*16 = 256; FLOPs 512 + 2*128 = 768
    c = ms("MatMulBnb4", [(2, 16), (64,), (4,)], attrs={"K": 16, "N": 8, "block_size": 32})
    assert (c.macs, c.flops) == (256, 768)

    # DynamicQuantizeMatMul A [4, 16] float x B [16, 8] int8: MACs 512
    # FLOPs = 1,024 + 6 * 64 (quantize A) + 32 (scale the int32 sums) = 1,440
    c = ms("DynamicQuantizeMatMul", [(4, 16), (16, 8), ()], dtype=[F, I8, F])
    assert (c.macs, c.flops, c.compute_dtype) == (512, 1_440, "int8")

    # MatMulIntegerToFloat uint8 x int8 + bias (input 6): 1,024 + 32 (scale) + 32 (bias)
    c = ms(
        "MatMulIntegerToFloat",
        [(4, 16), (16, 8), (), (), None, None, (8,)],
        dtype=[U8, I8, F, F, U8, I8, F],
    )
    assert (c.flops, c.compute_dtype) == (1_088, "uint8")

    # QGemm [4,16] x [8,16]^T: MACs 512; requantized (y_scale): + 4*32 -> 1,152;
    # float output: + 1*32 -> 1,056
    qg = [(4, 16), (), (), (8, 16), (), (), None]
    dt = [U8, F, U8, I8, F, I8, I32, F, U8]
    assert ms("QGemm", [*qg, (), ()], attrs={"transB": 1}, dtype=dt).flops == 1_152
    assert ms("QGemm", qg, attrs={"transB": 1}, dtype=dt).flops == 1_056


def test_mixture_of_experts() -> None:
    # 4 tokens of 16, 8 experts, top-2; fc1 [8, 32, 16] (inter 32), fc2 [8, 16, 32], relu
    # per token per expert: fc1 32*16 + fc2 16*32 = 1,024 MACs -> MACs = 4*2*1,024 = 8,192
    # FLOPs = 2*8,192 + 4 tokens * (2 experts * 32 relu + router (8*(5 softmax + 1 top-k)
    #         + 2*2*16 weighted sum)) = 16,384 + 4*(64 + 48 + 64) = 17,088
    x, probs = (4, 16), (4, 8)
    c = ms("MoE", [x, probs, (8, 32, 16), None, (8, 16, 32)], attrs={"k": 2})
    assert (c.macs, c.flops) == (8_192, 17_088)
    # QMoE, the same weights packed 4 bits (two per byte): fc1 [8, 32, 8], fc2 [8, 16, 16]
    c = ms(
        "QMoE",
        [x, probs, (8, 32, 8), (8, 32), None, (8, 16, 16), (8, 16)],
        attrs={"k": 2, "expert_weight_bits": 4},
        dtype=[F, F, U8, F, F, U8, F],
    )
    assert (c.macs, c.flops) == (8_192, 17_088)


# --- quantized elementwise and gathers --------------------------------------------------------


def test_qlinear_ops_cost_their_qdq_expansion() -> None:
    # QLinearAdd A [2, 8] + B [8] -> 16: dequantize 2*16 + 2*8 = 48, add 16, quantize 4*16 = 64
    c = ms("QLinearAdd", [(2, 8), (), (), (8,), (), (), (), ()], [(2, 8)], dtype=U8)
    assert c.flops == 48 + 16 + 64
    # QLinearSigmoid [10]: 2*10 + 4*10 + 4*10 = 100
    assert ms("QLinearSigmoid", [(10,), (), (), (), ()], [(10,)], dtype=U8).flops == 100
    # QLinearGlobalAveragePool [1, 4, 3, 3] -> 4: dequantize 2*36, sum 36, divide 4,
    # quantize 4*4 -> 72 + 36 + 4 + 16 = 128
    c = ms("QLinearGlobalAveragePool", [(1, 4, 3, 3), (), (), (), ()], [(1, 4, 1, 1)], dtype=U8)
    assert c.flops == 128
    # QLinearConcat of [2, 3] and [2, 5]: dequantize 2*16 + quantize 4*16 = 96
    c = ms("QLinearConcat", [(), (), (2, 3), (), (), (2, 5), (), ()], [(2, 8)], dtype=U8)
    assert c.flops == 96
    # QLinearConv in onnxruntime's domain, NHWC: [1, 8, 8, 3] * [16, 3, 3, 3], pad 1 ->
    # 1*16*8*8 outputs * 27 = 27,648 MACs
    c = ms(
        "QLinearConv",
        [(1, 8, 8, 3), (), (), (16, 3, 3, 3), (), (), (), ()],
        attrs={"channels_last": 1, "pads": [1, 1, 1, 1]},
        dtype=[U8, F, U8, I8, F, I8, F, U8],
    )
    assert c.macs == 27_648

    # GatherBlockQuantized: data uint8 [100, 32] packs 4-bit [100, 64]; indices [2, 3]
    # -> 6 rows of 64 = 384 values, each dequantized (2): 768
    c = ms(
        "GatherBlockQuantized",
        [(100, 32), (2, 3), (100, 2)],
        attrs={"bits": 4, "block_size": 32, "quantize_axis": 1},
        dtype=[U8, I64, F],
    )
    assert c.flops == 768


def test_data_movement_is_free() -> None:
    for op in ("Trilu", "GatherND", "Pad", "TorchEmbedding"):
        c = ms(op, [(4, 4)], [(4, 4)])
        assert (c.macs, c.flops) == (0, 0)
    assert kind("ExpandDims", MS) == "view"


# --- end to end: a decoder-only transformer block with a KV cache -----------------------------

HIDDEN, HEADS, KV_HEADS, HEAD, FFN = 64, 4, 2, 16, 256


def _weights(shapes: dict[str, list[int]]) -> list[onnx.TensorProto]:
    return [nh.from_array(np.zeros(s, np.float32), n) for n, s in shapes.items()]


def decoder_block(attention: str) -> onnx.ModelProto:
    """Pre-LN decoder block: x [1, seq, 64], KV cache past_* [1, kv_heads, past, 16] ->
    y [1, seq, 64] and present_* [1, kv_heads, past + seq, 16]. `attention` is "gqa"
    (com.microsoft GroupQueryAttention, 4 query heads over 2 kv heads) or "plain"
    (MatMul/Softmax over a Concat'ed cache, 4 heads)."""
    kv_heads = KV_HEADS if attention == "gqa" else HEADS
    inits = _weights(
        {
            "ln1_g": [HIDDEN],
            "ln1_b": [HIDDEN],
            "wq": [HIDDEN, HEADS * HEAD],
            "wk": [HIDDEN, kv_heads * HEAD],
            "wv": [HIDDEN, kv_heads * HEAD],
            "wo": [HEADS * HEAD, HIDDEN],
            "ln2_g": [HIDDEN],
            "ln2_b": [HIDDEN],
            "w1": [HIDDEN, FFN],
            "w2": [FFN, HIDDEN],
        }
    )
    node = helper.make_node
    nodes = [
        node("LayerNormalization", ["x", "ln1_g", "ln1_b"], ["h"], name="ln1"),
        node("MatMul", ["h", "wq"], ["q"], name="q_proj"),
        node("MatMul", ["h", "wk"], ["k"], name="k_proj"),
        node("MatMul", ["h", "wv"], ["v"], name="v_proj"),
    ]
    inputs = [helper.make_tensor_value_info("x", F, [1, "seq", HIDDEN])]
    cache = [1, kv_heads, "past", HEAD]
    inputs += [helper.make_tensor_value_info(n, F, cache) for n in ("past_key", "past_value")]
    if attention == "gqa":
        inputs += [
            helper.make_tensor_value_info("seqlens_k", I32, [1]),
            helper.make_tensor_value_info("total_seq", I32, []),
        ]
        nodes.append(
            node(
                "GroupQueryAttention",
                ["q", "k", "v", "past_key", "past_value", "seqlens_k", "total_seq"],
                ["attn", "present_key", "present_value"],
                name="attention",
                domain=MS,
                num_heads=HEADS,
                kv_num_heads=KV_HEADS,
            )
        )
    else:
        inits.append(nh.from_array(np.array([1, -1, HEADS, HEAD], np.int64), "heads_shape"))
        inits.append(nh.from_array(np.array([1, -1, HEADS * HEAD], np.int64), "merged_shape"))
        inits.append(nh.from_array(np.array(0.25, np.float32), "scale"))
        for t in ("q", "k", "v"):
            nodes.append(node("Reshape", [t, "heads_shape"], [f"{t}4"], name=f"{t}_split"))
            nodes.append(node("Transpose", [f"{t}4"], [f"{t}h"], perm=[0, 2, 1, 3], name=f"{t}_t"))
        nodes += [
            node("Concat", ["past_key", "kh"], ["present_key"], axis=2, name="cat_k"),
            node("Concat", ["past_value", "vh"], ["present_value"], axis=2, name="cat_v"),
            node("Transpose", ["present_key"], ["kt"], perm=[0, 1, 3, 2], name="k_tt"),
            node("MatMul", ["qh", "kt"], ["scores"], name="scores"),
            node("Mul", ["scores", "scale"], ["scaled"], name="scale"),
            node("Softmax", ["scaled"], ["probs"], axis=-1, name="softmax"),
            node("MatMul", ["probs", "present_value"], ["ctx"], name="context"),
            node("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3], name="ctx_t"),
            node("Reshape", ["ctx_t", "merged_shape"], ["attn"], name="merge"),
        ]
    nodes += [
        node("MatMul", ["attn", "wo"], ["o"], name="o_proj"),
        node("Add", ["x", "o"], ["r1"], name="res1"),
        node("LayerNormalization", ["r1", "ln2_g", "ln2_b"], ["h2"], name="ln2"),
        node("MatMul", ["h2", "w1"], ["f1"], name="fc1"),
        node("FastGelu", ["f1"], ["g"], name="gelu", domain=MS),
        node("MatMul", ["g", "w2"], ["f2"], name="fc2"),
        node("Add", ["r1", "f2"], ["y"], name="res2"),
    ]
    present = [1, kv_heads, "total", HEAD]
    outputs = [helper.make_tensor_value_info("y", F, [1, "seq", HIDDEN])]
    outputs += [
        helper.make_tensor_value_info(n, F, present) for n in ("present_key", "present_value")
    ]
    graph = helper.make_graph(nodes, "decoder", inputs, outputs, inits)
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid(MS, 1)]
    )


@pytest.mark.parametrize("attention", ["gqa", "plain"])
@pytest.mark.parametrize(
    ("past", "seq", "attention_macs"),
    [
        # prefill: T = 0 + 512; 4 query heads, head 16: QK^T + PV = 4*512*512*(16 + 16)
        (0, 512, 4 * 512 * 512 * 32),  # 33,554,432
        # decode: T = 512 + 1 = 513: 4*1*513*32
        (512, 1, 4 * 1 * 513 * 32),  # 65,664
    ],
)
def test_decoder_block_with_kv_cache(attention: str, past: int, seq: int, attention_macs: int):
    r = onnxcost.analyze(decoder_block(attention), dims={"past": past, "seq": seq})
    assert not r.uncounted and not r.unresolved
    by = {n.name: n.macs for n in r.nodes}
    attn = by["attention"] if attention == "gqa" else by["scores"] + by["context"]
    assert attn == attention_macs
    # projections and MLP, per token: q 64*64 + k, v 64*(kv_heads*16) each + o 64*64
    # + fc1 64*256 + fc2 256*64
    kv = 2 * HIDDEN * (KV_HEADS if attention == "gqa" else HEADS) * HEAD
    per_token = 2 * HIDDEN * HIDDEN + kv + 2 * HIDDEN * FFN  # gqa 45,056; plain 49,152
    assert r.totals.macs == seq * per_token + attention_macs


def test_decoder_block_from_the_command_line(tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from onnxcost.cli.main import main

    path = tmp_path / "decoder.onnx"
    onnx.save(decoder_block("gqa"), path)
    for past, seq, expected in ((0, 512, 33_554_432), (512, 1, 65_664)):
        args = ["analyze", str(path), "--dim", f"past={past}", "--dim", f"seq={seq}"]
        res = CliRunner().invoke(main, [*args, "--format", "json", "--strict"])
        assert res.exit_code == 0, res.output
        nodes = {n["name"]: n for n in json.loads(res.output)["nodes"]}
        assert nodes["attention"]["macs"] == expected  # as in the test above
