"""Activation memory: buffers, views, in-place ops, liveness peaks and the better schedule."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

import onnxcost
from tests.builders import GraphBuilder


def test_inplace_chain_and_view_share_one_buffer() -> None:
    b = GraphBuilder()
    x = b.input("x", [1, 1000])
    y = b.op(
        "Relu",
        [b.op("Reshape", [b.op("Relu", [x]), b.op("Constant", [], value=_shape([10, 100]))])],
    )
    t = onnxcost.analyze(b.build([y])).totals
    # Relu in place in x; Reshape aliases it; the second Relu is in place again: one buffer
    assert t.activations_total == 1000
    assert t.activations_peak == 1000


def test_no_inplace_when_input_is_read_later() -> None:
    b = GraphBuilder()
    x = b.input("x", [1, 1000])
    r = b.op("Relu", [x])
    y = b.op("Add", [r, x])  # x still needed: Relu needs its own buffer; Add reuses one of them
    t = onnxcost.analyze(b.build([y])).totals
    assert t.activations_total == 2000
    assert t.activations_peak == 2000


def test_graph_outputs_stay_live_to_the_end() -> None:
    b = GraphBuilder()
    x = b.input("x", [1, 100])
    w = b.weight("w", [100, 100])
    h = b.op("MatMul", [x, w])  # graph output AND read by the next node
    y = b.op("MatMul", [h, w])
    z = b.op("MatMul", [y, w])
    t = onnxcost.analyze(b.build([h, z])).totals
    # at the last step: h (kept), y (read), z (made) = 300; x died after step 0
    assert t.activations_peak == 300
    assert t.activations_total == 400


def test_better_order_found_and_reported() -> None:
    # Two branches each with a big intermediate; the file runs both big steps first.
    b = GraphBuilder()
    x = b.input("x", [1, 100])
    wa, wb = b.weight("wa", [100, 10_000]), b.weight("wb", [100, 10_000])
    sa, sb = b.weight("sa", [10_000, 10]), b.weight("sb", [10_000, 10])
    big_a = b.op("MatMul", [x, wa])
    big_b = b.op("MatMul", [x, wb])
    small_a = b.op("MatMul", [big_a, sa])
    small_b = b.op("MatMul", [big_b, sb])
    y = b.op("Add", [small_a, small_b])
    r = onnxcost.analyze(b.build([y]))
    # file order: at big_b's step, x (100) + big_a + big_b live = 20,100 elements
    assert r.totals.activations_peak == 100 + 10_000 + 10_000
    assert r.memory.peak_node == r.nodes[1].name
    # greedy: big_a, small_a, big_b (x, small_a, big_b) -> peak 100 + 10 + 10_000 at big_b's step
    assert r.memory.best_schedule == "greedy"
    assert r.memory.best_peak_elements == 100 + 10 + 10_000
    assert r.memory.best_peak_bytes == 4 * (100 + 10 + 10_000)


def test_peak_memory_estimate_is_weights_plus_peak_activations() -> None:
    b = GraphBuilder()
    y = b.op("MatMul", [b.input("x", [2, 8]), b.weight("w", [8, 4])])
    t = onnxcost.analyze(b.build([y])).totals
    assert t.peak_memory_bytes == 4 * 8 * 4 + 4 * (2 * 8 + 2 * 4)


def _shape(dims: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(dims, np.int64))


def _greedy_by_definition(steps, sizes, outputs, window=16):
    """The greedy schedule as its docstring defines it, written plainly: at each step, among
    the `window` earliest ready steps, the one whose run adds the fewest live bytes (what it
    allocates, less the inputs no later step reads), the earliest on a tie."""
    producer = {t: s for s, st in enumerate(steps) for t in st.outputs}
    preds = [{producer[t] for t in st.inputs if t in producer} for st in steps]
    done: list[int] = []

    def adds(s):
        st = steps[s]
        grow = sum(sizes[t] for k, t in enumerate(st.outputs) if not (st.kind == "view" and k == 0))
        later = {t for r in range(len(steps)) if r not in done and r != s for t in steps[r].inputs}
        free = sum(sizes[t] for t in set(st.inputs) if t not in later and t not in outputs)
        return grow - free

    while len(done) < len(steps):
        ready = [s for s in range(len(steps)) if s not in done and preds[s] <= set(done)]
        done.append(min(ready[:window], key=lambda s: (adds(s), s)))
    return done


def test_greedy_schedule_is_what_its_definition_says(monkeypatch) -> None:
    # Random DAGs, wide and narrow, small windows so the window's edge matters: the fast
    # schedule (sorted window, heap, growths kept current) picks what the definition picks.
    from onnxcost.analysis import memory
    from onnxcost.analysis.memory import Step, greedy_order

    rng = np.random.default_rng(7)
    for case in range(60):
        n = int(rng.integers(2, 40))
        steps, sizes = [], {"in": int(rng.integers(1, 50))}
        for s in range(n):
            made = [f"t{s}"]
            pool = ["in"] + [f"t{r}" for r in range(s)]
            reads = list(rng.choice(pool, size=int(rng.integers(1, 4)), replace=True))
            kind = str(rng.choice(["compute", "elementwise", "view"]))
            steps.append(Step(f"n{s}", kind, reads, made))
            sizes[f"t{s}"] = int(rng.integers(0, 50))
        outputs = [f"t{n - 1}"]
        window = int(rng.integers(1, 5))
        monkeypatch.setattr(memory, "GREEDY_WINDOW", window)
        got = greedy_order(steps, {}, outputs, lambda t, sizes=sizes: (sizes[t], sizes[t]))
        assert got == _greedy_by_definition(steps, sizes, set(outputs), window), case


def test_a_simulation_stops_once_its_live_bytes_reach_the_limit() -> None:
    # plan() simulates the greedy order only until it reaches the file order's peak: the live
    # bytes it keeps as it goes must be scan's, step by step, views and in-place writes included
    from onnxcost.analysis.memory import Step, simulate
    from onnxcost.rules.registry import TensorInfo

    rng = np.random.default_rng(11)
    for case in range(80):
        n = int(rng.integers(2, 30))
        steps, shapes = [], {"in": (int(rng.integers(1, 4)),)}
        for s in range(n):
            pool = ["in"] + [f"t{r}" for r in range(s)]
            reads = list(rng.choice(pool, size=int(rng.integers(1, 3)), replace=True))
            kind = str(rng.choice(["compute", "elementwise", "view"]))
            made = [f"t{s}"] + ([f"u{s}"] if rng.random() < 0.2 else [])
            steps.append(Step(f"n{s}", kind, reads, made))
            for t in made:  # few shapes: in-place writes find matches
                shapes[t] = (int(rng.integers(1, 4)),)
        infos = {t: TensorInfo(t, 1, sh) for t, sh in shapes.items()}
        order = list(rng.permutation(n)) if case % 2 else list(range(n))  # any order will do
        outputs = [f"t{n - 1}"]
        full = simulate(order, steps, infos, ["in"], outputs)
        assert full is not None
        # the live bytes first reach each level at the step scan says
        for level in sorted(set(full.live_bytes)):
            assert simulate(order, steps, infos, ["in"], outputs, stop_at=level) is None, case
        past = simulate(order, steps, infos, ["in"], outputs, stop_at=full.peak_bytes + 1)
        assert past == full, case
