"""The node table's display names: unique, the name as written where it can be."""

from __future__ import annotations

from onnxcost.model.graph import _display_names


def test_names_as_written_when_unique() -> None:
    # unnamed nodes are called op_index
    assert _display_names(["a", "", "b"], ["Relu", "Add", "Mul"]) == ["a", "Add_1", "b"]


def test_repeated_names_take_a_count() -> None:
    # the second "a" is a#2, the third a#3; an unnamed Relu at 2 is Relu_2, so the node written
    # as "Relu_2" after it is Relu_2#2; and a node written as "a#2" after the second a is a#2#2
    names = ["a", "a", "", "Relu_2", "a#2", "a"]
    ops = ["Add", "Add", "Relu", "Mul", "Mul", "Mul"]
    assert _display_names(names, ops) == ["a", "a#2", "Relu_2", "Relu_2#2", "a#2#2", "a#3"]
