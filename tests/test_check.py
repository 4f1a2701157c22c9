"""`onnxcost check`: budgets evaluated against reports, the CLI's exit codes, JUnit and
GitHub Actions output."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

from onnxcost.cli import gate as cli_gate
from onnxcost.cli.gate import check as check_cmd
from onnxcost.gate import budget, check, ci_output

# --- A small MLP and its hand-computed costs ---------------------------------------------------
# x[1,784] -> MatMul W1[784,128] -> Add b1 -> Relu -> MatMul W2[128,10] -> Add b2 -> y[1,10]
MACS = 784 * 128 + 128 * 10  # 100,352 + 1,280 = 101,632
FLOPS = 2 * MACS + 128 + 128 + 10  # MACs*2 + Add(128) + Relu(128) + Add(10) = 203,530
PARAMS = 784 * 128 + 128 + 128 * 10 + 10  # 101,770
WEIGHT_BYTES = 4 * PARAMS  # fp32: 407,080
# Peak activations while fc1 runs: x (784) + its output (128) = 912 elements = 3,648 bytes
# (the Adds and the Relu work in place).
PEAK_MEMORY = WEIGHT_BYTES + 4 * (784 + 128)  # 410,728


def mlp(hidden: int = 128, batch: int | str = 1) -> onnx.ModelProto:
    inits = [
        numpy_helper.from_array(np.zeros((784, hidden), np.float32), "W1"),
        numpy_helper.from_array(np.zeros((hidden,), np.float32), "b1"),
        numpy_helper.from_array(np.zeros((hidden, 10), np.float32), "W2"),
        numpy_helper.from_array(np.zeros((10,), np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["h0"], name="fc1"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="fc1_bias"),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu1"),
        helper.make_node("MatMul", ["h2", "W2"], ["y0"], name="fc2"),
        helper.make_node("Add", ["y0", "b2"], ["y"], name="fc2_bias"),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 784])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


@pytest.fixture
def model(tmp_path) -> str:
    p = tmp_path / "mlp.onnx"
    onnx.save(mlp(), p)
    return str(p)


def totals(**over: Any) -> dict[str, Any]:
    t = {
        "macs": MACS,
        "flops": FLOPS,
        "params": PARAMS,
        "weight_bytes": WEIGHT_BYTES,
        "peak_memory_bytes": PEAK_MEMORY,
        "activations_peak_bytes": 3648,
        "memory_traffic_bytes": 500_000,
        "uncounted_nodes": 0,
        "unresolved_nodes": 0,
        "lower_bound": False,
        "latency_s": 1.5e-3,
    }
    t.update(over)
    return t


def report(unresolved: list[dict] | None = None, **over: Any) -> dict[str, Any]:
    return {"totals": totals(**over), "unresolved": unresolved or [], "nodes": [], "op_types": []}


# --- evaluate(): pass / fail / error for every limit kind ----------------------------------------

# metric, a limit above the measured value, the measured value as text, a limit below it
CASES = [
    ("macs", "5G", str(MACS), "100k"),  # 101,632 > 100,000
    ("flops", "10G", str(FLOPS), "200k"),  # 203,530 > 200,000
    ("params", "30M", str(PARAMS), "0.1M"),  # 101,770 > 100,000
    ("weight_bytes", "100MB", str(WEIGHT_BYTES), "400kB"),  # 407,080 > 400,000
    ("peak_memory", "256MiB", str(PEAK_MEMORY), "400KiB"),  # 410,728 > 409,600
    ("peak_activations", "64KiB", "3648", "3KiB"),  # 3,648 > 3,072
    ("memory_traffic", "1GB", "500000", "0.4MB"),  # 500,000 > 400,000
    ("latency", "2ms", "0.0015", "1ms"),  # 1.5 ms > 1 ms
]


@pytest.mark.parametrize(("metric", "above", "exact", "below"), CASES)
def test_every_limit_kind_pass_equal_fail(metric, above, exact, below):
    rep = report()
    for text, status in ((above, "pass"), (exact, "pass"), (below, "fail")):
        b = budget.from_options({metric: text})
        res = check.evaluate(rep, b, "m.onnx")
        (row,) = res.rows
        assert row.metric == metric
        assert row.status == status, (text, row)
        assert res.passed is (status == "pass")
        m = budget.METRICS[metric]
        assert row.measured == rep["totals"][m.total_key]
        assert row.margin == pytest.approx(row.limit - row.measured)
    assert "over budget by" in row.reason


@pytest.mark.parametrize(("metric", "above", "exact", "below"), CASES)
def test_every_limit_kind_not_measured_is_an_error(metric, above, exact, below):
    rep = report()
    del rep["totals"][budget.METRICS[metric].total_key]
    res = check.evaluate(rep, budget.from_options({metric: above}))
    (row,) = res.rows
    assert row.status == "error"
    assert res.has_error and not res.passed
    assert "not measured" in row.reason
    if metric == "latency":
        assert "--hw" in row.reason


def test_margin_and_percentage():
    res = check.evaluate(report(), budget.from_options({"macs": "200k", "params": "100k"}))
    macs, params = res.rows
    assert macs.margin == 200_000 - MACS == 98_368
    assert macs.margin_pct == pytest.approx(100 * 98_368 / 200_000)  # 49.184 %
    assert params.margin == 100_000 - PARAMS == -1_770
    assert params.margin_pct == pytest.approx(-1.77)


def test_zero_limit():
    res = check.evaluate(report(macs=0), budget.from_options({"macs": "0"}))
    assert res.rows[0].status == "pass"
    assert res.rows[0].margin_pct is None  # no percentage of zero


def test_rows_follow_the_metric_order():
    b = budget.from_options({"latency": "1s", "macs": "1G", "params": "1G"})
    assert [r.metric for r in check.evaluate(report(), b).rows] == ["macs", "params", "latency"]


# --- lower bounds -------------------------------------------------------------------------------


def test_uncounted_ops_fail_compute_budgets_unless_allowed():
    rep = report(uncounted_nodes=2, lower_bound=True)
    b = budget.from_options({"macs": "5G", "params": "30M", "peak_memory": "1GB", "latency": "1s"})
    rows = {r.metric: r for r in check.evaluate(rep, b).rows}
    assert rows["macs"].status == "fail"
    assert "lower bound" in rows["macs"].reason and "2 uncounted nodes" in rows["macs"].reason
    assert rows["latency"].status == "fail"
    # parameters and memory do not depend on an op's rule
    assert rows["params"].status == "pass" and not rows["params"].lower_bound
    assert rows["peak_memory"].status == "pass"

    allowed = budget.from_options({"macs": "5G"}, allow_uncounted=True)
    (row,) = check.evaluate(rep, allowed).rows
    assert row.status == "pass" and row.lower_bound
    assert "lower bound accepted" in row.reason


def test_unresolved_shapes_fail_memory_budgets_too():
    rep = report(
        unresolved=[{"tensor": "h0", "node": "fc1", "reason": "dim 'batch' unbound"}],
        unresolved_nodes=1,
        lower_bound=True,
    )
    b = budget.from_options({"peak_memory": "1GB", "weight_bytes": "1GB"})
    rows = {r.metric: r for r in check.evaluate(rep, b).rows}
    assert rows["peak_memory"].status == "fail"
    assert "1 node with unresolved shapes" in rows["peak_memory"].reason
    assert rows["weight_bytes"].status == "pass"


def test_weight_with_unknown_shape_makes_params_a_lower_bound():
    rep = report(
        unresolved=[{"tensor": "W", "node": "(weight)", "reason": "weight shape not static"}],
        lower_bound=True,
    )
    (row,) = check.evaluate(rep, budget.from_options({"params": "30M"})).rows
    assert row.status == "fail" and "1 weight with unknown shape" in row.reason


def test_lower_bound_over_the_limit_fails_even_when_allowed():
    rep = report(uncounted_nodes=1, lower_bound=True)
    b = budget.from_options({"macs": "100k"}, allow_uncounted=True)
    (row,) = check.evaluate(rep, b).rows
    assert row.status == "fail"
    assert "over budget" in row.reason and "lower bound" in row.reason


def test_render_table():
    res = check.evaluate(report(), budget.from_options({"macs": "100k", "peak_memory": "256MiB"}))
    text = check.render_table([res])
    assert "onnxcost check" in text
    assert "MACs" in text and "FAIL" in text and "PASS" in text
    assert "MiB" in text  # bytes shown in the unit the limit was written in
    assert text.splitlines()[-1] == "FAIL: 1 of 2 budgets exceeded or unproven"


# --- JUnit and GitHub Actions -----------------------------------------------------------------


def test_junit_round_trip(tmp_path):
    ok = check.evaluate(report(), budget.from_options({"macs": "5G", "params": "100k"}), "a.onnx")
    bad = check.CheckResult("models/b.v2.onnx", error="models/b.v2.onnx: no such file")
    path = tmp_path / "junit.xml"
    ci_output.write_junit(path, ci_output.check_suites([ok, bad]))

    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    suite_a, suite_b = root.findall("testsuite")
    assert suite_a.get("name") == "onnxcost check a.onnx"
    cases = suite_a.findall("testcase")
    assert [c.get("name") for c in cases] == ["macs <= 5G", "params <= 100k"]
    assert {c.get("classname") for c in cases} == {"onnxcost.check.a"}
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    failure = cases[1].find("failure")
    assert failure is not None
    assert "over budget by" in failure.get("message")
    assert f"measured {PARAMS}" in failure.text
    (err_case,) = suite_b.findall("testcase")
    assert err_case.get("classname") == "onnxcost.check.b_v2"  # no dots inside the model name
    assert "no such file" in err_case.find("error").get("message")


def test_github_annotations_escape_and_levels():
    rep = report(uncounted_nodes=1, lower_bound=True)
    b = budget.from_options({"macs": "5G", "params": "100k"}, allow_uncounted=True)
    res = check.evaluate(rep, b, "m,1.onnx")
    lines = ci_output.annotations(ci_output.check_suites([res]), {"onnxcost check m,1.onnx": "m,1"})
    warning, error = lines
    assert warning.startswith(
        "::warning file=m%2C1,title=onnxcost check m%2C1.onnx%3A macs <= 5G::"
    )
    assert "lower bound accepted" in warning
    assert error.startswith("::error file=m%2C1,")
    assert "parameters: over budget" in error
    assert ci_output.annotation("error", "50%\nmore", "t") == "::error title=t::50%25%0Amore"


def test_in_github_actions():
    assert ci_output.in_github_actions({"GITHUB_ACTIONS": "true"})
    assert not ci_output.in_github_actions({"GITHUB_ACTIONS": "false"})
    assert not ci_output.in_github_actions({})


# --- The command line ---------------------------------------------------------------------------


def run(args: list[str], env: dict[str, str] | None = None):
    env = {"GITHUB_ACTIONS": "false", **(env or {})}
    return CliRunner().invoke(check_cmd, args, env=env, catch_exceptions=False)


def test_cli_within_every_budget_exits_0(model):
    limits = ["--max-macs", "5G", "--max-flops", "10G", "--max-params", "30M"]
    limits += ["--max-weight-bytes", "100MB", "--max-peak-memory", "256MiB"]
    r = run([model, *limits])
    assert r.exit_code == 0, r.output
    assert "PASS: 5 budgets met" in r.stdout


def test_cli_over_budget_exits_1(model):
    r = run([model, "--max-macs", "100k", "--max-params", "30M"])
    assert r.exit_code == 1
    assert "FAIL" in r.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--max-macs", "5X"], "--max-macs: '5X': unknown suffix"),
        (["--max-weight-bytes", "10mb"], "bits"),
        (["--max-latency", "2 minutes"], "unknown time unit"),
        ([], "no budget"),
        (["--max-latency", "2ms"], "needs a device: --hw"),
        (["--max-macs", "5G", "--dim", "batch"], "expected NAME=VALUE"),
        (["--max-macs", "5G", "--budget", "/nonexistent/budget.toml"], "cannot read"),
    ],
)
def test_cli_bad_input_exits_2(model, args, words):
    r = run([model, *args])
    assert r.exit_code == 2, r.output
    assert words in r.output


def test_cli_missing_model_and_no_model(tmp_path):
    r = run([str(tmp_path / "missing.onnx"), "--max-macs", "1G"])
    assert r.exit_code == 2 and "no such file" in r.stderr
    r = run(["--max-macs", "1G"])
    assert r.exit_code == 2 and "give a MODEL" in r.stderr


def test_cli_unbound_dim_fails_unless_allowed(tmp_path):
    p = tmp_path / "dyn.onnx"
    onnx.save(mlp(batch="batch"), p)
    r = run([str(p), "--max-macs", "5G"])
    assert r.exit_code == 1
    assert "lower bound" in r.stdout
    assert "--dim batch=N" in r.stdout  # says how to make it exact
    assert run([str(p), "--max-macs", "5G", "--allow-uncounted"]).exit_code == 0
    assert run([str(p), "--max-macs", "5G", "--dim", "batch=1"]).exit_code == 0
    # bound to 4: MACs = 4 * 101,632 = 406,528 > 400k
    assert run([str(p), "--max-macs", "400k", "--dim", "batch=4"]).exit_code == 1


def test_cli_input_shape(model):
    # x overridden to 4x784: MACs = 4 * 101,632 = 406,528; x 3x784: 304,896
    assert run([model, "--max-macs", "400k", "--input-shape", "x=4x784"]).exit_code == 1
    assert run([model, "--max-macs", "400k", "--input-shape", "x=3x784"]).exit_code == 0


def test_cli_json(model):
    r = run([model, "--max-macs", "100k", "--max-params", "30M", "--format", "json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["passed"] is False
    (res,) = doc["results"]
    assert res["model"] == model
    macs, params = res["rows"]
    assert (macs["metric"], macs["limit"], macs["measured"], macs["margin"], macs["status"]) == (
        "macs",
        100_000,
        MACS,
        100_000 - MACS,  # -1,632
        "fail",
    )
    assert (params["measured"], params["status"]) == (PARAMS, "pass")


def test_cli_junit_file(model, tmp_path):
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    r = run([model, "--max-macs", "100k", "--max-flops", "10G", "--junit", str(junit)])
    assert r.exit_code == 1
    root = ET.parse(junit).getroot()
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    names = [c.get("name") for c in suite.findall("testcase")]
    assert names == ["macs <= 100k", "flops <= 10G"]


def test_cli_junit_written_on_bad_budget_file(model, tmp_path):
    bad = tmp_path / "budget.toml"
    bad.write_text("max_macs = 5G\n")
    junit = tmp_path / "junit.xml"
    r = run([model, "--budget", str(bad), "--junit", str(junit)])
    assert r.exit_code == 2
    assert "malformed TOML" in r.stderr
    case = ET.parse(junit).getroot().find("testsuite/testcase")
    assert "malformed TOML" in case.find("error").get("message")


def test_cli_github_annotations(model):
    r = run([model, "--max-macs", "100k", "--max-params", "30M"], env={"GITHUB_ACTIONS": "true"})
    assert r.exit_code == 1
    errors = [line for line in r.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 1
    assert f"file={model}" in errors[0] and "MACs: over budget" in errors[0]
    # with --format json they go to stderr, so stdout stays valid JSON
    r = run(
        [model, "--max-macs", "100k", "--format", "json"],
        env={"GITHUB_ACTIONS": "true"},
    )
    json.loads(r.stdout)
    assert "::error " in r.stderr
    assert "::error" not in run([model, "--max-macs", "100k"]).stdout


def test_cli_budget_file_several_models(tmp_path):
    (tmp_path / "models").mkdir()
    onnx.save(mlp(128), tmp_path / "models" / "small.onnx")
    onnx.save(mlp(256), tmp_path / "models" / "wide.onnx")
    # wide: MACs = 784*256 + 256*10 = 200,704 + 2,560 = 203,264
    (tmp_path / "budget.toml").write_text(
        'max_params = "30M"\n'
        "[models.small]\n"
        'path = "models/small.onnx"\n'
        'max_macs = "150k"\n'
        "[models.wide]\n"
        'path = "models/wide.onnx"\n'
        'max_macs = "150k"\n'
    )
    budget_file = str(tmp_path / "budget.toml")
    r = run(["--budget", budget_file, "--format", "json"])
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    measured = {Path(res["model"]).name: res["rows"][0]["measured"] for res in doc["results"]}
    assert measured == {"small.onnx": MACS, "wide.onnx": 203_264}
    assert [res["passed"] for res in doc["results"]] == [True, False]
    # one model from the file; a flag overrides the file's limit
    small = str(tmp_path / "models" / "small.onnx")
    assert run([small, "--budget", budget_file]).exit_code == 0
    assert run([small, "--budget", budget_file, "--max-macs", "100k"]).exit_code == 1


def test_cli_budget_file_errors(tmp_path, model):
    p = tmp_path / "b.toml"
    p.write_text('[models.x]\npath = "x.onnx"\nmax_macs = "1G"\nmax_flop = "2G"\n')
    r = run(["--budget", str(p)])
    assert r.exit_code == 2 and "unknown key 'max_flop'; did you mean 'max_flops'?" in r.stderr
    p.write_text('[models.x]\nmax_macs = "1G"\n')
    r = run(["--budget", str(p)])
    assert r.exit_code == 2 and "lists no model with a path" in r.stderr
    p.write_text('[models.x]\npath = "missing.onnx"\nmax_macs = "1G"\n')
    r = run(["--budget", str(p)])
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_cli_saved_json_report(tmp_path):
    saved = tmp_path / "baseline.json"
    saved.write_text(json.dumps(report()))
    assert run([str(saved), "--max-latency", "2ms"]).exit_code == 0  # report has latency_s
    assert run([str(saved), "--max-latency", "1ms"]).exit_code == 1
    (tmp_path / "bad.json").write_text("[]")
    r = run([str(tmp_path / "bad.json"), "--max-macs", "1G"])
    assert r.exit_code == 2 and "not an onnxcost JSON report" in r.stderr


def test_cli_latency_with_hw(model, monkeypatch):
    # The roofline is another module's job; here it only has to be called with the device name.
    seen = []

    def fake_roofline(rep, hw):
        seen.append(hw)
        rep.totals.latency_s = 1.5e-3
        return rep

    monkeypatch.setattr(cli_gate, "apply_roofline", fake_roofline)
    assert run([model, "--max-latency", "2ms", "--hw", "a100"]).exit_code == 0
    assert run([model, "--max-latency", "500us", "--hw", "a100"]).exit_code == 1
    assert seen == ["a100", "a100"]


def test_cli_latency_with_real_roofline(model):
    pytest.importorskip("onnxcost.analysis.roofline")
    pytest.importorskip("onnxcost.hardware.database")
    r = run([model, "--max-latency", "1s", "--hw", "a100", "--format", "json"])
    assert r.exit_code == 0, r.output
    (row,) = json.loads(r.stdout)["results"][0]["rows"]
    assert 0 < row["measured"] < 1
    r = run([model, "--max-latency", "1s", "--hw", "no-such-device"])
    assert r.exit_code == 2
