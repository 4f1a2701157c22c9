"""Pooling: kernel-size FLOPs per output element (AveragePool adds one divide)."""

from __future__ import annotations

from math import prod

from onnxcost.errors import ModelError
from onnxcost.rules.linear import conv_output_spatial
from onnxcost.rules.registry import Cost, NodeContext, register


def _kernel(ctx: NodeContext) -> tuple[int, ...]:
    ks = ctx.attr("kernel_shape")
    if not ks:
        raise ModelError("kernel_shape is required")
    kernel = tuple(int(k) for k in ks)
    if any(k <= 0 for k in kernel):
        raise ModelError(f"kernel_shape {list(kernel)} must be positive")
    return kernel


def _out_elements(ctx: NodeContext, kernel: tuple[int, ...]) -> int:
    t = ctx.output(0)
    if t is not None and t.static:
        return t.numel()
    x = ctx.in_dims(0)
    return x[0] * x[1] * prod(conv_output_spatial(ctx, x[2:], kernel))


@register("MaxPool", "AveragePool", "LpPool")
def pool(ctx: NodeContext) -> Cost:
    """MaxPool: k per output; AveragePool: k + 1 (divide); LpPool: 2k (pow, add) + 1 (root)."""
    kernel = _kernel(ctx)
    x = ctx.in_dims(0)
    conv_output_spatial(ctx, x[2:], kernel)  # validates pads/strides against the input
    k = prod(kernel)
    per = {"MaxPool": k, "AveragePool": k + 1, "LpPool": 2 * k + 1}[ctx.op_type]
    return Cost(flops=per * _out_elements(ctx, kernel))


@register("GlobalMaxPool", "GlobalAveragePool", "GlobalLpPool")
def global_pool(ctx: NodeContext) -> Cost:
    """A kernel over the whole spatial extent: one output element per (N, C)."""
    x = ctx.in_dims(0, min_rank=3)  # [N, C, spatial...]
    k, outputs = prod(x[2:]), x[0] * x[1]
    per = {"GlobalMaxPool": k, "GlobalAveragePool": k + 1, "GlobalLpPool": 2 * k + 1}[ctx.op_type]
    return Cost(flops=per * outputs)
