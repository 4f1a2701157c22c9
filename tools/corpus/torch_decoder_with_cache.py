"""A decoder with a KV cache exported by `torch.onnx.export`, checked against FlopCounterMode.

    python tools/corpus/torch_decoder_with_cache.py [OUT.onnx]     (the corpus venv)

A Llama-style model from transformers' config class (random weights, grouped-query heads: 4 query
heads, 2 KV heads of 16), exported by TorchScript with its cache as inputs `past_key_values.N.key`
/ `.value` and outputs `present.N.*`. Then `onnxcost llm` reads the cache from the graph; its KV
bytes per token must be 2 x layers x KV heads x head size x 4 bytes, and its decode MACs (one
token at context T = past + 1) those of torch's FlopCounterMode on the same module and cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch
import transformers as tf
from torch.utils.flop_counter import FlopCounterMode

LAYERS, HEADS, KV_HEADS, HEAD, PAST = 2, 4, 2, 16, 8


def model() -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = tf.LlamaConfig(
        hidden_size=HEADS * HEAD,
        intermediate_size=128,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        num_key_value_heads=KV_HEADS,
        vocab_size=100,
        max_position_embeddings=128,
        attn_implementation="eager",
    )
    return tf.LlamaForCausalLM(cfg).eval()


class WithCache(torch.nn.Module):
    """The cache as plain tensors in and out, as a runtime hands them."""

    def __init__(self, m: torch.nn.Module) -> None:
        super().__init__()
        self.m = m

    def forward(self, input_ids: torch.Tensor, *past: torch.Tensor) -> tuple[torch.Tensor, ...]:
        cache = tf.DynamicCache()
        for i in range(LAYERS):
            cache.update(past[2 * i], past[2 * i + 1], i)
        out = self.m(input_ids=input_ids, past_key_values=cache, use_cache=True)
        kv = [t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)]
        return (out.logits, *kv)


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "torch_llama_with_past.onnx")
    m = model()
    kv = ["key", "value"]
    ins = ["input_ids"] + [f"past_key_values.{i}.{k}" for i in range(LAYERS) for k in kv]
    outs = ["logits"] + [f"present.{i}.{k}" for i in range(LAYERS) for k in kv]
    dyn = {"input_ids": {0: "batch", 1: "seq"}}
    dyn |= {n: {0: "batch", 2: "past"} for n in ins[1:]}
    dyn |= {n: {0: "batch", 2: "total"} for n in outs[1:]}
    past = [torch.randn(1, KV_HEADS, PAST, HEAD) for _ in range(2 * LAYERS)]
    ids = torch.randint(0, 100, (1, 1))
    torch.onnx.export(
        WithCache(m), (ids, *past), str(path), input_names=ins, output_names=outs,
        dynamic_axes=dyn, dynamo=False, opset_version=18,
    )  # fmt: skip
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        WithCache(m)(ids, *past)
    truth = fc.get_total_flops() // 2
    res = subprocess.run(
        [sys.executable, "-m", "onnxcost.cli", "llm", str(path), "--prompt", "1",
         "--context", str(PAST + 1), "--format", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    doc = json.loads(res.stdout)
    kv_bytes = 2 * LAYERS * KV_HEADS * HEAD * 4
    got_kv, got_macs = doc["kv_cache"]["bytes_per_token"], doc["decode"]["macs"]
    print(f"KV bytes per token: {got_kv} (2 x {LAYERS} x {KV_HEADS} x {HEAD} x 4 = {kv_bytes})")
    print(f"decode MACs at T={PAST + 1}: {got_macs} (FlopCounterMode: {truth})")
    if got_kv != kv_bytes or got_macs != truth:
        raise SystemExit("MISMATCH")


if __name__ == "__main__":
    main()
