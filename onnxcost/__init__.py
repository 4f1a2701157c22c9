"""onnxcost: what an ONNX model costs, without running it."""

from __future__ import annotations

__version__ = "0.1.0"

from .analyzer import analyze
from .report import Report
from .rules.registry import Cost, NodeContext, rule

__all__ = ["Cost", "NodeContext", "Report", "__version__", "analyze", "rule"]
