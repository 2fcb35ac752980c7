"""`make airflow` listens on loopback only and keeps its files private (README, section Security).

The configuration is checked directly, and a real `explosion-monitor airflow standalone` (what `make airflow`
runs) is started against the test metadata database: every socket its process tree listens on is read from the
kernel (psutil), and the files it wrote (the admin password file, the logs) are checked for their modes.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import airflow_harness
import pytest

from explosion_monitor.airflow_env import (
    SKIP_SERVE_LOGS,
    airflow_command,
    airflow_environment,
    stop_process_group,
    without_log_servers,
)

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_airflow_environment_binds_loopback_and_keeps_logs_private(monkeypatch) -> None:
    for key in [k for k in os.environ if k.startswith("AIRFLOW__")]:
        monkeypatch.delenv(key)
    env = airflow_environment()
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST"] == "127.0.0.1"
    assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FOLDER_PERMISSIONS"] == "0o700"
    assert env["AIRFLOW__LOGGING__FILE_TASK_HANDLER_NEW_FILE_PERMISSIONS"] == "0o600"
    # the components with a log server (bound to every interface by Airflow itself) start without it
    assert without_log_servers(["scheduler"]) == ["scheduler", SKIP_SERVE_LOGS]
    assert without_log_servers(["triggerer", "--capacity", "5"]) == ["triggerer", "--capacity", "5", SKIP_SERVE_LOGS]
    assert without_log_servers(["api-server"]) == ["api-server"]
    assert airflow_command(["standalone"])[1:3] == ["-m", "explosion_monitor.airflow_env"]


def _listening(pid: int) -> list[tuple[str, int, str]]:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    found = []
    for proc in procs:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append((conn.laddr.ip, conn.laddr.port, proc.name()))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return sorted(set(found))


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2) as r:
            body = json.loads(r.read())
    except OSError:
        return False
    return all(body.get(c, {}).get("status") == "healthy" for c in ("metadatabase", "scheduler", "triggerer"))


def _modes(top: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            st = path.lstat()
            if not stat.S_ISLNK(st.st_mode):
                out[str(path.relative_to(top))] = oct(stat.S_IMODE(st.st_mode))
    return out


@pytest.mark.timeout(600)
def test_standalone_listens_on_loopback_only_and_writes_private_files(tmp_path: Path) -> None:
    env_values = airflow_harness.configure()
    airflow_harness.migrate()
    api_port, worker_logs, trigger_logs = _free_port(), _free_port(), _free_port()
    home = tmp_path / "airflow"
    env = {
        **os.environ,
        **env_values,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_logs),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_logs),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "EXPLOSION_MONITOR_BUCKETS": (tmp_path / "buckets").as_uri(),
    }
    cli = str(Path(sys.executable).with_name("explosion-monitor"))
    log = tmp_path / "standalone.log"
    old_umask = os.umask(0o022)  # a usual login umask: the entry point must tighten it itself
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen([cli, "airflow", "standalone"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    finally:
        os.umask(old_umask)
    try:
        deadline = time.monotonic() + 360
        while not _healthy(api_port):
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, (
                "standalone not healthy in time:\n" + log.read_text(errors="replace")[-3000:]
            )
            time.sleep(2)
        time.sleep(10)  # the log servers, when started, come up beside the scheduler and triggerer
        listening = _listening(proc.pid)
        assert any(port == api_port for _, port, _ in listening), listening
        assert [s for s in listening if s[0] not in LOOPBACK] == [], listening
        assert not [s for s in listening if s[1] in (worker_logs, trigger_logs, 8793, 8794)], listening

        password_file = home / "simple_auth_manager_passwords.json.generated"
        assert password_file.is_file()
        modes = _modes(home)
        assert modes, "standalone wrote nothing"
        loose = {p: m for p, m in modes.items() if m not in ("0o600", "0o700")}
        assert loose == {}, loose
        assert oct(stat.S_IMODE(home.stat().st_mode)) == "0o700"
    finally:
        stop_process_group(proc)
