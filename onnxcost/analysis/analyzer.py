"""The pipeline: load -> bind dims -> infer shapes -> DAG -> cost rules -> aggregates -> Report."""

from __future__ import annotations

import gc
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import helper

from onnxcost import rules
from onnxcost.analysis import memory
from onnxcost.analysis.params import Constants, Weight, classify
from onnxcost.analysis.poly import PolyError, is_poly, total
from onnxcost.analysis.qdq import dequantize_source, quantized_nodes
from onnxcost.analysis.quant_params import MS, packed_weight_override
from onnxcost.errors import ModelError, NodeError, OnnxCostError, UncountedError, UsageError
from onnxcost.model import fast
from onnxcost.model.dims import bind, declared_dim_params
from onnxcost.model.graph import Graph, build
from onnxcost.model.loader import load
from onnxcost.model.scopes import NAME_SCOPES_KEY, scope_of
from onnxcost.model.shapes import TOP, Scope, Shapes
from onnxcost.report.records import (
    DtypeSize,
    Duplicate,
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
from onnxcost.rules.plugins import load_plugins
from onnxcost.rules.registry import (
    Cost,
    NodeContext,
    RuleEntry,
    TensorInfo,
    Unresolved,
    formula_mode,
)

if TYPE_CHECKING:  # formulas are imported when a formula analysis runs
    from onnxcost.analysis.formulas import FormulaData


def analyze(
    model: str | os.PathLike[str] | onnx.ModelProto,
    dims: dict[str, int] | None = None,
    input_shapes: dict[str, list[int]] | None = None,
    strict: bool = False,
    input_values: dict[str, np.ndarray] | None = None,
    held_outside: frozenset[str] = frozenset(),
    formulas: bool = False,
) -> Report:
    """Analyse a model file (or ModelProto, left unmodified) without running it.

    `input_values` give graph inputs' values (scalars and small int or bool tensors): an `If`
    whose condition they decide then costs the branch that runs. `held_outside`: graph inputs
    and outputs a runtime keeps in buffers of its own (a KV cache): the activation peak leaves
    them out (an output is then live only while its node makes it); costs are unchanged.
    `formulas`: dims left unbound reach the rules as polynomials, and every figure is an exact
    expression of them (analysis/formulas.py binds such a report to numbers).
    """
    with no_cycle_collection(), formula_mode(formulas):
        return _analyze(model, dims, input_shapes, strict, input_values, formulas, held_outside)


def analyze_with_formulas(
    model: str | os.PathLike[str] | onnx.ModelProto,
    dims: dict[str, int] | None = None,
    input_shapes: dict[str, list[int]] | None = None,
    strict: bool = False,
    input_values: dict[str, np.ndarray] | None = None,
) -> tuple[Report, Callable[[], Report] | None]:
    """`analyze(...)`, and a function that gives `analyze(..., formulas=True)` of the same load
    and shape inference (the CLI's unbound dims: one engine run for both reports); None when
    every dim is bound."""
    later: list[Callable[[], Report]] = []
    with no_cycle_collection(), formula_mode(False):
        report = _analyze(
            model, dims, input_shapes, strict, input_values, False, frozenset(), later
        )
    return report, later[0]


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """The cycle collector paused. The analysis makes millions of small objects that live until
    it ends and makes no reference cycles: reference counting frees what it drops, and the full
    engine's in-memory model, which is cyclic, is collected explicitly. The collector would only
    scan every object, twice (7% of a 64,000-node analysis). A test checks that analyses leave
    nothing for it."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _analyze(
    model: str | os.PathLike[str] | onnx.ModelProto,
    dims: dict[str, int] | None,
    input_shapes: dict[str, list[int]] | None,
    strict: bool,
    input_values: dict[str, np.ndarray] | None,
    formulas: bool,
    held_outside: frozenset[str] = frozenset(),
    later: list | None = None,
) -> Report:
    load_plugins()
    loaded = load(model)
    bound, bind_warnings = bind(loaded.model, dims, input_shapes, strict, loaded.graphs)
    g = loaded.graph or build(loaded.model.graph)
    values = _input_values(g, input_values)
    shapes = fast.infer(loaded.model, g, values)
    if shapes is None:  # a graph beyond the fast path's ops: the full engine
        from onnxcost.model import engine as full_engine

        shapes = full_engine.infer(loaded.model, None if g.file_order else g.order, values)
        gc.collect()  # the engine's in-memory model is garbage now, and full of reference cycles
    unbound = [d for d in declared_dim_params(loaded.model.graph) if d not in bound]
    weights = _weights(loaded, g, shapes)  # the same for the report and its formulas
    if later is not None and not unbound:
        later.append(None)  # every dim bound: no formulas, and nothing kept for them
    elif later is not None:  # the formula report, costed later from the same shapes
        scopes = {s: dict(m) for s, m in shapes.scopes.items()}  # an If's estimate edits them

        def formula_report() -> Report:
            shapes.scopes = {s: dict(m) for s, m in scopes.items()}
            with no_cycle_collection(), formula_mode(True):
                return _costed(
                    loaded, dict(bound), unbound, bind_warnings, g, shapes, weights, False, True
                )

        later.append(formula_report)
    return _costed(
        loaded, bound, unbound, bind_warnings, g, shapes, weights, strict, formulas, held_outside
    )


@dataclass
class _Weights:
    """What the analysis makes of the model's stored tensors: read from the shapes, whatever the
    dims (a weight's size is static or unknown), so worked out once for a report and its
    formulas."""

    consts: Constants
    owners: dict[int, tuple[int, int]]  # node -> (parameters, weight bytes) it is the first to read
    quantized: dict[str, str]  # QDQ nodes (qdq.quantized_nodes)


def _weights(loaded: Any, g: Graph, shapes: Shapes) -> _Weights:
    graph = loaded.model.graph
    # the table says whether a pass over the protobuf could find anything (most graphs: no)
    packed = packed_weight_override(loaded.model) if g.subgraphs or MS in g.domains else {}
    consts = classify(g, graph, shapes.infos(TOP), packed, shapes.every_scope())
    quantized = quantized_nodes(graph) if "DequantizeLinear" in g.op_types else {}
    return _Weights(consts, _weight_owners(g, consts), quantized)


def _costed(
    loaded: Any,
    bound: dict[str, int],
    unbound: list[str],
    bind_warnings: list[str],
    g: Graph,
    shapes: Shapes,
    weights: _Weights,
    strict: bool,
    formulas: bool,
    held_outside: frozenset[str] = frozenset(),
) -> Report:
    graph = loaded.model.graph
    infos = shapes.infos(TOP)
    consts = weights.consts
    opsets = {(imp.domain or ""): imp.version for imp in loaded.model.opset_import}
    coster = _Coster(opsets, shapes, weights.quantized, g)

    nodes = coster.node_costs(g, consts)
    place = g.places()  # node -> its record
    for i, owned in weights.owners.items():
        rec = nodes[i if place is None else place[i]]
        rec.params, rec.weight_bytes = owned
    warnings = list(loaded.warnings) + bind_warnings + shapes.warnings
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
    if unbound:
        warnings.append(
            "unbound dims: " + ", ".join(unbound) + " (bind with --dim NAME=VALUE); "
            "costs that depend on them are lower bounds"
        )

    plan, live, fdata = _memory_plan(
        g, consts, infos, nodes, formulas, held_outside, coster.sizes.__getitem__
    )
    report = Report(
        model=_model_meta(loaded.model, loaded),
        inputs=[_summary(infos, n) for n in g.graph_inputs],
        outputs=[_summary(infos, n) for n in g.graph_outputs],
        dims=bound,
        totals=Totals(),
        params_by_dtype=_params_by_dtype(consts),
        op_types=_op_types(nodes, formulas),
        nodes=nodes,
        memory=plan,
        uncounted=coster.uncounted_list(),
        unresolved=coster.unresolved + (fdata.undecided if fdata is not None else []),
        warnings=warnings,
        duplicates=_duplicates(graph, consts, loaded.same_contents),
        subgraph_nodes=list(coster.subgraph_records.values()),
    )
    _fill_totals(report, consts, live, g, coster)
    if fdata is not None:
        report.formula_data = fdata
        fdata.unbound = list(unbound)
    if strict:
        _enforce_strict(report)
    return report


def _input_values(g: Graph, values: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    for name in values or {}:
        if name not in g.graph_inputs:
            raise UsageError(
                f"--input-value: {name!r} is not a graph input "
                f"(inputs: {', '.join(g.graph_inputs) or 'none'})"
            )
    return dict(values or {})


_type_key = attrgetter("type_key")


@dataclass
class _Coster:
    opsets: dict[str, int]
    shapes: Shapes
    quantized: dict[str, str]
    g: Graph
    unresolved: list[UnresolvedItem] = field(default_factory=list)
    estimates: list[str] = field(default_factory=list)  # why the totals are an estimate
    # per inner node of every subgraph costed, keyed by (path, index): first costing wins
    subgraph_records: dict[tuple, SubgraphNodeCost] = field(default_factory=dict)
    bad_scopes: int = 0
    _uncounted: dict[tuple[str, str], list[str]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        self.infos = self.shapes.infos(TOP)
        # why the engine could not work a tensor out, for the report's unresolved list
        self.why = {(f.scope, f.tensor): f.reason for f in self.shapes.failures}
        self.sizes = memory.Sizes(self.infos)  # top-level tensors' sizes, shared with the plan
        self._rules: dict[tuple[str, str], tuple[RuleEntry | None, int]] = {}
        self._memo: dict[tuple, Cost] = {}  # see rule_cost
        self._done: dict[tuple, tuple] = {}  # a node's figures by the same key (node_cost)
        self.pure = False  # rule_cost's last rule read nothing but its key (see rule_cost)

    def rule(self, domain: str, op_type: str) -> tuple[RuleEntry | None, int]:
        """The rule of an op and the model's opset of its domain, looked up once per op."""
        key = (domain, op_type)
        found = self._rules.get(key)
        if found is None:
            opset = self.opsets.get(domain if domain != "ai.onnx" else "", 0)
            found = self._rules[key] = (rules.lookup(domain, op_type), opset)
        return found

    def uncounted_list(self) -> list[Uncounted]:
        return [
            Uncounted(op, dom, len(names), names)
            for (dom, op), names in sorted(self._uncounted.items(), key=lambda kv: kv[0][1])
        ]

    def reason(self, tensor: str, default: str, scope: Scope = TOP) -> str:
        why = self.why.get((scope, tensor))
        return f"{default}: {why}" if why else default

    def node_costs(self, g: Graph, consts: Constants) -> list[NodeCost]:
        """Every top-level node's record, in schedule order.

        The hot loop of a large graph: each node's fields come from the graph's table (each read
        of a proto field makes new objects), each tensor's info is looked up once, and a node
        with the op, attributes and tensor types of one costed before (each layer of a stack)
        takes its figures (rules that read values are never kept: rule_cost)."""
        get = self.infos.get
        names, onnx_names, node_inputs, node_outputs = (
            g.names,
            g.onnx_names,
            g.node_inputs,
            g.outputs,
        )
        op_types, domains, scope_texts, attr_keys = (
            g.op_types,
            g.domains,
            g.scope_texts,
            g.attr_keys,
        )
        folded, quantized, figures = consts.folded, self.quantized, self._done
        records = []
        for i in g.order:
            name, inputs, outputs = names[i], node_inputs[i], node_outputs[i]
            ins = list(map(get, inputs))
            outs = list(map(get, outputs))
            if "" in inputs or "" in outputs:  # an optional input or output left out: no tensor
                ins = [get(n) if n else None for n in inputs]
                outs = [get(n) if n else None for n in outputs]
            onnx_name = onnx_names[i]
            if i in scope_texts or "/" in onnx_name or "." in onnx_name:
                scope, source, bad = scope_of(scope_texts.get(i), onnx_name)
                self.bad_scopes += bad
            else:
                scope, source = [], "none"
            key = None
            stored = attr_keys.get(i, ())  # None: attributes holding a graph or a tensor
            if (
                stored is not None
                and i not in folded
                and name not in quantized
                and (len(inputs) < 2 or len(set(inputs)) == len(inputs))  # else bytes differ
            ):
                try:
                    types = (tuple(map(_type_key, ins)), tuple(map(_type_key, outs)))
                except AttributeError:  # a tensor without an info
                    types = (
                        tuple([None if t is None else t.type_key for t in ins]),
                        tuple([None if t is None else t.type_key for t in outs]),
                    )
                key = (op_types[i], domains[i], stored, types)
                done = figures.get(key)
                if done is not None:
                    macs, flops, status, kind, dtype, unit, notes, read, written, items = done
                    for side, k, reason in items:  # what it could not work out, on its tensors
                        tensor = (inputs if side else outputs)[k]
                        self.unresolved.append(UnresolvedItem(tensor, name, reason))
                    records.append(
                        NodeCost(
                            name, op_types[i], domains[i], inputs, outputs,
                            [_shape_list(t) for t in outs], macs, flops, read, written, status,
                            kind, dtype, unit, list(notes), i, onnx_name, scope, source,
                        )
                    )  # fmt: skip
                    continue
            records.append(self._node_cost(g, i, consts, ins, outs, scope, source, key))
        return records

    def _node_cost(
        self,
        g: Graph,
        i: int,
        consts: Constants,
        ins: list[TensorInfo | None],
        outs: list[TensorInfo | None],
        scope: list[str],
        source: str,
        key: tuple | None,
    ) -> NodeCost:
        """A node's record from its rule (`node_costs`: its tensors' infos, its module scope and
        its key, None when it must not be kept)."""
        name, inputs, outputs = g.names[i], g.node_inputs[i], g.outputs[i]
        op_type, domain = g.op_types[i], g.domains[i]
        get = self.infos.get
        entry = self.rule(domain, op_type)[0]
        rec = NodeCost(
            name,
            op_type,
            domain,
            inputs,
            outputs,
            [_shape_list(t) for t in outs],
            index=i,
            onnx_name=g.onnx_names[i],
            scope=scope,
            scope_source=source,
            kind=entry.kind if entry else "compute",
            compute_dtype=_data_dtype(ins, outs),
        )
        if i in consts.folded:
            rec.status = "constant"  # computed once from constants at load time: no run cost
            return rec
        listed = len(self.unresolved)
        cost = self.rule_cost(g.nodes[i], name, rec, TOP, i, ins, outs, key=key)
        if cost is not None and cost.estimate:  # an If may have taken its branch's shapes
            outs = [get(n) if n else None for n in outputs]
            rec.output_shapes = [_shape_list(t) for t in outs]
        if cost is not None:
            rec.macs, rec.flops = cost.macs, cost.flops
            if cost.notes:
                rec.notes = list(cost.notes)
            rec.compute_dtype = cost.compute_dtype or self.quantized.get(name) or rec.compute_dtype
            if cost.lower_bound and rec.status == "counted":
                # the rule could count only part of the work (e.g. a Loop's unknown trip count)
                rec.status = "unresolved"
                reason = "; ".join(cost.notes) or "only partly counted"
                self.unresolved.append(UnresolvedItem(next(iter(outputs), name), name, reason))
            rec.unit = _unit(rec.macs)
        if rec.kind != "view":
            if name in self.quantized:  # a QDQ node reads the quantized tensors, not their floats
                inputs = [dequantize_source(n, g.producer_node) or n if n else n for n in inputs]
            rec.bytes_read = self._bytes(inputs, name, rec)
            rec.bytes_written = self._bytes(outputs, name, rec)
        if key is not None and self.pure and not self.why and rec.status != "uncounted":
            items = _on_own_tensors(self.unresolved[listed:], name, inputs, outputs)
            if items is not None:
                self._done[key] = (
                    rec.macs, rec.flops, rec.status, rec.kind, rec.compute_dtype, rec.unit,
                    tuple(rec.notes), rec.bytes_read, rec.bytes_written, items,
                )  # fmt: skip
        return rec

    def rule_cost(
        self,
        node: onnx.NodeProto,
        name: str,
        rec: NodeCost | None,
        scope: Scope,
        index: int,
        ins: list[TensorInfo | None] | None = None,
        outs: list[TensorInfo | None] | None = None,
        hop: tuple[SubgraphHop, ...] = (),
        key: tuple | None = None,
    ) -> Cost | None:
        """The node's Cost, or None when it has no rule (recorded as uncounted).

        `scope` is the graph the node is in (the shape engine's key), `index` its position
        there, `hop` the same path for the per-node views: its subgraphs are the scopes
        `scope + ((index, attribute),)`. `ins`/`outs`: its tensors, if looked up. `key`: a
        top-level node's op, attributes and tensor types: a rule that reads nothing else gives
        the same Cost for the same key, kept and reused.
        """
        op_type, domain = (rec.op_type, rec.domain) if rec else (node.op_type, node.domain)
        entry, opset = self.rule(domain, op_type)
        self.pure = False  # the rule read nothing but the key's types and attributes
        if entry is None:
            self._uncounted[(domain, op_type)].append(name)
            if rec is not None:
                rec.status = "uncounted"
            return None
        if key is not None:
            cost = self._memo.get(key)
            if cost is not None:
                self.pure = True
                return cost
        # attribute types were checked at load (attrs.py), before anything read them
        try:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        except Exception as e:
            raise NodeError(f"node {name!r} ({op_type}): unreadable attribute: {e}") from None
        infos = self.infos if not scope else self.shapes.infos(scope)
        read_values: list[str] = []  # a rule that reads a value is not memoized

        def values(n: str) -> np.ndarray | None:
            read_values.append(n)
            return self.shapes.value(scope, n)

        def dim_values(n: str) -> str | None:
            read_values.append(n)
            return self.shapes.dim_value(scope, n)

        ctx = NodeContext(
            op_type=op_type,
            domain=domain,
            name=name,
            inputs=ins if ins is not None else [infos.get(n) if n else None for n in node.input],
            outputs=outs
            if outs is not None
            else [infos.get(n) if n else None for n in node.output],
            attrs=attrs,
            opset=opset,
            values=values,
            dim_values=dim_values,
            subgraph=lambda attr: self.subgraph_cost(
                attrs.get(attr),
                name,
                (*scope, (index, attr)),
                (*hop, SubgraphHop(node.name, index, attr)),
            ),
        )
        try:
            cost = entry.fn(ctx)
        except Unresolved as u:
            self.unresolved.append(
                UnresolvedItem(u.tensor, name, self.reason(u.tensor, u.reason, scope))
            )
            if rec is not None:
                rec.status = "unresolved"
            self.pure = not read_values
            return Cost(lower_bound=True)
        except PolyError as e:  # formula mode: a branch on a symbolic dim, or a capped expression
            tensor = next(iter(node.output), name)
            self.unresolved.append(UnresolvedItem(tensor, name, f"formula: {e}"))
            if rec is not None:
                rec.status = "unresolved"
            self.pure = not read_values
            return Cost(lower_bound=True)
        except NodeError:
            raise  # from a subgraph: it names the inner node already ("outer/inner")
        except OnnxCostError as e:
            if scope:  # in a branch or body, shapes that cannot fit may be a branch not taken
                reason = self.reason(next(iter(node.output), name), f"cannot be costed: {e}", scope)
                self.unresolved.append(UnresolvedItem(next(iter(node.output), name), name, reason))
                return Cost(lower_bound=True)
            raise NodeError(f"node {name!r} ({node.op_type}): {e}") from None
        except RecursionError:
            raise ModelError(
                f"node {name!r} ({node.op_type}): subgraphs nested too deeply"
            ) from None
        except (IndexError, TypeError, ValueError, KeyError, ZeroDivisionError):
            # A rule indexing a dim its op guarantees: the inputs are not what the op takes.
            # Say what they are rather than quoting Python's exception.
            ranks = ", ".join(
                f"{t.name} rank {len(t.shape)}" if t.shape is not None else f"{t.name} rank ?"
                for t in ctx.inputs
                if t is not None
            )
            raise NodeError(
                f"node {name!r} ({node.op_type}): cannot be costed: its inputs or attributes are "
                f"not what {node.op_type} takes (inputs: {ranks or 'none'})"
            ) from None
        except Exception as e:  # a rule must never turn a hostile attribute into a traceback
            raise NodeError(f"node {name!r} ({node.op_type}): cannot be costed: {e!r}") from None
        if key is not None and not read_values and not cost.estimate:
            self._memo[key] = cost
            self.pure = True
        if cost.estimate and node.op_type == "If" and ctx.value(0) is None:
            deciders = self.deciding_inputs(node.input[0] if node.input else "", scope)
            cost_note = next((n for n in cost.notes if n.startswith("If:")), "")
            self.take_branch_shapes(node, attrs, scope, index, cost.chosen)
            self.estimates.append(
                f"If node {name!r}: {cost_note.removeprefix('If: ')}; decided by "
                + (", ".join(f"input {d!r}" for d in deciders) if deciders else "a computed value")
                + (" (give it with --input-value)" if deciders else "")
            )
        return cost

    def take_branch_shapes(
        self, node: onnx.NodeProto, attrs: dict, scope: Scope, index: int, branch: str
    ) -> None:
        """An If whose condition is unknown is costed as its more expensive branch: where the
        engine could not merge the branches' output shapes (they differ), its outputs take that
        branch's, so the estimate's sizes are those of the work it counts."""
        graph = attrs.get(branch) if branch else None
        own = self.shapes.scopes.get(scope)
        if not isinstance(graph, onnx.GraphProto) or own is None:
            return
        inner = self.shapes.infos((*scope, (index, branch)))
        for name, made in zip(node.output, graph.output, strict=False):
            t, src = own.get(name), inner.get(made.name)
            if name and (t is None or not t.sized) and src is not None and src.sized:
                own[name] = replace(src, name=name)

    def deciding_inputs(self, tensor: str, scope: Scope) -> list[str]:
        """The graph inputs a top-level tensor is computed from (what decides an If)."""
        if scope or not tensor:
            return []
        seen, stack, found = {tensor}, [tensor], []
        while stack:
            t = stack.pop()
            if t in self.g.graph_inputs:
                found.append(t)
            i = self.g.producer.get(t)
            for n in self.g.inputs[i] if i is not None else ():
                if n not in seen:
                    seen.add(n)
                    stack.append(n)
        return sorted(found)

    def subgraph_cost(
        self, sub: object, outer: str, scope: Scope, path: tuple[SubgraphHop, ...] = ()
    ) -> Cost:
        """Sum of the costs of a subgraph's nodes (If branch, Loop/Scan body).

        Each inner node is also recorded once (per execution) for the per-node views.
        """
        if not isinstance(sub, onnx.GraphProto):
            return Cost()
        total = Cost()
        for k, node in enumerate(sub.node):
            name = f"{outer}/{node.name or f'{node.op_type}_{k}'}"
            n_unresolved = len(self.unresolved)
            cost = self.rule_cost(node, name, None, scope, k, hop=path)
            total = total + (cost if cost is not None else Cost(lower_bound=True))
            if (scope, k) not in self.subgraph_records:
                self.subgraph_records[(scope, k)] = self._inner_record(
                    node, name, k, path, cost, len(self.unresolved) > n_unresolved, scope
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
        scope: Scope,
    ) -> SubgraphNodeCost:
        infos = self.shapes.infos(scope)
        rec = SubgraphNodeCost(
            name=name,
            onnx_name=node.name,
            index=k,
            op_type=node.op_type,
            domain=node.domain,
            path=list(path),
            outputs=list(node.output),
            compute_dtype=_data_dtype(infos.get(n) for n in (*node.input, *node.output) if n),
        )
        if cost is None:
            rec.status = "uncounted"
            return rec
        rec.macs, rec.flops = cost.macs, cost.flops
        rec.compute_dtype = cost.compute_dtype or rec.compute_dtype
        rec.unit = _unit(rec.macs)
        if unresolved or cost.lower_bound:
            rec.status = "unresolved"
        entry = rules.lookup(node.domain, node.op_type)
        if entry is not None and entry.kind == "view":
            return rec
        sizes = []
        for names in (dict.fromkeys(n for n in node.input if n), dict.fromkeys(node.output)):
            total = 0
            for n in names:
                t = infos.get(n)
                if t is None or not t.sized:
                    rec.status = "unresolved"  # inner sizes: listed here, not in the totals
                    continue
                total += t.nbytes()
            sizes.append(total)
        rec.bytes_read, rec.bytes_written = sizes
        return rec

    def _bytes(self, names: list[str], node: str, rec: NodeCost) -> int:
        """Bytes of the named top-level tensors, each counted once."""
        total = 0
        sizes = self.sizes
        for k, n in enumerate(names):
            if not n or (k and n in names[:k]):
                continue
            size = sizes[n]
            if size is None:
                if rec.status == "counted":
                    rec.status = "unresolved"
                self.unresolved.append(UnresolvedItem(n, node, self.reason(n, "size not static")))
                continue
            total += size[1]
        return total


def _on_own_tensors(
    items: list[UnresolvedItem], node: str, inputs: list[str], outputs: list[str]
) -> list[tuple[int, int, str]] | None:
    """The node's unresolved items as (1 for an input or 0 for an output, its position, the
    reason), for a node of the same key to list on its own tensors; None when an item is about
    something else."""
    out = []
    for u in items:
        if u.node != node:
            return None
        if u.tensor in inputs:
            out.append((1, inputs.index(u.tensor), u.reason))
        elif u.tensor in outputs:
            out.append((0, outputs.index(u.tensor), u.reason))
        else:
            return None
    return out


def _data_dtype(*tensors: Iterable[TensorInfo | None]) -> str:
    """The dtype of a node's first typed input or output."""
    for ts in tensors:
        for t in ts:
            if t is not None and t.elem_type:
                return t.dtype
    return "undefined"


def _unit(macs: int) -> str:
    """matrix for MAC-type work (a formula's: when it can be positive), else vector."""
    if isinstance(macs, int):
        return "matrix" if macs > 0 else "vector"
    from onnxcost.analysis.formulas import positive

    return "matrix" if positive(macs) else "vector"


def _shape_list(t: TensorInfo | None) -> list | None:
    return None if t is None or t.shape is None else list(t.shape)


def _summary(infos: dict[str, TensorInfo], name: str) -> TensorSummary:
    t = infos.get(name)
    return TensorSummary(name, t.dtype if t else "undefined", _shape_list(t))


def _memory_plan(
    g: Graph,
    consts: Constants,
    infos: Mapping[str, TensorInfo],
    nodes: list[NodeCost],
    formulas: bool = False,
    held_outside: frozenset[str] = frozenset(),
    size_of: memory.SizeOf | None = None,
) -> tuple[MemoryPlan, memory.Liveness, FormulaData | None]:
    steps: list[memory.Step] = []
    names: list[str] = []
    step_nodes: list[int] = []  # each step's position in `nodes`
    constant = consts.constant
    node_inputs, node_outputs, step = g.inputs, g.outputs, memory.Step
    for k, (i, rec) in enumerate(zip(g.order, nodes, strict=True)):
        if rec.status == "constant":
            continue
        ins = node_inputs[i]
        if not constant.isdisjoint(ins):  # else the graph's list serves
            ins = [t for t in ins if t not in constant]
        outs = node_outputs[i]
        kind = rec.kind
        if kind == "view" and len(outs) > 1:  # a view's extra outputs (Dropout's mask)
            outs = outs[:1] + [o for o in outs[1:] if o in g.consumers or o in g.graph_outputs]
        steps.append(step(rec.name, kind, ins, outs))
        names.append(rec.name)
        step_nodes.append(k)
    inputs = [t for t in g.graph_inputs if t not in constant and t not in held_outside]
    outputs = [t for t in g.graph_outputs if t not in constant and t not in held_outside]
    if formulas:
        from onnxcost.analysis.formulas import formula_plan

        return formula_plan(steps, names, step_nodes, infos, inputs, outputs, size_of)
    # steps that are the nodes in file order have the node graph's dependencies
    same = g.file_order and len(steps) == len(g.order)
    dag = memory.Dag(g.consumers, g.succs, g.indeg) if same else None
    plan, live = memory.plan(steps, names, step_nodes, infos, inputs, outputs, size_of, dag=dag)
    return plan, live, None


def _weight_owners(g: Graph, consts: Constants) -> dict[int, tuple[int, int]]:
    """Each weight goes to the first node (in schedule order) that reads it, so that per-node and
    per-module parameter counts sum to the total. A weight no node reads (a constant that is
    only a graph output) goes to the node that makes it, when one does. Node -> (parameters,
    weight bytes)."""
    done: set[str] = set()
    owners: dict[int, list[int]] = {}

    def give(i: int, t: str, w: Weight) -> None:
        got = owners.get(i)
        if got is None:
            got = owners[i] = [0, 0]
        got[0] += w.elements or 0
        got[1] += w.nbytes
        done.add(t)

    # the first reader of each: a weight's readers are listed in file order (every node is in
    # the schedule, so any index given below is one of its nodes)
    place = g.places()
    readers_of = g.consumers.get
    for t, w in consts.params.items():
        readers = readers_of(t)
        if readers:
            give(readers[0] if place is None else min(readers, key=place.__getitem__), t, w)
    for t, i in consts.attr_owner.items():  # ai.onnx.ml weights: the node holding them
        give(i, t, consts.params[t])
    for t, w in consts.params.items():
        p = g.producer.get(t) if t not in done else None
        if p is not None:
            give(p, t, w)
    return {i: (a, b) for i, (a, b) in owners.items()}


def _params_by_dtype(consts: Constants) -> list[DtypeSize]:
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for w in consts.params.values():
        by[w.dtype][0] += w.elements or 0
        by[w.dtype][1] += w.nbytes
    return [DtypeSize(k, v[0], v[1]) for k, v in sorted(by.items(), key=lambda kv: -kv[1][1])]


def _op_types(nodes: list[NodeCost], formulas: bool = False) -> list[OpTypeCost]:
    agg: dict[tuple[str, str], list]
    if not formulas:  # numbers: one pass
        agg = {}
        for n in nodes:
            if n.status != "constant":
                a = agg.get((n.domain, n.op_type))
                if a is None:
                    a = agg[(n.domain, n.op_type)] = [0, 0, 0, 0]
                a[0] += 1
                a[1] += n.macs
                a[2] += n.flops
                a[3] += n.bytes_read + n.bytes_written
    else:
        groups: dict[tuple[str, str], list[NodeCost]] = defaultdict(list)
        for n in nodes:
            if n.status != "constant":
                groups[(n.domain, n.op_type)].append(n)
        agg = {
            key: [
                len(ns),
                total([n.macs for n in ns]),  # one pass each: formulas' running sums would copy
                total([n.flops for n in ns]),
                total([x for n in ns for x in (n.bytes_read, n.bytes_written)]),
            ]
            for key, ns in groups.items()
        }
    if formulas and any(is_poly(x) for a in agg.values() for x in a):
        # shares and the order depend on the dims' values: those come when the report is bound
        rows = [OpTypeCost(op, dom, *a, 0.0, 0.0) for (dom, op), a in agg.items()]
        rows.sort(key=lambda r: r.op_type)
        return rows
    total_macs = sum(a[1] for a in agg.values()) or 1
    total_flops = sum(a[2] for a in agg.values()) or 1
    rows = [
        OpTypeCost(op, dom, a[0], a[1], a[2], a[3], a[1] / total_macs, a[2] / total_flops)
        for (dom, op), a in agg.items()
    ]
    rows.sort(key=lambda r: (-r.flops, -r.memory_traffic_bytes, r.op_type))
    return rows


def _fill_totals(
    report: Report, consts: Constants, live: memory.Liveness, g: Graph, coster: _Coster
) -> None:
    t = report.totals
    # the op types' sums: a constant node, the one left out there, costs nothing
    t.macs = total([o.macs for o in report.op_types])
    t.flops = total([o.flops for o in report.op_types])
    t.memory_traffic_bytes = total([o.memory_traffic_bytes for o in report.op_types])
    t.params = total([w.elements or 0 for w in consts.params.values()])
    t.weight_bytes = total([w.nbytes for w in consts.params.values()])
    t.constants = total([w.elements or 0 for w in consts.helpers.values()])
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
            why = coster.reason(name, "activation size not static")
            report.unresolved.append(UnresolvedItem(name, node, why))
    t.lower_bound = bool(t.uncounted_nodes or report.unresolved)
    if t.lower_bound:
        t.status = "lower_bound"
        if t.uncounted_nodes:
            t.status_reasons.append(f"{t.uncounted_nodes} node(s) of op types without a rule")
        if report.unresolved:
            t.status_reasons.append(f"{len(report.unresolved)} size(s) not worked out")
    if coster.estimates:
        if not t.lower_bound:
            t.status = "estimate"
        t.status_reasons.extend(coster.estimates)


def _duplicates(
    graph: onnx.GraphProto, consts: Constants, digests: dict[str, bytes]
) -> list[Duplicate]:
    """Parameters stored twice with identical contents (optimum writes a tied embedding twice).

    Only what the file holds is compared, by a digest the loader took before it dropped the
    payloads; weights in external files are never read, so never compared.
    """
    groups: dict[tuple, list[str]] = defaultdict(list)
    for t in graph.initializer if digests else ():  # no two stored alike: nothing to read
        if t.name in consts.params and t.name in digests:
            groups[(digests[t.name], t.data_type, tuple(t.dims))].append(t.name)
    out = []
    for names in groups.values():
        if len(names) > 1:
            w = consts.params[names[0]]
            out.append(Duplicate(sorted(names), w.elements or 0, w.dtype))
    return sorted(out, key=lambda d: -d.params)


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


__all__ = ["analyze", "analyze_with_formulas"]
