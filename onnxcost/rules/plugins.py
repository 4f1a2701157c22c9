"""Third-party cost rules, found through the "onnxcost.rules" entry-point group.

A plugin package declares, in its pyproject.toml:

    [project.entry-points."onnxcost.rules"]
    fancy = "fancy_onnxcost.rules"            # a module: importing it registers its rules
    # or  fancy = "fancy_onnxcost:register"   # a callable, called with no arguments

and registers rules with the public decorator:

    import onnxcost

    @onnxcost.rule("com.example", "FancyOp")
    def fancy(ctx: onnxcost.NodeContext) -> onnxcost.Cost:
        return onnxcost.Cost(flops=3 * ctx.out_numel())
"""

from __future__ import annotations

import importlib.metadata
from types import ModuleType

from onnxcost.errors import OnnxCostError

GROUP = "onnxcost.rules"

_loaded: dict[tuple[str, str], str] = {}  # (name, value) -> name: each plugin runs once


def load_plugins() -> list[str]:
    """Load every entry point of the group (once per process); returns the loaded plugin names.

    A plugin that fails to import or to run raises OnnxCostError naming it."""
    for ep in importlib.metadata.entry_points(group=GROUP):
        key = (ep.name, ep.value)
        if key in _loaded:
            continue
        try:
            obj = ep.load()
            if callable(obj) and not isinstance(obj, ModuleType):
                obj()
        except Exception as e:
            raise OnnxCostError(
                f"plugin {ep.name!r} ({ep.value}) in entry-point group {GROUP!r} failed: "
                f"{type(e).__name__}: {e}"
            ) from e
        _loaded[key] = ep.name
    return sorted(set(_loaded.values()))
