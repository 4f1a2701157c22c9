"""Bind symbolic dims, run shape inference, and read every tensor's dtype and shape.

onnx's inference (with data propagation) runs first; where it leaves a node output without a
static shape, onnxruntime's symbolic shape inference gets a try, and the better answer per tensor wins.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile

import onnx

from .constants import ConstantValues
from .errors import ModelError, UsageError
from .fold import fold_values, with_folded_constants
from .loader import iter_graphs
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
    """
    warnings: list[str] = []
    try:
        inferred = onnx.shape_inference.infer_shapes(
            model, check_type=False, strict_mode=False, data_prop=True
        )
    except Exception as e:  # onnx raises several types; a gap is not fatal
        warnings.append(f"onnx shape inference failed: {_first_line(e)}")
        inferred = model
    infos = collect(inferred.graph)
    if _incomplete(inferred.graph, infos):
        infos = _fold_and_reinfer(inferred, infos)
    if _incomplete(inferred.graph, infos):
        sym = _ort_symbolic(inferred)
        if sym is not None:
            _merge_value_info(inferred, sym, infos)
            infos = collect(inferred.graph)
    _sequence_concat_shapes(inferred.graph, infos)
    return inferred, warnings, infos


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


def _ort_symbolic(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """onnxruntime's symbolic inference (knows contrib ops, merges symbols); None if it fails.

    Its public entry point saves a file into the working directory when inference is incomplete,
    so we run its steps ourselves (keeping the partial answer), or failing that, in a temp dir.
    A failure needs no warning of its own: whatever stays unknown is listed as unresolved.
    """
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    except Exception:  # onnxruntime missing or broken: onnx's answer stands
        return None
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            try:
                sym = SymbolicShapeInference(2**31 - 1, True, False, 0)
                sym._preprocess(model)
                while sym.run_:
                    sym._infer_impl()
                sym._update_output_from_vi()
                return sym.out_mp_
            except AttributeError:  # its internals changed: use the public call, away from cwd
                with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
                    return SymbolicShapeInference.infer_shapes(model, 2**31 - 1, True, False, 0)
    except Exception:  # it raises many types on graphs it cannot handle
        return None
    finally:
        logger.setLevel(level)


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
