"""Reductions: FLOPs per input element, plus a finishing op per output element where one applies.

ReduceSum/Max/Min/Prod, ArgMax/ArgMin: 1 per input element. ReduceMean: + 1 divide per output.
ReduceSumSquare, ReduceL1: 2 per input (square or abs, add). ReduceL2: 2 per input + sqrt per output.
ReduceLogSum: 1 per input + log per output. ReduceLogSumExp: 2 per input (exp, add) + log per output.
"""

from __future__ import annotations

from onnxcost.rules.registry import Cost, NodeContext, register

# (FLOPs per input element, FLOPs per output element)
WEIGHTS: dict[str, tuple[int, int]] = {
    "ReduceSum": (1, 0),
    "ReduceMax": (1, 0),
    "ReduceMin": (1, 0),
    "ReduceProd": (1, 0),
    "ArgMax": (1, 0),
    "ArgMin": (1, 0),
    "ReduceMean": (1, 1),
    "ReduceSumSquare": (2, 0),
    "ReduceL1": (2, 0),
    "ReduceL2": (2, 1),
    "ReduceLogSum": (1, 1),
    "ReduceLogSumExp": (2, 1),
}


@register(*WEIGHTS)
def reduce(ctx: NodeContext) -> Cost:
    per_in, per_out = WEIGHTS[ctx.op_type]
    x = ctx.input(0)
    n_in = x.numel() if x is not None else 0
    n_out = ctx.out_numel() if per_out else 0
    return Cost(flops=per_in * n_in + per_out * n_out)
