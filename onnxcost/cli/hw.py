"""`onnxcost hw`: list the built-in devices and show one (or a user's spec file)."""

from __future__ import annotations

import json
from typing import Any

import click

from onnxcost.cli.options import LazyGroup
from onnxcost.hardware import database as hardware
from onnxcost.hardware.database import DTYPE_KEYS, HardwareSpec
from onnxcost.report.table import table
from onnxcost.units import format_bytes, format_bytes_iec

_FORMATS = ("table", "json")
# Columns of `hw list`: the peaks a person compares devices by.
_LIST_PEAKS = (("fp16", "matrix"), ("int8", "matrix"), ("fp32", "vector"))


# `hw calibrate` lives with `measure` (both run onnxruntime): imported only when used
CALIBRATE = (
    "onnxcost.cli.measure:calibrate",
    "Measure THIS machine (GEMM per dtype, elementwise, memory bandwidth) and write a spec.",
)


@click.group("hw", cls=LazyGroup, lazy={"calibrate": CALIBRATE})
def hw() -> None:
    """The hardware database: peak throughput, memory and bandwidth of each device, with sources."""


@hw.command("list")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="table", show_default=True)
def hw_list(fmt: str) -> None:
    """List the built-in devices (use a KEY or an alias with --hw)."""
    specs = hardware.load_builtin()
    if fmt == "json":
        click.echo(json.dumps([s.to_dict() for s in specs.values()], indent=2))
        return
    fallback = False
    rows = []
    for s in specs.values():
        cells = [s.key, s.name, s.kind, format_bytes(s.memory_bytes), _bw(s.memory_bandwidth_Bps)]
        for dtype, unit in _LIST_PEAKS:
            c = s.resolve(dtype, unit)
            mark = "" if c.note is None else "*"
            fallback = fallback or bool(mark)
            cells.append(_ops(c.ops_per_s) + mark)
        rows.append(cells)
    headers = ["KEY", "DEVICE", "KIND", "MEMORY", "BANDWIDTH", "FP16 MATRIX", "INT8 MATRIX"]
    click.echo(table([*headers, "FP32 VECTOR"], rows))
    click.echo(
        "\nDense peaks in ops/s (2:4 sparse figures halved)."
        + (
            " * the device lists no such figure: the fallback onnxcost would use."
            if fallback
            else ""
        )
        + "\n`onnxcost hw show KEY` gives every figure with its source."
    )


@hw.command("show")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="table", show_default=True)
def hw_show(name: str, fmt: str) -> None:
    """Show one device: NAME is a key, alias or name, or a .toml/.json/.yaml spec file."""
    spec = hardware.get(name)
    if fmt == "json":
        d = spec.to_dict()
        d["ridge_points"] = _ridge_points(spec)
        click.echo(json.dumps(d, indent=2))
        return
    click.echo(_show_text(spec))


def _show_text(s: HardwareSpec) -> str:
    lines = [s.name, ""]
    about = [
        ("key", s.key),
        ("aliases", ", ".join(s.aliases) or "-"),
        ("vendor", s.vendor or "-"),
        ("kind", s.kind),
        ("origin", s.origin),
    ]
    lines += [f"{k:<9} {v}" for k, v in about]
    lines.append("")
    rows = [
        ["memory", format_bytes(s.memory_bytes), _src(s, "memory_bytes")],
        ["bandwidth", _bw(s.memory_bandwidth_Bps), _src(s, "memory_bandwidth_Bps")],
    ]
    if s.sram_bytes is not None:
        rows.append(["on-chip", format_bytes_iec(s.sram_bytes), _src(s, "sram_bytes")])
    for unit, peaks in (("matrix", s.matrix), ("vector", s.vector)):
        for dtype in DTYPE_KEYS:
            if dtype in peaks:
                rows.append([f"{unit} {dtype}", _ops(peaks[dtype]), _src(s, f"{unit}.{dtype}")])
    lines.append(table(["FIGURE", "VALUE", "SOURCE"], rows))
    ridges = _ridge_points(s)
    if ridges:
        lines.append("")
        lines.append(
            "ridge points (FLOPs/byte): "
            + ", ".join(f"{r['unit']} {r['dtype']} {r['flops_per_byte']:.1f}" for r in ridges)
        )
    if s.notes:
        lines.append("")
        lines += [f"note: {n}" for n in s.notes]
    return "\n".join(lines)


def _ridge_points(s: HardwareSpec) -> list[dict[str, Any]]:
    return [
        {"unit": unit, "dtype": dtype, "flops_per_byte": peak / s.memory_bandwidth_Bps}
        for unit, peaks in (("matrix", s.matrix), ("vector", s.vector))
        for dtype, peak in peaks.items()
    ]


def _src(s: HardwareSpec, figure: str) -> str:
    return s.source(figure) or "-"


def _ops(v: float, unit: str = "") -> str:
    """989.4e12 -> '989.4 T' (four significant digits: vendor figures have no more)."""
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.4g} {prefix}{unit}"
    return f"{v:.4g} {unit}".rstrip()


def _bw(v: float) -> str:
    return _ops(v, "B/s")


__all__ = ["hw"]
