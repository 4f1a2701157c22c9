"""Long fuzzing runs of onnxcost's loader and analyzer: the harness of tests/test_fuzz.py, for hours.

Every input must end in a Report or an OnnxCostError; anything else is a bug, saved as a crash file.

With atheris (coverage-guided; `pip install atheris`, Linux, CPython 3.11 wheels):

    python tools/fuzz_atheris.py atheris [corpus_dir] [-- atheris/libFuzzer flags, e.g. -max_total_time=3600]

  Each input is split by its first byte: even -> the rest are the bytes of a model file (the corpus
  is seeded with the valid seed models), odd -> the rest drive field edits of a seed model.

Without atheris, a plain random campaign (no coverage feedback, same mutations):

    python tools/fuzz_atheris.py random [iterations] [--seed N]

Crashes go to ./fuzz-crashes/ (created in the working directory you run this from, never beside a
model): crash-<n>.onnx plus a .txt with the traceback; last-input.onnx is the input being checked
(the culprit when a run hangs or is killed). The random mode caps its address space
(--max-memory-gb, default 4) so that a memory blow-up is recorded as a MemoryError. Reproduce one with
`onnxcost analyze fuzz-crashes/crash-<n>.onnx` (ONNXCOST_DEBUG=1 shows the traceback).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from onnxcost.errors import OnnxCostError
from tests.test_fuzz import (
    SEEDS,
    check_bytes,
    flip_bytes,
    mutate_fields,
    serialize,
    truncate,
)

CRASH_DIR = Path("fuzz-crashes")


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


class BytesChooser:
    """Choices read from fuzzer-provided bytes (atheris' FuzzedDataProvider)."""

    def __init__(self, fdp) -> None:
        self.fdp = fdp

    def int(self, lo: int, hi: int) -> int:
        return self.fdp.ConsumeIntInRange(lo, hi)


def _save_crash(data: bytes, exc: BaseException) -> Path:
    CRASH_DIR.mkdir(exist_ok=True)
    n = len(list(CRASH_DIR.glob("crash-*.onnx")))
    path = CRASH_DIR / f"crash-{n}.onnx"
    path.write_bytes(data)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    path.with_suffix(".txt").write_text(text)
    return path


def _signature(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    frame = next((f for f in reversed(tb) if "onnxcost" in f.filename), tb[-1] if tb else None)
    where = f"{Path(frame.filename).name}:{frame.lineno}" if frame else "?"
    return f"{type(exc).__name__} at {where}"


def _wrapped_rule_crash(outcome: object) -> str | None:
    """The analyzer turns an unexpected exception inside a rule into a ModelError ending in
    "cannot be costed: <repr>": clean for the user, but a bug for the rule's owner to fix."""
    text = str(outcome)
    if not isinstance(outcome, OnnxCostError) or "cannot be costed: " not in text:
        return None
    op = text.split("(", 1)[1].split(")", 1)[0] if "(" in text else "?"
    return f"{op}: {text.split('cannot be costed: ', 1)[1].split('(', 1)[0]}"


def random_campaign(iterations: int, seed: int) -> int:
    rng = random.Random(seed)
    ch = RandomChooser(rng)
    seen: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    rule_crashes: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(iterations):
            model = rng.choice(SEEDS)()
            kind = rng.choice(("flip", "truncate", "edit", "edit"))
            if kind == "edit":
                data = serialize(mutate_fields(model, ch))
                if data is None:
                    continue
            else:
                raw = model.SerializeToString()
                data = flip_bytes(raw, ch) if kind == "flip" else truncate(raw, ch)
            CRASH_DIR.mkdir(exist_ok=True)
            (CRASH_DIR / "last-input.onnx").write_bytes(data)  # survives a hang or a kill
            try:
                outcome = check_bytes(data, folder)
                outcomes[type(outcome).__name__] += 1
                wrapped = _wrapped_rule_crash(outcome)
                if wrapped and not rule_crashes[wrapped]:
                    print(f"[{i}] rule crash (wrapped as ModelError): {outcome}", flush=True)
                if wrapped:
                    rule_crashes[wrapped] += 1
            except Exception as e:  # the bug class we are hunting
                sig = _signature(e)
                if not seen[sig]:
                    path = _save_crash(data, e)
                    print(f"[{i}] NEW {sig}: {str(e)[:200]!r} -> {path}", flush=True)
                seen[sig] += 1
    print(f"{iterations} inputs: {dict(outcomes)}; crashes by kind: {dict(seen) or 'none'}")
    print(f"rule crashes the analyzer wrapped as ModelError: {dict(rule_crashes) or 'none'}")
    return 1 if seen else 0


def atheris_main(argv: list[str]) -> None:
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed: pip install atheris (or use: fuzz_atheris.py random)")
    corpus = Path(argv[0]) if argv and not argv[0].startswith("-") else Path("fuzz-corpus")
    corpus.mkdir(exist_ok=True)
    for k, seed in enumerate(SEEDS):  # even first byte: raw model bytes
        (corpus / f"seed-{k}").write_bytes(b"\x00" + seed().SerializeToString())
    folder = Path(tempfile.mkdtemp())

    def one_input(data: bytes) -> None:
        if not data:
            return
        if data[0] % 2 == 0:
            payload = data[1:]
        else:
            fdp = atheris.FuzzedDataProvider(data[1:])
            ch = BytesChooser(fdp)
            payload = serialize(mutate_fields(SEEDS[ch.int(0, len(SEEDS) - 1)](), ch)) or b""
        try:
            check_bytes(payload, folder)
        except Exception as e:
            _save_crash(payload, e)
            raise

    rest = argv[argv.index("--") + 1 :] if "--" in argv else []
    atheris.instrument_all()  # coverage feedback from onnxcost (and the Python parts of onnx)
    atheris.Setup([sys.argv[0], str(corpus), *rest], one_input)
    atheris.Fuzz()


def _limit_memory(gb: float) -> None:
    try:
        import resource
    except ImportError:  # not on this platform
        return
    limit = int(gb * 2**30)
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("random", "atheris"))
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.mode == "atheris":
        atheris_main(args.rest)
        return
    sub = argparse.ArgumentParser(prog="fuzz_atheris.py random")
    sub.add_argument("iterations", type=int, nargs="?", default=2000)
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument(
        "--max-memory-gb",
        type=float,
        default=4.0,
        help="address-space limit (Linux), so a blow-up is a MemoryError crash, not a dead box",
    )
    opts = sub.parse_args(args.rest)
    _limit_memory(opts.max_memory_gb)
    sys.exit(random_campaign(opts.iterations, opts.seed))


if __name__ == "__main__":
    main()
