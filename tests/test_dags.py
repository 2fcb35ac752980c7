"""DAG validity and hygiene, in the style of mozilla/telemetry-airflow: every DAG imports, and follows the rules.

Rules (src/explosion_monitor/orchestration/dag_factory.py): an owner; tags from the fixed set; doc_md; a failure
callback on the DAG and on every task; retries where retrying is safe; max_active_runs=1; no catchup; DAG
files are thin declarations; parsing the folder is quick and never runs `dbt ls`.
"""

from __future__ import annotations

import ast
import time
from pathlib import Path

import airflow_harness
import pytest

DAGS_DIR = Path(__file__).resolve().parents[1] / "dags"
EXPECTED = {
    "ingest_politie": "asset",
    "ingest_verzekeraars": "asset",
    "ingest_corporaties": "asset",
    "ingest_gemeenten": "asset",
    "warehouse": "asset",
    "analysis": "asset",
    "reconcile_incoming": "cron",
    "partner_freshness": "cron",
    "reingest": None,
    "rebuild": None,
    "retention_purge": "cron",
    "warehouse_full": "cron",
}
PARSE_BUDGET_S = 2.0


@pytest.fixture(scope="module")
def manifest() -> Path:
    """The manifest the nightly DAG renders from; built once if missing (dbt parse, no database)."""
    airflow_harness.configure()
    from explosion_monitor.orchestration.manifest import build_manifest, manifest_path

    path = manifest_path()
    return path if path.is_file() else build_manifest()


@pytest.fixture(scope="module")
def dagbag(manifest):
    from unittest import mock

    from airflow.dag_processing.dagbag import DagBag
    from cosmos.dbt.graph import DbtGraph

    def no_dbt_ls(*args, **kwargs):
        raise AssertionError("dbt ls ran while parsing the DAGs")

    with (
        mock.patch.object(DbtGraph, "load_via_dbt_ls", no_dbt_ls),
        mock.patch.object(DbtGraph, "load_via_dbt_ls_without_cache", no_dbt_ls, create=True),
    ):
        started = time.perf_counter()
        bag = DagBag(dag_folder=str(DAGS_DIR))
        bag.parse_seconds = time.perf_counter() - started
    return bag


def test_every_dag_file_imports(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == set(EXPECTED)


def test_dag_folder_parses_quickly(dagbag):
    # In-process, after Airflow is imported: what the dag-processor pays per pass over the folder.
    assert dagbag.parse_seconds < PARSE_BUDGET_S, f"parsing dags/ took {dagbag.parse_seconds:.2f} s"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_hygiene(dagbag, dag_id):
    from explosion_monitor.orchestration.dag_factory import OWNER, TAGS, run_failed, task_failed

    dag = dagbag.dags[dag_id]
    assert dag.owner == OWNER
    assert dag.tags and set(dag.tags) <= TAGS, f"tags {dag.tags} outside {sorted(TAGS)}"
    assert "explosion-monitor" in dag.tags
    assert dag.doc_md and len(dag.doc_md.strip()) > 80
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.on_failure_callback in (run_failed, [run_failed])
    for t in dag.tasks:
        callbacks = t.on_failure_callback if isinstance(t.on_failure_callback, list) else [t.on_failure_callback]
        assert task_failed in callbacks or any(
            getattr(cb, "__wrapped__", None) is task_failed or "task_failed" in repr(cb) for cb in callbacks
        ), f"{dag_id}.{t.task_id} has no failure callback"
        assert t.owner == OWNER


def test_retries_where_safe(dagbag):
    from explosion_monitor.orchestration.dag_factory import RETRIES

    seen = set()
    for dag_id, dag in dagbag.dags.items():
        for t in dag.tasks:
            if t.task_id in RETRIES:
                assert t.retries == RETRIES[t.task_id], f"{dag_id}.{t.task_id}"
                seen.add(t.task_id)
            elif dag_id == "warehouse_full":
                assert t.retries >= 1 or t.task_id.endswith(("producer_watcher", "producer_watcher_done"))
            else:
                pytest.fail(f"{dag_id}.{t.task_id} has no retry decision in RETRIES")
    assert seen == set(RETRIES)
    # Safe to retry: everything idempotent. Not: moving raw rows and dropping a database.
    assert RETRIES["ingest"] >= 1 and RETRIES["dbt_build"] >= 1 and RETRIES["reconcile"] >= 1
    assert RETRIES["reingest"] == 0 and RETRIES["prepare"] == 0


def _assets(condition) -> list:
    """The assets in a schedule condition (an Asset, or AssetAny/AssetAll of them)."""
    if hasattr(condition, "objects"):
        return [a for part in condition.objects for a in _assets(part)]
    return [condition]


def test_schedules(dagbag):
    from airflow.triggers.base import BaseEventTrigger

    from explosion_monitor.orchestration.triggers import IncomingFilesTrigger

    for dag_id, kind in EXPECTED.items():
        dag = dagbag.dags[dag_id]
        summary = type(dag.timetable).__name__
        if kind == "asset":
            assert "Asset" in summary, (dag_id, summary)
        elif kind == "cron":
            assert "Cron" in summary, (dag_id, summary)
        else:
            assert dag.timetable.can_be_scheduled is False, dag_id
    for feed in ("politie", "verzekeraars", "corporaties", "gemeenten"):
        assets = _assets(dagbag.dags[f"ingest_{feed}"].timetable.asset_condition)
        assert [a.name for a in assets] == [f"incoming.{feed}"]
        (watcher,) = assets[0].watchers
        assert isinstance(watcher.trigger, IncomingFilesTrigger) and isinstance(watcher.trigger, BaseEventTrigger)
        assert watcher.trigger.feed == feed
    raw = {a.name for a in _assets(dagbag.dags["warehouse"].timetable.asset_condition)}
    assert raw == {"raw.politie", "raw.verzekeraars", "raw.corporaties", "raw.gemeenten"}
    # the statistics run after the count is published, never before it
    assert [a.name for a in _assets(dagbag.dags["analysis"].timetable.asset_condition)] == ["marts"]
    assert "marts" in {o.name for o in dagbag.dags["warehouse"].get_task("publish").outlets}


def test_warehouse_is_one_build_then_gx_checks_then_publish(dagbag):
    from great_expectations_provider.operators.validate_checkpoint import GXValidateCheckpointOperator

    dag = dagbag.dags["warehouse"]
    assert {t.task_id for t in dag.tasks} == {
        "dbt_build",
        "blocking_checks",
        "warning_checks",
        "publish",
        "record_blocked",
        "data_docs",
    }
    assert dag.get_task("dbt_build").downstream_task_ids == {"blocking_checks", "warning_checks"}
    for task_id in ("blocking_checks", "warning_checks"):
        gx_task = dag.get_task(task_id)
        assert isinstance(gx_task, GXValidateCheckpointOperator) and gx_task.context_type == "file"
        assert gx_task.downstream_task_ids == {"publish", "record_blocked"}
    assert str(dag.get_task("record_blocked").trigger_rule) in ("all_done", "TriggerRule.ALL_DONE")
    assert [a.name for a in dag.get_task("publish").outlets] == ["marts"]
    # Data Docs are rendered last, whatever the gate decided, so that rendering never delays the publication;
    # a teardown, so that its outcome never decides the run's.
    docs = dag.get_task("data_docs")
    assert docs.upstream_task_ids == {"publish", "record_blocked"} and not docs.downstream_task_ids
    assert docs.is_teardown and not docs.on_failure_fail_dagrun


def test_nightly_dag_is_cosmos_watcher_from_the_manifest(dagbag):
    from cosmos.operators.watcher import DbtConsumerWatcherSensor, DbtProducerWatcherOperator

    dag = dagbag.dags["warehouse_full"]
    producers = [t for t in dag.tasks if isinstance(t, DbtProducerWatcherOperator)]
    consumers = [t for t in dag.tasks if isinstance(t, DbtConsumerWatcherSensor)]
    assert len(producers) == 1, "one dbt process per run"
    assert len(consumers) > 20
    assert "LoadMode.DBT_MANIFEST" in dag.doc_md or "DBT_MANIFEST" in dag.doc_md


def test_trigger_serializes_and_is_importable_by_the_triggerer(dagbag):
    from airflow.sdk.module_loading import import_string

    (asset,) = _assets(dagbag.dags["ingest_politie"].timetable.asset_condition)
    classpath, kwargs = asset.watchers[0].trigger.serialize()
    rebuilt = import_string(classpath)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_dag_files_are_thin_declarations():
    """No functions, classes or SQL in dags/: they import builders and call them."""
    for path in sorted(DAGS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{path.name} needs a docstring"
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)), (
                f"{path.name}:{node.lineno} defines logic; put it in explosion_monitor.orchestration"
            )
        imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert all(isinstance(n, ast.ImportFrom) and n.module.startswith("explosion_monitor") for n in imports)
