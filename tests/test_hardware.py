"""The hardware database, device lookup, spec-file validation, dtype fallbacks and `onnxcost hw`."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from onnxcost.cli.hw import hw
from onnxcost.errors import OnnxCostError
from onnxcost.hardware import database as hardware

# A device written here, not taken from the database: the fallback tests must not move when the
# database is corrected.
TEST_DEVICE = {
    "name": "Test accelerator",
    "kind": "gpu",
    "vendor": "nobody",
    "memory_bandwidth_Bps": 1e12,
    "memory_bytes": 16e9,
    "sram_bytes": 1048576,
    "matrix": {"fp16": 100e12, "int8": 200e12},
    "vector": {"fp32": 5e12, "fp16": 10e12},
}


def spec(**changes) -> hardware.HardwareSpec:
    data = {**TEST_DEVICE, **changes}
    return hardware.from_dict("test", {k: v for k, v in data.items() if v is not None}, "test.toml")


# ------------------------------------------------------------------------------------ the database

# Every device issue 3 asks for, by the name a person would type.
REQUIRED = {
    "h200": "h200-sxm",
    "h100": "h100-sxm",
    "H100 PCIe": "h100-pcie",
    "a100": "a100-sxm-80gb",
    "a100-pcie-40gb": "a100-pcie-40gb",
    "l40s": "l40s",
    "L4": "l4",
    "t4": "t4",
    "v100": "v100-sxm2-32gb",
    "RTX 4090": "rtx-4090",
    "rtx_3090": "rtx-3090",
    "jetson-agx-orin": "jetson-agx-orin-64gb",
    "jetson orin nano": "jetson-orin-nano-8gb",
    "mi300x": "mi300x",
    "TPU v5e": "tpu-v5e",
    "m2": "apple-m2-gpu",
    "m3": "apple-m3-gpu",
    "sapphire-rapids": "xeon-8480",
    "genoa": "epyc-9654",
    "pi5": "raspberry-pi-5",
    "a17-pro": "apple-a17-pro-ane",
}


def test_database_has_every_device_the_issue_names():
    for name, key in REQUIRED.items():
        assert hardware.get(name).key == key, name
    kinds = {s.kind for s in hardware.load_builtin().values()}
    assert kinds == {"gpu", "cpu", "npu", "tpu"}


def test_every_builtin_figure_has_a_source():
    for key, s in hardware.load_builtin().items():
        assert s.matrix or s.vector, key
        for figure in s.figures():
            src = s.source(figure)
            assert src and len(src) > 20, f"{key}: {figure} has no source"


def test_names_and_aliases_are_unique():
    seen: dict[str, str] = {}
    for key, s in hardware.load_builtin().items():
        for n in (key, *s.aliases, s.name):
            norm = n.lower().replace(" ", "-").replace("_", "-")
            assert seen.setdefault(norm, key) == key, f"{n!r} names both {seen[norm]} and {key}"


def test_builtin_figures_are_dense_vendor_numbers():
    # Spot checks against the vendor documents cited in the database.
    h100 = hardware.get("h100")
    assert h100.matrix["fp16"] == 989.4e12  # whitepaper dense; 1978.9 is the 2:4 sparse figure
    assert h100.memory_bandwidth_Bps == 3.35e12
    l4 = hardware.get("l4")
    assert l4.matrix["fp16"] == 121e12  # datasheet 242 (with sparsity) / 2
    t4 = hardware.get("t4")
    assert (t4.matrix["fp16"], t4.matrix["int8"], t4.memory_bandwidth_Bps) == (65e12, 130e12, 320e9)
    v5e = hardware.get("v5e")
    assert (v5e.matrix["bf16"], v5e.memory_bytes) == (197e12, 16_000_000_000)
    # Ridge point of the H100 at dense fp16: 989.4e12 / 3.35e12 = 295.34 FLOPs per byte.
    assert h100.ridge_point("float16") == 989.4e12 / 3.35e12


# --------------------------------------------------------------------------------------- lookup


def test_lookup_is_case_insensitive_and_takes_aliases_and_names():
    assert hardware.get("H100").key == "h100-sxm"
    assert hardware.get("h100_sxm5").key == "h100-sxm"
    assert hardware.get("NVIDIA H100 SXM5 80GB").key == "h100-sxm"


def test_unknown_device_suggests_close_names():
    with pytest.raises(OnnxCostError, match=r"unknown device 'h10'.*did you mean.*h100"):
        hardware.get("h10")
    with pytest.raises(OnnxCostError, match="hw list"):
        hardware.get("abacus")


# ------------------------------------------------------------------------------ peaks and fallbacks


def test_peak_of_a_listed_dtype_has_no_note():
    s = spec()
    assert s.peak("float16", "matrix") == (100e12, "fp16", None)
    assert s.peak("float16", "vector") == (10e12, "fp16", None)
    assert s.peak("uint8", "matrix") == (200e12, "int8", None)  # integer ops: the integer peak


def test_missing_dtype_falls_back_to_the_next_wider_and_says_so():
    s = spec()
    ops, used, note = s.peak("int4", "matrix")  # int4 -> int8
    assert (ops, used) == (200e12, "int8")
    assert note and "no matrix int4" in note and "matrix int8" in note
    assert s.peak("float8e4m3fn", "matrix")[:2] == (100e12, "fp16")  # fp8 -> fp16
    assert s.peak("bfloat16", "vector")[:2] == (5e12, "fp32")  # bf16 -> fp32
    assert s.peak("int64", "vector")[:2] == (5e12, "fp32")  # int32 family -> fp32
    # int8 vector work: no vector int8 -> vector fp16, before any matrix figure.
    assert s.peak("int8", "vector")[:2] == (10e12, "fp16")


def test_matrix_work_falls_back_to_vector_units():
    ops, used, note = spec().peak("float32", "matrix")
    assert (ops, used) == (5e12, "fp32")
    assert "no matrix fp32" in note and "vector fp32" in note


def test_no_wider_dtype_uses_a_narrower_one_flagged_optimistic():
    s = spec(vector={"fp16": 10e12}, matrix={"bf16": 197e12})  # TPU-like: no fp32 at all
    ops, used, note = s.peak("float32", "matrix")
    assert (ops, used) == (197e12, "bf16")
    assert "optimistic" in note
    # Vector work with no vector figure in its chain uses the matrix units.
    assert s.resolve("bfloat16", "vector").unit == "matrix"


def test_unknown_dtype_is_assumed_fp32_and_bad_unit_is_refused():
    ops, used, note = spec().peak("string", "vector")
    assert (ops, used) == (5e12, "fp32")
    assert "assumed fp32" in note
    with pytest.raises(OnnxCostError, match="unit must be one of"):
        spec().peak("float16", "tensor")


# ------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": None}, "missing field 'name'"),
        ({"kind": None}, "missing field 'kind'"),
        ({"memory_bandwidth_Bps": None}, "missing field 'memory_bandwidth_Bps'"),
        ({"memory_bytes": None}, "missing field 'memory_bytes'"),
        ({"memory_bandwidth_Bps": -1e12}, "memory_bandwidth_Bps must be > 0"),
        ({"memory_bandwidth_Bps": 3.35}, "implausibly small: give plain bytes/s"),
        ({"memory_bytes": 0}, "memory_bytes must be > 0"),
        ({"memory_bytes": "80 GB"}, "memory_bytes must be a number, got '80 GB'"),
        ({"memory_bytes": True}, "memory_bytes must be a number"),
        ({"sram_bytes": 32e9}, "sram_bytes .* is larger than memory_bytes"),
        ({"kind": "fpga"}, "kind must be one of gpu, cpu, npu, tpu"),
        ({"name": "  "}, "name must be a non-empty string"),
        ({"matrix": {"fp16": 989}}, "matrix.fp16 = 989 is implausibly small"),
        ({"matrix": {"fp16": 0}}, "matrix.fp16 must be > 0"),
        ({"matrix": {"fp16": float("nan")}}, "matrix.fp16 must be finite"),
        ({"matrix": {"fp16": 1e25}}, "implausibly large"),
        ({"matrix": {"float16": 1e12}}, "unknown dtype 'float16' \\(did you mean 'fp16'\\?\\)"),
        ({"vector": {"fp61": 1e12}}, "unknown dtype 'fp61' \\(did you mean 'fp64'\\?\\)"),
        ({"matrix": {}, "vector": {}}, "no peak throughput"),
        ({"vector": [5e12]}, "vector must be a table"),
        ({"aliases": "h"}, "aliases must be a list"),
        ({"sources": {"matrix.fp32": "x"}}, "sources: 'matrix.fp32' names no figure"),
        ({"memory_bandwith_Bps": 1e12}, "unknown field 'memory_bandwith_Bps' \\(did you mean"),
    ],
)
def test_spec_validation_errors(changes, message):
    with pytest.raises(OnnxCostError, match=message) as e:
        spec(**changes)
    assert str(e.value).startswith("test.toml: device 'test': ")


def test_minimal_spec_is_accepted():
    s = hardware.from_dict(
        "mine",
        {"name": "Mine", "kind": "cpu", "memory_bandwidth_Bps": 50e9, "memory_bytes": 32e9,
         "vector": {"fp32": 1e12}},
    )  # fmt: skip
    assert (s.vendor, s.sram_bytes, s.aliases, s.memory_bytes) == ("", None, (), 32_000_000_000)


# ------------------------------------------------------------------------------------ spec files

TOML_SPEC = """
name = "My NPU"
kind = "npu"
memory_bandwidth_Bps = 100e9
memory_bytes = 8e9
[matrix]
int8 = 50e12
[sources]
matrix = "my datasheet"
"""


def test_spec_file_toml_json_yaml(tmp_path):
    p = tmp_path / "my-npu.toml"
    p.write_text(TOML_SPEC)
    s = hardware.get(str(p))
    assert (s.key, s.name, s.matrix, s.origin) == ("my-npu", "My NPU", {"int8": 50e12}, str(p))
    assert s.source("matrix.int8") == "my datasheet"

    j = tmp_path / "dev.json"
    j.write_text(json.dumps({"dev": {**TEST_DEVICE}}))  # one device table is accepted too
    assert hardware.get(j).key == "dev"

    pytest.importorskip("yaml")
    y = tmp_path / "dev.yaml"
    y.write_text("name: Y\nkind: gpu\nmemory_bandwidth_Bps: 1.0e+12\nmemory_bytes: 1.0e+10\n"
                 "vector:\n  fp32: 1.0e+13\n")  # fmt: skip
    assert hardware.get(y).vector == {"fp32": 1e13}


def test_yaml_without_pyyaml_is_a_clear_error(tmp_path, monkeypatch):
    y = tmp_path / "dev.yaml"
    y.write_text("name: Y\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError
    with pytest.raises(OnnxCostError, match=r"needs PyYAML \(pip install pyyaml\)"):
        hardware.get(y)


def test_bad_spec_files(tmp_path):
    with pytest.raises(OnnxCostError, match="not found"):
        hardware.get(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(OnnxCostError, match="not valid TOML"):
        hardware.get(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    with pytest.raises(OnnxCostError, match="not valid JSON"):
        hardware.get(bad_json)
    two = tmp_path / "two.toml"
    two.write_text("[a]\nname='a'\n[b]\nname='b'\n")
    with pytest.raises(OnnxCostError, match=r"expected one device.*found 2 device tables"):
        hardware.get(two)
    lst = tmp_path / "list.json"
    lst.write_text("[1, 2]")
    with pytest.raises(OnnxCostError, match="must be a table of fields"):
        hardware.get(lst)
    incomplete = tmp_path / "incomplete.toml"
    incomplete.write_text('name = "X"\nkind = "gpu"\nmemory_bytes = 1e9\n[vector]\nfp32 = 1e12\n')
    with pytest.raises(OnnxCostError, match=r"incomplete.toml: device 'incomplete': missing field"):
        hardware.get(incomplete)


# -------------------------------------------------------------------------------------- hw CLI


def test_hw_list_table_and_json():
    r = CliRunner().invoke(hw, ["list"])
    assert r.exit_code == 0, r.output
    for key in hardware.load_builtin():
        assert key in r.stdout
    assert "FP16 MATRIX" in r.stdout
    r = CliRunner().invoke(hw, ["list", "--format", "json"])
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert [d["key"] for d in data] == list(hardware.load_builtin())
    assert all(all(d["sources"].values()) for d in data)


def test_hw_show_table_json_and_file(tmp_path):
    r = CliRunner().invoke(hw, ["show", "H100"])
    assert r.exit_code == 0, r.output
    assert "NVIDIA H100 SXM5 80GB" in r.stdout
    assert "989.4 T" in r.stdout and "whitepaper" in r.stdout
    assert "matrix fp16 295.3" in r.stdout  # 989.4e12 / 3.35e12 FLOPs per byte
    r = CliRunner().invoke(hw, ["show", "h100", "--format", "json"])
    d = json.loads(r.stdout)
    assert d["key"] == "h100-sxm" and d["matrix"]["fp16"] == 989.4e12
    assert {"unit": "matrix", "dtype": "fp16", "flops_per_byte": 989.4e12 / 3.35e12} in d[
        "ridge_points"
    ]
    p = tmp_path / "mine.toml"
    p.write_text(TOML_SPEC)
    r = CliRunner().invoke(hw, ["show", str(p)])
    assert r.exit_code == 0 and "My NPU" in r.stdout and "my datasheet" in r.stdout


def test_hw_show_unknown_is_exit_2_with_one_line():
    r = CliRunner().invoke(hw, ["show", "h10"])
    assert r.exit_code == 2
    assert r.stderr.startswith("error: unknown device 'h10'")
    assert r.stderr.count("\n") == 1
