"""Roofline latency, scaling and the chart, with every number computed by hand below.

The device is written here (not taken from the database):
  B = 1e12 bytes/s; matrix fp16 P = 100e12 FLOP/s; vector fp16 10e12; vector fp32 5e12.

MatMul [4096, 4096] x [4096, 4096], fp16:
  FLOPs   = 2 * 4096^3                 = 137,438,953,472
  traffic = 3 tensors * 4096^2 * 2 B   = 100,663,296 bytes
  t_compute = 137,438,953,472 / 100e12 = 1.37438953472e-3 s
  t_memory  = 100,663,296 / 1e12       = 1.00663296e-4 s   -> compute-bound, latency = t_compute
  intensity = 137,438,953,472 / 100,663,296 = 4096 / 3 = 1365.33 FLOPs/byte (ridge: 100)

Relu on [1, 64, 1024, 1024], fp16 (67,108,864 elements):
  FLOPs   = 67,108,864 (1 per element)
  traffic = 2 tensors * 67,108,864 * 2 B = 268,435,456 bytes
  t_compute = 67,108,864 / 10e12        = 6.7108864e-6 s
  t_memory  = 268,435,456 / 1e12        = 2.68435456e-4 s   -> memory-bound, latency = t_memory
  intensity = 67,108,864 / 268,435,456  = 0.25 FLOPs/byte (ridge: 10)
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxcost
from onnxcost.analysis import roofline, scaling
from onnxcost.errors import OnnxCostError, UsageError
from onnxcost.hardware import database as hardware
from onnxcost.report import plot
from onnxcost.report.records import MemoryPlan, NodeCost, OpTypeCost, Report, Totals

SPEC = hardware.from_dict(
    "test",
    {
        "name": "Test accelerator",
        "kind": "gpu",
        "memory_bandwidth_Bps": 1e12,
        "memory_bytes": 1e9,
        "matrix": {"fp16": 100e12},
        "vector": {"fp16": 10e12, "fp32": 5e12},
    },
)

MM_FLOPS, MM_TRAFFIC = 137_438_953_472, 100_663_296
RELU_FLOPS, RELU_TRAFFIC = 67_108_864, 268_435_456
MM_T_COMPUTE, MM_T_MEMORY = MM_FLOPS / 100e12, MM_TRAFFIC / 1e12
RELU_T_COMPUTE, RELU_T_MEMORY = RELU_FLOPS / 10e12, RELU_TRAFFIC / 1e12


def node(name, op, flops, read, written, unit, dtype="float16", status="counted", kind="compute"):
    return NodeCost(
        name=name, op_type=op, domain="", inputs=[], outputs=[], output_shapes=[],
        macs=flops // 2 if unit == "matrix" else 0, flops=flops, bytes_read=read,
        bytes_written=written, status=status, kind=kind, compute_dtype=dtype, unit=unit,
    )  # fmt: skip


def report_of(nodes: list[NodeCost], peak_memory: int = 0) -> Report:
    op_types = {}
    for n in nodes:
        op_types.setdefault(n.op_type, OpTypeCost(n.op_type, "", 0, 0, 0, 0, 0.0, 0.0)).count += 1
    totals = Totals(flops=sum(n.flops for n in nodes), peak_memory_bytes=peak_memory)
    return Report(
        model={"graph_name": "test"}, inputs=[], outputs=[], dims={}, totals=totals,
        params_by_dtype=[], op_types=list(op_types.values()), nodes=nodes, memory=MemoryPlan(),
        uncounted=[], unresolved=[],
    )  # fmt: skip


def check_matmul_and_relu(report: Report) -> None:
    mm, relu = (n for n in report.nodes if n.op_type in ("MatMul", "Relu"))
    assert (mm.flops, mm.memory_traffic_bytes) == (MM_FLOPS, MM_TRAFFIC)
    assert (mm.t_compute_s, mm.t_memory_s) == (MM_T_COMPUTE, MM_T_MEMORY)
    assert mm.t_compute_s == 1.37438953472e-3 and mm.t_memory_s == 1.00663296e-4
    assert mm.latency_s == MM_T_COMPUTE
    assert mm.bound == "compute"
    assert mm.intensity == 4096 / 3

    assert (relu.flops, relu.memory_traffic_bytes) == (RELU_FLOPS, RELU_TRAFFIC)
    assert (relu.t_compute_s, relu.t_memory_s) == (RELU_T_COMPUTE, RELU_T_MEMORY)
    assert relu.t_compute_s == 6.7108864e-6 and relu.t_memory_s == 2.68435456e-4
    assert relu.latency_s == RELU_T_MEMORY
    assert relu.bound == "memory"
    assert relu.intensity == 0.25

    total = MM_T_COMPUTE + RELU_T_MEMORY  # 1.37438953472e-3 + 2.68435456e-4 = 1.64282499072e-3 s
    assert report.totals.latency_s == pytest.approx(1.64282499072e-3, rel=1e-15)
    assert report.totals.latency_s == total
    # Whole-model bound: max(sum t_compute, sum t_memory)
    #   = max(1.37438953472e-3 + 6.7108864e-6, 1.00663296e-4 + 2.68435456e-4)
    #   = max(1.3811004211e-3, 3.69098752e-4) = 1.3811004211e-3 s
    assert report.totals.latency_bound_s == pytest.approx(1.3811004211e-3, rel=1e-15)
    assert {o.op_type: o.latency_s for o in report.op_types} == {
        "MatMul": MM_T_COMPUTE,
        "Relu": RELU_T_MEMORY,
    }

    hw = report.hardware
    assert hw["device"] == "Test accelerator" and hw["bound"] == "compute"
    assert hw["memory_bound_share"] == pytest.approx(2.68435456e-4 / 1.64282499072e-3, rel=1e-14)
    assert hw["compute_bound_share"] == pytest.approx(1.37438953472e-3 / 1.64282499072e-3)
    ridges = {(r["unit"], r["dtype"]): r["ridge_flops_per_byte"] for r in hw["ridge_points"]}
    assert ridges == {("matrix", "float16"): 100.0, ("vector", "float16"): 10.0}
    assert [t["name"] for t in hw["top_nodes"]] == [mm.name, relu.name]
    assert hw["fallbacks"] == []


def test_matmul_and_relu_from_node_records():
    nodes = [
        node("mm", "MatMul", MM_FLOPS, 2 * 33_554_432, 33_554_432, "matrix"),
        node("relu", "Relu", RELU_FLOPS, 134_217_728, 134_217_728, "vector", kind="elementwise"),
    ]
    report = report_of(nodes, peak_memory=234_881_024)
    roofline.apply(report, SPEC)
    check_matmul_and_relu(report)
    # weights 0 + peak activations 234,881,024 bytes <= 1e9 bytes of device memory
    assert report.hardware["fits_in_memory"] is True
    assert report.hardware["memory_required_bytes"] == 234_881_024


def matmul_relu_model():
    a = helper.make_tensor_value_info("A", TensorProto.FLOAT16, [4096, 4096])
    b = helper.make_tensor_value_info("B", TensorProto.FLOAT16, [4096, 4096])
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT16, [1, 64, 1024, 1024])
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT16, None) for n in ("Y", "R")]
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["A", "B"], ["Y"], name="mm"),
            helper.make_node("Relu", ["X"], ["R"], name="relu"),
        ],
        "matmul_relu",
        [a, b, x],
        outs,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def test_matmul_and_relu_through_analyze():
    report = onnxcost.analyze(matmul_relu_model())
    roofline.apply(report, SPEC)
    check_matmul_and_relu(report)
    d = report.to_dict()
    assert d["totals"]["latency_s"] == report.totals.latency_s
    assert {n["name"]: n["bound"] for n in d["nodes"]} == {"mm": "compute", "relu": "memory"}
    assert d["hardware"]["key"] == "test"


def test_fallback_is_reported_and_memory_fit_checked():
    # fp32 MatMul on a device with no matrix fp32: vector fp32 (5e12) is used, and said.
    # 2 * 1024^3 = 2,147,483,648 FLOPs / 5e12 = 4.294967296e-4 s
    # traffic 3 * 1024^2 * 4 = 12,582,912 bytes / 1e12 = 1.2582912e-5 s
    nodes = [node("mm32", "MatMul", 2_147_483_648, 8_388_608, 4_194_304, "matrix", "float32")]
    report = report_of(nodes, peak_memory=2_000_000_000)  # more than the 1e9 bytes of memory
    roofline.apply(report, SPEC)
    assert nodes[0].t_compute_s == 2_147_483_648 / 5e12 == 4.294967296e-4
    assert nodes[0].bound == "compute"
    assert len(report.hardware["fallbacks"]) == 1
    assert "no matrix fp32" in report.hardware["fallbacks"][0]
    assert report.hardware["ridge_points"][0]["peak_unit"] == "vector"
    assert report.hardware["fits_in_memory"] is False


def test_views_constants_and_zero_work_nodes():
    nodes = [
        node("view", "Reshape", 0, 0, 0, "vector", kind="view"),
        node("folded", "Add", 0, 0, 0, "vector", status="constant"),
        node("copy", "Transpose", 0, 4000, 4000, "vector"),  # 8000 bytes / 1e12 = 8e-9 s
    ]
    report = report_of(nodes)
    roofline.apply(report, SPEC)
    view, folded, copy = nodes
    assert (view.latency_s, view.bound, view.intensity) == (0.0, None, None)
    assert (folded.latency_s, folded.bound) == (0.0, None)
    assert (copy.latency_s, copy.bound, copy.intensity) == (8e-9, "memory", 0.0)
    assert report.totals.latency_s == 8e-9
    assert report.hardware["memory_bound_share"] == 1.0


# ---------------------------------------------------------------------------------------- scaling


def batched_matmul_model():
    """[batch, 1024] x [1024, 1024] fp16 (the weight is a graph input: same traffic, small proto).

    FLOPs(b)   = 2 * b * 1024 * 1024        = 2,097,152 b
    traffic(b) = (1024 b + 1024^2 + 1024 b) * 2 = 4,096 b + 2,097,152 bytes
    compute-bound when 2,097,152 b / 100e12 > (4,096 b + 2,097,152) / 1e12
      <=> 20,971.52 b > 4,096 b + 2,097,152 <=> b > 124.27
    """
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT16, ["batch", 1024])
    w = helper.make_tensor_value_info("W", TensorProto.FLOAT16, [1024, 1024])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT16, None)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"], name="fc")], "fc", [x, w], [y]
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def test_scaling_shows_where_the_model_turns_compute_bound():
    rows = scaling.scale(batched_matmul_model(), "batch", [1, 64, 128, 256], SPEC, onnxcost.analyze)
    assert [r.value for r in rows] == [1, 64, 128, 256]
    assert [r.bound for r in rows] == ["memory", "memory", "compute", "compute"]
    assert scaling.turns_compute_bound(rows) == 128
    one, _, b128, _ = rows
    # b = 1: memory-bound, latency = (4,096 + 2,097,152) / 1e12 = 2.101248e-6 s
    assert one.flops == 2_097_152 and one.memory_traffic_bytes == 2_101_248
    assert one.latency_s == 2_101_248 / 1e12
    assert one.throughput_items_per_s == 1 / (2_101_248 / 1e12)
    assert one.memory_bound_share == 1.0
    # b = 128: compute-bound, latency = 268,435,456 / 100e12 = 2.68435456e-6 s
    assert b128.latency_s == 268_435_456 / 100e12
    assert b128.throughput_items_per_s == 128 / (268_435_456 / 100e12)
    assert b128.memory_bound_share == 0.0
    assert b128.peak_memory_bytes > one.peak_memory_bytes


def test_scaling_input_errors():
    m = batched_matmul_model()
    with pytest.raises(UsageError, match="at least one value"):
        scaling.scale(m, "batch", [], SPEC, onnxcost.analyze)
    with pytest.raises(UsageError, match="positive integers"):
        scaling.scale(m, "batch", [1, 0], SPEC, onnxcost.analyze)
    with pytest.raises(UsageError, match="both fixed and scaled"):
        scaling.scale(m, "batch", [1], SPEC, onnxcost.analyze, dims={"batch": 2})
    with pytest.raises(OnnxCostError, match="no dim named 'seq'"):
        scaling.scale(m, "seq", [1], SPEC, onnxcost.analyze)


# ------------------------------------------------------------------------------------------ chart


def small_report() -> Report:
    # A small conv-free model: Gemm (matrix) then Relu (vector); enough points for a chart.
    w = numpy_helper.from_array(np.zeros((64, 32), dtype=np.float16), "W")
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT16, [8, 32])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT16, None)
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["X", "W"], ["H"], name="fc", transB=1),
            helper.make_node("Relu", ["H"], ["Y"], name="act"),
        ],
        "small",
        [x],
        [y],
        [w],
    )
    return onnxcost.analyze(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]))


def test_plot_svg_and_png(tmp_path):
    pytest.importorskip("matplotlib")
    report = small_report()
    svg = plot.roofline_plot(report, SPEC, tmp_path / "r.svg")
    assert b"<svg" in svg.read_bytes()[:1000]
    assert report.hardware is not None  # the roofline was applied for the chart
    png = plot.roofline_plot(report, SPEC, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(OnnxCostError, match=r"\.svg or \.png"):
        plot.roofline_plot(report, SPEC, tmp_path / "r.jpg")


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(OnnxCostError, match=r"pip install onnxcost\[plot\]"):
        plot.roofline_plot(small_report(), SPEC, tmp_path / "r.svg")
