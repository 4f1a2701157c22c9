"""`onnxcost hw calibrate`: the measured host spec loads with --hw; medians and spread are right.

Measured rates are only ever checked for being positive: the machine running the tests is
shared and its speed is nobody's business here.
"""

from __future__ import annotations

import json
import tomllib

import pytest
from click.testing import CliRunner

from onnxcost.cli.measure import calibrate as calibrate_cmd
from onnxcost.errors import OnnxCostError
from onnxcost.hardware import calibrate as cal
from onnxcost.hardware import database as hardware


@pytest.fixture(scope="module")
def quick() -> cal.Calibration:
    """One real quick calibration of this host (about a second), shared by the tests below."""
    return cal.calibrate(quick=True)


def test_quick_calibration_is_a_valid_spec(quick, tmp_path):
    for suffix in (".toml", ".json"):
        path = tmp_path / f"host{suffix}"
        cal.write_spec(quick.spec, path)
        spec = hardware.get(str(path))  # what `--hw host.toml` does
        assert spec.kind == "cpu"
        assert spec.key == "host"
        assert spec.memory_bandwidth_Bps > 0
        assert spec.memory_bytes > 0
        assert spec.matrix["fp32"] > 0
        assert spec.vector["fp32"] > 0
        # every measured figure says where it comes from, with its spread
        for figure in ("memory_bandwidth_Bps", "matrix.fp32", "vector.fp32"):
            assert "median of 3 repeats" in spec.source(figure)
        assert any("spread" in n for n in spec.notes)
        # the roofline can use it for every dtype a model may have
        for dtype in ("float32", "float16", "int8", "float64"):
            assert spec.resolve(dtype, "matrix").ops_per_s > 0


def test_quick_calibration_samples(quick):
    figures = {s.figure for s in quick.samples}
    assert {"matrix.fp32", "matrix.fp64", "matrix.int8", "vector.fp32"} <= figures
    assert "memory_bandwidth_Bps" in figures
    for s in quick.samples:
        if s.error is None:
            assert len(s.seconds) == cal.QUICK_REPEATS
            assert 0 < s.minimum <= s.median <= s.maximum
    # the spec's figure is the best median of the ways it was measured
    for figure, chosen in quick.chosen.items():
        same = [s for s in quick.samples if s.figure == figure and s.error is None]
        assert chosen.median == max(s.median for s in same)
    assert quick.to_dict()["spec"] is quick.spec


def test_threads_skip_numpy_cross_checks():
    assert {b.backend for b in cal.plan(quick=True, threads=1)} == {"onnxruntime"}
    assert "numpy" in {b.backend for b in cal.plan(quick=True)}


def _sample(figure: str, backend: str, work: float, seconds: list[float]) -> cal.Sample:
    return cal.Sample(figure, backend, "test", work, 1, seconds)


def test_sample_statistics_by_hand():
    # work 8 per call; seconds per call 2, 1, 4 -> rates 4, 8, 2 -> sorted 2, 4, 8
    s = _sample("matrix.fp32", "numpy", 8.0, [2.0, 1.0, 4.0])
    assert s.rates == [2.0, 4.0, 8.0]
    assert (s.minimum, s.median, s.maximum) == (2.0, 4.0, 8.0)
    assert s.spread == (8.0 - 2.0) / 4.0  # 1.5


def test_summarize_picks_best_median_and_keeps_spread():
    samples = [
        # ORT fp32 GEMM: 1e9 FLOPs in 0.01 s each -> 100 G/s; numpy 0.02 s -> 50 G/s
        _sample("matrix.fp32", "onnxruntime", 1e9, [0.01, 0.01, 0.01]),
        _sample("matrix.fp32", "numpy", 1e9, [0.02, 0.02, 0.02]),
        # bandwidth: 3e9 bytes in 0.3 s -> 10 GB/s; copy 2e9 in 0.25 s -> 8 GB/s
        _sample("memory_bandwidth_Bps", "onnxruntime", 3e9, [0.3, 0.3, 0.3]),
        _sample("memory_bandwidth_Bps", "numpy", 2e9, [0.25, 0.25, 0.25]),
        cal.Sample("matrix.fp16", "onnxruntime", "test", 1.0, 0, [], error="no kernel"),
    ]
    c = cal.summarize(samples)
    assert c.spec["matrix"] == {"fp32": 1e9 / 0.01}
    assert c.spec["memory_bandwidth_Bps"] == 3e9 / 0.3
    assert c.chosen["matrix.fp32"].backend == "onnxruntime"
    assert "fp16" not in c.spec["matrix"]  # not measured: the roofline falls back to fp32
    assert any(n == "matrix.fp16 (onnxruntime): not measured (no kernel)" for n in c.spec["notes"])
    spec = hardware.from_dict("host", c.spec, "test")
    assert spec.resolve("float16", "matrix").ops_per_s == 1e9 / 0.01


def test_summarize_without_bandwidth_is_an_error():
    with pytest.raises(OnnxCostError, match="calibration failed"):
        cal.summarize([_sample("matrix.fp32", "numpy", 1e9, [0.01])])


def test_toml_writer_round_trips_awkward_strings():
    spec = {
        "name": 'CPU "quoted" \\ back\\slash é',
        "kind": "cpu",
        "memory_bandwidth_Bps": 1.25e10,
        "memory_bytes": 17179869184,
        "notes": ["a", 'b "c"'],
        "matrix": {"fp32": 3.0e11},
        "sources": {"matrix.fp32": "line\nbreak"},
    }
    back = tomllib.loads(cal.to_toml(spec))
    assert back == spec
    hardware.from_dict("x", back, "x.toml")


def test_write_spec_refuses_yaml(tmp_path):
    with pytest.raises(OnnxCostError, match=r"\.toml or \.json"):
        cal.write_spec({"name": "x"}, tmp_path / "host.yaml")


def test_cache_size_text():
    assert cal._cache_size("32768K") == 32 * 1024 * 1024
    assert cal._cache_size("2M") == 2 * 2**20
    assert cal._cache_size("512") == 512


def test_host_info_is_plausible():
    h = cal.host_info()
    assert h["logical_cpus"] >= 1
    assert h["memory_bytes"] >= 1024
    assert h["cpu"]


def test_cli_writes_spec_with_progress(tmp_path, monkeypatch):
    # Canned repeats: this test is about the command (file, table, JSON), not the machine.
    def fake_run(bench, repeats, quick=False):
        return cal.Sample(bench.figure, bench.backend, bench.what, bench.work, 1, [0.01] * repeats)

    monkeypatch.setattr(cal, "run", fake_run)
    out = tmp_path / "host.toml"
    res = CliRunner().invoke(calibrate_cmd, ["--quick", "-o", str(out), "--repeats", "2"])
    assert res.exit_code == 0, res.output
    assert "memory_bandwidth_Bps" in res.output and "<- spec" in res.output
    spec = hardware.get(str(out))
    assert spec.matrix["fp32"] > 0

    res = CliRunner().invoke(calibrate_cmd, ["--quick", "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["quick"] is True
    assert {m["repeats"] for m in data["measurements"]} == {cal.QUICK_REPEATS}
    hardware.from_dict("host", data["spec"], "json")


def test_cli_bad_output_suffix(tmp_path):
    res = CliRunner().invoke(calibrate_cmd, ["--quick", "-o", str(tmp_path / "host.txt")])
    assert res.exit_code == 2
    assert "error:" in res.output and ".toml or .json" in res.output
