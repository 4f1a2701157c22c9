"""Shared helpers of the corpus scripts: paths, the manifest, input dims, random feeds and the
TorchScript export's attention-mask patch.

Not a script: the corpus scripts import it (they put this folder on sys.path).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

import numpy as np
import onnx

CORPUS = Path(os.environ.get("ONNXCOST_CORPUS", "/work/corpus"))
MODELS = CORPUS / "models"
SHAPES = CORPUS / "shapes"
MANIFEST = CORPUS / "manifest.json"

Dim = int | str | None


# BART's family (bart, marian, pegasus, whisper) in the corpora: 2 + 2 layers of 4 heads,
# d_model 64 (build.py's bart, hf_zoo.py's family)
BART_LIKE = dict(
    d_model=64,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=128,
    decoder_ffn_dim=128,
)


def load_manifest() -> list[dict]:
    if not MANIFEST.exists():
        return []
    return json.loads(MANIFEST.read_text())


def save_manifest(entries: list[dict]) -> None:
    CORPUS.mkdir(parents=True, exist_ok=True)
    entries = sorted(entries, key=lambda e: (e["family"], e["name"]))
    tmp = MANIFEST.with_suffix(".tmp")
    tmp.write_text(json.dumps(entries, indent=1) + "\n")
    tmp.replace(MANIFEST)


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The real inputs of the top-level graph (initializers listed as inputs left out)."""
    inits = {i.name for i in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def declared_shape(vi: onnx.ValueInfoProto) -> list[Dim] | None:
    """Declared dims of a value: int (static), str (dim_param) or None (unknown); None if no shape."""
    tt = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not tt.HasField("shape"):
        return None
    out: list[Dim] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            out.append(d.dim_value)
        elif d.HasField("dim_param") and d.dim_param:
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def eval_dim(expr: str, table: dict[str, int]) -> int:
    """Value of a dim_param: a name of `table`, or an arithmetic expression over its names
    ("past_sequence_length + 1", as optimum writes them)."""
    if expr in table:
        return int(table[expr])
    names = set(_NAME.findall(expr))
    missing = [n for n in names if n not in table]
    if missing:
        raise KeyError(f"dim {expr!r}: no value for {missing}")
    safe = _NAME.sub(lambda m: str(int(table[m.group(0)])), expr)
    if not re.fullmatch(r"[0-9+\-*/ ()]+", safe):
        raise ValueError(f"dim {expr!r} is not arithmetic")
    return int(eval(safe))  # digits and operators only


def concrete_shapes(
    model: onnx.ModelProto,
    dims: dict[str, int] | None,
    input_shapes: dict[str, list[int]] | None,
) -> dict[str, list[int]]:
    """The concrete shape of every graph input, from its declaration, `dims` and `input_shapes`."""
    dims = dims or {}
    input_shapes = input_shapes or {}
    out = {}
    for vi in graph_inputs(model):
        if vi.name in input_shapes:
            out[vi.name] = list(input_shapes[vi.name])
            continue
        decl = declared_shape(vi)
        if decl is None:
            raise ValueError(f"input {vi.name!r} has no declared shape: give input_shapes")
        shape = []
        for d in decl:
            if isinstance(d, int):
                shape.append(d)
            elif isinstance(d, str):
                shape.append(eval_dim(d, dims))
            else:
                raise ValueError(f"input {vi.name!r} has an unnamed dynamic dim: give input_shapes")
        out[vi.name] = shape
    return out


def binding(
    model: onnx.ModelProto,
    shapes: dict[str, list[int]] | None = None,
    table: dict[str, int] | None = None,
) -> tuple[dict[str, int], dict[str, list[int]]]:
    """dims and input_shapes (manifest form) that bind every input to the wanted concrete shape.

    The wanted shape of an input is `shapes[name]`, or else its declaration with each dim_param
    valued from `table` (names or expressions of names). A dim_param gets its value in `dims`;
    an input with an unnamed dynamic dim (or a dim_param seen with two values) goes whole into
    `input_shapes`.
    """
    shapes = shapes or {}
    table = table or {}
    dims: dict[str, int] = {}
    whole: dict[str, list[int]] = {}
    for vi in graph_inputs(model):
        decl = declared_shape(vi)
        want = shapes.get(vi.name)
        if want is None:
            if decl is None or any(d is None for d in decl):
                raise ValueError(f"input {vi.name!r}: give its concrete shape")
            want = [d if isinstance(d, int) else eval_dim(d, table) for d in decl]
        if decl is None or len(decl) != len(want):
            whole[vi.name] = list(want)
            continue
        for d, w in zip(decl, want, strict=True):
            if isinstance(d, str):
                if dims.setdefault(d, w) != w:
                    whole[vi.name] = list(want)
            elif d is None:
                whole[vi.name] = list(want)
            elif d != w:
                raise ValueError(f"input {vi.name!r}: static dim {d} but {w} wanted")
    return dims, whole


_NP = {
    onnx.TensorProto.FLOAT: np.float32,
    onnx.TensorProto.FLOAT16: np.float16,
    onnx.TensorProto.DOUBLE: np.float64,
    onnx.TensorProto.INT64: np.int64,
    onnx.TensorProto.INT32: np.int32,
    onnx.TensorProto.INT8: np.int8,
    onnx.TensorProto.UINT8: np.uint8,
    onnx.TensorProto.BOOL: np.bool_,
    onnx.TensorProto.STRING: np.str_,
}


def random_feeds(
    model: onnx.ModelProto,
    dims: dict[str, int] | None,
    input_shapes: dict[str, list[int]] | None,
    input_values: dict[str, object] | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Random inputs: floats ~N(0,1), ids in [0, 50), masks of ones, position ids = arange."""
    rng = np.random.default_rng(seed)
    input_values = input_values or {}
    shapes = concrete_shapes(model, dims, input_shapes)
    feeds = {}
    for vi in graph_inputs(model):
        et = vi.type.tensor_type.elem_type
        dt = _NP.get(et)
        if dt is None:
            raise ValueError(f"input {vi.name!r}: unsupported elem_type {et}")
        shape = shapes[vi.name]
        name = vi.name.lower()
        if vi.name in input_values:
            feeds[vi.name] = np.broadcast_to(
                np.asarray(input_values[vi.name], dtype=dt), shape
            ).copy()
        elif np.issubdtype(dt, np.floating):
            feeds[vi.name] = rng.standard_normal(shape).astype(dt)
        elif dt is np.bool_ or "mask" in name:
            feeds[vi.name] = np.ones(shape, dtype=dt)
        elif "position" in name and shape:
            feeds[vi.name] = np.broadcast_to(np.arange(shape[-1], dtype=dt), shape).copy()
        elif "token_type" in name:
            feeds[vi.name] = np.zeros(shape, dtype=dt)
        else:
            feeds[vi.name] = rng.integers(0, 50, size=shape).astype(dt)
    return feeds


@contextlib.contextmanager
def vmap_free_masks():
    """transformers >= 4.53 builds attention masks with torch.vmap, which TorchScript tracing
    cannot record ("unordered_map::at"). Swap in its own vmap-free mask builder for the export,
    as optimum's model patcher does."""
    import transformers.masking_utils as mu

    old = mu.sdpa_mask, mu.ALL_MASK_ATTENTION_FUNCTIONS._global_mapping.get("sdpa")
    mu.sdpa_mask = mu.sdpa_mask_older_torch
    mu.ALL_MASK_ATTENTION_FUNCTIONS._global_mapping["sdpa"] = mu.sdpa_mask_older_torch
    try:
        yield
    finally:
        mu.sdpa_mask = old[0]
        if old[1] is not None:
            mu.ALL_MASK_ATTENTION_FUNCTIONS._global_mapping["sdpa"] = old[1]
