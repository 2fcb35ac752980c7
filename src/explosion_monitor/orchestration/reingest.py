"""Reprocess one quarantined or archived file after a fix (the `reingest` DAG).

The file is named by its ledger file id (or the URL of its archived/quarantined copy). It is copied back
into incoming/ (`Bucket.restore_to_incoming`; the copy in archive/ or quarantine/ stays) and ingested as a
new drop with today's contract, so it gets a new ledger row and file id. The old ledger row becomes
`reingested`, with the new file id in its message.

- A quarantined file: nothing of it was in raw; if it is still refused, it is quarantined again with a new
  report.
- An archived (loaded or empty) file: its rows are removed from `raw.<feed>` first, in one transaction with
  marking the old row `reingested` (the one-load-per-content rule would otherwise call the file a duplicate).
  The incremental dbt models then need a full refresh; the raw asset event says so. If the file is now
  refused, it stays out of raw, with its report in quarantine/.
- A duplicate is refused: reingest the file it duplicates instead.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from psycopg import sql

from explosion_monitor.config import FEEDS, Settings, get_settings


class ReingestError(ValueError):
    """The file cannot be reingested; the message is one sentence for the engineer."""


def _find(conn: Any, feed: str, ref: str | int) -> dict[str, Any]:
    text = str(ref).strip()
    if text.isdigit():
        where, value = "file_id = %s", int(text)
    elif "://" in text:
        where, value = "final_url = %s", text
    else:
        raise ReingestError(f"Name the file by its ledger file id or its archive/quarantine URL, not {text!r}.")
    row = conn.execute(
        f"select file_id, feed, object_key, status, final_url, duplicate_of, purged_at, arrived_at from ops.ledger "
        f"where {where}",
        (value,),
    ).fetchone()
    if row is None:
        raise ReingestError(f"The ledger has no file {text}.")
    keys = ("file_id", "feed", "object_key", "status", "final_url", "duplicate_of", "purged_at", "arrived_at")
    found = dict(zip(keys, row, strict=True))
    if found["feed"] != feed:
        raise ReingestError(f"File {found['file_id']} belongs to feed {found['feed']}, not {feed}.")
    return found


def reingest(feed: str, ref: str | int, *, run_id: str | None = None, settings: Settings | None = None) -> dict:
    """Reingest one file of `feed`; returns the new outcome and what happened to the old entry."""
    from explosion_monitor import ledger
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.ingest.load import ingest_object
    from explosion_monitor.orchestration import notify, store

    if feed not in FEEDS:
        raise ReingestError(f"Unknown feed {feed!r}; the feeds are {', '.join(FEEDS)}.")
    settings = settings or get_settings()
    bucket = get_bucket(feed, settings)
    with store.connect(settings) as conn:
        old = _find(conn, feed, ref)
        if old["purged_at"]:
            raise ReingestError(
                f"File {old['file_id']} was removed by the retention purge on {old['purged_at']:%Y-%m-%d}; "
                "ask the partner to deliver it again."
            )
        if old["status"] == "duplicate":
            raise ReingestError(
                f"File {old['file_id']} was a byte-identical copy of file {old['duplicate_of']}; reingest that one."
            )
        if old["status"] not in ("quarantined", "loaded", "empty") or not old["final_url"]:
            raise ReingestError(
                f"File {old['file_id']} is {old['status']}, not archived or quarantined; it cannot be reingested."
            )
        replaced = old["status"] in ("loaded", "empty")
        # Hold the drop's claim while it reappears in incoming/, so a watcher's ingest run finds it busy.
        name = old["object_key"]
        if not ledger.try_lock(conn, feed, name):
            raise ReingestError(f"{feed}/{name} is being processed right now; try again in a minute.")
        try:
            restored = bucket.restore_to_incoming(old["final_url"])
            store.claim(
                conn, feed, restored.name, restored.size, restored.modified, via="reingest", by=run_id or "reingest"
            )
            removed = 0
            if replaced:
                with conn.transaction():
                    removed = conn.execute(
                        sql.SQL("delete from raw.{} where _file_id = %s").format(sql.Identifier(feed)),
                        (old["file_id"],),
                    ).rowcount
                    ledger.set_outcome(
                        conn,
                        old["file_id"],
                        "reingested",
                        message=f"reingested by {run_id or 'hand'}; {removed} raw rows removed",
                    )
            # The file keeps its original arrival (the pipeline's clock then): newer deliveries still win.
            outcome = ingest_object(conn, bucket, restored, run_id=run_id, seen_at=old["arrived_at"])
            if not replaced and outcome.file_id is not None:
                ledger.set_outcome(
                    conn,
                    old["file_id"],
                    "reingested",
                    message=f"reingested as file {outcome.file_id} ({outcome.status})",
                )
            elif replaced:
                conn.execute(
                    "update ops.ledger set message = coalesce(message, '') || %s where file_id = %s",
                    (f"; reingested as file {outcome.file_id} ({outcome.status})", old["file_id"]),
                )
        finally:
            ledger.unlock(conn, feed, name)
    if outcome.status == "quarantined":
        notify.notify(notify.quarantined(feed, outcome))
    return {
        "old_file_id": old["file_id"],
        "old_status": old["status"],
        "raw_rows_removed": removed,
        "full_refresh": replaced,
        "outcome": dataclasses.asdict(outcome),
    }
