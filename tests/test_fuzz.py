"""Property-based fuzzing of the parser and validator (strategies in tests/fuzz_strategies.py).

The property: any byte string is either accepted, or quarantined with a report a partner can
read; it never raises. The DB-free tests judge drops with `ingest.check.check_file`, the
loader's own parse and check path; the last one sends drops through the real loader into a real
PostgreSQL and holds it to the same verdict. bench/reliability/fuzz.py runs the DB-free property
for much longer.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fuzz_strategies import (
    ARRIVED_AT,
    Drop,
    any_drop,
    assert_sound,
    check_drop,
    judge,
    one_bad_cell,
    small_sizes,
    valid_drop,
)
from hypothesis import HealthCheck, given, settings

from explosion_monitor.buckets import get_bucket
from explosion_monitor.config import get_settings
from explosion_monitor.ingest.pending import ingest_pending

# Derandomized: `make test` sees the same examples every run; the bench explores.
FAST = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def test_any_drop_is_accepted_or_reported(record_property):
    """Hostile bytes: a sound verdict, and the same one when blocks, batches and chunks are tiny."""
    cases = 0

    @settings(FAST, max_examples=500)
    @given(any_drop())
    def prop(drop: Drop) -> None:
        nonlocal cases
        cases += 1
        check_drop(drop)

    prop()
    record_property("fuzz_cases", cases)


def test_valid_drop_loads_every_row(record_property):
    """Any form the contract allows (delimiter, encoding, BOM, CRLF, quoting, header case and order,
    Dutch dates, yes/no spellings, decimal comma, padding, XLSX) is accepted with all its rows."""
    cases = 0

    @settings(FAST, max_examples=150)
    @given(valid_drop())
    def prop(drop: Drop) -> None:
        nonlocal cases
        cases += 1
        verdict = judge(drop)
        assert verdict.accepted and verdict.rows == drop.rows, (drop, verdict.report)
        with small_sizes():
            assert judge(drop).rows == drop.rows

    prop()
    record_property("fuzz_cases", cases)


def test_one_bad_cell_is_named(record_property):
    """One invalid cell in a valid file: rejected, and the report names its line and column."""
    cases = 0

    @settings(FAST, max_examples=150)
    @given(one_bad_cell())
    def prop(case: tuple[Drop, int, str]) -> None:
        nonlocal cases
        cases += 1
        drop, line, column = case
        verdict = judge(drop)
        assert_sound(drop, verdict)
        assert not verdict.accepted and f"regel {line}, kolom {column}" in verdict.report, (drop, verdict.report)

    prop()
    record_property("fuzz_cases", cases)


@pytest.mark.slow  # over 50 s: make test-slow (CI keeps make test under 30 min)
def test_real_loader_agrees(warehouse_url, db, tmp_path, record_property):
    """Drops through a real bucket and the real loader into PostgreSQL: every outcome is accounted for,
    the partner's bytes are kept, and the verdict and report are the ones check_file gives."""
    cases = 0

    @settings(FAST, max_examples=60)
    @given(any_drop())
    def prop(drop: Drop) -> None:
        nonlocal cases
        cases += 1
        # A bucket root per example: nothing of an earlier example is in the way.
        root = tmp_path / f"buckets-{cases}"
        conf = dataclasses.replace(get_settings(), warehouse_url=warehouse_url, buckets=root.as_uri())
        bucket = get_bucket(drop.feed, conf)
        bucket.ensure()
        dropped = bucket.put_incoming(drop.name, drop.data)
        stamp = ARRIVED_AT.timestamp()
        os.utime(bucket.root / "incoming" / dropped.name, (stamp, stamp))  # a file's own time decides nothing

        outcomes = ingest_pending([drop.feed], settings=conf)

        assert len(outcomes) == 1, outcomes
        (out,) = outcomes
        # Arrival is the pipeline's clock (the ledger's), whatever the file's modification time says.
        arrived = db.execute("select arrived_at from ops.ledger where file_id = %s", (out.file_id,)).fetchone()[0]
        assert arrived > ARRIVED_AT
        expected = judge(drop, arrived_at=arrived)
        assert out.status in {"loaded", "empty", "quarantined", "duplicate"}, out
        assert not bucket.list_incoming()
        kept = Path(urlsplit(out.final_url).path)
        area = "quarantine" if out.status == "quarantined" else "archive"
        assert kept.is_relative_to(bucket.root / area) and kept.read_bytes() == drop.data, out
        stored = db.execute(f"select count(*) from raw.{drop.feed} where _file_id = %s", (out.file_id,)).fetchone()[0]
        if out.status == "quarantined":
            report = Path(urlsplit(out.report_url).path).read_text(encoding="utf-8")
            assert stored == 0
            assert report == expected.report, (drop, report, expected.report)
        else:
            assert out.report_url is None
            assert stored == out.rows
            if out.status != "duplicate":  # byte-identical to an earlier example: loads nothing
                assert expected.accepted and out.rows == expected.rows, (drop, out, expected.report)

    prop()
    record_property("fuzz_cases", cases)
