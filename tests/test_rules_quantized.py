"""Quantized ops of the ONNX domain: integer contractions and (de)quantizers, hand-counted."""

from __future__ import annotations

import pytest
from onnx import TensorProto

from onnxcost.errors import OnnxCostError
from onnxcost.rules.registry import Unresolved
from tests.ruletools import ctx, kind, run

F, U8, I8, I32 = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32
I4 = TensorProto.INT4

# QLinearConv inputs: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, [B]
QCONV_DTYPES = [U8, F, U8, I8, F, I8, F, U8, I32]


def qconv(x, w, y, **attrs):
    return ctx(
        "QLinearConv",
        [x, (), (), w, (), (), (), (), None],
        [y],
        attrs=attrs,
        dtype=QCONV_DTYPES,
        out_dtype=U8,
    )


def test_integer_convolutions() -> None:
    # 1x3x8x8 uint8 * 16x3x3x3 int8, pad 1 -> 1x16x8x8 (1024 outputs)
    # MACs = N*Cout*H*W * (Cin/g)*kh*kw = 1*16*8*8 * 3*3*3 = 1024 * 27 = 27,648
    # FLOPs = 2*27,648 + 4 (requantize) * 1024 = 55,296 + 4,096 = 59,392
    c = run(qconv((1, 3, 8, 8), (16, 3, 3, 3), (1, 16, 8, 8), pads=[1, 1, 1, 1]))
    assert (c.macs, c.flops, c.compute_dtype) == (27_648, 59_392, "uint8")

    # Output shape not inferred: from the attributes. Stride 2, no pad: (8 - 3) // 2 + 1 = 3
    # MACs = 16*3*3 * 27 = 3,888
    c = run(qconv((1, 3, 8, 8), (16, 3, 3, 3), None, strides=[2, 2]))
    assert c.macs == 3_888
    # SAME_UPPER, stride 2: ceil(8 / 2) = 4 -> 16*4*4*27 = 6,912
    c = run(qconv((1, 3, 8, 8), (16, 3, 3, 3), None, strides=[2, 2], auto_pad="SAME_UPPER"))
    assert c.macs == 6_912

    # Depthwise (group 3, w 3x1x3x3): 1*3*8*8 * 1*3*3 = 1,728
    c = run(qconv((1, 3, 8, 8), (3, 1, 3, 3), (1, 3, 8, 8), group=3, pads=[1, 1, 1, 1]))
    assert c.macs == 1_728

    # ConvInteger: same MACs, int32 out, no requantize: FLOPs = 2 * MACs; int8 x int8 -> int8
    c = run(
        ctx(
            "ConvInteger",
            [(1, 3, 8, 8), (16, 3, 3, 3)],
            [(1, 16, 8, 8)],
            attrs={"pads": [1, 1, 1, 1]},
            dtype=I8,
            out_dtype=I32,
        )
    )
    assert (c.macs, c.flops, c.compute_dtype) == (27_648, 55_296, "int8")
    assert kind("QLinearConv") == kind("ConvInteger") == "compute"


def test_integer_matmuls() -> None:
    # QLinearMatMul: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp
    # [2,4,8] uint8 x [8,16] int8: MACs = 2*4*16*8 = 1,024; outputs 2*4*16 = 128
    # FLOPs = 2*1,024 + 4*128 = 2,048 + 512 = 2,560
    c = run(
        ctx(
            "QLinearMatMul",
            [(2, 4, 8), (), (), (8, 16), (), (), (), ()],
            [(2, 4, 16)],
            dtype=[U8, F, U8, I8, F, I8, F, U8],
        )
    )
    assert (c.macs, c.flops, c.compute_dtype) == (1_024, 2_560, "uint8")

    # MatMulInteger: int32 out, FLOPs = 2 * MACs; batch dims broadcast: [3,1,4,8] x [5,8,2]
    # -> batch [3,5]: MACs = 3*5 * 4*2*8 = 960
    c = run(ctx("MatMulInteger", [(3, 1, 4, 8), (5, 8, 2)], [None], dtype=U8, out_dtype=I32))
    assert (c.macs, c.flops) == (960, 1_920)

    # 1-D operands as numpy: [8] x [8,16] -> [16]: MACs = 16*8 = 128
    assert run(ctx("MatMulInteger", [(8,), (8, 16)], [(16,)], dtype=I8)).macs == 128

    # int8 activations x int4 weights run at the int8 rate (the wider operand)
    c = run(ctx("MatMulInteger", [(4, 8), (8, 2)], [(4, 2)], dtype=[I8, I4]))
    assert c.compute_dtype == "int8"

    with pytest.raises(OnnxCostError, match="inner dims"):
        run(ctx("MatMulInteger", [(4, 8), (7, 2)], [None], dtype=I8))
    with pytest.raises(Unresolved):
        run(ctx("MatMulInteger", [("seq", 8), (8, 2)], [None], dtype=I8))


@pytest.mark.parametrize("domain", ["", "com.microsoft"])
def test_quantizers(domain: str) -> None:
    # x of 2*3*4 = 24 elements
    # QuantizeLinear: x / scale, round, + zero point, saturate = 4 per element -> 96
    q = run(
        ctx("QuantizeLinear", [(2, 3, 4), (), ()], [(2, 3, 4)], dtype=[F, F, U8], domain=domain)
    )
    assert (q.macs, q.flops, q.compute_dtype) == (0, 96, "float32")
    # DequantizeLinear: (x - zero point) * scale = 2 per element -> 48, in the scale's type
    d = run(
        ctx("DequantizeLinear", [(2, 3, 4), (), ()], [(2, 3, 4)], dtype=[I8, F, I8], domain=domain)
    )
    assert (d.flops, d.compute_dtype) == (48, "float32")
    assert kind("QuantizeLinear", domain) == kind("DequantizeLinear", domain) == "elementwise"


def test_dynamic_quantize_linear() -> None:
    # min and max over x (2) + quantize (4) = 6 per element: 2*3*4 = 24 -> 144
    c = run(ctx("DynamicQuantizeLinear", [(2, 3, 4)], [(2, 3, 4), (), ()], dtype=F))
    assert c.flops == 144
