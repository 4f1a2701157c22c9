"""Scaling: the roofline of one model at several values of one dim (batch=1,8,64 ...).

Latency, throughput and memory at each value show where a model turns from memory-bound (weights
re-read for every small batch) to compute-bound.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from onnxcost.analysis import formulas, roofline
from onnxcost.analysis.analyzer import analyze as run_analysis
from onnxcost.analysis.analyzer import no_cycle_collection
from onnxcost.analysis.poly import PolyError
from onnxcost.errors import UsageError
from onnxcost.hardware.database import HardwareSpec
from onnxcost.report.records import Report

if TYPE_CHECKING:
    import onnx

Analyze = Callable[..., Report]


@dataclass
class ScalingRow:
    value: int  # the dim's value
    latency_s: float  # sum of node latencies
    latency_bound_s: float  # max(sum FLOPs/P, sum traffic/B)
    throughput_items_per_s: float  # value / latency_s (0 when latency is 0)
    flops: int
    memory_traffic_bytes: int
    peak_memory_bytes: int  # weights + peak activations
    memory_bound_share: float  # share of latency spent in memory-bound nodes
    bound: str  # whole-model: compute when sum FLOPs/P > sum traffic/B
    fits_in_memory: bool
    lower_bound: bool  # some cost could not be counted at this value

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scale(
    model: str | os.PathLike[str] | onnx.ModelProto,
    dim: str,
    values: Sequence[int],
    spec: HardwareSpec,
    analyze: Analyze,
    dims: dict[str, int] | None = None,
    **analyze_kwargs: Any,
) -> list[ScalingRow]:
    """The roofline of `model` at each value of `dim` (other dims fixed by `dims`).

    One formula analysis evaluated at each value (analysis/formulas.py) when the formulas are
    complete; else one analysis per value.

    `analyze` is onnxcost.analyze (or anything with its signature); extra keyword arguments go to it.
    """
    if not values:
        raise UsageError(f"--dim {dim}: give at least one value")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UsageError(f"--dim {dim}: values must be positive integers, got {v!r}")
    if dims and dim in dims:
        raise UsageError(f"--dim {dim} is both fixed and scaled: give it once")
    rows = _from_formulas(model, dim, values, spec, analyze, dims, analyze_kwargs)
    if rows is not None:
        return rows
    rows = []
    for v in values:
        report = analyze(model, dims={**(dims or {}), dim: v}, **analyze_kwargs)
        if dim not in report.dims:  # a sweep over a dim the model lacks would show nothing
            raise UsageError(
                f"--dim {dim}: the model has no dim named {dim!r}"
                + (f" (its dims: {', '.join(report.dims)})" if report.dims else "")
            )
        roofline.apply(report, spec)
        rows.append(row(v, report))
    return rows


def _from_formulas(
    model: Any,
    dim: str,
    values: Sequence[int],
    spec: HardwareSpec,
    analyze: Analyze,
    dims: dict[str, int] | None,
    kwargs: dict[str, Any],
) -> list[ScalingRow] | None:
    """One formula analysis, bound at each value: what one analysis per value gives.

    None (analyse per value) when a formula could not be formed for some node: a bound analysis
    may resolve what the formulas could not, and the rows must be the same either way."""
    if kwargs.get("strict") or analyze is not run_analysis:
        return None
    try:
        sym = analyze(model, dims=dims, formulas=True, **kwargs)
    except PolyError:
        return None
    fd = sym.formula_data
    if fd is None or dim not in fd.unbound or sym.unresolved:
        return None
    rows = []
    with no_cycle_collection():  # tens of thousands of records made at once for each value
        for v in values:
            report = formulas.bind(sym, {dim: v}, best_order=False)  # the file order's peak
            roofline.apply(report, spec)
            rows.append(row(v, report))
    return rows


def row(value: int, report: Report) -> ScalingRow:
    """One scaling row from a report the roofline has been applied to."""
    hw = report.hardware
    if hw is None or report.totals.latency_s is None:
        raise ValueError("roofline.apply() must run on the report first")
    latency = report.totals.latency_s
    t = report.totals
    return ScalingRow(
        value=value,
        latency_s=latency,
        latency_bound_s=t.latency_bound_s or 0.0,
        throughput_items_per_s=value / latency if latency > 0 else 0.0,
        flops=t.flops,
        memory_traffic_bytes=t.memory_traffic_bytes,
        peak_memory_bytes=t.peak_memory_bytes,
        memory_bound_share=hw["memory_bound_share"],
        bound=hw["bound"],
        fits_in_memory=hw["fits_in_memory"],
        lower_bound=t.lower_bound,
    )


def turns_compute_bound(rows: Sequence[ScalingRow]) -> int | None:
    """The first value at which the model as a whole is compute-bound, or None."""
    return next((r.value for r in rows if r.bound == "compute"), None)


__all__ = ["ScalingRow", "row", "scale", "turns_compute_bound"]
