"""The command line as a user meets it: help everywhere, one sentence for a bad setting, no traceback."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest

EM = [sys.executable, "-m", "explosion_monitor.cli"]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **env}
    return subprocess.run([*EM, *args], capture_output=True, text=True, env=full_env, timeout=600)


@pytest.mark.parametrize(
    "command", [[], ["warehouse"], ["warehouse", "start"], ["sample"], ["run"], ["status"], ["report"], ["ingest"]]
)
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


def test_typo_prints_usage_and_exits_2_without_crash_log(tmp_path):
    result = run_cli("status", "--limt", "3", EXPLOSION_MONITOR_HOME=str(tmp_path))
    assert result.returncode == 2
    assert "Usage: " in result.stderr and "No such option: --limt" in result.stderr
    assert "--limit" in result.stderr  # click names the option meant
    assert "Unexpected error" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / ".data" / "logs" / "cli-errors.log").exists()


def test_unknown_command_is_a_usage_error():
    result = run_cli("pubish")
    assert result.returncode == 2 and "No such command" in result.stderr


def test_version():
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"explosion-monitor {version('explosion-monitor')}"


def test_help_shows_no_type_placeholder_for_flags():
    result = run_cli("--help")
    assert "--help" in result.stdout and "<bool>" not in result.stdout


def _json(result: subprocess.CompletedProcess[str]) -> dict:
    """stdout must be exactly one JSON document; anything else (progress, tables) belongs on stderr."""
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"stdout is not one JSON document ({exc}):\n{result.stdout[:3000]}") from None


@pytest.mark.usefixtures("local_buckets")
def test_run_processes_samples_through_the_production_dags(warehouse_url, local_buckets, db):
    """`sample` then `run --json`: reconcile_incoming, warehouse and analysis run in-process with dag.test(), and
    publish. The other --json commands are checked against the same warehouse."""
    env = {"WAREHOUSE_URL": warehouse_url, "EXPLOSION_MONITOR_BUCKETS": local_buckets}
    assert run_cli("sample", **env).returncode == 0
    result = run_cli("run", "--json", **env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "reconcile_incoming success, warehouse success, analysis success" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    document = _json(result)
    assert document["ok"] is True
    assert [(d["dag_id"], d["state"]) for d in document["dag_runs"]][:2] == [
        ("reconcile_incoming", "success"),
        ("warehouse", "success"),
    ]
    statuses = dict(db.execute("select status, count(*) from ops.ledger group by 1").fetchall())
    assert document["files"] == statuses
    by_year = {row["jaar"]: row for row in document["progress"]}
    assert by_year[2025]["aanslagen"] == 1525 and by_year[2025]["doel"] == 1388
    assert by_year[2025]["doel_gehaald"] is False
    _check_json_commands(env, statuses)
    assert statuses == {
        "loaded": 15,
        "quarantined": 5,
        "empty": 1,
    }  # with the 2026 police and the two measures deliveries
    assert db.execute("select outcome from ops.publication_log order by publication_id desc limit 1").fetchone() == (
        "published",
    )
    assert db.execute(
        "select aanslagen from marts.target_progress where niveau = 'land' and jaar = 2025"
    ).fetchone() == (1525,)
    # the analysis run published the running year's forecast after the count
    assert db.execute("select outcome from ops.analysis_log order by analysis_id desc limit 1").fetchone() == (
        "published",
    )
    assert db.execute(
        "select jaar, status from marts.doel_prognose where niveau = 'land' and is_lopend_jaar"
    ).fetchone() == (2026, "buiten_bereik")
    assert "2026 (peildatum 2026-10-15): Buiten bereik." in " ".join(document["running_year"].split())


def _check_json_commands(env: dict[str, str], statuses: dict[str, int]) -> None:
    status = run_cli("status", "--json", "--limit", "500", **env)
    assert status.returncode == 0, status.stderr
    files = _json(status)["files"]
    assert len(files) == sum(statuses.values())
    assert {"file_id", "feed", "object_key", "status", "arrived_at", "purged_at", "rows_loaded"} <= set(files[0])
    assert [f["file_id"] for f in files] == sorted((f["file_id"] for f in files), reverse=True)

    reconcile = run_cli("reconcile", "--json", "--grace", "0", **env)
    assert reconcile.returncode == 0, reconcile.stderr
    assert _json(reconcile) == {"files": []}

    publish = run_cli("publish", "--json", **env)
    assert publish.returncode == 0, publish.stderr[-2000:]
    published = _json(publish)
    assert published["outcome"] == "published" and isinstance(published["publication_id"], int)
    assert {"run_id", "failed_checks", "warnings", "message", "data_docs"} <= set(published)

    purge = run_cli("purge", "--json", **env)  # a dry run: the sample is within the retention period
    assert purge.returncode == 0, purge.stderr
    plan = _json(purge)
    assert plan["applied"] is False and plan["files"] == [] and plan["errors"] == []
    assert plan["retention_days"] == 1825
    assert dt.datetime.fromisoformat(plan["cutoff"]).date() > dt.date.fromisoformat(plan["event_cutoff"])
