"""Parse, validate and load partner drops."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from explosion_monitor.buckets import get_bucket
from explosion_monitor.config import FEEDS, Settings, get_settings
from explosion_monitor.ingest.load import Outcome, ingest_object, record_unrecorded_moves


def ingest_pending(
    feeds: Iterable[str] = FEEDS,
    settings: Settings | None = None,
    run_id: str | None = None,
    on_file: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Process every file now in incoming/ of the given feeds, oldest first."""
    from explosion_monitor.schema import connect_ready

    settings = settings or get_settings()
    outcomes: list[Outcome] = []
    with connect_ready(settings) as conn:
        for feed in feeds:
            bucket = get_bucket(feed, settings)
            bucket.ensure()
            for obj in bucket.list_incoming():
                outcome = ingest_object(conn, bucket, obj, run_id=run_id)
                outcomes.append(outcome)
                if on_file:
                    on_file(outcome)
            record_unrecorded_moves(conn, bucket)  # a loader killed between its move and its ledger record
    return outcomes


__all__ = ["Outcome", "ingest_object", "ingest_pending"]
