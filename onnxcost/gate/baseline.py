"""A saved report (`onnxcost analyze --format json`), read back as a baseline for `diff` and
`check`: checked against the structure README's "JSON output" documents before anything uses it.

A baseline is a file in the repository, so anyone who can open a pull request can write one.
Every field `check` and `diff` read is checked for its type here, so a malformed one is a one-line
error (exit 2) naming the field, never a TypeError deep in the comparison. Non-finite times are
written as the strings "inf"/"-inf"/"nan" (strict JSON has no infinity) and read back as floats.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from onnxcost.errors import ModelError
from onnxcost.gate.budget import METRICS
from onnxcost.model.loader import read_file

MAX_REPORT_BYTES = 1 << 30
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_COUNTS = ("uncounted_nodes", "unresolved_nodes", "nodes")
_NODE_NUMBERS = ("macs", "flops", "memory_traffic_bytes")
_OP_NUMBERS = ("count", "macs", "flops", "memory_traffic_bytes")


class _Bad(Exception):
    pass


def load(path: Path) -> dict[str, Any]:
    """The validated report saved at `path`; ModelError (exit 2) when it is not one."""
    raw = read_file(path, MAX_REPORT_BYTES, "onnxcost JSON report")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError, and ints past the digit cap
        raise ModelError(f"{path}: not a readable JSON report ({e})") from None
    except RecursionError:
        raise ModelError(f"{path}: not a readable JSON report (nested too deeply)") from None
    return validate(data, str(path))


def validate(data: Any, where: str) -> dict[str, Any]:
    try:
        _check(data)
    except _Bad as e:
        raise ModelError(f"{where}: not an onnxcost JSON report: {e}") from None
    return data


def _number(value: Any, field: str, optional: bool = True) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(f"{field} must be a number, not {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _objects(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = data.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise _Bad(f"'{key}' must be a list, not {_kind(items)}")
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _Bad(f"{key}[{i}] must be an object, not {_kind(item)}")
    return items


def _string(obj: dict[str, Any], key: str, where: str, optional: bool = True) -> None:
    value = obj.get(key)
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise _Bad(f"{where}.{key} must be a string, not {_kind(value)}")


def _shape(value: Any, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(
        d is None or isinstance(d, str) or (isinstance(d, int) and not isinstance(d, bool))
        for d in value
    ):
        raise _Bad(f"{where} must be a list of dims (integers, names or null)")


def _check(data: Any) -> None:
    if not isinstance(data, dict):
        raise _Bad(f"the document must be an object, not {_kind(data)}")
    totals = data.get("totals")
    if not isinstance(totals, dict):
        raise _Bad("no 'totals' object")
    for key in (*(m.total_key for m in METRICS.values()), *_COUNTS):
        if key in totals:
            totals[key] = _number(totals[key], f"totals.{key}")
    if not isinstance(totals.get("lower_bound", False), (bool, type(None))):
        raise _Bad("totals.lower_bound must be true or false")
    for i, t in enumerate(_objects(data, "inputs")):
        _string(t, "name", f"inputs[{i}]")
        _shape(t.get("shape"), f"inputs[{i}].shape")
    for i, u in enumerate(_objects(data, "unresolved")):
        _string(u, "node", f"unresolved[{i}]")
    for i, n in enumerate(_objects(data, "nodes")):
        where = f"nodes[{i}]"
        for key in ("name", "op_type", "domain"):
            _string(n, key, where)
        for key in _NODE_NUMBERS:
            if key in n:
                n[key] = _number(n[key], f"{where}.{key}", optional=False)
        shapes = n.get("output_shapes")
        if shapes is not None:
            if not isinstance(shapes, list):
                raise _Bad(f"{where}.output_shapes must be a list")
            for k, s in enumerate(shapes):
                _shape(s, f"{where}.output_shapes[{k}]")
    for i, o in enumerate(_objects(data, "op_types")):
        where = f"op_types[{i}]"
        _string(o, "op_type", where, optional=False)
        _string(o, "domain", where)
        for key in _OP_NUMBERS:
            if key in o:
                o[key] = _number(o[key], f"{where}.{key}", optional=False)
