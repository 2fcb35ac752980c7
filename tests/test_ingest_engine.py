"""The streaming engine behind the ingest: batches, the binary COPY, duplicate keys, CSV structure.

Batch and chunk sizes are shrunk here so that a file of a few hundred rows crosses many
batch boundaries; the behaviour must not depend on where a batch ends.
"""

from __future__ import annotations

import datetime as dt
import decimal
import random
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from partner_files import POLITIE_COLUMNS, claim_row, csv_bytes, politie_row, xlsx_bytes

from explosion_monitor.buckets import get_bucket
from explosion_monitor.contracts import get_contract
from explosion_monitor.ingest import batches, keys, load
from explosion_monitor.ingest.arrays import from_values, strings, with_validity
from explosion_monitor.ingest.pending import ingest_pending
from explosion_monitor.ingest.pgcopy import SIGNATURE, TRAILER, Encoder, Field
from explosion_monitor.ingest.sniff import inspect

pytestmark = pytest.mark.usefixtures("local_buckets", "warehouse_url")


@pytest.fixture
def small_batches(monkeypatch):
    """Blocks of 1 KiB, batches of 2 KiB (~20 rows), XLSX batches of 7 rows, 16 key hashes in memory."""
    monkeypatch.setattr(batches, "BLOCK_SIZE", 1 << 10)
    monkeypatch.setattr(batches, "BATCH_BYTES", 1 << 11)
    monkeypatch.setattr(batches, "CHUNK", 1000)
    monkeypatch.setattr(batches, "XLSX_BATCH_ROWS", 7)
    monkeypatch.setattr(keys, "BUFFERED", 16)


def ingest_one(feed: str, name: str, data: bytes):
    bucket = get_bucket(feed)
    bucket.ensure()
    bucket.put_incoming(name, data)
    (outcome,) = [o for o in ingest_pending([feed]) if o.name == name]
    return outcome


def report_text(outcome) -> str:
    return Path(urlsplit(outcome.report_url).path).read_text(encoding="utf-8")


def raw_count(db, feed: str = "politie") -> int:
    return db.execute(f"select count(*) from raw.{feed}").fetchone()[0]


def rows(n: int, **over) -> list[dict[str, str]]:
    return [politie_row(i, **over) for i in range(1, n + 1)]


# --- batch boundaries ------------------------------------------------------------------------------


def test_valid_file_across_many_batches_loads_every_row_once(db, small_batches, tmp_path):
    data = csv_bytes(rows(300))
    path = tmp_path / "groot.csv"
    path.write_bytes(data)
    assert len(list(batches.open_source(path, inspect(path, get_contract("politie")), None).batches())) > 10
    out = ingest_one("politie", "groot.csv", data)
    assert (out.status, out.rows) == ("loaded", 300)
    got = db.execute(
        "select count(*), count(distinct incident_id), min(_line_number), max(_line_number), "
        "count(distinct _line_number) from raw.politie"
    ).fetchone()
    assert got == (300, 300, 2, 301, 300)
    # Each row kept its own line: PL-i is on line i + 1.
    assert db.execute(
        "select count(*) from raw.politie where incident_id <> 'PL-' || (_line_number - 1)"
    ).fetchone() == (0,)


def test_error_in_a_late_batch_rolls_back_everything(db, small_batches):
    data = rows(300)
    data[250]["gewonden"] = "veel"  # line 252, far past the first batches
    out = ingest_one("politie", "laat.csv", csv_bytes(data))
    assert out.status == "quarantined" and out.errors == 1
    assert raw_count(db) == 0
    report = report_text(out)
    assert 'regel 252, kolom gewonden, waarde "veel": is geen geheel getal' in report
    assert db.execute("select line_number, column_name, check_code from ops.file_findings").fetchall() == [
        (252, "gewonden", "integer")
    ]


def test_errors_in_many_batches_are_all_counted(db, small_batches, monkeypatch):
    monkeypatch.setattr(load, "STORED_FINDINGS", 25)
    data = rows(300)
    for i in range(0, 300, 3):
        data[i]["doelwit"] = "woonhuis"
    out = ingest_one("politie", "veel.csv", csv_bytes(data))
    assert out.status == "quarantined" and out.errors == 100
    stored = db.execute("select line_number from ops.file_findings order by seq").fetchall()
    assert [line for (line,) in stored] == list(range(2, 2 + 3 * 25, 3))


def test_duplicate_keys_in_distant_batches(db, small_batches):
    data = rows(300)
    data[280]["incident_id"] = "PL-5"  # line 282 repeats line 6
    out = ingest_one("politie", "dubbel.csv", csv_bytes(data))
    assert out.status == "quarantined" and raw_count(db) == 0
    report = report_text(out)
    assert "regel 282, kolom incident_id" in report and "(regel/line 6)" in report
    assert out.errors == 1


def test_duplicate_composite_key_and_a_near_miss(db, small_batches):
    data = [claim_row(i) for i in range(1, 60)]
    data.append(claim_row(7))  # the same (verzekeraar_code, claim_id) as line 8
    data.append(claim_row(8, verzekeraar_code="VV0102"))  # same claim_id, another insurer: fine
    out = ingest_one("verzekeraars", "claims.csv", csv_bytes(data))
    assert out.status == "quarantined"
    findings = db.execute("select line_number, column_name, value from ops.file_findings").fetchall()
    assert findings == [(61, "verzekeraar_code+claim_id", "VV0101 / C-7")]


def test_key_hashes_find_only_real_duplicates():
    with keys.KeyHashes() as hashes:
        hashes.add([strings(["a", "ab", "a b", "ab ", "é", "e", "x" * 9, "x" * 8])])
        hashes.add([strings([f"K-{i}" for i in range(5000)])])
        assert not hashes.possible_duplicates()
    with keys.KeyHashes() as hashes:
        hashes.add([strings(["a", "b"]), strings(["b", "a"])])
        assert not hashes.possible_duplicates()
        hashes.add([strings(["b"]), strings(["a"])])
        assert hashes.possible_duplicates()


def test_key_hashes_spill_to_disk(monkeypatch):
    monkeypatch.setattr(keys, "BUFFERED", 100)
    with keys.KeyHashes() as hashes:
        for start in range(0, 1000, 90):
            hashes.add([strings([f"K-{i}" for i in range(start, start + 90)])])
        hashes.add([strings(["K-17"])])
        assert hashes.possible_duplicates()


# --- CSV structure -------------------------------------------------------------------------------


def test_quoted_newlines_keep_record_numbers(db, small_batches):
    data = rows(40)
    for i in (8, 28):  # a note over two lines in an unknown column: still one record each
        data[i]["opmerking"] = 'twee\nregels, en "quotes"'
    out = ingest_one("politie", "notities.csv", csv_bytes(data, POLITIE_COLUMNS + ["opmerking"]))
    assert (out.status, out.rows) == ("loaded", 40), out
    assert db.execute("select max(_line_number) from raw.politie").fetchone() == (41,)
    assert db.execute("select _line_number from raw.politie where incident_id = 'PL-30'").fetchone() == (31,)


def test_quoted_newline_in_a_value_is_a_cell_error_with_its_record_line(db, small_batches):
    data = rows(40)
    data[30]["incident_id"] = "PL\n31"
    out = ingest_one("politie", "nl.csv", csv_bytes(data))
    assert out.status == "quarantined"
    assert "regel 32, kolom incident_id" in report_text(out) and "stuurtekens" in report_text(out)


def test_excel_empty_rows_across_batches_are_skipped(db, small_batches):
    body = csv_bytes(rows(60), delimiter=";", newline="\r\n").decode("utf-8").split("\r\n")
    empty = ";" * (len(POLITIE_COLUMNS) - 1)
    body[15:15] = [empty, " ;\t; ;;;;;;;;;"]
    body[40:40] = [empty]
    out = ingest_one("politie", "excel.csv", "\r\n".join(body).encode())
    assert (out.status, out.rows) == ("loaded", 60), out
    assert "3 empty rows skipped" in out.message
    # Lines count the skipped rows: the last record (PL-60) is on line 64.
    assert db.execute("select _line_number from raw.politie where incident_id = 'PL-60'").fetchone() == (64,)


def test_empty_line_inside_the_file_is_skipped_like_an_empty_row(db, small_batches):
    text = csv_bytes(rows(30)).decode()
    lines = text.split("\n")
    lines.insert(12, "")
    out = ingest_one("politie", "gat.csv", "\n".join(lines).encode())
    assert (out.status, out.rows) == ("loaded", 30), out
    assert "1 empty rows skipped" in out.message


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_mixed_line_endings_after_the_first_chunk(db, small_batches, newline):
    text = csv_bytes(rows(80), newline=newline).decode()
    lines = text.split(newline)
    other = "\r\n" if newline == "\n" else "\n"
    data = newline.join(lines[:70]) + other + newline.join(lines[70:])
    out = ingest_one("politie", "mix.csv", data.encode())
    assert out.status == "quarantined"
    report = report_text(out)
    assert "Bestandsfout (regel/line 70): Deze regel wisselt tussen CRLF- en LF-regeleinden." in report


def test_crlf_file_with_line_feeds_inside_quotes_loads(db, small_batches):
    # Excel writes CRLF records, and a line break typed inside a cell as a lone LF within quotes.
    data = rows(50)
    for i in range(0, 50, 7):
        data[i]["opmerking"] = "regel een\nregel twee"
    out = ingest_one("politie", "alt_enter.csv", csv_bytes(data, POLITIE_COLUMNS + ["opmerking"], newline="\r\n"))
    assert (out.status, out.rows) == ("loaded", 50), out


def test_quote_open_at_the_end_of_the_file(db):
    # The last, unknown field opens a quote that never closes.
    data = csv_bytes(rows(3), POLITIE_COLUMNS + ["x"]).rstrip(b"\n") + b'"nee\n'
    out = ingest_one("politie", "open.csv", data)
    assert out.status == "quarantined", out
    assert "Bestandsfout (regel/line 4): Deze regel heeft een aanhalingsteken dat niet wordt gesloten." in report_text(
        out
    )


def test_quote_inside_a_value_is_a_character(db):
    # As in Excel and Python's csv: only a quote at the start of a field opens a quoted field.
    data = csv_bytes(rows(2)).replace(b",0,,nee\n", b",0,,nee\n", 1).replace(b"PL-1,", b'PL-1",', 1)
    out = ingest_one("politie", "inch.csv", data)
    # The quote is read as part of the value; contract v2 allows no quote in an identifier, so the row
    # error names the value with its quote (and nothing else went wrong with the file's structure).
    assert (out.status, out.rows) == ("quarantined", 0), out
    assert 'regel 2, kolom incident_id, waarde "PL-1\\""' in report_text(out) or 'waarde "PL-1""' in report_text(out)
    assert "Bestandsfout" not in report_text(out)


def test_too_many_fields_in_a_late_batch(db, small_batches):
    text = csv_bytes(rows(120)).decode().split("\n")
    text[100] += ",extra"
    out = ingest_one("politie", "lang.csv", "\n".join(text).encode())
    assert out.status == "quarantined" and raw_count(db) == 0
    assert "Bestandsfout (regel/line 101): Deze regel heeft meer velden dan de kopregel." in report_text(out)


def test_structure_error_wins_over_earlier_row_errors(db, small_batches):
    data = rows(100)
    data[3]["telt_mee"] = "misschien"
    text = csv_bytes(data).decode().split("\n")
    text[90] = "PL-91,2025-01-15"
    out = ingest_one("politie", "beide.csv", "\n".join(text).encode())
    assert out.status == "quarantined"
    assert "Bestandsfout (regel/line 91)" in report_text(out)


def test_windows_1252_semicolon_dutch_across_batches(db, small_batches):
    data = rows(200, peildatum="15-01-2025", incident_datum="1-3-2024", telt_mee="Ja")
    data[150]["incident_id"] = "PL-é"
    out = ingest_one("politie", "nl.csv", csv_bytes(data, delimiter=";", encoding="cp1252", newline="\r\n"))
    assert (out.status, out.rows) == ("loaded", 200), out
    assert db.execute("select incident_datum, telt_mee from raw.politie where incident_id = 'PL-é'").fetchone() == (
        dt.date(2024, 3, 1),
        True,
    )


def test_required_columns_empty_in_every_row(db, small_batches):
    data = rows(30, gemeente_code="", peildatum="  ", doden="")
    out = ingest_one("politie", "leeg.csv", csv_bytes(data))
    assert out.status == "quarantined" and out.errors == 60
    report = report_text(out)
    assert "regel 2, kolom gemeente_code, waarde (leeg): verplicht veld is leeg" in report
    assert "regel 31, kolom peildatum, waarde (leeg): verplicht veld is leeg" in report


# --- XLSX ----------------------------------------------------------------------------------------


def test_xlsx_across_batches_with_blank_rows_and_an_error(db, small_batches):
    body = [list(r.values()) for r in rows(40)]
    body.insert(10, [None] * len(POLITIE_COLUMNS))
    body[35][POLITIE_COLUMNS.index("doelwit")] = "huis"
    out = ingest_one("politie", "blad.xlsx", xlsx_bytes(POLITIE_COLUMNS, body))
    assert out.status == "quarantined"
    # The sheet's own row numbers: the header is row 1, the blank row 12 still counts.
    assert "regel 37, kolom doelwit" in report_text(out)
    body[35][POLITIE_COLUMNS.index("doelwit")] = "woning"
    out = ingest_one("politie", "blad2.xlsx", xlsx_bytes(POLITIE_COLUMNS, body))
    assert (out.status, out.rows) == ("loaded", 40), out


# --- raw's lineage without a foreign key (no per-row trigger, no superuser needed) -------------------------


def test_raw_has_no_per_row_trigger_and_a_used_ledger_row_cannot_go(db, warehouse_url):
    out = ingest_one("politie", "a.csv", csv_bytes(rows(3)))
    assert out.status == "loaded"
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        # nothing fires per row during the COPY: no foreign key, no trigger on raw (issue 12: no superuser needed)
        assert (
            conn.execute(
                "select count(*) from pg_trigger where tgrelid = any(array['raw.politie'::regclass, "
                "'raw.verzekeraars'::regclass, 'raw.corporaties'::regclass])"
            ).fetchone()[0]
            == 0
        )
        # the ledger row of loaded rows stays: deleting or renumbering it is refused
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("delete from ops.ledger where file_id = %s", (out.file_id,))
        # a ledger row without raw rows may still go (a quarantined file's, say)
        quarantined = ingest_one("politie", "b.csv", b"incident_id\nx\n")
        assert quarantined.status == "quarantined"
        conn.execute("delete from ops.file_findings where file_id = %s", (quarantined.file_id,))
        assert conn.execute("delete from ops.ledger where file_id = %s", (quarantined.file_id,)).rowcount == 1


# --- the binary COPY encoder -----------------------------------------------------------------------


@pytest.mark.parametrize("dictionary", [False, True], ids=["plain", "dictionary"])
def test_binary_copy_matches_postgres_text_input(db, dictionary):
    rng = random.Random(7)
    n = 500

    def maybe(value):
        return None if rng.random() < 0.2 else value

    texts = [maybe("".join(rng.choice("aé😀 ,\"'\\x") for _ in range(rng.randint(0, 12)))) for _ in range(n)]
    codes = [f"GM{rng.randint(0, 9999):04d}" for _ in range(n)]  # one length: written as a fixed piece
    dates = [maybe(dt.date(1990, 1, 1) + dt.timedelta(days=rng.randint(0, 40000))) for _ in range(n)]
    ints = [maybe(rng.randint(0, 999_999_999)) for _ in range(n)]
    bools = [maybe(rng.random() < 0.5) for _ in range(n)]
    nums = [
        maybe(
            str(rng.randint(0, 10 ** rng.randint(1, 21)))
            + (f".{rng.randint(0, 10 ** rng.randint(1, 6))}" if rng.random() < 0.5 else "")
        )
        for _ in range(n)
    ]
    nothing = [None] * n

    def arrow(values, type_):
        valid = np.array([v is not None for v in values])
        if type_ == pa.string():
            arr = with_validity(strings([v or "" for v in values]), valid)
            return pc.dictionary_encode(arr) if dictionary else arr
        if type_ == pa.date32():
            data = np.array([(v - dt.date(1970, 1, 1)).days if v else 0 for v in values], np.int32)
        elif type_ == pa.bool_():
            data = np.array([bool(v) for v in values])
        else:
            data = np.array([v or 0 for v in values], np.int32)
        return from_values(data, type_, valid)

    fields = [
        Field("t", "text"),
        Field("c", "text"),
        Field("d", "date"),
        Field("i", "int4"),
        Field("b", "bool"),
        Field("n", "numeric"),
        Field("k", "int8"),
        Field("a", "timestamptz"),
        Field("z", "text"),
    ]
    arrived = dt.datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    columns = [
        arrow(texts, pa.string()),
        arrow(codes, pa.string()),
        arrow(dates, pa.date32()),
        arrow(ints, pa.int32()),
        arrow(bools, pa.bool_()),
        arrow(nums, pa.string()),
        42,
        arrived,
        arrow(nothing, pa.string()),
    ]
    data = Encoder(fields).encode(columns, n)
    with db.cursor() as cur:
        cur.execute(
            "create temp table enc (seq serial, t text, c text, d date, i int, b bool, n numeric, k bigint, "
            "a timestamptz, z text)"
        )
        with cur.copy("copy enc (t, c, d, i, b, n, k, a, z) from stdin (format binary)") as copy:
            copy.write(SIGNATURE)
            copy.write(data)
            copy.write(TRAILER)
        got = cur.execute("select t, c, d, i, b, n::text, k, a, z from enc order by seq").fetchall()
    expected = [
        (t, c, d, i, b, str(decimal.Decimal(x)) if x is not None else None, 42, arrived, None)
        for t, c, d, i, b, x in zip(texts, codes, dates, ints, bools, nums, strict=True)
    ]
    assert got == expected
