"""Activation memory by buffer liveness along a schedule, and a cheap search for a better order.

A buffer is a graph input or a node output that needs its own memory. A view's output aliases its
input's buffer; an elementwise node writes in place into an input buffer whose last use it is,
when shapes and dtypes match. A buffer is live from the step that makes it through its last reader;
graph outputs stay live to the end.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from onnxcost.report.records import MemoryPlan
from onnxcost.rules.registry import TensorInfo

GREEDY_WINDOW = 16  # ready nodes the greedy scheduler weighs at each step (earliest in file order)


@dataclass
class Step:
    name: str
    kind: str  # view | elementwise | compute
    inputs: list[str]  # activation tensors read (constants excluded)
    outputs: list[str]


@dataclass
class Liveness:
    total_elements: int = 0
    total_bytes: int = 0
    peak_elements: int = 0
    peak_bytes: int = 0
    peak_position: int | None = None  # index into the order, at the byte peak
    unknown: list[str] = field(default_factory=list)  # buffers whose size is not static
    live_bytes: list[int] = field(default_factory=list)  # bytes live at each position of the order


SizeOf = Callable[[str], "tuple[Any, Any] | None"]


class Sizes(dict):
    """(elements, bytes) of each tensor, from its info, worked out on first use and kept: the
    costing, the file order's liveness and the greedy schedule all ask for the same tensors.
    None: the size is not static. In formula mode, polynomials of the dims."""

    def __init__(self, infos: Mapping[str, TensorInfo]) -> None:
        super().__init__()
        self.infos = infos
        self._of_type: dict[tuple, tuple[Any, Any] | None] = {}  # by shape and dtype

    def __missing__(self, t: str) -> tuple[Any, Any] | None:
        info = self.infos.get(t)
        if info is None:
            size = None
        else:
            key = info.type_key
            size = self._of_type.get(key, False)
            if size is False:
                size = None if not info.sized else (info.numel(), info.nbytes())
                self._of_type[key] = size
        self[t] = size
        return size


def info_sizes(infos: Mapping[str, TensorInfo]) -> SizeOf:
    """(elements, bytes) of a tensor from its info; in formula mode, polynomials of the dims."""
    return Sizes(infos).__getitem__


def simulate(
    order: list[int],
    steps: list[Step],
    infos: Mapping[str, TensorInfo],
    graph_inputs: list[str],
    graph_outputs: list[str],
    size_of: SizeOf | None = None,
    symbolic: bool = False,
    stop_at: int | None = None,
) -> Liveness | None:
    """Liveness along `order`. `size_of` gives buffer sizes (default: from `infos`); `symbolic`:
    shapes with named dims count as known for in-place reuse (the formula analysis and the
    figures bound from it must choose the buffers a bound analysis chooses). `stop_at`: None as
    soon as the live bytes reach it (an order whose peak is no lower than another's)."""
    n = len(order)
    found = buffers(order, steps, infos, graph_inputs, graph_outputs, size_of, symbolic, stop_at)
    if found is None:
        return None
    sizes, spans, result = found
    scan(sizes, spans, n, result)
    return result


def buffers(
    order: list[int],
    steps: list[Step],
    infos: Mapping[str, TensorInfo],
    graph_inputs: list[str],
    graph_outputs: list[str],
    size_of: SizeOf | None = None,
    symbolic: bool = False,
    stop_at: int | None = None,
) -> tuple[list[tuple[Any, Any]], list[list[int]], Liveness] | None:
    """Which buffer each tensor lives in, each buffer's size and [first, last] step. `stop_at`:
    None as soon as the bytes live at a step reach it (kept as the steps go: a buffer's last
    step only moves while it is live, so the count at each step is what `scan` finds)."""
    size_of = size_of or info_sizes(infos)
    n = len(order)
    end_of_run = n  # graph outputs live past the last step
    last_use: dict[str, int] = {}
    for pos, s in enumerate(order):
        for t in steps[s].inputs:
            last_use[t] = pos
    for t in graph_outputs:
        last_use[t] = end_of_run

    sizes: list[tuple[int, int]] = []  # per buffer (elements, bytes)
    spans: list[list[int]] = []  # per buffer [start, end]
    buf_of: dict[str, int] = {}
    result = Liveness()
    last_of = last_use.get

    watch = stop_at is not None
    live = 0  # with `stop_at`: the bytes live at this step
    ending: dict[int, list[int]] = {}  # with `stop_at`: the buffers by last step (and stale)

    def new_buffer(t: str, start: int) -> int:
        size = size_of(t)
        if size is None:
            result.unknown.append(t)
            size = (0, 0)
        b = buf_of[t] = len(sizes)
        sizes.append(size)
        end = last_of(t, start)
        spans.append([start, end if end > start else start])
        return b

    def watched(b: int) -> int:  # a buffer made: its bytes, and its last step noted
        ending.setdefault(spans[b][1], []).append(b)
        return sizes[b][1]

    for t in graph_inputs:
        if t in last_use:
            b = new_buffer(t, 0)
            if watch:
                live += watched(b)

    for pos, s in enumerate(order):
        step = steps[s]
        kind = step.kind
        taken: set[int] = set()
        for k, out in enumerate(step.outputs):
            if not out:
                continue
            b = None
            if kind == "view":
                if k == 0 and step.inputs:
                    b = buf_of.get(step.inputs[0])
            elif kind == "elementwise":
                b = _inplace_candidate(step, out, pos, buf_of, spans, taken, infos, symbolic)
            if b is None:
                b = new_buffer(out, pos)
                if watch:
                    live += watched(b)
                continue
            taken.add(b)
            buf_of[out] = b
            end = last_of(out, pos)
            span = spans[b]
            if end > span[1]:
                span[1] = end
                if watch:
                    ending.setdefault(end, []).append(b)
        if watch:
            if live >= stop_at:  # type: ignore[operator]
                return None
            for b in ending.pop(pos, ()):
                if spans[b][1] == pos:
                    live -= sizes[b][1]
    return sizes, spans, result


def scan(sizes: list[tuple[int, int]], spans: list[list[int]], n: int, result: Liveness) -> None:
    """Totals, live bytes per step and the peak, from buffer sizes (ints) and spans."""
    delta_el = [0] * (n + 2)
    delta_b = [0] * (n + 2)
    for (el, nb), (start, end) in zip(sizes, spans, strict=True):
        result.total_elements += el
        result.total_bytes += nb
        delta_el[start] += el
        delta_el[end + 1] -= el
        delta_b[start] += nb
        delta_b[end + 1] -= nb
    live_el = live_b = 0
    for pos in range(n + 1):
        live_el += delta_el[pos]
        live_b += delta_b[pos]
        if pos < n:  # past the last step only graph outputs stay, all live at step n-1 too
            result.live_bytes.append(live_b)
        result.peak_elements = max(result.peak_elements, live_el)
        if live_b > result.peak_bytes:
            result.peak_bytes = live_b
            result.peak_position = min(pos, n - 1) if n else None


def _inplace_candidate(
    step: Step,
    out: str,
    pos: int,
    buf_of: dict[str, int],
    spans: list[list[int]],
    taken: set[int],
    infos: Mapping[str, TensorInfo],
    symbolic: bool = False,
) -> int | None:
    o = infos.get(out)
    if o is None or not (o.static or (symbolic and _known(o))):
        return None
    for t in step.inputs:
        b = buf_of.get(t)
        if b is None or b in taken or spans[b][1] != pos:
            continue
        i = infos.get(t)
        if i is None or not (i.static or (symbolic and _known(i))):
            continue
        if i.shape == o.shape and i.elem_type == o.elem_type:
            return b
    return None


def _known(t: TensorInfo) -> bool:
    return t.shape is not None and all(d is not None for d in t.shape)


@dataclass
class Dag:
    """The steps' dependencies, as `greedy_order` reads them: the steps reading each tensor (in
    order, each once), each step's successors (a step may be listed more than once: the count of
    its listings is in `indeg`) and the count of its predecessors. The analyzer passes the node
    graph's own when the steps are its nodes in file order."""

    readers: Mapping[str, list[int]]
    succs: list[list[int]]
    indeg: list[int]

    @classmethod
    def of(cls, steps: list[Step]) -> Dag:
        producer: dict[str, int] = {}
        for s, step in enumerate(steps):
            for t in step.outputs:
                producer[t] = s
        producer.pop("", None)
        # lists, not sets: 250,000 empty sets cost more than the rest of the schedule; steps are
        # visited in order, so a repeat of s is always the last entry
        readers: dict[str, list[int]] = {}
        succs: list[list[int]] = [[] for _ in steps]
        indeg = [0] * len(steps)
        for s, step in enumerate(steps):
            for t in step.inputs:
                r = readers.get(t)
                if r is None:
                    readers[t] = [s]
                elif r[-1] != s:
                    r.append(s)
                p = producer.get(t)
                if p is not None and (not succs[p] or succs[p][-1] != s):
                    succs[p].append(s)
                    indeg[s] += 1
        return cls(readers, succs, indeg)


def greedy_order(
    steps: list[Step],
    infos: Mapping[str, TensorInfo],
    graph_outputs: list[str],
    size_of: SizeOf | None = None,
    dag: Dag | None = None,
) -> list[int]:
    """List scheduling: among the earliest ready nodes, run the one that grows memory least."""
    dag = dag or Dag.of(steps)
    readers, succs, indeg = dag.readers, dag.succs, list(dag.indeg)
    left = {t: len(r) for t, r in readers.items()}  # readers not yet scheduled
    keep = set(graph_outputs)
    size_of = size_of or info_sizes(infos)

    def nbytes(t: str) -> Any:
        size = size_of(t)
        return size[1] if size else 0

    # What a step would add to the live bytes: what it allocates less the inputs it is the last
    # to read. Worked out when the step is first weighed, then kept current as others run.
    deltas: dict[int, Any] = {}

    def weigh(s: int) -> None:
        step = steps[s]
        d = 0
        for t in step.outputs[1:] if step.kind == "view" else step.outputs:
            size = size_of(t) if t else None
            if size:
                d += size[1]
        ins = step.inputs
        for t in ins if len(ins) < 2 else set(ins):
            if left[t] == 1 and t not in keep:
                size = size_of(t)
                if size:
                    d -= size[1]
        deltas[s] = d

    done = bytearray(len(steps))
    # The ready steps: the GREEDY_WINDOW earliest in a sorted list (the window), the rest in a
    # heap, every one of them after the window's. A wide graph keeps thousands ready: the heap
    # pops and pushes one step at a time, the window is a slice.
    ready = [s for s in range(len(steps)) if indeg[s] == 0]
    window = ready[:GREEDY_WINDOW]
    ready = ready[GREEDY_WINDOW:]  # sorted, so already a heap
    order: list[int] = []
    push, pop, insort = heapq.heappush, heapq.heappop, bisect.insort
    while window:
        if len(window) == 1:  # nothing to weigh (most steps of a deep, narrow graph)
            best = window.pop()
        else:
            for s in window:
                if s not in deltas:
                    weigh(s)
            best = window.pop(window.index(min(window, key=deltas.__getitem__)))  # ties: earliest
        order.append(best)
        done[best] = 1
        ins = steps[best].inputs
        for t in ins if len(ins) < 2 else set(ins):
            n = left[t] = left[t] - 1
            if n == 1 and t not in keep:  # the one reader left now frees it
                for last in readers[t]:
                    if not done[last]:
                        if last in deltas:
                            deltas[last] -= nbytes(t)
                        break
        for nxt in succs[best]:
            k = indeg[nxt] = indeg[nxt] - 1
            if k == 0:
                if not window:
                    if not ready or nxt < ready[0]:
                        window.append(nxt)  # the earliest ready: the heap's need not see it
                    else:
                        push(ready, nxt)
                elif nxt < window[-1]:
                    insort(window, nxt)
                    if len(window) > GREEDY_WINDOW:
                        push(ready, window.pop())
                else:
                    push(ready, nxt)
        while len(window) < GREEDY_WINDOW and ready:
            window.append(pop(ready))
    return order


def plan(
    steps: list[Step],
    names: list[str],
    step_nodes: list[int],
    infos: Mapping[str, TensorInfo],
    inputs: list[str],
    outputs: list[str],
    size_of: SizeOf | None = None,
    symbolic: bool = False,
    best_order: bool = True,
    live: Liveness | None = None,
    dag: Dag | None = None,
) -> tuple[MemoryPlan, Liveness]:
    """The file order's liveness and the greedy order's, when it has a lower peak (the greedy
    search is skipped with `best_order=False`: a sweep reports the file order's peak only).
    `live`: the file order's liveness, if worked out already; `dag`: the steps' (Dag), if known."""
    file_order = list(range(len(steps)))
    size_of = size_of or info_sizes(infos)  # one table of sizes for every pass below
    live = live or simulate(file_order, steps, infos, inputs, outputs, size_of, symbolic)
    result = MemoryPlan(
        schedule="file",
        peak_step=live.peak_position,
        peak_node=names[live.peak_position] if live.peak_position is not None and names else None,
        peak_elements=live.peak_elements,
        peak_bytes=live.peak_bytes,
        best_peak_elements=live.peak_elements,
        best_peak_bytes=live.peak_bytes,
        best_peak_node=None,
        best_schedule="file",
        step_nodes=list(step_nodes),
        live_bytes=live.live_bytes,
    )
    result.best_peak_node = result.peak_node
    # no order can go below a peak of 0 bytes (every size unknown: dims left unbound)
    if steps and best_order and not (isinstance(live.peak_bytes, int) and live.peak_bytes == 0):
        order = greedy_order(steps, infos, outputs, size_of, dag)
        # the same order (a chain, say) has the same peak: no second simulation; another is
        # simulated until its live bytes reach the file order's peak (it is not lower then)
        stop = live.peak_bytes if isinstance(live.peak_bytes, int) else None
        best = (
            simulate(order, steps, infos, inputs, outputs, size_of, symbolic, stop)
            if order != file_order
            else live
        )
        if best is not None and best.peak_bytes < live.peak_bytes:
            result.best_peak_elements = best.peak_elements
            result.best_peak_bytes = best.peak_bytes
            pos = best.peak_position
            result.best_peak_node = names[order[pos]] if pos is not None else None
            result.best_schedule = "greedy"
            result.best_order = list(order)
            result.best_live_bytes = best.live_bytes
            result.best_peak_step = pos
    return result, live
