"""Runtime truth of every top-level tensor's shape in the corpus, from one onnxruntime run.

    nice -n 10 /work/corpus-venv/bin/python tools/corpus/oracle.py             # every entry
    /work/corpus-venv/bin/python tools/corpus/oracle.py --only bert --force    # a subset, again

For each entry of /work/corpus/manifest.json (see build.py): a copy of the model gets every
output of every top-level node as a graph output (declared without a type: onnxruntime infers
it; if the session refuses that, only the outputs whose type onnx's inference knows are added),
and onnxruntime runs it once on the CPU with graph optimizations disabled, on random inputs of
the manifest's dims (ids in [0, 50), masks of ones, position ids = arange, input_values as
given). Writes /work/corpus/shapes/<name>.json:

    {"model": name, "inputs": {name: shape}, "shapes": {tensor: [dims] or null}, "seconds": s}

null marks a non-tensor output (a sequence or map, as ZipMap's). A model that fails to run gets
{"error": "..."} instead of shapes. Tensors inside If/Loop bodies are not listed: only the
top-level graph's. Existing files are kept unless --force.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, SHAPES, load_manifest, random_feeds


def _with_all_outputs(model: onnx.ModelProto, typed_only: bool) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    known: dict[str, onnx.ValueInfoProto] = {}
    if typed_only:
        try:
            inf = onnx.shape_inference.infer_shapes(m)
            known = {vi.name: vi for vi in inf.graph.value_info}
        except Exception:
            known = {}
    for node in m.graph.node:
        for o in node.output:
            if not o or o in have:
                continue
            if typed_only:
                vi = known.get(o)
                if (
                    vi is None
                    or not vi.type.HasField("tensor_type")
                    or not vi.type.tensor_type.elem_type
                ):
                    continue
                out = onnx.helper.make_tensor_value_info(o, vi.type.tensor_type.elem_type, None)
            else:
                out = onnx.ValueInfoProto(name=o)
            m.graph.output.append(out)
            have.add(o)
    return m


def run_entry(e: dict) -> dict:
    import onnxruntime as ort

    path = CORPUS / e["path"]
    model = onnx.load(str(path), load_external_data=True)
    feeds = random_feeds(model, e["dims"], e["input_shapes"], e.get("input_values"))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    so.intra_op_num_threads = 2
    errors = []
    sess = None
    for typed_only in (False, True):
        m = _with_all_outputs(model, typed_only)
        try:
            sess = ort.InferenceSession(
                m.SerializeToString(), so, providers=["CPUExecutionProvider"]
            )
            break
        except Exception as ex:
            errors.append(
                f"session ({'typed outputs' if typed_only else 'untyped outputs'}): "
                f"{type(ex).__name__}: {str(ex)[:1500]}"
            )
    res: dict = {"model": e["name"], "inputs": {k: list(v.shape) for k, v in feeds.items()}}
    if sess is None:
        res["error"] = " | ".join(errors)
        return res
    names = [o.name for o in sess.get_outputs()]
    t0 = time.time()
    try:
        outs = sess.run(names, feeds)
    except Exception as ex:
        res["error"] = f"run: {type(ex).__name__}: {str(ex)[:2000]}"
        return res
    res["seconds"] = round(time.time() - t0, 3)
    if errors:
        res["note"] = "untyped outputs refused; only typed intermediates listed: " + errors[0]
    shapes = {}
    for n, v in zip(names, outs, strict=True):
        shapes[n] = list(v.shape) if hasattr(v, "shape") else None
    res["shapes"] = shapes
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="entries whose name contains this (comma: several)")
    ap.add_argument("--force", action="store_true", help="redo existing shape files")
    args = ap.parse_args(argv)
    SHAPES.mkdir(parents=True, exist_ok=True)
    entries = load_manifest()
    if args.only:
        subs = args.only.split(",")
        entries = [e for e in entries if any(s in e["name"] for s in subs)]
    n_ok = n_err = 0
    for e in entries:
        out = SHAPES / f"{e['name']}.json"
        if out.exists() and not args.force:
            continue
        t0 = time.time()
        try:
            res = run_entry(e)
        except Exception as ex:  # feeds or loading: recorded like a run failure
            res = {"model": e["name"], "error": f"{type(ex).__name__}: {str(ex)[:2000]}"}
        out.write_text(json.dumps(res, indent=0) + "\n")
        if "error" in res:
            n_err += 1
            print(f"ERROR {e['name']} ({time.time() - t0:.1f}s): {res['error'][:300]}")
        else:
            n_ok += 1
            print(f"ok    {e['name']} ({time.time() - t0:.1f}s): {len(res['shapes'])} tensors")
    print(f"{n_ok} ran, {n_err} failed; shapes in {SHAPES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
