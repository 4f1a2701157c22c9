"""The deployment gate: `onnxcost check` (budgets) and `onnxcost diff` (regressions).

Exit codes, for CI: 0 within every budget / no gated regression, 1 a budget exceeded (or a
lower bound that cannot prove it) / a gated metric grew too much, 2 bad input (model, option,
budget file) or a budget that could not be measured; 3 (from the main group) a bug.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from onnxcost.cli.options import model_options
from onnxcost.errors import OnnxCostError, UsageError
from onnxcost.gate import budget as budgets
from onnxcost.gate import check as checks
from onnxcost.gate import ci_output
from onnxcost.gate import diff as diffs
from onnxcost.gate.budget import METRICS, Budget
from onnxcost.gate.check import CheckResult
from onnxcost.report import sanitize
from onnxcost.units import dumps

EXIT_OK, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def load_report(
    path: str,
    dims: dict[str, int] | None = None,
    input_shapes: dict[str, list[int]] | None = None,
    hw: str | None = None,
    input_values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report dict for a model file, with the roofline applied when `hw` is given.

    A `.json` file is taken as a report saved by `onnxcost analyze --format json` (a baseline
    from the last release) and used as it is: dims, shapes and hw do not apply to it.
    """
    p = Path(path)
    if p.suffix.lower() == ".json":
        from onnxcost.gate import baseline

        return baseline.load(p)  # a regular file, validated against the documented structure
    from onnxcost.analysis.analyzer import analyze  # late: keeps `--help` fast

    report = analyze(
        p, dims=dims or None, input_shapes=input_shapes or None, input_values=input_values or None
    )
    if hw:
        report = apply_roofline(report, hw)
    return report.to_dict()


def apply_roofline(report: Any, hw: str) -> Any:
    """The report with per-node and total latency on device `hw` (unknown name: OnnxCostError)."""
    from onnxcost.analysis import roofline
    from onnxcost.hardware import database as hardware

    spec = hardware.get(hw)
    applied = roofline.apply(report, spec)
    return applied if applied is not None else report  # apply() may fill the report in place


def _run_guarded(body: Callable[[], int], on_error: Callable[[str], None]) -> int:
    """Run a command body; bad input -> 'error: ...' (plus JUnit/annotations) and exit 2.
    Anything else propagates to the main group, which reports it as a bug (exit 3)."""
    try:
        return body()
    except OnnxCostError as e:
        on_error(str(e))
    return EXIT_ERROR


def _emit_ci(
    suites: list[ci_output.Suite], files: dict[str, str], junit: str | None, fmt: str
) -> None:
    if junit:
        ci_output.write_junit(junit, suites)
    if ci_output.in_github_actions():
        # stdout is where GitHub reads workflow commands; keep it clean when it carries JSON.
        for line in ci_output.annotations(suites, files):
            click.echo(line, err=fmt == "json")


def _fatal(message: str, title: str, junit: str | None, fmt: str) -> None:
    """A failure before any model was checked: still leave a JUnit file and an annotation."""
    click.echo(sanitize.text(f"error: {message}"), err=True)
    suite = ci_output.Suite(title, [ci_output.Case("onnxcost", "setup", "error", message)], {})
    try:
        _emit_ci([suite], {}, junit, fmt)
    except OnnxCostError as e:
        click.echo(sanitize.text(f"error: {e}"), err=True)


def _max_options(f: Callable[..., Any]) -> Callable[..., Any]:
    examples = {"count": "5G, 30M", "bytes": "100MB, 256MiB", "seconds": "2ms, 500us"}
    for m in reversed(list(METRICS.values())):
        extra = " Needs --hw." if m.name == "latency" else ""
        f = click.option(
            f"--max-{m.name.replace('_', '-')}",
            f"max_{m.name}",
            metavar="N",
            help=f"Limit on {m.label} (e.g. {examples[m.kind]}).{extra}",
        )(f)
    return f


_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Output format.",
)
_JUNIT = click.option(
    "--junit",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="Also write the results as JUnit XML to FILE.",
)


@click.command("check")
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@_max_options
@click.option("--hw", metavar="NAME", help="Device for the roofline (latency budgets).")
@click.option(
    "--budget",
    "budget_file",
    metavar="FILE",
    type=click.Path(dir_okay=False),
    help="TOML budget file; without MODEL, every model listed in it is checked.",
)
@click.option(
    "--allow-uncounted",
    is_flag=True,
    default=None,
    help="Accept a measured value that is only a lower bound (uncounted ops, unbound dims).",
)
@_FORMAT
@_JUNIT
@model_options(values=True)
def check(
    model: str | None,
    hw: str | None,
    budget_file: str | None,
    allow_uncounted: bool | None,
    fmt: str,
    junit: str | None,
    dims: dict[str, int],
    input_shapes: dict[str, list[int]],
    input_values: dict[str, Any],
    **max_values: str | None,
) -> None:
    """Fail (exit 1) when MODEL exceeds a budget; exit 0 when within all, 2 on bad input."""

    def body() -> int:
        cli_budget = budgets.from_options(
            {k.removeprefix("max_"): v for k, v in max_values.items()},
            hw=hw,
            allow_uncounted=allow_uncounted,
            dims=dims,
            input_shapes=input_shapes,
        )
        targets = _targets(model, budget_file, cli_budget)
        results = [_check_one(path, b, input_values) for path, b in targets]
        for res in results:
            if res.error:
                click.echo(sanitize.text(f"error: {res.model}: {res.error}"), err=True)
        if fmt == "json":
            passed = all(r.passed for r in results)
            doc = {"passed": passed, "results": [r.to_dict() for r in results]}
            click.echo(dumps(doc))
        else:
            click.echo(checks.render_table(results))
        _emit_ci(ci_output.check_suites(results), _suite_files(results), junit, fmt)
        if any(r.has_error for r in results):
            return EXIT_ERROR
        return EXIT_OK if all(r.passed for r in results) else EXIT_FAIL

    sys.exit(_run_guarded(body, lambda msg: _fatal(msg, "onnxcost check", junit, fmt)))


def _suite_files(results: list[CheckResult]) -> dict[str, str]:
    return {f"onnxcost check {r.model}": r.model for r in results}


def _targets(model: str | None, budget_file: str | None, cli: Budget) -> list[tuple[str, Budget]]:
    if budget_file:
        bf = budgets.load(budget_file)
        if model:
            targets = [(model, bf.budget_for(model).merged(cli))]
        else:
            listed = [e for e in bf.models if e.path is not None]
            if not listed:
                raise UsageError(
                    f"budget file {budget_file} lists no model with a path: give MODEL"
                )
            targets = [(str(e.path), bf.defaults.merged(e.budget).merged(cli)) for e in listed]
    elif model:
        targets = [(model, cli)]
    else:
        raise UsageError("give a MODEL to check (or --budget FILE listing models)")
    for path, b in targets:
        if not b.limits:
            raise UsageError(f"no budget for {path}: give --max-* options or --budget FILE")
    return targets


def _check_one(path: str, b: Budget, input_values: dict[str, Any] | None = None) -> CheckResult:
    try:
        if "latency" in b.limits and not b.hw and not path.lower().endswith(".json"):
            raise UsageError(
                "a latency budget needs a device: --hw NAME (or hw in the budget file)"
            )
        report = load_report(path, b.dims, b.input_shapes, b.hw, input_values)
    except OnnxCostError as e:
        return CheckResult(path, hw=b.hw, allow_uncounted=bool(b.allow_uncounted), error=str(e))
    return checks.evaluate(report, b, path)


@click.command("diff")
@click.argument("old", type=click.Path(dir_okay=False))
@click.argument("new", type=click.Path(dir_okay=False))
@click.option(
    "--fail-over",
    multiple=True,
    metavar="[METRIC[,METRIC]=]PCT",
    help="Exit 1 when METRIC grew by more than PCT, e.g. flops=5% (repeatable). "
    "A bare PCT gates MACs, FLOPs, parameters, weight bytes, peak memory and latency.",
)
@click.option("--hw", metavar="NAME", help="Device for the roofline (latency deltas).")
@click.option(
    "--allow-uncounted",
    is_flag=True,
    help="Let a gated metric pass when either side is only a lower bound.",
)
@click.option(
    "--top", type=click.IntRange(min=0), default=20, show_default=True, help="Rows shown."
)
@_FORMAT
@_JUNIT
@model_options(values=True)
def diff(
    old: str,
    new: str,
    fail_over: tuple[str, ...],
    hw: str | None,
    allow_uncounted: bool,
    top: int,
    fmt: str,
    junit: str | None,
    dims: dict[str, int],
    input_shapes: dict[str, list[int]],
    input_values: dict[str, Any],
) -> None:
    """Compare OLD and NEW (models, or JSON reports saved by `analyze --format json`)."""

    def body() -> int:
        gates = diffs.parse_fail_over(fail_over)
        a = load_report(old, dims, input_shapes, hw, input_values)
        b = load_report(new, dims, input_shapes, hw, input_values)
        res = diffs.diff_reports(a, b, old, new, gates, allow_uncounted)
        if fmt == "json":
            click.echo(dumps(res.to_dict()))
        else:
            click.echo(diffs.render_table(res, top=top))
        suites = ci_output.diff_suites(res)
        _emit_ci(suites, {suites[0].name: new}, junit, fmt)
        if res.has_error:
            return EXIT_ERROR
        return EXIT_OK if res.passed else EXIT_FAIL

    sys.exit(_run_guarded(body, lambda msg: _fatal(msg, "onnxcost diff", junit, fmt)))
