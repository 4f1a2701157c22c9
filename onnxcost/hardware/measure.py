"""Run a model with onnxruntime and set the measured per-node times beside the predicted roofline.

Unlike everything else in onnxcost, this RUNS the model: random inputs built from the inferred
input shapes, onnxruntime on the CPU with its profiler on, warm-up runs first. The profile's
per-node kernel times are joined with the report's nodes:

- by node name (onnxruntime keeps the file's names when its graph optimizations are off, the
  default here);
- for nodes the file leaves unnamed, by position (onnxruntime numbers them `Op_<index>`, its
  index skipping `Constant` nodes, which it turns into initializers);
- with optimizations on (`optimize=True`), a fused kernel keeps the name of one node of the
  fused chain (e.g. Conv+BatchNormalization+Relu runs as one Conv kernel named after the Relu):
  it is joined with that node, and the unmatched nodes next to it are folded into its group.

What cannot be joined is listed, never dropped: report nodes with no kernel, kernels with no node.
"""

from __future__ import annotations

import bisect
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper

from onnxcost import dtypes
from onnxcost.analysis import roofline
from onnxcost.analysis.analyzer import analyze
from onnxcost.errors import OnnxCostError
from onnxcost.hardware.database import HardwareSpec
from onnxcost.model.dims import bind, collect
from onnxcost.model.graph import Graph, build
from onnxcost.model.loader import load
from onnxcost.report.records import NodeCost, Report
from onnxcost.rules.registry import TensorInfo
from onnxcost.units import format_seconds

DEFAULT_RUNS = 10
DEFAULT_WARMUP = 3
# Runs whose slowest is this many times the fastest are reported as disturbed.
NOISY = 1.5
# Integer inputs that index nothing we can see (masks, flags, ids with no table) get 0 or 1.
SMALL_INT_HIGH = 2
# Ops whose output carries its input's values: an index can pass through them to a Gather.
_PASS_THROUGH = frozenset(
    {"Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity", "Transpose", "Expand"}
)
# (op, index of the indices input, index of the data input): indices must lie in [0, data dim).
_INDEXERS = {"Gather": (1, 0), "GatherElements": (1, 0)}


# -------------------------------------------------------------------------------------- records


@dataclass
class InputData:
    name: str
    dtype: str
    shape: list[int]
    values: str  # how they were drawn, for people


@dataclass
class NodeTiming:
    """One joined kernel: the report node(s) it stands for, predicted and measured."""

    name: str  # the report node it was joined with (the anchor of a fused group)
    op_type: str  # the report node's op
    runtime_name: str
    runtime_op: str
    match: str  # name | position | fused (several nodes, one kernel) | renamed (optimizations on)
    members: list[str]  # report nodes whose predicted time is summed (anchor first)
    predicted_s: float
    measured_s: float  # median over the timed runs
    bound: str | None = None

    @property
    def ratio(self) -> float | None:
        return self.measured_s / self.predicted_s if self.predicted_s > 0 else None


@dataclass
class OpTypeRow:
    op_type: str  # for a fused group: the op its kernel ran as
    nodes: int  # report nodes whose time this row holds
    matched: int  # of them, joined with a kernel
    predicted_s: float  # matched nodes only: the figure the ratio compares
    measured_s: float
    unmatched_predicted_s: float  # predicted time of this op's nodes that no kernel stands for

    @property
    def ratio(self) -> float | None:
        return self.measured_s / self.predicted_s if self.predicted_s > 0 else None


@dataclass
class Unmatched:
    name: str
    op_type: str
    time_s: float  # predicted (report node) or measured (runtime kernel)
    reason: str


@dataclass
class ShapeCheck:
    tensor: str
    node: str  # producing node, or "(graph output)"
    where: str  # output | intermediate
    inferred: list[Any] | None
    runtime: list[int]
    status: str  # ok | mismatch | unknown (inference left a dim or the rank open)
    inferred_dtype: str | None = None
    runtime_dtype: str | None = None


@dataclass
class Stats:
    min: float
    median: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        return cls(min(values), statistics.median(values), max(values))


@dataclass
class Measurement:
    model: str
    device: dict[str, Any]  # name, key, origin of the spec the prediction used
    runtime: dict[str, Any]  # onnxruntime version, threads, optimization, runs, warmup
    inputs: list[InputData]
    nodes: list[NodeTiming]
    op_types: list[OpTypeRow]
    unmatched_nodes: list[Unmatched]
    unmatched_kernels: list[Unmatched]
    shapes: list[ShapeCheck]
    predicted_s: float
    predicted_bound_s: float
    kernels_s: Stats  # sum of all top-level kernel times per run
    wall_s: Stats  # per run, profiler off
    spearman: float | None
    node_ratio: dict[str, float] | None  # min, p25, median, p75, max of measured/predicted
    report: Report = field(repr=False)
    warnings: list[str] = field(default_factory=list)

    @property
    def matched_predicted_s(self) -> float:
        return sum(n.predicted_s for n in self.nodes)

    @property
    def matched_measured_s(self) -> float:
        return sum(n.measured_s for n in self.nodes)

    @property
    def matched_nodes(self) -> int:
        return sum(len(n.members) for n in self.nodes)

    @property
    def shape_mismatches(self) -> list[ShapeCheck]:
        return [s for s in self.shapes if s.status == "mismatch"]

    def ratio(self, measured: float) -> float | None:
        return measured / self.predicted_s if self.predicted_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        def node(n: NodeTiming) -> dict[str, Any]:
            return {**asdict(n), "ratio": n.ratio}

        def op(o: OpTypeRow) -> dict[str, Any]:
            return {**asdict(o), "ratio": o.ratio}

        return {
            "model": self.model,
            "device": self.device,
            "runtime": self.runtime,
            "inputs": [asdict(i) for i in self.inputs],
            "totals": {
                "predicted_s": self.predicted_s,
                "predicted_bound_s": self.predicted_bound_s,
                "measured_kernels_s": asdict(self.kernels_s),
                "measured_wall_s": asdict(self.wall_s),
                "ratio_kernels": self.ratio(self.kernels_s.median),
                "ratio_wall": self.ratio(self.wall_s.median),
                "report_nodes": len(self.report.nodes),
                "matched_nodes": self.matched_nodes,
                "matched_predicted_s": self.matched_predicted_s,
                "matched_measured_s": self.matched_measured_s,
                "ratio_matched": (
                    self.matched_measured_s / self.matched_predicted_s
                    if self.matched_predicted_s > 0
                    else None
                ),
                "node_ratio": self.node_ratio,
                "spearman": self.spearman,
                "lower_bound": self.report.totals.lower_bound,
            },
            "op_types": [op(o) for o in self.op_types],
            "nodes": [node(n) for n in self.nodes],
            "unmatched_nodes": [asdict(u) for u in self.unmatched_nodes],
            "unmatched_kernels": [asdict(u) for u in self.unmatched_kernels],
            "shape_check": {
                "compared": len(self.shapes),
                "mismatches": len(self.shape_mismatches),
                "unknown": sum(s.status == "unknown" for s in self.shapes),
                "tensors": [asdict(s) for s in self.shapes],
            },
            "warnings": list(self.warnings),
        }


# ---------------------------------------------------------------------------------- entry point


def measure(
    model: str | os.PathLike[str] | onnx.ModelProto,
    spec: HardwareSpec,
    dims: dict[str, int] | None = None,
    input_shapes: dict[str, list[int]] | None = None,
    runs: int = DEFAULT_RUNS,
    warmup: int = DEFAULT_WARMUP,
    threads: int | None = None,
    optimize: bool = False,
    seed: int = 0,
) -> Measurement:
    """Predict with the roofline on `spec`, run the model with onnxruntime, and join the two."""
    if runs < 1:
        raise OnnxCostError(f"--runs must be at least 1, got {runs}")
    if warmup < 0:
        raise OnnxCostError(f"--warmup must be 0 or more, got {warmup}")
    if threads is not None and threads < 1:
        raise OnnxCostError(f"--threads must be at least 1, got {threads}")
    loaded = load(model)
    bind(loaded.model, dims, input_shapes)
    _check_inputs_static(loaded.model.graph)  # before the slow part: a missing --dim fails fast
    report = analyze(model, dims=dims, input_shapes=input_shapes)
    roofline.apply(report, spec)

    # Tensor shapes for the inputs and the Gather tables: declared ones (inputs, initializers)
    # and the report's inferred node outputs; no second shape inference.
    graph = loaded.model.graph
    infos = collect(graph)
    for rec in report.nodes:
        for name, shape in zip(rec.outputs, rec.output_shapes, strict=True):
            if name and name not in infos and shape is not None:
                infos[name] = TensorInfo(name, 0, tuple(shape))
    g = build(graph)
    feeds, inputs = make_inputs(g, graph, infos, np.random.default_rng(seed))

    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else os.fspath(model)
    label = "(in-memory model)" if isinstance(model, onnx.ModelProto) else os.fspath(model)
    outputs, wall = _run_plain(source, label, feeds, runs, warmup, threads, optimize)
    events = _run_profiled(source, label, feeds, runs, warmup, threads, optimize)
    kernels, per_run_sums, profile_warnings = parse_profile(events, warmup)

    joined = _join(report, g, kernels, optimize)
    shapes = _check_outputs(report, g, outputs) + _check_intermediates(report, joined.exact)

    import onnxruntime

    timed = [n for n in joined.nodes if n.predicted_s > 0 and n.measured_s > 0]
    ratios = [n.measured_s / n.predicted_s for n in timed]
    warnings = list(profile_warnings) + joined.warnings
    noisy = [
        f"{what} {format_seconds(min(v))} to {format_seconds(max(v))}"
        for what, v in (("wall clock", wall), ("kernel sums", per_run_sums))
        if v and min(v) > 0 and max(v) > NOISY * min(v)
    ]
    if noisy:
        warnings.append(
            "the timed runs disagree (" + "; ".join(noisy) + "): something else was using the "
            "CPU. The per-kernel medians resist it better than the totals; more --runs or "
            "--threads 1 help"
        )
    if report.totals.lower_bound:
        warnings.append(
            "the prediction is a lower bound (uncounted ops or unresolved shapes): see "
            "`onnxcost analyze`"
        )
    return Measurement(
        model=label,
        device={"name": spec.name, "key": spec.key, "origin": spec.origin},
        runtime={
            "onnxruntime": onnxruntime.__version__,
            "provider": "CPUExecutionProvider",
            "threads": threads,
            "graph_optimizations": "all" if optimize else "disabled",
            "runs": runs,
            "warmup": warmup,
            "seed": seed,
        },
        inputs=inputs,
        nodes=joined.nodes,
        op_types=_op_rows(report, joined),
        unmatched_nodes=joined.unmatched_nodes,
        unmatched_kernels=joined.unmatched_kernels,
        shapes=shapes,
        predicted_s=report.totals.latency_s or 0.0,
        predicted_bound_s=report.totals.latency_bound_s or 0.0,
        kernels_s=Stats.of(per_run_sums) if per_run_sums else Stats(0.0, 0.0, 0.0),
        wall_s=Stats.of(wall),
        spearman=spearman(
            [n.predicted_s for n in joined.nodes], [n.measured_s for n in joined.nodes]
        ),
        node_ratio=_quantiles(ratios),
        report=report,
        warnings=warnings,
    )


# ------------------------------------------------------------------------------------- inputs


def make_inputs(
    g: Graph, graph: onnx.GraphProto, infos: dict[str, TensorInfo], rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], list[InputData]]:
    """Random feeds for the graph inputs: floats N(0, 1), bools fair coins, integers in a range
    the model accepts (Gather indices below the gathered dim; anything else 0 or 1)."""
    feeds: dict[str, np.ndarray] = {}
    records: list[InputData] = []
    nodes_by_input = _consumers(graph)
    for name in g.graph_inputs:
        t = infos.get(name)
        if t is None or t.shape is None:
            raise OnnxCostError(f"input {name!r}: rank unknown; give --input-shape {name}=DIMS")
        for d in t.shape:
            if not isinstance(d, int):
                hint = f"--dim {d}=N" if isinstance(d, str) else f"--input-shape {name}=DIMS"
                raise OnnxCostError(f"input {name!r} has an unbound dim: give {hint} to run it")
        shape = [int(d) for d in t.shape]
        try:
            np_dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type))
        except (KeyError, TypeError, ValueError):
            np_dtype = None
        if np_dtype is None or np_dtype.kind not in "fiub":
            raise OnnxCostError(f"input {name!r}: cannot make random data of type {t.dtype}")
        if np_dtype.kind == "f":
            feeds[name] = np.asarray(rng.standard_normal(shape, dtype=np.float32), np_dtype)
            how = "normal(0, 1)"
        elif np_dtype.kind == "b":
            feeds[name] = np.asarray(rng.random(shape) < 0.5)
            how = "random booleans"
        else:
            high, why = _index_bound(name, nodes_by_input, infos)
            if high is None:
                high, why = SMALL_INT_HIGH, "no indexed dim found"
            high = min(high, int(np.iinfo(np_dtype).max) + 1)
            feeds[name] = np.asarray(rng.integers(0, max(high, 1), shape, dtype=np_dtype))
            how = f"integers in [0, {high}) ({why})"
        records.append(InputData(name, t.dtype, shape, how))
    return feeds, records


def _check_inputs_static(graph: onnx.GraphProto) -> None:
    inits = {i.name for i in graph.initializer}
    for vi in graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            raise OnnxCostError(
                f"input {vi.name!r}: rank unknown; give --input-shape {vi.name}=DIMS"
            )
        for d in tt.shape.dim:
            if not d.HasField("dim_value"):
                hint = f"--dim {d.dim_param}=N" if d.dim_param else f"--input-shape {vi.name}=DIMS"
                raise OnnxCostError(f"input {vi.name!r} has an unbound dim: give {hint} to run it")


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    by: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in dict.fromkeys(node.input):
            if name:
                by[name].append(node)
    return by


def _index_bound(
    name: str, consumers: dict[str, list[onnx.NodeProto]], infos: dict[str, TensorInfo]
) -> tuple[int | None, str]:
    """The smallest dim this tensor indexes (through casts and reshapes), and which one."""
    best: tuple[int | None, str] = (None, "")
    frontier, seen = [name], {name}
    for _ in range(6):  # a few hops of Cast/Reshape/Unsqueeze between an input and its Gather
        nxt = []
        for tensor in frontier:
            for node in consumers.get(tensor, []):
                if node.op_type in _INDEXERS and node.domain in ("", "ai.onnx"):
                    idx, data = _INDEXERS[node.op_type]
                    if len(node.input) <= max(idx, data) or node.input[idx] != tensor:
                        continue
                    t = infos.get(node.input[data])
                    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
                    if t is None or t.shape is None or not -len(t.shape) <= axis < len(t.shape):
                        continue
                    dim = t.shape[axis]
                    if isinstance(dim, int) and dim > 0 and (best[0] is None or dim < best[0]):
                        best = (
                            dim,
                            f"{node.op_type} {node.name or node.input[data]!r} axis {axis}",
                        )
                elif node.op_type in _PASS_THROUGH and node.output and node.output[0] not in seen:
                    seen.add(node.output[0])
                    nxt.append(node.output[0])
        frontier = nxt
    return best


# ------------------------------------------------------------------------------------ running


def _session(
    source: str | bytes, label: str, threads: int | None, optimize: bool, prof: str | None
):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if optimize
        else ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    )
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    if prof is not None:
        so.enable_profiling = True
        so.profile_file_prefix = prof  # in our temp dir: never beside the model
    try:
        return ort.InferenceSession(source, so, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise OnnxCostError(f"onnxruntime cannot load {label}: {_first_line(e)}") from None


def _run(sess: Any, label: str, feeds: dict[str, np.ndarray]) -> list[Any]:
    try:
        return sess.run(None, feeds)
    except Exception as e:
        raise OnnxCostError(f"onnxruntime failed running {label}: {_first_line(e)}") from None


def _run_plain(
    source: str | bytes,
    label: str,
    feeds: dict[str, np.ndarray],
    runs: int,
    warmup: int,
    threads: int | None,
    optimize: bool,
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Wall-clock time per run with the profiler off, and the outputs of the last run."""
    sess = _session(source, label, threads, optimize, None)
    for _ in range(warmup):
        _run(sess, label, feeds)
    wall = []
    out: list[Any] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = _run(sess, label, feeds)
        wall.append(time.perf_counter() - t0)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, out, strict=True)), wall


def _run_profiled(
    source: str | bytes,
    label: str,
    feeds: dict[str, np.ndarray],
    runs: int,
    warmup: int,
    threads: int | None,
    optimize: bool,
) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="onnxcost-profile-") as tmp:
        sess = _session(source, label, threads, optimize, os.path.join(tmp, "ort"))
        for _ in range(warmup + runs):
            _run(sess, label, feeds)
        path = sess.end_profiling()
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise OnnxCostError(f"cannot read onnxruntime's profile: {e}") from None


# ------------------------------------------------------------------------------------ profile


@dataclass
class Kernel:
    """One kernel of the runtime graph, over the timed runs."""

    name: str  # onnxruntime's node name (without the "_kernel_time" suffix)
    op: str
    index: int | None  # onnxruntime's node index
    per_run_s: list[float]  # one entry per timed run
    output_shapes: list[list[int]]

    @property
    def measured_s(self) -> float:
        return statistics.median(self.per_run_s)


def parse_profile(
    events: list[dict[str, Any]], warmup: int
) -> tuple[list[Kernel], list[float], list[str]]:
    """Per-kernel times over the timed runs, the sum of kernel times per run, and warnings.

    Runs are told apart by the profile's `model_run` spans; the first `warmup` are dropped.
    Kernels inside a control-flow node's subgraph run within that node's span: they are not
    added again to the run's sum and not listed (their time is in the parent's).
    """
    warnings: list[str] = []
    runs = sorted(
        (e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
        key=lambda e: e["ts"],
    )
    starts = [int(r["ts"]) for r in runs]
    timed = len(runs) - warmup
    if timed < 1:
        raise OnnxCostError("onnxruntime's profile holds no timed run")
    by_run: list[list[dict[str, Any]]] = [[] for _ in range(timed)]
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        k = bisect.bisect_right(starts, int(e["ts"])) - 1
        if k >= warmup and int(e["ts"]) <= starts[k] + int(runs[k].get("dur", 0)):
            by_run[k - warmup].append(e)

    kernels: dict[tuple[str, int | None], Kernel] = {}
    sums: list[float] = []
    nested = 0
    for r, evs in enumerate(by_run):
        evs.sort(key=lambda e: (int(e["ts"]), -int(e.get("dur", 0))))
        end = -1
        total = 0.0
        for e in evs:
            ts, dur = int(e["ts"]), int(e.get("dur", 0))
            if ts < end and ts + dur <= end:
                nested += 1
                continue
            end = max(end, ts + dur)
            seconds = dur * 1e-6  # the profile counts microseconds
            total += seconds
            args = e.get("args", {})
            idx = args.get("node_index")
            key = (e["name"][: -len("_kernel_time")], int(idx) if idx is not None else None)
            kern = kernels.get(key)
            if kern is None:
                shapes = [
                    list(next(iter(d.values())))
                    for d in args.get("output_type_shape", [])
                    if isinstance(d, dict) and d
                ]
                kern = kernels[key] = Kernel(
                    key[0], args.get("op_name", "?"), key[1], [0.0] * timed, shapes
                )
            kern.per_run_s[r] += seconds
        sums.append(total)
    if nested:
        warnings.append(
            f"{nested // max(timed, 1)} kernel(s) per run ran inside control-flow subgraphs: "
            "their time is counted in the parent node's"
        )
    return list(kernels.values()), sums, warnings


# ------------------------------------------------------------------------------------ joining


@dataclass
class _Joined:
    nodes: list[NodeTiming]
    exact: list[tuple[NodeCost, Kernel]]  # one kernel for exactly one node: shapes comparable
    unmatched_nodes: list[Unmatched]
    unmatched_kernels: list[Unmatched]
    group_of: dict[str, int]  # report node -> index in nodes
    warnings: list[str]


def _join(report: Report, g: Graph, kernels: list[Kernel], optimize: bool) -> _Joined:
    by_name = {n.name: n for n in report.nodes}
    file_index = {g.names[i]: i for i in range(len(g.nodes))}
    named = {g.names[i] for i in range(len(g.nodes)) if g.nodes[i].name == g.names[i]}
    # onnxruntime's index of each file node when it changes nothing: Constant nodes become
    # initializers and take no index.
    ort_index: dict[int, int] = {}
    k = 0
    for i, node in enumerate(g.nodes):
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            continue
        ort_index[k] = i
        k += 1

    # A rewritten kernel is named after a node or after the tensor it writes (`relu_3_nchwc`).
    keys = {g.nodes[i].output[0]: g.names[i] for i in range(len(g.nodes)) if g.nodes[i].output}
    keys = {k: v for k, v in keys.items() if k} | {n: n for n in named}
    anchor: dict[str, tuple[Kernel, str]] = {}
    unmatched_k: list[Kernel] = []
    for kern in kernels:
        hit, how = None, ""
        if kern.name in named and kern.name not in anchor:
            hit, how = kern.name, "name"
        elif not optimize and kern.index is not None and kern.index in ort_index:
            cand = g.names[ort_index[kern.index]]
            if cand not in named and cand not in anchor and by_name[cand].op_type == kern.op:
                hit, how = cand, "position"
        elif optimize:
            hit = _fused_anchor(kern.name, {k: v for k, v in keys.items() if v not in anchor})
            how = "fused"
        if hit is None:
            unmatched_k.append(kern)
        else:
            if optimize and by_name[hit].op_type != kern.op:
                how = "fused"
            anchor[hit] = (kern, how)

    groups: dict[str, list[str]] = {a: [a] for a in anchor}
    if optimize:
        fused = {a: k.op for a, (k, how) in anchor.items() if how == "fused"}
        _absorb(g, report, file_index, groups, fused)

    nodes: list[NodeTiming] = []
    exact: list[tuple[NodeCost, Kernel]] = []
    for rec in report.nodes:  # schedule order
        if rec.name not in anchor:
            continue
        kern, how = anchor[rec.name]
        members = groups[rec.name]
        if len(members) > 1:
            how = "fused"
        elif how == "fused" and _runs_as(rec.op_type, kern.op):
            how = "renamed"  # one node under a new name (e.g. its NCHWc variant): layout may differ
        if how in ("name", "position"):
            exact.append((rec, kern))
        nodes.append(
            NodeTiming(
                name=rec.name,
                op_type=rec.op_type,
                runtime_name=kern.name,
                runtime_op=kern.op,
                match=how,
                members=members,
                predicted_s=sum(by_name[m].latency_s or 0.0 for m in members),
                measured_s=kern.measured_s,
                bound=rec.bound,
            )
        )
    group_of = {m: i for i, n in enumerate(nodes) for m in n.members}
    unmatched_nodes = []
    for rec in report.nodes:
        if rec.name in group_of:
            continue
        node = g.nodes[file_index[rec.name]]
        if node.op_type == "Constant":
            why = "Constant node: onnxruntime makes it an initializer"
        elif rec.status == "constant" and optimize:
            why = "computed from constants: folded by onnxruntime"
        elif optimize:
            why = "removed or fused by onnxruntime's graph optimizations"
        else:
            why = "no kernel of this name in the profile"
        unmatched_nodes.append(Unmatched(rec.name, rec.op_type, rec.latency_s or 0.0, why))
    unmatched_kernels = [
        Unmatched(k.name, k.op, k.measured_s, "no report node of this name") for k in unmatched_k
    ]
    warnings = []
    by_position = sum(n.match == "position" for n in nodes)
    if by_position:
        warnings.append(f"{by_position} unnamed node(s) joined by position in the graph")
    return _Joined(nodes, exact, unmatched_nodes, unmatched_kernels, group_of, warnings)


def _fused_anchor(runtime_name: str, keys: dict[str, str]) -> str | None:
    """The node whose name (or output tensor's) `runtime_name` extends the longest way:
    `stem.relu_nchwc` -> `stem.relu`. `keys` maps node and tensor names to report nodes."""
    best = None
    for k in keys:
        extends = runtime_name.startswith(k) and runtime_name[len(k) : len(k) + 1] in "_/:"
        if extends and (best is None or len(k) > len(best)):
            best = k
    return None if best is None else keys[best]


def _absorb(
    g: Graph,
    report: Report,
    file_index: dict[str, int],
    groups: dict[str, list[str]],
    fused: dict[str, str],
) -> None:
    """Fold the nodes an optimized runtime removed into the fused kernel next to them.

    Only kernels that show a fusion (`fused`: anchor -> the op the kernel ran as) take nodes in.
    Upstream: when the anchor is not itself the kernel's op (a Conv kernel named after the Relu
    of Conv+BatchNormalization+Relu), the chain of unjoined single-consumer producers back to a
    node of that op joins. Downstream, in schedule order: an unjoined node whose latest joined
    producer is in a fused group joins it (the Add and Relu a Conv kernel took in after it).
    """
    by_name = {rec.name: rec for rec in report.nodes}
    taken = set(groups)  # joined with a kernel of their own: never folded into another
    member_of = {a: a for a in fused}

    def free(name: str) -> bool:
        return name not in taken and name not in member_of and by_name[name].status != "constant"

    def chain_to(start: str, op: str, hops: int) -> list[str]:
        i = file_index[start]
        for t in g.inputs[i]:
            if t not in g.producer:
                continue
            p = g.producer[t]
            name = g.names[p]
            users = {c for o in g.nodes[p].output if o for c in g.consumers.get(o, [])}
            if not free(name) or users != {i}:
                continue
            if _runs_as(by_name[name].op_type, op):
                return [name]
            if hops > 1 and (rest := chain_to(name, op, hops - 1)):
                return [name, *rest]
        return []

    for a, op in fused.items():
        if not _runs_as(by_name[a].op_type, op):
            for name in chain_to(a, op, 4):
                groups[a].append(name)
                member_of[name] = a
    position = {rec.name: k for k, rec in enumerate(report.nodes)}
    for rec in report.nodes:
        if not free(rec.name):
            continue
        i = file_index[rec.name]
        producers = [
            g.names[g.producer[t]]
            for t in g.inputs[i]
            if t in g.producer and not free(g.names[g.producer[t]])
        ]
        if producers:
            latest = max(producers, key=lambda p: position[p])
            if latest in member_of:
                owner = member_of[latest]
                groups[owner].append(rec.name)
                member_of[rec.name] = owner


def _runs_as(op_type: str, runtime_op: str) -> bool:
    """Whether a kernel of `runtime_op` is this op itself (Conv as Conv, MatMul as FusedMatMul)."""
    return op_type == runtime_op or op_type in runtime_op


def _op_rows(report: Report, joined: _Joined) -> list[OpTypeRow]:
    """One row per op type. A fused kernel's group counts under the op it ran as (Conv for
    Conv+BatchNormalization+Relu), with all its members; unjoined nodes under their own op."""
    rows: dict[str, OpTypeRow] = {}

    def row(op: str) -> OpTypeRow:
        return rows.setdefault(op, OpTypeRow(op, 0, 0, 0.0, 0.0, 0.0))

    for n in joined.nodes:
        r = row(n.runtime_op if n.match == "fused" else n.op_type)
        r.nodes += len(n.members)
        r.matched += len(n.members)
        r.predicted_s += n.predicted_s
        r.measured_s += n.measured_s
    for u in joined.unmatched_nodes:
        r = row(u.op_type)
        r.nodes += 1
        r.unmatched_predicted_s += u.time_s
    return sorted(rows.values(), key=lambda r: (-r.measured_s, -r.predicted_s, r.op_type))


# ------------------------------------------------------------------------------- shape checks


def _compare(inferred: list[Any] | None, runtime: list[int]) -> str:
    if inferred is None or len(inferred) != len(runtime):
        return "unknown" if inferred is None else "mismatch"
    status = "ok"
    for a, b in zip(inferred, runtime, strict=True):
        if isinstance(a, int):
            if a != b:
                return "mismatch"
        else:
            status = "unknown"
    return status


def _check_outputs(report: Report, g: Graph, outputs: dict[str, np.ndarray]) -> list[ShapeCheck]:
    checks = []
    for out in report.outputs:
        if out.name not in outputs:
            continue
        value = np.asarray(outputs[out.name])
        shape = [int(d) for d in value.shape]
        try:
            rt_dtype = dtypes.name(helper.np_dtype_to_tensor_dtype(value.dtype))
        except (KeyError, TypeError, ValueError):
            rt_dtype = str(value.dtype)
        status = _compare(out.shape, shape)
        if out.dtype not in ("undefined", rt_dtype) and status != "mismatch":
            status = "mismatch"
        producer = g.producer.get(out.name)
        checks.append(
            ShapeCheck(
                out.name,
                g.names[producer] if producer is not None else "(graph input)",
                "output",
                out.shape,
                shape,
                status,
                out.dtype,
                rt_dtype,
            )
        )
    return checks


def _check_intermediates(report: Report, exact: list[tuple[NodeCost, Kernel]]) -> list[ShapeCheck]:
    graph_outputs = {o.name for o in report.outputs}
    checks = []
    for rec, kern in exact:
        outs = [(n, s) for n, s in zip(rec.outputs, rec.output_shapes, strict=True) if n]
        if len(outs) != len(kern.output_shapes):
            outs = outs[: len(kern.output_shapes)]  # trailing optional outputs the runtime skips
        for (tensor, inferred), runtime in zip(outs, kern.output_shapes, strict=False):
            if tensor in graph_outputs:
                continue  # checked with its dtype from the run's outputs
            checks.append(
                ShapeCheck(
                    tensor,
                    rec.name,
                    "intermediate",
                    inferred,
                    list(runtime),
                    _compare(inferred, list(runtime)),
                )
            )
    return checks


# -------------------------------------------------------------------------------- statistics


def ranks(values: list[float]) -> np.ndarray:
    """Ranks from 1, ties sharing the mean of the ranks they span."""
    x = np.asarray(values, dtype=float)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # rank of the last of each tie group
    mean = ends - (counts - 1) / 2.0
    return mean[inverse]


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation: Pearson's r of the ranks. None with fewer than 3 pairs or
    when either side is constant (no order to compare)."""
    if len(a) != len(b):
        raise ValueError("spearman: the two lists differ in length")
    if len(a) < 3:
        return None
    ra, rb = ranks(a), ranks(b)
    da, db = ra - ra.mean(), rb - rb.mean()
    denom = float(np.sqrt((da * da).sum() * (db * db).sum()))
    if denom == 0:
        return None
    return float((da * db).sum() / denom)


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    q = np.quantile(np.asarray(values, dtype=float), [0.0, 0.25, 0.5, 0.75, 1.0])
    return dict(zip(("min", "p25", "median", "p75", "max"), (float(v) for v in q), strict=True))


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


__all__ = [
    "DEFAULT_RUNS",
    "DEFAULT_WARMUP",
    "InputData",
    "Kernel",
    "Measurement",
    "NodeTiming",
    "OpTypeRow",
    "ShapeCheck",
    "Unmatched",
    "make_inputs",
    "measure",
    "parse_profile",
    "ranks",
    "spearman",
]
