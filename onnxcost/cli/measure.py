"""`onnxcost measure` (runs the model) and `onnxcost hw calibrate` (measures this host).

These are the only commands that execute anything: `measure` runs the model with onnxruntime,
`calibrate` runs benchmarks. Both say so on stderr before they start.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from onnxcost.cli.options import model_options, write_output
from onnxcost.errors import OnnxCostError
from onnxcost.hardware import calibrate as cal
from onnxcost.hardware import database as hardware
from onnxcost.hardware.measure import DEFAULT_RUNS, DEFAULT_WARMUP, Measurement
from onnxcost.hardware.measure import measure as run_measure
from onnxcost.report.table import table
from onnxcost.units import format_seconds

_FORMATS = ("table", "json")
_LIST_MAX = 10  # unmatched nodes / kernels / shape mismatches listed in the table


def _guarded(body: Callable[[], None]) -> None:
    """Bad input is one line on stderr and exit 2, also when the command runs outside a group."""
    try:
        body()
    except OnnxCostError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


# ---------------------------------------------------------------------------------- measure


@click.command("measure")
@click.argument("model", type=click.Path(dir_okay=False, path_type=str))
@model_options
@click.option(
    "--hw",
    metavar="NAME|FILE",
    help="Device spec to predict with, normally this host's own from `onnxcost hw calibrate "
    "-o host.toml`. Default: a quick calibration of this host, run first.",
)
@click.option(
    "--runs",
    default=DEFAULT_RUNS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Timed runs.",
)
@click.option(
    "--warmup",
    default=DEFAULT_WARMUP,
    show_default=True,
    type=click.IntRange(min=0),
    help="Untimed runs first (caches, allocator, thread pool).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="onnxruntime intra-op threads (default: onnxruntime's choice, one per physical core).",
)
@click.option(
    "--optimize",
    is_flag=True,
    help="Turn onnxruntime's graph optimizations on. Fused kernels then join the report's nodes "
    "in groups; the default (off) keeps one kernel per node, joined by name.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="table", show_default=True)
@click.option("-o", "--output", metavar="FILE", help="Write the result to FILE instead of stdout.")
@click.option("--per-node", is_flag=True, help="List every joined kernel, not just the top ones.")
@click.option("--top", default=10, show_default=True, metavar="N", help="Kernels listed.")
def measure(
    model: str,
    dims: dict[str, int],
    input_shapes: dict[str, list[int]],
    hw: str | None,
    runs: int,
    warmup: int,
    threads: int | None,
    optimize: bool,
    seed: int,
    fmt: str,
    output: str | None,
    per_node: bool,
    top: int,
) -> None:
    """RUN MODEL with onnxruntime on the CPU and compare with the predicted roofline.

    Unlike `analyze`, this executes the model, on random inputs built from the inferred input
    shapes (floats N(0,1); integer inputs within the range the model indexes). onnxruntime's
    profiler times every node after warm-up runs; the times are joined with the roofline's
    per-node prediction and compared per op type and in total (ratio, rank correlation), and
    every output shape the run produced is checked against the inferred one.
    """

    def body() -> None:
        spec = _spec(hw, threads)
        click.echo(
            f"onnxcost measure: running {model} with onnxruntime on the CPU "
            f"({warmup} warm-up + {runs} timed runs, profiler off then on)",
            err=True,
        )
        m = run_measure(
            model,
            spec,
            dims=dims,
            input_shapes=input_shapes,
            runs=runs,
            warmup=warmup,
            threads=threads,
            optimize=optimize,
            seed=seed,
        )
        if fmt == "json":
            text = json.dumps(m.to_dict(), indent=2) + "\n"
        else:
            text = render_measurement(m, per_node=per_node, top=top)
        write_output(text, output)

    _guarded(body)


def _spec(hw: str | None, threads: int | None) -> hardware.HardwareSpec:
    if hw:
        return hardware.get(hw)
    click.echo(
        "no --hw given: calibrating this host quickly first (`onnxcost hw calibrate -o "
        "host.toml` measures it properly, once)",
        err=True,
    )
    c = cal.calibrate(quick=True, threads=threads)
    return hardware.from_dict("host", c.spec, "this host, quick calibration")


def _ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def _shape(s: list[Any] | None) -> str:
    return "?" if s is None else "[" + ", ".join("?" if d is None else str(d) for d in s) + "]"


def render_measurement(m: Measurement, per_node: bool = False, top: int = 10) -> str:
    rt = m.runtime
    threads = rt["threads"] or "onnxruntime default"
    opt = "on" if rt["graph_optimizations"] == "all" else "off"
    out = [
        f"{m.model}: RAN with onnxruntime {rt['onnxruntime']} on the CPU (threads: {threads}, "
        f"graph optimizations {opt}), {rt['warmup']} warm-up + {rt['runs']} timed runs",
        f"predicted on: {m.device['name']} ({m.device['origin']})",
    ]
    for i in m.inputs:
        out.append(f"input {i.name}: {i.dtype} {_shape(i.shape)}, {i.values}")

    rows = [
        [
            o.op_type,
            str(o.nodes),
            str(o.matched),
            format_seconds(o.predicted_s),
            format_seconds(o.measured_s),
            _ratio(o.ratio),
        ]
        for o in m.op_types
    ]
    matched_ratio = (
        m.matched_measured_s / m.matched_predicted_s if m.matched_predicted_s > 0 else None
    )
    rows.append(
        [
            "all joined",
            str(len(m.report.nodes)),
            str(m.matched_nodes),
            format_seconds(m.matched_predicted_s),
            format_seconds(m.matched_measured_s),
            _ratio(matched_ratio),
        ]
    )
    out += ["", "BY OP TYPE (joined nodes; measured = median over the timed runs)"]
    out.append(
        table(["OP TYPE", "NODES", "JOINED", "PREDICTED", "MEASURED", "MEASURED/PREDICTED"], rows)
    )

    k, w = m.kernels_s, m.wall_s
    totals = [
        ["predicted: sum of node latencies", format_seconds(m.predicted_s), ""],
        ["predicted: whole-model bound", format_seconds(m.predicted_bound_s), ""],
        [
            "measured: all kernels, per run",
            format_seconds(k.median),
            f"{_ratio(m.ratio(k.median))}  (min {format_seconds(k.min)}, max {format_seconds(k.max)})",
        ],
        [
            "measured: wall clock, profiler off",
            format_seconds(w.median),
            f"{_ratio(m.ratio(w.median))}  (min {format_seconds(w.min)}, max {format_seconds(w.max)})",
        ],
    ]
    out += ["", "TOTAL (median run)"]
    out.append(table(["", "TIME", "MEASURED/PREDICTED"], totals))
    if m.node_ratio:
        q = m.node_ratio
        out.append(
            "per-node measured/predicted: "
            + ", ".join(f"{k} {_ratio(q[k])}" for k in ("min", "p25", "median", "p75", "max"))
            + f" ({sum(1 for n in m.nodes if n.predicted_s > 0 and n.measured_s > 0)} kernels)"
        )
    rho = "-" if m.spearman is None else f"{m.spearman:.2f}"
    out.append(f"rank correlation of per-node times (Spearman): {rho} over {len(m.nodes)} kernels")
    how: dict[str, int] = {}
    for n in m.nodes:
        how[n.match] = how.get(n.match, 0) + 1
    out.append(
        f"joined: {m.matched_nodes} of {len(m.report.nodes)} report nodes ("
        + ", ".join(f"{v} {k}" for k, v in how.items())
        + f" kernels); runtime kernels with no node: {len(m.unmatched_kernels)}"
    )
    if m.report.totals.lower_bound:
        out.append("note: the prediction is a lower bound (uncounted or unresolved nodes)")

    out += ["", _shape_summary(m)]
    bad = m.shape_mismatches
    if bad:
        rows = [
            [s.tensor, s.node, s.where, _shape(s.inferred), _shape(s.runtime)]
            + ([f"{s.inferred_dtype} vs {s.runtime_dtype}"] if s.inferred_dtype else [""])
            for s in bad[:_LIST_MAX]
        ]
        out.append(table(["TENSOR", "NODE", "WHERE", "INFERRED", "RUNTIME", "DTYPE"], rows))
        if len(bad) > _LIST_MAX:
            out.append(f"... {len(bad) - _LIST_MAX} more (--format json lists all)")

    listed = sorted(m.nodes, key=lambda n: -n.measured_s)
    if not per_node:
        listed = listed[:top]
    if listed:
        out += ["", "KERNELS BY MEASURED TIME" + ("" if per_node else f" (top {len(listed)})")]
        rows = [
            [
                n.name + (f" (+{len(n.members) - 1})" if len(n.members) > 1 else ""),
                n.op_type if n.runtime_op == n.op_type else f"{n.op_type} as {n.runtime_op}",
                n.bound or "-",
                format_seconds(n.predicted_s),
                format_seconds(n.measured_s),
                _ratio(n.ratio),
                n.match,
            ]
            for n in listed
        ]
        out.append(
            table(["NODE", "OP", "BOUND", "PREDICTED", "MEASURED", "RATIO", "JOINED BY"], rows)
        )
    for title, items, col in (
        ("REPORT NODES WITH NO KERNEL", m.unmatched_nodes, "PREDICTED"),
        ("RUNTIME KERNELS WITH NO NODE", m.unmatched_kernels, "MEASURED"),
    ):
        if not items:
            continue
        out += ["", f"{title} ({len(items)})"]
        rows = [[u.name, u.op_type, format_seconds(u.time_s), u.reason] for u in items[:_LIST_MAX]]
        out.append(table(["NAME", "OP", col, "WHY"], rows))
        if len(items) > _LIST_MAX:
            out.append(f"... {len(items) - _LIST_MAX} more (--format json lists all)")
    if m.warnings:
        out.append("")
        out += [f"warning: {w}" for w in m.warnings]
    return "\n".join(out) + "\n"


def _shape_summary(m: Measurement) -> str:
    outputs = sum(s.where == "output" for s in m.shapes)
    inner = len(m.shapes) - outputs
    unknown = sum(s.status == "unknown" for s in m.shapes)
    bad = len(m.shape_mismatches)
    head = (
        f"SHAPE CHECK: {len(m.shapes)} runtime shapes ({outputs} graph output(s), {inner} "
        "intermediate) against the inferred ones: "
    )
    verdict = f"{bad} MISMATCH(ES)" if bad else "all match"
    if unknown:
        verdict += f"; {unknown} not fully inferred (symbolic or unknown dims)"
    return head + verdict


# -------------------------------------------------------------------------------- calibrate


@click.command("calibrate")
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write the measured device spec to FILE (.toml or .json), for --hw FILE.",
)
@click.option(
    "--repeats",
    default=cal.DEFAULT_REPEATS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Timed repeats of each benchmark; the spec takes the median, the notes keep the spread.",
)
@click.option(
    "--quick", is_flag=True, help="Small sizes and 3 repeats: seconds, not a spec to trust."
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    help="onnxruntime threads (default: onnxruntime's choice). With it, numpy's cross-checks "
    "are skipped (their thread count cannot be set).",
)
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="table", show_default=True)
def calibrate(output: str | None, repeats: int, quick: bool, threads: int | None, fmt: str) -> None:
    """Measure THIS machine (GEMM per dtype, elementwise, memory bandwidth) and write a spec.

    Runs benchmarks for about 15-30 s (a second or two with --quick): large matrix products
    per dtype and streaming copies through onnxruntime, numpy as a cross-check. Each figure is
    the median of its repeats; the spec's notes keep min and max.
    """

    def body() -> None:
        if output and Path(output).suffix.lower() not in (".toml", ".json"):
            raise OnnxCostError(f"{output}: the spec file must end in .toml or .json")
        benches = cal.plan(quick, threads)
        n = repeats if not (quick and repeats == cal.DEFAULT_REPEATS) else cal.QUICK_REPEATS
        click.echo("onnxcost hw calibrate: running benchmarks on this machine", err=True)
        samples = []
        with click.progressbar(
            benches,
            label="calibrating",
            item_show_func=lambda b: b.label if b is not None else None,
            file=sys.stderr,
        ) as bar:
            for b in bar:
                samples.append(cal.run(b, n, quick))
        result = cal.summarize(samples, threads=threads, quick=quick)
        hardware.from_dict("host", result.spec, "calibration")  # never write a spec --hw refuses
        if output:
            cal.write_spec(result.spec, output)
        if fmt == "json":
            click.echo(json.dumps(result.to_dict(), indent=2))
        else:
            click.echo(render_calibration(result, show_spec=not output), nl=False)
        if output:
            click.echo(f"wrote {output}: use it with --hw {output}", err=True)

    _guarded(body)


def render_calibration(c: cal.Calibration, show_spec: bool = False) -> str:
    h = c.host
    out = [
        f"{h['cpu']}: {h['logical_cpus']} logical CPUs, "
        f"{h['memory_bytes'] / 1e9:.1f} GB memory"
        + (f", last-level cache {h['llc_bytes'] / 2**20:.0f} MiB" if h.get("llc_bytes") else ""),
        "",
    ]
    rows = []
    for s in c.samples:
        used = "<- spec" if c.chosen.get(s.figure) is s else ""
        if s.error:
            rows.append(
                [s.figure, s.backend, s.what, "-", "-", "-", "-", f"not measured: {s.error}"]
            )
            continue
        rows.append(
            [
                s.figure,
                s.backend,
                s.what,
                cal.format_rate(s.minimum, s.unit),
                cal.format_rate(s.median, s.unit),
                cal.format_rate(s.maximum, s.unit),
                f"{100 * s.spread:.0f}%",
                used,
            ]
        )
    out.append(
        table(["FIGURE", "BACKEND", "BENCHMARK", "MIN", "MEDIAN", "MAX", "SPREAD", ""], rows)
    )
    repeats = max((len(s.seconds) for s in c.samples), default=0)
    out.append("")
    out.append(
        f"{repeats} repeats each; spread = (max - min) / median. The spec takes each figure's "
        "best median."
    )
    if show_spec:
        out += ["", cal.to_toml(c.spec)]
    return "\n".join(out) + "\n"


__all__ = ["calibrate", "measure", "render_calibration", "render_measurement"]
