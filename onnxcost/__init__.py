"""onnxcost: what an ONNX model costs, without running it.

The package's folders are the pipeline's stages: `model/` (safe loading, the in-memory model,
shapes), `rules/` (one cost rule per op family), `analysis/` (costs, parameters, memory plan,
roofline, scaling), `report/` (records, rendering, charts), `gate/` (check, budgets, diff, CI
formats), `hardware/` (device database, calibration, measurement) and `cli/`.

The public API is imported on first use, so that `onnxcost --help` starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = {
    "analyze": ("onnxcost.analysis.analyzer", "analyze"),
    "Report": ("onnxcost.report.records", "Report"),
    "Cost": ("onnxcost.rules.registry", "Cost"),
    "NodeContext": ("onnxcost.rules.registry", "NodeContext"),
    "rule": ("onnxcost.rules.registry", "rule"),
}

if TYPE_CHECKING:
    from onnxcost.analysis.analyzer import analyze
    from onnxcost.report.records import Report
    from onnxcost.rules.registry import Cost, NodeContext, rule


def __getattr__(name: str) -> Any:
    if name in _API:
        import importlib

        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'onnxcost' has no attribute {name!r}")


__all__ = ["Cost", "NodeContext", "Report", "__version__", "analyze", "rule"]
