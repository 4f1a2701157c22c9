"""Generative decoders: the KV cache read from the graph, prefill and decode costs, what fits.

Everything here is read from the graph or from bound analyses (`analyze` with the phase's dims),
never from a model config:

- the cache is the graph inputs that carry past keys and values and the outputs they grow into
  (by the exporters' names, `past_key_values.N.key` -> `present.N.key` and the like, then by
  structure: an input whose dim grows into a matching output along one axis);
- prefill of P tokens is the analysis with new tokens = P, past = 0; one decode step at context T
  is the analysis with new tokens = 1, past = T - 1 (the new token attends to T positions and the
  cache holds T tokens after the step);
- the longest context and largest batch that fit are searched over bound analyses: a guess from
  two of them (the costs are low-degree polynomials of the dims), then proven by analyses at N
  (fits) and N + 1 (does not), bisecting when the guess was off.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from onnxcost import dtypes
from onnxcost.analysis import roofline
from onnxcost.analysis.analyzer import analyze
from onnxcost.analysis.search import largest as bisect_largest
from onnxcost.errors import ModelError, UsageError
from onnxcost.hardware.database import HardwareSpec
from onnxcost.model import dims as dimlib
from onnxcost.model.loader import iter_graphs, load
from onnxcost.report.records import Report

MERGED_BRANCH_INPUT = "use_cache_branch"  # optimum's merged decoders: If on this input
TOKEN_INPUTS = ("input_ids", "decoder_input_ids", "inputs_embeds", "decoder_inputs_embeds")
MASK_INPUTS = ("attention_mask", "decoder_attention_mask")
CAP = 2**31 - 1  # searches stop here: positions and total lengths are int32 in the exporters
BATCH_CROSSOVER_CAP = 2**24
LOOKED_FOR = (
    "graph inputs named past_key_values.N.key/value, past_key_N, past.N (or with 'past' or "
    "'cache' in the name) paired with outputs present.N.key/value, present_key_N, present.N; "
    "and, by structure, an input whose one symbolic dim grows into an output of the same dtype "
    "and rank (past_sequence_length -> past_sequence_length + sequence_length or "
    "total_sequence_length)"
)

Dim = int | str | None


@dataclass
class CacheEntry:
    """One past input and the present output it grows into."""

    input: str
    output: str | None
    elem_type: int
    shape: list[Dim]  # the input's declared shape
    seq_axis: int | None  # None: a cache that does not grow (cross-attention, encoder length)
    batch_axis: int | None
    layer: int | None
    kind: str | None  # key | value | None
    window: int | None = None  # local_window_size of the attention op that reads it
    by: str = "name"  # name | structure

    @property
    def grows(self) -> bool:
        return self.seq_axis is not None

    def inner(self) -> list[Dim]:
        """Dims other than batch and sequence: (kv heads, head size) for (B, H, S, D)."""
        skip = {self.seq_axis, self.batch_axis}
        return [d for i, d in enumerate(self.shape) if i not in skip]


@dataclass
class CacheSpec:
    entries: list[CacheEntry]
    past_dim: str
    new_dim: str
    batch_dim: str | None
    total_dims: list[str]  # dims that mean past + new (genai's total_sequence_length)
    merged_input: str | None  # use_cache_branch, when the decoder is merged
    notes: list[str] = field(default_factory=list)

    @property
    def growing(self) -> list[CacheEntry]:
        return [e for e in self.entries if e.grows]

    @property
    def static(self) -> list[CacheEntry]:
        return [e for e in self.entries if not e.grows]

    def layers(self) -> int | None:
        found = {e.layer for e in self.growing}
        if None in found:
            kinds = {e.kind for e in self.growing}
            # separate key and value tensors per layer: half the entries; one per layer otherwise
            return len(self.growing) // 2 if kinds == {"key", "value"} else None
        return len(found)

    def heads_and_size(self, dims: dict[str, int]) -> tuple[list[int], list[int]] | None:
        """Per growing entry (kv heads, head size), when each has exactly those two inner dims."""
        heads, sizes = [], []
        for e in self.growing:
            inner = [_resolve(d, dims) for d in e.inner()]
            if len(inner) != 2 or None in inner:
                return None
            heads.append(inner[0])
            sizes.append(inner[1])
        return heads, sizes  # type: ignore[return-value]

    def token_bytes(self, e: CacheEntry, dims: dict[str, int]) -> int | None:
        """Bytes one token adds to entry `e` for one sequence (its inner dims times the dtype)."""
        inner = [_resolve(d, dims) for d in e.inner()]
        if None in inner:
            return None
        return dtypes.nbytes(math.prod(inner), e.elem_type)  # type: ignore[arg-type]

    def bytes_per_token(self, dims: dict[str, int]) -> int | None:
        parts = [self.token_bytes(e, dims) for e in self.growing]
        return None if None in parts else sum(parts)  # type: ignore[arg-type]

    def static_bytes(self, dims: dict[str, int]) -> int | None:
        """Per sequence: the cache entries that do not grow (cross-attention keys and values)."""
        total = 0
        for e in self.static:
            inner = [_resolve(d, dims) for i, d in enumerate(e.shape) if i != e.batch_axis]
            if None in inner:
                return None
            total += dtypes.nbytes(math.prod(inner), e.elem_type)  # type: ignore[arg-type]
        return total

    def cache_bytes(self, context: int, batch: int, dims: dict[str, int]) -> int | None:
        """The whole cache holding `context` tokens for `batch` sequences; a windowed entry stops
        growing at its window."""
        static = self.static_bytes(dims)
        if static is None:
            return None
        total = static
        for e in self.growing:
            per = self.token_bytes(e, dims)
            if per is None:
                return None
            total += per * (min(context, e.window) if e.window else context)
        return total * batch

    def phase_dims(self, batch: int, past: int, new: int, extra: dict[str, int]) -> dict[str, int]:
        d = dict(extra)
        d[self.past_dim] = past
        d[self.new_dim] = new
        for t in self.total_dims:
            d[t] = past + new
        if self.batch_dim:
            d[self.batch_dim] = batch
        return d

    def phase_values(self, decode: bool) -> dict[str, np.ndarray]:
        if not self.merged_input:
            return {}
        return {self.merged_input: np.array([decode])}

    def held(self) -> frozenset[str]:
        names = {e.input for e in self.entries} | {e.output for e in self.entries if e.output}
        return frozenset(names)


def _resolve(d: Dim, dims: dict[str, int]) -> int | None:
    if isinstance(d, int):
        return d
    if not d:
        return None
    if d in dims:
        return dims[d]
    return dimlib.evaluate(d, dims)


def _shape(v: onnx.ValueInfoProto) -> list[Dim] | None:
    t = v.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]


def _layer_kind(name: str) -> tuple[int | None, str | None]:
    m = re.search(r"\d+", name)
    low = name.lower()
    kind = None
    if "key" in low or re.search(r"(^|[._])k($|[._])", low):
        kind = "key"
    elif "value" in low or re.search(r"(^|[._])v($|[._])", low):
        kind = "value"
    return (int(m.group()) if m else None), kind


def _output_candidates(name: str) -> list[str]:
    out = []
    for old, new in (
        ("past_key_values", "present"),
        ("past_key_values", "present_key_values"),
        ("past", "present"),
        ("cache_in", "cache_out"),
        ("in_cache", "out_cache"),
    ):
        if old in name:
            out.append(name.replace(old, new, 1))
    return out


def _atoms(d: Dim) -> list[str]:
    return dimlib.atoms(d) if isinstance(d, str) else []


def _grow_axis(inp: list[Dim], out: list[Dim] | None) -> tuple[bool, int | None]:
    """(pairable, axis where the input's symbolic dim grows into the output's), or (True, None)
    for equal shapes (a cache that does not grow)."""
    if out is None:
        # no declared output shape: the axis named like a past length
        axes = [i for i, d in enumerate(inp) if isinstance(d, str) and "past" in d.lower()]
        return (len(axes) == 1), (axes[0] if len(axes) == 1 else None)
    if len(out) != len(inp):
        return False, None
    diff = [i for i, (a, b) in enumerate(zip(inp, out, strict=True)) if a != b]
    if not diff:
        return True, None
    if len(diff) != 1:
        return False, None
    i = diff[0]
    a, b = inp[i], out[i]
    if not isinstance(a, str) or not isinstance(b, str):
        return False, None
    return True, i


def find_cache(model: onnx.ModelProto, extra_dims: dict[str, int] | None = None) -> CacheSpec:
    """Recognise the KV cache of a decoder; ModelError saying what was looked for if none."""
    graph = model.graph
    inits = {t.name for t in graph.initializer}
    inputs = [v for v in graph.input if v.name not in inits]
    outputs = {v.name: v for v in graph.output}
    in_shape = {v.name: _shape(v) for v in inputs}
    out_shape = {n: _shape(v) for n, v in outputs.items()}
    entries: list[CacheEntry] = []
    used_out: set[str] = set()

    def add(v: onnx.ValueInfoProto, out: str | None, axis: int | None, by: str) -> None:
        layer, kind = _layer_kind(v.name)
        shape = in_shape[v.name] or []
        entries.append(
            CacheEntry(v.name, out, v.type.tensor_type.elem_type, shape, axis, None, layer, kind)
        )
        entries[-1].by = by
        if out:
            used_out.add(out)

    # 1. by the exporters' names
    for v in inputs:
        shape = in_shape[v.name]
        if shape is None or len(shape) < 3 or not ("past" in v.name or "cache" in v.name):
            continue
        for cand in _output_candidates(v.name):
            o = outputs.get(cand)
            if o is None or cand in used_out:
                continue
            if o.type.tensor_type.elem_type != v.type.tensor_type.elem_type:
                continue
            ok, axis = _grow_axis(shape, out_shape[cand])
            if ok:
                add(v, cand, axis, "name")
                break
    # 2. by structure: a symbolic dim that grows into an output of the same dtype and rank
    named = {e.input for e in entries}
    for v in inputs:
        shape = in_shape[v.name]
        if v.name in named or shape is None or len(shape) < 3:
            continue
        for name, o in outputs.items():
            if name in used_out or o.type.tensor_type.elem_type != v.type.tensor_type.elem_type:
                continue
            oshape = out_shape[name]
            ok, axis = _grow_axis(shape, oshape)
            if ok and axis is not None and oshape is not None:
                a, b = shape[axis], oshape[axis]
                # grows: the output's dim adds to the input's (p -> p + s) or is another name (T)
                if (a in _atoms(b) and "+" in str(b)) or len(_atoms(b)) == 1:
                    add(v, name, axis, "structure")
                    break
    if not any(e.grows for e in entries):
        raise ModelError(
            "no KV cache found: looked for " + LOOKED_FOR + ". A decoder exported without "
            "past key values (use_cache=False) cannot be served incrementally; export it with "
            "its cache (optimum: --task text-generation-with-past)"
        )
    return _complete(model, inputs, entries, in_shape, out_shape, extra_dims or {})


def _complete(
    model: onnx.ModelProto,
    inputs: list[onnx.ValueInfoProto],
    entries: list[CacheEntry],
    in_shape: dict[str, list[Dim] | None],
    out_shape: dict[str, list[Dim] | None],
    extra: dict[str, int],
) -> CacheSpec:
    notes: list[str] = []
    growing = [e for e in entries if e.grows]
    past = {atom for e in growing for atom in _atoms(e.shape[e.seq_axis])}  # type: ignore[index]
    if len(past) != 1:
        raise ModelError(
            "KV cache inputs found ("
            + ", ".join(e.input for e in growing[:4])
            + ") but their past lengths are not one dim name: "
            + (", ".join(sorted(past)) or "none")
        )
    (past_dim,) = past
    names = {v.name: v for v in inputs}
    token = next((names[n] for n in TOKEN_INPUTS if n in names), None)
    token_shape = in_shape[token.name] if token is not None else None
    batch_dim = new_dim = None
    if token_shape and len(token_shape) >= 2:
        if isinstance(token_shape[0], str):
            batch_dim = token_shape[0]
        if isinstance(token_shape[1], str):
            new_dim = token_shape[1]
    present_dims = {
        out_shape[e.output][e.seq_axis]  # type: ignore[index]
        for e in growing
        if e.output and out_shape.get(e.output) is not None
    }
    if new_dim is None:
        # p + s on the present outputs: the atom that is not the past
        cand = {a for d in present_dims for a in _atoms(d) if a != past_dim and "+" in str(d)}
        if len(cand) == 1:
            new_dim = cand.pop()
    if new_dim is None:
        raise ModelError(
            f"KV cache found (past length {past_dim!r}) but not the new-token dim: looked at the "
            f"second dim of {', '.join(TOKEN_INPUTS)} and at the present outputs' lengths"
        )
    if batch_dim is None:
        cand0 = {e.shape[0] for e in entries if e.shape and isinstance(e.shape[0], str)}
        batch_dim = cand0.pop() if len(cand0) == 1 else None
    if batch_dim is None:
        notes.append("batch dim not symbolic in the graph: the batch is fixed by the export")
    totals: list[str] = []
    for d in present_dims:
        if isinstance(d, str) and _atoms(d) == [d] and d not in (past_dim, new_dim):
            totals.append(d)
    for n in MASK_INPUTS:
        s = in_shape.get(n)
        if not (s and len(s) >= 2 and isinstance(s[1], str) and _atoms(s[1]) == [s[1]]):
            continue
        if s[1] not in (past_dim, new_dim, batch_dim) and s[1] not in totals:
            totals.append(s[1])
    for e in entries:
        if batch_dim and batch_dim in e.shape:
            e.batch_axis = e.shape.index(batch_dim)
        elif e.shape and e.seq_axis != 0:
            e.batch_axis = 0
            notes.append(f"{e.input}: batch axis taken as axis 0")
    merged = MERGED_BRANCH_INPUT if MERGED_BRANCH_INPUT in names else None
    _windows(model, entries, notes)
    spec = CacheSpec(entries, past_dim, new_dim, batch_dim, sorted(totals), merged, notes)
    for e in growing:
        if spec.token_bytes(e, extra) is None:
            raise ModelError(
                f"cache input {e.input!r}: its dims other than batch and length ({e.inner()}) "
                "are not all numbers: bind them with --dim"
            )
    if spec.layers() is None:
        notes.append("layer count not read from the cache names")
    return spec


def _windows(model: onnx.ModelProto, entries: list[CacheEntry], notes: list[str]) -> None:
    """Sliding windows declared by attention ops (GroupQueryAttention's local_window_size)."""
    by_input = {e.input: e for e in entries}
    found: list[tuple[onnx.NodeProto, int]] = []
    for g in iter_graphs(model.graph):
        for node in g.node:
            if node.op_type != "GroupQueryAttention":
                continue
            w = next((a.i for a in node.attribute if a.name == "local_window_size"), -1)
            if w > 0:
                found.append((node, w))
    if not found:
        notes.append(
            "sliding window: none declared by an op (GroupQueryAttention local_window_size); "
            "a window applied only through the attention mask is not read: the cache is "
            "counted growing with the whole context"
        )
        return
    unmatched = 0
    for node, w in found:
        hit = [by_input[n] for n in list(node.input)[3:5] if n in by_input]
        for e in hit:
            e.window = w
        unmatched += not hit
    if unmatched:
        notes.append(
            f"{unmatched} windowed attention node(s) whose past inputs are not graph inputs: "
            "their window is not applied to the cache"
        )


# --- the phases ---------------------------------------------------------------------------------


@dataclass
class Phase:
    report: Report
    dims: dict[str, int]


class Runner:
    """Bound analyses of one model, memoised by (batch, past, new)."""

    def __init__(
        self,
        path: str,
        spec: CacheSpec,
        hw: HardwareSpec | None,
        extra: dict[str, int],
    ) -> None:
        self.path, self.spec, self.hw, self.extra = path, spec, hw, extra
        self.runs: dict[tuple[int, int, int], Phase] = {}

    def run(self, batch: int, past: int, new: int, decode: bool) -> Phase:
        key = (batch, past, new)
        if key not in self.runs:
            dims = self.spec.phase_dims(batch, past, new, self.extra)
            report = analyze(
                self.path,
                dims=dims,
                input_values=self.spec.phase_values(decode),
                held_outside=self.spec.held(),
            )
            if self.hw is not None:
                roofline.apply(report, self.hw)
            self.runs[key] = Phase(report, dims)
        return self.runs[key]

    def prefill(self, batch: int, prompt: int) -> Phase:
        return self.run(batch, 0, prompt, decode=False)

    def decode(self, batch: int, context: int) -> Phase:
        return self.run(batch, context - 1, 1, decode=True)


def largest(fits: Callable[[int], bool], guess: int, cap: int = CAP) -> int:
    """The largest x in [1, cap] with fits(x), for fits true up to a point then false; 0 when
    fits(1) is false. Proven at the answer: fits(N) and not fits(N + 1) (or N = cap)."""
    if not fits(1):
        return 0
    if fits(cap):
        return cap
    lo, hi = 1, cap  # fits(lo), not fits(hi)
    g = min(max(guess, 1), cap - 1)
    step = 1
    if g > lo and fits(g):
        lo = g
        while lo + step < hi:  # gallop up from the guess
            if fits(lo + step):
                lo += step
                step *= 2
            else:
                hi = lo + step
                break
    elif g > lo:
        hi = g
        while hi - step > lo:  # gallop down
            if fits(hi - step):
                lo = hi - step
                break
            hi -= step
            step *= 2
    return bisect_largest(fits, lo, hi)


def _linear_guess(f: Callable[[int], float], x1: int, target: float) -> int:
    """Where f (about linear) reaches `target`, from f at x1 and 2 * x1."""
    f1, f2 = f(x1), f(2 * x1)
    slope = (f2 - f1) / x1
    if slope <= 0:
        return CAP
    x = x1 + (target - f1) / slope
    return int(min(max(x, 1), CAP))


# --- the whole study -----------------------------------------------------------------------------


def _phase_dict(p: Phase, tokens: int, batch: int, hw: HardwareSpec | None) -> dict[str, Any]:
    t = p.report.totals
    d: dict[str, Any] = {
        "batch": batch,
        "macs": t.macs,
        "flops": t.flops,
        "memory_traffic_bytes": t.memory_traffic_bytes,
        "activations_peak_bytes": t.activations_peak_bytes,
        "latency_s": t.latency_s if hw else None,
        "latency_bound_s": t.latency_bound_s if hw else None,
        "bound": p.report.hardware["bound"] if hw and p.report.hardware else None,
        "status": t.status,
        "status_reasons": list(t.status_reasons),
        "dims": dict(p.dims),
    }
    return d


def study(
    path: str,
    prompt: int,
    context: int,
    batch: int,
    hw: HardwareSpec | None,
    extra_dims: dict[str, int] | None = None,
    search: bool = True,
) -> dict[str, Any]:
    """Everything `onnxcost llm` reports, as a JSON-ready dict."""
    if prompt < 1 or context < 1 or batch < 1:
        raise UsageError("--prompt, --context and --batch must be at least 1")
    extra = dict(extra_dims or {})
    loaded = load(path)
    spec = find_cache(loaded.model, extra)
    clash = {spec.past_dim, spec.new_dim, spec.batch_dim, *spec.total_dims} & set(extra)
    if clash:
        raise UsageError(
            f"--dim {', '.join(sorted(d for d in clash if d))}: set by --prompt, --context and "
            "--batch, not by --dim"
        )
    runner = Runner(path, spec, hw, extra)
    pre = runner.prefill(batch, prompt)
    dec = runner.decode(batch, context)
    notes = list(spec.notes)
    warnings = list(dict.fromkeys(pre.report.warnings + dec.report.warnings))

    per_token = spec.bytes_per_token(extra)
    kv_bytes = spec.cache_bytes(context, batch, extra)
    static = spec.static_bytes(extra)
    if static is None:
        notes.append(
            "cross-attention cache size unknown: bind its length with --dim "
            + ", ".join(sorted({a for e in spec.static for d in e.shape for a in _atoms(d)}))
        )
    hs = spec.heads_and_size(extra)
    windows = sorted({e.window for e in spec.growing if e.window})
    cache: dict[str, Any] = {
        "recognised_by": sorted({e.by for e in spec.entries}),
        "entries": len(spec.growing),
        "cross_entries": len(spec.static),
        "layers": spec.layers(),
        "kv_heads": _one_or_list(hs[0]) if hs else None,
        "head_size": _one_or_list(hs[1]) if hs else None,
        "dtype": _one_or_list([dtypes.name(e.elem_type) for e in spec.growing]),
        "past_dim": spec.past_dim,
        "new_dim": spec.new_dim,
        "batch_dim": spec.batch_dim,
        "total_dims": spec.total_dims,
        "merged_branch_input": spec.merged_input,
        "window": _one_or_list(windows) if windows else None,
        "windowed_entries": sum(1 for e in spec.growing if e.window),
        "inputs": [e.input for e in spec.entries],
        "outputs": [e.output for e in spec.entries],
    }
    if hs is None:
        notes.append("kv heads and head size not separable from the cache shapes (not rank 4)")
    # The graph's own present outputs at context T, for comparison with the arithmetic.
    graph_kv = _present_bytes(dec.report, spec)
    kv: dict[str, Any] = {
        "bytes_per_token": per_token,
        "bytes_per_token_batch": per_token * batch if per_token is not None else None,
        "static_bytes_per_sequence": static,
        "bytes": kv_bytes,
        "context": context,
        "batch": batch,
        "present_outputs_bytes": graph_kv,
    }
    if windows:
        notes.append(
            f"sliding window {', '.join(map(str, windows))} on {cache['windowed_entries']} of "
            f"{len(spec.growing)} cache entries: kv_cache.bytes stops growing there; the graph's "
            "present outputs (present_outputs_bytes) still hold the whole context, and decode "
            "attention is costed as the analysis counts it"
        )
    weights = {
        "bytes": dec.report.totals.weight_bytes,
        "params": dec.report.totals.params,
        "by_dtype": [
            {"dtype": d.dtype, "params": d.params, "bytes": d.bytes}
            for d in dec.report.params_by_dtype
        ],
        "missing_external_data": list(dec.report.model.get("missing_external_data") or []),
    }
    prefill = _phase_dict(pre, prompt, batch, hw)
    prefill["tokens"] = prompt
    prefill["time_to_first_token_s"] = prefill["latency_s"]
    decode = _phase_dict(dec, 1, batch, hw)
    decode["context"] = context
    decode["macs_per_token"] = dec.report.totals.macs // batch
    decode["flops_per_token"] = dec.report.totals.flops // batch
    decode["tokens_per_s"] = None
    decode["memory_floor_s"] = None
    if hw is not None:
        lat = dec.report.totals.latency_s or 0.0
        decode["tokens_per_s"] = batch / lat if lat else None
        bound = dec.report.totals.latency_bound_s or 0.0
        decode["tokens_per_s_bound"] = batch / bound if bound else None
        if kv_bytes is not None:
            # the simplest memory-bound step: every weight and the whole cache read once
            decode["memory_floor_s"] = (weights["bytes"] + kv_bytes) / hw.memory_bandwidth_Bps
    fits = _fits(runner, spec, hw, context, batch, extra, search) if hw else None
    if hw is None:
        notes.append("no device given (--hw): no latency, throughput or fits")
    return {
        "model": path,
        "device": hw.key if hw else None,
        "device_name": hw.name if hw else None,
        "prompt": prompt,
        "context": context,
        "batch": batch,
        "cache": cache,
        "kv_cache": kv,
        "weights": weights,
        "prefill": prefill,
        "decode": decode,
        "fits": fits,
        "analyses": len(runner.runs),
        "notes": notes,
        "warnings": warnings,
    }


def _one_or_list(values: list) -> Any:
    uniq = list(dict.fromkeys(values))
    return uniq[0] if len(uniq) == 1 else uniq


def _present_bytes(report: Report, spec: CacheSpec) -> int | None:
    outs = {o.name: o for o in report.outputs}
    total = 0
    for e in spec.entries:
        o = outs.get(e.output or "")
        if o is None or o.shape is None or not all(isinstance(d, int) for d in o.shape):
            return None
        total += dtypes.nbytes(math.prod(o.shape), e.elem_type)  # type: ignore[arg-type]
    return total


def required_bytes(runner: Runner, context: int, batch: int, extra: dict[str, int]) -> int:
    """Memory a decode step at `context` with `batch` needs: weights + the whole KV cache + the
    step's activation peak with the cache held outside the activation arena."""
    r = runner.decode(batch, context).report
    kv = runner.spec.cache_bytes(context, batch, extra) or 0
    return r.totals.weight_bytes + kv + r.totals.activations_peak_bytes


def _fits(
    runner: Runner,
    spec: CacheSpec,
    hw: HardwareSpec,
    context: int,
    batch: int,
    extra: dict[str, int],
    search: bool,
) -> dict[str, Any]:
    memory = hw.memory_bytes
    need = required_bytes(runner, context, batch, extra)
    out: dict[str, Any] = {
        "memory_bytes": memory,
        "required_bytes": need,
        "fits": need <= memory,
        "max_context": None,
        "max_batch": None,
        "compute_bound_batch": None,
    }
    weights = runner.decode(batch, context).report.totals.weight_bytes
    if weights > memory:
        out["why"] = f"the weights alone ({weights:,} bytes) exceed the device memory"
    if not search:
        return out

    def ctx_fits(t: int) -> bool:
        return required_bytes(runner, t, batch, extra) <= memory

    def batch_fits(b: int) -> bool:
        return required_bytes(runner, context, b, extra) <= memory

    guess = _linear_guess(lambda t: required_bytes(runner, t, batch, extra), context, memory)
    out["max_context"] = largest(ctx_fits, guess)
    guess = _linear_guess(lambda b: required_bytes(runner, context, b, extra), 1, memory)
    out["max_batch"] = largest(batch_fits, guess)

    def gap(b: int) -> float:
        h = runner.decode(b, context).report.hardware or {}
        return h.get("compute_time_s", 0.0) - h.get("memory_time_s", 0.0)

    # smallest batch whose decode step is compute-bound: one past the largest memory-bound one
    guess = _linear_guess(gap, 1, 0.0)
    last_memory_bound = largest(lambda b: gap(b) <= 0, guess, BATCH_CROSSOVER_CAP)
    out["compute_bound_batch"] = (
        last_memory_bound + 1 if last_memory_bound < BATCH_CROSSOVER_CAP else None
    )
    out["search_caps"] = {"context": CAP, "batch": CAP, "compute_bound_batch": BATCH_CROSSOVER_CAP}
    return out


__all__ = ["CacheEntry", "CacheSpec", "Runner", "find_cache", "largest", "study"]
