"""Load a model file safely: parse only, never read external weights, never run anything.

Weight payloads are dropped from the in-memory proto after parsing (only their dtype and dims are
kept), so memory and shape-inference time grow with the graph, not with the weights. Small tensors
stay: shape inference needs their values (shapes, axes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from .errors import ModelError

# Tensors up to this many elements keep their values (shapes, axes, scalars for propagation).
SMALL_CONSTANT_ELEMENTS = 1024
_PAYLOAD_FIELDS = (
    "raw_data",
    "float_data",
    "int32_data",
    "string_data",
    "int64_data",
    "double_data",
    "uint64_data",
)


@dataclass
class LoadedModel:
    model: onnx.ModelProto  # our own copy; weights' payloads stripped
    path: Path | None
    file_bytes: int = 0
    external_data: list[str] = field(default_factory=list)  # locations declared by the model
    missing_external: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def load(model: str | os.PathLike[str] | onnx.ModelProto) -> LoadedModel:
    """Parse `model` (a path or a ModelProto, which is copied, never modified)."""
    if isinstance(model, onnx.ModelProto):
        proto = onnx.ModelProto()
        proto.CopyFrom(model)
        loaded = LoadedModel(proto, None)
    else:
        path = Path(model)
        proto = _parse(path)
        loaded = LoadedModel(proto, path, file_bytes=path.stat().st_size)
    _validate_top(proto, loaded.path)
    _check_external(loaded)
    _strip_payloads(proto)
    return loaded


def _parse(path: Path) -> onnx.ModelProto:
    if not path.exists():
        raise ModelError(f"{path}: no such file")
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, not an ONNX file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ModelError(f"{path}: cannot read: {e.strerror or e}") from None
    if not data:
        raise ModelError(f"{path}: file is empty")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelError(f"{path}: not an ONNX model (protobuf parse failed: {e})") from None
    return proto


def _validate_top(proto: onnx.ModelProto, path: Path | None) -> None:
    where = str(path) if path else "model"
    if not proto.HasField("graph"):
        raise ModelError(f"{where}: not an ONNX model (no graph)")
    if not proto.opset_import:
        raise ModelError(f"{where}: model declares no opset_import")
    if not proto.graph.node and not proto.graph.output:
        raise ModelError(f"{where}: graph is empty (no nodes, no outputs)")


def iter_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """The graph and every nested subgraph, iteratively (no recursion limit on deep nesting)."""
    stack = [graph]
    while stack:
        g = stack.pop()
        yield g
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    stack.append(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    stack.extend(attr.graphs)


def iter_tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every stored tensor: initializers and Constant/attribute tensors, in all subgraphs."""
    for g in iter_graphs(graph):
        yield from g.initializer
        for s in g.sparse_initializer:
            yield s.values
            yield s.indices
        for node in g.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    yield attr.t
                elif attr.type == onnx.AttributeProto.SPARSE_TENSOR:
                    yield attr.sparse_tensor.values
                    yield attr.sparse_tensor.indices
                elif attr.type == onnx.AttributeProto.TENSORS:
                    yield from attr.tensors


def _check_external(loaded: LoadedModel) -> None:
    """Refuse external-data locations that leave the model's folder; never open any of them."""
    base = loaded.path.parent if loaded.path else None
    base_real = os.path.realpath(base) if base is not None else None
    checked: set[str] = set()
    for t in iter_tensors(loaded.model.graph):
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {e.key: e.value for e in t.external_data}
        loc = info.get("location", "")
        if not loc:
            raise ModelError(f"tensor {t.name!r}: external data without a location")
        if os.path.isabs(loc) or loc.startswith(("/", "\\")) or (len(loc) > 1 and loc[1] == ":"):
            raise ModelError(
                f"tensor {t.name!r}: external data location {loc!r} is absolute: refused"
            )
        parts = loc.replace("\\", "/").split("/")
        if ".." in parts:
            raise ModelError(
                f"tensor {t.name!r}: external data location {loc!r} contains '..': refused"
            )
        if loc in checked:
            continue  # thousands of tensors usually share one file: resolve it once
        checked.add(loc)
        loaded.external_data.append(loc)
        if base_real is None:
            continue
        # realpath resolves symlinks without opening the file.
        target = os.path.realpath(os.path.join(base_real, loc))
        if os.path.commonpath([target, base_real]) != base_real:
            raise ModelError(
                f"tensor {t.name!r}: external data location {loc!r} resolves outside the model's "
                "folder: refused"
            )
        if not os.path.lexists(target) and loc not in loaded.missing_external:
            loaded.missing_external.append(loc)
    if loaded.missing_external:
        loaded.warnings.append(
            "external data file(s) missing: "
            + ", ".join(loaded.missing_external)
            + " (not needed: weights are counted from declared shapes)"
        )


def _strip_payloads(proto: onnx.ModelProto) -> None:
    """Drop weight bytes we will never need; keep small integer constants for shape inference."""
    for t in iter_tensors(proto.graph):
        n = 1
        for d in t.dims:
            n *= d
        if n <= SMALL_CONSTANT_ELEMENTS:
            continue
        if t.data_location == onnx.TensorProto.EXTERNAL:
            continue
        for f in _PAYLOAD_FIELDS:
            t.ClearField(f)
