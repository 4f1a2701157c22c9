"""Human-readable numbers: SI formatting for counts, bytes and times, and parsing them back."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from onnxcost.errors import OnnxCostError

# decimal is imported where it is used (figures past 10**15, parsing quantities): a plain
# analysis never needs it
if TYPE_CHECKING:
    from collections.abc import Callable
    from decimal import Decimal

# ONNX dims are int64: a larger --dim, --input-shape or budget dim cannot be bound.
MAX_DIM = 2**63 - 1
_SI = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))
# Beyond this many units of the largest prefix a figure is written in exponent form (1.23e+317):
# totals are exact integers of any size (2**1054 FLOPs is a valid answer), never floats.
_EXPONENT_FROM = 10**15


def ratio(a: float, b: float) -> float:
    """a / b as a float, for integers of any size: inf (with its sign) where it does not fit."""
    try:
        return a / b
    except OverflowError:  # an exact integer past 1.8e308 cannot become a float
        return math.inf if (a >= 0) == (b >= 0) else -math.inf


def _big(n: float, digits: int) -> str | None:
    """Exponent form for a figure past the prefixes (exact: via Decimal), 'inf' for infinity."""
    if isinstance(n, float) and not math.isfinite(n):
        return str(n)
    if abs(n) >= _EXPONENT_FROM:
        from decimal import Decimal

        return f"{Decimal(n):.{digits}e}"
    return None


def format_count(n: float, digits: int = 2) -> str:
    """724406816 -> '724.41 M'; small numbers stay plain."""
    if (big := _big(n, digits)) is not None:
        return big
    for scale, prefix in _SI:
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {prefix}"
    return f"{n:.{digits}f}" if isinstance(n, float) and not float(n).is_integer() else f"{int(n)}"


def format_bytes(n: float, digits: int = 1) -> str:
    """243860896 -> '243.9 MB' (SI: 1 MB = 10^6 bytes)."""
    if (big := _big(n, digits)) is not None:
        return f"{big} B"
    for scale, prefix in _SI:
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {prefix}B"
    return f"{int(n)} B"


def format_seconds(s: float) -> str:
    """0.00123 -> '1.230 ms'; an infinite time (a total past any float) is 'inf s'."""
    if not math.isfinite(s):
        return f"{s} s"
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if abs(s) >= scale:
            return f"{s / scale:.3f} {unit}"
    return f"{s / 1e-9:.3f} ns"


def format_bytes_iec(n: float, digits: int = 1) -> str:
    """268435456 -> '256.0 MiB' (binary: 1 MiB = 2^20 bytes), for limits written in MiB/GiB."""
    if (big := _big(n, digits)) is not None:
        return f"{big} B"
    for scale, prefix in ((2**40, "Ti"), (2**30, "Gi"), (2**20, "Mi"), (2**10, "Ki")):
        if abs(n) >= scale:
            return f"{n / scale:.{digits}f} {prefix}B"
    return f"{int(n)} B"


def json_safe(obj: object) -> object:
    """`obj` with every non-finite float as the string 'inf', '-inf' or 'nan' (strict JSON has no
    infinity; a time past any float is infinite, and says so)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, Encoded):  # text, made safe as it was encoded
        return obj
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps(obj: object, indent: int = 2, end: str = "") -> str:
    """Strict JSON (integers exact, any size); non-finite floats as strings, see `json_safe`.

    Objects are spread over indented lines and a list of objects or lists has one element a
    line, each element and every other value written by json's C encoder on one line: `indent`
    makes json use its pure-Python encoder, 5x slower on a report of many nodes. `end` is
    appended."""
    return "".join(json_pieces(obj, indent, end))


def json_pieces(obj: object, indent: int = 2, end: str = "") -> list[str]:
    """`dumps`'s text in pieces, to be written one after another: a large document (30 MB for
    64,000 nodes) is never joined into one more copy of itself."""
    try:
        return _pieces(obj, indent, end)
    except ValueError:  # an inf somewhere: rare, so the walk is paid only then
        return _pieces(json_safe(obj), indent, end)


def encoder() -> Callable[[object], str]:
    """json's encoding of one value on one line, as `dumps` writes the elements of a list (non-
    finite floats as strings, see `json_safe`)."""
    encode = _encoder()

    def safe(o: object) -> str:
        try:
            return encode(o)
        except ValueError:
            return encode(json_safe(o))

    return safe


class Encoded(list):
    """A list whose elements are JSON text already, each as `dumps` would write it (one a line)."""


def _pieces(obj: object, indent: int, end: str) -> list[str]:

    encode = _encoder()
    out: list[str] = []

    def write(o: object, pad: str) -> None:
        inner = pad + " " * indent
        if isinstance(o, Encoded) and o:
            sep = "[\n" + inner
            for x in o:  # as they are: no joined copy
                out.append(sep)
                out.append(x)
                sep = ",\n" + inner
            out.append("\n" + pad + "]")
        elif isinstance(o, dict) and o:
            sep = "{\n"
            for k, v in o.items():
                out.append(sep + inner)
                sep = ",\n"
                if _spread(v):
                    out.append(encode({k: 0})[1:-2])  # the key as json writes it ("1" for 1)
                    write(v, inner)
                else:
                    out.append(encode({k: v})[1:-1])
            out.append("\n" + pad + "}")
        elif _spread(o):
            sep = "[\n" + inner
            for x in o:  # type: ignore[attr-defined]
                out.append(sep + encode(x))  # no joined copy of the list: the whole is joined once
                sep = ",\n" + inner
            out.append("\n" + pad + "]")
        else:
            out.append(encode(o))

    write(obj, "")
    out.append(end)
    return out


def _encoder() -> Callable[[object], str]:
    """json's C encoder, made once: `JSONEncoder.encode` makes a new one at every call, a third
    of the time of a report's one-line records (200,000 of them with four unbound dims)."""
    import json
    from json import encoder

    plain = json.JSONEncoder(allow_nan=False)
    make = getattr(encoder, "c_make_encoder", None)
    if make is None:  # a Python without the _json accelerator
        return plain.encode
    chunks = make(
        None, plain.default, encoder.encode_basestring_ascii, None, ": ", ", ", False, False, False
    )
    return lambda o: "".join(chunks(o, 0))


def _spread(o: object) -> bool:
    """Written over several lines: a non-empty object, or a list holding objects or lists."""
    if isinstance(o, (dict, Encoded)):
        return bool(o)
    return isinstance(o, (list, tuple)) and any(isinstance(x, (dict, list, tuple)) for x in o)


# --- Parsing quantities written by people (CLI flags, budget files) -------------------------
#
# Rules (also in the README):
# - A number (integer, decimal or exponent form: 5, 1.5, 2e9, 1_000) and an optional suffix;
#   spaces between them are allowed. Negative numbers, nan and inf are refused.
# - SI prefixes are decimal: k = 10^3, M = 10^6, G = 10^9, T = 10^12; binary prefixes
#   Ki = 2^10, Mi = 2^20, Gi = 2^30, Ti = 2^40.
# - Counts and bytes: the prefix letter may be either case (k/K, g/G, t/T) EXCEPT `m`, which is
#   refused because it means milli; write M for mega. Bytes take an optional unit `B`; a
#   lower-case `b` means bits and is refused.
# - Seconds: s, ms, us (or µs), ns; lower case only (Ms would be megaseconds). Plain = seconds.
# - Percent: `5%` or a plain fraction `0.05` (both mean five percent).
# Counts and bytes come back as int when the value is a whole number (1.5k -> 1500), so limits
# compare exactly with the report's integer totals; seconds and percent come back as float.

KINDS = ("count", "bytes", "seconds", "percent")

_NUMBER = re.compile(r"\s*([+-]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(.*?)\s*")

_DECIMAL = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
_BINARY = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
_SECONDS = {"s": "1", "ms": "1e-3", "us": "1e-6", "µs": "1e-6", "μs": "1e-6", "ns": "1e-9"}

_EXAMPLES = {
    "count": "5G, 30M, 1.5k, 2Gi or a plain number",
    "bytes": "100MB, 256MiB, 1GB, 2GiB, 512k or a plain number of bytes",
    "seconds": "2ms, 500us, 1.5s, 20ns or a plain number of seconds",
    "percent": "5% or a plain fraction such as 0.05",
}


def parse_quantity(text: str | float, kind: str) -> int | float:
    """Parse '5G' (count), '256MiB' (bytes), '2ms' (seconds) or '5%' (percent).

    Raises OnnxCostError with a one-line message naming the text on a bad number or suffix.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown quantity kind {kind!r}; expected one of {', '.join(KINDS)}")
    if isinstance(text, bool):
        raise OnnxCostError(f"{text!r} is not a {kind} quantity; examples: {_EXAMPLES[kind]}")
    if isinstance(text, (int, float)):
        text = repr(text)
    m = _NUMBER.fullmatch(text)
    if m is None:
        raise OnnxCostError(
            f"{text!r} is not a {kind} quantity: no number found; examples: {_EXAMPLES[kind]}"
        )
    number, suffix = m.group(1), m.group(2)
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(number.replace("_", ""))
    except InvalidOperation:
        raise OnnxCostError(f"{text!r}: {number!r} is not a number") from None
    if value < 0:
        raise OnnxCostError(f"{text!r}: a quantity cannot be negative")
    scaled = value * _scale(text, suffix, kind)
    if kind in ("seconds", "percent"):
        return float(scaled)
    return int(scaled) if scaled == scaled.to_integral_value() else float(scaled)


def _scale(text: str, suffix: str, kind: str) -> Decimal | int:
    from decimal import Decimal

    def bad(why: str) -> OnnxCostError:
        return OnnxCostError(f"{text!r}: {why}; examples: {_EXAMPLES[kind]}")

    if kind == "seconds":
        if suffix == "":
            return 1
        if suffix in _SECONDS:
            return Decimal(_SECONDS[suffix])
        raise bad(f"unknown time unit {suffix!r} (use s, ms, us or ns, lower case)")
    if kind == "percent":
        if suffix == "":
            return 1
        if suffix == "%":
            return Decimal("0.01")
        raise bad(f"unknown percent suffix {suffix!r}")
    unit = suffix
    if kind == "bytes":
        if unit.endswith("B"):
            unit = unit[:-1]
        elif unit.endswith("b"):
            raise bad("'b' means bits; write B for bytes")
    if unit == "":
        return 1
    if unit[0] == "m":
        raise bad("'m' means milli; write M for mega (10^6)")
    key = unit.lower()
    if key in _DECIMAL:
        return _DECIMAL[key]
    if len(unit) == 2 and unit[1] == "i" and key in _BINARY:
        return _BINARY[key]
    raise bad(f"unknown suffix {suffix!r}")
