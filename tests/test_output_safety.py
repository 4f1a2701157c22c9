"""Output a model's author controls: names, op types, domains, dims and the model's path are
printed where terminals, CI runners, spreadsheets and XML parsers read them. None of them may
forge a workflow command, break a line, carry an escape sequence or stop a file from parsing."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from onnxcost.cli.main import main
from onnxcost.report import sanitize
from tests import bombs

# Our own annotation lines are the only lines that may start with "::", and only these.
OURS = ("::error title=", "::warning title=", "::error file=", "::warning file=")


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def assert_safe(text: str, annotations_ok: bool = False) -> None:
    """No escape sequence or control anywhere; no line that a CI runner reads as a command."""
    assert "\x1b" not in text and "\r" not in text and "\x07" not in text, text
    for line in text.splitlines():
        head = line.lstrip()
        if annotations_ok and head.startswith(OURS):
            # ours: model text may sit in the message (escaped), never add a property
            command = head[2:].split("::", 1)[0]
            keys = [p.split("=", 1)[0] for p in command.split(" ", 1)[1].split(",")]
            assert set(keys) <= {"file", "title"}, line
            continue
        assert not head.startswith("::"), line
        assert "##[" not in line, line
        assert not head.startswith(("error file=", "stop-commands")), line


@pytest.fixture
def hostile(tmp_path) -> str:
    path = tmp_path / "names.onnx"
    path.write_bytes(bombs.hostile_names())
    return str(path)


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "json"])
def test_analyze_outputs_hold_no_forged_lines(hostile, tmp_path, fmt) -> None:
    res = run("analyze", hostile, "--format", fmt, "--per-node")
    assert res.exit_code == 0, res.output
    assert_safe(res.output)
    out = tmp_path / f"out.{fmt}"
    assert run("analyze", hostile, "--format", fmt, "-o", str(out)).exit_code == 0
    written = out.read_text(encoding="utf-8")
    assert_safe(written)
    if fmt == "json":  # JSON keeps the names exactly: its escaping is safe
        doc = json.loads(written)
        assert doc["inputs"][0]["name"] == "x" + bombs.FORGED
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(written)))
        assert all(len(r) == len(rows[0]) for r in rows)


def test_csv_cells_are_never_formulas(tmp_path) -> None:
    for text in ("=1+2", "+cmd", "-2+3", "@SUM(A1)"):
        assert sanitize.cell(text).startswith("'"), text
    for text in ("\tx", "\rx"):  # made visible (\\t, \\r) before the rule even applies
        assert not sanitize.cell(text).startswith(("\t", "\r")), text
    assert sanitize.cell("relu") == "relu"
    path = tmp_path / "f.onnx"
    path.write_bytes(bombs.hostile_names(text="=HYPERLINK(1)"))
    res = run("analyze", str(path), "--format", "csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    for row in rows:
        for col in ("name", "op_type", "domain", "output_shapes"):
            assert not row[col].startswith(("=", "+", "-", "@", "\t", "\r")), row
        assert int(row["flops"]) >= 0  # numbers stay numbers


def test_csv_negative_numbers_stay_numbers() -> None:
    from onnxcost.report.render import _csv_value

    assert _csv_value(-3) == -3 and _csv_value(-0.5) == -0.5
    assert _csv_value("-3") == "'-3"


def test_terminal_escapes_are_stripped() -> None:
    assert sanitize.text("a\x1b[31mred\x1b[0m") == "ared"
    assert sanitize.text("a\x1b]0;title\x07b") == "ab"
    assert sanitize.text("a\x1b]8;;http://x\x1b\\b") == "ab"
    assert sanitize.text("a\x9b31mb") == "ab"
    assert sanitize.text("a\nb\rc\x00d\u2028e\u202ef") == "a\\nb\\rc\\x00d\\u2028e\\u202ef"
    assert sanitize.text("::error::x").startswith("'")
    assert "##[" not in sanitize.text("a ##[error]x")


def test_workflow_command_escaping() -> None:
    assert sanitize.workflow_data("50%\r\nx") == "50%25%0D%0Ax"
    assert sanitize.workflow_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert sanitize.workflow_data("\x1b[31mred") == "red"


def test_check_in_github_actions_forges_nothing(hostile, tmp_path) -> None:
    junit = tmp_path / "j.xml"
    env = {"GITHUB_ACTIONS": "true"}
    res = run("check", hostile, "--max-macs", "1", "--junit", str(junit), env=env)
    assert res.exit_code == 1, res.output
    assert_safe(res.output, annotations_ok=True)
    assert "bind the dims" in res.output  # the advice names the dim, escaped
    ET.parse(junit)
    res = run("check", hostile, "--max-macs", "1", "--format", "json", env=env)
    json.loads(res.stdout)
    assert_safe(res.output, annotations_ok=True)


def test_diff_forges_nothing(hostile, tmp_path) -> None:
    other = tmp_path / "other.onnx"
    other.write_bytes(bombs.hostile_names(text=bombs.STOP))
    junit = tmp_path / "d.xml"
    env = {"GITHUB_ACTIONS": "true"}
    res = run("diff", str(other), hostile, "--fail-over", "5%", "--junit", str(junit), env=env)
    assert res.exit_code in (0, 1), res.output
    assert_safe(res.output, annotations_ok=True)
    ET.parse(junit)
    base = tmp_path / "base.json"
    assert run("analyze", hostile, "--format", "json", "-o", str(base)).exit_code == 0
    res = run("diff", str(base), str(other), "--fail-over", "5%", env=env)
    assert_safe(res.output, annotations_ok=True)


def test_strict_error_is_one_safe_line(hostile) -> None:
    res = run("analyze", hostile, "--strict")
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --strict"), res.output
    assert_safe(res.output)


def test_error_naming_a_hostile_node_is_one_line(tmp_path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(bombs.hostile_names(text="\n::error::x\x1b[2J"))
    res = run("analyze", str(path), "--dim", "nosuch=1", "--strict")  # an unknown dim: an error
    assert res.exit_code == 2
    assert len(res.output.strip().splitlines()) == 1
    assert_safe(res.output)


@pytest.mark.skipif(os.name != "posix", reason="control characters in file names")
def test_junit_parses_with_control_characters_in_the_path(tmp_path) -> None:
    folder = tmp_path / "d\x01\x1b[31m"
    folder.mkdir()
    path = folder / "m\x02\x1b]0;t\x07\n::error::x.onnx"
    shutil.copy(Path(__file__).parents[1] / "models" / "cnn.onnx", path)
    junit = tmp_path / "j.xml"
    env = {"GITHUB_ACTIONS": "true"}
    res = run("check", str(path), "--max-macs", "1", "--junit", str(junit), env=env)
    assert res.exit_code == 1, res.output
    assert_safe(res.output, annotations_ok=True)
    ET.parse(junit)
    res = run("diff", str(path), str(path), "--fail-over", "1%", "--junit", str(junit), env=env)
    assert res.exit_code == 0, res.output
    assert_safe(res.output, annotations_ok=True)
    ET.parse(junit)
    res = run("analyze", str(path), "--format", "markdown")
    assert_safe(res.output)
