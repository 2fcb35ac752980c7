"""Ingest under faults and concurrency, and over real S3: nothing partial, nothing twice, nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from explosion_monitor.buckets import get_bucket
from explosion_monitor.ingest import ingest_object, ingest_pending
from explosion_monitor.sample import generate

from partner_files import csv_bytes, politie_row

ROOT = Path(__file__).resolve().parents[1]


def big_police_file(rows: int) -> bytes:
    head = "incident_id,peildatum,incident_datum,gemeente_code,doelwit,uitkomst,explosief,telt_mee\n"
    body = "".join(
        f"PL-{i},2025-01-15,2024-0{1 + i % 9}-1{i % 10},GM0599,woning,afgegaan,zwaar_vuurwerk,true\n"
        for i in range(rows)
    )
    return (head + body).encode()


def _child_env(warehouse_url: str, buckets: str) -> dict[str, str]:
    return {**os.environ, "WAREHOUSE_URL": warehouse_url, "EXPLOSION_MONITOR_BUCKETS": buckets}


CHILD = textwrap.dedent(
    """
    from explosion_monitor.ingest import ingest_pending
    for o in ingest_pending(["politie"]):
        print(o.name, o.status, o.rows, flush=True)
    """
)


def _wait_for_claim(db: psycopg.Connection, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db.execute("select status from ops.ledger order by file_id desc limit 1").fetchone()
        if row:
            return
        time.sleep(0.01)
    raise AssertionError("the loader never claimed the file")


@pytest.mark.usefixtures("local_buckets")
def test_killed_loader_leaves_nothing_and_retry_loads_once(db, warehouse_url, local_buckets):
    rows = 300_000
    bucket = get_bucket("politie")
    bucket.ensure()
    bucket.put_incoming("groot.csv", big_police_file(rows))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], env=_child_env(warehouse_url, local_buckets), stdout=subprocess.PIPE
    )
    _wait_for_claim(db)
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.wait()
    status = db.execute("select status from ops.ledger").fetchone()[0]
    assert status == "claimed", "the kill came too late to test a crash mid-load"
    # The server notices the dead client and rolls back; the claim (an advisory lock) goes with it.
    deadline = time.monotonic() + 10
    while db.execute("select count(*) from pg_locks where locktype = 'advisory'").fetchone()[0]:
        assert time.monotonic() < deadline, "the dead loader's claim never expired"
        time.sleep(0.05)
    assert db.execute("select count(*) from raw.politie").fetchone()[0] == 0
    assert [o.name for o in bucket.list_incoming()] == ["groot.csv"]

    (outcome,) = ingest_pending(["politie"])
    assert (outcome.status, outcome.rows) == ("loaded", rows)
    assert db.execute("select count(*), count(distinct incident_id) from raw.politie").fetchone() == (rows, rows)
    assert db.execute("select count(*), max(attempts), min(status) from ops.ledger").fetchone() == (1, 2, "loaded")
    assert not bucket.list_incoming()


@pytest.mark.usefixtures("local_buckets", "warehouse_url")
def test_concurrent_claims_of_one_file_load_it_once(db, warehouse_url):
    bucket = get_bucket("politie")
    bucket.ensure()
    for round_ in range(5):
        obj = bucket.put_incoming(f"f{round_}.csv", csv_bytes([politie_row(i + 100 * round_) for i in range(200)]))
        barrier = threading.Barrier(3)
        results: list[str] = []

        def worker() -> None:
            with psycopg.connect(warehouse_url, autocommit=True) as conn:
                barrier.wait()
                results.append(ingest_object(conn, bucket, obj).status)

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count("loaded") == 1, results
        assert set(results) <= {"loaded", "busy", "gone"}
    assert db.execute("select count(*) from raw.politie").fetchone()[0] == 5 * 200
    assert db.execute("select count(*) from ops.ledger").fetchone()[0] == 5


def test_parallel_workers_process_every_file_exactly_once(db, warehouse_url, local_buckets):
    bucket = get_bucket("politie")
    bucket.ensure()
    for i in range(12):
        rows = [politie_row(1000 * i + j) for j in range(50)]
        if i % 4 == 3:
            rows[7]["doelwit"] = "fout"
        bucket.put_incoming(f"drop-{i:02d}.csv", csv_bytes(rows))
    env = _child_env(warehouse_url, local_buckets)
    children = [subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdout=subprocess.PIPE, text=True)
                for _ in range(3)]
    lines = [line for c in children for line in c.communicate()[0].splitlines()]
    assert all(c.returncode == 0 for c in children)
    finished = [line.split() for line in lines if line.split()[1] in ("loaded", "quarantined")]
    assert sorted(f[0] for f in finished) == [f"drop-{i:02d}.csv" for i in range(12)]
    assert db.execute("select count(*) from raw.politie").fetchone()[0] == 9 * 50
    assert db.execute("select status, count(*) from ops.ledger group by 1 order by 1").fetchall() == [
        ("loaded", 9), ("quarantined", 3)]


@pytest.mark.usefixtures("warehouse_url")
def test_failed_archive_move_keeps_file_and_retry_archives_without_reloading(db, local_buckets, monkeypatch):
    bucket = get_bucket("politie")
    bucket.ensure()
    bucket.put_incoming("a.csv", csv_bytes([politie_row(1)]))
    from explosion_monitor import buckets as buckets_module

    def broken(self, obj, file_id):
        raise buckets_module.BucketError("simulated: the archive cannot be written (disk full)")

    original = type(bucket).archive
    monkeypatch.setattr(type(bucket), "archive", broken)
    with pytest.raises(buckets_module.BucketError):
        ingest_pending(["politie"])
    assert [o.name for o in bucket.list_incoming()] == ["a.csv"]
    assert db.execute("select status, final_url from ops.ledger").fetchone() == ("loaded", None)
    monkeypatch.setattr(type(bucket), "archive", original)
    (outcome,) = ingest_pending(["politie"])
    assert outcome.status == "loaded" and outcome.message == "archived on retry"
    assert db.execute("select count(*) from raw.politie").fetchone()[0] == 1
    assert db.execute("select count(*), max(attempts) from ops.ledger").fetchone() == (1, 2)
    assert not bucket.list_incoming()


@pytest.mark.usefixtures("warehouse_url")
def test_s3_bucket_end_to_end(db, s3_server, monkeypatch):
    s3_server.apply_env(monkeypatch)
    s3_server.create_bucket("tests")
    run = f"run-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", f"s3://tests/{run}")
    files = [f for f in generate() if f.feed == "corporaties"]
    bucket = get_bucket("corporaties")
    bucket.ensure()
    for f in files:
        bucket.put_incoming(f.name, f.data)
    outcomes = {o.name: o.status for o in ingest_pending(["corporaties"])}
    assert outcomes == {f.name: f.expect for f in files}
    keys = s3_server.keys("tests", run + "/")
    for f in files:
        area = "quarantine" if f.expect == "quarantined" else "archive"
        assert any(k.startswith(f"{run}/corporaties/{area}/") and k.endswith("/" + f.name) for k in keys), f.name
        if f.expect == "quarantined":
            assert any(k.endswith(f.name + ".rapport.txt") for k in keys)
    assert not bucket.list_incoming()
    loaded = db.execute("select coalesce(sum(rows_loaded), 0) from ops.ledger").fetchone()[0]
    assert loaded > 0
    assert db.execute("select count(*) from raw.corporaties").fetchone()[0] == loaded
