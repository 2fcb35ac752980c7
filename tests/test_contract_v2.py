"""Partner contract version 2, through a real bucket, the real loader and PostgreSQL.

No silent misread of `12.500` in ;-files (every numeric column of every feed), Excel's realities
(`sep=` line, date-times, waar/onwaar, dates without leading zeros), identifiers, lock and system
files, arrival by the pipeline's clock, files still being written, hard links, the new columns
and feed, and reports that show what was found.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from partner_files import (
    CORPORATIES_V2_COLUMNS,
    GEMEENTEN_COLUMNS,
    POLITIE_COLUMNS,
    POLITIE_V2_COLUMNS,
    VERZEKERAARS_COLUMNS,
    claim_row,
    csv_bytes,
    maatregel_row,
    melding_row,
    politie_row,
    pseudoniem,
)

from explosion_monitor.buckets import get_bucket
from explosion_monitor.contracts import all_contracts, get_contract
from explosion_monitor.ingest.pending import ingest_pending

pytestmark = pytest.mark.usefixtures("local_buckets", "warehouse_url")

ROWS = {"politie": politie_row, "verzekeraars": claim_row, "corporaties": melding_row, "gemeenten": maatregel_row}
COLUMNS = {
    "politie": POLITIE_V2_COLUMNS,
    "verzekeraars": VERZEKERAARS_COLUMNS,
    "corporaties": CORPORATIES_V2_COLUMNS,
    "gemeenten": GEMEENTEN_COLUMNS,
}
KEY = {"politie": "incident_id", "verzekeraars": "claim_id", "corporaties": "melding_id", "gemeenten": "maatregel_id"}


def row(feed: str, i: int, **over: str) -> dict[str, str]:
    base = ROWS[feed](i)
    if feed == "politie":
        base["adres_pseudoniem"] = ""
    if feed == "corporaties":
        base["terugkeer_datum"] = ""
    base.update(over)
    return base


def drop(feed: str, name: str, data: bytes, mtime: float | None = None) -> Path:
    bucket = get_bucket(feed)
    bucket.ensure()
    dropped = bucket.put_incoming(name, data)
    path = bucket.root / "incoming" / dropped.name
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def ingest(feed: str, name: str, data: bytes, mtime: float | None = None):
    drop(feed, name, data, mtime)
    (outcome,) = [o for o in ingest_pending([feed]) if o.name == name]
    return outcome


def report_text(outcome) -> str:
    assert outcome.report_url, outcome
    return Path(urlsplit(outcome.report_url).path).read_text(encoding="utf-8")


def xlsx(columns, rows, sheets: dict[str, list[list[object]]] | None = None) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Export"
    ws.append(list(columns))
    for r in rows:
        ws.append(list(r))
    for name, content in (sheets or {}).items():
        other = wb.create_sheet(name)
        for r in content:
            other.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def numeric_columns() -> list[tuple[str, str, str]]:
    return [
        (feed, c.name, c.type)
        for feed, contract in all_contracts().items()
        for c in contract.columns
        if c.type in ("integer", "decimal")
    ]


# --- 12.500: never a silent misread ---------------------------------------------------------------------


def test_every_numeric_column_is_covered():
    assert {(f, c) for f, c, _ in numeric_columns()} == {
        ("politie", "gewonden"),
        ("politie", "doden"),
        ("verzekeraars", "schade_geraamd_eur"),
        ("verzekeraars", "uitgekeerd_eur"),
        ("corporaties", "woningen_beschadigd"),
        ("corporaties", "woningen_onbewoonbaar"),
        ("corporaties", "huishoudens_ontheemd"),
        ("corporaties", "herstelkosten_eur"),
        ("gemeenten", "kosten_eur"),
    }


@pytest.mark.parametrize("feed", ["politie", "verzekeraars", "corporaties", "gemeenten"])
def test_12_500_in_a_semicolon_file_is_a_row_error_in_every_numeric_column(db, feed):
    columns = [(c, t) for f, c, t in numeric_columns() if f == feed]
    rows = [row(feed, 1)]  # a good row first: the errors are per row
    for i, (column, _) in enumerate(columns, start=2):
        over = {column: "12.500"}
        if feed == "corporaties":  # keep onbewoonbaar <= beschadigd true whatever the column
            over = {"woningen_beschadigd": "20000", "woningen_onbewoonbaar": "0", **over}
        rows.append(row(feed, i, **over))
    out = ingest(feed, "nl.csv", csv_bytes(rows, COLUMNS[feed], delimiter=";"))
    assert out.status == "quarantined", out
    text = report_text(out)
    for i, (column, _) in enumerate(columns, start=2):
        assert f'- regel {i + 1}, kolom {column}, waarde "12.500": is dubbelzinnig' in text, (column, text)
    assert "twaalfduizend vijfhonderd" in text and "twelve thousand five hundred" in text
    assert db.execute(f"select count(*) from raw.{feed}").fetchone()[0] == 0


@pytest.mark.parametrize("feed", ["verzekeraars", "corporaties", "gemeenten"])
def test_12_500_in_a_comma_file_and_in_xlsx_is_12_5(db, feed):
    decimals = [c for f, c, t in numeric_columns() if f == feed and t == "decimal"]
    rows = [row(feed, 1, **dict.fromkeys(decimals, "12.500"))]
    assert ingest(feed, "punt.csv", csv_bytes(rows, COLUMNS[feed])).status == "loaded"
    rows = [row(feed, 2, **dict.fromkeys(decimals, "12.500"))]
    book = xlsx(COLUMNS[feed], [[r[c] for c in COLUMNS[feed]] for r in rows])  # text cells "12.500"
    assert ingest(feed, "tekst.xlsx", book).status == "loaded"
    for column in decimals:
        got = db.execute(f"select {column} from raw.{feed}").fetchall()
        assert got == [(Decimal("12.5"),), (Decimal("12.5"),)], (column, got)


def test_integers_in_a_comma_file_are_no_thousands_either(db):
    out = ingest("politie", "int.csv", csv_bytes([politie_row(1, gewonden="12.500")]))
    assert out.status == "quarantined"
    assert "kolom gewonden" in report_text(out)


THOUSANDS = st.builds(
    lambda head, groups, cents: (
        f"{head}{''.join(f'.{g:03d}' for g in groups)}" + (f",{cents:02d}" if cents is not None else "")
    ),
    st.integers(1, 999),
    st.lists(st.integers(0, 999), min_size=1, max_size=3),
    st.none() | st.integers(0, 99),
)


def dutch_reading(text: str) -> Decimal:
    return Decimal(text.replace(".", "").replace(",", "."))


def test_property_no_thousands_separated_value_loads_as_another_number(db):
    """In a ;-file, a value a Dutch reader reads as thousands-separated never loads as a different number."""
    cases = {"n": 0}

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(value=THOUSANDS, column=st.sampled_from(["schade_geraamd_eur", "uitgekeerd_eur"]))
    def prop(value: str, column: str) -> None:
        cases["n"] += 1
        name = f"claims-{cases['n']}.csv"
        data = csv_bytes([claim_row(cases["n"], **{column: value})], VERZEKERAARS_COLUMNS, delimiter=";")
        out = ingest("verzekeraars", name, data)
        if out.status == "loaded":
            stored = db.execute(f"select {column} from raw.verzekeraars where _file_id = %s", (out.file_id,))
            assert stored.fetchone()[0] == dutch_reading(value), (value, column)
        else:
            assert out.status == "quarantined", out
            assert f"kolom {column}" in report_text(out)

    prop()
    assert cases["n"] >= 10


# --- Excel's realities ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sep", [";", ","])
def test_sep_line_names_the_delimiter_and_is_not_the_header(db, sep):
    rows = [politie_row(1), politie_row(2, telt_mee="misschien")]
    data = f"sep={sep}\r\n".encode() + csv_bytes(rows, POLITIE_COLUMNS, delimiter=sep, newline="\r\n")
    out = ingest("politie", "sep.csv", data)
    assert out.status == "quarantined"
    # line 1 is the sep= line, line 2 the header: the bad row is line 4
    assert "- regel 4, kolom telt_mee" in report_text(out)
    data = f"sep={sep}\r\n".encode() + csv_bytes(rows[:1], POLITIE_COLUMNS, delimiter=sep, newline="\r\n")
    assert ingest("politie", "sep-goed.csv", data).status == "loaded"
    assert db.execute("select incident_id, _line_number from raw.politie").fetchall() == [("PL-1", 3)]


@pytest.mark.parametrize(
    "written,expected",
    [
        ("31-10-2024 23:15", "2024-10-31"),  # Dutch wall-clock time: the date as written
        ("1-3-2024 0:00", "2024-03-01"),  # Dutch Excel, no leading zeros
        ("16-04-2024 00:00:00", "2024-04-16"),
        ("2024-04-16T14:35:00", "2024-04-16"),
        ("2024-04-16 23:59:59.123", "2024-04-16"),
        ("2024-12-31T23:30:00Z", "2025-01-01"),  # UTC: 00:30 on New Year's Day in the Netherlands (winter)
        ("2024-06-30T22:30:00+00:00", "2024-07-01"),  # summer time: UTC+2
        ("2024-12-31T23:30:00+01:00", "2024-12-31"),
        ("2024-01-01T00:30:00+05:00", "2023-12-31"),
    ],
)
def test_date_times_in_date_columns(db, written, expected):
    out = ingest("politie", "tijd.csv", csv_bytes([politie_row(1, incident_datum=written)], POLITIE_COLUMNS))
    assert out.status == "loaded", out
    assert db.execute("select incident_datum::text from raw.politie").fetchone()[0] == expected


def test_typed_excel_date_times_and_dates_without_leading_zeros(db):
    columns = POLITIE_COLUMNS
    first = politie_row(1)
    typed = [
        dt.datetime(2025, 1, 15, 9, 12)
        if c == "peildatum"
        else dt.datetime(2024, 12, 31, 23, 15)
        if c == "incident_datum"
        else first[c]
        for c in columns
    ]
    assert ingest("politie", "getypt.xlsx", xlsx(columns, [typed])).status == "loaded"
    text = csv_bytes([politie_row(2, peildatum="5-1-2025", incident_datum="9-3-2024")], columns, delimiter=";")
    assert ingest("politie", "kort.csv", text).status == "loaded"
    assert db.execute(
        "select incident_id, peildatum::text, incident_datum::text from raw.politie order by 1"
    ).fetchall() == [("PL-1", "2025-01-15", "2024-12-31"), ("PL-2", "2025-01-05", "2024-03-09")]


def test_an_impossible_time_is_a_row_error(db):
    out = ingest("politie", "tijd.csv", csv_bytes([politie_row(1, incident_datum="16-04-2024 25:10")]))
    assert out.status == "quarantined" and "kolom incident_datum" in report_text(out)


@pytest.mark.parametrize(
    "yes,no",
    [
        ("waar", "onwaar"),
        ("WAAR", "ONWAAR"),
        ("Waar", "OnWaar"),
        ("JA", "Nee"),
        ("J", "N"),
        ("TRUE", "fAlSe"),
        ("1", "0"),
    ],
)
def test_booleans_in_any_case(db, yes, no):
    rows = [politie_row(1, telt_mee=yes, ingetrokken=no), politie_row(2, telt_mee=no, ingetrokken=yes)]
    assert ingest("politie", "b.csv", csv_bytes(rows, delimiter=";")).status == "loaded"
    assert db.execute("select telt_mee, ingetrokken from raw.politie order by incident_id").fetchall() == [
        (True, False),
        (False, True),
    ]


def test_the_dutch_excel_export_of_the_samples_loads():
    from explosion_monitor.sample import generate

    export = next(f for f in generate() if f.data.startswith(b"sep=;"))
    out = ingest(export.feed, export.name, export.data)
    assert out.status == "loaded" and out.rows > 5


# --- identifiers ------------------------------------------------------------------------------------------


def identifier_columns() -> list[tuple[str, str]]:
    return [
        (feed, c.name) for feed, contract in all_contracts().items() for c in contract.columns if c.type == "identifier"
    ]


def test_identifier_columns_are_the_contracts():
    assert set(identifier_columns()) == {
        ("politie", "incident_id"),
        ("verzekeraars", "verzekeraar_code"),
        ("verzekeraars", "claim_id"),
        ("verzekeraars", "politie_incident_id"),
        ("corporaties", "corporatie_code"),
        ("corporaties", "melding_id"),
        ("corporaties", "politie_incident_id"),
        ("gemeenten", "maatregel_id"),
    }


@pytest.mark.parametrize("feed", ["politie", "verzekeraars", "corporaties", "gemeenten"])
def test_every_identifier_column_follows_the_pattern(db, feed):
    columns = [c for f, c in identifier_columns() if f == feed]
    bad = ['=HYPERLINK("x")', "<script>", "{{7*7}}", "a b", "X" * 41, "PL#1", "x\x1by"]
    rows = [row(feed, 1, **dict.fromkeys(columns, "ok-1/2025.A_b"))]
    for i, (column, value) in enumerate(((c, v) for c in columns for v in bad), start=2):
        rows.append(row(feed, i, **{column: value}))
    out = ingest(feed, "ids.csv", csv_bytes(rows, COLUMNS[feed]))
    assert out.status == "quarantined"
    assert out.errors == len(columns) * len(bad), report_text(out)
    text = report_text(out)
    for column in columns:
        assert f"kolom {column}" in text
    assert db.execute(f"select count(*) from raw.{feed}").fetchone()[0] == 0
    good = [row(feed, 1, **dict.fromkeys(columns, "Zaak-éß/2025.ש_1"))]
    assert ingest(feed, "ids-goed.csv", csv_bytes(good, COLUMNS[feed])).status == "loaded"


# --- lock and system files ------------------------------------------------------------------------------


LOCK_FILES = [
    "~$claims.xlsx",
    ".~lock.meldingen.csv#",
    "._export.csv",
    ".DS_Store",
    "Thumbs.db",
    "THUMBS.DB",
    "desktop.ini",
    "sub/Desktop.ini",
]


def test_lock_and_system_files_are_ignored_archived_and_not_reported(db, warehouse_url):
    from explosion_monitor.orchestration import steps

    bucket = get_bucket("verzekeraars")
    bucket.ensure()
    for name in LOCK_FILES:
        bucket.put_incoming(name, b"\x00\x01 Jan Jansen (griffie) lock")  # an Excel lock file names its clerk
    before = (
        db.execute("select count(*) from ops.notifications").fetchone()[0]
        if db.execute("select to_regclass('ops.notifications')").fetchone()[0]
        else 0
    )
    outcomes = steps.ingest_keys("verzekeraars", [], notify_partner=True)
    assert {o["name"]: o["status"] for o in outcomes} == dict.fromkeys(LOCK_FILES, "ignored")
    rows = db.execute("select object_key, status, report_url, final_url from ops.ledger order by 1").fetchall()
    assert {r[0] for r in rows} == set(LOCK_FILES)
    assert all(r[1] == "ignored" and r[2] is None and "/archive/" in r[3] for r in rows), rows
    assert not bucket.list_incoming()
    assert len(bucket.list_archive()) == len(LOCK_FILES)
    assert not bucket.list_quarantine()
    after = (
        db.execute("select count(*) from ops.notifications").fetchone()[0]
        if db.execute("select to_regclass('ops.notifications')").fetchone()[0]
        else 0
    )
    assert after == before  # no notification for a lock file
    assert db.execute("select count(*) from ops.file_findings").fetchone()[0] == 0


def test_retention_covers_ignored_files(db):
    from explosion_monitor import retention

    drop("politie", "~$extract.xlsx", b"lock")
    (out,) = ingest_pending(["politie"])
    assert out.status == "ignored"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=10 * 365)
    plan = retention.plan(db, now=later, feeds=["politie"])
    assert [(d.object_key, d.reason) for d in plan.purge] == [("~$extract.xlsx", "ignored")]


# --- arrival is the pipeline's clock ------------------------------------------------------------------------


FUTURE = dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp()
PAST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp()


def test_a_file_dated_2000_is_judged_by_our_clock(db):
    # With the file's own date as arrival its peildatum (2025) would lie after the arrival: refused.
    out = ingest("politie", "oud.csv", csv_bytes([politie_row(1)]), mtime=PAST)
    assert out.status == "loaded", out
    arrived, raw_arrived = db.execute(
        "select l.arrived_at, r._arrived_at from ops.ledger l join raw.politie r on r._file_id = l.file_id"
    ).fetchone()
    assert abs(arrived - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert raw_arrived == arrived


def test_a_file_dated_2100_is_judged_by_our_clock(db):
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()
    out = ingest("politie", "toekomst.csv", csv_bytes([politie_row(1, peildatum=tomorrow)]), mtime=FUTURE)
    assert out.status == "quarantined"  # the peildatum lies after the day it arrived, by our clock
    assert "peildatum" in report_text(out)
    arrived = db.execute("select arrived_at from ops.ledger").fetchone()[0]
    assert arrived.year == dt.datetime.now(dt.UTC).year


def test_retention_and_reconciliation_ignore_the_files_own_time(db):
    from explosion_monitor import retention
    from explosion_monitor.orchestration import steps

    drop("politie", "toekomst.csv", csv_bytes([politie_row(1)]), mtime=FUTURE)
    drop("politie", "verleden.csv", csv_bytes([politie_row(2)]), mtime=PAST)
    # reconciliation with a grace of five minutes: neither file's own time keeps it waiting or rushes it
    outcomes = steps.reconcile(["politie"], grace_s=300)
    assert sorted((o["name"], o["status"]) for o in outcomes) == [
        ("toekomst.csv", "loaded"),
        ("verleden.csv", "loaded"),
    ]
    plan = retention.plan(db, feeds=["politie"])
    assert plan.purge == []  # both arrived now; a file dated 2000 is not old
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30 * 365)
    assert {d.object_key for d in retention.plan(db, now=later, feeds=["politie"]).purge} | {
        d.object_key for d in retention.plan(db, now=later, feeds=["politie"]).keep
    } >= {"toekomst.csv", "verleden.csv"}


def test_the_watcher_settles_by_two_observations_not_by_the_files_time(db, local_buckets):
    from explosion_monitor.orchestration.triggers import DropScanner

    path = drop("politie", "oud.csv", csv_bytes([politie_row(1)]), mtime=PAST)
    scanner = DropScanner("politie", local_buckets, settle_seconds=1.0, via="test")
    try:
        assert scanner.scan() == []  # seen once: not yet known to be complete, however old its date
        time.sleep(1.1)
        with open(path, "ab") as fh:  # still being written
            fh.write(csv_bytes([politie_row(2)]).split(b"\n", 1)[1])
        assert scanner.scan() == []
        time.sleep(1.1)
        (payload,) = scanner.scan()
        assert payload["key"] == "oud.csv" and payload["size"] == path.stat().st_size
        assert abs(dt.datetime.fromisoformat(payload["seen_at"]) - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    finally:
        scanner.close()


# --- a file still being written -----------------------------------------------------------------------------


def test_a_slowly_written_file_is_loaded_once_and_whole(db):
    rows = [politie_row(i) for i in range(1, 401)]
    data = csv_bytes(rows)
    bucket = get_bucket("politie")
    bucket.ensure()
    path = bucket.root / "incoming" / "traag.csv"
    chunks = [data[i : i + len(data) // 8 + 1] for i in range(0, len(data), len(data) // 8 + 1)]
    with open(path, "wb") as fh:
        fh.write(chunks[0])
        fh.flush()

    def write_rest() -> None:
        with open(path, "ab") as fh:
            for chunk in chunks[1:]:
                time.sleep(0.4)  # a partner's copy over a slow share: the size changes every 0.4 s
                fh.write(chunk)
                fh.flush()

    writer = threading.Thread(target=write_rest)
    writer.start()
    try:
        outcomes = ingest_pending(["politie"])
    finally:
        writer.join()
    assert [(o.name, o.status, o.rows) for o in outcomes] == [("traag.csv", "loaded", 400)]
    assert db.execute("select count(*), count(distinct incident_id) from raw.politie").fetchone() == (400, 400)
    assert db.execute("select count(*) from ops.ledger").fetchone()[0] == 1
    assert ingest_pending(["politie"]) == []


def test_s3_needs_no_wait():
    from explosion_monitor.ingest.intake import stable_files

    class S3Like:
        root_url = "s3://politie/"

        def stat_incoming(self, name):  # pragma: no cover - must not be called
            raise AssertionError("an S3 object is complete once listed")

    from explosion_monitor.buckets import DropObject

    slept = []
    objects = [
        DropObject("politie", "a.csv", 10, dt.datetime(2100, 1, 1, tzinfo=dt.UTC), "s3://politie/incoming/a.csv")
    ]
    assert stable_files([(S3Like(), objects)], sleep=slept.append) == [objects]
    assert slept == []


# --- hard links and other files that are not read ----------------------------------------------------------


def test_a_hard_linked_file_is_not_read_and_stays(db, tmp_path):
    path = drop("politie", "gekoppeld.csv", csv_bytes([politie_row(1)]))
    os.link(path, tmp_path / "elders.csv")
    (out,) = ingest_pending(["politie"])
    assert out.status == "refused" and "hard links" in out.message
    assert path.exists() and db.execute("select count(*) from raw.politie").fetchone()[0] == 0
    rows = db.execute("select object_key, status, message from ops.ledger").fetchall()
    assert [(k, s) for k, s, _ in rows] == [("gekoppeld.csv", "refused")] and "harde koppelingen" in rows[0][2]
    ingest_pending(["politie"])  # recorded once, not at every run
    assert db.execute("select count(*) from ops.ledger").fetchone()[0] == 1
    os.unlink(tmp_path / "elders.csv")  # the partner removes the other name: now it is a delivery
    (out,) = ingest_pending(["politie"])
    assert out.status == "loaded"


def test_symbolic_links_and_pipes_are_recorded_and_left(db, tmp_path):
    bucket = get_bucket("politie")
    bucket.ensure()
    target = tmp_path / "geheim.csv"
    target.write_bytes(csv_bytes([politie_row(1)]))
    os.symlink(target, bucket.root / "incoming" / "link.csv")
    os.mkfifo(bucket.root / "incoming" / "pijp.csv")
    outcomes = ingest_pending(["politie"])
    assert sorted((o.name, o.status) for o in outcomes) == [("link.csv", "refused"), ("pijp.csv", "refused")]
    messages = dict(db.execute("select object_key, message from ops.ledger").fetchall())
    assert "symbolic link" in messages["link.csv"] and "not a regular file" in messages["pijp.csv"]
    assert (bucket.root / "incoming" / "link.csv").is_symlink() and target.read_bytes()
    assert db.execute("select count(*) from raw.politie").fetchone()[0] == 0


def test_the_pipelines_own_interrupted_move_still_completes(db, monkeypatch):
    """A move links into archive/ before it unlinks incoming/: a retry of a file the ledger knows goes on."""
    from explosion_monitor import buckets as buckets_module

    bucket = get_bucket("politie")
    bucket.ensure()
    path = drop("politie", "a.csv", csv_bytes([politie_row(1)]))

    def broken(self, obj, file_id):
        raise buckets_module.BucketError("simulated: killed during the move")

    original = type(bucket).archive
    monkeypatch.setattr(type(bucket), "archive", broken)
    with pytest.raises(buckets_module.BucketError):
        ingest_pending(["politie"])
    monkeypatch.setattr(type(bucket), "archive", original)
    file_id = db.execute("select file_id from ops.ledger").fetchone()[0]
    half = bucket.root / "archive" / str(file_id) / "a.csv"
    half.parent.mkdir(parents=True)
    os.link(path, half)  # the first half of the killed move
    assert path.stat().st_nlink == 2
    (out,) = ingest_pending(["politie"])
    assert (out.status, out.message) == ("loaded", "archived on retry")
    assert not bucket.list_incoming() and half.exists()
    assert db.execute("select count(*) from raw.politie").fetchone()[0] == 1


# --- reports that help -----------------------------------------------------------------------------------------


def test_header_report_shows_what_was_found_and_names_the_agreed_columns():
    header = [
        "Incident ID",
        "Peildatum",
        "Incident datum",
        "Gemeente code",
        "postcode4",
        "doelwit",
        "uitkomst",
        "explosief",
        "Telt mee",
    ]
    data = csv_bytes([politie_row(1)], POLITIE_COLUMNS[:9], header=header, delimiter=";")
    text = report_text(ingest("politie", "weergave.csv", data))
    assert "Kopregel zoals gelezen (regel 1, eerste 20 namen): 'Incident ID', 'Peildatum'" in text
    assert "'Incident ID' → incident_id" in text and "'Telt mee' → telt_mee" in text
    assert "display names instead of the agreed column names" in text


def test_header_report_points_at_title_rows():
    data = b"Explosies export april 2025;;;\r\nGemaakt door: afdeling VTH;;;\r\n" + csv_bytes(
        [politie_row(1)], delimiter=";", newline="\r\n"
    )
    text = report_text(ingest("politie", "titel.csv", data))
    assert "'Explosies export april 2025'" in text
    assert "de kopregel lijkt op regel 3 te staan" in text and "the header seems to be on line 3" in text


def test_header_report_names_the_sheet_and_the_sheet_with_the_data():
    book = xlsx(
        ["Overzicht explosies 2025"],
        [["zie tabblad Data"]],
        sheets={"Data": [POLITIE_COLUMNS, [politie_row(1)[c] for c in POLITIE_COLUMNS]]},
    )
    text = report_text(ingest("politie", "werkmap.xlsx", book))
    assert "Gelezen werkblad: 'Export'" in text and "Sheet read: 'Export'" in text
    assert "werkblad 'Data'" in text and "sheet 'Data'" in text


def test_a_bad_sep_line_is_named():
    data = b"sep=|\nincident_id|peildatum\n"
    assert "sep=" in report_text(ingest("politie", "pijp.csv", data)).split("Contract:")[0]


def test_encoding_error_gives_line_and_byte():
    data = csv_bytes([politie_row(1), politie_row(2)]).replace(b"PL-2", b"PL-\x812")
    text = report_text(ingest("politie", "code.csv", data))
    head = len(data.split(b"\n")[0]) + 1 + len(data.split(b"\n")[1]) + 1
    assert f"first bad byte (0x81) is on line 3, byte {head + 4} of the file" in text
    assert "regel 3, byte" in text


def test_many_row_errors_open_with_counts_per_column_and_check():
    rows = [
        politie_row(i, telt_mee="misschien" if i % 2 else "ja", gewonden="-1" if i % 3 == 0 else "0")
        for i in range(1, 61)
    ]
    text = report_text(ingest("politie", "veel.csv", csv_bytes(rows)))
    summary = text.index("Fouten per kolom en controle / errors per column and check:")
    assert summary < text.index("Fouten per regel")
    assert "- 30 × kolom telt_mee: is geen ja/nee-waarde" in text
    assert "- 20 × kolom gewonden: mag niet negatief zijn" in text


# --- the new columns and feed ----------------------------------------------------------------------------------


def test_new_optional_columns_load(db):
    upper = pseudoniem(7).upper()
    rows = [
        politie_row(1, adres_pseudoniem=upper),
        politie_row(2, adres_pseudoniem=pseudoniem(7)),
        politie_row(3, adres_pseudoniem=""),
    ]
    assert ingest("politie", "p.csv", csv_bytes(rows, POLITIE_V2_COLUMNS)).status == "loaded"
    got = db.execute("select adres_pseudoniem, count(*) from raw.politie group by 1 order by 1").fetchall()
    assert got == [(pseudoniem(7), 2), (None, 1)]  # compared without regard to case: stored in lower case
    bad = ingest("politie", "p2.csv", csv_bytes([politie_row(4, adres_pseudoniem="abc")], POLITIE_V2_COLUMNS))
    assert bad.status == "quarantined" and "pseudoniem van 64" in report_text(bad)
    rows = [
        melding_row(1, terugkeer_datum="2024-12-01"),
        melding_row(2, terugkeer_datum="2024-10-01"),
        melding_row(3, terugkeer_datum="2025-03-01"),
    ]
    out = ingest("corporaties", "c.csv", csv_bytes(rows, CORPORATIES_V2_COLUMNS))
    text = report_text(out)  # before the incident (2024-11-02), and after the peildatum (2025-02-01)
    assert "terugkeer_datum ligt voor incident_datum" in text and "terugkeer_datum ligt na de peildatum" in text
    assert ingest("corporaties", "c2.csv", csv_bytes(rows[:1], CORPORATIES_V2_COLUMNS)).status == "loaded"


def test_the_measures_feed(db):
    rows = [
        maatregel_row(1),
        maatregel_row(1, postcode4="1013"),
        maatregel_row(1, postcode4=""),
        maatregel_row(2, postcode4="", ingetrokken="WAAR", eind_datum="2026-06-30"),
    ]
    out = ingest("gemeenten", "maatregelen.csv", csv_bytes(rows, GEMEENTEN_COLUMNS))
    assert (out.status, out.rows) == ("loaded", 4), out
    # an empty postcode4 is the whole municipality, and part of the key: twice is a duplicate
    dup = ingest(
        "gemeenten",
        "dubbel.csv",
        csv_bytes([maatregel_row(3, postcode4=""), maatregel_row(3, postcode4="")], GEMEENTEN_COLUMNS),
    )
    assert dup.status == "quarantined" and "komt vaker voor" in report_text(dup)
    bad = [
        maatregel_row(4, start_datum="2025-03-01"),  # after the peildatum
        maatregel_row(5, eind_datum="2024-01-01"),  # ends before it starts
        maatregel_row(6, omschrijving="x" * 501),
        maatregel_row(7, gemeente_code="GM0457", start_datum="2024-06-01"),  # Weesp: merged in 2022
        maatregel_row(8, soort="flitspaal"),
    ]
    text = report_text(ingest("gemeenten", "fout.csv", csv_bytes(bad, GEMEENTEN_COLUMNS)))
    for phrase in (
        "start_datum ligt na de peildatum",
        "eind_datum ligt voor start_datum",
        "langer dan 500 tekens",
        "kolom gemeente_code",
        "kolom soort",
    ):
        assert phrase in text, phrase
    assert get_contract("gemeenten").key == ("gemeente_code", "maatregel_id", "postcode4")
