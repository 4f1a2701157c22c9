"""A fuzzing campaign with the figures the README's security section quotes.

    python tools/fuzz_campaign.py inprocess 20000 [--seed N]
    python tools/fuzz_campaign.py cli 1000 [--seed N]

`inprocess`: mutated models (the mutations of tests/test_fuzz.py, including the hostile-text and
bomb-shaped edits) analysed and rendered in this process; each input has 20 s (SIGALRM), and the
process 2 GB of address space. Counted: outcomes, uncaught exceptions, timeouts, peak RSS.

`cli`: each run is `onnxcost analyze|check|diff` in a subprocess under RLIMIT_AS 2 GB and
RLIMIT_CPU 20 s, on a mutated seed or one of the hand-made bombs (tests/bombs.py), with random
formats and flags, GITHUB_ACTIONS=true and HOME pointed at an empty folder. Counted: exit codes,
tracebacks or "internal error" (exit 3), runs killed by a limit (timeouts), the largest child's
peak RSS, files written under HOME, and lines of output that start with forged model text.

Inputs that fail go to ./fuzz-crashes/ (created in the working directory).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from tests import bombs
from tests.test_fuzz import (
    SEEDS,
    check_bytes,
    flip_bytes,
    mutate_fields,
    serialize,
    truncate,
)

LIMIT_BYTES = 2 << 30
LIMIT_CPU = 20
CRASH_DIR = Path("fuzz-crashes")
BOMBS = [
    bombs.undefined_element_type,
    lambda: bombs.nested_if(18),
    bombs.sparse_constant,
    bombs.einsum_two_ellipses,
    lambda: bombs.empty_nodes(10**5),
    lambda: bombs.chain(20_000),
    bombs.huge_relu,
    bombs.nested_loops,
    bombs.einsum_many_letters,
    lambda: bombs.matmul_nbits(bits="four"),
    lambda: bombs.matmul_nbits(block_size=[16]),
    lambda: bombs.matmul_nbits(K=float("inf")),
    bombs.constant_value_ints_wrong_type,
    bombs.hostile_names,
    lambda: bombs.hostile_names(bombs.STOP),
    lambda: bombs.hostile_names(bombs.ANSI),
]


class Chooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


def mutated(rng: random.Random) -> bytes | None:
    ch = Chooser(rng)
    model = rng.choice(SEEDS)()
    kind = rng.choice(("flip", "truncate", "edit", "edit", "edit"))
    if kind == "edit":
        return serialize(mutate_fields(model, ch))
    raw = model.SerializeToString()
    return flip_bytes(raw, ch) if kind == "flip" else truncate(raw, ch)


def _save(data: bytes, note: str) -> Path:
    CRASH_DIR.mkdir(exist_ok=True)
    path = CRASH_DIR / f"crash-{len(list(CRASH_DIR.glob('crash-*.onnx')))}.onnx"
    path.write_bytes(data)
    path.with_suffix(".txt").write_text(note)
    return path


class _Timeout(Exception):
    pass


def _alarm(_signum, _frame):  # type: ignore[no-untyped-def]
    raise _Timeout


def inprocess(n: int, seed: int) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))
    signal.signal(signal.SIGALRM, _alarm)
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n):
            data = mutated(rng)
            if data is None:
                outcomes["unencodable"] += 1
                continue
            signal.alarm(LIMIT_CPU)
            try:
                outcome = check_bytes(data, Path(tmp))
                outcomes[type(outcome).__name__] += 1
            except _Timeout:
                failures["timeout"] += 1
                print(f"[{i}] timeout -> {_save(data, 'timeout')}", flush=True)
            except Exception as e:
                key = f"{type(e).__name__}"
                if not failures[key]:
                    print(f"[{i}] {key}: {str(e)[:200]!r} -> {_save(data, repr(e))}", flush=True)
                failures[key] += 1
            finally:
                signal.alarm(0)
            if (i + 1) % 1000 == 0:
                print(f"{i + 1} inputs, {time.time() - start:.0f} s, {dict(failures)}", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(
        f"in-process: {n} inputs in {time.time() - start:.0f} s; outcomes {dict(outcomes)}; "
        f"uncaught exceptions and timeouts: {dict(failures) or 'none'}; peak RSS {peak} MB"
    )
    return 1 if failures else 0


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (LIMIT_CPU, LIMIT_CPU))
    os.nice(10)


FORGED = ("::error file=README.md", "::stop-commands", "error file=README.md")


def _forged(text: str) -> bool:
    for line in text.splitlines():
        head = line.lstrip().lstrip("|# ")
        if head.startswith(FORGED) or "\x1b" in line:
            return True
    return False


def cli(n: int, seed: int) -> int:
    rng = random.Random(seed)
    codes: Counter[int] = Counter()
    bad: Counter[str] = Counter()
    start = time.time()
    cnn = str(Path(__file__).resolve().parents[1] / "models" / "cnn.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        folder, home = Path(tmp), Path(tmp) / "home"
        home.mkdir()
        env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
        env["GITHUB_ACTIONS"] = "true"
        env.pop("ONNXCOST_DEBUG", None)
        for i in range(n):
            data = rng.choice(BOMBS)() if rng.random() < 0.25 else mutated(rng)
            if data is None:
                continue
            model = folder / "m.onnx"
            model.write_bytes(data)
            fmt = rng.choice(["table", "json", "csv", "markdown"])
            junit = str(folder / "j.xml")
            args = rng.choice(
                [
                    ["analyze", str(model), "--format", fmt, "--per-node"],
                    ["analyze", str(model), "--hw", "a100", "--format", fmt],
                    ["analyze", str(model), "--strict"],
                    ["check", str(model), "--max-macs", "1G", "--junit", junit],
                    ["check", str(model), "--max-latency", "1ms", "--hw", "a100"],
                    ["diff", cnn, str(model), "--fail-over", "5%", "--junit", junit],
                    ["diff", str(model), str(model), "--format", "json"],
                ]
            )
            try:
                res = subprocess.run(
                    [sys.executable, "-c", "from onnxcost.cli.main import main; main()", *args],
                    capture_output=True,
                    text=True,
                    errors="replace",
                    preexec_fn=_limits,
                    env=env,
                    timeout=LIMIT_CPU * 6,
                )
            except subprocess.TimeoutExpired:
                bad["timeout"] += 1
                print(f"[{i}] wall timeout {args[0]} -> {_save(data, str(args))}", flush=True)
                continue
            codes[res.returncode] += 1
            out = res.stdout + res.stderr
            problem = None
            if res.returncode < 0 or res.returncode in (-9, 137, 152):
                problem = f"killed by signal {-res.returncode} (a limit)"
            elif "Traceback" in out or res.returncode == 3:
                problem = "traceback or internal error"
            elif _forged(out):
                problem = "forged line"
            elif args[0] != "analyze" and "--junit" in args and Path(junit).exists():
                import xml.etree.ElementTree as ET

                try:
                    ET.parse(junit)
                except ET.ParseError:
                    problem = "JUnit does not parse"
            if problem:
                if not bad[problem]:
                    note = f"{args}\n{out[-3000:]}"
                    print(f"[{i}] {problem}: {args[0]} -> {_save(data, note)}", flush=True)
                bad[problem] += 1
            if (i + 1) % 100 == 0:
                print(f"{i + 1} runs, {time.time() - start:.0f} s, {dict(bad)}", flush=True)
        written = [str(p) for p in home.rglob("*")]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    print(
        f"command line: {n} runs in {time.time() - start:.0f} s; exit codes {dict(codes)}; "
        f"problems: {dict(bad) or 'none'}; largest child's peak RSS {peak} MB; "
        f"files under HOME: {written or 'none'}"
    )
    return 1 if bad or written else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("inprocess", "cli"))
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.exit((inprocess if args.mode == "inprocess" else cli)(args.count, args.seed))


if __name__ == "__main__":
    main()
