"""The `onnxcost` command line. Exit codes: 0 ok, 1 over budget / regression, 2 bad input, 3 bug.

Each command's module is imported only when that command runs (or shows its help), so that
`onnxcost --help` and `onnxcost hw list` start fast.
"""

from __future__ import annotations

import atexit
import gc
import os
import sys

import click

from onnxcost import __version__
from onnxcost.cli.options import LazyGroup

# name -> (module:attribute, the first line of its help, shown by `onnxcost --help`)
COMMANDS = {
    "analyze": (
        "onnxcost.cli.analyze:analyze",
        "Analyse MODEL (an .onnx file) and report its costs. The model is never run.",
    ),
    "check": (
        "onnxcost.cli.gate:check",
        "Fail (exit 1) when MODEL exceeds a budget; exit 0 when within all, 2 on bad input.",
    ),
    "diff": (
        "onnxcost.cli.gate:diff",
        "Compare OLD and NEW (models, or JSON reports saved by `analyze --format json`).",
    ),
    "fit": (
        "onnxcost.cli.fit:fit",
        "The largest value of dim NAME for which MODEL keeps every budget.",
    ),
    "hw": (
        "onnxcost.cli.hw:hw",
        "The hardware database: peak throughput, memory and bandwidth of each device, with "
        "sources.",
    ),
    "llm": (
        "onnxcost.cli.llm:llm",
        "Serving cost of a decoder with a KV cache, read from MODEL's graph.",
    ),
    "measure": (
        "onnxcost.cli.measure:measure",
        "RUN MODEL with onnxruntime on the CPU and compare with the predicted roofline.",
    ),
}


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="onnxcost")
def main() -> None:
    """What an ONNX model costs, without running it.

    FLOPs and MACs, parameters and size by dtype, activation memory (total and peak),
    memory traffic, and roofline latency on a named device. Exit codes: 0 ok,
    1 over budget or regression (check, diff), 2 bad input or usage, 3 internal error.
    """


def run() -> None:
    """The `onnxcost` process: `main` without the cycle collector, then an exit that leaves what
    the command made where it is (mypy's fast exit does the same).

    Analyses make no reference cycles (tests/test_no_cycles.py) and run with the collector paused
    (analyzer.no_cycle_collection); were it on between them, its first collection would scan
    every object the analysis made (8% of a 64,000-node analysis). Freeing those objects one by
    one as the process ends takes another 4%: the operating system frees them at once. Files the
    command writes are closed by then, and what was registered with atexit runs; under a tracer
    or profiler (coverage, cProfile) the exit is Python's own, where they write their data. Not
    in `main` itself: a caller that goes on (CliRunner) keeps its collector as it was."""
    gc.disable()
    try:
        main()
        code: object = 0
    except SystemExit as e:
        code = e.code
    if code is None:  # what Python's own exit makes of the code
        status = 0
    elif isinstance(code, int):
        status = code
    else:
        print(code, file=sys.stderr)
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a reader that went away (| head), a stream closed
        status = status or 120  # as Python's exit when its flush fails, without its message
    run_exit_functions = getattr(atexit, "_run_exitfuncs", None)
    if sys.gettrace() or sys.getprofile() or run_exit_functions is None:
        sys.exit(status)  # a tracer or profiler (coverage, cProfile) writes its data at exit
    run_exit_functions()  # what was registered to run at exit (logging's flush, finalizers)
    os._exit(status)
