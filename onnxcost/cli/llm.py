"""`onnxcost llm`: serving a generative decoder (KV cache, prefill, decode, what fits)."""

from __future__ import annotations

from typing import Any

import click

from onnxcost.analysis import llm as llm_analysis
from onnxcost.cli.options import model_options, write_output
from onnxcost.errors import UsageError
from onnxcost.hardware import database as hardware
from onnxcost.report import sanitize
from onnxcost.units import dumps, format_bytes, format_count, format_seconds


@click.command()
@click.argument("model", type=click.Path(dir_okay=False, path_type=str))
@click.option("--hw", metavar="DEVICE|FILE", help="Device for latency, throughput and fits.")
@click.option(
    "--prompt",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Prompt length P: prefill computes P new tokens with an empty cache.",
)
@click.option(
    "--context",
    type=click.IntRange(min=1),
    default=2048,
    show_default=True,
    help="Context T of the decode step: one new token attends to T positions "
    "(past = T - 1); the cache then holds T tokens.",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Sequences served together.",
)
@click.option(
    "--no-search",
    is_flag=True,
    help="Skip the searches for the longest context, largest batch and compute-bound "
    "batch (each is a handful of analyses).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("-o", "--output", metavar="FILE", help="Write the report to FILE.")
@model_options
def llm(
    model: str,
    hw: str | None,
    prompt: int,
    context: int,
    batch: int,
    no_search: bool,
    fmt: str,
    output: str | None,
    dims: dict[str, int],
    input_shapes: dict[str, list[int]],
) -> None:
    """Serving cost of a decoder with a KV cache, read from MODEL's graph.

    The cache (past inputs -> present outputs), its dims, layers, KV heads, head size, dtype and
    sliding window come from the graph; prefill and decode are analyses of it with those dims
    bound. Other dims (an encoder length) are bound with --dim.
    """
    if input_shapes:
        raise UsageError("llm binds shapes from --prompt/--context/--batch: use --dim for others")
    spec = hardware.get(hw) if hw else None
    result = llm_analysis.study(model, prompt, context, batch, spec, dims, search=not no_search)
    write_output(dumps(result) + "\n" if fmt == "json" else render_table(result), output)


def _b(n: Any) -> str:
    return "?" if n is None else format_bytes(n)


def _c(n: Any) -> str:
    return "?" if n is None else format_count(n)


def _s(n: Any) -> str:
    return "-" if n is None else format_seconds(n)


def render_table(r: dict[str, Any]) -> str:
    c, kv, w = r["cache"], r["kv_cache"], r["weights"]
    pre, dec, fits = r["prefill"], r["decode"], r["fits"]
    lines = [f"model: {r['model']}"]
    if r["device"]:
        lines.append(f"device: {r['device_name']} ({r['device']})")
    lines.append(f"prompt P={r['prompt']}  context T={r['context']}  batch B={r['batch']}")
    lines += [
        "",
        "KV cache (from the graph)",
        f"  recognised by     {', '.join(c['recognised_by'])}: {c['entries']} growing entries"
        + (f", {c['cross_entries']} fixed (cross-attention)" if c["cross_entries"] else ""),
        f"  dims              past={c['past_dim']} new={c['new_dim']} batch={c['batch_dim']}"
        + (f" total={','.join(c['total_dims'])}" if c["total_dims"] else ""),
        f"  layers            {c['layers'] if c['layers'] is not None else '?'}",
        f"  kv heads x size   {c['kv_heads']} x {c['head_size']}  ({c['dtype']})",
        f"  sliding window    {c['window'] if c['window'] else 'none declared'}",
    ]
    if c["merged_branch_input"]:
        lines.append(
            f"  merged decoder    {c['merged_branch_input']}: false for prefill, true for decode"
        )
    lines += [
        f"  per token         {_b(kv['bytes_per_token'])} per sequence ({kv['bytes_per_token']} B)",
        f"  at T, B           {_b(kv['bytes'])}"
        + (
            f" (incl. {_b(kv['static_bytes_per_sequence'])} fixed per sequence)"
            if kv["static_bytes_per_sequence"]
            else ""
        ),
        "",
        f"Weights             {_b(w['bytes'])}, {_c(w['params'])} params: "
        + ", ".join(f"{d['dtype']} {_b(d['bytes'])}" for d in w["by_dtype"]),
        "",
        f"{'':20}{'MACs':>12}{'FLOPs':>12}{'traffic':>12}{'latency':>12}  bound",
    ]
    for label, p in ((f"prefill P={r['prompt']}", pre), (f"decode @T={r['context']}", dec)):
        lines.append(
            f"{label:20}{_c(p['macs']):>12}{_c(p['flops']):>12}"
            f"{_b(p['memory_traffic_bytes']):>12}{_s(p['latency_s']):>12}  {p['bound'] or '-'}"
        )
    lines.append(
        f"  decode per token  {_c(dec['macs_per_token'])} MACs, {_c(dec['flops_per_token'])} FLOPs"
    )
    if r["device"]:
        tps = dec["tokens_per_s"]
        lines += [
            f"  time to first token  {_s(pre['latency_s'])}",
            f"  decode tokens/s      {'-' if tps is None else f'{tps:,.1f}'} for the batch "
            f"(weights + cache over bandwidth alone: {_s(dec['memory_floor_s'])} per step)",
        ]
    if fits:

        def n(v: Any) -> str:
            return "-" if v is None else f"{v:,}"

        lines += [
            "",
            f"Fits in {_b(fits['memory_bytes'])}: needs {_b(fits['required_bytes'])} at T, B "
            f"(weights + KV cache + decode activations): {'yes' if fits['fits'] else 'NO'}",
            f"  max context at B={r['batch']}   {n(fits['max_context'])}",
            f"  max batch at T={r['context']}   {n(fits['max_batch'])}",
            "  compute-bound from batch "
            + (
                n(fits["compute_bound_batch"])
                if fits["compute_bound_batch"]
                else f"- (memory-bound at every batch up to {fits.get('search_caps', {}).get('compute_bound_batch', '?'):,})"
                if "search_caps" in fits
                else "- (not searched)"
            ),
        ]
    if fits and fits.get("why"):
        lines.append(f"  ({fits['why']})")
    for p, name in ((pre, "prefill"), (dec, "decode")):
        if p["status"] != "exact":
            lines.append(f"{name}: {p['status']}: {'; '.join(p['status_reasons'])}")
    for note in r["notes"]:
        lines.append(f"note: {note}")
    for wmsg in r["warnings"]:
        lines.append(f"warning: {wmsg}")
    return "\n".join(sanitize.text(line) for line in lines) + "\n"
