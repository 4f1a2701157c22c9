"""The memory timeline (live bytes per step) and the roofline summary in table output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import onnxcost
from onnxcost.cli.main import main


def chain() -> onnx.ModelProto:
    """x[1,100] -> MatMul W1[100,50] -> a[1,50] -> MatMul W2[50,10] -> y[1,10], float32."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["a"], name="mm1"),
            helper.make_node("MatMul", ["a", "w2"], ["y"], name="mm2"),
        ],
        "chain",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 100])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        [
            numpy_helper.from_array(np.ones((100, 50), np.float32), "w1"),
            numpy_helper.from_array(np.ones((50, 10), np.float32), "w2"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def test_live_bytes_per_step() -> None:
    mp = onnxcost.analyze(chain()).memory
    # step 0: x (400 B) and a (200 B) live; step 1: x is dead, a (200 B) and y (40 B) live
    assert mp.live_bytes == [600, 240]
    assert mp.step_nodes == [0, 1]
    assert (mp.peak_step, mp.peak_bytes, mp.peak_node) == (0, 600, "mm1")
    assert mp.best_order == [] and mp.best_live_bytes == []  # nothing better than the file order
    d = onnxcost.analyze(chain()).to_dict()["memory"]
    assert d["live_bytes"] == [600, 240]


def test_greedy_order_timeline() -> None:
    """Two independent branches, the big one first in the file: x -> Relu -> big [1,1000] ->
    ReduceSum -> s1; x -> Relu -> small ... The greedy order runs the big branch to its end
    before the other, and its own per-step list peaks where it says."""
    nodes = [
        helper.make_node("Expand", ["x", "big_shape"], ["b0"], name="b.expand"),
        helper.make_node("Expand", ["x", "big_shape"], ["c0"], name="c.expand"),
        helper.make_node("ReduceSum", ["b0"], ["b1"], name="b.sum", keepdims=0),
        helper.make_node("ReduceSum", ["c0"], ["c1"], name="c.sum", keepdims=0),
        helper.make_node("Add", ["b1", "c1"], ["y"], name="join"),
    ]
    graph = helper.make_graph(
        nodes,
        "branches",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])],
        [numpy_helper.from_array(np.array([1000], np.int64), "big_shape")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    mp = onnxcost.analyze(model).memory
    # file order: both 4000-byte expansions live at step 1 -> 4 + 4000 + 4000
    assert mp.live_bytes[1] == 8004 and mp.peak_bytes == 8004
    assert mp.best_schedule == "greedy" and mp.best_peak_bytes < mp.peak_bytes
    assert sorted(mp.best_order) == list(range(5))
    assert max(mp.best_live_bytes) == mp.best_peak_bytes
    assert mp.best_live_bytes[mp.best_peak_step] == mp.best_peak_bytes


def test_table_shows_the_roofline_summary(tmp_path: Path) -> None:
    path = tmp_path / "chain.onnx"
    onnx.save(chain(), path)
    res = CliRunner().invoke(main, ["analyze", str(path), "--hw", "a100"])
    assert res.exit_code == 0, res.output
    section = res.output.split("Roofline on NVIDIA A100")[1]
    for label in (
        "whole-model bound",
        "memory-bound share",
        "ridge point float32 matrix",
        "fits in device memory",
        "fallbacks",
    ):
        assert label in section
    # weights 20,000 + 2,000 B + peak 600 B = 22.6 kB of 80 GB
    assert "22.6 kB of 80.0 GB" in section
    # traffic (400 + 20,000 + 200) + (200 + 2,000 + 40) = 22,840 B at 2.039 TB/s = 11.202 ns
    assert "11.202 ns  memory-bound:" in section
