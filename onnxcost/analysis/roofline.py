"""Roofline latency: each node's time on a device is the larger of its compute time and its memory time.

Model (see the README's roofline section): nodes run one after another, each at the peak of its
dtype and unit or at full memory bandwidth, whichever limits it; no overlap between nodes, no
fusion, no cache reuse across nodes (every node reads its inputs from and writes its outputs to
device memory), no launch overhead.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from onnxcost.hardware.database import HardwareSpec, PeakChoice
from onnxcost.report.records import Report
from onnxcost.units import ratio

TOP_NODES = 10


@dataclass
class _PeakUse:
    choice: PeakChoice
    nodes: int = 0
    flops: int = 0
    time_s: float = 0.0


def _share(part: float, total: float) -> float:
    """part / total; a total past any float is infinite, and an infinite part is all of it."""
    if not total:
        return 0.0
    return ratio(part, total) if math.isfinite(total) else float(part == total)


def apply(report: Report, spec: HardwareSpec) -> None:
    """Fill the roofline fields of `report` for `spec`, in place.

    Per node: t_compute = FLOPs / P (P: the device's peak for the node's compute dtype on its unit,
    matrix for MAC-type work, vector otherwise, with a documented fallback), t_memory = memory
    traffic / B, latency = max of the two, bound = compute when t_compute > t_memory (memory
    otherwise; None for a node with no work), intensity = FLOPs / traffic (None when no traffic).
    Nodes folded to constants at load time do not run: latency 0.

    Model level: latency_s = sum of node latencies (sequential execution). latency_bound_s =
    max(sum_i FLOPs_i / P_i, sum_i traffic_i / B), each node's FLOPs at the peak of its own dtype
    and unit: the time if all compute and all memory traffic of the model overlapped perfectly. It is
    a lower bound of latency_s. (A single P for the whole model would be wrong for mixed-precision
    models, where matrix and vector work run at peaks a hundred times apart.)
    """
    bandwidth = spec.memory_bandwidth_Bps
    uses: dict[tuple[str, str], _PeakUse] = {}
    fallbacks: dict[str, None] = {}
    sum_compute = sum_memory = 0.0

    for n in report.nodes:
        traffic = n.memory_traffic_bytes
        if n.status == "constant":
            n.t_compute_s = n.t_memory_s = n.latency_s = 0.0
            n.bound, n.intensity = None, None
            continue
        t_compute = 0.0
        if n.flops > 0:
            unit = n.unit if n.unit in ("matrix", "vector") else "vector"
            use = uses.get((n.compute_dtype, unit))
            if use is None:  # resolved once per dtype and unit, not per node
                use = uses[(n.compute_dtype, unit)] = _PeakUse(spec.resolve(n.compute_dtype, unit))
            choice = use.choice
            t_compute = ratio(n.flops, choice.ops_per_s)  # exact ints of any size
            use.nodes += 1
            use.flops += n.flops
            use.time_s += t_compute
            if choice.note:
                fallbacks[choice.note] = None
        t_memory = ratio(traffic, bandwidth)
        n.t_compute_s, n.t_memory_s = t_compute, t_memory
        n.latency_s = max(t_compute, t_memory)
        if n.latency_s > 0:
            n.bound = "compute" if t_compute > t_memory else "memory"
        else:
            n.bound = None
        n.intensity = ratio(n.flops, traffic) if traffic else None
        sum_compute += t_compute
        sum_memory += t_memory

    for sub in report.subgraph_nodes:  # per execution, for the per-node views; not in the sums
        t_c = 0.0
        if sub.flops > 0:
            t_c = sub.flops / spec.resolve(sub.compute_dtype, sub.unit).ops_per_s
        t_m = sub.memory_traffic_bytes / bandwidth
        sub.latency_s = max(t_c, t_m)
        sub.bound = ("compute" if t_c > t_m else "memory") if sub.latency_s > 0 else None

    by_type: dict[tuple[str, str], float] = defaultdict(float)
    for n in report.nodes:
        by_type[(n.domain, n.op_type)] += n.latency_s or 0.0
    for o in report.op_types:
        o.latency_s = by_type.get((o.domain, o.op_type), 0.0)

    total = sum(n.latency_s or 0.0 for n in report.nodes)
    report.totals.latency_s = total
    report.totals.latency_bound_s = max(sum_compute, sum_memory)
    report.hardware = _summary(report, spec, uses, list(fallbacks), total, sum_compute, sum_memory)


def _summary(
    report: Report,
    spec: HardwareSpec,
    uses: dict[tuple[str, str], _PeakUse],
    fallbacks: list[str],
    total: float,
    sum_compute: float,
    sum_memory: float,
) -> dict[str, Any]:
    bandwidth = spec.memory_bandwidth_Bps
    memory_time = sum(n.latency_s or 0.0 for n in report.nodes if n.bound == "memory")
    compute_time = sum(n.latency_s or 0.0 for n in report.nodes if n.bound == "compute")
    ranked = sorted(
        (n for n in report.nodes if n.latency_s),
        key=lambda n: n.latency_s or 0.0,
        reverse=True,
    )
    required = report.totals.peak_memory_bytes
    return {
        "device": spec.name,
        "key": spec.key,
        "vendor": spec.vendor,
        "kind": spec.kind,
        "origin": spec.origin,
        "memory_bandwidth_Bps": bandwidth,
        "memory_bytes": spec.memory_bytes,
        "latency_s": total,
        "latency_bound_s": max(sum_compute, sum_memory),
        "compute_time_s": sum_compute,
        "memory_time_s": sum_memory,
        # Whole-model bound: which of the two sums limits when everything overlaps.
        "bound": "compute" if sum_compute > sum_memory else "memory",
        "memory_bound_share": _share(memory_time, total),
        "compute_bound_share": _share(compute_time, total),
        "ridge_points": [
            {
                "dtype": dtype,
                "unit": unit,
                "peak_dtype": use.choice.dtype,
                "peak_unit": use.choice.unit,
                "peak_ops_per_s": use.choice.ops_per_s,
                "ridge_flops_per_byte": use.choice.ops_per_s / bandwidth,
                "nodes": use.nodes,
                "flops": use.flops,
                "compute_time_s": use.time_s,
            }
            for (dtype, unit), use in sorted(uses.items(), key=lambda kv: -kv[1].flops)
        ],
        "top_nodes": [
            {
                "name": n.name,
                "op_type": n.op_type,
                "latency_s": n.latency_s,
                "share": _share(n.latency_s or 0.0, total),
                "bound": n.bound,
            }
            for n in ranked[:TOP_NODES]
        ],
        "memory_required_bytes": required,
        "fits_in_memory": required <= spec.memory_bytes,
        "fallbacks": fallbacks,
        "lower_bound": report.totals.lower_bound,
    }


__all__ = ["TOP_NODES", "apply"]
