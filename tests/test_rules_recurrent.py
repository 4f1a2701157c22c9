"""LSTM / GRU / RNN: MACs per gate matrix per step, plus the elementwise work (hand counts)."""

from __future__ import annotations

import pytest

from onnxcost.rules.registry import Unresolved
from tests.ruletools import ctx, run


def test_lstm_forward_with_bias() -> None:
    # X [S=5, B=2, I=3], H=4, one direction, W [1, 16, 3], R [1, 16, 4], B [1, 32]
    c = ctx(
        "LSTM",
        inputs=[(5, 2, 3), (1, 16, 3), (1, 16, 4), (1, 32)],
        outputs=[(5, 1, 2, 4)],
        attrs={"hidden_size": 4},
    )
    cost = run(c)
    macs = 5 * 2 * 4 * 4 * (3 + 4)  # steps * batch * gates * H * (I + H)
    assert macs == 1120
    # per step and batch row: gate sums 4H, biases 2*4H, sigmoid on i,o,f 3H*4,
    # tanh on c~ and on C 2H*1, C = f*C + i*c~ 3H, H = o*tanh(C) H
    per = 16 + 32 + 12 * 4 + 4 + 4 + 12 + 4
    assert per == 120
    assert cost.macs == macs
    assert cost.flops == 2 * macs + 10 * per


def test_lstm_bidirectional_peepholes_clip_layout() -> None:
    # layout=1: X [B=2, S=3, I=5]; H=6, two directions, peepholes P [2, 18], clip
    c = ctx(
        "LSTM",
        inputs=[(2, 3, 5), (2, 24, 5), (2, 24, 6), None, None, None, None, (2, 18)],
        outputs=[(2, 3, 2, 6)],
        attrs={"hidden_size": 6, "direction": b"bidirectional", "layout": 1, "clip": 3.0},
        opset=14,
    )
    cost = run(c)
    macs = 2 * 3 * 2 * 4 * 6 * (5 + 6)  # directions * steps * batch * gates * H * (I + H)
    assert macs == 3168
    # per direction, step and row: gate sums 24, activations 3*6*4 + 6 + 6, cell 3*6 + 6,
    # peepholes 3*6 mul + 3*6 add, clip (max+min) on 24 gate inputs and the 6 cell outputs
    per = 24 + (72 + 6 + 6) + (18 + 6) + 36 + 2 * (24 + 6)
    assert per == 228
    assert cost.macs == macs
    assert cost.flops == 2 * macs + 2 * 6 * per


def test_gru_linear_before_reset_counts_the_same() -> None:
    # X [5, 2, 3], H=4, B [1, 24]
    base = dict(
        inputs=[(5, 2, 3), (1, 12, 3), (1, 12, 4), (1, 24)],
        outputs=[(5, 1, 2, 4)],
    )
    macs = 5 * 2 * 3 * 4 * (3 + 4)
    assert macs == 840
    # gate sums 3H, biases 6H, sigmoid on z, r 2H*4, tanh on h~ H, r * (.) H,
    # H = (1-z)*h~ + z*H 4H
    per = 12 + 24 + 32 + 4 + 4 + 16
    assert per == 92
    for lbr in (0, 1):
        cost = run(ctx("GRU", attrs={"hidden_size": 4, "linear_before_reset": lbr}, **base))
        assert cost.macs == macs
        assert cost.flops == 2 * macs + 10 * per


def test_rnn_sequence_lens_and_per_direction_activations() -> None:
    # known sequence_lens [5, 2]: 7 row-steps instead of 5 * 2
    c = ctx(
        "RNN",
        inputs=[(5, 2, 3), (1, 4, 3), (1, 4, 4), None, (2,)],
        outputs=[(5, 1, 2, 4)],
        attrs={"hidden_size": 4, "activations": [b"Relu"]},
        values={4: [5, 2]},
    )
    cost = run(c)
    macs = 7 * 4 * (3 + 4)
    assert cost.macs == macs == 196
    assert cost.flops == 2 * macs + 7 * (4 + 4 * 1)  # gate sum H + Relu H

    # bidirectional, forward Relu (1), reverse Sigmoid (4); hidden size from W
    c = ctx(
        "RNN",
        inputs=[(5, 2, 3), (2, 4, 3), (2, 4, 4)],
        outputs=[(5, 2, 2, 4)],
        attrs={"direction": "bidirectional", "activations": ["Relu", "Sigmoid"]},
    )
    cost = run(c)
    macs = 2 * 10 * 4 * 7
    assert cost.macs == macs
    assert cost.flops == 2 * macs + 10 * ((4 + 4 * 1) + (4 + 4 * 4))


def test_symbolic_sequence_is_unresolved() -> None:
    c = ctx("LSTM", inputs=[("seq", 2, 3), (1, 16, 3), (1, 16, 4)], attrs={"hidden_size": 4})
    with pytest.raises(Unresolved):
        run(c)
