"""Every file now in the feeds' incoming/ folders, one after the other: what `explosion-monitor ingest` runs.

The unit of work is one file (`load.ingest_object`); this loop lists the buckets, waits until the files are
complete (intake.stable_files) and records what cannot be read (`record_unreadable`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from explosion_monitor import ledger
from explosion_monitor.buckets import Bucket, get_bucket
from explosion_monitor.config import FEEDS, Settings, get_settings
from explosion_monitor.ingest.intake import stable_files
from explosion_monitor.ingest.load import Outcome, ingest_object, record_unrecorded_moves


def record_unreadable(conn, bucket: Bucket, run_id: str | None = None) -> list[Outcome]:
    """Record (once) what in incoming/ is not a regular file; it stays where it is, unread."""
    outcomes = []
    for name, size, reason in bucket.list_unreadable():
        file_id = ledger.record_refusal(
            conn, feed=bucket.feed, bucket=bucket.root_url, name=name, size=size, reason=reason, run_id=run_id
        )
        outcomes.append(Outcome(bucket.feed, name, "refused", file_id, message=reason))
    return outcomes


def ingest_pending(
    feeds: Iterable[str] = FEEDS,
    settings: Settings | None = None,
    run_id: str | None = None,
    on_file: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Process every file now in incoming/ of the given feeds, oldest first, once it is complete.

    On a local folder this waits until every file present now is stable (see ingest.intake).
    """
    from explosion_monitor.db.ready import connect_ready

    settings = settings or get_settings()
    outcomes: list[Outcome] = []
    with connect_ready(settings) as conn:
        buckets = [get_bucket(feed, settings) for feed in feeds]
        for bucket in buckets:
            bucket.ensure()
            for outcome in record_unreadable(conn, bucket, run_id):
                outcomes.append(outcome)
                if on_file:
                    on_file(outcome)
        seen_at = dt.datetime.now(dt.UTC)
        listings = stable_files([(bucket, bucket.list_incoming()) for bucket in buckets])
        for bucket, objects in zip(buckets, listings, strict=True):
            for obj in objects:
                outcome = ingest_object(conn, bucket, obj, run_id=run_id, seen_at=seen_at)
                outcomes.append(outcome)
                if on_file:
                    on_file(outcome)
            record_unrecorded_moves(conn, bucket)  # a loader killed between its move and its ledger record
    return outcomes
