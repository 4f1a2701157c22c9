"""The shape engine's fast path: plain tuples over the protobuf, for graphs of common ops.

Most graphs people bring are made of a few dozen ops whose shapes follow from integers and the
model's own dim names alone: transformer stacks, CNNs, MLPs. For those, building onnx-ir's
object model and calling the library's shape functions costs more than everything else an
analysis does (on a 16,000-node stack: 0.29 s to build the model, 0.17 s to import sympy with
it, against 0.21 s for the whole floor process). This module walks the graph once with shapes as
tuples of ints and dim names and small values as numpy arrays or lists of ints and names.

It never guesses: the moment a node needs anything it does not do exactly (an op outside its
list, a loop, a dim expression such as `past + seq`, a value it cannot work out, `If` branches
that differ under an unknown condition, a declared shape that disagrees), it gives up and
returns None, and the full engine (`engine.py`) analyses the whole model as before. Where it
does finish, its shapes and values are the full engine's: `tests/test_fast_engine.py` holds the
two equal on every model the onnx wheel ships and on models/, and `tools/fast_parity.py` on any
folder. Rules for contrib, quantized and ai.onnx.ml ops are in `fast_contrib.py`.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from math import prod
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from onnxcost.model.dims import declared_info
from onnxcost.model.fold import FOLDABLE, fold_node
from onnxcost.model.graph import Graph
from onnxcost.model.loader import SMALL_CONSTANT_ELEMENTS as CAP
from onnxcost.model.loader import has_payload
from onnxcost.model.shapes import TOP, Scope, Shapes
from onnxcost.rules.registry import TensorInfo

Dim = int | str
Shape = tuple[Dim, ...]
BOOL, INT64, FLOAT = 9, 7, 1


class GiveUp(Exception):
    """This node (so this model) is for the full engine."""


class State:
    """What is known of the tensors of one graph; a subgraph's state sees its enclosing ones."""

    def __init__(self, opsets: dict[str, int], parent: State | None = None) -> None:
        self.types: MutableMapping[str, tuple[int, Shape]] = {}
        self.values: MutableMapping[str, np.ndarray] = {}  # numbers, at most CAP of them
        self.syms: MutableMapping[str, list[Dim]] = {}  # int vectors holding dim names (Shape(x))
        self.special: MutableMapping[str, TensorInfo] = {}  # not tensors (ZipMap's maps)
        if parent is not None:  # writes go to this scope's own maps, reads fall through
            self.types = ChainMap({}, parent.types)
            self.values = ChainMap({}, parent.values)
            self.syms = ChainMap({}, parent.syms)
            self.special = ChainMap({}, parent.special)
        self.opsets = opsets
        self.opset = opsets.get("", 1)
        self.scopes: dict[Scope, State] = parent.scopes if parent is not None else {}
        self.where: tuple[Scope, int] = (TOP, 0)  # the node being inferred: its scope and index

    def shape(self, name: str) -> Shape:
        t = self.types.get(name)
        if t is None:
            raise GiveUp(f"no type for {name!r}")
        return t[1]

    def elem(self, name: str) -> int:
        return self.types[name][0]

    def np_dtype(self, name: str) -> np.dtype:
        return onnx.helper.tensor_dtype_to_np_dtype(self.types[name][0])

    def vector(self, name: str) -> list[Dim] | None:
        """A 1-D (or scalar) int input's elements: numbers or dim names; None when unknown."""
        v = self.values.get(name)
        if v is not None:
            if v.dtype.kind not in "iub" or v.ndim > 1:
                return None
            return [int(x) for x in v.reshape(-1)]
        return self.syms.get(name)

    def ints(self, name: str) -> list[int]:
        v = self.vector(name)
        if v is None or any(isinstance(x, str) for x in v):
            raise GiveUp(f"value of {name!r} not known")
        return v  # type: ignore[return-value]


Rule = Callable[[State, onnx.NodeProto, dict], list[tuple[int, Shape]]]
RULES: dict[tuple[str, str], Rule] = {}  # (domain, op type): its rule
ML = "ai.onnx.ml"


def fast_rule(*ops: str, domain: str = "") -> Callable[[Rule], Rule]:
    def deco(fn: Rule) -> Rule:
        for op in ops:
            RULES[(domain, op)] = fn
        return fn

    return deco


def infer(
    model: onnx.ModelProto,
    g: Graph,
    input_values: Mapping[str, np.ndarray] | None = None,
    why: list[str] | None = None,
) -> Shapes | None:
    """Every tensor's type and shape, or None when the full engine must do it (the reason is
    appended to `why`)."""
    graph = model.graph
    if model.functions or graph.sparse_initializer:
        if why is not None:
            why.append("functions or sparse initializers")
        return None
    st = State({(o.domain or ""): o.version for o in model.opset_import})
    try:
        inits = {t.name for t in graph.initializer}
        for vi in graph.input:
            if vi.name not in inits:
                st.types[vi.name] = _declared(vi.type, vi.name)
        for name, val in (input_values or {}).items():
            st.values[name] = np.asarray(val)  # an `If` they decide takes its branch
        _walk(st, graph, g.nodes, g.order, TOP, g)
        _check_declared(st, graph)
        return _shapes(st)
    except Exception as e:  # anything unexpected: the full engine, with its own guards
        if why is not None:
            why.append(f"{type(e).__name__}: {e}")
        return None
    finally:
        st.scopes.clear()  # it holds `st`: a reference cycle (the analysis runs without the gc)


class _Node:
    """A top-level node's fields, as the loader's table holds them: a rule reading them reads
    lists, not the protobuf (each read of a proto field makes new objects)."""

    __slots__ = ("attribute", "domain", "input", "op_type", "output", "proto")

    def __init__(
        self, op_type: str, domain: str, inputs: list, outputs: list, attrs: Any, proto: Any
    ) -> None:
        self.op_type, self.domain, self.input, self.output = op_type, domain, inputs, outputs
        self.attribute, self.proto = attrs, proto


def _walk(
    st: State,
    graph: onnx.GraphProto,
    nodes: Sequence,
    order: Iterable[int],
    scope: Scope,
    g: Graph | None = None,
) -> None:
    """Every node's outputs, in `order`. `g`: the top-level graph's table (nodes are read from
    it); subgraphs are read from their protos."""
    st.scopes[scope] = st
    for t in graph.initializer:
        dims = tuple(t.dims)
        st.types[t.name] = (t.data_type, dims)
        if prod(dims) <= CAP and has_payload(t):
            st.values[t.name] = numpy_helper.to_array(t)
    types, special, values, syms = st.types, st.special, st.values, st.syms
    # Top-level nodes whose rule sees the same input types, the same valued inputs and the
    # same attributes give the same outputs (each layer of a stack): worked out once.
    memo: dict[tuple, list] | None = {} if not scope else None
    for k in order:  # the hot loop: one pass, a dict lookup and one small rule per node
        if g is not None:
            op, domain = g.op_types[k], g.domains[k]
            inputs, names = g.node_inputs[k], g.outputs[k]
            stored = g.attr_keys.get(k, ())
            node = attributes = None  # read when a rule runs
        else:
            node = nodes[k]
            op, domain, attributes = node.op_type, node.domain, node.attribute
            inputs, names, stored = node.input, node.output, None
        if domain == "ai.onnx":
            domain = ""
        rule = RULES.get((domain, op))
        if rule is None:
            raise GiveUp(f"op {op} of domain {domain!r}")
        key = None
        if memo is not None and stored is not None and rule is not _if:
            key = (
                op,  # one rule may serve several ops (Add and Equal: their outputs' dtypes differ)
                domain,
                tuple(
                    [
                        n if n in values or n in syms or n in special else types.get(n)
                        for n in inputs
                    ]
                ),
                len(names) if "" not in names else tuple([not o for o in names]),
                stored,
            )
            outs = memo.get(key)
            if outs is not None:
                for name, t in zip(names, outs, strict=False):
                    if name:
                        types[name] = t
                if not domain and op in _VALUED:
                    x = inputs[0] if inputs else ""
                    if op in ("Shape", "Size") or x in values or x in syms:
                        attributes = nodes[k].attribute if stored else ()
                        node = _Node(op, domain, inputs, names, attributes, nodes[k])
                        _value(st, node, {a.name: a for a in attributes})
                continue
            written = len(values) + len(syms) + len(special)
        if node is None:
            attributes = nodes[k].attribute if k in g.attr_keys else ()  # type: ignore[union-attr]
            node = _Node(op, domain, inputs, names, attributes, nodes[k])
        attrs = {a.name: a for a in attributes}
        st.where = (scope, k)
        outs = rule(st, node, attrs)
        for name, t in zip(names, outs, strict=False):
            if name:
                if "" in t[1] or None in t[1] or not t[0]:
                    raise GiveUp(f"{name!r} not worked out")
                types[name] = t
        if len(outs) < len(names):  # by position: output 0 may be unnamed, a later one not
            named = [j for j, o in enumerate(names) if o and o not in special]
            if named and named[-1] >= len(outs):
                raise GiveUp(f"{op}: outputs not worked out")
        if key is not None and len(values) + len(syms) + len(special) == written:
            memo[key] = outs  # type: ignore[index]  # a rule that records values is not kept
        if not domain and op in _VALUED:
            x = node.input[0] if node.input else ""
            if op in ("Shape", "Size") or x in values or x in syms:  # else nothing to carry
                _value(st, node, attrs)


@fast_rule("If")
def _if(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """Both branches are walked (each is costed when the condition is unknown); the outputs are
    the branch's that runs, or, when the condition is not known, what both branches agree on."""
    scope, k = st.where
    outs = {}
    for branch in ("then_branch", "else_branch"):
        sub = attrs[branch].g
        if sub.input:
            raise GiveUp("If branch with inputs")
        # within a branch, a name is used after it is made (else an outer one would be read)
        made = {o for n in sub.node for o in n.output if o}
        seen: set[str] = set()
        for n in sub.node:
            if any(i in made and i not in seen for i in n.input):
                raise GiveUp("If branch not in topological order")
            seen.update(n.output)
        inner = State(st.opsets, st)
        _walk(inner, sub, list(sub.node), range(len(sub.node)), (*scope, (k, branch)))
        outs[branch] = [inner.types.get(o.name) for o in sub.output]
    cond = st.values.get(node.input[0])
    if cond is not None and cond.size == 1:
        chosen = outs["then_branch" if bool(cond.reshape(-1)[0]) else "else_branch"]
    elif outs["then_branch"] == outs["else_branch"]:
        chosen = outs["then_branch"]
    else:
        raise GiveUp("If branches differ and the condition is not known")
    if len(chosen) != len(node.output) or any(t is None for t in chosen):
        raise GiveUp("If outputs")
    return chosen  # type: ignore[return-value]


def _shapes(st: State) -> Shapes:
    scopes, values, dim_values = {}, {}, {}
    for scope, s in st.scopes.items():
        types, special = _own(s.types), _own(s.special)
        infos = {name: _info(name, e, sh) for name, (e, sh) in types.items()}
        infos.update(special)
        scopes[scope] = infos
        values[scope] = dict(_own(s.values))
        dims = {n: v[0] for n, v in _own(s.syms).items() if len(v) == 1 and isinstance(v[0], str)}
        if dims:
            dim_values[scope] = dims
    return Shapes(scopes, values, dim_values=dim_values)


def _info(name: str, elem_type: int, shape: Shape, _new: Any = object.__new__) -> TensorInfo:
    """TensorInfo(name, elem_type, shape), its fields written straight into its dict: the frozen
    dataclass's __init__ sets each through object.__setattr__ (twice the time, over every
    tensor of the graph)."""
    info = _new(TensorInfo)
    d = info.__dict__
    d["name"], d["elem_type"], d["shape"], d["item_bits"], d["label"] = (
        name,
        elem_type,
        shape,
        0,
        "",
    )
    d["type_key"] = (elem_type, shape, 0)  # the cached TensorInfo.type_key: every node reads it
    return info


def _own(m: MutableMapping) -> dict:
    return m.maps[0] if isinstance(m, ChainMap) else m  # type: ignore[return-value]


def _declared(tp: onnx.TypeProto, name: str) -> tuple[int, Shape]:
    """A graph input's declared type: every dim a number or a plain name, else give way."""
    info = declared_info(name, tp)  # a negative dim raises: the full engine says why
    if tp.WhichOneof("value") != "tensor_type" or not info.elem_type or info.shape is None:
        raise GiveUp(f"input {name!r} is not a typed tensor with a shape")
    if not all(isinstance(d, int) or (d and d.isidentifier()) for d in info.shape):
        raise GiveUp(f"input {name!r}: a dim is not a number or a name")
    return info.elem_type, info.shape  # type: ignore[return-value]


def _check_declared(st: State, graph: onnx.GraphProto) -> None:
    """A declared shape that disagrees with the computed one is the full engine's to report."""
    for vi in (*graph.value_info, *graph.output):
        have = st.types.get(vi.name)
        tt = vi.type.tensor_type if vi.type.WhichOneof("value") == "tensor_type" else None
        if have is None or tt is None or not tt.HasField("shape"):
            continue
        if len(tt.shape.dim) != len(have[1]):
            raise GiveUp(f"declared rank of {vi.name!r}")
        for d, h in zip(tt.shape.dim, have[1], strict=True):
            if d.HasField("dim_value") and isinstance(h, int) and d.dim_value != h:
                raise GiveUp(f"declared shape of {vi.name!r}")


# --- helpers -----------------------------------------------------------------------------------


def _i(attrs: dict, name: str, default: Any) -> Any:
    """An int attribute, or `default`. Types of ai.onnx attributes are checked at load; a
    contrib op's attribute onnxcost does not know the type of may be anything: give way."""
    a = attrs.get(name)
    if a is None:
        return default
    if a.type != onnx.AttributeProto.INT:
        raise GiveUp(f"attribute {name!r} is not an int")
    return a.i


def _ints(attrs: dict, name: str) -> list[int] | None:
    a = attrs.get(name)
    return None if a is None else list(a.ints)


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise GiveUp("axis out of range")
    return axis + rank if axis < 0 else axis


def _broadcast(*shapes: Shape) -> Shape:
    rank = max(len(s) for s in shapes)
    out: list[Dim] = []
    for k in range(rank):
        dims = {s[k - rank + len(s)] for s in shapes if k - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise GiveUp("broadcast of different dims")  # an error, or a symbolic max
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def _input(node: onnx.NodeProto, k: int) -> str:
    return node.input[k] if k < len(node.input) else ""


def _numel(shape: Shape) -> int:
    if any(isinstance(d, str) for d in shape):
        raise GiveUp("size of a symbolic shape")
    return prod(shape)  # type: ignore[arg-type]


# --- shapes ------------------------------------------------------------------------------------

_UNARY = (
    "Relu", "Sigmoid", "Tanh", "Erf", "Sqrt", "Exp", "Log", "Neg", "Abs", "Reciprocal",
    "Softplus", "Softsign", "Gelu", "Identity", "Floor", "Ceil", "Round", "Sin", "Cos", "Tan",
    "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "HardSigmoid", "LeakyRelu",
    "Elu", "Selu", "HardSwish", "Mish", "Sign", "Celu", "ThresholdedRelu", "Softmax",
    "LogSoftmax", "Hardmax", "LpNormalization", "InstanceNormalization", "LRN",
    "MeanVarianceNormalization", "Not", "Clip", "Trilu", "CumSum", "Shrink",
)  # fmt: skip


@fast_rule(*_UNARY)
def _unary(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [st.types[node.input[0]]]


@fast_rule("IsNaN", "IsInf")
def _is(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [(BOOL, st.shape(node.input[0]))]


@fast_rule("Dropout")
def _dropout(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.types[node.input[0]]
    return [x, (BOOL if st.opset >= 10 else x[0], x[1])]


@fast_rule("BatchNormalization")
def _batchnorm(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    if sum(1 for o in node.output if o) > 1:
        raise GiveUp("training-mode BatchNormalization")
    return [st.types[node.input[0]]]


@fast_rule("LayerNormalization")
def _layernorm(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    elem, x = st.types[node.input[0]]
    axis = _axis(_i(attrs, "axis", -1), len(x))
    stat = (_i(attrs, "stash_type", FLOAT), x[:axis] + (1,) * (len(x) - axis))
    return [(elem, x), stat, stat]


_COMPARE = {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor"}
_BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "Mod", "PRelu", "BitShift", "Max", "Min", "Sum",
           "Mean", *_COMPARE}  # fmt: skip


@fast_rule(*_BINARY)
def _binary(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    names = [n for n in node.input if n]
    shape = _broadcast(*(st.shape(n) for n in names))
    return [(BOOL if node.op_type in _COMPARE else st.elem(names[0]), shape)]


@fast_rule("Where")
def _where(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    shape = _broadcast(*(st.shape(n) for n in node.input))
    return [(st.elem(node.input[1]), shape)]


@fast_rule("Cast")
def _cast(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [(attrs["to"].i, st.shape(node.input[0]))]


@fast_rule("CastLike")
def _castlike(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [(st.elem(node.input[1]), st.shape(node.input[0]))]


@fast_rule("MatMul")
def _matmul(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    out = _matmul_shape(st.shape(node.input[0]), st.shape(node.input[1]))
    return [(st.elem(node.input[0]), out)]


def _matmul_shape(a: Shape, b: Shape) -> Shape:
    """numpy matmul of [..., M, K] x [..., K, N] (the quantized MatMuls' too)."""
    if not a or not b:
        raise GiveUp("MatMul of a scalar")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise GiveUp("MatMul inner dims differ")
    batch = _broadcast(a2[:-2], b2[:-2]) if len(a2) > 2 or len(b2) > 2 else ()
    return (*batch, *(a2[-2:-1] if len(a) > 1 else ()), *(b2[-1:] if len(b) > 1 else ()))


@fast_rule("Gemm")
def _gemm(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    a, b = st.shape(node.input[0]), st.shape(node.input[1])
    if len(a) != 2 or len(b) != 2:
        raise GiveUp("Gemm of non-matrices")
    m = a[1] if _i(attrs, "transA", 0) else a[0]
    n = b[0] if _i(attrs, "transB", 0) else b[1]
    return [(st.elem(node.input[0]), (m, n))]


def _window(st: State, node: onnx.NodeProto, attrs: dict, kernel: list[int]) -> Shape:
    """Output spatial dims of a Conv or a pool."""
    x = st.shape(node.input[0])
    n = len(kernel)
    ceil = _i(attrs, "ceil_mode", 0)
    if len(x) != n + 2:
        raise GiveUp("window rank")
    strides = _ints(attrs, "strides") or [1] * n
    dil = _ints(attrs, "dilations") or [1] * n
    pads = _ints(attrs, "pads") or [0] * (2 * n)
    auto = attrs["auto_pad"].s.decode() if "auto_pad" in attrs else "NOTSET"
    if len(strides) != n or len(dil) != n or len(pads) != 2 * n or min(strides) < 1:
        raise GiveUp("window attributes")
    out: list[Dim] = []
    for k in range(n):
        size = x[2 + k]
        if not isinstance(size, int):
            raise GiveUp("symbolic spatial dim")
        extent = dil[k] * (kernel[k] - 1) + 1
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            out.append(-(-size // strides[k]))
        elif auto == "VALID":
            out.append((size - extent) // strides[k] + 1)
        elif auto == "NOTSET" and not ceil:
            out.append((size + pads[k] + pads[k + n] - extent) // strides[k] + 1)
        elif auto == "NOTSET":
            span = size + pads[k] + pads[k + n] - extent
            out.append(-(-span // strides[k]) + 1)
            if (out[-1] - 1) * strides[k] >= size + pads[k]:
                out[-1] -= 1  # the last window must start inside the input or its left pad
        else:
            raise GiveUp("auto_pad")
        if out[-1] < 0:
            raise GiveUp("negative output dim")
    return tuple(out)


@fast_rule("Conv")
def _conv(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [(st.elem(node.input[0]), _conv_shape(st, node, attrs, node.input[1]))]


def _conv_shape(st: State, node: onnx.NodeProto, attrs: dict, weight: str) -> Shape:
    """[N, C_out, spatial...] of input 0 by `weight` (input 3 of the quantized Convs)."""
    x, w = st.shape(node.input[0]), st.shape(weight)
    if len(x) < 3:
        raise GiveUp("Conv input rank")  # the library records an error
    kernel = _ints(attrs, "kernel_shape") or list(w[2:])
    if any(not isinstance(k, int) for k in kernel) or len(w) != len(x):
        raise GiveUp("Conv kernel")
    return (x[0], w[0], *_window(st, node, attrs, kernel))


@fast_rule("MaxPool", "AveragePool", "LpPool")
def _pool(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    kernel = _ints(attrs, "kernel_shape")
    if kernel is None:
        raise GiveUp("pool without kernel_shape")
    out = (x[0], x[1], *_window(st, node, attrs, kernel))
    return [(st.elem(node.input[0]), out), (INT64, out)]


@fast_rule("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def _global_pool(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    if len(x) < 2:
        raise GiveUp("global pool rank")
    return [(st.elem(node.input[0]), (x[0], x[1], *(1,) * (len(x) - 2)))]


@fast_rule("Flatten")
def _flatten(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    axis = _i(attrs, "axis", 1)
    axis += len(x) if axis < 0 else 0
    if not 0 <= axis <= len(x):
        raise GiveUp("Flatten axis")
    return [(st.elem(node.input[0]), (_numel(x[:axis]), _numel(x[axis:])))]


@fast_rule("Reshape")
def _reshape(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    target = st.vector(node.input[1])
    if target is None:
        raise GiveUp("Reshape target unknown")
    allowzero = _i(attrs, "allowzero", 0)
    out: list[Dim] = []
    for k, d in enumerate(target):
        if d == 0 and not allowzero:
            if k >= len(x):
                raise GiveUp("Reshape copies a dim the input lacks")
            d = x[k]
        out.append(d)
    if out.count(-1) > 1 or any(isinstance(d, int) and d < -1 for d in out):
        raise GiveUp("Reshape target")
    if -1 in out:
        out[out.index(-1)] = _quotient(x, [d for d in out if d != -1])
    elif _size_key(x) != _size_key(out):
        raise GiveUp("Reshape changes the size")
    return [(st.elem(node.input[0]), tuple(out))]


def _size_key(dims: Shape | list[Dim]) -> tuple[int, tuple[str, ...]]:
    n, names = 1, []
    for d in dims:
        if isinstance(d, str):
            names.append(d)
        else:
            n *= d
    return n, tuple(sorted(names))


def _quotient(whole: Shape, part: list[Dim]) -> int:
    """The one dim that makes `part` as large as `whole`: names must cancel exactly."""
    (n, names), (m, names2) = _size_key(whole), _size_key(part)
    if names != names2 or m == 0 or n % m:
        raise GiveUp("Reshape's -1 is not a number")
    return n // m


@fast_rule("Transpose")
def _transpose(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    perm = _ints(attrs, "perm") or list(range(len(x) - 1, -1, -1))
    if sorted(perm) != list(range(len(x))):
        raise GiveUp("Transpose perm")
    return [(st.elem(node.input[0]), tuple(x[p] for p in perm))]


def _axes_of(st: State, node: onnx.NodeProto, attrs: dict, since: int) -> list[int] | None:
    """Axes from the attribute (before opset `since`) or the second input (from it)."""
    if st.opset < since:
        return _ints(attrs, "axes")
    name = _input(node, 1)
    return st.ints(name) if name else None


@fast_rule("Unsqueeze")
def _unsqueeze(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    axes = _axes_of(st, node, attrs, 13)
    if not axes:
        raise GiveUp("Unsqueeze axes")
    rank = len(x) + len(axes)
    axes = sorted(_axis(a, rank) for a in axes)
    out, it = [], iter(x)
    for k in range(rank):
        out.append(1 if k in axes else next(it))
    return [(st.elem(node.input[0]), tuple(out))]


@fast_rule("Squeeze")
def _squeeze(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    axes = _axes_of(st, node, attrs, 13)
    if axes is None:
        if any(isinstance(d, str) for d in x):
            raise GiveUp("Squeeze of symbolic dims without axes")
        keep = [d for d in x if d != 1]
    else:
        drop = {_axis(a, len(x)) for a in axes}
        if any(x[a] != 1 for a in drop):
            raise GiveUp("Squeeze of a dim that is not 1")
        keep = [d for k, d in enumerate(x) if k not in drop]
    return [(st.elem(node.input[0]), tuple(keep))]


@fast_rule("Concat")
def _concat(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    shapes = [st.shape(n) for n in node.input if n]
    rank = len(shapes[0])
    axis = _axis(attrs["axis"].i, rank)
    if any(len(s) != rank for s in shapes):
        raise GiveUp("Concat ranks differ")
    out = list(shapes[0])
    out[axis] = _sum([s[axis] for s in shapes])
    for k in range(rank):
        if k != axis and any(s[k] != out[k] for s in shapes):
            raise GiveUp("Concat dims differ")
    return [(st.elem(node.input[0]), tuple(out))]


def _sum(dims: list[Dim]) -> Dim:
    names = [d for d in dims if isinstance(d, str)]
    if not names:
        return sum(dims)  # type: ignore[arg-type]
    if len(names) == 1 and sum(d for d in dims if isinstance(d, int)) == 0:
        return names[0]
    raise GiveUp("a sum of dim names")


@fast_rule("Split")
def _split(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    axis = _axis(_i(attrs, "axis", 0), len(x))
    n_out = len(node.output)
    if st.opset >= 13:
        sizes = st.ints(node.input[1]) if _input(node, 1) else None
    else:
        sizes = _ints(attrs, "split")
    size = x[axis]
    if sizes is None:
        if not isinstance(size, int):
            raise GiveUp("Split of a symbolic dim")
        if "num_outputs" in attrs:
            n_out = attrs["num_outputs"].i
        elif st.opset >= 18 or size % n_out:
            raise GiveUp("Split without sizes")  # required from opset 18; even before it
        chunk = -(-size // n_out)
        sizes = [min(chunk, size - chunk * k) for k in range(n_out)]
    bad = isinstance(size, int) and sum(sizes) != size
    if len(sizes) != len(node.output) or bad or min(sizes, default=0) < 0:
        raise GiveUp("Split sizes")
    if not isinstance(size, int) and not (len(sizes) == 1):
        raise GiveUp("Split of a symbolic dim")
    elem = st.elem(node.input[0])
    return [(elem, (*x[:axis], s if isinstance(size, int) else size, *x[axis + 1:]))
            for s in sizes]  # fmt: skip


@fast_rule("Slice")
def _slice(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    if st.opset < 10:
        starts, ends = _ints(attrs, "starts"), _ints(attrs, "ends")
        axes, steps = _ints(attrs, "axes"), None
    else:
        starts, ends = st.ints(node.input[1]), st.ints(node.input[2])
        axes = st.ints(node.input[3]) if _input(node, 3) else None
        steps = st.ints(node.input[4]) if _input(node, 4) else None
    if starts is None or ends is None or len(starts) != len(ends):
        raise GiveUp("Slice starts/ends")
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    out = list(x)
    for a, b, e, s in zip(axes, starts, ends, steps, strict=True):
        a = _axis(a, len(x))
        out[a] = _slice_len(x[a], b, e, s)
    return [(st.elem(node.input[0]), tuple(out))]


def _slice_len(dim: Dim, start: int, end: int, step: int) -> Dim:
    if step == 0:
        raise GiveUp("Slice step 0")
    if isinstance(dim, str):
        if start == 0 and step == 1 and end >= 2**31 - 1:
            return dim
        raise GiveUp("Slice of a symbolic dim")
    return len(range(dim)[slice(start, end, step)])


@fast_rule("Gather")
def _gather(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x, idx = st.shape(node.input[0]), st.shape(node.input[1])
    axis = _axis(_i(attrs, "axis", 0), len(x))
    return [(st.elem(node.input[0]), x[:axis] + idx + x[axis + 1 :])]


@fast_rule("GatherElements")
def _gather_elements(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [(st.elem(node.input[0]), st.shape(node.input[1]))]


@fast_rule("Shape")
def _shape(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    start, end = _i(attrs, "start", 0), _i(attrs, "end", len(x))
    return [(INT64, (len(x[slice(start, end)]),))]


@fast_rule("Size")
def _size(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [(INT64, ())]


@fast_rule("Constant")
def _constant(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    ((name, a),) = attrs.items()
    out = node.output[0]
    if name == "value":
        t = a.t
        if t.data_location == onnx.TensorProto.EXTERNAL:
            raise GiveUp("external Constant")
        if prod(t.dims) <= CAP and has_payload(t):
            st.values[out] = numpy_helper.to_array(t)
        return [(t.data_type, tuple(t.dims))]
    simple = {"value_float": (FLOAT, a.f, np.float32), "value_int": (INT64, a.i, np.int64),
              "value_floats": (FLOAT, list(a.floats), np.float32),
              "value_ints": (INT64, list(a.ints), np.int64)}  # fmt: skip
    if name not in simple:
        raise GiveUp(f"Constant {name}")
    elem, v, dtype = simple[name]
    arr = np.asarray(v, dtype=dtype)
    if arr.size <= CAP:
        st.values[out] = arr
    return [(elem, arr.shape)]


@fast_rule("ConstantOfShape")
def _constant_of_shape(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    dims = st.vector(node.input[0])
    if dims is None or any(isinstance(d, int) and d < 0 for d in dims):
        raise GiveUp("ConstantOfShape shape unknown")
    elem = attrs["value"].t.data_type if "value" in attrs else FLOAT
    return [(elem, tuple(dims))]


@fast_rule("Expand")
def _expand(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    target = st.vector(node.input[1])
    if target is None:
        raise GiveUp("Expand shape unknown")
    return [(st.elem(node.input[0]), _broadcast(st.shape(node.input[0]), tuple(target)))]


@fast_rule("Tile")
def _tile(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x, reps = st.shape(node.input[0]), st.ints(node.input[1])
    if len(reps) != len(x):
        raise GiveUp("Tile repeats")
    out = tuple(d if r == 1 else _numel((d,)) * r for d, r in zip(x, reps, strict=True))
    return [(st.elem(node.input[0]), out)]


@fast_rule("Range")
def _range(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    vals = [st.values.get(n) for n in node.input]
    if any(v is None or v.size != 1 for v in vals):
        raise GiveUp("Range bounds unknown")
    start, limit, delta = (v.reshape(-1)[0].item() for v in vals)  # type: ignore[union-attr]
    if delta == 0:
        raise GiveUp("Range delta 0")
    n = max(int(np.ceil((limit - start) / delta)), 0)
    return [(st.elem(node.input[0]), (n,))]


_REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]  # fmt: skip


@fast_rule(*_REDUCE)
def _reduce(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    since = 13 if node.op_type == "ReduceSum" else 18
    axes = _axes_of(st, node, attrs, since)
    keep = _i(attrs, "keepdims", 1)
    if not axes:
        if _i(attrs, "noop_with_empty_axes", 0):
            return [st.types[node.input[0]]]
        axes = list(range(len(x)))
    drop = {_axis(a, len(x)) for a in axes}
    out = [1 if k in drop else d for k, d in enumerate(x) if keep or k not in drop]
    return [(st.elem(node.input[0]), tuple(out))]


@fast_rule("ArgMax", "ArgMin")
def _argmax(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    axis = _axis(_i(attrs, "axis", 0), len(x))
    out = [1 if k == axis else d for k, d in enumerate(x) if _i(attrs, "keepdims", 1) or k != axis]
    return [(INT64, tuple(out))]


@fast_rule("TopK")
def _topk(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    if st.opset < 10:
        raise GiveUp("TopK before opset 10")
    (k,) = st.ints(node.input[1])
    axis = _axis(_i(attrs, "axis", -1), len(x))
    out = (*x[:axis], k, *x[axis + 1 :])
    return [(st.elem(node.input[0]), out), (INT64, out)]


@fast_rule("Pad")
def _pad(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    if _input(node, 3):
        raise GiveUp("Pad with axes")
    pads = _ints(attrs, "pads") if st.opset < 11 else st.ints(node.input[1])
    if pads is None or len(pads) != 2 * len(x):
        raise GiveUp("Pad pads")
    r = len(x)
    out = tuple(d if pads[k] == pads[k + r] == 0 else _numel((d,)) + pads[k] + pads[k + r]
                for k, d in enumerate(x))  # fmt: skip
    return [(st.elem(node.input[0]), out)]


@fast_rule("ScatterND", "ScatterElements", "Scatter")
def _scatter(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [st.types[node.input[0]]]


@fast_rule("GatherND")
def _gather_nd(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x, idx = st.shape(node.input[0]), st.shape(node.input[1])
    b = _i(attrs, "batch_dims", 0)
    if not idx or not isinstance(idx[-1], int) or b + idx[-1] > len(x):
        raise GiveUp("GatherND index depth")
    return [(st.elem(node.input[0]), idx[:-1] + x[b + idx[-1] :])]


@fast_rule("DequantizeLinear")
def _dequantize(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    elem = _i(attrs, "output_dtype", 0) or st.elem(node.input[1])
    return [(elem, st.shape(node.input[0]))]


@fast_rule("QuantizeLinear")
def _quantize(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    zp = _input(node, 2)
    elem = st.elem(zp) if zp else _i(attrs, "output_dtype", 0) or 2  # uint8 by default
    return [(elem, st.shape(node.input[0]))]


@fast_rule("DynamicQuantizeLinear")
def _dynamic_quantize(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [(2, st.shape(node.input[0])), (FLOAT, ()), (2, ())]


@fast_rule("Resize", "Upsample")
def _resize(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    policy = attrs["keep_aspect_ratio_policy"].s if "keep_aspect_ratio_policy" in attrs else b""
    if "axes" in attrs or policy not in (b"", b"stretch"):
        raise GiveUp("Resize with axes or an aspect policy")
    sizes = _input(node, 3) if st.opset >= 11 else ""
    if sizes:
        out = tuple(st.ints(sizes))
    else:
        name = _input(node, 2 if st.opset >= 11 else 1)
        scales = st.values.get(name) if name else None
        if scales is None or scales.size != len(x) or scales.dtype.kind != "f":
            raise GiveUp("Resize scales unknown")
        out = tuple(d if s == 1 else int(np.floor(_numel((d,)) * s)) for d, s in
                    zip(x, scales.astype(np.float32).tolist(), strict=True))  # fmt: skip
    if len(out) != len(x):
        raise GiveUp("Resize rank")
    return [(st.elem(node.input[0]), out)]


@fast_rule("LSTM", "GRU", "RNN")
def _recurrent(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.shape(node.input[0])
    if len(x) != 3 or "hidden_size" not in attrs:
        raise GiveUp("recurrent input rank or hidden size")
    dirs = 2 if "direction" in attrs and attrs["direction"].s == b"bidirectional" else 1
    hidden, layout = attrs["hidden_size"].i, _i(attrs, "layout", 0)
    seq, batch = (x[1], x[0]) if layout else (x[0], x[1])
    y = (batch, seq, dirs, hidden) if layout else (seq, dirs, batch, hidden)
    state = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
    elem = st.elem(node.input[0])
    return [(elem, y), (elem, state), (elem, state)]


@fast_rule("ConvTranspose")
def _conv_transpose(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x, w = st.shape(node.input[0]), st.shape(node.input[1])
    n = len(x) - 2
    kernel = _ints(attrs, "kernel_shape") or list(w[2:])
    channels = _numel((w[1],)) * _i(attrs, "group", 1)
    given = _ints(attrs, "output_shape")
    if given is not None:
        return [(st.elem(node.input[0]), (x[0], channels, *given[-n:]))]
    strides = _ints(attrs, "strides") or [1] * n
    dil = _ints(attrs, "dilations") or [1] * n
    pads = _ints(attrs, "pads") or [0] * (2 * n)
    extra = _ints(attrs, "output_padding") or [0] * n
    auto = attrs["auto_pad"].s.decode() if "auto_pad" in attrs else "NOTSET"
    if len(kernel) != n or auto not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        raise GiveUp("ConvTranspose attributes")
    out = []
    for k in range(n):
        size = _numel((x[2 + k],))
        if auto.startswith("SAME"):
            out.append(size * strides[k])
            continue
        pad = 0 if auto == "VALID" else pads[k] + pads[k + n]
        out.append(strides[k] * (size - 1) + extra[k] + (kernel[k] - 1) * dil[k] + 1 - pad)
    return [(st.elem(node.input[0]), (x[0], channels, *out))]


@fast_rule("ArrayFeatureExtractor", domain=ML)
def _array_feature_extractor(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """[..., number of indices]; a 1-D X is one row (what onnxruntime does)."""
    x, idx = st.shape(node.input[0]), st.shape(node.input[1])
    rows = (1,) if len(x) == 1 else x[:-1]
    return [(st.elem(node.input[0]), (*rows, _numel(idx)))]


@fast_rule("ZipMap", domain=ML)
def _zipmap(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """A sequence of N maps of C (label, probability) items: sized when labels are integers
    (8 + 4 bytes an item), as the full engine does."""
    probs, out = st.shape(node.input[0]), node.output[0]
    if "classlabels_int64s" in attrs and len(probs) == 2:
        info = TensorInfo(out, 0, probs, item_bits=96, label="seq(map(int64,float))")
    else:
        info = TensorInfo(out, 0, None, label="seq(map(string,float))")
    st.special[out] = info
    return []


@fast_rule("Einsum")
def _einsum(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """Explicit or implicit equations over letters (an ellipsis is the full engine's)."""
    eq = attrs["equation"].s.decode("ascii").replace(" ", "")
    lhs, _, rhs = eq.partition("->")
    terms = lhs.split(",")
    if "." in eq or len(terms) != len(node.input):
        raise GiveUp("Einsum equation")
    size: dict[str, Dim] = {}
    for term, name in zip(terms, node.input, strict=True):
        shape = st.shape(name)
        if len(term) != len(shape):
            raise GiveUp("Einsum term rank")
        for letter, d in zip(term, shape, strict=True):
            if size.setdefault(letter, d) != d:
                raise GiveUp("Einsum dims differ")
    if "->" not in eq:  # implicit: the letters seen once, in alphabetical order
        rhs = "".join(sorted(c for c in size if lhs.count(c) == 1))
    if not set(rhs) <= set(size) or len(set(rhs)) != len(rhs):
        raise GiveUp("Einsum output")
    return [(st.elem(node.input[0]), tuple(size[c] for c in rhs))]


# --- values ------------------------------------------------------------------------------------

# Ops whose small integer outputs the full engine knows: onnx-shape-inference's data propagation
# (Shape, Size, Split and the others below) and the folding of whitelisted shape arithmetic.
_VALUED = FOLDABLE | {"Shape", "Size", "Split"}


def _value(st: State, node: onnx.NodeProto, attrs: dict) -> None:
    op, out = node.op_type, node.output[0]
    if op == "Shape":
        x = st.shape(node.input[0])
        dims = list(x[slice(_i(attrs, "start", 0), _i(attrs, "end", len(x)))])
        _set(st, out, dims)
        return
    if op == "Size":
        x = st.shape(node.input[0])
        if all(isinstance(d, int) for d in x):
            st.values[out] = np.asarray(prod(x), dtype=np.int64)  # type: ignore[arg-type]
        return
    ins = [st.values.get(n) if n else None for n in node.input]
    if all(v is not None or not n for v, n in zip(ins, node.input, strict=True)):
        if op == "Split":
            _split_value(st, node, ins[0])
            return
        val = _fold_fast(st, node, attrs, ins)
        if val is not None and val.size <= CAP:
            st.values[out] = val
        return
    # some input holds dim names: pass them through the ops that move elements only
    vecs = [st.vector(n) if n else None for n in node.input]
    if vecs[0] is None:
        return
    if op in ("Identity", "Cast") or (op == "Reshape" and len(st.shape(out)) == 1):
        _set(st, out, vecs[0])
    elif op == "Concat" and all(v is not None for v in vecs):
        _set(st, out, [d for v in vecs for d in v])  # type: ignore[union-attr]
    elif (op == "Unsqueeze" and len(vecs[0]) == 1 and st.shape(out) == (1,)) or (
        op == "Squeeze" and len(vecs[0]) == 1 and st.shape(out) == ()
    ):
        _set(st, out, vecs[0])
    elif op == "Gather" and vecs[1] is not None and st.shape(node.input[0]) == (len(vecs[0]),):
        idx = vecs[1]
        if all(isinstance(i, int) and -len(vecs[0]) <= i < len(vecs[0]) for i in idx):
            _set(st, out, [vecs[0][i] for i in idx])  # type: ignore[index]
    elif op == "Slice" and st.opset >= 10 and len(st.shape(node.input[0])) == 1:
        starts, ends = vecs[1], vecs[2]
        steps = vecs[4] if len(vecs) > 4 and vecs[4] is not None else [1]
        if starts and ends and len(starts) == len(ends) == 1 and len(steps) == 1:
            s = slice(starts[0], ends[0], steps[0])
            if all(isinstance(v, int) for v in (s.start, s.stop, s.step)):
                _set(st, out, vecs[0][s])


def _set(st: State, name: str, dims: list[Dim]) -> None:
    if len(dims) > CAP:
        raise GiveUp("values over the cap")  # the full engine says so in a warning
    if all(isinstance(d, int) for d in dims):
        shape = st.shape(name)
        arr = np.asarray(dims, dtype=np.int64)
        st.values[name] = arr.reshape(shape) if prod(shape) == arr.size else arr  # type: ignore[arg-type]
    else:
        st.syms[name] = dims


def _split_value(st: State, node: onnx.NodeProto, x: np.ndarray) -> None:
    if x.ndim != 1 or x.dtype.kind not in "iub":
        return
    at = 0
    for name in node.output:
        (n,) = st.shape(name)
        if name:
            _set(st, name, [int(v) for v in x[at : at + n]])  # type: ignore[misc]
        at += n  # type: ignore[operator]


_NUMPY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Max": np.maximum,
          "Min": np.minimum, "Equal": np.equal, "Less": np.less, "Greater": np.greater,
          "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal, "And": np.logical_and,
          "Or": np.logical_or, "Abs": np.abs, "Neg": np.negative, "Not": np.logical_not,
          "Sign": np.sign, "Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt}  # fmt: skip


def _fold_fast(st: State, node: onnx.NodeProto, attrs: dict, ins: list) -> np.ndarray | None:
    """Shape arithmetic in numpy, as onnx's reference ops compute it; the rest through the
    folding module (which runs those reference ops: slower, and rare in shape chains)."""
    op, x = node.op_type, ins[0]
    shape = st.shape(node.output[0])
    if any(isinstance(d, str) for d in shape) or prod(shape) > CAP:  # type: ignore[arg-type]
        return None  # bounded before anything is computed
    same = all(v.dtype == x.dtype for v in ins if v is not None)
    with np.errstate(all="ignore"):
        if op == "Identity":
            return x
        if op == "Cast":
            return x.astype(onnx.helper.tensor_dtype_to_np_dtype(attrs["to"].i))
        if op in ("Unsqueeze", "Squeeze", "Reshape", "Flatten"):
            return x.reshape(shape)
        if op == "Transpose":
            return np.transpose(x, _ints(attrs, "perm"))
        if op == "Concat" and same:
            return np.concatenate([v for v in ins if v is not None], axis=attrs["axis"].i)
        if op == "Gather" and ins[1].dtype.kind in "iu":
            axis = _axis(_i(attrs, "axis", 0), x.ndim)
            idx, n = ins[1], x.shape[axis]
            return None if ((idx < -n) | (idx >= n)).any() else np.take(x, idx, axis=axis)
        if op in _NUMPY and same and len(ins) <= 2:
            return np.asarray(_NUMPY[op](*ins)).astype(st.np_dtype(node.output[0]))
        if op == "Div" and same and x.dtype.kind in "iu":
            if (ins[1] == 0).any():
                return None
            q, r = np.floor_divide(x, ins[1]), np.remainder(x, ins[1])
            return q + ((r != 0) & ((x < 0) ^ (ins[1] < 0))).astype(q.dtype)  # toward zero
        if op == "Div" and same:
            return np.divide(x, ins[1])
        if op == "Where":
            return np.where(x, ins[1], ins[2])
        if op == "ConstantOfShape":
            fill = numpy_helper.to_array(attrs["value"].t) if "value" in attrs else np.zeros(1)
            return np.full(shape, fill.reshape(-1)[0], dtype=fill.dtype)
        if op == "Expand":
            return np.array(np.broadcast_to(x, shape))
        if op == "Slice" and st.opset >= 10:  # numpy's slicing is ONNX's, negatives and all
            starts, ends = ins[1].reshape(-1).tolist(), ins[2].reshape(-1).tolist()
            axes = ins[3].reshape(-1).tolist() if len(ins) > 3 and ins[3] is not None else None
            steps = ins[4].reshape(-1).tolist() if len(ins) > 4 and ins[4] is not None else None
            cut = [slice(None)] * x.ndim
            for j, a in enumerate(axes if axes is not None else range(len(starts))):
                cut[a] = slice(starts[j], ends[j], steps[j] if steps is not None else 1)
            return x[tuple(cut)]
        if op == "Range" and x.dtype.kind in "iu" and same:
            start, limit, delta = (v.item() for v in ins)
            return None if delta == 0 else np.arange(start, limit, delta).astype(x.dtype)
        if op == "Mod" and same:
            return (np.fmod if _i(attrs, "fmod", 0) else np.mod)(x, ins[1])
        if op == "Tile":
            return np.tile(x, ins[1].reshape(-1).tolist())
    return fold_node(node.proto if isinstance(node, _Node) else node, ins, st.opset)


__all__ = ["RULES", "GiveUp", "infer"]

from onnxcost.model import fast_contrib  # noqa: E402, F401  (its rules register on import)
