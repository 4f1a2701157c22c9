"""Benchmark: a 4-value `--dim` sweep (one formula analysis, evaluated 4 times) against four
separate `onnxcost analyze` runs, whole processes, on a graph from tools/bench_large.py.

    python tools/bench_sweep.py --layers 2000      # ~ 26k nodes, dim batch = 1,8,64,256

Prints both wall times and their ratio, and checks that the sweep's rows equal the four runs'.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).parent))
from bench_large import build

CLI = [sys.executable, "-c", "from onnxcost.cli.main import main; main()"]


def run(args: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    out = subprocess.run([*CLI, *args], check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--values", default="1,8,64,256")
    a = ap.parse_args()
    values = [int(v) for v in a.values.split(",")]
    with tempfile.TemporaryDirectory() as d:
        path = str(Path(d) / "large.onnx")
        model = build(a.layers, a.hidden, external=False)
        onnx.save(model, path)
        nodes = len(model.graph.node)
        base = ["analyze", path, "--hw", "h100", "--format", "json"]
        t_sweep, sweep = run([*base, "--dim", f"batch={a.values}"])
        t_each, rows = 0.0, []
        for v in values:
            t, out = run([*base, "--dim", f"batch={v}"])
            t_each += t
            rows.append(json.loads(out)["totals"])
    swept = json.loads(sweep)
    swept = swept["rows"] if isinstance(swept, dict) else swept
    for r, tot in zip(swept, rows, strict=True):
        assert r["flops"] == tot["flops"] and r["peak_memory_bytes"] == tot["peak_memory_bytes"]
        assert r["latency_s"] == tot["latency_s"]
    print(f"{nodes} nodes, batch = {a.values}")
    print(f"sweep (one process, one formula analysis): {t_sweep:.2f} s")
    print(f"four analyses (four processes):            {t_each:.2f} s")
    print(f"ratio: {t_each / t_sweep:.2f}x")


if __name__ == "__main__":
    main()
