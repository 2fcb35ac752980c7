"""Least privilege of the pipeline's PostgreSQL roles, proven on a real database.

The pipeline's login acts as `em_loader` (around the COPY into raw), `em_transformer` (dbt) and `em_publisher`
(the swap of marts and open_data) with SET ROLE; the tests do the same from the superuser test connection (SET
ROLE drops the superuser's rights, so every check below is the role's own). For every role the matrix states
what it MAY do (so revoking a needed grant fails a test) and what it must NOT do (each denial must raise
InsufficientPrivilege, not just any error). The BI logins' denials are in tests/test_bi_access.py.

The database is set up as production sets it up: ensure_schema's grants, a file loaded by the real loader, a
build schema made by em_transformer with the grants dbt's on-run-end gives the publisher, and a real
publication by em_publisher.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pg
import psycopg
import pytest
import wap
from partner_files import POLITIE_COLUMNS, csv_bytes, politie_row
from psycopg import sql

from explosion_monitor import access, publish
from explosion_monitor.config import FEEDS
from explosion_monitor.schema import GRANTS_SQL, LOGIN_ROLES, ROLES, ensure_schema

pytestmark = pytest.mark.timeout(300)

PIPELINE_ROLES = ("em_loader", "em_transformer", "em_publisher")
PROTECTED_SCHEMAS = ("raw", "ops", "ref", "marts", "open_data")
MART = "fct_rollen"  # the one mart of the fixture's build


@pytest.fixture(scope="module")
def roles_db(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database as production has it: loaded by the loader, built by em_transformer, published by em_publisher."""
    import dataclasses

    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.config import get_settings
    from explosion_monitor.ingest.pending import ingest_pending

    url = pg.fresh_database(pg_admin_url, prefix="em_test_roles")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            # A database created from a template loses its database-level grants (CREATE for the transformer and
            # the publisher); ensure_schema's grants put them back, as on a fresh production database.
            conn.execute(GRANTS_SQL)
            conn.execute(access.DATABASE_SQL)  # no TEMP for PUBLIC: the loader's own grant must do
        folder = tmp_path_factory.mktemp("roles_buckets")
        settings = dataclasses.replace(get_settings(), warehouse_url=url, buckets=folder.as_uri())
        bucket = get_bucket("politie", settings)
        bucket.ensure()
        bucket.put_incoming("levering.csv", csv_bytes([politie_row(1), politie_row(2)], POLITIE_COLUMNS))
        outcomes = ingest_pending(["politie"], settings=settings)  # the COPY runs as em_loader
        assert [(o.status, o.rows) for o in outcomes] == [("loaded", 2)], outcomes
        with psycopg.connect(url, autocommit=True) as conn:
            file_id = conn.execute("select file_id from ops.ledger").fetchone()[0]
            conn.execute(
                "insert into ops.file_findings (file_id, seq, column_name, value, check_code, message_nl, message_en) "
                "values (%s, 1, 'gewonden', 'geheim', 'type', 'fout', 'error')",
                (file_id,),
            )
            conn.execute(
                "insert into ops.dbt_run_results (invocation_id, unique_id, status) values ('i', 'model.x', 'success')"
            )
            with conn.transaction():
                # What dbt does as em_transformer: its own build schema, then the on-run-end grants to the publisher.
                conn.execute("set local role em_transformer")
                conn.execute("create schema build")
                conn.execute(f"create table build.{MART} as select incident_id, gewonden from raw.politie")
                conn.execute("grant usage on schema build to em_publisher")
                conn.execute("grant select on all tables in schema build to em_publisher")
        with wap.gx_isolated():
            result = publish.publish(url=url, run_id="roles")  # as em_publisher (it owns marts and open_data)
        assert result.outcome == "published", result
        with psycopg.connect(url, autocommit=True) as conn:
            owners = {
                r[0]
                for r in conn.execute(
                    "select distinct tableowner from pg_tables where schemaname in ('marts', 'open_data')"
                ).fetchall()
            }
            assert owners == {"em_publisher"}, "the publication did not run as em_publisher"
        yield url
    finally:
        pg.drop_database(pg_admin_url, url)


@pytest.fixture
def conn(roles_db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(roles_db, autocommit=True) as connection:
        yield connection


@dataclass(frozen=True)
class Case:
    role: str
    statement: str
    allowed: bool

    @property
    def id(self) -> str:
        words = " ".join(self.statement.split())[:70]
        return f"{self.role}-{'may' if self.allowed else 'not'}-{words}"


def may(role: str, *statements: str) -> list[Case]:
    return [Case(role, s, True) for s in statements]


def must_not(role: str, *statements: str) -> list[Case]:
    return [Case(role, s, False) for s in statements]


FIRST_FILE = "(select min(file_id) from ops.ledger)"
NEWEST_LOG = "(select max(publication_id) from ops.publication_log)"

# --- the matrix: (role, statement, allowed) ---------------------------------------------------------------------

MATRIX = [
    # The loader appends partner rows to raw and locks its ledger row; it reads nothing it does not load.
    *may(
        "em_loader",
        # {file_id}: the loaded file's id, filled in by the test (the loader cannot read the ledger)
        "insert into raw.politie (incident_id, _file_id, _line_number, _arrived_at) values ('PL-9', {file_id}, 9, now())",
        "insert into raw.verzekeraars (_file_id, _line_number, _arrived_at) values ({file_id}, 1, now())",
        "select count(*) from raw.politie",
        "select count(*) from ref.gemeente_codes",
        "create temp table keys (line integer, k0 text) on commit drop",  # the duplicate-key check
    ),
    *must_not(
        "em_loader",
        "delete from raw.politie",
        "update raw.politie set gewonden = 99",
        "truncate raw.politie",
        "alter table raw.politie add column extra text",
        "drop table raw.politie",
        "create index on raw.politie (incident_id)",
        "create table raw.eigen (x int)",
        "create table ops.eigen (x int)",
        "create table public.eigen (x int)",
        "create schema loader_eigen",
        "insert into ops.ledger (feed, bucket, object_key, sha256, size_bytes, arrived_at, status) "
        "values ('politie', 'file:///x', 'x.csv', 'ab', 1, now(), 'loaded')",
        "delete from ops.ledger",
        # ingest/load.py takes this lock as the login, before SET ROLE: the loader has nothing in ops
        "select file_id from ops.ledger where file_id = {file_id} for key share",
        "select count(*) from ops.file_findings",
        "delete from ops.file_findings",
        "select count(*) from ops.publication_log",
        "update ops.publication_log set message = 'x'",
        "delete from ops.publication_log",
        "insert into ops.dbt_run_results (invocation_id, unique_id) values ('x', 'y')",
        "delete from ops.dbt_run_results",
        "update ref.gemeente_codes set naam = 'x'",
        f"select count(*) from build.{MART}",
        f"insert into build.{MART} (incident_id) values ('x')",
        f"select count(*) from marts.{MART}",
        "select count(*) from marts.publicatie",
        f"insert into marts.{MART} (incident_id) values ('x')",
        "select count(*) from open_data.publicatie",
        "create table marts.eigen (x int)",
        "alter schema marts rename to marts_eigen",
    ),
    # The transformer (dbt) reads raw, the ledger and ref, and writes only the build schemas it creates.
    *may(
        "em_transformer",
        "select count(*) from raw.politie",
        "select count(*) from raw.corporaties",
        "select count(*), max(object_key) from ops.ledger",
        "select count(*) from ref.gemeente_codes",
        "create schema build_staging_extra",
        "create table build.nieuw as select count(*) as n from raw.politie",
        f"drop table build.{MART}",
        "insert into ops.dbt_run_results (invocation_id, unique_id) values ('t', 'model.nieuw')",
    ),
    *must_not(
        "em_transformer",
        f"insert into raw.politie (_file_id, _line_number, _arrived_at) select {FIRST_FILE}, 9, now()",
        "update raw.politie set gewonden = 99",
        "delete from raw.politie",
        "truncate raw.politie",
        "alter table raw.politie add column extra text",
        "insert into ops.ledger (feed, bucket, object_key, sha256, size_bytes, arrived_at, status) "
        "values ('politie', 'file:///x', 'x.csv', 'ab', 1, now(), 'loaded')",
        "update ops.ledger set status = 'quarantined'",
        "delete from ops.ledger",
        "select count(*) from ops.file_findings",  # cell values of rejected rows
        "insert into ops.file_findings (file_id, seq, check_code, message_nl, message_en) "
        f"select {FIRST_FILE}, 9, 'x', 'x', 'x'",
        "delete from ops.file_findings",
        "select count(*) from ops.publication_log",
        "update ops.publication_log set outcome = 'published'",
        "delete from ops.dbt_run_results",
        "update ref.gemeente_codes set naam = 'x'",
        f"select count(*) from marts.{MART}",  # the publisher's
        "create table marts.eigen (x int)",
        "create table open_data.eigen (x int)",
        f"delete from marts.{MART}",
        "drop schema marts cascade",
        "alter schema open_data rename to open_data_eigen",
    ),
    # The publisher copies the build into marts/open_data (which it owns) and logs the publication.
    *may(
        "em_publisher",
        f"select count(*) from build.{MART}",
        "create schema marts_next",
        f"create table marts.kopie as select * from build.{MART}",
        f"insert into marts.{MART} select * from build.{MART}",
        f"drop table marts.{MART}",
        "alter schema marts rename to marts_verplaatst",
        "grant select on marts.publicatie to bi_reader",
        "select count(*) from ops.publication_log",
        "insert into ops.publication_log (run_id, outcome) values ('r', 'running')",
        f"update ops.publication_log set message = 'x' where publication_id = {NEWEST_LOG}",
    ),
    *must_not(
        "em_publisher",
        "select count(*) from raw.politie",
        f"insert into raw.politie (_file_id, _line_number, _arrived_at) select {FIRST_FILE}, 9, now()",
        "select count(*) from ops.ledger",
        "update ops.ledger set status = 'loaded'",
        "select count(*) from ops.file_findings",
        "select count(*) from ops.dbt_run_results",
        "insert into ops.dbt_run_results (invocation_id, unique_id) values ('x', 'y')",
        "delete from ops.publication_log",
        "select count(*) from ref.gemeente_codes",
        f"insert into build.{MART} select * from build.{MART}",
        f"delete from build.{MART}",
        f"truncate build.{MART}",
        f"alter table build.{MART} add column extra text",
        f"drop table build.{MART}",
        "create table build.eigen (x int)",
    ),
]


def test_matrix_covers_every_pipeline_role_both_ways() -> None:
    for role in PIPELINE_ROLES:
        assert {c.allowed for c in MATRIX if c.role == role} == {True, False}, role
    assert len({c.id for c in MATRIX}) == len(MATRIX)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in MATRIX])
def test_role_matrix(conn: psycopg.Connection, case: Case) -> None:
    """Each statement runs as the role in a transaction that is rolled back, so the cases do not interact."""
    file_id = conn.execute("select min(file_id) from ops.ledger").fetchone()[0]
    statement = case.statement.replace("{file_id}", str(file_id))
    with conn.transaction(force_rollback=True):
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(case.role)))
        assert conn.execute("select current_user").fetchone()[0] == case.role
        if case.allowed:
            conn.execute(statement)
        else:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


# --- the grants as a whole ---------------------------------------------------------------------------------------

EXPECTED_TABLE_GRANTS: dict[tuple[str, str, str], set[str]] = {
    **{("em_loader", "raw", feed): {"INSERT", "SELECT"} for feed in FEEDS},
    ("em_loader", "ref", "gemeente_codes"): {"SELECT"},
    **{("em_transformer", "raw", feed): {"SELECT"} for feed in FEEDS},
    ("em_transformer", "ops", "ledger"): {"SELECT"},
    ("em_transformer", "ops", "dbt_run_results"): {"INSERT"},
    ("em_transformer", "ref", "gemeente_codes"): {"SELECT"},
    ("em_publisher", "ops", "publication_log"): {"INSERT", "SELECT", "UPDATE"},
    ("em_publisher", "ops", "purge_log"): {"SELECT"},  # the column purged_at only (no publication older than a purge)
}


def test_pipeline_roles_hold_exactly_the_expected_table_grants(conn: psycopg.Connection) -> None:
    """Every privilege of a pipeline role in raw, ops and ref, column grants included: a new one fails here."""
    rows = conn.execute(
        """
        select grantee, table_schema, table_name, privilege_type from information_schema.role_table_grants
        where grantee = any(%(roles)s) and table_schema in ('raw', 'ops', 'ref')
        union
        select grantee, table_schema, table_name, privilege_type from information_schema.role_column_grants
        where grantee = any(%(roles)s) and table_schema in ('raw', 'ops', 'ref')
        """,
        {"roles": list(PIPELINE_ROLES)},
    ).fetchall()
    grants: dict[tuple[str, str, str], set[str]] = {}
    for role, schema, table, privilege in rows:
        grants.setdefault((role, schema, table), set()).add(privilege)
    assert grants == EXPECTED_TABLE_GRANTS


def test_schema_privileges(conn: psycopg.Connection) -> None:
    """USAGE on raw, ops and ref only where needed; CREATE on them for nobody but the owner."""
    expected_usage = {
        "em_loader": {"raw", "ref"},
        "em_transformer": {"raw", "ops", "ref"},
        "em_publisher": {"ops", "marts", "open_data"},  # marts and open_data: as their owner
        "bi_reader": {"marts", "open_data"},
        "open_data_reader": {"open_data"},
        "analist": {"marts", "open_data"},
    }
    for role in ROLES:
        usage = {
            s
            for s in PROTECTED_SCHEMAS
            if conn.execute("select has_schema_privilege(%s, %s, 'USAGE')", (role, s)).fetchone()[0]
        }
        assert usage == expected_usage[role], role
        create = {
            s
            for s in PROTECTED_SCHEMAS
            if conn.execute("select has_schema_privilege(%s, %s, 'CREATE')", (role, s)).fetchone()[0]
        }
        assert create == ({"marts", "open_data"} if role == "em_publisher" else set()), role


def test_an_upgraded_database_loses_privileges_an_earlier_version_granted(pg_admin_url: str) -> None:
    url = pg.fresh_database(pg_admin_url, prefix="em_test_roles_upgrade")
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            # What earlier versions granted, and what a hand-made grant might add.
            conn.execute("grant select, insert, delete on all tables in schema raw to em_loader")
            conn.execute("grant select, insert, update on ops.ledger to em_loader")
            conn.execute("grant select, insert, delete on ops.file_findings to em_loader")
            conn.execute("grant select on all tables in schema ops to em_transformer, em_publisher")
            conn.execute("grant usage on schema raw, ref to em_publisher")
            conn.execute("delete from ops.schema_version")  # an older schema version: ensure_schema re-applies
            assert ensure_schema(conn)
            for role, table, privilege in [
                ("em_loader", "raw.politie", "DELETE"),
                ("em_loader", "ops.ledger", "INSERT"),
                ("em_loader", "ops.ledger", "UPDATE"),
                ("em_loader", "ops.file_findings", "SELECT"),
                ("em_transformer", "ops.file_findings", "SELECT"),
                ("em_publisher", "ops.ledger", "SELECT"),
            ]:
                assert not conn.execute("select has_table_privilege(%s, %s, %s)", (role, table, privilege)).fetchone()[
                    0
                ], (role, table, privilege)
            assert not conn.execute("select has_schema_privilege('em_publisher', 'raw', 'USAGE')").fetchone()[0]
            # ... and what is needed is there again.
            assert conn.execute("select has_table_privilege('em_loader', 'raw.politie', 'INSERT')").fetchone()[0]
            assert conn.execute("select has_table_privilege('em_transformer', 'ops.ledger', 'SELECT')").fetchone()[0]
    finally:
        pg.drop_database(pg_admin_url, url)


# --- role attributes and membership ------------------------------------------------------------------------------


def test_no_role_has_cluster_powers_and_pipeline_roles_cannot_log_in(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "select rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolcanlogin, "
        "rolpassword is not null from pg_authid where rolname = any(%s)",
        (list(ROLES),),
    ).fetchall()
    assert {r[0] for r in rows} == set(ROLES)
    for name, superuser, createrole, createdb, replication, bypassrls, canlogin, has_password in rows:
        assert not (superuser or createrole or createdb or replication or bypassrls), name
        if name in PIPELINE_ROLES:
            assert not canlogin and not has_password, f"{name} must be NOLOGIN without a password"
        else:
            assert name in LOGIN_ROLES and canlogin, name


def test_no_role_is_a_member_of_another(conn: psycopg.Connection) -> None:
    """None of the five roles inherits or may SET ROLE to anything (only the pipeline's login holds them)."""
    memberships = conn.execute(
        "select m.member::regrole::text, m.roleid::regrole::text from pg_auth_members m "
        "where m.member::regrole::text = any(%s)",
        (list(ROLES),),
    ).fetchall()
    assert memberships == []


@pytest.mark.parametrize("login", LOGIN_ROLES)
@pytest.mark.parametrize("target", PIPELINE_ROLES)
def test_bi_logins_cannot_set_role_to_a_pipeline_role(roles_db: str, login: str, target: str) -> None:
    with psycopg.connect(wap.login_url(roles_db, login), autocommit=True) as conn:
        assert conn.execute("select current_user").fetchone()[0] == login
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql.SQL("set role {}").format(sql.Identifier(target)))


# --- PUBLIC ------------------------------------------------------------------------------------------------------


def test_public_has_no_rights_on_the_warehouse_schemas_or_their_tables(conn: psycopg.Connection) -> None:
    schemas = [*PROTECTED_SCHEMAS, "build", "marts_prev", "open_data_prev"]
    public_on_schemas = conn.execute(
        """
        select n.nspname, a.privilege_type
        from pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
        where a.grantee = 0 and n.nspname = any(%s)
        """,
        (schemas,),
    ).fetchall()
    assert public_on_schemas == []
    public_on_tables = conn.execute(
        """
        select n.nspname, c.relname, a.privilege_type
        from pg_class c join pg_namespace n on n.oid = c.relnamespace,
             aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
        where a.grantee = 0 and n.nspname = any(%s)
        """,
        (schemas,),
    ).fetchall()
    assert public_on_tables == []
