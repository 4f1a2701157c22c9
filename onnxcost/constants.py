"""Values of small constant tensors, for rules that need them (trip counts, axes, shapes)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from .loader import SMALL_CONSTANT_ELEMENTS, iter_graphs


class ConstantValues:
    """Lazy name -> numpy value for initializers and Constant outputs small enough to keep."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self._tensors: dict[str, onnx.TensorProto] = {}
        for g in iter_graphs(graph):
            for t in g.initializer:
                self._tensors[t.name] = t
            for node in g.node:
                if node.op_type == "Constant" and node.output and node.attribute:
                    tensor = _constant_tensor(node.attribute[0])
                    if tensor is not None:
                        self._tensors[node.output[0]] = tensor
        self._cache: dict[str, np.ndarray | None] = {}

    def __call__(self, name: str) -> np.ndarray | None:
        if name not in self._cache:
            self._cache[name] = self._load(name)
        return self._cache[name]

    def _load(self, name: str) -> np.ndarray | None:
        t = self._tensors.get(name)
        if t is None or t.data_location == onnx.TensorProto.EXTERNAL:
            return None
        n = 1
        for d in t.dims:
            n *= d
        if n > SMALL_CONSTANT_ELEMENTS:
            return None  # payload was dropped at load: never materialise weights
        try:
            return numpy_helper.to_array(t)
        except Exception:  # a malformed payload: the value is simply unknown
            return None


# Constant's value_* attributes, as the tensor each stands for (the spec's dtypes for them).
_ATTR_DTYPES = {
    "value_int": np.int64,
    "value_ints": np.int64,
    "value_float": np.float32,
    "value_floats": np.float32,
}


def _constant_tensor(attr: onnx.AttributeProto) -> onnx.TensorProto | None:
    if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
        return attr.t
    dtype = _ATTR_DTYPES.get(attr.name)
    if dtype is None:
        return None  # sparse or string constants: not needed for shape arithmetic
    raw = onnx.helper.get_attribute_value(attr)
    if isinstance(raw, list) and len(raw) > SMALL_CONSTANT_ELEMENTS:
        return None
    return numpy_helper.from_array(np.array(raw, dtype=dtype))
