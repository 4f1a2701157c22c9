"""Every document read back (baselines, budget files, device specs) is checked against its
documented structure first; special files say what they are; numbers past int64 are refused.
Each case: exit 2, one `error:` line, no traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from onnxcost.cli.main import main

CNN = Path(__file__).parents[1] / "models" / "cnn.onnx"


def error_line(*args: str, codes: tuple[int, ...] = (2,)) -> str:
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code in codes, (res.exit_code, res.output)
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output
    # ours ("error: ...") or click's usage error ("Error: Invalid value for ...")
    errors = [ln for ln in res.output.splitlines() if ln.startswith(("error: ", "Error: "))]
    assert len(errors) == 1, res.output
    return errors[0]


@pytest.fixture
def baseline(tmp_path) -> dict:
    path = tmp_path / "good.json"
    assert (
        CliRunner()
        .invoke(main, ["analyze", str(CNN), "--format", "json", "-o", str(path)])
        .exit_code
        == 0
    )
    return json.loads(path.read_text())


def _set(doc: dict, dotted: str, value) -> dict:
    *head, last = dotted.split(".")
    cur = doc
    for k in head:
        cur = cur[int(k)] if isinstance(cur, list) else cur[k]
    if isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value
    return doc


MALFORMED = [
    ("totals", [1, 2], "no 'totals' object"),
    ("totals.macs", "lots", "totals.macs must be a number"),
    ("totals.flops", [1], "totals.flops must be a number"),
    ("totals.lower_bound", "yes", "totals.lower_bound must be true or false"),
    ("totals.uncounted_nodes", {"a": 1}, "totals.uncounted_nodes must be a number"),
    ("nodes", {"a": 1}, "'nodes' must be a list"),
    ("nodes.0", "conv", "nodes[0] must be an object"),
    ("nodes.0.flops", "2", "nodes[0].flops must be a number"),
    ("nodes.0.name", 7, "nodes[0].name must be a string"),
    ("nodes.0.output_shapes", [[1, [2]]], "nodes[0].output_shapes[0] must be a list of dims"),
    ("op_types", "Conv", "'op_types' must be a list"),
    ("op_types.0.op_type", None, "op_types[0].op_type must be a string"),
    ("op_types.0.count", True, "op_types[0].count must be a number"),
    ("inputs.0.shape", "1x3", "inputs[0].shape must be a list of dims"),
    ("unresolved", [3], "unresolved[0] must be an object"),
]


@pytest.mark.parametrize(("field", "value", "words"), MALFORMED)
def test_malformed_baselines_are_clean_errors(tmp_path, baseline, field, value, words) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_set(baseline, field, value)))
    for args in (
        ("diff", str(path), str(CNN), "--fail-over", "1%"),
        ("diff", str(CNN), str(path), "--format", "json"),
        ("check", str(path), "--max-macs", "1G"),
    ):
        line = error_line(*args)
        assert words in line and "bad.json" in line, line


@pytest.mark.parametrize("text", ["[]", "3", '"x"', "null", "[" * 100_000, "{", "1" * 5000])
def test_documents_that_are_not_reports(tmp_path, text) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    line = error_line("diff", str(path), str(CNN))
    assert "bad.json" in line and "report" in line, line


@pytest.mark.parametrize("value", [2**63, 2**64, 10**30])
def test_dims_past_int64(tmp_path, value) -> None:
    transformer = CNN.parent / "transformer_block.onnx"
    line = error_line("analyze", str(transformer), "--dim", f"batch={value}")
    assert "2**63-1" in line, line
    line = error_line("check", str(CNN), "--max-macs", "1G", "--input-shape", f"x=1x3x{value}x8")
    assert "2**63-1" in line, line
    line = error_line("diff", str(CNN), str(CNN), "--dim", f"batch={value}")
    assert "2**63-1" in line, line
    budget = tmp_path / "b.toml"
    budget.write_text(f'max_macs = "1G"\ndims = {{ batch = {value} }}\n')
    line = error_line("check", str(CNN), "--budget", str(budget))
    assert "dims.batch" in line, line
    budget.write_text(f'max_macs = "1G"\ninput_shapes = {{ x = [1, {value}] }}\n')
    line = error_line("check", str(CNN), "--budget", str(budget))
    assert "input_shapes.x" in line, line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_special_files_say_what_they_are(tmp_path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    fifo_onnx = tmp_path / "pipe.onnx"
    os.mkfifo(fifo_onnx)
    folder = tmp_path / "dir.onnx"
    folder.mkdir()
    cases = [
        (str(fifo), "FIFO"),
        (str(fifo_onnx), "FIFO"),
        ("/dev/null", "device"),
        (str(folder), "directory"),
    ]
    for path, words in cases:
        line = error_line("diff", path, str(CNN))
        assert words in line, line
        line = error_line("diff", str(CNN), path)
        assert words in line, line
        res = CliRunner().invoke(main, ["check", path, "--max-macs", "1G"])
        assert res.exit_code == 2 and words in res.output, res.output
        assert "no such file" not in res.output
    line = error_line("check", "--budget", str(fifo), str(CNN))
    assert "FIFO" in line, line
    line = error_line("analyze", str(CNN), "--hw", str(fifo))
    assert "FIFO" in line, line


def test_a_file_over_2_gib_is_refused_unread(tmp_path) -> None:
    big = tmp_path / "big.onnx"
    with open(big, "wb") as f:  # sparse: no disk used, and never read
        f.truncate(3 * 10**9)
    line = error_line("analyze", str(big))
    assert "over the 2147483648-byte limit" in line, line
    copy = tmp_path / "big.json"
    os.link(big, copy) if hasattr(os, "link") else shutil.copy(big, copy)
    line = error_line("diff", str(copy), str(CNN))
    assert "over the" in line, line
