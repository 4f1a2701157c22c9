"""ONNX element types: names and stored bit widths."""

from __future__ import annotations

from onnx import TensorProto

# Bits per element as stored. Sub-byte types pack, so sizes are computed in bits.
_BITS: dict[int, int] = {
    TensorProto.FLOAT: 32,
    TensorProto.UINT8: 8,
    TensorProto.INT8: 8,
    TensorProto.UINT16: 16,
    TensorProto.INT16: 16,
    TensorProto.INT32: 32,
    TensorProto.INT64: 64,
    TensorProto.STRING: 64,  # unknown length: count a pointer, never read the strings
    TensorProto.BOOL: 8,
    TensorProto.FLOAT16: 16,
    TensorProto.DOUBLE: 64,
    TensorProto.UINT32: 32,
    TensorProto.UINT64: 64,
    TensorProto.COMPLEX64: 64,
    TensorProto.COMPLEX128: 128,
    TensorProto.BFLOAT16: 16,
}
for _name, _bits in (
    ("FLOAT8E4M3FN", 8),
    ("FLOAT8E4M3FNUZ", 8),
    ("FLOAT8E5M2", 8),
    ("FLOAT8E5M2FNUZ", 8),
    ("FLOAT8E8M0", 8),
    ("UINT4", 4),
    ("INT4", 4),
    ("FLOAT4E2M1", 4),
    ("UINT2", 2),
    ("INT2", 2),
):
    if hasattr(TensorProto, _name):
        _BITS[getattr(TensorProto, _name)] = _bits


def bits(elem_type: int) -> int:
    """Stored bits per element; 0 for an undefined type (the tensor's size is then unknown)."""
    return _BITS.get(elem_type, 0)


# numpy-style names (protobuf's enum lookup is slow Python, and asked once per node)
_NAMES = {
    v: {"FLOAT": "float32", "DOUBLE": "float64"}.get(k, k.lower())
    for k, v in TensorProto.DataType.items()
}


def name(elem_type: int) -> str:
    """Lower-case numpy-style name: float32, float16, int8, ..."""
    found = _NAMES.get(elem_type)
    if found is not None:
        return found
    return "undefined" if elem_type == 0 else f"type{elem_type}"


def nbytes(elements: int, elem_type: int) -> int:
    """Bytes that `elements` values of this type occupy, sub-byte types rounded up."""
    return (elements * bits(elem_type) + 7) // 8


def is_integer(elem_type: int) -> bool:
    return name(elem_type).startswith(("int", "uint"))
