"""QDQ models and packed low-bit weights: integer compute dtypes and parameter storage."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper
from onnx import numpy_helper as nh

import onnxcost
from onnxcost.analysis.qdq import quantized_nodes
from onnxcost.analysis.quant_params import packed_weight_override


def _init(name: str, value) -> onnx.TensorProto:
    return nh.from_array(np.asarray(value), name)


def _model(nodes, inputs, outputs, inits, ms: bool = False) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    opsets = [helper.make_opsetid("", 21)] + ([helper.make_opsetid("com.microsoft", 1)] * ms)
    return helper.make_model(graph, opset_imports=opsets)


def qdq_model() -> onnx.ModelProto:
    """x -> Q -> DQ -> Conv(DQ(int8 W)) -> MatMul(DQ(int8 W2) -> Transpose) with a DQ'd
    activation, and a weight-only MatMul (float activation, DQ'd weight)."""
    act = [_init("s", np.float32(0.1)), _init("zp", np.uint8(128))]
    weights = [
        _init("wq", np.zeros((16, 3, 3, 3), np.int8)),  # 432 int8 weights
        _init("ws", np.float32(0.01)),
        _init("wzp", np.int8(0)),
        _init("b", np.zeros(16, np.float32)),  # 16 float32 biases
        _init("w2q", np.zeros((10, 1024), np.int8)),  # 10,240 int8 weights (transposed use)
        _init("w3q", np.zeros((10, 4), np.int8)),  # 40 int8 weights
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"], name="q"),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"], name="dq"),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wzp"], ["wd"], name="dqw"),
        helper.make_node("Conv", ["xd", "wd", "b"], ["c"], pads=[1, 1, 1, 1]),  # unnamed
        helper.make_node("QuantizeLinear", ["c", "s", "zp"], ["cq"], name="q2"),
        helper.make_node("DequantizeLinear", ["cq", "s", "zp"], ["cd"], name="dq2"),
        helper.make_node("Reshape", ["cd", "shape"], ["flat"], name="flatten"),
        helper.make_node("DequantizeLinear", ["w2q", "ws", "wzp"], ["w2d"], name="dqw2"),
        helper.make_node("Transpose", ["w2d"], ["w2t"], name="t", perm=[1, 0]),
        helper.make_node("MatMul", ["flat", "w2t"], ["h"], name="fc"),
        helper.make_node("DequantizeLinear", ["w3q", "ws", "wzp"], ["w3d"], name="dqw3"),
        helper.make_node("MatMul", ["h", "w3d"], ["y"], name="weight_only"),
    ]
    shape = _init("shape", np.array([1, 1024], np.int64))
    return _model(
        nodes,
        [helper.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", T.FLOAT, None)],
        act + weights + [shape],
    )


def test_quantized_nodes_finds_fused_integer_contractions() -> None:
    q = quantized_nodes(qdq_model().graph)
    # Conv: uint8 activations x int8 weights (both 8-bit: the activation's type); unnamed,
    # so keyed by the analyzer's display name op_type_index.
    # fc: the activation's Reshape and the weight's Transpose are passed through.
    # weight_only: float activation, so float compute: not listed.
    assert q == {"Conv_3": "uint8", "fc": "uint8"}


def test_quantized_nodes_picks_the_wider_operand() -> None:
    # int8 activations from a Q with an int8 zero point, int4 weights: the int8 rate
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"]),
        helper.make_node("DequantizeLinear", ["wq", "s"], ["wd"]),
        helper.make_node("Gemm", ["xd", "wd"], ["y"], name="gemm"),
    ]
    wq = helper.make_tensor("wq", T.INT4, [4, 2], [0] * 8)
    inits = [_init("s", np.float32(1.0)), _init("zp", np.int8(0)), wq]
    m = _model(
        nodes,
        [helper.make_tensor_value_info("x", T.FLOAT, [3, 4])],
        [helper.make_tensor_value_info("y", T.FLOAT, None)],
        inits,
    )
    assert quantized_nodes(m.graph) == {"gemm": "int8"}


def test_qdq_model_end_to_end() -> None:
    r = onnxcost.analyze(qdq_model())
    by = {n.name: n for n in r.nodes}
    # Conv 1x3x8x8 * 16x3x3x3 pad 1: MACs = 16*8*8 * 27 = 27,648, on the integer peak
    assert (by["Conv_3"].macs, by["Conv_3"].compute_dtype) == (27_648, "uint8")
    # fc [1, 1024] x [1024, 10]: 10,240 MACs, integer; weight_only [1, 10] x [10, 4]: float
    assert (by["fc"].macs, by["fc"].compute_dtype) == (10_240, "uint8")
    assert (by["weight_only"].macs, by["weight_only"].compute_dtype) == (40, "float32")
    # Q on 1x3x8x8 = 192 elements: 4 each = 768 FLOPs; DQ: 2 each = 384
    assert (by["q"].flops, by["dq"].flops) == (768, 384)
    # Weights are stored int8: 432 + 10,240 + 40 = 10,712 int8 parameters (1 byte each);
    # their dequantized float copies are views of them, not parameters. Bias: 16 float32.
    sizes = {d.dtype: (d.params, d.bytes) for d in r.params_by_dtype}
    assert sizes == {"int8": (10_712, 10_712), "float32": (16, 64)}
    assert r.totals.params == 10_728


def nbits_model() -> onnx.ModelProto:
    """MatMulNBits: A [1, seq, 64] x 4-bit W (K=64, N=32, block 32) with packed zero points."""
    inits = [
        _init("B", np.zeros((32, 2, 16), np.uint8)),  # N, k_blocks = 64/32, blob = 32*4/8
        _init("scales", np.zeros((32, 2), np.float32)),
        _init("zp", np.zeros((32, 1), np.uint8)),  # N, ceil(k_blocks * 4 / 8)
    ]
    node = helper.make_node(
        "MatMulNBits",
        ["A", "B", "scales", "zp"],
        ["Y"],
        name="mm",
        domain="com.microsoft",
        K=64,
        N=32,
        bits=4,
        block_size=32,
    )
    return _model(
        [node],
        [helper.make_tensor_value_info("A", T.FLOAT, [1, "seq", 64])],
        [helper.make_tensor_value_info("Y", T.FLOAT, None)],
        inits,
        ms=True,
    )


def test_packed_weights_count_at_their_bit_width() -> None:
    # B holds N*K = 32*64 = 2,048 4-bit values; zp holds N*k_blocks = 32*2 = 64 4-bit values
    assert packed_weight_override(nbits_model()) == {
        "B": (2_048, 4, "uint4"),
        "zp": (64, 4, "uint4"),
    }
    # Fused MLP: gate and up blobs each hold K*N = 64*32 4-bit values
    mlp = nbits_model()
    node = mlp.graph.node[0]
    node.op_type = "MatMulNBitsMlp"
    node.input[:] = ["A", "", "", "B", "scales", "", "B2", "scales"]
    mlp.graph.initializer.append(_init("B2", np.zeros((32, 2, 16), np.uint8)))
    assert packed_weight_override(mlp) == {"B": (2_048, 4, "uint4"), "B2": (2_048, 4, "uint4")}

    r = onnxcost.analyze(nbits_model(), dims={"seq": 5})
    sizes = {d.dtype: (d.params, d.bytes) for d in r.params_by_dtype}
    # uint4: 2,048 + 64 = 2,112 values * 0.5 byte = 1,056 bytes; scales 64 float32 = 256 bytes
    assert sizes == {"uint4": (2_112, 1_056), "float32": (64, 256)}
    # MACs = 5*32*64 = 10,240
    assert r.totals.macs == 10_240


def test_qdq_nodes_read_the_quantized_bytes() -> None:
    nodes = {n.name: n for n in onnxcost.analyze(qdq_model()).nodes}
    conv = nodes["Conv_3"]
    # reads xq (uint8 1x3x8x8 = 192 B) + wq (int8 16x3x3x3 = 432 B) + b (float32 16 = 64 B),
    # not the dequantized floats; writes c (float32 1x16x8x8 = 4096 B)
    assert conv.bytes_read == 192 + 432 + 64
    assert conv.bytes_written == 4 * 16 * 8 * 8
    # fc reads the int8 weight through Transpose(DequantizeLinear(w2q)): 10,240 B, and its
    # activation through Reshape(DequantizeLinear(cq)): uint8 1x16x8x8 = 1024 B
    assert nodes["fc"].bytes_read == 1024 + 10_240
    # the weight-only MatMul computes in float: it reads the dequantized floats (h: 10 floats,
    # w3d: 40 floats)
    assert nodes["weight_only"].bytes_read == 4 * 10 + 4 * 40
