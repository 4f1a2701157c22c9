"""Every op of the installed onnx's default domain and ai.onnx.ml (and the preview domains)
has a cost rule.

A new onnx release that adds ops makes this test fail with the list of the new ops, instead of
those ops silently counting zero. Deprecated schemas are covered too: a model of an older opset
can still contain them (Upsample, Scatter, the legacy tree ensembles).
"""

from __future__ import annotations

import importlib

import onnx.defs
import pytest

from onnxcost.errors import OnnxCostError
from onnxcost.rules.registry import Cost, Unresolved, lookup
from tests.ruletools import UNKNOWN_RANK, ctx

# Rule modules that must import. The quantized ops live in a module another change adds;
# until it exists, its ops are the only ones allowed to be missing.
MODULES = [
    "linear",
    "elementwise",
    "pooling",
    "normalization",
    "reduction",
    "movement",
    "recurrent",
    "contraction",
    "control_flow",
    "misc",
]
QUANTIZED_OPS = {
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "QuantizeLinear",
    "DequantizeLinear",
    "DynamicQuantizeLinear",
}
DOMAINS = ("", "ai.onnx.ml", "ai.onnx.preview", "ai.onnx.preview.training")


def _load_rules() -> set[str]:
    """Import every rule module; return the ops allowed to be missing."""
    for m in MODULES:
        importlib.import_module(f"onnxcost.rules.{m}")
    try:
        importlib.import_module("onnxcost.rules.quantized")
    except ModuleNotFoundError:
        return set(QUANTIZED_OPS)
    importlib.import_module("onnxcost.rules")  # the package imports whatever else there is
    return set()


def _schema_ops() -> dict[tuple[str, str], list[int]]:
    ops: dict[tuple[str, str], list[int]] = {}
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain in DOMAINS:
            ops.setdefault((s.domain, s.name), []).append(s.since_version)
    return ops


def test_every_schema_op_has_a_rule() -> None:
    allowed = _load_rules()
    ops = _schema_ops()
    assert len(ops) > 200  # the enumeration itself works
    missing = sorted(
        f"{dom or 'ai.onnx'}::{op} (since {sorted(vers)})"
        for (dom, op), vers in ops.items()
        if lookup(dom, op) is None and op not in allowed
    )
    assert not missing, "ops without a cost rule:\n" + "\n".join(missing)


def test_quantized_ops_present_once_their_module_is() -> None:
    allowed = _load_rules()
    if not allowed:
        missing = sorted(op for op in QUANTIZED_OPS if lookup("", op) is None)
        assert not missing, f"quantized ops without a rule: {missing}"


@pytest.mark.parametrize("shape", [UNKNOWN_RANK, ("n", "m", "k")], ids=["rank?", "symbolic"])
def test_rules_never_crash_on_shapes_they_cannot_see(shape: object) -> None:
    """Each schema version's rule, given unknown shapes, counts or says Unresolved (or names a
    bad model with OnnxCostError): never a bare exception, which would abort the analysis."""
    _load_rules()
    crashes = []
    for s in onnx.defs.get_all_schemas_with_history():
        entry = lookup(s.domain, s.name)
        if s.domain not in DOMAINS or entry is None:
            continue
        n_in = max(len(s.inputs), s.min_input)
        c = ctx(
            s.name,
            inputs=[shape] * n_in,
            outputs=[shape] * max(len(s.outputs), 1),
            domain=s.domain,
            opset=s.since_version,
        )
        try:
            assert isinstance(entry.fn(c), Cost)
        except (Unresolved, OnnxCostError):
            pass
        except Exception as e:
            crashes.append(f"{s.domain or 'ai.onnx'}::{s.name}-{s.since_version}: {e!r}")
    assert not crashes, "\n".join(crashes)
