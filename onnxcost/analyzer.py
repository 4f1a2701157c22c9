"""The pipeline: load -> bind dims -> infer shapes -> DAG -> cost rules -> aggregates -> Report."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache

import onnx
from onnx import helper

from . import memory, rules
from .constants import ConstantValues
from .errors import ModelError, NodeError, OnnxCostError, UncountedError
from .graph import Graph, build
from .loader import load
from .params import Constants, classify
from .plugins import load_plugins
from .qdq import dequantize_source, quantized_nodes
from .quant_params import packed_weight_override
from .report import (
    DtypeSize,
    MemoryPlan,
    NodeCost,
    OpTypeCost,
    Report,
    SubgraphHop,
    SubgraphNodeCost,
    TensorSummary,
    Totals,
    Uncounted,
    UnresolvedItem,
)
from .rules.registry import Cost, NodeContext, TensorInfo, Unresolved
from .scopes import NAME_SCOPES_KEY, node_scope
from .shapes import bind, declared_dim_params, infer


def analyze(
    model: str | os.PathLike[str] | onnx.ModelProto,
    dims: dict[str, int] | None = None,
    input_shapes: dict[str, list[int]] | None = None,
    strict: bool = False,
) -> Report:
    """Analyse a model file (or ModelProto, left unmodified) without running it."""
    load_plugins()
    loaded = load(model)
    bound = bind(loaded.model, dims, input_shapes)
    inferred, infer_warnings, infos = infer(loaded.model)
    graph = inferred.graph
    g = loaded.graph or build(graph)
    consts = classify(g, graph, infos, packed_weight_override(inferred))
    opsets = {(imp.domain or ""): imp.version for imp in inferred.opset_import}
    coster = _Coster(opsets, infos, ConstantValues(graph), quantized_nodes(graph))

    nodes = [coster.node_cost(g, i, consts) for i in g.order]
    _attribute_params(nodes, g, consts)
    warnings = list(loaded.warnings) + infer_warnings
    if coster.bad_scopes:
        warnings.append(
            f"{coster.bad_scopes} node(s) with unreadable {NAME_SCOPES_KEY} metadata: "
            "module scope taken from the node name"
        )
    if not g.file_order:
        warnings.append("node order in the file is not topological: a topological order was used")
    if consts.unused:
        warnings.append(
            f"{len(consts.unused)} initializer(s) not used by any node: not counted as parameters"
        )
    unbound = [d for d in declared_dim_params(graph) if d not in bound]
    if unbound:
        warnings.append(
            "unbound dims: " + ", ".join(unbound) + " (bind with --dim NAME=VALUE); "
            "costs that depend on them are lower bounds"
        )

    plan, live = _memory_plan(g, consts, infos, nodes)
    report = Report(
        model=_model_meta(inferred, loaded),
        inputs=[_summary(infos, n) for n in g.graph_inputs],
        outputs=[_summary(infos, n) for n in g.graph_outputs],
        dims=bound,
        totals=Totals(),
        params_by_dtype=_params_by_dtype(consts),
        op_types=_op_types(nodes),
        nodes=nodes,
        memory=plan,
        uncounted=coster.uncounted_list(),
        unresolved=coster.unresolved,
        warnings=warnings,
        subgraph_nodes=list(coster.subgraph_records.values()),
    )
    _fill_totals(report, consts, live, g)
    if strict:
        _enforce_strict(report)
    return report


@dataclass
class _Coster:
    opsets: dict[str, int]
    infos: dict[str, TensorInfo]
    values: ConstantValues
    quantized: dict[str, str]
    unresolved: list[UnresolvedItem] = field(default_factory=list)
    # per inner node of every subgraph costed, keyed by (path, index): first costing wins
    subgraph_records: dict[tuple, SubgraphNodeCost] = field(default_factory=dict)
    bad_scopes: int = 0
    _uncounted: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))

    def uncounted_list(self) -> list[Uncounted]:
        return [
            Uncounted(op, dom, len(names), names)
            for (dom, op), names in sorted(self._uncounted.items(), key=lambda kv: kv[0][1])
        ]

    def info(self, name: str) -> TensorInfo | None:
        return self.infos.get(name) if name else None

    def node_cost(self, g: Graph, i: int, consts: Constants) -> NodeCost:
        node, name = g.nodes[i], g.names[i]
        rec = NodeCost(
            name=name,
            op_type=node.op_type,
            domain=node.domain,
            inputs=list(node.input),
            outputs=list(node.output),
            output_shapes=[_shape_list(self.info(o)) for o in node.output],
            index=i,
            onnx_name=node.name,
        )
        rec.scope, rec.scope_source, bad = node_scope(node)
        self.bad_scopes += bad
        entry = rules.lookup(node.domain, node.op_type)
        rec.kind = entry.kind if entry else "compute"
        rec.compute_dtype = self._data_dtype(node)
        if i in consts.folded:
            rec.status = "constant"  # computed once from constants at load time: no run cost
            return rec
        cost = self.rule_cost(node, name, rec)
        if cost is not None:
            rec.macs, rec.flops = cost.macs, cost.flops
            rec.notes = list(cost.notes)
            rec.compute_dtype = cost.compute_dtype or self.quantized.get(name) or rec.compute_dtype
            if cost.lower_bound and rec.status == "counted":
                # the rule could count only part of the work (e.g. a Loop's unknown trip count)
                rec.status = "unresolved"
                reason = "; ".join(cost.notes) or "only partly counted"
                self.unresolved.append(UnresolvedItem(next(iter(node.output), name), name, reason))
        rec.unit = "matrix" if rec.macs > 0 else "vector"
        if rec.kind != "view":
            reads = (n for n in node.input if n)
            if name in self.quantized:  # a QDQ node reads the quantized tensors, not their floats
                reads = (dequantize_source(n, g.producer_node) or n for n in reads)
            rec.bytes_read = self._bytes(dict.fromkeys(reads), name, rec)
            rec.bytes_written = self._bytes(dict.fromkeys(n for n in node.output if n), name, rec)
        return rec

    def rule_cost(
        self,
        node: onnx.NodeProto,
        name: str,
        rec: NodeCost | None,
        hop: tuple[SubgraphHop, ...] = (),
        index: int | None = None,
    ) -> Cost | None:
        """The node's Cost, or None when it has no rule (recorded as uncounted).

        `hop` is the path down to the node's graph and `index` its position there, when it sits in
        a subgraph: the subgraphs it holds then record their inner nodes under the right path.
        """
        entry = rules.lookup(node.domain, node.op_type)
        if entry is None:
            self._uncounted[(node.domain, node.op_type)].append(name)
            if rec is not None:
                rec.status = "uncounted"
            return None
        opset = self.opsets.get(node.domain if node.domain != "ai.onnx" else "", 0)
        bad = _attribute_type_error(node, opset)
        if bad:
            raise NodeError(f"node {name!r} ({node.op_type}): {bad}")
        try:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        except Exception as e:
            raise NodeError(f"node {name!r} ({node.op_type}): unreadable attribute: {e}") from None
        ctx = NodeContext(
            op_type=node.op_type,
            domain=node.domain,
            name=name,
            inputs=[self.info(n) if n else None for n in node.input],
            outputs=[self.info(n) if n else None for n in node.output],
            attrs=attrs,
            opset=opset,
            values=self.values,
            subgraph=lambda attr: self.subgraph_cost(
                attrs.get(attr), name, (*hop, SubgraphHop(node.name, _position(index, rec), attr))
            ),
        )
        try:
            return entry.fn(ctx)
        except Unresolved as u:
            self.unresolved.append(UnresolvedItem(u.tensor, name, u.reason))
            if rec is not None:
                rec.status = "unresolved"
            return Cost(lower_bound=True)
        except NodeError:
            raise  # from a subgraph: it names the inner node already ("outer/inner")
        except OnnxCostError as e:
            raise NodeError(f"node {name!r} ({node.op_type}): {e}") from None
        except RecursionError:
            raise ModelError(
                f"node {name!r} ({node.op_type}): subgraphs nested too deeply"
            ) from None
        except Exception as e:  # a rule must never turn a hostile attribute into a traceback
            raise NodeError(f"node {name!r} ({node.op_type}): cannot be costed: {e!r}") from None

    def subgraph_cost(self, sub: object, outer: str, path: tuple[SubgraphHop, ...] = ()) -> Cost:
        """Sum of the costs of a subgraph's nodes (If branch, Loop/Scan body).

        Each inner node is also recorded once (per execution) for the per-node views.
        """
        if not isinstance(sub, onnx.GraphProto):
            return Cost()
        total = Cost()
        for k, node in enumerate(sub.node):
            name = f"{outer}/{node.name or f'{node.op_type}_{k}'}"
            n_unresolved = len(self.unresolved)
            cost = self.rule_cost(node, name, None, path, k)
            total = total + (cost if cost is not None else Cost(lower_bound=True))
            key = (tuple((h.node, h.index, h.attr) for h in path), k)
            if key not in self.subgraph_records:
                self.subgraph_records[key] = self._inner_record(
                    node, name, k, path, cost, len(self.unresolved) > n_unresolved
                )
        return total

    def _inner_record(
        self,
        node: onnx.NodeProto,
        name: str,
        k: int,
        path: tuple[SubgraphHop, ...],
        cost: Cost | None,
        unresolved: bool,
    ) -> SubgraphNodeCost:
        rec = SubgraphNodeCost(
            name=name,
            onnx_name=node.name,
            index=k,
            op_type=node.op_type,
            domain=node.domain,
            path=list(path),
            outputs=list(node.output),
            compute_dtype=self._data_dtype(node),
        )
        if cost is None:
            rec.status = "uncounted"
            return rec
        rec.macs, rec.flops = cost.macs, cost.flops
        rec.compute_dtype = cost.compute_dtype or rec.compute_dtype
        rec.unit = "matrix" if rec.macs > 0 else "vector"
        if unresolved or cost.lower_bound:
            rec.status = "unresolved"
        entry = rules.lookup(node.domain, node.op_type)
        if entry is not None and entry.kind == "view":
            return rec
        sizes = []
        for names in (dict.fromkeys(n for n in node.input if n), dict.fromkeys(node.output)):
            total = 0
            for n in names:
                t = self.info(n)
                if t is None or not t.static or t.elem_type == 0:
                    rec.status = "unresolved"  # inner sizes: listed here, not in the totals
                    continue
                total += t.nbytes()
            sizes.append(total)
        rec.bytes_read, rec.bytes_written = sizes
        return rec

    def _data_dtype(self, node: onnx.NodeProto) -> str:
        for n in (*node.input, *node.output):
            t = self.info(n)
            if t is not None and t.elem_type:
                return t.dtype
        return "undefined"

    def _bytes(self, names: dict[str, None], node: str, rec: NodeCost) -> int:
        total = 0
        for n in names:
            t = self.info(n)
            if t is None or not t.static or t.elem_type == 0:
                if rec.status == "counted":
                    rec.status = "unresolved"
                self.unresolved.append(UnresolvedItem(n, node, "size not static"))
                continue
            total += t.nbytes()
        return total


def _position(index: int | None, rec: NodeCost | None) -> int:
    return index if index is not None else (rec.index if rec is not None else 0)


@lru_cache(maxsize=4096)
def _schema_attr_types(domain: str, op_type: str, opset: int) -> dict[str, int] | None:
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except Exception:  # unknown op or domain (contrib, custom): nothing to check against
        return None
    return {k: int(a.type) for k, a in schema.attributes.items()}


def _attribute_type_error(node: onnx.NodeProto, opset: int) -> str | None:
    """An attribute whose type differs from the op's schema (ints where a tensor came, ...).

    Rules can then trust attribute types; a hostile file gets an error naming the attribute.
    """
    types = _schema_attr_types(node.domain if node.domain != "ai.onnx" else "", node.op_type, opset)
    if not types:
        return None
    for a in node.attribute:
        want = types.get(a.name)
        if want is not None and a.type != want:
            have = (
                onnx.AttributeProto.AttributeType.Name(a.type)
                if a.type in _ATTR_TYPE_NAMES
                else a.type
            )
            return (
                f"attribute {a.name!r} has type {have}, the spec says "
                f"{onnx.AttributeProto.AttributeType.Name(want)}"
            )
    return None


_ATTR_TYPE_NAMES = set(onnx.AttributeProto.AttributeType.values())


def _shape_list(t: TensorInfo | None) -> list | None:
    return None if t is None or t.shape is None else list(t.shape)


def _summary(infos: dict[str, TensorInfo], name: str) -> TensorSummary:
    t = infos.get(name)
    return TensorSummary(name, t.dtype if t else "undefined", _shape_list(t))


def _memory_plan(
    g: Graph, consts: Constants, infos: dict[str, TensorInfo], nodes: list[NodeCost]
) -> tuple[MemoryPlan, memory.Liveness]:
    steps: list[memory.Step] = []
    names: list[str] = []
    for i, rec in zip(g.order, nodes, strict=True):
        if rec.status == "constant":
            continue
        ins = [t for t in g.inputs[i] if t not in consts.constant]
        outs = list(g.nodes[i].output)
        if rec.kind == "view":  # a view's extra outputs (Dropout's mask) exist only if read
            outs = outs[:1] + [o for o in outs[1:] if o in g.consumers or o in g.graph_outputs]
        steps.append(memory.Step(rec.name, rec.kind, ins, outs))
        names.append(rec.name)
    inputs = [t for t in g.graph_inputs if t not in consts.constant]
    outputs = [t for t in g.graph_outputs if t not in consts.constant]
    file_order = list(range(len(steps)))
    live = memory.simulate(file_order, steps, infos, inputs, outputs)
    position = {rec.name: k for k, rec in enumerate(nodes)}
    plan = MemoryPlan(
        schedule="file",
        peak_step=live.peak_position,
        peak_node=names[live.peak_position] if live.peak_position is not None and names else None,
        peak_elements=live.peak_elements,
        peak_bytes=live.peak_bytes,
        best_peak_elements=live.peak_elements,
        best_peak_bytes=live.peak_bytes,
        best_peak_node=None,
        best_schedule="file",
        step_nodes=[position[n] for n in names],
        live_bytes=live.live_bytes,
    )
    plan.best_peak_node = plan.peak_node
    if steps:
        order = memory.greedy_order(steps, infos, outputs)
        best = memory.simulate(order, steps, infos, inputs, outputs)
        if best.peak_bytes < live.peak_bytes:
            plan.best_peak_elements = best.peak_elements
            plan.best_peak_bytes = best.peak_bytes
            pos = best.peak_position
            plan.best_peak_node = names[order[pos]] if pos is not None else None
            plan.best_schedule = "greedy"
            plan.best_order = list(order)
            plan.best_live_bytes = best.live_bytes
            plan.best_peak_step = pos
    return plan, live


def _attribute_params(nodes: list[NodeCost], g: Graph, consts: Constants) -> None:
    """Give each weight to the first node (in schedule order) that reads it, so that per-node and
    per-module parameter counts sum to the total. A weight no node reads (a constant that is
    only a graph output) goes to the node that makes it, when one does."""
    done: set[str] = set()
    by_index = {rec.index: rec for rec in nodes}

    def give(rec: NodeCost, t: str) -> None:
        w = consts.params[t]
        rec.params += w.elements or 0
        rec.weight_bytes += w.nbytes
        done.add(t)

    for rec in nodes:
        for t in g.inputs[rec.index]:
            if t in consts.params and t not in done:
                give(rec, t)
    for t in consts.params:
        p = g.producer.get(t)
        if t not in done and p is not None and p in by_index:
            give(by_index[p], t)


def _params_by_dtype(consts: Constants) -> list[DtypeSize]:
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for w in consts.params.values():
        by[w.dtype][0] += w.elements or 0
        by[w.dtype][1] += w.nbytes
    return [DtypeSize(k, v[0], v[1]) for k, v in sorted(by.items(), key=lambda kv: -kv[1][1])]


def _op_types(nodes: list[NodeCost]) -> list[OpTypeCost]:
    agg: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for n in nodes:
        if n.status == "constant":
            continue
        a = agg[(n.domain, n.op_type)]
        a[0] += 1
        a[1] += n.macs
        a[2] += n.flops
        a[3] += n.memory_traffic_bytes
    total_macs = sum(a[1] for a in agg.values()) or 1
    total_flops = sum(a[2] for a in agg.values()) or 1
    rows = [
        OpTypeCost(op, dom, a[0], a[1], a[2], a[3], a[1] / total_macs, a[2] / total_flops)
        for (dom, op), a in agg.items()
    ]
    rows.sort(key=lambda r: (-r.flops, -r.memory_traffic_bytes, r.op_type))
    return rows


def _fill_totals(report: Report, consts: Constants, live: memory.Liveness, g: Graph) -> None:
    t = report.totals
    for n in report.nodes:
        t.macs += n.macs
        t.flops += n.flops
        t.memory_traffic_bytes += n.memory_traffic_bytes
    t.params = sum(w.elements or 0 for w in consts.params.values())
    t.weight_bytes = sum(w.nbytes for w in consts.params.values())
    t.constants = sum(w.elements or 0 for w in consts.helpers.values())
    t.activations_total, t.activations_total_bytes = (
        live.total_elements,
        live.total_bytes,
    )
    t.activations_peak = report.memory.peak_elements
    t.activations_peak_bytes = report.memory.peak_bytes
    t.peak_memory_bytes = t.weight_bytes + t.activations_peak_bytes
    t.nodes = len(report.nodes)
    t.uncounted_nodes = sum(u.count for u in report.uncounted)
    t.unresolved_nodes = len({u.node for u in report.unresolved})
    unknown_params = [w.name for w in consts.params.values() if w.elements is None]
    for name in unknown_params:
        report.unresolved.append(UnresolvedItem(name, "(weight)", "weight shape not static"))
    listed = {u.tensor for u in report.unresolved}  # a set: a list scan is quadratic
    for name in live.unknown:
        producer = g.producer.get(name)
        node = g.names[producer] if producer is not None else "(graph input)"
        if name not in listed:
            listed.add(name)
            report.unresolved.append(UnresolvedItem(name, node, "activation size not static"))
    t.lower_bound = bool(t.uncounted_nodes or report.unresolved)


def _enforce_strict(report: Report) -> None:
    problems = []
    if report.uncounted:
        ops = ", ".join(f"{u.op_type} x{u.count}" for u in report.uncounted)
        problems.append(f"uncounted ops: {ops}")
    if report.unresolved:
        first = report.unresolved[0]
        problems.append(
            f"{len(report.unresolved)} unresolved size(s), first: {first.tensor!r} at {first.node!r} "
            f"({first.reason})"
        )
    problems.extend(report.warnings)
    if problems:
        raise UncountedError("--strict: " + "; ".join(problems))


def _model_meta(model: onnx.ModelProto, loaded) -> dict:
    return {
        "path": str(loaded.path) if loaded.path else None,
        "file_bytes": loaded.file_bytes,
        "graph_name": model.graph.name,
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "ir_version": model.ir_version,
        "opsets": {(imp.domain or "ai.onnx"): imp.version for imp in model.opset_import},
        "external_data": list(loaded.external_data),
        "missing_external_data": list(loaded.missing_external),
    }


__all__ = ["analyze"]
