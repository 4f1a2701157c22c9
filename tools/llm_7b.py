"""Write a Llama-7B-shaped decoder with a KV cache, its weights declared external and absent.

    python tools/llm_7b.py /tmp/llama7b.onnx                  # 32 KV heads (Llama-2-7B)
    python tools/llm_7b.py /tmp/llama7b_gqa.onnx --kv-heads 8 # grouped-query heads
    python tools/llm_7b.py /tmp/llama7b_int4.onnx --style genai --kv-heads 8  # int4, GQA op
    onnxcost llm /tmp/llama7b.onnx --hw h100 --prompt 512 --context 4096

32 layers, hidden 4096, 32 query heads of 128, MLP 11008, vocabulary 32000 (Llama-2-7B). The
graph is tests/llm_builders.py's: plain MatMul attention the optimum way, or MatMulNBits int4
with com.microsoft GroupQueryAttention the onnxruntime-genai way. No weight byte is written: the
file is a few hundred kB and onnxcost never opens the external data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.llm_builders import llama


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("output")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=32)
    ap.add_argument("--inter", type=int, default=11008)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--style", choices=["optimum", "genai"], default="optimum")
    ap.add_argument("--window", type=int, help="local_window_size (genai style only)")
    a = ap.parse_args()
    model = llama(
        layers=a.layers,
        hidden=a.hidden,
        heads=a.heads,
        kv_heads=a.kv_heads,
        inter=a.inter,
        vocab=a.vocab,
        style=a.style,
        window=a.window,
        external=True,
    )
    onnx.save(model, a.output)
    print(f"wrote {a.output} ({Path(a.output).stat().st_size:,} bytes; weights declared external)")


if __name__ == "__main__":
    main()
