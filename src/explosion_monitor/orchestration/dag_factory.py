"""The DAG builders: what runs when, with the guard rails every DAG shares.

The files in `dags/` call these builders and hold no logic. Every DAG gets:
- owner `OWNER` and tags from `TAGS` (a fixed set, checked by tests/test_dags.py);
- retries on the tasks where retrying is safe (`RETRIES`; 0 where a retry could do harm or cannot help);
- `doc_md`; `max_active_runs=1` (the stages below serialise on files, the build schema or a database);
- `task_failed` on every task and `run_failed` on the DAG: they record the failure in
  `ops.pipeline_failures` and notify through `explosion_monitor.orchestration.notify`.

Assets (what flows between DAGs):
- `incoming.<feed>`: the feed's bucket incoming/ folder, watched by `IncomingFilesTrigger` (an AssetWatcher);
- `raw.<feed>`: new rows in `raw.<feed>`; emitted through the alias `raw_deliveries` only when a file was
  actually loaded (a quarantined or duplicate drop emits nothing, so the warehouse does not rebuild for it);
- `marts`: a successful publication (schedules the `analysis` DAG).

Parsing stays cheap: task bodies import the stage modules when they run (the GX provider's operator is
cheap to import; its checkpoints and data context, which import great_expectations, are built when the task
runs, through `_blocking_checkpoint`, `_warning_checkpoint` and `_gx_file_context`); only `warehouse_full_dag`
imports Cosmos (it renders the dbt project from a manifest.json built ahead of time, never `dbt ls`).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, Asset, AssetAlias, AssetAny, AssetWatcher, CronTriggerTimetable, Param, task, teardown

from explosion_monitor.config import FEEDS, Settings, get_settings
from explosion_monitor.orchestration.manifest import manifest_path

log = logging.getLogger(__name__)

OWNER = "data-engineering"
TAGS = frozenset(
    {"explosion-monitor", "ingest", "warehouse", "dbt", "quality", "maintenance", "notifications", "analysis", *FEEDS}
)
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
TIMEZONE = "Europe/Amsterdam"
#: Tasks of the `warehouse` DAG whose failure means the marts were not published.
PUBLICATION_TASKS = frozenset({"blocking_checks", "publish", "record_blocked"})
#: The warehouse DAG's quality tasks (GXValidateCheckpointOperator, file data context).
BLOCKING_TASK = "blocking_checks"
WARNING_TASK = "warning_checks"

#: Retries per task. Ingest, build, freshness and comparison are idempotent (the ledger, dbt and reads);
#: a reingest moves raw rows and a rebuild drops a database, so those run once and are re-triggered by hand.
RETRIES = {
    "ingest": 2,
    "reconcile": 2,
    "dbt_build": 1,
    "blocking_checks": 0,  # a failed blocking check does not pass on a retry
    "warning_checks": 1,
    "record_blocked": 1,
    "data_docs": 1,
    "check_freshness": 2,
    "reingest": 0,
    "prepare": 0,
    "replay": 0,
    "build": 1,
    "publish": 1,
    "compare": 1,
    "purge": 1,  # a re-run finishes an interrupted purge and removes nothing twice
    "analysis": 1,  # all or nothing: a retry rebuilds the analysis schema from the published marts
}
RETRY_DELAY = dt.timedelta(seconds=15)

RAW_ALIAS = AssetAlias(name="raw_deliveries")
MARTS = Asset(name="marts", uri="x-explosion-monitor://warehouse/marts", group="warehouse")
WAREHOUSE_CONN_ID = "explosion_monitor_warehouse"


# --- failure callbacks ------------------------------------------------------------------------------------


def _sentence(exc: BaseException | str | None) -> str:
    text = " ".join(str(exc or "no exception recorded").split())
    return (f"{type(exc).__name__}: " if isinstance(exc, BaseException) else "") + text[:1500]


def _record_failure(**fields: Any) -> None:
    try:
        from explosion_monitor.orchestration import store

        with store.connect() as conn:
            store.record_failure(conn, **fields)
    except Exception as exc:
        log.error("Could not record the failure in ops.pipeline_failures: %s", exc)


def task_failed(context: Any) -> None:
    """Failure callback of every task: record the failure and notify the engineers. Never raises."""
    try:
        from explosion_monitor.orchestration import notify

        ti = context.get("task_instance") or context.get("ti")
        dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
        task_id = getattr(ti, "task_id", None)
        run_id = getattr(ti, "run_id", None) or context.get("run_id")
        message = _sentence(context.get("exception"))
        kind = "publication_failed" if dag_id == "warehouse" and task_id in PUBLICATION_TASKS else "task_failed"
        _record_failure(
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            try_number=getattr(ti, "try_number", None),
            kind=kind,
            message=message,
        )
        if kind == "publication_failed":
            note = notify.publication_failed(run_id, message)
        else:
            note = notify.Notification(
                "task_failed",
                f"Taak mislukt / task failed: {dag_id}.{task_id}",
                f"Task {task_id} of {dag_id} (run {run_id}) failed: {message}",
                notify.engineers(),
                details={"dag_id": dag_id, "task_id": task_id, "run_id": run_id},
            )
        notify.notify(note)
    except Exception:
        log.exception("The failure callback itself failed")


def run_failed(context: Any) -> None:
    """Failure callback of every DAG: record the failed run; notify unless a task already did."""
    try:
        from explosion_monitor.orchestration import notify

        dag_run = context.get("dag_run")
        dag_id = getattr(dag_run, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
        run_id = getattr(dag_run, "run_id", None) or context.get("run_id")
        reason = str(context.get("reason") or "failed")
        _record_failure(
            dag_id=dag_id,
            run_id=run_id,
            task_id=None,
            try_number=None,
            kind="run_failed",
            message=f"run failed: {reason}",
        )
        if reason != "task_failure":  # a failed task has notified already
            notify.notify(
                notify.Notification(
                    "run_failed",
                    f"Run mislukt / run failed: {dag_id}",
                    f"Run {run_id} of {dag_id} failed: {reason}.",
                    notify.engineers(),
                    details={"dag_id": dag_id, "run_id": run_id},
                )
            )
    except Exception:
        log.exception("The failure callback itself failed")


def default_args() -> dict[str, Any]:
    return {
        "owner": OWNER,
        "retries": 0,
        "retry_delay": RETRY_DELAY,
        "on_failure_callback": task_failed,
        # Warehouse and buckets come from the Airflow Connections (explosion_monitor.orchestration.connections).
        "pre_execute": _use_connections,
    }


def _use_connections(context: Any) -> None:
    from explosion_monitor.orchestration.connections import use_airflow_connections

    use_airflow_connections(context)


def project_dag(dag_id: str, *, schedule: Any, tags: list[str], doc_md: str, **kwargs: Any) -> DAG:
    unknown = set(tags) - TAGS
    if unknown:
        raise ValueError(f"Tags {sorted(unknown)} are not in the fixed set {sorted(TAGS)}.")
    return DAG(
        dag_id=dag_id,
        schedule=schedule,
        start_date=START,
        catchup=False,
        max_active_runs=kwargs.pop("max_active_runs", 1),
        # Live from the start: a drop must run the pipeline without anyone clicking "unpause".
        is_paused_upon_creation=kwargs.pop("is_paused_upon_creation", False),
        default_args=default_args(),
        tags=["explosion-monitor", *tags],
        doc_md=doc_md,
        on_failure_callback=run_failed,
        **kwargs,
    )


# --- assets -------------------------------------------------------------------------------------------------


def raw_asset(feed: str) -> Asset:
    return Asset(name=f"raw.{feed}", uri=f"x-explosion-monitor://warehouse/raw/{feed}", group="warehouse")


def watch_settings(settings: Settings) -> dict[str, Any]:
    """How the watchers wake up: `EXPLOSION_MONITOR_WATCH` poll (default) or postgres (MinIO notifications)."""
    # A local folder is listed four times a second (a stat per file: cheap), so a file is announced within
    # ~0.25 s of being stable for the settle time (1 s, triggers.DEFAULT_LOCAL_SETTLE_S), not up to 1 s later.
    default_interval = 0.25 if settings.buckets.startswith("file:") else 10.0
    interval = settings.watch_interval if settings.watch_interval is not None else default_interval
    return {"wake": settings.watch, "poll_interval": interval}


def incoming_asset(feed: str, settings: Settings | None = None) -> Asset:
    """The feed's incoming/ folder, with its watcher."""
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration.triggers import IncomingFilesTrigger

    settings = settings or get_settings()
    trigger = IncomingFilesTrigger(feed=feed, buckets=settings.buckets, **watch_settings(settings))
    return Asset(
        name=f"incoming.{feed}",
        uri=get_bucket(feed, settings).root_url.rstrip("/") + "/incoming",
        group="buckets",
        watchers=[AssetWatcher(name=f"incoming_{feed}", trigger=trigger)],
    )


# --- DAGs ---------------------------------------------------------------------------------------------------


def feed_queue(feed: str, settings: Settings | None = None) -> str:
    """The Celery queue of the feed's tasks: `EXPLOSION_MONITOR_FEED_QUEUES` (feed=queue,...), else Airflow's default."""
    routes = dict((settings or get_settings()).feed_queues)
    if routes.get(feed):
        return routes[feed]
    from airflow.configuration import conf

    return conf.get("operators", "default_queue", fallback="default")


def ingest_dag(feed: str, settings: Settings | None = None) -> DAG:
    """`ingest_<feed>`: each new file in the feed's incoming/ is claimed, validated, loaded or quarantined."""
    doc = f"""
### Ingest `{feed}`

Runs when the watcher on `incoming.{feed}` sees a new file (no cron, no sensor). For each announced key:
claim (ledger lock), parse and validate against the contract, then COPY into `raw.{feed}` in one
transaction and move the file to `archive/`, or move it to `quarantine/` with a report and notify the
partner's contact. A loaded file emits `raw.{feed}`, which schedules the `warehouse` DAG.

Events that arrive while a run is busy coalesce into the next run, which processes every key.
Trigger by hand with `keys` (names under incoming/) or without params to process all of incoming/.
Missed events are caught by `reconcile_incoming`.
"""
    with project_dag(
        f"ingest_{feed}",
        schedule=incoming_asset(feed, settings),
        tags=["ingest", feed],
        doc_md=doc,
        params={"keys": Param([], type="array", description="Names under incoming/ (empty: every file there).")},
    ) as dag:
        # No inlets: Airflow fails a task whose inlet asset is not active (a bucket setting that changed since
        # the DAG was parsed); the outlet is emitted through the alias at run time.
        @task(task_id="ingest", retries=RETRIES["ingest"], outlets=[RAW_ALIAS], queue=feed_queue(feed))
        def ingest(triggering_asset_events=None, outlet_events=None, params=None, run_id=None):
            from explosion_monitor.orchestration import steps

            payloads = steps.event_payloads(triggering_asset_events, feed)
            if not payloads:
                payloads = [{"key": str(k)} for k in (params or {}).get("keys") or []]
            outcomes = steps.ingest_keys(feed, payloads, run_id=run_id)
            extra = steps.raw_event_extra(feed, outcomes, run_id=run_id)
            if extra:
                outlet_events[RAW_ALIAS].add(raw_asset(feed), extra=extra)
            return outcomes

        ingest()
    return dag


def _gx_file_context() -> Any:
    from explosion_monitor import quality  # imported when the task runs: GX stays out of DAG parsing

    return quality.file_context()


def _blocking_checkpoint(context: Any) -> Any:
    from explosion_monitor import quality

    return quality.checkpoint_factory(level=quality.BLOCKING, render_docs=False)(context)


def _warning_checkpoint(context: Any) -> Any:
    from explosion_monitor import quality

    return quality.checkpoint_factory(level=quality.WARNING, render_docs=False)(context)


def warehouse_dag() -> DAG:
    """`warehouse`: one dbt build per run, the quality suites (GX provider), then the publication."""
    from great_expectations_provider.operators.validate_checkpoint import GXValidateCheckpointOperator

    doc = f"""
### Warehouse: build, check, publish

Scheduled on `raw.politie | raw.verzekeraars | raw.corporaties | raw.gemeenten`. `dbt_build` runs **one** `dbt build`
(one dbt process, `explosion_monitor.transform.build`, as the CLI does) into the `build` schema: only
`source:<feed>+` for the feeds with new rows (without the full-history and unit tests) when the last build
was complete and of the same dbt project version, else the per-drop selector `per_levering`; a full refresh
when a reingest replaced raw rows or when asked (param `full_refresh`).
Results land in `ops.dbt_run_results`. One Airflow task per dbt model would cost seconds of start-up each
on a 2-core machine; the per-model view is in the nightly `warehouse_full` DAG (Cosmos).

Then, in parallel, two `GXValidateCheckpointOperator` tasks with the file data context in `.data/gx/`
(results persist and are rendered into Data Docs; the suites are built when the task runs):
`{BLOCKING_TASK}` runs every blocking suite in `expectations/` (one checkpoint, a validation definition per
suite) and fails with GXValidationFailed when one fails; `{WARNING_TASK}` runs the warning suites and never
fails. When both succeed, `publish` swaps the marts and open_data in in one transaction, records the
warnings in `ops.publication_log` and emits the `marts` asset. When the blocking checks failed,
`record_blocked` logs the blocked run (failed checks with sample rows) in `ops.publication_log`; the marts
stay as they were and the engineers are notified. Last, `data_docs` renders both tasks' results into the GX
Data Docs (after the publication, so that rendering never delays it).
"""
    with project_dag(
        "warehouse",
        schedule=AssetAny(*(raw_asset(feed) for feed in FEEDS)),
        tags=["warehouse", "dbt", "quality"],
        doc_md=doc,
        params={"full_refresh": Param(False, type="boolean", description="Rebuild incremental models from raw.")},
    ) as dag:

        @task(task_id="dbt_build", retries=RETRIES["dbt_build"])
        def dbt_build(triggering_asset_events=None, params=None):
            from explosion_monitor.orchestration import steps

            extras = steps.raw_event_extras(triggering_asset_events)
            plan = steps.plan_build(extras, full_refresh=bool((params or {}).get("full_refresh")))
            log.info("Build plan: %s", plan)
            return steps.run_build(plan)

        blocking = GXValidateCheckpointOperator(
            task_id=BLOCKING_TASK,
            retries=RETRIES[BLOCKING_TASK],
            configure_checkpoint=_blocking_checkpoint,
            context_type="file",
            configure_file_data_context=_gx_file_context,
        )
        warnings = GXValidateCheckpointOperator(
            task_id=WARNING_TASK,
            retries=RETRIES[WARNING_TASK],
            configure_checkpoint=_warning_checkpoint,
            context_type="file",
            configure_file_data_context=_gx_file_context,
        )

        @task(task_id="publish", retries=RETRIES["publish"], outlets=[MARTS])
        def publish(ti=None, run_id=None):
            from explosion_monitor.orchestration import steps

            return steps.publish_checked(
                run_id, ti.xcom_pull(task_ids=BLOCKING_TASK), ti.xcom_pull(task_ids=WARNING_TASK)
            )

        # all_done: it runs after both checks in any case and decides from the blocking task's result.
        @task(task_id="record_blocked", retries=RETRIES["record_blocked"], trigger_rule="all_done")
        def record_blocked(ti=None, run_id=None):
            from airflow.sdk.exceptions import AirflowSkipException

            from explosion_monitor.orchestration import steps

            result = steps.record_blocked_checks(
                run_id, ti.xcom_pull(task_ids=BLOCKING_TASK), ti.xcom_pull(task_ids=WARNING_TASK)
            )
            if result is None:
                raise AirflowSkipException("The blocking checks did not block this run.")
            return result

        # A teardown: it runs whatever the gate decided, and its outcome never decides the run's (a blocked gate
        # still fails the run through publish, a leaf).
        @teardown
        @task(task_id="data_docs", retries=RETRIES["data_docs"])
        def data_docs():
            from explosion_monitor.orchestration import steps

            return steps.render_gate_docs()

        published, blocked = publish(), record_blocked()
        dbt_build() >> [blocking, warnings]
        [blocking, warnings] >> published
        [blocking, warnings] >> blocked
        [published, blocked] >> data_docs()
    return dag


def analysis_dag() -> DAG:
    """`analysis`: after every publication of the count, the statistics (explosion_monitor.analysis)."""
    doc = """
### Analysis: statistics on the published count

Scheduled on the `marts` asset (a successful publication of the count), so statistics never delay the count.
One task runs `explosion_monitor.analysis.runner.run_analysis`: every registered step
(`explosion_monitor.analysis.steps.STEPS`, today the forecast `doel_prognose` and its backtest) writes into the
schema `analysis_build`, reading the published `marts`; the blocking suites in `expectations/analysis/` check it;
then only the analysis tables are replaced in `marts`, all in one transaction. A blocked or failed run leaves
the previous analysis tables published; every run is a row in `ops.analysis_log`.
"""
    with project_dag("analysis", schedule=MARTS, tags=["analysis", "quality"], doc_md=doc) as dag:

        @task(task_id="analysis", retries=RETRIES["analysis"])
        def analysis(run_id=None):
            import os

            from explosion_monitor.analysis.runner import run_analysis

            # the next drop's count may be building on the same cores: statistics yield the CPU to it
            os.nice(10)

            result = run_analysis(run_id=run_id)
            log.info("%s", result.message)
            return {"outcome": result.outcome, "analysis_id": result.analysis_id, "steps": result.steps}

        analysis()
    return dag


# --- the nightly full build, rendered by Cosmos -------------------------------------------------------------


def warehouse_full_dag(settings: Settings | None = None) -> DAG:
    """`warehouse_full`: nightly, every dbt node as its own Airflow task (Cosmos watcher mode, one dbt process)."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, LoadMode, TestBehavior
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    settings = settings or get_settings()
    manifest = manifest_path(settings)
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} is missing; run `explosion-monitor dbt-manifest` (make install does).")
    doc = f"""
### Warehouse, full suite (nightly, Cosmos)

At 02:30 (Amsterdam): `dbt build` of the whole project, including the tests over the whole police history
(tag `volledige_historie`) that the per-drop build leaves out, into its own schema `nightly` (so it never
races the per-drop build in `build`, and publishes nothing). Rendered by astronomer-cosmos from
`{manifest.relative_to(settings.root) if manifest.is_relative_to(settings.root) else manifest}`
(LoadMode.DBT_MANIFEST, built ahead of time by `dbt parse`; no `dbt ls` at parse time). ExecutionMode.WATCHER
runs **one** dbt process (the producer task); each model's task watches its result, so a failure shows on the
model that failed. The connection is the Airflow connection `{WAREHOUSE_CONN_ID}` (a Cosmos profile mapping).
"""
    with project_dag(
        "warehouse_full",
        schedule=CronTriggerTimetable("30 2 * * *", timezone=TIMEZONE),
        tags=["warehouse", "dbt", "quality"],
        doc_md=doc,
        # Needs the Airflow connection explosion_monitor_warehouse: unpause once it exists.
        is_paused_upon_creation=True,
    ) as dag:
        DbtTaskGroup(
            group_id="dbt",
            project_config=ProjectConfig(
                dbt_project_path=settings.dbt_project_dir,
                manifest_path=manifest,
                project_name="explosion_monitor",
                install_dbt_deps=False,
            ),
            profile_config=ProfileConfig(
                profile_name="explosion_monitor",
                target_name="nightly",
                profile_mapping=PostgresUserPasswordProfileMapping(
                    conn_id=WAREHOUSE_CONN_ID, profile_args={"schema": "nightly", "threads": 2}
                ),
            ),
            render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH),
            execution_config=ExecutionConfig(execution_mode=ExecutionMode.WATCHER),
            operator_args={"retries": 1},
        )
    return dag
