"""The shape engine's fast path against the full engine, on every model it can find.

    python tools/fast_parity.py [DIR_OR_FILE ...]     # default: onnx's backend data, models/

For each model: the full engine's shapes and values, and the fast path's (or its reason to give
up). Prints how many models the fast path took, and every difference (there must be none).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from onnxcost.errors import OnnxCostError  # noqa: E402
from onnxcost.model import engine, fast  # noqa: E402
from onnxcost.model.graph import build  # noqa: E402
from onnxcost.model.loader import load  # noqa: E402


def compare(
    path: Path,
    dims: dict[str, int] | None = None,
    shapes: dict | None = None,
    values: dict | None = None,
) -> tuple[str, list[str]]:
    """('full' | 'fast' | 'error', differences)."""
    from onnxcost.model.dims import bind

    try:
        loaded = load(path)
        bind(loaded.model, dims, shapes)
        g = loaded.graph or build(loaded.model.graph)
    except OnnxCostError:
        return "error", []
    why: list[str] = []
    values = {k: np.asarray(v) for k, v in (values or {}).items()}  # as --input-value makes them
    quick = fast.infer(loaded.model, g, values, why)
    if quick is None:
        return "full:" + (why[0] if why else "?"), []
    full = engine.infer(loaded.model, None if g.file_order else g.order, values)
    return "fast", differences(full, quick)


def differences(full: engine.Shapes, quick: engine.Shapes) -> list[str]:
    out = []
    if set(full.scopes) != set(quick.scopes):
        out.append(f"scopes: full {sorted(full.scopes)} fast {sorted(quick.scopes)}")
    for scope in full.scopes:
        a, b = full.scopes.get(scope, {}), quick.scopes.get(scope, {})
        for name in sorted(set(a) | set(b)):
            x, y = a.get(name), b.get(name)
            if x is None or y is None or (x.elem_type, x.shape) != (y.elem_type, y.shape):
                out.append(f"info {scope} {name}: full {x} fast {y}")
        va, vb = full.values.get(scope, {}), quick.values.get(scope, {})
        for name in sorted(set(va) | set(vb)):
            x, y = va.get(name), vb.get(name)
            if y is not None and x is None:
                continue  # the fast path folds some chains the library's propagation loses
            if x is None or y is None or x.shape != y.shape or not np.array_equal(x, y):
                out.append(f"value {scope} {name}: full {x!r} fast {y!r}")
        da, db = full.dim_values.get(scope, {}), quick.dim_values.get(scope, {})
        if da != db:
            out.append(f"dim_values {scope}: full {da} fast {db}")
    if full.failures:
        out.append(f"full engine failures: {[f.reason for f in full.failures][:3]}")
    if full.warnings:
        out.append(f"full engine warnings: {full.warnings[:3]}")
    return out


def main() -> None:
    roots = [Path(a) for a in sys.argv[1:]] or [
        Path(onnx.__file__).parent / "backend" / "test" / "data",
        ROOT / "models",
    ]
    files = [f for r in roots for f in ([r] if r.is_file() else sorted(r.rglob("*.onnx")))]
    # a corpus manifest beside the models binds their dims as the corpus's truths do
    bindings = {}
    for r in roots:
        manifest = (r if r.is_dir() else r.parent).parent / "manifest.json"
        if manifest.exists():
            for m in json.loads(manifest.read_text()):
                bindings[(manifest.parent / m["path"]).resolve()] = m
    kinds: Counter[str] = Counter()
    bad = 0
    for f in files:
        m = bindings.get(f.resolve(), {})
        kind, diffs = compare(f, m.get("dims"), m.get("input_shapes"), m.get("input_values"))
        kinds[kind.split(":")[0]] += 1
        if kind.startswith("full:"):
            kinds["  " + kind[5:].split("'")[0][:40]] += 1
        if diffs:
            bad += 1
            print(f"DIFF {f}:")
            for d in diffs[:6]:
                print("   ", d)
    for k, v in kinds.most_common():
        print(f"{v:6d}  {k}")
    print(f"{bad} model(s) differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
