"""Contractions, attention and the other arithmetic ops outside the core rule files.

Einsum is costed the way onnxruntime evaluates it: each operand first sums out the indices that
no other operand and not the output use (n - 1 adds per n values summed), then the operands are
contracted pairwise from left to right, keeping the indices that the output or a later operand
needs. A pairwise step that sums over at least one index costs product(all its index sizes)
MACs, i.e. per output element the product of the contracted index sizes; a step that sums
nothing (outer or Hadamard product) costs one multiply per point. Transposes and diagonals
(repeated indices) are free.

Attention (ONNX opset 23+): with B batch, Hq query heads, Sq query length, T = past + kv
length, Dh the query/key head size and Dv the value head size, S = B*Hq*Sq*T scores:
    MACs = S*Dh (Q K^T) + S*Dv (P V)   -- GQA/MQA share K and V, the MACs are per query head
    FLOPs = 2*MACs + S (scale) + S (mask or causal bias, when any) + 3S (softcap, when set)
            + SOFTMAX_FLOPS*S.
The causal mask does not reduce the count: the op is specified as a dense matmul then a mask.
"""

from __future__ import annotations

import math
from math import prod

from onnxcost.errors import OnnxCostError
from onnxcost.rules.elementwise import PER_ELEMENT
from onnxcost.rules.registry import Cost, NodeContext, Unresolved, mac_cost, register

# Softmax per element: max, subtract, exp, sum, divide (as rules/normalization.py).
SOFTMAX_FLOPS = 5
SIGMOID_FLOPS = PER_ELEMENT["Sigmoid"]
SILU_FLOPS = SIGMOID_FLOPS + 1  # x * sigmoid(x)
IOU_FLOPS = 13  # 4 min/max, 2 sub, 2 clamp, 1 mul, 2 add/sub for the union, 1 div, 1 compare
BILINEAR_TAP_FLOPS = 2  # one multiply and one add per interpolation tap


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _axis(axis: int, rank: int) -> int:
    return axis + rank if axis < 0 else axis


def _int_input_or_attr(ctx: NodeContext, index: int, attr: str, default: int | None) -> int | None:
    """A scalar that is an input in newer opsets and an attribute in older ones."""
    v = ctx.value(index) if ctx.input(index) is not None else None
    if v is not None and v.size >= 1:
        return int(v.reshape(-1)[0])
    return int(ctx.attr(attr, default)) if ctx.attr(attr, default) is not None else None


# --- Einsum -------------------------------------------------------------------------------------


def _parse_term(term: str, dims: tuple[int, ...] | None, ell_rank: int) -> list[str]:
    """Index labels of one term; ellipsis dims become '.0', '.1', ... aligned to the right."""
    labels: list[str] = []
    if "..." in term:
        head, tail = term.split("...")
        n_ell = (len(dims) - len(head) - len(tail)) if dims is not None else ell_rank
        ell = [f".{k}" for k in range(ell_rank - n_ell, ell_rank)]
        labels = list(head) + ell + list(tail)
    else:
        labels = list(term)
    return labels


def einsum_cost(equation: str, shapes: list[tuple[int, ...]]) -> Cost:
    """Cost of an Einsum over operands of the given static shapes."""
    eq = equation.replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise OnnxCostError(f"einsum {equation!r}: {len(terms)} terms for {len(shapes)} operands")
    ell_rank = 0
    for i, (term, dims) in enumerate(zip(terms, shapes, strict=True)):
        letters = len(term.replace("...", ""))
        if len(dims) < letters or ("..." not in term and len(dims) != letters):
            raise OnnxCostError(
                f"einsum {equation!r}: operand {i} of rank {len(dims)} for {term!r}"
            )
        if "..." in term:
            ell_rank = max(ell_rank, len(dims) - letters)
    ops = [_parse_term(t, d, ell_rank) for t, d in zip(terms, shapes, strict=True)]

    size: dict[str, int] = {}
    for labels, dims in zip(ops, shapes, strict=True):
        for lab, d in zip(labels, dims, strict=True):
            size[lab] = max(size.get(lab, 1), d)  # ellipsis dims broadcast

    if "->" in eq:
        out = _parse_term(rhs, None, ell_rank) if "..." in rhs else list(rhs)
    else:  # implicit output: broadcast dims, then letters used exactly once, sorted
        count: dict[str, int] = {}
        for t in terms:
            for ch in t.replace("...", ""):
                count[ch] = count.get(ch, 0) + 1
        out = [f".{k}" for k in range(ell_rank)] + sorted(c for c, n in count.items() if n == 1)
    out_set = set(out)

    flops = 0
    macs = 0
    # Diagonals are free; then sum out indices used by this operand alone.
    reduced: list[list[str]] = []
    for i, (labels, dims) in enumerate(zip(ops, shapes, strict=True)):
        own = dict(zip(labels, dims, strict=True))
        uniq = list(dict.fromkeys(labels))
        elsewhere = out_set.union(*(set(o) for j, o in enumerate(ops) if j != i))
        keep = [lab for lab in uniq if lab in elsewhere]
        if len(keep) < len(uniq):
            flops += prod(own[lab] for lab in uniq) - prod(own[lab] for lab in keep)
        reduced.append(keep)

    result = reduced[0]
    for j in range(1, len(reduced)):
        union = list(dict.fromkeys(result + reduced[j]))
        needed = out_set.union(*(set(o) for o in reduced[j + 1 :]))
        kept = [lab for lab in union if lab in needed]
        points = prod(size[lab] for lab in union)
        if len(kept) < len(union):
            macs += points
        else:
            flops += points
        result = kept
    return Cost(macs=macs, flops=2 * macs + flops)


@register("Einsum")
def einsum(ctx: NodeContext) -> Cost:
    shapes = [ctx.in_dims(i) for i in range(len(ctx.inputs))]
    return einsum_cost(_text(ctx.attr("equation", "")), shapes)


# --- Attention family ---------------------------------------------------------------------------


def attention_cost(
    batch: int,
    q_heads: int,
    q_len: int,
    total_len: int,
    head_size: int,
    v_head_size: int,
    masked: bool = False,
    softcap: bool = False,
) -> Cost:
    """Dense scaled dot-product attention (see the module docstring)."""
    scores = batch * q_heads * q_len * total_len
    macs = scores * head_size + scores * v_head_size
    extra = scores + SOFTMAX_FLOPS * scores
    if masked:
        extra += scores
    if softcap:
        extra += 3 * scores
    return mac_cost(macs, extra_flops=extra)


@register("Attention")
def attention(ctx: NodeContext) -> Cost:
    q = ctx.in_dims(0, rank=(3, 4))
    k, v = ctx.in_dims(1, rank=len(q)), ctx.in_dims(2, rank=len(q))
    if len(q) == 4:
        batch, hq, sq, dh = q
        hkv, skv, dv = k[1], k[2], v[3]
    else:
        hq = int(ctx.attr("q_num_heads", 0))
        hkv = int(ctx.attr("kv_num_heads", 0))
        if hq <= 0 or hkv <= 0:
            raise Unresolved(ctx.name, "3D Attention without q_num_heads/kv_num_heads")
        batch, sq, dh = q[0], q[1], q[2] // hq
        skv, dv = k[1], v[2] // hkv
    past = ctx.in_dims(4, rank=4)[2] if ctx.input(4) is not None else 0
    masked = (
        ctx.input(3) is not None
        or ctx.input(6) is not None
        or bool(ctx.attr("is_causal", 0))
        or int(ctx.attr("left_window_size", -1)) >= 0
        or int(ctx.attr("right_window_size", -1)) >= 0
    )
    softcap = float(ctx.attr("softcap", 0.0) or 0.0) != 0.0
    return attention_cost(batch, hq, sq, past + skv, dh, dv, masked=masked, softcap=softcap)


@register("FlexAttention", domain="ai.onnx.preview")
def flex_attention(ctx: NodeContext) -> Cost:
    """Dense attention on rank-4 Q, K, V, plus the score_mod / prob_mod subgraphs (each run once
    on the whole score tensor)."""
    q, k, v = ctx.in_dims(0), ctx.in_dims(1), ctx.in_dims(2)
    base = attention_cost(q[0], q[1], q[2], k[2], q[3], v[3])
    return base + ctx.subgraph("score_mod") + ctx.subgraph("prob_mod")


@register("LinearAttention")
def linear_attention(ctx: NodeContext) -> Cost:
    """Recurrent linear attention, per token t, kv head and query head (state S is dk x dv).

    linear: S += k v^T (dk*dv MACs); gated: adds exp(g) * S (dk*dv FLOPs, + the exps);
    delta: also S^T k (dk*dv MACs), v - . and beta * . (2*dv); gated_delta: both.
    Output per query head: q^T S (dk*dv MACs) and the scale (dv).
    """
    q, v = ctx.in_dims(0), ctx.in_dims(2)
    hq = int(ctx.attr("q_num_heads", 0))
    hkv = int(ctx.attr("kv_num_heads", 0))
    if hq <= 0 or hkv <= 0:
        raise Unresolved(ctx.name, "LinearAttention without q_num_heads/kv_num_heads")
    batch, steps = q[0], q[1]
    dk, dv = q[2] // hq, v[2] // hkv
    rule = _text(ctx.attr("update_rule", "gated_delta"))
    gated = rule in ("gated", "gated_delta")
    delta = rule in ("delta", "gated_delta")
    state = dk * dv
    macs_kv = state + (state if delta else 0)
    flops_kv = (state + (dk if ctx.input(4) is None else ctx.in_dims(4)[2] // hkv)) if gated else 0
    if delta:
        flops_kv += 2 * dv
    macs = batch * steps * (hkv * macs_kv + hq * state)
    flops = batch * steps * (hkv * flops_kv + hq * dv)
    return mac_cost(macs, extra_flops=flops)


@register("RotaryEmbedding")
def rotary_embedding(ctx: NodeContext) -> Cost:
    """Each rotated value is a 2-term combination (2 mul + 1 add): 3 FLOPs per rotated element."""
    x = ctx.in_dims(0)
    total = prod(x)
    rot = int(ctx.attr("rotary_embedding_dim", 0) or 0)
    if rot == 0:
        return Cost(flops=3 * total)
    if len(x) == 4:
        head = x[3]
    else:
        heads = int(ctx.attr("num_heads", 0) or 0)
        if heads <= 0:
            raise Unresolved(ctx.name, "3D RotaryEmbedding without num_heads")
        head = x[-1] // heads
    return Cost(flops=3 * (total // head) * min(rot, head))


@register("RMSNormalization")
def rms_normalization(ctx: NodeContext) -> Cost:
    """Per element: square, sum, normalise, scale = 4 FLOPs. As for LayerNormalization, the
    per-group mean, epsilon and sqrt are negligible and not counted."""
    return Cost(flops=4 * prod(ctx.in_dims(0)))


# --- Normalizations and activations not in the core files ---------------------------------------


@register("LRN")
def lrn(ctx: NodeContext) -> Cost:
    """Per element: `size` squares and adds over neighbouring channels, then bias + alpha/size
    scaling (2), the power (1) and the divide (1)."""
    size = int(ctx.attr("size", 1))
    return Cost(flops=ctx.out_numel() * (2 * size + 4))


@register("LpNormalization")
def lp_normalization(ctx: NodeContext) -> Cost:
    """Per element: |x| or x^2, add, divide = 3 FLOPs (the per-vector sqrt is not counted)."""
    return Cost(flops=3 * prod(ctx.in_dims(0)))


@register("MeanVarianceNormalization")
def mean_variance_normalization(ctx: NodeContext) -> Cost:
    """Per element: sum, subtract mean, square, sum, normalise = 5 FLOPs (as LayerNormalization
    without scale and bias; the per-group divides and sqrt are not counted)."""
    return Cost(flops=5 * prod(ctx.in_dims(0)))


@register("Hardmax")
def hardmax(ctx: NodeContext) -> Cost:
    """One compare per element to find each row's maximum."""
    return Cost(flops=ctx.out_numel())


@register("Shrink", kind="elementwise")
def shrink(ctx: NodeContext) -> Cost:
    """Compare with lambd, then add/subtract bias: 2 FLOPs per element."""
    return Cost(flops=2 * ctx.out_numel())


@register("Swish", kind="elementwise")
def swish(ctx: NodeContext) -> Cost:
    """x * sigmoid(alpha * x): 1 + Sigmoid's 4 + 1 = 6 FLOPs per element."""
    return Cost(flops=(SIGMOID_FLOPS + 2) * ctx.out_numel())


@register("SwiGLU", kind="elementwise")
def swiglu(ctx: NodeContext) -> Cost:
    """Swish(A) * B: Swish's 6 + 1 = 7 FLOPs per element."""
    return Cost(flops=(SIGMOID_FLOPS + 3) * ctx.out_numel())


@register("CumSum", "CumProd")
def cumulative(ctx: NodeContext) -> Cost:
    """One add (or multiply) per element along the axis."""
    return Cost(flops=ctx.out_numel())


@register("Det")
def det(ctx: NodeContext) -> Cost:
    """LU decomposition of each M x M matrix: M^3/3 MACs."""
    x = ctx.in_dims(0)
    m = x[-1]
    return mac_cost(prod(x[:-2]) * (m**3 // 3))


@register("TopK")
def topk(ctx: NodeContext) -> Cost:
    """Heap selection: each of the n elements of a row is compared log2(k) times (at least once)."""
    x = ctx.in_dims(0, min_rank=1)
    axis = _axis(int(ctx.attr("axis", -1)), len(x))
    k = ctx.out_dims(0, rank=len(x))[axis]
    return Cost(flops=prod(x) * max(1, math.ceil(math.log2(max(k, 1)))))


@register("NonMaxSuppression")
def non_max_suppression(ctx: NodeContext) -> Cost:
    """Per batch and class: sort the n boxes (n log2 n compares) and the IoU of every pair
    (IOU_FLOPS each) -- the all-pairs upper estimate; the selection is data-dependent."""
    scores = ctx.in_dims(1, rank=3)  # [batch, classes, boxes]
    batch, classes, n = scores[0], prod(scores[1:-1]), scores[-1]
    pairs = n * (n - 1) // 2
    sort = n * math.ceil(math.log2(n)) if n > 1 else 0
    return Cost(flops=batch * classes * (sort + IOU_FLOPS * pairs), notes=("NMS: all pairs",))


# --- Sampling and interpolation -----------------------------------------------------------------


def _taps(mode: str) -> int:
    """Interpolation taps per resized axis."""
    mode = mode.lower()
    if mode in ("linear", "bilinear", "trilinear"):
        return 2
    if mode in ("cubic", "bicubic"):
        return 4
    return 1  # nearest: a copy


def _interp_cost(x: tuple[int, ...], y: tuple[int, ...], mode: str, antialias: bool) -> Cost:
    """Per output element, 2 FLOPs per tap less one (the first tap needs no add)."""
    base = _taps(mode)
    if base == 1:
        return Cost()
    taps = 1
    for a, b in zip(x, y, strict=True):
        if a == b:
            continue
        t = base
        if antialias and b < a:
            t = math.ceil(base * a / b)  # the filter widens by the downscale factor
        taps *= t
    if taps == 1:
        return Cost()
    return Cost(flops=prod(y) * (BILINEAR_TAP_FLOPS * taps - 1))


@register("Resize", "Upsample")
def resize(ctx: NodeContext) -> Cost:
    x, y = ctx.in_dims(0), ctx.out_dims(0)
    mode = _text(ctx.attr("mode", "nearest"))
    return _interp_cost(x, y, mode, bool(ctx.attr("antialias", 0)))


@register("GridSample")
def grid_sample(ctx: NodeContext) -> Cost:
    """Per output location: 2 FLOPs per spatial coordinate to unnormalize, then the taps."""
    x, y = ctx.in_dims(0), ctx.out_dims(0)
    mode = _text(ctx.attr("mode", "bilinear" if ctx.opset < 20 else "linear"))
    d = len(x) - 2
    taps = _taps(mode) ** d
    locations = y[0] * prod(y[2:])
    interp = prod(y) * (BILINEAR_TAP_FLOPS * taps - 1) if taps > 1 else 0
    return Cost(flops=interp + 2 * d * locations)


@register("AffineGrid")
def affine_grid(ctx: NodeContext) -> Cost:
    """Each output coordinate is a row of theta times [x, y, (z,) 1]: d + 1 MACs."""
    y = ctx.out_dims(0)
    return mac_cost(prod(y) * (y[-1] + 1))


@register("RoiAlign")
def roi_align(ctx: NodeContext) -> Cost:
    """Per output bin: s*s bilinear samples (4 taps = 7 FLOPs, +1 to pool each), +1 divide.
    sampling_ratio 0 (adaptive, data-dependent) is counted as 2."""
    s = int(ctx.attr("sampling_ratio", 0))
    notes: tuple[str, ...] = ()
    if s <= 0:
        s, notes = 2, ("adaptive sampling_ratio counted as 2",)
    return Cost(flops=ctx.out_numel() * (8 * s * s + 1), notes=notes)


@register("MaxRoiPool")
def max_roi_pool(ctx: NodeContext) -> Cost:
    """Data-dependent bins; estimated as ROIs covering the whole map: one compare per input
    position of each bin, ceil(H/ph) * ceil(W/pw) per output element."""
    x = ctx.in_dims(0, rank=4)
    ph, pw = (int(v) for v in ctx.attr("pooled_shape", [1, 1]))
    per_bin = math.ceil(x[2] / ph) * math.ceil(x[3] / pw)
    return Cost(flops=ctx.out_numel() * per_bin, notes=("MaxRoiPool: whole-map ROI estimate",))


@register("Col2Im")
def col2im(ctx: NodeContext) -> Cost:
    """Each column value is added into its image position: one add per input element."""
    return Cost(flops=prod(ctx.in_dims(0)))


@register("DeformConv")
def deform_conv(ctx: NodeContext) -> Cost:
    """Conv MACs N*oC*prod(o)*(C/g)*prod(k) plus, per sampled input value, a bilinear sample
    (4 taps = 7 FLOPs) and the mask multiply when a mask is given. Bias absorbed (as Conv)."""
    x, w, y = ctx.in_dims(0, min_rank=3), ctx.in_dims(1, min_rank=3), ctx.out_dims(0, min_rank=3)
    n, c = x[0], x[1]
    ksize = prod(w[2:])
    out_sp = prod(y[2:])
    macs = n * y[1] * out_sp * w[1] * ksize
    samples = n * c * out_sp * ksize
    per_sample = 7 + (1 if ctx.input(4) is not None else 0)
    return mac_cost(macs, extra_flops=samples * per_sample)


@register("CausalConvWithState")
def causal_conv_with_state(ctx: NodeContext) -> Cost:
    """Depthwise causal conv: B*C*L*k MACs (bias absorbed); SiLU adds 5 FLOPs per output."""
    y = ctx.out_dims(0)
    k = ctx.in_dims(1)[-1]
    act = _text(ctx.attr("activation", "none")).lower()
    extra = SILU_FLOPS * prod(y) if act in ("silu", "swish") else 0
    return mac_cost(prod(y) * k, extra_flops=extra)


# --- Signal processing --------------------------------------------------------------------------


def fft_flops(n: int, real: bool) -> int:
    """Radix-2 FFT count 5 n log2 n for a complex transform; half for a real input."""
    if n <= 1:
        return 0
    f = 5 * n * math.log2(n)
    return round(f / 2 if real else f)


@register("DFT")
def dft(ctx: NodeContext) -> Cost:
    x = ctx.in_dims(0, min_rank=2)  # [batch, ..., 1 or 2]
    # The axis is an attribute (default 1) before opset 20, then an input (default -2).
    axis = _int_input_or_attr(ctx, 2, "axis", -2) if ctx.opset >= 20 else ctx.attr("axis", 1)
    axis = _axis(int(axis) if axis is not None else -2, len(x))
    length = ctx.value(1) if ctx.input(1) is not None else None
    n = int(length.reshape(-1)[0]) if length is not None and length.size else x[axis]
    real = x[-1] == 1 and not ctx.attr("inverse", 0)
    transforms = prod(x) // (x[axis] * x[-1]) if x[axis] else 0
    return Cost(flops=transforms * fft_flops(n, real))


@register("STFT")
def stft(ctx: NodeContext) -> Cost:
    """Per frame: the window multiply (n) and an FFT of length n."""
    x, y = ctx.in_dims(0, rank=3), ctx.out_dims(0, rank=4)
    batch, frames, bins = y[0], y[1], y[2]
    fl = ctx.value(3) if ctx.input(3) is not None else None
    if fl is not None and fl.size:
        n = int(fl.reshape(-1)[0])
    elif ctx.input(2) is not None:
        n = ctx.in_dims(2)[0]
    elif not int(ctx.attr("onesided", 1)):
        n = bins
    else:
        raise Unresolved(ctx.name, "STFT frame length unknown")
    window = n if ctx.input(2) is not None else 0
    return Cost(flops=batch * frames * (window + fft_flops(n, x[-1] == 1)))


def _generated(ctx: NodeContext) -> int:
    """Elements of a generated 1-D output: its shape, or the constant size input."""
    try:
        return ctx.out_numel()
    except Unresolved:
        v = ctx.value(0)
        if v is None:
            raise
        return int(v.reshape(-1)[0])


@register("HannWindow", "HammingWindow")
def cosine_window(ctx: NodeContext) -> Cost:
    """a0 - a1*cos(2*pi*n/N): multiply, divide, cos, multiply, subtract = 5 per value."""
    return Cost(flops=5 * _generated(ctx))


@register("BlackmanWindow")
def blackman_window(ctx: NodeContext) -> Cost:
    """Two cosine terms: 9 FLOPs per value."""
    return Cost(flops=9 * _generated(ctx))


@register("MelWeightMatrix")
def mel_weight_matrix(ctx: NodeContext) -> Cost:
    """A triangle weight per (frequency bin, mel bin): subtract, divide, min, max = 4."""
    return Cost(flops=4 * ctx.out_numel())


# --- Losses -------------------------------------------------------------------------------------


def _loss_reduction(ctx: NodeContext, n: int) -> int:
    reduction = _text(ctx.attr("reduction", "mean"))
    if reduction == "none":
        return 0
    return n + (1 if reduction == "mean" else 0)


@register("NegativeLogLikelihoodLoss")
def nll_loss(ctx: NodeContext) -> Cost:
    """Per target: gather and negate (1), weight multiply (1, with weights); then the reduction
    (one add per target, one divide for mean)."""
    n = prod(ctx.in_dims(1))
    per = 1 + (1 if ctx.input(2) is not None else 0)
    return Cost(flops=per * n + _loss_reduction(ctx, n))


@register("SoftmaxCrossEntropyLoss")
def softmax_cross_entropy_loss(ctx: NodeContext) -> Cost:
    """LogSoftmax over the scores (SOFTMAX_FLOPS per element, as the LogSoftmax op), then the
    NLL loss."""
    scores = prod(ctx.in_dims(0))
    n = prod(ctx.in_dims(1))
    per = 1 + (1 if ctx.input(2) is not None else 0)
    return Cost(flops=SOFTMAX_FLOPS * scores + per * n + _loss_reduction(ctx, n))


# --- No arithmetic ------------------------------------------------------------------------------


@register("MaxUnpool", "CenterCropPad", "Trilu")
def no_arithmetic(ctx: NodeContext) -> Cost:
    """Data movement: scatter (MaxUnpool), crop/pad, triangle select (Trilu). No arithmetic."""
    return Cost()
