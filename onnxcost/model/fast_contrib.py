"""Fast-path rules for onnxruntime's contrib ops (com.microsoft), the quantized ONNX ops and the
ai.onnx.ml ops: what optimized transformers, quantized models and sklearn exports are made of.

Each rule gives what the full engine gives (our `shape_rules.py` first, then onnx-shape-inference's
functions): the same dims and dtypes for every output it sets. Where the full engine leaves an
output unknown (SkipLayerNormalization's mean, say), writes a dim expression (`past + seq`) or gives
a dtype onnxruntime does not (QEmbedLayerNormalization, a quantized QGemm), the rule gives up.
"""

from __future__ import annotations

from collections.abc import Callable

import onnx

from onnxcost.model.fast import (
    FLOAT,
    INT64,
    ML,
    GiveUp,
    Rule,
    Shape,
    State,
    _axis,
    _broadcast,
    _conv_shape,
    _i,
    _input,
    _matmul_shape,
    _recurrent,
    fast_rule,
)

MS = "com.microsoft"
UINT8, INT32, STRING, FLOAT16, BFLOAT16 = 2, 6, 8, 10, 16
_LISTS = {onnx.AttributeProto.INTS: "ints", onnx.AttributeProto.FLOATS: "floats",
          onnx.AttributeProto.STRINGS: "strings"}  # fmt: skip


def _rule(*ops: str, domain: str = MS, since: int = 1) -> Callable[[Rule], Rule]:
    """Register for `domain` from opset `since` on (the library has no function below it)."""

    def deco(fn: Rule) -> Rule:
        def checked(st: State, node: onnx.NodeProto, attrs: dict) -> list:
            if st.opsets.get(domain, 1) < since:
                raise GiveUp(f"{node.op_type} before opset {since}")
            return fn(st, node, attrs)  # named outputs past those worked out: the walk gives way

        fast_rule(*ops, domain=domain)(checked)
        return fn

    return deco


def _count(attrs: dict, *names: str) -> int:
    """Length of the first list attribute present (as our full rules count classes)."""
    for name in names:
        a = attrs.get(name)
        if a is not None and a.type in _LISTS:
            return len(getattr(a, _LISTS[a.type]))
    return 0


def _out(node: onnx.NodeProto, k: int) -> str:
    return node.output[k] if k < len(node.output) else ""


def _plus(a: object, b: object) -> int:
    """A grown sequence length: numbers only (with dim names the full engine writes `a + b`)."""
    if not isinstance(a, int) or not isinstance(b, int):
        raise GiveUp("a sum of dim names")
    return a + b


def _per_head(hidden: object, heads: int | None) -> int:
    if not isinstance(hidden, int) or not heads or heads < 0 or hidden % heads:
        raise GiveUp("head size not a whole number")
    return hidden // heads


# --- com.microsoft: elementwise and normalization ----------------------------------------------


@_rule("BiasGelu", "FastGelu", "Gelu", "QuickGelu", "BiasAdd", "BiasSoftmax")
def _same_as_input(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """Output 0 is input 0 (the bias broadcasts into it); the full engine sets no other."""
    return [st.types[node.input[0]]]


@_rule("RotaryEmbedding")
def _rotary(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    # with 2 or 3 outputs (functions-mode exports) output 0 is the cos cache: the full engine's
    if len(node.output) != 1:
        raise GiveUp("RotaryEmbedding with several outputs")
    return [st.types[node.input[0]]]


@_rule("LayerNormalization", "SimplifiedLayerNormalization")
@_rule("SimplifiedLayerNormalization", domain="")  # onnxruntime writes it there too
def _ms_layernorm(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """Mean and inv_std_var are x[:axis] with 1s, in float for a float16 or bfloat16 x (the
    contrib op's rule: unlike ONNX's LayerNormalization, stash_type plays no part)."""
    elem, x = st.types[node.input[0]]
    axis = _axis(_i(attrs, "axis", -1), len(x))  # type: ignore[arg-type]
    stat = (FLOAT if elem in (FLOAT16, BFLOAT16) else elem, x[:axis] + (1,) * (len(x) - axis))
    return [(elem, x), stat, stat]


@_rule("SkipLayerNormalization", "SkipSimplifiedLayerNormalization")
def _skip_layernorm(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """Output 0 and the input+skip+bias sum (output 3) are input 0; the full engine leaves mean
    and inv_std_var (outputs 1 and 2) unknown, so a model that names them is its to report."""
    if _out(node, 1) or _out(node, 2):
        raise GiveUp("SkipLayerNormalization statistics")
    x = st.types[node.input[0]]
    return [x, x, x, x]


@_rule("SkipGroupNorm")
def _skip_group_norm(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    x = st.types[node.input[0]]  # Y and the optional input+skip+bias sum, both input 0's
    return [x, x]


@_rule("EmbedLayerNormalization")
def _embed_layernorm(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """[batch, seq, hidden] from input_ids [batch, seq] and word_embedding [vocab, hidden];
    mask_index [batch] in int32; the optional embedding sum (output 2) as output 0."""
    ids, word = st.shape(node.input[0]), st.shape(_input(node, 2))
    if len(ids) != 2 or len(word) != 2:
        raise GiveUp("EmbedLayerNormalization ranks")
    out = (st.elem(node.input[2]), (ids[0], ids[1], word[1]))
    return [out, (INT32, (ids[0],)), out]


@_rule("QEmbedLayerNormalization")
def _qembed_layernorm(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """As EmbedLayerNormalization, dequantized: output 0 in the scales' float type."""
    ids, word = st.shape(node.input[0]), st.shape(_input(node, 2))
    if len(ids) != 2 or len(word) != 2 or not _input(node, 8):
        raise GiveUp("QEmbedLayerNormalization inputs")
    return [(st.elem(node.input[8]), (ids[0], ids[1], word[1])), (INT32, (ids[0],))]


# --- com.microsoft: attention ------------------------------------------------------------------


@_rule("Attention")
def _attention(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """[batch, seq, v_hidden]: qkv_hidden_sizes[2], else a third of the bias (or of the
    weights' columns); present [2, batch, heads, past + seq, head_size]."""
    elem, x = st.types[node.input[0]]
    if len(x) != 3:
        raise GiveUp("Attention input rank")
    bias, weights = _input(node, 2), _input(node, 1)
    if bias and len(st.shape(bias)) == 1:
        tripled = st.shape(bias)[0]
    elif weights and len(st.shape(weights)) >= 2:
        tripled = st.shape(weights)[1]
    else:
        raise GiveUp("Attention hidden size")
    sizes = list(attrs["qkv_hidden_sizes"].ints) if "qkv_hidden_sizes" in attrs else None
    if sizes is not None and len(sizes) != 3:
        raise GiveUp("qkv_hidden_sizes")
    if sizes is None and (not isinstance(tripled, int) or tripled % 3):
        raise GiveUp("Attention hidden size")  # the full engine keeps the input's hidden size
    hidden = sizes[2] if sizes else tripled // 3  # type: ignore[operator]
    outs = [(elem, (x[0], x[1], hidden))]
    if _out(node, 1):
        outs.append((elem, _attention_present(st, node, attrs, x, sizes, hidden)))
    return outs


def _attention_present(
    st: State, node: onnx.NodeProto, attrs: dict, x: Shape, sizes: list | None, hidden: int
) -> Shape:
    heads = _i(attrs, "num_heads", None)
    if heads is None:
        raise GiveUp("Attention present without num_heads")  # the full engine leaves it
    past = _input(node, 4)
    if past:
        p = st.shape(past)
        if len(p) != 5:
            raise GiveUp("Attention past rank")
        if _i(attrs, "past_present_share_buffer", 0):
            return p  # one buffer of the maximum length
        return (*p[:3], _plus(p[3], x[1]), p[4])
    # the full engine's head size is the input's hidden size over the heads: only where that
    # is the output's hidden size is it the head size onnxruntime uses
    if (sizes[2] if sizes else x[2]) != hidden or (sizes and sizes[1] != sizes[2]):
        raise GiveUp("Attention present head size")
    return (2, x[0], heads, x[1], _per_head(hidden, heads))  # type: ignore[return-value]


@_rule("GroupQueryAttention")
def _group_query_attention(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """Query [batch, seq, heads * head] or packed QKV [batch, seq, (heads + 2 kv_heads) * head]
    (no value input); present_key/value [batch, kv_heads, past + kv_seq, head] in past's dtype."""
    elem, q = st.types[node.input[0]]
    if len(q) != 3 or _i(attrs, "sliding_window_cache", 0) == 1 or _out(node, 3):
        raise GiveUp("GroupQueryAttention layout, sliding cache or output_qk")
    heads, kv_heads = _i(attrs, "num_heads", None), _i(attrs, "kv_num_heads", None)
    packed = not _input(node, 2)
    if packed:
        if not heads or heads < 0 or kv_heads is None:
            raise GiveUp("GroupQueryAttention heads")
        head = _per_head(q[2], heads + 2 * kv_heads)
        outs = [(elem, (q[0], q[1], heads * head))]
        kv_seq = q[1]
    else:
        outs = [(elem, q)]
        kv = [st.shape(n) for n in (_input(node, 2), _input(node, 1)) if n]
        kv_seq = next((s[1] for s in kv if len(s) == 3), None)
    if not (_out(node, 1) or _out(node, 2)):
        return outs
    past = _input(node, 3)
    if kv_seq is None or (past and len(st.shape(past)) != 4):
        raise GiveUp("GroupQueryAttention present")
    if past:
        p = st.shape(past)
        present = (p[0], p[1], _plus(p[2], kv_seq), p[3])
    else:
        head = _per_head(q[2], heads + 2 * kv_heads if packed else heads)  # type: ignore[operator]
        if kv_heads is None:
            raise GiveUp("GroupQueryAttention kv heads")
        present = (q[0], kv_heads, kv_seq, head)
    kind = st.elem(past) if past else elem
    return [*outs, (kind, present), (kind, present)]


@_rule("MatMulNBits")
def _matmul_nbits(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """A [..., K] by the packed B: [..., N], N the attribute."""
    a, n = st.shape(node.input[0]), _i(attrs, "N", -1)
    for name in (_input(node, 1), _input(node, 2)):
        st.shape(name)  # B and scales are required
    if not a or n < 0:  # type: ignore[operator]
        raise GiveUp("MatMulNBits rank or N")
    return [(st.elem(node.input[0]), (*a[:-1], n))]


# --- quantized ops -----------------------------------------------------------------------------


@_rule("QAttention")
def _qattention(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """Attention of int8 input and weights: [batch, seq, bias / 3] in the bias's float type;
    present [2, batch, heads, past + seq, head_size]."""
    x, bias = st.shape(node.input[0]), _input(node, 2)
    b = st.shape(bias)
    if len(x) != 3 or len(b) != 1 or not isinstance(b[0], int) or b[0] % 3:
        raise GiveUp("QAttention ranks or bias")
    elem, hidden = st.elem(bias), b[0] // 3
    outs = [(elem, (x[0], x[1], hidden))]
    if _out(node, 1):
        heads, past = _i(attrs, "num_heads", None), _input(node, 8)
        p = st.shape(past) if past else None
        if p is not None and len(p) != 5:
            raise GiveUp("QAttention past rank")
        total = _plus(p[3], x[1]) if p else x[1]
        outs.append((elem, (2, x[0], heads, total, _per_head(hidden, heads))))
    return outs


@_rule("QGemm")
def _qgemm(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """[M, N]: quantized (y_zero_point's type, uint8 without one) when y_scale is given, as
    onnxruntime makes it; else float."""
    a, b = st.shape(node.input[0]), st.shape(_input(node, 3))
    if len(a) != 2 or len(b) != 2:
        raise GiveUp("QGemm of non-matrices")
    m, n = a[1 if _i(attrs, "transA", 0) else 0], b[0 if _i(attrs, "transB", 0) else 1]
    elem = FLOAT
    if _input(node, 7):
        elem = st.elem(_input(node, 8)) if _input(node, 8) else UINT8
    return [(elem, (m, n))]


@_rule("QLinearAdd", "QLinearMul")
def _qlinear_binary(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    a, b = node.input[0], _input(node, 3)  # A, its scale and zero point, then B
    return [(st.elem(a), _broadcast(st.shape(a), st.shape(b)))]


@_rule("QLinearSoftmax", "QLinearSigmoid", "QLinearLeakyRelu")
def _qlinear_unary(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [st.types[node.input[0]]]


@_rule("QLinearGlobalAveragePool")
def _qlinear_global_pool(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """[N, C, 1, ...], or [N, 1, ..., C] with channels_last."""
    elem, x = st.types[node.input[0]]
    if len(x) < 3:
        raise GiveUp("QLinearGlobalAveragePool rank")
    ones = (1,) * (len(x) - 2)
    last = _i(attrs, "channels_last", 0)
    return [(elem, (x[0], *ones, x[-1]) if last else (x[0], x[1], *ones))]


@_rule("DynamicQuantizeLSTM")
def _dynamic_quantize_lstm(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """LSTM's shapes (int8 weights): our full rule reads no layout and a string direction."""
    d = attrs.get("direction")
    if "layout" in attrs or (d is not None and d.type != onnx.AttributeProto.STRING):
        raise GiveUp("DynamicQuantizeLSTM layout or direction")
    if _i(attrs, "hidden_size", -1) < 0:  # type: ignore[operator]
        raise GiveUp("DynamicQuantizeLSTM hidden size")
    return _recurrent(st, node, attrs)


@_rule("MatMulInteger", domain="", since=10)
def _matmul_integer(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [(INT32, _matmul_shape(st.shape(node.input[0]), st.shape(node.input[1])))]


@_rule("QLinearMatMul", domain="", since=10)
def _qlinear_matmul(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    a, b, zp = node.input[0], _input(node, 3), _input(node, 7)
    return [(st.elem(zp) if zp else UINT8, _matmul_shape(st.shape(a), st.shape(b)))]


@_rule("ConvInteger", domain="", since=10)
def _conv_integer(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [(INT32, _conv_shape(st, node, attrs, node.input[1]))]


@_rule("QLinearConv", domain="", since=10)
def _qlinear_conv(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """Conv of x (input 0) by w (input 3), typed as y_zero_point (uint8 without it)."""
    if len(node.input) < 8:
        raise GiveUp("QLinearConv inputs")
    zp = _input(node, 7)
    return [(st.elem(zp) if zp else UINT8, _conv_shape(st, node, attrs, node.input[3]))]


@_rule("QLinearConv")
def _ms_qlinear_conv(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    # the contrib twin: all eight inputs required; channels_last moves channels (not done here)
    if len(node.input) < 8 or not all(node.input[:8]) or _i(attrs, "channels_last", 0):
        raise GiveUp("QLinearConv inputs or channels_last")
    return [(st.elem(node.input[7]), _conv_shape(st, node, attrs, node.input[3]))]


# --- ai.onnx.ml ---------------------------------------------------------------------------------


def _rows(x: Shape) -> Shape:
    """N of an [N, F] feature input; a 1-D (or scalar) one is one row."""
    return (1,) if len(x) <= 1 else x[:1]


@_rule("Scaler", "Normalizer", domain=ML)
def _scaler(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [(FLOAT, st.shape(node.input[0]))]


@_rule("Imputer", "Binarizer", domain=ML)
def _ml_same(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    return [st.types[node.input[0]]]


@_rule("LinearRegressor", "SVMRegressor", "TreeEnsembleRegressor", domain=ML)
def _regressor(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """[N, targets] in float; an SVM regressor has one target."""
    key = "n_targets" if node.op_type == "TreeEnsembleRegressor" else "targets"
    targets = _i(attrs, key, 1) if node.op_type != "SVMRegressor" else 1
    return [(FLOAT, (*_rows(st.shape(node.input[0])), targets))]


@_rule("TreeEnsembleClassifier", "SVMClassifier", "LinearClassifier", domain=ML)
def _classifier(st: State, node: onnx.NodeProto, attrs: dict) -> list:
    """label [N] (int64, or string with string labels), scores [N, columns]."""
    cols = classifier_columns(node.op_type, lambda *names: _count(attrs, *names))
    if not cols:
        raise GiveUp("classifier without classes")
    labels = attrs.get("classlabels_strings")
    if labels is not None and labels.type != onnx.AttributeProto.STRINGS:
        raise GiveUp("classlabels_strings")
    rows = _rows(st.shape(node.input[0]))
    return [
        (STRING if labels is not None and labels.strings else INT64, rows),
        (FLOAT, (*rows, cols)),
    ]


def classifier_columns(op_type: str, count: Callable[..., int]) -> int:
    """Score columns of an ml classifier (both engines count them here): one a class, but one
    for a binary SVM without probabilities, and two for a binary linear classifier with one set
    of coefficients (it stands for both classes). `count(*names)`: the length of the first of
    those list attributes present."""
    classes = count("classlabels_ints", "classlabels_int64s", "classlabels_strings")
    cols = classes
    if op_type == "SVMClassifier" and classes == 2 and not count("prob_a"):
        cols = 1 if count("vectors_per_class") else 2
    if op_type == "LinearClassifier":
        coefs, inter = count("coefficients"), count("intercepts")
        cols = inter or cols
        if classes == 2 and inter == 1 and coefs:
            cols = 2
    return cols
