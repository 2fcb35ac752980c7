"""The sample deliveries end as the generator intends: loaded, empty or quarantined with a report."""

from __future__ import annotations

import pytest

from explosion_monitor.buckets import get_bucket
from explosion_monitor.config import FEEDS
from explosion_monitor.ingest.pending import ingest_pending
from explosion_monitor.sample import INTENDED_AS_OF, generate, write_samples

pytestmark = pytest.mark.usefixtures("local_buckets", "warehouse_url")


def test_every_sample_file_ends_as_intended(db):
    buckets = {feed: get_bucket(feed) for feed in FEEDS}
    for bucket in buckets.values():
        bucket.ensure()
    files = write_samples(lambda feed, name, data: buckets[feed].put_incoming(name, data))
    outcomes = {(o.feed, o.name): o for o in ingest_pending()}
    for f in files:
        got = outcomes[(f.feed, f.name)]
        assert got.status == f.expect, (f.name, f.why, got)
        if f.expect == "quarantined":
            assert got.report_url
    loaded = sum(o.rows for o in outcomes.values())
    assert (
        db.execute(
            "select (select count(*) from raw.politie) + (select count(*) from raw.verzekeraars)"
            " + (select count(*) from raw.corporaties) + (select count(*) from raw.gemeenten)"
        ).fetchone()[0]
        == loaded
    )
    assert all(not b.list_incoming() for b in buckets.values())


def test_police_counts_as_known_at_each_delivery(db):
    """Newest peildatum per incident, counted and not withdrawn: the figures the generator intends."""
    bucket = get_bucket("politie")
    bucket.ensure()
    for f in generate():
        if f.feed == "politie":
            bucket.put_incoming(f.name, f.data)
    ingest_pending(["politie"])
    for peil, per_year in INTENDED_AS_OF.items():
        rows = db.execute(
            """
            with known as (
                select distinct on (incident_id) * from raw.politie where peildatum <= %s
                order by incident_id, peildatum desc, _arrived_at desc, _file_id desc
            )
            select extract(year from incident_datum)::int, count(*) from known
            where telt_mee and not coalesce(ingetrokken, false) group by 1 order by 1
            """,
            (peil,),
        ).fetchall()
        assert dict(rows) == per_year, peil
