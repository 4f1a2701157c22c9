"""The analyze command: formats, the JSON contract, exit codes, one-line errors."""

from __future__ import annotations

import csv
import io
import json

import onnx
import pytest
from click.testing import CliRunner

import onnxcost
from onnxcost.cli.main import main
from tests.builders import GraphBuilder, alexnet


@pytest.fixture(scope="module")
def alexnet_path(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("m") / "alexnet.onnx"
    onnx.save_model(alexnet(), path)
    return str(path)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_table_summary(alexnet_path) -> None:
    res = invoke("analyze", alexnet_path)
    assert res.exit_code == 0
    assert "724.41 M" in res.output  # MACs, SI
    assert "60.97 M" in res.output  # params
    assert "243.9 MB" in res.output  # fp32 weights
    assert "By op type" in res.output and "Top 10 nodes by MACs" in res.output


def test_json_is_the_api_dict(alexnet_path) -> None:
    res = invoke("analyze", alexnet_path, "--format", "json")
    d = json.loads(res.output)
    assert d == json.loads(json.dumps(onnxcost.analyze(alexnet_path).to_dict()))
    t = d["totals"]
    for key in (
        "macs", "flops", "params", "weight_bytes", "activations_total", "activations_peak",
        "activations_peak_bytes", "memory_traffic_bytes", "uncounted_nodes",
    ):  # fmt: skip
        assert isinstance(t[key], int), key
    assert t["macs"] == 724_406_816
    node = d["nodes"][0]
    for key in (
        "name",
        "op_type",
        "inputs",
        "outputs",
        "output_shapes",
        "macs",
        "flops",
        "bytes_read",
        "bytes_written",
    ):
        assert key in node
    assert node["output_shapes"] == [[1, 96, 55, 55]]
    # conv1 reads input + weight + bias, writes its output (fp32)
    assert node["bytes_read"] == 4 * (3 * 224 * 224 + 96 * 3 * 11 * 11 + 96)
    assert node["bytes_written"] == 4 * 96 * 55 * 55
    assert d["uncounted"] == [] and d["unresolved"] == []


def test_to_dict_copies_unless_told_not_to(alexnet_path) -> None:
    report = onnxcost.analyze(alexnet_path)
    copied, shared = report.to_dict(), report.to_dict(copy=False)
    assert copied == shared
    assert copied["nodes"][0]["inputs"] is not report.nodes[0].inputs
    assert shared["nodes"][0]["inputs"] is report.nodes[0].inputs  # JSON output: no copies


def test_csv_and_markdown(alexnet_path, tmp_path) -> None:
    out = tmp_path / "r.csv"
    assert invoke("analyze", alexnet_path, "--format", "csv", "-o", str(out)).exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sum(int(r["macs"]) for r in rows) == 724_406_816
    md = invoke("analyze", alexnet_path, "--format", "markdown", "--per-node").output
    assert "| op type | count |" in md
    assert md.count("| Conv") >= 5


def test_missing_file_is_one_line_exit_2(tmp_path) -> None:
    res = CliRunner().invoke(main, ["analyze", str(tmp_path / "nope.onnx")])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error:") and "no such file" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1


def test_uncounted_op_is_visible_and_strict_fails(tmp_path) -> None:
    b = GraphBuilder()
    x = b.input("x", [4])
    b.nodes.append(
        onnx.helper.make_node("Mystery", [x], ["m"], domain="com.example", name="mystery")
    )
    y = b.op("Relu", ["m"])
    m = _model_with_custom(b, y)
    path = tmp_path / "custom.onnx"
    onnx.save_model(m, path)
    res = invoke("analyze", str(path))
    assert res.exit_code == 0
    assert "Uncounted ops" in res.output and "com.example:Mystery" in res.output
    assert "≥" in res.output  # totals marked as lower bounds
    strict = CliRunner().invoke(main, ["analyze", str(path), "--strict"])
    assert strict.exit_code == 2 and "uncounted ops: Mystery x1" in strict.output


def _model_with_custom(b: GraphBuilder, y: str) -> onnx.ModelProto:
    graph = onnx.helper.make_graph(
        b.nodes, "g", b.inputs, [onnx.helper.make_empty_tensor_value_info(y)]
    )
    return onnx.helper.make_model(
        graph,
        opset_imports=[
            onnx.helper.make_opsetid("", 21),
            onnx.helper.make_opsetid("com.example", 1),
        ],
    )


def test_bad_dim_option_exit_2(alexnet_path) -> None:
    res = CliRunner().invoke(main, ["analyze", alexnet_path, "--dim", "batch"])
    assert res.exit_code == 2
    # a dim the model lacks is a warning (one command line serves several exporters' files) ...
    res = CliRunner().invoke(main, ["analyze", alexnet_path, "--dim", "batch=2"])
    assert res.exit_code == 0 and "no dim named 'batch'" in res.output
    # ... and an error with --strict
    res = CliRunner().invoke(main, ["analyze", alexnet_path, "--dim", "batch=2", "--strict"])
    assert res.exit_code == 2 and "no dim named 'batch'" in res.output


def test_help_explains_every_option() -> None:
    res = invoke("analyze", "--help")
    for opt in (
        "--dim",
        "--input-shape",
        "--format",
        "--output",
        "--per-node",
        "--top",
        "--strict",
    ):
        assert opt in res.output


def test_lazy_command_listing_matches_the_commands() -> None:
    # `onnxcost --help` lists commands without importing them: the one-line help it shows
    # must be each command's own first line
    import importlib

    from onnxcost.cli.hw import CALIBRATE
    from onnxcost.cli.main import COMMANDS

    for target, first_line in [*COMMANDS.values(), CALIBRATE]:
        module, attr = target.split(":")
        cmd = getattr(importlib.import_module(module), attr)
        assert cmd.help.split("\n\n")[0].strip() == first_line, target


def test_help_imports_no_analysis() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from onnxcost.cli.main import main\n"
        "sys.argv = ['onnxcost', 'hw', 'list']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('onnx', 'numpy', 'onnx_ir', 'onnxruntime') if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "[]", out.stderr


def test_the_process_exits_with_its_code_and_all_it_wrote(alexnet_path, tmp_path) -> None:
    # `onnxcost` ends with os._exit (cli.main.run): what it printed must be flushed first, and
    # the exit code be the command's
    import subprocess
    import sys

    def cli(*args: str, **kw) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "onnxcost.cli", *args]
        return subprocess.run(cmd, capture_output=True, text=True, **kw)

    ok = cli("analyze", alexnet_path, "--format", "json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["totals"]["macs"] > 0  # every byte
    bad = cli("analyze", str(tmp_path / "missing.onnx"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such file" in bad.stderr
    over = cli("check", alexnet_path, "--max-flops", "1")
    assert over.returncode == 1
    # a reader that stops early (| head): no message about the pipe, no traceback
    shell = f"{sys.executable} -m onnxcost.cli analyze {alexnet_path} --format json | head -c 1"
    cut = subprocess.run(shell, shell=True, capture_output=True, text=True)
    assert cut.stdout == "{" and "Error" not in cut.stderr and "Traceback" not in cut.stderr


def test_exit_functions_and_profilers_still_run(alexnet_path, tmp_path) -> None:
    # the fast exit runs what was registered with atexit, and leaves a profiler (or coverage)
    # the normal exit, where it writes its data
    import subprocess
    import sys

    mark, stats = tmp_path / "ran", tmp_path / "stats.prof"
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: open({str(mark)!r}, 'w').write('yes'))\n"
        f"sys.argv = ['onnxcost', 'analyze', {alexnet_path!r}, '-o', {str(tmp_path / 'r')!r}]\n"
        "from onnxcost.cli.main import run\n"
        "run()\n"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
    assert mark.read_text() == "yes"
    profiled = [sys.executable, "-m", "cProfile", "-o", str(stats), "-m", "onnxcost.cli"]
    assert (
        subprocess.run([*profiled, "analyze", alexnet_path, "-o", str(tmp_path / "s")]).returncode
        == 0
    )
    assert stats.stat().st_size > 0
