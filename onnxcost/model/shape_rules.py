"""Shape rules of our own: ops that onnx-shape-inference and onnx's own inference lack or miss.

One small function per op family, registered with `@shape_rule(domain, *ops)`, in the style of the
cost rules: it reads the node's inputs and attributes and sets its outputs' dtype and shape through
the shape context (`ctx.set_shape_and_dtype`). Dims may be symbolic (`ir.SymbolicDim`); a rule
that cannot work a shape out leaves it unknown and the engine reports it. Our rule runs before the
library's; returning False hands the node on to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import onnx_ir as ir
from onnx_shape_inference import ShapeInferenceContext, broadcast_shapes, registry

from onnxcost.errors import ModelError
from onnxcost.model.fast_contrib import classifier_columns
from onnxcost.model.loader import SMALL_CONSTANT_ELEMENTS

ShapeRule = Callable[[ShapeInferenceContext, ir.Node], "bool | None"]
RULES: dict[tuple[str, str], ShapeRule] = {}

ML = "ai.onnx.ml"
MS = "com.microsoft"
FLOAT = ir.DataType.FLOAT
INT64 = ir.DataType.INT64
DimT = int | ir.SymbolicDim
MAX_VALUES = SMALL_CONSTANT_ELEMENTS  # computed values carried per tensor


def shape_rule(domain: str, *op_types: str) -> Callable[[ShapeRule], ShapeRule]:
    def deco(fn: ShapeRule) -> ShapeRule:
        for op in op_types:
            RULES[(domain, op)] = fn
        return fn

    return deco


# --- helpers ---------------------------------------------------------------------------------


def note(ctx: ShapeInferenceContext, text: str) -> None:
    """A warning for the report (the engine gives the context a list to collect them)."""
    notes = getattr(ctx, "onnxcost_notes", None)
    if notes is not None:
        notes.append(text)


def _in(node: ir.Node, i: int) -> ir.Value | None:
    return node.inputs[i] if i < len(node.inputs) else None


def _dims(v: ir.Value | None) -> list[DimT] | None:
    return None if v is None or v.shape is None else list(v.shape.dims)


def _set(
    ctx: ShapeInferenceContext,
    node: ir.Node,
    i: int,
    dims: Sequence[DimT] | None,
    dtype: ir.DataType | None,
) -> None:
    if i >= len(node.outputs) or not node.outputs[i].name:
        return
    shape = None if dims is None else ctx.name_anonymous_dims_in_shape(ir.Shape(list(dims)))
    ctx.set_shape_and_dtype(node.outputs[i], shape, dtype)


def _int(node: ir.Node, name: str, default: int) -> int:
    a = node.attributes.get(name)
    return a.as_int() if a is not None and a.type == ir.AttributeType.INT else default


def _ints(node: ir.Node, name: str) -> list[int]:
    a = node.attributes.get(name)
    return list(a.as_ints()) if a is not None and a.type == ir.AttributeType.INTS else []


def _count(node: ir.Node, *names: str) -> int:
    """Length of the first list attribute present (class labels, targets...)."""
    for n in names:
        a = node.attributes.get(n)
        if a is not None and a.type in (
            ir.AttributeType.INTS,
            ir.AttributeType.STRINGS,
            ir.AttributeType.FLOATS,
        ):
            return len(a.value)
    return 0


def _rows(v: ir.Value | None) -> DimT | None:
    """N of a [N, F] (or [F]) feature input of the ml ops."""
    d = _dims(v)
    if d is None:
        return None
    return 1 if len(d) <= 1 else d[0]


def _dtype(v: ir.Value | None) -> ir.DataType | None:
    return None if v is None else v.dtype


def _theirs(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    fn = registry.get(node.domain or "", node.op_type, version=ctx.get_opset_version(node.domain))
    if fn is not None:
        fn(ctx, node)


def _matmul_dims(a: list[DimT], b: list[DimT], n: DimT | None = None) -> list[DimT] | None:
    """numpy matmul of [..., M, K] x [..., K, N]; `n` replaces N (packed weights)."""
    if len(a) == 0 or len(b) == 0:
        return None
    a2 = [1, *a] if len(a) == 1 else a
    b2 = [*b, 1] if len(b) == 1 else b
    batch = broadcast_shapes(ir.Shape(a2[:-2]), ir.Shape(b2[:-2]))
    if batch is None:
        return None
    out = [*batch.dims, a2[-2], b2[-1] if n is None else n]
    if len(a) == 1:
        out.pop(-2)
    if len(b) == 1 and n is None:
        out.pop(-1)
    return out


# --- ai.onnx.ml ------------------------------------------------------------------------------


@shape_rule(ML, "Scaler", "Normalizer")
def same_shape_float(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    _set(ctx, node, 0, _dims(_in(node, 0)), FLOAT)


@shape_rule(ML, "Imputer")
def imputer(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    _set(ctx, node, 0, _dims(_in(node, 0)), _dtype(_in(node, 0)))


@shape_rule(ML, "LinearRegressor", "SVMRegressor", "TreeEnsembleRegressor")
def regressor(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    key = "n_targets" if node.op_type == "TreeEnsembleRegressor" else "targets"  # its name there
    targets = _int(node, key, 1) if node.op_type != "SVMRegressor" else 1
    n = _rows(_in(node, 0))
    _set(ctx, node, 0, None if n is None else [n, targets], FLOAT)


def _labels_dtype(node: ir.Node) -> ir.DataType:
    a = node.attributes.get("classlabels_strings")
    return ir.DataType.STRING if a is not None and len(a.value) else INT64


@shape_rule(ML, "TreeEnsembleClassifier", "SVMClassifier", "LinearClassifier")
def classifier(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """label [N], scores [N, C]: C as `classifier_columns` counts it (the fast path's too)."""
    n = _rows(_in(node, 0))
    cols = classifier_columns(node.op_type, lambda *names: _count(node, *names))
    _set(ctx, node, 0, None if n is None else [n], _labels_dtype(node))
    _set(ctx, node, 1, None if n is None or not cols else [n, cols], FLOAT)


@shape_rule(ML, "ZipMap")
def zipmap(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """A sequence of maps: not a tensor (the engine sizes it from the probabilities' shape)."""
    if node.outputs and node.outputs[0].name:
        node.outputs[0].type = ir.SequenceType(ir.TensorType(FLOAT))


@shape_rule(ML, "ArrayFeatureExtractor")
def array_feature_extractor(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """X [..., C] and indices of any shape: [..., number of indices]; a 1-D X is one row
    [1, C] (what onnxruntime does: onnx's own inference gives [number of indices])."""
    x, idx = _dims(_in(node, 0)), _dims(_in(node, 1))
    if x is None or idx is None or not x or not all(isinstance(d, int) for d in idx):
        return
    n = 1
    for d in idx:
        n *= d  # type: ignore[operator]
    rows = [1] if len(x) == 1 else x[:-1]
    _set(ctx, node, 0, [*rows, n], _dtype(_in(node, 0)))


@shape_rule(ML, "FeatureVectorizer")
def feature_vectorizer(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    dims = _ints(node, "inputdimensions")
    n = _rows(_in(node, 0))
    _set(ctx, node, 0, None if n is None or not dims else [n, sum(dims)], FLOAT)


# --- com.microsoft ops the library lacks -----------------------------------------------------


@shape_rule(MS, "BiasSoftmax", "Trilu", "GemmaRotaryEmbedding", "QuickGelu")
def same_as_input0(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    x = _in(node, 0)
    _set(ctx, node, 0, _dims(x), _dtype(x))


@shape_rule(MS, "BiasDropout")
def bias_dropout(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    x = _in(node, 0)
    _set(ctx, node, 0, _dims(x), _dtype(x))
    _set(ctx, node, 1, _dims(x), ir.DataType.BOOL)


@shape_rule(MS, "QuantizeLinear", "QuantizeWithOrder")
def ms_quantize(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    zp = _in(node, 2)
    dtype = _dtype(zp) if zp is not None and zp.dtype is not None else ir.DataType.INT8
    if node.op_type == "QuantizeLinear" and zp is None:
        dtype = ir.DataType.UINT8
    _set(ctx, node, 0, _dims(_in(node, 0)), dtype)


@shape_rule(MS, "DequantizeLinear", "DequantizeWithOrder")
def ms_dequantize(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    scale = _in(node, 1)
    _set(ctx, node, 0, _dims(_in(node, 0)), _dtype(scale) or FLOAT)


@shape_rule(
    MS, "MatMulInteger16", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "FusedMatMulActivation"
)
def ms_matmul(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    a, b = _dims(_in(node, 0)), _dims(_in(node, 1))
    dtype = {"MatMulInteger16": ir.DataType.INT32}.get(node.op_type)
    if dtype is None:  # the float ops: the dtype of the scales, or of A
        scale = _in(node, 2) if node.op_type != "FusedMatMulActivation" else _in(node, 0)
        dtype = _dtype(scale) or FLOAT
    _set(ctx, node, 0, None if a is None or b is None else _matmul_dims(a, b), dtype)


@shape_rule(MS, "MatMulFpQ4", "MatMulBnb4", "MatMulNBitsMlp", "MatMulNBitsQLoRA")
def ms_matmul_packed(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    a = _dims(_in(node, 0))
    n = _int(node, "N", -1)
    if a is None or n < 0:
        return
    _set(ctx, node, 0, [*a[:-1], n], _dtype(_in(node, 0)))


@shape_rule(MS, "MulInteger")
def mul_integer(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    a, b = _in(node, 0), _in(node, 3)
    if a is None or b is None or a.shape is None or b.shape is None:
        return
    out = broadcast_shapes(a.shape, b.shape)
    _set(ctx, node, 0, None if out is None else out.dims, ir.DataType.INT32)


@shape_rule(MS, "FusedGemm")
def fused_gemm(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    a, b = _dims(_in(node, 0)), _dims(_in(node, 1))
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return
    m = a[1] if _int(node, "transA", 0) else a[0]
    n = b[0] if _int(node, "transB", 0) else b[1]
    _set(ctx, node, 0, [m, n], _dtype(_in(node, 0)))


def _as_onnx(ctx: ShapeInferenceContext, node: ir.Node, op: str) -> bool:
    """Run the ONNX-domain op's shape function on a contrib node of the same semantics."""
    fn = registry.get("", op, version=ctx.get_opset_version(""))
    if fn is None:
        return False
    domain, op_type = node.domain, node.op_type
    try:
        node.domain, node.op_type = "", op
        fn(ctx, node)
    finally:
        node.domain, node.op_type = domain, op_type
    return True


@shape_rule(MS, "FusedConv")
def fused_conv(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    _as_onnx(ctx, node, "Conv")


@shape_rule(MS, "GatherND", "Range", "Pad")
def onnx_twin(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    _as_onnx(ctx, node, node.op_type)


@shape_rule(MS, "QLinearGlobalAveragePool")
def qlinear_global_average_pool(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """Pools every spatial dim to 1 (the library keeps the input's shape, onnx-shape-inference
    0.4): [N, C, 1, ...], or [N, 1, ..., C] with channels_last."""
    x = _dims(_in(node, 0))
    if x is None or len(x) < 3:
        return
    if _int(node, "channels_last", 0):
        out = [x[0], *([1] * (len(x) - 2)), x[-1]]
    else:
        out = [x[0], x[1], *([1] * (len(x) - 2))]
    _set(ctx, node, 0, out, _dtype(_in(node, 0)))


@shape_rule(MS, "QLinearReduceMean")
def qlinear_reduce_mean(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """Reduces over `axes` (keepdims kept as 1); the library keeps the input's shape."""
    x = _dims(_in(node, 0))
    if x is None:
        return
    axes = {a + len(x) if a < 0 else a for a in _ints(node, "axes")} or set(range(len(x)))
    keep = _int(node, "keepdims", 1)
    out = [1 if i in axes else d for i, d in enumerate(x) if keep or i not in axes]
    _set(ctx, node, 0, out, _dtype(_in(node, 0)))


@shape_rule(MS, "ExpandDims")
def expand_dims(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    x, axis = _dims(_in(node, 0)), _in(node, 1)
    t = axis.const_value if axis is not None else None
    if x is None or t is None:
        return
    k = int(t.numpy().reshape(-1)[0])
    k += len(x) + 1 if k < 0 else 0
    _set(ctx, node, 0, [*x[:k], 1, *x[k:]], _dtype(_in(node, 0)))


@shape_rule(MS, "TorchEmbedding")
def torch_embedding(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    w, idx = _dims(_in(node, 0)), _dims(_in(node, 1))
    if w is None or idx is None or len(w) != 2:
        return
    _set(ctx, node, 0, [*idx, w[1]], _dtype(_in(node, 0)))


@shape_rule(MS, "SwiGLU")
def swiglu(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    x = _dims(_in(node, 0))
    if x is None or not isinstance(x[-1], int):
        return
    _set(ctx, node, 0, [*x[:-1], x[-1] // 2], _dtype(_in(node, 0)))


@shape_rule(MS, "NhwcConv", "NhwcFusedConv", "NhwcMaxPool")
def nhwc(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """Channels-last twins of Conv and MaxPool: infer in NCHW, then move channels last."""
    x = _in(node, 0)
    xd = _dims(x)
    if x is None or xd is None or len(xd) < 3:
        return
    op = "MaxPool" if node.op_type == "NhwcMaxPool" else "Conv"
    saved = x.shape
    x.shape = ir.Shape([xd[0], xd[-1], *xd[1:-1]])
    try:  # weights are [Cout, Cin/g, k...] in both layouts
        _as_onnx(ctx, node, op)
    finally:
        x.shape = saved
    out = node.outputs[0]
    if out.shape is not None and len(out.shape) >= 3:
        d = list(out.shape.dims)
        out.shape = ir.Shape([d[0], *d[2:], d[1]])


@shape_rule(MS, "DynamicQuantizeLSTM")
def dynamic_quantize_lstm(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """As LSTM: Y [seq, dirs, batch, hidden], Y_h and Y_c [dirs, batch, hidden]."""
    x = _dims(_in(node, 0))
    hidden = _int(node, "hidden_size", -1)
    if x is None or len(x) != 3 or hidden < 0:
        return
    dirs = 2 if _direction(node) == "bidirectional" else 1
    seq, batch = x[0], x[1]
    dtype = _dtype(_in(node, 0))
    _set(ctx, node, 0, [seq, dirs, batch, hidden], dtype)
    _set(ctx, node, 1, [dirs, batch, hidden], dtype)
    _set(ctx, node, 2, [dirs, batch, hidden], dtype)


def _direction(node: ir.Node) -> str:
    a = node.attributes.get("direction")
    return a.as_string() if a is not None and a.type == ir.AttributeType.STRING else "forward"


@shape_rule(MS, "RelativePositionBias")
def relative_position_bias(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """[1, heads, query_length, key_length] from the bias table [buckets, heads] and the two
    scalar lengths."""
    table = _dims(_in(node, 0))
    lens = [_scalar(ctx, _in(node, i)) for i in (1, 2)]
    if table is None or len(table) != 2:
        return
    q, k = (d if d is not None else ctx.new_symbolic_dim() for d in lens)
    _set(ctx, node, 0, [1, table[1], q, k], _dtype(_in(node, 0)))


def _scalar(ctx: ShapeInferenceContext, v: ir.Value | None) -> DimT | None:
    if v is None:
        return None
    data = ctx.get_symbolic_value(v)
    return data[0] if data is not None and len(data) == 1 else None


_EINSUM_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.,-> ")


def check_einsum(node: ir.Node) -> None:
    """onnx's C++ Einsum inference never returns on a term with two ellipses ('i...j...,k->'),
    and C++ cannot be interrupted: an equation that is not valid is refused before anything
    sees it (no rule could cost it anyway)."""
    a = node.attributes.get("equation")
    value = a.value if a is not None and a.type == ir.AttributeType.STRING else ""
    # onnx-ir keeps an attribute that is not UTF-8 as bytes: such an equation is not valid
    text = value if isinstance(value, str) else value.decode("utf-8", "replace")
    terms = text.replace("->", ",").split(",")
    if (
        not set(text) <= _EINSUM_CHARS
        or text.count("->") > 1
        or any(t.count("...") > 1 or t.replace("...", "").count(".") for t in terms)
    ):
        raise ModelError(
            f"node {node.name or 'Einsum'!r} (Einsum): equation {text[:80]!r} is not a valid "
            "Einsum equation (at most one '...' per term): refused"
        )


# --- ONNX ops whose shape the library does not follow ---------------------------------------


@shape_rule("", "If")
def if_(ctx: ShapeInferenceContext, node: ir.Node) -> bool | None:
    """A known condition (a constant, a value worked out, an input value given) picks the
    branch whose outputs the If gives; an unknown one is the library's merge of both."""
    cond = known_scalar(ctx, _in(node, 0))
    if cond is None:
        return False
    attr = node.attributes.get("then_branch" if cond else "else_branch")
    branch = attr.as_graph() if attr is not None and attr.type == ir.AttributeType.GRAPH else None
    if branch is None:
        return False
    for out, made in zip(node.outputs, branch.outputs, strict=False):
        if made.type is not None:
            ctx.set_type(out, made.type)
        if made.shape is not None:
            ctx.set_shape(out, ctx.name_anonymous_dims_in_shape(made.shape))
        data = ctx.get_symbolic_value(made)
        if data is not None:
            ctx.set_symbolic_value(out, list(data))
    return None


def known_scalar(ctx: ShapeInferenceContext, v: ir.Value | None) -> int | float | None:
    """The value of a one-element tensor, when it is known as a number."""
    if v is None:
        return None
    try:
        t = ir.convenience.get_const_tensor(v)
        if t is not None and t.size == 1:
            return t.numpy().reshape(-1)[0].item()
    except Exception:  # a dropped or malformed payload: unknown
        return None
    data = ctx.get_symbolic_value(v)
    return data[0] if data is not None and len(data) == 1 and isinstance(data[0], int) else None


@shape_rule("onnxcost.dropped", "DroppedConstant")
def dropped_constant(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """A Constant whose payload the loader dropped: its dtype and shape, never a value."""
    t = node.attributes["value"].as_tensor()
    _set(ctx, node, 0, list(t.shape.dims), t.dtype)


@shape_rule("", "Concat")
def concat(ctx: ShapeInferenceContext, node: ir.Node) -> bool | None:
    """The library's Concat, except for vectors longer than the cap: it would give each
    element without a known value a symbol of its own (a hostile chain doubles them)."""
    lengths = [_dims(v) for v in node.inputs]
    if any(d is None or len(d) != 1 or not isinstance(d[0], int) for d in lengths):
        return False
    total = sum(d[0] for d in lengths)  # type: ignore[index, misc]
    if total <= MAX_VALUES:
        return False
    _set(ctx, node, 0, [total], _dtype(_in(node, 0)))
    if all(v is not None and ctx.get_symbolic_value(v) is not None for v in node.inputs):
        note(ctx, f"value propagation skipped: tensor {node.outputs[0].name!r} (node "
                  f"{node.name or node.op_type!r}) has {total} computed values (limit {MAX_VALUES})")  # fmt: skip
    return None


@shape_rule("", "ConstantOfShape")
def constant_of_shape(ctx: ShapeInferenceContext, node: ir.Node) -> bool | None:
    """The library's reads a constant shape only: one worked out from other shapes (Shape ->
    Gather -> Concat, as TorchScript writes an RNN's zero state) is a symbolic value."""
    shape = _in(node, 0)
    dims = ctx.get_symbolic_value(shape) if shape is not None else None
    if dims is None or len(dims) > MAX_VALUES or any(isinstance(d, int) and d < 0 for d in dims):
        return False  # the library's rule (a constant shape, or nothing known)
    value = node.attributes.get("value")
    _set(ctx, node, 0, dims, value.as_tensor().dtype if value is not None else FLOAT)
    return None


@shape_rule("", "Neg")
def neg(ctx: ShapeInferenceContext, node: ir.Node) -> bool | None:
    """The library's, with a computed integer's value negated (T5 slices `[-seq:]`)."""
    x = _in(node, 0)
    values = ctx.get_symbolic_value(x) if x is not None else None
    if values is None or x.shape is None or len(values) > MAX_VALUES:
        return False
    if all(isinstance(v, int) for v in values):
        return False  # numbers: the library's (and the engine's folding)
    _set(ctx, node, 0, list(x.shape.dims), _dtype(x))
    if node.outputs:
        ctx.set_symbolic_value(node.outputs[0], [-v for v in values])
    return None


_TO_THE_END = {2**63 - 1, 2**31 - 1}


@shape_rule("", "Slice")
def slice_from_the_end(ctx: ShapeInferenceContext, node: ir.Node) -> bool | None:
    """`x[..., -n:, ...]` where n is a computed dim equal to that axis' size (T5's position
    bias `[:, :, -seq:, :]`): the whole axis. The library reads integer starts only; any
    other slice is the library's."""
    dims = _dims(_in(node, 0))
    known = [_in(node, i) for i in range(1, 5)]
    values = [ctx.get_symbolic_value(v) if v is not None else None for v in known]
    starts, ends, axes, steps = values
    if dims is None or starts is None or ends is None or all(isinstance(s, int) for s in starts):
        return False
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        return False
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        if not isinstance(axis, int) or not -len(dims) <= axis < len(dims):
            return False
        whole = start == 0 if isinstance(start, int) else str(start + dims[axis]) == "0"
        if step != 1 or end not in _TO_THE_END or not whole:
            return False
    _set(ctx, node, 0, dims, _dtype(_in(node, 0)))
    return None


@shape_rule("", "ConcatFromSequence")
def concat_from_sequence(ctx: ShapeInferenceContext, node: ir.Node) -> bool | None:
    """Of a SequenceConstruct: the shape follows from the elements' shapes, which the sequence
    type does not carry."""
    seq = _in(node, 0)
    maker = seq.producer() if seq is not None else None
    if maker is None or maker.op_type != "SequenceConstruct" or (maker.domain or "") != "":
        return False
    parts = [_dims(v) for v in maker.inputs]
    if not parts or any(p is None for p in parts):
        return False
    shapes = [list(p) for p in parts if p is not None]
    rank, new_axis = len(shapes[0]), _int(node, "new_axis", 0)
    axis = _int(node, "axis", 0)
    axis += (rank + 1 if new_axis else rank) if axis < 0 else 0
    if any(len(sh) != rank for sh in shapes):
        return False
    if new_axis:
        if not 0 <= axis <= rank or any(sh != shapes[0] for sh in shapes):
            return False
        out = [*shapes[0][:axis], len(shapes), *shapes[0][axis:]]
    else:
        rest = [sh[:axis] + sh[axis + 1 :] for sh in shapes]
        if not 0 <= axis < rank or any(r != rest[0] for r in rest):
            return False
        along = [sh[axis] for sh in shapes]
        if not all(isinstance(d, int) for d in along):
            return False
        out = [*shapes[0][:axis], sum(along), *shapes[0][axis + 1 :]]  # type: ignore[arg-type]
    _set(ctx, node, 0, out, _dtype(maker.inputs[0]))
    return None


# --- symbolic values through the mask arithmetic exporters write ------------------------------


def _values(ctx: ShapeInferenceContext, v: ir.Value | None) -> list[DimT] | None:
    return None if v is None else ctx.get_symbolic_value(v)


def _same(x: DimT, y: DimT) -> bool | None:
    """x == y for a dim or an integer; None when it depends on the dims' values."""
    if isinstance(x, int) and isinstance(y, int):
        return x == y
    if not isinstance(x, int) and not isinstance(y, int):
        return True if x.value is not None and x.value == y.value else None
    k = x if isinstance(x, int) else y
    return False if k < 0 else None  # a dim is never negative (exporters compare with -1)


def _spread(vals: list[list[DimT]]) -> list[list[DimT]] | None:
    """Numpy broadcasting of 1-D value lists (a one-element list repeats)."""
    n = max(len(v) for v in vals)
    if any(len(v) not in (1, n) for v in vals):
        return None
    return [v * n if len(v) == 1 else v for v in vals]


@shape_rule("", "Equal")
def equal(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """The library's Equal, plus the values of comparisons of shape vectors that do not depend
    on the dims' values (torch's mask code compares a shape with -1: a dim never is)."""
    _theirs(ctx, node)
    vals = [_values(ctx, _in(node, i)) for i in (0, 1)]
    spread = None if None in vals else _spread(vals)  # type: ignore[arg-type]
    if spread is None or len(spread[0]) > MAX_VALUES:
        return
    same = [_same(x, y) for x, y in zip(*spread, strict=True)]
    if None not in same:
        ctx.set_symbolic_value(node.outputs[0], [int(b) for b in same])  # type: ignore[arg-type]


@shape_rule("", "Where")
def where(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """The library's Where, plus values picked elementwise when the condition is known."""
    _theirs(ctx, node)
    vals = [_values(ctx, _in(node, i)) for i in (0, 1, 2)]
    spread = None if None in vals else _spread(vals)  # type: ignore[arg-type]
    if spread is None or len(spread[0]) > MAX_VALUES:
        return
    cond, x, y = spread
    if all(isinstance(c, int) for c in cond):
        ctx.set_symbolic_value(
            node.outputs[0], [a if c else b for c, a, b in zip(cond, x, y, strict=True)]
        )


@shape_rule(MS, "QGemm")
def qgemm(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """The library's shape; Y is quantized (y_zero_point's type, uint8 without one) when
    y_scale is given, as onnxruntime makes it (the library types it as y_scale, a float)."""
    _theirs(ctx, node)
    if _in(node, 7) is not None and node.outputs and node.outputs[0].shape is not None:
        zp = _in(node, 8)
        # set, not refined: the library's dtype is the wrong one
        node.outputs[0].dtype = _dtype(zp) if zp is not None and zp.dtype else ir.DataType.UINT8


@shape_rule(MS, "QEmbedLayerNormalization")
def qembed_layernorm(ctx: ShapeInferenceContext, node: ir.Node) -> None:
    """The library's shapes; the output is dequantized, a float (the scales' type, as
    onnxruntime makes it), not the quantized word embedding's type."""
    _theirs(ctx, node)
    scale = _in(node, 8)
    if node.outputs and node.outputs[0].shape is not None:
        node.outputs[0].dtype = _dtype(scale) or FLOAT  # set, not refined: theirs is wrong
