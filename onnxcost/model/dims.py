"""The model's dim names: bind them (by name or by whole input shape), and read declared types.

Exporters name dims by expressions of other dims (optimum: `past_sequence_length +
sequence_length`, `encoder_sequence_length / 2`). Such a dim is worked out from its parts once
they are bound; the names the user can bind are the atoms of those expressions.
"""

from __future__ import annotations

import re
from math import gcd
from typing import TYPE_CHECKING, Any

import onnx

from onnxcost.analysis.poly import Poly, PolyError, ceildiv, floordiv, pmax, pmin
from onnxcost.errors import ModelError, UsageError
from onnxcost.model.loader import iter_graphs
from onnxcost.rules.registry import Dim, TensorInfo

if TYPE_CHECKING:
    from fractions import Fraction

# names: identifiers, dotted ones too (paddle2onnx: `p2o.DynamicDimension.0`)
_TOKEN = re.compile(
    r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)|(//|\*\*|[-+*/%(),]))"
)
# A dim named by other text (`?`, `seq len`) is a name in formulas too (written as an
# identifier: poly.symbol); text with quotes or brackets is not taken as a name.
_ODD_NAME = re.compile(r"[^'\"`\\()\[\]{}\x00-\x1f\x7f]{1,256}")
_MAX_EXPR = 256  # characters: a dim expression is short; a longer one is just a name


def atoms(text: str) -> list[str]:
    """Dim names in a dim_param: the atoms of an expression, or the whole text as one name."""
    tokens = _tokens(text)
    if tokens is None or not any(kind == "op" for kind, _ in tokens):
        return [text]
    return list(dict.fromkeys(v for kind, v in tokens if kind == "name"))


def evaluate(text: str, dims: dict[str, int]) -> int | None:
    """The value of a dim expression with its names bound, or None (not an expression, a name
    unbound, or not an integer). Only + - * / // % and parentheses: nothing can blow up."""
    tokens = _tokens(text)
    if tokens is None or not any(kind == "op" for kind, _ in tokens):
        return None
    from fractions import Fraction  # here: most models have no dim expressions

    def name(v: str) -> Fraction:
        if v not in dims:
            raise KeyError(v)
        return Fraction(dims[v])

    try:
        value = _parse(tokens, name, Fraction, None)
    except (KeyError, ValueError, ZeroDivisionError):
        return None
    if value.denominator != 1 or value < 0:
        return None
    return int(value)


def to_poly(text: str) -> int | Poly | None:
    """A dim as an exact polynomial of the model's dim names (formula mode), or None when the
    text is not an expression we understand. The shape engine writes sympy's syntax:
    `floor(H/2 - 1/2) + 1`, `ceiling(...)`, `Max(a, b)`, `2*seq`, `a + b`."""
    tokens = _tokens(text)
    if tokens is None or not any(kind == "op" for kind, _ in tokens):
        if tokens is not None and len(tokens) == 1 and tokens[0][0] == "int":
            return int(text)
        if tokens is not None and len(tokens) == 1 and tokens[0][0] == "name":
            return Poly(tokens[0][1])
        return Poly(text) if _ODD_NAME.fullmatch(text) and text.strip() else None
    try:
        value = _parse(tokens, lambda v: Rat(Poly(v)), lambda v: Rat(int(v)), _CALLS)
    except (KeyError, ValueError, ZeroDivisionError, PolyError):
        return None
    return value.num if value.den == 1 else None


def _parse(tokens: list[tuple[str, str]], name: Any, num: Any, calls: dict | None) -> Any:
    """Recursive descent over + - * / // % ** and parentheses (calls when `calls` is given)."""
    pos = 0

    def peek() -> str | None:
        return tokens[pos][1] if pos < len(tokens) and tokens[pos][0] == "op" else None

    def primary() -> Any:
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("truncated")
        kind, v = tokens[pos]
        pos += 1
        if kind == "int":
            x = num(v)
        elif kind == "name":
            if calls is not None and v in calls and peek() == "(":
                pos += 1
                args = [expr()]
                while peek() == ",":
                    pos += 1
                    args.append(expr())
                if peek() != ")":
                    raise ValueError("unbalanced")
                pos += 1
                x = calls[v](*args)
            else:
                x = name(v)
        elif v == "(":
            x = expr()
            if peek() != ")":
                raise ValueError("unbalanced")
            pos += 1
        elif v == "-":
            return -factor()
        else:
            raise ValueError(v)
        return x

    def factor() -> Any:
        nonlocal pos
        x = primary()
        if calls is not None and peek() == "**":
            pos += 1
            x = x ** factor()
        return x

    def term() -> Any:
        nonlocal pos
        x = factor()
        while peek() in ("*", "/", "//", "%"):
            op = tokens[pos][1]
            pos += 1
            y = factor()
            if op == "*":
                x = x * y
            elif y == 0:
                raise ZeroDivisionError
            elif op == "/":
                x = x / y
            elif op == "//":
                x = x // y
            else:
                x = x % y
        return x

    def expr() -> Any:
        nonlocal pos
        x = term()
        while peek() in ("+", "-"):
            op = tokens[pos][1]
            pos += 1
            x = x + term() if op == "+" else x - term()
        return x

    value = expr()
    if pos != len(tokens):
        raise ValueError("trailing tokens")
    return value


class Rat:
    """A polynomial over a positive integer denominator: sympy writes `floor(H/2 - 1/2)`."""

    __slots__ = ("den", "num")

    def __init__(self, num: int | Poly, den: int = 1) -> None:
        if den < 0:
            num, den = -num, -den
        g = den
        for c in num.terms.values() if isinstance(num, Poly) else (num,):
            g = gcd(g, c)
        if g > 1:
            num = num // g
            den //= g
        self.num, self.den = num, den

    @staticmethod
    def of(x: Any) -> Rat:
        return x if isinstance(x, Rat) else Rat(x)

    def const(self) -> Fraction:
        from fractions import Fraction

        if isinstance(self.num, Poly):
            raise ValueError("not a constant")
        return Fraction(self.num, self.den)

    def __add__(self, o: Any) -> Rat:
        o = Rat.of(o)
        return Rat(self.num * o.den + o.num * self.den, self.den * o.den)

    def __sub__(self, o: Any) -> Rat:
        return self + (-Rat.of(o))

    def __neg__(self) -> Rat:
        return Rat(-self.num, self.den)

    def __mul__(self, o: Any) -> Rat:
        o = Rat.of(o)
        return Rat(self.num * o.num, self.den * o.den)

    def __truediv__(self, o: Any) -> Rat:
        c = Rat.of(o).const()
        if c == 0:
            raise ZeroDivisionError
        return Rat(self.num * c.denominator, self.den * c.numerator)

    def __floordiv__(self, o: Any) -> Rat:
        q = self / o
        return Rat(floordiv(q.num, q.den))

    def __mod__(self, o: Any) -> Rat:
        return self - Rat.of(o) * (self // o)

    def __pow__(self, o: Any) -> Rat:
        e = Rat.of(o).const()
        if e.denominator != 1 or e < 0 or e > 32:
            raise ValueError("power")
        return Rat(self.num ** int(e), self.den ** int(e))

    def __eq__(self, o: object) -> bool:  # only `y == 0` in the parser
        return not isinstance(self.num, Poly) and self.const() == o

    __hash__ = None  # type: ignore[assignment]


def _whole(x: Rat) -> int | Poly:
    if x.den != 1:
        raise ValueError("not an integer")
    return x.num


_CALLS = {
    "floor": lambda x: Rat(floordiv(x.num, x.den)),
    "ceiling": lambda x: Rat(ceildiv(x.num, x.den)),
    "ceil": lambda x: Rat(ceildiv(x.num, x.den)),
    "Max": lambda *a: Rat(pmax(*map(_whole, a))),
    "Min": lambda *a: Rat(pmin(*map(_whole, a))),
    "max": lambda *a: Rat(pmax(*map(_whole, a))),
    "min": lambda *a: Rat(pmin(*map(_whole, a))),
    "Mod": lambda a, b: a % b,
}


def _tokens(text: str) -> list[tuple[str, str]] | None:
    if len(text) > _MAX_EXPR:
        return None
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return None
        pos = m.end()
        n, name, op = m.groups()
        out.append(("int", n) if n else ("name", name) if name else ("op", op))
    return out


def declared_dim_params(graph: onnx.GraphProto) -> list[str]:
    """Dim names on the graph's (non-initializer) inputs, in order; expressions give their atoms."""
    inits = {i.name for i in graph.initializer}
    seen: list[str] = []
    for vi in graph.input:
        if vi.name in inits:
            continue
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param:
                seen.extend(a for a in atoms(d.dim_param) if a not in seen)
    return seen


def bind(
    model: onnx.ModelProto,
    dims: dict[str, int] | None = None,
    input_shapes: dict[str, list[int]] | None = None,
    strict: bool = False,
    graphs: list[onnx.GraphProto] | None = None,
) -> tuple[dict[str, int], list[str]]:
    """Fix dims by name and whole input shapes, in place on our copy of the model.

    Returns the bindings that apply (including those implied by `input_shapes`) and warnings:
    a `--dim` the model lacks is a warning (one command line serves files from several
    exporters), an error with `strict`. `graphs`: the model's graphs and subgraphs, if listed
    already (LoadedModel.graphs).
    """
    graphs = graphs or list(iter_graphs(model.graph))
    dims = dict(dims or {})
    warnings: list[str] = []
    graph = model.graph
    inits = {i.name for i in graph.initializer}
    inputs = {vi.name: vi for vi in graph.input if vi.name not in inits}
    known = declared_dim_params(graph)  # before --input-shape overwrites the symbolic dims
    for name, shape in (input_shapes or {}).items():
        if name not in inputs:
            raise UsageError(
                f"--input-shape: {name!r} is not a graph input (inputs: {', '.join(inputs) or 'none'})"
            )
        if any(v < 0 for v in shape):
            raise UsageError(f"--input-shape: {name!r} has a negative dim")
        tt = inputs[name].type.tensor_type
        if tt.HasField("shape") and len(tt.shape.dim) != len(shape):
            raise UsageError(
                f"--input-shape: {name!r} has rank {len(tt.shape.dim)}, got {len(shape)} dims"
            )
        for d, v in zip(tt.shape.dim, shape, strict=False):
            name = d.dim_param if d.HasField("dim_param") else ""
            if name and name not in dims and atoms(name) == [name]:  # expressions follow
                dims[name] = v
        tt.shape.Clear()
        for v in shape:
            tt.shape.dim.add().dim_value = v
    for name, value in dims.items():
        if value < 0:
            raise UsageError(f"--dim {name}={value}: a dim must be >= 0")
        if name not in known and not _dim_used_anywhere(graphs, name):
            msg = f"--dim {name}: the model has no dim named {name!r}" + (
                f" (its dims: {', '.join(known)})" if known else " (it has no symbolic dims)"
            )
            if strict:
                raise UsageError(msg)
            warnings.append(msg + ": ignored")
    warnings += _unknown_input_dims(graph, inits)
    if dims:
        for g in graphs:
            for vi in (*g.input, *g.output, *g.value_info):
                for d in vi.type.tensor_type.shape.dim:
                    if not d.HasField("dim_param"):
                        continue
                    value = dims.get(d.dim_param)
                    if value is None:
                        value = evaluate(d.dim_param, dims)
                    if value is not None:
                        d.dim_value = value  # clears dim_param (oneof)
    return {k: v for k, v in dims.items() if k in known or _dim_used_anywhere(graphs, k)}, warnings


def _unknown_input_dims(graph: onnx.GraphProto, inits: set[str]) -> list[str]:
    """A declared -1 (paddle2onnx's "unknown") on an input `--input-shape` did not replace
    becomes an unknown dim, with a warning that says how to give it."""
    warnings = []
    for vi in graph.input:
        if vi.name in inits or not vi.type.HasField("tensor_type"):
            continue
        for k, d in enumerate(vi.type.tensor_type.shape.dim):
            if d.HasField("dim_value") and d.dim_value < 0:
                d.Clear()
                warnings.append(
                    f"graph input {vi.name!r} declares dim {k} as -1 (unknown): "
                    f"give its shape with --input-shape {vi.name}=..."
                )
    return warnings


def _dim_used_anywhere(graphs: list[onnx.GraphProto], name: str) -> bool:
    for g in graphs:
        for vi in (*g.input, *g.output, *g.value_info):
            for d in vi.type.tensor_type.shape.dim:
                if d.dim_param and (d.dim_param == name or name in atoms(d.dim_param)):
                    return True
    return False


# --- declared types (for `measure`, which reads what onnxruntime's run declares) ---------------


def _dim(d: onnx.TensorShapeProto.Dimension, tensor: str) -> Dim:
    if d.HasField("dim_value"):
        if d.dim_value < 0:
            raise ModelError(f"tensor {tensor!r}: negative dim {d.dim_value}")
        return int(d.dim_value)
    if d.HasField("dim_param") and d.dim_param:
        return d.dim_param
    return None


def declared_info(name: str, tp: onnx.TypeProto) -> TensorInfo:
    which = tp.WhichOneof("value")
    if which in ("tensor_type", "sparse_tensor_type"):
        tt = getattr(tp, which)
        shape = tuple(_dim(d, name) for d in tt.shape.dim) if tt.HasField("shape") else None
        return TensorInfo(name, tt.elem_type, shape)
    return TensorInfo(name, 0, None)  # sequence / map / optional: no static size


def collect(graph: onnx.GraphProto) -> dict[str, TensorInfo]:
    """dtype and shape of every tensor declared in `graph` (not its subgraphs)."""
    infos = {vi.name: declared_info(vi.name, vi.type) for vi in (*graph.input, *graph.value_info)}
    infos.update((vi.name, declared_info(vi.name, vi.type)) for vi in graph.output)
    for t in graph.initializer:
        infos[t.name] = TensorInfo(t.name, t.data_type, tuple(int(d) for d in t.dims))
    return infos
