"""Whole-process benchmark of `onnxcost analyze` against the floor, side by side in one run.

    python tools/bench_floor.py                       # 16k and 64k nodes, a 7B decoder
    python tools/bench_floor.py --layers 1000 --runs 5

The floor is a process that only parses the file and runs onnx's own shape inference with data
propagation (`onnx.load` + `onnx.shape_inference.infer_shapes(data_prop=True)`): what any ONNX
tool must at least do. Each graph is analysed by both, alternately (A B A B ...), each run a fresh
process; the table gives the median wall and CPU seconds, the ratio to the floor, and the peak
resident memory of each process (from wait4's rusage).

With --unbound, also the report and its formulas with dims left unbound: the 64,000-node stack
(batch, seq) and a cross-attention stack of 6,400 layers of 10 nodes (batch, beam, seq, mem).

Graphs: a transformer-like stack of 16 nodes a layer (LayerNormalization, Q/K/V MatMuls, Reshape,
Transpose, attention MatMuls, Softmax, residual Add) with symbolic `batch` and `seq`, bound to
2 and 128 (1,000 layers = 16,000 nodes; 4,000 = 64,000), its weights declared external and
absent; and a Llama-7B-shaped decoder with a KV cache (tools/llm_7b.py), also with absent weights.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnx

ROOT = Path(__file__).resolve().parent.parent
FLOOR = (
    "import sys, onnx; m = onnx.load(sys.argv[1], load_external_data=False); "
    "onnx.shape_inference.infer_shapes(m, data_prop=True)"
)


def _external(name: str, shape: list[int]) -> onnx.TensorProto:
    import numpy as np
    from onnx import TensorProto

    t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", str(4 * np.prod(shape)))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def stack(layers: int, hidden: int = 256, heads: int = 8) -> onnx.ModelProto:
    """16 nodes a layer, symbolic batch and seq."""
    # imported here: the timing process must not hold onnx and numpy (see main)
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    inits = [
        numpy_helper.from_array(np.array([0, 0, heads, hidden // heads], np.int64), "split"),
        numpy_helper.from_array(np.array([0, 0, hidden], np.int64), "merge"),
    ]
    nodes, x = [], "x"
    for i in range(layers):
        p = f"l{i}_"
        inits += [_external(p + n, [hidden]) for n in ("g", "b")]
        inits += [_external(p + n, [hidden, hidden]) for n in ("wq", "wk", "wv")]
        nodes.append(helper.make_node("LayerNormalization", [x, p + "g", p + "b"], [p + "ln"]))
        for n in "qkv":
            nodes.append(helper.make_node("MatMul", [p + "ln", p + "w" + n], [p + n]))
            nodes.append(helper.make_node("Reshape", [p + n, "split"], [p + n + "h"]))
            perm = [0, 2, 3, 1] if n == "k" else [0, 2, 1, 3]
            nodes.append(helper.make_node("Transpose", [p + n + "h"], [p + n + "t"], perm=perm))
        nodes += [
            helper.make_node("MatMul", [p + "qt", p + "kt"], [p + "s"]),
            helper.make_node("Softmax", [p + "s"], [p + "p"], axis=-1),
            helper.make_node("MatMul", [p + "p", p + "vt"], [p + "o"]),
            helper.make_node("Transpose", [p + "o"], [p + "ot"], perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", [p + "ot", "merge"], [p + "om"]),
            helper.make_node("Add", [x, p + "om"], [p + "out"]),
        ]
        x = p + "out"
    graph = helper.make_graph(
        nodes,
        "stack",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", hidden])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


# Installed packages run from byte-compiled modules (pip compiles them at install); a shell that
# sets PYTHONDONTWRITEBYTECODE would make every run recompile ours, and only ours.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """(wall s, cpu s, peak RSS MiB) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}: {proc.stderr.read().decode()[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def bench(path: Path, analyze_args: list[str], runs: int) -> dict[str, float]:
    ours = [sys.executable, "-m", "onnxcost.cli", "analyze", str(path), *analyze_args]
    ours += ["--format", "json", "-o", os.devnull]
    floor = [sys.executable, "-c", FLOOR, str(path)]
    timed(ours), timed(floor)  # warm-up: file cache, byte-compiled modules
    a, b = [], []
    for _ in range(runs):
        a.append(timed(ours))
        b.append(timed(floor))
    med = {k: statistics.median(r[i] for r in a) for i, k in enumerate(("wall", "cpu", "rss"))}
    flo = {k: statistics.median(r[i] for r in b) for i, k in enumerate(("wall", "cpu", "rss"))}
    ratio = statistics.median(x[0] / y[0] for x, y in zip(a, b, strict=True))
    return {**med, **{f"floor_{k}": v for k, v in flo.items()}, "ratio": ratio}


def cross_attention(layers: int, hidden: int = 256) -> onnx.ModelProto:
    """10 nodes a layer: x [batch, beam, seq, hidden] attends to m [batch, beam, mem, hidden];
    four symbolic dims."""
    from onnx import TensorProto, helper

    nodes, inits, x = [], [], "x"
    for i in range(layers):
        p = f"l{i}_"
        inits += [_external(p + n, [hidden]) for n in ("g", "b")]
        inits += [_external(p + n, [hidden, hidden]) for n in ("wq", "wk", "wv")]
        nodes += [
            helper.make_node("LayerNormalization", [x, p + "g", p + "b"], [p + "ln"], axis=-1),
            helper.make_node("MatMul", [p + "ln", p + "wq"], [p + "q"]),
            helper.make_node("MatMul", ["m", p + "wk"], [p + "k"]),
            helper.make_node("MatMul", ["m", p + "wv"], [p + "v"]),
            helper.make_node("Transpose", [p + "k"], [p + "kt"], perm=[0, 1, 3, 2]),
            helper.make_node("MatMul", [p + "q", p + "kt"], [p + "s"]),
            helper.make_node("Softmax", [p + "s"], [p + "pr"], axis=-1),
            helper.make_node("MatMul", [p + "pr", p + "v"], [p + "o"]),
            helper.make_node("Add", [x, p + "o"], [p + "r"]),
            helper.make_node("Relu", [p + "r"], [p + "y"]),
        ]
        x = p + "y"
    dims = {"x": ["batch", "beam", "seq", hidden], "m": ["batch", "beam", "mem", hidden]}
    graph = helper.make_graph(
        nodes,
        "cross_attention",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, d) for n, d in dims.items()],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def build_file(what: str, path: str) -> None:
    """Write one graph (run in a process of its own, see `main`)."""
    import onnx

    if what.startswith("x"):
        onnx.save(cross_attention(int(what[1:])), path)
    elif what == "7b":
        sys.path.insert(0, str(ROOT))
        from tests.llm_builders import llama

        onnx.save(llama(32, 4096, 32, 32, 11008, 32000, external=True), path)
    else:
        onnx.save(stack(int(what)), path)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--layers", type=int, nargs="*", default=[1000, 4000])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-7b", action="store_true", help="skip the 7B decoder")
    ap.add_argument(
        "--unbound",
        action="store_true",
        help="also with dims left unbound (the report and its formulas): the 64,000-node stack "
        "with batch and seq unbound, and a 64,000-node cross-attention stack with four",
    )
    ap.add_argument("--build", nargs=2, metavar=("WHAT", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        build_file(*args.build)
        return

    # Each graph is built in a process of its own: a timed process's peak RSS counts what it
    # inherits at fork, so this one must stay small (no model, not even onnx imported).
    def build(what: str, path: Path) -> None:
        subprocess.run([sys.executable, __file__, "--build", what, str(path)], check=True)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for layers in args.layers:
            path = Path(tmp) / f"stack{layers}.onnx"
            build(str(layers), path)
            r = bench(path, ["--dim", "batch=2", "--dim", "seq=128"], args.runs)
            rows.append((f"stack, {16 * layers:,} nodes", r))
        if not args.no_7b:
            path = Path(tmp) / "llama7b.onnx"
            build("7b", path)
            dims = ["--dim", "batch_size=1", "--dim", "sequence_length=1"]
            dims += ["--dim", "past_sequence_length=4095"]
            rows.append(("Llama-7B decoder, weights absent", bench(path, dims, args.runs)))
        if args.unbound:
            path = Path(tmp) / "stack4000.onnx"
            if not path.exists():
                build("4000", path)
            rows.append(("stack, 64,000 nodes, 2 dims unbound", bench(path, [], args.runs)))
            path = Path(tmp) / "cross.onnx"
            build("x6400", path)
            rows.append(
                ("cross-attention, 64,000 nodes, 4 dims unbound", bench(path, [], args.runs))
            )
    print("| graph | onnxcost wall | CPU | peak RSS | floor wall | floor peak RSS | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['wall']:.2f} s | {r['cpu']:.2f} s | {r['rss']:.0f} MiB | "
            f"{r['floor_wall']:.2f} s | {r['floor_rss']:.0f} MiB | {r['ratio']:.2f}x |"
        )


if __name__ == "__main__":
    main()
