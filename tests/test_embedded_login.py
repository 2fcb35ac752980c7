"""Issue 12 for the embedded server: its superuser only makes roles and databases; the pipeline logs in as `pipeline`.

Each test starts an embedded PostgreSQL of its own (a checkout folder of its own, a free port) with WAREHOUSE_URL
unset, as `make demo` does: the URL warehouse.start() returns is no superuser, the bootstrap, a load, the dbt build
and the publication run as that login, and what they make belongs to it or its roles. A data folder made before
this change (everything owned by the superuser) is handed over at the next start, and the pipeline's bootstrap
can still alter the roles the superuser made.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import wap
from psycopg import sql

from explosion_monitor import db, pipeline_login, warehouse
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.schema import ensure_schema

pytestmark = [pytest.mark.timeout(600)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Settings]:
    """A checkout of its own (data, secrets, buckets) on a free port; the environment points at it, as a shell
    in that checkout would, with WAREHOUSE_URL unset."""
    home = Path(tempfile.mkdtemp(prefix="em-embedded-login-"))
    home.chmod(0o755)  # not pytest's tmp_path: a 0700 folder is closed to the PostgreSQL user when root
    (home / ".data").mkdir()
    (home / "expectations").symlink_to(wap.REAL_SETTINGS.expectations_dir)
    (home / "dbt_project").symlink_to(wap.REAL_SETTINGS.dbt_project_dir)
    for name in (
        "WAREHOUSE_URL",
        "EXPLOSION_MONITOR_PGDATA",
        "EXPLOSION_MONITOR_ROLE_PREFIX",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("EXPLOSION_MONITOR_HOME", str(home))
    monkeypatch.setenv("EXPLOSION_MONITOR_PG_PORT", str(_free_port()))
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", (tmp_path / "buckets").as_uri())
    settings = get_settings()
    try:
        yield settings
    finally:
        data = Path(warehouse.status(settings)["data_dir"])
        with contextlib.suppress(warehouse.WarehouseError):
            warehouse.stop(settings)
        if data.parent.parent == warehouse.SYSTEM_DIR:  # root with a 0700 .data: the cluster lived outside
            shutil.rmtree(data.parent, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def _login(url: str) -> tuple[str, bool, bool, bool]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select rolname, rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname = current_user"
        ).fetchone()


def _owners(conn: psycopg.Connection, schemas: tuple[str, ...]) -> set[str]:
    return {
        r[0]
        for r in conn.execute(
            "select distinct pg_get_userbyid(c.relowner) from pg_class as c "
            "join pg_namespace as n on n.oid = c.relnamespace "
            "where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'S')",
            (list(schemas),),
        )
    }


def _fresh_start(settings: Settings) -> str:
    """Start the checkout's own server; check the login, the superuser's URL and the grants; return the URL."""
    url = warehouse.start()
    assert urlsplit(url).username == "pipeline"
    assert _login(url) == ("pipeline", False, True, True)
    admin = warehouse.admin_url()
    assert _login(admin)[:2] == ("postgres", True)
    assert urlsplit(admin).password == warehouse.load_secrets(settings)[warehouse.SUPERUSER_SECRET]
    assert urlsplit(url).password == warehouse.load_secrets(settings)[pipeline_login.PIPELINE_SECRET]
    assert (settings.data_dir / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert warehouse.start() == url  # a second start changes nothing
    sync, _ = warehouse.airflow_urls()
    assert urlsplit(sync).username == "pipeline" and sync.endswith("/airflow")
    with psycopg.connect(admin, autocommit=True) as conn:
        owners = dict(
            conn.execute(
                "select datname, pg_get_userbyid(datdba) from pg_database "
                "where datname in ('explosion_monitor', 'airflow')"
            ).fetchall()
        )
        assert owners == {"explosion_monitor": "pipeline", "airflow": "pipeline"}
        assert conn.execute(
            "select pg_has_role('pipeline', 'pg_use_reserved_connections', 'MEMBER'), "
            "has_parameter_privilege('pipeline', 'temp_file_limit', 'SET')"
        ).fetchone() == (True, True)
    return url


def test_a_new_embedded_warehouse_bootstraps_and_loads_as_a_login_without_superuser(checkout: Settings) -> None:
    from explosion_monitor.db.ready import connect_ready

    url = _fresh_start(checkout)
    with connect_ready() as conn:  # the bootstrap, as the login
        assert conn.execute("select current_user, ops.role_prefix()").fetchone() == ("pipeline", "")
        limits = dict(
            conn.execute(
                "select rolname, rolconfig::text from pg_roles where rolname = any(%s)", (["bi_reader", "analist"],)
            ).fetchall()
        )
        assert all("temp_file_limit" in (config or "") for config in limits.values()), limits
    outcomes = wap.put_and_ingest(wap.sample_files()[:1])
    assert [o.status for o in outcomes] == ["loaded"], outcomes
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select count(*) from raw.politie").fetchone()[0] > 0
        assert _owners(conn, ("raw", "ops", "ref")) == {"pipeline"}
        assert pipeline_login.owned_by(conn, "postgres") == 0  # the superuser made no object in the warehouse
    # the archive replay (orchestration/rebuild.py) drops and creates its database from `postgres`
    with psycopg.connect(db.database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute("create database explosion_monitor_rebuild")
        conn.execute("drop database explosion_monitor_rebuild")


@pytest.mark.slow
def test_dbt_and_publication_run_as_the_embedded_login(checkout: Settings) -> None:
    from explosion_monitor import publish, transform

    url = _fresh_start(checkout)
    outcomes = wap.put_and_ingest(wap.sample_files()[: wap.FIRST_DROPS])
    assert [o.status for o in outcomes].count("loaded") == 3, outcomes
    transform.build()
    assert publish.gate_and_publish(run_id="pipeline-login").outcome == "published"
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select count(*) from marts.target_progress").fetchone()[0] > 0
        assert _owners(conn, ("raw", "ops", "ref")) == {"pipeline"}
        assert _owners(conn, ("marts", "open_data")) == {"em_publisher"}
        assert pipeline_login.owned_by(conn, "postgres") == 0


def _as_before_this_change(settings: Settings, admin: str) -> None:
    """Turn a fresh data folder into one an earlier version made: no pipeline login, both databases and every
    object in them owned by the superuser, which also made the warehouse's roles."""
    with psycopg.connect(db.database_url(admin, "postgres"), autocommit=True) as conn:
        for name in ("explosion_monitor", "airflow"):
            conn.execute(sql.SQL("alter database {} owner to postgres").format(sql.Identifier(name)))
        conn.execute("drop owned by pipeline")
        conn.execute("drop role pipeline")
    secrets = warehouse.load_secrets(settings)
    secrets.pop(pipeline_login.PIPELINE_SECRET)
    (settings.data_dir / "secrets.json").write_text(json.dumps(secrets))  # keeps its mode 0600
    with psycopg.connect(admin) as conn:  # the old bootstrap, as the superuser
        ensure_schema(conn, settings)
        conn.execute("create type ops.oude_soort as enum ('a', 'b')")
        conn.execute("create view ops.oude_view as select file_id from ops.ledger")
        conn.execute("create table ops.oude_tabel (id serial primary key, soort ops.oude_soort)")
        conn.commit()
    with psycopg.connect(db.database_url(admin, "airflow")) as conn:  # Airflow's tables, migrated as the superuser
        conn.execute("create table dag_run (id serial primary key, run_id text)")
        conn.execute("create table xcom (id bigint generated always as identity, value jsonb)")
        conn.commit()


def test_a_data_folder_made_before_is_handed_to_the_pipeline_login(checkout: Settings) -> None:
    from explosion_monitor.db.ready import connect_ready

    admin = warehouse.admin_url()
    _as_before_this_change(checkout, admin)
    with psycopg.connect(admin) as conn:
        assert pipeline_login.owned_by(conn, "postgres") > 20  # the old state, for real
        assert not conn.execute("select 1 from pg_roles where rolname = 'pipeline'").fetchone()

    url = warehouse.start()  # the upgrade: the login again, and everything handed over
    assert _login(url)[:2] == ("pipeline", False)
    for name in ("explosion_monitor", "airflow"):
        with psycopg.connect(db.database_url(admin, name)) as conn:
            assert pipeline_login.owned_by(conn, "postgres") == 0, name
            assert conn.execute(
                "select pg_get_userbyid(datdba) from pg_database where datname = current_database()"
            ).fetchone() == ("pipeline",)
    with psycopg.connect(db.database_url(url, "airflow"), autocommit=True) as conn:
        conn.execute("insert into dag_run (run_id) values ('na de overdracht')")  # the serial's sequence came along
        conn.execute("insert into xcom (value) values ('{}')")
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("select count(*) from ops.oude_view").fetchone() == (0,)
        conn.execute("insert into ops.oude_tabel (soort) values ('a')")
        conn.execute("delete from ops.schema_version")  # the next bootstrap runs in full, as the login
    with connect_ready() as conn:
        assert conn.execute("select current_user, ops.role_prefix()").fetchone() == ("pipeline", "")
        # it altered the roles the superuser made: limits set again, no second (prefixed) set of roles
        conn.execute("alter role bi_reader connection limit 3")
        assert conn.execute("select count(*) from pg_roles where rolname like '%bi\\_reader'").fetchone() == (1,)
    outcomes = wap.put_and_ingest(wap.sample_files()[:1])
    assert [o.status for o in outcomes] == ["loaded"], outcomes
