"""Errors onnxcost raises on bad input. The CLI turns each into one line and exit code 2."""

from __future__ import annotations


class OnnxCostError(Exception):
    """A problem with what the user gave us (model, option, budget file): exit code 2.

    Messages quote model text (node names, op types, dims) as written: one with a control
    character in it is made one line of printable text here, for every caller of the API, as
    the CLI's output already is."""

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str) and not args[0].isprintable():
            from onnxcost.report.sanitize import text  # only then: errors stay import-light

            args = (text(args[0]),)
        super().__init__(*args)


class ModelError(OnnxCostError):
    """The model file is unreadable, malformed or refused."""


class NodeError(ModelError):
    """A node that cannot be costed; the message already names it (and its enclosing nodes)."""


class UsageError(OnnxCostError):
    """An option or argument is malformed."""


class UncountedError(OnnxCostError):
    """`--strict` found something the totals could not count."""
