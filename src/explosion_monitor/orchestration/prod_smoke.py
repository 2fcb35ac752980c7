"""The end-to-end scenario on a running prod-local stack (`make prod-smoke`, tests/test_prod_local.py).

1. Partners upload with their own S3 keys into their own bucket's incoming/; a partner's write into another
   partner's bucket is refused.
2. MinIO's notifications arrive in ops.minio_events.
3. The ingest DAGs run on the Celery workers (the corporaties feed on worker-2, its own queue), then the
   warehouse DAG builds, checks and publishes; marts shows the new count.
4. A second police delivery: the worker that runs its ingest task is killed (SIGKILL, with its children)
   mid-run; the scheduler fails the task for lack of heartbeat and the retry runs on the other worker. The
   file is loaded exactly once, and marts shows the revised count. The killed worker is started again.

Every step raises SmokeFailure with one sentence when it does not hold; the result carries the timings.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from typing import Any
from urllib.parse import unquote

import psycopg

from explosion_monitor import db
from explosion_monitor.orchestration import prod_local
from explosion_monitor.orchestration.prod_local import WORKERS, ProdLocalError, Stack

#: The sample drops used: P1 (police, 2024 = 1,244), C1 (corporaties), V1 (insurers), one per feed; then P2
#: (police revision, 2024 = 1,543), whose ingest task loses its worker. (Two drops of one feed within
#: milliseconds can lose the second asset event in Airflow; reconcile_incoming catches those, on its schedule.)
FIRST = (0, 2, 3)
REVISION = 4
_TIMEOUT_S = 420


class SmokeFailure(AssertionError):
    """One step of the scenario did not hold."""


@dataclasses.dataclass
class SmokeResult:
    timings: dict[str, float]
    workers: dict[str, set[str]]  # dag_id.task_id -> workers that ran a try
    killed: str
    retried_on: str
    national_2024: list[int]

    def summary(self) -> str:
        steps = ", ".join(f"{k} {v:.0f} s" for k, v in self.timings.items())
        return (
            f"prod-smoke passed: {steps}; killed {self.killed}, its task retried on {self.retried_on}; "
            f"marts 2024: {' -> '.join(map(str, self.national_2024))}"
        )


def _wait(what: str, check: Any, timeout: float = _TIMEOUT_S, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise SmokeFailure(f"Timed out after {timeout:.0f} s waiting for {what}.")
        time.sleep(every)


def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    try:
        with db.connect(url, autocommit=True, connect_timeout=5) as conn:
            return conn.execute(query, params).fetchall()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        return []


def _national_2024(url: str) -> int | None:
    rows = _rows(url, "select aanslagen from marts.target_progress where niveau = 'land' and jaar = 2024")
    return int(rows[0][0]) if rows else None


def _dags_ready(stack: Stack) -> None:
    """Wait until the DAG processor has registered the DAGs; they are live from creation (not paused)."""
    wanted = {"ingest_politie", "ingest_corporaties", "ingest_verzekeraars", "warehouse"}
    query = "select dag_id, is_paused from dag where not is_stale"

    def registered() -> list[tuple] | None:
        found = _rows(stack.db_url("airflow", "airflow"), query)
        return found if wanted <= {d for d, _ in found} else None

    rows = _wait("the DAG processor to register the DAGs", registered)
    paused = sorted(d for d, p in rows if p and d in wanted)
    if paused:
        raise SmokeFailure(f"The DAGs {', '.join(paused)} are paused; unpause them (airflow dags unpause).")


def _tries(stack: Stack, dag_id: str, task_id: str) -> list[tuple[str, int, str, str, str]]:
    """(state, try_number, hostname, queue, run_id) of every try of a task, history and current."""
    query = """
        select state, try_number, coalesce(hostname, ''), queue, run_id from task_instance_history
        where dag_id = %s and task_id = %s
        union all
        select state, try_number, coalesce(hostname, ''), queue, run_id from task_instance
        where dag_id = %s and task_id = %s
    """
    return _rows(stack.db_url("airflow", "airflow"), query, (dag_id, task_id, dag_id, task_id))


def _worker_of(hostname: str) -> str:
    return hostname.split("@", 1)[0] if "@" in hostname else ""


def run_smoke(stack: Stack) -> SmokeResult:
    from explosion_monitor.sample import generate

    status = stack.status()
    if not all(status.values()):
        raise SmokeFailure(
            f"prod-local is not fully running ({', '.join(n for n, up in status.items() if not up)} "
            "stopped); run `make prod-local` first."
        )
    warehouse = stack.host_settings()["WAREHOUSE_URL"]
    timings: dict[str, float] = {}
    started = time.monotonic()
    _dags_ready(stack)
    files = generate()
    first, revision = [files[i] for i in FIRST], files[REVISION]
    before = _national_2024(warehouse)
    if before is not None:
        raise SmokeFailure(
            "prod-smoke needs a fresh prod-local (marts already holds figures): run "
            "`make prod-local-stop prod-local-clean prod-local` first."
        )

    # 1. uploads with the partners' own keys; a partner cannot write into another partner's bucket
    for f in first:
        stack.partner_client(f.feed).put_object(Bucket=f.feed, Key=f"incoming/{f.name}", Body=f.data)
    intruder = stack.partner_client("politie")
    try:
        intruder.put_object(Bucket="corporaties", Key="incoming/politie-was-hier.csv", Body=b"incident_id\n")
    except intruder.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "AccessDenied":
            raise SmokeFailure(f"A cross-partner write failed for another reason than AccessDenied: {exc}.") from None
    else:
        raise SmokeFailure("The politie key could write into the corporaties bucket.")

    # 2. MinIO's notifications arrive
    wanted = {(f.feed, f"incoming/{f.name}") for f in first}

    def notified() -> bool:
        rows = _rows(
            warehouse,
            "select event_data #>> '{Records,0,s3,bucket,name}', "
            "event_data #>> '{Records,0,s3,object,key}' from ops.minio_events",
        )
        return wanted <= {(b, unquote(k)) for b, k in rows}

    _wait("MinIO's bucket notifications in ops.minio_events", notified, timeout=60)
    timings["notified"] = time.monotonic() - started

    # 3. ingest on the workers, then the warehouse DAG publishes; marts shows the count
    _wait(
        "the first deliveries in the ledger",
        lambda: (
            len(
                _rows(
                    warehouse,
                    "select 1 from ops.ledger where object_key = any(%s) and finished_at is not null",
                    ([f"incoming/{f.name}" for f in first] + [f.name for f in first],),
                )
            )
            >= len(first)
        ),
    )
    national = _wait("the warehouse DAG to publish marts", lambda: _national_2024(warehouse))
    if national != 1244:
        raise SmokeFailure(f"marts shows {national} attacks in 2024 after the first police extract, not 1244.")
    timings["published"] = time.monotonic() - started
    ran: dict[str, set[str]] = {}
    for dag_id in ("ingest_politie", "ingest_corporaties", "ingest_verzekeraars"):
        tries = _tries(stack, dag_id, "ingest")
        ran[f"{dag_id}.ingest"] = {_worker_of(h) for s, _, h, _, _ in tries if s == "success"}
        if dag_id == "ingest_corporaties" and not all(
            q == "corporaties" and _worker_of(h) == "worker-2" for s, _, h, q, _ in tries if s == "success"
        ):
            raise SmokeFailure(f"ingest_corporaties did not run on worker-2 from queue corporaties: {tries}.")
    if "worker-2" not in ran["ingest_corporaties.ingest"]:
        raise SmokeFailure("No corporaties ingest ran on worker-2.")

    # 4. a worker dies mid-run; the task is retried on the other one; nothing is loaded twice
    runs_before = {t[4] for t in _tries(stack, "ingest_politie", "ingest")}
    kill_started = time.monotonic()
    stack.partner_client("politie").put_object(Bucket="politie", Key=f"incoming/{revision.name}", Body=revision.data)

    def running_try() -> tuple | None:
        tries = _tries(stack, "ingest_politie", "ingest")
        return next(
            (t for t in tries if t[4] not in runs_before and t[0] == "running" and _worker_of(t[2]) in WORKERS), None
        )

    victim_try = _wait("the police ingest task to start on a worker", running_try, every=0.1)
    killed = _worker_of(victim_try[2])
    stack.kill(f"airflow-{killed}")
    other = next(w for w in WORKERS if w != killed)

    def retried() -> tuple | None:
        return next(
            (
                t
                for t in _tries(stack, "ingest_politie", "ingest")
                if t[4] == victim_try[4] and t[0] == "success" and t[1] > victim_try[1]
            ),
            None,
        )

    success = _wait("the killed task's retry to succeed", retried, timeout=300)
    if _worker_of(success[2]) != other:
        raise SmokeFailure(f"The retry ran on {success[2]!r}, not on {other}.")
    ran["ingest_politie.ingest"] |= {killed, other}
    timings["killed_and_retried"] = time.monotonic() - kill_started
    loaded = _rows(
        warehouse,
        "select file_id, rows_loaded from ops.ledger where feed = 'politie' and status = 'loaded' "
        "and object_key like %s",
        (f"%{revision.name}",),
    )
    if len(loaded) != 1:
        raise SmokeFailure(f"The revised police extract is in the ledger as loaded {len(loaded)} times, not once.")
    file_id, rows_loaded = loaded[0]
    in_raw = _rows(warehouse, "select count(*) from raw.politie where _file_id = %s", (file_id,))[0][0]
    distinct = _rows(warehouse, "select count(distinct _line_number) from raw.politie where _file_id = %s", (file_id,))[
        0
    ][0]
    if not in_raw == distinct == rows_loaded > 0:
        raise SmokeFailure(
            f"raw.politie holds {in_raw} rows ({distinct} lines) of file {file_id}, "
            f"the ledger {rows_loaded}: loaded twice or partly."
        )
    revised = _wait(
        "marts to show the revised 2024 count",
        lambda: _national_2024(warehouse) if _national_2024(warehouse) != 1244 else None,
        timeout=300,
    )
    if revised != 1543:
        raise SmokeFailure(f"marts shows {revised} attacks in 2024 after the revision, not 1543.")
    timings["revision_published"] = time.monotonic() - kill_started
    stack.start_worker(killed)
    workers_seen = set().union(*ran.values())
    if not set(WORKERS) <= workers_seen:
        raise SmokeFailure(f"Not every worker ran a task: {ran}.")
    timings["total"] = time.monotonic() - started
    return SmokeResult(timings, ran, killed, other, [national, revised])


def main() -> int:
    """`make prod-smoke`: the scenario against the running prod-local stack."""
    try:
        print(run_smoke(prod_local.stack()).summary())
    except ProdLocalError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
