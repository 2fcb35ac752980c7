"""The LocalExecutor of `make airflow` preloads GX and dbt once, so task processes (forks) start with them.

The configuration is checked through Airflow's own executor loader in a fresh interpreter (what `airflow
standalone` does: it keeps a local executor and forces LocalExecutor on any other); the preload itself is run
for real. tests/test_airflow_network.py starts a real standalone with it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from explosion_monitor.airflow_env import airflow_environment

CLASSPATH = "explosion_monitor.orchestration.executor.PreloadingLocalExecutor"


def test_airflow_runs_the_preloading_local_executor(monkeypatch) -> None:
    for key in [k for k in os.environ if k.startswith("AIRFLOW__")]:
        monkeypatch.delenv(key)
    env = {**os.environ, **airflow_environment()}
    assert env["AIRFLOW__CORE__EXECUTOR"] == CLASSPATH
    code = (
        "from airflow.executors.executor_loader import ExecutorLoader\n"
        "cls, _ = ExecutorLoader.import_default_executor_cls()\n"
        "print(cls.__module__, cls.__name__, cls.is_local)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["explosion_monitor.orchestration.executor", "PreloadingLocalExecutor", "True"]


def test_preload_imports_what_tasks_need_and_survives_a_missing_module() -> None:
    # In a fresh interpreter: importing airflow here would come before tests/airflow_harness.configure().
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.WARNING, format='%(message)s')\n"
        "from explosion_monitor.orchestration import executor\n"
        f"assert executor.CLASSPATH == {CLASSPATH!r}\n"
        "took = executor.preload()\n"
        "print('RESULT', 'great_expectations' in sys.modules, 'dbt.cli.main' in sys.modules,"
        " len(took) == len(executor.PRELOAD))\n"
        "print('RESULT', list(executor.preload(('json', 'explosion_monitor.no_such_module'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    results = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    assert results == ["RESULT True True True", "RESULT ['json']"]
    assert "Could not preload explosion_monitor.no_such_module" in out.stdout + out.stderr  # structlog: stdout
