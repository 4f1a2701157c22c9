"""Errors onnxcost raises on bad input. The CLI turns each into one line and exit code 2."""

from __future__ import annotations


class OnnxCostError(Exception):
    """A problem with what the user gave us (model, option, budget file): exit code 2."""


class ModelError(OnnxCostError):
    """The model file is unreadable, malformed or refused."""


class NodeError(ModelError):
    """A node that cannot be costed; the message already names it (and its enclosing nodes)."""


class UsageError(OnnxCostError):
    """An option or argument is malformed."""


class UncountedError(OnnxCostError):
    """`--strict` found something the totals could not count."""
