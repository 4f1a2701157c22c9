"""The largest integer that keeps a monotone condition: what fits in a budget."""

from __future__ import annotations

from collections.abc import Callable


def largest(fits: Callable[[int], bool], lo: int, hi: int) -> int:
    """The largest n in [lo, hi) with fits(n), given fits(lo) and not fits(hi) (bisection)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo
