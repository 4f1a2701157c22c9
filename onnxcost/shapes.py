"""Bind symbolic dims, run shape inference, and read every tensor's dtype and shape.

onnx's inference (with data propagation) runs first; where it leaves a node output without a
static shape, onnxruntime's symbolic shape inference gets a try, and the better answer per tensor wins.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import types
from math import prod

import onnx

from .constants import ConstantValues
from .errors import ModelError, UsageError
from .fold import fold_values, with_folded_constants
from .loader import SMALL_CONSTANT_ELEMENTS, iter_graphs
from .ort_import import import_symbolic_shape_infer
from .rules.registry import Dim, TensorInfo


def declared_dim_params(graph: onnx.GraphProto) -> list[str]:
    """Symbolic dim names on the graph's (non-initializer) inputs, in order of appearance."""
    inits = {i.name for i in graph.initializer}
    seen: list[str] = []
    for vi in graph.input:
        if vi.name in inits:
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param and d.dim_param not in seen:
                seen.append(d.dim_param)
    return seen


def bind(
    model: onnx.ModelProto,
    dims: dict[str, int] | None = None,
    input_shapes: dict[str, list[int]] | None = None,
) -> dict[str, int]:
    """Fix symbolic dims by name and whole input shapes, in place on our copy of the model.

    Returns the dim bindings that apply (including those implied by `input_shapes`).
    """
    dims = dict(dims or {})
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = {vi.name: vi for vi in graph.input if vi.name not in inits}
    known = declared_dim_params(graph)  # before --input-shape overwrites the symbolic dims
    for name, shape in (input_shapes or {}).items():
        if name not in inputs:
            raise UsageError(
                f"--input-shape: {name!r} is not a graph input (inputs: {', '.join(inputs) or 'none'})"
            )
        if any(v < 0 for v in shape):
            raise UsageError(f"--input-shape: {name!r} has a negative dim")
        tt = inputs[name].type.tensor_type
        if tt.HasField("shape") and len(tt.shape.dim) != len(shape):
            raise UsageError(
                f"--input-shape: {name!r} has rank {len(tt.shape.dim)}, got {len(shape)} dims"
            )
        for d, v in zip(tt.shape.dim, shape, strict=False):
            if d.HasField("dim_param") and d.dim_param and d.dim_param not in dims:
                dims[d.dim_param] = v
        tt.shape.Clear()
        for v in shape:
            tt.shape.dim.add().dim_value = v
    for name, value in dims.items():
        if value < 0:
            raise UsageError(f"--dim {name}={value}: a dim must be >= 0")
        if name not in known and not _dim_used_anywhere(graph, name):
            raise UsageError(
                f"--dim {name}: the model has no dim named {name!r}"
                + (f" (its dims: {', '.join(known)})" if known else " (it has no symbolic dims)")
            )
    if dims:
        for g in iter_graphs(graph):
            for vi in (*g.input, *g.output, *g.value_info):
                for d in vi.type.tensor_type.shape.dim:
                    if d.HasField("dim_param") and d.dim_param in dims:
                        d.dim_value = dims[d.dim_param]  # clears dim_param (oneof)
    return dims


def _dim_used_anywhere(graph: onnx.GraphProto, name: str) -> bool:
    for g in iter_graphs(graph):
        for vi in (*g.input, *g.output, *g.value_info):
            if any(d.dim_param == name for d in vi.type.tensor_type.shape.dim):
                return True
    return False


def infer(
    model: onnx.ModelProto,
) -> tuple[onnx.ModelProto, list[str], dict[str, TensorInfo]]:
    """Run shape inference; returns the inferred model, warnings and every tensor's info.

    Never raises on gaps: what stays unknown is left for the report to list.

    onnx's value propagation (data_prop) and onnxruntime's symbolic inference compute small
    integer vectors (shapes) in memory, and a tiny hostile file can make those grow exponentially
    (a chain of Concat(x, x)). So a first pass without value propagation measures them, and the
    value-computing passes run only when every such vector stays within the cap.
    """
    warnings: list[str] = []
    _check_einsum_equations(model.graph)  # guard (engine rewrite: keep): before any onnx call
    try:
        inferred = onnx.shape_inference.infer_shapes(
            model, check_type=False, strict_mode=False, data_prop=False
        )
        failed = False
    except Exception as e:  # onnx raises several types; a gap is not fatal
        warnings.append(f"onnx shape inference failed: {_first_line(e)}")
        inferred, failed = model, True
    _clear_negative_dims(inferred, [])
    hazard = _propagation_hazard(inferred.graph)
    if hazard is not None:
        warnings.append(f"shape value propagation skipped: {hazard}")
    elif not failed:
        try:
            inferred = onnx.shape_inference.infer_shapes(
                model, check_type=False, strict_mode=False, data_prop=True
            )
        except Exception as e:
            warnings.append(f"onnx shape inference failed: {_first_line(e)}")
    _clear_negative_dims(inferred, warnings)
    infos = collect(inferred.graph)
    if hazard is None and _incomplete(inferred.graph, infos):
        infos = _fold_and_reinfer(inferred, infos)
    if hazard is None and _incomplete(inferred.graph, infos):
        sym = _ort_symbolic(inferred, warnings)
        if sym is not None:
            _clear_negative_dims(sym, [])
            _merge_value_info(inferred, sym, infos)
            infos = collect(inferred.graph)
    _sequence_concat_shapes(inferred.graph, infos)
    return inferred, warnings, infos


_EINSUM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,->. ")


def _check_einsum_equations(graph: onnx.GraphProto) -> None:
    """Guard: onnx's C++ Einsum inference never returns on a term with two ellipses
    ('i...j...,k->'), and C++ cannot be interrupted; so equations are checked before any onnx
    inference call. A malformed equation is refused (the Einsum rule could not cost it anyway)."""
    for g in iter_graphs(graph):
        for node in g.node:
            if node.op_type != "Einsum":
                continue
            eq = next((a.s for a in node.attribute if a.name == "equation"), b"")
            text = eq.decode("utf-8", "replace") if isinstance(eq, bytes) else str(eq)
            terms = text.replace("->", ",").split(",")
            bad = (
                not set(text) <= _EINSUM_CHARS
                or text.count("->") > 1
                or any(t.count("...") > 1 or t.replace("...", "").count(".") for t in terms)
            )
            if bad:
                raise ModelError(
                    f"node {node.name or 'Einsum'!r} (Einsum): equation {text[:80]!r} is not a "
                    "valid Einsum equation (at most one '...' per term): refused"
                )


def _clear_negative_dims(model: onnx.ModelProto, warnings: list[str]) -> None:
    """A negative dim out of inference (bad attributes upstream) becomes an unknown dim.

    Declared input dims were checked at load; the node's rule reports what is wrong with it.
    """
    for g in iter_graphs(model.graph):
        for vi in (*g.value_info, *g.output):
            if not vi.type.HasField("tensor_type"):
                continue
            for d in vi.type.tensor_type.shape.dim:
                if d.HasField("dim_value") and d.dim_value < 0:
                    warnings.append(
                        f"tensor {vi.name!r}: shape inference gave dim {d.dim_value} "
                        "(invalid attributes upstream?): treated as unknown"
                    )
                    d.Clear()


_INT_TYPES = (onnx.TensorProto.INT64, onnx.TensorProto.INT32)


@functools.cache
def _propagating_ops() -> frozenset[str]:
    """ONNX ops through which onnx's inference propagates values (Shape, Concat, Gather, ...)."""
    try:
        return frozenset(
            s.name
            for s in onnx.defs.get_all_schemas_with_history()
            if s.domain in ("", "ai.onnx") and s.has_data_propagation_function
        )
    except AttributeError:  # an onnx without the flag: the ops known to propagate (onnx 1.23)
        known = "Add Cast Concat Gather Mul Shape Size Slice Squeeze Sub Unsqueeze"
        return frozenset(known.split())


def _propagation_hazard(graph: onnx.GraphProto) -> str | None:
    """Why computing shape values could blow up (a vector beyond the cap), or None.

    An upper bound of how many values each tensor could carry in onnx's value propagation:
    stored constants their declared size (onnx may size a vector by the dims even when the
    payload was dropped), Shape the rank, Concat the sum, Gather its indices, the other
    propagating ops their largest input, every other op nothing (onnxruntime's own pass is
    guarded separately); tightened to the tensor's static size where the plain pass knows it,
    and to nothing where the tensor is not an integer scalar or vector (only those carry
    values). Names not yet seen in file order are assumed to carry the cap, so an unusual
    order errs on the safe side.
    """
    cap = SMALL_CONSTANT_ELEMENTS
    infos: dict[str, TensorInfo] = {}
    for g in iter_graphs(graph):
        for vi in (*g.input, *g.value_info, *g.output):
            t = _info(vi.name, vi.type)
            if t.shape is not None and len(t.shape) > cap:
                return f"tensor {vi.name!r} has rank {len(t.shape)} (limit {cap})"
            infos[vi.name] = t
    bound: dict[str, int] = {}
    for g in iter_graphs(graph):
        for vi in g.input:
            bound[vi.name] = 0  # a run-time value: nothing to propagate
        for t in g.initializer:
            bound[t.name] = prod(t.dims)  # declared: onnx may size a vector by it, payload or not
        for node in g.node:
            ins = [bound.get(n, cap) if n else 0 for n in node.input]
            b = _value_bound(node, ins, infos, cap) if node.domain in ("", "ai.onnx") else 0
            for out in node.output:
                info = infos.get(out)
                bo = b
                if info is not None and info.shape is not None:
                    if len(info.shape) > 1 or (info.elem_type and info.elem_type not in _INT_TYPES):
                        bo = 0
                    elif info.static:
                        bo = min(bo, prod(info.dims()))
                if bo > cap:
                    return (
                        f"tensor {out!r} (node {node.name or node.op_type!r}) could hold {bo} "
                        f"computed values (limit {cap})"
                    )
                bound[out] = bo
    return None


def _value_bound(
    node: onnx.NodeProto, ins: list[int], infos: dict[str, TensorInfo], cap: int
) -> int:
    op = node.op_type
    if op == "Constant":
        for a in node.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                return prod(a.t.dims)
            if a.type == onnx.AttributeProto.SPARSE_TENSOR:
                # guard (engine rewrite: keep): onnx's value propagation densifies it
                return prod(a.sparse_tensor.dims)
            return min(max(len(a.ints), len(a.floats), 1), cap)
        return 0
    if op == "Shape":
        x = infos.get(node.input[0]) if node.input else None
        return len(x.shape) if x is not None and x.shape is not None else cap
    if op == "Size":
        return 1
    if op == "Concat":
        return sum(ins)
    if op == "Gather":
        return ins[1] if len(ins) > 1 else 0
    if op in _propagating_ops():
        return max(ins, default=0)
    return 0


def _sequence_concat_shapes(graph: onnx.GraphProto, infos: dict[str, TensorInfo]) -> None:
    """ConcatFromSequence of a SequenceConstruct: the shape follows from the elements' shapes,
    which onnx's inference does not carry through the sequence type."""
    made_by = {n.output[0]: n for n in graph.node if n.op_type == "SequenceConstruct" and n.output}
    for node in graph.node:
        if node.op_type != "ConcatFromSequence" or not node.output or node.input[0] not in made_by:
            continue
        parts = [infos.get(n) for n in made_by[node.input[0]].input]
        if not parts or any(p is None or not p.static for p in parts):
            continue
        shapes = [p.dims() for p in parts]  # type: ignore[union-attr]
        attrs = {a.name: a.i for a in node.attribute}
        new_axis, rank = attrs.get("new_axis", 0), len(shapes[0])
        axis = attrs.get("axis", 0)
        axis += (rank + 1 if new_axis else rank) if axis < 0 else 0
        if new_axis:
            if any(sh != shapes[0] for sh in shapes) or not 0 <= axis <= rank:
                continue
            out = (*shapes[0][:axis], len(shapes), *shapes[0][axis:])
        else:
            rest = {sh[:axis] + sh[axis + 1 :] for sh in shapes}
            if len(rest) != 1 or not 0 <= axis < rank or any(len(sh) != rank for sh in shapes):
                continue
            out = (*shapes[0][:axis], sum(sh[axis] for sh in shapes), *shapes[0][axis + 1 :])
        infos[node.output[0]] = TensorInfo(node.output[0], parts[0].elem_type, out)  # type: ignore[union-attr]


def _fold_and_reinfer(
    inferred: onnx.ModelProto, infos: dict[str, TensorInfo]
) -> dict[str, TensorInfo]:
    """Fold small constant shape arithmetic into Constants and infer again; keep what improved."""
    opsets = {(imp.domain or ""): imp.version for imp in inferred.opset_import}
    values = fold_values(inferred.graph, infos, ConstantValues(inferred.graph), opsets)
    if not values:
        return infos
    folded = with_folded_constants(inferred, values)
    try:
        again = onnx.shape_inference.infer_shapes(
            folded, check_type=False, strict_mode=False, data_prop=True
        )
    except Exception:  # the first pass's answer stands
        return infos
    _clear_negative_dims(again, [])
    _merge_value_info(inferred, again, infos)
    return collect(inferred.graph)


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def _incomplete(graph: onnx.GraphProto, infos: dict[str, TensorInfo]) -> bool:
    """True when a tensor that is read (or is a graph output) has no static shape."""
    needed = {n for node in graph.node for n in node.input} | {o.name for o in graph.output}
    for node in graph.node:
        for out in node.output:
            if out in needed and (out not in infos or not infos[out].static):
                return True
    return False


def _ort_symbolic(model: onnx.ModelProto, warnings: list[str]) -> onnx.ModelProto | None:
    """onnxruntime's symbolic inference (knows contrib ops, merges symbols); None if it fails.

    Its public entry point saves a file into the working directory when inference is incomplete,
    so we run its steps ourselves (keeping the partial answer), with guards against vectors and
    ranks beyond the cap (`_bounded_symbolic`); if its internals are not the ones we know, it is
    not used at all. A failure needs no warning of its own: what stays unknown is listed as
    unresolved.
    """
    ssi = import_symbolic_shape_infer()  # loaded so that onnxruntime writes nothing
    if ssi is None:  # onnxruntime or sympy missing: onnx's answer stands, and we say so
        warnings.append(
            "onnxruntime symbolic shape inference unavailable: onnxruntime or sympy not installed"
        )
        return None
    bounded = _bounded_symbolic(ssi, model)
    if bounded is None:
        return None
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    sink = io.StringIO()
    original = ssi.SymbolicShapeInference
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            # It infers subgraphs with new instances it creates by name: guard those too.
            ssi.SymbolicShapeInference = bounded
            sym = bounded(2**31 - 1, True, False, 0)
            sym._preprocess(model)
            while sym.run_:
                sym._infer_impl()
            sym._update_output_from_vi()
            return sym.out_mp_
    except Exception:  # it raises many types on graphs it cannot handle; and _Refused
        return None
    finally:
        ssi.SymbolicShapeInference = original
        logger.setLevel(level)


class _Refused(Exception):
    """A value count or rank beyond the cap inside onnxruntime's symbolic inference."""


_ORT_METHODS = (
    "_preprocess",
    "_infer_impl",
    "_update_output_from_vi",
    "_new_symbolic_shape",
    "_infer_ConstantOfShape",
    "_infer_Concat",
    "_get_int_or_float_values",
)


MAX_SYMBOLIC_VISITS_PER_NODE = 16


def _count_nodes(model: onnx.ModelProto | None) -> int:
    return 0 if model is None else sum(len(g.node) for g in iter_graphs(model.graph))


def _bounded_symbolic(
    ssi: types.ModuleType, base_model: onnx.ModelProto | None = None
) -> type | None:
    """A SymbolicShapeInference that never builds a value vector or a rank beyond the cap.

    Unguarded, a ConstantOfShape of a large constant shape allocates that many int64s, a Reshape
    to a long shape vector creates that many symbols, and Concat chains double their lists.
    """
    base = getattr(ssi, "SymbolicShapeInference", None)
    if base is None or not all(hasattr(base, m) for m in _ORT_METHODS):
        return None
    cap = SMALL_CONSTANT_ELEMENTS
    # Guard (engine rewrite: keep): node visits over all passes and all subgraph instances.
    # Its pass loop has no cap (an input of element type 0 keeps MatMul re-running forever) and
    # nested If costs 2^depth (each level infers its branches again).
    budget = [MAX_SYMBOLIC_VISITS_PER_NODE * max(1, _count_nodes(base_model)) + 10_000]

    class Bounded(base):  # type: ignore[misc, valid-type]
        def _infer_impl(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            budget[0] -= len(self.out_mp_.graph.node) + 1
            if budget[0] < 0:
                raise _Refused("pass budget spent")
            return super()._infer_impl(*args, **kwargs)

        def _new_symbolic_shape(self, rank, node, out_idx=0):  # type: ignore[no-untyped-def]
            if not isinstance(rank, int) or rank > cap:
                raise _Refused(f"{node.op_type}: rank {rank}")
            return super()._new_symbolic_shape(rank, node, out_idx)

        def _infer_ConstantOfShape(self, node):  # type: ignore[no-untyped-def]
            shape = self._get_int_or_float_values(node)[0]
            if shape is not None:
                dims = shape if isinstance(shape, list) else [shape]
                if len(dims) > cap:
                    raise _Refused(f"ConstantOfShape: rank {len(dims)}")
                try:
                    n = prod(int(d) for d in dims)
                except (TypeError, ValueError):  # symbolic dims: no values get computed
                    n = 0
                if n > cap:
                    raise _Refused(f"ConstantOfShape: {n} values")
            return super()._infer_ConstantOfShape(node)

        def _infer_Concat(self, node):  # type: ignore[no-untyped-def]
            super()._infer_Concat(node)
            data = self.sympy_data_.get(node.output[0]) if node.output else None
            if isinstance(data, list) and len(data) > cap:
                raise _Refused(f"Concat: {len(data)} values")

    return Bounded


def _score(t: TensorInfo) -> tuple[int, int]:
    if t.shape is None:
        return (-1, 0)
    return (
        sum(isinstance(d, int) for d in t.shape),
        sum(isinstance(d, str) for d in t.shape),
    )


def _merge_value_info(
    target: onnx.ModelProto, source: onnx.ModelProto, have: dict[str, TensorInfo]
) -> None:
    """Copy into `target` the value_info entries where `source` knows more than `have`."""
    by_name = {vi.name: vi for vi in target.graph.value_info}
    for vi in (*source.graph.value_info, *source.graph.output):
        new = _info(vi.name, vi.type)
        old = have.get(vi.name)
        if old is not None and _score(new) <= _score(old):
            continue
        if vi.name in by_name:
            by_name[vi.name].CopyFrom(vi)
        elif vi.name in {o.name for o in target.graph.output}:
            for o in target.graph.output:
                if o.name == vi.name:
                    o.CopyFrom(vi)
        else:
            target.graph.value_info.append(vi)


def _dim(d: onnx.TensorShapeProto.Dimension, tensor: str) -> Dim:
    if d.HasField("dim_value"):
        if d.dim_value < 0:
            raise ModelError(f"tensor {tensor!r}: negative dim {d.dim_value}")
        return int(d.dim_value)
    if d.HasField("dim_param") and d.dim_param:
        return d.dim_param
    return None


def _info(name: str, tp: onnx.TypeProto) -> TensorInfo:
    which = tp.WhichOneof("value")
    if which in ("tensor_type", "sparse_tensor_type"):
        tt = getattr(tp, which)
        shape = tuple(_dim(d, name) for d in tt.shape.dim) if tt.HasField("shape") else None
        return TensorInfo(name, tt.elem_type, shape)
    return TensorInfo(name, 0, None)  # sequence / map / optional: no static size


def tensor_info(t: onnx.TensorProto) -> TensorInfo:
    for d in t.dims:
        if d < 0:
            raise ModelError(f"tensor {t.name!r}: negative dim {d}")
    return TensorInfo(t.name, t.data_type, tuple(int(d) for d in t.dims))


def collect(graph: onnx.GraphProto) -> dict[str, TensorInfo]:
    """dtype and shape of every tensor declared in `graph` and its subgraphs."""
    infos: dict[str, TensorInfo] = {}
    for g in iter_graphs(graph):
        for vi in (*g.input, *g.value_info, *g.output):
            new = _info(vi.name, vi.type)
            old = infos.get(vi.name)
            if old is None or _score(new) > _score(old):
                infos[vi.name] = new
        for t in g.initializer:
            infos[t.name] = tensor_info(t)
        for node in g.node:
            if node.op_type == "Constant" and node.output:
                for a in node.attribute:
                    if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                        infos[node.output[0]] = tensor_info(a.t)
    return infos
