"""Elementwise ops: FLOPs per output element, from a table. No MACs.

Weights count the scalar operations of the usual formula (README, "How costs are counted"):
Sigmoid = neg, exp, add, div = 4; Gelu = x/sqrt2, erf, add 1, mul x, mul 0.5 = 5 (tanh form 9).
"""

from __future__ import annotations

from onnxcost.rules.registry import Cost, NodeContext, register

# FLOPs per output element.
PER_ELEMENT: dict[str, int] = {
    # arithmetic and comparison (binary, numpy broadcasting): one operation each
    **dict.fromkeys(
        [
            "Add",
            "Sub",
            "Mul",
            "Div",
            "Pow",
            "Mod",
            "BitShift",
            "Equal",
            "Less",
            "LessOrEqual",
            "Greater",
            "GreaterOrEqual",
            "And",
            "Or",
            "Xor",
            "BitwiseAnd",
            "BitwiseOr",
            "BitwiseXor",
            "Where",
        ],
        1,
    ),
    # unary, one operation each
    **dict.fromkeys(
        [
            "Abs",
            "Neg",
            "Exp",
            "Log",
            "Sqrt",
            "Reciprocal",
            "Tanh",
            "Erf",
            "Relu",
            "Floor",
            "Ceil",
            "Round",
            "Sign",
            "Not",
            "BitwiseNot",
            "IsNaN",
            "IsInf",
            "Sin",
            "Cos",
            "Tan",
            "Asin",
            "Acos",
            "Atan",
            "Sinh",
            "Cosh",
            "Asinh",
            "Acosh",
            "Atanh",
            "ThresholdedRelu",
        ],
        1,
    ),
    "LeakyRelu": 2,  # compare, multiply
    "PRelu": 2,  # compare, multiply by slope
    "Clip": 2,  # max, min
    "Softsign": 3,  # abs, add 1, divide
    "Softplus": 3,  # exp, add 1, log
    "Sigmoid": 4,  # neg, exp, add 1, divide
    "HardSigmoid": 4,  # mul alpha, add beta, max 0, min 1
    "HardSwish": 5,  # HardSigmoid + multiply by x
    "Elu": 4,  # compare, exp, sub 1, mul alpha
    "Celu": 5,  # compare, div alpha, exp, sub 1, mul alpha
    "Selu": 5,  # Elu + multiply by gamma
    "Mish": 5,  # exp, add 1, log, tanh, multiply
}
VARIADIC = {
    "Sum",
    "Max",
    "Min",
    "Mean",
}  # n inputs: n - 1 ops per element (Mean: + 1 divide)


def _table(ctx: NodeContext) -> Cost:
    return Cost(flops=PER_ELEMENT[ctx.op_type] * ctx.out_numel())


register(*PER_ELEMENT, kind="elementwise")(_table)


@register(*VARIADIC, kind="elementwise")
def variadic(ctx: NodeContext) -> Cost:
    n = sum(1 for t in ctx.inputs if t is not None)
    per = max(n - 1, 0) + (1 if ctx.op_type == "Mean" and n > 1 else 0)
    return Cost(flops=per * ctx.out_numel())


@register("Gelu", kind="elementwise")
def gelu(ctx: NodeContext) -> Cost:
    """Exact: 0.5 x (1 + erf(x / sqrt 2)) = 5; tanh: 0.5 x (1 + tanh(c (x + 0.044715 x^3))) = 9."""
    approx = ctx.attr("approximate", b"none")
    approx = approx.decode() if isinstance(approx, bytes) else str(approx)
    return Cost(flops=(9 if approx == "tanh" else 5) * ctx.out_numel())
