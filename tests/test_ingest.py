"""Partner drops through a real bucket into a real PostgreSQL: every variant the contract allows
loads, every violation it implies is caught, and the report says which row, column and rule."""

from __future__ import annotations

import gzip
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from partner_files import (
    CORPORATIES_COLUMNS,
    POLITIE_COLUMNS,
    VERZEKERAARS_COLUMNS,
    claim_row,
    csv_bytes,
    dutch,
    melding_row,
    politie_row,
    xlsx_bytes,
)

from explosion_monitor.buckets import get_bucket
from explosion_monitor.ingest.pending import ingest_pending

pytestmark = pytest.mark.usefixtures("local_buckets", "warehouse_url")


def drop(feed: str, name: str, data: bytes) -> None:
    bucket = get_bucket(feed)
    bucket.ensure()
    bucket.put_incoming(name, data)


def ingest_one(feed: str, name: str, data: bytes):
    drop(feed, name, data)
    (outcome,) = [o for o in ingest_pending([feed]) if o.name == name]
    return outcome


def report_text(outcome) -> str:
    assert outcome.report_url, outcome
    return Path(urlsplit(outcome.report_url).path).read_text(encoding="utf-8")


def raw_count(db, feed: str) -> int:
    return db.execute(f"select count(*) from raw.{feed}").fetchone()[0]


# --- variants the contract allows ---------------------------------------------------------------


def test_semicolon_windows1252_dutch_dates_crlf(db):
    rows = [
        politie_row(1, peildatum=dutch("2025-01-15"), incident_datum=dutch("2024-03-01"), telt_mee="ja"),
        politie_row(2, peildatum="15-01-2025", incident_datum="2-3-2024", telt_mee="nee", doelwit="Bedrijf"),
    ]
    data = csv_bytes(rows, delimiter=";", encoding="cp1252", newline="\r\n")
    out = ingest_one("politie", "export é.csv", data)
    assert out.status == "loaded", out
    got = db.execute(
        "select incident_id, incident_datum::text, telt_mee, doelwit from raw.politie order by 1"
    ).fetchall()
    assert got == [("PL-1", "2024-03-01", True, "woning"), ("PL-2", "2024-03-02", False, "bedrijf")]


def test_utf8_bom_comma_iso_quoted_headers_free_order(db):
    # A quoted field may hold the delimiter; identifiers may not (contract v2), so it sits in an extra column.
    columns = [*reversed(POLITIE_COLUMNS), "opmerking"]
    header = [f"  {c.upper()} " for c in columns]
    rows = [
        politie_row(1, incident_id="PL/1", telt_mee="TRUE", opmerking="a, b"),
        politie_row(2, telt_mee="0", ingetrokken="", opmerking=""),
    ]
    data = b"\xef\xbb\xbf" + csv_bytes(rows, columns, header=header, quote_all=True)
    out = ingest_one("politie", "bom.csv", data)
    assert out.status == "loaded", out
    assert db.execute("select incident_id, telt_mee, ingetrokken from raw.politie order by 1").fetchall() == [
        ("PL-2", False, None),
        ("PL/1", True, False),
    ]


@pytest.mark.parametrize("yes,no", [("ja", "nee"), ("j", "n"), ("true", "false"), ("1", "0"), ("Ja", "NEE")])
def test_boolean_forms(db, yes, no):
    out = ingest_one("politie", "b.csv", csv_bytes([politie_row(1, telt_mee=yes), politie_row(2, telt_mee=no)]))
    assert out.status == "loaded", out
    assert db.execute("select telt_mee from raw.politie order by incident_id").fetchall() == [(True,), (False,)]


def test_decimal_comma_in_semicolon_file_and_point_in_both(db):
    rows = [claim_row(1, schade_geraamd_eur="1234,50", uitgekeerd_eur="0,5"), claim_row(2, schade_geraamd_eur="99.95")]
    out = ingest_one("verzekeraars", "c.csv", csv_bytes(rows, delimiter=";"))
    assert out.status == "loaded", out
    got = db.execute("select claim_id, schade_geraamd_eur::text, uitgekeerd_eur::text from raw.verzekeraars order by 1")
    assert got.fetchall() == [("C-1", "1234.50", "0.5"), ("C-2", "99.95", None)]


def test_unknown_column_is_a_warning_and_lf_trailing_blank_lines(db):
    rows = [politie_row(1) | {"opmerking": '=HYPERLINK("x")'}]
    data = csv_bytes(rows, POLITIE_COLUMNS + ["opmerking"]) + b"\n\n"
    out = ingest_one("politie", "extra.csv", data)
    assert out.status == "loaded" and out.rows == 1
    assert "opmerking" in out.message
    ledger = db.execute("select status, warning_count from ops.ledger").fetchone()
    assert ledger == ("loaded", 1)


def test_excel_empty_rows_are_skipped(db):
    data = csv_bytes([politie_row(1)], delimiter=";") + b";;;;;;;;;;;\n;;;;;;;;;;;\n"
    out = ingest_one("politie", "excel.csv", data)
    assert out.status == "loaded" and out.rows == 1
    assert "2 empty rows skipped" in out.message


def test_header_only_is_empty_and_loads_nothing(db):
    out = ingest_one("politie", "leeg.csv", ";".join(POLITIE_COLUMNS).encode() + b"\r\n")
    assert out.status == "empty"
    assert raw_count(db, "politie") == 0
    assert db.execute("select status from ops.ledger").fetchone() == ("empty",)


def test_xlsx_typed_cells(db):
    import datetime as dt

    rows = [
        [
            "VV1",
            "C-1",
            dt.datetime(2025, 2, 1),
            dt.date(2024, 12, 30),
            "GM0599",
            3011,
            "opstal",
            "explosie_opzet",
            None,
            1234.5,
            100,
            "afgehandeld",
            True,
        ]
    ]
    out = ingest_one("verzekeraars", "claims.xlsx", xlsx_bytes(VERZEKERAARS_COLUMNS, rows))
    assert out.status == "loaded", out
    got = db.execute(
        "select peildatum::text, schadedatum::text, postcode4, schade_geraamd_eur::text, uitgekeerd_eur::text, "
        "tijdelijke_huisvesting, _line_number from raw.verzekeraars"
    ).fetchone()
    assert got == ("2025-02-01", "2024-12-30", "3011", "1234.5", "100", True, 2)


def test_xlsx_text_cells_in_contract_forms(db):
    rows = [list(melding_row(1, peildatum="01-02-2025", herstelkosten_eur="1500,25", nazorg_aangeboden="j").values())]
    out = ingest_one("corporaties", "meldingen.xlsx", xlsx_bytes(CORPORATIES_COLUMNS, rows))
    # A decimal comma is only allowed in ;-delimited CSV, and an XLSX is not one.
    assert out.status == "quarantined"
    assert "herstelkosten_eur" in report_text(out)
    rows = [list(melding_row(1, peildatum="01-02-2025", herstelkosten_eur="1500.25", nazorg_aangeboden="j").values())]
    out = ingest_one("corporaties", "meldingen2.xlsx", xlsx_bytes(CORPORATIES_COLUMNS, rows))
    assert out.status == "loaded", out


def test_closure_end_may_lie_ahead(db):
    row = melding_row(1, sluiting="art13b_opiumwet", sluiting_start="2024-11-10", sluiting_eind="2099-05-10")
    assert ingest_one("corporaties", "sluiting.csv", csv_bytes([row])).status == "loaded"


# --- violations: each rule, with the report's content ----------------------------------------------

ROW_VIOLATIONS = [
    ("politie", politie_row(1, doelwit="woonhuis"), "doelwit", "woonhuis", "geen toegestane waarde"),
    ("politie", politie_row(1, incident_datum="31-02-2024"), "incident_datum", "31-02-2024", "bestaat niet als datum"),
    ("politie", politie_row(1, incident_datum="2024/03/01"), "incident_datum", "2024/03/01", "geen datum in de vorm"),
    ("politie", politie_row(1, telt_mee="misschien"), "telt_mee", "misschien", "geen ja/nee-waarde"),
    ("politie", politie_row(1, gewonden="-1"), "gewonden", "-1", "mag niet negatief zijn"),
    ("politie", politie_row(1, gewonden="1.000"), "gewonden", "1.000", "duizendtallen"),
    ("politie", politie_row(1, gewonden="1e309"), "gewonden", "1e309", "geen geheel getal"),
    ("politie", politie_row(1, gewonden="NaN"), "gewonden", "NaN", "geen geheel getal"),
    ("politie", politie_row(1, postcode4="1012 AB"), "postcode4", "1012 AB", "volledige postcode"),
    ("politie", politie_row(1, postcode4="12"), "postcode4", "12", "geen postcode van 4 cijfers"),
    ("politie", politie_row(1, gemeente_code="0363"), "gemeente_code", "0363", "geen CBS-gemeentecode"),
    ("politie", politie_row(1, gemeente_code="GM9999"), "gemeente_code", "GM9999", "geen bekende"),
    (
        "politie",
        politie_row(1, gemeente_code="GM0457", incident_datum="2024-05-01"),
        "gemeente_code",
        "GM0457",
        "niet meer geldig",
    ),
    (
        "politie",
        politie_row(1, incident_datum="2025-02-01"),
        "incident_datum",
        "2025-02-01",
        "incident_datum ligt na de peildatum",
    ),
    ("politie", politie_row(1, peildatum="2099-01-01"), "peildatum", "2099-01-01", "na de dag waarop het bestand"),
    ("politie", politie_row(1, incident_id=""), "incident_id", None, "verplicht veld is leeg"),
    ("politie", politie_row(1, incident_id="X" * 41), "incident_id", "X" * 41, "langer dan 40"),
    ("verzekeraars", claim_row(1, schade_geraamd_eur="1,234.50"), "schade_geraamd_eur", "1,234.50", "duizendtallen"),
    ("verzekeraars", claim_row(1, schade_geraamd_eur="12,50"), "schade_geraamd_eur", "12,50", "decimale komma"),
    ("verzekeraars", claim_row(1, schade_geraamd_eur="-5"), "schade_geraamd_eur", "-5", "niet negatief"),
    ("verzekeraars", claim_row(1, status="lopend"), "status", "lopend", "geen toegestane waarde"),
    ("verzekeraars", claim_row(1, schadedatum="2025-03-01"), "schadedatum", "2025-03-01", "schadedatum ligt na"),
    (
        "corporaties",
        melding_row(1, woningen_beschadigd="1", woningen_onbewoonbaar="2"),
        "woningen_onbewoonbaar",
        "2",
        "groter dan woningen_beschadigd",
    ),
    (
        "corporaties",
        melding_row(1, sluiting_start="2025-01-10", sluiting_eind="2025-01-01"),
        "sluiting_eind",
        "2025-01-01",
        "sluiting_eind ligt voor sluiting_start",
    ),
    ("corporaties", melding_row(1, nazorg_aangeboden=""), "nazorg_aangeboden", None, "verplicht veld is leeg"),
]


@pytest.mark.parametrize(
    "feed,bad,column,value,phrase", ROW_VIOLATIONS, ids=[f"{v[0]}-{v[2]}-{v[4][:20]}" for v in ROW_VIOLATIONS]
)
def test_row_violation_quarantines_whole_file(db, feed, bad, column, value, phrase):
    good = {"politie": politie_row, "verzekeraars": claim_row, "corporaties": melding_row}[feed](2)
    out = ingest_one(feed, "levering.csv", csv_bytes([good, bad]))
    assert out.status == "quarantined", out
    assert raw_count(db, feed) == 0, "nothing of a rejected file may load"
    report = report_text(out)
    shown = f'"{value}"' if value is not None else "(leeg)"
    assert f"regel 3, kolom {column}, waarde {shown}" in report, report
    assert phrase in report
    assert "GEWEIGERD" in report and "REJECTED" in report
    finding = db.execute(
        "select line_number, column_name from ops.file_findings where check_code <> 'file' order by seq"
    ).fetchall()
    assert (3, column) in finding
    # The partner's file is kept, byte for byte, next to its report.
    kept = Path(urlsplit(out.final_url).path)
    assert kept.read_bytes() == csv_bytes([good, bad])
    assert kept.parent == Path(urlsplit(out.report_url).path).parent


def test_merged_code_valid_before_merger(db):
    rows = [
        politie_row(1, gemeente_code="GM0457", incident_datum="2021-06-01"),
        politie_row(2, gemeente_code="GM0457", incident_datum="2022-03-23"),
    ]
    assert ingest_one("politie", "weesp.csv", csv_bytes(rows)).status == "loaded"
    out = ingest_one(
        "politie", "weesp2.csv", csv_bytes([politie_row(3, gemeente_code="GM0457", incident_datum="2022-03-24")])
    )
    assert out.status == "quarantined"
    assert "opgegaan in GM0363" in report_text(out)


def test_duplicate_key_in_file_including_trailing_spaces(db):
    rows = [politie_row(1, incident_id="PL-1"), politie_row(2), politie_row(3, incident_id="PL-1 ")]
    out = ingest_one("politie", "dubbel.csv", csv_bytes(rows, quote_all=True))
    assert out.status == "quarantined"
    report = report_text(out)
    assert "regel 4, kolom incident_id" in report and "komt vaker voor" in report and "regel/line 2" in report


FILE_VIOLATIONS = [
    ("zero.csv", b"", "leeg (0 bytes)"),
    ("bom.csv", b"\xef\xbb\xbf", "geen kopregel"),
    ("pdf.csv", b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", "is een PDF"),
    ("gz.csv", gzip.compress(b"incident_id,peildatum\n"), "gzip-archief"),
    ("page.csv", b"<!DOCTYPE html><html><body>404</body></html>", "HTML"),
    ("nul.csv", b"incident_id,peildatum\nPL\x00-1,2025-01-01\n", "NUL-bytes"),
    ("utf16.csv", "incident_id;peildatum\n".encode("utf-16"), "UTF-16"),
    (
        "missing.csv",
        csv_bytes([politie_row(1)], [c for c in POLITIE_COLUMNS if c != "uitkomst"]),
        "Verplichte kolom(men) ontbreken: uitkomst",
    ),
    (
        "dupheader.csv",
        csv_bytes([politie_row(1)], POLITIE_COLUMNS + ["incident_id"], header=POLITIE_COLUMNS + ["Incident_ID "]),
        "Dubbele kolomnamen",
    ),
    ("short.csv", csv_bytes([politie_row(1)]) + b"PL-9,2025-01-15\n", "minder velden"),
    ("long.csv", csv_bytes([politie_row(1)]) + b"a,b,c,d,e,f,g,h,i,j,k,l,m,n\n", "meer velden"),
    ("quote.csv", csv_bytes([politie_row(1)]) + b'"PL-2,2025-01-15\n', "aanhalingsteken"),
    ("tabs.csv", "\t".join(POLITIE_COLUMNS).encode() + b"\n", "scheidingsteken"),
    ("badbytes.csv", b"incident_id;peildatum\n\x81\x8d\x8f;x\n", "geen UTF-8 en geen Windows-1252"),
]


@pytest.mark.parametrize("name,data,phrase", FILE_VIOLATIONS, ids=[v[0] for v in FILE_VIOLATIONS])
def test_file_level_violation(db, name, data, phrase):
    out = ingest_one("politie", name, data)
    assert out.status == "quarantined", out
    assert phrase in report_text(out)
    assert raw_count(db, "politie") == 0


def test_xlsx_formula_is_reported(db):
    row = list(politie_row(1).values())
    out = ingest_one("politie", "formules.xlsx", xlsx_bytes(POLITIE_COLUMNS, [row], formulas=True))
    assert out.status == "quarantined"
    report = report_text(out)
    assert "formule" in report and '"\'=1+1"' in report


def test_xlsx_without_workbook_is_rejected(db):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("word/document.xml", "<w/>")
    out = ingest_one("politie", "doc.xlsx", buf.getvalue())
    assert out.status == "quarantined" and "geen geldig XLSX" in report_text(out)


def test_report_neutralises_formulas_and_caps_length(db):
    rows = [politie_row(i, doelwit="=cmd|' /C calc'!A0" if i == 1 else "@SUM(A1)") for i in range(1, 400)]
    out = ingest_one("politie", "veel.csv", csv_bytes(rows))
    report = report_text(out)
    assert "\"'=cmd|" in report and "\"'@SUM" in report
    assert '"=cmd' not in report and '"@SUM' not in report
    assert report.count("- regel ") == 200
    assert "en nog 199 fouten" in report
    assert out.errors == 399


# --- ledger behaviour ------------------------------------------------------------------------------


def test_byte_identical_redrop_is_a_duplicate_and_stays_findable(db):
    data = csv_bytes([politie_row(1), politie_row(2)])
    first = ingest_one("politie", "jan.csv", data)
    second = ingest_one("politie", "jan (1).csv", data)
    assert (first.status, second.status) == ("loaded", "duplicate")
    assert raw_count(db, "politie") == 2
    assert db.execute("select duplicate_of from ops.ledger where file_id = %s", (second.file_id,)).fetchone() == (
        first.file_id,
    )
    archived = {o.name for o in get_bucket("politie").list_archive()}
    assert {"jan.csv", "jan (1).csv"} <= archived
    assert not get_bucket("politie").list_incoming()


def test_same_name_new_content_is_a_new_drop(db):
    assert ingest_one("politie", "x.csv", csv_bytes([politie_row(1)])).status == "loaded"
    assert ingest_one("politie", "x.csv", csv_bytes([politie_row(1, peildatum="2025-04-15")])).status == "loaded"
    assert db.execute("select count(*) from ops.ledger where object_key = 'x.csv'").fetchone() == (2,)


def test_revision_keeps_every_version_with_lineage(db):
    jan = ingest_one("politie", "a.csv", csv_bytes([politie_row(1, doelwit="woning")]))
    apr = ingest_one(
        "politie", "b.csv", csv_bytes([politie_row(1, peildatum="2025-04-15", doelwit="bedrijf", ingetrokken="ja")])
    )
    got = db.execute(
        "select peildatum::text, doelwit, ingetrokken, _file_id, _line_number, _loaded_at is not null "
        "from raw.politie order by peildatum"
    ).fetchall()
    assert got == [
        ("2025-01-15", "woning", False, jan.file_id, 2, True),
        ("2025-04-15", "bedrijf", True, apr.file_id, 2, True),
    ]


def test_empty_file_ledger_and_status_cli(db, capsys):
    from explosion_monitor.cli import app

    ingest_one("politie", "ok.csv", csv_bytes([politie_row(1)]))
    ingest_one("politie", "kapot.csv", b"%PDF-")
    app(["status"], standalone_mode=False)
    shown = capsys.readouterr().out
    assert "ok.csv" in shown and "kapot.csv" in shown and "quarantined" in shown and "loaded" in shown
