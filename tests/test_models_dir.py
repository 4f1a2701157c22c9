"""The models shipped in models/: the numbers the README quotes, counted by hand."""

from __future__ import annotations

from pathlib import Path

import onnxcost

MODELS = Path(__file__).resolve().parent.parent / "models"


def test_cnn() -> None:
    t = onnxcost.analyze(MODELS / "cnn.onnx").totals
    conv = (
        32 * 112 * 112 * 3 * 9  # stem 3x3/2, 3 -> 32
        + 64 * 56 * 56 * 32 * 9  # conv2 3x3, 32 -> 64 (after the 3x3/2 max pool)
        + 64 * 56 * 56 * 9 + 128 * 56 * 56 * 64  # block1: depthwise 3x3, pointwise 64 -> 128
        + 128 * 28 * 28 * 9 + 128 * 28 * 28 * 128  # block2 (after a 2x2/2 pool), residual
        + 128 * 14 * 14 * 9 + 256 * 14 * 14 * 128  # block3: depthwise stride 2, pointwise -> 256
        + 256 * 7 * 7 * 9 + 256 * 7 * 7 * 256  # block4: depthwise stride 2, pointwise
    )  # fmt: skip
    fc = 256 * 1000
    assert t.macs == conv + fc == 120_113_920
    weights = (
        32 * 3 * 9
        + 64 * 32 * 9
        + 64 * 9
        + 128 * 64
        + 128 * 9
        + 128 * 128
        + 128 * 9
        + 256 * 128
        + 256 * 9
        + 256 * 256
    )
    bn = 4 * (32 + 64 + 64 + 128 + 128 + 128 + 128 + 256 + 256 + 256)  # scale, bias, mean, var
    assert t.params == weights + bn + 256 * 1000 + 1000 == 410_120
    assert not t.lower_bound


def test_transformer_block_at_batch_1_seq_128() -> None:
    t = onnxcost.analyze(MODELS / "transformer_block.onnx", dims={"batch": 1, "seq": 128}).totals
    tokens, d, heads, dh, ffn = 128, 256, 4, 64, 1024
    projections = 4 * tokens * d * d  # Q, K, V, output
    attention = 2 * heads * tokens * tokens * dh  # Q K^T and P V
    mlp = 2 * tokens * d * ffn
    assert t.macs == projections + attention + mlp == 109_051_904
    biases = 4 * d + ffn + d
    layer_norms = 2 * (d + d)
    assert t.params == 4 * d * d + 2 * d * ffn + biases + layer_norms == 789_760
    assert not t.lower_bound


def test_lstm_at_seq_32() -> None:
    t = onnxcost.analyze(MODELS / "lstm.onnx", dims={"seq": 32, "batch": 1}).totals
    seq, inp, hidden = 32, 64, 128
    assert t.macs == seq * 4 * hidden * (inp + hidden) + hidden * 10 == 3_147_008
    assert (
        t.params
        == 4 * hidden * inp + 4 * hidden * hidden + 8 * hidden + hidden * 10 + 10
        == 100_618
    )
