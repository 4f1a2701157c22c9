"""The op-rule registry: one small function per op family, registered with a decorator.

A rule takes a `NodeContext` (input/output tensor infos, attributes, opset) and returns a
`Cost`. A rule that needs a dim that is not static calls `ctx.shape(...)`/`TensorInfo.numel()`,
which raise `Unresolved`: the analyzer then marks the node as a lower bound instead of zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np

from onnxcost import dtypes
from onnxcost.analysis.poly import Poly, pmax
from onnxcost.errors import ModelError

Dim = int | str | None  # int: static, str: symbolic name, None: unknown


# Formula mode (onnxcost.analysis.formulas): named dims reach the rules as exact polynomials
# (analysis/poly.py) instead of raising Unresolved, so that each cost is an expression of them.
_FORMULAS = [False]


@contextmanager
def formula_mode(on: bool = True) -> Iterator[None]:
    before = _FORMULAS[0]
    _FORMULAS[0] = on
    try:
        yield
    finally:
        _FORMULAS[0] = before


def formulas_on() -> bool:
    return _FORMULAS[0]


_DIM_POLYS: dict[str, Any] = {}


def dim_poly(d: str) -> Any:
    """A dim's text as a polynomial (cached: the same few texts recur on every tensor)."""
    p = _DIM_POLYS.get(d)
    if p is None:
        from onnxcost.model.dims import to_poly  # dims imports this module

        p = to_poly(d)
        if p is None:
            p = False
        if len(_DIM_POLYS) < 100_000:
            _DIM_POLYS[d] = p
    return p


class Unresolved(Exception):
    """A cost needs a dim (or value) that is not statically known."""

    def __init__(self, tensor: str, reason: str = "shape not static") -> None:
        super().__init__(f"{tensor}: {reason}")
        self.tensor = tensor
        self.reason = reason


class _cached:
    """functools.cached_property without the lock it takes on each first read in Python 3.11
    (a third of the per-node costing time). The value goes into the instance's dict, as there:
    a frozen dataclass takes it, and later reads find it without calling anything."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


@dataclass(frozen=True)
class TensorInfo:
    """A tensor as the rules see it: element type and shape (dims int, str or None)."""

    name: str
    elem_type: int
    shape: tuple[Dim, ...] | None  # None: rank unknown
    # A value that is not a tensor but has a known size (ZipMap's sequence of maps: one
    # (key, value) item per element of `shape`): bits per item, and its type's name.
    item_bits: int = 0
    label: str = ""

    @property
    def dtype(self) -> str:
        return self.label or dtypes.name(self.elem_type)

    @property
    def sized(self) -> bool:
        """A static size in bytes is known (in formula mode: an expression of the dims)."""
        known = self.static or (_FORMULAS[0] and self.formula_shape is not None)
        return known and (self.elem_type != 0 or self.item_bits > 0)

    @_cached
    def formula_shape(self) -> tuple | None:
        """The shape with named dims as polynomials, or None when a dim is unknown."""
        if self.shape is None:
            return None
        out = []
        for d in self.shape:
            if isinstance(d, str):
                d = dim_poly(d)
                if d is False:
                    return None
            elif d is None:
                return None
            out.append(d)
        return tuple(out)

    @_cached
    def type_key(self) -> tuple:
        """All a cost can read of the tensor but its name (the key of recurring nodes)."""
        return (self.elem_type, self.shape, self.item_bits)

    @_cached
    def static(self) -> bool:
        return self.shape is not None and all(isinstance(d, int) for d in self.shape)

    def dims(self) -> tuple[int, ...]:
        """The static shape, or raise Unresolved."""
        if self.shape is None:
            raise Unresolved(self.name, "rank unknown")
        if _FORMULAS[0] and not self.static:
            shape = self.formula_shape
            if shape is not None:
                return shape  # type: ignore[return-value]
        for d in self.shape:
            if isinstance(d, str) and _FORMULAS[0]:
                if dim_poly(d) is False:  # name the dim that stops the formula
                    raise Unresolved(self.name, f"dim {d!r} is not an expression onnxcost reads")
                continue
            if not isinstance(d, int):
                raise Unresolved(self.name, f"dim {d!r} unbound" if d else "dim unknown")
        return self.shape  # type: ignore[return-value]

    def numel(self) -> int:
        return self._numel if self.static else prod(self.dims())  # the latter raises Unresolved

    def nbytes(self) -> int:
        return self._nbytes if self.static else self._bytes_of(self.numel())

    @_cached
    def _nbytes(self) -> int:
        return self._bytes_of(self._numel)

    def _bytes_of(self, n: int) -> int:
        if self.item_bits:
            return (n * self.item_bits + 7) // 8
        return dtypes.nbytes(n, self.elem_type)

    @_cached
    def _numel(self) -> int:
        return prod(self.shape)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Cost:
    """What one node computes. FLOPs include the 2 per MAC."""

    macs: int = 0
    flops: int = 0
    compute_dtype: str | None = None  # overrides the node's data dtype for the roofline
    notes: tuple[str, ...] = ()
    lower_bound: bool = False  # the rule could count only part of the work
    estimate: bool = False  # a choice was made without knowing (an If's unknown condition)
    chosen: str = ""  # the graph attribute a control-flow rule costed (an If's branch)

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.macs + other.macs,
            self.flops + other.flops,
            self.compute_dtype or other.compute_dtype,
            self.notes + other.notes,
            self.lower_bound or other.lower_bound,
            self.estimate or other.estimate,
            self.chosen or other.chosen,
        )

    def scaled(self, k: int) -> Cost:
        return Cost(
            self.macs * k,
            self.flops * k,
            self.compute_dtype,
            self.notes,
            self.lower_bound,
            self.estimate,
            self.chosen,
        )


def mac_cost(macs: int, extra_flops: int = 0) -> Cost:
    """A contraction: 2 FLOPs per MAC, plus any elementwise work around it."""
    return Cost(macs=macs, flops=2 * macs + extra_flops)


@dataclass
class NodeContext:
    """What a rule sees of one node."""

    op_type: str
    domain: str
    name: str
    inputs: list[TensorInfo | None]  # None: optional input left out
    outputs: list[TensorInfo | None]
    attrs: dict[str, Any]
    opset: int
    # Values of small constant inputs (shapes, axes, trip counts), or None when not known.
    values: Callable[[str], np.ndarray | None] = field(default=lambda _name: None)
    # A scalar input's value as a dim expression's text (formula mode), or None.
    dim_values: Callable[[str], str | None] = field(default=lambda _name: None)
    # Cost of a graph attribute (If branches, Loop/Scan bodies), analysed by the caller.
    subgraph: Callable[[str], Cost] = field(default=lambda _attr: Cost())

    def attr(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)

    def input(self, i: int) -> TensorInfo | None:
        return self.inputs[i] if i < len(self.inputs) else None

    def output(self, i: int = 0) -> TensorInfo | None:
        return self.outputs[i] if i < len(self.outputs) else None

    def in_dims(
        self, i: int, rank: int | tuple[int, ...] | None = None, min_rank: int = 0
    ) -> tuple[int, ...]:
        """Input i's static shape. `rank` (one rank or a tuple of them) and `min_rank` say what
        the op takes: another rank is an error naming the tensor ("GRU input X has rank 2,
        needs 3"), not an IndexError deep in the rule."""
        t = self.input(i)
        if t is None:
            raise Unresolved(f"{self.name} input {i}", "missing")
        return self._ranked(t, t.dims(), "input", rank, min_rank)

    def out_dims(
        self, i: int = 0, rank: int | tuple[int, ...] | None = None, min_rank: int = 0
    ) -> tuple[int, ...]:
        t = self.output(i)
        if t is None:
            raise Unresolved(f"{self.name} output {i}", "missing")
        return self._ranked(t, t.dims(), "output", rank, min_rank)

    def _ranked(
        self,
        t: TensorInfo,
        dims: tuple[int, ...],
        side: str,
        rank: int | tuple[int, ...] | None,
        min_rank: int,
    ) -> tuple[int, ...]:
        ranks = (rank,) if isinstance(rank, int) else rank
        if ranks is not None and len(dims) not in ranks:
            needs = " or ".join(map(str, ranks))
            raise ModelError(f"{self.op_type} {side} {t.name} has rank {len(dims)}, needs {needs}")
        if len(dims) < min_rank:
            raise ModelError(
                f"{self.op_type} {side} {t.name} has rank {len(dims)}, needs at least {min_rank}"
            )
        return dims

    def out_numel(self, i: int = 0) -> int:
        return prod(self.out_dims(i))

    def dim_value(self, i: int) -> Any:
        """In formula mode, input i's scalar value as a polynomial of the dims, or None."""
        t = self.input(i)
        if t is None or not _FORMULAS[0]:
            return None
        text = self.dim_values(t.name)
        p = dim_poly(text) if text is not None else False
        return None if p is False else p

    def value(self, i: int) -> np.ndarray | None:
        """The constant value of input i, if it is a known small constant."""
        t = self.input(i)
        return None if t is None else self.values(t.name)


Rule = Callable[[NodeContext], Cost]

# kind: how the node treats memory.
#   "view"        output aliases input 0: no new buffer, no memory traffic
#   "elementwise" may run in place in an input's buffer (same shape and dtype, last use)
#   "compute"     everything else
KINDS = ("view", "elementwise", "compute")


@dataclass(frozen=True)
class RuleEntry:
    """A registered rule and the op it costs."""

    fn: Rule
    kind: str
    op_type: str
    domain: str


_REGISTRY: dict[tuple[str, str], RuleEntry] = {}


def _norm_domain(domain: str) -> str:
    return "" if domain in ("", "ai.onnx") else domain


def register(*op_types: str, domain: str = "", kind: str = "compute") -> Callable[[Rule], Rule]:
    """Register `fn` as the cost rule of `op_types` in `domain` (default: the ONNX domain)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")

    def deco(fn: Rule) -> Rule:
        for op in op_types:
            _REGISTRY[(_norm_domain(domain), op)] = RuleEntry(fn, kind, op, _norm_domain(domain))
        return fn

    return deco


def rule(domain: str, *op_types: str, kind: str = "compute") -> Callable[[Rule], Rule]:
    """Public plugin API: `@onnxcost.rule("com.example", "FancyOp")`."""
    return register(*op_types, domain=domain, kind=kind)


def lookup(domain: str, op_type: str) -> RuleEntry | None:
    return _REGISTRY.get(("" if domain == "ai.onnx" else domain, op_type))


def registered() -> dict[tuple[str, str], RuleEntry]:
    return dict(_REGISTRY)


def broadcast(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    """numpy broadcasting of static shapes, in exact Python ints.

    In formula mode a dim may be a polynomial: against a constant other than 1 the constant is
    the answer (the model is valid only where they agree); two different polynomials broadcast
    to their Max (one of them is 1 wherever they differ)."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[int] = []
    for axis in range(rank):
        dim: Any = 1
        for s in shapes:
            k = axis - (rank - len(s))
            if k < 0:
                continue
            d = s[k]
            if isinstance(d, Poly) or isinstance(dim, Poly):
                if isinstance(dim, int) and dim == 1:
                    dim = d
                elif isinstance(d, int):
                    if d != 1:
                        dim = d
                elif isinstance(dim, Poly) and d.terms != dim.terms:
                    dim = pmax(dim, d)
                continue
            if d == 1:
                continue
            if dim not in (1, d):
                raise ModelError(f"shapes {' and '.join(map(str, shapes))} do not broadcast")
            dim = d
        out.append(dim)
    return tuple(out)
