"""Check onnxcost against PyTorch's own counters on real architectures exported to ONNX.

    pip install torch onnxscript   # tool dependencies only, not onnxcost's
    python tools/compare_torch.py --out comparison.md
    python tools/compare_torch.py --models resnet18,vit_tiny --exporters dynamo,torchscript

For each model in tools/torch_models.py: MACs = FLOPs / 2 from
`torch.utils.flop_counter.FlopCounterMode`, parameters = `sum(p.numel())` (PyTorch lists a tied
tensor once). The model is exported in eval mode into a temporary folder and analysed with
`onnxcost.analyze`. Models with BatchNorm are exported twice: BN folded into the convs and BN
kept as BatchNormalization. Every parameter difference is explained from the exported file
itself: the weight tensors onnxcost should see are compared, shape by shape, with torch's.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

import onnx
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from torch_models import SEQ, SPECS, randomize_

try:
    import onnxcost
except ImportError:  # run from a checkout without `pip install .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import onnxcost
from onnxcost.report.records import Report

TOLERANCE_PCT = 0.5
TORCHSCRIPT_OPSET = 17
# FlopCounterMode's ops and the ONNX ops that carry the same contractions.
TORCH_GROUPS = {"convolution": "conv", "mm": "matmul", "addmm": "matmul", "bmm": "matmul"}
TORCH_GROUPS |= {"baddbmm": "matmul"}
ONNX_GROUPS = {"Conv": "conv", "ConvTranspose": "conv", "MatMul": "matmul", "Gemm": "matmul"}


# --- torch side --------------------------------------------------------------------------


@dataclass
class TorchCount:
    macs: int
    macs_by_group: dict[str, int]
    params: int
    bn_channels: int  # sum of C over BatchNorm layers
    bn_layers: int
    shapes: Counter[tuple[int, ...]]  # parameter shapes, dims sorted (exporters transpose)


def count_torch(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> TorchCount:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*inputs)
    by_group: Counter[str] = Counter()
    for op, flops in counter.get_flop_counts()["Global"].items():
        name = str(op).split(".")[1]
        by_group[TORCH_GROUPS.get(name, name)] += flops // 2
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    return TorchCount(
        macs=counter.get_total_flops() // 2,
        macs_by_group=dict(by_group),
        params=sum(p.numel() for p in model.parameters()),  # parameters() yields tied ones once
        bn_channels=sum(m.num_features for m in bns),
        bn_layers=len(bns),
        shapes=Counter(tuple(sorted(p.shape)) for p in model.parameters()),
    )


# --- export ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    exporter: str  # dynamo | torchscript
    bn: str | None  # folded | kept | None (no BatchNorm in the model)
    dynamic_seq: bool = False  # sequence axis exported as the symbolic dim "seq"

    @property
    def label(self) -> str:
        extra = f", BN {self.bn}" if self.bn else ""
        return (
            self.exporter
            + extra
            + (f", seq symbolic (--dim seq={SEQ})" if self.dynamic_seq else "")
        )

    @property
    def tag(self) -> str:
        return f"{self.exporter}.{self.bn or 'plain'}{'.dynseq' if self.dynamic_seq else ''}"


def variants(exporters: list[str], has_bn: bool, has_seq: bool) -> list[Variant]:
    out = []
    for e in exporters:
        out += [Variant(e, "folded"), Variant(e, "kept")] if has_bn else [Variant(e, None)]
        if has_seq and e == "dynamo":
            # With a symbolic sequence length nothing shape-dependent can be constant-folded.
            out.append(Variant(e, None, dynamic_seq=True))
    return out


def export(
    model: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    names: list[str],
    v: Variant,
    path: Path,
    seq_axes: dict[str, int] | None = None,
) -> None:
    """Export in eval mode. How BN survives depends on the exporter's settings:

    dynamo: its ONNX optimizer (optimize=True) folds BN into the conv; optimize=False keeps it.
    torchscript: EVAL mode folds BN into the conv; PRESERVE (on an eval model) keeps it.
    """
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if v.exporter == "dynamo":
            dynamic = None
            if v.dynamic_seq and seq_axes:
                seq = torch.export.Dim("seq", max=512)
                dynamic = {name: {axis: seq} for name, axis in seq_axes.items()}
            torch.onnx.export(
                model,
                inputs,
                str(path),
                dynamo=True,
                input_names=names,
                optimize=v.bn != "kept",
                dynamic_shapes=dynamic,
                verbose=False,
            )
        else:
            mode = (
                torch.onnx.TrainingMode.PRESERVE if v.bn == "kept" else torch.onnx.TrainingMode.EVAL
            )
            torch.onnx.export(
                model,
                inputs,
                str(path),
                dynamo=False,
                input_names=names,
                opset_version=TORCHSCRIPT_OPSET,
                training=mode,
            )


# --- reading the exported file directly (independent of onnxcost) ------------------------


@dataclass
class WeightTensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    consumers: tuple[str, ...]


def _is_helper(shape: tuple[int, ...], elem_type: int) -> bool:
    """The conventions' non-parameters: any scalar; integer or bool tensors of rank <= 1."""
    if not shape:
        return True
    np_dtype = onnx.helper.tensor_dtype_to_np_dtype(elem_type)
    return len(shape) <= 1 and np_dtype.kind in "iub"


def file_weights(path: Path) -> list[WeightTensor]:
    """Initializers and Constant-node tensors of the main graph, less scalars and int helpers.

    This is the conventions' parameter set less constants computed by constant-only subgraphs;
    the comparison reports any such extra separately.
    """
    model = onnx.load(str(path), load_external_data=False)
    g = model.graph
    consumers: dict[str, list[str]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.op_type)
    found: list[tuple[str, tuple[int, ...], int]] = [
        (t.name, tuple(t.dims), t.data_type) for t in g.initializer
    ]
    for n in g.node:
        if n.op_type != "Constant":
            continue
        for a in n.attribute:
            if a.name == "value":
                found.append((n.output[0], tuple(a.t.dims), a.t.data_type))
            elif a.name == "value_float":
                found.append((n.output[0], (), onnx.TensorProto.FLOAT))
            elif a.name == "value_floats":
                found.append((n.output[0], (len(a.floats),), onnx.TensorProto.FLOAT))
            elif a.name == "value_int":
                found.append((n.output[0], (), onnx.TensorProto.INT64))
            elif a.name == "value_ints":
                found.append((n.output[0], (len(a.ints),), onnx.TensorProto.INT64))
    return [
        WeightTensor(
            name,
            shape,
            onnx.helper.tensor_dtype_to_np_dtype(et).name,
            tuple(sorted(set(consumers.get(name, [])))),
        )
        for name, shape, et in found
        if not _is_helper(shape, et)
    ]


def shape_diff(tc: TorchCount, weights: list[WeightTensor]) -> tuple[int, list[str]]:
    """Weight tensors in the file but not in torch, and the reverse, as readable lines.

    Shapes are compared with dims sorted, since exporters store Linear weights transposed.
    Returns (elements in the file minus elements in torch, lines).
    """
    onnx_shapes = Counter(tuple(sorted(w.shape)) for w in weights)
    extra = onnx_shapes - tc.shapes
    missing = tc.shapes - onnx_shapes
    lines = []
    delta = 0
    for shape, n in sorted(extra.items(), key=lambda kv: -prod(kv[0]) * kv[1]):
        ws = [w for w in weights if tuple(sorted(w.shape)) == shape]
        dtypes = sorted({w.dtype for w in ws})
        users = sorted({c for w in ws for c in w.consumers})
        copy = "; torch has this shape too: a second copy" if shape in tc.shapes else ""
        lines.append(
            f"+{n} x {'/'.join(dtypes)}{list(shape)} (used by {', '.join(users) or 'nothing'}{copy})"
        )
        delta += n * prod(shape)
    for shape, n in sorted(missing.items(), key=lambda kv: -prod(kv[0]) * kv[1]):
        lines.append(f"-{n} x {list(shape)}")
        delta -= n * prod(shape)
    return delta, lines


# --- the comparison ----------------------------------------------------------------------


@dataclass
class Row:
    model: str
    variant: str
    torch_macs: int
    onnx_macs: int | None
    torch_params: int
    onnx_params: int | None
    explanation: str
    ok: bool
    details: list[str] = field(default_factory=list)

    @property
    def diff_pct(self) -> float | None:
        if self.onnx_macs is None:
            return None
        return 100.0 * (self.onnx_macs - self.torch_macs) / self.torch_macs


def bn_expectation(tc: TorchCount, v: Variant) -> tuple[int, str]:
    """The parameter change the BN treatment alone explains (convs before BN have no bias)."""
    c, n = tc.bn_channels, tc.bn_layers
    if v.bn == "folded":
        return -c, (
            f"BN folded into the preceding conv: each of the {n} convs gains a bias of Cout "
            f"(+{c:,}) and BN's weight and bias go (-{2 * c:,}): net -sum(C) = -{c:,}"
        )
    if v.bn == "kept":
        return 2 * c, (
            f"BN kept: running_mean and running_var of the {n} BN layers are graph constants "
            f"too: +2 x sum(C) = +{2 * c:,}"
        )
    return 0, "identical"


def compare(name: str, v: Variant, tc: TorchCount, path: Path, report: Report) -> Row:
    details: list[str] = []
    totals = report.totals
    onnx_macs, onnx_params = totals.macs, totals.params

    # MACs, by the group of ops that carries them.
    onnx_groups: Counter[str] = Counter()
    for o in report.op_types:
        if o.macs:
            onnx_groups[ONNX_GROUPS.get(o.op_type, o.op_type)] += o.macs
    for g in sorted(set(onnx_groups) | set(tc.macs_by_group)):
        a, b = tc.macs_by_group.get(g, 0), onnx_groups.get(g, 0)
        if a != b:
            details.append(f"MACs in {g}: torch {a:,}, onnxcost {b:,} ({b - a:+,})")
    if totals.uncounted_nodes:
        un = ", ".join(f"{u.op_type} x{u.count}" for u in report.uncounted)
        details.append(f"onnxcost left uncounted: {un}")
    if totals.unresolved_nodes:
        ops = Counter(n.op_type for n in report.nodes if n.status == "unresolved")
        first = report.unresolved[0]
        details.append(
            f"onnxcost marks {totals.unresolved_nodes} nodes unresolved "
            f"({', '.join(f'{op} x{k}' for op, k in ops.items())}; first: tensor {first.tensor} "
            f"at {first.node}: {first.reason}), so its totals are lower bounds"
        )
    diff_pct = 100.0 * (onnx_macs - tc.macs) / tc.macs
    macs_ok = abs(diff_pct) <= TOLERANCE_PCT

    # Parameters: torch + what the export did, checked against the tensors in the file.
    expected_delta, bn_text = bn_expectation(tc, v)
    weights = file_weights(path)
    file_delta, lines = shape_diff(tc, weights)
    file_params = sum(prod(w.shape) for w in weights)
    delta = onnx_params - tc.params
    if delta == 0:
        explanation = "exact"
    elif delta == expected_delta:
        explanation = bn_text
    else:
        parts = [bn_text] if v.bn else []
        parts.append(f"export artifacts {delta - expected_delta:+,}: " + "; ".join(lines))
        explanation = "; ".join(parts)
    # Agreement means: onnxcost counts exactly the weight tensors in the file, and those differ
    # from torch's parameters by what the export did (the BN rule, or tensors listed above).
    params_ok = file_params == onnx_params and file_delta == delta
    if file_params != onnx_params:
        details.append(
            f"onnxcost counts {onnx_params:,} params but the file's initializers and Constant "
            f"nodes (less scalars and int helpers) hold {file_params:,} ({onnx_params - file_params:+,})"
        )
    if file_delta != delta:
        details.append("weight tensors in the file vs torch: " + "; ".join(lines))
    return Row(
        name,
        v.label,
        tc.macs,
        onnx_macs,
        tc.params,
        onnx_params,
        explanation,
        macs_ok and params_ok,
        details,
    )


def _fmt(n: int | None) -> str:
    return "n/a" if n is None else f"{n:,}"


def markdown(rows: list[Row]) -> str:
    head = (
        "| model | export | torch MACs | onnxcost MACs | diff % | torch params | "
        "onnxcost params | params diff | explanation |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---|\n"
    )
    body = ""
    for r in rows:
        pct = "n/a" if r.diff_pct is None else f"{r.diff_pct:+.3f}"
        pdiff = "n/a" if r.onnx_params is None else f"{r.onnx_params - r.torch_params:+,}"
        body += (
            f"| {r.model} | {r.variant} | {_fmt(r.torch_macs)} | {_fmt(r.onnx_macs)} | {pct} | "
            f"{_fmt(r.torch_params)} | {_fmt(r.onnx_params)} | {pdiff} | {r.explanation} |\n"
        )
    notes = [f"- {r.model} ({r.variant}): {d}" for r in rows for d in r.details]
    if notes:
        body += "\nDetails:\n\n" + "\n".join(notes) + "\n"
    return head + body


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Compare onnxcost with PyTorch's counters.")
    ap.add_argument("--out", type=Path, help="write the markdown table to this file")
    ap.add_argument("--models", default=",".join(SPECS), help="comma-separated, from: %(default)s")
    ap.add_argument(
        "--exporters",
        default="dynamo",
        help="comma-separated: dynamo, torchscript (default dynamo)",
    )
    ap.add_argument("--keep", type=Path, help="keep the exported .onnx files in this folder")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    exporters = [e.strip() for e in args.exporters.split(",") if e.strip()]
    if unknown := set(exporters) - {"dynamo", "torchscript"}:
        ap.error(f"unknown exporter(s): {', '.join(sorted(unknown))}")
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if unknown := set(names) - set(SPECS):
        ap.error(f"unknown model(s): {', '.join(sorted(unknown))}")

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="onnxcost-torch-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            model, inputs, input_names = SPECS[name].build()
            randomize_(model)
            tc = count_torch(model, inputs)
            spec = SPECS[name]
            for v in variants(exporters, tc.bn_layers > 0, spec.seq_axes is not None):
                path = folder / f"{name}.{v.tag}.onnx"
                t0 = time.perf_counter()
                export(model, inputs, input_names, v, path, spec.seq_axes)
                t1 = time.perf_counter()
                report = onnxcost.analyze(path, dims={"seq": SEQ} if v.dynamic_seq else None)
                t2 = time.perf_counter()
                row = compare(name, v, tc, path, report)
                rows.append(row)
                print(
                    f"{name:13s} {v.label:24s} MACs {row.diff_pct:+.3f}%  params "
                    f"{row.onnx_params - row.torch_params:+,}  {'ok' if row.ok else 'CHECK'}  "
                    f"(export {t1 - t0:.1f}s, analyze {t2 - t1:.1f}s)",
                    file=sys.stderr,
                    flush=True,
                )
                if not args.keep:
                    for f in folder.glob(f"{path.name}*"):
                        f.unlink()
    table = markdown(rows)
    print(table)
    if args.out:
        args.out.write_text(table)
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
