"""onnxruntime contrib ops (domain com.microsoft) that exported transformers and LLMs use.

Semantics (inputs, attributes, shapes) follow onnxruntime's docs/ContribOperators.md. Each fused op
costs what its unfused expansion costs, with the per-element weights below (the README's table).

Attention ops count the score matrix dense, as the ONNX Attention rule does (contraction.py):
QK^T is B*heads*S*T*head_size MACs and PV is B*heads*S*T*v_head_size MACs, with T = past + new
key length (the KV cache). Causal masks and local windows are one add per score, not subtracted
from the MACs, as the reference (unfused) computation does. Per score: 1 scale multiply, the
softmax, 1 add when any mask or bias applies, 3 for a softcap. Projections, bias adds, rotary
embedding and q/k norms inside the op are added on top.
"""

from __future__ import annotations

from math import prod

import numpy as np

from onnxcost import dtypes
from onnxcost.errors import ModelError, OnnxCostError
from onnxcost.rules.contraction import SIGMOID_FLOPS, SILU_FLOPS, SOFTMAX_FLOPS, attention_cost
from onnxcost.rules.elementwise import PER_ELEMENT
from onnxcost.rules.quantized import (
    DEQUANT_FLOPS,
    DYNAMIC_QUANT_FLOPS,
    QUANT_FLOPS,
    conv_macs,
    conv_out_numel,
    gemm_macs,
    int_dtype,
    matmul_dims,
    numel,
)
from onnxcost.rules.registry import (
    Cost,
    NodeContext,
    TensorInfo,
    Unresolved,
    broadcast,
    register,
)

MS = "com.microsoft"

# Per-element FLOPs of the pieces fused ops are made of; the shared ones come from the rules of
# the ONNX ops they stand for, so a fused op costs what its unfused graph costs.
GELU_FLOPS = 5  # 0.5 * x * (1 + erf(x / sqrt(2))): as the ONNX Gelu
# FastGelu 0.5*x*(1 + tanh(0.797885*x + 0.035677*x^3)): as Gelu(approximate="tanh")
FAST_GELU_FLOPS = 9
QUICK_GELU_FLOPS = SIGMOID_FLOPS + 2  # x * sigmoid(alpha * x)
SWIGLU_FLOPS = SIGMOID_FLOPS + 4  # G * sigmoid(alpha*G) * (L + beta): alpha mul, 2 mul, add
ROPE_FLOPS = 3  # per rotated element: x1*cos - x2*sin (2 mul, 1 add), as RotaryEmbedding
# LayerNorm per element: mean (add), centre, square, variance (add), normalise, scale, bias:
# as LayerNormalization; per-row work not counted.
LAYERNORM_FLOPS = 7
# RMSNorm per element: square, sum, divide by the RMS, scale; per row: mean divide, +eps, sqrt
# (as RMSNormalization).
RMSNORM_FLOPS, RMSNORM_ROW_FLOPS = 4, 3
# Fused activations (FusedConv/FusedGemm/FusedMatMulActivation, MoE): the ONNX op's weight.
ACTIVATION_FLOPS = {k.lower(): v for k, v in PER_ELEMENT.items()} | {
    "": 0,
    "identity": 0,
    "silu": SILU_FLOPS,
    "swish": SILU_FLOPS,
    "gelu": GELU_FLOPS,
    "fastgelu": FAST_GELU_FLOPS,
    "relu2": 2,  # relu, square
}


# --- helpers ----------------------------------------------------------------------------------


def _present(ctx: NodeContext, i: int) -> bool:
    return ctx.input(i) is not None


def _out_numel(ctx: NodeContext, *broadcast_inputs: int) -> int:
    """Output elements: from inference if static, else the broadcast of the given inputs."""
    y = ctx.output(0)
    if y is not None and y.static:
        return y.numel()
    shapes = [ctx.in_dims(i) for i in broadcast_inputs if _present(ctx, i)]
    if not shapes:
        return ctx.out_numel(0)  # raises Unresolved
    try:  # exact ints, or polynomials of the dims in formula mode
        return prod(broadcast(*shapes))
    except ModelError as e:
        raise OnnxCostError(
            f"node {ctx.name!r} ({ctx.op_type}): input shapes do not broadcast {shapes}"
        ) from e


def _activation(ctx: NodeContext, key: str = "activation") -> int:
    act = ctx.attr(key, "")
    if isinstance(act, bytes):
        act = act.decode()
    return ACTIVATION_FLOPS.get(act.lower(), 1)


def _heads(ctx: NodeContext, key: str = "num_heads") -> int:
    n = ctx.attr(key)
    if not n or n <= 0:
        raise OnnxCostError(f"node {ctx.name!r} ({ctx.op_type}): attribute {key} missing")
    return int(n)


def _scalar(ctx: NodeContext, i: int, what: str) -> int:
    v = ctx.value(i)
    if v is None or np.size(v) == 0:
        raise Unresolved(f"{ctx.name} input {i}", f"{what} value not known statically")
    return int(np.asarray(v).reshape(-1)[0])


def _layernorm(elements: int, beta: bool = True) -> int:
    return elements * (LAYERNORM_FLOPS - (0 if beta else 1))


def _rmsnorm(elements: int, rows: int) -> int:
    return elements * RMSNORM_FLOPS + rows * RMSNORM_ROW_FLOPS


def _masked(ctx: NodeContext, *idx: int, causal: bool = False) -> bool:
    """Whether a mask or bias is added to the scores (one add per score, however many)."""
    return causal or any(_present(ctx, i) for i in idx)


# --- attention --------------------------------------------------------------------------------


def _merged_qkv_attention(ctx: NodeContext, past: int, past_len: int | None, masks: tuple) -> Cost:
    """Attention / DecoderMaskedSelfAttention / QAttention: input x merged QKV weights, then
    attention over past + new. `past` is (2, B, heads, P, head_size); `past_len` the index of
    the past_sequence_length input used with a shared past/present buffer."""
    b, s, d_in = ctx.in_dims(0)
    d_w = ctx.in_dims(1)[1]
    heads = _heads(ctx)
    sizes = ctx.attr("qkv_hidden_sizes") or [d_w // 3] * 3
    hq, hk, hv = (int(x) for x in sizes)
    d_qk, d_v = hq // heads, hv // heads
    p = 0
    if _present(ctx, past):
        if ctx.attr("past_present_share_buffer", 0):
            p = _scalar(ctx, past_len, "past_sequence_length") if past_len is not None else 0
        else:
            p = ctx.in_dims(past)[3]
    t = p + s
    proj = b * s * d_in * (hq + hk + hv)
    extra = b * s * (hq + hk + hv) if _present(ctx, 2) else 0  # bias
    if ctx.attr("do_rotary", 0):
        rot = ctx.attr("rotary_embedding_dim") or d_qk
        extra += ROPE_FLOPS * b * s * heads * 2 * rot
    masked = _masked(ctx, *masks, causal=bool(ctx.attr("unidirectional")))
    core = attention_cost(b, heads, s, t, d_qk, d_v, masked=masked)
    return Cost(macs=proj, flops=2 * proj + extra) + core


@register("Attention", domain=MS)
def attention(ctx: NodeContext) -> Cost:
    # input, weights, bias, mask_index, past, attention_bias, past_sequence_length
    return _merged_qkv_attention(ctx, past=4, past_len=6, masks=(3, 5))


@register("DecoderMaskedSelfAttention", domain=MS)
def decoder_masked_self_attention(ctx: NodeContext) -> Cost:
    # input, weights, bias, mask_index, past, attention_bias, past_sequence_length, ...
    return _merged_qkv_attention(ctx, past=4, past_len=6, masks=(3, 5))


@register("QAttention", domain=MS)
def qattention(ctx: NodeContext) -> Cost:
    # input, weight, bias, input_scale, weight_scale, mask_index, input_zp, weight_zp, past
    cost = _merged_qkv_attention(ctx, past=8, past_len=None, masks=(5,))
    b, s, _ = ctx.in_dims(0)
    d_w = ctx.in_dims(1)[1]
    # Integer projection: its int32 sums are scaled back to float once per element.
    return Cost(
        macs=cost.macs,
        flops=cost.flops + b * s * d_w,
        compute_dtype=int_dtype(ctx.input(0), ctx.input(1)),
        notes=("integer QKV projection; attention scores in float",),
    )


def _kv_from_key(ctx: NodeContext, key: int, value: int, heads: int, d_qk: int) -> tuple[int, int]:
    """(new key length L, v head size) from MultiHeadAttention-style key/value inputs:
    key (B, L, hidden) | packed KV (B, L, heads, 2, H) | cached (B, heads, L, H)."""
    k = ctx.in_dims(key)
    length = k[2] if len(k) == 4 else k[1]
    d_v = k[4] if len(k) == 5 else d_qk
    if _present(ctx, value):
        v = ctx.in_dims(value)
        d_v = v[3] if len(v) == 4 else v[-1] // heads
    return length, d_v


@register("MultiHeadAttention", domain=MS)
def multi_head_attention(ctx: NodeContext) -> Cost:
    # query, key, value, bias, key_padding_mask, attention_bias, past_key, past_value,
    # past_sequence_length, cache_indirection
    q = ctx.in_dims(0)
    heads = _heads(ctx)
    b, s = q[0], q[1]
    if len(q) == 5:  # packed QKV (B, S, heads, 3, H)
        d_qk = d_v = q[4]
        length = s
    else:
        d_qk = q[2] // heads
        length, d_v = _kv_from_key(ctx, 1, 2, heads, d_qk) if _present(ctx, 1) else (s, d_qk)
    cross_cached = _present(ctx, 1) and len(ctx.in_dims(1)) == 4
    p = 0
    if _present(ctx, 6) and not cross_cached:
        p = _scalar(ctx, 8, "past_sequence_length") if _present(ctx, 8) else ctx.in_dims(6)[2]
    t = p + length
    extra = b * heads * (s * d_qk + length * (d_qk + d_v)) if _present(ctx, 3) else 0
    masked = _masked(ctx, 4, 5, causal=bool(ctx.attr("unidirectional")))
    return attention_cost(b, heads, s, t, d_qk, d_v, masked=masked) + Cost(flops=extra)


@register("DecoderMaskedMultiHeadAttention", domain=MS)
def decoder_masked_mha(ctx: NodeContext) -> Cost:
    # query, key, value, mask_index, attention_bias, past_key, past_value,
    # past_sequence_length, beam_width, cache_indirection, bias
    q = ctx.in_dims(0)
    heads = _heads(ctx)
    b, s = q[0], q[1]
    if not _present(ctx, 1):  # packed QKV (B, 1, 2*hidden + v_hidden), equal head sizes
        d_qk = d_v = q[2] // (3 * heads)
        length = s
    else:
        d_qk = q[2] // heads
        length, d_v = _kv_from_key(ctx, 1, 2, heads, d_qk)
    cross = _present(ctx, 1) and len(ctx.in_dims(1)) == 4
    p = 0
    if not cross and _present(ctx, 5):
        if ctx.attr("past_present_share_buffer", 0):
            p = _scalar(ctx, 7, "past_sequence_length")
        else:
            p = ctx.in_dims(5)[2]
    t = length if cross else p + length
    extra = b * heads * s * (2 * d_qk + d_v) if _present(ctx, 10) else 0
    masked = _masked(ctx, 3, 4)
    return attention_cost(b, heads, s, t, d_qk, d_v, masked=masked) + Cost(flops=extra)


def _total_kv(ctx: NodeContext, s: int, past_key: int, present_key: int, total: int) -> int:
    """Total key length T = past + new for GQA-style ops: the total_sequence_length value when
    known, else a present_key length that differs from the past's, else past + new. (Shape
    inference copies past's shape to present, so equal lengths say nothing about sharing.)"""
    p = ctx.in_dims(past_key)[2] if _present(ctx, past_key) else 0
    v = ctx.value(total)
    if v is not None and np.size(v):
        return int(np.asarray(v).reshape(-1)[0])
    pres = ctx.output(present_key)
    if pres is not None and pres.static and len(pres.shape) == 4 and pres.shape[2] != p:
        return pres.shape[2]
    return p + s


@register("GroupQueryAttention", domain=MS)
def group_query_attention(ctx: NodeContext) -> Cost:
    # query, key, value, past_key, past_value, seqlens_k, total_sequence_length, cos_cache,
    # sin_cache, position_ids, attention_bias, head_sink, k_scale, v_scale, q_norm_weight,
    # k_norm_weight, query_seqlens
    q = ctx.in_dims(0)
    heads, kv_heads = _heads(ctx), _heads(ctx, "kv_num_heads")
    b, s = q[0], q[1]
    d = q[2] // (heads + 2 * kv_heads) if not _present(ctx, 1) else q[2] // heads
    t = _total_kv(ctx, s, 3, 1, 6)
    notes: tuple[str, ...] = ()
    if (ctx.attr("local_window_size", -1) or -1) > 0:
        notes = ("local window not subtracted: scores counted dense",)
    masked = _masked(ctx, 10, causal=bool(ctx.attr("causal", 1)))
    softcap = bool(ctx.attr("softcap", 0.0))
    extra = 0
    qk_rows = b * s * (heads + kv_heads)
    if ctx.attr("do_rotary", 0):
        extra += ROPE_FLOPS * qk_rows * d
    if _present(ctx, 14):
        extra += _rmsnorm(qk_rows * d, qk_rows)
    if _present(ctx, 12):  # quantized KV cache: dequantize K and V
        extra += DEQUANT_FLOPS * 2 * b * kv_heads * t * d
    core = attention_cost(b, heads, s, t, d, d, masked=masked, softcap=softcap)
    return core + Cost(flops=extra, notes=notes)


@register("SparseAttention", domain=MS)
def sparse_attention(ctx: NodeContext) -> Cost:
    # query, key, value, past_key, past_value, block_row_indices, block_col_indices,
    # total_sequence_length, key_total_sequence_lengths, cos_cache, sin_cache
    q = ctx.in_dims(0)
    heads, kv_heads = _heads(ctx), _heads(ctx, "kv_num_heads")
    b, s = q[0], q[1]
    d = q[2] // (heads + 2 * kv_heads) if not _present(ctx, 1) else q[2] // heads
    t = _total_kv(ctx, s, 3, 1, 7)
    notes = ("block sparsity not applied: dense bound",)
    extra = ROPE_FLOPS * b * s * (heads + kv_heads) * d if ctx.attr("do_rotary", 0) else 0
    core = attention_cost(b, heads, s, t, d, d, masked=True)  # causal
    return core + Cost(flops=extra, notes=notes)


def _packed_seq_squares(ctx: NodeContext, offsets: int, cumulative: int) -> tuple[int, tuple]:
    """Sum over sequences of len^2, from the cumulative lengths when known, else the padded
    bound batch * max_len^2 (token_offset is (batch, max_len))."""
    v = ctx.value(cumulative)
    if v is not None and np.size(v) > 1:
        lens = np.diff(np.asarray(v).reshape(-1).astype(np.int64))
        return int((lens * lens).sum()), ()
    b, s_max = ctx.in_dims(offsets)
    return b * s_max * s_max, ("sequence lengths not static: padded bound",)


def _packed_core(heads: int, sq: int, d_qk: int, d_v: int, masked: bool, notes) -> Cost:
    # heads * sum(len^2) scores: the dense formula with one "query" per score row of the sum.
    core = attention_cost(1, heads, sq, 1, d_qk, d_v, masked=masked)
    return core + Cost(notes=notes)


@register("PackedAttention", domain=MS)
def packed_attention(ctx: NodeContext) -> Cost:
    # input (tokens, in_hidden), weights, bias, token_offset, cumulative_sequence_length, bias
    tokens, d_in = ctx.in_dims(0)
    d_w = ctx.in_dims(1)[1]
    heads = _heads(ctx)
    hq, hk, hv = (int(x) for x in (ctx.attr("qkv_hidden_sizes") or [d_w // 3] * 3))
    sq, notes = _packed_seq_squares(ctx, 3, 4)
    proj = tokens * d_in * (hq + hk + hv)
    bias = tokens * (hq + hk + hv) if _present(ctx, 2) else 0
    core = _packed_core(heads, sq, hq // heads, hv // heads, _masked(ctx, 5), notes)
    return Cost(macs=proj, flops=2 * proj + bias) + core


@register("PackedMultiHeadAttention", domain=MS)
def packed_multi_head_attention(ctx: NodeContext) -> Cost:
    # query (tokens, hidden) | (tokens, heads, 3, H), key, value, bias, token_offset,
    # cumulative_sequence_length, attention_bias
    q = ctx.in_dims(0)
    heads = _heads(ctx)
    tokens = q[0]
    if len(q) == 4:
        d_qk = d_v = q[3]
    else:
        d_qk = q[1] // heads
        d_v = ctx.in_dims(2)[-1] // heads if _present(ctx, 2) else d_qk
    sq, notes = _packed_seq_squares(ctx, 4, 5)
    bias = tokens * heads * (2 * d_qk + d_v) if _present(ctx, 3) else 0
    return _packed_core(heads, sq, d_qk, d_v, _masked(ctx, 6), notes) + Cost(flops=bias)


# --- normalization ----------------------------------------------------------------------------


def _rows(dims: tuple[int, ...], axis: int) -> int:
    return prod(dims[: axis % len(dims)]) if dims else 1


@register("SkipLayerNormalization", domain=MS)
def skip_layer_norm(ctx: NodeContext) -> Cost:
    # input, skip, gamma, beta, bias: s = input + skip (+ bias), LayerNorm(s)
    x = ctx.in_dims(0)
    n = prod(x)
    adds = n * (1 + _present(ctx, 4))
    return Cost(flops=adds + _layernorm(n, beta=_present(ctx, 3)))


@register("SkipSimplifiedLayerNormalization", domain=MS)
def skip_simplified_layer_norm(ctx: NodeContext) -> Cost:
    # input, skip, gamma, bias: s = input + skip (+ bias), RMSNorm(s)
    x = ctx.in_dims(0)
    n = prod(x)
    return Cost(flops=n * (1 + _present(ctx, 3)) + _rmsnorm(n, n // x[-1]))


@register("SimplifiedLayerNormalization")  # onnxruntime registers it in the ONNX domain
@register("SimplifiedLayerNormalization", domain=MS)
def simplified_layer_norm(ctx: NodeContext) -> Cost:
    x = ctx.in_dims(0)
    return Cost(flops=_rmsnorm(prod(x), _rows(x, ctx.attr("axis", -1))))


@register("EmbedLayerNormalization", domain=MS)
def embed_layer_norm(ctx: NodeContext) -> Cost:
    # input_ids (B,S), segment_ids, word_emb (V,H), pos_emb, seg_emb, gamma, beta, mask, pos_ids
    b, s = ctx.in_dims(0)
    h = ctx.in_dims(2)[-1]
    n = b * s * h
    adds = n * (1 + _present(ctx, 4))  # word + position (+ segment); the lookups move data
    mask = numel(ctx, 7) if _present(ctx, 7) else 0  # mask -> mask_index: one add per element
    return Cost(flops=adds + _layernorm(n) + mask)


@register("QEmbedLayerNormalization", domain=MS)
def qembed_layer_norm(ctx: NodeContext) -> Cost:
    # As EmbedLayerNormalization, with each gathered embedding row dequantized first.
    b, s = ctx.in_dims(0)
    h = ctx.in_dims(2)[-1]
    n = b * s * h
    tables = 2 + _present(ctx, 4)
    mask = numel(ctx, 7) if _present(ctx, 7) else 0
    flops = n * (tables - 1) + _layernorm(n) + mask + DEQUANT_FLOPS * (tables * n + 2 * h)
    return Cost(flops=flops)


@register("GroupNorm", domain=MS)
def group_norm(ctx: NodeContext) -> Cost:
    # X (N,H,W,C) or NCHW, gamma, beta; groups; optional SiLU
    x = ctx.in_dims(0)
    act = SILU_FLOPS if ctx.attr("activation", 0) else 0
    return Cost(flops=_layernorm(prod(x)) + act * prod(x))


@register("SkipGroupNorm", domain=MS)
def skip_group_norm(ctx: NodeContext) -> Cost:
    # X, gamma, beta, skip, bias: s = x + skip (+ bias), GroupNorm(s), optional SiLU
    x = ctx.in_dims(0)
    n = prod(x)
    act = SILU_FLOPS if ctx.attr("activation", 0) else 0
    adds = n * (1 + _present(ctx, 4))
    return Cost(flops=adds + _layernorm(n) + act * n)


# --- activations and elementwise fusions -------------------------------------------------------


def _per_element(flops: int, *inputs: int):
    def rule(ctx: NodeContext) -> Cost:
        return Cost(flops=flops * _out_numel(ctx, *(inputs or (0,))))

    return rule


register("Gelu", domain=MS, kind="elementwise")(_per_element(GELU_FLOPS))
register("QuickGelu", domain=MS, kind="elementwise")(_per_element(QUICK_GELU_FLOPS))
register("BiasGelu", domain=MS, kind="elementwise")(_per_element(1 + GELU_FLOPS, 0, 1))
register("BiasAdd", domain=MS, kind="elementwise")(_per_element(2, 0, 1, 2))  # x + bias + skip
register("ScaledSiLU", domain=MS, kind="elementwise")(_per_element(1 + SILU_FLOPS))


@register("FastGelu", domain=MS, kind="elementwise")
def fast_gelu(ctx: NodeContext) -> Cost:
    return Cost(flops=(FAST_GELU_FLOPS + _present(ctx, 1)) * _out_numel(ctx, 0, 1))


@register("BiasSplitGelu", domain=MS)
def bias_split_gelu(ctx: NodeContext) -> Cost:
    # X (N,S,D) + bias (D), split in halves: left * Gelu(right). Per output element (D/2):
    # 2 bias adds (one per half), Gelu, 1 multiply.
    n = numel(ctx, 0) // 2
    return Cost(flops=n * (2 + GELU_FLOPS + 1))


@register("BiasDropout", domain=MS)
def bias_dropout(ctx: NodeContext) -> Cost:
    # Inference: data + bias (+ residual); the dropout itself is identity.
    return Cost(flops=(1 + _present(ctx, 2)) * numel(ctx, 0))


@register("BiasSoftmax", domain=MS)
def bias_softmax(ctx: NodeContext) -> Cost:
    return Cost(flops=(1 + SOFTMAX_FLOPS) * numel(ctx, 0))


@register("SwiGLU", domain=MS)
def swiglu(ctx: NodeContext) -> Cost:
    # gate [, up]: output is one half. Clamps add 3 per element when limit > 0.
    n = numel(ctx, 0) if _present(ctx, 1) else numel(ctx, 0) // 2
    clamp = 3 if (ctx.attr("limit", 0.0) or 0.0) > 0 else 0  # max on G, min+max on L
    return Cost(flops=n * (SWIGLU_FLOPS + clamp))


@register("RotaryEmbedding", domain=MS)
@register("MRotaryEmbedding", domain=MS)
def rotary_embedding(ctx: NodeContext) -> Cost:
    # input (B,S,hidden) or (B,heads,S,H): rotated elements * (2 mul + 1 add); the rest copies.
    x = ctx.in_dims(0)
    n = prod(x)
    rot = ctx.attr("rotary_embedding_dim", 0) or 0
    if rot:
        head = x[3] if len(x) == 4 else x[-1] // _heads(ctx)
        n = n // head * rot
    return Cost(flops=ROPE_FLOPS * n)


@register("GemmaRotaryEmbedding", domain=MS)
def gemma_rotary_embedding(ctx: NodeContext) -> Cost:
    # emb (B,S,D) -> sin and cos (1 each); q*cos + q_rot*sin and the same for k (3 per value)
    return Cost(flops=2 * numel(ctx, 0) + ROPE_FLOPS * (numel(ctx, 1) + numel(ctx, 3)))


# --- contractions -----------------------------------------------------------------------------


def _fused_matmul_dims(ctx: NodeContext) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A and B as the plain matmul sees them after transA/transB/transBatchA/transBatchB."""

    def view(dims: tuple[int, ...], trans: int, trans_batch: int) -> tuple[int, ...]:
        if len(dims) >= 3 and trans_batch:
            dims = (*dims[1:-1], dims[0], dims[-1])  # dim 0 moves behind the batch dims
        if len(dims) >= 2 and trans:
            dims = (*dims[:-2], dims[-1], dims[-2])
        return dims

    a = view(ctx.in_dims(0), ctx.attr("transA", 0), ctx.attr("transBatchA", 0))
    b = view(ctx.in_dims(1), ctx.attr("transB", 0), ctx.attr("transBatchB", 0))
    return a, b


@register("FusedMatMul", domain=MS)
@register("TransposeMatMul", domain=MS)
@register("FusedMatMulActivation", domain=MS)
def fused_matmul(ctx: NodeContext) -> Cost:
    batch, m, n, k = matmul_dims(ctx, *_fused_matmul_dims(ctx))
    out = prod(batch) * m * n
    macs = out * k
    alpha = 1 if ctx.attr("alpha", 1.0) not in (None, 1.0) else 0
    return Cost(macs=macs, flops=2 * macs + out * (alpha + _activation(ctx)))


@register("FusedGemm", domain=MS)
def fused_gemm(ctx: NodeContext) -> Cost:
    m, n, k = gemm_macs(ctx)
    macs = m * n * k
    return Cost(macs=macs, flops=2 * macs + m * n * _activation(ctx))


@register("FusedConv", domain=MS)
@register("NhwcFusedConv", domain=MS)
@register("NhwcConv", domain=MS)
def fused_conv(ctx: NodeContext) -> Cost:
    # X, W, B, Z: conv (bias absorbed) + Z (sum input) + activation
    nhwc = ctx.op_type.startswith("Nhwc")
    macs = conv_macs(ctx, 0, 1, channels_last=nhwc)
    out = conv_out_numel(ctx, 0, 1, channels_last=nhwc)
    return Cost(macs=macs, flops=2 * macs + out * (_present(ctx, 3) + _activation(ctx)))


@register("GemmFastGelu", domain=MS)
def gemm_fast_gelu(ctx: NodeContext) -> Cost:
    batch, m, n, k = matmul_dims(ctx, ctx.in_dims(0), ctx.in_dims(1))
    out = prod(batch) * m * n
    macs = out * k
    return Cost(macs=macs, flops=2 * macs + out * (FAST_GELU_FLOPS + _present(ctx, 2)))


def _weight_only_matmul(
    ctx: NodeContext, k: int, n: int, bias: int | None, compute_dtype: str | None = None
) -> Cost:
    """A [..., K] times a block-quantized [K, N] weight: MACs, each weight dequantized once,
    plus the bias."""
    rows = prod(ctx.in_dims(0)[:-1])
    macs = rows * n * k
    flops = (
        2 * macs
        + DEQUANT_FLOPS * n * k
        + (rows * n if bias is not None and _present(ctx, bias) else 0)
    )
    return Cost(macs=macs, flops=flops, compute_dtype=compute_dtype)


@register("MatMulNBits", domain=MS)
def matmul_nbits(ctx: NodeContext) -> Cost:
    # A, B packed (N, k_blocks, blob), scales, zero_points, g_idx, bias; attrs K, N, bits
    k, n = ctx.attr("K"), ctx.attr("N")
    if not k or not n:
        raise OnnxCostError(f"node {ctx.name!r} (MatMulNBits): attributes K and N are required")
    cost = _weight_only_matmul(ctx, int(k), int(n), bias=5)
    if ctx.attr("accuracy_level", 0) == 4:
        # A is quantized to int8 blockwise and the dot products run on int8.
        return Cost(
            macs=cost.macs,
            flops=cost.flops + DYNAMIC_QUANT_FLOPS * numel(ctx, 0),
            compute_dtype="int8",
        )
    return cost


def _kn(ctx: NodeContext, *keys: str) -> list[int]:
    vals = [ctx.attr(k) for k in keys]
    if not all(vals):
        raise OnnxCostError(
            f"node {ctx.name!r} ({ctx.op_type}): attributes {', '.join(keys)} are required"
        )
    return [int(v) for v in vals]  # type: ignore[arg-type]


def _fused_rmsnorm(ctx: NodeContext, skip: int, scale: int) -> int:
    """The optional (Skip)SimplifiedLayerNormalization in front of fused MatMulNBits ops."""
    if not _present(ctx, scale):
        return 0
    a = ctx.in_dims(0)
    return prod(a) * _present(ctx, skip) + _rmsnorm(prod(a), prod(a[:-1]))


@register("MatMulNBitsMlp", domain=MS)
def matmul_nbits_mlp(ctx: NodeContext) -> Cost:
    # A, skip, norm_scale, gate_B, gate_scales, gate_bias, up_B, up_scales, up_bias:
    # [RMSNorm], gate and up projections (K -> N), activation(gate) * up
    k, n = _kn(ctx, "K", "N")
    cost = _weight_only_matmul(ctx, k, n, bias=5) + _weight_only_matmul(ctx, k, n, bias=8)
    out = prod(ctx.in_dims(0)[:-1]) * n
    extra = _fused_rmsnorm(ctx, 1, 2) + out * (_activation(ctx) + 1)
    return cost + Cost(flops=extra)


@register("MatMulNBitsQkv", domain=MS)
def matmul_nbits_qkv(ctx: NodeContext) -> Cost:
    # A, skip, norm_scale, q_B, q_scales, q_bias, k_B, k_scales, k_bias, v_B, v_scales, v_bias
    k, nq, nkv = _kn(ctx, "K", "Nq", "Nkv")
    cost = (
        _weight_only_matmul(ctx, k, nq, bias=5)
        + _weight_only_matmul(ctx, k, nkv, bias=8)
        + _weight_only_matmul(ctx, k, nkv, bias=11)
    )
    return cost + Cost(flops=_fused_rmsnorm(ctx, 1, 2))


@register("MatMulNBitsQLoRA", domain=MS)
def matmul_nbits_qlora(ctx: NodeContext) -> Cost:
    # X, W, scales, lora_A, lora_A_scales [R, ...], lora_B, lora_B_scales:
    # X W + (X A) B with rank R, and the sum of the two
    k, n = _kn(ctx, "K", "N")
    r = ctx.in_dims(4)[0]
    rows = prod(ctx.in_dims(0)[:-1])
    cost = _weight_only_matmul(ctx, k, n, bias=None) + _weight_only_matmul(ctx, k, r, bias=None)
    up = rows * n * r
    return cost + Cost(macs=up, flops=2 * up + DEQUANT_FLOPS * n * r + rows * n)


@register("GemmFloat8", domain=MS)
def gemm_float8(ctx: NodeContext) -> Cost:
    # A, B, C, scaleA, scaleB, scaleY: Gemm (C absorbed) + activation, at the operands' type
    m, n, k = gemm_macs(ctx)
    macs = m * n * k
    a = ctx.input(0)
    return Cost(
        macs=macs,
        flops=2 * macs + m * n * _activation(ctx),
        compute_dtype=a.dtype if a is not None else None,
    )


@register("MatMulBnb4", domain=MS)
def matmul_bnb4(ctx: NodeContext) -> Cost:
    # A, B (packed FP4/NF4), absmax; attrs K, N, transB: A [..., K] -> [..., N] (transB=0: swapped)
    k, n = ctx.attr("K"), ctx.attr("N")
    if not k or not n:
        raise OnnxCostError(f"node {ctx.name!r} (MatMulBnb4): attributes K and N are required")
    return _weight_only_matmul(ctx, int(k), int(n), bias=None)


@register("MatMulFpQ4", domain=MS)
def matmul_fpq4(ctx: NodeContext) -> Cost:
    # A, B blob, B_shape ([K, N] as a constant)
    k = ctx.in_dims(0)[-1]
    shape = ctx.value(2)
    n = int(np.asarray(shape).reshape(-1)[-1]) if shape is not None else ctx.out_dims(0)[-1]
    return _weight_only_matmul(ctx, k, n, bias=None)


@register("MatMulBlockQuantizedFp4Weight", domain=MS)
def matmul_fp4_weight(ctx: NodeContext) -> Cost:
    # A, B [N, K/2] (two E2M1 per byte), weight_scale, weight_scale_2, input_scale, bias
    n, half_k = ctx.in_dims(1)
    return _weight_only_matmul(ctx, 2 * half_k, n, bias=5)


@register("MatMulBlockQuantizedFp8Weight", domain=MS)
def matmul_fp8_weight(ctx: NodeContext) -> Cost:
    # A, B [N, K] float8, b_scale, a_scale, bias; with a_scale, A is quantized to fp8 (W8A8).
    n, k = ctx.in_dims(1)
    w8a8 = _present(ctx, 3)
    cost = _weight_only_matmul(ctx, k, n, bias=4, compute_dtype="float8e4m3fn" if w8a8 else None)
    if w8a8:
        return cost + Cost(flops=QUANT_FLOPS * numel(ctx, 0))
    return cost


@register("DynamicQuantizeMatMul", domain=MS)
def dynamic_quantize_matmul(ctx: NodeContext) -> Cost:
    # A float is quantized to uint8 at run time, integer matmul with B, scaled back (+ bias).
    batch, m, n, k = matmul_dims(ctx, ctx.in_dims(0), ctx.in_dims(1))
    out = prod(batch) * m * n
    macs = out * k
    flops = 2 * macs + DYNAMIC_QUANT_FLOPS * numel(ctx, 0) + out * (1 + _present(ctx, 4))
    return Cost(macs=macs, flops=flops, compute_dtype=int_dtype(ctx.input(1)) or "uint8")


@register("MatMulIntegerToFloat", domain=MS)
def matmul_integer_to_float(ctx: NodeContext) -> Cost:
    # A, B, a_scale, b_scale, a_zp, b_zp, bias: int32 sums scaled to float (+ bias)
    batch, m, n, k = matmul_dims(ctx, ctx.in_dims(0), ctx.in_dims(1))
    out = prod(batch) * m * n
    macs = out * k
    flops = 2 * macs + out * (1 + _present(ctx, 6))
    return Cost(macs=macs, flops=flops, compute_dtype=int_dtype(ctx.input(0), ctx.input(1)))


@register("MatMulInteger16", domain=MS)
def matmul_integer16(ctx: NodeContext) -> Cost:
    batch, m, n, k = matmul_dims(ctx, ctx.in_dims(0), ctx.in_dims(1))
    macs = prod(batch) * m * n * k
    return Cost(macs=macs, flops=2 * macs, compute_dtype=int_dtype(ctx.input(0), ctx.input(1)))


@register("QGemm", domain=MS)
def qgemm(ctx: NodeContext) -> Cost:
    # A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp: requantized with y_scale, else
    # scaled to float (1 multiply per output). C (int32) is absorbed like Gemm's bias.
    m, n, k = gemm_macs(ctx, 0, 3)
    macs = m * n * k
    per_out = QUANT_FLOPS if _present(ctx, 7) else 1
    return Cost(
        macs=macs,
        flops=2 * macs + per_out * m * n,
        compute_dtype=int_dtype(ctx.input(0), ctx.input(3)),
    )


@register("QOrderedMatMul", domain=MS)
def qordered_matmul(ctx: NodeContext) -> Cost:
    # A, scale_A, B, scale_B, scale_Y, bias, C, scale_C: int8 matmul, requantized output
    batch, m, n, k = matmul_dims(ctx, ctx.in_dims(0), ctx.in_dims(2))
    out = prod(batch) * m * n
    macs = out * k
    extra = out * (QUANT_FLOPS + _present(ctx, 5) + 2 * _present(ctx, 6))
    return Cost(
        macs=macs, flops=2 * macs + extra, compute_dtype=int_dtype(ctx.input(0), ctx.input(2))
    )


# --- mixture of experts -----------------------------------------------------------------------


def _moe(ctx: NodeContext, fcs: tuple[int, ...], bias: tuple[int, ...], bits_of) -> Cost:
    """tokens * k experts, each running its FFN (fc1 [, fc3], activation, fc2); per-token MACs
    of an fc are the logical elements of one expert's weight. Router: softmax over experts,
    top-k selection (1 compare per expert), weighted sum of the k expert outputs."""
    x = ctx.in_dims(0)
    tokens, hidden = prod(x[:-1]), x[-1]
    k = int(ctx.attr("k", 1))
    experts = ctx.in_dims(1)[-1]
    per_token = 0
    for i in fcs:
        if _present(ctx, i):
            per_token += prod(ctx.in_dims(i)[1:]) * 8 // bits_of(i)
    fc2 = ctx.in_dims(fcs[1])
    inter = prod(fc2[1:]) * 8 // bits_of(fcs[1]) // hidden
    act = ctx.attr("activation_type", "relu")
    act = act.decode() if isinstance(act, bytes) else act
    act_flops = {"swiglu": SWIGLU_FLOPS, "geglu": FAST_GELU_FLOPS + 1}.get(
        act, ACTIVATION_FLOPS.get(act, 1)
    )
    bias_flops = sum(prod(ctx.in_dims(i)[1:]) for i in bias if _present(ctx, i))
    macs = tokens * k * per_token
    expert_flops = k * (inter * act_flops + bias_flops)
    router = experts * (SOFTMAX_FLOPS + 1) + 2 * k * hidden
    return Cost(macs=macs, flops=2 * macs + tokens * (expert_flops + router))


@register("MoE", domain=MS)
def moe(ctx: NodeContext) -> Cost:
    # input, router_probs, fc1_w, fc1_b, fc2_w, fc2_b, fc3_w, fc3_b
    return _moe(ctx, (2, 4, 6), (3, 5, 7), lambda _i: 8)


@register("QMoE", domain=MS)
def qmoe(ctx: NodeContext) -> Cost:
    # input, router_probs, fc1_w, fc1_scales, fc1_b, fc2_w, fc2_scales, fc2_b, fc3_w, ...
    quant = ctx.attr("quant_type", "int")
    quant = quant.decode() if isinstance(quant, bytes) else quant
    default = int(ctx.attr("expert_weight_bits", 4))
    keys = {2: "fc1_expert_weight_bits", 5: "fc2_expert_weight_bits", 8: "fc3_expert_weight_bits"}

    def bits_of(i: int) -> int:
        t = ctx.input(i)
        if t is None or dtypes.bits(t.elem_type) != 8 or dtypes.name(t.elem_type) != "uint8":
            return 8  # stored unpacked (e.g. float8): one logical element per stored element
        if quant in ("fp4", "nvfp4", "mxfp4", "wfp4afp8"):
            return 4
        return int(ctx.attr(keys[i]) or default)

    cost = _moe(ctx, (2, 5, 8), (4, 7, 10), bits_of)
    return Cost(
        macs=cost.macs,
        flops=cost.flops,
        notes=("expert weights dequantized inside the GEMMs: not counted separately",),
    )


# --- quantized elementwise, pooling and data movement --------------------------------------------


def _qlinear(ctx: NodeContext, data: tuple[int, ...], op_flops: int) -> Cost:
    """A QLinear op costs its QDQ expansion: dequantize each quantized data input (2 per
    element), the float op, quantize the output (4 per element)."""
    deq = sum(DEQUANT_FLOPS * numel(ctx, i) for i in data if _present(ctx, i))
    out = _out_numel(ctx, *data)
    return Cost(flops=deq + op_flops + QUANT_FLOPS * out)


@register("QLinearAdd", domain=MS)
@register("QLinearMul", domain=MS)
def qlinear_binary(ctx: NodeContext) -> Cost:
    # A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp
    return _qlinear(ctx, (0, 3), _out_numel(ctx, 0, 3))


@register("QLinearSigmoid", domain=MS)
def qlinear_sigmoid(ctx: NodeContext) -> Cost:
    return _qlinear(ctx, (0,), SIGMOID_FLOPS * numel(ctx, 0))


@register("QLinearLeakyRelu", domain=MS)
def qlinear_leaky_relu(ctx: NodeContext) -> Cost:
    return _qlinear(ctx, (0,), PER_ELEMENT["LeakyRelu"] * numel(ctx, 0))


@register("QLinearSoftmax", domain=MS)
def qlinear_softmax(ctx: NodeContext) -> Cost:
    return _qlinear(ctx, (0,), SOFTMAX_FLOPS * numel(ctx, 0))


@register("QLinearWhere", domain=MS)
def qlinear_where(ctx: NodeContext) -> Cost:
    # condition, X, x_scale, x_zp, Y, y_scale, y_zp, z_scale, z_zp: a select per output
    return _qlinear(ctx, (1, 4), _out_numel(ctx, 0, 1, 4))


@register("QLinearConcat", domain=MS)
def qlinear_concat(ctx: NodeContext) -> Cost:
    # Y_scale, Y_zp, then (tensor, scale, zp) per input: requantize into one range.
    data = tuple(range(2, len(ctx.inputs), 3))
    deq = sum(DEQUANT_FLOPS * numel(ctx, i) for i in data if _present(ctx, i))
    total = sum(numel(ctx, i) for i in data if _present(ctx, i))
    return Cost(flops=deq + QUANT_FLOPS * total)


@register("QLinearAveragePool", domain=MS)
def qlinear_average_pool(ctx: NodeContext) -> Cost:
    # kernel-size adds + 1 divide per output element
    kernel = ctx.attr("kernel_shape")
    if not kernel:
        raise OnnxCostError(f"node {ctx.name!r} (QLinearAveragePool): kernel_shape is required")
    out = ctx.out_numel(0)
    deq = DEQUANT_FLOPS * numel(ctx, 0)
    return Cost(flops=deq + out * (prod(kernel) + 1) + QUANT_FLOPS * out)


@register("QLinearGlobalAveragePool", domain=MS)
def qlinear_global_average_pool(ctx: NodeContext) -> Cost:
    # every input element summed, one divide per output (N x C) element
    x = ctx.in_dims(0)
    out = x[0] * (x[-1] if ctx.attr("channels_last", 0) else x[1])
    return Cost(flops=DEQUANT_FLOPS * prod(x) + prod(x) + out + QUANT_FLOPS * out)


@register("QLinearReduceMean", domain=MS)
def qlinear_reduce_mean(ctx: NodeContext) -> Cost:
    x = ctx.in_dims(0)
    axes = ctx.attr("axes") or list(range(len(x)))
    out = prod(d for i, d in enumerate(x) if i not in {a % len(x) for a in axes})
    return Cost(flops=DEQUANT_FLOPS * prod(x) + prod(x) + out + QUANT_FLOPS * out)


@register("MulInteger", domain=MS)
def mul_integer(ctx: NodeContext) -> Cost:
    # (A - A_zp) * (B - B_zp) -> int32: one multiply per output (zero points folded)
    a, b = ctx.input(0), ctx.input(2)
    return Cost(flops=_out_numel(ctx, 0, 2), compute_dtype=int_dtype(a, b))


@register("ReduceSumInteger", domain=MS)
def reduce_sum_integer(ctx: NodeContext) -> Cost:
    return Cost(flops=numel(ctx, 0), compute_dtype=int_dtype(ctx.input(0)))


@register("QuantizeWithOrder", domain=MS)
def quantize_with_order(ctx: NodeContext) -> Cost:
    return Cost(flops=QUANT_FLOPS * numel(ctx, 0))


@register("DequantizeWithOrder", domain=MS)
def dequantize_with_order(ctx: NodeContext) -> Cost:
    return Cost(flops=DEQUANT_FLOPS * numel(ctx, 0))


@register("QOrderedGelu", domain=MS)
def qordered_gelu(ctx: NodeContext) -> Cost:
    n = numel(ctx, 0)
    return Cost(flops=n * (DEQUANT_FLOPS + GELU_FLOPS + QUANT_FLOPS))


@register("QOrderedLayerNormalization", domain=MS)
def qordered_layer_norm(ctx: NodeContext) -> Cost:
    x = ctx.in_dims(0)
    n = prod(x)
    return Cost(flops=n * (DEQUANT_FLOPS + QUANT_FLOPS) + _layernorm(n))


@register("GatherBlockQuantized", domain=MS)
def gather_block_quantized(ctx: NodeContext) -> Cost:
    # Gather, then each output element dequantized: (q - zero_point) * scale.
    y = ctx.output(0)
    if y is not None and y.static:
        out = y.numel()
    else:
        data = ctx.in_dims(0)
        axis = ctx.attr("gather_axis", 0) % len(data)
        rest = prod(d for i, d in enumerate(data) if i != axis)
        t = ctx.input(0)
        bits = int(ctx.attr("bits", 4))
        if t is not None and dtypes.name(t.elem_type) == "uint8" and bits < 8:
            rest = rest * 8 // bits  # packed along the last dim
        out = numel(ctx, 1) * rest
    return Cost(flops=DEQUANT_FLOPS * out)


@register("Range", domain=MS)
def range_ms(ctx: NodeContext) -> Cost:
    return Cost(flops=ctx.out_numel(0))  # start + i * delta: one per element


@register("NhwcMaxPool", domain=MS)
def nhwc_max_pool(ctx: NodeContext) -> Cost:
    # kernel-size compares per output element, as MaxPool
    kernel = ctx.attr("kernel_shape")
    if not kernel:
        raise OnnxCostError(f"node {ctx.name!r} (NhwcMaxPool): kernel_shape is required")
    return Cost(flops=prod(kernel) * ctx.out_numel(0))


# Pure data movement in the contrib domain: no arithmetic.
register("ExpandDims", domain=MS, kind="view")(lambda ctx: Cost())
_MOVES = ("Trilu", "GatherND", "Pad", "TorchEmbedding", "RemovePadding", "RestorePadding")
for _op in (*_MOVES, "UnfoldTensor"):
    register(_op, domain=MS)(lambda ctx: Cost())


# T5's relative position bucket of one (query, key) pair: the offset (sub), its magnitude and
# direction (abs, compare), the log-scaled bucket for far offsets (log, div, mul, add) and the
# clamp to the last bucket (min); the bias lookup per head is a gather (free).
RELATIVE_BUCKET_FLOPS = 8


@register("RelativePositionBias", domain="com.microsoft")
def relative_position_bias(ctx: NodeContext) -> Cost:
    """Output [1, heads, q, k]: one bucket per (query, key) pair, shared by the heads."""
    out = ctx.out_dims(0, rank=4)
    return Cost(flops=RELATIVE_BUCKET_FLOPS * out[2] * out[3])


@register("DynamicQuantizeLSTM", domain="com.microsoft")
def dynamic_quantize_lstm(ctx: NodeContext) -> Cost:
    """An LSTM whose weights are int8 (W [D, I, 4H], R [D, H, 4H], transposed from LSTM's) and
    whose input is quantized on the fly: the LSTM's count, as integer MACs."""
    from dataclasses import replace

    from onnxcost.rules.recurrent import recurrent

    d, isize, gh = ctx.in_dims(1, rank=3)
    w = TensorInfo(ctx.input(1).name, 1, (d, gh, isize))  # type: ignore[union-attr]
    cost = recurrent(replace(ctx, op_type="LSTM", inputs=[ctx.inputs[0], w, *ctx.inputs[2:8]]))
    return replace(cost, compute_dtype="int8")
