"""Benchmark: from a dropped police file to published figures, through Airflow standalone.

Starts `airflow standalone` exactly as `make airflow` runs it (the project's DAGs, watchers live, LocalExecutor,
metadata in the embedded PostgreSQL), but against a warehouse database, a bucket folder and an Airflow
metadata database of its own, on a port of its own, so it never touches the development data or a running
`make airflow`. Then it drops police files of 2,000 new incidents each into incoming/ and measures the time
until `marts.target_progress` (the published table) counts them: watcher -> ingest DAG -> raw asset ->
warehouse DAG (one dbt build, GX gate, publication).

One warm-up drop first (the first build of an empty warehouse is a full build; reported, not counted), then
--drops measured drops, one after the other. Also measures the DAG-folder parse time (DagBag over dags/ in a
fresh interpreter, Airflow already imported).

Last line: `p50_s=<median> p95_s=<95th percentile, nearest rank> parse_s=<DAG-folder parse seconds>
analysis_p50_s=<median drop -> published analysis marts>` and the per-stage medians.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/common.py

from common import airflow_env as bench_airflow_env
from common import (
    breakdown_table,
    drop_databases,
    drop_stages,
    healthy,
    measure_parse,
    percentile,
    prepare_warehouse,
    start_standalone,
    stop,
    wait_for,
    watchers_running,
)
from common import free_port as free_port

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "freshness"
BENCH_DB = "em_bench_freshness"
AIRFLOW_DB = "airflow_bench_freshness"
CODES = ["GM0363", "GM0599", "GM0518", "GM0344", "GM0034", "GM0796", "GM0014", "GM0080"]
DOELWIT = ["woning", "bedrijf", "voertuig", "geldautomaat", "overig"]
YEAR = 2025


def police_file(drop: int, rows: int) -> bytes:
    """`rows` new counted incidents in YEAR (unique ids per drop), as the police deliver them."""
    rng = random.Random(drop)
    lines = ["incident_id,peildatum,incident_datum,gemeente_code,postcode4,doelwit,uitkomst,explosief,telt_mee"]
    for i in range(rows):
        lines.append(
            f"BENCH-{drop:03d}-{i:05d},{YEAR}-06-30,{YEAR}-{rng.randint(1, 6):02d}-{rng.randint(1, 28):02d},"
            f"{rng.choice(CODES)},{rng.randint(1000, 9999)},{rng.choice(DOELWIT)},afgegaan,zwaar_vuurwerk,true"
        )
    return ("\n".join(lines) + "\n").encode()


def published_count(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        try:
            row = conn.execute(
                "select aanslagen from marts.target_progress where niveau = 'land' and jaar = %s", (YEAR,)
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
    return int(row[0]) if row else 0


def run_breakdown(meta: str, since: float) -> str:
    """Start and end of the ingest and warehouse runs after `since` (epoch seconds), for the log."""
    with psycopg.connect(meta, autocommit=True) as conn:
        rows = conn.execute(
            "select dag_id, extract(epoch from queued_at), extract(epoch from start_date), "
            "extract(epoch from end_date), "
            "state from dag_run where dag_id in ('ingest_politie', 'warehouse') and queued_at >= to_timestamp(%s) "
            "order by queued_at",
            (since - 1,),
        ).fetchall()
    parts = []
    for dag_id, queued, start, end, state in rows:
        q = float(queued) - since
        s = (float(start) - since) if start else float("nan")
        e = (float(end) - since) if end else float("nan")
        parts.append(f"{dag_id} queued +{q:.1f}s started +{s:.1f}s ended +{e:.1f}s {state}")
    return "; ".join(parts)


def airflow_env(admin: str, warehouse_url: str, buckets: str, port: int) -> dict[str, str]:
    return bench_airflow_env(admin, AIRFLOW_DB, OUT / "airflow", warehouse_url, buckets, port)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", type=int, default=10)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per drop before giving up")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases and folders")
    args = parser.parse_args()

    admin, target, meta, buckets, settings = prepare_warehouse(OUT, BENCH_DB, AIRFLOW_DB)

    from explosion_monitor.buckets import get_bucket

    bucket = get_bucket("politie", settings)
    bucket.ensure()

    port = free_port()
    env = airflow_env(admin, target, buckets, port)
    parse_s = measure_parse(env)

    log_path = OUT / "standalone.log"
    proc = start_standalone(env, log_path)
    per_drop: list[dict] = []
    try:
        started = time.monotonic()
        wait_for("airflow standalone to be healthy", lambda: proc.poll() is None and healthy(port), 240, 2)
        wait_for(
            "the watchers to run in the triggerer",
            lambda: watchers_running(meta, ["ingest_politie", "warehouse"]),
            240,
            2,
        )
        print(f"Airflow standalone ready in {time.monotonic() - started:.0f} s (log: {log_path})")

        latencies: list[float] = []
        expected = 0
        for drop in range(args.drops + 1):
            expected += args.rows
            key = f"politie_extract_{drop:03d}.csv"
            before = time.time()
            t0 = time.monotonic()
            bucket.put_incoming(key, police_file(drop, args.rows))
            try:
                wait_for(
                    f"drop {drop} to be published", lambda n=expected: published_count(target) >= n, args.timeout, 0.25
                )
            except TimeoutError:
                print(f"drop {drop}: NOT published within {args.timeout:.0f} s; {run_breakdown(meta, before)}")
                print(f"see {log_path} and {OUT / 'airflow' / 'logs'}")
                return 1
            seconds = time.monotonic() - t0
            seen = before + seconds
            label = "warm-up" if drop == 0 else f"drop {drop:2d}"
            print(f"{label}: published after {seconds:5.1f} s  ({run_breakdown(meta, before)})", flush=True)
            # The analysis run (and any other) ends before the next drop: each drop is measured on an idle
            # pipeline, and its analysis gets its own figure (to_analysis) instead of slowing the next count.
            wait_for("the runs of this drop to end", lambda: not _running(meta), 180, 0.5)
            if drop:
                latencies.append(seconds)
                stages = drop_stages(meta, target, "politie", key, before, seen)
                print("   " + " ".join(f"{k}={v:.2f}" for k, v in stages.items()), flush=True)
                per_drop.append(stages)
    finally:
        stop(proc)
        if not args.keep:
            drop_databases(admin, (BENCH_DB, AIRFLOW_DB))

    (OUT / "stages.json").write_text(json.dumps(per_drop, indent=1))
    table, medians = breakdown_table(per_drop)
    p50 = statistics.median(latencies)
    p95 = percentile(latencies, 0.95)
    print(f"{len(latencies)} drops of {args.rows} rows: min {min(latencies):.1f} s, max {max(latencies):.1f} s")
    print("Per stage, median over the drops (timestamps from Airflow's metadata DB and the ops tables):")
    print(table)
    stages = " ".join(f"{k}_s={v:.2f}" for k, v in medians.items())
    # issue 13: the statistics' own freshness, from the drop to the published analysis marts
    to_analysis = [d["to_analysis"] for d in per_drop if "to_analysis" in d]
    analysis_p50 = f"{statistics.median(to_analysis):.1f}" if to_analysis else "nan"
    print(f"p50_s={p50:.1f} p95_s={p95:.1f} parse_s={parse_s:.2f} analysis_p50_s={analysis_p50} {stages}")
    return 0


def _running(meta: str) -> bool:
    with psycopg.connect(meta, autocommit=True) as conn:
        return bool(conn.execute("select count(*) from dag_run where state in ('queued', 'running')").fetchone()[0])


if __name__ == "__main__":
    sys.exit(main())
