"""The module tree: scopes from names and exporter metadata, aggregates that sum to the totals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import onnxcost
from onnxcost.analysis import roofline
from onnxcost.analysis.modules import aggregate, max_depth
from onnxcost.cli.main import main
from onnxcost.hardware import database as hardware
from onnxcost.model.scopes import NAME_SCOPES_KEY, node_scope

MODELS = Path(__file__).resolve().parent.parent / "models"
FIGURES = ("nodes", "macs", "flops", "params", "weight_bytes", "memory_traffic_bytes")


def nested_model() -> onnx.ModelProto:
    """X[2,8] -> MatMul W1[8,16] -> Relu -> MatMul W2[16,4] -> Mul 2.0 -> Add B[4] -> Softmax."""
    w = lambda name, shape: numpy_helper.from_array(np.ones(shape, np.float32), name)  # noqa: E731
    mul = helper.make_node("Mul", ["h2", "two"], ["h3"], name="mul_7")
    scopes = "['', 'enc', 'enc.layer.1', 'enc.layer.1.fc', 'mul']"
    mul.metadata_props.add(key=NAME_SCOPES_KEY, value=scopes)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"], name="/enc/layer.0/fc/MatMul"),
        helper.make_node("Relu", ["h0"], ["h1"], name="/enc/layer.0/act/Relu"),
        helper.make_node("MatMul", ["h1", "w2"], ["h2"], name="/enc/layer.1/fc/MatMul"),
        mul,
        helper.make_node("Add", ["h3", "b"], ["h4"], name="/head/Add"),
        helper.make_node("Softmax", ["h4"], ["y"]),  # no name: goes under <Softmax>
    ]
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    graph = helper.make_graph(
        nodes,
        "nested",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])],
        [w("w1", [8, 16]), w("w2", [16, 4]), w("b", [4]), two],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def test_scope_from_name_and_metadata() -> None:
    n = helper.make_node("MatMul", ["a", "b"], ["c"], name="/encoder/layer.0/attention/self/MatMul")
    assert node_scope(n) == (["encoder", "layer.0", "attention", "self"], "name", False)
    assert node_scope(helper.make_node("Relu", ["a"], ["b"], name="stem.relu"))[0] == ["stem"]
    assert node_scope(helper.make_node("Relu", ["a"], ["b"], name="relu"))[0] == []
    assert node_scope(helper.make_node("Relu", ["a"], ["b"]))[0] == []
    # the metadata wins over the name
    n.metadata_props.add(key=NAME_SCOPES_KEY, value="['', 'network', 'network.0', 'linear']")
    assert node_scope(n) == (["network", "0"], "metadata", False)
    # unreadable metadata: the name is used, and the caller is told
    bad = helper.make_node("Relu", ["a"], ["b"], name="/a/Relu")
    bad.metadata_props.add(key=NAME_SCOPES_KEY, value="__import__('os')")
    assert node_scope(bad) == (["a"], "name", True)


def test_hand_counted_module_tree() -> None:
    report = onnxcost.analyze(nested_model())
    mods = {m.name: m for m in aggregate(report)}
    # MatMul 2x16x8 = 256 MACs (512 FLOPs), Relu 32, MatMul 2x4x16 = 128 MACs (256), Mul 8,
    # Add 8, Softmax 5 x 8 = 40; weights w1 128, w2 64, b 4 (the scalar 2.0 is a constant)
    expect = {
        "enc": (4, 384, 808, 192),
        "enc/layer.0": (2, 256, 544, 128),
        "enc/layer.0/fc": (1, 256, 512, 128),
        "enc/layer.0/act": (1, 0, 32, 0),
        "enc/layer.1": (2, 128, 264, 64),
        "enc/layer.1/fc": (2, 128, 264, 64),  # the metadata put mul_7 here
        "head": (1, 0, 8, 4),
        "<Softmax>": (1, 0, 40, 0),
    }
    assert {k: (m.nodes, m.macs, m.flops, m.params) for k, m in mods.items()} == expect
    assert report.totals.flops == 856 and report.totals.params == 196
    assert mods["enc/layer.1"].parent == "enc" and mods["enc/layer.1"].depth == 2
    assert mods["enc"].share_flops == pytest.approx(808 / 856)
    # depth-first order, heaviest first: a parent comes before its children
    order = [m.name for m in aggregate(report)]
    assert order[:2] == ["enc", "enc/layer.0"] and order.index("head") > order.index("enc/layer.1")


def _check_sums(report: onnxcost.Report, depth: int | None) -> None:
    mods = aggregate(report, depth)
    t = report.totals
    top = [m for m in mods if m.parent is None]
    for f in FIGURES:
        want = t.nodes if f == "nodes" else getattr(t, f)
        assert sum(getattr(m, f) for m in top) == want, (f, depth)
    if t.latency_s is not None:
        assert sum(m.latency_s or 0.0 for m in top) == pytest.approx(t.latency_s, rel=1e-12)
    # every module is its own nodes plus its children, exactly
    by_name = {m.name: m for m in mods}
    own: dict[str, dict[str, int]] = {m.name: dict.fromkeys(FIGURES, 0) for m in mods}
    for n in report.nodes:
        path = list(n.scope) or [f"<{n.op_type}>"]
        name = "/".join(path[:depth] if depth else path)
        for f in FIGURES:
            own[name][f] += 1 if f == "nodes" else getattr(n, f)
    for m in mods:
        kids = [c for c in mods if c.parent == m.name]
        for f in FIGURES:
            assert getattr(m, f) == own[m.name][f] + sum(getattr(c, f) for c in kids), (m.name, f)
    assert all(m.depth <= (depth or 99) for m in mods)
    assert all(m.parent is None or m.parent in by_name for m in mods)


@pytest.mark.parametrize("source", ["transformer_block", "nested"])
def test_aggregates_sum_to_the_totals_at_every_depth(source: str) -> None:
    model = MODELS / "transformer_block.onnx" if source != "nested" else nested_model()
    report = onnxcost.analyze(model, dims={"batch": 2, "seq": 16} if source != "nested" else None)
    roofline.apply(report, hardware.get("h100"))
    assert max_depth(report) >= 2
    for depth in [None, *range(1, max_depth(report) + 1)]:
        _check_sums(report, depth)


def test_cli_by_module_table_and_json(tmp_path: Path) -> None:
    path = tmp_path / "nested.onnx"
    onnx.save(nested_model(), path)
    runner = CliRunner()
    res = runner.invoke(main, ["analyze", str(path), "--by", "module", "--depth", "2"])
    assert res.exit_code == 0, res.output
    assert "By module" in res.output and "  layer.0" in res.output
    res = runner.invoke(main, ["analyze", str(path), "--by", "module", "--format", "json"])
    data = json.loads(res.output)
    assert data["schema_version"] == 2
    enc = next(m for m in data["modules"] if m["name"] == "enc")
    assert (enc["depth"], enc["parent"], enc["flops"], enc["params"]) == (1, None, 808, 192)
    assert set(FIGURES) <= set(enc)
    assert "modules" not in json.loads(
        runner.invoke(main, ["analyze", str(path), "--format", "json"]).output
    )
    res = runner.invoke(main, ["analyze", str(path), "--depth", "2"])
    assert res.exit_code == 2 and "--by module" in res.output


def test_unreadable_scope_metadata_is_a_warning() -> None:
    model = nested_model()
    model.graph.node[0].metadata_props.add(key=NAME_SCOPES_KEY, value="[[[]]]")
    report = onnxcost.analyze(model)
    assert any(NAME_SCOPES_KEY in w for w in report.warnings)
    assert report.nodes[0].scope == ["enc", "layer.0", "fc"]
