"""Per-node metrics for graph viewers: Netron's `netron:attachment` sidecar and Model Explorer's
per-node data JSON.

Netron (9.2.2+) reads a JSON file whose `signature` is "netron:attachment" and whose `metadata` and
`metrics` lists hold items {kind, target, name, value[, type]}. It matches an item of kind "node"
to every node whose name (up to its first newline) equals `target`, and an item of kind "value" to
the tensor of that name; kind "model" takes `target: ""`. Items whose target matches nothing are
dropped silently, so: a node is addressed by its name only when that name is non-empty, has no
newline and no other node (main graph or subgraph) has it; otherwise by its first output tensor
(tensor names are unique in a model). Inner nodes of If/Loop/Scan bodies carry their own names in
Netron, so they are addressed the same way.

Model Explorer's node data is {graph id: {results: {node id: {value, bgColor?}}, gradient: [...]}}.
Its ONNX adapter (model-explorer-onnx) uses the graph's name as graph id ("<main>" when empty) and
the node's name as node id (`<node_I>`, I the position in its graph, when unnamed). Subgraph ids
follow its subgraph naming pass: "{parent graph id}/{holding node id}/{attribute}".
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from onnxcost.report.records import NodeCost, Report, SubgraphNodeCost

SIGNATURE = "netron:attachment"

# Model Explorer colours: light to dark, by the gradient's stops 0 (min) .. 1 (max)
GRADIENT = [
    {"stop": 0, "bgColor": "#f7fbff"},
    {"stop": 0.5, "bgColor": "#fdae6b"},
    {"stop": 1, "bgColor": "#d7301f"},
]

AnyNode = NodeCost | SubgraphNodeCost


def _all_nodes(report: Report) -> list[AnyNode]:
    return [*report.nodes, *report.subgraph_nodes]


def _metrics_of(n: AnyNode, roofline: bool) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("macs", n.macs),
        ("flops", n.flops),
        ("memory_traffic_bytes", n.memory_traffic_bytes),
        ("output_bytes", n.bytes_written),
    ]
    if roofline and n.latency_s is not None:
        rows.append(("latency_us", round(n.latency_s * 1e6, 6)))
        rows.append(("bound", n.bound or "none"))
    return rows


def netron_attachment(report: Report) -> tuple[dict[str, Any], list[str]]:
    """The sidecar, and warnings for nodes that could not be addressed (none in practice)."""
    nodes = _all_nodes(report)
    names = Counter(n.onnx_name for n in nodes)
    roofline = report.totals.latency_s is not None
    metadata: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    lost: list[str] = []
    for n in nodes:
        if n.onnx_name and "\n" not in n.onnx_name and names[n.onnx_name] == 1:
            kind, target = "node", n.onnx_name
        else:
            out = next((o for o in n.outputs if o), "")
            if not out or "\n" in out:
                lost.append(n.name)
                continue
            kind, target = "value", out
        for name, value in _metrics_of(n, roofline):
            metrics.append({"kind": kind, "target": target, "name": name, "value": value})
        if isinstance(n, SubgraphNodeCost):
            metadata.append(
                {
                    "kind": kind,
                    "target": target,
                    "name": "onnxcost",
                    "value": "inside a subgraph: figures for one execution of it",
                }
            )
        if n.status != "counted":
            metadata.append(
                {"kind": kind, "target": target, "name": "onnxcost status", "value": n.status}
            )
    t = report.totals
    model_rows: list[tuple[str, Any]] = [
        ("macs", t.macs),
        ("flops", t.flops),
        ("parameters", t.params),
        ("memory_traffic_bytes", t.memory_traffic_bytes),
        ("peak_activation_bytes", t.activations_peak_bytes),
    ]
    if t.latency_s is not None:
        model_rows.append(("latency_us", round(t.latency_s * 1e6, 6)))
    for name, value in model_rows:
        metrics.append({"kind": "model", "target": "", "name": name, "value": value})
    if t.lower_bound:
        metadata.append(
            {
                "kind": "model",
                "target": "",
                "name": "onnxcost",
                "value": "lower bounds: some ops uncounted or sizes unresolved",
            }
        )
    warnings = []
    if lost:
        shown = ", ".join(lost[:5]) + (f", ... (+{len(lost) - 5})" if len(lost) > 5 else "")
        warnings.append(
            f"{len(lost)} node(s) have neither a unique name nor a named output and cannot be "
            f"addressed in Netron: {shown}"
        )
        metadata.append(
            {
                "kind": "model",
                "target": "",
                "name": "onnxcost unaddressed nodes",
                "value": len(lost),
            }
        )
    data = {"signature": SIGNATURE, "metadata": metadata, "metrics": metrics}
    return data, warnings


def _node_id(onnx_name: str, index: int) -> str:
    return onnx_name or f"<node_{index}>"


def model_explorer_graph_id(report: Report, n: AnyNode) -> str:
    gid = report.model.get("graph_name") or "<main>"
    for hop in getattr(n, "path", []):
        gid = f"{gid}/{_node_id(hop.node, hop.index)}/{hop.attr}"
    return gid


def model_explorer_data(report: Report) -> tuple[dict[str, Any], str, list[str]]:
    """Node data keyed by graph id; the metric shown (latency_us with a device, else flops);
    warnings for node ids that two nodes of one graph share (the viewer keeps one)."""
    roofline = report.totals.latency_s is not None
    metric = "latency_us" if roofline else "flops"
    graphs: dict[str, dict[str, Any]] = {}
    clashes: list[str] = []
    for n in _all_nodes(report):
        if getattr(n, "status", "") == "constant":
            continue  # folded at load time: the viewer shows it, but it does not run
        value = (n.latency_s or 0.0) * 1e6 if roofline else n.flops
        gid = model_explorer_graph_id(report, n)
        results = graphs.setdefault(gid, {"results": {}, "gradient": GRADIENT})["results"]
        nid = _node_id(n.onnx_name, n.index)
        if nid in results:
            clashes.append(f"{gid}: {nid}")
            continue
        results[nid] = {"value": round(value, 6) if roofline else value}
    warnings = []
    if clashes:
        warnings.append(
            f"{len(clashes)} node id(s) repeated within a graph; the first of each kept: "
            + ", ".join(clashes[:5])
        )
    return graphs, metric, warnings


__all__ = ["SIGNATURE", "model_explorer_data", "model_explorer_graph_id", "netron_attachment"]
