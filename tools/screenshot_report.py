"""Open an onnxcost HTML report in headless Chromium: print the page's own check (script errors,
marks drawn per chart, milliseconds until every chart was drawn) and optionally save a screenshot.

    python tools/screenshot_report.py report.html                      # check only
    python tools/screenshot_report.py report.html --png docs/report.png --height 2400

To make the README's screenshot from a shipped model:

    onnxcost analyze models/transformer_block.onnx --dim batch=1 --dim seq=128 --hw a100 \\
        --format html -o /tmp/report.html
    python tools/screenshot_report.py /tmp/report.html --png docs/report.png

Needs Debian's `chromium` (apt-get install chromium). Nothing leaves the machine: the report is
self-contained and Chromium runs with networking features off.
"""

from __future__ import annotations

import argparse
import html as html_module
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


def run(html: Path, extra: list[str], budget_ms: int = 20000, timeout: int = 120) -> str:
    exe = chromium()
    if exe is None:
        raise SystemExit("chromium not found: apt-get install chromium")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}"]
        res = subprocess.run(
            [*cmd, *extra, html.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    return res.stdout


def self_check(html: Path) -> dict:
    """The JSON the page writes into #onnxcost-selfcheck once its charts are drawn.

    Headless Chromium on a loaded 2-core machine sometimes dumps the DOM before the page has
    run at all (an empty dump): up to three tries, then the error."""
    for _ in range(3):
        dom = run(html, ["--dump-dom"])
        m = re.search(r'<pre id="onnxcost-selfcheck"[^>]*data-ready="1"[^>]*>([^<]*)</pre>', dom)
        if m is not None:
            return json.loads(html_module.unescape(m.group(1)))
    raise RuntimeError("the page never finished drawing (no self-check in the DOM)")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("html", type=Path)
    ap.add_argument("--png", type=Path, help="save a screenshot of the page's top to this file")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=2400)
    args = ap.parse_args()
    check = self_check(args.html)
    print(json.dumps(check))
    if args.png:
        run(
            args.html,
            [f"--window-size={args.width},{args.height}", f"--screenshot={args.png.resolve()}"],
        )
        print(f"screenshot -> {args.png}")
    sys.exit(1 if check["errors"] else 0)


if __name__ == "__main__":
    main()
