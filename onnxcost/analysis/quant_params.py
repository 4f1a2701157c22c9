"""Packed low-bit weights: their logical element count and stored bit width.

Block-quantized contrib ops store sub-byte weights as uint8 blobs (MatMulNBits B is
[N, k_blocks, blob_size] uint8 holding N*K 4-bit values). Counting those by their declared uint8
shape would report 2x too few parameters at 2x the bit width; this module says what each blob
really holds, from the consuming node's attributes. Only shapes are read, never payloads.
"""

from __future__ import annotations

from math import prod

import onnx
from onnx import TensorProto, helper

from onnxcost.model.loader import iter_graphs

MS = "com.microsoft"

Override = tuple[int, int, str]  # (logical elements, stored bits per element, dtype label)


def _stored(model: onnx.ModelProto) -> dict[str, tuple[tuple[int, ...], int]]:
    """name -> (dims, elem_type) of every initializer and Constant output, in all subgraphs."""
    out: dict[str, tuple[tuple[int, ...], int]] = {}
    for g in iter_graphs(model.graph):
        for t in g.initializer:
            out[t.name] = (tuple(t.dims), t.data_type)
        for node in g.node:
            if node.op_type == "Constant" and node.output:
                for a in node.attribute:
                    if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                        out[node.output[0]] = (tuple(a.t.dims), a.t.data_type)
    return out


def _attrs(node: onnx.NodeProto) -> dict[str, object]:
    out: dict[str, object] = {}
    for a in node.attribute:
        try:
            out[a.name] = helper.get_attribute_value(a)
        except Exception:  # an unreadable attribute: the analyzer reports it on the node
            continue
    return out


def _input(node: onnx.NodeProto, i: int) -> str:
    return node.input[i] if i < len(node.input) else ""


def _text(v: object, default: str) -> str:
    if v is None:
        return default
    return v.decode() if isinstance(v, bytes) else str(v)


def packed_weight_override(model: onnx.ModelProto) -> dict[str, Override]:
    """Initializer (or Constant) name -> (logical elements, stored bits, dtype label) for the
    packed weights of MatMulNBits (and its Mlp/Qkv/QLoRA fusions), MatMulBnb4,
    MatMulBlockQuantizedFp4Weight, GatherBlockQuantized and QMoE, and for their packed zero
    points."""
    ms_nodes = [node for g in iter_graphs(model.graph) for node in g.node if node.domain == MS]
    if not ms_nodes:
        return {}  # the common case: no stored shapes to collect
    stored = _stored(model)
    out: dict[str, Override] = {}

    def packed_u8(name: str, bits: int, label: str, logical: int | None = None) -> None:
        """A uint8 tensor holding `8 // bits` values per byte (or exactly `logical` values)."""
        if not name or name not in stored:
            return
        dims, elem_type = stored[name]
        if elem_type != TensorProto.UINT8 or not 0 < bits < 8:
            return
        n = prod(dims)
        out[name] = (n * 8 // bits if logical is None or n == 0 else logical, bits, label)

    for node in ms_nodes:
        a = _attrs(node)
        op = node.op_type
        if op == "MatMulNBits":
            bits = int(a.get("bits", 4) or 4)
            k, n, block = a.get("K"), a.get("N"), a.get("block_size")
            logical = int(k) * int(n) if k and n else None
            packed_u8(_input(node, 1), bits, f"uint{bits}", logical)
            if k and n and block:
                blocks = -(-int(k) // int(block))
                packed_u8(_input(node, 3), bits, f"uint{bits}", int(n) * blocks)
            else:
                packed_u8(_input(node, 3), bits, f"uint{bits}")
        elif op in ("MatMulNBitsMlp", "MatMulNBitsQkv"):
            bits = int(a.get("bits", 4) or 4)
            k = int(a.get("K", 0) or 0)
            if op == "MatMulNBitsMlp":
                n = int(a.get("N", 0) or 0)
                weights = ((3, n), (6, n))
            else:
                nq, nkv = int(a.get("Nq", 0) or 0), int(a.get("Nkv", 0) or 0)
                weights = ((3, nq), (6, nkv), (9, nkv))
            for i, n in weights:
                packed_u8(_input(node, i), bits, f"uint{bits}", k * n or None)
        elif op == "MatMulNBitsQLoRA":
            bits = int(a.get("bits", 4) or 4)
            lora = int(a.get("lora_bits", 8) or 8)
            k, n = a.get("K"), a.get("N")
            packed_u8(_input(node, 1), bits, f"uint{bits}", int(k) * int(n) if k and n else None)
            packed_u8(_input(node, 3), lora, f"uint{lora}")
            packed_u8(_input(node, 5), lora, f"uint{lora}")
        elif op == "MatMulBnb4":
            k, n = a.get("K"), a.get("N")
            label = "nf4" if int(a.get("quant_type", 1) or 0) == 1 else "fp4"
            packed_u8(_input(node, 1), 4, label, int(k) * int(n) if k and n else None)
        elif op == "MatMulBlockQuantizedFp4Weight":
            packed_u8(_input(node, 1), 4, "float4e2m1")
            scale = _input(node, 2)
            if scale in stored and stored[scale][1] == TensorProto.UINT8:
                out[scale] = (prod(stored[scale][0]), 8, "float8e4m3fn")  # raw E4M3 bytes
        elif op == "GatherBlockQuantized":
            bits = int(a.get("bits", 4) or 4)
            packed_u8(_input(node, 0), bits, f"uint{bits}")
            packed_u8(_input(node, 3), bits, f"uint{bits}")
        elif op == "QMoE":
            quant = _text(a.get("quant_type"), "int")
            default = int(a.get("expert_weight_bits", 4) or 4)
            for w, zp, key in ((2, 11, "fc1"), (5, 12, "fc2"), (8, 13, "fc3")):
                if quant in ("fp4", "nvfp4", "mxfp4", "wfp4afp8"):
                    packed_u8(_input(node, w), 4, "float4e2m1")
                    continue
                bits = int(a.get(f"{key}_expert_weight_bits") or default)
                packed_u8(_input(node, w), bits, f"uint{bits}")
                packed_u8(_input(node, zp), bits, f"uint{bits}")
    return out
