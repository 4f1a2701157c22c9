"""The node DAG, its validation, and the schedule to walk it in.

Plain adjacency lists rather than a graph library: a 250,000-node chain (a 5 MB file) must build
in a second and a few hundred bytes per node."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import onnx

from onnxcost.errors import ModelError
from onnxcost.model.scopes import scope_texts


@dataclass
class Graph:
    """The validated node DAG of one graph, read from its protos."""

    # the proto's own node list: each node read from it as needed. A list of them would keep a
    # wrapper per node alive, and protobuf keeps more beside each (250 bytes a node)
    nodes: Sequence[onnx.NodeProto]
    names: list[str]  # unique display name per node
    inputs: list[list[str]]  # per node: explicit inputs (non-empty) + outer names its subgraphs use
    succs: list[list[int]]  # node index -> the nodes that read its outputs (see indeg)
    order: list[int]  # schedule: file order when it is topological
    producer: dict[str, int]
    consumers: dict[str, list[int]]
    graph_inputs: list[str]  # non-initializer inputs
    graph_outputs: list[str]
    initializers: set[str]
    file_order: bool  # False when the file's order was not topological and we sorted
    # Per node, read once from its proto (each read of a proto field makes new objects): name,
    # op type, domain and outputs as written, and the graphs its attributes hold (If, Loop, Scan).
    onnx_names: list[str]
    op_types: list[str]
    domains: list[str]
    outputs: list[list[str]]
    subgraphs: dict[int, list[onnx.GraphProto]]
    node_inputs: list[list[str]]  # as written: '' where an optional input is left out
    # the nodes that have attributes: their attributes as stored (nodes alike in op, attributes
    # and types are worked out once: this is the attributes' part of that key), None for a node
    # whose attributes hold a graph or a tensor (never taken for another)
    attr_keys: dict[int, tuple[bytes, ...] | None]
    scope_texts: dict[int, list[str]]  # the nodes with module-scope metadata: its texts
    # per node, its entries in `succs` (a node reading two outputs of one producer, not one after
    # the other, is listed twice there)
    indeg: list[int]

    def places(self) -> dict[int, int] | None:
        """Each node's position in `order`; None when that is its index (the file's order)."""
        return None if self.file_order else {i: k for k, i in enumerate(self.order)}

    def producer_node(self, name: str) -> onnx.NodeProto | None:
        i = self.producer.get(name)
        return None if i is None else self.nodes[i]


@dataclass
class NodeTable:
    """The fields of a graph's nodes that the analysis reads."""

    nodes: Sequence[onnx.NodeProto]
    onnx_names: list[str]
    op_types: list[str]
    domains: list[str]
    inputs: list[list[str]]
    outputs: list[list[str]]
    # the nodes that have attributes: them as stored (None: one holds a graph or a tensor)
    attr_keys: dict[int, tuple[bytes, ...] | None]
    subgraphs: dict[int, list[onnx.GraphProto]]  # node -> the graphs its attributes hold
    tensors: list[onnx.TensorProto]  # the tensors attributes hold (Constant values, ...)
    # the nodes with module-scope metadata (scopes.py): its texts, as written
    scope_texts: dict[int, list[str]]


def read_nodes(graph: onnx.GraphProto) -> NodeTable:
    t = NodeTable(graph.node, [], [], [], [], [], {}, {}, [], {})
    one = {}.setdefault  # one str per op type and domain, not one per node
    names, op_types, domains = t.onnx_names.append, t.op_types.append, t.domains.append
    inputs, outputs = t.inputs.append, t.outputs.append
    for i, node in enumerate(t.nodes):
        op_type, domain = node.op_type, node.domain
        names(node.name)
        op_types(one(op_type, op_type))
        domains(one(domain, domain))
        inputs(node.input[:])  # a slice: the fastest way to a list
        outputs(node.output[:])
        if node.metadata_props:
            texts = scope_texts(node)
            if texts:
                t.scope_texts[i] = texts
        if node.attribute:
            subs: list[onnx.GraphProto] = []
            # None: an attribute holds a graph or a tensor, whose bytes may be a weight's (its
            # payload is not dropped yet): no key, such a node is never taken for another
            stored: list[bytes] | None = []
            for a in node.attribute:
                kind = a.type
                if kind == _GRAPH:
                    subs.append(a.g)
                elif kind == _GRAPHS:
                    subs.extend(a.graphs)
                elif kind == _TENSOR:
                    t.tensors.append(a.t)
                elif kind == _SPARSE_TENSOR:
                    t.tensors += (a.sparse_tensor.values, a.sparse_tensor.indices)
                elif kind == _TENSORS:
                    t.tensors.extend(a.tensors)
                elif stored is not None:
                    stored.append(a.SerializeToString())
                    continue
                stored = None
            if subs:
                t.subgraphs[i] = subs
            t.attr_keys[i] = None if stored is None else tuple(stored)
    return t


_A = onnx.AttributeProto
_GRAPH, _GRAPHS, _TENSOR, _SPARSE_TENSOR, _TENSORS = (
    _A.GRAPH,
    _A.GRAPHS,
    _A.TENSOR,
    _A.SPARSE_TENSOR,
    _A.TENSORS,
)


def subgraph_attrs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    out: list[onnx.GraphProto] = []
    for a in node.attribute:
        if a.type == _GRAPH:
            out.append(a.g)
        elif a.type == _GRAPHS:
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


def build(graph: onnx.GraphProto, table: NodeTable | None = None) -> Graph:
    """Build and validate the DAG of the top-level graph (`table`: its nodes, if read already)."""
    t = table or read_nodes(graph)
    inits = {i.name for i in graph.initializer} | {s.values.name for s in graph.sparse_initializer}
    graph_inputs = [vi.name for vi in graph.input if vi.name not in inits]
    available = set(inits) | {vi.name for vi in graph.input}
    names = _display_names(t.onnx_names, t.op_types)

    producer = {out: i for i, outs in enumerate(t.outputs) for out in outs if out}
    made = sum(map(len, t.outputs)) - sum(outs.count("") for outs in t.outputs)
    if len(producer) != made or not available.isdisjoint(producer):
        _check_producers(t.outputs, available, names)  # names the first

    inputs: list[list[str]] = []
    consumers: dict[str, list[int]] = {}
    count = len(t.op_types)
    succs: list[list[int]] = [[] for _ in range(count)]  # not over t.nodes: a wrapper per node
    indeg = [0] * count
    file_order = True
    made_by, readers_of, subgraphs = producer.get, consumers.get, t.subgraphs
    for i, ins in enumerate(t.inputs):
        names_in = ins if all(ins) else [n for n in ins if n]  # the same list when it can be
        if subgraphs and i in subgraphs:
            names_in = list(names_in)
            for sub in subgraphs[i]:
                names_in.extend(sorted(free_names(sub) - set(names_in)))
        last = -1
        for name in names_in:
            p = made_by(name)
            if p is not None:
                if p != last:  # duplicates are harmless, fewer is cheaper
                    succs[p].append(i)
                    indeg[i] += 1
                    last = p
                if p >= i:  # read before made, or by itself: not the file's order (or a cycle)
                    file_order = False
            elif name not in available:
                raise ModelError(
                    f"node {names[i]!r} ({t.op_types[i]}) consumes tensor {name!r} that nothing "
                    "produces"
                )
            readers = readers_of(name)
            if readers is None:
                consumers[name] = [i]
            elif readers[-1] != i:  # once per node
                readers.append(i)
        inputs.append(names_in)

    for out in graph.output:
        if out.name not in producer and out.name not in available:
            raise ModelError(f"graph output {out.name!r} is produced by no node")

    order = (
        list(range(count))
        if file_order
        else _topological(
            succs, indeg, names, lambda u: [producer[n] for n in inputs[u] if n in producer]
        )
    )
    return Graph(
        nodes=t.nodes,
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
        onnx_names=t.onnx_names,
        op_types=t.op_types,
        domains=t.domains,
        outputs=t.outputs,
        subgraphs=t.subgraphs,
        node_inputs=t.inputs,
        attr_keys=t.attr_keys,
        scope_texts=t.scope_texts,
        indeg=indeg,
    )


def _check_producers(outputs: list[list[str]], available: set[str], names: list[str]) -> None:
    """Raise on the first tensor produced twice, or produced and also a graph input."""
    producer: dict[str, int] = {}
    for i, outs in enumerate(outputs):
        for out in outs:
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


def _topological(
    succs: list[list[int]], indeg: list[int], names: list[str], preds: Callable[[int], list[int]]
) -> list[int]:
    """Kahn's algorithm, smallest index first (file order where the file allows it)."""
    indeg = list(indeg)
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
            u = next(p for p in preds(u) if indeg[p] > 0)
        raise ModelError(f"graph has a cycle through node {names[u]!r}")
    return order


def _display_names(onnx_names: list[str], op_types: list[str]) -> list[str]:
    bases = [n or f"{op}_{i}" for i, (n, op) in enumerate(zip(onnx_names, op_types, strict=True))]
    if len(set(bases)) == len(bases):  # no two alike (nearly every file)
        return bases
    names: list[str] = []
    used: set[str] = set()
    for base in bases:
        name, k = base, 1
        while name in used:
            k += 1
            name = f"{base}#{k}"
        used.add(name)
        names.append(name)
    return names
