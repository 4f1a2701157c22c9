"""Whole-process time of onnxcost against onnx-tool on the corpus models both can analyse.

    python tools/corpus/vs_onnx_tool.py [--runs 3] [--only NAME_SUBSTRING]

For each manifest entry that onnx-tool analysed in the last `compare.py --engines` run
(engines.json), two commands run alternately as fresh processes: `python -m onnxcost.cli analyze`
with the entry's dims, input shapes and input values, and a process that loads the model with
onnx-tool, infers shapes from the entry's random inputs and profiles it (what compare.py's
onnx-tool engine does). The table (stdout and CORPUS/vs_onnx_tool.md) gives each one's median
wall seconds and the median ratio of the pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import CORPUS, load_manifest  # noqa: E402

# Installed packages run from byte-compiled modules (pip compiles them at install); a shell that
# sets PYTHONDONTWRITEBYTECODE would make every run recompile onnxcost (editable), not onnx-tool.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run_onnx_tool(name: str) -> None:
    """The onnx-tool side, in its own process."""
    from compare import concrete_model, engine_onnx_tool

    e = next(x for x in load_manifest() if x["name"] == name)
    m, feeds = concrete_model(e)
    engine_onnx_tool(m, feeds, e)


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - t0


def onnxcost_cmd(e: dict) -> list[str]:
    cmd = [sys.executable, "-m", "onnxcost.cli", "analyze", str(CORPUS / e["path"])]
    for k, v in (e.get("dims") or {}).items():
        cmd += ["--dim", f"{k}={v}"]
    for k, v in (e.get("input_shapes") or {}).items():
        cmd += ["--input-shape", f"{k}={'x'.join(map(str, v))}"]
    for k, v in (e.get("input_values") or {}).items():
        text = (
            str(v).lower()
            if isinstance(v, bool)
            else ",".join(map(str, v))
            if isinstance(v, list)
            else str(v)
        )
        cmd += ["--input-value", f"{k}={text}"]
    return [*cmd, "--format", "json", "-o", os.devnull]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only")
    ap.add_argument("--run-onnx-tool", metavar="NAME", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.run_onnx_tool:
        run_onnx_tool(a.run_onnx_tool)
        return
    engines = {r["name"]: r for r in json.loads((CORPUS / "engines.json").read_text())}
    ok = {n for n, r in engines.items() if "error" not in (r.get("onnx_tool") or {"error": 1})}
    rows = []
    for e in load_manifest():
        if e["name"] not in ok or (a.only and a.only not in e["name"]):
            continue
        ours = onnxcost_cmd(e)
        theirs = [sys.executable, __file__, "--run-onnx-tool", e["name"]]
        try:
            wall(ours), wall(theirs)  # warm-up
            pairs = [(wall(ours), wall(theirs)) for _ in range(a.runs)]
        except subprocess.CalledProcessError as err:
            print(f"# {e['name']}: failed ({err})", file=sys.stderr)
            continue
        rows.append(
            (
                e["name"],
                statistics.median(p[0] for p in pairs),
                statistics.median(p[1] for p in pairs),
                statistics.median(p[0] / p[1] for p in pairs),
            )
        )
        print(f"# {rows[-1]}", file=sys.stderr)
    lines = ["| model | onnxcost | onnx-tool | ratio |", "|---|---|---|---|"]
    lines += [f"| {n} | {x:.2f} s | {y:.2f} s | {r:.2f} |" for n, x, y, r in rows]
    if rows:
        tot_a, tot_b = sum(r[1] for r in rows), sum(r[2] for r in rows)
        faster = sum(r[3] < 1 for r in rows)
        lines.append(
            f"| **all {len(rows)}** (onnxcost faster on {faster}) | {tot_a:.1f} s | {tot_b:.1f} s "
            f"| {tot_a / tot_b:.2f} |"
        )
    text = "\n".join(lines) + "\n"
    (CORPUS / "vs_onnx_tool.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
