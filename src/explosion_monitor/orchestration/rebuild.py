"""Replay the whole archive into an empty warehouse and prove it gives the same marts (the `rebuild` DAG).

Where the rebuild goes: a separate database on the same PostgreSQL server as the warehouse, named by the
DAG's `target_database` param, default `<warehouse database>_rebuild` (for the embedded server:
`explosion_monitor_rebuild`). It is dropped and created afresh, so the login needs CREATEDB; the current
warehouse database itself is refused as a target. The live warehouse is only read.

Steps:
1. `prepare`: drop and create the target database, set up raw/ops/ref (`schema.ensure_schema`).
2. `replay`: every file the ledger says is in raw (`loaded` or `empty`, in file id order) is read from its
   archive/ URL, copied into a scratch folder with its original arrival time as modification time, and
   ingested into the target with the same `ingest_object` as a drop. The partner's archived file is only
   read. Quarantined files and duplicates contributed nothing to raw and are not replayed; nor are files removed
   by the retention purge (`ops.ledger.purged_at`): their rows left raw with them.
3. `build`: `dbt build --full-refresh` (per_levering) into the target.
4. `publish`: the quality gate and the publication, in the target.
5. `compare`: every table of `marts` and `open_data` in both databases, on every business column (all columns except
   `NON_BUSINESS`: load times, run stamps, file ids), as a multiset of rows: count plus an order-independent
   fingerprint; for small tables the differing rows are listed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from explosion_monitor import db
from explosion_monitor.config import Settings, get_settings

log = logging.getLogger(__name__)

REBUILD_SUFFIX = "_rebuild"
#: Columns that may differ between the live warehouse and a rebuild: when things were loaded, built or
#: published, by which run, and file ids (marts.publicatie's id, run, time and last file id).
NON_BUSINESS = frozenset(
    {
        "bijgewerkt_op",
        "_loaded_at",
        "_file_id",
        "_arrived_at",
        "run_id",
        "invocation_id",
        "publicatie_id",
        "gepubliceerd_op",
        "tot_en_met_file_id",
        "analyse_id",
    }
)
COMPARED_SCHEMAS = ("marts", "open_data")
_DIFF_SAMPLE_MAX_ROWS = 50_000


class RebuildError(RuntimeError):
    """The rebuild cannot go on; the message is one sentence for the engineer."""


def current_url(settings: Settings | None = None) -> str:
    from explosion_monitor import warehouse

    return db.libpq_url(warehouse.start(settings or get_settings()))


def target_url(settings: Settings | None = None, database: str | None = None) -> str:
    """The URL of the rebuild database: `database`, or `<warehouse db>_rebuild`, on the warehouse's server."""
    current = current_url(settings)
    name = (database or "").strip() or db.database_name(current) + REBUILD_SUFFIX
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise RebuildError(f"The rebuild database name must be lower-case letters, digits and _, not {name!r}.")
    if name == db.database_name(current):
        raise RebuildError(f"The rebuild target {name!r} is the live warehouse; choose another database.")
    return db.database_url(current, name)


def prepare(target: str, settings: Settings | None = None) -> str:
    """Drop and create the target database and set up raw/ops/ref in it."""
    from explosion_monitor.orchestration import store
    from explosion_monitor.schema import ensure_schema

    name = db.database_name(target)
    with db.connect(db.database_url(target, "postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    with db.connect(target, autocommit=True) as conn:
        ensure_schema(conn, settings or get_settings())
        store.ensure(conn)
    return name


def archived_files(source: str) -> list[dict[str, Any]]:
    """What raw holds in the live warehouse, file by file, in ledger order."""
    with db.connect(source, autocommit=True) as conn:
        rows = conn.execute(
            """
            select file_id, feed, object_key, final_url, arrived_at, status, rows_loaded
            from ops.ledger where status in ('loaded', 'empty') and final_url is not null and purged_at is null
            order by file_id
            """
        ).fetchall()
    keys = ("file_id", "feed", "object_key", "final_url", "arrived_at", "status", "rows_loaded")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def _stage(source_bucket: Any, url: str, scratch_root: Path, feed: str, name: str, arrived: dt.datetime) -> Any:
    """Copy an archived file into the scratch feed's incoming/, dated at its original arrival."""
    from explosion_monitor.buckets import LocalBucket, safe_name

    scratch = LocalBucket(feed, scratch_root)
    scratch.ensure()
    rel = safe_name(name)
    path = scratch.root / "incoming" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with source_bucket.open(url, "rb") as src, open(path, "wb") as out:
        shutil.copyfileobj(src, out, 8 * 1024 * 1024)
    ns = int(arrived.timestamp()) * 1_000_000_000 + arrived.microsecond * 1000
    os.utime(path, ns=(ns, ns))
    obj = scratch.stat_incoming(rel)
    if obj is None:  # pragma: no cover - our own folder
        raise RebuildError(f"The scratch copy of {url} disappeared.")
    return scratch, obj


def replay(
    target: str, settings: Settings | None = None, *, run_id: str | None = None, source: str | None = None
) -> dict[str, Any]:
    """Ingest every archived file of the live warehouse into the target, in file id order."""
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.ingest.load import ingest_object

    settings = settings or get_settings()
    source = source or current_url(settings)
    files = archived_files(source)
    buckets: dict[str, Any] = {}
    problems = []
    rows = 0
    scratch_root = Path(tempfile.mkdtemp(prefix="explosion-monitor-rebuild-"))
    try:
        with db.connect(target, autocommit=True) as conn:
            for f in files:
                bucket = buckets.setdefault(f["feed"], get_bucket(f["feed"], settings))
                scratch, obj = _stage(bucket, f["final_url"], scratch_root, f["feed"], f["object_key"], f["arrived_at"])
                # The original arrival, as the live ledger recorded it (the pipeline's clock then).
                outcome = ingest_object(conn, scratch, obj, run_id=run_id, seen_at=f["arrived_at"])
                rows += outcome.rows
                if outcome.status != f["status"] or outcome.rows != f["rows_loaded"]:
                    problems.append(
                        f"file {f['file_id']} ({f['feed']}/{f['object_key']}) was {f['status']} with "
                        f"{f['rows_loaded']} rows, the replay gave {outcome.status} with {outcome.rows} rows"
                        + (f": {outcome.message}" if outcome.message else "")
                    )
    finally:
        shutil.rmtree(scratch_root, ignore_errors=True)  # our own copies; the archive is untouched
    if problems:
        raise RebuildError(f"{len(problems)} archived file(s) did not replay as before; first: {problems[0]}.")
    return {"files": len(files), "rows": rows}


def build(target: str, settings: Settings | None = None) -> dict[str, Any]:
    from explosion_monitor.orchestration import steps

    return steps.run_build({"select": None, "full_refresh": True}, settings=settings, url=target)


def publish(target: str, settings: Settings | None = None, *, run_id: str | None = None) -> dict[str, Any]:
    from explosion_monitor.analysis.runner import run_analysis
    from explosion_monitor.orchestration import steps

    published = steps.gate_and_publish(run_id, settings=settings, url=target)
    # where the live warehouse publishes the analysis tables, they are part of what a rebuild must reproduce
    with db.connect(current_url(settings), autocommit=True) as live:
        analysed = live.execute("select to_regclass('marts.analyse_publicatie') is not null").fetchone()[0]
    if analysed:
        published = {**published, "analysis": run_analysis(settings, url=target, run_id=run_id).message}
    return published


# --- comparing marts ----------------------------------------------------------------------------------------


def _tables(conn: psycopg.Connection, schema: str) -> dict[str, list[str]]:
    rows = conn.execute(
        """
        select c.table_name, c.column_name from information_schema.columns c
        join information_schema.tables t using (table_schema, table_name)
        where c.table_schema = %s and t.table_type in ('BASE TABLE', 'VIEW')
        order by c.table_name, c.ordinal_position
        """,
        (schema,),
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def _fingerprint(conn: psycopg.Connection, schema: str, table: str, columns: list[str]) -> tuple[int, int, int]:
    row = sql.SQL("row({})::text").format(sql.SQL(", ").join(sql.Identifier(c) for c in columns))
    query = sql.SQL(
        "select count(*), coalesce(sum(('x' || substr(h, 1, 15))::bit(60)::bigint), 0), "
        "coalesce(sum(('x' || substr(h, 16, 15))::bit(60)::bigint), 0) "
        "from (select md5({row}) as h from {schema}.{table}) s"
    ).format(row=row, schema=sql.Identifier(schema), table=sql.Identifier(table))
    count, a, b = conn.execute(query).fetchone()
    return int(count), int(a), int(b)


def _rows(conn: psycopg.Connection, schema: str, table: str, columns: list[str]) -> list[tuple]:
    query = sql.SQL("select {} from {}.{}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(schema), sql.Identifier(table)
    )
    return [tuple(str(v) for v in r) for r in conn.execute(query).fetchall()]


def compare(current: str, target: str, schemas: tuple[str, ...] = COMPARED_SCHEMAS) -> dict[str, Any]:
    """Compare every table of `schemas` on every business column; `equal` is True when all match."""
    from collections import Counter

    result: dict[str, Any] = {"equal": True, "tables": {}, "differences": []}
    with db.connect(current, autocommit=True) as live, db.connect(target, autocommit=True) as rebuilt:
        for schema in schemas:
            live_tables, rebuilt_tables = _tables(live, schema), _tables(rebuilt, schema)
            if not live_tables:
                result["differences"].append(f"{schema}: the live warehouse has no tables here (nothing published)")
            for table in sorted(set(live_tables) | set(rebuilt_tables)):
                name = f"{schema}.{table}"
                if table not in rebuilt_tables or table not in live_tables:
                    where = "rebuild" if table not in rebuilt_tables else "live warehouse"
                    result["differences"].append(f"{name} is missing in the {where}")
                    continue
                columns = [c for c in live_tables[table] if c not in NON_BUSINESS]
                if columns != [c for c in rebuilt_tables[table] if c not in NON_BUSINESS]:
                    result["differences"].append(f"{name} has different columns")
                    continue
                a, b = _fingerprint(live, schema, table, columns), _fingerprint(rebuilt, schema, table, columns)
                result["tables"][name] = {"rows_live": a[0], "rows_rebuild": b[0], "equal": a == b}
                if a == b:
                    continue
                detail = f"{name}: {a[0]} rows live, {b[0]} in the rebuild, contents differ"
                if max(a[0], b[0]) <= _DIFF_SAMPLE_MAX_ROWS:
                    left = Counter(_rows(live, schema, table, columns))
                    right = Counter(_rows(rebuilt, schema, table, columns))
                    only_live = list((left - right).elements())[:3]
                    only_rebuild = list((right - left).elements())[:3]
                    detail += f"; only live: {only_live}; only rebuild: {only_rebuild}"
                result["differences"].append(detail)
    result["equal"] = not result["differences"]
    return result


def run(settings: Settings | None = None, database: str | None = None, *, run_id: str | None = None) -> dict:
    """All steps at once (the DAG runs them as separate tasks)."""
    settings = settings or get_settings()
    target = target_url(settings, database)
    prepare(target, settings)
    replayed = replay(target, settings, run_id=run_id)
    build(target, settings)
    publish(target, settings, run_id=run_id)
    compared = compare(current_url(settings), target)
    with contextlib.suppress(Exception):
        log.info("Rebuild into %s: %s", db.database_name(target), compared)
    return {"target_database": db.database_name(target), "replayed": replayed, "compare": compared}
