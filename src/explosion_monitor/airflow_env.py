"""The environment Airflow runs in: metadata in the warehouse server, our DAGs, loopback only, private files."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from explosion_monitor.config import Settings, get_settings

API_PORT = 8080
LOOPBACK = "127.0.0.1"
#: Components that start a log server. Airflow 3.3 binds it to every interface (serve_logs: host "", no setting);
#: on one machine the API server reads task and trigger logs from the shared log folder, so they run without it.
LOG_SERVING = ("scheduler", "triggerer")
LINEAGE_NAMESPACE = "explosion-monitor"
SKIP_SERVE_LOGS = "--skip-serve-logs"


def airflow_environment(settings: Settings | None = None) -> dict[str, str]:
    """Variables for any Airflow process of this project; the user's own AIRFLOW__* settings win."""
    from explosion_monitor import db, warehouse

    settings = settings or get_settings()
    sync_url, async_url = warehouse.airflow_urls(settings)
    venv_bin = str(Path(sys.executable).parent)
    ours = {
        "AIRFLOW_HOME": str(settings.airflow_home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sync_url,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": async_url,
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # LocalExecutor whose task processes start with GX and dbt already imported (orchestration.executor).
        "AIRFLOW__CORE__EXECUTOR": "explosion_monitor.orchestration.executor.PreloadingLocalExecutor",
        # Everything that can be bound is bound to loopback (README, section Security: what listens where).
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(API_PORT),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": LOOPBACK,
        # An idle scheduler looks again after 0.25 s, not 1 s: each hand-over of a drop (asset event -> run,
        # task end -> next task) waited up to a second for the next loop (bench/freshness, README).
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
        # Task logs carry file names and ids: the owner's only (Airflow's defaults are 0o775 and 0o664).
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS": "0o700",
        "AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS": "0o600",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        # OpenLineage events to a file of our own (orchestration/lineage.py); nothing leaves the machine
        "AIRFLOW__OPENLINEAGE__TRANSPORT": lineage_transport(settings),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": LINEAGE_NAMESPACE,
        # The nightly Cosmos DAG reads the warehouse through this Airflow connection.
        "AIRFLOW_CONN_EXPLOSION_MONITOR_WAREHOUSE": db.with_scheme(warehouse.start(settings), "postgres"),
        "DO_NOT_TRACK": "1",
        "SCARF_ANALYTICS": "false",
    }
    env = {**ours, **{k: v for k, v in os.environ.items() if k.startswith("AIRFLOW__") and k in ours}}
    env["PATH"] = venv_bin + os.pathsep + os.environ.get("PATH", "")
    return env


def lineage_transport(settings: Settings) -> str:
    """The OpenLineage file transport: one JSON event per line in <data>/lineage/openlineage.jsonl (0600)."""
    folder = settings.data_dir / "lineage"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return json.dumps({"type": "file", "log_file_path": str(folder / "openlineage.jsonl"), "append": True})


def without_log_servers(args: list[str]) -> list[str]:
    """`airflow <args>` with `--skip-serve-logs` added for the components that would start a log server."""
    if args and args[0] in LOG_SERVING and SKIP_SERVE_LOGS not in args:
        return [*args, SKIP_SERVE_LOGS]
    return list(args)


def airflow_command(args: list[str]) -> list[str]:
    """The command line for `airflow <args>`: standalone goes through this module (see _standalone)."""
    if args and args[0] == "standalone":
        return [sys.executable, "-m", "explosion_monitor.airflow_env", *args]
    return [str(Path(sys.executable).with_name("airflow")), *without_log_servers(args)]


def exec_airflow(args: list[str], settings: Settings | None = None) -> None:
    """Replace this process with `airflow <args>` in the project's environment, with a private umask."""
    from explosion_monitor.permissions import private_umask

    settings = settings or get_settings()
    env = {**os.environ, **airflow_environment(settings)}
    private_umask()  # inherited by every Airflow process: logs, the admin password file, reports
    settings.airflow_home.mkdir(mode=0o700, parents=True, exist_ok=True)
    command = airflow_command(args)
    os.execve(command[0], command, env)


def stop_process_group(proc: subprocess.Popen, grace_s: float = 60, stragglers_s: float = 20) -> None:
    """End a process started in a session of its own (`airflow standalone` for the tests and benchmarks) and its
    whole group: SIGTERM, then SIGKILL to the leader after `grace_s`. The scheduler can outlive the leader, hung
    in its own shutdown (a make test run once left one behind with its executor's workers), so what is left of
    the group gets `stragglers_s` more and is then killed."""
    for sig, grace in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    deadline = time.monotonic() + stragglers_s
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _standalone(args: list[str]) -> None:
    """`airflow standalone`, whose scheduler and triggerer start without their all-interfaces log servers.

    Standalone starts each component as `airflow <component>` with no way to pass options, so its SubCommand
    is given the flag here (checked by tests/test_airflow_network.py against the sockets that really listen).
    """
    from airflow.__main__ import main
    from airflow.cli.commands import standalone_command

    class SubCommand(standalone_command.SubCommand):
        def __init__(self, parent, name: str, command: list[str], env: dict[str, str]) -> None:
            super().__init__(parent, name, without_log_servers(command), env)

    standalone_command.SubCommand = SubCommand
    sys.argv = ["airflow", *args]
    main()


if __name__ == "__main__":
    from explosion_monitor.permissions import private_umask

    private_umask()
    _standalone(sys.argv[1:])
