"""Render a Report for people (table, markdown) and machines (json, csv). The core never prints."""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING

from onnxcost.report import sanitize
from onnxcost.report.records import Report
from onnxcost.report.table import table
from onnxcost.units import (
    dumps,
    format_bytes,
    format_count,
    format_seconds,
    json_pieces,
    ratio,
)

if TYPE_CHECKING:  # scaling imports the analyzer: only a sweep needs it
    from onnxcost.analysis.scaling import ScalingRow

FORMATS = ("table", "json", "csv", "markdown")


def _shape(shape: list | None) -> str:
    return (
        "?" if shape is None else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
    )


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _share(part: float, total: float) -> float:
    # inf / inf: a part as large as an infinite whole is all of it
    return ratio(part, total) if math.isfinite(total) else float(part == total)


def render(report: Report, fmt: str = "table", per_node: bool = False, top: int = 10) -> str:
    if fmt == "json":
        return "".join(render_json(report))
    if fmt == "csv":
        return _csv(report)
    return _text(report, markdown=fmt == "markdown", per_node=per_node, top=top)


def render_json(report: Report) -> list[str]:
    """The JSON report's text in pieces, for writing one after another (units.json_pieces)."""
    return json_pieces(report.to_dict(copy=False, as_text=True), end="\n")


def _csv(report: Report) -> str:
    buf = io.StringIO()
    cols = [
        "name", "op_type", "domain", "status", "macs", "flops", "bytes_read", "bytes_written",
        "memory_traffic_bytes", "compute_dtype", "output_shapes",
    ]  # fmt: skip
    roofline = report.hardware is not None
    if roofline:
        cols += ["latency_s", "bound", "intensity"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for n in report.nodes:
        shapes = ";".join(_shape(s) for s in n.output_shapes)
        row = [shapes if c == "output_shapes" else getattr(n, c) for c in cols]  # no to_dict()
        # text cells are model text: no formulas, no line breaks; numbers stay numbers
        w.writerow(["" if v is None else _csv_value(v) for v in row])
    return buf.getvalue()


def _csv_value(v: object) -> object:
    return sanitize.cell(v) if isinstance(v, str) else v


def _text(report: Report, markdown: bool, per_node: bool, top: int) -> str:
    t = report.totals
    lb = "≥ " if t.lower_bound else "~ " if t.status == "estimate" else ""
    h = "## " if markdown else ""
    out: list[str] = []
    m = report.model
    clean = sanitize.markdown if markdown else sanitize.text  # header lines hold model text
    out.append(f"{h}onnxcost: {clean(m.get('path') or m.get('graph_name') or 'model')}")
    opsets = ", ".join(f"{k} {v}" for k, v in m.get("opsets", {}).items())
    out.append(
        clean(
            f"graph {m.get('graph_name')!r}, producer {m.get('producer') or '?'}, opsets: {opsets}"
        )
    )
    io_rows = [["input", i.name, i.dtype, _shape(i.shape)] for i in report.inputs]
    io_rows += [["output", o.name, o.dtype, _shape(o.shape)] for o in report.outputs]
    if report.dims:
        out.append(clean("dims: " + ", ".join(f"{k}={v}" for k, v in report.dims.items())))
    out += ["", table(["", "tensor", "dtype", "shape"], io_rows, markdown)]

    peak_at = f" at {report.memory.peak_node}" if report.memory.peak_node else ""
    sizes = ", ".join(
        f"{p.dtype}: {format_count(p.params)} ({format_bytes(p.bytes)})"
        for p in report.params_by_dtype
    )
    rows = [
        ["MACs", f"{lb}{format_count(t.macs)}", f"{t.macs:,}"],
        ["FLOPs", f"{lb}{format_count(t.flops)}", f"{t.flops:,}"],
        ["parameters", format_count(t.params), f"{t.params:,}" + (f"  ({sizes})" if sizes else "")],
        ["model size (weights)", format_bytes(t.weight_bytes), f"{t.weight_bytes:,} bytes"],
        ["activations, total", f"{lb}{format_count(t.activations_total)}", f"elements, {format_bytes(t.activations_total_bytes)}"],
        ["activations, peak", f"{lb}{format_count(t.activations_peak)}", f"elements, {format_bytes(t.activations_peak_bytes)}{peak_at}"],
        ["peak memory estimate", f"{lb}{format_bytes(t.peak_memory_bytes)}", "weights + peak activations"],
        ["memory traffic", f"{lb}{format_bytes(t.memory_traffic_bytes)}", "bytes read + written, all nodes"],
    ]  # fmt: skip
    mp = report.memory
    if mp.best_schedule != "file":
        rows.append(["peak, best order found", format_bytes(mp.best_peak_bytes), f"{mp.best_schedule} schedule, bottleneck {mp.best_peak_node}"])  # fmt: skip
    if t.latency_s is not None:
        dev = (report.hardware or {}).get("device", "device")
        rows.append(["latency (roofline)", format_seconds(t.latency_s), f"sum of nodes on {dev}"])
        rows.append(
            ["latency bound", format_seconds(t.latency_bound_s or 0.0), "max(ΣFLOPs/P, Σtraffic/B)"]
        )
    how = {"lower_bound": " (lower bounds: see below)", "estimate": " (an estimate: see below)"}
    out += [
        "",
        f"{h}Totals" + how.get(t.status, ""),
        table(["", "value", "detail"], rows, markdown, align="lrl"),
    ]
    if t.status_reasons:  # model text (node and input names) is in these
        out += [""] + [clean(f"{t.status.replace('_', ' ')}: {r}") for r in t.status_reasons]

    roofline = t.latency_s is not None
    head = ["op type", "count", "MACs", "FLOPs", "FLOPs %", "traffic"] + (
        ["latency", "time %"] if roofline else []
    )
    op_rows = []
    for o in report.op_types:
        name = o.op_type if not o.domain or o.domain == "ai.onnx" else f"{o.domain}:{o.op_type}"
        row = [
            name,
            str(o.count),
            format_count(o.macs),
            format_count(o.flops),
            _pct(o.share_flops),
            format_bytes(o.memory_traffic_bytes),
        ]
        if roofline:
            row += [
                format_seconds(o.latency_s or 0.0),
                _pct(_share(o.latency_s or 0.0, t.latency_s or 1.0)),
            ]
        op_rows.append(row)
    out += ["", f"{h}By op type", table(head, op_rows, markdown)]
    if report.modules is not None:
        out += ["", f"{h}By module (each row includes the modules under it)"]
        out.append(_module_table(report, markdown))
    if report.hardware is not None:
        out += ["", f"{h}Roofline on {report.hardware.get('device', 'device')}"]
        out.append(_roofline_table(report.hardware, markdown))

    ranked = [n for n in report.nodes if n.status != "constant"]
    if per_node:
        title = "All nodes (schedule order)"
    else:
        key = (lambda n: n.latency_s or 0.0) if roofline else (lambda n: (n.macs, n.flops))
        ranked = sorted(ranked, key=key, reverse=True)[:top]
        title = f"Top {len(ranked)} nodes by " + ("latency" if roofline else "MACs")
    head = (
        ["node", "op type", "output shape", "MACs", "FLOPs", "traffic"]
        + (["latency", "bound", "FLOPs/B"] if roofline else [])
        + ["status"]
    )
    node_rows = []
    for n in ranked:
        row = [
            n.name,
            n.op_type,
            _shape(n.output_shapes[0] if n.output_shapes else None),
            format_count(n.macs),
            format_count(n.flops),
            format_bytes(n.memory_traffic_bytes),
        ]
        if roofline:
            row += [
                format_seconds(n.latency_s or 0.0),
                n.bound or "",
                "" if n.intensity is None else f"{n.intensity:.1f}",
            ]
        node_rows.append([*row, "" if n.status == "counted" else n.status])
    out += ["", f"{h}{title}", table(head, node_rows, markdown)]

    if report.uncounted:
        out += ["", f"{h}Uncounted ops (no cost rule: totals are lower bounds)"]
        out.append(table(["op type", "count", "nodes"], [[f"{u.domain + ':' if u.domain else ''}{u.op_type}", str(u.count), _names(u.nodes)] for u in report.uncounted], markdown))  # fmt: skip
    if report.unresolved:
        out += ["", f"{h}Unresolved sizes (not static: totals are lower bounds)"]
        rows = [[u.tensor, u.node, u.reason] for u in report.unresolved[:20]]
        if len(report.unresolved) > 20:
            rows.append([f"... {len(report.unresolved) - 20} more", "", ""])
        out.append(table(["tensor", "node", "reason"], rows, markdown))
    if report.duplicates:  # both copies count: the file stores them twice
        out += ["", f"{h}Initializers stored twice with identical contents (each counted)"]
        out += [
            f"- {clean(', '.join(d.tensors))}: {format_count(d.params)} {d.dtype} parameters each"
            for d in report.duplicates[:20]
        ]
    if report.warnings:
        out += ["", f"{h}Warnings"] + [f"- {clean(w)}" for w in report.warnings]
    return "\n".join(out) + "\n"


def _module_table(report: Report, markdown: bool) -> str:
    t = report.totals
    roofline = t.latency_s is not None
    head = ["module", "nodes", "MACs", "FLOPs", "FLOPs %", "params", "traffic"] + (
        ["latency", "time %"] if roofline else []
    )
    rows = []
    for m in report.modules or []:
        label = m.name.rsplit("/", 1)[-1]
        # indentation shows the tree; markdown collapses spaces, so it gets the full path
        name = m.name if markdown else "  " * (m.depth - 1) + label
        row = [
            name,
            str(m.nodes),
            format_count(m.macs),
            format_count(m.flops),
            _pct(m.share_flops),
            format_count(m.params),
            format_bytes(m.memory_traffic_bytes),
        ]
        if roofline:
            row += [format_seconds(m.latency_s or 0.0), _pct(m.share_latency or 0.0)]
        rows.append(row)
    return table(head, rows, markdown, align="l" + "r" * (len(head) - 1))


def _roofline_table(hw: dict, markdown: bool) -> str:
    bound = hw.get("bound", "?")
    rows = [
        [
            "whole-model bound",
            format_seconds(hw.get("latency_bound_s") or 0.0),
            f"{bound}-bound: compute {format_seconds(hw.get('compute_time_s') or 0.0)}, "
            f"memory {format_seconds(hw.get('memory_time_s') or 0.0)} if all overlapped",
        ],
        [
            "memory-bound share",
            _pct(hw.get("memory_bound_share") or 0.0),
            "of the latency, in nodes limited by memory bandwidth",
        ],
        [
            "compute-bound share",
            _pct(hw.get("compute_bound_share") or 0.0),
            "of the latency, in nodes limited by compute",
        ],
    ]
    for r in hw.get("ridge_points", []):
        peak = f"{r['peak_unit']} {r['peak_dtype']}"
        rows.append(
            [
                f"ridge point {r['dtype']} {r['unit']}",
                f"{r['ridge_flops_per_byte']:.3g}",
                f"FLOPs/byte ({peak} peak {format_count(r['peak_ops_per_s'])}ops/s, "
                f"{r['nodes']} nodes)",
            ]
        )
    fits = hw.get("fits_in_memory")
    rows.append(
        [
            "fits in device memory",
            "yes" if fits else "no",
            f"weights + peak activations {format_bytes(hw.get('memory_required_bytes') or 0)}"
            f" of {format_bytes(int(hw.get('memory_bytes') or 0))}",
        ]
    )
    fallbacks = hw.get("fallbacks") or []
    rows.append(["fallbacks", str(len(fallbacks)), "; ".join(fallbacks) or "none"])
    return table(["", "value", "detail"], rows, markdown, align="lrl")


def _names(names: list[str], limit: int = 5) -> str:
    more = f", ... (+{len(names) - limit})" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def render_scaling(dim: str, device: str, rows: list[ScalingRow], fmt: str = "table") -> str:
    """How latency, throughput and memory grow with one dim, on one device."""
    from onnxcost.analysis.scaling import ScalingRow, turns_compute_bound

    turn = turns_compute_bound(rows)
    if fmt == "json":
        data = {
            "dim": dim,
            "device": device,
            "turns_compute_bound_at": turn,
            "rows": [r.to_dict() for r in rows],
        }
        return dumps(data) + "\n"
    head = [
        dim,
        "latency",
        "bound",
        "items/s",
        "FLOPs",
        "traffic",
        "peak memory",
        "memory-bound time",
        "fits",
    ]
    body = [
        [
            str(r.value),
            ("≥ " if r.lower_bound else "") + format_seconds(r.latency_s),
            r.bound,
            format_count(r.throughput_items_per_s),
            format_count(r.flops),
            format_bytes(r.memory_traffic_bytes),
            format_bytes(r.peak_memory_bytes),
            _pct(r.memory_bound_share),
            "yes" if r.fits_in_memory else "no",
        ]
        for r in rows
    ]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(list(ScalingRow.__dataclass_fields__))
        for r in rows:
            w.writerow([_csv_value(v) for v in r.to_dict().values()])
        return buf.getvalue()
    md = fmt == "markdown"
    where = (
        f"the model turns compute-bound at {dim}={turn}"
        if turn is not None
        else "memory-bound at every value given"
    )
    title = f"{'## ' if md else ''}" + sanitize.text(f"Scaling {dim} on {device}: {where}")
    return "\n".join([title, table(head, body, md)]) + "\n"


_FORMULA_LABELS = {
    "macs": "MACs",
    "flops": "FLOPs",
    "params": "parameters",
    "weight_bytes": "weight bytes",
    "activations_total_bytes": "activations (total, bytes)",
    "activations_peak_bytes": "peak activations (bytes)",
    "peak_memory_bytes": "peak memory (bytes)",
    "memory_traffic_bytes": "memory traffic (bytes)",
}


def render_formulas(
    symbolic: Report, strings: dict[str, str], lower_bound_reasons: list[str] | None = None
) -> str:
    """The totals as formulas of the unbound dims, factored, SI-grouped coefficients; lower
    bounds, with the reasons, when the symbolic analysis could not work out every size."""
    from onnxcost.analysis import formulas as F  # only for reports with unbound dims
    from onnxcost.analysis.poly import pretty

    figs = F.figures(symbolic)
    names = sanitize.text(", ".join(symbolic.formula_data.unbound))
    how = "lower bounds: see below" if lower_bound_reasons else "exact for every value"
    lines = ["", f"Formulas (unbound dims: {names}; {how}):"]
    for key, label in _FORMULA_LABELS.items():
        lines.append(f"  {label} = {sanitize.text(pretty(figs[key]))}")
    if "latency_s" in strings and len(strings["latency_s"]) <= 400:
        lines.append(f"  latency (s) = {sanitize.text(strings['latency_s'])}")
    peak = symbolic.formula_data.peak_bytes
    if len(peak) > 1:
        lines.append(
            "  the peak's step depends on the dims: one of "
            + ", ".join(sanitize.text(c.node) for c in peak[:8])
            + (" ..." if len(peak) > 8 else "")
        )
    if lower_bound_reasons:
        lines.append("  not worked out with the dims unbound (bind them for exact numbers):")
        lines += [f"    {sanitize.text(r)}" for r in lower_bound_reasons]
    return "\n".join(lines) + "\n"
