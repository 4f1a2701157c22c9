"""Totals past a float (2**1054 FLOPs is a valid answer): exact in JSON, printed in every format,
infinite times reported as such; never an OverflowError (exit 3)."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from onnxcost import units
from onnxcost.cli.main import main
from tests import bombs

BOMBS = {
    "relu_rank17": lambda: bombs.huge_relu(17),
    "loops_17_deep": lambda: bombs.nested_loops(17),
    "einsum_52_letters": lambda: bombs.einsum_many_letters(52),
}


def run(*args: str):
    res = CliRunner().invoke(main, list(args))
    assert "internal error" not in res.output and "Traceback" not in res.output, res.output
    return res


@pytest.fixture(params=sorted(BOMBS))
def big(request, tmp_path) -> str:
    path = tmp_path / f"{request.param}.onnx"
    path.write_bytes(BOMBS[request.param]())
    return str(path)


def test_every_format_prints_them(big) -> None:
    for fmt in ("table", "markdown", "csv"):
        res = run("analyze", big, "--format", fmt)
        assert res.exit_code == 0, res.output
        if fmt != "csv":  # CSV cells are exact integers
            assert "e+" in res.output  # exponent form past the SI prefixes
    doc = json.loads(run("analyze", big, "--format", "json").output)
    assert isinstance(doc["totals"]["flops"], int) and doc["totals"]["flops"] > 2**1024


def test_roofline_time_is_infinite_and_says_so(big) -> None:
    res = run("analyze", big, "--hw", "a100")
    assert res.exit_code == 0 and "inf s" in res.output, res.output
    doc = json.loads(run("analyze", big, "--hw", "a100", "--format", "json").output)
    assert doc["totals"]["latency_s"] == "inf"  # strict JSON has no infinity
    assert run("analyze", big, "--hw", "a100", "--format", "csv").exit_code == 0
    assert run("analyze", big, "--hw", "a100", "--format", "markdown").exit_code == 0


def test_check_and_diff(big, tmp_path) -> None:
    junit = tmp_path / "j.xml"
    res = run("check", big, "--max-flops", "1", "--max-latency", "1s", "--hw", "a100")
    assert res.exit_code == 1 and "FAIL" in res.output, res.output
    res = run("check", big, "--max-flops", "1", "--format", "json", "--junit", str(junit))
    assert res.exit_code == 1
    json.loads(res.output)
    ET.parse(junit)
    small = tmp_path / "small.onnx"
    small.write_bytes(bombs.huge_relu(1))
    for a, b in ((small, big), (big, small), (big, big)):
        res = run("diff", str(a), big if b is big else str(b), "--fail-over", "1%", "--hw", "a100")
        assert res.exit_code in (0, 1), res.output
        res = run("diff", str(a), str(b), "--fail-over", "1%", "--format", "json")
        assert res.exit_code in (0, 1), res.output
        json.loads(res.output)


def test_diff_of_saved_reports(big, tmp_path) -> None:
    saved = tmp_path / "big.json"
    assert run("analyze", big, "--format", "json", "--hw", "a100", "-o", str(saved)).exit_code == 0
    res = run("diff", str(saved), big, "--fail-over", "1%")
    assert res.exit_code in (0, 1), res.output


def test_rank_beyond_the_cap_is_refused(tmp_path) -> None:
    path = tmp_path / "r.onnx"
    path.write_bytes(bombs.huge_relu(1025))
    res = run("analyze", str(path))
    assert res.exit_code == 2 and "rank 1025 (limit 1024)" in res.output, res.output


def test_rank_300_prints_exactly(tmp_path) -> None:
    path = tmp_path / "r.onnx"
    path.write_bytes(bombs.huge_relu(300))  # 5,600 digits: past Python's default str limit
    doc = json.loads(run("analyze", str(path), "--format", "json").output)
    assert doc["totals"]["flops"] == 2 ** (62 * 300)
    assert run("analyze", str(path), "--hw", "a100").exit_code == 0


def test_units_helpers() -> None:
    assert units.ratio(2**1100, 3) == math.inf and units.ratio(-(2**1100), 3) == -math.inf
    assert units.ratio(6, 3) == 2.0
    assert units.format_count(2**1100).endswith("e+331")
    assert units.format_bytes(10**20) == "1.0e+20 B"
    assert units.format_count(999 * 10**12) == "999.00 T"
    assert units.format_seconds(math.inf) == "inf s"
    assert json.loads(units.dumps({"a": [math.inf, 1.5, 2**70]})) == {"a": ["inf", 1.5, 2**70]}
