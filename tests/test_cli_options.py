"""--dim and --input-shape: the shared option parsers and the click decorator."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from onnxcost.cli.options import model_options, parse_dim_values, parse_dims, parse_input_shapes
from onnxcost.errors import UsageError


def test_parse_dims():
    assert parse_dims([]) == {}
    assert parse_dims(["batch=1", "seq=128", "past=0"]) == {"batch": 1, "seq": 128, "past": 0}
    assert parse_dims(["batch = 2"]) == {"batch": 2}
    assert parse_dims(["batch=1", "batch=1"]) == {"batch": 1}  # repeating the same value is fine


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (["batch"], "expected NAME=VALUE"),
        (["=1"], "expected NAME=VALUE"),
        (["batch="], "expected NAME=VALUE"),
        (["batch=x"], "not an integer"),
        (["batch=1.5"], "not an integer"),
        (["batch=-1"], "negative"),
        (["batch=1,8"], "one value expected"),
        (["batch=1", "batch=2"], "given twice"),
    ],
)
def test_parse_dims_errors(values, words):
    with pytest.raises(UsageError, match=words):
        parse_dims(values)


def test_parse_dim_values_lists_for_scaling():
    assert parse_dim_values(["batch=1,8,64", "seq=128"]) == {"batch": [1, 8, 64], "seq": [128]}
    with pytest.raises(UsageError, match="given twice"):
        parse_dim_values(["batch=1,8", "batch=2"])


def test_parse_input_shapes():
    assert parse_input_shapes(["input=1x3x224x224"]) == {"input": [1, 3, 224, 224]}
    assert parse_input_shapes(["a=1,3", "b=7"]) == {"a": [1, 3], "b": [7]}
    assert parse_input_shapes(["input:0=2x5"]) == {"input:0": [2, 5]}  # TF-style names
    assert parse_input_shapes(["a=b=4x4"]) == {"a=b": [4, 4]}  # the last '=' splits


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (["input"], "expected NAME=VALUE"),
        (["input=1x?x3"], "not an integer"),
        (["input=1xx3"], "not an integer"),
        (["input=1x-2"], "negative"),
        (["input=1x3", "input=1x4"], "given twice"),
    ],
)
def test_parse_input_shapes_errors(values, words):
    with pytest.raises(UsageError, match=words):
        parse_input_shapes(values)


@click.command()
@model_options
def show(dims, input_shapes):
    click.echo(f"{dims} {input_shapes}")


def test_model_options_decorator():
    r = CliRunner().invoke(show, ["--dim", "batch=1", "--input-shape", "x=1x3", "--dim", "seq=8"])
    assert r.exit_code == 0
    assert r.output.strip() == "{'batch': 1, 'seq': 8} {'x': [1, 3]}"
    assert CliRunner().invoke(show, []).output.strip() == "{} {}"


def test_model_options_bad_value_is_a_usage_error():
    r = CliRunner().invoke(show, ["--dim", "batch=zero"])
    assert r.exit_code == 2
    assert "--dim" in r.output and "not an integer" in r.output


def test_output_chunks_keep_the_text_whole() -> None:
    # write_output writes a report's pieces in chunks of about `size` characters: all of the
    # text, in order, no empty chunk, a long piece cut, many short ones grouped
    import random

    from onnxcost.cli.options import _chunks

    assert list(_chunks(["ab", "cd", "e"], size=3)) == ["abcd", "e"]
    assert list(_chunks(["", "x" * 7, ""], size=3)) == ["xxx", "xxx", "x"]
    assert list(_chunks(["", ""], size=3)) == []
    rng = random.Random(3)
    for _ in range(500):
        pieces = ["x" * rng.choice([0, 1, 5, 50, 300, 2000]) for _ in range(rng.randint(0, 40))]
        chunks = list(_chunks(pieces, size=500))
        assert "".join(chunks) == "".join(pieces)
        assert all(0 < len(c) < 1000 for c in chunks)
