"""The module tree: every figure of the report aggregated over the nodes' module scopes.

A node belongs to the module path of its scope (scopes.py); a node without one goes under a
pseudo-module named after its op type, `<MatMul>`. Each module's figures are inclusive: the sum
over every node under it. So the top-level modules sum exactly to the totals, and each module is
the sum of its own nodes and its children. Parameters follow the per-node attribution of the
analyzer (each weight under the first node that reads it), so they sum to the total too.
"""

from __future__ import annotations

from onnxcost.report.records import ModuleCost, NodeCost, Report

UNSCOPED_WEIGHTS = "<graph>"  # weights no node reads or makes (a constant graph output)


def module_path(n: NodeCost, depth: int | None = None) -> list[str]:
    path = list(n.scope) if n.scope else [f"<{n.op_type}>"]
    return path[:depth] if depth else path


def aggregate(report: Report, depth: int | None = None) -> list[ModuleCost]:
    """Modules down to `depth` levels (all when None), in a depth-first order: each parent
    first, children by decreasing FLOPs (latency with a device), then name."""
    t = report.totals
    roofline = t.latency_s is not None
    mods: dict[str, ModuleCost] = {}
    children: dict[str | None, list[str]] = {}

    def module(path: list[str]) -> ModuleCost:
        name = "/".join(path)
        m = mods.get(name)
        if m is None:
            parent = "/".join(path[:-1]) if len(path) > 1 else None
            if parent is not None:
                module(path[:-1])
            m = mods[name] = ModuleCost(name, len(path), parent)
            if roofline:
                m.latency_s = 0.0
            children.setdefault(parent, []).append(name)
        return m

    for n in report.nodes:
        path = module_path(n, depth)
        for k in range(1, len(path) + 1):
            m = module(path[:k])
            m.nodes += 1
            m.macs += n.macs
            m.flops += n.flops
            m.params += n.params
            m.weight_bytes += n.weight_bytes
            m.memory_traffic_bytes += n.memory_traffic_bytes
            if roofline:
                m.latency_s = (m.latency_s or 0.0) + (n.latency_s or 0.0)
    left_params = t.params - sum(n.params for n in report.nodes)
    left_bytes = t.weight_bytes - sum(n.weight_bytes for n in report.nodes)
    if left_params or left_bytes:
        m = module([UNSCOPED_WEIGHTS])
        m.params, m.weight_bytes = left_params, left_bytes
    for m in mods.values():
        m.share_flops = m.flops / t.flops if t.flops else 0.0
        if roofline:
            m.share_latency = (m.latency_s or 0.0) / t.latency_s if t.latency_s else 0.0

    def key(name: str) -> tuple:
        m = mods[name]
        return (-(m.latency_s or 0.0) if roofline else 0.0, -m.flops, -m.memory_traffic_bytes, name)

    out: list[ModuleCost] = []
    stack = sorted(children.get(None, []), key=key, reverse=True)
    while stack:
        name = stack.pop()
        out.append(mods[name])
        stack.extend(sorted(children.get(name, []), key=key, reverse=True))
    return out


def max_depth(report: Report) -> int:
    return max((len(module_path(n)) for n in report.nodes), default=0)


__all__ = ["UNSCOPED_WEIGHTS", "aggregate", "max_depth", "module_path"]
