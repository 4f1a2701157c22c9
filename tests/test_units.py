"""units.parse_quantity: the numbers people write in budgets and gates."""

from __future__ import annotations

import json
import math

import pytest

from onnxcost.errors import OnnxCostError
from onnxcost.units import dumps, format_bytes_iec, json_safe, parse_quantity


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5G", 5 * 10**9),
        ("30M", 30 * 10**6),
        ("1.5k", 1500),  # 1.5 * 1000
        ("1.5K", 1500),  # k and K both mean 10^3
        ("2g", 2 * 10**9),  # prefix case is free except m
        ("1.1G", 1_100_000_000),  # exact: decimal arithmetic, not 1.1 * 1e9 in binary floats
        ("3T", 3 * 10**12),
        ("2Ki", 2048),  # 2 * 2^10
        ("1Gi", 1024**3),
        ("724406816", 724406816),  # plain
        ("1e9", 10**9),
        ("1_000_000", 10**6),
        (" 5 G ", 5 * 10**9),  # spaces around and between
        (0, 0),
        (1000, 1000),  # TOML gives numbers as numbers
        (2.5e6, 2_500_000),
    ],
)
def test_count(text, expected):
    value = parse_quantity(text, "count")
    assert value == expected
    assert isinstance(value, int)  # whole counts compare exactly with integer totals


def test_count_fraction_stays_float():
    assert parse_quantity("1.2345k", "count") == pytest.approx(1234.5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100MB", 100 * 10**6),
        ("100M", 100 * 10**6),  # B is optional
        ("256MiB", 256 * 2**20),  # 268,435,456
        ("256Mi", 256 * 2**20),
        ("1GB", 10**9),
        ("2GiB", 2 * 2**30),
        ("1.5kB", 1500),
        ("512KiB", 512 * 1024),
        ("4096", 4096),
        ("4096B", 4096),
        ("1TB", 10**12),
    ],
)
def test_bytes(text, expected):
    assert parse_quantity(text, "bytes") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2ms", 2e-3),
        ("500us", 500e-6),
        ("500µs", 500e-6),
        ("1.5s", 1.5),
        ("20ns", 20e-9),
        ("0.25", 0.25),  # plain: seconds
    ],
)
def test_seconds(text, expected):
    value = parse_quantity(text, "seconds")
    assert value == pytest.approx(expected, rel=1e-12)
    assert isinstance(value, float)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5%", 0.05), ("0.05", 0.05), ("0%", 0.0), ("12.5%", 0.125), ("150%", 1.5)],
)
def test_percent(text, expected):
    assert parse_quantity(text, "percent") == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "kind", "words"),
    [
        ("5m", "count", "milli"),  # m is milli, not mega
        ("100mb", "bytes", "bits"),  # b is bits
        ("100Mb", "bytes", "bits"),
        ("5X", "count", "unknown suffix 'X'"),
        ("5 GB", "count", "unknown suffix 'GB'"),  # a count has no unit
        ("5Gi B", "count", "unknown suffix"),
        ("5KI", "count", "unknown suffix"),  # binary prefixes are Ki, Mi, Gi, Ti
        ("2 mins", "seconds", "unknown time unit"),
        ("2MS", "seconds", "unknown time unit"),  # lower case only: Ms would be megaseconds
        ("5%%", "percent", "unknown percent suffix"),
        ("5 percent", "percent", "unknown percent suffix"),
        ("abc", "count", "no number"),
        ("", "bytes", "no number"),
        ("G", "count", "no number"),
        ("nan", "count", "no number"),
        ("inf", "seconds", "no number"),
        ("-5", "count", "negative"),
        ("-2ms", "seconds", "negative"),
        ("1.2.3", "count", "unknown suffix"),
    ],
)
def test_bad_quantities(text, kind, words):
    with pytest.raises(OnnxCostError, match=words) as exc:
        parse_quantity(text, kind)
    message = str(exc.value)
    assert repr(text) in message  # the error names what the user wrote
    assert "\n" not in message


def test_bool_is_not_a_quantity():
    with pytest.raises(OnnxCostError):
        parse_quantity(True, "count")


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown quantity kind"):
        parse_quantity("5", "furlongs")


def test_format_bytes_iec():
    assert format_bytes_iec(256 * 2**20) == "256.0 MiB"
    assert format_bytes_iec(1536) == "1.5 KiB"  # 1536 / 1024
    assert format_bytes_iec(100) == "100 B"


@pytest.mark.parametrize(
    "doc",
    [
        {},
        [],
        "text",
        3,
        {"a": {}, "b": [], "c": [[1, 2], [3]], "d": {"e": [{"f": 1}]}},
        {1: "int key", 1.5: "float key", None: "null key", False: [{}]},
        [{"a": math.nan}, 1, (2, (3,))],
        {"big": 2**200, "inf": [math.inf, -math.inf]},
    ],
)
def test_dumps_is_json(doc):
    # the same document json.dumps writes: keys, order and values (whitespace differs)
    assert json.loads(dumps(doc)) == json.loads(json.dumps(json_safe(doc)))


def test_dumps_one_line_per_element():
    doc = {"nodes": [{"name": "a", "shape": [1, 2]}, {"name": "b", "shape": None}], "n": [1, 2]}
    assert dumps(doc).splitlines() == [
        "{",
        '  "nodes": [',
        '    {"name": "a", "shape": [1, 2]},',
        '    {"name": "b", "shape": null}',
        "  ],",
        '  "n": [1, 2]',
        "}",
    ]
