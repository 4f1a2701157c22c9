"""Benchmark: analyse a synthetic graph with tens of thousands of nodes; report time and memory.

    python tools/bench_large.py --layers 2000      # ~ 2000 x 12 = 24k nodes
    python tools/bench_large.py --layers 5000 --weights-mb 2000 --external

The graph is a stack of transformer-like layers (MatMul, Add, LayerNormalization, Softmax, Reshape,
Transpose, Gelu...). With --external the weights live in an external data file that onnxcost never
reads: peak Python memory must stay flat however large the weights are.

Timed as a whole process against the floor (onnx.load + onnx's shape inference), side by side on
stacks of 16,000 and 64,000 nodes and a 7B decoder: tools/bench_floor.py.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import onnxcost


def build(layers: int, hidden: int, external: bool) -> onnx.ModelProto:
    nodes, inits = [], []
    x = "x"

    def w(name: str, shape: list[int]) -> str:
        if external:  # declare the tensor; its bytes live in a file we never read
            t = onnx.TensorProto(name=name, data_type=TensorProto.FLOAT, dims=shape)
            t.data_location = TensorProto.EXTERNAL
            for k, v in (
                ("location", "weights.bin"),
                ("offset", "0"),
                ("length", str(4 * int(np.prod(shape)))),
            ):
                e = t.external_data.add()
                e.key, e.value = k, v
        else:
            t = numpy_helper.from_array(np.zeros(shape, np.float32), name)
        inits.append(t)
        return name

    shape_heads = numpy_helper.from_array(np.array([0, 0, 8, hidden // 8], np.int64), "heads")
    inits.append(shape_heads)
    for i in range(layers):
        p = f"l{i}_"
        ln = helper.make_node(
            "LayerNormalization",
            [x, w(p + "g", [hidden]), w(p + "b", [hidden])],
            [p + "ln"],
            axis=-1,
        )
        q = helper.make_node("MatMul", [p + "ln", w(p + "wq", [hidden, hidden])], [p + "q"])
        k = helper.make_node("MatMul", [p + "ln", w(p + "wk", [hidden, hidden])], [p + "k"])
        qh = helper.make_node("Reshape", [p + "q", "heads"], [p + "qh"])
        kh = helper.make_node("Reshape", [p + "k", "heads"], [p + "kh"])
        qt = helper.make_node("Transpose", [p + "qh"], [p + "qt"], perm=[0, 2, 1, 3])
        kt = helper.make_node("Transpose", [p + "kh"], [p + "kt"], perm=[0, 2, 3, 1])
        s = helper.make_node("MatMul", [p + "qt", p + "kt"], [p + "s"])
        sm = helper.make_node("Softmax", [p + "s"], [p + "sm"], axis=-1)
        up = helper.make_node("MatMul", [p + "ln", w(p + "w1", [hidden, 4 * hidden])], [p + "up"])
        act = helper.make_node("Gelu", [p + "up"], [p + "act"])
        down = helper.make_node(
            "MatMul", [p + "act", w(p + "w2", [4 * hidden, hidden])], [p + "down"]
        )
        res = helper.make_node("Add", [x, p + "down"], [p + "out"])
        nodes += [n for n in (ln, q, k, qh, kh, qt, kt, s, sm, up, act, down, res)]
        x = p + "out"
    graph = helper.make_graph(
        nodes,
        "large",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 128, hidden])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--layers", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--external", action="store_true", help="weights declared as external data")
    ap.add_argument(
        "--html",
        metavar="FILE",
        help="also write the HTML report (roofline on h100) to FILE; print its size and time",
    )
    args = ap.parse_args()
    model = build(args.layers, args.hidden, args.external)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.onnx"
        onnx.save_model(model, path)
        del model
        size = path.stat().st_size
        t0 = time.perf_counter()
        report = onnxcost.analyze(path, dims={"batch": 1})
        elapsed = time.perf_counter() - t0
        # a second run under tracemalloc: Python-heap peak (tracemalloc slows the run itself)
        tracemalloc.start()
        onnxcost.analyze(path, dims={"batch": 1})
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    if args.html:
        from onnxcost.analysis import roofline
        from onnxcost.hardware import database as hardware
        from onnxcost.report.html import render_html

        t0 = time.perf_counter()
        roofline.apply(report, hardware.get("h100"))
        text = render_html(report)
        Path(args.html).write_text(text, encoding="utf-8")
        html_s = time.perf_counter() - t0
        print(
            f"HTML report      {len(text.encode()) / 1e6:.2f} MB in {html_s:.2f} s -> {args.html}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    t = report.totals
    print(f"nodes            {t.nodes:,}")
    print(
        f"file size        {size / 1e6:.1f} MB ({'external weights' if args.external else 'weights inside'})"
    )
    print(f"declared weights {t.weight_bytes / 1e6:.1f} MB ({t.params:,} params)")
    print(f"analyse time     {elapsed:.2f} s")
    print(f"peak Python heap {peak / 1e6:.1f} MB (tracemalloc)")
    print(f"max RSS          {rss / 1e6:.1f} MB (whole process, building the model included)")
    print(f"MACs             {t.macs:,}  lower bound: {t.lower_bound}")


if __name__ == "__main__":
    main()
