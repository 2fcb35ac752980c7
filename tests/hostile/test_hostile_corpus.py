"""A generated corpus of hostile partner drops, each ingested through a real local bucket into a
real PostgreSQL (fixtures `local_buckets`, `warehouse_url`, `db` from tests/conftest.py).

Every case states the outcome the delivery contract (/work/shared/contracts/README.md) implies
and, for every case, the test checks the same invariants:

* `ingest_pending` returns (no exception escapes) with exactly one outcome of the expected status;
* a quarantined file has a report beside it that names the problem and holds no Python traceback;
* nothing of a rejected file reaches raw.*;
* the partner's bytes are kept byte-identical in archive/ or quarantine/, and incoming/ is empty;
* nothing was written outside the bucket root (the root's parent folder is snapshotted before and
  after) and every path under the root resolves inside it, with no symbolic links.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from partner_files import (
    CORPORATIES_COLUMNS,
    POLITIE_COLUMNS,
    VERZEKERAARS_COLUMNS,
    claim_row,
    csv_bytes,
    melding_row,
    politie_row,
    xlsx_bytes,
)

from explosion_monitor.buckets import get_bucket
from explosion_monitor.ingest.pending import ingest_pending

FEEDS = ("politie", "verzekeraars", "corporaties", "gemeenten")


# --- builders for hostile bytes ------------------------------------------------------------------


def good_politie(*rows: dict[str, str], **kw) -> bytes:
    return csv_bytes(list(rows) or [politie_row(1)], POLITIE_COLUMNS, **kw)


def excel_trailing_blank_columns() -> bytes:
    """Excel in a Dutch locale ends every line with ';;' when a column next to the data was once touched."""
    lines = good_politie(politie_row(1), politie_row(2), delimiter=";", newline="\r\n").split(b"\r\n")
    return b"\r\n".join(line + b";;" if line else line for line in lines)


def xlsx_blank_header_cells() -> bytes:
    row = politie_row(1)
    columns = [*POLITIE_COLUMNS[:3], None, *POLITIE_COLUMNS[3:], None]
    return xlsx_bytes(columns, [[row[c] if c else "" for c in columns]])


def stray_quote_then_lone_cr_after_a_long_record() -> bytes:
    """A quote inside an unquoted field is text (as pyarrow and Excel read it), so it must not hide a lone CR
    further on, also when a long record makes the reader work in segments (found by the fuzz run)."""
    lines = good_politie(*[politie_row(i) for i in range(6)]).split(b"\n")
    rows = [r for r in lines[1:] if r]
    rows[0] = rows[0].replace(b"PL-", b'PL-a"', 1)
    out = [lines[0] + b",extra"]
    out += [r + b"," + (b"z" * 2_000_000 if i == 2 else b"q") + (b"\r" if i == 4 else b"") for i, r in enumerate(rows)]
    return b"\n".join(out) + b"\n"


def header_only() -> bytes:
    return ",".join(POLITIE_COLUMNS).encode() + b"\n"


def ten_mb_single_line() -> bytes:
    # No newline at all: 10 MB that can never be a header.
    return b"incident_id," + b"A" * (10 * 1024 * 1024)


def ten_mb_field() -> bytes:
    # A valid header and one row whose incident_id is a single 10 MB field.
    return good_politie(politie_row(1, incident_id="X" * (10 * 1024 * 1024)))


def many_columns(with_contract_columns: bool) -> bytes:
    extra = [f"extra_{i}" for i in range(5000 - (len(POLITIE_COLUMNS) if with_contract_columns else 0))]
    columns = (POLITIE_COLUMNS if with_contract_columns else []) + extra
    row = politie_row(1) if with_contract_columns else {}
    return csv_bytes([row], columns)


def duplicate_header() -> bytes:
    header = POLITIE_COLUMNS + ["PEILDATUM"]
    columns = POLITIE_COLUMNS + ["peildatum"]
    return csv_bytes([politie_row(1)], columns, header=header)


def mixed_delimiters() -> bytes:
    # Header with ';', the rows with ','.
    head = ";".join(POLITIE_COLUMNS).encode() + b"\n"
    return head + b"".join(csv_bytes([politie_row(i)], POLITIE_COLUMNS).split(b"\n", 1)[1] for i in (1, 2))


def mixed_delimiters_per_row() -> bytes:
    # Comma file whose second data row was written with ';'.
    return good_politie(politie_row(1)) + csv_bytes([politie_row(2)], delimiter=";").split(b"\n", 1)[1]


def bom_but_cp1252() -> bytes:
    # The content declares UTF-8 (its BOM) but the bytes are Windows-1252.
    return b"\xef\xbb\xbf" + good_politie(politie_row(1, incident_id="PL-caf\u00e9"), encoding="cp1252")


def xml_declares_utf16() -> bytes:
    return b'<?xml version="1.0" encoding="UTF-16"?>\n' + good_politie()


def utf16_without_bom() -> bytes:
    return good_politie().decode().encode("utf-16-le")


def html_csv() -> bytes:
    return b"\xef\xbb\xbf  \r\n<html><head><title>Login</title></head><body>sessie verlopen</body></html>\n"


def gzip_csv() -> bytes:
    return gzip.compress(good_politie(politie_row(1), politie_row(2)))


def xlsx_valid() -> bytes:
    return xlsx_bytes(POLITIE_COLUMNS, [list(politie_row(1).values())])


def xlsx_formulas() -> bytes:
    return xlsx_bytes(POLITIE_COLUMNS, [list(politie_row(1).values())], formulas=True)


def xlsx_zip_bomb() -> bytes:
    """A real workbook whose first sheet is replaced by ~300 MB of (compressible) XML."""
    real = zipfile.ZipFile(io.BytesIO(xlsx_valid()))
    buf = io.BytesIO()
    chunk = b'<row><c t="inlineStr"><is><t>' + b"A" * 4000 + b"</t></is></c></row>"
    chunk = chunk * 256  # ~1 MB
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in real.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                target = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                target.compress_type = zipfile.ZIP_DEFLATED
                with out.open(target, "w", force_zip64=True) as fh:
                    fh.write(b'<?xml version="1.0"?><worksheet><sheetData>')
                    for _ in range(300):
                        fh.write(chunk)
                    fh.write(b"</sheetData></worksheet>")
            else:
                out.writestr(info, real.read(info.filename))
    return buf.getvalue()


def xlsx_without_sheets() -> bytes:
    """A real openpyxl workbook with its only <sheet> removed from xl/workbook.xml (and the sheet part)."""
    real = zipfile.ZipFile(io.BytesIO(xlsx_valid()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as out:
        for info in real.infolist():
            data = real.read(info.filename)
            if info.filename == "xl/workbook.xml":
                text = data.decode()
                stripped = re.sub(r"<sheet [^>]*/>", "", text)
                assert stripped != text
                stripped = re.sub(r"<definedNames>.*?</definedNames>", "", stripped, flags=re.S)
                data = stripped.encode()
            if info.filename == "xl/worksheets/sheet1.xml":
                continue
            out.writestr(info, data)
    return buf.getvalue()


def claims(**over: str) -> bytes:
    return csv_bytes([claim_row(2), claim_row(1, **over)], VERZEKERAARS_COLUMNS)


# --- the corpus ------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    make: Callable[[], bytes]
    expected: str  # loaded | empty | quarantined
    phrase: str = ""  # what the report must say (quarantined only)
    feed: str = "politie"
    name: str = "levering.csv"
    rows: int | None = None  # rows expected in raw.<feed> when loaded
    check: Callable[[object], None] | None = None  # extra assertion on the db connection
    marks: list = field(default_factory=list)


def _stored(column: str, expected: str, feed: str = "politie"):
    def check(db) -> None:
        got = [r[0] for r in db.execute(f"select {column} from raw.{feed}").fetchall()]
        assert expected in got, got

    return check


FORMULA = "=cmd|' /C calc'!A0"
EMOJI_RTL = "PL-\U0001f4a5-\u05e9\u05dc\u05d5\u05dd-\u0645\u0631\u062d\u0628\u0627"
LETTERS_ID = "Zaak-\u00e9\u00f8\u00df/2025.\u05e9\u05dc\u05d5\u05dd_1"  # letters of any script, digits and - _ . /

CASES: list[Case] = [
    # -- emptiness -------------------------------------------------------------------------------------
    Case("zero-bytes", lambda: b"", "quarantined", "0 bytes"),
    Case("header-only", header_only, "empty"),
    Case(
        "header-only-bom-crlf-semicolon",
        lambda: b"\xef\xbb\xbf" + ";".join(POLITIE_COLUMNS).encode() + b"\r\n",
        "empty",
    ),
    Case("only-bom", lambda: b"\xef\xbb\xbf", "quarantined", "kopregel"),
    Case("only-bom-and-blank-lines", lambda: b"\xef\xbb\xbf\r\n\r\n  \n", "quarantined", "kopregel"),
    # -- binary / not text -----------------------------------------------------------------------------
    Case("nul-bytes", lambda: good_politie().replace(b"PL-1", b"PL\x00-1"), "quarantined", "NUL"),
    Case("utf16-without-bom", utf16_without_bom, "quarantined", "NUL"),
    Case("gzip-renamed-csv", gzip_csv, "quarantined", "gzip"),
    Case("html-as-csv", html_csv, "quarantined", "HTML"),
    Case("xml-declaring-utf16", xml_declares_utf16, "quarantined", "XML"),
    # -- size ------------------------------------------------------------------------------------------
    Case("10mb-single-line", ten_mb_single_line, "quarantined", "64 kB"),
    Case("10mb-field", ten_mb_field, "quarantined", "is langer dan 40 tekens"),
    Case("10mb-field-report-names-row-and-column", ten_mb_field, "quarantined", "regel 2, kolom incident_id"),
    Case("5000-columns-no-contract-columns", lambda: many_columns(False), "quarantined", "Verplichte kolom"),
    # Unknown extra columns are a warning, never an error (contract), however many there are.
    Case("5000-columns-with-contract-columns", lambda: many_columns(True), "loaded", rows=1),
    # -- header / structure ----------------------------------------------------------------------------
    Case("duplicate-header-case-insensitive", duplicate_header, "quarantined", "Dubbele kolomnamen"),
    Case("excel-trailing-blank-columns", excel_trailing_blank_columns, "loaded", rows=2),
    Case("xlsx-blank-header-cells", xlsx_blank_header_cells, "loaded", rows=1),
    Case(
        "stray-quote-then-lone-cr-after-a-long-record",
        stray_quote_then_lone_cr_after_a_long_record,
        "quarantined",
        "(regel/line 6): Deze regel wisselt tussen CRLF- en LF-regeleinden",
    ),
    Case("mixed-delimiters-header-vs-rows", mixed_delimiters, "quarantined", "velden"),
    Case("mixed-delimiters-per-row", mixed_delimiters_per_row, "quarantined", "velden"),
    # -- encoding --------------------------------------------------------------------------------------
    Case("bom-declares-utf8-but-cp1252", bom_but_cp1252, "quarantined", "BOM"),
    Case(
        "cp1252-without-bom-is-fine",
        lambda: good_politie(politie_row(1, incident_id="PL-caf\u00e9"), encoding="cp1252"),
        "loaded",
        rows=1,
        check=_stored("incident_id", "PL-caf\u00e9"),
    ),
    Case(
        "undefined-cp1252-bytes", lambda: good_politie().replace(b"PL-1", b"PL-\x81\x8d"), "quarantined", "Windows-1252"
    ),
    # -- text content ----------------------------------------------------------------------------------
    # Contract v2: identifiers are 1-40 letters, digits and - _ . /; formulas, markup and templates are row errors.
    Case(
        "formula-in-id-is-a-row-error",
        lambda: good_politie(politie_row(1), politie_row(2, incident_id=FORMULA)),
        "quarantined",
        "\"'=cmd",
    ),
    Case(
        "formula-in-enum-is-neutralised-in-report",
        lambda: good_politie(politie_row(1), politie_row(2, doelwit='=HYPERLINK("http://x")')),
        "quarantined",
        "\"'=HYPERLINK",
    ),
    Case(
        "formula-plus-at-in-claim-ids",
        lambda: csv_bytes([claim_row(1, claim_id="+SUM(A1)", verzekeraar_code="@V")], VERZEKERAARS_COLUMNS),
        "quarantined",
        "geen geldige code",
        feed="verzekeraars",
    ),
    Case(
        "markup-in-melding-id",
        lambda: csv_bytes([melding_row(1, melding_id="<img src=x onerror=alert(1)>")], CORPORATIES_COLUMNS),
        "quarantined",
        "kolom melding_id",
        feed="corporaties",
    ),
    Case(
        "template-in-politie-incident-id",
        lambda: claims(politie_incident_id="{{7*7}}"),
        "quarantined",
        "kolom politie_incident_id",
        feed="verzekeraars",
    ),
    Case(
        "emoji-and-rtl-in-id",
        lambda: good_politie(politie_row(1, incident_id=EMOJI_RTL)),
        "quarantined",
        "geen geldige code",
    ),
    Case(
        "letters-of-any-script-in-id",
        lambda: good_politie(politie_row(1, incident_id=LETTERS_ID)),
        "loaded",
        rows=1,
        check=_stored("incident_id", LETTERS_ID),
    ),
    Case(
        "id-of-41-characters",
        lambda: good_politie(politie_row(1, incident_id="P" * 41)),
        "quarantined",
        "langer dan 40 tekens",
    ),
    Case(
        "control-char-in-id",
        lambda: good_politie(politie_row(1), politie_row(2, incident_id="PL-\x1b[31m2")),
        "quarantined",
        "stuurtekens",
    ),
    Case(
        "newline-inside-quoted-id",
        lambda: good_politie(politie_row(1, incident_id="PL-\n1")),
        "quarantined",
        "stuurtekens",
    ),
    # -- xlsx ------------------------------------------------------------------------------------------
    Case("xlsx-zip-bomb", xlsx_zip_bomb, "quarantined", "zip-bom", name="claims.xlsx"),
    Case("xlsx-no-sheets", xlsx_without_sheets, "quarantined", "XLSX", name="leeg.xlsx"),
    Case("xlsx-formulas-instead-of-values", xlsx_formulas, "quarantined", "formule", name="formules.xlsx"),
    Case("xlsx-renamed-csv", xlsx_valid, "loaded", name="eigenlijk-excel.csv", rows=1),
    Case("xlsx-without-extension", xlsx_valid, "loaded", name="export", rows=1),
    # -- dates and numbers -----------------------------------------------------------------------------
    Case(
        "date-31-02-2025",
        lambda: good_politie(politie_row(1, peildatum="31-02-2025")),
        "quarantined",
        "bestaat niet als datum",
    ),
    Case(
        "date-2025-02-29",
        lambda: good_politie(politie_row(1, incident_datum="2025-02-29")),
        "quarantined",
        "bestaat niet als datum",
    ),
    Case("integer-1e309", lambda: good_politie(politie_row(1, gewonden="1e309")), "quarantined", "geen geheel getal"),
    Case("integer-NaN", lambda: good_politie(politie_row(1, doden="NaN")), "quarantined", "geen geheel getal"),
    Case("integer-huge", lambda: good_politie(politie_row(1, gewonden="9" * 30)), "quarantined", "kolom gewonden"),
    Case(
        "decimal-1e309",
        lambda: claims(schade_geraamd_eur="1e309"),
        "quarantined",
        "kolom schade_geraamd_eur",
        feed="verzekeraars",
    ),
    Case(
        "decimal-NaN",
        lambda: claims(schade_geraamd_eur="NaN"),
        "quarantined",
        "kolom schade_geraamd_eur",
        feed="verzekeraars",
    ),
    Case(
        "decimal-Infinity",
        lambda: claims(uitgekeerd_eur="Infinity"),
        "quarantined",
        "kolom uitgekeerd_eur",
        feed="verzekeraars",
    ),
    # Contract v2: in a ;-file 12.500 is ambiguous (Dutch Excel's twelve thousand five hundred), a row error;
    # in a ,-file it is 12.5.
    Case(
        "ambiguous-12.500-in-semicolon-file",
        lambda: csv_bytes([claim_row(1, schade_geraamd_eur="12.500")], VERZEKERAARS_COLUMNS, delimiter=";"),
        "quarantined",
        "dubbelzinnig",
        feed="verzekeraars",
    ),
    Case(
        "12.500-in-comma-file-is-12.5",
        lambda: claims(schade_geraamd_eur="12.500"),
        "loaded",
        feed="verzekeraars",
        rows=2,
        check=_stored("schade_geraamd_eur::text", "12.500", "verzekeraars"),
    ),
    # -- keys ------------------------------------------------------------------------------------------
    Case(
        "key-trailing-space",
        lambda: good_politie(politie_row(1, incident_id="PL-1"), politie_row(2, incident_id="PL-1 "), quote_all=True),
        "quarantined",
        "komt vaker voor",
    ),
    Case(
        "composite-key-leading-space",
        lambda: csv_bytes(
            [claim_row(1), claim_row(1, verzekeraar_code=" VV0101")], VERZEKERAARS_COLUMNS, quote_all=True
        ),
        "quarantined",
        "komt vaker voor",
        feed="verzekeraars",
    ),
    # -- hostile file names (valid and invalid content) ------------------------------------------------
    Case("name-dotdot-traversal", good_politie, "loaded", name="../../../../escape.csv", rows=1),
    Case("name-dotdot-traversal-rejected", lambda: b"%PDF-1.7", "quarantined", "PDF", name="../../../tmp/evil.csv"),
    Case("name-absolute", good_politie, "loaded", name="/etc/passwd", rows=1),
    Case("name-only-dotdot", good_politie, "loaded", name="..", rows=1),
    Case("name-quotes-semicolon", lambda: b"", "quarantined", "0 bytes", name="a\"b';DROP TABLE raw.politie;--.csv"),
    Case("name-newline", good_politie, "loaded", name="jan\nfeb\r.csv", rows=1),
    Case("name-newline-rejected", gzip_csv, "quarantined", "gzip", name="regel\n1.csv"),
    Case(
        "name-non-ascii", good_politie, "loaded", name="levering \u00e9\u00fc\u6771\u4eac \U0001f4a5 \u05e9.csv", rows=1
    ),
    Case(
        "name-rtl-override",
        lambda: good_politie(politie_row(1, gewonden="x")),
        "quarantined",
        "kolom gewonden",
        name="rapport\u202etxt.exe.csv",
    ),
    Case("name-long-rejected", lambda: b"<html></html>", "quarantined", "HTML", name="x" * 250 + ".csv"),
    Case("name-subfolder-with-nul", header_only, "empty", name="sub/dir/na\x00me.csv"),
]


# --- invariants ------------------------------------------------------------------------------------


def snapshot(folder: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every path under `folder` except `skip`, with its size and mtime."""
    out: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        if Path(dirpath) == folder:
            dirnames[:] = [d for d in dirnames if Path(dirpath, d) != skip]
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


def assert_all_inside(root: Path) -> None:
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            assert not os.path.islink(p), f"symbolic link in the bucket: {p!r}"
            real = os.path.realpath(p)
            assert real == real_root or real.startswith(real_root + os.sep), f"{p!r} resolves outside {real_root!r}"


def url_path(url: str) -> Path:
    """The local path of a file:// URL, taken literally (urlsplit would drop a newline in a name)."""
    assert url.startswith("file://"), url
    return Path(url[len("file://") :])


def raw_total(db) -> int:
    return sum(db.execute(f"select count(*) from raw.{feed}").fetchone()[0] for feed in FEEDS)


def _params():
    return [pytest.param(c, id=c.id, marks=c.marks) for c in CASES]


def test_corpus_is_big_enough():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", _params())
def test_hostile_drop(case: Case, local_buckets: str, db) -> None:
    data = case.make()
    root = Path(urlsplit(local_buckets).path)
    parent = root.parent
    bucket = get_bucket(case.feed)
    bucket.ensure()
    before = snapshot(parent, root)

    bucket.put_incoming(case.name, data)
    # No exception may escape: a hostile file is an outcome, never a crash.
    outcomes = ingest_pending(list(FEEDS))

    assert len(outcomes) == 1, outcomes
    (out,) = outcomes
    assert out.feed == case.feed
    assert out.status == case.expected, out

    # The partner's bytes, kept byte-identical where the outcome says, and nothing left in incoming/.
    assert out.final_url and out.final_url.startswith("file://"), out
    kept = url_path(out.final_url)
    area = "quarantine" if case.expected == "quarantined" else "archive"
    assert kept.is_relative_to(bucket.root / area), (kept, bucket.root)
    assert kept.read_bytes() == data
    assert not bucket.list_incoming()

    if case.expected == "quarantined":
        assert out.report_url, out
        report_path = url_path(out.report_url)
        assert report_path.parent == kept.parent
        assert report_path.is_relative_to(bucket.root / "quarantine")
        report = report_path.read_text(encoding="utf-8")
        assert "Traceback" not in report and 'File "' not in report, report
        assert "GEWEIGERD" in report and "REJECTED" in report
        assert case.phrase in report, report
        assert raw_total(db) == 0, "nothing of a rejected file may load"
        assert db.execute("select status from ops.ledger where file_id = %s", (out.file_id,)).fetchone() == (
            "quarantined",
        )
    else:
        assert out.report_url is None
        expected_rows = 0 if case.expected == "empty" else case.rows
        assert out.rows == expected_rows
        assert db.execute(f"select count(*) from raw.{case.feed}").fetchone()[0] == expected_rows
        assert raw_total(db) == expected_rows
        if case.check:
            case.check(db)

    # Nothing written outside the bucket root, and every path under it stays inside.
    after = snapshot(parent, root)
    assert after == before, {"added": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after))}
    assert_all_inside(root)
