"""Core cost rules, each against a hand count (arithmetic written out)."""

from __future__ import annotations

import pytest
from onnx import TensorProto

from onnxcost.errors import ModelError
from onnxcost.rules.registry import Unresolved
from tests.ruletools import ctx, kind, run


# --- MatMul -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "out", "macs"),
    [
        ((2, 3), (3, 4), (2, 4), 2 * 4 * 3),
        ((5, 2, 3), (3, 4), (5, 2, 4), 5 * 2 * 4 * 3),  # B broadcast over batch
        ((7, 1, 2, 3), (5, 3, 4), (7, 5, 2, 4), 7 * 5 * 2 * 4 * 3),  # batch dims broadcast
        ((3,), (3, 4), (4,), 4 * 3),  # 1-D A: [K] -> [1, K], then dropped
        ((2, 3), (3,), (2,), 2 * 3),  # 1-D B: [K] -> [K, 1]
        ((3,), (3,), (), 3),  # dot product
    ],
)
def test_matmul(a, b, out, macs) -> None:
    c = run(ctx("MatMul", [a, b], [out]))
    assert (c.macs, c.flops) == (macs, 2 * macs)


def test_matmul_mismatch_is_an_error() -> None:
    with pytest.raises(ModelError, match="inner dims"):
        run(ctx("MatMul", [(2, 3), (4, 5)], [(2, 5)]))


def test_matmul_symbolic_dim_is_unresolved() -> None:
    with pytest.raises(Unresolved):
        run(ctx("MatMul", [("batch", 3), (3, 4)], [("batch", 4)]))


# --- Gemm ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "attrs"),
    [
        ((8, 16), (16, 32), {}),
        ((16, 8), (16, 32), {"transA": 1}),
        ((8, 16), (32, 16), {"transB": 1}),
        ((16, 8), (32, 16), {"transA": 1, "transB": 1}),
    ],
)
def test_gemm_transposes(a, b, attrs) -> None:
    c = run(ctx("Gemm", [a, b, (32,)], [(8, 32)], attrs))
    assert (c.macs, c.flops) == (8 * 32 * 16, 2 * 8 * 32 * 16)  # M=8, N=32, K=16; bias absorbed


# --- Conv ---------------------------------------------------------------------------------
def test_conv_2d_strided_padded() -> None:
    # 1x3x224x224, 64x3x7x7, stride 2, pad 3: Ho = (224 + 6 - 7) // 2 + 1 = 112
    c = run(
        ctx(
            "Conv",
            [(1, 3, 224, 224), (64, 3, 7, 7)],
            [None],
            {"strides": [2, 2], "pads": [3, 3, 3, 3]},
        )
    )
    assert c.macs == 64 * 112 * 112 * 3 * 7 * 7


def test_conv_1d_dilated() -> None:
    # length 100, k=3, dilation 2: effective kernel 5, out = 100 - 5 + 1 = 96
    c = run(ctx("Conv", [(2, 8, 100), (16, 8, 3)], [None], {"dilations": [2]}))
    assert c.macs == 2 * 16 * 96 * 8 * 3


def test_conv_3d_grouped() -> None:
    # 1x8x4x8x8, 16 x (8/4) x 3x3x3, group 4, pad 1: out 4x8x8
    c = run(ctx("Conv", [(1, 8, 4, 8, 8), (16, 2, 3, 3, 3)], [None], {"group": 4, "pads": [1] * 6}))
    assert c.macs == 16 * (4 * 8 * 8) * 2 * 27


@pytest.mark.parametrize(("auto_pad", "out"), [("SAME_UPPER", 4), ("SAME_LOWER", 4), ("VALID", 3)])
def test_conv_auto_pad(auto_pad, out) -> None:
    # 7x7 input, 3x3 kernel, stride 2: SAME -> ceil(7/2) = 4, VALID -> (7-3)//2 + 1 = 3
    c = run(
        ctx(
            "Conv",
            [(1, 1, 7, 7), (1, 1, 3, 3)],
            [None],
            {"strides": [2, 2], "auto_pad": auto_pad.encode()},
        )
    )
    assert c.macs == out * out * 9


@pytest.mark.parametrize(
    ("x", "w", "attrs", "msg"),
    [
        ((1, 6, 8, 8), (4, 2, 3, 3), {"group": 4}, "does not divide"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [-1, 0, 0, 0]}, "negative pads"),
        ((1, 3, 2, 2), (4, 3, 5, 5), {}, "larger than"),
        ((1, 3, 8, 8), (4, 3, 3, 3), {"pads": [1, 1]}, "pads has 2 values"),
    ],
)
def test_conv_invalid_attributes(x, w, attrs, msg) -> None:
    with pytest.raises(ModelError, match=msg):
        run(ctx("Conv", [x, w], [None], attrs))


def test_conv_transpose() -> None:
    # each of N*Cin*H*W inputs scatters through Cout/g * kh * kw weights
    c = run(
        ctx(
            "ConvTranspose",
            [(1, 16, 8, 8), (16, 4, 3, 3)],
            [(1, 8, 17, 17)],
            {"group": 2, "strides": [2, 2]},
        )
    )
    assert c.macs == 1 * 16 * 8 * 8 * 4 * 3 * 3


def test_zero_batch_is_zero_cost() -> None:
    assert run(ctx("Conv", [(0, 3, 8, 8), (4, 3, 3, 3)], [None])).macs == 0


# --- elementwise --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("op", "per"),
    [("Add", 1), ("Relu", 1), ("Exp", 1), ("Tanh", 1), ("Erf", 1), ("Sigmoid", 4), ("LeakyRelu", 2),
     ("Clip", 2), ("HardSigmoid", 4), ("HardSwish", 5), ("Softplus", 3), ("PRelu", 2)],
)  # fmt: skip
def test_elementwise_table(op, per) -> None:
    c = run(ctx(op, [(2, 3, 4)], [(2, 3, 4)]))
    assert (c.macs, c.flops) == (0, per * 24)
    assert kind(op) == "elementwise"


def test_binary_broadcast_counts_output_elements() -> None:
    assert run(ctx("Mul", [(4, 1, 5), (3, 1)], [(4, 3, 5)])).flops == 4 * 3 * 5


def test_variadic_and_gelu() -> None:
    assert run(ctx("Sum", [(10,), (10,), (10,)], [(10,)])).flops == 2 * 10  # n-1 adds
    assert run(ctx("Mean", [(10,), (10,), (10,)], [(10,)])).flops == 3 * 10  # 2 adds + divide
    assert run(ctx("Gelu", [(10,)], [(10,)])).flops == 5 * 10
    assert run(ctx("Gelu", [(10,)], [(10,)], {"approximate": b"tanh"})).flops == 9 * 10


# --- pooling, normalization, softmax, reductions -------------------------------------------
def test_pools() -> None:
    # 1x8x32x32, 2x2 stride 2 -> 1x8x16x16 = 2048 outputs
    attrs = {"kernel_shape": [2, 2], "strides": [2, 2]}
    assert run(ctx("MaxPool", [(1, 8, 32, 32)], [(1, 8, 16, 16)], attrs)).flops == 4 * 2048
    assert run(ctx("AveragePool", [(1, 8, 32, 32)], [(1, 8, 16, 16)], attrs)).flops == 5 * 2048
    # global: 7*7 adds + 1 divide per (N, C)
    assert run(ctx("GlobalAveragePool", [(2, 16, 7, 7)], [(2, 16, 1, 1)])).flops == 2 * 16 * 50
    assert run(ctx("GlobalMaxPool", [(2, 16, 7, 7)], [(2, 16, 1, 1)])).flops == 2 * 16 * 49


def test_pool_without_output_shape_computes_it() -> None:
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2]}  # (55 - 3)//2 + 1 = 27
    assert run(ctx("MaxPool", [(1, 96, 55, 55)], [None], attrs)).flops == 9 * 96 * 27 * 27


def test_normalizations() -> None:
    shape = (2, 16, 64)
    n = 2 * 16 * 64
    assert (
        run(ctx("BatchNormalization", [shape, (16,), (16,), (16,), (16,)], [shape])).flops == 2 * n
    )
    assert run(ctx("LayerNormalization", [shape, (64,), (64,)], [shape])).flops == 7 * n
    assert run(ctx("LayerNormalization", [shape, (64,)], [shape])).flops == 6 * n
    assert run(ctx("Softmax", [shape], [shape])).flops == 5 * n


def test_reductions() -> None:
    # 4x10 -> 4x1: 40 input elements, 4 outputs
    x, y = (4, 10), (4, 1)
    assert run(ctx("ReduceSum", [x], [y])).flops == 40
    assert run(ctx("ReduceMean", [x], [y])).flops == 40 + 4
    assert run(ctx("ReduceL2", [x], [y])).flops == 2 * 40 + 4
    assert run(ctx("ArgMax", [x], [y], out_dtype=TensorProto.INT64)).flops == 40


@pytest.mark.parametrize(
    "op", ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout"]
)
def test_views(op) -> None:
    assert run(ctx(op, [(2, 3)], [(6,)])).flops == 0
    assert kind(op) == "view"


@pytest.mark.parametrize("op", ["Transpose", "Concat", "Gather", "Slice", "Pad", "Cast", "Expand"])
def test_data_movement_has_no_arithmetic(op) -> None:
    c = run(ctx(op, [(2, 3)], [(3, 2)]))
    assert (c.macs, c.flops) == (0, 0)
    assert kind(op) == "compute"  # copies: they get a buffer and move bytes
