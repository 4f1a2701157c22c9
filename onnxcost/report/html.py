"""The HTML report: one self-contained file (plotly.js and our script inlined, no network).

plotly is an optional extra (`pip install onnxcost[html]`), imported only here. Model text (node,
tensor, module names, notes) reaches the page only as data: one `<script type="application/json">`
block with `<`, `>` and `&` escaped as \\u003c, \\u003e, \\u0026, from which the page builds its
tables with textContent. Strings that plotly draws (labels, hover text) are HTML-escaped as well,
since plotly reads a few tags in them.

Large models stay light: charts hold at most a few thousand marks (the memory timeline keeps the
lowest and highest value of each bucket of steps, the roofline the slowest nodes and an even sample
of the rest, the module treemap stops at the depth that keeps it under MAX_MODULES), and the page
says what it left out.
"""

from __future__ import annotations

import html
import json
from typing import Any

from onnxcost.analysis import modules as modules_mod
from onnxcost.errors import OnnxCostError
from onnxcost.report.records import Report
from onnxcost.units import format_bytes, format_count, format_seconds

MAX_MEMORY_POINTS = 2000  # per schedule line
MAX_ROOFLINE_POINTS = 3000
MAX_MODULES = 1500
TOP_NODES = 30
MAX_LISTED = 200  # rows of each issue list


def _safe(text: str) -> str:
    """Text plotly draws: it interprets <b>, <a href>, entities; show them literally instead."""
    return html.escape(text, quote=False)


def _json_block(data: Any) -> str:
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _plotly_js() -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise OnnxCostError("the HTML report needs plotly: pip install 'onnxcost[html]'") from None
    return get_plotlyjs().replace("</script", "<\\/script")  # never ends our script tag early


def decimate(values: list[int], limit: int) -> list[int]:
    """Indices to keep so a line of `values` keeps its shape: all of them when few, else the
    first, the last, and the lowest and highest of each bucket (so the peak is always kept)."""
    n = len(values)
    if n <= limit:
        return list(range(n))
    buckets = max(1, limit // 2)
    keep = {0, n - 1}
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if lo >= hi:
            continue
        seg = range(lo, hi)
        keep.add(min(seg, key=values.__getitem__))
        keep.add(max(seg, key=values.__getitem__))
    return sorted(keep)


def _summary(report: Report) -> list[list[str]]:
    t = report.totals
    lb = "≥ " if t.lower_bound else ""
    mp = report.memory
    rows = [
        ["MACs", f"{lb}{format_count(t.macs)}", f"{t.macs:,}"],
        ["FLOPs", f"{lb}{format_count(t.flops)}", f"{t.flops:,}"],
        ["parameters", format_count(t.params), f"{t.params:,}"],
        ["model size (weights)", format_bytes(t.weight_bytes), f"{t.weight_bytes:,} bytes"],
        [
            "activations, peak",
            f"{lb}{format_bytes(t.activations_peak_bytes)}",
            f"at {mp.peak_node}" if mp.peak_node else "",
        ],
        ["peak memory estimate", f"{lb}{format_bytes(t.peak_memory_bytes)}", "weights + peak"],
        ["memory traffic", f"{lb}{format_bytes(t.memory_traffic_bytes)}", "read + written"],
        [
            "nodes",
            f"{t.nodes:,}",
            f"{t.uncounted_nodes} uncounted, {t.unresolved_nodes} unresolved",
        ],
    ]
    if mp.best_schedule != "file":
        rows.append(
            [
                "peak, best order found",
                format_bytes(mp.best_peak_bytes),
                f"{mp.best_schedule} schedule, bottleneck {mp.best_peak_node}",
            ]
        )
    hw = report.hardware
    if hw is not None and t.latency_s is not None:
        rows += [
            ["latency (roofline)", format_seconds(t.latency_s), f"sum of nodes on {hw['device']}"],
            [
                "whole-model bound",
                format_seconds(t.latency_bound_s or 0.0),
                f"{hw['bound']}-bound if all compute and traffic overlapped",
            ],
            ["memory-bound share", f"{100 * hw['memory_bound_share']:.1f}%", "of the latency"],
            [
                "fits in device memory",
                "yes" if hw["fits_in_memory"] else "no",
                f"{format_bytes(hw['memory_required_bytes'])} of "
                f"{format_bytes(int(hw['memory_bytes']))}",
            ],
        ]
        for r in hw.get("ridge_points", []):
            rows.append(
                [
                    f"ridge point {r['dtype']} {r['unit']}",
                    f"{r['ridge_flops_per_byte']:.3g} FLOPs/byte",
                    f"{r['peak_unit']} {r['peak_dtype']} peak",
                ]
            )
        for f in hw.get("fallbacks", []):
            rows.append(["fallback", "", f])
    return rows


def _modules(report: Report) -> dict[str, Any]:
    deepest = modules_mod.max_depth(report)
    depth = 1
    mods = modules_mod.aggregate(report, depth=1)
    for d in range(2, deepest + 1):
        more = modules_mod.aggregate(report, depth=d)
        if len(more) > MAX_MODULES:
            break
        depth, mods = d, more
    index = {m.name: k for k, m in enumerate(mods)}
    roofline = report.totals.latency_s is not None
    return {
        "ids": [f"m{k}" for k in range(len(mods))],
        "parents": ["" if m.parent is None else f"m{index[m.parent]}" for m in mods],
        "labels": [_safe(m.name.rsplit("/", 1)[-1]) for m in mods],
        "paths": [_safe(m.name) for m in mods],
        "flops": [m.flops for m in mods],
        "latency_us": [(m.latency_s or 0.0) * 1e6 for m in mods] if roofline else None,
        "depth": depth,
        "max_depth": deepest,
        "count": len(mods),
    }


def _op_types(report: Report) -> dict[str, Any]:
    ops = report.op_types
    roofline = report.totals.latency_s is not None
    return {
        "names": [
            _safe(o.op_type if o.domain in ("", "ai.onnx") else f"{o.domain}:{o.op_type}")
            for o in ops
        ],
        "flops": [o.flops for o in ops],
        "count": [o.count for o in ops],
        "latency_us": [(o.latency_s or 0.0) * 1e6 for o in ops] if roofline else None,
    }


def _memory(report: Report) -> dict[str, Any]:
    mp = report.memory
    names = [report.nodes[i].name for i in mp.step_nodes]

    def line(order: list[int], live: list[int]) -> dict[str, Any]:
        keep = decimate(live, MAX_MEMORY_POINTS)
        return {
            "x": keep,
            "y": [live[k] for k in keep],
            "text": [_safe(names[order[k]]) for k in keep],
        }

    file_line = line(list(range(len(names))), mp.live_bytes)
    best = line(mp.best_order, mp.best_live_bytes) if mp.best_order else None
    out: dict[str, Any] = {
        "steps": len(names),
        "file": file_line,
        "best": best,
        "best_schedule": mp.best_schedule,
        "decimated": len(file_line["x"]) < len(names),
    }
    if mp.peak_step is not None and mp.live_bytes:
        out["peak"] = {
            "step": mp.peak_step,
            "bytes": mp.live_bytes[mp.peak_step],
            "node": _safe(mp.peak_node or ""),
        }
    if best is not None and mp.best_peak_step is not None:
        out["best_peak"] = {
            "step": mp.best_peak_step,
            "bytes": mp.best_live_bytes[mp.best_peak_step],
            "node": _safe(mp.best_peak_node or ""),
        }
    return out


def _roofline(report: Report) -> dict[str, Any] | None:
    hw = report.hardware
    if hw is None:
        return None
    pts = [
        n
        for n in report.nodes
        if n.status != "constant" and n.flops > 0 and n.intensity and n.latency_s
    ]
    shown = pts
    if len(pts) > MAX_ROOFLINE_POINTS:
        ranked = sorted(pts, key=lambda n: n.latency_s or 0.0, reverse=True)
        head = ranked[: MAX_ROOFLINE_POINTS // 3]
        rest = ranked[len(head) :]
        step = len(rest) / (MAX_ROOFLINE_POINTS - len(head))
        shown = head + [rest[int(k * step)] for k in range(MAX_ROOFLINE_POINTS - len(head))]
    bandwidth = hw["memory_bandwidth_Bps"]
    roofs = {}
    for r in hw.get("ridge_points", []):
        roofs[(r["peak_unit"], r["peak_dtype"])] = r["peak_ops_per_s"]
    series = {}
    for bound in ("compute", "memory"):
        sel = [n for n in shown if n.bound == bound]
        series[bound] = {
            "x": [n.intensity for n in sel],
            "y": [n.flops / (n.latency_s or 1.0) for n in sel],
            "text": [f"{_safe(n.name)} ({_safe(n.op_type)})" for n in sel],
        }
    return {
        "device": _safe(hw["device"]),
        "bandwidth": bandwidth,
        "roofs": [
            {"label": _safe(f"{u} {d}"), "peak": p, "ridge": p / bandwidth}
            for (u, d), p in sorted(roofs.items(), key=lambda kv: -kv[1])
        ],
        "series": series,
        "shown": len(shown),
        "total": len(pts),
    }


def _tables(report: Report) -> dict[str, Any]:
    """Raw strings: the page puts them in the DOM with textContent only."""
    roofline = report.totals.latency_s is not None
    ranked = [n for n in report.nodes if n.status != "constant"]
    key = (lambda n: n.latency_s or 0.0) if roofline else (lambda n: (n.macs, n.flops))
    ranked = sorted(ranked, key=key, reverse=True)[:TOP_NODES]
    head = ["node", "op type", "module", "MACs", "FLOPs", "traffic"]
    if roofline:
        head += ["latency", "bound"]
    head.append("status")
    rows = []
    for n in ranked:
        row = [
            n.name,
            n.op_type,
            "/".join(modules_mod.module_path(n)),
            format_count(n.macs),
            format_count(n.flops),
            format_bytes(n.memory_traffic_bytes),
        ]
        if roofline:
            row += [format_seconds(n.latency_s or 0.0), n.bound or ""]
        rows.append([*row, n.status])
    estimated = [
        [n.name, n.op_type, "; ".join(n.notes)]
        for n in report.nodes
        if n.notes and n.status != "constant"
    ]
    return {
        "top": {"head": head, "rows": rows, "by": "latency" if roofline else "MACs"},
        "uncounted": [
            [
                u.op_type if not u.domain else f"{u.domain}:{u.op_type}",
                str(u.count),
                ", ".join(u.nodes[:10]),
            ]
            for u in report.uncounted
        ],
        "unresolved": [[u.tensor, u.node, u.reason] for u in report.unresolved[:MAX_LISTED]],
        "unresolved_total": len(report.unresolved),
        "estimated": estimated[:MAX_LISTED],
        "estimated_total": len(estimated),
        "warnings": list(report.warnings),
    }


def report_data(report: Report) -> dict[str, Any]:
    """Everything the page shows, as plain JSON data."""
    m = report.model
    title = str(m.get("path") or m.get("graph_name") or "model")
    return {
        "title": title,
        "subtitle": (
            f"graph {m.get('graph_name')!r}, producer {m.get('producer') or '?'}"
            + (
                ", dims: " + ", ".join(f"{k}={v}" for k, v in report.dims.items())
                if report.dims
                else ""
            )
        ),
        "lower_bound": report.totals.lower_bound,
        "summary": _summary(report),
        "modules": _modules(report),
        "op_types": _op_types(report),
        "memory": _memory(report),
        "roofline": _roofline(report),
        "tables": _tables(report),
    }


def render_html(report: Report) -> str:
    js = _plotly_js()
    data = _json_block(report_data(report))
    return (
        _PAGE.replace("/*@STYLE@*/", _STYLE)
        .replace("/*@ERRORS@*/", _ERRORS_JS)
        .replace("/*@PLOTLY@*/", js, 1)
        .replace("@DATA@", data, 1)
        .replace("/*@APP@*/", _APP_JS)
    )


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>onnxcost report</title>
<style>/*@STYLE@*/</style>
<script>/*@ERRORS@*/</script>
</head>
<body>
<header><h1 id="title"></h1><p id="subtitle"></p><p id="lower-bound" class="warn" hidden>Totals are lower bounds: some ops were not counted or sizes not resolved (see the last section).</p></header>
<nav><a href="#s-summary">Summary</a> <a href="#s-modules">Modules</a> <a href="#s-ops">Op types</a> <a href="#s-memory">Memory</a> <a href="#s-roofline">Roofline</a> <a href="#s-top">Top nodes</a> <a href="#s-issues">Not counted</a></nav>
<section id="s-summary"><h2>Summary</h2><table id="summary"></table></section>
<section id="s-modules"><h2>Module tree</h2><p class="note" id="modules-note"></p>
<div class="row"><div class="chart" id="treemap-flops"></div><div class="chart" id="treemap-latency"></div></div></section>
<section id="s-ops"><h2>Op types</h2><div class="chart wide" id="ops"></div></section>
<section id="s-memory"><h2>Memory over the schedule</h2><p class="note" id="memory-note"></p><div class="chart wide" id="memory"></div></section>
<section id="s-roofline"><h2>Roofline</h2><p class="note" id="roofline-note"></p><div class="chart wide" id="roofline"></div></section>
<section id="s-top"><h2 id="top-title">Top nodes</h2><table id="top"></table></section>
<section id="s-issues"><h2>Uncounted, unresolved, estimated</h2><div id="issues"></div></section>
<footer>Made by onnxcost. The model was never run: figures are counted from the graph and its shapes.</footer>
<pre id="onnxcost-selfcheck" hidden></pre>
<script>/*@PLOTLY@*/</script>
<script type="application/json" id="onnxcost-data">@DATA@</script>
<script>/*@APP@*/</script>
</body>
</html>
"""

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:0 20px 40px;color:#1f2328}
header h1{font-size:22px;margin:18px 0 2px;word-break:break-all}header p{margin:2px 0;color:#57606a}
nav{position:sticky;top:0;background:#fff;padding:6px 0;border-bottom:1px solid #d0d7de;z-index:5}
nav a{margin-right:14px;color:#0969da;text-decoration:none}
h2{font-size:17px;margin:26px 0 6px;border-bottom:1px solid #eaeef2;padding-bottom:3px}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 10px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th{background:#f6f8fa}.note{color:#57606a;margin:2px 0}.warn{color:#9a6700;font-weight:600}
.row{display:flex;gap:12px;flex-wrap:wrap}.chart{flex:1 1 560px;min-height:460px}.chart.wide{width:100%}
td.name{max-width:520px;word-break:break-all}footer{margin-top:30px;color:#57606a;font-size:12px}
"""

# Before plotly loads: catch every script error for the page's own check.
_ERRORS_JS = """
window.__onnxcostErrors = [];
window.addEventListener('error', function (e) { window.__onnxcostErrors.push(String(e.message || e)); });
window.addEventListener('unhandledrejection', function (e) { window.__onnxcostErrors.push('rejection: ' + String(e.reason)); });
"""

# Our code only: model text arrives through JSON.parse and leaves through textContent or plotly
# (already HTML-escaped by Python).
_APP_JS = r"""
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('onnxcost-data').textContent);
  var marks = {}, expected = {}, pending = [];
  function el(tag, text, cls) { var e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
  function isNum(s) { return /^[\u2265 ]*[-+]?[0-9]/.test(String(s)); }
  function fillTable(table, head, rows, numCols) {
    table.textContent = '';
    if (head) { var tr = el('tr'); head.forEach(function (h) { tr.appendChild(el('th', h)); }); table.appendChild(tr); }
    rows.forEach(function (r) { var tr = el('tr'); r.forEach(function (c, i) { var num = numCols ? numCols.indexOf(i) >= 0 : (i > 0 && isNum(c)); tr.appendChild(el('td', c, num ? 'num' : (i === 0 ? 'name' : ''))); }); table.appendChild(tr); });
  }
  function section(id, text) { document.getElementById(id).textContent = text; }
  function plot(id, traces, layout) {
    layout = Object.assign({margin: {l: 60, r: 20, t: 40, b: 50}, font: {size: 12}}, layout);
    pending.push(Plotly.newPlot(id, traces, layout, {displaylogo: false, responsive: true}));
  }
  function fmtBytes(b) { var u = ['B', 'kB', 'MB', 'GB', 'TB'], k = 0; while (b >= 1000 && k < u.length - 1) { b /= 1000; k++; } return b.toFixed(k ? 1 : 0) + ' ' + u[k]; }

  document.title = 'onnxcost: ' + D.title;
  section('title', 'onnxcost: ' + D.title);
  section('subtitle', D.subtitle);
  document.getElementById('lower-bound').hidden = !D.lower_bound;
  fillTable(document.getElementById('summary'), null, D.summary, [1]);

  // Module tree
  var M = D.modules;
  section('modules-note', M.count + ' modules shown, down to depth ' + M.depth + ' of ' + M.max_depth +
    '. Nodes without a module scope are grouped under <op type>. Click a box to zoom in.');
  function treemap(id, values, title, unit) {
    plot(id, [{type: 'treemap', ids: M.ids, parents: M.parents, labels: M.labels, values: values,
      customdata: M.paths, branchvalues: 'total', maxdepth: 3,
      hovertemplate: '%{customdata}<br>%{value:.4s}' + unit + '<br>%{percentRoot:.1%} of the model<extra></extra>'}],
      {title: {text: title}, margin: {l: 5, r: 5, t: 40, b: 5}});
    expected[id] = 1;
  }
  treemap('treemap-flops', M.flops, 'Modules by FLOPs', ' FLOPs');
  if (M.latency_us) { treemap('treemap-latency', M.latency_us, 'Modules by latency (roofline)', ' us'); }
  else { section('treemap-latency', 'Latency by module: give a device with --hw.'); document.getElementById('treemap-latency').className = 'note'; }

  // Op types
  var O = D.op_types, opTraces = [{type: 'bar', name: 'FLOPs', x: O.names, y: O.flops, offsetgroup: 1, marker: {color: '#4c78a8'}}];
  if (O.latency_us) { opTraces.push({type: 'bar', name: 'latency (us)', x: O.names, y: O.latency_us, yaxis: 'y2', offsetgroup: 2, marker: {color: '#f58518'}}); }
  plot('ops', opTraces, {title: {text: 'FLOPs' + (O.latency_us ? ' and latency' : '') + ' by op type'}, barmode: 'group', margin: {l: 60, r: 70, t: 40, b: 50},
    yaxis: {title: {text: 'FLOPs'}}, yaxis2: {title: {text: 'latency (us)'}, overlaying: 'y', side: 'right', showgrid: false}, legend: {orientation: 'h'}});
  expected['ops'] = O.names.length * opTraces.length;

  // Memory timeline
  var Mem = D.memory, memTraces = [], shapes = [], ann = [];
  function memTrace(line, name, color) {
    return {type: 'scatter', mode: 'lines+markers', name: name, x: line.x, y: line.y, text: line.text,
      line: {color: color, width: 1.5, shape: 'hv'}, marker: {size: 3, color: color},
      hovertemplate: 'step %{x}: %{text}<br>%{y:.4s}B live<extra>' + name + '</extra>'};
  }
  memTraces.push(memTrace(Mem.file, 'file order', '#4c78a8'));
  var memPoints = Mem.file.x.length;
  if (Mem.best) { memTraces.push(memTrace(Mem.best, 'best order found (' + Mem.best_schedule + ')', '#54a24b')); memPoints += Mem.best.x.length; }
  function markPeak(p, label, color) {
    ann.push({x: p.step, y: p.bytes, text: label + ': ' + p.node + ' (' + fmtBytes(p.bytes) + ')', showarrow: true, arrowhead: 2, ax: 40, ay: -30, font: {color: color}});
    shapes.push({type: 'line', x0: p.step, x1: p.step, yref: 'paper', y0: 0, y1: 1, line: {color: color, dash: 'dot', width: 1}});
  }
  if (Mem.peak) markPeak(Mem.peak, 'peak', '#4c78a8');
  if (Mem.best_peak) markPeak(Mem.best_peak, 'best-order peak', '#54a24b');
  section('memory-note', 'Live activation bytes at each of the ' + Mem.steps + ' steps (weights not included).' +
    (Mem.best ? '' : ' The file order is the best order found.') +
    (Mem.decimated ? ' Long schedule: each line keeps the lowest and highest value of each bucket of steps, and the peak.' : ''));
  plot('memory', memTraces, {title: {text: 'Activation memory over the schedule'}, xaxis: {title: {text: 'step'}},
    yaxis: {title: {text: 'live bytes'}}, shapes: shapes, annotations: ann, legend: {orientation: 'h'}});
  expected['memory'] = memPoints;

  // Roofline
  var R = D.roofline;
  if (R) {
    var xs = R.series.compute.x.concat(R.series.memory.x), lo = 0.1, hi = 1000;
    var ridges = R.roofs.map(function (r) { return r.ridge; });
    var all = xs.concat(ridges, [1]);
    lo = Math.min.apply(null, all) / 4; hi = Math.max.apply(null, all) * 4;
    var rt = R.roofs.map(function (r) {
      return {type: 'scatter', mode: 'lines', name: r.label + ' roof (ridge ' + r.ridge.toPrecision(3) + ' FLOPs/B)', hoverinfo: 'skip',
        x: [lo, r.ridge, hi], y: [R.bandwidth * lo, r.peak, r.peak]};
    });
    [['compute', '#d62728'], ['memory', '#1f77b4']].forEach(function (b) {
      var s = R.series[b[0]];
      rt.push({type: 'scatter', mode: 'markers', name: b[0] + '-bound nodes (' + s.x.length + ')', x: s.x, y: s.y, text: s.text,
        marker: {color: b[1], size: 6, opacity: 0.75}, hovertemplate: '%{text}<br>%{x:.3g} FLOPs/B, %{y:.4s}FLOP/s<extra></extra>'});
    });
    section('roofline-note', 'Each node on ' + R.device + ': arithmetic intensity against attained FLOP/s (FLOPs / node latency). ' +
      (R.shown < R.total ? 'Showing ' + R.shown + ' of ' + R.total + ' nodes: the slowest, and an even sample of the rest.' : R.total + ' nodes with work.'));
    plot('roofline', rt, {title: {text: 'Roofline'}, xaxis: {type: 'log', title: {text: 'FLOPs per byte of memory traffic'}},
      yaxis: {type: 'log', title: {text: 'attained FLOP/s'}}, legend: {orientation: 'h'}});
    expected['roofline'] = R.shown;
  } else {
    section('roofline-note', 'Give a device with --hw to see the roofline chart and latencies.');
    document.getElementById('roofline').remove();
  }

  // Tables
  var T = D.tables;
  section('top-title', 'Top ' + T.top.rows.length + ' nodes by ' + T.top.by);
  fillTable(document.getElementById('top'), T.top.head, T.top.rows);
  var issues = document.getElementById('issues');
  function list(title, head, rows, total) {
    issues.appendChild(el('h3', title + ' (' + (total === undefined ? rows.length : total) + ')'));
    if (!rows.length) { issues.appendChild(el('p', 'none', 'note')); return; }
    var t = el('table'); fillTable(t, head, rows); issues.appendChild(t);
    if (total !== undefined && total > rows.length) issues.appendChild(el('p', (total - rows.length) + ' more in the JSON report', 'note'));
  }
  list('Uncounted ops (no cost rule)', ['op type', 'count', 'nodes'], T.uncounted);
  list('Unresolved sizes (not static)', ['tensor', 'node', 'reason'], T.unresolved, T.unresolved_total);
  list('Estimated (the rule notes an assumption)', ['node', 'op type', 'note'], T.estimated, T.estimated_total);
  list('Warnings', ['warning'], T.warnings.map(function (w) { return [w]; }));

  // The page's own check, read by tests: errors caught, marks drawn per chart.
  function count(id) {
    var root = document.getElementById(id); if (!root) return 0;
    if (id.indexOf('treemap') === 0) return root.querySelectorAll('g.slice').length;
    if (id === 'ops') return root.querySelectorAll('g.point').length;
    return root.querySelectorAll('path.point').length;
  }
  Promise.all(pending).then(function () {
    Object.keys(expected).forEach(function (id) { marks[id] = count(id); });
  }, function (e) { window.__onnxcostErrors.push('plot failed: ' + String(e)); }).then(function () {
    var out = document.getElementById('onnxcost-selfcheck');
    out.textContent = JSON.stringify({errors: window.__onnxcostErrors, marks: marks, expected: expected, ms: Math.round(performance.now())});
    out.setAttribute('data-ready', '1');
  });
})();
"""


__all__ = ["decimate", "render_html", "report_data"]
