"""onnxruntime's symbolic shape inference, imported so that nothing is written.

`import onnxruntime` (1.32) loads its native library, whose telemetry code (core/platform/posix/
device_id.cc and the 1DS telemetry client) creates `~/.cache/Microsoft/DeveloperTools/.onnxruntime/`
(or under $XDG_CACHE_HOME) with a `deviceid` file and an `onnxruntime.db` database, at import time:
`onnxruntime.disable_telemetry_events()` comes too late. The native code skips all of it when the
environment variable ORT_DISABLE_TELEMETRY is set when it loads.

So the symbolic inference module, which is plain Python (onnx, numpy, sympy), is loaded straight
from its file without importing the onnxruntime package, and ORT_DISABLE_TELEMETRY=1 is set first
for the one lazy path inside it that imports onnxruntime's native library.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import types
from pathlib import Path

_MODULE = "onnxcost._ort_symbolic_shape_infer"


def disable_telemetry() -> None:
    """Set before onnxruntime's native library loads: it then writes no device id or database."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"


@functools.cache
def import_symbolic_shape_infer() -> types.ModuleType | None:
    """onnxruntime.tools.symbolic_shape_infer, or None when onnxruntime (or sympy) is missing."""
    disable_telemetry()
    if "onnxruntime" in sys.modules:  # already loaded by the caller: nothing more to avoid
        try:
            from onnxruntime.tools import symbolic_shape_infer
        except Exception:
            return None
        return symbolic_shape_infer
    try:
        spec = importlib.util.find_spec("onnxruntime")  # finds the package, imports nothing
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "tools" / "symbolic_shape_infer.py"
    if not path.is_file():
        return None
    module_spec = importlib.util.spec_from_file_location(_MODULE, path)
    if module_spec is None or module_spec.loader is None:
        return None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[_MODULE] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception:  # sympy missing, or a version whose module does not load on its own
        del sys.modules[_MODULE]
        return None
    return module
