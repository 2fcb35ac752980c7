"""The DAGs that keep the pipeline whole (dags/maintenance.py declares them): `reconcile_incoming` (files the
watchers missed), `partner_freshness` (late partners), `reingest` (one file after a fix), `retention_purge` and
`rebuild` (the archive replayed and compared). Shared guard rails come from dag_factory.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import DAG, CronTriggerTimetable, Param, task

from explosion_monitor.config import FEEDS
from explosion_monitor.orchestration.dag_factory import RAW_ALIAS, RETRIES, TIMEZONE, project_dag, raw_asset

log = logging.getLogger(__name__)


def reconcile_dag() -> DAG:
    doc = f"""
### Reconcile incoming/

Every 10 minutes: lists incoming/ of every feed against the drop claims and processes what the watchers
missed (a paused DAG, a restarted triggerer, coalesced or lost events): files unchanged for
{steps_grace()} s that were never claimed, or claimed that long ago and still waiting. Loading is guarded
by the ledger, so a file the ingest DAG is processing right now is skipped as busy, never loaded twice.
"""
    with project_dag(
        "reconcile_incoming",
        schedule=CronTriggerTimetable("*/10 * * * *", timezone=TIMEZONE),
        tags=["ingest", "maintenance"],
        doc_md=doc,
        # `explosion-monitor run` sets 0: process everything waiting now.
        params={"grace_s": Param(steps_grace(), type="integer", minimum=0, description="Seconds a file waits first.")},
    ) as dag:

        @task(task_id="reconcile", retries=RETRIES["reconcile"], outlets=[RAW_ALIAS])
        def reconcile(outlet_events=None, run_id=None, params=None):
            from explosion_monitor.orchestration import steps

            grace = int((params or {}).get("grace_s", steps.RECONCILE_GRACE_S))
            outcomes = steps.reconcile(grace_s=grace, run_id=run_id)
            for feed in FEEDS:
                extra = steps.raw_event_extra(feed, outcomes, run_id=run_id)
                if extra:
                    outlet_events[RAW_ALIAS].add(raw_asset(feed), extra=extra)
            return outcomes

        reconcile()
    return dag


def steps_grace() -> int:
    from explosion_monitor.orchestration.steps import RECONCILE_GRACE_S

    return RECONCILE_GRACE_S


def freshness_dag() -> DAG:
    doc = """
### Partner freshness

Every morning at 07:00 (Amsterdam): `dbt source freshness` on the raw feeds (thresholds in
`explosion_monitor.contracts.dbt.FRESHNESS`). A feed that is late (warn or error) gets a notification to
the partner's contact (`EXPLOSION_MONITOR_CONTACT_<FEED>`); results are in the task's XCom.
"""
    with project_dag(
        "partner_freshness",
        schedule=CronTriggerTimetable("0 7 * * *", timezone=TIMEZONE),
        tags=["quality", "notifications"],
        doc_md=doc,
    ) as dag:

        @task(task_id="check_freshness", retries=RETRIES["check_freshness"])
        def check_freshness():
            from explosion_monitor.orchestration import steps

            return steps.check_partner_freshness()

        check_freshness()
    return dag


def reingest_dag() -> DAG:
    doc = """
### Reingest one file (manual)

After a fix (a contract change, a corrected reference table), reprocess one quarantined or archived file.
Params: `feed`, and `file`: its ledger file id (see `explosion-monitor status`) or the URL of its copy in
archive/ or quarantine/. The file is copied back into incoming/ and ingested as a new drop; the old ledger
row becomes `reingested`. For an archived file its rows leave `raw` first and the next warehouse build is
a full refresh. See `explosion_monitor.orchestration.reingest`.
"""
    with project_dag(
        "reingest",
        schedule=None,
        tags=["ingest", "maintenance"],
        doc_md=doc,
        params={
            "feed": Param("politie", type="string", enum=list(FEEDS)),
            "file": Param("", type="string", minLength=1, description="Ledger file id, or archive/quarantine URL."),
        },
    ) as dag:

        @task(task_id="reingest", retries=RETRIES["reingest"], outlets=[RAW_ALIAS])
        def reingest_file(params=None, outlet_events=None, run_id=None):
            from explosion_monitor.orchestration import reingest, steps

            feed = params["feed"]
            result = reingest.reingest(feed, params["file"], run_id=run_id)
            extra = steps.raw_event_extra(feed, [result["outcome"]], full_refresh=result["full_refresh"])
            if extra is None and result["full_refresh"]:  # rows left raw, nothing came back
                extra = {"feed": feed, "file_ids": [], "rows": 0, "full_refresh": True}
            if extra:
                outlet_events[RAW_ALIAS].add(raw_asset(feed), extra=extra)
            return result

        reingest_file()
    return dag


def retention_dag() -> DAG:
    doc = """
### Retention purge (monthly)

Removes what the retention period (`EXPLOSION_MONITOR_RETENTION_DAYS`, default 1825 days) no longer needs: raw
rows and archived or quarantined files that arrived before the cutoff and that no figure within the period
reads, with their findings and old notifications; each file is recorded in `ops.purge_log` and keeps its ledger
row. For every feed that lost raw rows it emits `raw.<feed>` with `full_refresh`, so the `warehouse` DAG
rebuilds the incremental models without them and publishes through the gate. Param `dry_run` only lists what
would go (in the task log). Same as `explosion-monitor purge --apply`; rules in `explosion_monitor.retention`.
"""
    with project_dag(
        "retention_purge",
        schedule=CronTriggerTimetable("0 4 1 * *", timezone=TIMEZONE),
        tags=["maintenance"],
        doc_md=doc,
        params={"dry_run": Param(False, type="boolean", description="Only list what would be removed.")},
    ) as dag:

        @task(task_id="purge", retries=RETRIES["purge"], outlets=[RAW_ALIAS])
        def purge(params=None, outlet_events=None, run_id=None):
            from explosion_monitor import retention
            from explosion_monitor.db.ready import connect_ready

            result = retention.purge(apply=not (params or {}).get("dry_run"), run_id=f"purge-{run_id}")
            going = result.removed if result.applied else result.plan.purge
            for d in going:
                log.info(
                    "%s %s file %d %s (%s): %s",
                    "Removed" if result.applied else "Would remove",
                    d.feed,
                    d.file_id,
                    d.object_key,
                    d.reason,
                    d.detail,
                )
            if result.errors:
                raise retention.PurgeError("; ".join(result.errors))  # pending in ops.purge_log: the retry finishes
            if result.applied:
                # From the log, not this try's removals: a retry after a failed first try still triggers the build.
                with connect_ready() as conn:
                    feeds = retention.refresh_pending_feeds(conn)
                for feed in feeds:
                    outlet_events[RAW_ALIAS].add(
                        raw_asset(feed),
                        extra={
                            "feed": feed,
                            "file_ids": [],
                            "rows": 0,
                            "full_refresh": True,
                            "purge_run_id": result.run_id,
                        },
                    )
            return {
                "applied": result.applied,
                "files": len(going),
                "rows_removed": result.rows_removed,
                "objects_removed": result.objects_removed,
                "notifications_removed": result.notifications_removed,
            }

        purge()
    return dag


def rebuild_dag() -> DAG:
    doc = """
### Rebuild from the archive (manual)

Replays every archived file (ledger order) into an empty database and checks that its marts equal the
live ones on every business column. Param `target_database` (default `<warehouse db>_rebuild`, on the same
server; dropped and created afresh; never the live database). `compare` fails, listing the differences,
when they are not equal. See `explosion_monitor.orchestration.rebuild`.
"""
    with project_dag(
        "rebuild",
        schedule=None,
        tags=["warehouse", "maintenance"],
        doc_md=doc,
        params={"target_database": Param("", type="string", description="Empty: <warehouse database>_rebuild.")},
    ) as dag:

        def _target(params: Any) -> str:
            from explosion_monitor.orchestration import rebuild

            return rebuild.target_url(database=(params or {}).get("target_database") or None)

        @task(task_id="prepare", retries=RETRIES["prepare"])
        def prepare(params=None):
            from explosion_monitor.orchestration import rebuild

            return rebuild.prepare(_target(params))

        @task(task_id="replay", retries=RETRIES["replay"])
        def replay(params=None, run_id=None):
            from explosion_monitor.orchestration import rebuild

            return rebuild.replay(_target(params), run_id=run_id)

        @task(task_id="build", retries=RETRIES["build"])
        def build(params=None):
            from explosion_monitor.orchestration import rebuild

            return rebuild.build(_target(params))

        @task(task_id="publish", retries=RETRIES["publish"])
        def publish(params=None, run_id=None):
            from explosion_monitor.orchestration import rebuild

            return rebuild.publish(_target(params), run_id=run_id)

        @task(task_id="compare", retries=RETRIES["compare"])
        def compare(params=None):
            from airflow.sdk.exceptions import AirflowFailException

            from explosion_monitor.orchestration import rebuild

            result = rebuild.compare(rebuild.current_url(), _target(params))
            if not result["equal"]:
                raise AirflowFailException(
                    f"The rebuild differs from the live marts: {'; '.join(result['differences'][:5])}"
                )
            return result

        prepare() >> replay() >> build() >> publish() >> compare()
    return dag
