"""The shape engine: one walk over the model that works out every tensor's type and shape.

The walk goes in topological order, node by node, into subgraphs with their own lexical scopes
(an `If` branch may reuse a name its sibling branch uses for something else). Each tensor gets a
dtype and a shape whose dims are integers, names of the model's dims, or expressions of them
(`past + seq`); small integer tensors (shapes, axes, pads, trip counts) also carry their values,
elementwise symbolic too, so shape arithmetic (Shape -> Gather -> Concat -> Reshape) resolves.

The per-op shape functions are those of the ONNX project's `onnx-shape-inference` (on its
`onnx-ir` representation), chosen on the numbers of the real-export corpus (README, "Shapes");
onnxcost owns the walk so that one failing node never ends inference for the rest, so that a
known `If` condition picks its branch, and so that hostile files meet caps. For each node:
our own shape rules (ops the library lacks or gets wrong: `model/shape_rules.py`), else the
library's, else a function body the op is defined by, else onnx's own C++ inference of that one
node; a shape declared in the file is used only when all of these leave it unknown.

Declared shapes of intermediate tensors are not trusted (exporters leave stale or placeholder
dims such as `unk__12`): they are cleared before the walk and kept only as a last resort.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Mapping

import numpy as np
import onnx
import onnx_ir as ir
from onnx_shape_inference import ShapeInferenceContext, registry

from onnxcost.errors import ModelError
from onnxcost.model import shape_rules
from onnxcost.model.fold import FOLDABLE, fold_node
from onnxcost.model.loader import SMALL_CONSTANT_ELEMENTS, has_payload, iter_graphs
from onnxcost.model.shape_rules import check_einsum
from onnxcost.model.shapes import TOP, Failure, Scope, Shapes
from onnxcost.rules.registry import Dim, TensorInfo

_MISSING = object()

# Ranks above this are refused as shapes (no real model comes near; a hostile file can ask).
MAX_RANK = SMALL_CONSTANT_ELEMENTS

_INT_DTYPES = {
    ir.DataType.INT64,
    ir.DataType.INT32,
    ir.DataType.INT16,
    ir.DataType.INT8,
    ir.DataType.UINT64,
    ir.DataType.UINT32,
    ir.DataType.UINT16,
    ir.DataType.UINT8,
    ir.DataType.BOOL,
}


def infer(
    model: onnx.ModelProto,
    order: list[int] | None = None,
    input_values: Mapping[str, np.ndarray] | None = None,
) -> Shapes:
    """Work out every tensor's type and shape. Never raises on gaps: they become `failures`.

    `order` is the top-level graph's schedule (indices into its nodes) when the file's order is
    not topological; `input_values` give graph inputs' values (an `If` condition, say).
    """
    registry.collect()  # the library registers its op modules lazily
    _clear_map_types(model)
    # The libraries log and warn about odd models (names in the messages): the report says
    # what matters, and model text never reaches stderr unescaped.
    quiet = [logging.getLogger(n) for n in ("onnx_ir", "onnx_shape_inference")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _infer(model, order, input_values)
    finally:
        for q, level in zip(quiet, levels, strict=True):
            q.setLevel(level)


def _infer(
    model: onnx.ModelProto, order: list[int] | None, input_values: Mapping[str, np.ndarray] | None
) -> Shapes:
    try:
        irm = ir.from_proto(model)
    except Exception as e:  # the loader validated the structure; anything left is a bad model
        raise ModelError(f"model cannot be read: {_first_line(e)}") from None
    _forget_dropped_payloads(irm)
    opsets = {(d or ""): v for d, v in irm.opset_imports.items()}
    ctx = ShapeInferenceContext(opsets, policy="refine")
    walk = _Walk(ctx, irm, shape_rules.RULES)
    ctx.onnxcost_notes = walk.result.warnings  # type: ignore[attr-defined]
    for name, val in (input_values or {}).items():
        walk.set_input_value(name, val)
    walk.graph(irm.graph, TOP, order)
    return walk.result


class _Walk:
    def __init__(self, ctx: ShapeInferenceContext, irm: ir.Model, rules: Mapping) -> None:
        self.ctx = ctx
        self.irm = irm
        self.rules = rules
        self.result = Shapes({}, {})
        self.functions = irm.functions
        self._dims: dict[str, Dim] = {}  # a symbolic dim's text -> what the report shows
        self._fns: dict[tuple[str, str], tuple] = {}  # (domain, op) -> (our rule, library's)
        self.user_dims = {
            a
            for v in irm.graph.inputs
            if v.shape is not None
            for d in v.shape.dims
            if isinstance(d, ir.SymbolicDim) and d.value
            for a in (d.value, *_symbols(d.value))
        }

    # --- setup -------------------------------------------------------------------------------

    def set_input_value(self, name: str, value: np.ndarray) -> None:
        for v in self.irm.graph.inputs:
            if v.name == name:
                v.const_value = ir.tensor(np.asarray(value), name=name)
                return
        raise ModelError(f"--input-value: {name!r} is not a graph input")

    # --- the walk ----------------------------------------------------------------------------

    def graph(self, graph: ir.Graph, scope: Scope, order: list[int] | None = None) -> None:
        nodes = list(graph)
        declared: dict[ir.Value, ir.Shape | None] = {}
        for node in nodes:  # computed shapes win; the file's own are the last resort
            for out in node.outputs:
                declared[out] = out.shape
                out.shape = None
                if out.dtype == ir.DataType.UNDEFINED:
                    out.type = None
        for value in graph.initializers.values():
            t = value.const_value
            if t is not None and value.shape != t.shape:
                value.shape = t.shape  # the stored tensor is the truth, not its value_info
        for value in graph.inputs:
            self.ctx.name_anonymous_dims(value)
        for k in order if order is not None else range(len(nodes)):
            node = nodes[k]
            self.node(node, scope, k)
            for out in node.outputs:
                if declared.get(out) is not None:
                    self._merge_declared(out, declared[out], scope)
        self.collect(graph, scope)

    def _merge_declared(self, out: ir.Value, declared: ir.Shape, scope: Scope) -> None:
        """Where the walk left a dim unknown, a dim the file declares: an integer, or one of the
        model's own dim names (not an exporter's placeholder such as `unk__3`)."""
        dims = [
            d if isinstance(d, int) or (d.value is not None and d.value in self.user_dims)
            else None
            for d in declared.dims
        ]  # fmt: skip
        if out.shape is None:
            out.shape = self.ctx.name_anonymous_dims_in_shape(ir.Shape(dims))
            return
        have = [self.dim(d) for d in out.shape.dims]
        if len(have) != len(dims) or any(
            isinstance(a, int) and isinstance(b, int) and a != b
            for a, b in zip(have, dims, strict=True)
        ):
            if scope:  # a branch's declared outputs often carry the other branch's dims
                return
            self.result.warnings.append(
                f"tensor {out.name!r}: the file declares shape {_text(declared)}, the graph "
                f"computes {_text(out.shape)}: the computed shape is used"
            )
            return
        if any(want is not None and got is None for got, want in zip(have, dims, strict=True)):
            out.shape = ir.Shape(
                [want if want is not None and got is None else d
                 for d, got, want in zip(out.shape.dims, have, dims, strict=True)]
            )  # fmt: skip

    def node(self, node: ir.Node, scope: Scope, k: int) -> None:
        domain = node.domain or ""
        if node.op_type == "Einsum" and domain == "":
            check_einsum(node)
        for name, attr in node.attributes.items():
            if attr.type == ir.AttributeType.GRAPH:
                self._bind_body_inputs(node, attr.as_graph())
                self.graph(attr.as_graph(), (*scope, (k, name)))
            elif attr.type == ir.AttributeType.GRAPHS:
                for j, g in enumerate(attr.as_graphs()):
                    self.graph(g, (*scope, (k, f"{name}[{j}]")))
        reason = _too_long_shape_input(node) or self._infer(node, domain)
        self._fold(node)
        reason = self._guard(node) or reason
        for out in node.outputs:
            if _unknown(out):
                if reason is None and not self._has_any_rule(node):
                    reason = "no shape rule for this op"
                self.result.failures.append(
                    Failure(scope, node.name or node.op_type, node.op_type, out.name,
                            reason or "output shape could not be worked out")
                )  # fmt: skip

    def _fold(self, node: ir.Node) -> None:
        """Small shape arithmetic whose inputs are all known is evaluated (constant folding of
        whitelisted ops, output size bounded first): exporters' chains the rules do not follow."""
        if (node.domain or "") != "" or len(node.outputs) != 1 or node.op_type not in FOLDABLE:
            return
        out = node.outputs[0]
        if out.const_value is not None or self.known_value(out) is not None:
            return  # known already (values the library worked out, all integers)
        ins = [None if v is None else self.known_value(v) for v in node.inputs]
        if any(v is not None and x is None for v, x in zip(node.inputs, ins, strict=True)):
            return
        val = fold_node(ir.serde.serialize_node(node), ins, self.ctx.get_opset_version(""))
        if val is None:
            return
        out.const_value = ir.tensor(val, name=out.name)
        if out.shape is None:
            self.ctx.set_shape_and_dtype(out, ir.Shape(list(val.shape)), out.const_value.dtype)
        if val.ndim <= 1 and np.issubdtype(val.dtype, np.integer):
            self.ctx.set_symbolic_value(out, [int(x) for x in val.reshape(-1)])

    def _has_any_rule(self, node: ir.Node) -> bool:
        return any(self._fns.get((node.domain or "", node.op_type), ()))

    def _infer(self, node: ir.Node, domain: str) -> str | None:
        """Run the first shape function that applies; the reason it failed, or None."""
        reason: str | None = None
        version = self.ctx.get_opset_version(domain)
        fns = self._fns.get((domain, node.op_type))
        if fns is None:
            fns = (
                self.rules.get((domain, node.op_type)),
                registry.get(domain, node.op_type, version=version),
            )
            self._fns[(domain, node.op_type)] = fns
        for fn in fns:
            if fn is None:
                continue
            try:
                if fn(self.ctx, node) is not False and not any(map(_unknown, node.outputs)):
                    return None
            except Exception as e:  # a rule that cannot handle this node: try the next
                reason = reason or _first_line(e)
        if any(map(_unknown, node.outputs)):
            try:
                self._function_body(node, version)
            except Exception as e:
                reason = reason or _first_line(e)
        if any(map(_unknown, node.outputs)):
            try:
                self._onnx_node_inference(node, domain, version)
            except Exception as e:
                reason = reason or _first_line(e)
        return reason

    def _function_body(self, node: ir.Node, version: int) -> None:
        """Ops defined by a function (a model-local one, or an op schema's body)."""
        from onnx_shape_inference import _engine, _functions  # the library's own expansion

        key = (node.domain or "", node.op_type, node.overload or "")
        if key in self.functions:
            _functions.infer_function_call_output_shapes(
                self.ctx, node, self.functions,
                process_graph_fn=_engine._process_graph, warn_on_missing=False,
            )  # fmt: skip
        else:
            _functions.infer_via_op_schema_function(
                self.ctx, node, process_graph_fn=_engine._process_graph, warn_on_missing=False,
                opset_version=version, model_functions=self.functions,
            )  # fmt: skip

    def _onnx_node_inference(self, node: ir.Node, domain: str, version: int) -> None:
        """onnx's own (C++) inference of this one node, given what is known of its inputs."""
        try:
            schema = onnx.defs.get_schema(node.op_type, version, domain)
        except Exception:
            return
        if not schema.has_type_and_shape_inference_function:
            return
        types: dict[str, onnx.TypeProto] = {}
        data: dict[str, onnx.TensorProto] = {}
        for v in node.inputs:
            if v is None or not v.name:
                continue
            if v.type is not None:
                vi = ir.serde.serialize_value(v)
                types[v.name] = vi.type
            t = v.const_value
            if t is not None and t.size <= SMALL_CONSTANT_ELEMENTS:
                with contextlib.suppress(Exception):  # a malformed payload: value unknown
                    data[v.name] = ir.serde.serialize_tensor(t)
        opsets = [onnx.helper.make_opsetid(d, v) for d, v in self.ctx.opset_imports.items()]
        out = onnx.shape_inference.infer_node_outputs(
            schema, ir.serde.serialize_node(node), types, data, opset_imports=opsets
        )
        for o in node.outputs:
            tp = out.get(o.name)
            if tp is None:
                continue
            if o.type is None:
                o.type = ir.serde.deserialize_type_proto_for_type(tp)
            shape = ir.serde.deserialize_type_proto_for_shape(tp)
            if shape is not None and o.shape is None:
                self.ctx.set_shape(o, self.ctx.name_anonymous_dims_in_shape(shape))

    def _bind_body_inputs(self, node: ir.Node, body: ir.Graph) -> None:
        """A Loop or Scan body's formal inputs take the types of what the node hands them."""
        if (node.domain or "") != "":
            return
        ins = node.inputs
        if node.op_type == "Loop":
            pairs = [(body.inputs[j], ins[j]) for j in range(2, min(len(ins), len(body.inputs)))]
            for formal, actual in pairs:
                self._refine(formal, actual.shape if actual is not None else None, actual)
            return
        if node.op_type != "Scan":
            return
        attr = node.attributes.get("num_scan_inputs")
        if attr is None or attr.type != ir.AttributeType.INT:
            return
        n_scan = attr.as_int()
        n_state = len(ins) - n_scan
        if self.ctx.get_opset_version("") < 9 or n_state < 0:
            return  # opset 8 Scan has a batch axis and sequence_lens: its body keeps its own
        axes_attr = node.attributes.get("scan_input_axes")
        axes = list(axes_attr.as_ints()) if axes_attr is not None else []
        for j in range(min(len(ins), len(body.inputs))):
            actual = ins[j]
            if actual is None:
                continue
            shape = actual.shape
            if j >= n_state and shape is not None:
                axis = axes[j - n_state] if j - n_state < len(axes) else 0
                axis += len(shape) if axis < 0 else 0
                if not 0 <= axis < len(shape):
                    continue
                dims = list(shape.dims)
                del dims[axis]
                shape = ir.Shape(dims)
            self._refine(body.inputs[j], shape, actual)

    def _refine(self, formal: ir.Value, shape: ir.Shape | None, actual: ir.Value | None) -> None:
        if actual is not None and formal.dtype is None and actual.dtype is not None:
            formal.dtype = actual.dtype
        if shape is None:
            return
        shape = self.ctx.name_anonymous_dims_in_shape(shape)
        old = formal.shape
        if old is None or len(old) != len(shape):
            formal.shape = shape
            return
        # the actual dims are what runs; the body's declared dims (often `unk__N`) are hints
        formal.shape = ir.Shape(
            [
                a if isinstance(a, int) or not isinstance(b, int) else b
                for a, b in zip(shape, old, strict=True)
            ]
        )

    def _guard(self, node: ir.Node) -> str | None:
        """Caps on what one node may produce: a rank, or a vector of computed values."""
        why = None
        for out in node.outputs:
            if out.shape is not None and len(out.shape) > MAX_RANK:
                out.shape = None
                why = f"output rank above {MAX_RANK}: refused"
            sym = self.ctx._symbolic_values.get(out)
            if sym is not None and len(sym) > SMALL_CONSTANT_ELEMENTS:
                # values beyond the cap are dropped, not kept: the shape stays
                del self.ctx._symbolic_values[out]
                out.const_value = None
                self.result.warnings.append(
                    f"value propagation skipped: tensor {out.name!r} (node "
                    f"{node.name or node.op_type!r}) has {len(sym)} computed values "
                    f"(limit {SMALL_CONSTANT_ELEMENTS})"
                )
        return why

    # --- results -----------------------------------------------------------------------------

    def collect(self, graph: ir.Graph, scope: Scope) -> None:
        infos: dict[str, TensorInfo] = {}
        values: dict[str, np.ndarray] = {}
        every = [*graph.inputs, *graph.initializers.values()]
        every += [o for n in graph for o in n.outputs]
        for v in every:
            if not v.name:
                continue
            infos[v.name] = self.info(v)
            val = self.known_value(v)
            if val is not None:
                values[v.name] = val
            else:
                sym = self.ctx._symbolic_values.get(v)
                if sym is not None and len(sym) == 1 and isinstance(sym[0], ir.SymbolicDim):
                    text = self.dim(sym[0])
                    if isinstance(text, str):
                        self.result.dim_values.setdefault(scope, {})[v.name] = text
        self.result.scopes[scope] = infos
        self.result.values[scope] = values

    def info(self, v: ir.Value) -> TensorInfo:
        made = v.producer()
        if made is not None and made.op_type == "ZipMap" and made.domain == "ai.onnx.ml":
            return _zipmap_info(v, made, self)
        t = v.type
        elem = 0
        if isinstance(t, ir.TensorType | ir.SparseTensorType) and t.dtype is not None:
            elem = int(t.dtype.value)
        elif t is not None and not isinstance(t, ir.TensorType | ir.SparseTensorType):
            return TensorInfo(v.name, 0, None)  # sequence / map / optional: no static size
        elif v.dtype is not None:
            elem = int(v.dtype.value)
        shape = None if v.shape is None else tuple(self.dim(d) for d in v.shape.dims)
        return TensorInfo(v.name, elem, shape)

    def dim(self, d: int | ir.SymbolicDim) -> Dim:
        if isinstance(d, int):
            return d if d >= 0 else None
        text = d.value
        if text is None:
            return None
        known = self._dims.get(text, _MISSING)
        if known is _MISSING:
            # the engine's own placeholders (alone or in an expression) are unknown dims; an
            # expression that simplified to a number (a reshape's -1 worked out) is that number
            generated = self.ctx.is_generated_symbol
            if text.strip().isdigit():
                known = int(text)
            elif any(generated(s) for s in (text, *_symbols(text))):
                known = None
            else:
                known = text
            self._dims[text] = known
        return known  # type: ignore[return-value]

    def known_value(self, v: ir.Value) -> np.ndarray | None:
        sym = self.ctx._symbolic_values.get(v)
        # the library keeps integer lists even for float tensors (Pow of a Cast): not values
        if sym is not None and v.dtype in _INT_DTYPES and all(isinstance(x, int) for x in sym):
            arr = np.asarray(sym, dtype=np.int64)  # the library keeps values as a flat list
            dims = [] if v.shape is None else list(v.shape.dims)
            static = v.shape is not None and all(isinstance(d, int) for d in dims)
            if static and int(np.prod(dims)) != arr.size:
                return None  # the library keeps one row of a matrix's values: not the value
            return arr.reshape(dims) if static else arr
        try:  # an initializer, a Constant node's attribute, or a folded value
            t = ir.convenience.get_const_tensor(v)
            if t is None or t.size > SMALL_CONSTANT_ELEMENTS:
                return None
            return t.numpy()
        except Exception:  # a payload dropped at load, or malformed: the value is unknown
            return None


def _has_map(tp: onnx.TypeProto) -> bool:
    while True:
        kind = tp.WhichOneof("value")
        if kind == "map_type":
            return True
        if kind == "sequence_type":
            tp = tp.sequence_type.elem_type
        elif kind == "optional_type":
            tp = tp.optional_type.elem_type
        else:
            return False


def _clear_map_types(model: onnx.ModelProto) -> None:
    """onnx-ir has no map type (ZipMap, DictVectorizer): such declarations are dropped from our
    copy; the map-making ops' rules say what they make."""
    for g in iter_graphs(model.graph):
        for vi in (*g.input, *g.output, *g.value_info):
            if _has_map(vi.type):
                vi.type.Clear()


def _forget_dropped_payloads(irm: ir.Model) -> None:
    """Tensors whose payload the loader dropped (weights, oversized data) have a shape and a
    dtype but no value: nothing may read them as zeros. Initializers lose their value; Constant
    nodes become `DroppedConstant` nodes (dtype and shape of their attribute, no value)."""
    for g in irm.graphs():
        for value in g.initializers.values():
            if value.const_value is not None and not _has_payload(value.const_value):
                value.const_value = None
        for node in g:
            if node.op_type != "Constant" or (node.domain or "") != "":
                continue
            attr = node.attributes.get("value")
            tensor = (
                attr.as_tensor()
                if attr is not None and attr.type == ir.AttributeType.TENSOR
                else None
            )
            if tensor is not None and not _has_payload(tensor):
                node.domain, node.op_type = DROPPED, "DroppedConstant"


DROPPED = "onnxcost.dropped"


def _has_payload(t: object) -> bool:
    proto = getattr(t, "raw", None)
    if not isinstance(proto, onnx.TensorProto):
        return True  # an in-memory tensor (a value we computed) always has its data
    return has_payload(proto)


# Inputs read as a shape vector: one longer than the rank cap would make that many dims.
_SHAPE_INPUTS = {"Reshape": 1, "Expand": 1, "ConstantOfShape": 0, "Tile": 1, "Resize": 3}


def _too_long_shape_input(node: ir.Node) -> str | None:
    k = _SHAPE_INPUTS.get(node.op_type) if (node.domain or "") == "" else None
    v = node.inputs[k] if k is not None and k < len(node.inputs) else None
    if v is None or v.shape is None or len(v.shape) != 1:
        return None
    n = v.shape[0]
    if isinstance(n, int) and n > MAX_RANK:
        return f"input {v.name!r} is a shape of {n} dims (limit {MAX_RANK}): not inferred"
    return None


def _zipmap_info(v: ir.Value, node: ir.Node, walk: _Walk) -> TensorInfo:
    """ZipMap makes a sequence of N maps of C (label, probability) items: its size is known
    when the labels are integers (8 + 4 bytes an item); string labels have no static size."""
    probs = node.inputs[0] if node.inputs else None
    shape = None if probs is None or probs.shape is None else tuple(map(walk.dim, probs.shape))
    if "classlabels_int64s" in node.attributes and shape is not None and len(shape) == 2:
        return TensorInfo(v.name, 0, shape, item_bits=96, label="seq(map(int64,float))")
    return TensorInfo(v.name, 0, None, label="seq(map(string,float))")


def _text(shape: ir.Shape) -> str:
    return (
        "[" + ", ".join(str(d) if isinstance(d, int) else str(d.value or "?") for d in shape) + "]"
    )


def _unknown(v: ir.Value | None) -> bool:
    if v is None or not v.name:
        return False
    t = v.type
    if t is not None and not isinstance(t, ir.TensorType | ir.SparseTensorType):
        return False  # sequences, maps, optionals have no static shape to work out
    return v.shape is None


def _symbols(text: str) -> list[str]:
    out, cur = [], []
    for ch in text:
        if ch.isalnum() or ch == "_":
            cur.append(ch)
        else:
            if cur:
                out.append("".join(cur))
            cur = []
    if cur:
        out.append("".join(cur))
    return [s for s in out if not s[0].isdigit()]


def _first_line(e: BaseException) -> str:
    cause = e.__cause__ or e
    text = str(cause).strip().splitlines()
    return (text[0][:300] if text else type(cause).__name__) or type(cause).__name__
