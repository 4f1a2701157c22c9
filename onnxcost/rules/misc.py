"""The remaining ops of the ONNX domain and ai.onnx.ml.

Most are data movement, lookups, sequence/optional plumbing or string processing: registered
with `Cost()` and marked "no arithmetic" below, so they are counted (as zero) rather than listed
as uncounted. The rest get a per-element or per-model rule:
- random generators: 1 FLOP per generated value (the draw); Multinomial also a cumulative sum
  over the classes and a binary search per sample;
- scatter with a reduction: 1 FLOP per update element; NonZero: 1 compare per input element;
  Unique: a sort, n log2 n compares; Range: 1 add per value;
- ai.onnx.ml: linear models as MACs (rows x outputs x features), SVMs as kernel evaluations
  (rows x support vectors x features MACs) plus the decision sums, tree ensembles as one compare
  per node visited (per row, the longest root-to-leaf path of each tree) plus one add per leaf
  weight aggregated; post transforms per score (LOGISTIC 4, SOFTMAX 5, PROBIT 10);
- ai.onnx.preview.training: the optimisers per element of each optimised tensor (Adagrad 9,
  Momentum 7 or 9 for Nesterov, Adam 15); Gradient is a lower bound (backward pass not modelled).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from math import prod
from typing import Any

import numpy as np
from onnx import TensorProto, numpy_helper

from onnxcost.model.loader import SMALL_CONSTANT_ELEMENTS
from onnxcost.rules.registry import Cost, NodeContext, Unresolved, mac_cost, register

ML = "ai.onnx.ml"

_POST = {"NONE": 0, "LOGISTIC": 4, "SOFTMAX": 5, "SOFTMAX_ZERO": 5, "PROBIT": 10}
_POST_BY_CODE = ("NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT")


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _count(v: Any) -> int:
    """How many values an attribute holds; for a tensor, from its dims (no payload needed)."""
    if isinstance(v, TensorProto):
        return prod(v.dims)
    return len(_seq(v))


def _seq(v: Any) -> list[Any]:
    """An attribute value as a flat list (lists, tuples, numpy arrays, TensorProto)."""
    if v is None:
        return []
    if isinstance(v, TensorProto):
        if prod(v.dims) > SMALL_CONSTANT_ELEMENTS:
            # the loader dropped this payload: a rule that needs the values cannot count
            raise Unresolved(v.name or "attribute tensor", "values of a large attribute not kept")
        return numpy_helper.to_array(v).reshape(-1).tolist()
    if isinstance(v, np.ndarray):
        return v.reshape(-1).tolist()
    if isinstance(v, list | tuple):
        return list(v)
    return [v]


def _attr_list(ctx: NodeContext, *names: str) -> list[Any]:
    """The first of `names` that is set (e.g. "nodes_values", "nodes_values_as_tensor")."""
    for n in names:
        vals = _seq(ctx.attr(n))
        if vals:
            return vals
    return []


# --- No arithmetic ------------------------------------------------------------------------------


@register(
    # data movement and index plumbing
    "Compress",
    "ReverseSequence",
    "OneHot",
    "EyeLike",
    "TensorScatter",
    "Scatter",  # deprecated (opset 9-10) form of ScatterElements without reduction
    # sequences and optionals
    "SequenceAt",
    "SequenceConstruct",
    "SequenceEmpty",
    "SequenceErase",
    "SequenceInsert",
    "SequenceLength",
    "SplitToSequence",
    "ConcatFromSequence",
    "Optional",
    "OptionalGetElement",
    "OptionalHasElement",
    # strings
    "StringConcat",
    "StringNormalizer",
    "StringSplit",
    "RegexFullMatch",
)
@register(
    "ArrayFeatureExtractor",
    "CastMap",
    "CategoryMapper",
    "DictVectorizer",
    "FeatureVectorizer",
    "LabelEncoder",
    "OneHotEncoder",
    "ZipMap",
    domain=ML,
)
def no_arithmetic(ctx: NodeContext) -> Cost:
    """No arithmetic: copies, gathers, lookups, sequence/optional plumbing, string processing."""
    return Cost()


@register("BitCast", kind="view")
def bitcast(ctx: NodeContext) -> Cost:
    """No arithmetic: the same bits reinterpreted, an alias of the input."""
    return Cost()


@register("ImageDecoder")
def image_decoder(ctx: NodeContext) -> Cost:
    """No arithmetic counted: entropy decoding and the IDCT are not modelled."""
    return Cost(notes=("image decoding not counted",))


# --- Generators, random -------------------------------------------------------------------------


@register("RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli")
def random_values(ctx: NodeContext) -> Cost:
    """One FLOP per generated value (the draw; Bernoulli: the compare)."""
    return Cost(flops=ctx.out_numel())


@register("Multinomial")
def multinomial(ctx: NodeContext) -> Cost:
    """Per batch row: a cumulative sum over the classes; per sample: a draw and a binary search."""
    x = ctx.in_dims(0, rank=2)  # [batch, classes]
    batch, classes = prod(x[:-1]), x[-1]
    samples = int(ctx.attr("sample_size", 1))
    search = 1 + max(1, math.ceil(math.log2(max(classes, 1))))
    return Cost(flops=batch * classes + batch * samples * search)


@register("Range")
def range_(ctx: NodeContext) -> Cost:
    """start + i * delta, accumulated: one add per value."""
    return Cost(flops=ctx.out_numel())


# --- Indexing with arithmetic -------------------------------------------------------------------


@register("ScatterElements", "ScatterND")
def scatter(ctx: NodeContext) -> Cost:
    """No arithmetic unless `reduction` is add/mul/max/min: then one FLOP per update element."""
    if _text(ctx.attr("reduction", "none")) == "none":
        return Cost()
    return Cost(flops=prod(ctx.in_dims(2)))


@register("NonZero")
def nonzero(ctx: NodeContext) -> Cost:
    """One compare per input element."""
    return Cost(flops=prod(ctx.in_dims(0)))


@register("Unique")
def unique(ctx: NodeContext) -> Cost:
    """A sort of the n input elements: n ceil(log2 n) compares."""
    n = prod(ctx.in_dims(0))
    return Cost(flops=n * math.ceil(math.log2(n)) if n > 1 else 0)


@register("TfIdfVectorizer")
def tfidf_vectorizer(ctx: NodeContext) -> Cost:
    """One count add per input token per n-gram length; IDF/TFIDF weight each output (1 mul)."""
    lengths = int(ctx.attr("max_gram_length", 1)) - int(ctx.attr("min_gram_length", 1)) + 1
    flops = prod(ctx.in_dims(0)) * max(lengths, 1)
    if _text(ctx.attr("mode", "TF")) != "TF":
        flops += ctx.out_numel()
    return Cost(flops=flops)


# --- ai.onnx.ml ---------------------------------------------------------------------------------


def _rows_features(ctx: NodeContext) -> tuple[int, int]:
    x = ctx.in_dims(0, min_rank=1)
    if len(x) == 1:
        return 1, x[0]
    return prod(x[:-1]), x[-1]


def _post(value: Any) -> int:
    """FLOPs per score of a post_transform (string, or the TreeEnsemble integer code)."""
    if isinstance(value, int):
        value = _POST_BY_CODE[value] if 0 <= value < len(_POST_BY_CODE) else "NONE"
    return _POST.get(_text(value or "NONE").upper(), 0)


@register("Binarizer", "Imputer", domain=ML, kind="elementwise")
def compare_each(ctx: NodeContext) -> Cost:
    """One compare (and select) per element."""
    return Cost(flops=ctx.out_numel())


@register("Scaler", domain=ML, kind="elementwise")
def scaler(ctx: NodeContext) -> Cost:
    """(x - offset) * scale: 2 FLOPs per element."""
    return Cost(flops=2 * ctx.out_numel())


@register("Normalizer", domain=ML)
def normalizer(ctx: NodeContext) -> Cost:
    """MAX: compare + divide (2 per element); L1: abs, add, divide (3); L2: square, add,
    divide (3; the per-row sqrt is not counted, as for the normalization ops)."""
    rows, feats = _rows_features(ctx)
    norm = _text(ctx.attr("norm", "MAX")).upper()
    return Cost(flops=(2 if norm == "MAX" else 3) * rows * feats)


@register("LinearClassifier", domain=ML)
def linear_classifier(ctx: NodeContext) -> Cost:
    """Scores = X C^T + b: rows*E*F MACs, E adds, the post transform per score and an argmax
    (E compares) per row, with E = len(coefficients) / F."""
    rows, feats = _rows_features(ctx)
    scores = _count(ctx.attr("coefficients")) // max(feats, 1)
    per_score = (1 if _count(ctx.attr("intercepts")) else 0) + _post(ctx.attr("post_transform"))
    extra = rows * scores * (per_score + 1)  # + 1: the argmax compare for the label
    return mac_cost(rows * scores * feats, extra_flops=extra)


@register("LinearRegressor", domain=ML)
def linear_regressor(ctx: NodeContext) -> Cost:
    """rows*targets*F MACs, an intercept add and the post transform per output."""
    rows, feats = _rows_features(ctx)
    targets = int(ctx.attr("targets", 1))
    per = (1 if _count(ctx.attr("intercepts")) else 0) + _post(ctx.attr("post_transform"))
    return mac_cost(rows * targets * feats, extra_flops=rows * targets * per)


_KERNEL_FLOPS = {"LINEAR": 0, "POLY": 3, "RBF": 2, "SIGMOID": 3}  # after the F-long dot product


def _kernel_evals(ctx: NodeContext, rows: int, feats: int, n_sv: int) -> Cost:
    """rows * n_sv kernel values: F MACs each (RBF adds F subtractions) + the nonlinearity."""
    kernel = _text(ctx.attr("kernel_type", "LINEAR")).upper()
    evals = rows * n_sv
    extra = evals * _KERNEL_FLOPS.get(kernel, 0) + (evals * feats if kernel == "RBF" else 0)
    return mac_cost(evals * feats, extra_flops=extra)


@register("SVMClassifier", domain=ML)
def svm_classifier(ctx: NodeContext) -> Cost:
    """Kernel values against every support vector, then K(K-1)/2 one-vs-one decisions summing
    (K-1)*n_sv coefficient products in all, a rho add and a vote each. Without support vectors
    (a linear SVM): rows * len(coefficients) MACs and a rho add per class."""
    rows, feats = _rows_features(ctx)
    per_class = [int(v) for v in _seq(ctx.attr("vectors_per_class"))]
    n_sv = sum(per_class) or _count(ctx.attr("support_vectors")) // max(feats, 1)
    coefs = _count(ctx.attr("coefficients"))
    post = _post(ctx.attr("post_transform"))
    if n_sv == 0:
        classes = coefs // max(feats, 1)
        return mac_cost(rows * coefs, extra_flops=rows * classes * (1 + post))
    k = max(len(per_class), 2)
    pairs = k * (k - 1) // 2
    decisions = mac_cost(rows * (k - 1) * n_sv, extra_flops=rows * pairs * 2 + rows * k * post)
    return _kernel_evals(ctx, rows, feats, n_sv) + decisions


@register("SVMRegressor", domain=ML)
def svm_regressor(ctx: NodeContext) -> Cost:
    """Kernel values against n_supports vectors, a coefficient MAC each and the rho add;
    n_supports = 0 is a linear model (F MACs per row)."""
    rows, feats = _rows_features(ctx)
    n_sv = int(ctx.attr("n_supports", 0))
    post = _post(ctx.attr("post_transform"))
    if n_sv == 0:
        return mac_cost(rows * feats, extra_flops=rows * (1 + post))
    return _kernel_evals(ctx, rows, feats, n_sv) + mac_cost(
        rows * n_sv, extra_flops=rows * (1 + post)
    )


def _longest_paths(children: dict[Any, list[Any]], roots: Iterable[Any]) -> list[int]:
    """Branch nodes on the longest root-to-leaf path of each tree (iterative, no recursion)."""
    depth: dict[Any, int] = {}
    out = []
    for root in roots:
        stack = [(root, False)]
        while stack:
            node, done = stack.pop()
            if node in depth:
                continue
            kids = children.get(node)
            if kids is None:  # a leaf
                depth[node] = 0
            elif done:
                depth[node] = 1 + max((depth.get(c, 0) for c in kids), default=0)
            else:
                stack.append((node, True))
                stack.extend((c, False) for c in kids if c not in depth)
        out.append(depth[root])
    return out


def _tree_cost(
    rows: int, depths: list[int], leaves: int, weights: int, targets: int, post: int, avg: bool
) -> Cost:
    """Per row: one compare per node visited, one add per leaf weight of each reached leaf,
    then per target the average divide (if any) and the post transform."""
    per_leaf = weights / leaves if leaves else 0.0
    adds = round(len(depths) * per_leaf)
    per_row = sum(depths) + adds + targets * ((1 if avg else 0) + post)
    return Cost(flops=rows * per_row)


@register("TreeEnsemble", domain=ML)
def tree_ensemble(ctx: NodeContext) -> Cost:
    rows, _ = _rows_features(ctx)
    true_ids = [int(v) for v in _seq(ctx.attr("nodes_truenodeids"))]
    false_ids = [int(v) for v in _seq(ctx.attr("nodes_falsenodeids"))]
    true_leaf = [int(v) for v in _seq(ctx.attr("nodes_trueleafs"))]
    false_leaf = [int(v) for v in _seq(ctx.attr("nodes_falseleafs"))]
    children: dict[Any, list[Any]] = {}
    for i in range(len(true_ids)):
        kids = []
        for ids, leafs in ((true_ids, true_leaf), (false_ids, false_leaf)):
            kids.append(("leaf", ids[i]) if leafs[i] else ("node", ids[i]))
        children[("node", i)] = kids
    roots = [("node", int(r)) for r in _seq(ctx.attr("tree_roots"))]
    depths = _longest_paths(children, roots)
    leaves = len({k for kids in children.values() for k in kids if k[0] == "leaf"})
    weights = _count(ctx.attr("leaf_weights"))
    targets = int(ctx.attr("n_targets", 1))
    avg = int(ctx.attr("aggregate_function", 1)) == 0
    post = _post(int(ctx.attr("post_transform", 0)))
    return _tree_cost(rows, depths, leaves, weights, targets, post, avg)


@register("TreeEnsembleClassifier", "TreeEnsembleRegressor", domain=ML)
def tree_ensemble_legacy(ctx: NodeContext) -> Cost:
    """TreeEnsembleClassifier/Regressor (ml opset 1-3, deprecated in 5 but still valid there)."""
    rows, _ = _rows_features(ctx)
    tree_ids = [int(v) for v in _seq(ctx.attr("nodes_treeids"))]
    node_ids = [int(v) for v in _seq(ctx.attr("nodes_nodeids"))]
    modes = [_text(m).upper() for m in _seq(ctx.attr("nodes_modes"))]
    true_ids = [int(v) for v in _seq(ctx.attr("nodes_truenodeids"))]
    false_ids = [int(v) for v in _seq(ctx.attr("nodes_falsenodeids"))]
    children: dict[Any, list[Any]] = {}
    referenced = set()
    all_nodes = []
    leaves = 0
    for i, (t, n) in enumerate(zip(tree_ids, node_ids, strict=False)):
        all_nodes.append((t, n))
        if i < len(modes) and modes[i] == "LEAF":
            leaves += 1
            continue
        kids = [(t, true_ids[i]), (t, false_ids[i])]
        children[(t, n)] = kids
        referenced.update(kids)
    roots = [k for k in dict.fromkeys(all_nodes) if k not in referenced]
    depths = _longest_paths(children, roots)
    if ctx.op_type == "TreeEnsembleClassifier":
        weights = _count(ctx.attr("class_weights")) or _count(ctx.attr("class_weights_as_tensor"))
        labels = _attr_list(ctx, "classlabels_int64s", "classlabels_strings")
        targets = len(labels) if len(labels) > 2 else 1
        avg = False
    else:
        weights = _count(ctx.attr("target_weights")) or _count(ctx.attr("target_weights_as_tensor"))
        targets = int(ctx.attr("n_targets", 1))
        avg = _text(ctx.attr("aggregate_function", "SUM")).upper() == "AVERAGE"
    post = _post(ctx.attr("post_transform"))
    return _tree_cost(rows, depths, leaves, weights, targets, post, avg)


# --- ai.onnx.preview.training -------------------------------------------------------------------

TRAINING = "ai.onnx.preview.training"
# FLOPs per element of each optimised tensor, and how many tensors per optimised variable.
_OPTIMIZERS = {
    # G' = c*X + G (2), H' = H + G'^2 (2), sqrt(H') + eps (2), X - r*G'/. (3)
    "Adagrad": (9, 3),
    # G' (2), V' = alpha*V + beta*G' (3), X - R*V' (2); Nesterov adds 2
    "Momentum": (7, 3),
    # G' (2), V' (3), H' = beta*H + (1-beta)*G'^2 (4), sqrt + eps (2), X - R*V'/. (3), post (1)
    "Adam": (15, 4),
}


@register(*_OPTIMIZERS, domain=TRAINING)
def optimizer(ctx: NodeContext) -> Cost:
    """One optimiser step: inputs R, T, then n tensors X, n gradients G and the n states."""
    per, group = _OPTIMIZERS[ctx.op_type]
    if ctx.op_type == "Momentum" and _text(ctx.attr("mode", "standard")) == "nesterov":
        per += 2
    n = (len(ctx.inputs) - 2) // group
    return Cost(flops=per * sum(prod(ctx.in_dims(2 + i)) for i in range(n)))


@register("Gradient", domain=TRAINING)
def gradient(ctx: NodeContext) -> Cost:
    """The backward pass of the graph between `xs` and `y` is not modelled: a lower bound."""
    return Cost(lower_bound=True, notes=("Gradient: backward pass not counted",))
