"""Recurrent layers: LSTM, GRU, RNN.

Shapes (layout=0; layout=1, opset 14+, swaps the first two dims of X):
X [S, B, I], W [D, G*H, I], R [D, G*H, H], B [D, 2*G*H], with S the sequence length, B the batch,
I the input size, H the hidden size, D the number of directions (2 for "bidirectional") and
G the gate count (LSTM 4, GRU 3, RNN 1).

Every step of every direction multiplies each batch row by the input and recurrence weights:
    MACs = D * S * B * G * H * (I + H)
(when `sequence_lens` is a known constant, S * B becomes the sum of the per-row lengths).
Elementwise FLOPs per step, per direction and batch row:
    all ops     G*H adds (input part + recurrent part of each gate); 2*G*H adds when B is given
                (Wb and Rb are added separately, as the spec writes them); with `clip`, a
                clamp (max and min, 2 FLOPs, as Clip) per activation input (G*H, plus H for the
                LSTM cell output).
    LSTM        f on i, o, f (3H) + g on c~ (H) + h on C (H); C = f*C + i*c~ (3H);
                H = o*h(C) (H); peepholes P: 3H mul + 3H add.
    GRU         f on z, r (2H) + g on h~ (H); r * (R_h h) or r * h (H);
                H = (1-z)*h~ + z*H (4H). linear_before_reset only moves the Rbh add, the count
                is the same.
    RNN         f on the gate (H).
Activation costs (FLOPs per element) are the elementwise ops' weights (rules/elementwise.py):
Sigmoid 4, Tanh 1, Relu 1, LeakyRelu 2, ThresholdedRelu 1, HardSigmoid 4, Elu 4, Softsign 3,
Softplus 3; and Affine 2, ScaledTanh 3.
"""

from __future__ import annotations

from onnxcost.rules.elementwise import PER_ELEMENT
from onnxcost.rules.registry import Cost, NodeContext, mac_cost, register

# FLOPs per element of each activation the spec allows: the elementwise op's weight where the
# activation is also an op, so the two stay in step.
ACTIVATION_FLOPS: dict[str, int] = {
    **{
        name.lower(): PER_ELEMENT[name]
        for name in (
            "Relu",
            "Tanh",
            "Sigmoid",
            "LeakyRelu",
            "ThresholdedRelu",
            "HardSigmoid",
            "Elu",
            "Softsign",
            "Softplus",
        )
    },
    "affine": 2,  # alpha * x + beta
    "scaledtanh": 3,  # alpha * tanh(beta * x)
}
CLIP_FLOPS = PER_ELEMENT["Clip"]  # the cell clip is a max and a min

# Default activations per op, in the spec's order (per direction).
_DEFAULT_ACTS = {
    "LSTM": ("Sigmoid", "Tanh", "Tanh"),
    "GRU": ("Sigmoid", "Tanh"),
    "RNN": ("Tanh",),
}
_GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _act_flops(name: str) -> int:
    # An activation outside the spec's list is counted as 1 FLOP per element.
    return ACTIVATION_FLOPS.get(name.lower(), 1)


def _directions(ctx: NodeContext) -> int:
    direction = _text(ctx.attr("direction", "forward"))
    return 2 if direction == "bidirectional" else 1


def _activations(ctx: NodeContext, ndir: int) -> list[tuple[str, ...]]:
    """The activation names for each direction."""
    default = _DEFAULT_ACTS[ctx.op_type]
    given = [_text(a) for a in ctx.attr("activations", None) or []]
    n = len(default)
    if len(given) < n:
        return [default] * ndir
    out = []
    for d in range(ndir):
        chunk = given[d * n : (d + 1) * n]
        out.append(tuple(chunk) if len(chunk) == n else tuple(given[:n]))
    return out


def _rows_times_steps(ctx: NodeContext) -> int:
    """Sequence steps summed over batch rows: S * B, or sum(sequence_lens) when it is known."""
    x = ctx.in_dims(0, rank=3)
    layout = int(ctx.attr("layout", 0)) if ctx.opset >= 14 else 0
    seq, batch = (x[1], x[0]) if layout == 1 else (x[0], x[1])
    lens = ctx.value(4)
    if lens is not None and lens.size == batch:
        return int(sum(min(max(int(n), 0), seq) for n in lens.reshape(-1)))
    return seq * batch


def _sizes(ctx: NodeContext) -> tuple[int, int]:
    """(input size I, hidden size H) from W [D, G*H, I] or the attributes."""
    gates = _GATES[ctx.op_type]
    w = ctx.in_dims(1, rank=3)
    hidden = ctx.attr("hidden_size")
    hidden = int(hidden) if hidden else w[1] // gates
    return w[2], hidden


def _has(ctx: NodeContext, i: int) -> bool:
    return ctx.input(i) is not None


@register("LSTM", "GRU", "RNN")
def recurrent(ctx: NodeContext) -> Cost:
    op = ctx.op_type
    gates = _GATES[op]
    ndir = _directions(ctx)
    steps = _rows_times_steps(ctx)  # per direction
    isize, h = _sizes(ctx)
    macs = ndir * steps * gates * h * (isize + h)

    clip = ctx.attr("clip") is not None
    per_step = 0  # elementwise FLOPs, summed over directions, per (step, batch row)
    for acts in _activations(ctx, ndir):
        f = gates * h  # input part + recurrent part of each gate
        if _has(ctx, 3):
            f += 2 * gates * h
        if op == "LSTM":
            fa, ga, ha = (_act_flops(a) for a in acts)
            f += 3 * h * fa + h * ga + h * ha  # gates i, o, f; cell candidate; cell output
            f += 3 * h + h  # C = f*C + i*c~ ; H = o*h(C)
            if _has(ctx, 7):
                f += 6 * h  # peepholes: P*C added to i, f, o
            if clip:
                f += CLIP_FLOPS * (gates * h + h)
        elif op == "GRU":
            fa, ga = (_act_flops(a) for a in acts)
            f += 2 * h * fa + h * ga  # z, r; h~
            f += h + 4 * h  # reset product; H = (1-z)*h~ + z*H
            if clip:
                f += CLIP_FLOPS * gates * h
        else:
            f += h * _act_flops(acts[0])
            if clip:
                f += CLIP_FLOPS * h
        per_step += f
    return mac_cost(macs, extra_flops=steps * per_step)
