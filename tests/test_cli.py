"""The command line as a user meets it: help everywhere, one sentence for a bad setting, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

EM = [sys.executable, "-m", "explosion_monitor.cli"]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run([*EM, *args], capture_output=True, text=True, env=full_env, timeout=120)


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
