"""`onnxcost analyze`: one model's costs, as tables, JSON, CSV, HTML or viewer overlays."""

from __future__ import annotations

import json

import click

from onnxcost.cli.options import DimRange, model_options, write_output
from onnxcost.errors import UsageError
from onnxcost.report.render import FORMATS

# Formats of one analysis only (not of a --dim list), written for a viewer.
VIEW_FORMATS = ("html", "netron", "model-explorer")


@click.command()
@click.argument("model", type=click.Path(dir_okay=True, path_type=str))
@model_options(scaling=True, values=True)
@click.option(
    "--hw",
    metavar="DEVICE|FILE",
    help="Add roofline latency on a device: a name from `onnxcost hw list` (e.g. h100, a100, "
    "rpi5) or a spec file (.toml/.json/.yaml) of your own.",
)
@click.option(
    "--plot",
    metavar="FILE",
    help="With --hw: draw the roofline chart (nodes as points) to FILE.svg or FILE.png "
    "(needs the plot extra: pip install 'onnxcost[plot]').",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS + VIEW_FORMATS),
    default="table",
    show_default=True,
    help="table and markdown for people; json (the stable contract) and csv (one row per node) "
    "for machines; html: a self-contained report with charts (needs the html extra: pip install "
    "'onnxcost[html]'); netron: per-node metrics for Netron (save as MODEL.onnx.metrics.json and "
    "open it with the model); model-explorer: per-node data JSON for Model Explorer, coloured "
    "by latency with --hw, else by FLOPs.",
)
@click.option(
    "--by",
    type=click.Choice(["op-type", "module"]),
    default="op-type",
    show_default=True,
    help="module: also aggregate every figure over the module tree (from node names such as "
    "/encoder/layer.0/MatMul, or the dynamo exporter's pkg.torch.onnx.name_scopes metadata); "
    "nodes without a scope go under <op type>. JSON gains a `modules` list.",
)
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    metavar="N",
    help="With --by module: fold modules deeper than N levels into their ancestor (default: all).",
)
@click.option("-o", "--output", metavar="FILE", help="Write the report to FILE instead of stdout.")
@click.option("--per-node", is_flag=True, help="List every node, not just the top ones.")
@click.option(
    "--top",
    default=10,
    show_default=True,
    metavar="N",
    help="How many of the costliest nodes to list.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Fail (exit 2) on anything the totals could not count: uncounted ops, unresolved "
    "shapes, missing external data, any warning.",
)
def analyze(
    model: str,
    dims: dict[str, list[int]],
    input_shapes: dict[str, list[int]],
    input_values: dict,
    hw: str | None,
    plot: str | None,
    fmt: str,
    by: str,
    depth: int | None,
    output: str | None,
    per_node: bool,
    top: int,
    strict: bool,
) -> None:
    """Analyse MODEL (an .onnx file) and report its costs. The model is never run."""
    # each module is imported where it is needed: a plain analysis needs few of them
    from onnxcost.analysis.analyzer import analyze as run_analysis
    from onnxcost.analysis.analyzer import analyze_with_formulas

    spec = None
    if hw:
        from onnxcost.hardware import database as hardware

        spec = hardware.get(hw)
    if depth is not None and by != "module":
        raise UsageError("--depth folds the module tree: give --by module")
    if plot and spec is None:
        raise UsageError("--plot draws the roofline of a device: give one with --hw")
    ranges = {k: v for k, v in dims.items() if isinstance(v, DimRange)}
    fixed = {k: v[0] for k, v in dims.items() if len(v) == 1 and k not in ranges}
    lists = {k: v for k, v in dims.items() if len(v) > 1 and k not in ranges}
    if ranges:
        if len(ranges) > 1 or lists or hw or plot or by == "module" or fmt not in ("table", "json"):
            raise UsageError(
                "--dim NAME=LO..HI shows where the activation peak's step moves over a range: "
                "give one range, the other dims single values, --format table or json"
            )
        ((dim, span),) = ranges.items()
        write_output(_peak_over_range(model, dim, span, fixed, input_shapes, fmt), output)
        return
    if lists:
        if len(lists) > 1:
            raise UsageError("only one --dim may take a list of values")
        if spec is None:
            raise UsageError(
                "--dim with a list of values shows latency scaling: give a device with --hw"
            )
        if plot:
            raise UsageError("--plot draws one analysis: give --dim a single value")
        if fmt in VIEW_FORMATS or by == "module":
            raise UsageError(
                f"--format {fmt} and --by module show one analysis: give --dim a single value"
                if fmt in VIEW_FORMATS
                else "--by module shows one analysis: give --dim a single value"
            )
        from onnxcost.analysis import scaling
        from onnxcost.report.render import render_scaling

        ((dim, values),) = lists.items()
        rows = scaling.scale(
            model,
            dim,
            values,
            spec,
            run_analysis,
            dims=fixed,
            input_shapes=input_shapes,
            strict=strict,
            input_values=input_values,
        )
        write_output(render_scaling(dim, spec.name, rows, fmt), output)
        return
    # the formula report (dims unbound) comes from the same load and shape inference
    report, formula_report = analyze_with_formulas(
        model, dims=fixed, input_shapes=input_shapes, strict=strict, input_values=input_values
    )
    from onnxcost.analysis.analyzer import no_cycle_collection

    with no_cycle_collection():  # its records and the document: no cycles among them
        if spec is not None:
            from onnxcost.analysis import roofline

            roofline.apply(report, spec)
            if plot:
                from onnxcost.report import plot as plot_module

                plot_module.roofline_plot(report, spec, plot)
        if by == "module":
            from onnxcost.analysis import modules as modules_module

            report.modules = modules_module.aggregate(report, depth=depth)
        symbolic = None
        if fmt in ("json", "table", "markdown"):  # before rendering: JSON carries the formulas
            symbolic = _attach_formulas(report, formula_report, spec)
        formula_report = None  # what it kept (the loaded model, the shapes) is freed here
        text = _render_any(report, fmt, per_node, top)
        if symbolic is not None and fmt != "json":
            from onnxcost.report.render import render_formulas

            text += render_formulas(symbolic, report.formulas or {}, report.formulas_reasons)
    write_output(text, output)


def _attach_formulas(report, formula_report, spec):
    """Give `report` its `formulas`; returns the formula report (`formula_report()`, of the same
    shapes) when some dims are unbound."""
    if formula_report is None:
        return None  # every dim bound: the totals are the numbers (no `formulas` object)
    from onnxcost.analysis import formulas as formula_module
    from onnxcost.analysis.poly import PolyError
    from onnxcost.errors import OnnxCostError

    try:
        source = formula_report()
    except OnnxCostError as e:
        report.warnings.append(f"formulas not given: {e}")
        return None
    try:
        report.formulas = formula_module.formulas(source, spec)
    except PolyError as e:  # a peak or latency expression past the caps
        report.warnings.append(f"formulas not given: {e}")
        return None
    if source.totals.lower_bound:  # sizes the symbolic analysis could not work out
        report.formulas_status = "lower_bound"
        report.formulas_reasons = [
            f"{u.tensor!r} at {u.node!r}: {u.reason}" for u in source.unresolved[:5]
        ] + ([f"... {len(source.unresolved) - 5} more"] if len(source.unresolved) > 5 else [])
    return source


def _render_any(report, fmt: str, per_node: bool, top: int) -> str | list[str]:
    from onnxcost.report import overlays
    from onnxcost.report.render import render, render_json

    if fmt == "html":
        from onnxcost.report.html import render_html  # plotly is imported only for this format

        return render_html(report)
    if fmt == "netron":
        data, warnings = overlays.netron_attachment(report)
    elif fmt == "model-explorer":
        data, _metric, warnings = overlays.model_explorer_data(report)
    elif fmt == "json":
        return render_json(report)  # in pieces: never joined (units.json_pieces)
    else:
        return render(report, fmt, per_node=per_node, top=top)
    for w in warnings:
        click.echo(f"warning: {w}", err=True)
    return json.dumps(data, indent=1) + "\n"


def _peak_over_range(model, dim: str, span: DimRange, fixed, input_shapes, fmt: str) -> str:
    """Where the activation peak's step moves as `dim` runs over the range: one formula
    analysis, evaluated (each value up to 20,000 of them, else sampled and bisected)."""
    from onnxcost.analysis.analyzer import analyze as run_analysis
    from onnxcost.analysis.formulas import bottleneck_ranges
    from onnxcost.report import sanitize
    from onnxcost.units import dumps

    report = run_analysis(model, dims=fixed, input_shapes=input_shapes, formulas=True)
    if dim in report.dims or report.formula_data is None:
        raise UsageError(f"--dim {dim}=LO..HI: {dim!r} is not an unbound dim of the model")
    spans = bottleneck_ranges(report, dim, span.lo, span.hi, fixed)
    if fmt == "json":
        rows = [{"lo": b.lo, "hi": b.hi, "node": b.node, "peak_bytes": b.formula} for b in spans]
        return dumps({"dim": dim, "dims": fixed, "bottlenecks": rows}) + "\n"
    head = f"activation peak as {dim} runs over {span.lo}..{span.hi}"
    if fixed:
        head += " (" + ", ".join(f"{k}={v}" for k, v in fixed.items()) + ")"
    lines = [sanitize.text(head) + ":"]
    for b in spans:
        where = f"{dim}={b.lo}" if b.lo == b.hi else f"{dim}={b.lo}..{b.hi}"
        lines.append(sanitize.text(f"  {where}: peak at {b.node}, {b.expr} bytes"))
    return "\n".join(lines) + "\n"
