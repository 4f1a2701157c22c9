"""Audit safety: hostile and malformed files end in one clean line (exit 2), nothing outside the
model is read, nothing is written, nothing is run, and memory stays bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper, numpy_helper

import onnxcost
from onnxcost.cli.main import main
from onnxcost.errors import ModelError, OnnxCostError
from onnxcost.model import engine, loader
from onnxcost.model.loader import MAX_SUBGRAPH_DEPTH, SMALL_CONSTANT_ELEMENTS, load

vi = helper.make_tensor_value_info


# --- helpers -------------------------------------------------------------------------------------


def model(nodes, inputs, outputs, inits=(), opsets=(("", 21),)) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


def relu_model() -> onnx.ModelProto:
    return model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        [vi("x", TensorProto.FLOAT, [2, 3])],
        [vi("y", TensorProto.FLOAT, [2, 3])],
    )


def save(m: onnx.ModelProto, path: Path) -> str:
    path.write_bytes(m.SerializeToString())  # no checker: these models are malformed on purpose
    return str(path)


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def fails(*args: str) -> str:
    """Run `onnxcost analyze ARGS`; it must exit 2 with one `error:` line. Returns that line."""
    res = cli("analyze", *args)
    assert res.exit_code == 2, (res.exit_code, res.output, res.exception)
    assert "Traceback" not in res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


def succeeds(*args: str) -> str:
    res = cli("analyze", *args)
    assert res.exit_code == 0, (res.output, res.exception)
    return res.output


def report_json(*args: str) -> dict:
    return json.loads(succeeds(*args, "--format", "json"))


# --- the file itself -----------------------------------------------------------------------------


def test_missing_path(tmp_path) -> None:
    msg = fails(str(tmp_path / "nope.onnx"))
    assert "nope.onnx" in msg and "no such file" in msg


def test_directory(tmp_path) -> None:
    msg = fails(str(tmp_path))
    assert str(tmp_path) in msg and "is a directory" in msg


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read a chmod 000 file"
)
def test_unreadable(tmp_path) -> None:
    path = Path(save(relu_model(), tmp_path / "locked.onnx"))
    path.chmod(0)
    try:
        msg = fails(str(path))
    finally:
        path.chmod(0o600)
    assert "locked.onnx" in msg and "cannot" in msg and "ermission denied" in msg


def test_unreadable_when_open_is_denied(tmp_path, monkeypatch) -> None:
    # The same case where the tests run as root (chmod 000 does not stop root): the OS says no.
    path = save(relu_model(), tmp_path / "locked.onnx")
    real_open = os.open

    def deny(p, *args, **kwargs):
        if str(p) == path:
            raise PermissionError(13, "Permission denied", str(p))
        return real_open(p, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)
    msg = fails(path)
    assert "locked.onnx" in msg and "cannot" in msg and "ermission denied" in msg


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_without_blocking(tmp_path) -> None:
    # Reading a FIFO would wait for a writer forever; a device like /dev/zero would never end.
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    msg = fails(str(fifo))
    assert "pipe.onnx" in msg and "not a regular file" in msg


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_device_is_refused() -> None:
    msg = fails("/dev/zero")
    assert "/dev/zero" in msg and "not a regular file" in msg


def test_empty(tmp_path) -> None:
    (tmp_path / "empty.onnx").write_bytes(b"")
    msg = fails(str(tmp_path / "empty.onnx"))
    assert "empty.onnx" in msg and "empty" in msg


def test_not_protobuf(tmp_path) -> None:
    (tmp_path / "text.onnx").write_bytes(b"hello world, this is not protobuf\n")
    msg = fails(str(tmp_path / "text.onnx"))
    assert "text.onnx" in msg and "not an ONNX model" in msg and "protobuf" in msg


def test_truncated_protobuf(tmp_path) -> None:
    data = relu_model().SerializeToString()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 2])
    msg = fails(str(tmp_path / "cut.onnx"))
    assert "cut.onnx" in msg and "not an ONNX model" in msg
    # every proper prefix is refused cleanly (through the API: the same errors, faster)
    for k in range(1, len(data)):
        (tmp_path / "p.onnx").write_bytes(data[:k])
        with pytest.raises(OnnxCostError):
            onnxcost.analyze(tmp_path / "p.onnx")


def test_tensorproto_is_not_a_model(tmp_path) -> None:
    t = numpy_helper.from_array(np.zeros((3, 4), np.float32), "w")
    (tmp_path / "tensor.onnx").write_bytes(t.SerializeToString())
    msg = fails(str(tmp_path / "tensor.onnx"))
    assert "tensor.onnx" in msg and "not an ONNX model" in msg


def test_graphproto_is_not_a_model(tmp_path) -> None:
    (tmp_path / "graph.onnx").write_bytes(relu_model().graph.SerializeToString())
    msg = fails(str(tmp_path / "graph.onnx"))
    assert "graph.onnx" in msg and "not an ONNX model" in msg and "no graph" in msg
    assert "GraphProto" in msg  # the hint: fields a ModelProto does not define


def test_no_graph(tmp_path) -> None:
    m = onnx.ModelProto(ir_version=10)
    m.opset_import.add().version = 21
    msg = fails(save(m, tmp_path / "nograph.onnx"))
    assert "nograph.onnx" in msg and "no graph" in msg


def test_no_opset_import(tmp_path) -> None:
    m = relu_model()
    del m.opset_import[:]
    msg = fails(save(m, tmp_path / "noopset.onnx"))
    assert "noopset.onnx" in msg and "opset_import" in msg


def test_names_that_are_not_utf8(tmp_path) -> None:
    # protobuf returns invalid UTF-8 in a string field as bytes: refused by name, at load
    data = relu_model().SerializeToString()
    assert data.count(b"relu") == 1
    (tmp_path / "bad.onnx").write_bytes(data.replace(b"relu", b"re\xffu"))
    msg = fails(str(tmp_path / "bad.onnx"))
    assert "bad.onnx" in msg and "NodeProto" in msg and "'name' is not valid UTF-8" in msg


def test_utf8_checked_in_c_as_the_walk_checks() -> None:
    # The loader's quick check (a parse under a copy of onnx's schema whose strings protobuf
    # checks) must refuse exactly what the walk refuses; the walk then names the field.
    if loader._utf8_model() is None:
        pytest.skip("this protobuf predates editions: the walk checks every model")
    good = relu_model()
    good.graph.doc_string = "tag"
    data = good.SerializeToString()
    assert loader._all_text(bytearray(data))
    bad = bytearray(data.replace(b"tag", b"t\xffg"))
    assert not loader._all_text(bad)
    with pytest.raises(ModelError, match="'doc_string' is not valid UTF-8"):
        loader._validate_text(onnx.ModelProto.FromString(bytes(bad)), None)


# --- graph structure -----------------------------------------------------------------------------


def test_tensor_produced_twice(tmp_path) -> None:
    m = model(
        [
            helper.make_node("Relu", ["x"], ["y"], name="a"),
            helper.make_node("Neg", ["x"], ["y"], name="b"),
        ],
        [vi("x", TensorProto.FLOAT, [2])],
        [vi("y", TensorProto.FLOAT, [2])],
    )
    msg = fails(save(m, tmp_path / "dup.onnx"))
    assert "'y' is produced twice" in msg and "'a'" in msg and "'b'" in msg


def test_tensor_produced_that_is_a_graph_input(tmp_path) -> None:
    m = model(
        [
            helper.make_node("Relu", ["x"], ["y"], name="a"),
            helper.make_node("Neg", ["y"], ["x"], name="b"),  # writes over the input
        ],
        [vi("x", TensorProto.FLOAT, [2])],
        [vi("y", TensorProto.FLOAT, [2])],
    )
    msg = fails(save(m, tmp_path / "over.onnx"))
    assert "'x' produced by node 'b' is also a graph input or initializer" in msg


def test_consumes_what_nothing_produces(tmp_path) -> None:
    m = model(
        [helper.make_node("Add", ["x", "ghost"], ["y"], name="add")],
        [vi("x", TensorProto.FLOAT, [2])],
        [vi("y", TensorProto.FLOAT, [2])],
    )
    msg = fails(save(m, tmp_path / "dangling.onnx"))
    assert "'add'" in msg and "'ghost'" in msg and "nothing produces" in msg


def test_cycle(tmp_path) -> None:
    m = model(
        [
            helper.make_node("Relu", ["b"], ["a"], name="r1"),
            helper.make_node("Relu", ["a"], ["b"], name="r2"),
            helper.make_node("Add", ["x", "a"], ["y"], name="add"),
        ],
        [vi("x", TensorProto.FLOAT, [2])],
        [vi("y", TensorProto.FLOAT, [2])],
    )
    msg = fails(save(m, tmp_path / "cycle.onnx"))
    assert "cycle" in msg and ("'r1'" in msg or "'r2'" in msg)


def test_node_reading_its_own_output(tmp_path) -> None:
    # a cycle of one node: read before it is made, in any order
    m = model(
        [
            helper.make_node("Add", ["x", "a"], ["a"], name="loop"),
            helper.make_node("Relu", ["a"], ["y"], name="r"),
        ],
        [vi("x", TensorProto.FLOAT, [2])],
        [vi("y", TensorProto.FLOAT, [2])],
    )
    msg = fails(save(m, tmp_path / "self.onnx"))
    assert "cycle" in msg and "'loop'" in msg


# --- attributes and dims -------------------------------------------------------------------------


def conv_model(x_shape, w_shape, **attrs) -> onnx.ModelProto:
    w = numpy_helper.from_array(np.zeros(w_shape, np.float32), "w")
    return model(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", **attrs)],
        [vi("x", TensorProto.FLOAT, x_shape)],
        [vi("y", TensorProto.FLOAT, None)],
        [w],
    )


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "attrs", "expected"),
    [
        ([1, 6, 8, 8], [4, 2, 3, 3], {"group": 4}, "group 4 does not divide 6 input"),
        ([1, 6, 8, 8], [4, 6, 3, 3], {"group": 0}, "group 0 does not divide"),
        ([1, 3, 8, 8], [4, 3, 3, 3], {"pads": [-1, 0, 0, 0]}, "negative pads"),
        ([1, 3, 8, 8], [4, 3, 3, 3], {"pads": [1, 1, 1]}, "pads has 3 values, expected 4"),
        ([1, 3, 4, 4], [4, 3, 7, 7], {}, "larger than padded input"),
        ([1, 3, 8, 8], [4, 3, 3, 3], {"strides": [0, 1]}, "strides and dilations must be positive"),
    ],
)
def test_invalid_conv_attributes(tmp_path, x_shape, w_shape, attrs, expected) -> None:
    msg = fails(save(conv_model(x_shape, w_shape, **attrs), tmp_path / "conv.onnx"))
    assert "'conv1' (Conv)" in msg and expected in msg


def test_pool_kernel_larger_than_input(tmp_path) -> None:
    m = model(
        [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[9, 9])],
        [vi("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [vi("y", TensorProto.FLOAT, None)],
    )
    msg = fails(save(m, tmp_path / "pool.onnx"))
    assert "'pool' (MaxPool)" in msg and "larger than padded input" in msg


def test_negative_dim_on_input(tmp_path) -> None:
    m = model(
        [helper.make_node("Relu", ["x"], ["y"])],
        [vi("x", TensorProto.FLOAT, [2, -3])],
        [vi("y", TensorProto.FLOAT, None)],
    )
    msg = fails(save(m, tmp_path / "neg.onnx"))
    assert "'x'" in msg and "negative dim -3" in msg


def test_negative_dim_on_initializer(tmp_path) -> None:
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[-2, 3])
    m = model(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        [vi("x", TensorProto.FLOAT, [2, 3])],
        [vi("y", TensorProto.FLOAT, None)],
        [w],
    )
    msg = fails(save(m, tmp_path / "negw.onnx"))
    assert "'w'" in msg and "negative dim -2" in msg


def test_zero_size_tensors_cost_zero(tmp_path) -> None:
    # [0, 3] x [3, 0] -> [0, 0], then Relu: every count is 0 and nothing divides by it.
    m = model(
        [
            helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"),
            helper.make_node("Relu", ["y"], ["z"], name="relu"),
        ],
        [vi("x", TensorProto.FLOAT, [0, 3])],
        [vi("z", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.zeros((3, 0), np.float32), "w")],
    )
    path = save(m, tmp_path / "zero.onnx")
    d = report_json(path)
    t = d["totals"]
    assert (t["macs"], t["flops"], t["params"], t["activations_peak"]) == (0, 0, 0, 0)
    assert t["memory_traffic_bytes"] == 0 and d["uncounted"] == [] and d["unresolved"] == []
    assert all(o["share_flops"] == 0 for o in d["op_types"])
    for fmt in ("table", "markdown", "csv"):
        succeeds(path, "--format", fmt, "--per-node")
    # the roofline divides by FLOPs, traffic and latency: all zero here
    d = report_json(path, "--hw", "h100-sxm")
    assert all(n["latency_s"] == 0.0 and n["flops"] == 0 for n in d["nodes"])
    assert d["totals"]["latency_s"] == 0.0
    succeeds(path, "--hw", "h100-sxm", "--per-node")


def test_absurd_dims_are_exact_and_allocate_nothing(tmp_path) -> None:
    big, k = 2**40, 7
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[k, big])  # declared, no payload
    m = model(
        [helper.make_node("MatMul", ["a", "w"], ["y"], name="mm")],
        [vi("a", TensorProto.FLOAT, [big, k])],
        [vi("y", TensorProto.FLOAT, None)],
        [w],
    )
    path = save(m, tmp_path / "big.onnx")
    onnxcost.analyze(relu_model())  # warm up lazy imports before measuring
    tracemalloc.start()
    try:
        r = onnxcost.analyze(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20  # a [2**40, 2**40] float32 output would be 4 * 2**80 bytes
    # MACs = M * N * K = 2**40 * 2**40 * 7, exactly (Python integers, no int64 overflow)
    assert r.totals.macs == 2**40 * 2**40 * 7
    assert r.totals.flops == 2 * 2**80 * 7
    assert r.totals.params == 7 * 2**40
    assert r.totals.weight_bytes == 4 * 7 * 2**40
    d = report_json(path)
    assert d["totals"]["macs"] == 7 * 2**80  # JSON carries the exact integer
    assert d["nodes"][0]["output_shapes"] == [[big, big]]


# --- nesting and control flow --------------------------------------------------------------------


def nested_if(depth: int) -> onnx.ModelProto:
    """`depth` Ifs, each with the next one in its then-branch and a Neg in its else-branch;
    the innermost then-branch is a Relu. Built in place (copying would re-parse the nesting)."""
    m = onnx.ModelProto(ir_version=10)
    m.opset_import.add().version = 21
    g = m.graph
    g.name = "top"
    g.input.extend([vi("x", TensorProto.FLOAT, [4]), vi("c", TensorProto.BOOL, [])])
    g.output.append(vi(f"r{depth}", TensorProto.FLOAT, [4]))
    for d in range(depth, 0, -1):
        node = g.node.add(op_type="If", name=f"if{d}", input=["c"], output=[f"r{d}"])
        other = node.attribute.add(name="else_branch", type=onnx.AttributeProto.GRAPH)
        other.g.name = f"else{d}"
        other.g.node.append(helper.make_node("Neg", ["x"], [f"e{d}"]))
        other.g.output.append(vi(f"e{d}", TensorProto.FLOAT, [4]))
        then = node.attribute.add(name="then_branch", type=onnx.AttributeProto.GRAPH)
        g = then.g
        g.name = f"then{d}"
        g.output.append(vi(f"r{d - 1}", TensorProto.FLOAT, [4]))
    g.node.append(helper.make_node("Relu", ["x"], ["r0"]))
    return m


def test_nested_subgraphs_analyse() -> None:
    # Each If counts one branch of 4 FLOPs (Relu or Neg on 4 elements): 4 FLOPs in all.
    assert onnxcost.analyze(nested_if(MAX_SUBGRAPH_DEPTH)).totals.flops == 4


def test_nested_subgraphs_from_a_file(tmp_path) -> None:
    assert report_json(save(nested_if(25), tmp_path / "d25.onnx"))["totals"]["flops"] == 4
    # protobuf itself stops parsing at 100 message levels (about 32 nested subgraphs)
    msg = fails(save(nested_if(300), tmp_path / "d300.onnx"))
    assert "d300.onnx" in msg and "nested" in msg


def test_nesting_hundreds_deep_is_refused() -> None:
    with pytest.raises(OnnxCostError, match=r"node 'if1000': subgraphs nested more than 64 deep"):
        onnxcost.analyze(nested_if(1000))


def test_loop_trip_count_2_pow_62_is_multiplied(tmp_path) -> None:
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "v_in"], ["v_out"]),  # 4 FLOPs per iteration
        ],
        "body",
        [
            vi("i", TensorProto.INT64, []),
            vi("cond_in", TensorProto.BOOL, []),
            vi("v_in", TensorProto.FLOAT, [4]),
        ],
        [vi("cond_out", TensorProto.BOOL, []), vi("v_out", TensorProto.FLOAT, [4])],
    )
    m = model(
        [helper.make_node("Loop", ["M", "", "v0"], ["v"], name="loop", body=body)],
        [vi("v0", TensorProto.FLOAT, [4])],
        [vi("v", TensorProto.FLOAT, [4])],
        [numpy_helper.from_array(np.array(2**62, np.int64), "M")],
    )
    d = report_json(save(m, tmp_path / "loop.onnx"))
    assert d["totals"]["flops"] == 4 * 2**62  # 4 FLOPs x 2**62 iterations, never iterated


# --- external data -------------------------------------------------------------------------------


def external_model(location: str, name: str = "w") -> onnx.ModelProto:
    w = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=[2, 3])
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value=location)
    return model(
        [helper.make_node("Add", ["x", name], ["y"], name="add")],
        [vi("x", TensorProto.FLOAT, [2, 3])],
        [vi("y", TensorProto.FLOAT, [2, 3])],
        [w],
    )


class OpenAudit:
    """Records every path Python opens (the 'open' audit event covers open, io.open, os.open)."""

    active = False
    paths: ClassVar[list[str]] = []

    @classmethod
    def hook(cls, event: str, args: tuple) -> None:
        if cls.active and event == "open" and args and isinstance(args[0], str | bytes | Path):
            cls.paths.append(os.fsdecode(args[0]))


sys.addaudithook(OpenAudit.hook)  # hooks cannot be removed; this one records only when active


def _atime_works(folder: Path) -> bool:
    probe = folder / "atime-probe"
    probe.write_bytes(b"x")
    st = probe.stat()
    os.utime(probe, (st.st_mtime - 100, st.st_mtime))
    before = probe.stat().st_atime
    probe.read_bytes()
    works = probe.stat().st_atime != before
    probe.unlink()
    return works


class Sentinels:
    """Files that must never be opened. Two witnesses: Python's 'open' audit event (any open from
    Python), and the access time, set back before the run (any read, from C or C++ as well: onnx
    and onnxruntime read external data in native code). The second needs a filesystem that
    updates access times; where it does not, only the first applies."""

    def __init__(self, files: list[Path], atime: bool) -> None:
        self.files, self.atime = files, atime

    def arm(self) -> None:
        for f in self.files:
            st = f.stat()
            os.utime(f, (st.st_mtime - 100, st.st_mtime), follow_symlinks=True)
        self.times = {f: f.stat().st_atime for f in self.files}
        OpenAudit.paths = []
        OpenAudit.active = True

    def assert_untouched(self) -> None:
        OpenAudit.active = False
        targets = {os.path.realpath(f) for f in self.files} | {f.name for f in self.files}
        hits = [
            p for p in OpenAudit.paths if os.path.realpath(p) in targets or Path(p).name in targets
        ]
        assert not hits, f"opened: {hits}"
        if self.atime:
            assert {f: f.stat().st_atime for f in self.files} == self.times, "a sentinel was read"


@pytest.fixture
def outside(tmp_path):
    """A model folder, and beside it a secret file that must never be opened."""
    folder = tmp_path / "model"
    folder.mkdir()
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(6, dtype=np.float32).tobytes())
    return folder, secret


@pytest.fixture
def sentinels(tmp_path):
    made: list[Sentinels] = []

    def make(*files: Path) -> Sentinels:
        made.append(Sentinels(list(files), _atime_works(tmp_path)))
        made[-1].arm()
        return made[-1]

    yield make
    OpenAudit.active = False


def _refused_at_load(path: str, expected: str) -> None:
    """The refusal comes from the loader, before onnx or onnxruntime see the model."""
    with pytest.raises(ModelError, match=expected):
        load(path)


def test_external_absolute_location_is_refused_unopened(outside, sentinels) -> None:
    folder, secret = outside
    path = save(external_model(str(secret)), folder / "abs.onnx")
    watch = sentinels(secret)
    msg = fails(path)
    watch.assert_untouched()
    assert "tensor 'w'" in msg and repr(str(secret)) in msg and "is absolute: refused" in msg
    _refused_at_load(path, "is absolute")


def test_external_dotdot_location_is_refused_unopened(outside, sentinels) -> None:
    folder, secret = outside
    path = save(external_model("../secret.bin"), folder / "dotdot.onnx")
    watch = sentinels(secret)
    msg = fails(path)
    watch.assert_untouched()
    assert "tensor 'w'" in msg and "'../secret.bin'" in msg and "contains '..': refused" in msg
    _refused_at_load(path, "contains '..'")


def test_external_symlink_outside_is_refused_unopened(outside, sentinels) -> None:
    folder, secret = outside
    (folder / "weights.bin").symlink_to(secret)
    path = save(external_model("weights.bin"), folder / "link.onnx")
    watch = sentinels(secret)
    msg = fails(path)
    watch.assert_untouched()
    assert "tensor 'w'" in msg and "'weights.bin'" in msg
    assert "resolves outside the model's folder: refused" in msg
    _refused_at_load(path, "resolves outside")


def test_external_control_character_is_refused(outside) -> None:
    folder, _ = outside
    msg = fails(save(external_model("w\x00.bin"), folder / "nul.onnx"))
    assert "tensor 'w'" in msg and "control character" in msg


def test_external_file_inside_is_never_read(outside, sentinels, monkeypatch) -> None:
    # A valid location is fine, and still never read: weights are counted from shapes. The
    # working directory holds a file of the same name too (helpers resolve against the cwd).
    folder, _ = outside
    cwd = folder.parent / "cwd"
    cwd.mkdir()
    for f in (folder / "w.bin", cwd / "w.bin"):
        f.write_bytes(np.zeros(6, np.float32).tobytes())
    monkeypatch.chdir(cwd)
    path = save(external_model("w.bin"), folder / "ok.onnx")
    watch = sentinels(folder / "w.bin", cwd / "w.bin")
    d = report_json(path)
    watch.assert_untouched()
    assert d["totals"]["params"] == 6 and d["model"]["external_data"] == ["w.bin"]
    assert d["model"]["missing_external_data"] == []


def test_external_shape_tensor_is_never_read_by_inference_helpers(
    outside, sentinels, monkeypatch
) -> None:
    # onnxruntime's symbolic inference reads the initializer values it needs (here Reshape's
    # shape) with onnx's helper, which opens external data relative to the working directory,
    # in native code. The files hold the shape [3, 2]: had either been read, y would be [3, 2].
    folder, _ = outside
    shape = TensorProto(name="shape", data_type=TensorProto.INT64, dims=[2])
    shape.data_location = TensorProto.EXTERNAL
    shape.external_data.add(key="location", value="shape.bin")
    m = model(
        [helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")],
        [vi("x", TensorProto.FLOAT, [2, 3])],
        [vi("y", TensorProto.FLOAT, None)],
        [shape],
    )
    cwd = folder.parent / "cwd"
    cwd.mkdir()
    for f in (folder / "shape.bin", cwd / "shape.bin"):
        f.write_bytes(np.array([3, 2], np.int64).tobytes())
    monkeypatch.chdir(cwd)
    path = save(m, folder / "ext_shape.onnx")
    watch = sentinels(folder / "shape.bin", cwd / "shape.bin")
    r = onnxcost.analyze(path)
    watch.assert_untouched()
    assert r.model["external_data"] == ["shape.bin"]
    assert r.nodes[0].output_shapes[0] != [3, 2]


def test_missing_external_file_is_a_warning(outside) -> None:
    folder, _ = outside
    path = save(external_model("absent.bin"), folder / "missing.onnx")
    d = report_json(path)
    assert d["totals"]["params"] == 6  # 2 x 3, from the declared dims
    assert d["model"]["missing_external_data"] == ["absent.bin"]
    assert any("external data file(s) missing: absent.bin" in w for w in d["warnings"])
    msg = fails(path, "--strict")
    assert "--strict" in msg and "absent.bin" in msg


# --- no side effects -----------------------------------------------------------------------------


def custom_op_model() -> onnx.ModelProto:
    """A model onnx cannot fully infer (an unknown op): onnxruntime's symbolic pass runs too."""
    return model(
        [
            helper.make_node("Mystery", ["x"], ["m"], domain="com.example", name="mystery"),
            helper.make_node("Shape", ["m"], ["s"]),
            helper.make_node("Reshape", ["x", "s"], ["y"]),
        ],
        [vi("x", TensorProto.FLOAT, ["n", 3])],
        [vi("y", TensorProto.FLOAT, None)],
        opsets=(("", 21), ("com.example", 1)),
    )


def _listing(*folders: Path) -> dict[str, list[str]]:
    return {str(f): sorted(os.listdir(f)) for f in folders}


def test_nothing_is_written_and_nothing_is_run(tmp_path, monkeypatch) -> None:
    import onnxruntime
    from onnxruntime.capi import onnxruntime_inference_collection as collection

    class NoSession:
        def __init__(self, *args, **kwargs) -> None:
            raise AssertionError("analyze created an onnxruntime InferenceSession")

    monkeypatch.setattr(onnxruntime, "InferenceSession", NoSession)
    monkeypatch.setattr(collection, "InferenceSession", NoSession)
    folder, cwd = tmp_path / "m", tmp_path / "cwd"
    folder.mkdir()
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    paths = [
        save(custom_op_model(), folder / "custom.onnx"),
        save(external_model("absent.bin"), folder / "ext.onnx"),
        save(conv_model([1, 3, 8, 8], [4, 3, 3, 3]), folder / "conv.onnx"),
    ]
    before = _listing(folder, cwd)
    for p in paths:
        for fmt in ("table", "json", "csv", "markdown"):
            succeeds(p, "--format", fmt)
    succeeds(paths[2], "--hw", "h100-sxm")
    fails(paths[0], "--strict")
    assert cli("check", paths[2], "--max-macs", "1G").exit_code == 0
    assert cli("diff", paths[2], paths[0]).exit_code == 0
    assert _listing(folder, cwd) == before


def test_shape_inference_never_imports_onnxruntime(tmp_path) -> None:
    # analyze, check and diff infer shapes with our own engine: onnxruntime (which can write
    # into the home folder when imported) is imported by `measure` alone.
    path = save(custom_op_model(), tmp_path / "custom.onnx")
    code = (
        "import sys, onnxcost\n"
        f"r = onnxcost.analyze({str(path)!r})\n"
        "assert r.uncounted[0].op_type == 'Mystery'\n"
        "print('onnxruntime' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- bounded memory ------------------------------------------------------------------------------


def test_weight_payloads_are_dropped_small_constants_kept() -> None:
    big = numpy_helper.from_array(np.ones((SMALL_CONSTANT_ELEMENTS + 1,), np.float32), "big")
    small = numpy_helper.from_array(np.array([2, 3], np.int64), "small")
    # a small tensor carrying far more data than its dims need: not trusted, not kept
    stuffed = numpy_helper.from_array(np.array([1], np.int64), "stuffed")
    stuffed.raw_data = b"\0" * 10**6
    m = model(
        [
            helper.make_node("Sum", ["x", "big"], ["y"]),
            helper.make_node("Add", ["small", "stuffed"], ["z"]),
        ],
        [vi("x", TensorProto.FLOAT, [SMALL_CONSTANT_ELEMENTS + 1])],
        [vi("y", TensorProto.FLOAT, None), vi("z", TensorProto.INT64, None)],
        [big, small, stuffed],
    )
    loaded = load(m)
    inits = {t.name: t for t in loaded.model.graph.initializer}
    assert inits["big"].raw_data == b"" and list(inits["big"].dims) == [SMALL_CONSTANT_ELEMENTS + 1]
    assert inits["stuffed"].raw_data == b""
    shapes = engine.infer(loaded.model)
    assert shapes.value(engine.TOP, "big") is None and shapes.value(engine.TOP, "stuffed") is None
    assert shapes.value(engine.TOP, "small").tolist() == [2, 3]
    assert m.graph.initializer[0].raw_data  # the caller's model is left as it was


def test_constant_of_shape_bomb_allocates_nothing() -> None:
    # An int64 ConstantOfShape of 2**27 elements (1 GiB) next to an op onnx cannot infer:
    # onnxruntime's symbolic pass would compute its value, were it not guarded.
    shape = numpy_helper.from_array(np.array([2**27], np.int64), "shape")
    one = numpy_helper.from_array(np.array([1], np.int64))
    m = model(
        [
            helper.make_node("ConstantOfShape", ["shape"], ["big"], value=one),
            helper.make_node("Mystery", ["x"], ["m"], domain="com.example"),
            helper.make_node("Add", ["m", "x"], ["y"]),
            helper.make_node("ReduceSum", ["big"], ["s"]),
        ],
        [vi("x", TensorProto.FLOAT, [4])],
        [vi("y", TensorProto.FLOAT, None), vi("s", TensorProto.INT64, None)],
        [shape],
        opsets=(("", 21), ("com.example", 1)),
    )
    onnxcost.analyze(relu_model())
    tracemalloc.start()
    try:
        onnxcost.analyze(m)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20


def test_concat_doubling_bomb_skips_value_propagation() -> None:
    # 40 chained Concat(c, c) of a shape vector: 2**40 values if shape values were propagated.
    nodes = [helper.make_node("Shape", ["x"], ["c0"])]
    for d in range(40):
        nodes.append(helper.make_node("Concat", [f"c{d}", f"c{d}"], [f"c{d + 1}"], axis=0))
    nodes.append(helper.make_node("Reshape", ["x", "c40"], ["y"]))
    m = model(nodes, [vi("x", TensorProto.FLOAT, [1])], [vi("y", TensorProto.FLOAT, None)])
    onnxcost.analyze(relu_model())
    tracemalloc.start()
    try:
        r = onnxcost.analyze(m)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20
    # c11 is the first vector past the cap: 2**11 = 2048 > 1024 values
    assert any("propagation skipped: tensor 'c11'" in w and "2048" in w for w in r.warnings)


def test_declared_size_of_a_dropped_initializer_counts() -> None:
    # Found by fuzzing: Gather indices declared [2**40] (payload dropped at load) made onnx's value
    # propagation size a vector by the declared dims (std::bad_alloc after gigabytes). A dropped
    # payload is a shape without a value: the output's shape is exact, nothing is materialised.
    zero = TensorProto(name="zero", data_type=TensorProto.INT64, dims=[2**40])
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes")
    m = model(
        [
            helper.make_node("Shape", ["x"], ["s"]),
            helper.make_node("Gather", ["s", "zero"], ["n"], name="gather"),
            helper.make_node("Unsqueeze", ["n", "axes"], ["y"]),
        ],
        [vi("x", TensorProto.FLOAT, ["n", 2, 3])],
        [vi("y", TensorProto.INT64, None)],
        [zero, axes],
    )
    tracemalloc.start()
    try:
        r = onnxcost.analyze(m)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20
    assert r.nodes[1].output_shapes == [[2**40]]
    assert r.nodes[2].output_shapes == [[1, 2**40]]


def test_long_shape_vector_creates_no_rank_explosion() -> None:
    # Reshape to a computed all-ones shape of 10**6 entries: onnxruntime's symbolic pass would
    # create a rank-10**6 shape (a million symbols) unless guarded.
    k = numpy_helper.from_array(np.array([10**6], np.int64), "k")
    one = numpy_helper.from_array(np.array([1], np.int64))
    m = model(
        [
            helper.make_node("Shape", ["x"], ["sx"]),
            helper.make_node("Mul", ["sx", "k"], ["n"]),
            helper.make_node("ConstantOfShape", ["n"], ["ones"], value=one),
            helper.make_node("Reshape", ["x", "ones"], ["y"]),
        ],
        [vi("x", TensorProto.FLOAT, [1])],
        [vi("y", TensorProto.FLOAT, None)],
        [k],
    )
    r = onnxcost.analyze(m)
    shape = r.nodes[-1].output_shapes[0]
    assert shape is None or len(shape) <= SMALL_CONSTANT_ELEMENTS


# --- --strict ------------------------------------------------------------------------------------


def test_strict_fails_on_each_kind_of_warning(tmp_path) -> None:
    # uncounted op
    m = model(
        [helper.make_node("Mystery", ["x"], ["y"], domain="com.example", name="mystery")],
        [vi("x", TensorProto.FLOAT, [4])],
        [vi("y", TensorProto.FLOAT, [4])],
        opsets=(("", 21), ("com.example", 1)),
    )
    path = save(m, tmp_path / "uncounted.onnx")
    succeeds(path)
    assert "uncounted ops: Mystery x1" in fails(path, "--strict")
    # unresolved shape: an unbound symbolic dim
    m = model(
        [helper.make_node("Relu", ["x"], ["y"], name="relu")],
        [vi("x", TensorProto.FLOAT, ["batch", 4])],
        [vi("y", TensorProto.FLOAT, None)],
    )
    path = save(m, tmp_path / "unresolved.onnx")
    succeeds(path)
    msg = fails(path, "--strict")
    assert "unresolved" in msg and "'relu'" in msg
    succeeds(path, "--strict", "--dim", "batch=2")  # bound: nothing left to warn about
    # missing external data is covered in test_missing_external_file_is_a_warning


def test_attribute_of_the_wrong_type_is_refused_before_any_rule(tmp_path) -> None:
    # pads as a TENSOR where the spec says INTS: the rule never sees it
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c1")
    bad = node.attribute.add()
    bad.name, bad.type = "pads", onnx.AttributeProto.TENSOR
    bad.t.CopyFrom(numpy_helper.from_array(np.array([1, 1, 1, 1], np.int64)))
    w = numpy_helper.from_array(np.zeros((4, 4, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [node],
        "g",
        [vi("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [vi("y", TensorProto.FLOAT, None)],
        [w],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    msg = fails(save(m, tmp_path / "m.onnx"))
    assert "'c1'" in msg and "'pads'" in msg and "TENSOR" in msg and "INTS" in msg


def test_attribute_types_table_says_what_onnx_schemas_say() -> None:
    """attrs.py reads onnx's schemas from a table (onnx_attrs.py): the same answer for every op
    and opset, and the table made by the onnx installed (else attrs.py does not read it)."""
    from onnxcost.model import attrs, onnx_attrs

    if onnx.__version__ != onnx_attrs.ONNX_VERSION:
        pytest.skip(f"table of onnx {onnx_attrs.ONNX_VERSION}: run tools/onnx_attr_table.py")
    ops = {(s.domain, s.name) for s in onnx.defs.get_all_schemas_with_history()}
    assert ops == set(onnx_attrs.TYPES)
    for domain, op in ops:
        for opset in range(onnx.defs.onnx_opset_version() + 3):
            try:
                schema = onnx.defs.get_schema(op, opset, domain)
                want = {k: int(a.type) for k, a in schema.attributes.items()}
            except onnx.defs.SchemaError:
                want = None
            assert attrs._schema_types(domain, op, opset) == want, (domain, op, opset)


def test_einsum_equation_that_is_not_utf8_is_a_clean_error(capsys) -> None:
    # Found by the fuzz campaign: AttributeProto.s is bytes, so no text check sees it; the shape
    # engine's model keeps it as bytes, and the equation check must not trip over that.
    node = helper.make_node("Einsum", ["x"], ["y"], name="e", equation="ij->ji")
    node.attribute[0].s = b"\xff\x00"
    m = model([node], [vi("x", TensorProto.FLOAT, [2, 3])], [vi("y", TensorProto.FLOAT, None)])
    with pytest.raises(ModelError, match="not a valid Einsum equation"):
        onnxcost.analyze(m)
    assert capsys.readouterr().err == ""  # nothing of the libraries' own logging leaks out


def test_an_error_naming_a_hostile_op_type_is_one_line() -> None:
    # the message quotes the op type as written (a line break and a workflow command in it):
    # the API's exception text is one line too, not only the CLI's output
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    node = helper.make_node("Op\n::error file=README.md,line=1::forged", ["x", "ghost"], ["y"])
    with pytest.raises(ModelError) as e:
        load(model([node], [x], [y]))
    assert "\n" not in str(e.value) and "consumes tensor 'ghost'" in str(e.value)
    assert "Op\\n::error" in str(e.value)  # escaped, visible
