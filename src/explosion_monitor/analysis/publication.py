"""Publishing the analysis tables into `marts`, all or nothing, and carrying them through the count's publication.

Two publications share `marts`:
- the count's (`publish.py`) builds a whole new schema and swaps it in; `carry_forward` copies the published
  analysis tables into that new schema first, with their grants and row-level security policies, so a count
  publication never drops them;
- the analysis run's (`publish_tables`) replaces only its own tables, in one transaction, under the same
  advisory lock as the count's publication (one publisher at a time). A table whose columns are unchanged gets
  its rows replaced in place (DELETE + INSERT, safe for readers' snapshots), so its grants and policies stay; a
  table whose columns changed is rebuilt beside it and takes over the old one's grants and policies.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import psycopg
from psycopg import sql

from explosion_monitor import db
from explosion_monitor.analysis.steps import analysis_tables

MARTS = "marts"
BUILD_SCHEMA = "analysis_build"
_LOCK_TIMEOUT = "500ms"
DEADLINE_S = 120.0


class AnalysisPublishError(RuntimeError):
    """The analysis tables could not be published; `marts` is unchanged. The message is one sentence."""


def _exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    return conn.execute(
        "select to_regclass(format('%%I.%%I', %s::text, %s::text)) is not null", (schema, table)
    ).fetchone()[0]


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        """
        select a.attname, format_type(a.atttypid, a.atttypmod)
        from pg_attribute as a
        where a.attrelid = format('%%I.%%I', %s::text, %s::text)::regclass and a.attnum > 0 and not a.attisdropped
        order by a.attnum
        """,
        (schema, table),
    ).fetchall()


def copy_access(conn: psycopg.Connection, source: tuple[str, str], target: tuple[str, str]) -> None:
    """Give `target` the grants (other than its owner's), row-level security and policies of `source`."""
    dst = sql.Identifier(*target)
    grants = conn.execute(
        """
        select g.grantee::regrole::text, g.privilege_type
        from pg_class as c, aclexplode(c.relacl) as g
        where c.oid = format('%%I.%%I', %s::text, %s::text)::regclass and g.grantee <> c.relowner and g.grantee <> 0
        """,
        source,
    ).fetchall()
    for grantee, privilege in grants:
        conn.execute(sql.SQL("grant {} on {} to {}").format(sql.SQL(privilege), dst, sql.Identifier(grantee)))
    rls, force = conn.execute(
        "select relrowsecurity, relforcerowsecurity from pg_class where oid = format('%%I.%%I', %s::text, %s::text)::regclass",
        source,
    ).fetchone()
    if rls:
        conn.execute(sql.SQL("alter table {} enable row level security").format(dst))
    if force:
        conn.execute(sql.SQL("alter table {} force row level security").format(dst))
    policies = conn.execute(
        "select policyname, permissive, roles, cmd, qual, with_check from pg_policies "
        "where schemaname = %s and tablename = %s",
        source,
    ).fetchall()
    for name, permissive, roles, cmd, qual, with_check in policies:
        # the expressions come from the catalog (pg_policies), not from any input
        statement = sql.SQL("create policy {} on {} as {} for {} to {}").format(
            sql.Identifier(name),
            dst,
            sql.SQL(permissive),
            sql.SQL(cmd),
            sql.SQL(", ").join(sql.SQL("public") if r == "public" else sql.Identifier(r) for r in roles),
        )
        if qual:
            statement += sql.SQL(" using ({})").format(sql.SQL(qual))
        if with_check:
            statement += sql.SQL(" with check ({})").format(sql.SQL(with_check))
        conn.execute(statement)


def _copy_table(conn: psycopg.Connection, source: tuple[str, str], target: tuple[str, str]) -> None:
    src, dst = sql.Identifier(*source), sql.Identifier(*target)
    conn.execute(sql.SQL("create table {} (like {} including all)").format(dst, src))
    conn.execute(sql.SQL("insert into {} select * from {}").format(dst, src))
    comment = conn.execute(
        "select obj_description(format('%%I.%%I', %s::text, %s::text)::regclass, 'pg_class')", source
    ).fetchone()[0]
    if comment:
        conn.execute(sql.SQL("comment on table {} is {}").format(dst, sql.Literal(comment)))


def carry_forward(
    conn: psycopg.Connection, target: str, produced: Sequence[str] = (), source: str = MARTS
) -> list[str]:
    """In the count's staging transaction: copy the published analysis tables of `source` into `target`.

    Tables the count itself produced (`produced`) are left alone. Returns the tables carried.
    """
    carried = []
    for table in analysis_tables():
        if table in produced or not _exists(conn, source, table) or _exists(conn, target, table):
            continue
        _copy_table(conn, (source, table), (target, table))
        copy_access(conn, (source, table), (target, table))
        carried.append(table)
    return carried


def _replace(conn: psycopg.Connection, build: str, table: str) -> None:
    target = sql.Identifier(MARTS, table)
    if _exists(conn, MARTS, table) and _columns(conn, MARTS, table) == _columns(conn, build, table):
        conn.execute(sql.SQL("delete from {}").format(target))
        conn.execute(sql.SQL("insert into {} select * from {}").format(target, sql.Identifier(build, table)))
        comment = conn.execute(
            "select obj_description(format('%%I.%%I', %s::text, %s::text)::regclass, 'pg_class')", (build, table)
        ).fetchone()[0]
        if comment:
            conn.execute(sql.SQL("comment on table {} is {}").format(target, sql.Literal(comment)))
        return
    fresh = f"{table}__nieuw"
    conn.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(MARTS, fresh)))
    _copy_table(conn, (build, table), (MARTS, fresh))
    if _exists(conn, MARTS, table):
        copy_access(conn, (MARTS, table), (MARTS, fresh))
        conn.execute(sql.SQL("drop table {}").format(target))
    # else: a new table gets its readers from access.grant_published (tiers, row-level security) once published
    conn.execute(sql.SQL("alter table {} rename to {}").format(sql.Identifier(MARTS, fresh), sql.Identifier(table)))
    # an index or constraint keeps the build's name; that is harmless, names are per table's schema


def publish_tables(
    conn: psycopg.Connection, tables: Sequence[str], role: str | None, build: str = BUILD_SCHEMA
) -> None:
    """Replace exactly `tables` in `marts` with the build's, in one transaction; retried while readers hold them."""
    from explosion_monitor.published import one_publisher

    if not _exists(conn, "marts", "publicatie"):
        raise AnalysisPublishError("Nothing is published yet (marts.publicatie is missing); publish the count first.")
    deadline = time.monotonic() + DEADLINE_S
    with one_publisher(conn):
        while True:
            try:
                with conn.transaction():
                    conn.execute(f"set local lock_timeout = '{_LOCK_TIMEOUT}'")
                    if role:
                        db.set_role(conn, role)
                    present = [t for t in tables if _exists(conn, MARTS, t)]
                    if present:
                        conn.execute(
                            sql.SQL("lock table {} in access exclusive mode").format(
                                sql.SQL(", ").join(sql.Identifier(MARTS, t) for t in present)
                            )
                        )
                    for table in tables:
                        _replace(conn, build, table)
                return
            except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
                if time.monotonic() > deadline:
                    raise AnalysisPublishError(
                        f"Readers kept the analysis tables busy for {DEADLINE_S:.0f} s; nothing was published."
                    ) from None
                time.sleep(0.05)
