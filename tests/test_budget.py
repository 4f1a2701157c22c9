"""Budgets from flags and from TOML budget files."""

from __future__ import annotations

from pathlib import Path

import pytest

from onnxcost.errors import OnnxCostError
from onnxcost.gate import budget
from onnxcost.gate.budget import METRICS, Budget


def write(tmp_path: Path, text: str, name: str = "budget.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_from_options_parses_every_limit_kind():
    b = budget.from_options(
        {
            "macs": "5G",
            "flops": "10G",
            "params": "30M",
            "weight_bytes": "100MB",
            "peak_memory": "256MiB",
            "peak_activations": "64MiB",
            "memory_traffic": "1GB",
            "latency": "2ms",
        }
    )
    values = {name: lim.value for name, lim in b.limits.items()}
    assert values == {
        "macs": 5 * 10**9,
        "flops": 10 * 10**9,
        "params": 30 * 10**6,
        "weight_bytes": 100 * 10**6,
        "peak_memory": 256 * 2**20,
        "peak_activations": 64 * 2**20,
        "memory_traffic": 10**9,
        "latency": pytest.approx(2e-3),
    }
    assert b.limits["macs"].source == "--max-macs"
    assert b.limits["weight_bytes"].source == "--max-weight-bytes"
    assert b.limits["peak_memory"].text == "256MiB"


def test_from_options_skips_unset_and_names_the_flag_on_error():
    assert budget.from_options({"macs": None}).limits == {}
    with pytest.raises(OnnxCostError, match=r"--max-peak-memory: '256mb'.*bits"):
        budget.from_options({"peak_memory": "256mb"})


def test_metric_lookup_suggests():
    assert budget.metric("weight-bytes").name == "weight_bytes"
    with pytest.raises(OnnxCostError, match="did you mean 'flops'"):
        budget.metric("flop")


def test_merge_later_layer_wins():
    base = budget.from_options({"macs": "5G", "params": "30M"}, hw="a100", dims={"batch": 1})
    over = budget.from_options({"macs": "4G"}, allow_uncounted=True, dims={"seq": 128})
    m = base.merged(over)
    assert m.limits["macs"].value == 4 * 10**9
    assert m.limits["params"].value == 30 * 10**6
    assert list(m.limits) == ["macs", "params"]  # fixed metric order
    assert m.hw == "a100"
    assert m.allow_uncounted is True
    assert m.dims == {"batch": 1, "seq": 128}
    # None means "not set here": it does not reset the lower layer
    assert Budget(allow_uncounted=False).merged(Budget()).allow_uncounted is False


FULL = """
# every model
max_peak_memory = "256MiB"
hw = "a100"

[models.small]
path = "models/small.onnx"
max_macs = "5G"
max_flops = 10_000_000_000
max_params = "30M"
max_weight_bytes = "100MB"
max_latency = "2ms"
max-memory-traffic = "1GB"
allow_uncounted = true
dims = { batch = 1, past = 0 }
input_shapes = { x = [1, 3, 224, 224], y = "1x10" }

[models.other]
max_macs = "1G"
max_peak_memory = "1GiB"
hw = "t4"
"""


def test_load_full_file(tmp_path):
    bf = budget.load(write(tmp_path, FULL))
    assert bf.defaults.limits["peak_memory"].value == 256 * 2**20
    assert bf.defaults.hw == "a100"
    small, other = bf.models
    assert small.name == "small"
    assert small.path == tmp_path / "models/small.onnx"  # relative to the budget file
    assert other.path is None

    b = bf.budget_for(tmp_path / "models" / "small.onnx")
    assert {k: v.value for k, v in b.limits.items()} == {
        "macs": 5 * 10**9,
        "flops": 10**10,
        "params": 30 * 10**6,
        "weight_bytes": 10**8,
        "peak_memory": 256 * 2**20,  # from the top level
        "memory_traffic": 10**9,  # '-' in keys reads as '_'
        "latency": pytest.approx(0.002),
    }
    assert b.hw == "a100"
    assert b.allow_uncounted is True
    assert b.dims == {"batch": 1, "past": 0}  # 0 is a size (an empty KV cache)
    assert b.input_shapes == {"x": [1, 3, 224, 224], "y": [1, 10]}
    assert "small" in b.limits["macs"].source and "max_macs" in b.limits["macs"].source


def test_entry_without_path_matches_by_name(tmp_path):
    bf = budget.load(write(tmp_path, FULL))
    b = bf.budget_for("somewhere/other.onnx")
    assert b.limits["macs"].value == 10**9
    assert b.limits["peak_memory"].value == 2**30  # the entry overrides the top level
    assert b.hw == "t4"


def test_unlisted_model_gets_top_level_limits(tmp_path):
    bf = budget.load(write(tmp_path, FULL))
    b = bf.budget_for("unlisted.onnx")
    assert list(b.limits) == ["peak_memory"]


def test_unlisted_model_without_top_level_limits_is_an_error(tmp_path):
    p = write(tmp_path, '[models.a]\npath = "a.onnx"\nmax_macs = "1G"\n')
    with pytest.raises(OnnxCostError, match=r"no entry for model 'b.onnx'.*models: a"):
        budget.load(p).budget_for("b.onnx")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("max_macs = 5G\n", "malformed TOML"),  # unquoted suffix
        ('max_macs = "5G"\nmax_macs = "6G"\n', "malformed TOML"),  # duplicate key
        ("[models.a\nmax_macs = 1\n", "malformed TOML"),
    ],
)
def test_malformed_toml(tmp_path, text, words):
    p = write(tmp_path, text)
    with pytest.raises(OnnxCostError, match=words) as exc:
        budget.load(p)
    assert str(p) in str(exc.value)  # names the file
    assert "line" in str(exc.value)  # and where in it (tomllib's position)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('max_mac = "5G"\n', r"top level: unknown key 'max_mac'; did you mean 'max_macs'\?"),
        ('[models.a]\nmax_param = "5M"\n', r"\[models.a\]: unknown key 'max_param'.*'max_params'"),
        ('[models.a]\nlatency = "2ms"\n', r"unknown key 'latency'"),
        ("[defaults]\nmax_macs = 1\n", r"unknown key 'defaults'"),
        ('[models.a]\npath = "a.onnx"\n[models.a.extra]\nx = 1\n', r"unknown key 'extra'"),
    ],
)
def test_unknown_keys(tmp_path, text, words):
    with pytest.raises(OnnxCostError, match=words):
        budget.load(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('max_macs = "5Q"\n', r"max_macs: '5Q': unknown suffix 'Q'"),
        ('max_weight_bytes = "10mb"\n', "bits"),
        ("max_latency = true\n", "must be a quantity"),
        ("max_params = [1]\n", "must be a quantity"),
        ("max_macs = -1\n", "negative"),
        ("hw = 3\n", "hw must be a device name"),
        ('allow_uncounted = "yes"\n', "allow_uncounted must be true or false"),
        ("dims = 1\n", "dims must be a table"),
        ("dims = { batch = -1 }\n", "dims.batch must be an integer >= 0"),
        ('dims = { batch = "1" }\n', "dims.batch must be an integer >= 0"),
        ("input_shapes = { x = [1, -3] }\n", "input_shapes.x must be a list of integers >= 0"),
        ('input_shapes = { x = "1xax3" }\n', "input_shapes.x must be a list of integers >= 0"),
        ('models = "a"\n', "'models' must be a table"),
        ('[models]\na = "x"\n', r"\[models.a\] must be a table"),
        ("[models.a]\npath = 3\n", "path must be a non-empty string"),
    ],
)
def test_bad_values(tmp_path, text, words):
    with pytest.raises(OnnxCostError, match=words):
        budget.load(write(tmp_path, text))


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(OnnxCostError, match="cannot read"):
        budget.load(tmp_path / "nope.toml")
    p = tmp_path / "bin.toml"
    p.write_bytes(b"max_macs = '\xff'\n")
    with pytest.raises(OnnxCostError, match=r"budget file .*bin.toml"):
        budget.load(p)


def test_every_metric_has_a_file_key(tmp_path):
    lines = [f'max_{name} = "1"' for name in METRICS]
    bf = budget.load(write(tmp_path, "\n".join(lines) + "\n"))
    assert list(bf.defaults.limits) == list(METRICS)
