"""Fuzz: many generated partner drops through the parser and validator, without a database.

The property of tests/test_fuzz.py, for much longer and without stopping at the first failure:
every drop (arbitrary bytes, and contract files with hostile cells, headers, delimiters,
encodings and byte damage; strategies in tests/fuzz_strategies.py) is accepted with a row count
or rejected with a report a partner can read, the same with tiny blocks and batches, and nothing
raises. Progress and the first failures (input and exception) go to stderr.

Last line on stdout: `fuzz_cases=<n> fuzz_failures=<n>`; exits 1 when any case failed.
`run(cases, seconds, seed)` returns the same figures as a dict, for bench/reliability/run.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_strategies import any_drop, check_drop  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as with_seed

SHOWN = 5  # failures printed in full
PROGRESS_EVERY = 10.0  # seconds


class _TimeUp(Exception):
    """Ends the run early; hypothesis passes it through as the test's failure."""


def run(cases: int = 20_000, seconds: float = 600.0, seed: int = 0, log=sys.stderr, dump: Path | None = None) -> dict:
    """Judge up to `cases` drops in at most about `seconds`; every failure is counted, none stops the run.

    With `dump`, each failing drop's bytes are written there (failure-<n>-<feed>.bin), to replay it."""
    done = 0
    failures: list[dict] = []
    start = last = time.monotonic()

    def one(drop) -> None:
        nonlocal done, last
        now = time.monotonic()
        if now - start > seconds:
            raise _TimeUp
        done += 1
        try:
            check_drop(drop)
        except Exception as exc:
            failures.append(
                {
                    "input": repr(drop)[:500],
                    "error": f"{type(exc).__name__}: {str(exc)[:1500]}",
                    "where": "".join(traceback.format_tb(exc.__traceback__)[-3:]),
                }
            )
            if dump:
                dump.mkdir(parents=True, exist_ok=True)
                (dump / f"failure-{len(failures)}-{drop.feed}.bin").write_bytes(drop.data)
            if len(failures) <= SHOWN:
                print(
                    f"FAILURE {len(failures)}: {failures[-1]['input']}\n{failures[-1]['where']}"
                    f"{failures[-1]['error']}\n",
                    file=log,
                )
        if now - last >= PROGRESS_EVERY:
            last = now
            print(f"fuzz: {done} cases, {len(failures)} failures, {now - start:.0f} s", file=log)

    # Generation only: no shrinking (nothing raises to shrink), no example database, fixed seed.
    test = with_seed(seed)(
        settings(
            max_examples=cases,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )(given(any_drop())(one))
    )
    try:
        test()
    except _TimeUp:
        pass
    elapsed = time.monotonic() - start
    print(f"fuzz: {done} cases, {len(failures)} failures, {elapsed:.0f} s (seed {seed})", file=log)
    return {
        "fuzz_cases": done,
        "fuzz_failures": len(failures),
        "seconds": round(elapsed, 1),
        "failures": failures[:SHOWN],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON before the last line")
    parser.add_argument("--dump", type=Path, help="write each failing drop's bytes into this folder")
    args = parser.parse_args()
    result = run(args.cases, args.seconds, args.seed, dump=args.dump)
    if args.json:
        print(json.dumps(result))
    print(f"fuzz_cases={result['fuzz_cases']} fuzz_failures={result['fuzz_failures']}")
    return 1 if result["fuzz_failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
