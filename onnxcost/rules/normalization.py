"""Normalizations and softmax: FLOPs per element (per-row sqrt/divide work is negligible, not counted).

BatchNormalization (inference): the per-channel scale and shift fold from constants: mul + add = 2.
LayerNormalization / InstanceNormalization / GroupNormalization: mean (add), centre (sub),
square (mul), variance (add), normalise (mul) = 5, + 1 for the scale, + 1 for the bias.
Softmax: max (compare), subtract, exp, sum (add), divide = 5; LogSoftmax likewise (log per row).
"""

from __future__ import annotations

from onnxcost.rules.registry import Cost, NodeContext, register


@register("BatchNormalization")
def batch_norm(ctx: NodeContext) -> Cost:
    return Cost(flops=2 * ctx.out_numel())


@register("LayerNormalization")
def layer_norm(ctx: NodeContext) -> Cost:
    per = 5 + (1 if ctx.input(1) is not None else 0) + (1 if ctx.input(2) is not None else 0)
    return Cost(flops=per * ctx.out_numel())


@register("InstanceNormalization", "GroupNormalization")
def instance_norm(ctx: NodeContext) -> Cost:
    return Cost(flops=7 * ctx.out_numel())  # scale and bias are required inputs


@register("Softmax", "LogSoftmax")
def softmax(ctx: NodeContext) -> Cost:
    return Cost(flops=5 * ctx.out_numel())
