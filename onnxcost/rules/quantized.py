"""Quantized ops of the ONNX domain: integer convolutions and matmuls, (de)quantization.

Contractions count the MACs of the float op they replace; their `compute_dtype` is the integer
type, so the roofline uses the device's integer peak. FLOPs per element of the (de)quantizers:

- DequantizeLinear: 2 — `(x - zero_point) * scale`
- QuantizeLinear: 4 — `x / scale`, round, `+ zero_point`, saturate
- DynamicQuantizeLinear: 6 — min and max over x (2), then QuantizeLinear (4)
- QLinearConv / QLinearMatMul: 2 per MAC + 4 per output element (requantize the int32 sum,
  as QuantizeLinear does). ConvInteger / MatMulInteger: 2 per MAC (int32 out, no requantize).

Zero-point corrections of the integer contractions are folded into the MACs, as kernels do.
The helpers here (matmul/conv geometry, the int dtype pick) are shared with `contrib`.
"""

from __future__ import annotations

from math import prod

from onnxcost import dtypes
from onnxcost.errors import ModelError, OnnxCostError
from onnxcost.rules.registry import Cost, NodeContext, TensorInfo, Unresolved, broadcast, register

DEQUANT_FLOPS = 2  # (x - zero_point) * scale
QUANT_FLOPS = 4  # x / scale, round, + zero_point, saturate
DYNAMIC_QUANT_FLOPS = 6  # min, max, then quantize


# --- geometry shared with contrib -------------------------------------------------------------


def matmul_dims(
    ctx: NodeContext, a: tuple[int, ...], b: tuple[int, ...]
) -> tuple[tuple[int, ...], int, int, int]:
    """(broadcast batch, M, N, K) of numpy.matmul(a, b); 1-D operands as numpy treats them."""
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if len(a2) < 2 or len(b2) < 2:
        raise OnnxCostError(f"node {ctx.name!r} ({ctx.op_type}): matmul of a scalar")
    (m, k), (k2, n) = a2[-2:], b2[-2:]
    if k != k2:
        raise OnnxCostError(f"node {ctx.name!r} ({ctx.op_type}): inner dims differ ({a} x {b})")
    try:  # the registry's broadcast: dims may be formulas of the model's dim names
        batch = broadcast(a2[:-2], b2[:-2])
    except ModelError as e:
        raise OnnxCostError(
            f"node {ctx.name!r} ({ctx.op_type}): batch dims do not broadcast ({a} x {b})"
        ) from e
    return batch, m, n, k


def matmul_macs(ctx: NodeContext, a: tuple[int, ...], b: tuple[int, ...]) -> int:
    batch, m, n, k = matmul_dims(ctx, a, b)
    return prod(batch) * m * n * k


def gemm_macs(ctx: NodeContext, a_idx: int = 0, b_idx: int = 1) -> tuple[int, int, int]:
    """(M, N, K) of a Gemm-style op with transA/transB."""
    a, b = ctx.in_dims(a_idx), ctx.in_dims(b_idx)
    if len(a) != 2 or len(b) != 2:
        raise OnnxCostError(f"node {ctx.name!r} ({ctx.op_type}): Gemm operands must be 2-D")
    m, k = (a[1], a[0]) if ctx.attr("transA", 0) else a
    n = b[0] if ctx.attr("transB", 0) else b[1]
    return m, n, k


def _conv_spatial(ctx: NodeContext, spatial: tuple[int, ...], kernel: tuple[int, ...]) -> list[int]:
    """Output spatial size of a Conv from its attributes (used when inference left it unknown)."""
    nd = len(spatial)
    strides = ctx.attr("strides") or [1] * nd
    dil = ctx.attr("dilations") or [1] * nd
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    pads = ctx.attr("pads") or [0] * (2 * nd)
    out = []
    for i in range(nd):
        eff = dil[i] * (kernel[i] - 1) + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(-(-spatial[i] // strides[i]))
        elif auto_pad == "VALID":
            out.append((spatial[i] - eff) // strides[i] + 1)
        else:
            out.append((spatial[i] + pads[i] + pads[i + nd] - eff) // strides[i] + 1)
    return out


def conv_out_numel(ctx: NodeContext, x_idx: int, w_idx: int, channels_last: bool = False) -> int:
    """Elements of a Conv output: from inference if static, else from the attributes."""
    y = ctx.output(0)
    if y is not None and y.static:
        return y.numel()
    x, w = ctx.in_dims(x_idx), ctx.in_dims(w_idx)
    spatial = x[1:-1] if channels_last else x[2:]
    kernel = tuple(ctx.attr("kernel_shape") or w[2:])
    return x[0] * w[0] * prod(_conv_spatial(ctx, spatial, kernel))


def conv_macs(ctx: NodeContext, x_idx: int, w_idx: int, channels_last: bool = False) -> int:
    """N * Cout * prod(out spatial) * (Cin/group) * prod(kernel): every output element reads one
    kernel slice of W, whose shape is [Cout, Cin/group, k1, ..., kd]."""
    w = ctx.in_dims(w_idx)
    return conv_out_numel(ctx, x_idx, w_idx, channels_last) * prod(w[1:])


def int_dtype(*tensors: TensorInfo | None) -> str | None:
    """The integer compute type of a contraction: the widest integer operand (int8 x int4 runs
    at the int8 rate); on a tie, the first (the activation)."""
    best: TensorInfo | None = None
    for t in tensors:
        if t is None or not dtypes.is_integer(t.elem_type):
            continue
        if best is None or dtypes.bits(t.elem_type) > dtypes.bits(best.elem_type):
            best = t
    return None if best is None else best.dtype


def numel(ctx: NodeContext, i: int) -> int:
    t = ctx.input(i)
    if t is None:
        raise Unresolved(f"{ctx.name} input {i}", "missing")
    return t.numel()


# --- rules ------------------------------------------------------------------------------------


@register("QLinearConv")
@register("QLinearConv", domain="com.microsoft")  # adds channels_last
def qlinear_conv(ctx: NodeContext) -> Cost:
    # x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, [B]
    macs = conv_macs(ctx, 0, 3, bool(ctx.attr("channels_last", 0)))
    out = conv_out_numel(ctx, 0, 3, bool(ctx.attr("channels_last", 0)))
    return Cost(
        macs=macs,
        flops=2 * macs + QUANT_FLOPS * out,
        compute_dtype=int_dtype(ctx.input(0), ctx.input(3)),
    )


@register("ConvInteger")
def conv_integer(ctx: NodeContext) -> Cost:
    # x, w, [x_zp], [w_zp] -> int32
    macs = conv_macs(ctx, 0, 1)
    return Cost(macs=macs, flops=2 * macs, compute_dtype=int_dtype(ctx.input(0), ctx.input(1)))


@register("QLinearMatMul")
def qlinear_matmul(ctx: NodeContext) -> Cost:
    # a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
    batch, m, n, _k = matmul_dims(ctx, ctx.in_dims(0), ctx.in_dims(3))
    macs = matmul_macs(ctx, ctx.in_dims(0), ctx.in_dims(3))
    out = prod(batch) * m * n
    return Cost(
        macs=macs,
        flops=2 * macs + QUANT_FLOPS * out,
        compute_dtype=int_dtype(ctx.input(0), ctx.input(3)),
    )


@register("MatMulInteger")
def matmul_integer(ctx: NodeContext) -> Cost:
    # a, b, [a_zp], [b_zp] -> int32
    macs = matmul_macs(ctx, ctx.in_dims(0), ctx.in_dims(1))
    return Cost(macs=macs, flops=2 * macs, compute_dtype=int_dtype(ctx.input(0), ctx.input(1)))


@register("QuantizeLinear", kind="elementwise")
def quantize_linear(ctx: NodeContext) -> Cost:
    x = ctx.input(0)
    return Cost(flops=QUANT_FLOPS * numel(ctx, 0), compute_dtype=x.dtype if x else None)


@register("DequantizeLinear", kind="elementwise")
def dequantize_linear(ctx: NodeContext) -> Cost:
    # The arithmetic runs in the scale's (float) type.
    scale = ctx.input(1)
    return Cost(
        flops=DEQUANT_FLOPS * numel(ctx, 0),
        compute_dtype=scale.dtype if scale else None,
    )


@register("DynamicQuantizeLinear")
def dynamic_quantize_linear(ctx: NodeContext) -> Cost:
    x = ctx.input(0)
    return Cost(flops=DYNAMIC_QUANT_FLOPS * numel(ctx, 0), compute_dtype=x.dtype if x else None)


# The same (de)quantizers in onnxruntime's domain.
register("QuantizeLinear", domain="com.microsoft", kind="elementwise")(quantize_linear)
register("DequantizeLinear", domain="com.microsoft", kind="elementwise")(dequantize_linear)
