"""Cost rules, one module per op family. Importing this package registers every rule in it."""

from __future__ import annotations

import importlib
import pkgutil

from onnxcost.rules.registry import (
    Cost,
    NodeContext,
    TensorInfo,
    Unresolved,
    lookup,
    mac_cost,
    register,
    rule,
)

for _mod in pkgutil.iter_modules(__path__):
    if _mod.name != "registry":
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = [
    "Cost",
    "NodeContext",
    "TensorInfo",
    "Unresolved",
    "lookup",
    "mac_cost",
    "register",
    "rule",
]
