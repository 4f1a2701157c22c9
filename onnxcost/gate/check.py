"""Evaluate a budget against a report (the `Report.to_dict()` JSON contract).

Each limit becomes one row: the limit, the measured total, the margin (limit - measured:
headroom when positive) and pass/fail. A total that is only a lower bound (uncounted ops,
unresolved shapes) fails its row unless the budget allows uncounted costs: a gate must not pass
on a lower bound by accident. A lower bound that already exceeds the limit fails either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from onnxcost.gate.budget import METRICS, Budget, Limit
from onnxcost.report import sanitize
from onnxcost.units import format_bytes, format_bytes_iec, format_count, format_seconds, ratio

# Parameters and weight bytes come from the stored tensors' declared shapes: exact unless a
# weight's shape itself is unknown.
EXACT = frozenset({"params", "weight_bytes"})
# Work an op without a rule would add; memory figures only miss what has no known size.
COMPUTE = frozenset({"macs", "flops", "latency"})


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def unknown_reason(metric: str, report: dict[str, Any]) -> str | None:
    """Why a report's total for `metric` is only a lower bound, or None when it is exact."""
    totals = report.get("totals", {})
    unresolved = report.get("unresolved") or []
    weights = sum(u.get("node") == "(weight)" for u in unresolved)
    other = len(unresolved) - weights
    uncounted = int(totals.get("uncounted_nodes") or 0)
    unresolved_nodes = int(totals.get("unresolved_nodes") or 0)
    parts = []
    if weights:
        parts.append(_plural(weights, "weight") + " with unknown shape")
    if metric not in EXACT:
        if metric in COMPUTE and uncounted:
            parts.append(_plural(uncounted, "uncounted node"))
        if unresolved_nodes:
            parts.append(_plural(unresolved_nodes, "node") + " with unresolved shapes")
        elif other:
            parts.append(_plural(other, "tensor size") + " not static")
        if totals.get("lower_bound") and not (uncounted or unresolved or unresolved_nodes):
            parts.append("totals are a lower bound")  # flagged, for a reason not itemised
    return ", ".join(parts) or None


def unbound_dims(report: dict[str, Any]) -> list[str]:
    """Symbolic dims still left in the graph inputs' shapes."""
    names = {
        d for t in report.get("inputs") or [] for d in (t.get("shape") or []) if isinstance(d, str)
    }
    return sorted(names)


def remedy(report: dict[str, Any]) -> str:
    """What the user can do about a lower bound."""
    dims = unbound_dims(report)
    if dims:
        binds = " ".join(f"--dim {d}=N" for d in dims)
        return f"bind the dims ({binds}) or accept it with --allow-uncounted"
    return "--allow-uncounted accepts it"


@dataclass
class CheckRow:
    metric: str
    label: str
    kind: str
    limit: int | float
    limit_text: str
    source: str
    measured: int | float | None
    margin: int | float | None  # limit - measured: headroom when positive, excess when negative
    margin_pct: float | None  # margin as a percentage of the limit
    status: str  # pass | fail | error (could not be measured)
    reason: str = ""
    lower_bound: bool = False


@dataclass
class CheckResult:
    model: str
    rows: list[CheckRow] = field(default_factory=list)
    hw: str | None = None
    allow_uncounted: bool = False
    error: str | None = None  # the model could not be analysed at all

    @property
    def passed(self) -> bool:
        return self.error is None and all(r.status == "pass" for r in self.rows)

    @property
    def has_error(self) -> bool:
        return self.error is not None or any(r.status == "error" for r in self.rows)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["passed"] = self.passed
        return d


def evaluate(report: dict[str, Any], budget: Budget, model: str = "") -> CheckResult:
    """One row per limit in the budget, in the fixed metric order."""
    allow = bool(budget.allow_uncounted)
    result = CheckResult(model=model, hw=budget.hw, allow_uncounted=allow)
    for name in METRICS:
        if name in budget.limits:
            result.rows.append(_row(budget.limits[name], report, allow))
    return result


def _row(lim: Limit, report: dict[str, Any], allow_uncounted: bool) -> CheckRow:
    m = METRICS[lim.metric]
    measured = report.get("totals", {}).get(m.total_key)
    row = CheckRow(
        m.name,
        m.label,
        m.kind,
        lim.value,
        lim.text,
        lim.source,
        measured,
        None,
        None,
        "pass",
    )
    if measured is None:
        row.status = "error"
        row.reason = (
            "not measured: latency needs a device (--hw NAME)"
            if m.name == "latency"
            else f"not measured: the report has no totals.{m.total_key}"
        )
        return row
    row.margin = lim.value - measured
    row.margin_pct = ratio(100 * row.margin, lim.value) if lim.value else None
    unknown = unknown_reason(m.name, report)
    row.lower_bound = unknown is not None
    if measured > lim.value:
        row.status = "fail"
        row.reason = f"over budget by {fmt(m.kind, -row.margin, lim.text)}"
        if unknown:
            row.reason += f" (and this is only a lower bound: {unknown})"
    elif unknown and not allow_uncounted:
        row.status = "fail"
        row.reason = f"measured value is only a lower bound ({unknown}); {remedy(report)}"
    elif unknown:
        row.reason = f"lower bound accepted ({unknown})"
    return row


# --- Rendering (strings only; the CLI prints) ----------------------------------------------


def fmt(kind: str, value: float | None, like: str = "") -> str:
    """Format a value of a quantity kind; bytes in binary units when the limit was written so."""
    if value is None:
        return "-"
    if kind == "count":
        return format_count(value)
    if kind == "bytes":
        return format_bytes_iec(value) if "i" in like else format_bytes(value)
    if kind == "seconds":
        return format_seconds(value)
    return f"{100 * value:g}%"


def table_lines(rows: list[tuple[str, ...]], indent: str = "  ") -> list[str]:
    """Left-aligned columns, two spaces apart. Cells may hold model text: sanitised."""
    rows = [tuple(sanitize.text(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in rows
    ]


def _margin_text(row: CheckRow) -> str:
    if row.margin is None:
        return "-"
    sign = "+" if row.margin >= 0 else "-"
    text = sign + fmt(row.kind, abs(row.margin), row.limit_text)
    if row.margin_pct is not None:
        text += f" ({row.margin_pct:+.1f}%)"
    return text


def render_table(results: list[CheckResult]) -> str:
    """Human-readable result of a check run, one block per model."""
    blocks = []
    for res in results:
        head = f"onnxcost check: {sanitize.text(res.model)}"
        if res.hw:
            head += f"  (hw: {sanitize.text(res.hw)})"
        lines = [head]
        if res.error:
            lines.append(f"  ERROR: {sanitize.text(res.error)}")
        table = [("budget", "limit", "measured", "margin", "result")]
        for r in res.rows:
            table.append(
                (
                    r.label,
                    r.limit_text,
                    fmt(r.kind, r.measured, r.limit_text) + (" (lower bound)" * r.lower_bound),
                    _margin_text(r),
                    r.status.upper(),
                )
            )
        if res.rows:
            lines += table_lines(table)
        for r in res.rows:
            if r.reason:
                lines.append(f"  {r.label}: {sanitize.text(r.reason)}")
        blocks.append("\n".join(lines))
    blocks.append(summary(results))
    return "\n\n".join(blocks)


def summary(results: list[CheckResult]) -> str:
    rows = [r for res in results for r in res.rows]
    failed = sum(r.status == "fail" for r in rows)
    errors = sum(r.status == "error" for r in rows) + sum(res.error is not None for res in results)
    if failed == 0 and errors == 0:
        return f"PASS: {len(rows)} budget{'s' if len(rows) != 1 else ''} met"
    parts = []
    if failed:
        parts.append(f"{failed} of {len(rows)} budgets exceeded or unproven")
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    return "FAIL: " + ", ".join(parts)
