"""rules/misc.py: no-arithmetic ops, generators, scatter/sort, and the ai.onnx.ml models."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxcost
from onnxcost.rules.registry import Cost
from tests.ruletools import ctx, kind, run

ML = "ai.onnx.ml"


@pytest.mark.parametrize(
    ("domain", "op"),
    [
        ("", "Compress"),
        ("", "ReverseSequence"),
        ("", "OneHot"),
        ("", "EyeLike"),
        ("", "TensorScatter"),
        ("", "Scatter"),
        ("", "SequenceConstruct"),
        ("", "SplitToSequence"),
        ("", "ConcatFromSequence"),
        ("", "OptionalGetElement"),
        ("", "StringNormalizer"),
        ("", "RegexFullMatch"),
        (ML, "ArrayFeatureExtractor"),
        (ML, "LabelEncoder"),
        (ML, "ZipMap"),
        (ML, "OneHotEncoder"),
    ],
)
def test_no_arithmetic(domain: str, op: str) -> None:
    assert run(ctx(op, inputs=[(3, 4)], outputs=[(3, 4)], domain=domain)) == Cost()


def test_bitcast_is_a_view() -> None:
    assert kind("BitCast") == "view"
    assert run(ctx("BitCast", inputs=[(3, 4)], outputs=[(3, 4)], opset=26)) == Cost()


def test_generators() -> None:
    assert run(ctx("RandomNormal", outputs=[(3, 4)])).flops == 12  # one draw per value
    assert run(ctx("Bernoulli", inputs=[(3, 4)], outputs=[(3, 4)])).flops == 12
    assert run(ctx("Range", inputs=[(), (), ()], outputs=[(7,)])).flops == 7
    # Multinomial [2, 10], 3 samples: cumulative sums 2*10, per sample a draw + ceil(log2 10)
    c = ctx("Multinomial", inputs=[(2, 10)], outputs=[(2, 3)], attrs={"sample_size": 3})
    assert run(c).flops == 2 * 10 + 2 * 3 * (1 + 4)


def test_scatter_sort_count() -> None:
    c = ctx("ScatterND", inputs=[(5, 4), (3, 1), (3, 4)], outputs=[(5, 4)])
    assert run(c).flops == 0
    c = ctx(
        "ScatterElements",
        inputs=[(5, 4), (3, 4), (3, 4)],
        outputs=[(5, 4)],
        attrs={"reduction": b"add"},
    )
    assert run(c).flops == 12  # one add per update
    assert run(ctx("NonZero", inputs=[(3, 4)], outputs=[(2, "n")])).flops == 12
    assert run(ctx("Unique", inputs=[(8,)], outputs=[("u",)])).flops == 8 * 3
    # TfIdf: 12 tokens x 2 n-gram lengths counted, 14 outputs weighted
    c = ctx(
        "TfIdfVectorizer",
        inputs=[(2, 6)],
        outputs=[(2, 7)],
        attrs={"min_gram_length": 1, "max_gram_length": 2, "mode": b"TFIDF"},
    )
    assert run(c).flops == 12 * 2 + 14


def test_ml_elementwise() -> None:
    assert run(ctx("Scaler", inputs=[(3, 4)], outputs=[(3, 4)], domain=ML)).flops == 2 * 12
    assert run(ctx("Binarizer", inputs=[(3, 4)], outputs=[(3, 4)], domain=ML)).flops == 12
    assert kind("Imputer", ML) == "elementwise"
    c = ctx("Normalizer", inputs=[(3, 4)], outputs=[(3, 4)], attrs={"norm": b"L2"}, domain=ML)
    assert run(c).flops == 3 * 12


def test_linear_models() -> None:
    # 5 rows, 4 features, 3 classes, intercepts, softmax: 5*3*4 MACs; per score an intercept
    # add, the softmax (5) and the label argmax compare
    c = ctx(
        "LinearClassifier",
        inputs=[(5, 4)],
        outputs=[(5,), (5, 3)],
        attrs={
            "coefficients": [0.0] * 12,
            "intercepts": [0.0] * 3,
            "classlabels_ints": [0, 1, 2],
            "post_transform": b"SOFTMAX",
        },
        domain=ML,
    )
    cost = run(c)
    assert cost.macs == 5 * 3 * 4
    assert cost.flops == 2 * 60 + 5 * 3 * (1 + 5 + 1)
    c = ctx(
        "LinearRegressor",
        inputs=[(5, 4)],
        outputs=[(5, 2)],
        attrs={"coefficients": [0.0] * 8, "targets": 2},
        domain=ML,
    )
    assert (run(c).macs, run(c).flops) == (5 * 2 * 4, 2 * 40)


def test_svms() -> None:
    # RBF, 2 classes with 2 + 3 support vectors, 2 rows of 3 features
    c = ctx(
        "SVMClassifier",
        inputs=[(2, 3)],
        outputs=[(2,), (2, 2)],
        attrs={
            "kernel_type": b"RBF",
            "vectors_per_class": [2, 3],
            "support_vectors": [0.0] * 15,
            "coefficients": [0.0] * 5,
            "rho": [0.0],
            "classlabels_ints": [0, 1],
        },
        domain=ML,
    )
    cost = run(c)
    kernel_macs = 2 * 5 * 3  # rows * n_sv * F
    kernel_extra = 2 * 5 * 2 + 2 * 5 * 3  # gamma*exp per value, the F subtractions
    decision_macs = 2 * (2 - 1) * 5  # rows * (K-1) * n_sv
    decision_extra = 2 * 1 * 2  # rows * pairs * (rho add + vote)
    assert cost.macs == kernel_macs + decision_macs
    assert cost.flops == 2 * (kernel_macs + decision_macs) + kernel_extra + decision_extra

    c = ctx(
        "SVMRegressor",
        inputs=[(2, 3)],
        outputs=[(2, 1)],
        attrs={"n_supports": 4, "support_vectors": [0.0] * 12, "coefficients": [0.0] * 4},
        domain=ML,
    )
    cost = run(c)
    assert cost.macs == 2 * 4 * 3 + 2 * 4  # linear kernel values + coefficient products
    assert cost.flops == 2 * cost.macs + 2  # rho add per row


# Two trees: tree 0 is a root with an inner node on its true side (longest path 2 branches),
# tree 1 a single split (1 branch); 5 leaves with one weight each.
def test_tree_ensemble_v5() -> None:
    c = ctx(
        "TreeEnsemble",
        inputs=[(3, 2)],
        outputs=[(3, 1)],
        attrs={
            "tree_roots": [0, 2],
            "nodes_truenodeids": [1, 1, 3],
            "nodes_trueleafs": [0, 1, 1],
            "nodes_falsenodeids": [0, 2, 4],
            "nodes_falseleafs": [1, 1, 1],
            "leaf_weights": [0.0] * 5,
            "leaf_targetids": [0] * 5,
            "n_targets": 1,
        },
        domain=ML,
        opset=5,
    )
    assert run(c).flops == 3 * ((2 + 1) + 2 * 1)  # rows * (compares + one weight per tree)


def test_tree_ensemble_legacy() -> None:
    c = ctx(
        "TreeEnsembleRegressor",
        inputs=[(3, 2)],
        outputs=[(3, 1)],
        attrs={
            "nodes_treeids": [0, 0, 0, 0, 0, 1, 1, 1],
            "nodes_nodeids": [0, 1, 2, 3, 4, 0, 1, 2],
            "nodes_modes": [
                *(b"BRANCH_LEQ", b"BRANCH_LEQ", b"LEAF", b"LEAF", b"LEAF"),  # tree 0
                *(b"BRANCH_LEQ", b"LEAF", b"LEAF"),  # tree 1
            ],
            "nodes_truenodeids": [1, 3, 0, 0, 0, 1, 0, 0],
            "nodes_falsenodeids": [2, 4, 0, 0, 0, 2, 0, 0],
            "target_weights": [0.0] * 5,
            "n_targets": 1,
            "aggregate_function": b"AVERAGE",
        },
        domain=ML,
        opset=3,
    )
    # per row: 2 + 1 compares, 2 leaf weights added, 1 average divide
    assert run(c).flops == 3 * (3 + 2 + 1)


def test_training_ops() -> None:
    training = "ai.onnx.preview.training"
    # Adam over two tensors [3, 4] and [5]: R, T, X1, X2, G1, G2, V1, V2, H1, H2
    shapes = [(), (), (3, 4), (5,), (3, 4), (5,), (3, 4), (5,), (3, 4), (5,)]
    c = ctx("Adam", inputs=shapes, outputs=[(3, 4), (5,)] * 3, domain=training, opset=1)
    assert run(c).flops == 15 * (12 + 5)
    c = ctx(
        "Momentum",
        inputs=[(), (), (6,), (6,), (6,)],
        attrs={"mode": b"nesterov"},
        domain=training,
        opset=1,
    )
    assert run(c).flops == 9 * 6
    cost = run(ctx("Gradient", inputs=[(2,)], outputs=[(2,)], domain=training, opset=1))
    assert cost.lower_bound and cost.notes


def test_tree_ensemble_larger_than_the_kept_payload_cap() -> None:
    """The loader drops attribute payloads over 1,024 values; counts come from the dims."""
    n_leaves = 1500
    n_nodes = n_leaves - 1  # a chain: node i -> leaf i (true) or node i+1 (false); last -> leaf
    node = helper.make_node(
        "TreeEnsemble",
        ["X"],
        ["Y"],
        domain="ai.onnx.ml",
        tree_roots=[0],
        nodes_featureids=[0] * n_nodes,
        nodes_splits=numpy_helper.from_array(np.zeros(n_nodes, np.float32)),
        nodes_modes=numpy_helper.from_array(np.zeros(n_nodes, np.uint8)),
        nodes_truenodeids=list(range(n_nodes)),
        nodes_falsenodeids=[*range(1, n_nodes), n_nodes],
        nodes_trueleafs=[1] * n_nodes,
        nodes_falseleafs=[0] * (n_nodes - 1) + [1],
        leaf_targetids=[0] * n_leaves,
        leaf_weights=numpy_helper.from_array(np.ones(n_leaves, np.float32)),
        n_targets=1,
    )
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [4, 3])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4, 1])
    m = helper.make_model(
        helper.make_graph([node], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)],
    )
    r = onnxcost.analyze(m)
    # per row: the longest path visits all 1,499 nodes (one compare each) + 1 leaf-weight add
    assert r.nodes[0].flops == 4 * (1499 + 1)
    assert r.nodes[0].status == "counted"
