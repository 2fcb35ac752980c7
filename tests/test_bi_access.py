"""BI access against a real PostgreSQL: bi_reader reads marts and open_data and nothing else (not raw, not
staging, not the unaudited build, not the previous publication); open_data_reader reads only open_data.
Both log in with passwords generated into the secrets file. The publisher role does the publication when
the database was set up for it.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterator

import psycopg
import pytest
import wap

from explosion_monitor import publish, warehouse
from explosion_monitor.config import get_settings

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def bi_db(pg_admin_url: str) -> Iterator[str]:
    """A built database with one open-data model, published twice (so marts_prev exists as well)."""
    url = wap.clone(pg_admin_url, wap.built_template(pg_admin_url))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "create table build.open_data__aanslagen_per_jaar as "
            "select jaar, aanslagen from build.target_progress where niveau = 'land'"
        )
    with wap.gx_isolated():
        publish.publish(url=url, run_id="bi-1")
        publish.publish(url=url, run_id="bi-2")
    yield url
    wap.drop(pg_admin_url, url)


def as_role(url: str, role: str) -> psycopg.Connection:
    return psycopg.connect(wap.login_url(url, role), autocommit=True)


def test_bi_roles_log_in_with_generated_passwords(bi_db: str) -> None:
    secrets = warehouse.load_secrets(wap.REAL_SETTINGS)
    assert secrets.get("bi_reader_password") and secrets.get("open_data_reader_password")
    path = wap.REAL_SETTINGS.data_dir / "secrets.json"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    for role in ("bi_reader", "open_data_reader"):
        with as_role(bi_db, role) as conn:
            assert conn.execute("select current_user").fetchone()[0] == role
    with psycopg.connect(bi_db, autocommit=True) as conn:
        roles = dict(conn.execute("select rolname, rolcanlogin from pg_roles where rolname like '%_reader'").fetchall())
    assert roles == {"bi_reader": True, "open_data_reader": True}
    with as_role(bi_db, "analist") as conn:
        assert conn.execute("select current_user").fetchone()[0] == "analist"


def test_a_bi_password_from_the_environment_wins(bi_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose gives Metabase the .env password; the pipeline must set that one, not generate its own."""
    from explosion_monitor import schema

    chosen = "aus-env-" + os.urandom(6).hex()
    monkeypatch.setenv("EXPLOSION_MONITOR_OPEN_DATA_READER_PASSWORD", chosen)
    # the variable reaches the schema through the settings, as at every bootstrap
    settings = dataclasses.replace(wap.REAL_SETTINGS, login_passwords=get_settings().login_passwords)
    try:
        with psycopg.connect(bi_db, autocommit=True) as conn, conn.cursor() as cur:
            schema.enable_login(cur, settings, "open_data_reader")
        url = wap.login_url(bi_db, "open_data_reader").replace(
            warehouse.load_secrets(wap.REAL_SETTINGS)["open_data_reader_password"], chosen
        )
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_user").fetchone()[0] == "open_data_reader"
        assert chosen not in (wap.REAL_SETTINGS.data_dir / "secrets.json").read_text()
    finally:  # the role is cluster-wide: give it back the secrets file's password
        monkeypatch.delenv("EXPLOSION_MONITOR_OPEN_DATA_READER_PASSWORD")
        with psycopg.connect(bi_db, autocommit=True) as conn, conn.cursor() as cur:
            schema.enable_login(cur, wap.REAL_SETTINGS, "open_data_reader")
    with as_role(bi_db, "open_data_reader") as conn:
        assert conn.execute("select 1").fetchone() == (1,)


@pytest.mark.parametrize(
    "relation",
    ["marts.target_progress", "marts.publicatie", "open_data.aanslagen_per_jaar", "open_data.publicatie"],
)
def test_bi_reader_reads_marts_and_open_data(bi_db: str, relation: str) -> None:
    with as_role(bi_db, "bi_reader") as conn:
        assert conn.execute(f"select count(*) from {relation}").fetchone()[0] > 0


DENIED_TO_BI = [
    "raw.politie",
    "build.target_progress",  # the unaudited build
    "build.fct_explosie_incidenten",
    "build_staging.stg_politie__incidenten",
    "build_intermediate.int_politie__incident_versies",
    "build_referentie.gemeenten_2025",
    "ops.ledger",
    "ops.publication_log",
    "ref.gemeente_codes",
    "marts_prev.target_progress",  # the previous publication
    "marts.fct_explosie_incidenten",  # incident level: analist only (tests/test_access.py)
]


@pytest.mark.parametrize("relation", DENIED_TO_BI)
def test_bi_reader_is_denied_everything_else(bi_db: str, relation: str) -> None:
    with as_role(bi_db, "bi_reader") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"select 1 from {relation} limit 1")


@pytest.mark.parametrize(
    "statement",
    [
        "create table public.t (x int)",
        "create table marts.t (x int)",
        "create schema bi_eigen",
        "delete from marts.target_progress",
    ],
)
def test_bi_reader_cannot_write(bi_db: str, statement: str) -> None:
    with as_role(bi_db, "bi_reader") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_open_data_reader_reads_only_open_data(bi_db: str) -> None:
    with as_role(bi_db, "open_data_reader") as conn:
        assert conn.execute("select count(*) from open_data.aanslagen_per_jaar").fetchone()[0] > 0
    for relation in [
        "marts.target_progress",
        "marts.publicatie",
        "raw.politie",
        "build.target_progress",
        "open_data_prev.aanslagen_per_jaar",
    ]:
        with as_role(bi_db, "open_data_reader") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"select 1 from {relation} limit 1")


def test_publisher_role_publishes_when_the_database_is_set_up_for_it(pg_admin_url: str) -> None:
    # schema.ensure_schema grants em_publisher CREATE on the database and the empty marts/open_data schemas;
    # a database cloned from a template loses the database-level grant, so it is given here.
    url = wap.clone(pg_admin_url, wap.built_template(pg_admin_url))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'grant create on database "{wap.db_name(url)}" to em_publisher')
            owners = dict(
                conn.execute(
                    "select nspname, pg_get_userbyid(nspowner) from pg_namespace where nspname in ('marts', 'open_data')"
                ).fetchall()
            )
            assert owners == {"marts": "em_publisher", "open_data": "em_publisher"}
        with wap.gx_isolated():
            publish.publish(url=url, run_id="as-publisher")
        with psycopg.connect(url, autocommit=True) as conn:
            table_owners = {
                r[0]
                for r in conn.execute(
                    "select distinct tableowner from pg_tables where schemaname in ('marts', 'open_data')"
                ).fetchall()
            }
            assert table_owners == {"em_publisher"}
        with as_role(url, "bi_reader") as conn:
            assert conn.execute("select count(*) from marts.target_progress").fetchone()[0] > 0
    finally:
        wap.drop(pg_admin_url, url)
