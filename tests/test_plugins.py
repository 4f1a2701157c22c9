"""The plugin API: `@onnxcost.rule(domain, op)` and the "onnxcost.rules" entry-point group."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper

import onnxcost
from onnxcost.errors import OnnxCostError
from onnxcost.rules import plugins, registry
from tests.ruletools import ctx, kind, run


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch: pytest.MonkeyPatch):
    """Rules and plugins registered by a test vanish after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(plugins, "_loaded", {})
    yield


def fancy_model() -> onnx.ModelProto:
    # x [2, 8] -> Relu -> FancyOp (com.example) -> y
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("FancyOp", ["r"], ["y"], name="fancy", domain="com.example"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", T.FLOAT, [2, 8])],
        [helper.make_tensor_value_info("y", T.FLOAT, [2, 8])],
    )
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("com.example", 1)]
    return helper.make_model(graph, opset_imports=opsets)


def test_rule_decorator_registers_a_custom_op() -> None:
    @onnxcost.rule("com.example", "FancyOp", kind="elementwise")
    def fancy(c: onnxcost.NodeContext) -> onnxcost.Cost:
        return onnxcost.Cost(flops=3 * c.out_numel())

    # 2*8 = 16 outputs * 3 = 48 FLOPs
    assert run(ctx("FancyOp", [(2, 8)], [(2, 8)], domain="com.example")).flops == 48
    assert kind("FancyOp", "com.example") == "elementwise"
    with pytest.raises(ValueError, match="kind"):
        onnxcost.rule("com.example", "Other", kind="bogus")


def test_custom_op_is_uncounted_until_a_rule_exists() -> None:
    r = onnxcost.analyze(fancy_model())
    # Relu on 16 elements: 16 FLOPs; FancyOp visible as uncounted, totals a lower bound
    assert r.totals.flops == 16
    assert [(u.op_type, u.domain, u.nodes) for u in r.uncounted] == [
        ("FancyOp", "com.example", ["fancy"])
    ]
    assert r.totals.lower_bound

    @onnxcost.rule("com.example", "FancyOp")
    def fancy(c: onnxcost.NodeContext) -> onnxcost.Cost:
        return onnxcost.Cost(flops=3 * c.out_numel())

    r = onnxcost.analyze(fancy_model())
    # 16 (Relu) + 3*16 (FancyOp) = 64
    assert r.totals.flops == 64 and not r.uncounted


def _install_plugin(root: Path, name: str, entry: str, module_src: str) -> None:
    """A distribution on sys.path, as pip would leave it: module + dist-info with entry points."""
    (root / f"{name}.py").write_text(textwrap.dedent(module_src))
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[onnxcost.rules]\n{name} = {entry}\n")


def test_entry_point_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(
        tmp_path,
        "fancy_plugin",
        "fancy_plugin:register",
        """
        import onnxcost

        def register():
            @onnxcost.rule("com.example", "FancyOp")
            def fancy(ctx):
                return onnxcost.Cost(flops=5 * ctx.out_numel())
        """,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        # analyze loads the plugins: 16 (Relu) + 5*16 (FancyOp) = 96
        r = onnxcost.analyze(fancy_model())
        assert r.totals.flops == 96 and not r.uncounted
        assert "fancy_plugin" in plugins.load_plugins()
    finally:
        sys.modules.pop("fancy_plugin", None)


def test_broken_plugin_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(tmp_path, "broken_plugin", "broken_plugin", "raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        with pytest.raises(OnnxCostError, match=r"plugin 'broken_plugin'.*boom"):
            plugins.load_plugins()
    finally:
        sys.modules.pop("broken_plugin", None)
