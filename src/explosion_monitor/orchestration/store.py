"""The orchestration's own records in the `ops` schema, as data you can query.

- `ops.drop_claims`: one row per version of a file seen in a bucket's incoming/ (feed, key, size, modified).
  Inserting the row *is* the claim: the watcher emits an asset event only when its insert succeeds, so a
  re-armed trigger or a restarted triggerer never announces the same file twice. Loading itself stays guarded
  by the ledger (`ops.ledger` and the per-file advisory lock in `explosion_monitor.ledger`).
- `ops.pipeline_failures`: one row per failed task or DAG run (the failure callback writes it).
- `ops.notifications`: every notification sent (or attempted), whichever channel.
- `ops.orchestration_state`: small facts kept between runs (the dbt project version last built in full).
- `ops.minio_events`: where MinIO publishes bucket notifications (PostgreSQL target, `access` format); an
  insert fires `pg_notify('explosion_monitor_drops', <bucket>)` so a watcher wakes up at once.

`ensure(conn)` creates what is missing; it is idempotent, safe under concurrency, and runs once per process
and database. (The integrating engineer may fold `DDL` into `explosion_monitor.schema`.)
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg

NOTIFY_CHANNEL = "explosion_monitor_drops"
_LOCK_KEY = 7_301_202_502  # serialises concurrent ensure() calls (schema.py uses ..._501)

DDL = f"""
create schema if not exists ops;
create table if not exists ops.drop_claims (
    claim_id bigint generated always as identity primary key,
    feed text not null,
    object_key text not null,
    size_bytes bigint not null,
    modified_at timestamptz not null,
    claimed_at timestamptz not null default now(),
    -- watcher | notification | reconcile | reingest | manual
    via text not null,
    claimed_by text not null,
    unique (feed, object_key, size_bytes, modified_at)
);
create table if not exists ops.pipeline_failures (
    failure_id bigint generated always as identity primary key,
    occurred_at timestamptz not null default now(),
    dag_id text not null,
    run_id text,
    task_id text,
    try_number integer,
    kind text not null,
    message text not null
);
create table if not exists ops.notifications (
    notification_id bigint generated always as identity primary key,
    sent_at timestamptz not null default now(),
    kind text not null,
    feed text,
    recipients text[] not null default '{{}}',
    subject text not null,
    body text not null,
    channel text not null,
    delivered boolean not null,
    error text
);
-- Small facts the orchestration keeps between runs (e.g. which dbt project version the build schema has).
create table if not exists ops.orchestration_state (
    key text primary key,
    value text not null,
    updated_at timestamptz not null default now()
);
-- MinIO's PostgreSQL notification target (format access) inserts (event_time, event_data); the extra
-- columns have defaults, so MinIO's own statement works unchanged.
create table if not exists ops.minio_events (
    event_id bigint generated always as identity primary key,
    event_time timestamptz not null,
    event_data jsonb,
    received_at timestamptz not null default now()
);
create or replace function ops.minio_event_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('{NOTIFY_CHANNEL}',
                      coalesce(new.event_data #>> '{{Records,0,s3,bucket,name}}', ''));
    return new;
end $$;
drop trigger if exists minio_event_notify on ops.minio_events;
create trigger minio_event_notify after insert on ops.minio_events
    for each row execute function ops.minio_event_notify();
"""

_READY: set[str] = set()
_READY_LOCK = threading.Lock()


def _dsn_key(conn: psycopg.Connection) -> str:
    info = conn.info
    return f"{info.host}:{info.port}/{info.dbname}"


def ensure(conn: psycopg.Connection) -> None:
    """Create the orchestration tables when missing (once per process and database)."""
    key = _dsn_key(conn)
    with _READY_LOCK:
        if key in _READY:
            return
        with conn.transaction():
            conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            present = conn.execute(
                "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'ops' and c.relname in ('drop_claims', 'pipeline_failures', "
                "'notifications', 'minio_events', 'orchestration_state')"
            ).fetchone()[0]
            if present < 5:
                conn.execute(DDL)
        _READY.add(key)


def connect(settings: Any = None, url: str | None = None) -> psycopg.Connection:
    """An autocommit connection to the warehouse (or to `url`, a rebuild's target) with the pipeline's and the
    orchestration's tables in place."""
    from explosion_monitor.db.ready import connect_to

    conn = connect_to(settings, url)
    try:
        ensure(conn)
    except BaseException:
        conn.close()
        raise
    return conn


# --- claims ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    claim_id: int
    feed: str
    object_key: str
    size_bytes: int
    modified_at: dt.datetime


def claim(
    conn: psycopg.Connection, feed: str, key: str, size: int, modified: dt.datetime, *, via: str, by: str
) -> Claim | None:
    """Claim this version of incoming/<key>; None when it was claimed before (by anyone)."""
    row = conn.execute(
        """
        insert into ops.drop_claims (feed, object_key, size_bytes, modified_at, via, claimed_by)
        values (%s, %s, %s, %s, %s, %s)
        on conflict (feed, object_key, size_bytes, modified_at) do nothing
        returning claim_id
        """,
        (feed, key, size, modified, via, by),
    ).fetchone()
    return Claim(row[0], feed, key, size, modified) if row else None


def claimed_at(conn: psycopg.Connection, feed: str, keys: Iterable[tuple[str, int, dt.datetime]]) -> dict:
    """{(key, size, modified): claimed_at} for the versions that are claimed."""
    wanted = list(keys)
    if not wanted:
        return {}
    rows = conn.execute(
        """
        select c.object_key, c.size_bytes, c.modified_at, c.claimed_at
        from ops.drop_claims c
        join unnest(%s::text[], %s::bigint[], %s::timestamptz[]) as w(k, s, m)
          on c.object_key = w.k and c.size_bytes = w.s and c.modified_at = w.m
        where c.feed = %s
        """,
        ([k for k, _, _ in wanted], [s for _, s, _ in wanted], [m for _, _, m in wanted], feed),
    ).fetchall()
    return {(k, s, m): at for k, s, m, at in rows}


# --- failures and notifications -----------------------------------------------------------------------


def record_failure(
    conn: psycopg.Connection,
    *,
    dag_id: str,
    run_id: str | None,
    task_id: str | None,
    try_number: int | None,
    kind: str,
    message: str,
) -> int:
    return conn.execute(
        """
        insert into ops.pipeline_failures (dag_id, run_id, task_id, try_number, kind, message)
        values (%s, %s, %s, %s, %s, %s) returning failure_id
        """,
        (dag_id, run_id, task_id, try_number, kind, message[:4000]),
    ).fetchone()[0]


def record_notification(
    conn: psycopg.Connection,
    *,
    kind: str,
    feed: str | None,
    recipients: Iterable[str],
    subject: str,
    body: str,
    channel: str,
    delivered: bool,
    error: str | None,
) -> int:
    return conn.execute(
        """
        insert into ops.notifications (kind, feed, recipients, subject, body, channel, delivered, error)
        values (%s, %s, %s, %s, %s, %s, %s, %s) returning notification_id
        """,
        (kind, feed, list(recipients), subject, body[:20000], channel, delivered, error),
    ).fetchone()[0]


def get_state(conn: psycopg.Connection, key: str) -> str | None:
    row = conn.execute("select value from ops.orchestration_state where key = %s", (key,)).fetchone()
    return row[0] if row else None


def set_state(conn: psycopg.Connection, key: str, value: str) -> None:
    conn.execute(
        """
        insert into ops.orchestration_state (key, value) values (%s, %s)
        on conflict (key) do update set value = excluded.value, updated_at = now()
        """,
        (key, value),
    )
