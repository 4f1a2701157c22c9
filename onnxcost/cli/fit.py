"""`onnxcost fit`: the largest value of one dim that keeps every budget.

One formula analysis (analysis/formulas.py) is evaluated along a doubling then a bisection of
the dim; the answer N is then proved by two bound analyses, at N (every budget kept) and at
N + 1 (one exceeded). The search assumes the budgeted figures do not shrink as the dim grows
(true of every figure of a model whose tensors grow with its dims); the proof checks the two
values it reports.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from onnxcost.analysis import formulas, roofline
from onnxcost.analysis.analyzer import analyze as run_analysis
from onnxcost.analysis.poly import Poly
from onnxcost.analysis.search import largest
from onnxcost.cli.gate import _FORMAT, _max_options
from onnxcost.cli.options import model_options
from onnxcost.errors import UsageError
from onnxcost.gate import budget as budgets
from onnxcost.gate.budget import METRICS
from onnxcost.hardware import database as hardware
from onnxcost.report.records import Report
from onnxcost.units import dumps, format_bytes, format_count, format_seconds

SEARCH_LIMIT = 2**62  # a budget still kept here has no upper limit worth the name

FIGURE_KEYS = (*formulas.FIGURES, "latency_s")


def _fmt(metric_kind: str, v: Any) -> str:
    if v is None:
        return "n/a"
    return {"count": format_count, "bytes": format_bytes, "seconds": format_seconds}[metric_kind](v)


def _figures(report: Report) -> dict[str, Any]:
    t = report.totals
    out = {k: getattr(t, k) for k in formulas.FIGURES}
    if t.latency_s is not None:
        out["latency_s"] = t.latency_s
    return out


def _over(report: Report, b: budgets.Budget) -> list[str]:
    """The budgets `report` exceeds (metric names)."""
    t = report.totals
    return [
        name
        for name, lim in b.limits.items()
        if getattr(t, METRICS[name].total_key) is not None
        and getattr(t, METRICS[name].total_key) > lim.value
    ]


@click.command("fit")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--solve", "name", required=True, metavar="NAME", help="The dim to maximise.")
@_max_options
@click.option("--hw", metavar="NAME", help="Device for the roofline (latency budgets).")
@_FORMAT
@model_options
def fit(
    model: str,
    name: str,
    hw: str | None,
    fmt: str,
    dims: dict[str, int],
    input_shapes: dict[str, list[int]],
    **max_values: str | None,
) -> None:
    """The largest value of dim NAME for which MODEL keeps every budget.

    The other dims are bound with --dim. Exit 0 with an answer, 1 when even NAME=1 does not
    fit, 2 on bad input."""
    b = budgets.from_options({k.removeprefix("max_"): v for k, v in max_values.items()})
    if not b.limits:
        raise UsageError("give at least one budget (--max-peak-memory 24GB, --max-latency ...)")
    if "latency" in b.limits and not hw:
        raise UsageError("a latency budget needs a device: --hw NAME")
    if name in dims:
        raise UsageError(f"--solve {name} is also bound with --dim: give it once")
    spec = hardware.get(hw) if hw else None
    sym = run_analysis(model, dims=dims, input_shapes=input_shapes, formulas=True)
    fd = sym.formula_data
    if name not in fd.unbound:
        raise UsageError(
            f"--solve {name}: not an unbound dim of the model"
            + (f" (unbound: {', '.join(fd.unbound)})" if fd.unbound else " (it has none left)")
        )
    others = [d for d in fd.unbound if d != name]
    if others:
        raise UsageError("bind the other dims: " + " ".join(f"--dim {d}=N" for d in others))

    def at(v: int) -> Report:
        r = formulas.bind(sym, {name: v})
        if spec is not None:
            roofline.apply(r, spec)
        return r

    def fits(v: int) -> bool:
        return not _over(at(v), b)

    figs = formulas.figures(sym)
    growing = [
        m
        for m in b.limits
        if m == "latency"
        or (
            isinstance(figs[METRICS[m].total_key], Poly)
            and name in figs[METRICS[m].total_key].names()
        )
    ]
    doc: dict[str, Any] = {"solve": name, "dims": dict(dims), "limits": {}}
    doc["limits"] = {m: lim.text for m, lim in b.limits.items()}
    if not fits(1):
        over = _over(at(1), b)
        doc.update(value=None, at_value=None, at_value_plus_1=None, binding_budget=over[0])
        doc["message"] = f"even {name}=1 does not fit: over the {', '.join(over)} budget"
        _emit(doc, fmt, b, at(1), None)
        sys.exit(1)
    lo, hi = 1, 2
    while hi <= SEARCH_LIMIT and fits(hi):
        lo, hi = hi, hi * 2
    if hi > SEARCH_LIMIT or not growing:
        doc.update(value=None, at_value=None, at_value_plus_1=None, binding_budget=None)
        doc["message"] = f"no upper limit: every budget holds up to {name}={lo}" + (
            "" if growing else f" (no budgeted figure grows with {name})"
        )
        _emit(doc, fmt, b, None, None)
        return
    n = largest(fits, lo, hi)
    # the proof: bound analyses (no formulas) at N and N + 1
    proofs = []
    for v in (n, n + 1):
        r = run_analysis(model, dims={**dims, name: v}, input_shapes=input_shapes)
        if spec is not None:
            roofline.apply(r, spec)
        proofs.append(r)
    over_n, over_next = _over(proofs[0], b), _over(proofs[1], b)
    if over_n or not over_next:
        raise UsageError(
            f"the bound analyses disagree with the formulas at {name}={n}: please report this"
        )
    doc.update(
        value=n,
        at_value=_figures(proofs[0]),
        at_value_plus_1=_figures(proofs[1]),
        binding_budget=over_next[0],
        proof=f"bound analyses at {name}={n} (within every budget) and {name}={n + 1} (over)",
    )
    if proofs[0].totals.lower_bound:
        doc["warning"] = "the figures are lower bounds (uncounted or unresolved nodes)"
    _emit(doc, fmt, b, proofs[0], proofs[1])


def _emit(doc: dict[str, Any], fmt: str, b: budgets.Budget, at_n: Any, at_next: Any) -> None:
    if fmt == "json":
        click.echo(dumps(doc))
        return
    name = doc["solve"]
    if doc.get("value") is None:
        click.echo(doc["message"])
        return
    n = doc["value"]
    click.echo(f"largest {name} = {n} (binding budget: {doc['binding_budget']})")
    for m, lim in b.limits.items():
        metric = METRICS[m]
        v0 = getattr(at_n.totals, metric.total_key)
        v1 = getattr(at_next.totals, metric.total_key)
        click.echo(
            f"  {metric.label:<18} limit {lim.text:<10} at {name}={n}: {_fmt(metric.kind, v0):<12}"
            f" at {name}={n + 1}: {_fmt(metric.kind, v1)}"
        )
    click.echo(f"  proved by {doc['proof']}")
    if "warning" in doc:
        click.echo(f"  warning: {doc['warning']}")
