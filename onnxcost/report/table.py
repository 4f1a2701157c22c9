"""Aligned text tables for people (and markdown ones): no heavy imports, for fast commands."""

from __future__ import annotations

from collections.abc import Sequence

from onnxcost.report import sanitize


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    markdown: bool = False,
    align: str | None = None,
) -> str:
    """Align text columns; numbers (cells starting with a digit, sign or '≥') align right.

    `align` fixes it per column instead: "l" left, "r" right, "a" automatic (e.g. "lrl").
    Every cell goes through `sanitize`: cells hold model text (names, op types, dims).
    """
    clean = sanitize.markdown if markdown else sanitize.text
    headers = [clean(h) for h in headers]
    rows = [[clean(c) for c in r] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def fmt(cells: Sequence[str]) -> str:
        out = []
        for i, (c, w) in enumerate(zip(cells, widths, strict=True)):
            how = align[i] if align else "a"
            right = how == "r" or (how == "a" and c.lstrip("≥ +-")[:1].isdigit())
            out.append(c.rjust(w) if right else c.ljust(w))
        return "  ".join(out).rstrip()

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)])
