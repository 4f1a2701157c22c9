"""Compare two reports (`Report.to_dict()`): totals, per-op-type and per-node cost changes,
and an optional regression gate ("fail when FLOPs grew more than 5%").

Nodes are matched by name when the name is stable: present, unique, and not an exporter's
auto-generated counter such as 'Conv_12' or 'node_7' (those shift when one layer is inserted).
The remaining nodes are matched by their order within the graph, aligning the sequences of
op types (difflib), so an unnamed MLP whose hidden layer was widened still pairs layer by layer.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from onnxcost.errors import OnnxCostError, UsageError
from onnxcost.gate.budget import METRICS, metric
from onnxcost.gate.check import fmt, remedy, table_lines, unknown_reason
from onnxcost.report import sanitize
from onnxcost.units import format_count, parse_quantity, ratio

# Metrics a bare `--fail-over 5%` gates (latency too when both reports have it).
DEFAULT_GATED = ("macs", "flops", "params", "weight_bytes", "peak_memory", "latency")

_NODE_FIELDS = ("macs", "flops", "memory_traffic_bytes")


@dataclass
class TotalDelta:
    metric: str
    label: str
    kind: str
    old: int | float | None
    new: int | float | None
    delta: int | float | None
    pct: float | None  # None when old is 0 (or a side is missing)


@dataclass
class OpTypeDelta:
    op_type: str
    domain: str
    count_old: int
    count_new: int
    macs_old: int
    macs_new: int
    flops_old: int
    flops_new: int
    memory_traffic_old: int
    memory_traffic_new: int
    flops_pct: float | None

    @property
    def changed(self) -> bool:
        return (
            self.count_old,
            self.macs_old,
            self.flops_old,
            self.memory_traffic_old,
        ) != (
            self.count_new,
            self.macs_new,
            self.flops_new,
            self.memory_traffic_new,
        )


@dataclass
class NodeChange:
    change: str  # added | removed | changed
    op_type: str
    name_old: str | None
    name_new: str | None
    matched_by: str | None  # name | order (changed nodes only)
    macs_old: int = 0
    macs_new: int = 0
    flops_old: int = 0
    flops_new: int = 0
    memory_traffic_old: int = 0
    memory_traffic_new: int = 0
    shapes_old: list[Any] | None = None
    shapes_new: list[Any] | None = None

    @property
    def flops_delta(self) -> int:
        return self.flops_new - self.flops_old


@dataclass
class GateRow:
    metric: str
    label: str
    kind: str
    allowed_pct: float  # allowed growth, in percent
    old: int | float | None
    new: int | float | None
    growth_pct: float | None  # percent; None when not measured or when it grew from zero
    status: str  # pass | fail | error
    reason: str = ""


@dataclass
class DiffResult:
    old: str
    new: str
    totals: list[TotalDelta]
    op_types: list[OpTypeDelta]
    nodes: list[NodeChange]
    matched_by_name: int
    matched_by_order: int
    gate: list[GateRow] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(g.status == "pass" for g in self.gate)

    @property
    def has_error(self) -> bool:
        return any(g.status == "error" for g in self.gate)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        d["summary"] = {
            c: sum(n.change == c for n in self.nodes) for c in ("added", "removed", "changed")
        }
        return d


def _pct(old: float | None, new: float | None) -> float | None:
    if old is None or new is None:
        return None
    if old == 0:
        return 0.0 if new == 0 else None  # growth from zero has no percentage
    return ratio(100 * (new - old), old)  # exact ints of any size: inf past a float


# --- Gate specification --------------------------------------------------------------------


def parse_fail_over(values: Iterable[str]) -> dict[str, float]:
    """['flops=5%', 'macs,params=0.02', '10%'] -> {'flops': 0.05, ...}; a bare value applies
    to every default metric ('*'), and named metrics override it."""
    gates: dict[str, float] = {}
    for value in values:
        names, eq, amount = value.rpartition("=")
        if eq and not names.strip():
            raise UsageError(f"--fail-over {value!r}: expected METRIC=PERCENT or PERCENT")
        try:
            fraction = parse_quantity(amount, "percent")
        except OnnxCostError as e:
            raise UsageError(f"--fail-over {value!r}: {e}") from None
        keys = [metric(n).name for n in names.split(",") if n.strip()] if eq else ["*"]
        for key in keys:
            gates[key] = float(fraction)
    return gates


def _expand(gates: dict[str, float], old_totals: dict, new_totals: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    if "*" in gates:
        for name in DEFAULT_GATED:
            key = METRICS[name].total_key
            if old_totals.get(key) is not None and new_totals.get(key) is not None:
                out[name] = gates["*"]
    out.update({k: v for k, v in gates.items() if k != "*"})
    return {name: out[name] for name in METRICS if name in out}


# --- Node matching ---------------------------------------------------------------------------


def _auto_named(node: dict[str, Any]) -> bool:
    """'' , 'Conv_12', 'node_7', 'node_Conv_3', '12': counters, not names (the analyzer names an
    unnamed node '<op_type>_<index>')."""
    op = re.escape(node.get("op_type", ""))
    pattern = rf"(?:node_?)?(?:{op}_?)?\d*"
    return re.fullmatch(pattern, node.get("name") or "", re.IGNORECASE) is not None


def _base_name(name: str) -> str:
    # The analyzer shows the 2nd, 3rd... node sharing a name as 'name#2', 'name#3'.
    return re.sub(r"#\d+$", "", name)


def match_nodes(
    old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> tuple[list[tuple[int, int, str]], list[int], list[int]]:
    """Pairs (old index, new index, 'name'|'order'), unmatched old indices, unmatched new."""

    def stable(nodes: list[dict[str, Any]]) -> dict[str, int]:
        seen: dict[str, list[int]] = {}
        for i, n in enumerate(nodes):
            if not _auto_named(n):
                seen.setdefault(_base_name(n["name"]), []).append(i)
        return {name: ix[0] for name, ix in seen.items() if len(ix) == 1}

    old_names, new_names = stable(old), stable(new)
    pairs = [(i, new_names[name], "name") for name, i in old_names.items() if name in new_names]
    used_old = {p[0] for p in pairs}
    used_new = {p[1] for p in pairs}
    rest_old = [i for i in range(len(old)) if i not in used_old]
    rest_new = [j for j in range(len(new)) if j not in used_new]

    def key(n: dict[str, Any]) -> tuple[str, str]:
        return (n.get("domain", ""), n.get("op_type", ""))

    ka, kb = [key(old[i]) for i in rest_old], [key(new[j]) for j in rest_new]
    for a, b in _align(ka, kb):
        pairs.append((rest_old[a], rest_new[b], "order"))
    used_old = {p[0] for p in pairs}
    used_new = {p[1] for p in pairs}
    pairs.sort()
    return (
        pairs,
        [i for i in range(len(old)) if i not in used_old],
        [j for j in range(len(new)) if j not in used_new],
    )


# difflib's matching is quadratic in the worst case (a long run of one op type): past this many
# pairs of the middle part (after the common head and tail), equal keys are paired by position.
_ALIGN_LIMIT = 4_000_000


def _align(a: list[Any], b: list[Any]) -> list[tuple[int, int]]:
    """Index pairs of equal items, in order: common head and tail first, then difflib between."""
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    pairs = [(k, k) for k in range(head)]
    mid_a, mid_b = a[head : len(a) - tail], b[head : len(b) - tail]
    if len(mid_a) * len(mid_b) <= _ALIGN_LIMIT:
        sm = difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=False)
        for i, j, size in sm.get_matching_blocks():
            pairs.extend((head + i + k, head + j + k) for k in range(size))
    else:
        pairs.extend(
            (head + k, head + k) for k in range(min(len(mid_a), len(mid_b))) if mid_a[k] == mid_b[k]
        )
    pairs.extend((len(a) - tail + k, len(b) - tail + k) for k in range(tail))
    return pairs


def _node_change(change: str, o: dict | None, n: dict | None, by: str | None) -> NodeChange:
    o, n = o or {}, n or {}
    return NodeChange(
        change=change,
        op_type=(n or o).get("op_type", ""),
        name_old=o.get("name") if o else None,
        name_new=n.get("name") if n else None,
        matched_by=by,
        macs_old=o.get("macs", 0),
        macs_new=n.get("macs", 0),
        flops_old=o.get("flops", 0),
        flops_new=n.get("flops", 0),
        memory_traffic_old=o.get("memory_traffic_bytes", 0),
        memory_traffic_new=n.get("memory_traffic_bytes", 0),
        shapes_old=o.get("output_shapes") if o else None,
        shapes_new=n.get("output_shapes") if n else None,
    )


# --- The diff --------------------------------------------------------------------------------


def diff_reports(
    old: dict[str, Any],
    new: dict[str, Any],
    old_name: str = "old",
    new_name: str = "new",
    fail_over: dict[str, float] | None = None,
    allow_uncounted: bool = False,
) -> DiffResult:
    ot, nt = old.get("totals", {}), new.get("totals", {})
    totals = []
    for m in METRICS.values():
        a, b = ot.get(m.total_key), nt.get(m.total_key)
        if a is None and b is None:
            continue
        delta = b - a if a is not None and b is not None else None
        totals.append(TotalDelta(m.name, m.label, m.kind, a, b, delta, _pct(a, b)))

    result = DiffResult(
        old_name,
        new_name,
        totals,
        _op_types(old, new),
        [],
        matched_by_name=0,
        matched_by_order=0,
    )

    old_nodes, new_nodes = old.get("nodes", []), new.get("nodes", [])
    pairs, removed, added = match_nodes(old_nodes, new_nodes)
    result.matched_by_name = sum(p[2] == "name" for p in pairs)
    result.matched_by_order = sum(p[2] == "order" for p in pairs)
    changed = []
    for i, j, by in pairs:
        o, n = old_nodes[i], new_nodes[j]
        if any(o.get(f, 0) != n.get(f, 0) for f in _NODE_FIELDS) or o.get("output_shapes") != n.get(
            "output_shapes"
        ):
            changed.append(_node_change("changed", o, n, by))
    changed.sort(
        key=lambda c: (
            -abs(c.flops_delta),
            -abs(c.memory_traffic_new - c.memory_traffic_old),
        )
    )
    result.nodes = (
        changed
        + [_node_change("added", None, new_nodes[j], None) for j in added]
        + [_node_change("removed", old_nodes[i], None, None) for i in removed]
    )

    for name, allowed in _expand(fail_over or {}, ot, nt).items():
        result.gate.append(_gate_row(name, allowed, old, new, allow_uncounted))
    return result


def _op_types(old: dict[str, Any], new: dict[str, Any]) -> list[OpTypeDelta]:
    def index(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(o.get("domain", ""), o["op_type"]): o for o in report.get("op_types", [])}

    a, b = index(old), index(new)
    keys = list(a) + [k for k in b if k not in a]
    out = []
    for key in keys:
        o, n = a.get(key, {}), b.get(key, {})
        out.append(
            OpTypeDelta(
                op_type=key[1],
                domain=key[0],
                count_old=o.get("count", 0),
                count_new=n.get("count", 0),
                macs_old=o.get("macs", 0),
                macs_new=n.get("macs", 0),
                flops_old=o.get("flops", 0),
                flops_new=n.get("flops", 0),
                memory_traffic_old=o.get("memory_traffic_bytes", 0),
                memory_traffic_new=n.get("memory_traffic_bytes", 0),
                flops_pct=_pct(o.get("flops", 0), n.get("flops", 0)),
            )
        )
    out.sort(key=lambda d: -abs(d.flops_new - d.flops_old))
    return out


def _gate_row(name: str, allowed: float, old: dict, new: dict, allow_uncounted: bool) -> GateRow:
    m = METRICS[name]
    a, b = (
        old.get("totals", {}).get(m.total_key),
        new.get("totals", {}).get(m.total_key),
    )
    row = GateRow(m.name, m.label, m.kind, 100.0 * allowed, a, b, None, "pass")
    if a is None or b is None:
        row.status = "error"
        side = "old" if a is None else "new"
        row.reason = f"not measured in the {side} report" + (
            " (latency needs --hw NAME)" if name == "latency" else ""
        )
        return row
    row.growth_pct = _pct(a, b)  # None: grew from zero, which no percentage allows
    unknown = [
        f"{s}: {r}" for s, rep in (("old", old), ("new", new)) if (r := unknown_reason(name, rep))
    ]
    if row.growth_pct is None:
        row.status = "fail"
        row.reason = f"grew from 0 to {fmt(m.kind, b)}"
    elif row.growth_pct > row.allowed_pct:
        row.status = "fail"
        row.reason = f"grew {row.growth_pct:+.2f}%, more than the allowed {row.allowed_pct:g}%"
    elif unknown and not allow_uncounted:
        row.status = "fail"
        both = {"inputs": (old.get("inputs") or []) + (new.get("inputs") or [])}
        row.reason = f"cannot prove it: only a lower bound ({'; '.join(unknown)}); {remedy(both)}"
    elif unknown:
        row.reason = f"lower bound accepted ({'; '.join(unknown)})"
    return row


# --- Rendering -------------------------------------------------------------------------------


def _pct_text(p: float | None, old: float | None = None) -> str:
    if p is None:
        return "new" if old == 0 else "-"
    return f"{p:+.2f}%"


def _signed(kind: str, v: float | None) -> str:
    if v is None:
        return "-"
    return ("+" if v >= 0 else "-") + fmt(kind, abs(v))


def render_table(res: DiffResult, top: int = 20) -> str:
    lines = [f"onnxcost diff: {sanitize.text(res.old)} -> {sanitize.text(res.new)}", "", "totals"]
    rows = [("metric", "old", "new", "delta", "%")]
    for t in res.totals:
        rows.append(
            (
                t.label,
                fmt(t.kind, t.old),
                fmt(t.kind, t.new),
                _signed(t.kind, t.delta),
                _pct_text(t.pct, t.old),
            )
        )
    lines += table_lines(rows)

    changed_ops = [o for o in res.op_types if o.changed]
    lines += ["", f"op types ({len(changed_ops)} changed)"]
    if changed_ops:
        rows = [("op type", "count", "MACs delta", "FLOPs delta", "FLOPs %")]
        for o in changed_ops[:top]:
            rows.append(
                (
                    o.op_type if not o.domain else f"{o.domain}.{o.op_type}",
                    f"{o.count_old} -> {o.count_new}",
                    _signed("count", o.macs_new - o.macs_old),
                    _signed("count", o.flops_new - o.flops_old),
                    _pct_text(o.flops_pct, o.flops_old),
                )
            )
        lines += table_lines(rows)

    counts = {c: sum(n.change == c for n in res.nodes) for c in ("added", "removed", "changed")}
    lines.append("")
    lines.append(
        f"nodes: {counts['added']} added, {counts['removed']} removed, {counts['changed']} changed"
        f" (matched {res.matched_by_name} by name, {res.matched_by_order} by order)"
    )
    mark = {"added": "+", "removed": "-", "changed": "~"}
    for n in res.nodes[:top]:
        name = n.name_new if n.change != "removed" else n.name_old
        if n.change == "changed" and n.name_old != n.name_new:
            name = f"{n.name_old} -> {n.name_new}"
        what = (
            f"FLOPs {format_count(n.flops_old)} -> {format_count(n.flops_new)}"
            if n.change == "changed"
            else f"FLOPs {format_count(n.flops_new if n.change == 'added' else n.flops_old)}"
        )
        label = sanitize.text(f"{name or '(unnamed)'} [{n.op_type}]")  # model text
        lines.append(f"  {mark[n.change]} {label} {what}")
    if len(res.nodes) > top:
        lines.append(f"  ... {len(res.nodes) - top} more (--format json lists all)")

    if res.gate:
        lines += ["", "gate"]
        rows = [("metric", "allowed", "growth", "result")]
        for g in res.gate:
            growth = "-" if g.growth_pct is None else f"{g.growth_pct:+.2f}%"
            rows.append((g.label, f"+{g.allowed_pct:g}%", growth, g.status.upper()))
        lines += table_lines(rows)
        lines += [f"  {g.label}: {sanitize.text(g.reason)}" for g in res.gate if g.reason]
        failed = sum(g.status != "pass" for g in res.gate)
        lines += [
            "",
            "PASS: no gated metric regressed" if not failed else f"FAIL: {failed} gated",
        ]
        if failed:
            lines[-1] += f" metric{'s' if failed != 1 else ''} regressed or unproven"
    return "\n".join(lines)
