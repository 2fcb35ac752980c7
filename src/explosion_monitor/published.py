"""What is published and reading it: the build's publishable relations, the current publication, table checksums,
the publication log (publish.py re-exports these); and who publishes: one publisher at a time per database
(`one_publisher`, shared by the count's publication and the analysis run's), as em_publisher when it can
(`publisher_role`)."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from explosion_monitor import access, db
from explosion_monitor.config import Settings, get_settings
from explosion_monitor.db import ready

PUBLISHED = ("marts", "open_data")
MARTS, OPEN_DATA = PUBLISHED
BUILD_SCHEMA = "build"
OPEN_DATA_PREFIX = "open_data__"
PUBLICATION_TABLE = "publicatie"
PUBLISHER_ROLE = "em_publisher"
_PUBLISH_LOCK = 7_301_202_502  # one publisher at a time per database
# How long a publication keeps trying (readers holding the published tables, a dbt run holding the build).
DEADLINE_S = 120.0


class PublishError(RuntimeError):
    """Publishing could not be done; the message is one sentence. The published schemas are unchanged."""


def _ident(*names: str) -> sql.Identifier:
    return sql.Identifier(*names)


def publisher_role(conn: psycopg.Connection, relations: Sequence[Relation]) -> str | None:
    """em_publisher when this login may act as it and it can do the whole publication; else None (the login).

    In a database set up by schema.ensure_schema it owns the (empty) published schemas and may create
    schemas; once a publication ran as the login, later ones stay with the login (it owns those tables).
    """
    schemas = [f"{s}{suffix}" for s in PUBLISHED for suffix in ("", "_next", "_prev")]
    publisher = access.role(conn, PUBLISHER_ROLE)
    row = conn.execute(
        """
        select pg_has_role(current_user, r.oid, 'member')
           and has_database_privilege(r.oid, current_database(), 'CREATE')
           and not exists (
               select 1 from pg_namespace as n
               where n.nspname = any(%(schemas)s) and not pg_has_role(r.oid, n.nspowner, 'USAGE'))
           and not exists (
               select 1 from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
               where n.nspname = any(%(schemas)s) and not pg_has_role(r.oid, c.relowner, 'USAGE'))
        from pg_roles as r
        where r.rolname = %(role)s
        """,
        {"schemas": schemas, "role": publisher},
    ).fetchone()
    if not row or not row[0]:
        return None
    for rel in relations:
        readable = conn.execute(
            "select has_table_privilege(%s, format('%%I.%%I', %s::text, %s::text), 'SELECT')",
            (publisher, rel.source_schema, rel.source_name),
        ).fetchone()[0]
        if not readable:
            return None
    return publisher


@contextlib.contextmanager
def one_publisher(conn: psycopg.Connection) -> Iterator[None]:
    """Publications of one database run one after the other (CLI and Airflow alike)."""
    deadline = time.monotonic() + DEADLINE_S
    while not conn.execute("select pg_try_advisory_lock(%s)", (_PUBLISH_LOCK,)).fetchone()[0]:
        if time.monotonic() > deadline:
            raise PublishError(f"Another publication has been running for over {DEADLINE_S:.0f} s; try again later.")
        time.sleep(0.5)
    try:
        yield
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.execute("select pg_advisory_unlock(%s)", (_PUBLISH_LOCK,))


def tables_in(conn: psycopg.Connection, schemas: Sequence[str]) -> list[tuple[str, str]]:
    return conn.execute(
        """
        select n.nspname, c.relname from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm') order by 1, 2
        """,
        (list(schemas),),
    ).fetchall()


@dataclass(frozen=True)
class Relation:
    """One relation of the build and where it is published."""

    source_schema: str
    source_name: str
    target_schema: str  # marts | open_data
    name: str
    kind: str = field(default="r", compare=False)

    @property
    def source(self) -> sql.Identifier:
        return sql.Identifier(self.source_schema, self.source_name)


def publishable_relations(conn: psycopg.Connection, build: str = BUILD_SCHEMA) -> list[Relation]:
    """The marts in `build` (to `marts`) and the open-data models (to `open_data`, prefix stripped)."""
    rows = conn.execute(
        """
        select n.nspname, c.relname, c.relkind
        from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname in (%(build)s, %(open_data)s)
          and c.relkind in ('r', 'p', 'v', 'm')
          and not c.relispartition
          and c.relname not like '%%\\_\\_dbt\\_tmp%%'
          and c.relname not like '%%\\_\\_dbt\\_backup'
        order by 1, 2
        """,
        {"build": build, "open_data": f"{build}_{OPEN_DATA}"},
    ).fetchall()
    out: list[Relation] = []
    for schema, name, kind in rows:
        if schema != build:
            out.append(Relation(schema, name, OPEN_DATA, name, kind))
        elif name.startswith(OPEN_DATA_PREFIX):
            out.append(Relation(schema, name, OPEN_DATA, name[len(OPEN_DATA_PREFIX) :], kind))
        else:
            out.append(Relation(schema, name, MARTS, name, kind))
    seen: dict[tuple[str, str], Relation] = {}
    for rel in out:
        key = (rel.target_schema, rel.name)
        if rel.name == PUBLICATION_TABLE or key in seen:
            raise PublishError(
                f"{rel.source_schema}.{rel.source_name} would be published as {rel.target_schema}.{rel.name}, "
                "a name that is already taken; rename the model."
            )
        seen[key] = rel
    return out


def current_publication(settings: Settings | None = None, url: str | None = None) -> dict[str, Any] | None:
    """What BI tools see now (marts.publicatie) with its log row: run, time, warnings; None before the first."""
    settings = settings or get_settings()
    url = ready.warehouse_url(settings, url)
    with db.connect(url, autocommit=True) as conn:
        if conn.execute("select to_regclass('marts.publicatie') is null").fetchone()[0]:
            return None
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                """
                select p.*, l.started_at, l.finished_at, l.warnings
                from marts.publicatie as p
                left join ops.publication_log as l on l.publication_id = p.publicatie_id
                """
            ).fetchone()
    return dict(row) if row else None


def checksums(conn: psycopg.Connection, schemas: Sequence[str] = PUBLISHED) -> dict[str, str]:
    """md5 of every table's rows (sorted text form) per schema.table: equal checksums, equal contents."""
    out: dict[str, str] = {}
    query = sql.SQL("select md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from {} as t")
    for schema, table in tables_in(conn, schemas):
        out[f"{schema}.{table}"] = conn.execute(query.format(_ident(schema, table))).fetchone()[0]
    return out


def publication_log(conn: psycopg.Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The newest rows of ops.publication_log, newest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "select * from ops.publication_log order by publication_id desc limit %s", (limit,)
        ).fetchall()


def format_warnings(warnings: Sequence[dict[str, Any]]) -> list[str]:
    """One line per warning, with its first sample row."""
    lines = []
    for w in warnings:
        sample = w.get("sample_rows") or []
        first = f" e.g. {json.dumps(sample[0], ensure_ascii=False)}" if sample else ""
        lines.append(f"{w.get('suite')}: {w.get('expectation')} ({w.get('details')}){first}")
    return lines
