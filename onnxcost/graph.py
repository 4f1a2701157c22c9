"""The node DAG (networkx), its validation, and the schedule to walk it in."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import onnx

from .errors import ModelError


@dataclass
class Graph:
    nodes: list[onnx.NodeProto]
    names: list[str]  # unique display name per node
    inputs: list[list[str]]  # per node: explicit inputs (non-empty) + outer names its subgraphs use
    dag: nx.DiGraph  # node index -> node index, one edge per tensor dependency
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
    dag = nx.DiGraph()
    dag.add_nodes_from(range(len(nodes)))
    for i, node in enumerate(nodes):
        names_in = [n for n in node.input if n]
        for sub in subgraph_attrs(node):
            names_in.extend(sorted(free_names(sub) - set(names_in)))
        seen: set[str] = set()
        for name in names_in:
            if name in producer:
                dag.add_edge(producer[name], i)
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

    order = list(range(len(nodes)))
    file_order = all(u < v for u, v in dag.edges)
    if not file_order:
        try:
            cycle = nx.find_cycle(dag)
        except nx.NetworkXNoCycle:
            cycle = None
        if cycle:
            raise ModelError(f"graph has a cycle through node {names[cycle[0][0]]!r}")
        order = list(nx.lexicographical_topological_sort(dag))
    return Graph(
        nodes=nodes,
        names=names,
        inputs=inputs,
        dag=dag,
        order=order,
        producer=producer,
        consumers=consumers,
        graph_inputs=graph_inputs,
        graph_outputs=[o.name for o in graph.output],
        initializers=inits,
        file_order=file_order,
    )


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
