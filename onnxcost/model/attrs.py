"""Attribute types, checked once for every node before anything reads an attribute.

Attributes are read in several places (cost rules, packed-weight sizes of quantized contrib ops,
constant values for shape arithmetic), and each reader trusts the type: `int(bits)` on a string,
`int(K)` on infinity. So the loader checks every node's attributes here first, and a hostile file
gets one error naming the node, the attribute and the type it needs:
- ONNX and ONNX-ML ops against onnx's schema for the model's opset;
- onnxruntime's contrib ops (com.microsoft), which onnx has no schema for, against the types of
  the attributes onnxcost reads (`CONTRIB_TYPES`, from onnxruntime's contrib op documentation).
"""

from __future__ import annotations

from functools import lru_cache

import onnx

from onnxcost.model import onnx_attrs

A = onnx.AttributeProto
_INT, _INTS, _FLOAT = A.INT, A.INTS, A.FLOAT
CONTRIB_TYPES: dict[str, int] = {
    **dict.fromkeys(
        (
            "K", "N", "bits", "block_size", "accuracy_level", "num_heads", "kv_num_heads",
            "unidirectional", "do_rotary", "rotary_embedding_dim", "local_window_size",
            "past_present_share_buffer", "transA", "transB", "transBatchA", "transBatchB",
            "expert_weight_bits", "fc1_expert_weight_bits", "fc2_expert_weight_bits",
            "fc3_expert_weight_bits", "lora_bits", "gather_axis", "group", "channels_last",
        ),
        _INT,
    ),
    **dict.fromkeys(("qkv_hidden_sizes", "kernel_shape", "pads", "strides", "dilations"), _INTS),
    **dict.fromkeys(("softcap", "scale"), _FLOAT),
}  # fmt: skip
_CONTRIB = "com.microsoft"
_NAMES = set(A.AttributeType.values())
# onnx's schemas as data (their first read costs about 8 ms); only for the onnx that made it
_TABLE = onnx_attrs.TYPES if onnx.__version__ == onnx_attrs.ONNX_VERSION else {}


@lru_cache(maxsize=4096)
def _schema_types(domain: str, op_type: str, opset: int) -> dict[str, int] | None:
    versions = _TABLE.get((domain, op_type))
    if versions is not None:  # get_schema's answer: the latest version up to the opset
        return next((types for since, types in reversed(versions) if since <= opset), None)
    try:  # an op onnx registered at run time, or another onnx version
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except Exception:  # unknown op or domain (custom ops): nothing to check against
        return None
    return {k: int(a.type) for k, a in schema.attributes.items()}


def expected_types(node: onnx.NodeProto, opset: int) -> dict[str, int] | None:
    domain = "" if node.domain == "ai.onnx" else node.domain
    if domain == _CONTRIB:
        return CONTRIB_TYPES
    return _schema_types(domain, node.op_type, opset)


def type_error(node: onnx.NodeProto, opset: int) -> str | None:
    """Why an attribute's type is not the one the op needs (ints where a tensor came, ...)."""
    types = expected_types(node, opset)
    if not types:
        return None
    for a in node.attribute:
        want = types.get(a.name)
        if want is not None and a.type != want:
            have = A.AttributeType.Name(a.type) if a.type in _NAMES else a.type
            return (
                f"attribute {a.name!r} has type {have}, the spec says {A.AttributeType.Name(want)}"
            )
    return None
