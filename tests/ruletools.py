"""Build a `NodeContext` for unit-testing a cost rule directly, without a model.

    from tests.ruletools import ctx, run
    c = ctx("MatMul", inputs=[(2, 3), (3, 4)], outputs=[(2, 4)])
    cost = run(c)  # the registered rule of ("", "MatMul")

Shapes: a tuple/list of dims (int, or str for a symbolic dim, or None for an unknown dim);
`None` in place of a shape means the optional input/output is left out; `UNKNOWN_RANK` means a
tensor whose rank is unknown; a `TensorInfo` is used as given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from onnx import TensorProto

from onnxcost.rules.registry import Cost, NodeContext, TensorInfo, lookup

UNKNOWN_RANK = object()

ShapeSpec = Sequence[int | str | None] | TensorInfo | None | object


def _tensor(spec: ShapeSpec, name: str, dtype: int) -> TensorInfo | None:
    if spec is None:
        return None
    if isinstance(spec, TensorInfo):
        return spec
    if spec is UNKNOWN_RANK:
        return TensorInfo(name, dtype, None)
    return TensorInfo(name, dtype, tuple(spec))  # type: ignore[arg-type]


def _dtype_at(dtype: int | Sequence[int], i: int) -> int:
    if isinstance(dtype, int):
        return dtype
    return dtype[i] if i < len(dtype) else dtype[-1]


def ctx(
    op_type: str,
    inputs: Sequence[ShapeSpec] = (),
    outputs: Sequence[ShapeSpec] = (),
    attrs: Mapping[str, Any] | None = None,
    dtype: int | Sequence[int] = TensorProto.FLOAT,
    opset: int = 21,
    domain: str = "",
    values: Mapping[int | str, Any] | None = None,
    subgraphs: Mapping[str, Cost] | None = None,
    out_dtype: int | Sequence[int] | None = None,
    name: str = "node",
) -> NodeContext:
    """A NodeContext for `op_type`.

    dtype: one element type for all inputs, or one per input. out_dtype: likewise for outputs
    (default: dtype of input 0). values: constant input values, keyed by input index or tensor
    name (inputs are named in0, in1, ...). subgraphs: the Cost returned for each graph attribute.
    """
    ins = [_tensor(s, f"in{i}", _dtype_at(dtype, i)) for i, s in enumerate(inputs)]
    odt = out_dtype if out_dtype is not None else _dtype_at(dtype, 0)
    outs = [_tensor(s, f"out{i}", _dtype_at(odt, i)) for i, s in enumerate(outputs)]
    vals: dict[str, np.ndarray] = {}
    for k, v in (values or {}).items():
        key = f"in{k}" if isinstance(k, int) else k
        vals[key] = np.asarray(v)
    graphs = dict(subgraphs or {})
    return NodeContext(
        op_type=op_type,
        domain=domain,
        name=name,
        inputs=ins,
        outputs=outs,
        attrs=dict(attrs or {}),
        opset=opset,
        values=lambda n: vals.get(n),
        subgraph=lambda a: graphs.get(a, Cost()),
    )


def run(c: NodeContext) -> Cost:
    """Apply the rule registered for the context's (domain, op_type)."""
    entry = lookup(c.domain, c.op_type)
    if entry is None:
        raise LookupError(f"no rule registered for {c.domain or 'ai.onnx'}::{c.op_type}")
    return entry.fn(c)


def kind(op_type: str, domain: str = "") -> str:
    """The memory kind ("view", "elementwise", "compute") registered for an op."""
    entry = lookup(domain, op_type)
    if entry is None:
        raise LookupError(f"no rule registered for {domain or 'ai.onnx'}::{op_type}")
    return entry.kind
