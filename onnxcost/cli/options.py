"""Command-line plumbing shared by every command: `--dim`, `--input-shape`, `--input-value`, and the group that
turns errors into one line and an exit code.

Kept apart from cli.py so the gate commands (cli_gate.py) and the main group can both import
them without importing each other.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    import numpy as np

from onnxcost.errors import OnnxCostError, UsageError
from onnxcost.report import sanitize
from onnxcost.units import MAX_DIM

F = TypeVar("F", bound=Callable[..., Any])

_SHAPE_SEP = re.compile(r"[x,]")


def _split_pair(text: str, option: str, example: str) -> tuple[str, str]:
    # rpartition: tensor names may themselves contain '=' or ':' (e.g. TF's 'input:0').
    name, eq, value = text.rpartition("=")
    name, value = name.strip(), value.strip()
    if not eq or not name or not value:
        raise UsageError(f"{option} {text!r}: expected NAME=VALUE, e.g. {example}")
    return name, value


def _size(text: str, what: str) -> int:
    try:
        n = int(text.replace("_", ""))
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not an integer") from None
    if n < 0:
        raise UsageError(f"{what}: {n} is negative")  # 0 is valid: an empty KV cache, say
    if n > MAX_DIM:
        raise UsageError(f"{what}: {n} is past the largest ONNX dim (2**63-1)")
    return n


class DimRange(list):
    """`--dim seq=1..8192`: every value from lo to hi (kept as its two ends)."""

    def __init__(self, lo: int, hi: int) -> None:
        super().__init__([lo, hi])
        self.lo, self.hi = lo, hi


def parse_dim_values(values: Iterable[str]) -> dict[str, list[int]]:
    """['batch=1,8,64', 'seq=128', 'past=1..8192'] -> {'batch': [1, 8, 64], 'seq': [128],
    'past': DimRange(1, 8192)} (one dim per --dim)."""
    dims: dict[str, list[int]] = {}
    for value in values:
        name, text = _split_pair(value, "--dim", "batch=1")
        if ".." in text:
            lo, _, hi = text.partition("..")
            a, b = _size(lo.strip(), f"--dim {name}"), _size(hi.strip(), f"--dim {name}")
            if not 1 <= a <= b:
                raise UsageError(f"--dim {name}={text}: a range is LO..HI with 1 <= LO <= HI")
            dims[name] = DimRange(a, b)
            continue
        sizes = [_size(v.strip(), f"--dim {name}") for v in text.split(",")]
        if dims.get(name, sizes) != sizes:
            raise UsageError(f"--dim {name} given twice ({dims[name]} and {sizes})")
        dims[name] = sizes
    return dims


def parse_dims(values: Iterable[str]) -> dict[str, int]:
    """['batch=1', 'seq=128'] -> {'batch': 1, 'seq': 128}; a list of values is refused."""
    dims: dict[str, int] = {}
    for name, sizes in parse_dim_values(values).items():
        if len(sizes) != 1 or isinstance(sizes, DimRange):
            raise UsageError(
                f"--dim {name}: one value expected here (lists like {name}=1,8,64 are for "
                "`onnxcost analyze`, which then shows how costs scale)"
            )
        dims[name] = sizes[0]
    return dims


def parse_input_shapes(values: Iterable[str]) -> dict[str, list[int]]:
    """['input=1x3x224x224'] -> {'input': [1, 3, 224, 224]}; ',' also separates dims."""
    shapes: dict[str, list[int]] = {}
    for value in values:
        name, text = _split_pair(value, "--input-shape", "input=1x3x224x224")
        shape = [_size(d.strip(), f"--input-shape {name}") for d in _SHAPE_SEP.split(text)]
        if shapes.get(name, shape) != shape:
            raise UsageError(f"--input-shape {name} given twice ({shapes[name]} and {shape})")
        shapes[name] = shape
    return shapes


MAX_INPUT_VALUE_ELEMENTS = 64  # a condition, a length, a few ids: never a data tensor


def _scalar_value(text: str, what: str) -> bool | int | float:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text.replace("_", ""))
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{what}: {text!r} is not a number, true or false") from None


def parse_input_values(values: Iterable[str]) -> dict[str, np.ndarray]:
    """['use_cache_branch=true', 'ids=1,2,3'] -> {'use_cache_branch': array(True),
    'ids': array([1, 2, 3])}: a scalar (int, float, true/false) or a short list of them."""
    import numpy as np  # here, not at import: `onnxcost --help` stays light

    out: dict[str, np.ndarray] = {}
    for value in values:
        name, text = _split_pair(value, "--input-value", "use_cache_branch=true")
        what = f"--input-value {name}"
        items = [_scalar_value(v.strip(), what) for v in text.split(",")]
        if len(items) > MAX_INPUT_VALUE_ELEMENTS:
            raise UsageError(f"{what}: at most {MAX_INPUT_VALUE_ELEMENTS} values")
        kinds = {type(v) for v in items}
        if len(kinds) > 1 and bool in kinds:
            raise UsageError(f"{what}: true/false cannot be mixed with numbers")
        dtype = bool if kinds == {bool} else np.int64 if kinds == {int} else np.float64
        arr = np.array(items[0] if "," not in text else items, dtype=dtype)
        if name in out and not np.array_equal(out[name], arr):
            raise UsageError(f"{what} given twice")
        out[name] = arr
    return out


def _callback(parse: Callable[[Iterable[str]], Any]) -> Callable[..., Any]:
    def convert(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
        try:
            return parse(values)
        except UsageError as e:
            # click reports it as a usage error: one line on stderr, exit code 2.
            raise click.BadParameter(str(e), ctx=ctx, param=param) from None

    return convert


def model_options(f: F | None = None, *, scaling: bool = False, values: bool = False) -> Any:
    """Add `--dim NAME=VALUE` and `--input-shape NAME=DIMS`, passed as `dims` and `input_shapes`
    (dicts, empty when not given), and with `values=True` `--input-value NAME=VALUE`, passed as
    `input_values`. With `scaling=True`, `--dim` takes lists (NAME=1,8,64) and `dims` maps each
    name to its list of values."""

    def deco(f: F) -> F:
        if not values:
            return _dims_and_shapes(f)
        f = click.option(
            "--input-value",
            "input_values",
            multiple=True,
            metavar="NAME=VALUE",
            callback=_callback(parse_input_values),
            help="Give a graph input's value: a scalar (int, float, true/false) or a short list "
            "(1,2,3), e.g. use_cache_branch=true (repeatable). An If whose condition it decides "
            "costs the branch that runs; without it, the more expensive branch (an estimate).",
        )(f)
        return _dims_and_shapes(f)

    def _dims_and_shapes(f: F) -> F:
        f = click.option(
            "--input-shape",
            "input_shapes",
            multiple=True,
            metavar="NAME=DIMS",
            callback=_callback(parse_input_shapes),
            help="Fix a graph input's whole shape, e.g. input=1x3x224x224 (repeatable).",
        )(f)
        f = click.option(
            "--dim",
            "dims",
            multiple=True,
            metavar="NAME=VALUE",
            callback=_callback(parse_dim_values if scaling else parse_dims),
            help=(
                "Bind a symbolic dim by name, e.g. batch=8 (repeatable). A list, batch=1,8,64, "
                "analyses each value and shows how latency, throughput and memory scale."
                if scaling
                else "Bind a symbolic dim by name, e.g. batch=8 (repeatable)."
            ),
        )(f)
        return f

    return deco(f) if f is not None else deco


class GuardedGroup(click.Group):
    """Turns every OnnxCostError into one line on stderr and exit code 2; never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        # Totals are exact integers of any size; with ranks capped at loader.MAX_RANK they stay
        # within some 25,000 digits, past Python's default limit on printing them (4,300).
        if hasattr(sys, "set_int_max_str_digits"):
            sys.set_int_max_str_digits(max(sys.get_int_max_str_digits(), 100_000))
        try:
            return super().invoke(ctx)
        except OnnxCostError as e:
            # one line, whatever model text the message quotes
            click.echo(sanitize.text(f"error: {e}"), err=True)
            sys.exit(2)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except RecursionError:
            click.echo("error: model nested too deeply to analyse", err=True)
            sys.exit(2)
        except MemoryError:
            click.echo("error: out of memory while analysing the model", err=True)
            sys.exit(2)
        except Exception as e:
            if os.environ.get("ONNXCOST_DEBUG"):
                raise
            click.echo(
                sanitize.text(
                    f"internal error: {type(e).__name__}: {e} (a bug in onnxcost: please report "
                    "it; ONNXCOST_DEBUG=1 shows the traceback)"
                ),
                err=True,
            )
            sys.exit(3)


def write_output(text: str | list[str], output: str | None) -> None:
    """Print, or write to FILE (never beside the model unless the user named that path). `text`:
    a string, or pieces of one (a large report, never joined: see units.json_pieces)."""
    chunks = _chunks([text] if isinstance(text, str) else text)
    if output in (None, "-"):
        for chunk in chunks:
            click.echo(chunk, nl=False)
        return
    try:
        with Path(output).open("w", encoding="utf-8") as f:
            for chunk in chunks:
                f.write(chunk)
    except OSError as e:
        raise OnnxCostError(f"cannot write {output}: {e.strerror or e}") from None


def _chunks(pieces: list[str], size: int = 1 << 20) -> Iterator[str]:
    """The pieces' text in chunks of about `size` characters: no encoded copy of a large report
    at once, and not a write for each of its many small pieces."""
    group: list[str] = []
    held = 0
    for piece in pieces:
        if len(piece) > size:  # one long piece: cut
            if held:
                yield "".join(group)
            yield from (piece[k : k + size] for k in range(0, len(piece), size))
            group, held = [], 0
            continue
        group.append(piece)
        held += len(piece)
        if held >= size:
            yield "".join(group)
            group, held = [], 0
    if held:
        yield "".join(group)


class LazyGroup(GuardedGroup):
    """A group whose subcommands are imported when used: `lazy` maps each name to
    ("module:attribute", its one-line help), the help shown in the group's listing without
    importing the command (a test keeps the two in step)."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            import importlib

            module, attr = self.lazy[name][0].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy and name not in self.commands:
                limit = formatter.width - 6 - len(name)
                rows.append((name, click.utils.make_default_short_help(self.lazy[name][1], limit)))
            else:
                cmd = self.get_command(ctx, name)
                if cmd is not None and not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
