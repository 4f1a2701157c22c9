"""Run `onnxcost llm`'s study on the corpus decoders and print a markdown table (for the README).

    python tools/llm_corpus.py [/work/corpus]

For each decoder with a cache in the corpus manifest: what the cache recognition found, KV bytes
per token (and the hand formula 2 x layers x kv heads x head size x dtype bytes, from the found
figures), decode MACs at the manifest's dims, and whether they equal `analyze` with those dims
bound. The models are not in the repository, so this is a tool, not a test.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from onnxcost.analysis import llm
from onnxcost.analysis.analyzer import analyze
from onnxcost.errors import OnnxCostError
from onnxcost.model.loader import load


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/corpus")
    manifest = json.loads((root / "manifest.json").read_text())
    print(
        "| model | by | layers | kv heads x size | dtype | window | KV B/token | formula "
        "| decode MACs (B, T) | = analyze |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m in manifest:
        path = root / m["path"]
        if not path.exists():
            continue
        try:
            spec = llm.find_cache(load(str(path)).model)
        except OnnxCostError as e:
            if "past" in m["name"] or "merged" in m["name"] or "genai" in m["name"]:
                print(f"| {m['name']} | not recognised: {str(e)[:60]} | | | | | | | | |")
            continue
        known = {spec.past_dim, spec.new_dim, spec.batch_dim, *spec.total_dims}
        extra = {k: v for k, v in m["dims"].items() if k not in known and " " not in k}
        batch = m["dims"].get(spec.batch_dim, 1) if spec.batch_dim else 1
        past = m["dims"].get(spec.past_dim, 8)
        context = past + 1
        r = llm.study(str(path), 8, context, batch, None, extra, search=False)
        c = r["cache"]
        dims = spec.phase_dims(batch, context - 1, 1, extra)
        values = spec.phase_values(decode=True)
        bound = analyze(str(path), dims=dims, input_values=values).totals.macs
        formula = None
        if c["layers"] and isinstance(c["kv_heads"], int) and isinstance(c["head_size"], int):
            width = {"float32": 4, "float16": 2, "bfloat16": 2}.get(c["dtype"], 0)
            formula = 2 * c["layers"] * c["kv_heads"] * c["head_size"] * width
        kv = r["kv_cache"]["bytes_per_token"]
        print(
            f"| {m['name']} | {','.join(c['recognised_by'])} | {c['layers']} | "
            f"{c['kv_heads']} x {c['head_size']} | {c['dtype']} | {c['window'] or '-'} | {kv} | "
            f"{formula} | {r['decode']['macs']:,} ({batch}, {context}) | "
            f"{'yes' if bound == r['decode']['macs'] else f'NO: {bound:,}'} |"
        )


if __name__ == "__main__":
    main()
