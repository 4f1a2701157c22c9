"""Compare onnxcost (the live checkout) with the corpus truths, and optionally other engines.

    nice -n 10 /work/corpus-venv/bin/python tools/corpus/compare.py              # onnxcost only
    nice -n 10 /work/corpus-venv/bin/python tools/corpus/compare.py --engines    # + 5 engines
    /work/corpus-venv/bin/python tools/corpus/compare.py --only llama,t5

Needs build.py's manifest and oracle.py's shapes under /work/corpus (ONNXCOST_CORPUS). For
each entry, `onnxcost.analyze(path, dims=..., input_shapes=...)` (and `input_values=` when
analyze accepts it) is timed and compared with the truth: MACs against truth_macs (relative
error), totals.lower_bound, totals.status when the report has one, the uncounted and
unresolved node counts, and the share of top-level tensors whose inferred shape equals the
shape onnxruntime produced (oracle.py). Writes /work/corpus/compare.md and compare.json (with
the first mismatching tensors of each model) and prints the table.

--engines also measures, per model and each in a subprocess with a 120 s timeout (a failure
or a hang is recorded, the table goes on), on the model with its inputs made concrete:
  onnx        onnx.shape_inference.infer_shapes(model, data_prop=True)
  ort_sym     onnxruntime.tools.symbolic_shape_infer.SymbolicShapeInference (auto_merge)
  onnx_si     onnx_shape_inference.infer_symbolic_shapes on an onnx_ir model
  onnxsim     onnxsim.model_info.ModelInfo MACs and onnxsim.shape_cost.bounds tensor shapes
  onnx_tool   onnx_tool Graph.shape_infer (fed the random inputs) + profile MACs
and writes /work/corpus/engines.md and engines.json: share of tensors matched and seconds
(the engine call alone, not the imports) per engine, MACs where the engine gives them, and a
totals row (tensors matched over all models / all tensors, summed seconds, failures).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CORPUS, SHAPES, concrete_shapes, load_manifest, random_feeds

ENGINES = ["onnx", "ort_sym", "onnx_si", "onnxsim", "onnx_tool"]
TIMEOUT = 120


# ---------------------------------------------------------------- helpers


def runtime_shapes(name: str) -> dict[str, list[int]] | None:
    p = SHAPES / f"{name}.json"
    if not p.exists():
        return None
    d = json.loads(p.read_text())
    if "shapes" not in d:
        return None
    return {k: v for k, v in d["shapes"].items() if v is not None}


def score(
    inferred: dict[str, list | None], truth: dict[str, list[int]] | None, keep: int = 5
) -> dict:
    """Tensors of `truth` whose inferred shape is exactly it (every dim an int, equal)."""
    if truth is None:
        return {"matched": None, "total": None, "share": None, "mismatches": []}
    ok, bad = 0, []
    for name, shape in truth.items():
        got = inferred.get(name)
        if got is not None and [int(d) if isinstance(d, int) else d for d in got] == shape:
            ok += 1
        elif len(bad) < keep:
            bad.append({"tensor": name, "runtime": shape, "inferred": got})
    total = len(truth)
    return {
        "matched": ok,
        "total": total,
        "share": ok / total if total else None,
        "mismatches": bad,
    }


def concrete_model(e: dict, with_data: bool = True) -> tuple[onnx.ModelProto, dict]:
    """The entry's model with every graph input's dims made concrete, and random feeds."""
    m = onnx.load(str(CORPUS / e["path"]), load_external_data=with_data)
    shapes = concrete_shapes(m, e["dims"], e["input_shapes"])
    feeds = random_feeds(m, e["dims"], e["input_shapes"], e.get("input_values"))
    for vi in m.graph.input:
        if vi.name in shapes and vi.type.HasField("tensor_type"):
            tt = vi.type.tensor_type
            tt.shape.Clear()
            for v in shapes[vi.name]:
                tt.shape.dim.add().dim_value = v
    return m, feeds


def _dims(shape_proto) -> list:
    return [
        d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in shape_proto.dim
    ]


def _value_info_shapes(m: onnx.ModelProto) -> dict[str, list | None]:
    out = {}
    for vi in (*m.graph.value_info, *m.graph.output):
        tt = vi.type.tensor_type
        if vi.type.HasField("tensor_type") and tt.HasField("shape"):
            out[vi.name] = _dims(tt.shape)
    return out


class _Timeout(Exception):
    pass


@contextlib.contextmanager
def alarm(seconds: int):
    def raise_(*_):
        raise _Timeout(f"no result in {seconds} s")

    old = signal.signal(signal.SIGALRM, raise_)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------- onnxcost


def run_onnxcost(e: dict) -> dict:
    import onnxcost

    kw = {"dims": e["dims"] or None, "input_shapes": e["input_shapes"] or None}
    params = inspect.signature(onnxcost.analyze).parameters
    if "input_values" in params and e.get("input_values"):
        kw["input_values"] = e["input_values"]
    res: dict = {"passed_input_values": "input_values" in kw}
    t0 = time.perf_counter()
    try:
        with alarm(TIMEOUT):
            rep = onnxcost.analyze(str(CORPUS / e["path"]), **kw)
    except Exception as ex:
        res.update(
            error=f"{type(ex).__name__}: {str(ex)[:500]}",
            seconds=round(time.perf_counter() - t0, 3),
        )
        return res
    res["seconds"] = round(time.perf_counter() - t0, 3)
    t = rep.totals
    res.update(
        macs=t.macs,
        flops=t.flops,
        params=t.params,
        lower_bound=t.lower_bound,
        status=getattr(t, "status", None),
        uncounted_nodes=t.uncounted_nodes,
        unresolved_nodes=t.unresolved_nodes,
        uncounted_ops=len(rep.uncounted),
        unresolved_items=len(rep.unresolved),
    )
    inferred = {}
    for n in rep.nodes:
        for o, s in zip(n.outputs, n.output_shapes, strict=False):
            inferred[o] = s
    res["shapes"] = score(inferred, runtime_shapes(e["name"]))
    return res


# ---------------------------------------------------------------- other engines (worker side)


def engine_onnx(m, feeds, e):
    t0 = time.perf_counter()
    inf = onnx.shape_inference.infer_shapes(m, data_prop=True)
    dt = time.perf_counter() - t0
    return _value_info_shapes(inf), None, dt


def engine_ort_sym(m, feeds, e):
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    t0 = time.perf_counter()
    inf = SymbolicShapeInference.infer_shapes(m, auto_merge=True)
    dt = time.perf_counter() - t0
    if inf is None:
        raise RuntimeError("SymbolicShapeInference returned None (incomplete)")
    return _value_info_shapes(inf), None, dt


def engine_onnx_si(m, feeds, e):
    import onnx_ir as ir
    from onnx_shape_inference import infer_symbolic_shapes

    t0 = time.perf_counter()
    model = infer_symbolic_shapes(ir.from_proto(m))
    dt = time.perf_counter() - t0
    out = {}
    for node in model.graph:
        for v in node.outputs:
            if v.shape is None:
                continue
            out[v.name] = [d if isinstance(d, int) else str(d) for d in v.shape]
    return out, None, dt


def _num(x) -> int | None:
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def engine_onnxsim(m, feeds, e):
    from onnxsim import shape_cost
    from onnxsim.model_info import ModelInfo

    t0 = time.perf_counter()
    info = ModelInfo(m)
    macs = _num(info.macs)
    b = shape_cost.bounds(m, plan_arena=False)
    dt = time.perf_counter() - t0
    out = {}
    for name, tb in b.tensors.items():
        if tb.shape is None:
            continue
        dims = []
        for d in tb.shape:
            if isinstance(d, int):
                dims.append(d)
            elif hasattr(d, "lo") and d.lo == d.hi:
                dims.append(int(d.lo))
            elif isinstance(d, tuple | list) and len(d) == 2 and d[0] == d[1]:
                dims.append(int(d[0]))
            else:
                dims.append(str(d))
        out[name] = dims
    return out, macs, dt


def engine_onnx_tool(m, feeds, e):
    import onnx_tool

    t0 = time.perf_counter()
    model = onnx_tool.Model(m, {"verbose": False})
    g = model.graph
    g.graph_reorder_nodes()
    g.shape_infer(feeds)
    g.profile()
    dt = time.perf_counter() - t0
    out = {name: t.get_shape() for name, t in g.tensormap.items()}
    return out, int(round(g.macs[0])), dt  # noqa: RUF046 (numpy float)


def worker(engine: str, name: str) -> None:
    """Subprocess side: one engine on one model; prints one JSON line."""
    import io
    import os
    import tempfile

    # some engines write scratch files into the working folder (ORT's symbolic inference:
    # sym_shape_infer_temp.onnx): keep them out of the checkout
    os.chdir(tempfile.mkdtemp(prefix="onnxcost-engine-"))
    e = next(x for x in load_manifest() if x["name"] == name)
    m, feeds = concrete_model(e)
    fn = globals()[f"engine_{engine}"]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        shapes, macs, dt = fn(m, feeds, e)
    res = {"seconds": round(dt, 3), "macs": macs, "shapes": score(shapes, runtime_shapes(name))}
    sys.stdout.write(json.dumps(res) + "\n")
    sys.stdout.flush()
    os._exit(0)  # some engines leave threads behind


def run_engine(engine: str, name: str) -> dict:
    t0 = time.perf_counter()
    try:
        r = subprocess.run(
            [sys.executable, __file__, "--worker", engine, name],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {TIMEOUT} s", "seconds": TIMEOUT}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        tail = (r.stderr or r.stdout).strip().splitlines()
        msg = tail[-1] if tail else f"exit {r.returncode}"
        return {"error": msg[:300], "seconds": round(time.perf_counter() - t0, 1)}
    return json.loads(lines[-1])


# ---------------------------------------------------------------- tables


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _share(s: dict | None) -> str:
    if not s or s.get("total") is None:
        return "n/a"
    return f"{s['matched']}/{s['total']} ({_pct(s['share'])})"


def _macs(x: int | None) -> str:
    if x is None:
        return "-"
    if x >= 10**9:
        return f"{x / 1e9:.3f}G"
    if x >= 10**6:
        return f"{x / 1e6:.3f}M"
    if x >= 10**3:
        return f"{x / 1e3:.1f}K"
    return str(x)


def compare_table(rows: list[dict]) -> str:
    head = (
        "| model | family | MACs | truth | err | lower bound | status | uncounted | "
        "unresolved | shapes matched | s |"
    )
    out = [head, "|" + "---|" * 11]
    errs, matched, total, secs = [], 0, 0, 0.0
    for r in rows:
        c = r["onnxcost"]
        secs += c.get("seconds") or 0
        if "error" in c:
            out.append(
                f"| {r['name']} | {r['family']} | ERROR: {c['error'][:80]} | "
                f"{_macs(r['truth_macs'])} | | | | | | | {c['seconds']} |"
            )
            continue
        err = None
        if r["truth_macs"]:
            err = (c["macs"] - r["truth_macs"]) / r["truth_macs"]
            errs.append(abs(err))
        sh = c["shapes"]
        if sh.get("total"):
            matched += sh["matched"]
            total += sh["total"]
        out.append(
            f"| {r['name']} | {r['family']} | {_macs(c['macs'])} | {_macs(r['truth_macs'])} | "
            f"{'-' if err is None else f'{100 * err:+.2f}%'} | "
            f"{'yes' if c['lower_bound'] else 'no'} | {c['status'] or '-'} | "
            f"{c['uncounted_nodes']} | {c['unresolved_nodes']} | {_share(sh)} | {c['seconds']} |"
        )
    n_err = sum(1 for r in rows if "error" in r["onnxcost"])
    exact = sum(1 for x in errs if x < 0.005)
    out.append(
        f"| **total** ({len(rows)} models, {n_err} errors) | | | | "
        f"{exact}/{len(errs)} within 0.5% | "
        f"{sum(1 for r in rows if r['onnxcost'].get('lower_bound'))} | | | | "
        f"{matched}/{total} ({_pct(matched / total if total else None)}) | {secs:.1f} |"
    )
    return "\n".join(out)


def engines_table(rows: list[dict]) -> str:
    names = ["onnxcost", *ENGINES]
    head = "| model | " + " | ".join(names) + " | MACs onnxcost | onnxsim | onnx_tool | truth |"
    out = [head, "|" + "---|" * (len(names) + 5)]
    tot = {n: [0, 0, 0.0, 0] for n in names}  # matched, total, seconds, failures
    for r in rows:
        cells = []
        for n in names:
            x = r["onnxcost"] if n == "onnxcost" else r["engines"].get(n, {})
            t = tot[n]
            t[2] += x.get("seconds") or 0
            if "error" in x:
                t[3] += 1
                cells.append(f"FAIL ({x['error'][:40]}) {x.get('seconds', '')}s")
                continue
            s = x.get("shapes") or {}
            if s.get("total"):
                t[0] += s["matched"]
                t[1] += s["total"]
            cells.append(f"{_pct(s.get('share'))} {x.get('seconds')}s")
        eng = r["engines"]
        out.append(
            f"| {r['name']} | " + " | ".join(cells) + f" | {_macs(r['onnxcost'].get('macs'))} | "
            f"{_macs(eng.get('onnxsim', {}).get('macs'))} | "
            f"{_macs(eng.get('onnx_tool', {}).get('macs'))} | {_macs(r['truth_macs'])} |"
        )
    cells = []
    for n in names:
        m_, t_, s_, f_ = tot[n]
        cells.append(f"{m_}/{t_} ({_pct(m_ / t_ if t_ else None)}) {s_:.1f}s, {f_} failed")
    out.append("| **total** | " + " | ".join(cells) + " | | | | |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="entries whose name contains this (comma: several)")
    ap.add_argument("--engines", action="store_true", help="also run the other shape engines")
    ap.add_argument("--jobs", type=int, default=2, help="engine subprocesses at once (2)")
    ap.add_argument("--worker", nargs=2, metavar=("ENGINE", "MODEL"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(*args.worker)
        return 0
    entries = load_manifest()
    if args.only:
        subs = args.only.split(",")
        entries = [e for e in entries if any(s in e["name"] for s in subs)]
    rows = []
    for e in entries:
        row = {
            "name": e["name"],
            "family": e["family"],
            "truth_macs": e["truth_macs"],
            "truth_source": e["truth_source"],
            "onnxcost": run_onnxcost(e),
            "engines": {},
        }
        if args.engines:
            with ThreadPoolExecutor(args.jobs) as pool:
                done = pool.map(lambda eng, n=e["name"]: run_engine(eng, n), ENGINES)
                row["engines"] = dict(zip(ENGINES, done, strict=True))
        rows.append(row)
        c = row["onnxcost"]
        print(
            f"# {e['name']}: "
            + (
                c.get("error")
                or f"MACs {c['macs']} truth {e['truth_macs']} shapes {_share(c['shapes'])} "
                f"{c['seconds']}s"
            ),
            file=sys.stderr,
        )
    table = compare_table(rows)
    print(table)
    suffix = "" if not args.only else ".only"
    (CORPUS / f"compare{suffix}.md").write_text(table + "\n")
    (CORPUS / f"compare{suffix}.json").write_text(json.dumps(rows, indent=1) + "\n")
    if args.engines:
        et = engines_table(rows)
        print()
        print(et)
        (CORPUS / f"engines{suffix}.md").write_text(et + "\n")
        (CORPUS / f"engines{suffix}.json").write_text(
            json.dumps(
                [{"name": r["name"], "onnxcost": r["onnxcost"], **r["engines"]} for r in rows],
                indent=1,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
