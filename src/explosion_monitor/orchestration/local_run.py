"""Run the production DAGs in this process with `dag.test()`: what `explosion-monitor run` does.

`reconcile_incoming` processes every file waiting in incoming/ (with no grace period), then `warehouse`
builds, checks and publishes, then `analysis` publishes the statistics on what was published. Airflow's
metadata lives in the warehouse server's `airflow` database,
migrated on first use. Airflow reads its configuration when first imported, so the environment is set
before any `import airflow`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from explosion_monitor import db
from explosion_monitor.config import Settings, get_settings


class LocalRunError(RuntimeError):
    """A DAG run failed; the message is one sentence naming the DAG and its failed tasks."""


@dataclass
class DagOutcome:
    dag_id: str
    state: str
    failed_tasks: list[str]


def _migrated(sync_url: str) -> bool:
    with db.connect(sync_url) as conn:
        return conn.execute("select to_regclass('public.alembic_version') is not null").fetchone()[0]


def prepare_airflow(settings: Settings | None = None) -> None:
    """Point this process at the project's Airflow and migrate its metadata database if it is new."""
    from explosion_monitor.airflow_env import airflow_environment

    settings = settings or get_settings()
    env = airflow_environment(settings)
    # get_settings(), not `settings`: what this process's environment holds now (an earlier call may have set it)
    if "airflow" in sys.modules and get_settings().airflow_db_url != env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]:
        raise LocalRunError("Airflow was already imported with another configuration; run this in a new process.")
    # The CLI prints its own summary; Airflow and Cosmos chatter stays out of it.
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = settings.airflow_logging_level or "ERROR"
    os.environ.update(env)
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    if not _migrated(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]):
        airflow = str(Path(sys.executable).with_name("airflow"))
        done = subprocess.run([airflow, "db", "migrate"], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise LocalRunError("Airflow's metadata database could not be migrated: " + done.stderr[-300:])


def _test(dag_id: str, settings: Settings, conf: dict | None = None) -> DagOutcome:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.dags_dir))
    if dag_id not in bag.dags:
        raise LocalRunError(f"The DAG {dag_id} is not in {settings.dags_dir}: {bag.import_errors or 'not found'}.")
    run = bag.dags[dag_id].test(run_conf=conf or {})
    failed = [ti.task_id for ti in run.get_task_instances() if str(ti.state) in ("failed", "upstream_failed")]
    return DagOutcome(dag_id, str(run.state), failed)


def run_pipeline(settings: Settings | None = None) -> list[DagOutcome]:
    """Ingest everything pending, then build, gate and publish, through the production DAGs."""
    settings = settings or get_settings()
    prepare_airflow(settings)
    logging.getLogger("airflow").setLevel(logging.WARNING)
    from explosion_monitor.orchestration.manifest import build_manifest, manifest_path

    if not manifest_path(settings).is_file():  # the nightly DAG renders from it; `make install` builds it
        build_manifest(settings)
    outcomes = [_test("reconcile_incoming", settings, {"grace_s": 0})]
    if outcomes[-1].failed_tasks:
        raise LocalRunError(f"reconcile_incoming failed in {', '.join(outcomes[-1].failed_tasks)}.")
    outcomes.append(_test("warehouse", settings))
    if outcomes[-1].failed_tasks:
        raise LocalRunError(
            f"The warehouse DAG failed in {', '.join(outcomes[-1].failed_tasks)}; "
            "`explosion-monitor status` and ops.publication_log say why."
        )
    outcomes.append(_test("analysis", settings))
    if outcomes[-1].failed_tasks:
        raise LocalRunError(
            "The count is published, but the analysis DAG failed; ops.analysis_log says why "
            "(the previous analysis tables stay published)."
        )
    return outcomes
