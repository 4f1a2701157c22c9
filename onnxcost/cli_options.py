"""Options shared by every command that analyses a model: `--dim` and `--input-shape`.

Kept apart from cli.py so the gate commands (cli_gate.py) and the main group can both import
them without importing each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from .errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])

_SHAPE_SEP = re.compile(r"[x,]")


def _split_pair(text: str, option: str, example: str) -> tuple[str, str]:
    # rpartition: tensor names may themselves contain '=' or ':' (e.g. TF's 'input:0').
    name, eq, value = text.rpartition("=")
    name, value = name.strip(), value.strip()
    if not eq or not name or not value:
        raise UsageError(f"{option} {text!r}: expected NAME=VALUE, e.g. {example}")
    return name, value


def _positive_int(text: str, what: str) -> int:
    try:
        n = int(text.replace("_", ""))
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an integer") from None
    if n < 1:
        raise UsageError(f"{what}: {n} is not a positive size")
    return n


def parse_dims(values: Iterable[str]) -> dict[str, int]:
    """['batch=1', 'seq=128,heads=8'] -> {'batch': 1, 'seq': 128, 'heads': 8}."""
    dims: dict[str, int] = {}
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue
            name, size = _split_pair(item, "--dim", "batch=1")
            n = _positive_int(size, f"--dim {name}")
            if dims.get(name, n) != n:
                raise UsageError(f"--dim {name} given twice ({dims[name]} and {n})")
            dims[name] = n
    return dims


def parse_input_shapes(values: Iterable[str]) -> dict[str, list[int]]:
    """['input=1x3x224x224'] -> {'input': [1, 3, 224, 224]}; ',' also separates dims."""
    shapes: dict[str, list[int]] = {}
    for value in values:
        name, text = _split_pair(value, "--input-shape", "input=1x3x224x224")
        shape = [_positive_int(d.strip(), f"--input-shape {name}") for d in _SHAPE_SEP.split(text)]
        if shapes.get(name, shape) != shape:
            raise UsageError(f"--input-shape {name} given twice ({shapes[name]} and {shape})")
        shapes[name] = shape
    return shapes


def _callback(parse: Callable[[Iterable[str]], Any]) -> Callable[..., Any]:
    def convert(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
        try:
            return parse(values)
        except UsageError as e:
            # click reports it as a usage error: one line on stderr, exit code 2.
            raise click.BadParameter(str(e), ctx=ctx, param=param) from None

    return convert


def model_options(f: F) -> F:
    """Add `--dim NAME=VALUE` and `--input-shape NAME=DIMS`, passed as `dims` and `input_shapes`
    (dicts, empty when not given)."""
    f = click.option(
        "--input-shape",
        "input_shapes",
        multiple=True,
        metavar="NAME=DIMS",
        callback=_callback(parse_input_shapes),
        help="Override a graph input's shape, e.g. input=1x3x224x224 (repeatable).",
    )(f)
    f = click.option(
        "--dim",
        "dims",
        multiple=True,
        metavar="NAME=VALUE",
        callback=_callback(parse_dims),
        help="Bind a symbolic dim, e.g. batch=1 (repeatable; comma-separated allowed).",
    )(f)
    return f
