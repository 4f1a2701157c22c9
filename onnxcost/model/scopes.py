"""Module scopes of nodes: which module of the source model made each node.

Exporters record it in two places. The dynamo exporter (torch.onnx.export(dynamo=True)) writes the
node metadata `pkg.torch.onnx.name_scopes`: the repr of a list of cumulative module paths, the root
'' first and the node's own name last (`['', 'encoder', 'encoder.layer.0', 'linear']`). The
TorchScript exporter and others put the path in the node name: `/encoder/layer.0/attention/MatMul`.
The metadata wins when both are present; a name without '/' but with '.' (`stem.conv`, as
`tools/make_models.py` and many hand-built graphs write) is read as a dotted path.
"""

from __future__ import annotations

import ast

import onnx

NAME_SCOPES_KEY = "pkg.torch.onnx.name_scopes"
_MAX_METADATA_CHARS = 20_000  # the parse of hostile text: keep it small and flat


def _from_metadata(text: str) -> list[str] | None:
    """['', 'a', 'a.b', 'op'] -> ['a', 'b']; None when the text is not such a list."""
    if len(text) > _MAX_METADATA_CHARS or text.count("[") > 1:  # flat list only
        return None
    # the parse tree read here, not by literal_eval: its helper closures are reference cycles,
    # left for the cycle collector at each call (one a node), and the analysis runs without it
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None
    if not isinstance(tree, ast.List):
        return None
    value = [e.value for e in tree.elts if isinstance(e, ast.Constant)]
    if len(value) != len(tree.elts) or not all(isinstance(v, str) for v in value):
        return None
    paths = [v for v in value[:-1] if v]  # the last entry is the node itself, '' the root
    segments: list[str] = []
    parent = ""
    for path in paths:
        # cumulative paths: 'encoder.layer.0' under 'encoder' is segment 'layer.0'
        rel = path[len(parent) + 1 :] if parent and path.startswith(parent + ".") else path
        segments.append(rel)
        parent = path
    return segments


def _from_name(name: str) -> list[str]:
    if "/" in name:
        parts = name.strip("/").split("/")
        return [p or "<anonymous>" for p in parts[:-1]]
    if "." in name.strip("."):
        return name.strip(".").split(".")[:-1]
    return []


def node_scope(node: onnx.NodeProto, name: str | None = None) -> tuple[list[str], str, bool]:
    """(scope segments, source, metadata_unreadable). source: metadata | name | none.
    `name`: the node's name, if read already."""
    return scope_of(scope_texts(node), node.name if name is None else name)


def scope_texts(node: onnx.NodeProto) -> list[str]:
    """The node's metadata texts under NAME_SCOPES_KEY, as written."""
    return [p.value for p in node.metadata_props if p.key == NAME_SCOPES_KEY]


def scope_of(texts: list[str] | None, name: str) -> tuple[list[str], str, bool]:
    """`node_scope` of a node named `name` whose metadata holds `texts` under NAME_SCOPES_KEY
    (graph.read_nodes reads them with the node's other fields)."""
    bad = False
    for text in texts or ():
        segments = _from_metadata(text)
        if segments is not None:
            return segments, "metadata", False
        bad = True
    segments = _from_name(name)
    return segments, ("name" if segments else "none"), bad


__all__ = ["NAME_SCOPES_KEY", "node_scope", "scope_of", "scope_texts"]
