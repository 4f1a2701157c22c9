"""Data movement and views: no arithmetic (0 FLOPs). Views alias their input: no buffer, no traffic."""

from __future__ import annotations

from onnxcost.rules.registry import Cost, NodeContext, register

VIEWS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout")
MOVES = [
    "Transpose",
    "Concat",
    "Split",
    "Slice",
    "Gather",
    "GatherElements",
    "GatherND",
    "Pad",
    "Expand",
    "Tile",
    "Cast",
    "CastLike",
    "Shape",
    "Size",
    "Constant",
    "ConstantOfShape",
    "DepthToSpace",
    "SpaceToDepth",
]


@register(*VIEWS, kind="view")
def view(ctx: NodeContext) -> Cost:
    """Inference Dropout is the identity; the others only reinterpret the shape."""
    return Cost()


@register(*MOVES)
def move(ctx: NodeContext) -> Cost:
    """Copies, gathers and casts: memory traffic, but no arithmetic."""
    return Cost()
