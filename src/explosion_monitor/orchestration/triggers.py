"""The AssetWatcher trigger: a new file in a feed's incoming/ becomes exactly one asset event.

`IncomingFilesTrigger` is a `BaseEventTrigger` (the only kind an `AssetWatcher` accepts). It runs in the
triggerer, for as long as the DAG that schedules on the feed's asset exists, and:

1. lists `<feed>/incoming/` (file:// folder or S3, through `explosion_monitor.buckets`);
2. claims every new version of a file (key, size, modified) in `ops.drop_claims`; the insert is the claim,
   so it succeeds once per version, whichever trigger instance, triggerer or restart tries it;
3. yields one `TriggerEvent` per successful claim, with the key in the payload. Airflow stores the payload
   in the asset event's `extra["payload"]`; the ingest DAG reads the keys from its triggering events.

Waking up: `wake="poll"` lists every `poll_interval` seconds (cheap for a local folder; the default).
`wake="postgres"` waits for MinIO bucket notifications instead: MinIO's PostgreSQL target inserts into
`ops.minio_events`, whose trigger calls `pg_notify('explosion_monitor_drops', <bucket>)`; the watcher LISTENs
and lists as soon as a notification for its bucket arrives, and at the latest every `fallback_interval`
seconds. The listing stays the source of truth, so a lost or coalesced notification costs latency, never a file.

Claim first, emit second: if the triggerer dies between the two, the file is claimed but never announced.
The reconciliation DAG (`reconcile_incoming`) processes every file that is still in incoming/ some minutes
after its claim, so nothing is lost; and because loading is guarded by the ledger, nothing loads twice.

A local file is announced only once two listings at least `settle_seconds` apart, by the pipeline's own
clock, show it with the same size and modification time (partners may copy slowly); the modification time
itself is never compared with now, so a file dated in 2100 or 2000 settles like any other. S3 objects
appear whole, so S3 uses no settle time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from explosion_monitor.config import FEEDS

log = logging.getLogger(__name__)

CLASSPATH = "explosion_monitor.orchestration.triggers.IncomingFilesTrigger"
WAKE_MODES = ("poll", "postgres")
DEFAULT_POLL_S = 1.0
DEFAULT_LOCAL_SETTLE_S = 1.0
DEFAULT_FALLBACK_S = 300.0
_MAX_BACKOFF_S = 60.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class DropScanner:
    """One feed's incoming/ against the claims table; blocking, so the trigger runs it in a thread."""

    def __init__(
        self, feed: str, buckets: str | None = None, settle_seconds: float | None = None, via: str = "watcher"
    ) -> None:
        if feed not in FEEDS:
            raise ValueError(f"Unknown feed {feed!r}; the feeds are {', '.join(FEEDS)}.")
        from explosion_monitor.config import get_settings

        settings = get_settings()
        self.settings = dataclasses.replace(settings, buckets=buckets) if buckets else settings
        self.feed = feed
        self.via = via
        self.by = f"{via}:{socket.gethostname()}:{os.getpid()}"
        self._settle = settle_seconds
        self._bucket: Any = None
        self._conn: Any = None
        # Versions claimed (by us or before us) and still listed: no database round trip for them.
        self._known: set[tuple[str, int, dt.datetime]] = set()
        # Versions listed but not yet settled: when this scanner first saw each (monotonic, and UTC for arrival).
        self._first_seen: dict[tuple[str, int, dt.datetime], tuple[float, dt.datetime]] = {}

    @property
    def bucket(self) -> Any:
        if self._bucket is None:
            from explosion_monitor.buckets import get_bucket

            self._bucket = get_bucket(self.feed, self.settings)
        return self._bucket

    @property
    def bucket_name(self) -> str | None:
        """The S3 bucket whose notifications concern this feed (None for a local folder)."""
        return getattr(self.bucket, "bucket", None)

    @property
    def settle_seconds(self) -> float:
        if self._settle is not None:
            return self._settle
        return DEFAULT_LOCAL_SETTLE_S if self.settings.buckets.startswith("file:") else 0.0

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            from explosion_monitor.orchestration import store

            self._conn = store.connect(self.settings)
        return self._conn

    def scan(self) -> list[dict[str, Any]]:
        """Claim every new, settled file version now in incoming/; the payloads of the claims that succeeded."""
        from explosion_monitor.orchestration import store

        objects = self.bucket.list_incoming()
        listed = {(o.name, o.size, o.modified) for o in objects}
        self._known &= listed
        self._first_seen = {v: seen for v, seen in self._first_seen.items() if v in listed}
        now, clock = _utcnow(), time.monotonic()
        payloads = []
        for obj in objects:
            version = (obj.name, obj.size, obj.modified)
            if version in self._known:
                continue
            first, seen_at = self._first_seen.setdefault(version, (clock, now))
            if clock - first < self.settle_seconds:
                continue  # seen changing, or seen only once: look again on a later scan
            try:
                claimed = store.claim(
                    self._connection(), self.feed, obj.name, obj.size, obj.modified, via=self.via, by=self.by
                )
            except Exception:
                self.close()  # a broken connection is replaced on the next scan
                raise
            self._known.add(version)
            self._first_seen.pop(version, None)
            if claimed is not None:
                payloads.append(
                    {
                        "feed": self.feed,
                        "key": obj.name,
                        "size": obj.size,
                        "modified": obj.modified.isoformat(),
                        "seen_at": seen_at.isoformat(),
                        "url": obj.url,
                        "claim_id": claimed.claim_id,
                    }
                )
        return payloads

    def warehouse_url(self) -> str:
        from explosion_monitor import warehouse

        return warehouse.start(self.settings)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class IncomingFilesTrigger(BaseEventTrigger):
    """Watch one feed's incoming/ and emit one event per new file (see the module docstring)."""

    def __init__(
        self,
        feed: str,
        buckets: str | None = None,
        poll_interval: float = DEFAULT_POLL_S,
        settle_seconds: float | None = None,
        wake: str = "poll",
        fallback_interval: float = DEFAULT_FALLBACK_S,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if feed not in FEEDS:
            raise ValueError(f"Unknown feed {feed!r}; the feeds are {', '.join(FEEDS)}.")
        if wake not in WAKE_MODES:
            raise ValueError(f"wake must be one of {', '.join(WAKE_MODES)}, not {wake!r}.")
        if poll_interval <= 0 or fallback_interval <= 0:
            raise ValueError("poll_interval and fallback_interval must be positive.")
        self.feed = feed
        self.buckets = buckets
        self.poll_interval = float(poll_interval)
        self.settle_seconds = settle_seconds
        self.wake = wake
        self.fallback_interval = float(fallback_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            CLASSPATH,
            {
                "feed": self.feed,
                "buckets": self.buckets,
                "poll_interval": self.poll_interval,
                "settle_seconds": self.settle_seconds,
                "wake": self.wake,
                "fallback_interval": self.fallback_interval,
            },
        )

    def _scanner(self) -> DropScanner:
        via = "notification" if self.wake == "postgres" else "watcher"
        return DropScanner(self.feed, self.buckets, self.settle_seconds, via=via)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        scanner = self._scanner()
        try:
            if self.wake == "postgres":
                async for event in self._run_notified(scanner):
                    yield event
            else:
                async for event in self._run_polling(scanner):
                    yield event
        finally:
            await asyncio.to_thread(scanner.close)

    async def _scan(self, scanner: DropScanner, failures: int) -> tuple[list[dict[str, Any]], int]:
        """One scan; on an error (bucket or database unreachable) log it and report how long to back off."""
        try:
            return await asyncio.to_thread(scanner.scan), 0
        except Exception as exc:
            failures += 1
            self.log.warning("Watching incoming/ of %s failed (attempt %d): %s", self.feed, failures, exc)
            return [], failures

    @staticmethod
    def _backoff(failures: int, base: float) -> float:
        return min(_MAX_BACKOFF_S, base * (2 ** min(failures, 6))) if failures else base

    async def _run_polling(self, scanner: DropScanner) -> AsyncIterator[TriggerEvent]:
        failures = 0
        while True:
            payloads, failures = await self._scan(scanner, failures)
            for payload in payloads:
                self.log.info("New file in %s/incoming: %s", self.feed, payload["key"])
                yield TriggerEvent(payload)
            await asyncio.sleep(self._backoff(failures, self.poll_interval))

    async def _run_notified(self, scanner: DropScanner) -> AsyncIterator[TriggerEvent]:
        import psycopg

        from explosion_monitor.db import libpq_url
        from explosion_monitor.orchestration.store import NOTIFY_CHANNEL

        failures = 0
        while True:
            try:
                url = libpq_url(await asyncio.to_thread(scanner.warehouse_url))
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"listen {NOTIFY_CHANNEL}")
                    failures = 0
                    while True:
                        # Listening before this scan: a file dropped during it still wakes us up afterwards.
                        payloads, failures = await self._scan(scanner, failures)
                        for payload in payloads:
                            self.log.info("New file in %s/incoming: %s", self.feed, payload["key"])
                            yield TriggerEvent(payload)
                        await self._wait_for_notification(
                            conn, scanner.bucket_name, self._backoff(failures, self.fallback_interval)
                        )
            except (OSError, psycopg.Error) as exc:
                failures += 1
                self.log.warning("Listening for bucket notifications failed (attempt %d): %s", failures, exc)
                await asyncio.sleep(self._backoff(failures, self.poll_interval))

    async def _wait_for_notification(self, conn: Any, bucket: str | None, timeout: float) -> None:
        """Return when a notification for our bucket arrives, or after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            async for note in conn.notifies(timeout=left, stop_after=1):
                if not bucket or not note.payload or note.payload == bucket:
                    return
