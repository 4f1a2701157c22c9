"""The node DAG, its validation, and the schedule to walk it in.

Plain adjacency lists rather than a graph library: a 250,000-node chain (a 5 MB file) must build
in a second and a few hundred bytes per node."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import onnx

from onnxcost.errors import ModelError


@dataclass
class Graph:
    nodes: list[onnx.NodeProto]
    names: list[str]  # unique display name per node
    inputs: list[list[str]]  # per node: explicit inputs (non-empty) + outer names its subgraphs use
    succs: list[list[int]]  # node index -> the nodes that read its outputs (one entry each)
    order: list[int]  # schedule: file order when it is topological
    producer: dict[str, int]
    consumers: dict[str, list[int]]
    graph_inputs: list[str]  # non-initializer inputs
    graph_outputs: list[str]
    initializers: set[str]
    file_order: bool  # False when the file's order was not topological and we sorted

    def producer_node(self, name: str) -> onnx.NodeProto | None:
        i = self.producer.get(name)
        return None if i is None else self.nodes[i]


def subgraph_attrs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    out: list[onnx.GraphProto] = []
    for a in node.attribute:
        if a.type == onnx.AttributeProto.GRAPH:
            out.append(a.g)
        elif a.type == onnx.AttributeProto.GRAPHS:
            out.extend(a.graphs)
    return out


def free_names(graph: onnx.GraphProto) -> set[str]:
    """Names a (sub)graph reads from its enclosing scopes. Iterative: deep nesting is fine."""
    frames: list[tuple[onnx.GraphProto, int]] = [(graph, -1)]
    k = 0
    while k < len(frames):  # breadth-first: every child frame comes after its parent
        for node in frames[k][0].node:
            frames.extend((sub, k) for sub in subgraph_attrs(node))
        k += 1
    used: list[set[str]] = []
    defined: list[set[str]] = []
    for g, _ in frames:
        d = {i.name for i in g.input} | {i.name for i in g.initializer}
        d |= {s.values.name for s in g.sparse_initializer}
        u = {o.name for o in g.output}
        for node in g.node:
            u.update(n for n in node.input if n)
            d.update(n for n in node.output if n)
        used.append(u)
        defined.append(d)
    for idx in range(len(frames) - 1, 0, -1):
        used[frames[idx][1]] |= used[idx] - defined[idx]
    return used[0] - defined[0]


def build(graph: onnx.GraphProto) -> Graph:
    """Build and validate the DAG of the top-level graph."""
    inits = {i.name for i in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
    graph_inputs = [vi.name for vi in graph.input if vi.name not in inits]
    available = set(inits) | {vi.name for vi in graph.input}
    nodes = list(graph.node)
    names = _display_names(nodes)

    producer: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for out in node.output:
            if not out:
                continue
            if out in producer:
                raise ModelError(
                    f"tensor {out!r} is produced twice (by node {names[producer[out]]!r} "
                    f"and node {names[i]!r})"
                )
            if out in available:
                raise ModelError(
                    f"tensor {out!r} produced by node {names[i]!r} is also a graph input or initializer"
                )
            producer[out] = i

    inputs: list[list[str]] = []
    consumers: dict[str, list[int]] = {}
    succs: list[list[int]] = [[] for _ in nodes]
    preds: list[list[int]] = [[] for _ in nodes]
    file_order = True
    for i, node in enumerate(nodes):
        names_in = [n for n in node.input if n]
        for sub in subgraph_attrs(node):
            names_in.extend(sorted(free_names(sub) - set(names_in)))
        seen: set[str] = set()
        for name in names_in:
            if name in producer:
                p = producer[name]
                if not preds[i] or preds[i][-1] != p:  # duplicates are harmless, fewer is cheaper
                    succs[p].append(i)
                    preds[i].append(p)
                file_order = file_order and p < i
            elif name not in available:
                raise ModelError(
                    f"node {names[i]!r} ({node.op_type}) consumes tensor {name!r} that nothing produces"
                )
            if name not in seen:
                consumers.setdefault(name, []).append(i)
                seen.add(name)
        inputs.append(names_in)

    for out in graph.output:
        if out.name not in producer and out.name not in available:
            raise ModelError(f"graph output {out.name!r} is produced by no node")

    order = list(range(len(nodes))) if file_order else _topological(succs, preds, names)
    return Graph(
        nodes=nodes,
        names=names,
        inputs=inputs,
        succs=succs,
        order=order,
        producer=producer,
        consumers=consumers,
        graph_inputs=graph_inputs,
        graph_outputs=[o.name for o in graph.output],
        initializers=inits,
        file_order=file_order,
    )


def _topological(succs: list[list[int]], preds: list[list[int]], names: list[str]) -> list[int]:
    """Kahn's algorithm, smallest index first (file order where the file allows it)."""
    indeg = [len(p) for p in preds]
    ready = [i for i, d in enumerate(indeg) if d == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        u = heapq.heappop(ready)
        order.append(u)
        for v in succs[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                heapq.heappush(ready, v)
    if len(order) < len(succs):
        # every node left has a predecessor left: walking back from one must reach a cycle
        seen: set[int] = set()
        u = next(i for i, d in enumerate(indeg) if d > 0)
        while u not in seen:
            seen.add(u)
            u = next(p for p in preds[u] if indeg[p] > 0)
        raise ModelError(f"graph has a cycle through node {names[u]!r}")
    return order


def _display_names(nodes: list[onnx.NodeProto]) -> list[str]:
    names: list[str] = []
    used: set[str] = set()
    for i, node in enumerate(nodes):
        base = node.name or f"{node.op_type}_{i}"
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}#{k}"
        used.add(name)
        names.append(name)
    return names
