"""What the Airflow benchmarks share (bench/freshness, bench/burst): an `airflow standalone` of their own, and
the per-stage timestamps of a drop, read from Airflow's metadata database and the project's ops tables.

Each benchmark gets its own warehouse database, Airflow metadata database, bucket folder, AIRFLOW_HOME and
free ports (API, log servers), so it never touches the development data, a running `make airflow` or another
checkout (each checkout has its own embedded PostgreSQL server).
"""

from __future__ import annotations

import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]

from explosion_monitor.airflow_env import stop_process_group as stop  # noqa: E402,F401  (used by the benches)
from explosion_monitor.config import get_settings  # noqa: E402
from explosion_monitor.db import database_url as with_db  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def airflow_env(
    admin: str,
    airflow_db: str,
    home: Path,
    warehouse_url: str,
    buckets: str,
    port: int,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What `make airflow` gives Airflow, pointed at the bench's own databases, bucket folder, home and ports."""
    from explosion_monitor.airflow_env import airflow_environment

    meta = with_db(admin, airflow_db).replace("postgresql://", "postgresql+psycopg://", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    env.update(airflow_environment(get_settings()))
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": meta.replace("+psycopg://", "+psycopg_async://", 1),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "WAREHOUSE_URL": warehouse_url,
            "EXPLOSION_MONITOR_BUCKETS": buckets,
            **(extra or {}),
        }
    )
    return env


def measure_parse(env: dict[str, str]) -> float:
    """Seconds to parse the DAG folder (DagBag over dags/ in a fresh interpreter, Airflow already imported)."""
    code = (
        "import time, airflow\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"t = time.perf_counter(); bag = DagBag(dag_folder={str(ROOT / 'dags')!r})\n"
        "s = time.perf_counter() - t\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "print(f'PARSE {s:.3f} {len(bag.dag_ids)}')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    line = next((x for x in out.stdout.splitlines() if x.startswith("PARSE ")), None)
    if line is None:
        raise RuntimeError(f"parsing the DAG folder failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    _, seconds, count = line.split()
    print(f"DAG folder: {count} DAGs parsed in {float(seconds):.2f} s")
    return float(seconds)


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 1.0) -> Any:
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


def watchers_running(meta: str, dags: Iterable[str]) -> bool:
    """Every watcher runs in the triggerer and the given DAGs are live."""
    dags = list(dags)
    with psycopg.connect(meta, autocommit=True) as conn:
        try:
            watchers = conn.execute("select count(*) from asset_watcher").fetchone()[0]
            running = conn.execute(
                "select count(*) from trigger t join asset_watcher w on w.trigger_id = t.id "
                "where t.triggerer_id is not null"
            ).fetchone()[0]
            live = conn.execute(
                "select count(*) from dag where dag_id = any(%s) and not is_paused", (dags,)
            ).fetchone()[0]
        except psycopg.Error:
            return False
    return watchers >= 3 and running >= watchers and live == len(dags)


def start_standalone(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`airflow standalone` as `make airflow` starts it (no all-interfaces log servers), in a session of its own."""
    from explosion_monitor.airflow_env import airflow_command

    with open(log_path, "wb") as log:
        return subprocess.Popen(
            airflow_command(["standalone"]),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def drop_databases(admin: str, names: Iterable[str]) -> None:
    for name in names:
        try:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            print(f"could not drop {name}: {exc}")


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# --- where a drop spent its time --------------------------------------------------------------------------

#: (key, what it measures), in pipeline order; each is the time between two recorded moments.
STAGES = (
    ("stable", "drop -> watcher claims the file (listing + local stability wait)  [ops.drop_claims]"),
    ("event", "claim -> incoming asset event stored  [asset_event]"),
    ("ingest_run", "asset event -> ingest DAG run created (scheduler)  [dag_run.queued_at]"),
    ("ingest_start", "ingest run created -> ingest task started (queue + task process)  [task_instance]"),
    ("ingest", "ingest task start -> end  [task_instance]"),
    ("ingest_work", "  of which claim -> ledger finished (read, validate, COPY)  [ops.ledger]"),
    ("wh_run", "ingest task end -> warehouse DAG run created  [raw asset_event, dag_run]"),
    ("dbt_start", "warehouse run created -> dbt task started  [task_instance]"),
    ("dbt", "dbt task start -> end  [task_instance]"),
    ("dbt_own", "  of which dbt's own node time (sum of node execution times)  [ops.dbt_run_results]"),
    ("gate", "dbt end -> both GX checks done (incl. their task starts)  [task_instance]"),
    ("publish", "checks done -> publish task end (incl. its task start)  [task_instance]"),
    ("publish_own", "  of which the publication's transaction  [ops.publication_log]"),
    ("seen", "publish task end -> the bench sees the count (polling)"),
    ("analysis", "analysis DAG run after the publication, start -> end (not in the latency)  [dag_run]"),
    ("to_analysis", "drop -> the analysis marts published (the statistics' freshness)  [dag_run]"),
)


def _epoch(value: Any) -> float | None:
    return None if value is None else float(value.timestamp())


def drop_stages(meta: str, target: str, feed: str, key: str, dropped: float, published: float | None) -> dict:
    """The seconds each stage of one drop took (see STAGES); a stage that cannot be attributed is left out.

    `dropped` and `published` are epoch seconds from the bench's own clock (the file written, the count seen).
    """
    t: dict[str, float | None] = {"dropped": dropped, "published": published}
    with psycopg.connect(target, autocommit=True) as conn:
        row = conn.execute(
            "select claimed_at from ops.drop_claims where feed = %s and object_key = %s order by claim_id limit 1",
            (feed, key),
        ).fetchone()
        t["claimed"] = _epoch(row[0]) if row else None
        row = conn.execute(
            "select claimed_at, finished_at from ops.ledger where feed = %s and object_key like %s "
            "order by file_id desc limit 1",
            (feed, f"%{key}"),
        ).fetchone()
        t["ledger_start"], t["ledger_end"] = (_epoch(row[0]), _epoch(row[1])) if row else (None, None)
    with psycopg.connect(meta, autocommit=True) as conn:
        row = conn.execute(
            """
            select e.timestamp, r.id, r.run_id, r.queued_at
            from asset_event e
            join asset a on a.id = e.asset_id and a.name = %s
            left join dagrun_asset_event dre on dre.event_id = e.id
            left join dag_run r on r.id = dre.dag_run_id and r.dag_id = %s
            where e.extra::jsonb -> 'payload' ->> 'key' = %s
            order by e.timestamp limit 1
            """,
            (f"incoming.{feed}", f"ingest_{feed}", key),
        ).fetchone()
        if row is None:
            return {}
        t["event"], ingest_run_pk, ingest_run_id, t["ingest_run"] = _epoch(row[0]), row[1], row[2], _epoch(row[3])
        row = conn.execute(
            "select start_date, end_date from task_instance where dag_id = %s and run_id = %s and task_id = 'ingest'",
            (f"ingest_{feed}", ingest_run_id),
        ).fetchone()
        t["ingest_start"], t["ingest_end"] = (_epoch(row[0]), _epoch(row[1])) if row else (None, None)
        row = conn.execute(
            """
            select r.run_id, r.queued_at, e.timestamp
            from asset_event e
            join dagrun_asset_event dre on dre.event_id = e.id
            join dag_run r on r.id = dre.dag_run_id and r.dag_id = 'warehouse'
            where e.source_dag_id = %s and e.source_run_id = %s
            order by r.queued_at limit 1
            """,
            (f"ingest_{feed}", ingest_run_id),
        ).fetchone()
        wh_run_id = row[0] if row else None
        t["wh_run"] = _epoch(row[1]) if row else None
        tis = {}
        if wh_run_id:
            for task_id, start, end in conn.execute(
                "select task_id, start_date, end_date from task_instance where dag_id = 'warehouse' and run_id = %s",
                (wh_run_id,),
            ):
                tis[task_id] = (_epoch(start), _epoch(end))
            row = conn.execute(
                "select start_date, end_date, state from dag_run where dag_id = 'analysis' and queued_at >= "
                "(select start_date from task_instance where dag_id = 'warehouse' and run_id = %s "
                "and task_id = 'publish') order by queued_at limit 1",
                (wh_run_id,),
            ).fetchone()
            # only a successful run published the analysis marts
            ok = row is not None and row[2] == "success"
            t["analysis_start"], t["analysis_end"] = (_epoch(row[0]), _epoch(row[1])) if ok else (None, None)
    del ingest_run_pk
    t["dbt_start"], t["dbt_end"] = tis.get("dbt_build", (None, None))
    checks = [tis.get(k) for k in ("blocking_checks", "warning_checks")]
    t["gate_end"] = max((c[1] for c in checks if c and c[1]), default=None)
    t["publish_start"], t["publish_end"] = tis.get("publish", (None, None))
    own: dict[str, float | None] = {"dbt_own": None, "publish_own": None}
    if wh_run_id:
        with psycopg.connect(target, autocommit=True) as conn:
            row = conn.execute(
                "select extract(epoch from finished_at - started_at) from ops.publication_log where run_id = %s "
                "order by publication_id desc limit 1",
                (wh_run_id,),
            ).fetchone()
            own["publish_own"] = float(row[0]) if row and row[0] is not None else None
            if t["dbt_start"] and t["dbt_end"]:
                row = conn.execute(
                    "select sum(execution_time_s) from ops.dbt_run_results where generated_at between "
                    "to_timestamp(%s) and to_timestamp(%s)",
                    (t["dbt_start"], t["dbt_end"] + 1),
                ).fetchone()
                own["dbt_own"] = float(row[0]) if row and row[0] is not None else None

    def span(a: str, b: str) -> float | None:
        return t[b] - t[a] if t.get(a) is not None and t.get(b) is not None else None

    out = {
        "stable": span("dropped", "claimed"),
        "event": span("claimed", "event"),
        "ingest_run": span("event", "ingest_run"),
        "ingest_start": span("ingest_run", "ingest_start"),
        "ingest": span("ingest_start", "ingest_end"),
        "ingest_work": span("ledger_start", "ledger_end"),
        "wh_run": span("ingest_end", "wh_run"),
        "dbt_start": span("wh_run", "dbt_start"),
        "dbt": span("dbt_start", "dbt_end"),
        "gate": span("dbt_end", "gate_end"),
        "publish": span("gate_end", "publish_end"),
        "seen": span("publish_end", "published"),
        "analysis": span("analysis_start", "analysis_end"),
        "to_analysis": span("dropped", "analysis_end"),
        **own,
    }
    return {k: v for k, v in out.items() if v is not None}


def breakdown_table(per_drop: list[dict]) -> tuple[str, dict[str, float]]:
    """The medians over the drops, as a table for the log and as key=value pairs (`<stage>_s`)."""
    medians: dict[str, float] = {}
    lines = [f"{'stage':<13} {'median s':>8}  {'n':>3}  what"]
    for key, what in STAGES:
        values = [d[key] for d in per_drop if key in d]
        if not values:
            continue
        medians[key] = statistics.median(values)
        lines.append(f"{key:<13} {medians[key]:>8.2f}  {len(values):>3}  {what}")
    return "\n".join(lines), medians


def prepare_warehouse(out: Path, bench_db: str, airflow_db: str) -> tuple[str, str, str, str, Any]:
    """A fresh warehouse database and Airflow metadata database of the benchmark's own (made as the superuser),
    a bucket folder under `out`, the schema set up and the dbt manifest built; the process's settings point at
    them. Returns (superuser URL, warehouse URL, metadata URL, buckets URL, settings)."""
    import shutil

    from explosion_monitor import warehouse
    from explosion_monitor.db import libpq_url
    from explosion_monitor.db.ready import connect_ready, recreate_database
    from explosion_monitor.orchestration.manifest import build_manifest, manifest_path

    admin = libpq_url(warehouse.admin_url(get_settings()))
    shutil.rmtree(out, ignore_errors=True)
    (out / "airflow").mkdir(parents=True)
    buckets = (out / "buckets").as_uri()
    target = recreate_database(admin, bench_db, setup=False)
    meta = recreate_database(admin, airflow_db, setup=False)
    os.environ["WAREHOUSE_URL"] = target
    os.environ["EXPLOSION_MONITOR_BUCKETS"] = buckets
    settings = get_settings()
    with connect_ready(settings):
        pass
    if not manifest_path(settings).is_file():
        build_manifest(settings)
    return admin, target, meta, buckets, settings
