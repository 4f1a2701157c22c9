"""Write the small example models shipped in `models/` (onnx.helper + numpy only).

    python tools/make_models.py            # writes models/{cnn,transformer_block,lstm}.onnx
    python tools/make_models.py --out DIR  # somewhere else

Weights are random but seeded, so the files are byte-for-byte reproducible. Every model is
checked with `onnx.checker.check_model(full_check=True)` and, when onnxruntime is installed,
run once on random input so a broken graph never ships.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17  # LayerNormalization needs 17; every op used here exists there
IR_VERSION = 8  # the IR version that goes with opset 17, so older runtimes load the files
PRODUCER = "onnxcost tools/make_models.py"
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


class GraphBuilder:
    """Collects nodes and initializers; names every node so reports can point at it."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def init(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def weight(self, name: str, shape: tuple[int, ...], fan_in: int) -> str:
        # He-style scale keeps activations in a sane range when the model is run.
        w = self.rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        return self.init(name, w.astype(np.float32))

    def small(self, name: str, shape: tuple[int, ...], scale: float = 0.02) -> str:
        return self.init(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def const(self, name: str, value: np.ndarray) -> str:
        return self.init(name, value)

    def node(self, op: str, inputs: list[str], name: str, n_out: int = 1, **attrs: object) -> str:
        outs = [name] if n_out == 1 else [f"{name}_out{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs[0]

    def model(
        self,
        name: str,
        inputs: list[onnx.ValueInfoProto],
        outputs: list[onnx.ValueInfoProto],
        doc: str,
    ) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        graph.doc_string = doc
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            producer_name=PRODUCER,
            ir_version=IR_VERSION,
        )
        model.doc_string = doc
        return model


# --- CNN ---------------------------------------------------------------------------------


def _conv_bn_relu(
    g: GraphBuilder,
    x: str,
    name: str,
    cin: int,
    cout: int,
    k: int,
    stride: int = 1,
    group: int = 1,
    relu: bool = True,
) -> str:
    """Conv (no bias, as before a BN) + BatchNormalization (+ Relu)."""
    w = g.weight(f"{name}.weight", (cout, cin // group, k, k), fan_in=cin // group * k * k)
    pad = k // 2
    y = g.node(
        "Conv",
        [x, w],
        f"{name}.conv",
        kernel_shape=[k, k],
        strides=[stride, stride],
        pads=[pad, pad, pad, pad],
        group=group,
    )
    scale = g.init(f"{name}.bn.weight", (1 + 0.1 * g.rng.standard_normal(cout)).astype(np.float32))
    bias = g.small(f"{name}.bn.bias", (cout,), 0.1)
    mean = g.small(f"{name}.bn.running_mean", (cout,), 0.1)
    var = g.init(f"{name}.bn.running_var", g.rng.uniform(0.5, 1.5, cout).astype(np.float32))
    y = g.node("BatchNormalization", [y, scale, bias, mean, var], f"{name}.bn", epsilon=1e-5)
    return g.node("Relu", [y], f"{name}.relu") if relu else y


def _ds_block(g: GraphBuilder, x: str, name: str, cin: int, cout: int, stride: int) -> str:
    """Depthwise-separable block: 3x3 depthwise (group = C) then 1x1 pointwise, each BN + Relu."""
    y = _conv_bn_relu(g, x, f"{name}.dw", cin, cin, 3, stride=stride, group=cin)
    return _conv_bn_relu(g, y, f"{name}.pw", cin, cout, 1)


def make_cnn() -> onnx.ModelProto:
    """A small MobileNet-flavoured CNN for 1x3x224x224 images, 1000 classes."""
    g = GraphBuilder(seed=1)
    x = _conv_bn_relu(g, "input", "stem", 3, 32, 3, stride=2)  # -> 32x112x112
    x = g.node(
        "MaxPool", [x], "stem.pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]
    )  # -> 32x56x56
    x = _conv_bn_relu(g, x, "conv2", 32, 64, 3)  # -> 64x56x56
    x = _ds_block(g, x, "block1", 64, 128, stride=1)  # -> 128x56x56
    x = g.node("MaxPool", [x], "block1.pool", kernel_shape=[2, 2], strides=[2, 2])  # -> 28x28
    # Residual depthwise-separable block: second BN has no Relu before the Add.
    y = _conv_bn_relu(g, x, "block2.dw", 128, 128, 3, group=128)
    y = _conv_bn_relu(g, y, "block2.pw", 128, 128, 1, relu=False)
    x = g.node("Add", [x, y], "block2.add")
    x = g.node("Relu", [x], "block2.relu")
    x = _ds_block(g, x, "block3", 128, 256, stride=2)  # -> 256x14x14
    x = _ds_block(g, x, "block4", 256, 256, stride=2)  # -> 256x7x7
    x = g.node("GlobalAveragePool", [x], "head.pool")  # -> 256x1x1
    x = g.node("Flatten", [x], "head.flatten", axis=1)  # -> 256
    w = g.weight("head.fc.weight", (1000, 256), fan_in=256)
    b = g.small("head.fc.bias", (1000,))
    g.node("Gemm", [x, w, b], "logits", transB=1)
    return g.model(
        "cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        "Small CNN: conv/BN/Relu stem, max pools, depthwise-separable blocks (one residual), "
        "global average pool, Gemm classifier. Random seeded weights.",
    )


# --- transformer block -------------------------------------------------------------------

D_MODEL = 256
HEADS = 4
HEAD_DIM = D_MODEL // HEADS
FFN = 4 * D_MODEL


def _linear(g: GraphBuilder, x: str, name: str, din: int, dout: int) -> str:
    """MatMul by a [din, dout] weight, then Add the bias: how exporters write 3-D Linear."""
    w = g.weight(f"{name}.weight", (din, dout), fan_in=din)
    b = g.small(f"{name}.bias", (dout,))
    y = g.node("MatMul", [x, w], f"{name}.matmul")
    return g.node("Add", [y, b], f"{name}.add")


def _layer_norm(g: GraphBuilder, x: str, name: str) -> str:
    scale = g.init(f"{name}.weight", np.ones(D_MODEL, np.float32))
    bias = g.init(f"{name}.bias", np.zeros(D_MODEL, np.float32))
    return g.node("LayerNormalization", [x, scale, bias], name, axis=-1, epsilon=1e-5)


def make_transformer_block() -> onnx.ModelProto:
    """One pre-LN encoder block on tokens [batch, seq, 256]: 4 heads of 64, FFN 1024, GELU."""
    g = GraphBuilder(seed=2)
    # Reshape's 0 copies the input dim, so batch and seq stay symbolic through the heads.
    split_heads = g.const("shape.split_heads", np.array([0, 0, HEADS, HEAD_DIM], np.int64))
    merge_heads = g.const("shape.merge_heads", np.array([0, 0, D_MODEL], np.int64))
    inv_sqrt_dk = g.const("attn.scale", np.array(1.0 / np.sqrt(HEAD_DIM), np.float32))

    h = _layer_norm(g, "tokens", "ln1")
    heads = {}
    for p in ("q", "k", "v"):
        t = _linear(g, h, f"attn.{p}", D_MODEL, D_MODEL)
        t = g.node("Reshape", [t, split_heads], f"attn.{p}.split")  # [b, s, h, d]
        perm = [0, 2, 3, 1] if p == "k" else [0, 2, 1, 3]  # K^T: [b, h, d, s]
        heads[p] = g.node("Transpose", [t], f"attn.{p}.heads", perm=perm)
    s = g.node("MatMul", [heads["q"], heads["k"]], "attn.scores")  # [b, h, s, s]
    s = g.node("Mul", [s, inv_sqrt_dk], "attn.scaled")
    a = g.node("Softmax", [s], "attn.softmax", axis=-1)
    o = g.node("MatMul", [a, heads["v"]], "attn.context")  # [b, h, s, d]
    o = g.node("Transpose", [o], "attn.merge", perm=[0, 2, 1, 3])
    o = g.node("Reshape", [o, merge_heads], "attn.merge.reshape")  # [b, s, 256]
    o = _linear(g, o, "attn.out", D_MODEL, D_MODEL)
    x = g.node("Add", ["tokens", o], "residual1")

    # GELU written with Erf, as exporters emit it below opset 20: x * 0.5 * (1 + erf(x / sqrt 2)).
    h = _layer_norm(g, x, "ln2")
    h = _linear(g, h, "ffn.fc1", D_MODEL, FFN)
    sqrt2 = g.const("gelu.sqrt2", np.array(np.sqrt(2.0), np.float32))
    one = g.const("gelu.one", np.array(1.0, np.float32))
    half = g.const("gelu.half", np.array(0.5, np.float32))
    e = g.node("Div", [h, sqrt2], "gelu.div")
    e = g.node("Erf", [e], "gelu.erf")
    e = g.node("Add", [e, one], "gelu.add")
    e = g.node("Mul", [h, e], "gelu.mul")
    h = g.node("Mul", [e, half], "gelu.half_mul")
    h = _linear(g, h, "ffn.fc2", FFN, D_MODEL)
    g.node("Add", [x, h], "hidden")

    dims: list[int | str] = ["batch", "seq", D_MODEL]
    return g.model(
        "transformer_block",
        [helper.make_tensor_value_info("tokens", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, dims)],
        "One pre-LN transformer encoder block (d_model 256, 4 heads, FFN 1024, Erf GELU). "
        "Input dims batch and seq are symbolic. Random seeded weights.",
    )


# --- LSTM --------------------------------------------------------------------------------

LSTM_IN = 64
LSTM_HIDDEN = 128
LSTM_CLASSES = 10


def make_lstm() -> onnx.ModelProto:
    """One LSTM layer over x [seq, batch, 64], hidden 128; a Gemm head on the last hidden state."""
    g = GraphBuilder(seed=3)
    h4 = 4 * LSTM_HIDDEN
    w = g.small("lstm.W", (1, h4, LSTM_IN), 1 / np.sqrt(LSTM_HIDDEN))
    r = g.small("lstm.R", (1, h4, LSTM_HIDDEN), 1 / np.sqrt(LSTM_HIDDEN))
    b = g.small("lstm.B", (1, 2 * h4), 1 / np.sqrt(LSTM_HIDDEN))
    g.nodes.append(
        helper.make_node(
            "LSTM",
            ["x", w, r, b],
            ["lstm.Y", "lstm.Y_h"],
            name="lstm",
            hidden_size=LSTM_HIDDEN,
            direction="forward",
        )
    )
    axes = g.const("squeeze.axes", np.array([0], np.int64))
    h = g.node("Squeeze", ["lstm.Y_h", axes], "last_hidden")  # [1, batch, 128] -> [batch, 128]
    wh = g.weight("head.weight", (LSTM_CLASSES, LSTM_HIDDEN), fan_in=LSTM_HIDDEN)
    bh = g.small("head.bias", (LSTM_CLASSES,))
    g.node("Gemm", [h, wh, bh], "logits", transB=1)
    return g.model(
        "lstm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["seq", "batch", LSTM_IN])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", LSTM_CLASSES])],
        "One forward LSTM layer (input 64, hidden 128) and a Gemm classifier on its last "
        "hidden state. Input dims seq and batch are symbolic. Random seeded weights.",
    )


MODELS: dict[str, Callable[[], onnx.ModelProto]] = {
    "cnn": make_cnn,
    "transformer_block": make_transformer_block,
    "lstm": make_lstm,
}

# Bindings for symbolic dims when the models are run as a check.
CHECK_DIMS = {"batch": 2, "seq": 16}


def run_check(model: onnx.ModelProto) -> None:
    """Run the model once in onnxruntime on random input; raise if it fails or gives NaN."""
    try:
        import onnxruntime as ort
    except ImportError:  # onnxruntime is a dependency of onnxcost, but keep the tool usable
        return
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in sess.get_inputs():
        shape = [d if isinstance(d, int) else CHECK_DIMS[d] for d in inp.shape]
        feeds[inp.name] = rng.standard_normal(shape).astype(np.float32)
    for out in sess.run(None, feeds):
        if not np.all(np.isfinite(out)):
            raise RuntimeError(f"{model.graph.name}: non-finite output")


def build(name: str) -> onnx.ModelProto:
    model = MODELS[name]()
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=MODELS_DIR, help="output folder (default models/)")
    ap.add_argument("--no-run", action="store_true", help="skip the onnxruntime check")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        model = build(name)
        if not args.no_run:
            run_check(model)
        path = args.out / f"{name}.onnx"
        onnx.save(model, path)
        n_params = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        print(
            f"{path}: {len(model.graph.node)} nodes, {n_params:,} initializer elements, "
            f"{path.stat().st_size:,} bytes"
        )


if __name__ == "__main__":
    main()
