"""`onnxcost diff`: totals, op types and nodes between two model versions, and the gate."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from onnxcost import analyze
from onnxcost.cli.gate import diff as diff_cmd
from onnxcost.errors import OnnxCostError
from onnxcost.gate import ci_output, diff


def mlp(hidden: int = 128, extra_layer: bool = False, names: bool = True) -> onnx.ModelProto:
    """x[1,784] -> fc1 (784->hidden) -> Add -> Relu [-> fc_mid (hidden->hidden) -> Add -> Relu]
    -> fc2 (hidden->10) -> Add -> y."""
    inits, nodes = [], []

    def layer(x: str, name: str, cin: int, cout: int, relu: bool) -> str:
        inits.append(numpy_helper.from_array(np.zeros((cin, cout), np.float32), f"{name}.W"))
        inits.append(numpy_helper.from_array(np.zeros((cout,), np.float32), f"{name}.b"))
        n = (lambda s: s) if names else (lambda s: "")
        nodes.append(helper.make_node("MatMul", [x, f"{name}.W"], [f"{name}.mm"], name=n(name)))
        nodes.append(
            helper.make_node(
                "Add", [f"{name}.mm", f"{name}.b"], [f"{name}.out"], name=n(f"{name}_bias")
            )
        )
        if not relu:
            return f"{name}.out"
        nodes.append(
            helper.make_node("Relu", [f"{name}.out"], [f"{name}.act"], name=n(f"{name}_relu"))
        )
        return f"{name}.act"

    h = layer("x", "fc1", 784, hidden, relu=True)
    if extra_layer:
        h = layer(h, "fc_mid", hidden, hidden, relu=True)
    y = layer(h, "fc2", hidden, 10, relu=False)
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 784])],
        [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def rep(model: onnx.ModelProto) -> dict[str, Any]:
    return analyze(model).to_dict()


# v1: hidden 128              v2: hidden 256
# MACs   784*128 + 128*10 = 101,632       784*256 + 256*10 = 203,264
# FLOPs  2*101,632 + 128 + 128 + 10 = 203,530   2*203,264 + 256 + 256 + 10 = 407,050
# params 784*128 + 128 + 128*10 + 10 = 101,770  784*256 + 256 + 256*10 + 10 = 203,530
V1 = {"macs": 101_632, "flops": 203_530, "params": 101_770, "weight_bytes": 4 * 101_770}
V2 = {"macs": 203_264, "flops": 407_050, "params": 203_530, "weight_bytes": 4 * 203_530}


@pytest.fixture(scope="module")
def v1() -> dict[str, Any]:
    return rep(mlp(128))


@pytest.fixture(scope="module")
def v2() -> dict[str, Any]:
    return rep(mlp(256))


def test_widened_hidden_layer_totals(v1, v2):
    res = diff.diff_reports(v1, v2, "v1", "v2")
    t = {d.metric: d for d in res.totals}
    for name in V1:
        assert (t[name].old, t[name].new) == (V1[name], V2[name])
        assert t[name].delta == V2[name] - V1[name]
    assert t["macs"].pct == pytest.approx(100.0)  # 101,632 more on 101,632
    assert t["flops"].pct == pytest.approx(100 * 203_520 / 203_530)  # 99.995 %
    assert "latency" not in t  # neither report has a roofline


def test_widened_hidden_layer_op_types(v1, v2):
    res = diff.diff_reports(v1, v2)
    ops = {o.op_type: o for o in res.op_types}
    mm, add, relu = ops["MatMul"], ops["Add"], ops["Relu"]
    assert (mm.count_old, mm.count_new) == (2, 2)
    assert (mm.macs_old, mm.macs_new) == (101_632, 203_264)
    assert (mm.flops_old, mm.flops_new) == (203_264, 406_528)
    assert (add.flops_old, add.flops_new) == (128 + 10, 256 + 10)
    assert add.flops_pct == pytest.approx(100 * 128 / 138)
    assert (relu.flops_old, relu.flops_new) == (128, 256)
    assert [o.op_type for o in res.op_types] == ["MatMul", "Add", "Relu"]  # by |FLOPs delta|


def test_widened_hidden_layer_nodes_matched_by_name(v1, v2):
    res = diff.diff_reports(v1, v2)
    assert (res.matched_by_name, res.matched_by_order) == (5, 0)
    changed = [n for n in res.nodes if n.change == "changed"]
    assert [n.name_new for n in changed] == ["fc1", "fc2", "fc1_bias", "fc1_relu"]
    fc1 = changed[0]
    assert (fc1.flops_old, fc1.flops_new) == (2 * 784 * 128, 2 * 784 * 256)  # 200,704 -> 401,408
    assert (fc1.shapes_old, fc1.shapes_new) == ([[1, 128]], [[1, 256]])
    assert not [n for n in res.nodes if n.change != "changed"]  # fc2_bias: unchanged, not listed


def test_unnamed_nodes_matched_by_order(v1):
    res = diff.diff_reports(v1, rep(mlp(256, names=False)))
    # the analyzer calls unnamed nodes MatMul_0, Add_1, ...: counters, so matched by order
    assert (res.matched_by_name, res.matched_by_order) == (0, 5)
    changed = [n for n in res.nodes if n.change == "changed"]
    assert [(n.name_old, n.name_new) for n in changed][:2] == [
        ("fc1", "MatMul_0"),
        ("fc2", "MatMul_3"),
    ]
    assert len(changed) == 4


def test_inserted_layer_named_and_unnamed(v1):
    res = diff.diff_reports(v1, rep(mlp(128, extra_layer=True)))
    added = [n.name_new for n in res.nodes if n.change == "added"]
    assert added == ["fc_mid", "fc_mid_bias", "fc_mid_relu"]
    assert [n for n in res.nodes if n.change != "added"] == []  # everything else is unchanged
    # fc_mid: MACs 128*128 = 16,384
    assert res.nodes[0].flops_new == 2 * 16_384
    back = diff.diff_reports(rep(mlp(128, extra_layer=True)), v1)
    assert [n.name_old for n in back.nodes if n.change == "removed"] == added

    unnamed = diff.diff_reports(
        rep(mlp(128, names=False)), rep(mlp(128, extra_layer=True, names=False))
    )
    summary = unnamed.to_dict()["summary"]
    assert (summary["added"], summary["removed"]) == (3, 0)  # 8 nodes vs 5


def test_auto_generated_names():
    auto = diff._auto_named
    for name, op in [("", "Conv"), ("Conv_12", "Conv"), ("node_7", "Add"), ("node_Conv_3", "Conv")]:
        assert auto({"name": name, "op_type": op}), name
    for name, op in [("/layer1/conv1/Conv", "Conv"), ("fc_1", "MatMul"), ("conv2d_1", "Conv")]:
        assert not auto({"name": name, "op_type": op}), name


def test_duplicate_names_fall_back_to_order():
    def node(name: str, flops: int) -> dict[str, Any]:
        return {"name": name, "op_type": "Relu", "domain": "", "flops": flops}

    old = {"nodes": [node("act", 10), node("act#2", 20)]}
    new = {"nodes": [node("act", 30), node("act#2", 40)]}
    pairs, removed, added = diff.match_nodes(old["nodes"], new["nodes"])
    assert pairs == [(0, 0, "order"), (1, 1, "order")]
    assert (removed, added) == ([], [])


# --- the gate ----------------------------------------------------------------------------------


def test_parse_fail_over():
    assert diff.parse_fail_over(["flops=5%"]) == {"flops": 0.05}
    assert diff.parse_fail_over(["macs,weight-bytes=0.02", "10%"]) == {
        "macs": 0.02,
        "weight_bytes": 0.02,
        "*": pytest.approx(0.10),
    }
    for bad, words in [
        ("flop=5%", "did you mean 'flops'"),
        ("flops=5x", "unknown percent suffix"),
        ("=5%", "expected METRIC=PERCENT"),
        ("flops=", "no number"),
    ]:
        with pytest.raises(OnnxCostError, match=words):
            diff.parse_fail_over([bad])


def test_gate_fail_and_pass(v1, v2):
    res = diff.diff_reports(v1, v2, fail_over={"flops": 0.05})
    (g,) = res.gate
    assert g.status == "fail" and not res.passed
    assert g.growth_pct == pytest.approx(100 * 203_520 / 203_530)
    assert "more than the allowed 5%" in g.reason
    assert diff.diff_reports(v1, v2, fail_over={"flops": 1.0}).passed  # 99.995 % <= 100 %
    assert diff.diff_reports(v2, v1, fail_over={"flops": 0.0}).passed  # it shrank


def test_bare_gate_covers_default_metrics(v1, v2):
    res = diff.diff_reports(v1, v2, fail_over=diff.parse_fail_over(["150%", "params=10%"]))
    gates = {g.metric: g for g in res.gate}
    assert list(gates) == ["macs", "flops", "params", "weight_bytes", "peak_memory"]  # no latency
    assert gates["params"].allowed_pct == pytest.approx(10.0)
    assert gates["params"].status == "fail"  # +99.99 %
    assert gates["macs"].status == "pass"  # +100 % <= 150 %


def totals(**t: Any) -> dict[str, Any]:
    return {"totals": {"macs": 0, "flops": 100, "uncounted_nodes": 0, "lower_bound": False, **t}}


def test_gate_growth_from_zero_and_missing_metric():
    (g,) = diff.diff_reports(totals(macs=0), totals(macs=5), fail_over={"macs": 10.0}).gate
    assert g.status == "fail" and g.growth_pct is None and "grew from 0" in g.reason
    res = diff.diff_reports(totals(latency_s=1e-3), totals(), fail_over={"latency": 0.05})
    assert res.gate[0].status == "error" and res.has_error
    assert "not measured in the new report" in res.gate[0].reason


def test_gate_lower_bound_needs_allow_uncounted():
    old, new = totals(), totals(uncounted_nodes=1, lower_bound=True)
    (g,) = diff.diff_reports(old, new, fail_over={"flops": 0.05}).gate
    assert g.status == "fail" and "new: 1 uncounted node" in g.reason
    (g,) = diff.diff_reports(old, new, fail_over={"flops": 0.05}, allow_uncounted=True).gate
    assert g.status == "pass" and "accepted" in g.reason


def test_render_table(v1, v2):
    res = diff.diff_reports(v1, v2, "v1.onnx", "v2.onnx", fail_over={"flops": 0.05})
    text = diff.render_table(res)
    assert text.startswith("onnxcost diff: v1.onnx -> v2.onnx")
    assert "+100.00%" in text  # MACs
    assert "~ fc1 [MatMul]" in text
    assert "nodes: 0 added, 0 removed, 4 changed (matched 5 by name, 0 by order)" in text
    assert text.splitlines()[-1] == "FAIL: 1 gated metric regressed or unproven"


def test_junit_for_the_gate(v1, v2):
    res = diff.diff_reports(v1, v2, "v1", "v2", fail_over={"flops": 0.05, "params": 2.0})
    root = ET.fromstring(ci_output.junit_xml(ci_output.diff_suites(res)))
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["flops growth <= 5%", "params growth <= 200%"]
    assert cases[0].find("failure") is not None and cases[1].find("failure") is None


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    paths = {}
    for name, model in [("v1", mlp(128)), ("v2", mlp(256))]:
        paths[name] = str(tmp_path / f"{name}.onnx")
        onnx.save(model, paths[name])
    return paths


def run(args: list[str]):
    return CliRunner().invoke(
        diff_cmd, args, env={"GITHUB_ACTIONS": "false"}, catch_exceptions=False
    )


def test_cli_exit_codes(files, tmp_path):
    v1, v2 = files["v1"], files["v2"]
    assert run([v1, v2]).exit_code == 0  # no gate: a report only
    assert run([v1, v2, "--fail-over", "flops=5%"]).exit_code == 1
    assert run([v1, v2, "--fail-over", "flops=100%"]).exit_code == 0
    assert run([v2, v1, "--fail-over", "5%"]).exit_code == 0  # smaller is fine
    r = run([v1, v2, "--fail-over", "flop=5%"])
    assert r.exit_code == 2 and "unknown metric 'flop'" in r.stderr
    r = run([v1, str(tmp_path / "nope.onnx")])
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = run([v1, v2, "--fail-over", "latency=5%"])  # no --hw: not measured
    assert r.exit_code == 2


def test_cli_json_and_saved_baseline(files, tmp_path):
    r = run([files["v1"], files["v2"], "--format", "json", "--fail-over", "macs=5%"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["passed"] is False
    assert doc["summary"] == {"added": 0, "removed": 0, "changed": 4}
    macs = next(t for t in doc["totals"] if t["metric"] == "macs")
    assert (macs["old"], macs["new"], macs["delta"]) == (101_632, 203_264, 101_632)

    # a JSON report saved at the last release works as OLD
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(rep(mlp(128))))
    r = run(
        [str(baseline), files["v2"], "--fail-over", "params=5%", "--junit", str(tmp_path / "j.xml")]
    )
    assert r.exit_code == 1
    case = ET.parse(tmp_path / "j.xml").getroot().find("testsuite/testcase")
    assert case.get("name") == "params growth <= 5%" and case.find("failure") is not None
