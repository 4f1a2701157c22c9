"""Netron's netron:attachment sidecar and Model Explorer's node data, checked against the formats'
documented structure, on a model with nested subgraphs (an If inside a Loop body)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import onnxcost
from onnxcost.analysis import roofline
from onnxcost.cli.main import main
from onnxcost.hardware import database as hardware
from onnxcost.report.overlays import SIGNATURE, model_explorer_data, netron_attachment

F = TensorProto.FLOAT
NETRON_KINDS = {"model", "graph", "node", "value", "tensor"}


def looped_model() -> onnx.ModelProto:
    """x[4,4] -> Loop (3 trips) whose body runs If(cond){MatMul v W}{Add v v} -> MatMul W."""
    then_g = helper.make_graph(
        [helper.make_node("MatMul", ["v", "W"], ["t"], name="/dec/then/MatMul")],
        "then",
        [],
        [helper.make_tensor_value_info("t", F, [4, 4])],
    )
    else_g = helper.make_graph(
        [helper.make_node("Add", ["v", "v"], ["e"])],  # unnamed inner node
        "else",
        [],
        [helper.make_tensor_value_info("e", F, [4, 4])],
    )
    body = helper.make_graph(
        [
            helper.make_node(
                "If", ["c_in"], ["v2"], name="gate", then_branch=then_g, else_branch=else_g
            ),
            helper.make_node("Identity", ["c_in"], ["c_out"], name="keep"),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v", F, [4, 4]),
        ],
        [
            helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v2", F, [4, 4]),
        ],
    )
    graph = helper.make_graph(
        [
            helper.make_node("Loop", ["trips", "cond", "x"], ["y"], name="/dec/Loop", body=body),
            helper.make_node("MatMul", ["y", "W"], ["z"], name="/head/MatMul"),
            helper.make_node("Relu", ["z"], ["out"], name="keep"),  # same name as an inner node
        ],
        "looped",
        [
            helper.make_tensor_value_info("x", F, [4, 4]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("out", F, [4, 4])],
        [
            numpy_helper.from_array(np.ones((4, 4), np.float32), "W"),
            numpy_helper.from_array(np.array(3, np.int64), "trips"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    onnx.checker.check_model(model)
    return model


def _graph_nodes(graph: onnx.GraphProto, gid: str, out: dict[str, list[str]]) -> None:
    """Model Explorer ids: the adapter's graph id and node id rules, walked into subgraphs."""
    ids = out.setdefault(gid, [])
    for k, node in enumerate(graph.node):
        nid = node.name or f"<node_{k}>"
        ids.append(nid)
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                _graph_nodes(a.g, f"{gid}/{nid}/{a.name}", out)


def _all_names(graph: onnx.GraphProto, nodes: list[str], values: set[str]) -> None:
    for node in graph.node:
        nodes.append(node.name)
        values.update(o for o in node.output if o)
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                _all_names(a.g, nodes, values)


def test_subgraph_nodes_are_recorded_and_totals_unchanged() -> None:
    report = onnxcost.analyze(looped_model())
    inner = {(s.onnx_name, s.op_type): s for s in report.subgraph_nodes}
    # then: MatMul 4x4x4 = 64 MACs; else: Add 16 FLOPs; body Identity; all per execution
    mm = inner[("/dec/then/MatMul", "MatMul")]
    assert (mm.macs, mm.flops, mm.bytes_read, mm.bytes_written) == (64, 128, 128, 64)
    assert [(h.node, h.index, h.attr) for h in mm.path] == [
        ("/dec/Loop", 0, "body"),
        ("gate", 0, "then_branch"),
    ]
    add = inner[("", "Add")]
    assert (add.flops, add.index, add.bytes_read) == (16, 0, 64)  # v counted once
    assert ("gate", "If") in inner and ("keep", "Identity") in inner
    # the Loop: 3 trips of the dearer branch (128 FLOPs), then 128 for the head MatMul, 16 Relu
    loop = next(n for n in report.nodes if n.op_type == "Loop")
    assert loop.flops == 3 * 128
    assert report.totals.flops == 3 * 128 + 128 + 16
    assert report.to_dict()["subgraph_nodes"][0]["path"][0]["attr"] == "body"


def test_netron_attachment_structure() -> None:
    model = looped_model()
    report = onnxcost.analyze(model)
    roofline.apply(report, hardware.get("a100"))
    data, warnings = netron_attachment(report)
    assert warnings == []
    assert data["signature"] == SIGNATURE
    assert set(data) == {"signature", "metadata", "metrics"}
    node_names: list[str] = []
    values: set[str] = set()
    _all_names(model.graph, node_names, values)
    unique = {n for n in node_names if n and node_names.count(n) == 1}
    seen = set()
    targets = {}
    for container in ("metadata", "metrics"):
        for item in data[container]:
            assert item["kind"] in NETRON_KINDS and isinstance(item["name"], str) and item["name"]
            assert isinstance(item["target"], str) and "\n" not in item["target"]
            if item["kind"] == "model":
                assert item["target"] == ""
            elif item["kind"] == "node":
                assert item["target"] in unique  # Netron applies a name to every node having it
            else:
                assert item["kind"] == "value" and item["target"] in values
            key = (container, item["kind"], item["target"], item["name"])
            assert key not in seen  # a repeated name would be overwritten silently
            seen.add(key)
            if container == "metrics":
                targets.setdefault((item["kind"], item["target"]), {})[item["name"]] = item["value"]
    # every node, inner ones included, is addressed: 3 main + If, Identity, MatMul, Add inside
    assert len([t for t in targets if t[0] != "model"]) == 7
    assert targets[("node", "/dec/then/MatMul")]["macs"] == 64
    assert targets[("node", "/head/MatMul")]["output_bytes"] == 64
    assert targets[("value", "e")]["flops"] == 16  # the unnamed Add, by its output
    assert targets[("value", "out")]["flops"] == 16  # 'keep' is two nodes' name: by output
    assert targets[("value", "c_out")]["flops"] == 0
    assert targets[("node", "/head/MatMul")]["bound"] in ("memory", "compute")
    assert targets[("model", "")]["flops"] == report.totals.flops


def test_model_explorer_structure() -> None:
    model = looped_model()
    report = onnxcost.analyze(model)
    graphs, metric, warnings = model_explorer_data(report)
    assert (metric, warnings) == ("flops", [])
    ids: dict[str, list[str]] = {}
    _graph_nodes(model.graph, "looped", ids)
    assert (
        set(graphs)
        == set(ids)
        == {
            "looped",
            "looped//dec/Loop/body",
            "looped//dec/Loop/body/gate/then_branch",
            "looped//dec/Loop/body/gate/else_branch",
        }
    )
    for gid, g in graphs.items():
        assert set(g) == {"results", "gradient"}
        stops = [s["stop"] for s in g["gradient"]]
        assert (
            stops[0] == 0
            and stops[-1] == 1
            and all(isinstance(s["bgColor"], str) for s in g["gradient"])
        )
        assert set(g["results"]) == set(ids[gid])
        for r in g["results"].values():
            assert set(r) <= {"value", "bgColor", "textColor"} and isinstance(
                r["value"], int | float
            )
    assert graphs["looped//dec/Loop/body/gate/else_branch"]["results"]["<node_0>"]["value"] == 16
    assert graphs["looped"]["results"]["/dec/Loop"]["value"] == 3 * 128
    roofline.apply(report, hardware.get("a100"))
    graphs, metric, _ = model_explorer_data(report)
    assert metric == "latency_us" and graphs["looped"]["results"]["/head/MatMul"]["value"] > 0


def test_cli_writes_both_overlays(tmp_path: Path) -> None:
    path = tmp_path / "looped.onnx"
    onnx.save(looped_model(), path)
    runner = CliRunner()
    sidecar = tmp_path / "looped.onnx.metrics.json"
    res = runner.invoke(
        main, ["analyze", str(path), "--hw", "t4", "--format", "netron", "-o", str(sidecar)]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(sidecar.read_text())["signature"] == "netron:attachment"
    res = runner.invoke(main, ["analyze", str(path), "--format", "model-explorer"])
    assert res.exit_code == 0 and "looped//dec/Loop/body" in json.loads(res.output)
