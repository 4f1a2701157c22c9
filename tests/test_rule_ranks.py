"""Inputs of the wrong rank: every registered rule answers with an error that says what is wrong
(a NodeError naming the node), never Python's IndexError or TypeError text."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from onnxcost.analysis.analyzer import _Coster
from onnxcost.errors import NodeError
from onnxcost.model import engine
from onnxcost.model.graph import build
from onnxcost.rules.registry import Cost, TensorInfo, registered

RANKS = (0, 1, 2, 5)
LEAKS = ("IndexError", "TypeError", "tuple index out of range", "KeyError")


def _cost(domain: str, op: str, rank: int, n_in: int = 6, n_out: int = 3):
    ins = [f"i{k}" for k in range(n_in)]
    outs = [f"o{k}" for k in range(n_out)]
    node = helper.make_node(op, ins, outs, name="n", domain=domain)
    infos = {t: TensorInfo(t, TensorProto.FLOAT, (3,) * rank) for t in (*ins, *outs)}
    graph = helper.make_graph([], "g", [], [])
    shapes = engine.Shapes({engine.TOP: infos}, {engine.TOP: {}})
    coster = _Coster({domain: 21, "": 21}, shapes, {}, build(graph))
    return coster.rule_cost(node, "n", None, engine.TOP, 0)


@pytest.mark.parametrize("key", sorted(registered()), ids=lambda k: f"{k[0]}:{k[1]}")
def test_wrong_ranks_never_leak_python_errors(key) -> None:
    domain, op = key
    for rank in RANKS:
        try:
            cost = _cost(domain, op, rank)
        except NodeError as e:
            text = str(e)
            assert text.startswith("node 'n'"), text
            assert not any(leak in text for leak in LEAKS), text
            assert "\n" not in text
        else:
            assert cost is None or isinstance(cost, Cost)


NAMED = {
    "GRU": ("", 2, "GRU input i0 has rank 2, needs 3"),
    "LSTM": ("", 5, "LSTM input i0 has rank 5, needs 3"),
    "RNN": ("", 1, "RNN input i0 has rank 1, needs 3"),
    "Scan": ("", 0, "Scan input i5 has rank 0, needs at least 1"),
    "TopK": ("", 0, "TopK input i0 has rank 0, needs at least 1"),
    "MaxRoiPool": ("", 2, "MaxRoiPool input i0 has rank 2, needs 4"),
    "GlobalMaxPool": ("", 2, "GlobalMaxPool input i0 has rank 2, needs at least 3"),
    "GlobalLpPool": ("", 1, "GlobalLpPool input i0 has rank 1, needs at least 3"),
    "Normalizer": ("ai.onnx.ml", 0, "Normalizer input i0 has rank 0, needs at least 1"),
    "LinearRegressor": ("ai.onnx.ml", 0, "LinearRegressor input i0 has rank 0, needs at least 1"),
    "STFT": ("", 2, "STFT input i0 has rank 2, needs 3"),
    "DFT": ("", 1, "DFT input i0 has rank 1, needs at least 2"),
    "DeformConv": ("", 2, "DeformConv input i0 has rank 2, needs at least 3"),
    "Attention": ("", 2, "Attention input i0 has rank 2, needs 3 or 4"),
    "Multinomial": ("", 1, "Multinomial input i0 has rank 1, needs 2"),
    "NonMaxSuppression": ("", 2, "NonMaxSuppression input i1 has rank 2, needs 3"),
}


@pytest.mark.parametrize("op", sorted(NAMED))
def test_the_sixteen_rules_say_what_is_wrong(op) -> None:
    domain, rank, words = NAMED[op]
    n_in = 1 if op == "Scan" else 6
    if op == "Scan":
        n_in = 6  # the last input is the scan input (num_scan_inputs = 1)
    with pytest.raises(NodeError) as e:
        _cost(domain, op, rank, n_in=n_in)
    assert words in str(e.value), str(e.value)


def test_in_a_model_file(tmp_path) -> None:
    from click.testing import CliRunner

    from onnxcost.cli.main import main

    vi = helper.make_tensor_value_info
    node = helper.make_node("GRU", ["X", "W", "R"], ["Y"], name="gru", hidden_size=4)
    graph = helper.make_graph(
        [node],
        "g",
        [vi("X", 1, [5, 3]), vi("W", 1, [1, 12, 3]), vi("R", 1, [1, 12, 4])],
        [vi("Y", 1, None)],
    )
    path = tmp_path / "gru.onnx"
    path.write_bytes(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]).SerializeToString()
    )
    res = CliRunner().invoke(main, ["analyze", str(path)])
    assert res.exit_code == 2, res.output
    assert "node 'gru' (GRU): GRU input X has rank 2, needs 3" in res.output, res.output
    assert onnx  # imported for the model builders
