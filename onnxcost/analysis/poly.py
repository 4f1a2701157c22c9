"""Exact integer polynomials over the model's dim names, for costs as formulas.

A `Poly` is a sum of integer coefficients times monomials; a monomial is a product of atoms
raised to powers. An atom is a dim name or an opaque `Op`: `floor(p/k)`, `Max(...)`,
`Min(...)`. Coefficients are Python ints (unbounded). Arithmetic whose result is a constant
returns a plain `int`, so a model whose dims are all bound never sees a Poly.

Comparisons are answered only where they hold for every value of the dims (dims are >= 0):
otherwise `Undecidable` says so. Expressions are capped in terms and degree so that a hostile
file cannot grow them without bound (`TooLarge`).

`str(p)` is Python/sympy syntax: `sympy.sympify(str(p)).subs(b) == p.subs(b)`.
"""

from __future__ import annotations

import keyword
import operator
import re
from collections.abc import Iterable, Mapping
from numbers import Integral

MAX_TERMS = 4096  # terms of one expression
MAX_DEGREE = 32  # total degree of one monomial
MAX_ATOM_CHARS = 1 << 16  # characters of one nested atom (a peak's Max of up to 256 steps)


class PolyError(Exception):
    """An expression cannot be formed or decided."""


class Undecidable(PolyError):
    """A comparison or conversion whose answer depends on the dims' values."""


class TooLarge(PolyError):
    """An expression past the caps (terms, degree, nesting)."""


class Unbound(PolyError):
    """Evaluation without a value for a dim name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"dim {name!r} has no value")
        self.name = name


class Op:
    """An opaque atom: floor(arg / k), or Max / Min of its args."""

    __slots__ = ("_hash", "_text", "args", "k", "key", "kind")

    def __init__(self, kind: str, args: tuple, k: int = 1) -> None:
        self.kind, self.args, self.k = kind, args, k
        self._text: str | None = None
        self.key = self.text(raw=True)  # the dims' own names: two names never share a key
        if len(self.key) > MAX_ATOM_CHARS:
            raise TooLarge(f"expression nested past {MAX_ATOM_CHARS} characters")
        self._hash = hash(self.key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Op) and other.key == self.key

    def text(self, raw: bool = False) -> str:
        """Python/sympy syntax, names as `symbol` writes them (`raw`: the dims' own names)."""
        if not raw and self._text is not None:
            return self._text
        args = [_text(a, raw) for a in self.args]
        if self.kind == "floor":
            out = f"floor(({args[0]})/{self.k})"
        else:
            out = f"{self.kind}({', '.join(args)})"
        if not raw:
            self._text = out
        return out

    def value(self, b: Mapping[str, int], partial: bool = False) -> int | Poly:
        vals = [_subs(a, b, partial) for a in self.args]
        if self.kind == "floor":
            return vals[0] // self.k
        if all(isinstance(v, int) for v in vals):
            return max(vals) if self.kind == "Max" else min(vals)
        return pmax(*vals) if self.kind == "Max" else pmin(*vals)

    def nonneg(self) -> bool:
        if self.kind == "floor":
            return _nonneg(self.args[0])
        if self.kind == "Max":
            return any(_nonneg(a) for a in self.args)
        return all(_nonneg(a) for a in self.args)

    def names(self) -> set[str]:
        out: set[str] = set()
        for a in self.args:
            if isinstance(a, Poly):
                out |= a.names()
        return out


Atom = str | Op
Mono = tuple[tuple[Atom, int], ...]


def _akey(a: Atom) -> tuple[int, str]:
    return (1, a.key) if isinstance(a, Op) else (0, a)


def _mono_mul(a: Mono, b: Mono) -> Mono:
    if not a:
        return b
    if not b:
        return a
    exps: dict[Atom, int] = dict(a)
    for atom, e in b:
        exps[atom] = exps.get(atom, 0) + e
    if sum(exps.values()) > MAX_DEGREE:
        raise TooLarge(f"expression of degree above {MAX_DEGREE}")
    return tuple(sorted(exps.items(), key=lambda ae: _akey(ae[0])))


def _int(x: object) -> int | None:
    if isinstance(x, int):
        return int(x)
    if isinstance(x, Integral):  # numpy ints
        return operator.index(x)
    return None


def _make(terms: dict[Mono, int]) -> int | Poly:
    terms = {m: c for m, c in terms.items() if c}
    if not terms:
        return 0
    if len(terms) == 1 and () in terms:
        return terms[()]
    if len(terms) > MAX_TERMS:
        raise TooLarge(f"expression of more than {MAX_TERMS} terms")
    p = Poly.__new__(Poly)
    p.terms = terms
    p._hash = None
    return p


def _new(terms: dict[Mono, int]) -> int | Poly:
    """_make for terms that hold no zero coefficient."""
    n = len(terms)
    if n == 0:
        return 0
    if n == 1 and () in terms:
        return terms[()]
    if n > MAX_TERMS:
        raise TooLarge(f"expression of more than {MAX_TERMS} terms")
    p = Poly.__new__(Poly)
    p.terms = terms
    p._hash = None
    return p


def _sum(a: dict[Mono, int], b: dict[Mono, int], sign: int) -> dict[Mono, int]:
    """a + sign * b, zero coefficients dropped (neither holds any)."""
    out = dict(a)
    for m, c in b.items():
        v = out.get(m, 0) + sign * c
        if v:
            out[m] = v
        else:
            del out[m]
    return out


_MEMO: dict[tuple, tuple] = {}
_MEMO_MAX = 1 << 17  # entries; past this the memo starts again


def _key(op: object, a: Poly, b: object) -> tuple:
    # an int operand by value, a Poly by identity (the memo keeps it alive: ids stay unique)
    return (op, id(a), b) if b.__class__ is int else (op, id(a), None, id(b))


def _remember(key: tuple, a: object, b: object, result: int | Poly) -> int | Poly:
    if len(_MEMO) >= _MEMO_MAX:
        _MEMO.clear()
    _MEMO[key] = (a, b, result)
    return result


def _terms(x: object) -> dict[Mono, int] | None:
    if isinstance(x, Poly):
        return x.terms
    v = _int(x)
    if v is None:
        return None
    return {(): v} if v else {}


class Poly:
    """An exact integer polynomial over dim names and opaque atoms; never a constant."""

    __slots__ = ("_hash", "terms")
    __array_ufunc__ = None  # numpy defers to our reflected operators (np.int64(3) * p)

    def __init__(self, name: str) -> None:
        self.terms: dict[Mono, int] = {((name, 1),): 1}
        self._hash: int | None = None

    @staticmethod
    def atom(op: Op) -> Poly:
        p = Poly.__new__(Poly)
        p.terms = {((op, 1),): 1}
        p._hash = None
        return p

    # -- arithmetic ---------------------------------------------------------------------
    # Results are memoized on the operands' identities: a graph repeats the same shapes, so
    # the same products and sums of the same dim objects recur on every layer (and come out
    # as the same objects, so the next step hits too).
    def __add__(self, other: object) -> int | Poly:
        return self._plus(other, 1)

    __radd__ = __add__

    def __neg__(self) -> int | Poly:
        return _new({m: -c for m, c in self.terms.items()})

    def __pos__(self) -> Poly:
        return self

    def __sub__(self, other: object) -> int | Poly:
        return self._plus(other, -1)

    def _plus(self, other: object, sign: int) -> int | Poly:
        """self + sign * other (memoized under the sign, as products under "*")."""
        if other.__class__ is int and other == 0:
            return self  # the same object: a running sum that did not move is seen as such
        if other.__class__ is Poly:  # running sums and their differences: each one new
            return _new(_sum(self.terms, other.terms, sign))  # type: ignore[attr-defined]
        key = _key(sign, self, other)
        hit = _MEMO.get(key)
        if hit is not None:
            return hit[2]
        o = _terms(other)
        if o is None:
            return NotImplemented
        return _remember(key, self, other, _new(_sum(self.terms, o, sign)))

    def __rsub__(self, other: object) -> int | Poly:
        o = _terms(other)
        if o is None:
            return NotImplemented
        return _new(_sum(o, self.terms, -1))

    def __mul__(self, other: object) -> int | Poly:
        if other.__class__ is int and other == 1:
            return self
        key = _key("*", self, other)
        hit = _MEMO.get(key)
        if hit is not None:
            return hit[2]
        o = _terms(other)
        if o is None:
            return NotImplemented
        if len(o) == 1 and () in o:
            k = o[()]
            return _remember(key, self, other, _new({m: c * k for m, c in self.terms.items()}))
        if len(self.terms) * len(o) > 16 * MAX_TERMS:
            raise TooLarge(f"expression of more than {MAX_TERMS} terms")
        out: dict[Mono, int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in o.items():
                m = _mono_mul(m1, m2)
                out[m] = out.get(m, 0) + c1 * c2
        return _remember(key, self, other, _make(out))

    __rmul__ = __mul__

    def __pow__(self, n: object) -> int | Poly:
        e = _int(n)
        if e is None or e < 0:
            raise Undecidable(f"({self}) ** {n}: only non-negative integer powers")
        if e > MAX_DEGREE:
            raise TooLarge(f"expression of degree above {MAX_DEGREE}")
        out: int | Poly = 1
        for _ in range(e):
            out = out * self
        return out

    def __floordiv__(self, other: object) -> int | Poly:
        k = _int(other)
        if k is None:
            if isinstance(other, Poly):
                raise Undecidable(f"({self}) // ({other}): division by a symbolic dim")
            return NotImplemented
        return floordiv(self, k)

    def __rfloordiv__(self, other: object) -> int | Poly:
        if _int(other) is None:
            return NotImplemented
        raise Undecidable(f"{other} // ({self}): division by a symbolic dim")

    def __mod__(self, other: object) -> int | Poly:
        k = _int(other)
        if k is None:
            if isinstance(other, Poly):
                raise Undecidable(f"({self}) % ({other}): modulo a symbolic dim")
            return NotImplemented
        return self - k * floordiv(self, k)

    def __rmod__(self, other: object) -> int | Poly:
        raise Undecidable(f"{other} % ({self}): modulo a symbolic dim")

    def __truediv__(self, other: object) -> int | Poly:
        k = _int(other)
        if k is not None and k and all(c % k == 0 for c in self.terms.values()):
            return _make({m: c // k for m, c in self.terms.items()})
        raise Undecidable(f"({self}) / {other}: not an integer for every value of the dims")

    def __rtruediv__(self, other: object) -> int | Poly:
        raise Undecidable(f"{other} / ({self}): division by a symbolic dim")

    # -- decisions ----------------------------------------------------------------------
    def _cmp(self, other: object, op: str) -> bool:
        d = self - other if _terms(other) is not None or isinstance(other, Poly) else None
        if d is None:
            raise TypeError(f"cannot compare a formula with {type(other).__name__}")
        if isinstance(d, int):
            return {"<": d < 0, "<=": d <= 0, ">": d > 0, ">=": d >= 0, "==": d == 0}[op]
        ge0, le0 = _nonneg(d), _nonneg(-d)  # self >= other / self <= other for all dims
        gt0 = ge0 and d.terms.get((), 0) > 0
        lt0 = le0 and -d.terms.get((), 0) > 0
        answer = {
            "<": True if lt0 else False if ge0 else None,
            "<=": True if le0 else False if gt0 else None,
            ">": True if gt0 else False if le0 else None,
            ">=": True if ge0 else False if lt0 else None,
            "==": False if (gt0 or lt0) else None,
        }[op]
        if answer is None:
            raise Undecidable(
                f"{self} {op} {other} is not decidable for symbolic dims: it depends on their values"
            )
        return answer

    def __lt__(self, other: object) -> bool:
        return self._cmp(other, "<")

    def __le__(self, other: object) -> bool:
        return self._cmp(other, "<=")

    def __gt__(self, other: object) -> bool:
        return self._cmp(other, ">")

    def __ge__(self, other: object) -> bool:
        return self._cmp(other, ">=")

    def __eq__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, Poly):
            return self.terms == other.terms or self._cmp(other, "==")
        if _int(other) is None:
            return False
        return self._cmp(other, "==")

    def __ne__(self, other: object) -> bool:  # type: ignore[override]
        return not self.__eq__(other)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self.terms.items()))
        return self._hash

    def __bool__(self) -> bool:
        if _nonneg(self) and self.terms.get((), 0) > 0:
            return True
        raise Undecidable(f"whether {self} is zero is not decidable for symbolic dims")

    def __index__(self) -> int:
        raise Undecidable(f"{self} is not a number: its value depends on the dims")

    __int__ = __index__

    def __float__(self) -> float:
        raise Undecidable(f"{self} is not a number: its value depends on the dims")

    # -- evaluation and printing --------------------------------------------------------
    def subs(self, b: Mapping[str, int]) -> int:
        """The value with every name bound (raises Unbound for a missing one)."""
        v = _subs(self, b, False)
        assert isinstance(v, int)
        return v

    def partial(self, b: Mapping[str, int]) -> int | Poly:
        """The expression with the names in `b` replaced by their values."""
        return _subs(self, b, True)

    def names(self) -> set[str]:
        out: set[str] = set()
        for m in self.terms:
            for a, _ in m:
                if isinstance(a, Op):
                    out |= a.names()
                else:
                    out.add(a)
        return out

    def degree(self, name: str) -> int:
        """Highest power of `name` (inside floor/Max atoms counted as 1)."""
        best = 0
        for m in self.terms:
            d = 0
            for a, e in m:
                if a == name or (isinstance(a, Op) and name in a.names()):
                    d += e
            best = max(best, d)
        return best

    def __str__(self) -> str:
        return _text(self, False)

    def __repr__(self) -> str:
        return f"Poly({self})"

    def pretty(self) -> str:
        """Readable, SI-grouped: `85.0 M·batch·seq + 1.18 M·batch·seq²`, common factor out."""
        return pretty(self)


def _ordered(terms: dict[Mono, int]) -> list[tuple[Mono, int]]:
    def key(mc: tuple[Mono, int]) -> tuple:
        m = mc[0]
        return (-sum(e for _, e in m), [(_akey(a), -e) for a, e in m])

    return sorted(terms.items(), key=key)


_IDENT: dict[str, str] = {}


def symbol(name: str) -> str:
    """A dim's name as formulas write it: the name itself when it is a Python identifier, else
    an identifier made of it (`p2o.DynamicDimension.0` -> `p2o_DynamicDimension_0`, `?` ->
    `dim`); the JSON lists those in `formulas.symbols`."""
    out = _IDENT.get(name)
    if out is None:
        out = name
        if not name.isidentifier() or keyword.iskeyword(name):
            out = re.sub(r"\W+", "_", name, flags=re.ASCII).strip("_") or "dim"
            out = ("d_" + out if out[0].isdigit() else out) + (
                "_" if keyword.iskeyword(out) else ""
            )
        if len(_IDENT) < 100_000:
            _IDENT[name] = out
    return out


def _text(x: object, raw: bool) -> str:
    if not isinstance(x, Poly):
        return str(x)
    terms = (_term_str(m, c, raw) for m, c in _ordered(x.terms))
    return " + ".join(terms).replace("+ -", "- ")


def _atom_str(a: Atom, raw: bool = False) -> str:
    if isinstance(a, Op):
        return a.key if raw else a.text()
    return a if raw else symbol(a)


def _term_str(m: Mono, c: int, raw: bool = False) -> str:
    factors = [_atom_str(a, raw) + (f"**{e}" if e > 1 else "") for a, e in m]
    if not factors:
        return str(c)
    body = "*".join(factors)
    if c == 1:
        return body
    if c == -1:
        return "-" + body
    return f"{c}*{body}"


def _subs(x: object, b: Mapping[str, int], partial: bool) -> int | Poly:
    if not isinstance(x, Poly):
        return x  # type: ignore[return-value]
    total: int | Poly = 0
    for m, c in x.terms.items():
        v: int | Poly = c
        for a, e in m:
            if isinstance(a, Op):
                av = a.value(b, partial)
            elif a in b:
                av = int(b[a])
            elif partial:
                av = Poly(a)
            else:
                raise Unbound(a)
            v = v * (av**e if e > 1 else av)
        total = total + v
    return total


def _nonneg(x: object) -> bool:
    """x >= 0 for every value (>= 0) of the dims."""
    if not isinstance(x, Poly):
        v = _int(x)
        return v is not None and v >= 0
    for m, c in x.terms.items():
        if c < 0:
            return False
        for a, _ in m:
            if isinstance(a, Op) and not a.nonneg():
                return False
    return True


def geq(a: object, b: object) -> bool:
    """`_nonneg(a - b)`, without making the difference (the activation peak's frontier asks
    this a few times at every step of the schedule)."""
    at, bt = _terms(a), _terms(b)
    if at is None or bt is None:
        return _nonneg(a - b)  # type: ignore[operator]
    for m, c in at.items():
        d = c - bt.get(m, 0)
        if d < 0 or (d and not _plain(m)):
            return False
    return all(m in at or (c < 0 and _plain(m)) for m, c in bt.items())


def _plain(m: Mono) -> bool:
    """A monomial with no atom that may be negative (the dims are >= 0)."""
    known = _PLAIN.get(m)
    if known is None:
        known = all(not isinstance(a, Op) or a.nonneg() for a, _ in m)
        if len(_PLAIN) >= _MEMO_MAX:
            _PLAIN.clear()
        _PLAIN[m] = known
    return known


_PLAIN: dict[Mono, bool] = {}


def total(values: Iterable[object]) -> int | Poly:
    """The sum of many values, in one pass (a running `+` copies the sum's terms each time)."""
    acc: dict[Mono, int] = {}
    const = 0
    for v in values:
        if v.__class__ is Poly:
            for m, c in v.terms.items():  # type: ignore[attr-defined]
                acc[m] = acc.get(m, 0) + c
        else:
            const += v  # type: ignore[operator]
    if const:
        acc[()] = acc.get((), 0) + const
    return _make(acc)


def floordiv(p: int | Poly, k: int) -> int | Poly:
    """floor(p / k), exact: the part of p whose coefficients k divides comes out of the floor."""
    if not isinstance(p, Poly):
        return p // k
    if k == 0:
        raise ZeroDivisionError("division of a dim by zero")
    if k < 0:
        return floordiv(-p, -k)
    if k == 1:
        return p
    key = ("//", id(p), k)
    hit = _MEMO.get(key)
    if hit is not None:
        return hit[2]
    return _remember(key, p, k, _floordiv(p, k))


def _floordiv(p: Poly, k: int) -> int | Poly:
    quot = {m: c // k for m, c in p.terms.items()}
    rest = _make({m: c % k for m, c in p.terms.items()})
    if isinstance(rest, int):
        return _make(quot) + rest // k
    return _make(quot) + Poly.atom(Op("floor", (rest,), k))


def ceildiv(p: int | Poly, k: int) -> int | Poly:
    """ceil(p / k) for integer p: floor((p + k - 1) / k)."""
    if k <= 0:
        return -floordiv(-p, k)
    return floordiv(p + (k - 1), k)


def _extreme(kind: str, args: Iterable[object]) -> int | Poly:
    vals: list = []
    for a in args:
        if (
            isinstance(a, Poly)
            and a.terms
            and all(isinstance(at, Op) and at.kind == kind for m in a.terms for at, _ in m)
        ):
            (m,) = a.terms if len(a.terms) == 1 else (None,)
            if m is not None and a.terms[m] == 1 and len(m) == 1 and m[0][1] == 1:
                vals.extend(m[0][0].args)  # Max(Max(a, b), c) is Max(a, b, c)
                continue
        vals.append(a)
    keep: list = []
    for v in vals:
        dominated = False
        for w in keep:
            d = (w - v) if kind == "Max" else (v - w)
            if _nonneg(d):
                dominated = True
                break
        if dominated:
            continue
        keep = [w for w in keep if not _nonneg((v - w) if kind == "Max" else (w - v))]
        keep.append(v)
    if len(keep) == 1:
        return keep[0]
    if not keep:
        raise ValueError(f"{kind} of nothing")
    keep.sort(key=str)
    return Poly.atom(Op(kind, tuple(keep)))


def pmax(*args: object) -> int | Poly:
    """Max of values; an atom `Max(...)` of those no other dominates for every dims' value."""
    return _extreme("Max", args)


def pmin(*args: object) -> int | Poly:
    return _extreme("Min", args)


def is_poly(x: object) -> bool:
    return isinstance(x, Poly)


def evaluate(x: int | Poly, b: Mapping[str, int]) -> int:
    return x.subs(b) if isinstance(x, Poly) else x


# -- pretty printing -------------------------------------------------------------------------

_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_SI = ((10**18, "E"), (10**15, "P"), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))


def si(c: int) -> str:
    """A coefficient with an SI prefix and three significant digits (exact below 1000)."""
    a = abs(c)
    for scale, prefix in _SI:
        if a >= scale:
            v = a / scale
            digits = 2 if v < 10 else 1 if v < 100 else 0
            return ("-" if c < 0 else "") + f"{v:.{digits}f} {prefix}"
    return str(c)


def _pretty_atom(a: Atom) -> str:
    if not isinstance(a, Op):
        return a
    if a.kind == "floor":
        return f"⌊({pretty(a.args[0])})/{a.k}⌋"
    return f"{a.kind.lower()}({', '.join(pretty(x) for x in a.args)})"


def _pretty_mono(m: Mono) -> str:
    return "·".join(_pretty_atom(a) + (str(e).translate(_SUP) if e > 1 else "") for a, e in m)


def _pretty_terms(terms: dict[Mono, int]) -> str:
    parts = []
    for m, c in reversed(_ordered(terms)):  # lowest degree first: reads as a growth law
        body = _pretty_mono(m)
        coef = si(abs(c))
        if not body:
            text = coef
        elif abs(c) == 1:
            text = body
        else:
            text = f"{coef}·{body}" if not coef.endswith(" ") else f"{coef}{body}"
        parts.append(("- " if c < 0 else "+ ") + text)
    out = " ".join(parts)
    return out[2:] if out.startswith("+ ") else "-" + out[2:]


def pretty(x: int | Poly) -> str:
    if not isinstance(x, Poly):
        return si(x)
    # the monomial common to every term comes out: batch·seq·(85.0 M + 1.18 M·seq)
    common: dict[Atom, int] | None = None
    for m in x.terms:
        exps = dict(m)
        common = exps if common is None else {a: min(e, exps.get(a, 0)) for a, e in common.items()}
    common = {a: e for a, e in (common or {}).items() if e > 0}
    if not common or len(x.terms) == 1:
        return _pretty_terms(x.terms)
    rest: dict[Mono, int] = {}
    for m, c in x.terms.items():
        exps = dict(m)
        for a, e in common.items():
            exps[a] -= e
        rest[tuple(sorted(((a, e) for a, e in exps.items() if e), key=lambda ae: _akey(ae[0])))] = c
    head = _pretty_mono(tuple(sorted(common.items(), key=lambda ae: _akey(ae[0]))))
    return f"{head}·({_pretty_terms(rest)})"


__all__ = [
    "MAX_DEGREE",
    "MAX_TERMS",
    "Op",
    "Poly",
    "PolyError",
    "TooLarge",
    "Unbound",
    "Undecidable",
    "ceildiv",
    "evaluate",
    "floordiv",
    "geq",
    "is_poly",
    "pmax",
    "pmin",
    "pretty",
    "si",
    "symbol",
    "total",
]
