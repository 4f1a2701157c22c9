"""The exact test vectors of shared/conventions.md."""

from __future__ import annotations

import onnxcost
from tests.builders import GraphBuilder, alexnet


def test_alexnet_vector() -> None:
    t = onnxcost.analyze(alexnet()).totals
    # conv MACs = N * Cout * Ho * Wo * (Cin/g) * kh * kw
    conv1 = 96 * 55 * 55 * 3 * 11 * 11  # 105,415,200
    conv2 = 256 * 27 * 27 * (96 // 2) * 5 * 5  # 223,948,800
    conv3 = 384 * 13 * 13 * 256 * 3 * 3  # 149,520,384
    conv4 = 384 * 13 * 13 * (384 // 2) * 3 * 3  # 112,140,288
    conv5 = 256 * 13 * 13 * (384 // 2) * 3 * 3  # 74,760,192
    fc = 9216 * 4096 + 4096 * 4096 + 4096 * 1000  # 58,621,952
    assert conv1 + conv2 + conv3 + conv4 + conv5 == 665_784_864
    assert fc == 58_621_952
    assert t.macs == 724_406_816
    weights = (
        96 * 3 * 11 * 11 + 256 * 48 * 5 * 5 + 384 * 256 * 3 * 3 + 384 * 192 * 3 * 3
        + 256 * 192 * 3 * 3 + 9216 * 4096 + 4096 * 4096 + 4096 * 1000
    )  # fmt: skip
    biases = 96 + 256 + 384 + 384 + 256 + 4096 + 4096 + 1000
    assert (weights, biases) == (60_954_656, 10_568)
    assert t.params == 60_965_224
    assert t.weight_bytes == 4 * 60_965_224 == 243_860_896
    # buffers: input, conv1..5 outputs, 3 pool outputs, 3 FC outputs (ReLU in place, Flatten a view)
    acts = (
        3 * 224 * 224 + 96 * 55 * 55 + 96 * 27 * 27 + 256 * 27 * 27 + 256 * 13 * 13
        + 384 * 13 * 13 * 2 + 256 * 13 * 13 + 256 * 6 * 6 + 4096 + 4096 + 1000
    )  # fmt: skip
    assert acts == t.activations_total == 932_264
    assert t.activations_peak == 3 * 224 * 224 + 96 * 55 * 55 == 440_928
    assert t.activations_peak_bytes == 4 * 440_928
    assert not t.lower_bound


def test_alexnet_flops_are_twice_macs_plus_elementwise() -> None:
    r = onnxcost.analyze(alexnet())
    relu = 96 * 55 * 55 + 256 * 27 * 27 + 384 * 13 * 13 * 2 + 256 * 13 * 13 + 4096 * 2
    pools = 9 * (96 * 27 * 27 + 256 * 13 * 13 + 256 * 6 * 6)  # kernel size per output element
    assert r.totals.flops == 2 * 724_406_816 + relu + pools


def test_fully_connected_vector() -> None:
    b = GraphBuilder()
    y = b.fc(b.input("x", [1, 4096]), 4096, 1000)
    t = onnxcost.analyze(b.build([y])).totals
    assert t.macs == 4096 * 1000 == 4_096_000
    assert t.flops == 8_192_000


def test_depthwise_separable_vector() -> None:
    b = GraphBuilder()
    x = b.input("x", [1, 32, 112, 112])
    dw = b.conv(x, 32, 32, 3, group=32, bias=False, pads=[1, 1, 1, 1])
    pw = b.conv(dw, 32, 64, 1, bias=False)
    r = onnxcost.analyze(b.build([pw]))
    macs = {n.op_type + str(i): n.macs for i, n in enumerate(r.nodes)}
    assert list(macs.values()) == [
        32 * 112 * 112 * 3 * 3,  # depthwise: N * C * Ho * Wo * k * k = 3,612,672
        64 * 112 * 112 * 32,  # pointwise: N * Cout * Ho * Wo * Cin = 25,690,112
    ]
    assert list(macs.values()) == [3_612_672, 25_690_112]


def test_sigmoid_and_relu_vector() -> None:
    for op, flops in (("Sigmoid", 4_000), ("Relu", 1_000)):
        b = GraphBuilder()
        y = b.op(op, [b.input("x", [1, 1000])])
        t = onnxcost.analyze(b.build([y])).totals
        assert (t.macs, t.flops) == (0, flops)
