"""Control flow: If, Loop, Scan, SequenceMap. The caller analyses each graph attribute and hands
its cost back through `ctx.subgraph(attr)`; these rules decide how many times it runs.

- If: a known condition (a constant, a value worked out from shapes, or an input value the user
  gave) picks its branch; else the more expensive branch (by FLOPs), and the cost is an estimate.
- Loop: body x trip count when the count `M` is a known constant (multiplied, never iterated,
  so a huge count is fine; with a condition input too, `M` is the most the loop can run). `M` absent or unknown, or the "no limit" sentinel INT32_MAX/INT64_MAX
  used with a condition input (a while loop): the body is counted once and the cost is marked as
  a lower bound with the note "trip count unknown".
- Scan: body x the scan length (the first scan input's dim on its scan axis; opset 8 also runs
  the body once per batch row).
- SequenceMap: body x sequence length, which is never static: body once, lower bound.
"""

from __future__ import annotations

import warnings

from onnxcost.analysis.poly import PolyError, _nonneg
from onnxcost.rules.registry import Cost, NodeContext, Unresolved, register

_NO_LIMIT = (2**31 - 1, 2**63 - 1)


def _unknown(body: Cost, note: str) -> Cost:
    return Cost(lower_bound=True, notes=(note,)) + body


def _scalar(ctx: NodeContext, i: int) -> int | None:
    if ctx.input(i) is None:
        return None
    v = ctx.value(i)
    if v is None or v.size != 1:
        return None
    try:  # a hostile constant (complex, NaN, inf) is simply not a usable count
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return int(v.reshape(-1)[0])
    except (TypeError, ValueError, OverflowError):
        return None


@register("If")
def if_(ctx: NodeContext) -> Cost:
    cond = _scalar(ctx, 0)
    if cond is not None:  # only the branch that runs is costed (the other may not fit the shapes)
        name = "then_branch" if cond else "else_branch"
        known = Cost(notes=(f"If: condition is known, counted {name}",), chosen=name)
        return known + ctx.subgraph(name)
    then_c = ctx.subgraph("then_branch")
    else_c = ctx.subgraph("else_branch")
    if _else_costlier(then_c, else_c):
        taken, name, other = else_c, "else_branch", then_c
    else:
        taken, name, other = then_c, "then_branch", else_c
    note = (
        f"If: condition unknown, counted the more expensive branch, {name} "
        f"({taken.flops} FLOPs vs {other.flops} FLOPs)"
    )
    return Cost(notes=(note,), estimate=True, chosen=name) + taken


def _else_costlier(t: Cost, e: Cost) -> bool:
    """More FLOPs, then more MACs; a tie goes to then_branch. In formula mode the answer must
    hold for every value of the dims (else PolyError: the node is listed as unresolved)."""
    try:
        return e.flops > t.flops or (e.flops == t.flops and e.macs > t.macs)
    except PolyError:
        df, dm = e.flops - t.flops, e.macs - t.macs
        if _nonneg(-df) and _nonneg(-dm):  # then_branch never costs less: ties go to it
            return False
        if _nonneg(df - 1) or (_nonneg(df) and _nonneg(dm - 1)):  # else_branch always costs more
            return True
        raise


@register("Loop")
def loop(ctx: NodeContext) -> Cost:
    body = ctx.subgraph("body")
    has_cond = ctx.input(1) is not None
    cond = _scalar(ctx, 1)
    if has_cond and cond == 0:
        return Cost(notes=("Loop: condition is constant false, body never runs",))
    trip = _scalar(ctx, 0)
    if trip is None:
        symbolic = ctx.dim_value(0)  # formula mode: a trip count that is a dim (Shape -> Gather)
        if symbolic is not None:
            return body.scaled(symbolic)
    if trip is None or (has_cond and trip in _NO_LIMIT):
        return _unknown(body, "trip count unknown")
    return body.scaled(max(trip, 0))


@register("Scan")
def scan(ctx: NodeContext) -> Cost:
    body = ctx.subgraph("body")
    n_scan = int(ctx.attr("num_scan_inputs", 1))
    try:
        if ctx.opset < 9:
            # inputs: sequence_lens (optional), states..., scan inputs [batch, seq, ...]
            first = len(ctx.inputs) - n_scan
            dims = ctx.in_dims(first, min_rank=2)
            runs = dims[0] * dims[1]
        else:
            first = len(ctx.inputs) - n_scan
            dims = ctx.in_dims(first, min_rank=1)
            axes = ctx.attr("scan_input_axes") or [0]
            axis = int(axes[0])
            runs = dims[axis + len(dims) if axis < 0 else axis]
    except Unresolved:
        return _unknown(body, "scan length unknown")
    return body.scaled(runs)


@register("SequenceMap")
def sequence_map(ctx: NodeContext) -> Cost:
    return _unknown(ctx.subgraph("body"), "sequence length unknown")
