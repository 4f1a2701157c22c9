"""Formulas against bound analyses on the real-export corpus.

    python tools/corpus/formulas_check.py [--only NAME_SUBSTRING]

For each corpus model with dims: one formula analysis (dims unbound, the entry's input values
given), then bound analyses at three bindings (the manifest's, every dim + 1, every dim x 2; a dim named by an
expression follows from its parts, a `total_sequence_length` is past + new);
each figure of `formulas`, evaluated with sympy at the binding, must equal the bound analysis's
total. Formulas the analysis flags as lower bounds (`formulas_status`: a size it could not work
out with the dims unbound, such as a reshape that TorchScript traced with a constant length)
are counted apart. A binding the model cannot take (a bound analysis that is not exact: traced sizes,
fixed encoder lengths) is skipped and counted. Prints one line per model and a summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import sympy

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import CORPUS, load_manifest  # noqa: E402

import onnxcost  # noqa: E402
from onnxcost.analysis import formulas as F  # noqa: E402
from onnxcost.errors import OnnxCostError  # noqa: E402
from onnxcost.model.dims import atoms  # noqa: E402


def check(e: dict) -> tuple[int, int, int, list[str]]:
    """(bindings checked, figures equal, bindings skipped, mismatches)."""
    path = str(CORPUS / e["path"])
    values = {k: np.asarray(v) for k, v in (e.get("input_values") or {}).items()}
    shapes = e.get("input_shapes") or None
    source = onnxcost.analyze(path, input_shapes=shapes, input_values=values, formulas=True)
    if source.totals.lower_bound:  # flagged as lower bounds (formulas_status): not compared
        return -1, 0, 0, [u.reason for u in source.unresolved[:1]]
    forms = F.formulas(source, None)
    base = {k: v for k, v in e["dims"].items() if atoms(k) == [k]}  # expressions follow
    checked = equal = skipped = 0
    bad: list[str] = []
    bindings = [base, {k: v + 1 for k, v in base.items()}, {k: 2 * v for k, v in base.items()}]
    for b in bindings[1:]:  # a total length is past + new, whatever the exporter calls them
        past = next((v for k, v in b.items() if k.startswith("past_seq")), None)
        new = b.get("sequence_length")
        if "total_sequence_length" in b and past is not None and new is not None:
            b["total_sequence_length"] = past + new
    for binding in bindings:
        try:
            bound = onnxcost.analyze(path, dims=binding, input_shapes=shapes, input_values=values)
        except OnnxCostError:  # a binding the model refuses
            skipped += 1
            continue
        if bound.totals.status != "exact":
            skipped += 1
            continue
        checked += 1
        for fig in F.FIGURES:
            if fig not in forms:
                continue
            written = {v: k for k, v in forms.get("symbols", {}).items()}  # name -> identifier
            symbols = {k: sympy.Symbol(written.get(k, k)) for k in binding}
            got = sympy.sympify(forms[fig], locals={str(s): s for s in symbols.values()}).subs(
                {symbols[k]: v for k, v in binding.items()}
            )
            want = getattr(bound.totals, fig)
            if int(got) == want:
                equal += 1
            else:
                bad.append(f"{fig} at {binding}: formula {got} != bound {want}")
    return checked, equal, skipped, bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only")
    a = ap.parse_args()
    totals = [0, 0, 0, 0, 0]
    for e in load_manifest():
        if not e.get("dims") or (a.only and a.only not in e["name"]):
            continue
        try:
            checked, equal, skipped, bad = check(e)
        except Exception as err:  # a model the formula analysis cannot take: say so
            print(f"{e['name']}: formula analysis failed: {type(err).__name__}: {err}")
            totals[3] += 1
            continue
        if checked < 0:
            print(f"{e['name']}: formulas flagged as lower bounds ({bad[0][:80]})")
            totals[4] += 1
            continue
        totals[0] += 1
        totals[1] += checked
        totals[2] += skipped
        status = "ok" if not bad else f"{len(bad)} MISMATCH: {bad[:2]}"
        print(
            f"{e['name']}: {checked} bindings, {equal} figures equal, {skipped} skipped, {status}"
        )
        totals[3] += bool(bad)
    print(
        f"models with exact formulas {totals[0]} (bindings checked {totals[1]}, skipped "
        f"{totals[2]}), with a mismatch or failure {totals[3]}; formulas flagged as lower "
        f"bounds {totals[4]}"
    )


if __name__ == "__main__":
    main()
