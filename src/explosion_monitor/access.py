"""Who reads what, and how readers are kept from hurting the pipeline (issue 12; docs/bi-access.md).

Three tiers of reader logins:

- `open_data_reader`: the schema `open_data` only (suppressed aggregates, for the public);
- `bi_reader`: `open_data` and the aggregate marts: municipality x month and coarser. A mart with a row per
  incident, claim or melding (a column in ROW_LEVEL_COLUMNS) is not granted at all; of the other marts every
  column is granted except postcode4 and exact event dates (SENSITIVE_COLUMNS, and any date column not in
  SAFE_DATE_COLUMNS), so a new mart is aggregate-safe by default;
- `analist`: every mart and `open_data`, incident level included (police and Offensief analysts).

Every reader login has a connection limit, statement_timeout, idle_in_transaction_session_timeout and
temp_file_limit (READER_LIMITS), set at bootstrap; the limits add up to less than the server's normal
connection slots, so readers can never take the pipeline's connections (on PostgreSQL 16+ the embedded server
also keeps `reserved_connections` for roles granted pg_use_reserved_connections). Readers get no TEMP and no
CONNECT but on the warehouse database. A publication never waits on a reader's open transaction: a reader that
sits idle in a transaction holding a published table, or an old snapshot, is disconnected (`end_idle_readers`);
a running query ends within its statement_timeout, well within the publication's deadline.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

MARTS, OPEN_DATA = "marts", "open_data"
#: Every role the warehouse uses, by its base name; the cluster knows them as <prefix><base name>.
BASE_ROLES = ("em_loader", "em_transformer", "em_publisher", "bi_reader", "open_data_reader", "analist")
#: Function that returns this warehouse's role prefix (made at bootstrap; a non-superuser may not ALTER DATABASE
#: SET a custom setting, so it is a function in ops).
PREFIX_FUNCTION = "ops.role_prefix()"
_ROLE_WORD = re.compile(r"\b(" + "|".join((*BASE_ROLES, "gemeente_lezer")) + r")\b")
READER_ROLES = ("bi_reader", "open_data_reader", "analist")
#: Who may use which published schema (USAGE); table grants follow the tier rules in grant_published.
SCHEMA_READERS: dict[str, tuple[str, ...]] = {
    MARTS: ("bi_reader", "analist", "gemeente_lezer"),
    OPEN_DATA: ("bi_reader", "open_data_reader", "analist"),
}
#: A table with one of these columns has a row per case: never for bi_reader.
ROW_LEVEL_COLUMNS = frozenset({"incident_id", "claim_id", "melding_id", "politie_incident_id"})
#: Columns bi_reader never gets, in any table.
SENSITIVE_COLUMNS = frozenset({"postcode4", "incident_datum", "schadedatum", "sluiting_start", "sluiting_eind"})
#: Date columns that describe deliveries or publications, not events: fine for bi_reader.
SAFE_DATE_COLUMNS = frozenset(
    {
        "peildatum",
        "publicatiedatum",
        "gepubliceerd_op",
        "ytd_tot_datum",
        "maand_start",
        "geldig_tot",
        "geldig_vanaf",
        # the window an estimate of marts.wat_werkt covers: calendar bounds, not events
        "periode_van",
        "periode_tot",
    }
)


@dataclass(frozen=True)
class Limits:
    connections: int
    statement_timeout: str
    idle_in_transaction: str
    temp_file_limit: str


READER_LIMITS: dict[str, Limits] = {
    "bi_reader": Limits(20, "60s", "30s", "1GB"),
    "open_data_reader": Limits(30, "30s", "15s", "256MB"),
    "analist": Limits(10, "60s", "30s", "2GB"),
}
#: Normal connection slots that readers together leave to the pipeline (loader, dbt threads, Airflow, publisher).
PIPELINE_SLOTS = 12


def reader_budget(conn: psycopg.Connection) -> int:
    """How many connections all readers together may hold on this server."""
    row = conn.execute(
        "select current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int, "
        "case when current_setting('server_version_num')::int >= 160000 "
        "then current_setting('reserved_connections')::int else 0 end"
    ).fetchone()
    max_conn, superuser, reserved = row
    return max(len(READER_LIMITS), max_conn - superuser - reserved - PIPELINE_SLOTS)


def connection_limits(conn: psycopg.Connection) -> dict[str, int]:
    """READER_LIMITS' connection limits, scaled down when the server has fewer slots than they add up to."""
    budget = reader_budget(conn)
    wanted = {r: lim.connections for r, lim in READER_LIMITS.items()}
    total = sum(wanted.values())
    if total <= budget:
        return wanted
    return {r: max(1, n * budget // total) for r, n in wanted.items()}


def apply_limits(cur: psycopg.Cursor) -> list[str]:
    """Set every reader login's limits; returns the settings this login may not set (one sentence each)."""
    skipped = []
    pre = prefix(cur.connection)
    for base, n in connection_limits(cur.connection).items():
        role_name = pre + base
        ident = sql.Identifier(role_name)
        lim = READER_LIMITS[base]
        cur.execute(sql.SQL("alter role {} connection limit {}").format(ident, sql.Literal(n)))
        for name, value in (
            ("statement_timeout", lim.statement_timeout),
            ("idle_in_transaction_session_timeout", lim.idle_in_transaction),
            ("temp_file_limit", lim.temp_file_limit),
        ):
            try:
                with cur.connection.transaction():
                    cur.execute(
                        sql.SQL("alter role {} set {} = {}").format(ident, sql.Identifier(name), sql.Literal(value))
                    )
            except psycopg.errors.InsufficientPrivilege:
                # temp_file_limit is a superuser setting: a DBA grants SET on it once (README).
                skipped.append(
                    f"{role_name}: {name} needs `grant set on parameter {name}` to {cur.connection.info.user}"
                )
    for line in skipped:
        log.warning("Reader limit not set: %s.", line)
    return skipped


DATABASE_SQL = """
do $$ begin
    execute format('revoke temporary, connect on database %I from public', current_database());
    execute format('grant connect on database %I to bi_reader, open_data_reader, analist', current_database());
    -- temporary tables: the loader's duplicate-key check (ingest/load.py), dbt's unit tests
    execute format('grant temporary on database %I to em_loader, em_transformer', current_database());
    -- docker-compose's MinIO event login writes into ops.minio_events
    if exists (select from pg_roles where rolname = 'minio_events') then
        execute format('grant connect on database %I to minio_events', current_database());
    end if;
end $$;
"""


def restrict_other_databases(conn: psycopg.Connection, databases: tuple[str, ...] = ("postgres", "airflow")) -> None:
    """As the superuser at first start: readers (PUBLIC) may not connect to or make temp tables in these."""
    for db in databases:
        if conn.execute("select 1 from pg_database where datname = %s", (db,)).fetchone():
            conn.execute(sql.SQL("revoke temporary, connect on database {} from public").format(sql.Identifier(db)))


# --- published tables --------------------------------------------------------------------------------------


def bi_columns(conn: psycopg.Connection, schema: str, table: str) -> list[str] | None:
    """The columns of schema.table bi_reader may read; None when the table is row level (not granted at all)."""
    cols = conn.execute(
        """
        select a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_attribute as a
        where a.attrelid = format('%%I.%%I', %s::text, %s::text)::regclass and a.attnum > 0 and not a.attisdropped
        order by a.attnum
        """,
        (schema, table),
    ).fetchall()
    if table in NEIGHBOURHOOD or any(name in ROW_LEVEL_COLUMNS for name, _type in cols):
        return None
    return [
        name
        for name, typ in cols
        if name not in SENSITIVE_COLUMNS
        and not ((typ == "date" or typ.startswith("timestamp")) and name not in SAFE_DATE_COLUMNS)
    ]


def grant_published(conn: psycopg.Connection, schema: str, published: str) -> None:
    """SELECT on the tables of `schema` (holding what becomes `published`) by tier."""
    tables = [
        r[0]
        for r in conn.execute(
            "select c.relname from pg_class as c where c.relnamespace = to_regnamespace(%s) and c.relkind in ('r', 'p')",
            (schema,),
        )
    ]
    pre = prefix(conn)
    bi, public, analist = (sql.Identifier(pre + r) for r in ("bi_reader", "open_data_reader", "analist"))
    for table in tables:
        target = sql.Identifier(schema, table)
        conn.execute(sql.SQL("revoke all on {} from {}, {}, {}").format(target, bi, public, analist))
        conn.execute(sql.SQL("grant select on {} to {}").format(target, analist))
        if published == OPEN_DATA:
            conn.execute(sql.SQL("grant select on {} to {}, {}").format(target, bi, public))
            continue
        columns = bi_columns(conn, schema, table)
        if columns:
            conn.execute(
                sql.SQL("grant select ({}) on {} to {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)), target, bi
                )
            )
    if published == MARTS:
        protect(conn, schema)


def _readers(conn: psycopg.Connection, published: str) -> sql.Composable:
    pre = prefix(conn)
    return sql.SQL(", ").join(sql.Identifier(pre + r) for r in SCHEMA_READERS[published])


def grant_usage(conn: psycopg.Connection, schema: str, published: str) -> None:
    readers = _readers(conn, published)
    conn.execute(sql.SQL("grant usage on schema {} to {}").format(sql.Identifier(schema), readers))


def revoke_usage(conn: psycopg.Connection, schema: str, published: str) -> None:
    readers = _readers(conn, published)
    conn.execute(sql.SQL("revoke usage on schema {} from {}").format(sql.Identifier(schema), readers))


# --- readers never hold up a publication --------------------------------------------------------------------


#: A reader's query running longer than this has lifted its own statement_timeout (the longest a role gets).
OVERRUN = "60s"
#: A reader idle in a transaction this long is not between two statements of a short transaction.
IDLE_GRACE = "3s"


def end_idle_readers(conn: psycopg.Connection) -> list[int]:
    """Disconnect reader sessions of this database that hold up a publication; returns their pids.

    Those are sessions idle inside a transaction for over IDLE_GRACE (holding locks and a snapshot while doing
    nothing; their idle timeout would end them anyway), and queries running longer than any reader's statement_timeout (the reader
    lifted it: the timeouts are defaults a session may change, so the publisher does not rely on them). Runs as
    the pipeline's login (a member of the reader roles, or a superuser), outside SET ROLE.
    """
    try:
        rows = conn.execute(
            """
        select pid, pg_terminate_backend(pid) from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid()
          and (usename = any(%s) or usename like %s)
          and ((state in ('idle in transaction', 'idle in transaction (aborted)')
                and state_change < clock_timestamp() - %s::interval)
               or (state = 'active' and query_start < clock_timestamp() - %s::interval))
        """,
            (
                [prefix(conn) + r for r in READER_ROLES],
                prefix(conn).replace("_", r"\_") + r"gemeente\_%",
                IDLE_GRACE,
                OVERRUN,
            ),
        ).fetchall()
    except psycopg.errors.InsufficientPrivilege:
        log.warning("This login may not disconnect reader sessions; the publication waits for them instead.")
        return []
    ended = [pid for pid, ok in rows if ok]
    if ended:
        log.warning(
            "Disconnected %d reader session(s) idle in a transaction that held up the publication: %s",
            len(ended),
            ", ".join(map(str, ended)),
        )
    return ended


# --- role names: cluster-wide, so prefixed per warehouse --------------------------------------------------


def _stored_prefix(conn: psycopg.Connection) -> str | None:
    if conn.execute("select to_regprocedure(%s) is null", (PREFIX_FUNCTION,)).fetchone()[0]:
        return None
    return conn.execute("select ops.role_prefix()").fetchone()[0]


def prefix(conn: psycopg.Connection) -> str:
    """This warehouse's role prefix ('' for the first warehouse on a server; see choose_prefix)."""
    return _stored_prefix(conn) or ""


def role(conn: psycopg.Connection, base: str) -> str:
    """The cluster's name of one of BASE_ROLES for this warehouse."""
    return prefix(conn) + base


def render(statements: str, role_prefix: str) -> str:
    """SQL written with the base role names, for a warehouse whose roles carry `role_prefix`."""
    return _ROLE_WORD.sub(lambda m: role_prefix + m.group(1), statements) if role_prefix else statements


def _sanitise(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "_", name.lower())[:40]


def choose_prefix(conn: psycopg.Connection, configured: str | None) -> str:
    """At bootstrap (ops exists): the prefix this warehouse's roles get, stored as ops.role_prefix() for later.

    EXPLOSION_MONITOR_ROLE_PREFIX wins when set. Otherwise an earlier choice stays; a new warehouse takes the
    plain names when each is free or this login administers it, and else `<database>_`, so two warehouses in one
    cluster never share or fight over a role, and an owner who did not create `bi_reader` still bootstraps.
    """
    current = _stored_prefix(conn)
    if configured is not None:
        chosen = configured
    elif current is not None:
        chosen = current
    else:
        foreign = conn.execute(
            """
            select count(*) from pg_roles as r
            where r.rolname = any(%s)
              and not (select rolsuper from pg_roles where rolname = current_user)
              and not pg_has_role(current_user, r.oid, 'USAGE WITH ADMIN OPTION')
            """,
            (list(BASE_ROLES),),
        ).fetchone()[0]
        chosen = "" if not foreign else _sanitise(conn.info.dbname) + "_"
    if chosen != current:
        conn.execute(
            sql.SQL(
                "create or replace function ops.role_prefix() returns text language sql immutable parallel safe as {}"
            ).format(sql.Literal(f"select {sql.quote(chosen)}::text"))
        )
    return chosen


# --- municipality logins: row-level security (the hook; the neighbourhood issue adds the logins) -------------

#: Group of every municipality login; it reads the protected marts, each login only its own municipality's rows.
GEMEENTE_GROUP = "gemeente_lezer"
GEMEENTE_POLICY = "eigen_gemeente"
#: A mart with this column is protected: row-level security, and a municipality login sees its own rows only.
GEMEENTE_COLUMN = "gemeente_code"
#: The neighbourhood tables (per postcode4, per repeat address, per report): their rows are for the municipality's own
#: login (all columns, its own rows) and `analist` only; bi_reader gets neither a grant nor a policy.
NEIGHBOURHOOD = frozenset(
    {"aanslagen_per_postcode4", "herhaling_adressen", "nazorg_meldingen", "verhoogd_risico", "hotspots_postcode4"}
)


def ensure_gemeente_group(cur: psycopg.Cursor) -> str:
    """At bootstrap: the NOLOGIN group of the municipality logins (it must exist before policies name it)."""
    group = prefix(cur.connection) + GEMEENTE_GROUP
    if not cur.execute("select 1 from pg_roles where rolname = %s", (group,)).fetchone():
        cur.execute(sql.SQL("create role {} nologin").format(sql.Identifier(group)))
    return group


def _protected(conn: psycopg.Connection, schema: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            """
        select c.relname from pg_class as c join pg_attribute as a on a.attrelid = c.oid
        where c.relnamespace = to_regnamespace(%s) and c.relkind in ('r', 'p') and a.attname = %s
          and not a.attisdropped order by 1
        """,
            (schema, GEMEENTE_COLUMN),
        )
    ]


def protect(conn: psycopg.Connection, schema: str) -> None:
    """Row-level security on the protected tables of `schema` (at every publication, in `marts_next`).

    The partnership's readers see every row; a municipality login only rows of its own code, which is its role
    name (`<prefix>gemeente_gm0363` reads GM0363). It gets the same columns as bi_reader, never a row-level mart.
    """
    pre = prefix(conn)
    group = pre + GEMEENTE_GROUP
    if not conn.execute("select 1 from pg_roles where rolname = %s", (group,)).fetchone():
        return  # a database set up before the hook existed: ensure_schema makes the group
    own_code = sql.SQL("upper(substr(current_user::text, {}))").format(sql.Literal(len(pre + "gemeente_") + 1))
    for table in _protected(conn, schema):
        target = sql.Identifier(schema, table)
        conn.execute(sql.SQL("alter table {} enable row level security").format(target))
        for policy in ("partnership", GEMEENTE_POLICY):  # a re-run at bootstrap replaces them
            conn.execute(sql.SQL("drop policy if exists {} on {}").format(sql.Identifier(policy), target))
        # a neighbourhood table's rows are for the analysts and the municipality itself, not for BI
        partnership = [pre + "analist"] if table in NEIGHBOURHOOD else [pre + "bi_reader", pre + "analist"]
        conn.execute(
            sql.SQL("create policy partnership on {} for select to {} using (true)").format(
                target, sql.SQL(", ").join(map(sql.Identifier, partnership))
            )
        )
        conn.execute(
            sql.SQL("create policy {} on {} for select to {} using ({} = {})").format(
                sql.Identifier(GEMEENTE_POLICY),
                target,
                sql.Identifier(group),
                sql.Identifier(GEMEENTE_COLUMN),
                own_code,
            )
        )
        if table in NEIGHBOURHOOD:  # its own neighbourhoods in full: postcode4 and dates are what the triangle needs
            conn.execute(sql.SQL("grant select on {} to {}").format(target, sql.Identifier(group)))
            continue
        columns = bi_columns(conn, schema, table)
        if columns:
            conn.execute(
                sql.SQL("grant select ({}) on {} to {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)), target, sql.Identifier(group)
                )
            )


def unprotected(conn: psycopg.Connection, schema: str) -> list[str]:
    """The blocking check: protected tables of `schema` without row-level security or without their policy."""
    return [
        r[0]
        for r in conn.execute(
            """
        select c.relname from pg_class as c
        where c.relnamespace = to_regnamespace(%s) and c.relname = any(%s)
          and not (c.relrowsecurity and exists (
              select 1 from pg_policy as p where p.polrelid = c.oid and p.polname = %s))
        order by 1
        """,
            (schema, _protected(conn, schema), GEMEENTE_POLICY),
        )
    ]


class AccessError(ValueError):
    """A login could not be made; one sentence for the user."""


def create_municipality_login(conn: psycopg.Connection, gemeente_code: str, password: str) -> str:
    """Create (or re-password) the login of one municipality; returns its role name.

    It sees the protected marts (those with gemeente_code) with bi_reader's columns and only its own rows, and
    nothing else. Run as the pipeline's login (CREATEROLE) after bootstrap.
    """
    code = gemeente_code.strip().upper()
    if not re.fullmatch(r"GM\d{4}", code):
        raise AccessError(f"A municipality code looks like GM0363, not {gemeente_code!r}.")
    if not conn.execute(
        "select 1 from ref.gemeente_codes where gemeente_code = %s and geldig_tot is null", (code,)
    ).fetchone():
        raise AccessError(f"{code} is not a municipality of today; a login is made for today's codes only.")
    pre = prefix(conn)
    name, group = f"{pre}gemeente_{code.lower()}", pre + GEMEENTE_GROUP
    verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone()
    verb = "alter" if exists else "create"
    conn.execute(
        sql.SQL(verb + " role {} login connection limit 5 password {}").format(
            sql.Identifier(name), sql.Literal(verifier)
        )
    )
    conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(name)))
    for setting, value in (("statement_timeout", "30s"), ("idle_in_transaction_session_timeout", "15s")):
        conn.execute(
            sql.SQL("alter role {} set {} = {}").format(
                sql.Identifier(name), sql.Identifier(setting), sql.Literal(value)
            )
        )
    conn.execute(
        sql.SQL("grant connect on database {} to {}").format(sql.Identifier(conn.info.dbname), sql.Identifier(name))
    )
    return name


@dataclass(frozen=True)
class Login:
    role: str
    gemeente_code: str
    password_file: Path


def issue_municipality_login(conn: psycopg.Connection, gemeente_code: str, secrets_dir: Path) -> Login:
    """`explosion-monitor access gemeente`: the login with a new random password, written to a 0600 file."""
    password = secrets.token_urlsafe(24)
    role_name = create_municipality_login(conn, gemeente_code, password)
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / f"{role_name}.password"
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(password + "\n", encoding="utf-8")
    return Login(role_name, gemeente_code.strip().upper(), path)
