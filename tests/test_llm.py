"""`onnxcost llm`: the KV cache read from hand-built decoders, and prefill/decode costs.

The decoders (tests/llm_builders.py): 2 layers, hidden 64, 4 query heads sharing 2 KV heads of
size 16, MLP 128 (gate, up, down), vocabulary 100.

KV bytes per token = 2 (K, V) x 2 layers x 2 kv heads x 16 x 4 bytes (fp32) = 512.
MACs per new token, context T (the token attends to T positions):
  per layer: q 64*64 + k 64*32 + v 64*32 + o 64*64 = 12,288; MLP 3*64*128 = 24,576;
  attention 4 heads * T * (16 + 16) = 128 T          -> 36,864 + 128 T
  two layers + lm_head 64*100 = 6,400                 -> 80,128 + 256 T
Prefill of P tokens, empty cache: 80,128 P + 256 P^2 (dense scores, P x P per head).
"""

from __future__ import annotations

import json

import onnx
import pytest
from click.testing import CliRunner

from onnxcost.analysis import llm
from onnxcost.analysis.analyzer import analyze
from onnxcost.cli.main import main
from onnxcost.errors import ModelError
from onnxcost.hardware import database as hardware
from tests.builders import GraphBuilder
from tests.llm_builders import llama

PER_TOKEN = 2 * 2 * 2 * 16 * 4  # 512


def decode_macs(t: int) -> int:
    return 80_128 + 256 * t


def prefill_macs(p: int) -> int:
    return 80_128 * p + 256 * p * p


@pytest.fixture
def optimum_model(tmp_path):
    path = tmp_path / "optimum.onnx"
    onnx.save(llama(style="optimum"), path)
    return str(path)


@pytest.fixture
def genai_model(tmp_path):
    path = tmp_path / "genai.onnx"
    onnx.save(llama(style="genai", window=8), path)
    return str(path)


def test_cache_recognised_by_optimum_names() -> None:
    spec = llm.find_cache(llama(style="optimum"))
    assert (spec.past_dim, spec.new_dim, spec.batch_dim) == (
        "past_sequence_length",
        "sequence_length",
        "batch_size",
    )
    assert spec.total_dims == [] and spec.merged_input is None
    assert spec.layers() == 2
    assert spec.heads_and_size({}) == ([2] * 4, [16] * 4)
    assert spec.bytes_per_token({}) == PER_TOKEN == 512
    assert {e.by for e in spec.entries} == {"name"}
    assert all(e.window is None for e in spec.entries)


def test_cache_recognised_by_structure() -> None:
    # names with neither 'past' nor 'cache': only the growing dim pairs them
    model = llama(style="optimum", names=("kv_in_{i}_{kv}", "kv_out_{i}_{kv}"))
    spec = llm.find_cache(model)
    assert {e.by for e in spec.entries} == {"structure"}
    assert [(e.input, e.output) for e in spec.entries][:2] == [
        ("kv_in_0_key", "kv_out_0_key"),
        ("kv_in_0_value", "kv_out_0_value"),
    ]
    assert spec.bytes_per_token({}) == 512 and spec.layers() == 2


def test_genai_cache_total_dim_and_window() -> None:
    spec = llm.find_cache(llama(style="genai", window=8))
    assert spec.total_dims == ["total_sequence_length"]
    assert [e.window for e in spec.entries] == [8] * 4
    # with the window, the cache stops growing at 8 tokens: 512 * 8 = 4,096 per sequence
    assert spec.cache_bytes(20, 1, {}) == 4_096
    assert spec.cache_bytes(5, 3, {}) == 512 * 5 * 3
    # the phases bind total = past + new
    assert spec.phase_dims(2, 9, 1, {})["total_sequence_length"] == 10


def test_optimum_prefill_and_decode_exact(optimum_model) -> None:
    r = llm.study(optimum_model, prompt=8, context=10, batch=1, hw=None)
    assert r["kv_cache"]["bytes_per_token"] == 512
    assert r["kv_cache"]["bytes"] == 512 * 10 == r["kv_cache"]["present_outputs_bytes"]
    assert r["prefill"]["macs"] == prefill_macs(8) == 657_408
    assert r["decode"]["macs"] == decode_macs(10) == 82_688
    assert r["decode"]["macs_per_token"] == 82_688
    # the same as analyze with the decode dims bound by hand: past = T - 1 = 9, one new token
    bound = analyze(
        optimum_model, dims={"batch_size": 1, "sequence_length": 1, "past_sequence_length": 9}
    )
    assert bound.totals.macs == r["decode"]["macs"]
    assert bound.totals.flops == r["decode"]["flops"]
    assert r["prefill"]["status"] == r["decode"]["status"] == "exact"
    # a batch of 3: three times the step, the same per token
    r3 = llm.study(optimum_model, prompt=8, context=10, batch=3, hw=None)
    assert r3["decode"]["macs"] == 3 * 82_688 and r3["decode"]["macs_per_token"] == 82_688
    assert r3["kv_cache"]["bytes"] == 3 * 5_120


def test_genai_int4_gqa_window_exact(genai_model) -> None:
    r = llm.study(genai_model, prompt=8, context=20, batch=1, hw=None)
    assert r["cache"]["kv_heads"] == 2 and r["cache"]["head_size"] == 16
    assert r["cache"]["window"] == 8
    assert r["kv_cache"]["bytes_per_token"] == 512
    assert r["kv_cache"]["bytes"] == 512 * 8  # stops at the window
    assert r["kv_cache"]["present_outputs_bytes"] == 512 * 20  # what the graph's buffers hold
    assert r["decode"]["macs"] == decode_macs(20) == 85_248
    assert r["prefill"]["macs"] == prefill_macs(8)
    dims = {
        "batch_size": 1,
        "sequence_length": 1,
        "past_sequence_length": 19,
        "total_sequence_length": 20,
    }
    assert analyze(genai_model, dims=dims).totals.macs == r["decode"]["macs"]
    # int4 blobs at their bit width: every linear weight (80,128 of them, see the docstring
    # arithmetic without attention) in 4 bits = 40,064 bytes; fp32: embedding 6,400 + one scale
    # per block of 32, 80,128 / 32 = 2,504 -> 8,904 params
    by = {d["dtype"]: (d["params"], d["bytes"]) for d in r["weights"]["by_dtype"]}
    assert by == {"uint4": (80_128, 40_064), "float32": (8_904, 4 * 8_904)}
    assert any("sliding window 8" in n for n in r["notes"])


def test_fits_proven_at_n_and_n_plus_one(optimum_model) -> None:
    hw = hardware.get("rtx-4090")
    r = llm.study(optimum_model, prompt=8, context=64, batch=4, hw=hw)
    fits = r["fits"]
    runner = llm.Runner(optimum_model, llm.find_cache(onnx.load(optimum_model)), hw, {})
    mem = hw.memory_bytes
    n = fits["max_context"]
    assert 0 < n < llm.CAP
    assert llm.required_bytes(runner, n, 4, {}) <= mem < llm.required_bytes(runner, n + 1, 4, {})
    b = fits["max_batch"]
    assert llm.required_bytes(runner, 64, b, {}) <= mem < llm.required_bytes(runner, 64, b + 1, {})
    # required = weights + KV cache + the decode step's activations (cache held outside)
    step = runner.decode(4, 64).report.totals
    assert fits["required_bytes"] == step.weight_bytes + 512 * 64 * 4 + step.activations_peak_bytes
    dec = r["decode"]
    assert dec["tokens_per_s"] == pytest.approx(4 / dec["latency_s"])
    assert dec["memory_floor_s"] == pytest.approx(
        (r["weights"]["bytes"] + 512 * 64 * 4) / hw.memory_bandwidth_Bps
    )
    assert r["prefill"]["time_to_first_token_s"] == r["prefill"]["latency_s"] > 0


def test_largest_search_proves_its_answer() -> None:
    calls: list[int] = []

    def fits(x: int) -> bool:
        calls.append(x)
        return x * x <= 10_000_000

    for guess in (1, 3_162, 3_000, 3_500, 10**9):
        calls.clear()
        assert llm.largest(fits, guess) == 3_162
        assert 3_162 in calls and 3_163 in calls
    calls.clear()
    llm.largest(fits, 3_162)
    assert len(calls) == 4  # 1, cap, the guess and one past it
    assert llm.largest(lambda x: False, 5) == 0
    assert llm.largest(lambda x: True, 5, cap=100) == 100


def test_no_cache_says_what_was_looked_for(tmp_path) -> None:
    b = GraphBuilder()
    y = b.fc(b.input("x", [1, 16]), 16, 4)
    with pytest.raises(ModelError, match=r"no KV cache found: looked for .*past_key_values"):
        llm.find_cache(b.build([y]))
    path = tmp_path / "plain.onnx"
    onnx.save(b.build([y]), path)
    res = CliRunner().invoke(main, ["llm", str(path)])
    assert res.exit_code == 2
    assert "no KV cache found" in res.output


def test_merged_decoder_picks_branch(tmp_path) -> None:
    # A merged decoder in miniature: If(use_cache_branch) runs a costly branch without the
    # cache (64x64 MatMul) and a cheap one with it (Identity).
    from onnx import TensorProto, helper

    b = GraphBuilder()
    w = b.weight("w", [64, 64])
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "seq"])
    past = helper.make_tensor_value_info("past.0.key", TensorProto.FLOAT, ["batch_size", 2, "p", 8])
    flag = helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch_size", "seq", 64])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    no_cache = helper.make_graph(
        [helper.make_node("MatMul", ["x", w], ["y1"])], "no", [], [out.__class__(name="y1")]
    )
    with_cache = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y2"])], "yes", [], [out.__class__(name="y2")]
    )
    nodes = [
        helper.make_node("If", ["use_cache_branch"], ["y"], then_branch=with_cache,
                         else_branch=no_cache),
        helper.make_node("Concat", ["past.0.key", "past.0.key"], ["present.0.key"], axis=2),
    ]  # fmt: skip
    pres = helper.make_tensor_value_info(
        "present.0.key", TensorProto.FLOAT, ["batch_size", 2, "p + seq", 8]
    )
    graph = helper.make_graph(nodes, "m", [ids, x, past, flag], [out, pres], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "merged.onnx"
    onnx.save(model, path)
    r = llm.study(str(path), prompt=4, context=9, batch=1, hw=None)
    assert r["cache"]["merged_branch_input"] == "use_cache_branch"
    assert r["prefill"]["macs"] == 4 * 64 * 64  # the branch without the cache
    assert r["decode"]["macs"] == 0  # the cache branch
    assert r["kv_cache"]["bytes_per_token"] == 2 * 8 * 4


def test_cli_json_fields(optimum_model) -> None:
    res = CliRunner().invoke(
        main,
        ["llm", optimum_model, "--hw", "h100", "--prompt", "8", "--context", "32", "--format",
         "json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert d["kv_cache"]["bytes_per_token"] == 512
    assert d["kv_cache"]["bytes"] == 512 * 32
    for k in ("macs", "flops", "memory_traffic_bytes", "latency_s"):
        assert k in d["prefill"]
    for k in ("macs", "flops", "memory_traffic_bytes", "latency_s", "tokens_per_s"):
        assert k in d["decode"]
    assert d["decode"]["macs"] == decode_macs(32)
    assert d["fits"]["max_context"] > 32 and d["fits"]["max_batch"] >= 1
    table = CliRunner().invoke(main, ["llm", optimum_model, "--hw", "h100", "--no-search"])
    assert table.exit_code == 0, table.output
    assert "KV cache (from the graph)" in table.output
    assert "512 B per sequence" in table.output
