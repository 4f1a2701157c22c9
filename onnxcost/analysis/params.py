"""Which tensors are weights: parameters, helper constants, and constant-folded nodes.

A tensor is constant when it is stored (initializer, Constant node) or computed only from constants.
Among constants, a *parameter* is a source of weight data: not a small helper (integer/bool of rank
<= 1, or any scalar) and not derived from another parameter (Transpose(W), DequantizeLinear(Wq) are
views of weights already counted). So weights built by ConstantOfShape(constant shape) count once,
and a weight tied between several nodes counts once.

ai.onnx.ml ops hold their weights in attributes (coefficients, intercepts, support vectors, tree
thresholds, node ids and leaf weights, scaler offsets): every list or tensor attribute of such a
node is a parameter at its element type (floats fp32, ints int64, a tensor its own dtype); strings
and the class labels (which name the outputs, not compute them) are not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from math import prod

import onnx

from onnxcost import dtypes
from onnxcost.model.graph import Graph
from onnxcost.model.loader import iter_graphs
from onnxcost.rules.registry import TensorInfo

# Ops whose output changes from run to run: never constant-folded.
NONDETERMINISTIC = {
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}


@dataclass
class Weight:
    """One stored tensor: its elements, bits per element and dtype."""

    name: str
    elements: int | None  # None: shape not static
    bits: int
    dtype: str

    @property
    def nbytes(self) -> int:
        return 0 if self.elements is None else (self.elements * self.bits + 7) // 8


@dataclass
class Constants:
    """What is known before the run: parameters, helper constants, folded nodes."""

    constant: set[str] = field(default_factory=set)  # every tensor known before the run
    params: dict[str, Weight] = field(default_factory=dict)
    helpers: dict[str, Weight] = field(default_factory=dict)  # constants that are not parameters
    folded: set[int] = field(default_factory=set)  # node indices computed from constants only
    unused: list[str] = field(default_factory=list)  # initializers nothing reads
    # ai.onnx.ml attribute weights of top-level nodes: weight name -> index of the node holding it
    attr_owner: dict[str, int] = field(default_factory=dict)


def is_helper(info: TensorInfo) -> bool:
    if info.shape is None:
        return False
    if len(info.shape) == 0:
        return True
    kind = dtypes.name(info.elem_type)
    return len(info.shape) <= 1 and (kind.startswith(("int", "uint")) or kind == "bool")


ML = "ai.onnx.ml"


def ml_attribute_weights(node: onnx.NodeProto, prefix: str) -> list[Weight]:
    """The weights an ai.onnx.ml node holds in its attributes, named `prefix/attribute`."""
    if node.domain != ML:
        return []
    out = []
    for a in node.attribute:
        if a.name.startswith("classlabels_"):
            continue
        if a.type == onnx.AttributeProto.FLOATS:
            elements, elem = len(a.floats), onnx.TensorProto.FLOAT
        elif a.type == onnx.AttributeProto.INTS:
            elements, elem = len(a.ints), onnx.TensorProto.INT64
        elif a.type == onnx.AttributeProto.TENSOR and a.t.data_type != onnx.TensorProto.STRING:
            elements, elem = prod(a.t.dims), a.t.data_type
        else:
            continue
        if elements:
            name = f"{prefix}/{a.name}"
            out.append(Weight(name, elements, dtypes.bits(elem), dtypes.name(elem)))
    return out


# Maps an initializer name to (logical elements, bits per element, dtype label) for packed weights
# (e.g. 4-bit MatMulNBits blobs stored as uint8).
PackedOverride = Callable[[onnx.ModelProto], dict[str, tuple[int, int, str]]]


def classify(
    g: Graph,
    graph: onnx.GraphProto,
    infos: Mapping[str, TensorInfo],
    packed: dict[str, tuple[int, int, str]] | None = None,
    sub_infos: Mapping[str, TensorInfo] | None = None,
) -> Constants:
    """`infos` are the top-level graph's tensors; `sub_infos` those of its subgraphs."""
    packed = packed or {}
    c = Constants()
    derived: set[str] = set()  # constants computed from a parameter
    # (elements, bits, dtype, helper) by type: a model's weights are of a few types
    kinds: dict[tuple, tuple[int | None, int, str, bool]] = {}

    def add_source(name: str) -> None:
        c.constant.add(name)
        if name in packed:
            elements, bits, label = packed[name]
            c.params[name] = Weight(name, elements, bits, label)
            return
        info = infos.get(name) or TensorInfo(name, 0, None)
        key = (info.elem_type, info.shape, info.item_bits, info.label)
        kind = kinds.get(key)
        if kind is None:
            kind = kinds[key] = (
                info.numel() if info.static else None,
                dtypes.bits(info.elem_type),
                dtypes.name(info.elem_type),
                is_helper(info),
            )
        (c.helpers if kind[3] else c.params)[name] = Weight(name, kind[0], kind[1], kind[2])

    for name in g.initializers:
        if name in g.consumers or name in g.graph_outputs:
            add_source(name)
        else:
            c.constant.add(name)
            c.unused.append(name)

    constant = c.constant
    for i in g.order:
        op_type = g.op_types[i]
        if op_type == "Constant" and g.domains[i] in ("", "ai.onnx"):
            for o in g.outputs[i]:
                if o:
                    add_source(o)
            c.folded.add(i)
            continue
        ins = g.inputs[i]
        if (
            not ins
            or not constant.issuperset(ins)
            or op_type in NONDETERMINISTIC
            or i in g.subgraphs
        ):
            continue
        c.folded.add(i)
        from_param = any(n in c.params or n in derived for n in ins)
        for o in g.outputs[i]:
            if not o:
                continue
            if from_param:
                c.constant.add(o)
                derived.add(o)
            else:
                add_source(o)

    for i in g.order if ML in g.domains else ():  # most graphs have no ML node
        if g.domains[i] != ML:
            continue
        for w in ml_attribute_weights(g.nodes[i], g.names[i]):
            c.params[w.name] = w
            c.attr_owner[w.name] = i

    # Weights stored inside subgraphs (If branches, Loop bodies) count too.
    infos = sub_infos or infos
    for sub in iter_graphs(graph) if g.subgraphs else ():
        if sub is graph:
            continue
        for t in sub.initializer:
            add_source(t.name)
        for k, node in enumerate(sub.node):
            if node.op_type == "Constant" and node.output:
                add_source(node.output[0])
            for w in ml_attribute_weights(node, f"{sub.name}/{node.name or k}"):
                c.params[w.name] = w
    return c
