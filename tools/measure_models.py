"""Calibrate this host, then measure every model in models/ against its roofline prediction.

    python tools/measure_models.py                      # markdown to stdout
    python tools/measure_models.py -o measured.md --json measured.json --spec host.toml
    python tools/measure_models.py --hw host.toml       # reuse a calibration, skip the benchmarks
    python tools/measure_models.py --quick --runs 3     # a fast smoke run, numbers not to quote

Each model runs twice: with onnxruntime's graph optimizations off (one kernel per ONNX node, so
every node is joined by name) and on (fused kernels, joined in groups). Symbolic input dims get
the values of --dim (default batch=1, seq=128). Everything printed is measured on this machine,
in this run; the markdown says which machine, which threads and how many runs.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

try:
    import onnxcost
except ImportError:  # run from a checkout without `pip install .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import onnxcost

import onnx
import onnxruntime

from onnxcost.hardware import calibrate as cal
from onnxcost.hardware import database as hardware
from onnxcost.hardware.measure import Measurement, measure
from onnxcost.units import format_seconds

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_DIMS = {"batch": 1, "seq": 128}


def _dims_for(path: Path, given: dict[str, int]) -> dict[str, int]:
    """Values for the model's symbolic input dims (only those it declares)."""
    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    names = {
        d.dim_param
        for vi in model.graph.input
        if vi.name not in inits
        for d in vi.type.tensor_type.shape.dim
        if d.dim_param
    }
    missing = sorted(names - given.keys())
    if missing:
        raise SystemExit(f"{path.name}: give --dim for {', '.join(missing)}")
    return {k: v for k, v in given.items() if k in names}


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _rate(s: cal.Sample) -> str:
    return f"{cal.format_rate(s.median, s.unit)}"


def host_table(c: cal.Calibration) -> str:
    lines = [
        "| figure | measured with | min | median | max | spread |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for s in c.samples:
        if s.error:
            lines.append(f"| {s.figure} | {s.backend}: {s.what} | not measured: {s.error} ||||")
            continue
        mark = " **(spec)**" if c.chosen.get(s.figure) is s else ""
        lines.append(
            f"| {s.figure}{mark} | {s.backend}: {s.what} | {cal.format_rate(s.minimum, s.unit)} "
            f"| {_rate(s)} | {cal.format_rate(s.maximum, s.unit)} | {100 * s.spread:.0f}% |"
        )
    return "\n".join(lines)


def spec_table(spec: hardware.HardwareSpec) -> str:
    rows = [f"| memory bandwidth | {spec.memory_bandwidth_Bps / 1e9:.2f} GB/s |"]
    rows += [f"| matrix {k} | {v / 1e9:.1f} G ops/s |" for k, v in spec.matrix.items()]
    rows += [f"| vector {k} | {v / 1e9:.2f} G ops/s |" for k, v in spec.vector.items()]
    return "\n".join(["| figure | value |", "|---|---:|", *rows])


def summary_table(results: list[tuple[str, Measurement]]) -> str:
    lines = [
        "| model | ORT graph optimizations | nodes joined | predicted | measured, kernels "
        "(min–max) | measured, wall | measured / predicted (wall) | per-node ratio p25–p75 "
        "(min–max) | Spearman | shape check |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, m in results:
        k, w = m.kernels_s, m.wall_s
        q = m.node_ratio
        spread = f"{q['p25']:.2f}–{q['p75']:.2f} ({q['min']:.2f}–{q['max']:.2f})" if q else "-"
        shapes = f"{len(m.shapes)} compared, {len(m.shape_mismatches)} mismatch" + (
            "es" if len(m.shape_mismatches) != 1 else ""
        )
        lines.append(
            f"| {name} | {m.runtime['graph_optimizations']} | {m.matched_nodes}/"
            f"{len(m.report.nodes)} | {format_seconds(m.predicted_s)} | "
            f"{format_seconds(k.median)} ({format_seconds(k.min)}–{format_seconds(k.max)}) | "
            f"{format_seconds(w.median)} | {_ratio(m.ratio(w.median))} | {spread} | "
            f"{'-' if m.spearman is None else f'{m.spearman:.2f}'} | {shapes} |"
        )
    return "\n".join(lines)


def op_table(name: str, m: Measurement) -> str:
    lines = [
        f"**{name}** (graph optimizations {m.runtime['graph_optimizations']})",
        "",
        "| op type | nodes (joined) | predicted | measured | measured / predicted |",
        "|---|---:|---:|---:|---:|",
    ]
    for o in m.op_types:
        joined = f"{o.nodes}" if o.matched == o.nodes else f"{o.nodes} ({o.matched})"
        lines.append(
            f"| {o.op_type} | {joined} | {format_seconds(o.predicted_s)} | "
            f"{format_seconds(o.measured_s)} | {_ratio(o.ratio)} |"
        )
    extra = []
    if m.unmatched_nodes:
        t = sum(u.time_s for u in m.unmatched_nodes)
        ops = sorted({u.op_type for u in m.unmatched_nodes})
        extra.append(
            f"{len(m.unmatched_nodes)} node(s) with no kernel ({', '.join(ops)}; predicted "
            f"{format_seconds(t)}: {m.unmatched_nodes[0].reason})"
        )
    if m.unmatched_kernels:
        t = sum(u.time_s for u in m.unmatched_kernels)
        ops = sorted({u.op_type for u in m.unmatched_kernels})
        extra.append(
            f"{len(m.unmatched_kernels)} runtime kernel(s) with no node ({', '.join(ops)}; "
            f"measured {format_seconds(t)})"
        )
    if extra:
        lines += ["", "Not joined: " + "; ".join(extra) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=MODELS_DIR, help="folder of .onnx files")
    ap.add_argument("--hw", help="use this spec instead of calibrating now")
    ap.add_argument("--spec", type=Path, help="also write the calibrated spec to this file")
    ap.add_argument("--quick", action="store_true", help="quick calibration (smoke runs)")
    ap.add_argument("--repeats", type=int, default=cal.DEFAULT_REPEATS)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--dim", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("-o", "--output", type=Path, help="markdown file (default stdout)")
    ap.add_argument("--json", type=Path, help="raw results as JSON")
    args = ap.parse_args(argv)

    dims = dict(DEFAULT_DIMS)
    for item in args.dim:
        k, _, v = item.partition("=")
        dims[k.strip()] = int(v)

    calibration = None
    if args.hw:
        spec = hardware.get(args.hw)
    else:
        print("calibrating this host ...", file=sys.stderr)
        calibration = cal.calibrate(repeats=args.repeats, quick=args.quick, threads=args.threads)
        spec = hardware.from_dict("host", calibration.spec, "calibrated by tools/measure_models.py")
        if args.spec:
            cal.write_spec(calibration.spec, args.spec)

    results: list[tuple[str, Measurement]] = []
    for path in sorted(args.models.glob("*.onnx")):
        d = _dims_for(path, dims)
        label = path.name + (" (" + ", ".join(f"{k}={v}" for k, v in d.items()) + ")" if d else "")
        for optimize in (False, True):
            print(
                f"measuring {label}, optimizations {'on' if optimize else 'off'}", file=sys.stderr
            )
            m = measure(
                path,
                spec,
                dims=d,
                runs=args.runs,
                warmup=args.warmup,
                threads=args.threads,
                optimize=optimize,
            )
            results.append((label, m))

    host = cal.host_info()
    threads = args.threads or "onnxruntime default"
    out = [
        f"Host: {host['cpu']}, {host['logical_cpus']} logical CPUs, "
        f"{host['memory_bytes'] / 1e9:.1f} GB; {platform.platform()}; onnxruntime "
        f"{onnxruntime.__version__}, onnxcost {onnxcost.__version__}; threads: {threads}; "
        f"{args.warmup} warm-up + {args.runs} timed runs per model and mode.",
        "",
    ]
    if calibration is not None:
        out += [
            f"Calibration ({len(calibration.samples)} benchmarks, "
            f"{max(len(s.seconds) for s in calibration.samples)} repeats each"
            f"{', quick' if args.quick else ''}):",
            "",
            host_table(calibration),
            "",
        ]
    else:
        out += [f"Device spec: {spec.name} ({spec.origin})", "", spec_table(spec), ""]
    out += [summary_table(results), ""]
    for name, m in results:
        out += [op_table(name, m), ""]
    text = "\n".join(out)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        print(text)
    if args.json:
        data = {
            "host": host,
            "calibration": calibration.to_dict() if calibration else None,
            "spec": spec.to_dict(),
            "results": [{"label": name, **m.to_dict()} for name, m in results],
        }
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
