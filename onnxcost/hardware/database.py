"""Device specs: what a device computes and moves per second, from the built-in database or a file.

The built-in database is `onnxcost/hardware/data/hardware.toml` (data, not code: each figure carries its
source there). A user's own device is a TOML, JSON or YAML file with the same fields.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from onnxcost.errors import OnnxCostError

KINDS = ("gpu", "cpu", "npu", "tpu")
UNITS = ("matrix", "vector")
# Spec keys for peak throughput, widest first within each family.
DTYPE_KEYS = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int32", "int8", "int4")

_FIELDS = (
    "name",
    "aliases",
    "vendor",
    "kind",
    "memory_bandwidth_Bps",
    "memory_bytes",
    "sram_bytes",
    "matrix",
    "vector",
    "sources",
    "notes",
)
_SCALARS = ("memory_bandwidth_Bps", "memory_bytes", "sram_bytes")

# onnxcost dtype names (dtypes.name()) -> spec keys. Integer types use the integer peaks.
_DTYPE_TO_KEY = {
    "float64": "fp64",
    "double": "fp64",
    "complex128": "fp64",
    "float32": "fp32",
    "float": "fp32",
    "complex64": "fp32",
    "tf32": "tf32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float8e4m3fn": "fp8",
    "float8e4m3fnuz": "fp8",
    "float8e5m2": "fp8",
    "float8e5m2fnuz": "fp8",
    "float8e8m0": "fp8",
    "float4e2m1": "fp4",
    "int64": "int32",
    "uint64": "int32",
    "int32": "int32",
    "uint32": "int32",
    "int16": "int32",
    "uint16": "int32",
    "int8": "int8",
    "uint8": "int8",
    "bool": "int8",
    "int4": "int4",
    "uint4": "int4",
    "int2": "int4",
    "uint2": "int4",
}

# Where a device lacks a dtype, the next wider one is used (it can always do the work, slower).
_WIDER = {
    "fp64": ("fp64",),
    "fp32": ("fp32", "fp64"),
    "tf32": ("tf32", "fp32", "fp64"),
    "bf16": ("bf16", "fp32", "fp64"),
    "fp16": ("fp16", "fp32", "fp64"),
    "fp8": ("fp8", "fp16", "fp32", "fp64"),
    "fp4": ("fp4", "fp8", "fp16", "fp32", "fp64"),
    "int32": ("int32", "fp32", "fp64"),
    "int8": ("int8", "fp16", "fp32", "fp64"),
    "int4": ("int4", "int8", "fp16", "fp32", "fp64"),
}
# Last resort when nothing wider exists (e.g. fp32 on a TPU that lists only bf16): the closest
# narrower figure, flagged as optimistic.
_NARROWER_ORDER = ("fp32", "tf32", "bf16", "fp16", "int32", "fp8", "int8", "fp4", "int4")

# Plausibility bounds: a figure outside them is almost always a unit slip (TFLOPS for FLOP/s, GB
# for bytes).
_PEAK_RANGE = (1e6, 1e19)  # ops/s: a microcontroller to ~10 exa-ops/s
_BW_RANGE = (1e6, 1e15)  # bytes/s
_MEM_RANGE = (1024, 1e15)  # bytes
_MAX_SPEC_FILE_BYTES = 1_000_000


@dataclass(frozen=True)
class PeakChoice:
    """The peak a piece of work runs at: the figure used, and why if it is not the one asked."""

    ops_per_s: float
    dtype: str  # spec key actually used (fp16, int8, ...)
    unit: str  # unit actually used (matrix | vector)
    note: str | None = None  # set when a fallback was needed


@dataclass(frozen=True)
class HardwareSpec:
    key: str
    name: str
    kind: str
    memory_bandwidth_Bps: float
    memory_bytes: int
    matrix: dict[str, float] = field(default_factory=dict)
    vector: dict[str, float] = field(default_factory=dict)
    vendor: str = ""
    sram_bytes: int | None = None
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    sources: dict[str, str] = field(default_factory=dict)
    origin: str = "builtin"  # "builtin" or the path of the user's file

    def resolve(self, dtype: str, unit: str = "vector") -> PeakChoice:
        """The peak for work of `dtype` (an onnxcost dtype name or a spec key) on `unit`.

        Order tried: the asked unit along the widening chain of the dtype (for matrix work, the
        vector figure of each dtype before the next wider dtype); for vector work with no vector
        figure, the matrix units; last, the closest narrower dtype (optimistic, said so).
        """
        if unit not in UNITS:
            raise OnnxCostError(f"unit must be one of {', '.join(UNITS)}, not {unit!r}")
        key = dtype_key(dtype)
        unknown = key is None
        if key is None:
            key = "fp32"
        wider = _WIDER[key]
        tries: list[tuple[str, str]] = []
        for k in wider:
            tries.append((unit, k))
            if unit == "matrix":
                tries.append(("vector", k))
        if unit == "vector":
            tries += [("matrix", k) for k in wider]
        n_safe = len(tries)
        for k in _NARROWER_ORDER:
            if k not in wider:
                tries += [(unit, k), (_other(unit), k)]
        for i, (u, k) in enumerate(tries):
            value = (self.matrix if u == "matrix" else self.vector).get(k)
            if value is None:
                continue
            note = None
            if unknown:
                note = f"dtype {dtype!r} has no peak mapping: assumed fp32; used {u} {k}"
            elif (u, k) != (unit, key):
                note = f"{dtype} {unit} work: {self.name} lists no {unit} {key} peak; used {u} {k}"
                if i >= n_safe:
                    note += " (not a wider type: optimistic)"
            return PeakChoice(value, k, u, note)
        raise OnnxCostError(f"device {self.key!r} has no peak throughput figure at all")

    def peak(self, dtype: str, unit: str = "vector") -> tuple[float, str, str | None]:
        """(ops/s, spec dtype key used, fallback note or None) for `dtype` work on `unit`."""
        c = self.resolve(dtype, unit)
        return c.ops_per_s, c.dtype, c.note

    def ridge_point(self, dtype: str, unit: str = "matrix") -> float:
        """FLOPs per byte of memory traffic at which this peak and the bandwidth meet."""
        return self.resolve(dtype, unit).ops_per_s / self.memory_bandwidth_Bps

    def figures(self) -> list[str]:
        """Names of every figure the spec gives: scalars, then `matrix.<dtype>`, `vector.<dtype>`."""
        names = [f for f in _SCALARS if getattr(self, f) is not None]
        names += [f"matrix.{k}" for k in self.matrix] + [f"vector.{k}" for k in self.vector]
        return names

    def source(self, figure: str) -> str | None:
        """Where a figure comes from: its own source entry, else its unit table's."""
        if figure in self.sources:
            return self.sources[figure]
        return self.sources.get(figure.split(".", 1)[0]) if "." in figure else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "aliases": list(self.aliases),
            "vendor": self.vendor,
            "kind": self.kind,
            "memory_bandwidth_Bps": self.memory_bandwidth_Bps,
            "memory_bytes": self.memory_bytes,
            "sram_bytes": self.sram_bytes,
            "matrix": dict(self.matrix),
            "vector": dict(self.vector),
            "notes": list(self.notes),
            "sources": {f: self.source(f) for f in self.figures()},
            "origin": self.origin,
        }


def dtype_key(dtype: str) -> str | None:
    """Spec key for an onnxcost dtype name or a spec key; None when unknown."""
    d = dtype.lower()
    return d if d in _WIDER else _DTYPE_TO_KEY.get(d)


def _other(unit: str) -> str:
    return "vector" if unit == "matrix" else "matrix"


# ------------------------------------------------------------------------------------------ loading


@lru_cache(maxsize=1)
def _builtin() -> dict[str, HardwareSpec]:
    text = resources.files("onnxcost.hardware").joinpath("data", "hardware.toml").read_text("utf-8")
    data = tomllib.loads(text)
    return {key: from_dict(key, table, "builtin") for key, table in data.items()}


def load_builtin() -> dict[str, HardwareSpec]:
    """The built-in devices by key, in database order."""
    return dict(_builtin())


def get(name_or_path: str | os.PathLike[str]) -> HardwareSpec:
    """A device by key, alias or full name (case-insensitive), or from a spec file."""
    text = os.fspath(name_or_path)
    if _looks_like_path(text):
        return load_file(text)
    specs = _builtin()
    index = _name_index(specs)
    hit = index.get(_norm(text))
    if hit is not None:
        return specs[hit]
    close = difflib.get_close_matches(_norm(text), sorted(index), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise OnnxCostError(
        f"unknown device {text!r}{hint} (`onnxcost hw list` shows them all; "
        "or give a .toml/.json/.yaml spec file)"
    )


def _looks_like_path(text: str) -> bool:
    # Not "any existing file": a stray file named like a device must not shadow the database.
    return (
        text.lower().endswith((".toml", ".json", ".yaml", ".yml")) or os.sep in text or "/" in text
    )


def _norm(s: str) -> str:
    return re.sub(r"[\s_]+", "-", s.strip().lower())


def _name_index(specs: dict[str, HardwareSpec]) -> dict[str, str]:
    index: dict[str, str] = {}
    for key, spec in specs.items():
        for n in (key, *spec.aliases, spec.name):
            index.setdefault(_norm(n), key)
    return index


def load_file(path: str | os.PathLike[str]) -> HardwareSpec:
    """Read one device from a TOML, JSON or YAML spec file (fields as in the built-in database)."""
    from onnxcost.model.loader import read_file  # late: the loader imports onnx

    p = Path(path)
    if not os.path.lexists(p):
        raise OnnxCostError(f"device spec file {str(p)!r} not found")
    suffix = p.suffix.lower()
    # a regular file only (a FIFO would block); over 1 MB it is not a device spec
    raw = bytes(read_file(p, _MAX_SPEC_FILE_BYTES, "device spec file"))
    try:
        if suffix == ".json":
            data = json.loads(raw)
        elif suffix in (".yaml", ".yml"):
            data = _load_yaml(raw, p)
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except OnnxCostError:
        raise
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError and TOMLDecodeError included
        kind = {".json": "JSON", ".yaml": "YAML", ".yml": "YAML"}.get(suffix, "TOML")
        raise OnnxCostError(f"{p}: not valid {kind}: {e}") from None
    if not isinstance(data, dict):
        raise OnnxCostError(f"{p}: a device spec must be a table of fields (name, kind, ...)")
    if "name" in data:
        return from_dict(_norm(p.stem), data, str(p))
    tables = [(k, v) for k, v in data.items() if isinstance(v, dict)]
    if len(tables) == 1 and len(data) == 1:
        return from_dict(tables[0][0], tables[0][1], str(p))
    raise OnnxCostError(
        f"{p}: expected one device (top-level fields name, kind, memory_bandwidth_Bps, ...)"
        + (f", found {len(tables)} device tables" if tables else ", found no 'name' field")
    )


def _load_yaml(raw: bytes, p: Path) -> Any:
    try:
        import yaml  # optional: only for YAML spec files
    except ImportError:
        raise OnnxCostError(
            f"{p}: reading a YAML device spec needs PyYAML (pip install pyyaml); "
            "TOML and JSON need nothing extra"
        ) from None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise OnnxCostError(f"{p}: not valid YAML: {e}") from None


# --------------------------------------------------------------------------------------- validation


def from_dict(key: str, data: dict[str, Any], origin: str = "builtin") -> HardwareSpec:
    """Validate a device table and build its spec; every problem is one clear OnnxCostError."""
    where = f"{origin}: device {key!r}" if origin != "builtin" else f"hardware database: {key!r}"

    def fail(msg: str) -> OnnxCostError:
        return OnnxCostError(f"{where}: {msg}")

    if not isinstance(data, dict):
        raise fail("must be a table of fields")
    for k in data:
        if k not in _FIELDS:
            close = difflib.get_close_matches(str(k), _FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise fail(f"unknown field {k!r}{hint}; fields: {', '.join(_FIELDS)}")
    for required in ("name", "kind", "memory_bandwidth_Bps", "memory_bytes"):
        if required not in data:
            raise fail(f"missing field {required!r}")

    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise fail("name must be a non-empty string")
    kind = data["kind"]
    if kind not in KINDS:
        raise fail(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    vendor = data.get("vendor", "")
    if not isinstance(vendor, str):
        raise fail("vendor must be a string")

    bandwidth = _number(data["memory_bandwidth_Bps"], "memory_bandwidth_Bps", _BW_RANGE, fail)
    mem = _number(data["memory_bytes"], "memory_bytes", _MEM_RANGE, fail)
    sram = None
    if data.get("sram_bytes") is not None:
        sram = _number(data["sram_bytes"], "sram_bytes", (0, _MEM_RANGE[1]), fail)
        if sram > mem:
            raise fail(f"sram_bytes ({sram:g}) is larger than memory_bytes ({mem:g})")

    units: dict[str, dict[str, float]] = {}
    for unit in UNITS:
        table = data.get(unit, {})
        if not isinstance(table, dict):
            raise fail(f"{unit} must be a table of dtype = ops/s (e.g. fp16 = 989e12)")
        peaks: dict[str, float] = {}
        for dt, v in table.items():
            if dt not in DTYPE_KEYS:
                mapped = _DTYPE_TO_KEY.get(str(dt).lower())
                close = [mapped] if mapped else difflib.get_close_matches(str(dt), DTYPE_KEYS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise fail(f"{unit}: unknown dtype {dt!r}{hint}; dtypes: {', '.join(DTYPE_KEYS)}")
            peaks[dt] = _number(v, f"{unit}.{dt}", _PEAK_RANGE, fail)
        units[unit] = peaks
    if not units["matrix"] and not units["vector"]:
        raise fail("no peak throughput: give at least one figure under matrix or vector")

    aliases = data.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise fail("aliases must be a list of non-empty strings")
    notes = data.get("notes", [])
    if isinstance(notes, str):
        notes = [notes]
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise fail("notes must be a string or a list of strings")

    sources = data.get("sources", {})
    if not isinstance(sources, dict) or not all(isinstance(v, str) for v in sources.values()):
        raise fail("sources must be a table of figure = text")
    known = {f for f in _SCALARS if data.get(f) is not None} | {
        f"{u}.{k}" for u in UNITS for k in units[u]
    }
    known |= {u for u in UNITS if units[u]}
    for k in sources:
        if k not in known:
            raise fail(
                f"sources: {k!r} names no figure of this device (figures: {', '.join(sorted(known))})"
            )

    return HardwareSpec(
        key=key,
        name=name.strip(),
        kind=kind,
        memory_bandwidth_Bps=float(bandwidth),
        memory_bytes=int(mem),
        matrix=units["matrix"],
        vector=units["vector"],
        vendor=vendor,
        sram_bytes=None if sram is None else int(sram),
        aliases=tuple(aliases),
        notes=tuple(notes),
        sources=dict(sources),
        origin=origin,
    )


def _number(value: Any, field_name: str, bounds: tuple[float, float], fail: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"{field_name} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise fail(f"{field_name} must be finite, got {value!r}")
    lo, hi = bounds
    if v < 0 or (v == 0 and lo > 0):
        raise fail(f"{field_name} must be > 0, got {value!r}")
    if v < lo:
        unit = (
            "bytes/s"
            if field_name.endswith("Bps")
            else "bytes"
            if "bytes" in field_name
            else "ops/s"
        )
        raise fail(
            f"{field_name} = {value!r} is implausibly small: give plain {unit} "
            "(e.g. 989e12, not 989 for 989 TFLOPS; 3.35e12, not 3.35 for 3.35 TB/s)"
        )
    if v > hi:
        raise fail(f"{field_name} = {value!r} is implausibly large (more than {hi:g})")
    return v


__all__ = [
    "DTYPE_KEYS",
    "KINDS",
    "UNITS",
    "HardwareSpec",
    "PeakChoice",
    "dtype_key",
    "from_dict",
    "get",
    "load_builtin",
    "load_file",
]
