"""Every model shipped in the onnx wheel's backend test data analyses cleanly.

For each model: no crash, no uncounted node, and the shape onnxcost infers for every tensor
graph output equals the shape of the stored reference output (test_data_set_0/output_*.pb; for
light/ the *_output_0.pb beside the model). real/ holds only download stubs (data.json) in the
wheel, and node/ is not shipped: whatever has no model.onnx is skipped.
"""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from onnxcost.analysis.analyzer import analyze

DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
SUITES = ("light", "real", "simple", "pytorch-converted", "pytorch-operator", "node")

# Models whose failure is known and reported; strict: a fix makes the test fail until removed.
KNOWN_FAILURES: dict[str, str] = {}
# Output dims that depend on the values of runtime inputs: no static analysis can know them, so
# the honest answer is a dim that is not static (and a visible lower bound), not the reference.
VALUE_DEPENDENT: dict[str, set[int]] = {
    # SequenceInsert at position `pos`, then SequenceAt `pos_at`: which tensor comes out (and so
    # its first dim) is decided by two graph inputs.
    "simple/test_sequence_model1": {0},
}


def _cases() -> list[tuple[str, Path, list[Path]]]:
    cases = []
    for model in sorted((DATA / "light").glob("*.onnx")):
        cases.append((f"light/{model.stem}", model, [model.with_name(model.stem + "_output_0.pb")]))
    for suite in SUITES[1:]:
        for d in sorted(p for p in (DATA / suite).glob("*") if p.is_dir()):
            model = d / "model.onnx"
            if model.exists():
                refs = sorted((d / "test_data_set_0").glob("output_*.pb"))
                cases.append((f"{suite}/{d.name}", model, refs))
    return cases


CASES = _cases()


def _param(case: tuple[str, Path, list[Path]]) -> object:
    name = case[0]
    reason = KNOWN_FAILURES.get(name)
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(*case, id=name, marks=marks)


def test_the_wheel_ships_models() -> None:
    assert len(CASES) > 100


@pytest.mark.parametrize(("name", "model", "refs"), [_param(c) for c in CASES])
def test_backend_model(name: str, model: Path, refs: list[Path]) -> None:
    report = analyze(model)
    assert report.totals.uncounted_nodes == 0, [(u.op_type, u.count) for u in report.uncounted]

    graph_outputs = onnx.load(model, load_external_data=False).graph.output
    assert len(report.outputs) == len(graph_outputs)
    for i, ref in enumerate(refs):
        if not graph_outputs[i].type.HasField("tensor_type"):
            continue  # sequence/optional/map outputs have no single shape
        tensor = onnx.TensorProto()
        tensor.ParseFromString(ref.read_bytes())
        got = report.outputs[i]
        if i in VALUE_DEPENDENT.get(name, ()):
            assert got.shape is not None and not isinstance(got.shape[0], int), got.shape
            assert got.shape[1:] == list(tensor.dims)[1:]
            continue
        assert got.shape == list(tensor.dims), f"output {i} {got.name!r}"
