"""The JSON report writes its node records through `records.node_lines`, which encodes the fields
that recur from node to node once: its text must be json's own, record for record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onnxcost import analyze
from onnxcost.analysis import roofline
from onnxcost.hardware.database import get as get_spec
from onnxcost.report.records import NodeCost, node_lines
from onnxcost.report.render import render
from onnxcost.units import dumps, encoder

MODELS = sorted((Path(__file__).resolve().parent.parent / "models").glob("*.onnx"))


def _json(nodes: list[NodeCost]) -> list[str]:
    encode = encoder()
    return [encode(n.to_dict()) for n in nodes]


def _node(**kw: object) -> NodeCost:
    fields = {"name": "n", "op_type": "MatMul", "domain": "", "inputs": ["a", "w"]}
    fields |= {"outputs": ["y"], "output_shapes": [[2, 8]], "macs": 128, "flops": 256}
    return NodeCost(**(fields | kw))  # type: ignore[arg-type]


def test_records_that_differ_in_type_only_are_not_taken_for_each_other() -> None:
    # 1024 == 1024.0 == a key's equal, but json writes "1024" and "1024.0"
    nodes = [_node(macs=1024), _node(name="m", macs=1024.0), _node(name="k", params=True)]
    nodes.append(_node(name="p", params=1))
    assert node_lines(nodes) == _json(nodes)
    assert '"macs": 1024.0' in node_lines(nodes)[1]


def test_names_are_escaped_as_json_escapes_them() -> None:
    hostile = ['a"b', "line\nbreak", "\x1b[31mred", "ünï\u202ecode", "\\", ""]
    nodes = [
        _node(name=h, onnx_name=h, inputs=[h, "x"], outputs=[h], scope=[h, "s"], notes=[h])
        for h in hostile
    ]
    assert node_lines(nodes) == _json(nodes)
    for line in node_lines(nodes):
        assert line.isascii() and json.loads(line)["name"] in hostile


def test_symbolic_and_unknown_shapes_and_roofline_fields() -> None:
    nodes = [
        _node(output_shapes=[["batch", 8], None, []]),
        _node(name="b", output_shapes=[["batch", 8], None, []]),
        _node(name="c", latency_s=1e-6, t_compute_s=5e-7, t_memory_s=1e-6, bound="memory"),
        _node(name="d", latency_s=float("inf"), intensity=float("nan"), bound="compute"),
        _node(name="e", index=7, params=4096, weight_bytes=16384),
    ]
    assert node_lines(nodes) == _json(nodes)
    assert '"latency_s": "inf"' in node_lines(nodes)[3]  # non-finite: as dumps writes them


def test_records_of_other_shapes_take_json_s_own_path() -> None:
    odd = _node(name="x")
    odd.extra = "not a field"  # type: ignore[attr-defined]  # to_dict leaves it out
    unhashable = _node(name="y", macs=[1, 2])  # a list where a number belongs
    numpy_index = _node(name="z", index=True)  # not an int: str(True) is not json's text
    nodes = [odd, unhashable, numpy_index]
    assert node_lines(nodes) == _json(nodes)


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
@pytest.mark.parametrize("hw", [None, "a100"])
def test_the_json_report_is_json_s_encoding_of_to_dict(path: Path, hw: str | None) -> None:
    report = analyze(path, dims={"batch": 2, "seq": 16})
    if hw:
        roofline.apply(report, get_spec(hw))
    assert render(report, "json") == dumps(report.to_dict(), end="\n")


def test_a_report_with_an_infinite_figure() -> None:
    # a float past any finite one is written as the string "inf": the whole document is then
    # encoded again, made safe, and the node records' text must stay records
    report = analyze(MODELS[0], dims={"batch": 2, "seq": 16})
    roofline.apply(report, get_spec("a100"))
    report.nodes[0].latency_s = report.totals.latency_s = float("inf")
    text = render(report, "json")
    assert text == dumps(report.to_dict(), end="\n")
    assert json.loads(text)["nodes"][0]["latency_s"] == "inf"
    assert json.loads(text)["totals"]["latency_s"] == "inf"
