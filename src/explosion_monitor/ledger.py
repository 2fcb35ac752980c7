"""The ledger: one row per dropped file and its outcome, as data.

Claims are PostgreSQL advisory locks held by the claiming session, so a claim dies
with the process that held it and the file is picked up again; the ledger row itself
records what happened, and a retry reuses it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

FINISHED = ("loaded", "quarantined", "empty", "duplicate", "ignored")


def lock_key(feed: str, name: str) -> int:
    digest = hashlib.sha256(f"{feed}\x00{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def try_lock(conn: psycopg.Connection, feed: str, name: str) -> bool:
    return bool(conn.execute("select pg_try_advisory_lock(%s)", (lock_key(feed, name),)).fetchone()[0])


def unlock(conn: psycopg.Connection, feed: str, name: str) -> None:
    conn.execute("select pg_advisory_unlock(%s)", (lock_key(feed, name),))


@dataclass
class Entry:
    file_id: int
    status: str
    final_url: str | None
    attempts: int
    # When the pipeline first saw the file (its clock, never the file's own timestamp).
    arrived_at: dt.datetime | None = None


def open_entry(
    conn: psycopg.Connection,
    *,
    feed: str,
    bucket: str,
    name: str,
    sha256: str,
    size: int,
    arrived_at: dt.datetime,
    run_id: str | None,
) -> Entry:
    """The ledger row for this drop: an unfinished one from an earlier attempt, or a new claim.

    `arrived_at` is the moment the pipeline first saw the file; a retry keeps the first attempt's.
    Call only while holding the drop's lock.
    """
    row = conn.execute(
        """
        select file_id, status, final_url, attempts, arrived_at from ops.ledger
        where feed = %s and object_key = %s and sha256 = %s and final_url is null
        order by file_id desc limit 1
        """,
        (feed, name, sha256),
    ).fetchone()
    if row:
        conn.execute(
            "update ops.ledger set attempts = attempts + 1, claimed_at = now(), claimed_by = %s, run_id = %s "
            "where file_id = %s",
            (worker_id(), run_id, row[0]),
        )
        return Entry(row[0], row[1], row[2], row[3] + 1, row[4])
    file_id = conn.execute(
        """
        insert into ops.ledger (feed, bucket, object_key, sha256, size_bytes, arrived_at, status, claimed_by, run_id)
        values (%s, %s, %s, %s, %s, %s, 'claimed', %s, %s) returning file_id
        """,
        (feed, bucket, name, sha256, size, arrived_at, worker_id(), run_id),
    ).fetchone()[0]
    return Entry(file_id, "claimed", None, 1, arrived_at)


def knows(conn: psycopg.Connection, feed: str, name: str) -> bool:
    """Whether an unfinished ledger row has this name: a retry of a file the pipeline itself was moving."""
    row = conn.execute(
        "select 1 from ops.ledger where feed = %s and object_key = %s and final_url is null "
        "and status <> 'refused' limit 1",
        (feed, name),
    ).fetchone()
    return row is not None


def record_refusal(
    conn: psycopg.Connection, *, feed: str, bucket: str, name: str, size: int, reason: str, run_id: str | None
) -> int | None:
    """Record once that `name` is not read, and why; None when that is already on record."""
    known = conn.execute(
        "select 1 from ops.ledger where feed = %s and object_key = %s and status = 'refused' and size_bytes = %s "
        "and message = %s",
        (feed, name, size, reason),
    ).fetchone()
    if known:
        return None
    return conn.execute(
        """
        insert into ops.ledger (feed, bucket, object_key, sha256, size_bytes, arrived_at, status, message,
                                claimed_by, run_id, finished_at)
        values (%s, %s, %s, '', %s, now(), 'refused', %s, %s, %s, now()) returning file_id
        """,
        (feed, bucket, name, size, reason, worker_id(), run_id),
    ).fetchone()[0]


def loaded_twin(conn: psycopg.Connection, feed: str, sha256: str, file_id: int) -> int | None:
    row = conn.execute(
        "select file_id from ops.ledger where feed = %s and sha256 = %s and status in ('loaded', 'empty') "
        "and purged_at is null and file_id <> %s limit 1",
        (feed, sha256, file_id),
    ).fetchone()
    return row[0] if row else None


def set_outcome(conn: psycopg.Connection, file_id: int, status: str, **fields: object) -> None:
    allowed = {"file_format", "rows_loaded", "error_count", "warning_count", "message", "duplicate_of", "report_url"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown ledger fields {unknown}")
    sets = ", ".join(f"{k} = %({k})s" for k in fields)
    conn.execute(
        f"update ops.ledger set status = %(status)s{', ' + sets if sets else ''} where file_id = %(file_id)s",
        {"status": status, "file_id": file_id, **fields},
    )


def set_final(conn: psycopg.Connection, file_id: int, final_url: str, report_url: str | None = None) -> None:
    conn.execute(
        "update ops.ledger set final_url = %s, report_url = coalesce(%s, report_url), finished_at = now() "
        "where file_id = %s",
        (final_url, report_url, file_id),
    )


def rows(conn: psycopg.Connection, feed: str | None = None, limit: int = 200) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            select file_id, feed, object_key, status, rows_loaded, error_count, warning_count,
                   size_bytes, left(sha256, 12) as sha256, arrived_at, finished_at, attempts,
                   duplicate_of, message, final_url, report_url
            from ops.ledger where %(feed)s::text is null or feed = %(feed)s
            order by file_id desc limit %(limit)s
            """,
            {"feed": feed, "limit": limit},
        )
        return cur.fetchall()
