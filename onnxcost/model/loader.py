"""Load a model file safely: parse only, never read external weights, never run anything.

The file is read once (a regular file only: never a FIFO or a device) and parsed as a ModelProto.
Then, before anything else looks at it:
- its structure is checked (graph, opsets, nesting depth, declared dims),
- external-data locations are checked without opening them, and the tensors are turned into plain
  payload-less tensors, so that no later step (onnx or onnxruntime helpers) can open a file,
- weight payloads are dropped (only dtype and dims are kept), so memory and shape-inference time grow
  with the graph, not with the weights. Small tensors keep their values: shape inference needs them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import onnx
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from onnxcost.errors import ModelError, NodeError, OnnxCostError
from onnxcost.model import attrs
from onnxcost.model.graph import Graph, NodeTable, build, read_nodes, subgraph_attrs

# Tensors up to this many elements keep their values (shapes, axes, scalars for propagation).
SMALL_CONSTANT_ELEMENTS = 1024
# Deeper If/Loop/Scan nesting is refused. A file cannot get near it anyway (protobuf stops parsing
# at 100 message levels, about 32 nested subgraphs); this bounds models handed over in memory.
MAX_SUBGRAPH_DEPTH = 64
# Higher ranks are refused: no runtime goes near it, and exact element counts of a rank-N tensor of
# 2**63 dims have 19*N digits (printing an integer costs time quadratic in its digits).
MAX_RANK = 1024
_PAYLOAD_FIELDS = (
    "raw_data",
    "float_data",
    "int32_data",
    "string_data",
    "int64_data",
    "double_data",
    "uint64_data",
)
_MAX_BYTES_PER_ELEMENT = 16  # complex128
_MAX_STRING_BYTES = 64 * 1024  # string constants are never needed for costs


@dataclass
class LoadedModel:
    """A parsed, checked model and what the load found out about its file."""

    model: onnx.ModelProto  # our own copy; weights' payloads stripped
    path: Path | None
    file_bytes: int = 0
    external_data: list[str] = field(default_factory=list)  # locations declared by the model
    missing_external: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    graph: Graph | None = None  # the validated node DAG of the top-level graph
    # initializers whose stored bytes equal another's: name -> digest (for the duplicates list)
    same_contents: dict[str, bytes] = field(default_factory=dict)
    graphs: list[onnx.GraphProto] = field(default_factory=list)  # the top graph, then subgraphs


def load(model: str | os.PathLike[str] | onnx.ModelProto) -> LoadedModel:
    """Parse `model` (a path or a ModelProto, which is copied, never modified)."""
    if isinstance(model, onnx.ModelProto):
        proto = onnx.ModelProto()
        proto.CopyFrom(model)
        loaded = LoadedModel(proto, None)
        text_checked = False  # its bytes would be a copy of the whole model: the walk checks
    else:
        path = Path(model)
        data = _read(path)
        text_checked = _all_text(data)  # before the parse: never two parsed copies at once
        loaded = LoadedModel(_parse(data, path), path, file_bytes=len(data))
        del data
    _validate_top(loaded.model, loaded.path)
    if not text_checked:
        _validate_text(loaded.model, loaded.path)
    graphs, tensors, table = _walk(loaded.model)
    loaded.graphs = graphs
    _validate_dims(graphs, tensors)
    # duplicate producers, dangling inputs, cycles: before any inference. Inference adds only
    # value_info, so this DAG (and its node protos) serves the rest of the analysis.
    loaded.graph = build(loaded.model.graph, table)
    tensors = _check_external(loaded, tensors)
    loaded.same_contents = _same_contents(loaded.model.graph)
    _strip_payloads(tensors)
    return loaded


# protobuf cannot parse a message over 2 GiB: a bigger "model" is refused before it is read.
MAX_MODEL_BYTES = 2**31


def describe(mode: int) -> str | None:
    """What a non-regular file is ('a directory', 'a FIFO (named pipe)', ...), None if regular."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_file(path: str | os.PathLike[str], limit: int, what: str = "ONNX file") -> bytearray:
    """The bytes of a regular file of at most `limit` bytes. FIFOs, devices and directories are
    refused, saying what they are, before any read; so is a file over the limit. The file is read
    into one buffer of its size (no second copy)."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; we refuse it right after.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, not an {what}") from None
    except (OSError, ValueError) as e:  # ValueError: a NUL byte in the path
        raise ModelError(f"{path}: cannot open: {getattr(e, 'strerror', None) or e}") from None
    try:
        st = os.fstat(fd)
        kind = describe(st.st_mode)
        if kind == "a directory":
            raise ModelError(f"{path}: is a directory, not an {what}")
        if kind is not None:
            raise ModelError(f"{path}: is {kind}, not a regular file: refused")
        if st.st_size == 0:
            raise ModelError(f"{path}: file is empty")
        if st.st_size > limit:
            raise ModelError(
                f"{path}: {st.st_size} bytes, over the {limit}-byte limit for an {what}: refused"
            )
        buf = bytearray(st.st_size)
        view, got = memoryview(buf), 0
        while got < len(buf) and (n := os.readv(fd, [view[got:]])):
            got += n
    except OSError as e:
        raise ModelError(f"{path}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if got == 0:
        raise ModelError(f"{path}: file is empty")
    del view
    if got < len(buf):  # shrank while we read
        del buf[got:]
    return buf


def _read(path: Path) -> bytearray:
    """The bytes of a model file (see read_file)."""
    return read_file(path, MAX_MODEL_BYTES)


def _parse(data: bytearray, path: Path) -> onnx.ModelProto:
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        text = str(e)
        if "MaxDepth" in text or "recursion" in text.lower():
            raise ModelError(
                f"{path}: not a usable ONNX model: messages nested deeper than protobuf's limit "
                "of 100 levels (subgraphs or types nested too deeply)"
            ) from None
        raise ModelError(f"{path}: not an ONNX model (protobuf parse failed: {text})") from None
    return proto


def _unknown_fields(proto: onnx.ModelProto) -> list[int]:
    try:
        from google.protobuf import unknown_fields
    except ImportError:  # older protobuf: no hint then
        return []
    try:
        return sorted({f.field_number for f in unknown_fields.UnknownFieldSet(proto)})
    except Exception:
        return []


def _validate_top(proto: onnx.ModelProto, path: Path | None) -> None:
    where = str(path) if path else "model"
    if not proto.HasField("graph"):
        unknown = _unknown_fields(proto)
        hint = (
            f"; it has fields ModelProto does not define ({', '.join(map(str, unknown[:8]))}): "
            "another protobuf message, such as a GraphProto or TensorProto?"
            if unknown
            else ""
        )
        raise ModelError(f"{where}: not an ONNX model (no graph{hint})")
    if not proto.opset_import:
        raise ModelError(f"{where}: model declares no opset_import")
    if not proto.graph.node and not proto.graph.output:
        raise ModelError(f"{where}: graph is empty (no nodes, no outputs)")


@lru_cache(maxsize=1)
def _utf8_model() -> type[Message] | None:
    """ModelProto under edition 2023, whose strings are UTF-8 checked as they are parsed: onnx's
    schema (proto2) leaves them unchecked. None where protobuf predates editions."""
    try:
        from google.protobuf import descriptor_pool, message_factory

        # onnx's FileDescriptorProto as bytes, with syntax = "editions" (field 12) and edition =
        # EDITION_2023 (field 14, 1000) appended: a field given twice takes its last value.
        # Editing the message instead would import descriptor_pb2 (1 ms, a small model's load).
        schema = onnx.ModelProto.DESCRIPTOR.file.serialized_pb + b"\x62\x08editions\x70\xe8\x07"
        pool = descriptor_pool.DescriptorPool()
        pool.AddSerializedFile(schema)
        return message_factory.GetMessageClass(pool.FindMessageTypeByName("onnx.ModelProto"))
    except Exception:
        return None


def _all_text(data: bytearray) -> bool:
    """True when every string field of the model in `data` is UTF-8: the bytes parse under
    `_utf8_model` (in C, 50 times faster than `_validate_text`'s walk). False when they do not,
    or cannot be checked that way: the walk then finds the field, or finds nothing wrong."""
    checked = _utf8_model()
    if checked is None:
        return False
    try:
        checked.FromString(data)
    except Exception:
        return False
    return True


def _validate_text(proto: onnx.ModelProto, path: Path | None) -> None:
    """Every string field must be UTF-8 text. Protobuf hands back invalid UTF-8 as bytes, which
    would surface later as confusing type errors (names sorted, printed, written as JSON)."""
    kinds: dict[FieldDescriptor, int] = {}  # each field's _kind, worked out once
    stack: list[Message] = [proto]
    while stack:
        msg = stack.pop()
        for fd, value in msg.ListFields():
            kind = kinds.get(fd)
            if kind is None:
                kind = kinds[fd] = _kind(fd)
            if kind == _MESSAGES:
                stack.extend(value)
            elif kind == _MESSAGE:
                stack.append(value)
            elif kind == _TEXT:
                if value.__class__ is not str:
                    raise _not_text(path, msg, fd, value)
            elif kind == _TEXTS:
                for text in value:
                    if text.__class__ is not str:
                        raise _not_text(path, msg, fd, text)


_OTHER, _MESSAGE, _MESSAGES, _TEXT, _TEXTS = range(5)


def _kind(fd: FieldDescriptor) -> int:
    # protobuf >= 5 has is_repeated; older versions only the label
    flag = getattr(fd, "is_repeated", None)
    repeated = bool(flag) if flag is not None else fd.label == FieldDescriptor.LABEL_REPEATED
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        return _MESSAGES if repeated else _MESSAGE
    if fd.type == FieldDescriptor.TYPE_STRING:
        return _TEXTS if repeated else _TEXT
    return _OTHER


def _not_text(path: Path | None, msg: Message, fd: FieldDescriptor, text: bytes) -> ModelError:
    owner = getattr(msg, "name", "")
    return ModelError(
        f"{path or 'model'}: {msg.DESCRIPTOR.name}"
        + (f" {owner!r}" if isinstance(owner, str) and owner else "")
        + f": field {fd.name!r} is not valid UTF-8 ({bytes(text)[:40]!r})"
    )


def iter_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """The graph and every nested subgraph, iteratively (no recursion limit on deep nesting)."""
    graph_types = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
    stack = [graph]
    while stack:
        g = stack.pop()
        yield g
        for node in g.node:  # hot on large graphs: most nodes have no graph attribute
            for attr in node.attribute:
                if attr.type in graph_types:
                    stack.extend(subgraph_attrs(node))
                    break


def _walk(
    proto: onnx.ModelProto,
) -> tuple[list[onnx.GraphProto], list[onnx.TensorProto], NodeTable]:
    """One pass over every graph, depth first as `iter_graphs` goes. Refuses subgraphs nested
    more than MAX_SUBGRAPH_DEPTH deep (costing them recurses), then the first node without an op
    type or with an attribute of a type its op does not take (attrs.py), before anything reads
    them. Returns the graphs, every stored tensor (initializers, then those in attributes, graph
    by graph) and the top graph's node table."""
    opsets = {(imp.domain or ""): imp.version for imp in proto.opset_import}
    graphs: list[onnx.GraphProto] = []
    tensors: list[onnx.TensorProto] = []
    bad_node: OnnxCostError | None = None  # raised once the nesting is known to be fine
    top_table = None
    stack: list[tuple[onnx.GraphProto, int, str]] = [(proto.graph, 0, "")]
    while stack:
        g, depth, top = stack.pop()
        graphs.append(g)
        table = read_nodes(g)
        if top_table is None:
            top_table = table
        tensors.extend(g.initializer)
        for s in g.sparse_initializer:
            tensors += (s.values, s.indices)
        tensors += table.tensors
        bad_node = bad_node or _bad_node(table, opsets)
        for k, subs in table.subgraphs.items():
            where = top or table.onnx_names[k] or f"{table.op_types[k]}_{k}"
            if depth + 1 > MAX_SUBGRAPH_DEPTH:
                raise ModelError(
                    f"node {where!r}: subgraphs nested more than {MAX_SUBGRAPH_DEPTH} deep: refused"
                )
            stack.extend((sub, depth + 1, where) for sub in subs)
    if bad_node is not None:
        raise bad_node
    return graphs, tensors, top_table  # type: ignore[return-value]


def _bad_node(t: NodeTable, opsets: dict[str, int]) -> OnnxCostError | None:
    """The first node without an op type or with an attribute of a type its op does not take."""
    first = t.op_types.index("") if "" in t.op_types else len(t.nodes)
    fine: set[tuple] = set()  # nodes alike in op and stored attributes are checked once
    for k in t.attr_keys:  # in node order
        if k >= first:
            break
        domain = t.domains[k]
        opset = opsets.get("" if domain == "ai.onnx" else domain, 0)
        stored = t.attr_keys[k]  # None (a graph or a tensor in it): always checked
        alike = None if stored is None else (domain, t.op_types[k], opset, stored)
        if alike in fine:
            continue
        bad = attrs.type_error(t.nodes[k], opset)
        if not bad and alike is not None:
            fine.add(alike)
        if bad:
            name = t.onnx_names[k] or f"{t.op_types[k]}_{k}"
            return NodeError(f"node {name!r} ({t.op_types[k]}): {bad}")
    if first < len(t.nodes):
        return ModelError(f"node {t.onnx_names[first] or f'#{first}'!r}: no op_type: refused")
    return None


def _validate_dims(graphs: list[onnx.GraphProto], tensors: list[onnx.TensorProto]) -> None:
    """Stored tensors and declared graph inputs must not have negative dims; no rank beyond
    MAX_RANK anywhere.

    Except -1 on a declared input or type (paddle2onnx and others write it for "unknown"): it
    becomes an unknown dim, and `--input-shape` can give the input's shape.
    """
    for t in tensors:
        dims = t.dims
        if len(dims) > MAX_RANK:
            raise ModelError(f"tensor {t.name!r}: rank {len(dims)} (limit {MAX_RANK}): refused")
        if dims and min(dims) < 0:
            d = next(d for d in dims if d < 0)
            raise ModelError(f"tensor {t.name!r}: negative dim {d} in its declared shape")
    for g in graphs:
        n_in = len(g.input)
        for k, vi in enumerate((*g.input, *g.output, *g.value_info)):
            tt = vi.type.tensor_type if vi.type.HasField("tensor_type") else None
            if tt is None:
                continue
            check_rank(vi.name, len(tt.shape.dim))
            for d in tt.shape.dim:
                if not d.HasField("dim_value") or d.dim_value >= 0:
                    continue
                if k < n_in and d.dim_value != -1:
                    raise ModelError(f"graph input {vi.name!r}: negative dim {d.dim_value}")
                if not (k < n_in and g is graphs[0]):  # the top graph's inputs: `bind` decides
                    d.Clear()


def check_rank(name: str, rank: int) -> None:
    if rank > MAX_RANK:
        raise ModelError(f"tensor {name!r}: rank {rank} (limit {MAX_RANK}): refused")


def _bad_location(loc: str) -> str | None:
    """Why an external-data location is refused, or None. Pure string checks: nothing is opened."""
    if any(ord(c) < 32 for c in loc):
        return "contains a control character"
    if os.path.isabs(loc) or loc.startswith(("/", "\\")) or (len(loc) > 1 and loc[1] == ":"):
        return "is absolute"
    if ".." in loc.replace("\\", "/").split("/"):
        return "contains '..'"
    return None


def _check_external(loaded: LoadedModel, tensors: list[onnx.TensorProto]) -> list[onnx.TensorProto]:
    """Refuse external-data locations that leave the model's folder; never open any of them.

    Each external tensor then becomes a plain tensor with no payload (dims and dtype kept), so
    nothing downstream (onnx's or onnxruntime's helpers resolve locations against the working
    directory) can ever read one. Returns the other tensors: those that may hold a payload.
    """
    stored = []
    base = loaded.path.parent if loaded.path else None
    base_real = os.path.realpath(base) if base is not None else None
    checked: set[str] = set()  # each distinct location is checked once (a realpath each)
    for t in tensors:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            t.ClearField("external_data")  # ignored by every reader; dropped to be sure
            stored.append(t)
            continue
        loc = ""
        for e in t.external_data:  # the last "location" entry, as a dict of them would keep
            if e.key == "location":
                loc = e.value
        if not loc:
            raise ModelError(f"tensor {t.name!r}: external data without a location")
        if loc in checked:
            _drop_payload(t)
            continue
        checked.add(loc)
        why = _bad_location(loc)
        if why:
            raise ModelError(f"tensor {t.name!r}: external data location {loc!r} {why}: refused")
        loaded.external_data.append(loc)
        if base_real is not None:
            # realpath resolves symlinks (lstat/readlink) without opening the file.
            target = os.path.realpath(os.path.join(base_real, loc))
            if os.path.commonpath([target, base_real]) != base_real:
                raise ModelError(
                    f"tensor {t.name!r}: external data location {loc!r} resolves outside the "
                    "model's folder: refused"
                )
            if not os.path.lexists(target):
                loaded.missing_external.append(loc)
        _drop_payload(t)
    if loaded.missing_external:
        loaded.warnings.append(
            "external data file(s) missing: "
            + ", ".join(loaded.missing_external)
            + " (not needed: weights are counted from declared shapes)"
        )
    return stored


def _drop_payload(t: onnx.TensorProto) -> None:
    """An external tensor becomes a plain one with no data: nothing can resolve its file."""
    t.ClearField("external_data")
    t.data_location = onnx.TensorProto.DEFAULT
    for f in _PAYLOAD_FIELDS:
        t.ClearField(f)


def has_payload(t: onnx.TensorProto) -> bool:
    """The tensor's values are in memory (the loader drops weights' payloads and external
    locations: such a tensor has a shape and a dtype, and no value anything may read)."""
    if t.data_location == onnx.TensorProto.EXTERNAL:
        return False
    if 0 in t.dims:
        return True
    # each of _PAYLOAD_FIELDS, read in turn (asked of every small weight of a large graph)
    return t.HasField("raw_data") or bool(
        t.float_data or t.int32_data or t.string_data or t.int64_data or t.double_data
        or t.uint64_data
    )  # fmt: skip


def _elements(t: onnx.TensorProto) -> int:
    n = 1
    for d in t.dims:
        n *= d
    return n


def _oversized_payload(t: onnx.TensorProto, n: int) -> bool:
    """More stored data than `n` elements can need: the values cannot be trusted, nor kept."""
    if len(t.raw_data) > _MAX_BYTES_PER_ELEMENT * max(n, 1):
        return True
    repeated = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data")
    if any(len(getattr(t, f)) > 2 * max(n, 1) for f in repeated):  # complex: 2 values each
        return True
    return len(t.string_data) > max(n, 1) or sum(map(len, t.string_data)) > _MAX_STRING_BYTES


def _same_contents(graph: onnx.GraphProto) -> dict[str, bytes]:
    """Digests of the initializers whose bytes may equal another's, before payloads are dropped.

    Cheap first: only tensors of equal dtype, dims and first and last bytes are hashed in full,
    so distinct weights (nearly all) cost a slice each.
    """
    try:  # hashlib's own: `import hashlib` loads OpenSSL first (2-3 ms, a small model's load)
        from _blake2 import blake2b
    except ImportError:  # a Python built without it
        from hashlib import blake2b

    groups: dict[tuple, list[onnx.TensorProto]] = {}
    for t in graph.initializer:
        raw = t.raw_data
        if not raw:
            continue  # external, or stored in typed fields (small exports): not compared
        key = (t.data_type, tuple(t.dims), len(raw), raw[:64], raw[-64:])
        groups.setdefault(key, []).append(t)
    out: dict[str, bytes] = {}
    for ts in groups.values():
        if len(ts) < 2:
            continue
        for t in ts:
            out[t.name] = blake2b(t.raw_data, digest_size=16).digest()
    return out


def _strip_payloads(tensors: list[onnx.TensorProto]) -> None:
    """Drop weight bytes we will never need; keep small constants' values for shape inference."""
    for t in tensors:
        n = _elements(t)
        if n <= SMALL_CONSTANT_ELEMENTS and not _oversized_payload(t, n):
            continue
        for f in _PAYLOAD_FIELDS:
            t.ClearField(f)
