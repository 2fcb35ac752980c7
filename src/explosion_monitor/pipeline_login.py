"""The embedded server's pipeline login: the superuser makes it at start, the pipeline works as it (issue 12).

The embedded PostgreSQL follows the rule of any other warehouse: its superuser only creates roles and databases.
At every start (warehouse.py, as the superuser, idempotently) the login `pipeline` is made with:

- LOGIN, CREATEROLE (its bootstrap makes em_loader, bi_reader, ...), no SUPERUSER;
- CREATEDB, because the archive replay (orchestration/rebuild.py) drops and creates `<warehouse>_rebuild`, and
  CONNECT on `postgres`, the database it does that from;
- `pg_use_reserved_connections` (PostgreSQL 16+): the reserved slots readers cannot take;
- SET on `temp_file_limit`, so its bootstrap can set the readers' limit (a superuser-only setting);
- ownership of the warehouse and `airflow` databases, and ADMIN on the warehouse's roles where they exist already
  (made by the superuser before this change, or by a test's bootstrap as the superuser): PostgreSQL 16 lets a
  CREATEROLE login alter only the roles it administers.

A data folder made before this change has both databases, and everything in them, owned by the superuser:
`hand_over` gives each object the superuser owns there to the pipeline login, in one transaction per database,
then the database itself. Objects of the pipeline's own roles (marts owned by em_publisher, ...) stay as they are.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from typing import Any

import psycopg
from psycopg import sql

from explosion_monitor import access, db
from explosion_monitor.config import Settings
from explosion_monitor.db import WarehouseError, first_line
from explosion_monitor.secret_store import load_secrets, save_secret

PIPELINE_ROLE = "pipeline"
PIPELINE_SECRET = "pipeline_password"
#: How long the hand-over waits for a table lock before it gives up with one sentence (a running Airflow holds some).
_HAND_OVER_LOCK_TIMEOUT = "30s"

log = logging.getLogger(__name__)


def password(settings: Settings) -> tuple[str, bool]:
    """The pipeline login's password from the secrets file, generated there on first use; (password, new)."""
    stored = load_secrets(settings).get(PIPELINE_SECRET)
    if stored:
        return stored, False
    save_secret(settings, PIPELINE_SECRET, secrets.token_urlsafe(24))
    return load_secrets(settings)[PIPELINE_SECRET], True


def ensure_login(conn: psycopg.Connection[Any], settings: Settings) -> str:
    """As the superuser: the pipeline login with its attributes and grants; returns its password."""
    secret, new = password(settings)
    ident = sql.Identifier(PIPELINE_ROLE)
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (PIPELINE_ROLE,)).fetchone()
    if not exists or new:
        # Only the SCRAM verifier reaches the server: the password never appears in SQL text or the server log.
        verifier = conn.pgconn.encrypt_password(secret.encode(), PIPELINE_ROLE.encode(), b"scram-sha-256").decode()
        verb = "alter" if exists else "create"
        with contextlib.suppress(psycopg.errors.DuplicateObject):  # a concurrent start made it first
            conn.execute(
                sql.SQL(verb + " role {} with login createrole createdb nosuperuser password {}").format(
                    ident, sql.Literal(verifier)
                )
            )
    version = conn.info.server_version
    missing = conn.execute(
        """
        select not has_database_privilege(%(r)s, 'postgres', 'CONNECT'),
               %(v)s >= 160000 and not pg_has_role(%(r)s, 'pg_use_reserved_connections', 'MEMBER'),
               %(v)s >= 150000 and not has_parameter_privilege(%(r)s, 'temp_file_limit', 'SET')
        """
        if version >= 150000
        else "select not has_database_privilege(%(r)s, 'postgres', 'CONNECT'), false, false",
        {"r": PIPELINE_ROLE, "v": version},
    ).fetchone()
    grants = (
        "grant connect on database postgres to {}",
        "grant pg_use_reserved_connections to {}",
        "grant set on parameter temp_file_limit to {}",
    )
    for needed, statement in zip(missing, grants, strict=True):
        if needed:
            conn.execute(sql.SQL(statement).format(ident))
    _administer_existing_roles(conn, settings)
    return secret


def _administer_existing_roles(conn: psycopg.Connection[Any], settings: Settings) -> None:
    """ADMIN on the warehouse's roles that someone else (the superuser) made, so the pipeline's bootstrap may alter
    them and keeps the plain names (access.choose_prefix) instead of making a second, prefixed set."""
    prefixes = sorted({"", settings.role_prefix or ""})
    names = [p + base for p in prefixes for base in (*access.BASE_ROLES, access.GEMEENTE_GROUP)]
    rows = conn.execute(
        """
        select rolname from pg_roles
        where (rolname = any(%s) or rolname like any(%s)) and not rolsuper and rolname <> %s
          and not pg_has_role(%s, oid, 'MEMBER WITH ADMIN OPTION')
        """,
        (names, [p.replace("_", r"\_") + r"gemeente\_gm%" for p in prefixes], PIPELINE_ROLE, PIPELINE_ROLE),
    ).fetchall()
    for (name,) in rows:
        conn.execute(
            sql.SQL("grant {} to {} with admin option").format(sql.Identifier(name), sql.Identifier(PIPELINE_ROLE))
        )


# Every object the superuser owns in one database, given to the pipeline login. Sequences that belong to a column
# (serial, identity) and extension members follow their owner and are skipped; so are system schemas.
_HAND_OVER_SQL = r"""
do $$
declare
    su oid := (select oid from pg_roles where rolname = {superuser});
    target text := {pipeline};
    r record;
begin
    for r in
        select nspname from pg_namespace
        where nspowner = su and nspname not like 'pg\_%' and nspname <> 'information_schema'
    loop
        execute format('alter schema %I owner to %I', r.nspname, target);
    end loop;
    for r in
        select c.oid::regclass as rel,
               case c.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view'
                              when 'f' then 'foreign table' when 'c' then 'type' else 'table' end as kind
        from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
        where c.relowner = su and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S', 'c')
          and n.nspname not like 'pg\_%' and n.nspname <> 'information_schema'
          and not exists (select from pg_depend as d where d.classid = 'pg_class'::regclass and d.objid = c.oid
                          and d.deptype in ('a', 'i', 'e'))
    loop
        execute format('alter %s %s owner to %I', r.kind, r.rel, target);
    end loop;
    for r in
        select p.oid::regprocedure as fn,
               case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end as kind
        from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
        where p.proowner = su and n.nspname not like 'pg\_%' and n.nspname <> 'information_schema'
          and not exists (select from pg_depend as d where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                          and d.deptype = 'e')
    loop
        execute format('alter %s %s owner to %I', r.kind, r.fn, target);
    end loop;
    for r in
        select t.oid::regtype as typ
        from pg_type as t join pg_namespace as n on n.oid = t.typnamespace
        where t.typowner = su and t.typtype in ('d', 'e', 'r') and t.typcategory <> 'A'
          and n.nspname not like 'pg\_%' and n.nspname <> 'information_schema'
          and not exists (select from pg_depend as d where d.classid = 'pg_type'::regclass and d.objid = t.oid
                          and d.deptype = 'e')
    loop
        execute format('alter type %s owner to %I', r.typ, target);
    end loop;
end $$
"""


def owned_by(conn: psycopg.Connection[Any], owner: str) -> int:
    """How many schemas, relations and functions outside the system schemas `owner` owns in this database."""
    return conn.execute(
        """
        select (select count(*) from pg_namespace where nspowner = r.oid
                  and nspname not like 'pg\\_%%' and nspname <> 'information_schema')
             + (select count(*) from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
                  where c.relowner = r.oid and n.nspname not like 'pg\\_%%' and n.nspname <> 'information_schema')
             + (select count(*) from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
                  where p.proowner = r.oid and n.nspname not like 'pg\\_%%' and n.nspname <> 'information_schema')
        from pg_roles as r where r.rolname = %s
        """,
        (owner,),
    ).fetchone()[0]


def hand_over(conn: psycopg.Connection[Any], admin_url: str, superuser: str, databases: tuple[str, ...]) -> None:
    """As the superuser (`conn` on any database of the server): each of `databases` that the pipeline login does
    not own yet, with everything the superuser owns in it, becomes the pipeline login's; one transaction each."""
    for name in databases:
        owner = conn.execute("select pg_get_userbyid(datdba) from pg_database where datname = %s", (name,)).fetchone()
        if owner is None or owner[0] == PIPELINE_ROLE:
            continue
        try:
            with db.connect(db.database_url(admin_url, name), what="the embedded server") as target:
                target.execute(sql.SQL("set local lock_timeout = {}").format(sql.Literal(_HAND_OVER_LOCK_TIMEOUT)))
                moved = owned_by(target, superuser)
                target.execute(
                    sql.SQL(_HAND_OVER_SQL).format(
                        superuser=sql.Literal(superuser), pipeline=sql.Literal(PIPELINE_ROLE)
                    )
                )
                target.execute(
                    sql.SQL("alter database {} owner to {}").format(sql.Identifier(name), sql.Identifier(PIPELINE_ROLE))
                )
                target.commit()
        except psycopg.Error as e:
            raise WarehouseError(
                f"Handing the database {name} to the login {PIPELINE_ROLE} failed ({first_line(str(e))}); "
                "stop what uses it (Airflow, dbt) and start the warehouse again."
            ) from None
        if moved:
            log.warning(
                "The database %s and %d objects in it now belong to the login %s instead of the superuser.",
                name,
                moved,
                PIPELINE_ROLE,
            )
