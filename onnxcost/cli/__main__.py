"""`python -m onnxcost.cli`: the same as the `onnxcost` command."""

from onnxcost.cli.main import run

run()
