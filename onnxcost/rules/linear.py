"""Contractions: MatMul, Gemm, Conv, ConvTranspose. One MAC = 2 FLOPs; bias adds are absorbed."""

from __future__ import annotations

from math import prod

from onnxcost.analysis.poly import Poly
from onnxcost.errors import ModelError
from onnxcost.rules.registry import Cost, NodeContext, broadcast, mac_cost, register


@register("MatMul")
def matmul(ctx: NodeContext) -> Cost:
    """[..., M, K] x [..., K, N]: batch * M * N * K MACs; 1-D operands as numpy promotes them."""
    a, b = ctx.in_dims(0), ctx.in_dims(1)
    if not a or not b:
        raise ModelError("MatMul operands must have rank >= 1")
    k = a[-1]
    kb = b[0] if len(b) == 1 else b[-2]
    if k != kb:
        raise ModelError(f"MatMul inner dims differ: {a} x {b}")
    m = a[-2] if len(a) >= 2 else 1
    n = b[-1] if len(b) >= 2 else 1
    batch = prod(broadcast(a[:-2], b[:-2]))
    return mac_cost(batch * m * n * k)


@register("Gemm")
def gemm(ctx: NodeContext) -> Cost:
    """alpha * A' B' + beta * C with A' = A or A^T: M * N * K MACs."""
    a, b = ctx.in_dims(0), ctx.in_dims(1)
    if len(a) != 2 or len(b) != 2:
        raise ModelError(f"Gemm operands must be 2-D, got {a} and {b}")
    m, k = (a[1], a[0]) if ctx.attr("transA", 0) else a
    kb, n = (b[1], b[0]) if ctx.attr("transB", 0) else b
    if k != kb:
        raise ModelError(f"Gemm inner dims differ: K={k} vs {kb}")
    return mac_cost(m * n * k)


def _ints(ctx: NodeContext, key: str, n: int, default: int) -> list[int]:
    v = ctx.attr(key)
    if v is None or len(v) == 0:
        return [default] * n
    v = [int(x) for x in v]
    if len(v) != n:
        raise ModelError(f"{key} has {len(v)} values, expected {n}")
    return v


def conv_output_spatial(
    ctx: NodeContext, spatial: tuple[int, ...], kernel: tuple[int, ...]
) -> tuple[int, ...]:
    """Output spatial dims from pads/strides/dilations/auto_pad; validates them."""
    nd = len(spatial)
    strides = _ints(ctx, "strides", nd, 1)
    dilations = _ints(ctx, "dilations", nd, 1)
    pads = _ints(ctx, "pads", 2 * nd, 0)
    if any(s <= 0 for s in strides) or any(d <= 0 for d in dilations):
        raise ModelError("strides and dilations must be positive")
    if any(p < 0 for p in pads):
        raise ModelError(f"negative pads {pads}")
    auto_pad = ctx.attr("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    out = []
    for i, (x, k) in enumerate(zip(spatial, kernel, strict=True)):
        ek = (k - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-x // strides[i])
        elif auto_pad == "VALID":
            o = (x - ek) // strides[i] + 1
        else:
            o = (x + pads[i] + pads[i + nd] - ek) // strides[i] + 1
        if isinstance(x, Poly):  # formula mode: the shape engine checked the symbolic shapes
            out.append(o)
            continue
        if x > 0 and o <= 0:
            raise ModelError(f"kernel {kernel} larger than padded input {spatial}")
        out.append(max(o, 0))
    return tuple(out)


@register("Conv")
def conv(ctx: NodeContext) -> Cost:
    """N * Cout * prod(out spatial) * (Cin / group) * prod(kernel) MACs (depthwise: Cin/g = 1)."""
    x, w = ctx.in_dims(0), ctx.in_dims(1)
    if len(x) < 3 or len(w) != len(x):
        raise ModelError(f"Conv input {x} and weight {w} ranks do not match (need N x C x spatial)")
    group = int(ctx.attr("group", 1))
    n, cin = x[0], x[1]
    cout, cin_per_group, kernel = w[0], w[1], w[2:]
    if group <= 0 or cin % group or cout % group:
        raise ModelError(f"group {group} does not divide {cin} input / {cout} output channels")
    if cin_per_group * group != cin:
        raise ModelError(f"weight has {cin_per_group} channels per group, input {cin}/{group}")
    ks = ctx.attr("kernel_shape")
    if ks and tuple(int(k) for k in ks) != tuple(kernel):
        raise ModelError(f"kernel_shape {list(ks)} differs from weight {list(kernel)}")
    out = conv_output_spatial(ctx, x[2:], kernel)
    return mac_cost(n * cout * prod(out) * cin_per_group * prod(kernel))


@register("ConvTranspose")
def conv_transpose(ctx: NodeContext) -> Cost:
    """Each input element scatters through the kernel: N * Cin * prod(in) * (Cout/g) * prod(k) MACs."""
    x, w = ctx.in_dims(0), ctx.in_dims(1)
    if len(x) < 3 or len(w) != len(x):
        raise ModelError(f"ConvTranspose input {x} and weight {w} ranks do not match")
    group = int(ctx.attr("group", 1))
    if group <= 0 or x[1] % group or w[0] != x[1]:
        raise ModelError(f"group {group} and weight {w} do not fit {x[1]} input channels")
    return mac_cost(x[0] * x[1] * prod(x[2:]) * w[1] * prod(w[2:]))
