"""`make prod-local`: the compose topology as native processes, and the production scenario end to end.

The fast tests hold prod-local and docker-compose.yml to the same settings (docker/airflow.env, the
host-specific keys, the workers' queues, the secrets' names). The slow test starts a whole stack of its own
(own ports, own folder: PostgreSQL, Redis, the S3 gateway with MinIO notifications, Airflow's API server,
scheduler, DAG processor, triggerer and two Celery workers), runs the scenario `make prod-smoke` runs
(explosion_monitor.orchestration.prod_smoke) and stops it, checking that nothing it started survives.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from explosion_monitor.config import get_settings
from explosion_monitor.orchestration import connections, prod_local

ROOT = get_settings().root
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _stack(home: Path, ports: prod_local.Ports | None = None) -> prod_local.Stack:
    if ports is None:  # not started: the superuser password the cluster would write on creation
        (home / "postgres").mkdir(parents=True, exist_ok=True)
        (home / "postgres" / ".data.password").write_text("x\n")
    return prod_local.Stack(get_settings(), ports or prod_local.Ports(55001, 55002, 55003, 55004), home)


def test_compose_and_prod_local_read_the_same_settings_file() -> None:
    shared = prod_local.read_env_file(prod_local.shared_settings_path())
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    airflow_services = [n for n, s in COMPOSE["services"].items() if n.startswith("airflow-")]
    for name in airflow_services:
        assert COMPOSE["services"][name]["env_file"] == ["docker/airflow.env"], name
        # nothing of the shared file is set again (differently) in the compose file
        assert not set(shared) & set(COMPOSE["services"][name]["environment"]), name


def test_compose_and_prod_local_set_the_same_host_specific_keys(tmp_path: Path) -> None:
    compose_keys = set(COMPOSE["x-airflow-env"])
    derived = {connections.env_name(connections.WAREHOUSE_CONN_ID), connections.env_name(connections.BUCKETS_CONN_ID)}
    assert compose_keys == set(prod_local.HOST_SETTINGS) | derived
    stack = _stack(tmp_path)
    assert set(stack.host_settings()) == set(prod_local.HOST_SETTINGS)
    env = stack.airflow_env()
    assert compose_keys <= set(env)
    worker = stack.airflow_env("worker-1")
    # a worker's tasks find warehouse and buckets only through the Airflow Connections
    assert not {"WAREHOUSE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(worker)
    assert derived <= set(worker)
    for key, value in prod_local.read_env_file(prod_local.shared_settings_path()).items():
        assert env[key] == value
    # every address is loopback
    for key in (
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "WAREHOUSE_URL",
        "AWS_ENDPOINT_URL",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    ):
        assert "@127.0.0.1:" in env[key] or "//127.0.0.1:" in env[key], key


def test_the_workers_and_their_queues_are_the_compose_files() -> None:
    commands = {n: s["command"] for n, s in COMPOSE["services"].items() if n.startswith("airflow-worker")}
    queues = sorted(c[c.index("--queues") + 1] for c in commands.values())
    assert queues == sorted(prod_local.WORKERS.values())
    shared = prod_local.read_env_file(prod_local.shared_settings_path())
    routed = dict(item.split("=") for item in shared["EXPLOSION_MONITOR_FEED_QUEUES"].split(","))
    # the routed feed's queue is served by exactly one worker (deterministic), default by both (failover)
    for queue in routed.values():
        assert sum(queue in q.split(",") for q in prod_local.WORKERS.values()) == 1
    assert all("default" in q.split(",") for q in prod_local.WORKERS.values())


def test_the_secrets_file_has_the_keys_of_env_example(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    example = prod_local.read_env_file(ROOT / "docker" / "env.example")
    generated = stack.secrets()
    assert set(generated) == set(example)
    assert all(generated[k] for k in example if k.endswith(("PASSWORD", "SECRET_KEY", "SECRET")))
    assert oct((tmp_path / "secrets.env").stat().st_mode & 0o777) == "0o600"
    assert stack.secrets() == generated  # stable once written


def test_one_place_maps_the_cli_settings_onto_airflow_connections() -> None:
    conns = connections.airflow_connections({
        "WAREHOUSE_URL": "postgresql://pipeline:geheim@db:5432/explosion_monitor",
        "AWS_ACCESS_KEY_ID": "pipeline", "AWS_SECRET_ACCESS_KEY": "s3geheim", "AWS_ENDPOINT_URL": "http://minio:9000",
        "AWS_DEFAULT_REGION": "eu-west-1",
    })  # fmt: skip
    assert conns["AIRFLOW_CONN_EXPLOSION_MONITOR_WAREHOUSE"] == "postgres://pipeline:geheim@db:5432/explosion_monitor"
    aws = json.loads(conns["AIRFLOW_CONN_EXPLOSION_MONITOR_BUCKETS"])
    assert aws == {
        "conn_type": "aws",
        "login": "pipeline",
        "password": "s3geheim",
        "extra": {"region_name": "eu-west-1", "endpoint_url": "http://minio:9000"},
    }
    assert connections.airflow_connections({}) == {}
    # and back, as a task's pre_execute hook reads them (Airflow's own Connection parsing in between)
    from airflow.sdk import Connection

    warehouse = Connection.from_uri(conns["AIRFLOW_CONN_EXPLOSION_MONITOR_WAREHOUSE"], conn_id="w")
    buckets = Connection.from_json(conns["AIRFLOW_CONN_EXPLOSION_MONITOR_BUCKETS"], conn_id="b")
    assert connections.settings_from_connections(warehouse, buckets) == {
        "WAREHOUSE_URL": "postgresql://pipeline:geheim@db:5432/explosion_monitor", "AWS_ACCESS_KEY_ID": "pipeline",
        "AWS_SECRET_ACCESS_KEY": "s3geheim", "AWS_ENDPOINT_URL": "http://minio:9000", "AWS_DEFAULT_REGION": "eu-west-1",
    }  # fmt: skip


def test_ports_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLOSION_MONITOR_PROD_API_PORT", "58181")
    assert prod_local.Ports.from_settings(get_settings()).api == 58181
    monkeypatch.setenv("EXPLOSION_MONITOR_PROD_API_PORT", "80")
    with pytest.raises(prod_local.ProdLocalError, match="EXPLOSION_MONITOR_PROD_API_PORT"):
        prod_local.Ports.from_settings(get_settings())


# --- end to end ------------------------------------------------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _listening_pids_not_on_loopback(pids: set[int]) -> list[str]:
    """Sockets in LISTEN of the given processes that are bound to anything but 127.0.0.1."""
    inodes: dict[str, int] = {}
    for pid in pids:
        with_fd = Path(f"/proc/{pid}/fd")
        try:
            for fd in with_fd.iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes[target[8:-1]] = pid
        except OSError:
            continue
    bad = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if (
                state == "0A"
                and inode in inodes
                and local.split(":")[0] not in ("0100007F", "00000000000000000000000001000000")
            ):
                bad.append(f"pid {inodes[inode]} listens on {local}")
    return bad


@pytest.mark.slow
@pytest.mark.prod_local
@pytest.mark.timeout(1500)
def test_production_scenario_end_to_end() -> None:
    from explosion_monitor.orchestration.prod_smoke import run_smoke

    home = Path(tempfile.mkdtemp(prefix="em-prod-local-"))
    home.chmod(0o755)  # the PostgreSQL user enters it when we are root
    stack = _stack(home, prod_local.Ports(*_free_ports(4)))
    started = time.monotonic()
    try:
        stack.start()
        up = time.monotonic() - started
        pids = {stack._pid(n)[0] for n in stack.names()}
        family = pids | {c for p in pids for c in prod_local._descendants(p)}
        assert not _listening_pids_not_on_loopback(family)
        result = run_smoke(stack)
        print(f"prod-local up in {up:.0f} s; {result.summary()}")
        assert result.workers["ingest_corporaties.ingest"] == {"worker-2"}
        assert result.killed != result.retried_on
        assert result.national_2024 == [1244, 1543]
        assert set(result.workers["ingest_politie.ingest"]) == set(prod_local.WORKERS)
    finally:
        names = stack.stop()
        assert "airflow-worker-1" in names
        survivors = [n for n in names if stack.alive(n)]
        leftover = [p for p in family if prod_local._exists(p)] if "family" in locals() else []
        shutil.rmtree(home, ignore_errors=True)
    assert not survivors and not leftover, (survivors, leftover)
    assert not stack.cluster().running()
