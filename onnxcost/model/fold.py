"""Values of small tensors computed from constants alone: the shape arithmetic of exported graphs.

Exporters build shapes with chains like `Expand(CastLike(0, x), Expand(Shape(W), [1]))` or
`Where(Equal(ConstantOfShape(...), -1), ...)`, which onnx's data propagation does not follow. This
pass evaluates such chains with onnx's reference ops so that shape inference can see their values.

It is constant folding, not running the model: only whitelisted shape-arithmetic ops, only when
every input value is already known and small, and only when the output's size is known to be small
*before* anything is evaluated (a hostile `ConstantOfShape([2**40])` is never materialised).
"""

from __future__ import annotations

import warnings
from math import prod

import numpy as np
import onnx
from onnx import helper

from onnxcost.model.loader import SMALL_CONSTANT_ELEMENTS as CAP

# Output no larger than the broadcast of the inputs.
_BROADCASTING = set(
    [
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Mod",
        "Pow",
        "Equal",
        "Less",
        "LessOrEqual",
        "Greater",
        "GreaterOrEqual",
        "And",
        "Or",
        "Xor",
        "Not",
        "Where",
        "Min",
        "Max",
        "Abs",
        "Neg",
        "Floor",
        "Ceil",
        "Sqrt",
        "Cast",
        "CastLike",
        "Identity",
        "Sign",
    ]
)
# Output no larger than input 0.
_SHRINKING = set(
    [
        "Reshape",
        "Squeeze",
        "Unsqueeze",
        "Slice",
        "Transpose",
        "Flatten",
        "ReduceProd",
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "ArgMax",
        "ArgMin",
    ]
)
FOLDABLE = (
    _BROADCASTING | _SHRINKING | {"ConstantOfShape", "Expand", "Tile", "Range", "Concat", "Gather"}
)


def fold_node(node: onnx.NodeProto, ins: list[np.ndarray | None], opset: int) -> np.ndarray | None:
    """The value of a shape-arithmetic node whose input values are all known, or None.

    None too when the op is not whitelisted, an input is beyond the cap, or the output's size
    cannot be bounded by the cap *before* evaluating.
    """
    if node.domain not in ("", "ai.onnx") or node.op_type not in FOLDABLE:
        return None
    present = [v for v in ins if v is not None]
    if any(v.size > CAP for v in present):
        return None
    size = _predicted_size(node.op_type, ins)
    if size is None or size > CAP:
        return None
    out = _evaluate(node, ins, opset)
    return out if out is not None and out.size <= CAP else None


def _predicted_size(op: str, ins: list[np.ndarray | None]) -> int | None:
    """Elements of the output, from the input values alone; None when it cannot be bounded."""
    try:
        x = ins[0]
        if op in _BROADCASTING:
            shapes = [v.shape for v in ins if v is not None]
            return prod(np.broadcast_shapes(*shapes)) if shapes else None
        if op in _SHRINKING:
            return None if x is None else x.size
        if op == "ConstantOfShape":
            return 1 if x is None else prod(int(d) for d in x.reshape(-1))
        if op == "Expand":
            target = tuple(int(d) for d in ins[1].reshape(-1))  # type: ignore[union-attr]
            return prod(np.broadcast_shapes(x.shape, target))  # type: ignore[union-attr]
        if op == "Tile":
            return x.size * prod(int(r) for r in ins[1].reshape(-1))  # type: ignore[union-attr]
        if op == "Range":
            start, limit, delta = (float(v.reshape(-1)[0]) for v in ins)  # type: ignore[union-attr]
            return None if delta == 0 else max(0, int(np.ceil((limit - start) / delta)))
        if op == "Concat":
            return sum(v.size for v in ins if v is not None)
        if op == "Gather":
            return x.size * ins[1].size  # type: ignore[union-attr]
    except (ValueError, TypeError, IndexError, AttributeError, OverflowError):
        return None  # shapes that do not broadcast, negative sizes...: leave it to inference
    return None


def _evaluate(node: onnx.NodeProto, ins: list[np.ndarray | None], opset: int) -> np.ndarray | None:
    from onnx.reference import ReferenceEvaluator  # imported only when something folds

    names = [n for n in node.input if n]
    graph = helper.make_graph(
        [node],
        "fold",
        [helper.make_empty_tensor_value_info(n) for n in names],
        [helper.make_empty_tensor_value_info(node.output[0])],
    )
    feeds = {n: v for n, v in zip(node.input, ins, strict=True) if n}
    try:  # quietly: numpy's warnings on odd constants are not the user's business
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            out = ReferenceEvaluator(graph, opsets={"": opset or 21}).run(None, feeds)[0]
    except Exception:  # an op it cannot evaluate here: the shape stays for inference to find
        return None
    return np.asarray(out)
