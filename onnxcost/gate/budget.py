"""Budgets: which cost limits a model must stay within, from CLI flags or a TOML budget file.

A budget file holds limits that apply to every model (top-level keys) and per-model tables
that add to or override them:

    max_peak_memory = "256MiB"      # every model
    hw = "a100"

    [models.resnet]
    path = "models/resnet50.onnx"   # relative to the budget file
    max_macs = "5G"
    max_latency = "2ms"
    dims = { batch = 1 }

Unknown keys, wrong types and bad quantities are errors naming the file, the table and the key.
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onnxcost.errors import OnnxCostError
from onnxcost.units import MAX_DIM, parse_quantity


@dataclass(frozen=True)
class Metric:
    name: str  # budget/gate name: max_<name> in files, --max-<name> on the command line
    total_key: str  # key in the report's "totals" (the JSON contract)
    kind: str  # quantity kind for units.parse_quantity
    label: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("macs", "macs", "count", "MACs"),
        Metric("flops", "flops", "count", "FLOPs"),
        Metric("params", "params", "count", "parameters"),
        Metric("weight_bytes", "weight_bytes", "bytes", "weight bytes"),
        Metric("peak_memory", "peak_memory_bytes", "bytes", "peak memory"),
        Metric("peak_activations", "activations_peak_bytes", "bytes", "peak activations"),
        Metric("memory_traffic", "memory_traffic_bytes", "bytes", "memory traffic"),
        Metric("latency", "latency_s", "seconds", "latency"),
    )
}


def metric(name: str) -> Metric:
    """Look a metric up by name ('-' and '_' alike), or raise a one-line error with suggestions."""
    key = name.strip().lower().replace("-", "_")
    if key in METRICS:
        return METRICS[key]
    raise OnnxCostError(f"unknown metric {name!r}{_did_you_mean(key, METRICS)}")


def _did_you_mean(key: str, known: Any) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (known: {', '.join(known)})"


@dataclass(frozen=True)
class Limit:
    metric: str
    value: int | float
    text: str  # as the user wrote it, e.g. '256MiB'
    source: str  # where it came from, e.g. '--max-macs' or 'budget.toml [models.resnet]'


@dataclass
class Budget:
    """Limits and the settings that go with them. None means 'not set here' so layers can merge."""

    limits: dict[str, Limit] = field(default_factory=dict)
    hw: str | None = None
    allow_uncounted: bool | None = None
    dims: dict[str, int] = field(default_factory=dict)
    input_shapes: dict[str, list[int]] = field(default_factory=dict)

    def merged(self, over: Budget) -> Budget:
        """This budget with everything `over` sets taking precedence."""
        limits = {**self.limits, **over.limits}
        return Budget(
            limits={name: limits[name] for name in METRICS if name in limits},
            hw=over.hw if over.hw is not None else self.hw,
            allow_uncounted=(
                over.allow_uncounted if over.allow_uncounted is not None else self.allow_uncounted
            ),
            dims={**self.dims, **over.dims},
            input_shapes={**self.input_shapes, **over.input_shapes},
        )


def limit(metric_name: str, text: str | float, source: str) -> Limit:
    """Parse one limit value ('5G', '256MiB', '2ms', or a number) for a metric."""
    m = metric(metric_name)
    try:
        value = parse_quantity(text, m.kind)
    except OnnxCostError as e:
        raise OnnxCostError(f"{source}: {e}") from None
    return Limit(m.name, value, str(text), source)


def from_options(max_values: dict[str, str | None], **settings: Any) -> Budget:
    """Budget from CLI flags: {'macs': '5G', 'flops': None, ...} -> limits for the ones given."""
    limits = {
        name: limit(name, text, f"--max-{name.replace('_', '-')}")
        for name, text in max_values.items()
        if text is not None
    }
    return Budget(limits=limits, **settings)


# --- Budget files --------------------------------------------------------------------------

_SETTINGS = ("hw", "allow_uncounted", "dims", "input_shapes")
_LIMIT_KEYS = tuple(f"max_{name}" for name in METRICS)


@dataclass
class ModelBudget:
    name: str
    path: Path | None  # resolved against the budget file's folder
    budget: Budget


@dataclass
class BudgetFile:
    path: Path
    defaults: Budget
    models: list[ModelBudget]

    def find(self, model: str | Path) -> ModelBudget | None:
        """The entry for a model file: same file as its `path`, or (entries without a path)
        the same name as the file name or its stem."""
        target = Path(model)
        for entry in self.models:
            if entry.path is not None and _same_file(entry.path, target):
                return entry
        for entry in self.models:
            if entry.path is None and entry.name in (
                target.name,
                target.stem,
                str(model),
            ):
                return entry
        return None

    def budget_for(self, model: str | Path) -> Budget:
        """Defaults merged with the model's entry. A model with no entry gets the defaults,
        unless they hold no limit at all: then it is an error (a gate with nothing to check)."""
        entry = self.find(model)
        if entry is not None:
            return self.defaults.merged(entry.budget)
        if not self.defaults.limits:
            names = ", ".join(e.name for e in self.models) or "none"
            raise OnnxCostError(
                f"budget file {self.path}: no entry for model {str(model)!r} and no top-level "
                f"limits (models: {names})"
            )
        return self.defaults


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


MAX_BUDGET_BYTES = 1 << 20


def load(path: str | Path) -> BudgetFile:
    """Read and validate a TOML budget file."""
    from onnxcost.model.loader import read_file  # late: the loader imports onnx

    path = Path(path)
    try:
        # a regular file only (a FIFO would block), and a budget file is small
        data = tomllib.loads(read_file(path, MAX_BUDGET_BYTES, "budget file").decode("utf-8"))
    except OnnxCostError as e:  # "PATH: no such file", "PATH: is a FIFO ...": it cannot be read
        raise OnnxCostError(
            f"budget file {path}: cannot read it ({str(e).split(': ', 1)[-1]})"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise OnnxCostError(f"budget file {path}: malformed TOML: {e}") from None
    except UnicodeDecodeError:
        raise OnnxCostError(f"budget file {path}: not UTF-8 text") from None
    return parse(data, path)


def parse(data: dict[str, Any], path: str | Path = "<budget>") -> BudgetFile:
    """Validate an already-decoded budget document (see module docstring for the layout)."""
    path = Path(path)
    top = {k: v for k, v in data.items() if k != "models"}
    defaults = _budget(top, path, "top level", allowed=_LIMIT_KEYS + _SETTINGS + ("models",))
    models_table = data.get("models", {})
    if not isinstance(models_table, dict):
        raise OnnxCostError(f"budget file {path}: 'models' must be a table: [models.NAME]")
    models = []
    for name, table in models_table.items():
        where = f"[models.{name}]"
        if not isinstance(table, dict):
            raise OnnxCostError(f"budget file {path}: {where} must be a table of keys")
        body = {k: v for k, v in table.items() if k != "path"}
        budget = _budget(body, path, where, allowed=_LIMIT_KEYS + _SETTINGS + ("path",))
        model_path = None
        if "path" in table:
            if not isinstance(table["path"], str) or not table["path"]:
                raise OnnxCostError(f"budget file {path}: {where} path must be a non-empty string")
            model_path = path.parent / table["path"]
        models.append(ModelBudget(name, model_path, budget))
    return BudgetFile(path, defaults, models)


def _budget(table: dict[str, Any], path: Path, where: str, allowed: tuple[str, ...]) -> Budget:
    def fail(msg: str) -> OnnxCostError:
        return OnnxCostError(f"budget file {path}: {where}: {msg}")

    budget = Budget()
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key not in _LIMIT_KEYS + _SETTINGS:
            raise fail(f"unknown key {raw_key!r}{_did_you_mean(key, allowed)}")
        if key in _LIMIT_KEYS:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise fail(f'{raw_key} must be a quantity such as "5G" or a number')
            name = key.removeprefix("max_")
            budget.limits[name] = limit(name, value, f"{path.name} {where} {raw_key}")
        elif key == "hw":
            if not isinstance(value, str) or not value:
                raise fail('hw must be a device name string, e.g. "a100"')
            budget.hw = value
        elif key == "allow_uncounted":
            if not isinstance(value, bool):
                raise fail("allow_uncounted must be true or false")
            budget.allow_uncounted = value
        elif key == "dims":
            budget.dims = _dims(value, fail)
        else:
            budget.input_shapes = _input_shapes(value, fail)
    return budget


def _dims(value: Any, fail: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise fail("dims must be a table, e.g. dims = { batch = 1 }")
    for name, n in value.items():
        # 0 is a real size (an empty past key/value cache), as with --dim.
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_DIM:
            raise fail(f"dims.{name} must be an integer >= 0 (at most 2**63-1), not {n!r}")
    return dict(value)


def _input_shapes(value: Any, fail: Any) -> dict[str, list[int]]:
    if not isinstance(value, dict):
        raise fail("input_shapes must be a table, e.g. input_shapes = { input = [1, 3, 224, 224] }")
    shapes = {}
    for name, shape in value.items():
        if isinstance(shape, str):
            shape = [s.strip() for s in shape.replace(",", "x").split("x")]
            shape = [int(s) if s.isascii() and s.isdigit() else s for s in shape]
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= MAX_DIM for d in shape
        ):
            raise fail(
                f"input_shapes.{name} must be a list of integers >= 0 (at most 2**63-1), "
                "e.g. [1, 3, 224]"
            )
        shapes[name] = list(shape)
    return shapes
