"""`onnxcost measure`: runs small models, joins the profile with the roofline, checks shapes.

Measured times are never compared with anything but zero: the test machine's speed is not
the subject. The join, the shape check, the input ranges and the statistics are.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from builders import GraphBuilder
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import onnxcost
from onnxcost.cli.measure import measure as measure_cmd
from onnxcost.errors import OnnxCostError
from onnxcost.hardware import calibrate as cal
from onnxcost.hardware import database as hardware
from onnxcost.hardware.measure import measure, parse_profile, ranks, spearman

MODELS = Path(__file__).resolve().parent.parent / "models"
FAST = {"runs": 2, "warmup": 1}

# A device written here: the prediction's numbers do not matter, only that there is one.
DEVICE = {
    "name": "Test CPU",
    "kind": "cpu",
    "memory_bandwidth_Bps": 10e9,
    "memory_bytes": 16e9,
    "matrix": {"fp32": 100e9},
    "vector": {"fp32": 10e9},
}


@pytest.fixture(scope="module")
def spec() -> hardware.HardwareSpec:
    return hardware.from_dict("test-cpu", DEVICE, "test")


@pytest.fixture()
def spec_file(tmp_path) -> str:
    path = tmp_path / "dev.toml"
    cal.write_spec(DEVICE, path)
    return str(path)


def _small_cnn() -> onnx.ModelProto:
    b = GraphBuilder()
    x = b.input("image", [1, 3, 16, 16])
    x = b.op("Relu", [b.conv(x, 3, 8, 3, pads=[1, 1, 1, 1])])
    x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Flatten", [x], axis=1)
    x = b.fc(x, 8 * 8 * 8, 10)
    return b.build([x])


def test_small_model_joins_every_node(spec):
    m = measure(_small_cnn(), spec, **FAST)
    assert len(m.report.nodes) == 5
    assert m.matched_nodes == 5
    assert {n.match for n in m.nodes} == {"name"}
    assert not m.unmatched_nodes and not m.unmatched_kernels
    assert {o.op_type for o in m.op_types} == {"Conv", "Relu", "MaxPool", "Flatten", "Gemm"}
    # shape check: the graph output and the 4 intermediate tensors
    assert [s.where for s in m.shapes].count("output") == 1
    assert len(m.shapes) == 5
    assert all(s.status == "ok" for s in m.shapes)
    # timings: positive, nothing more
    assert m.kernels_s.median > 0 and m.wall_s.median > 0
    assert all(n.measured_s >= 0 for n in m.nodes)
    assert m.predicted_s > 0
    d = m.to_dict()
    json.dumps(d)  # JSON-clean
    assert d["totals"]["matched_nodes"] == 5
    assert d["shape_check"] == {**d["shape_check"], "compared": 5, "mismatches": 0}


def test_shipped_models(spec):
    cases = [("cnn.onnx", {}), ("lstm.onnx", {"seq": 4, "batch": 1})]
    for name, dims in cases:
        m = measure(MODELS / name, spec, dims=dims, **FAST)
        assert m.matched_nodes == len(m.report.nodes), name
        assert not m.shape_mismatches, name
        assert m.kernels_s.median > 0
        # Spearman is a correlation: within [-1, 1] whenever defined
        assert m.spearman is None or -1.0 <= m.spearman <= 1.0


def test_unnamed_nodes_join_by_position_and_constants_are_listed(spec):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node(
            "Constant", [], ["c"], value=numpy_helper.from_array(np.ones(8, np.float32))
        ),
        helper.make_node("Add", ["x", "c"], ["a"]),  # unnamed: onnxruntime calls it Add_0
        helper.make_node("Relu", ["a"], ["b"]),  # Relu_1 there, Relu_2 in the report
        helper.make_node("Relu", ["b"], ["y"], name="last"),
    ]
    model = helper.make_model(
        helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]
    )
    m = measure(model, spec, **FAST)
    joined = {n.name: (n.runtime_name, n.match) for n in m.nodes}
    assert joined == {
        "Add_1": ("Add_0", "position"),
        "Relu_2": ("Relu_1", "position"),
        "last": ("last", "name"),
    }
    assert [(u.name, u.op_type) for u in m.unmatched_nodes] == [("Constant_0", "Constant")]
    assert "initializer" in m.unmatched_nodes[0].reason
    assert any("by position" in w for w in m.warnings)


def test_wrong_declared_shape_is_flagged(spec):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])  # the file lies
    model = helper.make_model(
        helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    m = measure(model, spec, **FAST)
    [check] = m.shapes
    # the shape engine computes what runs, and says that the file's declaration disagrees
    assert (check.tensor, check.inferred, check.runtime, check.status) == (
        "y",
        [2, 4],
        [2, 4],
        "ok",
    )
    assert m.shape_mismatches == []
    warning = "tensor 'y': the file declares shape [2, 5], the graph computes [2, 4]"
    assert any(warning in w for w in onnxcost.analyze(model).warnings)


def test_gather_indices_stay_in_range(spec):
    b = GraphBuilder()
    ids = b.input("ids", [2, 64], TensorProto.INT64)
    mask = b.input("mask", [2, 64], TensorProto.INT64)
    table = b.weight("emb", [50, 16])
    cast = b.op("Cast", [ids], to=TensorProto.INT32)  # an index may pass through a Cast
    emb = b.op("Gather", [table, cast], axis=0)
    m_f = b.op("Cast", [mask], to=TensorProto.FLOAT)
    out = b.op("Mul", [b.op("ReduceSum", [emb], keepdims=0), m_f])
    m = measure(b.build([out]), spec, **FAST)  # out-of-range ids would make onnxruntime fail
    by_name = {i.name: i for i in m.inputs}
    assert by_name["ids"].values.startswith("integers in [0, 50)")
    assert by_name["mask"].values.startswith("integers in [0, 2)")


def test_unbound_dim_says_which_to_give(spec):
    with pytest.raises(OnnxCostError, match="--dim seq=N"):
        measure(MODELS / "lstm.onnx", spec, dims={"batch": 1}, **FAST)


def test_optimized_run_groups_fused_nodes(spec):
    b = GraphBuilder()
    x = b.input("image", [1, 8, 16, 16])
    scale = b.weight("s", [8])
    bias = b.weight("b", [8])
    mean = b.weight("m", [8])
    var = b.weight("v", [8])
    x = b.conv(x, 8, 8, 3, pads=[1, 1, 1, 1])
    x = b.op("BatchNormalization", [x, scale, bias, mean, var])
    x = b.op("Relu", [x])
    m = measure(b.build([x]), spec, optimize=True, **FAST)
    # Every report node is accounted for: in a joined group, or listed as unmatched.
    members = [name for n in m.nodes for name in n.members]
    assert sorted(members + [u.name for u in m.unmatched_nodes]) == sorted(
        n.name for n in m.report.nodes
    )
    assert len(members) == len(set(members))
    # onnxruntime folds BatchNormalization into the Conv: one kernel stands for both
    assert any(n.match == "fused" and len(n.members) >= 2 for n in m.nodes)
    assert m.runtime["graph_optimizations"] == "all"


def test_profile_is_never_written_beside_the_model(spec, tmp_path):
    model = tmp_path / "cnn.onnx"
    shutil.copy(MODELS / "cnn.onnx", model)
    measure(model, spec, **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnn.onnx"]


def test_model_onnxruntime_cannot_load(spec):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    node = helper.make_node("Mystery", ["x"], ["y"], domain="example.custom", name="m")
    model = helper.make_model(
        helper.make_graph([node], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)],
    )
    with pytest.raises(OnnxCostError, match="onnxruntime cannot load"):
        measure(model, spec, **FAST)


# --------------------------------------------------------------------------- profile parsing


def _node(name: str, ts: int, dur: int, op: str = "Relu", index: int = 0) -> dict:
    return {
        "cat": "Node",
        "name": f"{name}_kernel_time",
        "ts": ts,
        "dur": dur,
        "args": {"op_name": op, "node_index": str(index), "output_type_shape": [{"float": [1, 2]}]},
    }


def _run(ts: int, dur: int) -> dict:
    return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur, "args": {}}


def test_parse_profile_by_hand():
    events = [
        _run(0, 100),  # warm-up: dropped
        _node("a", 10, 50),
        _run(1000, 100),
        _node("a", 1010, 30),
        _node("loop", 1050, 40, "Loop", 1),
        _node("inner", 1060, 10, "Add", 0),  # inside the Loop's span: not added again
        _run(2000, 100),
        _node("a", 2010, 20),
        _node("loop", 2050, 60, "Loop", 1),
        {"cat": "Node", "name": "a_fence_before", "ts": 2005, "dur": 1, "args": {}},  # ignored
    ]
    kernels, sums, warnings = parse_profile(events, warmup=1)
    by = {k.name: k for k in kernels}
    assert set(by) == {"a", "loop"}
    # microseconds -> seconds; one entry per timed run
    assert by["a"].per_run_s == pytest.approx([30e-6, 20e-6])
    assert by["a"].measured_s == pytest.approx(25e-6)  # median of 30 and 20
    assert by["loop"].per_run_s == pytest.approx([40e-6, 60e-6])
    assert by["a"].output_shapes == [[1, 2]]
    assert sums == pytest.approx([70e-6, 80e-6])  # 30 + 40, 20 + 60
    assert any("control-flow" in w for w in warnings)


def test_parse_profile_without_timed_runs():
    with pytest.raises(OnnxCostError, match="no timed run"):
        parse_profile([_run(0, 10)], warmup=1)


# ----------------------------------------------------------------------------------- statistics


def test_ranks_share_ties():
    # 5 is smallest (1), 10 next (2), the two 20s share ranks 3 and 4 -> 3.5
    assert ranks([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]


def test_spearman_by_hand():
    # no ties: rho = 1 - 6 * sum(d^2) / (n (n^2 - 1)); d = 0, 1, 1, 0 -> 1 - 6*2/(4*15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    # ties: ranks a = 1, 2.5, 2.5, 4 and b = 1, 2, 3, 4; deviations -1.5, 0, 0, 1.5 and
    # -1.5, -0.5, 0.5, 1.5: r = 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(3 / math.sqrt(10))
    assert spearman([1, 1, 1], [1, 2, 3]) is None  # constant: no order
    assert spearman([1, 2], [1, 2]) is None  # too few
    with pytest.raises(ValueError):
        spearman([1, 2, 3], [1, 2])


# ------------------------------------------------------------------------------------------ CLI


def test_cli_table_and_json(spec_file):
    args = [str(MODELS / "cnn.onnx"), "--hw", spec_file, "--runs", "2", "--warmup", "1"]
    res = CliRunner().invoke(measure_cmd, args)
    assert res.exit_code == 0, res.output
    assert "running" in res.stderr and "onnxruntime" in res.stderr  # it says it RUNS the model
    out = res.stdout
    assert "RAN with onnxruntime" in out
    assert "MEASURED/PREDICTED" in out and "Spearman" in out
    assert "SHAPE CHECK" in out and "all match" in out
    assert "joined: 36 of 36 report nodes" in out

    res = CliRunner().invoke(measure_cmd, [*args, "--format", "json", "--threads", "1"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["runtime"]["threads"] == 1
    assert d["totals"]["matched_nodes"] == d["totals"]["report_nodes"] == 36
    assert d["totals"]["measured_kernels_s"]["median"] > 0
    assert d["shape_check"]["mismatches"] == 0
    assert {"predicted_s", "ratio_kernels", "ratio_wall", "spearman", "node_ratio"} <= set(
        d["totals"]
    )


def test_cli_dims_and_default_quick_calibration(monkeypatch):
    calls = []

    def fake_calibrate(quick=False, threads=None, **kw):
        calls.append(quick)
        return cal.summarize(
            [
                cal.Sample("matrix.fp32", "numpy", "t", 1e9, 1, [0.01]),
                cal.Sample("memory_bandwidth_Bps", "numpy", "t", 1e9, 1, [0.1]),
            ]
        )

    monkeypatch.setattr(cal, "calibrate", fake_calibrate)
    args = [str(MODELS / "lstm.onnx"), "--dim", "seq=3", "--dim", "batch=2", "--runs", "1"]
    res = CliRunner().invoke(measure_cmd, args)
    assert res.exit_code == 0, res.output
    assert calls == [True]
    assert "calibrating this host quickly" in res.stderr
    assert "input x: float32 [3, 2, 64]" in res.stdout


def test_cli_errors_exit_2(spec_file, tmp_path):
    res = CliRunner().invoke(measure_cmd, [str(MODELS / "lstm.onnx"), "--hw", spec_file])
    assert res.exit_code == 2
    assert "error:" in res.stderr and "--dim" in res.stderr
    res = CliRunner().invoke(measure_cmd, [str(tmp_path / "missing.onnx"), "--hw", spec_file])
    assert res.exit_code == 2
