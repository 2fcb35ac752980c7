"""The environment Airflow runs in: metadata in the warehouse server, our DAGs, loopback only."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from explosion_monitor.config import Settings, get_settings

API_PORT = 8080


def airflow_environment(settings: Settings | None = None) -> dict[str, str]:
    """Variables for any Airflow process of this project; the user's own AIRFLOW__* settings win."""
    from explosion_monitor import warehouse

    settings = settings or get_settings()
    sync_url, async_url = warehouse.airflow_urls(settings)
    venv_bin = str(Path(sys.executable).parent)
    ours = {
        "AIRFLOW_HOME": str(settings.airflow_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sync_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(API_PORT),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # The nightly Cosmos DAG reads the warehouse through this Airflow connection.
        "AIRFLOW_CONN_EXPLOSION_MONITOR_WAREHOUSE": warehouse.start(settings).replace("postgresql://", "postgres://", 1),
        "DO_NOT_TRACK": "1",
        "SCARF_ANALYTICS": "false",
    }
    env = {**ours, **{k: v for k, v in os.environ.items() if k.startswith("AIRFLOW__") and k in ours}}
    env["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    return env


def exec_airflow(args: list[str], settings: Settings | None = None) -> None:
    """Replace this process with `airflow <args>` in the project's environment."""
    settings = settings or get_settings()
    env = {**os.environ, **airflow_environment(settings)}
    settings.airflow_home.mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    os.execve(airflow, [airflow, *args], env)
