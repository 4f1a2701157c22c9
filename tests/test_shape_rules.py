"""onnxcost's own shape rules (onnxcost/model/shape_rules.py): one node each, the output shape
worked out by hand from the op's definition (onnxruntime's contrib ops doc, the ai.onnx.ml spec)."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxcost.model import engine
from onnxcost.model.loader import load

F, I8, U8, I64 = TensorProto.FLOAT, TensorProto.INT8, TensorProto.UINT8, TensorProto.INT64
MS, ML = "com.microsoft", "ai.onnx.ml"


def shapes_of(op, domain, inputs, n_out=1, inits=(), **attrs):
    """Output shapes of one node whose inputs are (name, dtype, shape) graph inputs."""
    node = helper.make_node(
        op, [n for n, _, _ in inputs], [f"y{k}" for k in range(n_out)], domain=domain, **attrs
    )
    init_names = {t.name for t in inits}
    g = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs if n not in init_names],
        [helper.make_tensor_value_info(f"y{k}", TensorProto.UNDEFINED, None) for k in range(n_out)],
        list(inits),
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(MS, 1), helper.make_opsetid(ML, 3)]
    shapes = engine.infer(load(helper.make_model(g, opset_imports=opsets)).model)
    infos = shapes.infos(engine.TOP)
    return [infos[f"y{k}"].shape for k in range(n_out)]


@pytest.mark.parametrize(
    ("op", "inputs", "attrs", "want"),
    [
        # same shape as X
        ("BiasSoftmax", [("x", F, [2, 4, 8]), ("b", F, [2, 4, 8])], {}, [(2, 4, 8)]),
        ("QuickGelu", [("x", F, [3, 5])], {}, [(3, 5)]),
        # Y and a bool mask of X's shape
        ("BiasDropout", [("x", F, [2, 6]), ("b", F, [6])], {}, [(2, 6), (2, 6)]),
        # A [2, 3, 4] x B [4, 5]: batch 2, M 3, N 5
        ("MatMulInteger16", [("a", TensorProto.INT16, [2, 3, 4]), ("b", TensorProto.INT16, [4, 5])], {}, [(2, 3, 5)]),
        ("DynamicQuantizeMatMul", [("a", F, [7, 4]), ("b", I8, [4, 9]), ("s", F, [1])], {}, [(7, 9)]),
        # packed weights: N from the attribute
        ("MatMulFpQ4", [("a", F, [2, 3, 64]), ("b", U8, [512])], {"N": 16, "K": 64}, [(2, 3, 16)]),
        # Gemm of A^T: A [4, 3] -> M 3; B [4, 6] -> N 6
        ("FusedGemm", [("a", F, [4, 3]), ("b", F, [4, 6])], {"transA": 1}, [(3, 6)]),
        # a Conv: [1, 3, 8, 8] with 4 filters of 3x3, pads 1 -> [1, 4, 8, 8]
        ("FusedConv", [("x", F, [1, 3, 8, 8]), ("w", F, [4, 3, 3, 3])], {"pads": [1, 1, 1, 1]}, [(1, 4, 8, 8)]),
        # channels last: [1, 8, 8, 3] -> [1, 8, 8, 4]
        ("NhwcConv", [("x", F, [1, 8, 8, 3]), ("w", F, [4, 3, 3, 3])], {"pads": [1, 1, 1, 1]}, [(1, 8, 8, 4)]),
        # weight [10, 6] looked up by indices [2, 5] -> [2, 5, 6]
        ("TorchEmbedding", [("w", F, [10, 6]), ("i", I64, [2, 5])], {}, [(2, 5, 6)]),
        # the last dim halves
        ("SwiGLU", [("x", F, [2, 8])], {}, [(2, 4)]),
        # axes 1 and 2 reduced, kept as 1
        ("QLinearReduceMean", [("x", U8, [2, 3, 4]), ("s", F, []), ("z", U8, []), ("ys", F, []), ("yz", U8, [])], {"axes": [1, 2], "keepdims": 1}, [(2, 1, 1)]),
        ("QLinearGlobalAveragePool", [("x", U8, [2, 3, 5, 5]), ("s", F, []), ("z", U8, []), ("ys", F, []), ("yz", U8, [])], {"channels_last": 0}, [(2, 3, 1, 1)]),
    ],
)  # fmt: skip
def test_contrib_shapes(op, inputs, attrs, want) -> None:
    assert shapes_of(op, MS, inputs, n_out=len(want), **attrs) == want


def test_quantize_dequantize_dtypes_and_shapes() -> None:
    zp = numpy_helper.from_array(np.array(0, np.int8), "zp")
    q = shapes_of(
        "QuantizeLinear", MS, [("x", F, [3, 4]), ("s", F, []), ("zp", I8, [])], inits=[zp]
    )
    assert q == [(3, 4)]
    d = shapes_of("DequantizeLinear", MS, [("x", I8, [3, 4]), ("s", F, [])])
    assert d == [(3, 4)]


def test_expand_dims_reads_the_axis() -> None:
    axis = numpy_helper.from_array(np.array(-1, np.int32), "axis")
    got = shapes_of(
        "ExpandDims", MS, [("x", F, [2, 3]), ("axis", TensorProto.INT32, [])], inits=[axis]
    )
    assert got == [(2, 3, 1)]  # -1 counts from the end of the output's rank: [2, 3] + [1]


@pytest.mark.parametrize(
    ("op", "inputs", "attrs", "want"),
    [
        ("Scaler", [("x", F, [5, 3])], {"offset": [0.0] * 3, "scale": [1.0] * 3}, [(5, 3)]),
        ("Normalizer", [("x", F, [5, 3])], {"norm": "L2"}, [(5, 3)]),
        ("Imputer", [("x", F, [5, 3])], {"imputed_value_floats": [0.0] * 3}, [(5, 3)]),
        # [N, targets]
        ("LinearRegressor", [("x", F, [5, 3])], {"coefficients": [1.0] * 6, "targets": 2}, [(5, 2)]),
        ("SVMRegressor", [("x", F, [5, 3])], {}, [(5, 1)]),
        # label [N], scores [N, classes]; a 1-D input is one row
        ("TreeEnsembleClassifier", [("x", F, [5, 3])], {"classlabels_int64s": [0, 1, 2]}, [(5,), (5, 3)]),
        ("LinearClassifier", [("x", F, [3])], {"classlabels_ints": [0, 1, 2], "coefficients": [1.0] * 9, "intercepts": [0.0] * 3}, [(1,), (1, 3)]),
        # binary with one set of coefficients: still two columns of probabilities
        ("LinearClassifier", [("x", F, [4, 3])], {"classlabels_ints": [0, 1], "coefficients": [1.0] * 3, "intercepts": [0.0]}, [(4,), (4, 2)]),
        ("FeatureVectorizer", [("a", F, [5, 2]), ("b", F, [5, 3])], {"inputdimensions": [2, 3]}, [(5, 5)]),
    ],
)  # fmt: skip
def test_ml_shapes(op, inputs, attrs, want) -> None:
    assert shapes_of(op, ML, inputs, n_out=len(want), **attrs) == want
