"""The HTML report: self-contained, model text only as escaped data, light on large models, and
drawn without script errors in a real browser (headless Chromium)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

import onnxcost
from onnxcost.analysis import roofline
from onnxcost.analysis.modules import aggregate
from onnxcost.cli.main import main
from onnxcost.hardware import database as hardware
from onnxcost.report.html import (
    MAX_MEMORY_POINTS,
    MAX_MODULES,
    MAX_ROOFLINE_POINTS,
    decimate,
    render_html,
    report_data,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import bench_large  # noqa: E402
import screenshot_report  # noqa: E402

HOSTILE = "</script><script>window.pwned=1</script><img src=x onerror=alert(1)>&amp;"


def hostile_model() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name=HOSTILE),
        helper.make_node("MatMul", ["r", "x"], ["y"], name="/enc/" + HOSTILE + "/MatMul"),
    ]
    graph = helper.make_graph(
        nodes,
        "g<b>",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 8])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def test_decimate_keeps_shape_and_peak() -> None:
    assert decimate([3, 1, 2], 10) == [0, 1, 2]
    values = [(k * 7919) % 1000 for k in range(50_000)]
    values[31_337] = 10_000
    keep = decimate(values, 2000)
    assert len(keep) <= 2002 and keep == sorted(set(keep))
    assert 31_337 in keep and keep[0] == 0 and keep[-1] == 49_999


def test_model_text_is_escaped_data() -> None:
    report = onnxcost.analyze(hostile_model())
    roofline.apply(report, hardware.get("a100"))
    page = render_html(report)
    assert HOSTILE not in page
    assert "<img" not in page.split('id="onnxcost-data"')[1]
    block = re.search(
        r'<script type="application/json" id="onnxcost-data">(.*?)</script>', page, re.S
    )
    assert block and "<" not in block.group(1) and ">" not in block.group(1)
    data = json.loads(block.group(1))
    # tables get the raw text (the page uses textContent); plotly gets it HTML-escaped
    assert HOSTILE in {row[0] for row in data["tables"]["top"]["rows"]}
    assert "&lt;/script&gt;" in " ".join(data["memory"]["file"]["text"])
    assert data == json.loads(json.dumps(report_data(report)))


def test_self_contained() -> None:
    page = render_html(onnxcost.analyze(ROOT / "models" / "cnn.onnx"))
    assert not re.search(r"<script[^>]*\bsrc=", page) and "<link" not in page
    assert "default-src 'none'" in page  # the browser refuses any fetch the page might attempt
    assert page.count("<script") == 4  # error trap, plotly, data, app


def test_large_model_is_decimated() -> None:
    report = onnxcost.analyze(bench_large.build(400, 64, external=False), dims={"batch": 1})
    roofline.apply(report, hardware.get("h100"))
    data = report_data(report)
    assert report.totals.nodes == 5200
    mem = data["memory"]
    assert mem["steps"] == 5200 and mem["decimated"]
    assert len(mem["file"]["x"]) <= MAX_MEMORY_POINTS + 2
    assert mem["peak"]["step"] in mem["file"]["x"]
    r = data["roofline"]
    assert r["shown"] == MAX_ROOFLINE_POINTS < r["total"]
    assert sum(len(s["x"]) for s in r["series"].values()) == r["shown"]
    assert data["modules"]["count"] <= MAX_MODULES
    assert len(json.dumps(data)) < 1_500_000


needs_chromium = pytest.mark.skipif(
    screenshot_report.chromium() is None and not os.environ.get("CI"),
    reason="chromium not installed (apt-get install chromium); CI always runs this",
)


@needs_chromium
def test_report_draws_in_chromium(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cnn.html"
    model = ROOT / "models" / "cnn.onnx"
    res = runner.invoke(
        main, ["analyze", str(model), "--hw", "a100", "--format", "html", "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    check = screenshot_report.self_check(out)
    assert check["errors"] == []
    report = onnxcost.analyze(model)
    roofline.apply(report, hardware.get("a100"))
    steps = len(report.memory.step_nodes)
    points = sum(1 for n in report.nodes if n.status != "constant" and n.flops and n.intensity)
    marks, expected = check["marks"], check["expected"]
    assert marks["memory"] == expected["memory"] == steps  # one marker per step (file order best)
    assert marks["roofline"] == expected["roofline"] == points  # one point per node with work
    assert marks["ops"] == expected["ops"] == 2 * len(report.op_types)  # FLOPs and latency bars
    top = {m.name for m in aggregate(report, depth=1)}
    assert marks["treemap-flops"] >= len(top) and marks["treemap-latency"] >= len(top)


@needs_chromium
def test_hostile_names_stay_text_in_chromium(tmp_path: Path) -> None:
    out = tmp_path / "hostile.html"
    out.write_text(render_html(onnxcost.analyze(hostile_model())), encoding="utf-8")
    check = screenshot_report.self_check(out)
    assert check["errors"] == [] and check["marks"]["memory"] == 2
    dom = screenshot_report.run(out, ["--dump-dom"])
    assert "<img" not in dom and "&lt;img src=x" in dom  # shown as text, never parsed


def test_chromium_is_found_in_ci() -> None:
    if os.environ.get("CI"):
        assert shutil.which("chromium") or shutil.which("chromium-browser")
