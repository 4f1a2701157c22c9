"""Costs as formulas of the model's dims: the figures of one formula analysis, bound to numbers.

`analyze(model, formulas=True)` leaves unbound dims symbolic: every per-node figure is an exact
polynomial (analysis/poly.py) and the totals are their sums. The activation peak is a maximum
over the schedule's steps: kept as the steps that can be the peak for some value of the dims
(the others are below one of them for every value). `bind(report, dims)` evaluates all of it
to the report a bound analysis gives, with no second walk of the graph: sweeps and `fit` use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

from onnxcost.analysis import memory
from onnxcost.analysis.poly import (
    Poly,
    PolyError,
    TooLarge,
    Unbound,
    _nonneg,
    geq,
    pmax,
    pretty,
    symbol,
    total,
)
from onnxcost.report.records import MemoryPlan, Report, TensorSummary, UnresolvedItem
from onnxcost.rules.registry import TensorInfo, dim_poly

MAX_PEAK_CANDIDATES = 256  # steps kept as possible peaks; past this the peak formula is refused

# The figures of `totals` that have a formula (JSON `formulas`), in order.
FIGURES = (
    "macs",
    "flops",
    "params",
    "weight_bytes",
    "activations_total",
    "activations_total_bytes",
    "activations_peak",
    "activations_peak_bytes",
    "peak_memory_bytes",
    "memory_traffic_bytes",
)


def positive(x: int | Poly) -> bool:
    """x > 0, where a formula counts as positive when it can be (MACs decide the unit)."""
    if isinstance(x, Poly):
        return any(c > 0 for c in x.terms.values())
    return x > 0


@dataclass
class Candidate:
    position: int  # step of the file order
    node: str
    expr: int | Poly


@dataclass
class FormulaData:
    """What binding a formula report needs: the schedule, buffers and their size formulas."""

    steps: list[memory.Step]
    step_names: list[str]
    step_nodes: list[int]
    infos: Mapping[str, TensorInfo]
    inputs: list[str]
    outputs: list[str]
    sizes: list[tuple[Any, Any]]  # per buffer: (elements, bytes)
    spans: list[list[int]]
    tensor_sizes: dict[str, Any]  # per tensor, for the greedy schedule at bound values
    peak_bytes: list[Candidate] = field(default_factory=list)
    peak_elements: list[Candidate] = field(default_factory=list)
    unbound: list[str] = field(default_factory=list)
    # in-place reuses that depend on the dims' values: the formulas are not exact there
    undecided: list[UnresolvedItem] = field(default_factory=list)


MAX_SEEN = 100_000  # values the peak frontier remembers having weighed


class _Frontier:
    """Values no other value kept is >= for every value of the dims (first position wins)."""

    def __init__(self) -> None:
        self.kept: list[Candidate] = []
        self._last: object = None
        self._seen: set[object] = set()

    def add(self, pos: int, node: str, v: int | Poly, fell: bool = False) -> None:
        """`fell`: v is no more than the value added before it, so no more than a value kept
        (the one before, or one kept over it): nothing to compare."""
        if v is self._last:
            return
        self._last = v
        if fell and self.kept:
            return
        # a value met before is no more than a value kept (each layer of a stack repeats them)
        seen = frozenset(v.terms.items()) if isinstance(v, Poly) else v
        if seen in self._seen:
            return
        if len(self._seen) < MAX_SEEN:
            self._seen.add(seen)
        for c in self.kept:
            if geq(c.expr, v):
                return
        self.kept = [c for c in self.kept if not geq(v, c.expr)]
        self.kept.append(Candidate(pos, node, v))
        if len(self.kept) > MAX_PEAK_CANDIDATES:
            raise TooLarge(
                f"the activation peak has more than {MAX_PEAK_CANDIDATES} steps that can be "
                "the largest depending on the dims"
            )

    def expr(self) -> int | Poly:
        return pmax(*(c.expr for c in self.kept)) if self.kept else 0


def formula_plan(
    steps: list[memory.Step],
    names: list[str],
    step_nodes: list[int],
    infos: Mapping[str, TensorInfo],
    inputs: list[str],
    outputs: list[str],
    size_of: memory.SizeOf | None = None,
) -> tuple[MemoryPlan, memory.Liveness, FormulaData]:
    """`size_of`: the costing's sizes of the same tensors, if worked out already."""
    tensor_sizes: dict[str, Any] = {}  # those of the buffers, for binding
    size_of = size_of or memory.info_sizes(infos)

    def sized(t: str) -> Any:
        if t not in tensor_sizes:
            tensor_sizes[t] = size_of(t)
        return tensor_sizes[t]

    n = len(steps)
    sizes, spans, live = memory.buffers(
        list(range(n)), steps, infos, inputs, outputs, sized, symbolic=True
    )
    # what each step adds (buffer index) and frees (~index)
    changes: list[list[int]] = [[] for _ in range(n + 2)]
    for b, (start, end) in enumerate(spans):
        changes[start].append(b)
        changes[end + 1].append(~b)
    live.total_elements = total(el for el, _ in sizes)
    live.total_bytes = total(nb for _, nb in sizes)
    # A step's change, and whether it is a fall, summed once per distinct change: buffers of
    # the same shape share their size objects, so each layer of a stack repeats the same ones.
    deltas: dict[tuple, tuple[Any, bool, Any, bool]] = {}

    def delta(change: list[int]) -> tuple[Any, bool, Any, bool]:
        key = tuple([id(sizes[b][0]) if b >= 0 else ~id(sizes[~b][0]) for b in change])
        key += tuple([id(sizes[b][1]) if b >= 0 else ~id(sizes[~b][1]) for b in change])
        got = deltas.get(key)
        if got is None:
            d_el = total(sizes[b][0] if b >= 0 else -sizes[~b][0] for b in change)
            d_b = total(sizes[b][1] if b >= 0 else -sizes[~b][1] for b in change)
            got = deltas[key] = (d_el, geq(0, d_el), d_b, geq(0, d_b))
        return got

    fb, fe = _Frontier(), _Frontier()
    live_el: Any = 0
    live_b: Any = 0
    for pos in range(n + 1):
        d_el, fell_el, d_b, fell_b = delta(changes[pos])
        live_el = live_el + d_el
        live_b = live_b + d_b
        at = min(pos, n - 1)
        node = names[at] if n else ""
        fe.add(at, node, live_el, fell_el)
        fb.add(at, node, live_b, fell_b)
    live.peak_elements, live.peak_bytes = fe.expr(), fb.expr()
    undecided = _undecided_reuse(steps, names, infos, outputs)
    plan = MemoryPlan(
        peak_elements=live.peak_elements,
        peak_bytes=live.peak_bytes,
        best_peak_elements=live.peak_elements,
        best_peak_bytes=live.peak_bytes,
        step_nodes=list(step_nodes),
    )
    data = FormulaData(
        steps,
        names,
        step_nodes,
        infos,
        inputs,
        outputs,
        sizes,
        spans,
        tensor_sizes,
        fb.kept,
        fe.kept,
        undecided=undecided,
    )
    return plan, live, data


def _undecided_reuse(
    steps: list[memory.Step], names: list[str], infos: Mapping[str, TensorInfo], outputs: list[str]
) -> list[UnresolvedItem]:
    """Elementwise steps whose output takes a dying input's buffer in a bound analysis only
    where the dims make the two shapes equal (`[batch, 1]` and `[batch, seq]` at seq = 1): the
    formulas count two buffers, so they are not exact there and say so."""
    last: dict[str, int] = {}
    for pos, s in enumerate(steps):
        for t in s.inputs:
            last[t] = pos
    for t in outputs:
        last[t] = len(steps)
    found = []
    for pos, s in enumerate(steps):
        if s.kind != "elementwise":
            continue
        for out in s.outputs:
            o = infos.get(out)
            for t in s.inputs:  # the first input that fits takes the output, in both analyses
                i = infos.get(t)
                fits = _fits(i, o) if last.get(t) == pos else "no"
                if fits == "always":
                    break
                if fits == "sometimes":
                    found.append(
                        UnresolvedItem(
                            out,
                            names[pos],
                            f"in-place reuse of {t!r} depends on the dims' values: "
                            f"{_dims_text(i.shape)} and {_dims_text(o.shape)} are equal for "  # type: ignore[union-attr]
                            "some, where a bound analysis shares the buffer",
                        )
                    )
                    break
    return found


def _fits(i: TensorInfo | None, o: TensorInfo | None) -> str:
    """Whether o can run in i's buffer: "always" (the same shape text), "sometimes" (texts that
    differ but are equal for some values of the dims), or "no" (a dim unknown: never reused)."""
    if i is None or o is None or i.elem_type != o.elem_type or i.shape is None or o.shape is None:
        return "no"
    if len(i.shape) != len(o.shape) or None in i.shape or None in o.shape:
        return "no"
    if i.shape == o.shape:
        return "always"
    pairs = zip(i.shape, o.shape, strict=True)
    may = all(a == c or isinstance(a, str) or isinstance(c, str) for a, c in pairs)
    return "sometimes" if may else "no"


def _dims_text(shape: tuple) -> str:
    return "[" + ", ".join(map(str, shape)) + "]"


# --- binding ---------------------------------------------------------------------------------


def _ev(x: Any, b: Mapping[str, int]) -> Any:
    return x.subs(b) if isinstance(x, Poly) else x


def _dim_at(d: Any, b: Mapping[str, int], cache: dict) -> Any:
    if not isinstance(d, str):
        return d
    if d in b:
        return b[d]
    if d not in cache:
        p = dim_poly(d)
        try:
            cache[d] = _ev(p, b) if p is not False else d
        except Unbound:
            cache[d] = d
    return cache[d]


def bind(report: Report, dims: Mapping[str, int], best_order: bool = True) -> Report:
    """The report of a formula analysis with `dims` bound: what `analyze(dims=...)` reports
    (without the greedy schedule's lower peak when `best_order` is False)."""
    from onnxcost.analysis.analyzer import _op_types  # the analyzer imports this module

    fd: FormulaData = report.formula_data
    if fd is None:
        raise ValueError("bind() needs the report of analyze(..., formulas=True)")
    b = dict(dims)
    cache: dict = {}

    shapes: dict[tuple, list] = {}

    def shape(s: list | None) -> list | None:
        if s is None:
            return None
        key = tuple(s)
        got = shapes.get(key)
        if got is None:
            got = shapes[key] = [_dim_at(d, b, cache) for d in s]
        return list(got)

    # A graph repeats its expressions (the same Poly objects recur every layer): each is
    # evaluated once. Records are copied field by field, not through dataclasses.replace.
    values: dict[int, Any] = {}

    def ev(x: Any) -> Any:
        if not isinstance(x, Poly):
            return x
        v = values.get(id(x))
        if v is None:
            v = values[id(x)] = x.subs(b)
        return v

    def copy(n: Any, **fields: Any) -> Any:
        m = object.__new__(type(n))
        m.__dict__.update(n.__dict__)
        m.__dict__.update(fields)
        return m

    # nodes of one op, attributes and types share their figures' objects (the analyzer works
    # each such node out once): their bound figures are worked out once too
    figures: dict[tuple, dict[str, Any]] = {}
    nodes = []
    for n in report.nodes:
        have = n.__dict__
        key = (
            id(have["macs"]), id(have["flops"]), id(have["bytes_read"]),
            id(have["bytes_written"]), have["status"] == "constant",
        )  # fmt: skip
        bound = figures.get(key)
        if bound is None:
            macs = ev(n.macs)
            bound = figures[key] = {
                "macs": macs,
                "flops": ev(n.flops),
                "bytes_read": ev(n.bytes_read),
                "bytes_written": ev(n.bytes_written),
            }
            if not key[-1]:
                bound["unit"] = "matrix" if macs > 0 else "vector"
        m = object.__new__(n.__class__)
        fields = m.__dict__
        fields.update(have)
        fields.update(bound)
        fields["notes"] = list(have["notes"])
        fields["output_shapes"] = [shape(s) for s in have["output_shapes"]]
        nodes.append(m)
    subs = []
    for n in report.subgraph_nodes:
        m = copy(n, macs=ev(n.macs), flops=ev(n.flops), bytes_read=ev(n.bytes_read),
                 bytes_written=ev(n.bytes_written))  # fmt: skip
        if m.status != "uncounted":
            m.unit = "matrix" if m.macs > 0 else "vector"
        subs.append(m)

    sizes_at: dict[str, Any] = {}

    def size_of(t: str) -> Any:
        if t not in sizes_at:
            s = fd.tensor_sizes.get(t)
            sizes_at[t] = None if s is None else (ev(s[0]), ev(s[1]))
        return sizes_at[t]

    file_live = None
    if not best_order:  # the file order's buffers are the formula plan's: only sizes change
        file_live = memory.Liveness()
        bound_sizes = [(ev(el), ev(nb)) for el, nb in fd.sizes]
        memory.scan(bound_sizes, fd.spans, len(fd.steps), file_live)
    plan, live = memory.plan(
        fd.steps, fd.step_names, fd.step_nodes, fd.infos, fd.inputs, fd.outputs, size_of, True,
        best_order, file_live,
    )  # fmt: skip
    t = replace(report.totals, status_reasons=list(report.totals.status_reasons))
    t.macs = sum(n.macs for n in nodes)
    t.flops = sum(n.flops for n in nodes)
    t.memory_traffic_bytes = sum(n.memory_traffic_bytes for n in nodes)
    t.params, t.weight_bytes = _ev(t.params, b), _ev(t.weight_bytes, b)
    t.activations_total, t.activations_total_bytes = live.total_elements, live.total_bytes
    t.activations_peak, t.activations_peak_bytes = plan.peak_elements, plan.peak_bytes
    t.peak_memory_bytes = t.weight_bytes + t.activations_peak_bytes
    t.latency_s = t.latency_bound_s = None
    left = [d for d in fd.unbound if d not in b]
    warnings = [w for w in report.warnings if not w.startswith("unbound dims: ")]
    if left:
        warnings.append(
            "unbound dims: " + ", ".join(left) + " (bind with --dim NAME=VALUE); "
            "costs that depend on them are lower bounds"
        )
    return replace(
        report,
        inputs=[TensorSummary(s.name, s.dtype, shape(s.shape)) for s in report.inputs],
        outputs=[TensorSummary(s.name, s.dtype, shape(s.shape)) for s in report.outputs],
        dims={**report.dims, **{k: v for k, v in b.items() if k in fd.unbound}},
        totals=t,
        op_types=_op_types(nodes),
        nodes=nodes,
        memory=plan,
        unresolved=list(report.unresolved),
        warnings=warnings,
        subgraph_nodes=subs,
        hardware=None,
        modules=None,
        formulas=None,
        formula_data=None,
    )


# --- the formulas of the totals ---------------------------------------------------------------


def figures(report: Report) -> dict[str, int | Poly]:
    """Each figure of `totals` as an int or a polynomial (the peak as Max of its candidates)."""
    t = report.totals
    return {k: getattr(t, k) for k in FIGURES}


def _frac(x: float) -> Fraction:
    return Fraction(x)


def _num(q: Fraction) -> str:
    return str(q.numerator) if q.denominator == 1 else f"({q.numerator}/{q.denominator})"


def latency(report: Report, spec: Any) -> str:
    """latency_s as an expression: per node max(FLOPs / P, traffic / B), summed.

    Nodes whose bound is the same for every value of the dims are summed per peak; the rest stay
    as Max terms. P and B are the device's rates as exact rationals of their float values.
    """
    bw = _frac(spec.memory_bandwidth_Bps)
    per_peak: dict[Fraction, Any] = {}
    mem: Any = 0
    undecided: dict[str, int] = {}
    for n in report.nodes:
        if n.status == "constant":
            continue
        traffic = n.memory_traffic_bytes
        if not (isinstance(n.flops, Poly) or n.flops > 0):
            mem = mem + traffic
            continue
        unit = n.unit if n.unit in ("matrix", "vector") else "vector"
        p = _frac(spec.resolve(n.compute_dtype, unit).ops_per_s)
        # flops / p >= traffic / bw  <=>  flops * bw.n * p.d - traffic * p.n * bw.d >= 0
        d = n.flops * (bw.numerator * p.denominator) - traffic * (p.numerator * bw.denominator)
        if _nonneg(d):
            per_peak[p] = per_peak.get(p, 0) + n.flops
        elif _nonneg(-d):
            mem = mem + traffic
        else:
            key = f"Max(({n.flops})/{_num(p)}, ({traffic})/{_num(bw)})"
            undecided[key] = undecided.get(key, 0) + 1
    parts = [f"({f})/{_num(p)}" for p, f in per_peak.items() if isinstance(f, Poly) or f != 0]
    if not (isinstance(mem, int) and mem == 0):
        parts.append(f"({mem})/{_num(bw)}")
    parts += [k if c == 1 else f"{c}*{k}" for k, c in undecided.items()]
    return " + ".join(parts) or "0"


def symbols(report: Report) -> dict[str, str]:
    """The dims whose names formulas write as other identifiers (poly.symbol): {written: name}.

    Two names written alike (`a.b` and `a_b`) would make a formula ambiguous: refused."""
    fd = report.formula_data
    names = set(fd.unbound if fd is not None else ())
    for v in figures(report).values():
        if isinstance(v, Poly):
            names |= v.names()
    out: dict[str, str] = {}
    for name in sorted(names, key=lambda n: (symbol(n) != n, n)):  # identifiers first
        written = symbol(name)
        if written in out:
            raise PolyError(
                f"dims {out[written]!r} and {name!r} would both be written {written!r} in formulas"
            )
        out[written] = name
    return {k: v for k, v in out.items() if k != v}


def formulas(report: Report, spec: Any = None) -> dict[str, Any]:
    """The JSON `formulas` object: each total as a sympy expression string, and `symbols`
    ({identifier: dim name}) when a dim's name is not an identifier."""
    renamed = symbols(report)
    out: dict[str, Any] = {k: str(v) for k, v in figures(report).items()}
    if spec is not None:
        out["latency_s"] = latency(report, spec)
    if renamed:
        out["symbols"] = renamed
    return out


def is_symbolic(report: Report) -> bool:
    return any(isinstance(v, Poly) for v in figures(report).values())


# --- the bottleneck step of the peak ------------------------------------------------------------


@dataclass
class Bottleneck:
    lo: int
    hi: int  # the range of the dim over which `node` is the peak step
    position: int
    node: str
    expr: str  # its live bytes, with the other dims bound, readable
    formula: str = ""  # the same in Python/sympy syntax


def _argmax(cands: list[Candidate], b: Mapping[str, int]) -> Candidate | None:
    best, best_v = None, None
    for c in sorted(cands, key=lambda c: c.position):
        v = _ev(c.expr, b)
        if best_v is None or v > best_v:
            best, best_v = c, v
    return best


def bottleneck(report: Report, dims: Mapping[str, int]) -> Bottleneck | None:
    """The step at the activation peak for these dims."""
    fd: FormulaData = report.formula_data
    c = _argmax(fd.peak_bytes, dims)
    if c is None:
        return None
    return Bottleneck(0, 0, c.position, c.node, _readable(c.expr, dims))


def _readable(x: Any, b: Mapping[str, int]) -> str:
    return pretty(x.partial(b) if isinstance(x, Poly) else x)


def _texts(x: Any, b: Mapping[str, int]) -> tuple[str, str]:
    bound = x.partial(b) if isinstance(x, Poly) else x
    return pretty(bound), str(bound)


def bottleneck_ranges(
    report: Report, dim: str, lo: int, hi: int, dims: Mapping[str, int]
) -> list[Bottleneck]:
    """Where the peak step moves as `dim` runs over lo..hi (others bound by `dims`).

    Each value is evaluated up to 20,000 values; past that, 2,000 values spread geometrically,
    each change then pinned down by bisection (a step that is the peak only between two samples
    can be missed: said in the README)."""
    fd: FormulaData = report.formula_data

    def at(v: int) -> Candidate | None:
        return _argmax(fd.peak_bytes, {**dims, dim: v})

    if hi - lo <= 20_000:
        points = list(range(lo, hi + 1))
    else:
        k = 2000
        points = sorted({lo, hi} | {round(lo * (hi / max(lo, 1)) ** (i / k)) for i in range(k + 1)})
        points = [p for p in points if lo <= p <= hi]
    out: list[Bottleneck] = []
    prev_v, prev_c = None, None
    for v in points:
        c = at(v)
        if c is None:
            continue
        if prev_c is not None and c.position != prev_c.position and prev_v is not None:
            a, z = prev_v, v  # bisect the change: at(a) is prev_c, at(z) is c
            while z - a > 1:
                mid = (a + z) // 2
                if at(mid).position == prev_c.position:  # type: ignore[union-attr]
                    a = mid
                else:
                    z = mid
            out[-1].hi = a
            out.append(Bottleneck(z, v, c.position, c.node, *_texts(c.expr, dims)))
        elif prev_c is None:
            out.append(Bottleneck(v, v, c.position, c.node, *_texts(c.expr, dims)))
        out[-1].hi = v
        prev_v, prev_c = v, c
    return out


__all__ = [
    "FIGURES",
    "Bottleneck",
    "FormulaData",
    "PolyError",
    "bind",
    "bottleneck",
    "bottleneck_ranges",
    "figures",
    "formula_plan",
    "formulas",
    "is_symbolic",
    "latency",
    "symbols",
]
