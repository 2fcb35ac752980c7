"""What the pipeline needs in an empty database: schemas, reference data, tables and roles.

`ensure_schema` is idempotent and safe to call from several processes at once; it is
called on first use by every entry point, so pointing WAREHOUSE_URL at an empty
database just works.
"""

from __future__ import annotations

import csv
import hashlib
import secrets
from pathlib import Path

import psycopg
from psycopg import sql

from explosion_monitor import access
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.contracts import Contract, all_contracts
from explosion_monitor.secret_store import load_secrets, save_secret

SCHEMAS = ("raw", "ops", "ref", "marts", "open_data")
# Cluster-wide roles, created only when missing, named <prefix><role> (access.choose_prefix). Logins get passwords
# from the secrets file.
ROLES = ("em_loader", "em_transformer", "em_publisher", "bi_reader", "open_data_reader", "analist")
# Readers log in as these (tiers and limits: access.py); passwords are generated into .data/secrets.json.
LOGIN_ROLES = ("bi_reader", "open_data_reader", "analist")
# ignored: an Office lock or system file (archived, no report); refused: not read (hard-linked or not a regular
# file), left in incoming/ with the reason in `message`.
LEDGER_STATUSES = ("claimed", "loaded", "quarantined", "empty", "duplicate", "reingested", "ignored", "refused")
_LOCK_KEY = 7_301_202_501  # serialises concurrent bootstraps


def _seed_dir(settings: Settings) -> Path:
    return settings.dbt_project_dir / "seeds"


def raw_table_ddl(contract: Contract) -> sql.Composed:
    cols = [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.sql_type)) for c in contract.columns]
    lineage = sql.SQL(
        "_file_id bigint not null, "  # no foreign key: see RAW_LINEAGE_DDL
        "_line_number integer not null, "
        "_arrived_at timestamptz not null, "
        "_loaded_at timestamptz not null default now()"
    )
    return sql.SQL("create table if not exists raw.{} ({}, {})").format(
        sql.Identifier(contract.feed), sql.SQL(", ").join(cols), lineage
    )


def raw_columns_ddl(contract: Contract) -> sql.Composed:
    """Columns a contract gained since the table was made: added empty, so no delivered row is lost."""
    return sql.SQL("alter table raw.{} {}").format(
        sql.Identifier(contract.feed),
        sql.SQL(", ").join(
            sql.SQL("add column if not exists {} {}").format(sql.Identifier(c.name), sql.SQL(c.sql_type))
            for c in contract.columns
        ),
    )


LEDGER_DDL = f"""
create table if not exists ops.ledger (
    file_id bigint generated always as identity primary key,
    feed text not null,
    bucket text not null,
    object_key text not null,
    sha256 text not null,
    size_bytes bigint not null,
    arrived_at timestamptz not null,
    status text not null check (status in ({", ".join(f"'{s}'" for s in LEDGER_STATUSES)})),
    file_format text,
    rows_loaded bigint not null default 0,
    error_count bigint not null default 0,
    warning_count bigint not null default 0,
    message text,
    duplicate_of bigint references ops.ledger (file_id),
    final_url text,
    report_url text,
    attempts integer not null default 1,
    claimed_by text,
    claimed_at timestamptz not null default now(),
    finished_at timestamptz,
    run_id text
);
-- The statuses grow with the code: a ledger made by an older version gets today's list.
alter table ops.ledger drop constraint if exists ledger_status_check;
alter table ops.ledger add constraint ledger_status_check check (status in ({", ".join(f"'{s}'" for s in LEDGER_STATUSES)}));
-- Retention (`explosion-monitor purge`): a purged file keeps its ledger row as the audit trail (name, sha256,
-- counts), marked with the moment its raw rows left.
alter table ops.ledger add column if not exists purged_at timestamptz;
-- One load per content and feed: a byte-identical re-drop can never load twice (while the first load's rows
-- are there: a file the retention purge removed may be delivered again).
drop index if exists ops.ledger_one_load_per_content;
create unique index ledger_one_load_per_content
    on ops.ledger (feed, sha256) where status in ('loaded', 'empty') and purged_at is null;
create index if not exists ledger_by_key on ops.ledger (feed, object_key, sha256);
"""

OPS_DDL = """
create table if not exists ops.schema_version (version text primary key, applied_at timestamptz default now());
create table if not exists ops.publication_log (
    publication_id bigint generated always as identity primary key,
    run_id text not null,
    started_at timestamptz not null default now(),
    finished_at timestamptz,
    outcome text not null check (outcome in ('running', 'published', 'blocked', 'failed', 'rolled_back')),
    failed_checks jsonb not null default '[]',
    warnings jsonb not null default '[]',
    message text
);
create table if not exists ops.dbt_run_results (
    invocation_id text not null,
    unique_id text not null,
    resource_type text,
    status text,
    execution_time_s double precision,
    rows_affected bigint,
    message text,
    failures bigint,
    generated_at timestamptz,
    loaded_at timestamptz not null default now(),
    primary key (invocation_id, unique_id)
);
create table if not exists ops.file_findings (
    file_id bigint not null references ops.ledger (file_id),
    seq integer not null,
    line_number bigint,
    column_name text,
    value text,
    check_code text not null,
    message_nl text not null,
    message_en text not null,
    primary key (file_id, seq)
);
-- Retention (explosion_monitor.retention, `explosion-monitor purge`): purge_log says what went and why.
create table if not exists ops.purge_log (
    purge_id bigint generated always as identity primary key,
    run_id text not null,
    purged_at timestamptz not null default now(),
    file_id bigint not null unique references ops.ledger (file_id),
    feed text not null,
    object_key text not null,
    sha256 text not null,
    status text not null,
    arrived_at timestamptz not null,
    reason text not null,
    detail text,
    retention_days integer not null,
    cutoff timestamptz not null,
    rows_removed bigint not null,
    findings_removed bigint not null default 0,
    -- what is to be removed from the bucket (the file; for a quarantined file also its report) ...
    objects text[] not null,
    -- ... and what was: null while the bucket part is unfinished (a re-run finishes it)
    objects_removed integer,
    objects_removed_at timestamptz,
    last_error text,
    -- null while the build schema may still hold this file's rows (a full-refresh build has not run since)
    refreshed_at timestamptz
);
create table if not exists ref.gemeente_codes (
    gemeente_code text primary key,
    naam text not null,
    -- The first day the code is no longer valid; null while the municipality exists.
    geldig_tot date,
    opvolger_code text
);
"""


def raw_lineage_ddl(feeds: list[str]) -> str:
    """raw.<feed>._file_id -> ops.ledger without a foreign key (its per-row trigger cost more than the COPY, and
    only a superuser may switch it off). The loader checks the ledger row once and locks it (ingest/load.py);
    this trigger keeps a ledger row that raw rows use from being deleted or renumbered."""
    uses = " or ".join(f"exists (select 1 from raw.{feed} where _file_id = old.file_id)" for feed in feeds)
    drops = "\n".join(f"alter table raw.{feed} drop constraint if exists {feed}__file_id_fkey;" for feed in feeds)
    return f"""
{drops}
create or replace function ops.ledger_keeps_raw_lineage() returns trigger language plpgsql as $fn$
begin
    if {uses} then
        raise exception 'ledger row % still has rows in raw', old.file_id using errcode = 'foreign_key_violation';
    end if;
    if tg_op = 'DELETE' then
        return old;
    end if;
    return new;
end $fn$;
create or replace trigger ledger_keeps_raw_lineage
    before delete or update of file_id on ops.ledger for each row execute function ops.ledger_keeps_raw_lineage();
"""


def _schema_version(settings: Settings) -> str:
    """Changes whenever a contract, the DDL or the reference data changes."""
    digest = hashlib.sha256()
    for contract in all_contracts().values():
        digest.update(repr(contract).encode())
    digest.update(raw_lineage_ddl(sorted(all_contracts())).encode() + repr(settings.role_prefix).encode())
    digest.update((LEDGER_DDL + OPS_DDL + GRANTS_SQL + access.DATABASE_SQL + repr(LOGIN_ROLES)).encode())
    digest.update(
        repr(
            (
                access.READER_LIMITS,
                sorted(access.SENSITIVE_COLUMNS),
                sorted(access.SAFE_DATE_COLUMNS),
                sorted(access.ROW_LEVEL_COLUMNS),
            )
        ).encode()
    )
    for name in ("gemeenten_2025.csv", "gemeentelijke_herindelingen.csv"):
        digest.update((_seed_dir(settings) / name).read_bytes())
    return digest.hexdigest()[:16]


def municipality_codes(settings: Settings) -> list[tuple[str, str, str | None, str | None]]:
    """Every code a delivery may use, with the day it stopped being valid."""
    rows: dict[str, tuple[str, str, str | None, str | None]] = {}
    with open(_seed_dir(settings) / "gemeenten_2025.csv", encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            rows[rec["gm_code"]] = (rec["gm_code"], rec["naam"], None, None)
    with open(_seed_dir(settings) / "gemeentelijke_herindelingen.csv", encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            # A split municipality has several rows; validity ends on the same day for all.
            rows.setdefault(
                rec["oude_gm_code"], (rec["oude_gm_code"], rec["oude_naam"], rec["ingangsdatum"], rec["nieuwe_gm_code"])
            )
    return list(rows.values())


def _ensure_roles(cur: psycopg.Cursor, settings: Settings) -> None:
    pre = access.prefix(cur.connection)
    for role in (pre + base for base in ROLES):
        cur.execute(
            sql.SQL(
                "do $$ begin if not exists (select from pg_roles where rolname = {lit}) "
                "then create role {ident} nologin; end if; end $$"
            ).format(lit=sql.Literal(role), ident=sql.Identifier(role))
        )
        # The pipeline's own login acts as these roles via SET ROLE.
        cur.execute(
            sql.SQL(
                "do $$ begin if not pg_has_role(current_user, {lit}, 'USAGE') "
                "then execute format('grant %I to %I', {lit}, current_user); end if; end $$"
            ).format(lit=sql.Literal(role))
        )
    for role in LOGIN_ROLES:
        enable_login(cur, settings, role)
    access.apply_limits(cur)
    access.ensure_gemeente_group(cur)


def enable_login(cur: psycopg.Cursor, settings: Settings, role: str) -> None:
    """Give a BI role a login with the password from the secrets file (generated there on first use).

    Only the SCRAM verifier, computed here, is sent to the server: the password never appears in SQL.
    """
    chosen = dict(settings.login_passwords).get(role)  # set by the deployment (config.LOGIN_PASSWORD_ENV)
    role = access.role(cur.connection, role)  # the cluster's name: with this warehouse's prefix
    name = f"{role}_password"
    password = chosen or load_secrets(settings).get(name)
    if not password:
        save_secret(settings, name, secrets.token_urlsafe(24))
        password = load_secrets(settings)[name]  # whoever saved last wins, for every process
    verifier = cur.connection.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    cur.execute(
        sql.SQL("alter role {} with login password {}").format(sql.Identifier(role), sql.Literal(verifier.decode()))
    )


# Publisher: creates marts_next/open_data_next and renames them over marts/open_data, so it owns those
# schemas (while they are still empty) and may create schemas. BI roles read marts and open_data only.
GRANTS_SQL = """
        revoke all on schema raw, ops, ref, marts, open_data from public;
        -- The pipeline roles' rights in raw, ops and ref are exactly the grants below: start from none, so an
        -- upgraded database loses what an earlier version granted (tests/test_roles.py holds the full matrix).
        revoke all on all tables in schema raw, ops, ref from em_loader, em_transformer, em_publisher;
        revoke all on schema raw, ops, ref from em_loader, em_transformer, em_publisher;
        -- Loader (SET ROLE around the COPY): appends rows to raw, never deletes or changes them. The ledger
        -- row lock, ledger and findings rows are the login's, so the loader has nothing in ops.
        grant usage on schema raw, ref to em_loader;
        grant select, insert on all tables in schema raw to em_loader;
        -- Transformer (dbt): reads raw, the ledger and ref; writes only the build schemas it creates.
        grant usage on schema raw, ops, ref to em_transformer;
        grant select on all tables in schema raw to em_transformer;
        grant select on ops.ledger to em_transformer;
        grant insert on ops.dbt_run_results to em_transformer;
        grant select on all tables in schema ref to em_loader, em_transformer;
        -- Publisher: reads the build (dbt grants it, see dbt_project/macros/grants.sql), owns marts and
        -- open_data, and logs its publications; nothing in raw or ref.
        grant usage on schema ops to em_publisher;
        grant select, insert, update on ops.publication_log to em_publisher;
        -- ... and when purges ran: a publication older than a purge is never kept for a rollback.
        grant select (purged_at) on ops.purge_log to em_publisher;
        -- Readers: USAGE here; SELECT per table by tier (access.grant_published, at every publication).
        grant usage on schema marts, open_data to bi_reader, analist;
        grant usage on schema marts to gemeente_lezer;
        grant usage on schema open_data to open_data_reader;
        -- dbt builds as em_transformer: it creates its own build schemas (build, build_staging, ...).
        do $$ begin execute format('grant create on database %I to em_transformer', current_database()); end $$;
        do $$ begin execute format('grant create on database %I to em_publisher', current_database()); end $$;
        do $$ begin
            if not exists (select from pg_class where relnamespace = 'marts'::regnamespace) then
                alter schema marts owner to em_publisher;
            end if;
            if not exists (select from pg_class where relnamespace = 'open_data'::regnamespace) then
                alter schema open_data owner to em_publisher;
            end if;
        end $$;
        """


def _grant(cur: psycopg.Cursor) -> None:
    pre = access.prefix(cur.connection)
    cur.execute(access.render(GRANTS_SQL, pre))
    cur.execute(access.render(access.DATABASE_SQL, pre))
    for schema in ("marts", "open_data"):  # what an earlier version published gets the tiers' grants too
        access.grant_published(cur.connection, schema, schema)


def ensure_schema(conn: psycopg.Connection, settings: Settings | None = None) -> bool:
    """Create or update everything; returns True when something was (re)applied."""
    settings = settings or get_settings()
    version = _schema_version(settings)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur.execute("select to_regclass('ops.schema_version') is not null")
        if cur.fetchone()[0]:
            cur.execute("select 1 from ops.schema_version where version = %s", (version,))
            if cur.fetchone():
                return False
        for schema in SCHEMAS:
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        access.choose_prefix(conn, settings.role_prefix)
        cur.execute(LEDGER_DDL)
        cur.execute(OPS_DDL)
        for contract in all_contracts().values():
            cur.execute(raw_table_ddl(contract))
            cur.execute(raw_columns_ddl(contract))
            cur.execute(
                sql.SQL("create index if not exists {} on raw.{} using brin (_file_id)").format(
                    sql.Identifier(f"{contract.feed}_file_brin"), sql.Identifier(contract.feed)
                )
            )
        cur.execute(raw_lineage_ddl(sorted(all_contracts())))
        cur.execute("delete from ref.gemeente_codes")
        with cur.copy("copy ref.gemeente_codes (gemeente_code, naam, geldig_tot, opvolger_code) from stdin") as cp:
            for row in municipality_codes(settings):
                cp.write_row(row)
        _ensure_roles(cur, settings)
        _grant(cur)
        cur.execute("insert into ops.schema_version (version) values (%s) on conflict do nothing", (version,))
    return True
