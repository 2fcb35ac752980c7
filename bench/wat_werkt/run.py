"""Benchmark of "what works": the analysis run's time on the sample, and the null check of the method.

Needs a warehouse with the sample published (`make demo`, or `explosion-monitor sample` and `explosion-monitor
run`); reads and writes only the analysis tables.

1. Runs the whole analysis run (`run_analysis`: every step into analysis_build, the blocking suites, publication)
   `--repeats` times and reports the median seconds (`analysis_s`) and the wat_werkt step's own (`wat_werkt_s`).
   The issue's budget is 60 s on the sample data. The machine's load average is reported with it.
2. The null check (`analysis.wat_werkt_nulcheck`): `--runs` seeded runs (1..runs) of placebo measures with random
   start dates on areas no measure ever touched, through the production estimate; counts the runs whose oordeel is
   minder_aanslagen or meer_aanslagen (the issue allows at most 5 of 50). Per-run rows go to bench/out/wat_werkt/.

Last line: `analysis_s=… analysis_cpu_s=… wat_werkt_s=… load=… nulcheck_runs=… nulcheck_verdicts=… nulcheck_te_weinig=…`
(analysis_cpu_s: the CPU seconds of the run's own process, a measure that does not depend on other load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import psycopg

from explosion_monitor import quality
from explosion_monitor.analysis import wat_werkt_nulcheck, wat_werkt_panel
from explosion_monitor.analysis.runner import run_analysis
from explosion_monitor.config import get_settings

OUT = Path(__file__).resolve().parents[1] / "out" / "wat_werkt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="null-check runs (seeds 1..runs)")
    parser.add_argument("--repeats", type=int, default=1, help="timed analysis runs (0: none)")
    parser.add_argument("--first-seed", type=int, default=1, help="first null-check seed (to split the runs)")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    url = quality.warehouse_url(settings, None)

    totals, steps, cpu = [], [], []
    for _ in range(args.repeats):
        started, cpu_started = time.monotonic(), time.process_time()
        result = run_analysis(settings, url)
        totals.append(time.monotonic() - started)
        cpu.append(time.process_time() - cpu_started)  # this process's CPU: what the run costs without other load
        steps.append(next(s["seconds"] for s in result.steps if s["step"] == "wat_werkt"))
    load = os.getloadavg()[0]
    timing = (
        f"analysis_s={statistics.median(totals):.1f} analysis_cpu_s={statistics.median(cpu):.1f} "
        f"wat_werkt_s={statistics.median(steps):.1f} "
        if totals
        else ""
    )
    print(f"analysis run: {timing or 'not timed'}, load average {load:.1f}", flush=True)

    with psycopg.connect(url, autocommit=True) as conn:
        data = wat_werkt_panel.read(conn)
    if data is None:
        raise SystemExit("No published police data: run `make demo` first.")
    rows = []
    for row in wat_werkt_nulcheck.run(data, range(args.first_seed, args.first_seed + args.runs)):
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)
    (OUT / f"nulcheck_{args.first_seed}.json").write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")
    verdicts = sum(r["oordeel"] in ("minder_aanslagen", "meer_aanslagen") for r in rows)
    few = sum(r["oordeel"] == "te_weinig_gegevens" for r in rows)
    print(f"{timing}load={load:.1f} nulcheck_runs={len(rows)} nulcheck_verdicts={verdicts} nulcheck_te_weinig={few}")


if __name__ == "__main__":
    main()
