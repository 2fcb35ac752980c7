"""Airflow for tests: one migrated metadata database per machine, one AIRFLOW_HOME per test session.

Airflow reads its configuration when it is first imported, so `configure()` must run before any
`import airflow`; the test modules that need Airflow call it from a fixture and import Airflow inside
their tests. The metadata database is `airflow_test` on the embedded PostgreSQL (never SQLite); it is kept
between sessions, so only the first session pays for the migration.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from explosion_monitor import warehouse
from explosion_monitor.config import get_settings

DB = "airflow_test"
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
ROOT = Path(__file__).resolve().parents[1]
_STATE: dict[str, object] = {}


def _ensure_database(admin_url: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", (DB,)).fetchone():
            conn.execute(sql.SQL("create database {}").format(sql.Identifier(DB)))
    return admin_url.rsplit("/", 1)[0] + "/" + DB


def configure() -> dict[str, str]:
    """Point this process's (future) Airflow at airflow_test and a temporary AIRFLOW_HOME; idempotent."""
    if "env" in _STATE:
        return _STATE["env"]  # type: ignore[return-value]
    import sys

    if "airflow" in sys.modules and "AIRFLOW_TEST_CONFIGURED" not in os.environ:
        raise RuntimeError("airflow was imported before tests/airflow_harness.configure(); import it inside tests")
    admin = warehouse.admin_url(get_settings())
    url = _ensure_database(admin)
    home = Path(tempfile.mkdtemp(prefix="airflow-home-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url.replace("postgresql://", "postgresql+psycopg://", 1),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url.replace("postgresql://", "postgresql+psycopg_async://", 1),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        # the project's DAGs, and a bundle of DAGs that only tests run (tests/airflow_dags)
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
                {
                    "name": "test-dags",
                    "classpath": LOCAL_BUNDLE,
                    "kwargs": {"path": str(ROOT / "tests" / "airflow_dags")},
                },
            ]
        ),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "DO_NOT_TRACK": "1",
        "SCARF_ANALYTICS": "false",
        "AIRFLOW_TEST_CONFIGURED": "1",
    }
    os.environ.update(env)
    _STATE["env"] = env
    return env


def migrate() -> None:
    """Bring airflow_test to the installed Airflow's schema (fast when it already is)."""
    if _STATE.get("migrated"):
        return
    configure()
    from airflow.utils import db

    db.upgradedb()
    _STATE["migrated"] = True
