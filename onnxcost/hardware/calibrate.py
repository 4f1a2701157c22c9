"""Measure this host: achievable GEMM throughput per dtype, elementwise throughput, memory bandwidth.

The result is a device spec (the fields of `onnxcost.hardware.database`) whose figures were measured here,
not read from a datasheet, so `onnxcost analyze --hw host.toml` and `onnxcost measure` predict
with what this machine actually reaches. Every benchmark is repeated; each figure is the median
of its repeats, and the spread (min / median / max) goes into the spec's notes and sources.

The benchmarks go through onnxruntime (the runtime `onnxcost measure` runs) with outputs bound to
preallocated buffers, so a run moves only the bytes onnxcost's traffic model counts; numpy
(its BLAS, and a plain copy) is a cross-check. Where two ways measure the same figure, the spec
takes the higher median: the figure is what is achievable on this host.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from onnxcost.errors import OnnxCostError

# Seconds one timed sample should last: long enough to swamp the timer and the call overhead.
SAMPLE_S = 0.2
QUICK_SAMPLE_S = 0.01
DEFAULT_REPEATS = 5
QUICK_REPEATS = 3


@dataclass
class Benchmark:
    """One thing to time. `setup()` allocates and returns the call to time (one unit of `work`)."""

    figure: str  # spec figure it measures: matrix.fp32, vector.fp32, memory_bandwidth_Bps
    backend: str  # onnxruntime | numpy
    what: str  # one line for people: the op and sizes
    work: float  # operations (FLOPs, integer ops) or bytes moved per call
    setup: Callable[[], Callable[[], Any]]

    @property
    def label(self) -> str:
        return f"{self.figure} ({self.backend})"


@dataclass
class Sample:
    """The repeats of one benchmark, as rates (ops/s or bytes/s)."""

    figure: str
    backend: str
    what: str
    work: float
    calls_per_repeat: int
    seconds: list[float]  # per call, one entry per repeat
    error: str | None = None  # the benchmark could not run here (e.g. no such kernel)

    @property
    def label(self) -> str:
        return f"{self.figure} ({self.backend})"

    @property
    def unit(self) -> str:
        return "B/s" if self.figure == "memory_bandwidth_Bps" else "ops/s"

    @property
    def rates(self) -> list[float]:
        return sorted(self.work / s for s in self.seconds if s > 0)

    @property
    def median(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    @property
    def minimum(self) -> float:
        return self.rates[0] if self.rates else 0.0

    @property
    def maximum(self) -> float:
        return self.rates[-1] if self.rates else 0.0

    @property
    def spread(self) -> float:
        """(max - min) / median: how much the repeats disagree."""
        return (self.maximum - self.minimum) / self.median if self.median else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "figure": self.figure,
            "backend": self.backend,
            "what": self.what,
            "work_per_call": self.work,
            "calls_per_repeat": self.calls_per_repeat,
            "repeats": len(self.seconds),
            "seconds_per_call": list(self.seconds),
            "min": self.minimum,
            "median": self.median,
            "max": self.maximum,
            "error": self.error,
        }


@dataclass
class Calibration:
    spec: dict[str, Any]  # a device table for hardware.from_dict
    samples: list[Sample]
    chosen: dict[str, Sample]  # figure -> the sample its value comes from
    threads: int | None
    quick: bool
    host: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "host": self.host,
            "threads": self.threads,
            "quick": self.quick,
            "chosen": {f: s.backend for f, s in self.chosen.items()},
            "measurements": [s.to_dict() for s in self.samples],
        }


# ---------------------------------------------------------------------------------- benchmarks


def plan(quick: bool = False, threads: int | None = None) -> list[Benchmark]:
    """The benchmarks a calibration runs, in order (a progress bar needs the count first).

    numpy's BLAS threads cannot be set without an extra package, so with `threads` given only
    the onnxruntime benchmarks run (their thread count is what `measure --threads` uses).
    """
    n_f32, n_f64, n_f16, n_i8 = (512, 384, 384, 512) if quick else (1536, 1024, 1024, 1536)
    # Streaming arrays well past any last-level cache (32 MiB on big server parts per CCD/socket).
    stream = (16 if quick else 32) * 2**20  # elements of fp32: 64 or 128 MiB per array
    vec = 32768  # elements: 128 KiB per tensor, stays in L2
    chain = 32
    benches = [
        _ort_matmul("fp32", n_f32, threads),
        _ort_matmul("fp64", n_f64, threads),
        _ort_matmul("fp16", n_f16, threads),
        _ort_matmul("int8", n_i8, threads),
        _ort_add_chain(vec, chain, threads),
        _ort_stream_add(stream, threads),
    ]
    if threads is None:
        benches += [
            _np_matmul("fp32", np.float32, n_f32),
            _np_matmul("fp64", np.float64, n_f64),
            _np_copy(stream),
        ]
    return benches


def run(bench: Benchmark, repeats: int = DEFAULT_REPEATS, quick: bool = False) -> Sample:
    """Time `bench`: one untimed call, then `repeats` samples of enough calls to last SAMPLE_S."""
    if repeats < 1:
        raise OnnxCostError(f"--repeats must be at least 1, got {repeats}")
    target = QUICK_SAMPLE_S if quick else SAMPLE_S
    try:
        call = bench.setup()
        call()  # warm-up: first-touch page faults, kernel selection, arena growth
        t0 = time.perf_counter()
        call()  # sizing: how many calls make one sample last `target`
        once = max(time.perf_counter() - t0, 1e-9)
        calls = max(1, min(10_000, math.ceil(target / once)))
        seconds = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(calls):
                call()
            seconds.append((time.perf_counter() - t0) / calls)
    except Exception as e:  # a dtype the runtime has no kernel for is a result, not a crash
        return Sample(bench.figure, bench.backend, bench.what, bench.work, 0, [], _first_line(e))
    return Sample(bench.figure, bench.backend, bench.what, bench.work, calls, seconds)


def calibrate(
    repeats: int = DEFAULT_REPEATS,
    quick: bool = False,
    threads: int | None = None,
    on_step: Callable[[Benchmark], None] | None = None,
) -> Calibration:
    """Run every benchmark of `plan()` and build the spec. `on_step` is called after each."""
    if quick and repeats == DEFAULT_REPEATS:
        repeats = QUICK_REPEATS
    samples = []
    for bench in plan(quick, threads):
        samples.append(run(bench, repeats, quick))
        if on_step is not None:
            on_step(bench)
    return summarize(samples, threads=threads, quick=quick)


def summarize(
    samples: list[Sample], threads: int | None = None, quick: bool = False
) -> Calibration:
    """Pick each figure's best median and write the device table (with spread and sources)."""
    chosen: dict[str, Sample] = {}
    for s in samples:
        if s.error is None and s.median > 0:
            best = chosen.get(s.figure)
            if best is None or s.median > best.median:
                chosen[s.figure] = s
    if "memory_bandwidth_Bps" not in chosen or not any(f.startswith("matrix.") for f in chosen):
        errors = "; ".join(f"{s.label}: {s.error}" for s in samples if s.error)
        raise OnnxCostError(
            "calibration failed: no GEMM or no bandwidth figure could be measured"
            + (f" ({errors})" if errors else "")
        )
    host = host_info()
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    n_threads = threads or os.cpu_count() or 1
    tag = f"{threads} thread{'s' if threads != 1 else ''}" if threads else "all cores"
    spec: dict[str, Any] = {
        "name": f"{host['cpu']} (calibrated, {tag})",
        "vendor": host["vendor"],
        "kind": "cpu",
        "memory_bandwidth_Bps": float(chosen["memory_bandwidth_Bps"].median),
        "memory_bytes": int(host["memory_bytes"]),
    }
    if host.get("llc_bytes") and host["llc_bytes"] <= host["memory_bytes"]:
        spec["sram_bytes"] = int(host["llc_bytes"])
    matrix = {f.split(".", 1)[1]: s.median for f, s in chosen.items() if f.startswith("matrix.")}
    vector = {f.split(".", 1)[1]: s.median for f, s in chosen.items() if f.startswith("vector.")}
    spec["matrix"] = dict(sorted(matrix.items(), key=lambda kv: _DTYPE_ORDER.index(kv[0])))
    if vector:
        spec["vector"] = vector
    import onnxruntime

    how = (
        f"measured on this host by `onnxcost hw calibrate` ({when}; onnxruntime "
        f"{onnxruntime.__version__}, numpy {np.__version__}, {tag}"
        f"{', quick' if quick else ''})"
    )
    sources = {
        f: f"{how}: {s.backend} {s.what}, median of {len(s.seconds)} repeats "
        f"(min {format_rate(s.minimum, s.unit)}, max {format_rate(s.maximum, s.unit)})"
        for f, s in chosen.items()
    }
    sources["memory_bytes"] = "physical memory reported by the operating system"
    if "sram_bytes" in spec:
        sources["sram_bytes"] = "last-level cache size reported by the operating system"
    spec["sources"] = sources
    notes = [
        "Measured, not a datasheet: achievable throughput through onnxruntime/numpy on "
        f"{host['logical_cpus']} logical CPUs ({n_threads} used), spread = (max - min) / median:",
    ]
    for s in samples:
        if s.error:
            notes.append(f"{s.label}: not measured ({s.error})")
        else:
            used = " <- used" if chosen.get(s.figure) is s else ""
            notes.append(
                f"{s.label}: median {format_rate(s.median, s.unit)}, min {format_rate(s.minimum, s.unit)}, "
                f"max {format_rate(s.maximum, s.unit)}, "
                f"spread {100 * s.spread:.0f}%{used}"
            )
    if "vector.fp32" in chosen:
        notes.append(
            "vector.fp32 is elementwise Add on cache-resident tensors, one FLOP per element, "
            "per-kernel overhead included."
        )
    spec["notes"] = notes
    return Calibration(spec, samples, chosen, threads, quick, host)


_DTYPE_ORDER = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int32", "int8", "int4")


def _ort_session(model: Any, threads: int | None) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _ort_bound(
    nodes: list[Any],
    inputs: dict[str, np.ndarray],
    output: tuple[str, np.ndarray],
    threads: int | None,
    inits: list[Any] | None = None,
) -> Callable[[], Any]:
    """A session over `nodes` with inputs and the output bound to our buffers: no copies per call."""
    import onnxruntime as ort
    from onnx import helper

    def vi(name: str, a: np.ndarray) -> Any:
        return helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape)
        )

    graph = helper.make_graph(
        nodes, "calibrate", [vi(k, v) for k, v in inputs.items()], [vi(*output)], inits or []
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    sess = _ort_session(model, threads)
    binding = sess.io_binding()
    for k, v in inputs.items():
        binding.bind_ortvalue_input(k, ort.OrtValue.ortvalue_from_numpy(v))
    binding.bind_ortvalue_output(output[0], ort.OrtValue.ortvalue_from_numpy(output[1]))
    return lambda: sess.run_with_iobinding(binding)


def _rand(shape: tuple[int, ...], dtype: Any, rng: np.random.Generator) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -64), min(info.max, 64), shape, dtype=dtype)
    return rng.standard_normal(shape, dtype=np.float32).astype(dtype)


def _ort_matmul(dtype: str, n: int, threads: int | None) -> Benchmark:
    def setup() -> Callable[[], Any]:
        from onnx import helper

        rng = np.random.default_rng(0)
        if dtype == "int8":
            # onnxruntime's int8 GEMM: MatMulInteger, uint8 activations x int8 weights -> int32.
            a = _rand((n, n), np.uint8, rng)
            b = _rand((n, n), np.int8, rng)
            out = np.empty((n, n), np.int32)
            node = helper.make_node("MatMulInteger", ["a", "b"], ["c"])
        else:
            np_dtype = {"fp32": np.float32, "fp64": np.float64, "fp16": np.float16}[dtype]
            a, b = _rand((n, n), np_dtype, rng), _rand((n, n), np_dtype, rng)
            out = np.empty((n, n), np_dtype)
            node = helper.make_node("MatMul", ["a", "b"], ["c"])
        return _ort_bound([node], {"a": a, "b": b}, ("c", out), threads)

    op = "MatMulInteger uint8 x int8" if dtype == "int8" else f"MatMul {dtype}"
    return Benchmark(f"matrix.{dtype}", "onnxruntime", f"{op} {n}x{n}x{n}", 2.0 * n**3, setup)


def _ort_add_chain(n: int, chain: int, threads: int | None) -> Benchmark:
    def setup() -> Callable[[], Any]:
        from onnx import helper

        x = np.ones(n, np.float32)
        y = np.full(n, 1e-3, np.float32)
        names = ["x"] + [f"t{i}" for i in range(1, chain)] + ["out"]
        nodes = [helper.make_node("Add", [names[i], "y"], [names[i + 1]]) for i in range(chain)]
        return _ort_bound(nodes, {"x": x, "y": y}, ("out", np.empty(n, np.float32)), threads)

    what = f"{chain} chained Add fp32 on {n} elements ({n * 4 // 1024} KiB tensors)"
    return Benchmark("vector.fp32", "onnxruntime", what, float(chain * n), setup)


def _ort_stream_add(n: int, threads: int | None) -> Benchmark:
    def setup() -> Callable[[], Any]:
        from onnx import helper

        a = np.ones(n, np.float32)
        b = np.ones(n, np.float32)
        node = helper.make_node("Add", ["a", "b"], ["c"])
        return _ort_bound([node], {"a": a, "b": b}, ("c", np.empty(n, np.float32)), threads)

    mib = n * 4 // 2**20
    what = f"Add fp32, 2 x {mib} MiB read + {mib} MiB written"
    return Benchmark("memory_bandwidth_Bps", "onnxruntime", what, 3.0 * 4 * n, setup)


def _np_matmul(dtype: str, np_dtype: Any, n: int) -> Benchmark:
    def setup() -> Callable[[], Any]:
        rng = np.random.default_rng(0)
        a, b = _rand((n, n), np_dtype, rng), _rand((n, n), np_dtype, rng)
        out = np.empty((n, n), np_dtype)
        return lambda: np.matmul(a, b, out=out)

    return Benchmark(f"matrix.{dtype}", "numpy", f"matmul {dtype} {n}x{n}x{n}", 2.0 * n**3, setup)


def _np_copy(n: int) -> Benchmark:
    def setup() -> Callable[[], Any]:
        src = np.ones(n, np.float32)
        dst = np.empty_like(src)
        return lambda: np.copyto(dst, src)

    mib = n * 4 // 2**20
    what = f"copy {mib} MiB (1 thread)"
    return Benchmark("memory_bandwidth_Bps", "numpy", what, 2.0 * 4 * n, setup)


# ------------------------------------------------------------------------------------ the host


def host_info() -> dict[str, Any]:
    """CPU name and vendor, logical CPUs, physical memory, last-level cache (None if unknown)."""
    cpu, vendor = _cpu_name()
    return {
        "cpu": cpu,
        "vendor": vendor,
        "logical_cpus": os.cpu_count() or 1,
        "memory_bytes": _physical_memory(),
        "llc_bytes": _last_level_cache(),
        "platform": platform.platform(),
    }


def _cpu_name() -> tuple[str, str]:
    name, vendor = "", ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and not name:
                    name = value
                elif key == "vendor_id" and not vendor:
                    vendor = value
                if name and vendor:
                    break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "this host"
    vendor = {"GenuineIntel": "Intel", "AuthenticAMD": "AMD"}.get(vendor, vendor)
    return " ".join(name.split()), vendor


def _physical_memory() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 2**30  # unknown: a placeholder that passes validation; the note says so


def _last_level_cache() -> int | None:
    """Total bytes of the highest cache level, counting each shared instance once (Linux sysfs)."""
    root = Path("/sys/devices/system/cpu")
    seen: dict[tuple[int, str], int] = {}
    try:
        for idx in root.glob("cpu[0-9]*/cache/index[0-9]*"):
            if (idx / "type").read_text().strip() == "Instruction":
                continue
            level = int((idx / "level").read_text())
            shared = (idx / "shared_cpu_list").read_text().strip()
            size = _cache_size((idx / "size").read_text().strip())
            if size:
                seen[(level, shared)] = size
    except (OSError, ValueError):
        return None
    if not seen:
        return None
    top = max(level for level, _ in seen)
    return sum(size for (level, _), size in seen.items() if level == top)


def _cache_size(text: str) -> int:
    scale = {"K": 1024, "M": 2**20, "G": 2**30}.get(text[-1:].upper(), 1)
    digits = text[:-1] if scale != 1 else text
    return int(digits) * scale


# ---------------------------------------------------------------------------------- spec files


def write_spec(spec: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write the device table as TOML (or JSON for a .json path), loadable with `--hw PATH`."""
    p = Path(path)
    if p.suffix.lower() in (".yaml", ".yml"):
        raise OnnxCostError(f"{p}: write the spec as .toml or .json (both load with --hw)")
    text = json.dumps(spec, indent=2) + "\n" if p.suffix.lower() == ".json" else to_toml(spec)
    try:
        p.write_text(text, encoding="utf-8")
    except OSError as e:
        raise OnnxCostError(f"cannot write {p}: {e.strerror or e}") from None


def to_toml(spec: dict[str, Any]) -> str:
    """The spec as TOML: scalars and lists first, then one table per dict field."""
    lines = [
        "# Device spec written by `onnxcost hw calibrate`: measured on this host, not a datasheet.",
        "# Use it with `onnxcost analyze MODEL --hw THIS_FILE` or `onnxcost measure MODEL --hw ...`.",
    ]
    tables = []
    for key, value in spec.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, table in tables:
        lines += ["", f"[{key}]"]
        lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.6e}"
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(v, list):
        if not v:
            return "[]"
        return "[\n" + "".join(f"  {_toml_value(x)},\n" for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def format_rate(v: float, unit: str = "ops/s") -> str:
    """34.1e9 -> '34.1 Gops/s' (three significant digits: the repeats disagree beyond that)."""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= scale:
            return f"{v / scale:.3g} {prefix}{unit}"
    return f"{v:.3g} {unit}"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


__all__ = [
    "Benchmark",
    "Calibration",
    "Sample",
    "calibrate",
    "format_rate",
    "host_info",
    "plan",
    "run",
    "summarize",
    "to_toml",
    "write_spec",
]
