"""Tiny hostile files that once cost minutes, gigabytes or a crash (tests/bombs.py), each run as
`onnxcost` in a subprocess under fixed limits: 2 GB of address space and 20 s of CPU. A bomb must
end in a clean exit (0, or 2 with one `error:` line), never a kill by the limits or a traceback.
No timed assertions: the limits are the test.

The shape-engine cases (element type 0, nested If, sparse Constant, Einsum with two ellipses) are
covered by guards in shapes.py; the engine rewrite carries these tests over."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import bombs

resource = pytest.importorskip("resource")

MEMORY_BYTES = 2 << 30
CPU_SECONDS = 20
ROOT = Path(__file__).parents[1]


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def onnxcost(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("ONNXCOST_DEBUG", None)
    if home is not None:
        env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    return subprocess.run(
        [sys.executable, "-c", "from onnxcost.cli.main import main; main()", *args],
        capture_output=True,
        text=True,
        preexec_fn=_limits,
        env=env,
        cwd=ROOT,
        timeout=CPU_SECONDS * 6,  # wall clock on a busy machine; the CPU limit is the bound
    )


def assert_clean(res: subprocess.CompletedProcess[str]) -> None:
    assert res.returncode in (0, 2), (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    if res.returncode == 2:
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr


SHAPE_ENGINE = {
    "undefined_element_type": bombs.undefined_element_type,
    "nested_if_18": lambda: bombs.nested_if(18),
    "nested_if_30": lambda: bombs.nested_if(30),
    "sparse_constant_1e8": bombs.sparse_constant,
    "einsum_two_ellipses": bombs.einsum_two_ellipses,
}
LOADER_GRAPH = {
    "empty_nodes_1e6": bombs.empty_nodes,
    "chain_250k": bombs.chain,
}


@pytest.mark.parametrize("name", sorted(SHAPE_ENGINE))
def test_shape_engine_bombs(tmp_path, name) -> None:
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(SHAPE_ENGINE[name]())
    assert_clean(onnxcost("analyze", str(path)))


def test_einsum_with_two_ellipses_is_refused(tmp_path) -> None:
    path = tmp_path / "e.onnx"
    path.write_bytes(bombs.einsum_two_ellipses())
    res = onnxcost("analyze", str(path))
    assert res.returncode == 2 and "not a valid Einsum equation" in res.stderr, res.stderr


def test_empty_nodes_are_refused(tmp_path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(bombs.empty_nodes())
    res = onnxcost("analyze", str(path))
    assert res.returncode == 2 and "no op_type" in res.stderr, res.stderr


@pytest.mark.skipif(
    os.environ.get("ONNXCOST_SLOW") != "1",
    reason="at the edge of the limit (about 19 s of CPU on the project machine, 7.5 s of it in "
    "shape inference, 1.1 GB); ONNXCOST_SLOW=1 runs it",
)
def test_chain_of_250k_nodes(tmp_path) -> None:
    path = tmp_path / "chain.onnx"
    path.write_bytes(bombs.chain())
    assert_clean(onnxcost("analyze", str(path), "-o", str(tmp_path / "out.txt")))


def test_a_3_gb_file_is_refused_unread(tmp_path) -> None:
    path = tmp_path / "big.onnx"
    with open(path, "wb") as f:  # sparse: no disk used
        f.truncate(3 * 10**9)
    res = onnxcost("analyze", str(path))
    assert res.returncode == 2 and "over the 2147483648-byte limit" in res.stderr, res.stderr


@pytest.mark.parametrize(
    ("attrs", "words"),
    [
        ({"bits": "four"}, "attribute 'bits' has type STRING, the spec says INT"),
        ({"block_size": [16]}, "attribute 'block_size' has type INTS, the spec says INT"),
        ({"K": float("inf")}, "attribute 'K' has type FLOAT, the spec says INT"),
    ],
)
def test_contrib_attributes_of_the_wrong_type(tmp_path, attrs, words) -> None:
    path = tmp_path / "m.onnx"
    path.write_bytes(bombs.matmul_nbits(**attrs))
    res = onnxcost("analyze", str(path))
    assert res.returncode == 2 and words in res.stderr and "mmnb" in res.stderr, res.stderr


def test_constant_value_ints_of_the_wrong_type(tmp_path) -> None:
    path = tmp_path / "c.onnx"
    path.write_bytes(bombs.constant_value_ints_wrong_type())
    res = onnxcost("analyze", str(path))
    assert res.returncode == 2, res.stderr
    assert "attribute 'value_ints' has type STRING, the spec says INTS" in res.stderr


def test_analyze_check_diff_write_nothing_under_home(tmp_path) -> None:
    """`import onnxruntime` writes a device id and a database under ~/.cache: analyze, check
    and diff never import it (the shape engine is onnxcost's own, on onnx-ir)."""
    home = tmp_path / "home"
    home.mkdir()
    lstm = ROOT / "models" / "lstm.onnx"
    contrib = tmp_path / "contrib.onnx"
    contrib.write_bytes(bombs.nested_if(3))  # nested subgraphs and a contrib op
    runs = [
        ("analyze", str(lstm)),
        ("analyze", str(contrib)),
        ("check", str(contrib), "--max-macs", "1G", "--allow-uncounted"),
        ("diff", str(lstm), str(contrib)),
    ]
    for args in runs:
        assert_clean_or_fail = onnxcost(*args, home=home)
        assert assert_clean_or_fail.returncode in (0, 1), assert_clean_or_fail.stderr
    assert list(home.rglob("*")) == []


def test_diff_of_long_unnamed_chains(tmp_path) -> None:
    """Unnamed nodes are aligned by op type; difflib is quadratic on a long run of one type (a
    20,000-node chain against itself took past 20 s of CPU). Found by tools/fuzz_campaign.py."""
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    a.write_bytes(bombs.chain(20_000))
    b.write_bytes(bombs.chain(20_001))
    assert_clean(onnxcost("diff", str(a), str(a), "--format", "json"))
    res = onnxcost("diff", str(a), str(b), "--fail-over", "1%")
    assert res.returncode in (0, 1), res.stderr
    assert "Traceback" not in res.stderr
