"""The command line as a user meets it: help everywhere, one sentence for a bad setting, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

EM = [sys.executable, "-m", "explosion_monitor.cli"]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run([*EM, *args], capture_output=True, text=True, env=full_env, timeout=600)


@pytest.mark.parametrize("command", [[], ["warehouse"], ["warehouse", "start"], ["sample"], ["run"], ["status"],
                                     ["report"], ["ingest"]])
def test_help_on_every_command(command):
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout


@pytest.mark.parametrize(
    "env,phrase",
    [
        ({"WAREHOUSE_URL": "mysql://u:pw@db/x"}, "WAREHOUSE_URL must be a PostgreSQL URL"),
        ({"WAREHOUSE_URL": "postgresql://u:hunter2@127.0.0.1:1/x"}, "Cannot connect"),
        ({"EXPLOSION_MONITOR_BUCKETS": "ftp://x"}, "EXPLOSION_MONITOR_BUCKETS must be"),
        ({"EXPLOSION_MONITOR_PG_PORT": "abc"}, "EXPLOSION_MONITOR_PG_PORT must be a whole number"),
    ],
)
def test_bad_setting_is_one_sentence_without_traceback(env, phrase):
    result = run_cli("status", **env)
    assert result.returncode == 1
    assert phrase in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "hunter2" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) <= 3


@pytest.mark.usefixtures("local_buckets")
def test_run_processes_samples_through_the_production_dags(warehouse_url, local_buckets, db):
    """`sample` then `run`: reconcile_incoming and warehouse run in-process with dag.test(), and publish."""
    env = {"WAREHOUSE_URL": warehouse_url, "EXPLOSION_MONITOR_BUCKETS": local_buckets}
    assert run_cli("sample", **env).returncode == 0
    result = run_cli("run", **env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "reconcile_incoming success, warehouse success" in result.stdout
    assert "1.525" in result.stdout and "1.388" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    statuses = dict(db.execute("select status, count(*) from ops.ledger group by 1").fetchall())
    assert statuses == {"loaded": 12, "quarantined": 5, "empty": 1}  # contract v2: two measures deliveries
    assert db.execute("select outcome from ops.publication_log order by publication_id desc limit 1").fetchone() == (
        "published",)
    assert db.execute(
        "select aanslagen from marts.target_progress where niveau = 'land' and jaar = 2025"
    ).fetchone() == (1525,)
