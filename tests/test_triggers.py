"""The AssetWatcher trigger's run(), on a real local bucket and on the real local S3 server, with PostgreSQL.

Exactly one event per new file, also after a restart (a new trigger instance, as a restarted triggerer
makes); unfinished local files wait until they settle; MinIO-style notifications wake the watcher at once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from typing import Any

import airflow_harness
import psycopg
import pytest

pytestmark = pytest.mark.timeout(180)

FAST = {"poll_interval": 0.2, "settle_seconds": 0.0}


@pytest.fixture(autouse=True)
def _airflow_configured():
    airflow_harness.configure()


def _trigger(**kwargs: Any):
    from explosion_monitor.orchestration.triggers import IncomingFilesTrigger

    return IncomingFilesTrigger(**{"feed": "politie", **FAST, **kwargs})


async def _collect(trigger, *, want: int, quiet_s: float, timeout_s: float = 30.0, during=None) -> list[dict]:
    """Run the trigger until `want` events arrived and then `quiet_s` passed without another one."""
    events: list[dict] = []
    gen = trigger.run()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        if during is not None:
            loop.call_later(0.5, during)
        while loop.time() < deadline:
            wait = quiet_s if len(events) >= want else deadline - loop.time()
            try:
                event = await asyncio.wait_for(anext(gen), timeout=max(wait, 0.01))
            except TimeoutError:
                if len(events) >= want:
                    break
                continue
            events.append(event.payload)
    finally:
        await gen.aclose()
    return events


def _run(coro):
    return asyncio.run(coro)


def _claims(url: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("select object_key, via from ops.drop_claims order by claim_id").fetchall()


def _exactly_once_then_restart(warehouse_url: str, bucket, **trigger_kwargs: Any) -> None:
    bucket.ensure()
    bucket.put_incoming("a.csv", b"incident_id\n1\n")
    bucket.put_incoming("sub/b.csv", b"incident_id\n2\n")

    first = _run(_collect(_trigger(**trigger_kwargs), want=2, quiet_s=1.0))
    assert sorted(e["key"] for e in first) == ["a.csv", "sub/b.csv"]
    assert all(e["feed"] == "politie" and e["claim_id"] and e["size"] > 0 for e in first)

    # A restarted triggerer (new instance, files still waiting in incoming/): nothing is announced again,
    # and a file dropped while it runs is announced exactly once.
    second = _run(
        _collect(
            _trigger(**trigger_kwargs),
            want=1,
            quiet_s=1.5,
            during=lambda: bucket.put_incoming("c.csv", b"incident_id\n3\n"),
        )
    )
    assert [e["key"] for e in second] == ["c.csv"]

    # The same name dropped again with new content is a new version: one more event.
    time.sleep(1.1)  # S3 LastModified has second resolution
    bucket.put_incoming("a.csv", b"incident_id\n1\n4\n")
    third = _run(_collect(_trigger(**trigger_kwargs), want=1, quiet_s=1.0))
    assert [e["key"] for e in third] == ["a.csv"]
    assert sorted(k for k, _ in _claims(warehouse_url)) == ["a.csv", "a.csv", "c.csv", "sub/b.csv"]


def test_local_bucket_one_event_per_file_also_after_restart(warehouse_url, local_buckets):
    from explosion_monitor.buckets import get_bucket

    _exactly_once_then_restart(warehouse_url, get_bucket("politie"))


def test_s3_bucket_one_event_per_file_also_after_restart(warehouse_url, s3_server, monkeypatch):
    from explosion_monitor.buckets import get_bucket

    s3_server.apply_env(monkeypatch)
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", "s3://")
    s3_server.wipe_bucket("politie")
    try:
        _exactly_once_then_restart(warehouse_url, get_bucket("politie"))
    finally:
        s3_server.wipe_bucket("politie")


def test_two_watchers_at_once_announce_a_file_once(warehouse_url, local_buckets):
    """A re-armed trigger may briefly run beside the old one: the claim decides, not the instance."""
    from explosion_monitor.buckets import get_bucket

    bucket = get_bucket("politie")
    bucket.ensure()
    for i in range(5):
        bucket.put_incoming(f"f{i}.csv", b"x\n")

    async def both():
        return await asyncio.gather(
            _collect(_trigger(), want=0, quiet_s=1.5), _collect(_trigger(), want=0, quiet_s=1.5)
        )

    one, two = _run(both())
    assert sorted(e["key"] for e in one + two) == [f"f{i}.csv" for i in range(5)]


def test_local_file_is_announced_once_it_settles(warehouse_url, local_buckets):
    from explosion_monitor.buckets import get_bucket

    bucket = get_bucket("politie")
    bucket.ensure()
    bucket.put_incoming("slow.csv", b"x\n")
    started = time.monotonic()
    events = _run(_collect(_trigger(settle_seconds=1.0), want=1, quiet_s=0.5))
    assert [e["key"] for e in events] == ["slow.csv"]
    assert time.monotonic() - started >= 0.8  # not before it had been still for a second


def test_outage_does_not_kill_the_watcher(warehouse_url, local_buckets, monkeypatch):
    """The database is unreachable at first: the watcher logs, backs off, and announces once it is back."""
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import triggers

    bucket = get_bucket("politie")
    bucket.ensure()
    bucket.put_incoming("a.csv", b"x\n")
    calls = {"n": 0}
    real_scan = triggers.DropScanner.scan

    def flaky(self):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise psycopg.OperationalError("connection refused")
        return real_scan(self)

    monkeypatch.setattr(triggers.DropScanner, "scan", flaky)
    monkeypatch.setattr(triggers.IncomingFilesTrigger, "_backoff", staticmethod(lambda failures, base: 0.1))
    events = _run(_collect(_trigger(), want=1, quiet_s=0.5))
    assert [e["key"] for e in events] == ["a.csv"] and calls["n"] >= 3


def test_minio_notification_wakes_the_watcher(warehouse_url, s3_server, monkeypatch):
    """wake=postgres: MinIO's PostgreSQL target (format access) inserts into ops.minio_events, the insert
    trigger NOTIFYs, and the watcher lists at once instead of waiting for its fallback interval."""
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.orchestration import store

    s3_server.apply_env(monkeypatch)
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", "s3://")
    s3_server.wipe_bucket("politie")
    bucket = get_bucket("politie")
    bucket.ensure()
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        store.ensure(conn)

    def drop_and_notify():
        bucket.put_incoming("genotificeerd.csv", b"x\n")
        record = {
            "Records": [
                {
                    "eventName": "s3:ObjectCreated:Put",
                    "s3": {"bucket": {"name": "politie"}, "object": {"key": "incoming%2Fgenotificeerd.csv", "size": 2}},
                }
            ]
        }
        with psycopg.connect(warehouse_url, autocommit=True) as conn:
            # The statement MinIO's PostgreSQL target runs for the access format (with $1, $2).
            conn.execute(
                "INSERT INTO ops.minio_events (event_time, event_data) VALUES (%s, %s)",
                (dt.datetime.now(dt.UTC), json.dumps(record)),
            )

    trigger = _trigger(wake="postgres", fallback_interval=60.0)
    started = time.monotonic()
    try:
        events = _run(_collect(trigger, want=1, quiet_s=0.5, timeout_s=20, during=drop_and_notify))
    finally:
        s3_server.wipe_bucket("politie")
    assert [e["key"] for e in events] == ["genotificeerd.csv"]
    assert time.monotonic() - started < 15, "woken by the notification, not by the 60 s fallback"
    assert _claims(warehouse_url)[-1] == ("genotificeerd.csv", "notification")
