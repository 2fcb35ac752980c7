"""The embedded PostgreSQL lifecycle, against real servers on free ports (no mocks)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from explosion_monitor import db, warehouse
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.warehouse import WarehouseError

pytestmark = pytest.mark.timeout(120)

_OUR_ENV = (
    "WAREHOUSE_URL",
    "EXPLOSION_MONITOR_PGDATA",
    "EXPLOSION_MONITOR_PG_PORT",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _public_tmpdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="em-warehouse-"))
    # Our own test folder; pytest's tmp_path lies in a 0700 folder when run as root.
    path.chmod(0o755)
    return path


def _settings(root: Path, port: int, **env: str) -> Settings:
    with pytest.MonkeyPatch.context() as mp:
        for name in _OUR_ENV:
            mp.delenv(name, raising=False)
        mp.setenv("EXPLOSION_MONITOR_HOME", str(root))
        mp.setenv("EXPLOSION_MONITOR_PG_PORT", str(port))
        for name, value in env.items():
            mp.setenv(name, value)
        return get_settings()


def _cleanup(settings: Settings) -> None:
    data = Path(warehouse.status(settings)["data_dir"])
    with contextlib.suppress(WarehouseError):
        warehouse.stop(settings)
    if data.parent.parent == warehouse.SYSTEM_DIR:
        shutil.rmtree(data.parent, ignore_errors=True)
        with contextlib.suppress(OSError):
            warehouse.SYSTEM_DIR.rmdir()  # only if the test left it empty
    shutil.rmtree(settings.root, ignore_errors=True)


def _pid(settings: Settings) -> int:
    pid = warehouse.status(settings)["pid"]
    assert isinstance(pid, int)
    return pid


@pytest.fixture(scope="module")
def server() -> Iterator[Settings]:
    """One embedded cluster shared by the tests below: initdb is the slow part."""
    settings = _settings(_public_tmpdir(), _free_port())
    try:
        yield settings
    finally:
        _cleanup(settings)


@pytest.fixture
def url(server: Settings) -> str:
    return warehouse.start(server)


def test_start_answers_on_loopback_with_a_password(server: Settings, url: str) -> None:
    parts = urlsplit(url)
    assert (parts.hostname, parts.port, parts.path) == ("127.0.0.1", server.pg_port, "/explosion_monitor")
    assert parts.username == "pipeline" and parts.password  # the pipeline's login, no superuser (issue 12)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    with psycopg.connect(warehouse.admin_url(server)) as conn:  # these two settings are for superusers only
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == ("",)
    assert {"explosion_monitor", "airflow"} <= dbs
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=server.pg_port, user="postgres", password="wrong", dbname="postgres")
    secrets_file = server.data_dir / "secrets.json"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    assert warehouse.load_secrets(server)["pipeline_password"] == parts.password
    admin = urlsplit(warehouse.admin_url(server))
    assert (admin.username, admin.port) == ("postgres", server.pg_port)
    assert warehouse.load_secrets(server)[warehouse.SUPERUSER_SECRET] == admin.password
    st = warehouse.status(server)
    assert st["running"] and st["port"] == server.pg_port and parts.password not in st["url"]
    assert admin.password not in st["admin_url"]
    assert (server.data_dir / "pgdata-location").read_text().strip() == st["data_dir"]


def test_start_twice_is_idempotent(server: Settings, url: str) -> None:
    pid = _pid(server)
    assert warehouse.start(server) == url
    assert _pid(server) == pid


def test_data_survives_stop_and_start(server: Settings, url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    warehouse.stop(server)
    assert not warehouse.status(server)["running"]
    warehouse.stop(server)  # stopping a stopped server is no error
    with psycopg.connect(warehouse.start(server)) as conn:
        assert conn.execute("SELECT n FROM kept").fetchone() == (42,)
        conn.execute("DROP TABLE kept")


def test_lost_secrets_file_keeps_the_data_with_a_new_password(server: Settings, url: str) -> None:
    """A fresh clone at the same path finds the old cluster outside the checkout: data kept, new password."""
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE kept_after_reset (n int)")
        conn.execute("INSERT INTO kept_after_reset VALUES (7)")
        conn.execute("CREATE ROLE bi_reader LOGIN PASSWORD 'from-the-lost-file'")
    old_password = warehouse.load_secrets(server)[warehouse.SUPERUSER_SECRET]
    old_admin = warehouse.admin_url(server)
    (server.data_dir / "secrets.json").unlink()
    new_url = warehouse.start(server)
    assert warehouse.load_secrets(server)[warehouse.SUPERUSER_SECRET] != old_password
    assert urlsplit(new_url).password != urlsplit(url).password  # the pipeline login's password is new too
    with psycopg.connect(new_url) as conn:
        assert conn.execute("SELECT n FROM kept_after_reset").fetchone() == (7,)
        conn.execute("DROP TABLE kept_after_reset")
    # The BI login got a new password too, stored in the new secrets file.
    bi_password = warehouse.load_secrets(server)["bi_reader_password"]
    bi_url = new_url.replace(f"pipeline:{urlsplit(new_url).password}@", f"bi_reader:{bi_password}@")
    with psycopg.connect(bi_url) as conn:
        assert conn.execute("select current_user").fetchone() == ("bi_reader",)
    with psycopg.connect(new_url) as conn:
        conn.execute("DROP ROLE bi_reader")
    for stale in (url, old_admin):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(stale, connect_timeout=5)


def test_port_taken_by_another_program(server: Settings, url: str) -> None:
    warehouse.stop(server)
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # our stopped server leaves TIME_WAIT
        other.bind(("127.0.0.1", server.pg_port))
        other.listen()
        with pytest.raises(WarehouseError) as caught:
            warehouse.start(server)
    assert str(caught.value) == (
        f"Port {server.pg_port} on 127.0.0.1 is already in use by another program; "
        "set EXPLOSION_MONITOR_PG_PORT to a free port."
    )
    assert warehouse.start(server) == url


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("stale_pid", [_dead_pid, os.getpid], ids=["dead", "reused-by-other-process"])
def test_stale_postmaster_pid_does_not_block_start(server: Settings, url: str, stale_pid) -> None:
    warehouse.stop(server)
    data = Path(warehouse.status(server)["data_dir"])
    (data / "postmaster.pid").write_text(
        f"{stale_pid()}\n{data}\n{int(time.time())}\n{server.pg_port}\n\n127.0.0.1\n  0  0\nready   \n"
    )
    assert not warehouse.status(server)["running"]
    with psycopg.connect(warehouse.start(server)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_connect_starts_the_warehouse_from_the_environment(
    server: Settings, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _OUR_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXPLOSION_MONITOR_HOME", str(server.root))
    monkeypatch.setenv("EXPLOSION_MONITOR_PG_PORT", str(server.pg_port))
    with db.connect(warehouse.start()) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("explosion_monitor",)


def test_warehouse_url_at_closed_port_gives_one_sentence() -> None:
    port = _free_port()
    root = _public_tmpdir()
    try:
        settings = _settings(root, _free_port(), WAREHOUSE_URL=f"postgresql://alice:s3cret-pw@127.0.0.1:{port}/wh")
        with pytest.raises(WarehouseError) as caught:
            warehouse.start(settings)
        assert str(caught.value) == (
            f"Cannot connect to the PostgreSQL at WAREHOUSE_URL (host 127.0.0.1:{port}): connection refused."
        )
        st = warehouse.status(settings)
        assert not st["running"] and "s3cret" not in st["url"]
        assert not (settings.data_dir / "postgres").exists()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_warehouse_url_at_running_server_starts_nothing(server: Settings, url: str) -> None:
    pid = _pid(server)
    other = _settings(_public_tmpdir(), _free_port(), WAREHOUSE_URL=url)
    try:
        assert warehouse.start(other) == url
        assert _pid(server) == pid
        assert not (other.data_dir / "postgres").exists()
        sync, async_ = warehouse.airflow_urls(other)
        assert sync.startswith("postgresql+psycopg://") and sync.endswith("/airflow")
        assert async_ == sync.replace("postgresql+psycopg://", "postgresql+psycopg_async://")
        with db.connect(sync) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("airflow",)
    finally:
        shutil.rmtree(other.root, ignore_errors=True)


def test_airflow_urls_respect_the_users_setting() -> None:
    custom = "postgresql://af:pw@db.example:5432/af_meta"
    settings = _settings(Path("/nonexistent-root"), 55555, AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=custom)
    assert warehouse.airflow_urls(settings) == (custom, "postgresql+psycopg_async://af:pw@db.example:5432/af_meta")


def test_secrets_round_trip(tmp_path: Path) -> None:
    settings = _settings(tmp_path, 55555)
    assert warehouse.load_secrets(settings) == {}
    warehouse.save_secret(settings, "a", "1")
    warehouse.save_secret(settings, "b", "2")
    assert warehouse.load_secrets(settings) == {"a": "1", "b": "2"}
    assert (settings.data_dir / "secrets.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="the 0700 case only matters when PostgreSQL must drop root")
def test_checkout_in_private_folder_as_root() -> None:
    private = Path(tempfile.mkdtemp(prefix="em-private-"))  # mode 0700, like /root
    settings = _settings(private / "checkout", _free_port())
    settings.root.mkdir()
    try:
        url = warehouse.start(settings)
        expected = warehouse.SYSTEM_DIR / hashlib.sha1(str(settings.root).encode()).hexdigest()[:12] / "postgres"
        assert warehouse.status(settings)["data_dir"] == str(expected)
        assert (settings.data_dir / "pgdata-location").read_text().strip() == str(expected)
        assert private.stat().st_mode & 0o777 == 0o700  # we did not loosen the user's folder
        assert urlsplit(url).username == "pipeline"
        with psycopg.connect(warehouse.admin_url(settings)) as conn:  # data_directory: for superusers only
            assert conn.execute("SELECT current_setting('data_directory')").fetchone() == (str(expected),)
    finally:
        _cleanup(settings)
        shutil.rmtree(private, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the copy is only made for the unprivileged user of a root run")
def test_copied_binaries_run_as_the_unprivileged_user() -> None:
    base = _public_tmpdir()
    try:
        bin_dir = warehouse.copy_install(base)
        result = warehouse.run_as_pg([bin_dir / "initdb", "--version"])  # runs as explosion-pg
        assert result.returncode == 0 and "16." in result.stdout, result.stderr
        (bin_dir / "marker").touch()
        assert warehouse.copy_install(base) == bin_dir and (bin_dir / "marker").exists()  # copied once
    finally:
        shutil.rmtree(base, ignore_errors=True)
