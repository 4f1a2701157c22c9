"""Roofline chart: each node as a point (intensity, attained FLOP/s) under the device's roofs.

matplotlib is an optional extra (`pip install onnxcost[plot]`), imported only here and only when a
chart is asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

from onnxcost.analysis import roofline
from onnxcost.errors import OnnxCostError
from onnxcost.hardware.database import HardwareSpec
from onnxcost.report.records import Report

FORMATS = {".svg": "svg", ".png": "png"}
LABELLED = 5  # the slowest nodes get their names on the chart


def roofline_plot(report: Report, spec: HardwareSpec, path: str | os.PathLike[str]) -> Path:
    """Write the roofline chart of `report` on `spec` to `path` (.svg or .png); return the path."""
    out = Path(path)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise OnnxCostError(
            f"--plot {out}: the chart is written as .svg or .png, not {out.suffix!r}"
        )
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    except ImportError:
        raise OnnxCostError(
            "the roofline chart needs matplotlib: pip install onnxcost[plot]"
        ) from None

    if report.hardware is None or report.hardware.get("key") != spec.key:
        roofline.apply(report, spec)
    bandwidth = spec.memory_bandwidth_Bps
    points = [
        n
        for n in report.nodes
        if n.flops > 0 and n.intensity and n.latency_s and n.status != "constant"
    ]

    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")

    roofs = {(r["peak_unit"], r["peak_dtype"]): r["peak_ops_per_s"] for r in _ridges(report)}
    if not roofs:  # nothing computes: draw the headline peak so the chart still has a roof
        top = max([*spec.matrix.values(), *spec.vector.values()])
        roofs = {("device peak", ""): top}
    xs = [n.intensity for n in points if n.intensity]
    ridges = [p / bandwidth for p in roofs.values()]
    x_lo = min([*xs, *ridges, 1.0]) / 4
    x_hi = max([*xs, *ridges, 1.0]) * 4
    for (unit, dtype), peak in sorted(roofs.items(), key=lambda kv: -kv[1]):
        ridge = peak / bandwidth
        xline = [x_lo, ridge, x_hi]
        ops = "TOP/s" if dtype.startswith("int") else "TFLOP/s"
        name = f"{unit} {dtype}".strip()
        label = f"{name}: {peak / 1e12:.4g} {ops}, ridge {ridge:.3g} FLOPs/byte"
        ax.plot(xline, [min(peak, bandwidth * x) for x in xline], lw=1.5, label=label)

    for bound, colour in (("compute", "tab:red"), ("memory", "tab:blue")):
        sel = [n for n in points if n.bound == bound]
        if sel:
            ax.scatter(
                [n.intensity for n in sel],
                [n.flops / (n.latency_s or 1.0) for n in sel],
                s=18,
                c=colour,
                alpha=0.7,
                label=f"{bound}-bound nodes ({len(sel)})",
                zorder=3,
            )
    slowest = sorted(points, key=lambda n: n.latency_s or 0.0, reverse=True)[:LABELLED]
    for n, dy in zip(slowest, _LABEL_OFFSETS, strict=False):  # staggered: points often share a roof
        ax.annotate(
            _short(n.name),
            (n.intensity, n.flops / (n.latency_s or 1.0)),
            xytext=(4, dy),
            textcoords="offset points",
            fontsize=7,
            arrowprops={"arrowstyle": "-", "lw": 0.5, "alpha": 0.5},
        )

    title = report.model.get("graph_name") or report.model.get("path") or "model"
    ax.set_title(f"{title} on {spec.name} ({bandwidth / 1e9:.4g} GB/s)", fontsize=10)
    ax.set_xlabel("arithmetic intensity (FLOPs / byte of memory traffic)")
    ax.set_ylabel("attained FLOP/s (FLOPs / node latency)")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(top=max(roofs.values()) * 3)  # room for the node labels
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    skipped = sum(1 for n in report.nodes if n.status != "constant") - len(points)
    if skipped:
        ax.text(
            0.01,
            0.98,
            f"{skipped} node(s) with no FLOPs or no traffic not shown",
            transform=ax.transAxes,
            va="top",
            fontsize=7,
        )
    try:
        fig.savefig(out, format=fmt)
    except OSError as e:
        raise OnnxCostError(f"cannot write {out}: {e.strerror or e}") from None
    return out


_LABEL_OFFSETS = (-12, 8, -24, 20, -36)


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "..." + name[-(width - 3) :]


def _ridges(report: Report) -> list[dict]:
    return list((report.hardware or {}).get("ridge_points", []))


__all__ = ["roofline_plot"]
