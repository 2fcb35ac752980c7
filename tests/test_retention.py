"""Retention (`explosion_monitor.retention`, `explosion-monitor purge`) against a real PostgreSQL and real buckets.

One scenario of partner deliveries whose arrival times lie years back (the file's modification time before the
drop is ingested is its arrival, so ledger, raw and a rebuild all agree on it). The purge runs as of NOW with a
retention of two years: cutoff 2024-07-01, events before 2024-01-01 outside the period. The command line purges
as of today, so its tests set EXPLOSION_MONITOR_RETENTION_DAYS to put the cutoff on the same day.

    politie   P0 2021-03  G (2021)                                    -> goes: all events before the period
              D0 2021-04  byte-identical copy of P0                   -> goes: duplicate
              Q  2022-05  refused (unknown municipality code)         -> goes, with its report and findings
              L  2022-06  header only                                 -> goes: empty
              P1 2023-02  A, B, C                                     -> goes: superseded by P2 (peildatum 2024-02)
              P2 2024-02  A, B, C (C withdrawn), D (2024)             -> kept: D is current at the cutoff
              Y  2024-03  H v1 (2023), K (2024)                       -> kept: K is current and within the period
              X  2024-04  H v2 (withdrawn)                            -> kept: without it H v1 (in Y) would count again
              P25 2025-01 F (2024)                                    -> young; its as-of history counts D from P2
              P3 2026-06  D revised, E (2026)                         -> young
              Q2 2026-05  refused                                     -> young
    verzekeraars V1 2023-03 claims 1, 2; V2 2024-03 claims 1, 2, 3   -> V1 goes (superseded), V2 kept (claim 3)
    corporaties  M1 2021-06 melding 1 (2021)                          -> goes: before the period
    incoming/wacht.csv, dated 2020, never ingested                    -> untouched
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from partner_files import (
    CORPORATIES_COLUMNS,
    POLITIE_COLUMNS,
    VERZEKERAARS_COLUMNS,
    claim_row,
    csv_bytes,
    melding_row,
    politie_row,
)

pytestmark = pytest.mark.timeout(900)

NOW = dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC)
DAYS = 730  # cutoff 2024-07-01 12:00 UTC; event cutoff 2024-01-01
CUTOFF_DATE = dt.date(2024, 7, 1)
EVENT_CUTOFF = dt.date(2024, 1, 1)


def _politie(*rows: dict) -> bytes:
    return csv_bytes(list(rows), POLITIE_COLUMNS)


def _p(incident: str, peil: str, datum: str, **over: str) -> dict:
    return politie_row(0, incident_id=incident, peildatum=peil, incident_datum=datum, **over)


P0 = _politie(_p("PL-G", "2021-03-01", "2021-01-10"))
DROPS = [
    # (label, feed, name, arrival date, bytes)
    ("P0", "politie", "politie_2021.csv", "2021-03-01", P0),
    ("D0", "politie", "kopie van politie_2021.csv", "2021-04-01", P0),
    (
        "Q",
        "politie",
        "fout_2022.csv",
        "2022-05-01",
        _politie(
            _p("PL-Q1", "2022-05-01", "2022-04-01"), _p("PL-Q2", "2022-05-01", "2022-04-02", gemeente_code="GM9999")
        ),
    ),
    ("L", "politie", "leeg_2022.csv", "2022-06-01", _politie()),
    (
        "P1",
        "politie",
        "politie_2023-02.csv",
        "2023-02-01",
        _politie(
            _p("PL-A", "2023-02-01", "2022-12-01"),
            _p("PL-B", "2023-02-01", "2023-01-15"),
            _p("PL-C", "2023-02-01", "2023-01-20"),
        ),
    ),
    (
        "P2",
        "politie",
        "politie_2024-02.csv",
        "2024-02-01",
        _politie(
            _p("PL-A", "2024-02-01", "2022-12-01", doelwit="bedrijf"),
            _p("PL-B", "2024-02-01", "2023-01-15"),
            _p("PL-C", "2024-02-01", "2023-01-20", ingetrokken="ja"),
            _p("PL-D", "2024-02-01", "2024-01-10"),
        ),
    ),
    (
        "Y",
        "politie",
        "politie_2024-03.csv",
        "2024-03-01",
        _politie(_p("PL-H", "2024-03-01", "2023-06-01"), _p("PL-K", "2024-03-01", "2024-02-20")),
    ),
    (
        "X",
        "politie",
        "politie_2024-04.csv",
        "2024-04-01",
        _politie(_p("PL-H", "2024-04-01", "2023-06-01", ingetrokken="ja")),
    ),
    (
        "V1",
        "verzekeraars",
        "claims_2023.csv",
        "2023-03-01",
        csv_bytes(
            [
                claim_row(1, peildatum="2023-03-01", schadedatum="2023-02-01"),
                claim_row(2, peildatum="2023-03-01", schadedatum="2022-11-01"),
            ],
            VERZEKERAARS_COLUMNS,
        ),
    ),
    (
        "V2",
        "verzekeraars",
        "claims_2024.csv",
        "2024-03-01",
        csv_bytes(
            [
                claim_row(1, peildatum="2024-03-01", schadedatum="2023-02-01", status="afgehandeld"),
                claim_row(2, peildatum="2024-03-01", schadedatum="2022-11-01"),
                claim_row(3, peildatum="2024-03-01", schadedatum="2024-02-01"),
            ],
            VERZEKERAARS_COLUMNS,
        ),
    ),
    (
        "M1",
        "corporaties",
        "meldingen_2021.csv",
        "2021-06-01",
        csv_bytes([melding_row(1, peildatum="2021-06-01", incident_datum="2021-05-01")], CORPORATIES_COLUMNS),
    ),
    ("P25", "politie", "politie_2025-01.csv", "2025-01-15", _politie(_p("PL-F", "2025-01-15", "2024-12-01"))),
    ("Q2", "politie", "fout_2026.csv", "2026-05-01", _politie(_p("PL-Z", "2026-05-01", "2026-04-01", doelwit="raket"))),
    (
        "P3",
        "politie",
        "politie_2026-06.csv",
        "2026-06-01",
        _politie(_p("PL-D", "2026-06-01", "2024-01-10", uitkomst="poging"), _p("PL-E", "2026-06-01", "2026-05-01")),
    ),
]
GOES = {
    "P0": "before_period",
    "D0": "duplicate",
    "Q": "quarantined",
    "L": "empty",
    "P1": "superseded",
    "V1": "superseded",
    "M1": "before_period",
}
KEPT = {"P2": "needed", "Y": "needed", "X": "needed", "V2": "needed"}
WAITING = ("wacht.csv", "2020-01-01")


@dataclass
class Scenario:
    url: str
    root: Path  # the buckets folder
    ids: dict[str, int]  # label -> ledger file id

    def label(self, file_id: int) -> str:
        return next(k for k, v in self.ids.items() if v == file_id)

    def query(self, q: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(q, params).fetchall()

    def files(self) -> dict[str, tuple[int, float]]:
        """Every file under the buckets root: relative path -> (size, mtime)."""
        return {
            str(p.relative_to(self.root)): (p.stat().st_size, p.stat().st_mtime)
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }

    def raw_rows(self) -> dict[int, int]:
        return dict(
            self.query(
                "select _file_id, count(*) from (select _file_id from raw.politie union all "
                "select _file_id from raw.verzekeraars union all "
                "select _file_id from raw.corporaties) r group by 1"
            )
        )

    def ledger(self) -> dict[int, tuple]:
        return {
            r[0]: r[1:]
            for r in self.query(
                "select file_id, status, rows_loaded, final_url, report_url, sha256, purged_at from ops.ledger"
            )
        }


def _arrive(path: Path, day: str) -> None:
    ts = dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=dt.UTC).timestamp()
    os.utime(path, (ts, ts))


@pytest.fixture
def scenario(warehouse_url: str, local_buckets: str) -> Scenario:
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.ingest.load import ingest_object

    root = Path(local_buckets.removeprefix("file://"))
    ids = {}
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for label, feed, name, day, data in DROPS:
            bucket = get_bucket(feed)
            bucket.ensure()
            bucket.put_incoming(name, data)
            _arrive(bucket.root / "incoming" / name, day)
            # Arrival is when the pipeline saw the file (contract v2), here on `day`; not the file's own time.
            seen = dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=dt.UTC)
            outcome = ingest_object(conn, bucket, bucket.stat_incoming(name), run_id="test", seen_at=seen)
            ids[label] = outcome.file_id
    s = Scenario(warehouse_url, root, ids)
    statuses = {s.label(f): st for f, (st, *_) in s.ledger().items()}
    assert statuses == {
        "P0": "loaded",
        "D0": "duplicate",
        "Q": "quarantined",
        "L": "empty",
        "P1": "loaded",
        "P2": "loaded",
        "Y": "loaded",
        "X": "loaded",
        "V1": "loaded",
        "V2": "loaded",
        "M1": "loaded",
        "P25": "loaded",
        "Q2": "quarantined",
        "P3": "loaded",
    }
    waiting = get_bucket("politie").put_incoming(WAITING[0], b"incident_id\nnog niet verwerkt\n")
    _arrive(Path(waiting.url.removeprefix("file://")), WAITING[1])
    return s


def _purge(**kwargs):
    from explosion_monitor import retention

    return retention.purge(now=NOW, retention_days=DAYS, **kwargs)


# --- deciding -------------------------------------------------------------------------------------------------


def test_period_follows_the_retention_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from explosion_monitor import retention
    from explosion_monitor.config import ConfigError

    per = retention.period(NOW, DAYS)
    assert (per.cutoff, per.cutoff_date, per.event_cutoff) == (
        dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC),
        CUTOFF_DATE,
        EVENT_CUTOFF,
    )
    monkeypatch.setenv("EXPLOSION_MONITOR_RETENTION_DAYS", "365")
    assert retention.period(NOW).cutoff_date == dt.date(2025, 7, 1)
    monkeypatch.delenv("EXPLOSION_MONITOR_RETENTION_DAYS")
    assert retention.period(NOW).retention_days == 1825
    monkeypatch.setenv("EXPLOSION_MONITOR_RETENTION_DAYS", "7")
    with pytest.raises(ConfigError, match="between 30 and"):
        retention.period(NOW)
    with pytest.raises(retention.PurgeError, match="between 30 and"):
        retention.period(NOW, 10)


def test_dry_run_names_what_goes_and_why_and_changes_nothing(scenario: Scenario) -> None:
    before = (scenario.files(), scenario.raw_rows(), scenario.ledger())
    result = _purge()
    assert not result.applied and result.removed == []
    going = {scenario.label(d.file_id): d for d in result.plan.purge}
    kept = {scenario.label(d.file_id): d for d in result.plan.keep}
    assert {k: d.reason for k, d in going.items()} == GOES
    assert {k: d.reason for k, d in kept.items()} == KEPT  # young files (P3, Q2) are not even considered
    assert kept["P2"].detail == (
        "1 of 4 rows: the version of a record from 2024-01-01 on that is valid at or after the cutoff"
    )
    assert "would make that one current again" in kept["X"].detail
    assert going["P1"].detail == "3 rows: 3 superseded by a delivery with peildatum on or before 2024-07-01"
    assert len(going["Q"].objects) == 2 and going["Q"].objects[1].endswith(".rapport.txt")
    assert (scenario.files(), scenario.raw_rows(), scenario.ledger()) == before
    assert scenario.query("select count(*) from ops.purge_log") == [(0,)]


def test_a_longer_retention_from_the_environment_keeps_everything(scenario: Scenario, monkeypatch) -> None:
    from explosion_monitor import retention

    monkeypatch.setenv("EXPLOSION_MONITOR_RETENTION_DAYS", str(10 * 365))
    result = retention.purge(now=NOW, apply=True)
    assert result.plan.period.retention_days == 3650 and result.removed == [] and result.plan.keep == []
    assert scenario.query("select count(*) from ops.purge_log") == [(0,)]
    monkeypatch.setenv("EXPLOSION_MONITOR_RETENTION_DAYS", str(DAYS))
    assert {scenario.label(d.file_id) for d in retention.purge(now=NOW).plan.purge} == set(GOES)


def test_purge_removes_rows_objects_and_records_it(scenario: Scenario) -> None:
    files_before, rows_before, ledger_before = scenario.files(), scenario.raw_rows(), scenario.ledger()
    findings_before = dict(scenario.query("select file_id, count(*) from ops.file_findings group by 1"))
    assert findings_before.get(scenario.ids["Q"], 0) > 0
    from explosion_monitor.orchestration import store

    with psycopg.connect(scenario.url, autocommit=True) as conn:
        store.ensure(conn)
        for when, subject in (("2021-03-02", "oud: politie_2021.csv geweigerd"), ("2026-06-30", "jong")):
            conn.execute(
                "insert into ops.notifications (sent_at, kind, subject, body, channel, delivered) "
                "values (%s, 'quarantined', %s, 'regel 2: waarde ...', 'log', true)",
                (when, subject),
            )

    result = _purge(apply=True, run_id="purge-test")
    assert result.complete and result.applied
    # notifications quote partner values: those sent before the cutoff go too
    assert result.notifications_removed == 1
    assert scenario.query("select subject from ops.notifications") == [("jong",)]
    gone_ids = {scenario.ids[k] for k in GOES}
    assert {d.file_id for d in result.removed} == gone_ids
    assert result.rows_removed == sum(rows_before.get(f, 0) for f in gone_ids) == 1 + 3 + 2 + 1
    # raw: the purged files' rows are gone, every other row is still there
    assert scenario.raw_rows() == {f: n for f, n in rows_before.items() if f not in gone_ids}
    # findings of the quarantined file (they quote its values) went with it; the young one's stay
    findings = dict(scenario.query("select file_id, count(*) from ops.file_findings group by 1"))
    assert findings == {f: n for f, n in findings_before.items() if f not in gone_ids}
    # buckets: exactly the purged files' objects (and the quarantine report) are gone; incoming/ is untouched
    removed = {p for p in files_before if p not in scenario.files()}
    expected = set()
    for f in gone_ids:
        _, _, final_url, report_url, *_ = ledger_before[f]
        expected |= {
            str(Path(u.removeprefix("file://")).resolve().relative_to(scenario.root.resolve()))
            for u in (final_url, report_url)
            if u
        }
    assert removed == expected and len(expected) == len(GOES) + 1
    assert f"politie/incoming/{WAITING[0]}" in scenario.files()
    assert scenario.files()[f"politie/incoming/{WAITING[0]}"] == files_before[f"politie/incoming/{WAITING[0]}"]
    assert not (scenario.root / "politie" / "archive" / str(scenario.ids["P1"])).exists()  # no empty folders left
    # the ledger keeps every row (the audit trail), unchanged but for purged_at
    ledger_after = scenario.ledger()
    assert set(ledger_after) == set(ledger_before)
    for f, row in ledger_after.items():
        assert row[:-1] == ledger_before[f][:-1]
        assert (row[-1] is not None) == (f in gone_ids)
    # ops.purge_log: one row per file, what went and why
    log = {
        r[0]: r[1:]
        for r in scenario.query(
            "select file_id, run_id, reason, status, rows_removed, findings_removed, objects_removed, retention_days, "
            "cutoff, objects_removed_at is not null, last_error, sha256 from ops.purge_log"
        )
    }
    assert set(log) == gone_ids
    for f, (run_id, reason, status, rows, findings_n, objects, days, cutoff, done, error, sha) in log.items():
        assert (run_id, reason, status, days, cutoff, done, error) == (
            "purge-test",
            GOES[scenario.label(f)],
            ledger_before[f][0],
            DAYS,
            dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC),
            True,
            None,
        )
        assert rows == rows_before.get(f, 0) and findings_n == findings_before.get(f, 0) and sha == ledger_before[f][4]
        assert objects == (2 if scenario.label(f) == "Q" else 1)
    # the rebuild replays only what is left
    from explosion_monitor.orchestration import rebuild

    assert {r["file_id"] for r in rebuild.archived_files(scenario.url)} == {
        scenario.ids[k] for k in ("P2", "Y", "X", "V2", "P25", "P3")
    }
    # ... and a purged file cannot be reingested: its archived copy is gone
    from explosion_monitor.orchestration import reingest

    with pytest.raises(reingest.ReingestError, match="retention purge"):
        reingest.reingest("politie", scenario.ids["P0"])

    # running it again changes nothing
    files, rows = scenario.files(), scenario.raw_rows()
    again = _purge(apply=True)
    assert again.removed == [] and again.finished == [] and again.complete
    assert {scenario.label(d.file_id) for d in again.plan.keep} == set(KEPT)
    assert (scenario.files(), scenario.raw_rows()) == (files, rows)
    assert scenario.query("select count(*) from ops.purge_log") == [(len(GOES),)]

    # the partner delivers a purged file again: its rows are gone, so it loads (it is no duplicate any more)
    from explosion_monitor.buckets import get_bucket
    from explosion_monitor.ingest.pending import ingest_pending

    get_bucket("politie").put_incoming("politie_2021_opnieuw.csv", P0)
    again = {o.name: (o.status, o.rows) for o in ingest_pending(["politie"])}
    assert again["politie_2021_opnieuw.csv"] == ("loaded", rows_before[scenario.ids["P0"]])


def test_an_interrupted_purge_is_finished_by_the_next_run(scenario: Scenario, monkeypatch) -> None:
    from explosion_monitor import retention
    from explosion_monitor.buckets import BucketError, LocalBucket

    # 1. The database part fails half-way: the transaction takes everything back.
    original = retention._remove_rows

    def crash_after_delete(conn, *args, **kwargs):
        original(conn, *args, **kwargs)
        raise RuntimeError("the machine went down")

    before = (scenario.files(), scenario.raw_rows(), scenario.ledger())
    monkeypatch.setattr(retention, "_remove_rows", crash_after_delete)
    with pytest.raises(RuntimeError, match="went down"):
        _purge(apply=True)
    monkeypatch.setattr(retention, "_remove_rows", original)
    assert (scenario.files(), scenario.raw_rows(), scenario.ledger()) == before
    assert scenario.query("select count(*) from ops.purge_log") == [(0,)]

    # 2. The bucket refuses to delete P1's archived copy: rows and ledger are purged, the object stays, pending.
    p1 = scenario.ids["P1"]
    real_delete = LocalBucket._delete_stored

    def refuse(self, rel):
        if rel.startswith(f"archive/{p1}/"):
            raise BucketError("Cannot delete it: permission denied.")
        return real_delete(self, rel)

    monkeypatch.setattr(LocalBucket, "_delete_stored", refuse)
    result = _purge(apply=True)
    assert not result.complete and "permission denied" in result.errors[0] and f"File {p1}" in result.errors[0]
    p1_object = f"politie/archive/{p1}/politie_2023-02.csv"
    assert p1_object in scenario.files()
    assert p1 not in scenario.raw_rows() and scenario.ledger()[p1][-1] is not None  # never rows gone, ledger not
    assert scenario.query("select objects_removed_at, last_error from ops.purge_log where file_id = %s", (p1,)) == [
        (None, "Cannot delete it: permission denied.")
    ]
    from explosion_monitor.orchestration import rebuild

    assert p1 not in {r["file_id"] for r in rebuild.archived_files(scenario.url)}
    with psycopg.connect(scenario.url, autocommit=True) as conn:
        assert [r["file_id"] for r in retention.plan(conn, now=NOW, retention_days=DAYS).unfinished] == [p1]
    # still refused: it stays pending, nothing else happens
    assert _purge(apply=True).errors and p1_object in scenario.files()

    # 3. The next run, with the bucket working again, finishes it and purges nothing twice.
    monkeypatch.setattr(LocalBucket, "_delete_stored", real_delete)
    again = _purge(apply=True)
    assert again.complete and again.removed == [] and [f["file_id"] for f in again.finished] == [p1]
    assert p1_object not in scenario.files()
    assert scenario.query("select count(*), count(objects_removed_at), count(last_error) from ops.purge_log") == [
        (len(GOES), len(GOES), 0)
    ]


def test_purge_is_per_feed(scenario: Scenario) -> None:
    result = _purge(apply=True, feeds=["verzekeraars"])
    assert [scenario.label(d.file_id) for d in result.removed] == ["V1"]
    from explosion_monitor import retention

    with pytest.raises(retention.PurgeError, match="Unknown feed 'brandweer'"):
        _purge(feeds=["brandweer"])


def test_a_file_held_by_another_worker_is_left_for_next_time(scenario: Scenario) -> None:
    from explosion_monitor import ledger

    with psycopg.connect(scenario.url, autocommit=True) as other:
        assert ledger.try_lock(other, "politie", "politie_2021.csv")  # e.g. a reingest of P0 in progress
        result = _purge(apply=True)
        removed = {scenario.label(d.file_id) for d in result.removed}
        assert removed == set(GOES) - {"P0"}
        assert {scenario.label(d.file_id): d.reason for d in result.plan.keep}["P0"] == "busy"
    assert [scenario.label(d.file_id) for d in _purge(apply=True).removed] == ["P0"]


# --- the published figures ----------------------------------------------------------------------------------


def _figures(url: str) -> dict[str, set]:
    """The published figures about events within the period (business columns only)."""
    with psycopg.connect(url, autocommit=True) as conn:

        def rows(q: str, *params) -> set:
            return {tuple(str(v) for v in r) for r in conn.execute(q, params).fetchall()}

        return {
            "incidents": rows(
                "select incident_id, gemeente_code, doelwit, uitkomst, incident_datum, aantal_claims, "
                "schade_geraamd_eur from marts.fct_explosie_incidenten where incident_datum >= %s",
                EVENT_CUTOFF,
            ),
            "years": rows(
                "select niveau, code, jaar, aanslagen from marts.target_progress where jaar >= %s and aanslagen > 0",
                EVENT_CUTOFF.year,
            ),
            "history": rows(
                "select * from marts.target_progress_historie where peildatum >= %s and jaar >= %s",
                CUTOFF_DATE,
                EVENT_CUTOFF.year,
            ),
            "months": rows(
                "select gemeente_code, jaar, maand, aanslagen, onderdrukt from "
                "open_data.aanslagen_per_gemeente_maand where jaar >= %s",
                EVENT_CUTOFF.year,
            ),
        }


@pytest.mark.slow  # over 50 s: make test-slow (CI keeps make test under 30 min)
def test_purge_then_full_build_keeps_the_figures_of_the_period_and_equals_a_rebuild(
    scenario: Scenario, pg_admin_url: str, local_buckets: str
) -> None:
    """`explosion-monitor purge --apply` (purge, full-refresh build, gate, publication), then a rebuild."""
    from explosion_monitor import retention
    from explosion_monitor.orchestration import rebuild, steps

    steps.run_build({"select": None})
    steps.gate_and_publish("voor-purge")
    before = _figures(scenario.url)
    assert ("PL-D", "GM0363", "woning", "poging", "2024-01-10", "0", "0.00") in before["incidents"]
    # as known at P25's peildatum (within the period), 2024 counts D in P2's version: P2 must stay
    assert ("2025-01-15", "2024", "3", "1") in before["history"]
    national_2021 = scenario.query("select aanslagen from marts.target_progress where niveau = 'land' and jaar = 2021")
    assert national_2021 == [(1,)]  # PL-G

    applied = _cli("purge", "--apply", **_cli_env(scenario, local_buckets))
    assert applied.returncode == 0, applied.stdout[-3000:] + applied.stderr[-3000:]
    assert f"Removed {len(GOES)} files: 7 raw rows" in applied.stdout
    assert "Rebuilt the marts in full and published them (publication 2)" in applied.stdout
    assert scenario.query("select count(*), sum(rows_removed) from ops.purge_log") == [(len(GOES), 7)]
    with psycopg.connect(scenario.url, autocommit=True) as conn:
        assert not retention.full_refresh_pending(conn)  # the full-refresh build ran and said so
        # the build forgot the purged rows too: no version of a purged file is left in the incremental model
        purged = [scenario.ids[k] for k in ("P0", "P1")]
        assert conn.execute(
            "select count(*) from build_intermediate.int_politie__incident_versies where file_id = any(%s)", (purged,)
        ).fetchone() == (0,)
    # figures about events within the period are exactly as before; before the period they changed
    assert _figures(scenario.url) == before
    assert scenario.query(
        "select coalesce(sum(aanslagen), 0) from marts.target_progress where niveau = 'land' and jaar = 2021"
    ) in ([(0,)], [(None,)])

    # a rebuild from what is left in the archive gives the published marts and open data
    database = "em_rebuild_" + scenario.url.rsplit("_", 1)[-1]
    try:
        compared = rebuild.run(database=database, run_id="test-retention")
        assert compared["replayed"]["files"] == 6
        assert compared["compare"]["equal"], compared["compare"]["differences"]
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{database}" with (force)')


# --- the command line ---------------------------------------------------------------------------------------


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "explosion_monitor.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )


def _cli_env(scenario: Scenario, local_buckets: str) -> dict[str, str]:
    """The CLI purges as of today: a retention that puts the cutoff where the scenario's is (2024-07-01, noon UTC)."""
    days = (dt.datetime.now(dt.UTC) - dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC)).days
    return {
        "WAREHOUSE_URL": scenario.url,
        "EXPLOSION_MONITOR_BUCKETS": local_buckets,
        "EXPLOSION_MONITOR_RETENTION_DAYS": str(days),
    }


def test_cli_dry_run_then_apply(scenario: Scenario, local_buckets: str) -> None:
    env = _cli_env(scenario, local_buckets)
    days = int(env["EXPLOSION_MONITOR_RETENTION_DAYS"])
    files, rows = scenario.files(), scenario.raw_rows()

    dry = _cli("purge", **env)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"Retention {days} days" in dry.stdout and "Would remove (dry run)" in dry.stdout
    assert "politie_2023-02.csv" in dry.stdout and "superseded" in dry.stdout
    assert "Kept although older than the cutoff" in dry.stdout and "politie_2024-04.csv" in dry.stdout
    assert f"removes these {len(GOES)} files (7 raw rows)" in dry.stdout
    assert (scenario.files(), scenario.raw_rows()) == (files, rows)

    applied = _cli("purge", "--apply", "--no-build", **env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"Removed {len(GOES)} files: 7 raw rows, {len(GOES) + 1} bucket objects" in applied.stdout
    assert "still holds the purged rows" in applied.stdout
    assert scenario.query("select count(*) from ops.purge_log") == [(len(GOES),)]

    status = _cli("status", "--feed", "politie", **env)
    assert status.returncode == 0 and "purged 20" in status.stdout

    for args, phrase in (
        (["purge", "--feed", "brandweer"], "Unknown feed 'brandweer'"),
        (["purge", "--retention-days", "5"], "between 30 and"),
    ):
        bad = _cli(*args, **env)
        assert bad.returncode == 1 and phrase in bad.stderr, bad.stdout + bad.stderr
        assert "Traceback" not in bad.stdout + bad.stderr and len(bad.stderr.strip().splitlines()) <= 3
    again = _cli("purge", "--apply", "--no-build", **env)
    assert again.returncode == 0 and "Removed 0 files" in again.stdout


# --- the bucket side: only archived/quarantined files of the named file id ------------------------------------


@pytest.fixture(params=["file", "s3"])
def purge_bucket(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import uuid

    from explosion_monitor.buckets import get_bucket

    if request.param == "file":
        monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", (tmp_path / "drops").as_uri())
    else:
        server = request.getfixturevalue("s3_server")
        server.apply_env(monkeypatch)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        server.create_bucket("em-retention-test")
        monkeypatch.setenv("EXPLOSION_MONITOR_BUCKETS", f"s3://em-retention-test/run-{uuid.uuid4().hex[:10]}")
    bucket = get_bucket("politie")
    bucket.ensure()
    return bucket


def test_delete_stored_removes_only_archived_or_quarantined_files_of_that_id(purge_bucket) -> None:
    from explosion_monitor.buckets import BucketError

    bucket = purge_bucket
    archived = bucket.archive(bucket.put_incoming("a.csv", b"x\n"), 7)
    quarantined, report = bucket.quarantine(bucket.put_incoming("sub/b.csv", b"y\n"), 8, "rapport")
    waiting = bucket.put_incoming("c.csv", b"z\n")
    for url, file_id in ((waiting.url, 7), (archived, 8), (quarantined, 7)):
        with pytest.raises(BucketError, match="Refusing to delete"):
            bucket.delete_stored(url, file_id)
    assert bucket.delete_stored(archived, 7) is True
    assert bucket.delete_stored(archived, 7) is False  # already gone: a re-run is fine
    assert bucket.delete_stored(report, 8) is True and bucket.delete_stored(quarantined, 8) is True
    assert bucket.list_archive() == [] and bucket.list_quarantine() == []
    assert [o.name for o in bucket.list_incoming()] == ["c.csv"]
    assert hashlib.sha256(bucket.open(waiting.url).read()).hexdigest() == hashlib.sha256(b"z\n").hexdigest()
