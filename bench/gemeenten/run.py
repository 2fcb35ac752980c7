"""Benchmark: `explosion-monitor report --alle-gemeenten` on the sample (issue 14: under 120 s).

Runs the real CLI against the development warehouse (EXPLOSION_MONITOR_PG_PORT), which must hold the published
sample (`make demo`, or `explosion-monitor sample && explosion-monitor run`), writing into a temporary folder.

Last line: `pages=<pages written> seconds=<wall-clock seconds> limit_s=120`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT_S = 120


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="em_bench_gemeenten_") as folder:
        env = {**os.environ, "EXPLOSION_MONITOR_REPORTS": folder}
        started = time.monotonic()
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "explosion-monitor"), "report", "--alle-gemeenten"],
            env=env,
            cwd=ROOT,
            check=False,
        )
        seconds = time.monotonic() - started
        pages = len(list((Path(folder) / "gemeenten").glob("GM*.html")))
    if done.returncode != 0:
        print(f"report --alle-gemeenten failed with exit code {done.returncode}", file=sys.stderr)
        return 1
    print(f"pages={pages} seconds={seconds:.1f} limit_s={LIMIT_S}")
    return 0 if seconds < LIMIT_S and pages > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
