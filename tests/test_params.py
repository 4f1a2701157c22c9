"""Parameters and model size: what counts as a weight, and how many bytes it occupies."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import onnxcost
from tests.builders import GraphBuilder


def test_tied_weight_counts_once() -> None:
    b = GraphBuilder()
    w = b.weight("w", [32, 32])
    x = b.input("x", [4, 32])
    y = b.op("MatMul", [b.op("MatMul", [x, w]), w])
    r = onnxcost.analyze(b.build([y]))
    assert r.totals.params == 32 * 32
    assert r.totals.macs == 2 * (4 * 32 * 32)


def test_weights_built_by_constant_of_shape_count_and_shape_helper_does_not() -> None:
    b = GraphBuilder()
    x = b.input("x", [4, 64])
    shape = b.op("Constant", [], value=numpy_helper.from_array(np.array([64, 32], np.int64)))
    w = b.op(
        "ConstantOfShape", [shape], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])
    )
    y = b.op("MatMul", [x, w])
    r = onnxcost.analyze(b.build([y]))
    assert r.totals.params == 64 * 32  # the generated weight
    assert r.totals.constants == 2  # the int64 shape [64, 32] is a helper, not a parameter
    assert r.totals.weight_bytes == 4 * 64 * 32
    assert [n.status for n in r.nodes] == ["constant", "constant", "counted"]


def test_weight_derived_from_a_weight_is_not_counted_again() -> None:
    b = GraphBuilder()
    w = b.weight("w", [64, 32])
    wt = b.op("Transpose", [w], perm=[1, 0])
    y = b.op("MatMul", [b.input("x", [4, 64]), b.op("Transpose", [wt], perm=[1, 0])])
    r = onnxcost.analyze(b.build([y]))
    assert r.totals.params == 64 * 32
    assert r.totals.activations_total == 4 * 64 + 4 * 32  # folded transposes are not activations


def test_scalars_and_integer_axes_are_constants_not_parameters() -> None:
    b = GraphBuilder()
    x = b.input("x", [4, 8])
    half = b.op("Constant", [], value=numpy_helper.from_array(np.array(0.5, np.float32)))
    axes = b.op("Constant", [], value=numpy_helper.from_array(np.array([1], np.int64)))
    y = b.op("ReduceSum", [b.op("Mul", [x, half]), axes], keepdims=1)
    t = onnxcost.analyze(b.build([y])).totals
    assert (t.params, t.constants) == (0, 2)


def test_sizes_by_dtype_at_stored_width() -> None:
    b = GraphBuilder()
    x = b.input("x", [2, 16])
    w16 = b.weight("w16", [16, 16], np.float16)
    w8 = b.weight("w8", [16, 16], np.int8)
    scale = b.weight("s", [16], np.float32)
    w4 = helper.make_tensor("w4", TensorProto.INT4, [16, 16], [0] * 256)  # 256 nibbles = 128 bytes
    b.inits.append(w4)
    dq8 = b.op("DequantizeLinear", [w8, scale], axis=1)
    dq4 = b.op("DequantizeLinear", ["w4", scale], axis=1)
    h = b.op("MatMul", [b.op("Cast", [x], to=TensorProto.FLOAT16), w16])
    y = b.op("MatMul", [b.op("MatMul", [b.op("Cast", [h], to=TensorProto.FLOAT), dq8]), dq4])
    r = onnxcost.analyze(b.build([y]))
    by = {p.dtype: (p.params, p.bytes) for p in r.params_by_dtype}
    assert by == {
        "float16": (256, 512),
        "int8": (256, 256),
        "int4": (256, 128),
        "float32": (16, 64),
    }
    assert r.totals.params == 256 * 3 + 16
    assert r.totals.weight_bytes == 512 + 256 + 128 + 64


def test_unused_initializer_is_not_a_parameter_and_is_reported() -> None:
    b = GraphBuilder()
    b.weight("orphan", [100])
    y = b.op("Relu", [b.input("x", [4])])
    r = onnxcost.analyze(b.build([y]))
    assert r.totals.params == 0
    assert any("not used" in w for w in r.warnings)


def test_external_weights_counted_from_declared_shape_without_reading(tmp_path) -> None:
    b = GraphBuilder()
    w = b.weight("w", [256, 128])
    y = b.op("MatMul", [b.input("x", [1, 256]), w])
    model = b.build([y])
    path = tmp_path / "m.onnx"
    onnx.save_model(model, path, save_as_external_data=True, location="w.bin", size_threshold=0)
    (tmp_path / "w.bin").unlink()  # weights are never read: a missing file changes nothing
    r = onnxcost.analyze(path)
    assert r.totals.params == 256 * 128
    assert r.totals.weight_bytes == 4 * 256 * 128
    assert r.model["missing_external_data"] == ["w.bin"]
    assert any("w.bin" in w for w in r.warnings)
