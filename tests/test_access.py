"""Issue 12: three reader tiers, reader limits, and readers who cannot hold up the pipeline (real PostgreSQL).

- `open_data_reader` reads `open_data` only; `bi_reader` reads aggregates only (no row-level mart, no postcode4,
  no exact event date, in any mart); `analist` reads incident-level marts. No reader may create TEMP objects or
  connect to the `postgres` or `airflow` databases.
- Every reader login has a connection limit, statement_timeout, idle_in_transaction_session_timeout and
  temp_file_limit; together the limits leave the pipeline its connections.
- 97 connections as open_data_reader and one reader idle in a transaction that holds a published table: loading,
  building and publishing still succeed, and the publication does not wait for the reader.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import wap
from psycopg import sql

from explosion_monitor import access, publish, warehouse
from explosion_monitor.db import database_url
from explosion_monitor.schema import GRANTS_SQL

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def tier_db(pg_admin_url: str) -> Iterator[str]:
    """The sample build, published once, with the database-level grants production gives (a clone loses them)."""
    url = wap.clone(pg_admin_url, wap.published_template(pg_admin_url))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(GRANTS_SQL)
        conn.execute(access.DATABASE_SQL)
    yield url
    wap.drop(pg_admin_url, url)


def as_role(url: str, role: str) -> psycopg.Connection:
    return psycopg.connect(wap.login_url(url, role), autocommit=True)


def _readable(conn: psycopg.Connection, role: str, schema: str) -> dict[str, list[str]]:
    """table -> the columns `role` may select, for every table of `schema`."""
    rows = conn.execute(
        """
        select c.relname, a.attname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = %s and c.relkind in ('r', 'p', 'v', 'm')
          and has_column_privilege(%s, c.oid, a.attnum, 'SELECT')
        order by 1, a.attnum
        """,
        (schema, role),
    ).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


# --- tiers ------------------------------------------------------------------------------------------------------


def test_bi_reader_sees_aggregates_only_in_every_mart(tier_db: str) -> None:
    with psycopg.connect(tier_db, autocommit=True) as conn:
        readable = _readable(conn, "bi_reader", "marts")
        types = dict(
            conn.execute(
                "select table_name || '.' || column_name, data_type from information_schema.columns "
                "where table_schema = 'marts'"
            ).fetchall()
        )
    assert "fct_explosie_incidenten" not in readable  # 4,331 of 4,343 incidents unique on postcode4 + date
    assert {"target_progress", "target_progress_maandelijks", "dim_gemeenten", "publicatie"} <= set(readable)
    for table, columns in readable.items():
        for column in columns:
            assert column not in access.ROW_LEVEL_COLUMNS | access.SENSITIVE_COLUMNS, (table, column)
            if types[f"{table}.{column}"] in ("date",) or types[f"{table}.{column}"].startswith("timestamp"):
                assert column in access.SAFE_DATE_COLUMNS, (table, column)
    # the municipality's first incident date is an exact date: the column is withheld, the rest of the mart is not
    assert "eerste_incident_datum" not in readable.get("nazorg_per_gemeente", ["eerste_incident_datum"])


@pytest.mark.parametrize(
    "statement",
    [
        "select * from marts.fct_explosie_incidenten limit 1",
        "select postcode4 from marts.fct_explosie_incidenten limit 1",
        "select count(*) from marts.fct_explosie_incidenten",
        "select eerste_incident_datum from marts.nazorg_per_gemeente limit 1",
    ],
)
def test_bi_reader_is_denied_incident_level_data(tier_db: str, statement: str) -> None:
    with as_role(tier_db, "bi_reader") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_bi_reader_still_reads_the_aggregates(tier_db: str) -> None:
    with as_role(tier_db, "bi_reader") as conn:
        assert conn.execute("select count(*) from marts.target_progress").fetchone()[0] > 0
        assert conn.execute("select gemeente_code, count(*) from marts.nazorg_per_gemeente group by 1 limit 1")


def test_analist_reads_incident_level_marts_and_open_data(tier_db: str) -> None:
    with as_role(tier_db, "analist") as conn:
        assert conn.execute("select count(*) from marts.fct_explosie_incidenten").fetchone()[0] > 0
        assert conn.execute("select postcode4, incident_datum from marts.fct_explosie_incidenten limit 1").fetchone()
        assert conn.execute("select count(*) from open_data.publicatie").fetchone()[0] == 1
        for relation in ("raw.politie", "ops.ledger", "build.fct_explosie_incidenten"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {relation} limit 1")


def test_open_data_reader_reads_open_data_only(tier_db: str) -> None:
    with as_role(tier_db, "open_data_reader") as conn:
        assert conn.execute("select count(*) from open_data.publicatie").fetchone()[0] == 1
        for relation in ("marts.target_progress", "marts.fct_explosie_incidenten", "marts.publicatie"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {relation} limit 1")


@pytest.mark.parametrize("role", access.READER_ROLES)
def test_readers_get_no_temp_and_no_other_database(tier_db: str, role: str) -> None:
    with as_role(tier_db, role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("create temp table t (x int)")
    for db in ("postgres", "airflow"):
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(database_url(wap.login_url(tier_db, role), db), connect_timeout=5).close()


# --- limits -----------------------------------------------------------------------------------------------------


def test_every_reader_has_limits_that_leave_the_pipeline_its_connections(tier_db: str) -> None:
    with psycopg.connect(tier_db, autocommit=True) as conn:
        rows = {
            r[0]: (r[1], dict(s.split("=", 1) for s in r[2] or []))
            for r in conn.execute(
                "select rolname, rolconnlimit, rolconfig from pg_roles where rolname = any(%s)",
                (list(access.READER_ROLES),),
            )
        }
        max_conn = int(conn.execute("show max_connections").fetchone()[0])
        reserved = int(conn.execute("show reserved_connections").fetchone()[0])
        superuser = int(conn.execute("show superuser_reserved_connections").fetchone()[0])
    assert set(rows) == set(access.READER_ROLES)
    for role, (limit, config) in rows.items():
        assert limit > 0, role
        assert {"statement_timeout", "idle_in_transaction_session_timeout", "temp_file_limit"} <= set(config), role
    assert sum(limit for limit, _ in rows.values()) < max_conn - superuser - reserved
    assert reserved > 0  # PostgreSQL 16: slots only the pipeline may take


def test_a_readers_statement_is_cut_off(tier_db: str) -> None:
    with as_role(tier_db, "open_data_reader") as conn:
        conn.execute("set statement_timeout = default")  # the role's own setting
        limit = conn.execute("show statement_timeout").fetchone()[0]
        assert limit == access.READER_LIMITS["open_data_reader"].statement_timeout
        conn.execute("set statement_timeout = '200ms'")  # same mechanism, quicker test
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("select pg_sleep(2)")


def test_97_public_connections_and_an_idle_reader_transaction_do_not_stop_the_pipeline(
    pg_admin_url: str, tier_db: str
) -> None:
    url = wap.clone(pg_admin_url, wap.built_template(pg_admin_url))
    held: list[psycopg.Connection] = []
    refused = 0
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(GRANTS_SQL)
            conn.execute(access.DATABASE_SQL)
        with wap.gx_isolated():
            publish.publish(url=url, run_id="vooraf")
        for _ in range(97):
            try:
                held.append(psycopg.connect(wap.login_url(url, "open_data_reader"), autocommit=True, connect_timeout=5))
            except psycopg.OperationalError as exc:
                assert "too many connections" in str(exc)
                refused += 1
        assert refused > 0 and len(held) <= access.READER_LIMITS["open_data_reader"].connections
        # the pipeline: load a delivery, build, check, publish
        outcomes = wap.deliver(url, [wap.sample_files()[wap.REVISION_DROP]])
        assert [o.status for o in outcomes] == ["loaded"]
        wap.build(url)
        idle = as_role(url, "bi_reader")
        # a reader may lift its own timeouts (they are defaults): the publication must not rely on them
        idle.execute("set idle_in_transaction_session_timeout = '10min'")
        idle.autocommit = False
        idle.execute("select count(*) from marts.target_progress").fetchone()  # holds a lock on a published table
        started = time.monotonic()
        with wap.gx_isolated():
            result = publish.gate_and_publish(url=url, run_id="ondanks-lezers")
        assert result.outcome == "published"
        assert time.monotonic() - started < publish.DEADLINE_S / 2  # did not wait for the idle reader
        with pytest.raises(psycopg.errors.AdminShutdown):
            idle.execute("select 1")  # the publisher ended the idle transaction
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("select count(*) from marts.publicatie where run_id = 'ondanks-lezers'").fetchone()[0]
    finally:
        for c in held:
            c.close()
        wap.drop(pg_admin_url, url)


def test_the_embedded_server_reserves_connections_for_the_pipeline() -> None:
    settings = wap.REAL_SETTINGS
    conf = (warehouse.known_data_dir(settings) / "postgresql.conf").read_text()
    assert f"reserved_connections = {warehouse.RESERVED_CONNECTIONS}" in conf
    with psycopg.connect(warehouse.start(settings), autocommit=True) as conn:
        assert conn.execute("show reserved_connections").fetchone()[0] == str(warehouse.RESERVED_CONNECTIONS)
        # sql.Identifier keeps ruff quiet about the import; the check is the ACL itself
        acl = conn.execute(
            sql.SQL("select datacl::text from pg_database where datname = {}").format(sql.Literal("postgres"))
        ).fetchone()[0]
    # PUBLIC (the entry with no grantee before "=") has neither TEMP nor CONNECT; the pipeline login has CONNECT
    entries = acl.strip("{}").split(",") if acl else []
    assert entries and not [e for e in entries if e.startswith("=")], acl
    assert "pipeline=c/postgres" in entries, acl


# --- municipality logins: row-level security (the hook) ---------------------------------------------------------


def test_a_municipality_login_sees_only_its_own_rows_through_publications(pg_admin_url: str) -> None:
    url = wap.clone(pg_admin_url, wap.published_template(pg_admin_url))
    password = "gemeente-" + uuid.uuid4().hex
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(GRANTS_SQL)
            conn.execute(access.DATABASE_SQL)
            name = access.create_municipality_login(conn, "GM0363", password)
            with pytest.raises(ValueError, match="not a municipality of today"):
                access.create_municipality_login(conn, "GM9999", password)
            codes = {r[0] for r in conn.execute("select distinct gemeente_code from marts.dim_gemeenten")}
        assert name == "gemeente_gm0363" and len(codes) > 1
        with wap.gx_isolated():
            publish.publish(url=url, run_id="rls-1")  # the policies come along with every new publication ...
            publish.publish(url=url, run_id="rls-2")
            publish.rollback(url=url)  # ... and through a rollback
        login = urlunsplit(
            urlsplit(url)._replace(netloc=f"{name}:{password}@{urlsplit(url).hostname}:{urlsplit(url).port}")
        )
        with psycopg.connect(login, autocommit=True) as conn:
            for table in ("dim_gemeenten", "nazorg_per_gemeente", "schade_en_woningimpact_per_gemeente"):
                seen = {
                    r[0]
                    for r in conn.execute(
                        sql.SQL("select distinct gemeente_code from {}").format(sql.Identifier("marts", table))
                    )
                }
                assert seen == {"GM0363"}, (table, seen)
            for statement in (
                "select 1 from marts.fct_explosie_incidenten",
                "select 1 from marts.target_progress",
                "select 1 from open_data.publicatie",
                "select eerste_incident_datum from marts.nazorg_per_gemeente",
            ):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
        with as_role(url, "bi_reader") as conn:  # the partnership still sees every municipality
            assert len({r[0] for r in conn.execute("select gemeente_code from marts.dim_gemeenten")}) == len(codes)
        with psycopg.connect(url, autocommit=True) as conn:
            assert access.unprotected(conn, "marts") == []
            conn.execute("alter table marts.dim_gemeenten disable row level security")
            assert access.unprotected(conn, "marts") == ["dim_gemeenten"]  # the blocking check sees it
    finally:
        wap.drop(pg_admin_url, url)
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute("drop role if exists gemeente_gm0363")
