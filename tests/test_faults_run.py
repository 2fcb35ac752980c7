"""Faults during a real Airflow run (dag.test(), the production DAGs, the shared Airflow metadata database).

- the loader's connection is cut (pg_terminate_backend) in the middle of the ingest task's COPY: that try
  fails, Airflow retries the task, the retry loads the file exactly once;
- the warehouse server is restarted between the tasks of a run (ingest, then build, checks, publication):
  every task succeeds and the figures are published.

dag.test() honours retries as the scheduler does: a failed try with retries left goes up_for_retry and
runs again once its retry_delay has passed (Airflow 3.3, airflow/sdk/definitions/dag.py `DAG.test`).
"""

from __future__ import annotations

import datetime as dt

import airflow_harness
import psycopg
import pytest
from faults import CopyTerminator, big_police_file, own_warehouse
from partner_files import csv_bytes, politie_row

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module", autouse=True)
def airflow_db() -> None:
    airflow_harness.configure()
    airflow_harness.migrate()


@pytest.fixture(autouse=True)
def _notify_by_log(monkeypatch):
    monkeypatch.setenv("EXPLOSION_MONITOR_NOTIFIER", "log")


def _rows(url: str, query: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def _tries(dag_run) -> dict[str, list[tuple[int, str]]]:
    """task_id -> [(try_number, state)] of every try of the run: earlier tries from the history table."""
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session
    from sqlalchemy import select

    tries: dict[str, list[tuple[int, str]]] = {}
    with create_session() as session:
        history = session.scalars(
            select(TaskInstanceHistory).where(
                TaskInstanceHistory.dag_id == dag_run.dag_id, TaskInstanceHistory.run_id == dag_run.run_id
            )
        ).all()
        for ti in [*history, *dag_run.get_task_instances(session=session)]:
            tries.setdefault(ti.task_id, []).append((ti.try_number, str(ti.state)))
    return {task: sorted(found) for task, found in tries.items()}


def test_cut_connection_fails_the_try_and_the_retry_loads_once(warehouse_url, local_buckets):
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration.dag_factory import RETRIES, ingest_dag

    rows = 300_000
    bucket = get_bucket("politie")
    bucket.ensure()
    data = big_police_file(rows)
    bucket.put_incoming("groot.csv", data)
    dag = ingest_dag("politie")
    task = dag.get_task("ingest")
    assert task.retries == RETRIES["ingest"] >= 1
    task.retry_delay = dt.timedelta(seconds=1)  # production waits 15 s; what the retry does is the same

    cutter = CopyTerminator(warehouse_url, after_rows=50_000)
    cutter.start()
    try:
        dr = dag.test(run_conf={"keys": ["groot.csv"]})
    finally:
        cutter.stop.set()
        cutter.join()
    assert cutter.terminated_pid and cutter.rows_at_cut >= 50_000  # cut mid-load, inside the task

    assert str(dr.state) == "success"
    # The first try failed (the history keeps it as failed; the task went up_for_retry), the second succeeded.
    assert _tries(dr) == {"ingest": [(1, "failed"), (2, "success")]}
    assert _rows(warehouse_url, "select count(*), count(distinct incident_id) from raw.politie") == [(rows, rows)]
    assert _rows(warehouse_url, "select status, attempts, rows_loaded, run_id from ops.ledger") == [
        ("loaded", 2, rows, dr.run_id)
    ]
    assert bucket.list_incoming() == []
    (archived,) = bucket.list_archive()
    with bucket.open(archived.url) as f:
        assert f.read() == data
    # A retried try is no failure: nothing recorded, nobody notified.
    assert _rows(warehouse_url, "select count(*) from ops.pipeline_failures") == [(0,)]


class _RestartBetweenTasks:
    """An Airflow listener that restarts the warehouse server after each successful task of a run."""

    def __init__(self, server) -> None:
        self.server = server
        self.after: list[str] = []
        self.pids: list[int] = [server.pid()]
        self.errors: list[BaseException] = []

    def hook(self):
        # Built here, not at module level: Airflow may only be imported after airflow_harness.configure().
        from airflow.listeners import hookimpl

        listener = self

        class Listener:
            @hookimpl
            def on_task_instance_success(self, previous_state, task_instance):
                try:
                    listener.server.restart()
                    listener.after.append(task_instance.task_id)
                    listener.pids.append(listener.server.pid())
                except BaseException as exc:  # Airflow logs a listener's errors and carries on: keep them
                    listener.errors.append(exc)

        return Listener()


def test_warehouse_restarts_between_tasks_and_the_run_completes(local_buckets, monkeypatch):
    """The warehouse is a server of its own here (restarting the shared one would break concurrent test runs);
    Airflow's metadata stays on the shared server. The pipeline reaches the warehouse through WAREHOUSE_URL."""
    from airflow.sdk.listener import get_listener_manager

    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration.dag_factory import ingest_dag, warehouse_dag

    with own_warehouse() as server:
        url = server.url
        monkeypatch.setenv("WAREHOUSE_URL", url)
        bucket = get_bucket("politie")
        bucket.ensure()
        bucket.put_incoming("a.csv", csv_bytes([politie_row(i) for i in range(1, 31)]))
        restarts = _RestartBetweenTasks(server)
        listener = restarts.hook()
        manager = get_listener_manager()
        manager.add_listener(listener)
        try:
            ingest = ingest_dag("politie").test(run_conf={"keys": ["a.csv"]})
            build = warehouse_dag().test()
        finally:
            manager.pm.unregister(listener)
        assert not restarts.errors, restarts.errors
        assert str(ingest.state) == "success", _tries(ingest)
        assert str(build.state) == "success", _tries(build)
        # Each task on its first try: one that only passed on a retry could hide a stale connection.
        assert _tries(build) == {
            "dbt_build": [(1, "success")],
            "blocking_checks": [(1, "success")],
            "warning_checks": [(1, "success")],
            "publish": [(1, "success")],
            "record_blocked": [(1, "skipped")],
            "data_docs": [(1, "success")],
        }
        # A real restart after each task: a new server process every time, the data kept.
        assert restarts.after[0] == "ingest" and len(restarts.after) == 6, restarts.after
        assert len(set(restarts.pids)) == len(restarts.pids) == 7
        assert _rows(url, "select status, rows_loaded from ops.ledger") == [("loaded", 30)]
        [(count,)] = _rows(url, "select aanslagen from marts.target_progress where niveau = 'land' and jaar = 2024")
        assert count == 30
        assert _rows(url, "select outcome from ops.publication_log where run_id = %s", (build.run_id,)) == [
            ("published",)
        ]
