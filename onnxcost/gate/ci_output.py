"""Results in the shapes CI systems read: JUnit XML and GitHub Actions annotations.

JUnit: one <testsuite> per model (or per diff), one <testcase> per budget or gated metric;
an exceeded budget is a <failure>, a value that could not be measured (or a model that could
not be analysed) an <error>. GitHub Actions: one `::error` line per failure, `::warning` for
a lower bound that was accepted; emitted only when GITHUB_ACTIONS=true.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from onnxcost.errors import OnnxCostError
from onnxcost.gate.check import CheckResult
from onnxcost.gate.diff import DiffResult
from onnxcost.report import sanitize


@dataclass
class Case:
    classname: str
    name: str
    status: str  # pass | fail | error
    message: str = ""  # one line: the failure/error message
    details: str = ""  # longer text inside the element


@dataclass
class Suite:
    name: str
    cases: list[Case]
    properties: dict[str, str]


def _classname(model: str) -> str:
    # JUnit viewers split class names on dots: keep the model's name in one piece.
    stem = Path(model).name.removesuffix(".onnx").removesuffix(".json") or "model"
    return stem.replace(".", "_")


def check_suites(results: list[CheckResult]) -> list[Suite]:
    suites = []
    for res in results:
        cls = f"onnxcost.check.{_classname(res.model)}"
        cases = []
        if res.error is not None:
            cases.append(Case(cls, "analyze", "error", res.error))
        for r in res.rows:
            detail = f"limit {r.limit_text} ({r.limit}) from {r.source}; measured {r.measured}"
            if r.margin is not None:
                detail += f"; margin {r.margin}"
            message = f"{r.label}: {r.reason}" if r.reason else ""
            cases.append(Case(cls, f"{r.metric} <= {r.limit_text}", r.status, message, detail))
        props = {
            "model": res.model,
            "allow_uncounted": str(res.allow_uncounted).lower(),
        }
        if res.hw:
            props["hw"] = res.hw
        suites.append(Suite(f"onnxcost check {res.model}", cases, props))
    return suites


def diff_suites(res: DiffResult) -> list[Suite]:
    cls = f"onnxcost.diff.{_classname(res.new)}"
    cases = []
    for g in res.gate:
        detail = f"old {g.old}; new {g.new}; growth {g.growth_pct}%; allowed {g.allowed_pct}%"
        message = f"{g.label}: {g.reason}" if g.reason else ""
        cases.append(
            Case(
                cls,
                f"{g.metric} growth <= {g.allowed_pct:g}%",
                g.status,
                message,
                detail,
            )
        )
    return [
        Suite(
            f"onnxcost diff {res.old} -> {res.new}",
            cases,
            {"old": res.old, "new": res.new},
        )
    ]


def _x(s: str) -> str:
    # model text: one line, and only characters XML 1.0 can hold (else the file does not parse)
    return sanitize.xml(sanitize.text(s))


def junit_xml(suites: list[Suite]) -> str:
    """The JUnit XML document (as text, with an XML declaration)."""
    suites = [
        Suite(
            _x(s.name),
            [
                Case(_x(c.classname), _x(c.name), c.status, _x(c.message), _x(c.details))
                for c in s.cases
            ],
            {_x(k): _x(v) for k, v in s.properties.items()},
        )
        for s in suites
    ]
    root = ET.Element("testsuites", name="onnxcost")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in suites:
        failures = sum(c.status == "fail" for c in suite.cases)
        errors = sum(c.status == "error" for c in suite.cases)
        el = ET.SubElement(
            root,
            "testsuite",
            name=suite.name,
            tests=str(len(suite.cases)),
            failures=str(failures),
            errors=str(errors),
            skipped="0",
            time="0",
        )
        if suite.properties:
            props = ET.SubElement(el, "properties")
            for k, v in suite.properties.items():
                ET.SubElement(props, "property", name=k, value=v)
        for c in suite.cases:
            case = ET.SubElement(el, "testcase", classname=c.classname, name=c.name, time="0")
            if c.status == "fail":
                ET.SubElement(
                    case, "failure", message=c.message, type="BudgetExceeded"
                ).text = c.details
            elif c.status == "error":
                ET.SubElement(case, "error", message=c.message, type="NotMeasured").text = c.details
            elif c.message:
                ET.SubElement(case, "system-out").text = c.message
        totals["tests"] += len(suite.cases)
        totals["failures"] += failures
        totals["errors"] += errors
    for k, v in totals.items():
        root.set(k, str(v))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(path: str | Path, suites: list[Suite]) -> None:
    try:
        Path(path).write_text(junit_xml(suites), encoding="utf-8")
    except OSError as e:
        raise OnnxCostError(f"--junit {path}: cannot write it ({e.strerror or e})") from None


# --- GitHub Actions ------------------------------------------------------------------------


def in_github_actions(env: Mapping[str, str] | None = None) -> bool:
    return (os.environ if env is None else env).get("GITHUB_ACTIONS") == "true"


def annotation(level: str, message: str, title: str, file: str | None = None) -> str:
    """One workflow command line, e.g. '::error file=m.onnx,title=...::message'."""
    props = []
    if file:
        props.append(f"file={sanitize.workflow_property(file)}")
    props.append(f"title={sanitize.workflow_property(title)}")
    return f"::{level} {','.join(props)}::{sanitize.workflow_data(message)}"


def annotations(suites: list[Suite], files: Mapping[str, str] | None = None) -> list[str]:
    """`::error` for each failed or errored case, `::warning` for a passing case with a note
    (a lower bound that --allow-uncounted accepted). `files` maps suite name -> file to annotate."""
    lines = []
    for suite in suites:
        file = (files or {}).get(suite.name)
        for c in suite.cases:
            title = f"{suite.name}: {c.name}"
            if c.status in ("fail", "error"):
                lines.append(annotation("error", c.message or c.status, title, file))
            elif c.message:
                lines.append(annotation("warning", c.message, title, file))
    return lines
