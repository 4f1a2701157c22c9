"""Model text made safe to print: every renderer passes the author's strings through here.

Node, tensor and dim names, op types, domains, doc strings and the model's path are chosen by
whoever wrote the model, and onnxcost prints them where other programs read them: terminals
(escape sequences), CI logs (GitHub workflow commands start a line with `::`), spreadsheets (a
CSV cell starting with `=` is a formula) and XML parsers (control characters are not allowed).

- `text(s)`: for tables, markdown, error lines and headers. Escape sequences (ANSI CSI, OSC) are
  removed; every other control or line-breaking character becomes a visible escape such as `\\n`,
  so model text can never end a line or start a new one; text that would read as a workflow
  command (`::`, or the older `##[`) is prefixed with a quote.
- `cell(s)`: `text` plus OWASP's CSV rule: a cell starting with `= + - @`, tab or CR gets a
  leading `'` (numbers are written as numbers and never pass through here).
- `markdown(s)`: `text` with `|` escaped (a cell boundary) and `<`, `>` as entities.
- `xml(s)`: removes what XML 1.0 cannot hold (C0 controls except tab/LF/CR, surrogates, U+FFFE/F).
- `workflow_data(s)` / `workflow_property(s)`: GitHub's escaping for a command's message and for
  its `key=value` properties (`%`, CR, LF; and `:` `,` in properties); escape sequences and the
  other controls are removed or made visible as in `text`.
"""

from __future__ import annotations

import re

# The patterns are compiled on first use (re caches them): most text is printable and never
# needs them, and compiling all three took most of this module's import time.
# CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ST), and any other two-byte ESC sequence;
# also their 8-bit forms (U+009B CSI, U+009D OSC).
_ESCAPES = (
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
)
# C0 and C1 controls, DEL, and the other characters terminals or editors treat as line breaks or
# as text-direction overrides (which can make a printed name read as something else); lone
# surrogates (a path that is not UTF-8) cannot be encoded for printing at all.
_CONTROLS = "[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_COMMAND_START = ("::", "##[")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XML_FORBIDDEN = "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"


def _visible(m: re.Match[str]) -> str:
    c = m.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def _printable(s: object, keep: str = "") -> str:
    out = str(s)
    if out.isprintable():  # fast path: most names are plain
        return out
    out = re.sub(_ESCAPES, "", out)
    return re.sub(_CONTROLS, lambda m: m.group() if m.group() in keep else _visible(m), out)


def text(s: object) -> str:
    """One line of printable text, never a terminal escape or a workflow command."""
    out = _printable(s)
    if out.lstrip().startswith(_COMMAND_START) or "##[" in out:
        out = "'" + out.replace("##[", "#\\#[")
    return out


def cell(s: object) -> str:
    """A CSV text cell: `text`, and never a spreadsheet formula."""
    out = text(s)
    return "'" + out if out.startswith(_FORMULA_START) else out


def markdown(s: object) -> str:
    """A markdown table cell: `text`, with no cell break and no HTML."""
    return text(s).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def xml(s: object) -> str:
    """Text an XML 1.0 document can hold (forbidden characters become visible escapes)."""
    return re.sub(_XML_FORBIDDEN, lambda m: f"\\x{ord(m.group()):02x}", str(s))


def workflow_data(s: object) -> str:
    """The message of a GitHub workflow command (`::error ...::MESSAGE`)."""
    # CR and LF stay to be %-escaped as the rules say; a message can never leave its line.
    out = _printable(s, keep="\r\n")
    return out.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def workflow_property(s: object) -> str:
    """A property value of a GitHub workflow command (`file=VALUE,title=VALUE`)."""
    return workflow_data(s).replace(":", "%3A").replace(",", "%2C")
