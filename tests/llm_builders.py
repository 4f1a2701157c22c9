"""Llama-style decoders with a KV cache, built by hand (also used by tools/llm_7b.py).

Two exports are imitated:
- `optimum`: plain ONNX ops, grouped-query heads repeated with Unsqueeze/Expand/Reshape, cache
  inputs `past_key_values.N.key/value` [batch_size, kv, past_sequence_length, d] growing into
  outputs `present.N.key/value` [batch_size, kv, past_sequence_length + sequence_length, d];
- `genai`: onnxruntime-genai's builder: MatMulNBits int4 projections, com.microsoft
  GroupQueryAttention (optionally with local_window_size), attention_mask
  [batch_size, total_sequence_length] and presents [batch_size, kv, total_sequence_length, d].

Weights are zeros, or declared external and never written (`external=True`): only shapes count.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MS = "com.microsoft"
P, S, T = "past_sequence_length", "sequence_length", "total_sequence_length"


class _Builder:
    def __init__(self, external: bool) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.external = external
        self.n = 0

    def name(self, stem: str) -> str:
        self.n += 1
        return f"{stem}_{self.n}"

    def const(self, values, dtype=np.int64) -> str:
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
        return name

    def weight(self, shape: list[int], elem=TensorProto.FLOAT) -> str:
        name = self.name("w")
        if self.external:  # declared only: the bytes would live in a file nobody reads
            t = onnx.TensorProto(name=name, data_type=elem, dims=shape)
            t.data_location = TensorProto.EXTERNAL
            size = int(np.prod(shape)) * (1 if elem == TensorProto.UINT8 else 4)
            for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", str(size))):
                e = t.external_data.add()
                e.key, e.value = k, v
        else:
            dtype = np.uint8 if elem == TensorProto.UINT8 else np.float32
            t = numpy_helper.from_array(np.zeros(shape, dtype), name)
        self.inits.append(t)
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, domain: str = "", **attrs):
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(
            helper.make_node(op_type, inputs, outs, name=self.name(op_type), domain=domain, **attrs)
        )
        return outs[0] if n_out == 1 else outs

    def linear(self, x: str, k: int, n: int, int4: bool) -> str:
        if not int4:
            return self.op("MatMul", [x, self.weight([k, n])])
        block = 32
        blob = self.weight([n, k // block, block // 2], TensorProto.UINT8)
        scales = self.weight([n * (k // block)])
        return self.op(
            "MatMulNBits", [x, blob, scales], domain=MS, K=k, N=n, bits=4, block_size=block
        )


def llama(
    layers: int = 2,
    hidden: int = 64,
    heads: int = 4,
    kv_heads: int = 2,
    inter: int = 128,
    vocab: int = 100,
    style: str = "optimum",
    window: int | None = None,
    external: bool = False,
    names: tuple[str, str] = ("past_key_values.{i}.{kv}", "present.{i}.{kv}"),
) -> onnx.ModelProto:
    d = hidden // heads
    b = _Builder(external)
    genai = style == "genai"
    present_len = T if genai else f"{P} + {S}"
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", S])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", S, vocab])]
    if genai:
        inputs.append(
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch_size", T])
        )
        lens = b.op("ReduceSum", ["attention_mask", b.const([1])], keepdims=0)
        seqlens_k = b.op("Cast", [b.op("Sub", [lens, b.const(1)])], to=TensorProto.INT32)
        total = b.op("Gather", [b.op("Shape", ["attention_mask"]), b.const(1)], axis=0)
        total = b.op("Cast", [total], to=TensorProto.INT32)
    x = b.op("Gather", [b.weight([vocab, hidden]), "input_ids"], axis=0)
    for i in range(layers):
        cache = {}
        for kv in ("key", "value"):
            past, present = (n.format(i=i, kv=kv) for n in names)
            inputs.append(
                helper.make_tensor_value_info(
                    past, TensorProto.FLOAT, ["batch_size", kv_heads, P, d]
                )
            )
            outputs.append(
                helper.make_tensor_value_info(
                    present, TensorProto.FLOAT, ["batch_size", kv_heads, present_len, d]
                )
            )
            cache[kv] = (past, present)
        q = b.linear(x, hidden, heads * d, genai)
        k = b.linear(x, hidden, kv_heads * d, genai)
        v = b.linear(x, hidden, kv_heads * d, genai)
        if genai:
            attrs = {"num_heads": heads, "kv_num_heads": kv_heads}
            if window:
                attrs["local_window_size"] = window
            out = helper.make_node(
                "GroupQueryAttention",
                [q, k, v, cache["key"][0], cache["value"][0], seqlens_k, total],
                [b.name("attn"), cache["key"][1], cache["value"][1]],
                name=b.name("GroupQueryAttention"),
                domain=MS,
                **attrs,
            )
            b.nodes.append(out)
            ctx = out.output[0]
        else:
            ctx = _plain_attention(b, q, k, v, cache, heads, kv_heads, d)
        x = b.op("Add", [x, b.linear(ctx, heads * d, hidden, genai)])
        gate = b.linear(x, hidden, inter, genai)
        act = b.op("Mul", [gate, b.op("Sigmoid", [gate])])
        up = b.linear(x, hidden, inter, genai)
        x = b.op("Add", [x, b.linear(b.op("Mul", [act, up]), inter, hidden, genai)])
    logits = b.linear(x, hidden, vocab, genai)
    b.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="logits_out"))
    graph = helper.make_graph(b.nodes, "llama", inputs, outputs, b.inits)
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(MS, 1)] if genai else [])
    return helper.make_model(graph, opset_imports=opsets)


def _plain_attention(b: _Builder, q, k, v, cache, heads: int, kv_heads: int, d: int) -> str:
    """Scaled dot-product attention over past + new keys, kv heads repeated to the query heads."""
    perm = [0, 2, 1, 3]
    qh = b.op("Transpose", [b.op("Reshape", [q, b.const([0, 0, heads, d])])], perm=perm)
    rep = []
    for name, t in (("key", k), ("value", v)):
        th = b.op("Transpose", [b.op("Reshape", [t, b.const([0, 0, kv_heads, d])])], perm=perm)
        past, present = cache[name]
        b.nodes.append(helper.make_node("Concat", [past, th], [present], axis=2))
        wide = b.op("Unsqueeze", [present, b.const([2])])
        wide = b.op("Expand", [wide, b.const([1, 1, heads // kv_heads, 1, 1])])
        rep.append(b.op("Reshape", [wide, b.const([0, heads, -1, d])]))
    scores = b.op("MatMul", [qh, b.op("Transpose", [rep[0]], perm=[0, 1, 3, 2])])
    scores = b.op("Mul", [scores, b.const(1.0 / d**0.5, np.float32)])
    ctx = b.op("MatMul", [b.op("Softmax", [scores], axis=-1), rep[1]])
    return b.op("Reshape", [b.op("Transpose", [ctx], perm=perm), b.const([0, 0, heads * d])])
