"""QDQ models: float ops that a runtime executes as integer kernels.

A QDQ model keeps Conv/MatMul/Gemm in float and wraps their operands in DequantizeLinear (and
their outputs in QuantizeLinear). Runtimes fuse DQ -> op -> Q into one integer kernel, so when
every data operand of a contraction comes from a DequantizeLinear, the op's arithmetic runs at
the integer (or fp8) rate: the roofline must use that peak. Weight-only quantization (only the
weight dequantized) still computes in float and is left alone.
"""

from __future__ import annotations

from collections.abc import Callable

import onnx
from onnx import TensorProto

from onnxcost import dtypes
from onnxcost.model.graph import _display_names

# Contractions and the operands that carry data (the rest are biases, shapes, ...).
DATA_OPERANDS: dict[tuple[str, str], tuple[int, ...] | None] = {
    ("", "Conv"): (0, 1),
    ("", "ConvTranspose"): (0, 1),
    ("", "MatMul"): (0, 1),
    ("", "Gemm"): (0, 1),
    ("", "Einsum"): None,  # every input
    ("com.microsoft", "FusedConv"): (0, 1),
    ("com.microsoft", "FusedGemm"): (0, 1),
    ("com.microsoft", "FusedMatMul"): (0, 1),
    ("com.microsoft", "TransposeMatMul"): (0, 1),
    ("com.microsoft", "NhwcConv"): (0, 1),
}
# Ops between a DequantizeLinear and its consumer that move data without arithmetic: runtimes
# fold them into the fused kernel (e.g. DQ(W) -> Transpose -> MatMul).
PASS_THROUGH = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose"}
DEQUANTIZE = {("", "DequantizeLinear"), ("com.microsoft", "DequantizeLinear")}
QUANTIZE = {("", "QuantizeLinear"), ("com.microsoft", "QuantizeLinear")}


def _domain(node: onnx.NodeProto) -> str:
    return "" if node.domain in ("", "ai.onnx") else node.domain


def _elem_types(graph: onnx.GraphProto) -> dict[str, int]:
    types: dict[str, int] = {}
    for vi in (*graph.input, *graph.output, *graph.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.elem_type:
            types[vi.name] = vi.type.tensor_type.elem_type
    for t in graph.initializer:
        types[t.name] = t.data_type
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for a in node.attribute:
                if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                    types[node.output[0]] = a.t.data_type
    return types


def _quantize_output_type(node: onnx.NodeProto, types: dict[str, int]) -> int:
    """Element type QuantizeLinear produces: output_dtype attr, else the zero point's, else uint8."""
    for a in node.attribute:
        if a.name == "output_dtype" and a.i:
            return a.i
    if len(node.input) > 2 and node.input[2] in types:
        return types[node.input[2]]
    return TensorProto.UINT8


def dequantize_source(tensor: str, producer: Callable[[str], onnx.NodeProto | None]) -> str | None:
    """The quantized tensor a DequantizeLinear turns into `tensor` (through layout ops such as
    Reshape and Transpose), or None when `tensor` does not come from a dequantize."""
    node = producer(tensor)
    while node is not None and _domain(node) == "" and node.op_type in PASS_THROUGH:
        node = producer(node.input[0]) if node.input else None
    if node is None or (_domain(node), node.op_type) not in DEQUANTIZE or not node.input:
        return None
    return node.input[0]


def quantized_nodes(graph: onnx.GraphProto) -> dict[str, str]:
    """Display name (as the analyzer names nodes) -> quantized dtype ("int8", "uint8", "int4",
    "float8e4m3fn", ...) for each float contraction whose data operands all come from
    DequantizeLinear. The dtype is the widest of the operands' quantized types (uint8 x int8
    runs at the 8-bit rate); on a tie, the first operand's."""
    nodes = list(graph.node)
    if not any((_domain(n), n.op_type) in DEQUANTIZE for n in nodes):
        return {}  # nothing is dequantized: the common case, and a cheap pass on large graphs
    names = _display_names([n.name for n in nodes], [n.op_type for n in nodes])
    types = _elem_types(graph)
    producer = {o: n for n in nodes for o in n.output if o}

    def quantized_type(tensor: str) -> int | None:
        src = dequantize_source(tensor, producer.get)
        if src is None:
            return None
        if src in types:
            return types[src]
        q = producer.get(src)
        if q is not None and (_domain(q), q.op_type) in QUANTIZE:
            return _quantize_output_type(q, types)
        return None

    out: dict[str, str] = {}
    for node, name in zip(nodes, names, strict=True):
        key = (_domain(node), node.op_type)
        if key not in DATA_OPERANDS:
            continue
        idx = DATA_OPERANDS[key]
        operands = (
            [n for n in node.input if n]
            if idx is None
            else [node.input[i] for i in idx if i < len(node.input) and node.input[i]]
        )
        if len(operands) < 2:
            continue
        qtypes = [quantized_type(t) for t in operands]
        if any(t is None for t in qtypes):
            continue
        best = qtypes[0]
        for t in qtypes[1:]:
            if dtypes.bits(t) > dtypes.bits(best):  # type: ignore[arg-type]
                best = t
        out[name] = dtypes.name(best)  # type: ignore[arg-type]
    return out
