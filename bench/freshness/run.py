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

Last line: `p50_s=<median> p95_s=<95th percentile, nearest rank> parse_s=<DAG-folder parse seconds>`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out" / "freshness"
BENCH_DB = "em_bench_freshness"
AIRFLOW_DB = "airflow_bench_freshness"
CODES = ["GM0363", "GM0599", "GM0518", "GM0344", "GM0034", "GM0796", "GM0014", "GM0080"]
DOELWIT = ["woning", "bedrijf", "voertuig", "geldautomaat", "overig"]
YEAR = 2025

from explosion_monitor import warehouse  # noqa: E402
from explosion_monitor.config import get_settings  # noqa: E402
from explosion_monitor.db import database_url as with_db  # noqa: E402
from explosion_monitor.db import libpq_url  # noqa: E402
from explosion_monitor.db.ready import recreate_database  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def airflow_env(admin: str, warehouse_url: str, buckets: str, port: int) -> dict[str, str]:
    from explosion_monitor.airflow_env import airflow_environment

    meta = with_db(admin, AIRFLOW_DB).replace("postgresql://", "postgresql+psycopg://", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(airflow_environment(get_settings()))  # what `make airflow` gives Airflow ...
    env.update(  # ... pointed at the bench's own databases, bucket folder, home and ports
        {
            "AIRFLOW_HOME": str(OUT / "airflow"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": meta.replace("+psycopg://", "+psycopg_async://", 1),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "WAREHOUSE_URL": warehouse_url,
            "EXPLOSION_MONITOR_BUCKETS": buckets,
        }
    )
    return env


def measure_parse(env: dict[str, str]) -> float:
    code = (
        "import time, airflow\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "t = time.perf_counter(); bag = DagBag(dag_folder=%r)\n"
        "s = time.perf_counter() - t\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(f'PARSE {s:.3f} {len(bag.dag_ids)}')\n" % str(ROOT / "dags")
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    line = next((x for x in out.stdout.splitlines() if x.startswith("PARSE ")), None)
    if line is None:
        raise RuntimeError(f"parsing the DAG folder failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    _, seconds, count = line.split()
    print(f"DAG folder: {count} DAGs parsed in {float(seconds):.2f} s")
    return float(seconds)


def wait_for(what: str, check, timeout: float, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2) as r:
            body = json.loads(r.read())
    except OSError:
        return False
    return all(body.get(c, {}).get("status") == "healthy" for c in ("metadatabase", "scheduler", "triggerer"))


def watchers_running(meta: str) -> bool:
    with psycopg.connect(meta, autocommit=True) as conn:
        try:
            n = conn.execute(
                "select count(*) from trigger t join asset_watcher w on w.trigger_id = t.id "
                "where t.triggerer_id is not null"
            ).fetchone()[0]
            paused = conn.execute(
                "select count(*) from dag where dag_id in ('ingest_politie', 'warehouse') and not is_paused"
            ).fetchone()[0]
        except psycopg.Error:
            return False
    return n >= 3 and paused == 2


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
            "select dag_id, extract(epoch from queued_at), extract(epoch from start_date), extract(epoch from end_date), "
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


def stop(proc: subprocess.Popen) -> None:
    """Stop the standalone we started: its whole process group (it was started in a session of its own)."""
    for sig, grace in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            time.sleep(1)  # children of the group exit after the leader
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
    except ProcessLookupError:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drops", type=int, default=10)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per drop before giving up")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases and folders")
    args = parser.parse_args()

    settings = get_settings()
    admin = libpq_url(warehouse.admin_url(settings))
    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "airflow").mkdir(parents=True)
    buckets = (OUT / "buckets").as_uri()
    target = recreate_database(admin, BENCH_DB, setup=False)
    meta = recreate_database(admin, AIRFLOW_DB, setup=False)
    os.environ["WAREHOUSE_URL"] = target
    os.environ["EXPLOSION_MONITOR_BUCKETS"] = buckets
    settings = get_settings()

    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.db.ready import connect_ready
    from explosion_monitor.orchestration.manifest import build_manifest, manifest_path

    with connect_ready(settings):
        pass
    if not manifest_path(settings).is_file():
        build_manifest(settings)
    bucket = get_bucket("politie", settings)
    bucket.ensure()

    port = free_port()
    env = airflow_env(admin, target, buckets, port)
    parse_s = measure_parse(env)

    log_path = OUT / "standalone.log"
    from explosion_monitor.airflow_env import airflow_command

    with open(log_path, "wb") as log:  # as `make airflow` starts it (no all-interfaces log servers)
        proc = subprocess.Popen(
            airflow_command(["standalone"]),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        wait_for("airflow standalone to be healthy", lambda: proc.poll() is None and healthy(port), 240, 2)
        wait_for("the watchers to run in the triggerer", lambda: watchers_running(meta), 240, 2)
        print(f"Airflow standalone ready in {time.monotonic() - started:.0f} s (log: {log_path})")

        latencies: list[float] = []
        expected = 0
        for drop in range(args.drops + 1):
            expected += args.rows
            before = time.time()
            t0 = time.monotonic()
            bucket.put_incoming(f"politie_extract_{drop:03d}.csv", police_file(drop, args.rows))
            try:
                wait_for(
                    f"drop {drop} to be published", lambda: published_count(target) >= expected, args.timeout, 0.25
                )
            except TimeoutError:
                print(f"drop {drop}: NOT published within {args.timeout:.0f} s; {run_breakdown(meta, before)}")
                print(f"see {log_path} and {OUT / 'airflow' / 'logs'}")
                return 1
            seconds = time.monotonic() - t0
            label = "warm-up" if drop == 0 else f"drop {drop:2d}"
            print(f"{label}: published after {seconds:5.1f} s  ({run_breakdown(meta, before)})", flush=True)
            if drop:
                latencies.append(seconds)
            time.sleep(2)  # let the finished runs settle before the next drop
    finally:
        stop(proc)
        if not args.keep:
            for name in (BENCH_DB, AIRFLOW_DB):
                try:
                    with psycopg.connect(admin, autocommit=True) as conn:
                        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
                except psycopg.Error as exc:
                    print(f"could not drop {name}: {exc}")

    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    print(f"{len(ordered)} drops of {args.rows} rows: min {ordered[0]:.1f} s, max {ordered[-1]:.1f} s")
    print(f"p50_s={p50:.1f} p95_s={p95:.1f} parse_s={parse_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
