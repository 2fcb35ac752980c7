"""Hypothesis strategies for partner drops, and the property every drop must satisfy.

Shared by tests/test_fuzz.py and bench/reliability/fuzz.py. Besides arbitrary bytes, the
strategies start from files that follow the contract (tests/partner_files.py) and bend them:
hostile cell values, shuffled, doubled or renamed headers, other delimiters, encodings and line
endings, and byte-level damage (flips, inserted NULs, quotes, delimiters, CRs and BOMs,
truncation). Most examples so get past the sniffer and into the parser and the checks.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from hypothesis import strategies as st
from partner_files import (
    CORPORATIES_V2_COLUMNS,
    GEMEENTEN_COLUMNS,
    POLITIE_V2_COLUMNS,
    VERZEKERAARS_COLUMNS,
    claim_row,
    dutch,
    maatregel_row,
    melding_row,
    politie_row,
    pseudoniem,
    xlsx_bytes,
)

from explosion_monitor.config import FEEDS
from explosion_monitor.contracts import get_contract
from explosion_monitor.ingest import batches, keys
from explosion_monitor.ingest.check import Verdict, check_file


def _politie_v2(i: int = 1, **over: str) -> dict[str, str]:
    return politie_row(i, **{"adres_pseudoniem": pseudoniem(i % 3), **over})


def _melding_v2(i: int = 1, **over: str) -> dict[str, str]:
    return melding_row(i, **{"terugkeer_datum": "2024-12-01", **over})


# Contract version 2 files: every column, the new optional ones included.
ROWS = {"politie": _politie_v2, "verzekeraars": claim_row, "corporaties": _melding_v2, "gemeenten": maatregel_row}
COLUMNS = {
    "politie": POLITIE_V2_COLUMNS,
    "verzekeraars": VERZEKERAARS_COLUMNS,
    "corporaties": CORPORATIES_V2_COLUMNS,
    "gemeenten": GEMEENTEN_COLUMNS,
}
KEY_PREFIX = {
    "politie": "incident_id",
    "verzekeraars": "claim_id",
    "corporaties": "melding_id",
    "gemeenten": "maatregel_id",
}
# Identifiers: letters of any script, digits and - _ . / (contract v2).
IDENTIFIER_CHARS = st.sampled_from(
    "abcxyzABCXYZ0123456789-_./\u00e9\u00f8\u00df\u00c5\u00e7\u00f1\u0448\u03bb\u05e9\u0645"
)
# A fixed arrival day keeps the date rules (peildatum not after arrival) independent of the clock.
ARRIVED_AT = dt.datetime(2025, 6, 2, 9, 30, tzinfo=dt.UTC)

BOM = b"\xef\xbb\xbf"
HOSTILE_VALUES = [
    "",
    " ",
    "\u00a0",
    "1e309",
    "-1e309",
    "NaN",
    "nan",
    "Infinity",
    "-0",
    "0x1F",
    "1_000",
    "١٢٣",
    "31-02-2025",
    "2025-02-29",
    "29-02-2024",
    "2024-13-01",
    "0-0-0",
    "2024-063-",
    "16/04/2025",
    "0001-01-01",
    "9999-12-31",
    "2025-04-16T10:00:00",
    "1.234,50",
    "1,234.50",
    "12,5",
    "12.5",
    "99999999999",
    "-5",
    "+5",
    "ja",
    "NEE",
    "True",
    "j",
    "2",
    "yes",
    "GM0363",
    "gm0363",
    "GM0457",
    "GM9999",
    "GM36",
    "1012 AB",
    "0123",
    "=1+1",
    "+SUM(A1)",
    "@cmd",
    "-2+3",
    "\U0001f4a5",
    "\u202e\u05e9\u05dc\u05d5\u05dd",
    "\u0645\u0631\u062d\u0628\u0627",
    "\ufeff",
    "\t",
    "\n",
    "\r",
    "\r\n",
    '"',
    '""',
    ",",
    ";",
    "a\x1bb",
    "\x7f",
    "\u0085",
    "X" * 41,
    "X" * 201,
    "woning",
    "afgegaan",
    "explosie_opzet",
    "open",
    "art174a_gemeentewet",
]
INSERTS = [b"\x00", b'"', b'""', b",", b";", b"\r", b"\n", b"\r\n", BOM, b"\xff", b"\xe2\x82", b"\x81", b"\x80", b" "]
FORBIDDEN = re.compile(
    r"Traceback|File \"|pyarrow|Arrow[A-Z]|straddl|block size|\b[A-Z][A-Za-z]*(Error|Exception)\b|BadZipFile|errno"
    r"|<[a-z_.]+ object at 0x"
)
# Shrunk so that small files cross many block, batch and chunk boundaries.
SMALL_SIZES = {"BLOCK_SIZE": 1 << 9, "BATCH_BYTES": 1 << 10, "CHUNK": 700, "XLSX_BATCH_ROWS": 3}


@dataclass
class Drop:
    feed: str
    data: bytes
    name: str = "levering.csv"
    rows: int | None = None  # rows it must load, when known to be valid

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 300 else self.data[:300] + b"..."
        return f"Drop({self.feed!r}, {shown!r} ({len(self.data)} bytes), name={self.name!r})"


# --- building files ---------------------------------------------------------------------------------


def csv_text(header: list[str], rows: list[list[str]], delimiter: str, newline: str, quote_all: bool) -> str:
    def field(value: str) -> str:
        if quote_all or any(ch in value for ch in (delimiter, '"', "\n", "\r")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(delimiter.join(field(v) for v in line) + newline for line in [header, *rows])


def encode(text: str, encoding: str) -> bytes:
    if encoding == "cp1252":
        return text.encode("cp1252", errors="replace")
    return (BOM if encoding == "utf-8-sig" else b"") + text.encode("utf-8", errors="surrogatepass")


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """`data` with a few flips, inserts, deletions, duplications or a truncation."""
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 2, 4]))):  # often none: the cells carry the damage
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "truncate"]))
        at = draw(st.integers(0, max(0, len(data))))
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data = data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
        elif op == "insert":
            data = data[:at] + draw(st.sampled_from(INSERTS)) + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 8)) :]
        elif op == "duplicate":
            data = data[:at] + data[at : at + draw(st.integers(1, 200))] + data[at:]
        elif op == "truncate":
            data = data[:at]
    return data


def cell_values(feed: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE_VALUES),
        st.text(max_size=12),
        st.integers(-10, 10**12).map(str),
        st.sampled_from(["X" * 300_000, "\u00e9" * 100_000, '"' * 5000]),  # past a block
    )


@st.composite
def hostile_csv(draw) -> Drop:
    """A contract file of the feed, with hostile cells, header changes and byte damage."""
    feed = draw(st.sampled_from(FEEDS))
    columns = list(COLUMNS[feed])
    make = ROWS[feed]
    n = draw(st.integers(0, 6))
    rows = [make(i + 1) for i in range(n)]
    for _ in range(draw(st.integers(0, 4)) if n else 0):
        row = rows[draw(st.integers(0, n - 1))]
        row[draw(st.sampled_from(columns))] = draw(cell_values(feed))
    header = list(columns)
    change = draw(st.sampled_from(["none", "shuffle", "case", "unknown", "none", "drop", "duplicate", "blank"]))
    if change == "shuffle":
        header = draw(st.permutations(columns))
    elif change == "drop":
        header = [c for c in columns if c != draw(st.sampled_from(columns))]
    elif change == "duplicate":
        header = header + [draw(st.sampled_from(columns)).upper()]
    elif change == "case":
        header = [f" {c.upper()} " if draw(st.booleans()) else c for c in columns]
    elif change == "unknown":
        header = header + ["opmerking", ""]
    elif change == "blank":
        header = [h if draw(st.booleans()) else "" for h in columns]
    names = [h.strip().lower() for h in header]
    body = [[r.get(c, "") for c in names] for r in rows]
    if body and draw(st.booleans()):  # a short or a long row
        body[-1] = body[-1][:-1] if draw(st.booleans()) else body[-1] + ["extra"]
    # Mostly what partners use: the others end at the sniffer, and so reach less.
    delimiter = draw(st.sampled_from([",", ";", ",", ";", ",", "\t"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\n", "\r\n", "\n", "\r"]))
    text = csv_text(header, body, delimiter, newline, draw(st.booleans()))
    if draw(st.booleans()):
        text = text.rstrip("\r\n") + draw(st.sampled_from(["", "\n\n\n", " \t\n", ";;;\n"]))
    data = encode(text, draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252"])))
    return Drop(feed, draw(mutated(data)))


def _xlsx_value(value: str, typed: bool) -> object:
    """A cell as Excel may type it; openpyxl refuses control characters in text."""
    if typed:
        for parse in (int, float, dt.date.fromisoformat):
            try:
                return parse(value)
            except (ValueError, OverflowError):
                pass
        if value in ("ja", "nee", "true", "false"):
            return value in ("ja", "true")
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return ILLEGAL_CHARACTERS_RE.sub("", value) or None


def _rezip(data: bytes, member: str = "", change=None) -> bytes:
    """The workbook with `change` applied to `member`, and without the time it was written: hypothesis
    needs the same bytes for the same draws."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2025-01-01T00:00:00Z", body)
            if info.filename == member:
                body = change(body)
            info.date_time = (2025, 1, 1, 0, 0, 0)
            dst.writestr(info, body)
    return out.getvalue()


@st.composite
def hostile_xlsx(draw) -> Drop:
    """A workbook of the feed with typed or hostile cells, its XML or its zip damaged."""
    feed = draw(st.sampled_from(FEEDS))
    columns = list(COLUMNS[feed])
    n = draw(st.integers(0, 4))
    rows = [ROWS[feed](i + 1) for i in range(n)]
    for _ in range(draw(st.integers(0, 3)) if n else 0):
        rows[draw(st.integers(0, n - 1))][draw(st.sampled_from(columns))] = draw(
            st.one_of(st.sampled_from(HOSTILE_VALUES), st.text(max_size=10))
        )
    typed = draw(st.booleans())
    data = _rezip(xlsx_bytes(columns, [[_xlsx_value(r[c], typed) for c in columns] for r in rows]))
    damage = draw(st.sampled_from(["none", "sheet", "strings", "workbook", "zip"]))
    if damage in ("sheet", "strings", "workbook"):
        member = {
            "sheet": "xl/worksheets/sheet1.xml",
            "strings": "xl/sharedStrings.xml",
            "workbook": "xl/workbook.xml",
        }[damage]
        edits = draw(mutated(b"\x00" * 64))  # drawn once: the same damage whatever the member's size

        def change(body: bytes) -> bytes:
            return body[: len(body) // 2] + edits.replace(b"\x00", b"") + body[len(body) // 2 :]

        data = _rezip(data, member, change)
    elif damage == "zip":
        data = draw(mutated(data))
    return Drop(feed, data, name=draw(st.sampled_from(["levering.xlsx", "export.csv", "export"])))


@st.composite
def arbitrary(draw) -> Drop:
    """Noise, or noise after a valid header: the latter reaches the CSV parser."""
    feed = draw(st.sampled_from(FEEDS))
    names = COLUMNS[feed]
    head = draw(st.sampled_from([b"", ",".join(names).encode() + b"\n", ";".join(names).encode() + b"\r\n"]))
    text = st.text(st.sampled_from(',;"\r\n x\u00e9'), max_size=300).map(str.encode)
    noise = draw(st.one_of(st.binary(max_size=600), text))
    return Drop(feed, head + noise)


def any_drop() -> st.SearchStrategy[Drop]:
    """What a partner might drop: mostly bent contract files, some workbooks, some noise."""
    return st.one_of(hostile_csv(), hostile_csv(), hostile_csv(), hostile_xlsx(), arbitrary(), arbitrary())


# --- files that follow the contract ---------------------------------------------------------------


@st.composite
def valid_drop(draw) -> Drop:
    """A file the contract accepts, in any of the forms partners use; `rows` is its row count."""
    feed = draw(st.sampled_from(FEEDS))
    columns = list(COLUMNS[feed])
    n = draw(st.integers(0, 6))
    fmt = draw(st.sampled_from(["csv", "csv", "xlsx"]))
    # A decimal comma only in ;-files; an XLSX is read as a ,-file.
    delimiter = draw(st.sampled_from([",", ";"])) if fmt == "csv" else ","
    rows = []
    for i in range(n):
        row = ROWS[feed](i + 1)
        ident = draw(st.text(IDENTIFIER_CHARS, max_size=20))
        row[KEY_PREFIX[feed]] = f"K{ident}-{i}"
        for col in get_contract(feed).columns:
            value = row[col.name]
            if not value:
                continue
            if col.type == "date" and draw(st.booleans()):
                value = dutch(value)
                if draw(st.booleans()):  # Excel's date-time in a date column: the date is the value
                    value += draw(st.sampled_from([" 00:00", " 14:35", " 0:00:00"]))
                    value = re.sub(r"^0(\d)-0?(\d)", r"\1-\2", value) if draw(st.booleans()) else value
            elif col.type == "date" and draw(st.booleans()):
                value += draw(st.sampled_from(["T00:00:00", " 23:59", "T12:00:00.5"]))
            elif col.type == "boolean":
                spellings = (
                    ["ja", "j", "true", "1", "JA", "True", "waar", "WAAR"],
                    ["nee", "n", "False", "0", "onwaar", "ONWAAR", "Onwaar"],
                )
                value = draw(st.sampled_from(spellings[0] if value in spellings[0] else spellings[1]))
            elif (col.type == "pseudoniem" and draw(st.booleans())) or (
                col.type in ("enum", "gemeente") and draw(st.booleans())
            ):
                value = value.upper()
            elif col.type == "decimal" and delimiter == ";" and draw(st.booleans()):
                value = value.replace(".", ",")
            if draw(st.booleans()):
                value = draw(st.sampled_from([" ", "\u00a0", "\t"])) + value + " "
            row[col.name] = value
        rows.append(row)
    header = draw(st.permutations(columns))
    if draw(st.booleans()):
        header = [f" {h.upper()} " for h in header]
    names = [h.strip().lower() for h in header]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = csv_text(header, [[r[c] for c in names] for r in rows], delimiter, newline, draw(st.booleans()))
    if draw(st.booleans()):  # Excel's delimiter hint above the header
        text = f"sep={delimiter}{newline}" + text
    encodings = ["utf-8", "utf-8-sig"]
    try:
        # Windows-1252 bytes that are also UTF-8 are read as UTF-8, as they should be: other text.
        text.encode("cp1252").decode("utf-8")
    except UnicodeEncodeError:
        pass
    except UnicodeDecodeError:
        encodings.append("cp1252")
    if fmt == "xlsx":
        data = _rezip(xlsx_bytes(header, [[r[c] for c in names] for r in rows]))
        return Drop(feed, data, name="levering.xlsx", rows=n)
    return Drop(feed, encode(text, draw(st.sampled_from(encodings))), rows=n)


BAD_VALUES = {
    "text": ["X" * 501, "a\x1bb"],
    "identifier": ["=1+1", "a b", "X" * 41, "<b>", "{{x}}", "PL#1"],
    "pseudoniem": ["abc", "G" * 64, "a" * 63],
    "date": ["31-02-2025", "2025-13-01", "16/04/2025", "1989-12-31", "2025-04-16T25:00", "16-04-2025 14:61"],
    "integer": ["1e309", "NaN", "-1", "1.5", "1.000", "99999999999"],
    "decimal": ["1e309", "NaN", "Infinity", "-5", "1.2.3", "\u20ac5"],
    "boolean": ["misschien", "yes", "2"],
    "enum": ["=HYPERLINK(1)", "onbekend_x"],
    "gemeente": ["GM999", "GM9999", "0363"],
    "postcode4": ["1012 AB", "0123", "123"],
}


@st.composite
def one_bad_cell(draw) -> tuple[Drop, int, str]:
    """A valid CSV with one cell made invalid: (drop, its line, its column)."""
    feed = draw(st.sampled_from(FEEDS))
    contract = get_contract(feed)
    n = draw(st.integers(1, 5))
    rows = [ROWS[feed](i + 1) for i in range(n)]
    row = draw(st.integers(0, n - 1))
    col = draw(st.sampled_from(contract.columns))
    rows[row][col.name] = draw(st.sampled_from(BAD_VALUES[col.type] + ([""] if col.required else [])))
    delimiter = draw(st.sampled_from([",", ";"]))
    text = csv_text(
        list(COLUMNS[feed]), [[r[c] for c in COLUMNS[feed]] for r in rows], delimiter, "\n", draw(st.booleans())
    )
    return Drop(feed, text.encode("utf-8")), row + 2, col.name


# --- the property -----------------------------------------------------------------------------------


@contextmanager
def small_sizes():
    """Blocks, batches and chunks shrunk (see SMALL_SIZES): the verdict must not change."""
    with mock.patch.multiple(batches, **SMALL_SIZES), mock.patch.object(keys, "BUFFERED", 4):
        yield


def judge(drop: Drop, folder: Path | None = None, arrived_at: dt.datetime = ARRIVED_AT) -> Verdict:
    """check_file on the drop's bytes, written to a file in `folder` (a temporary one by default)."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / "drop"
        path.write_bytes(drop.data)
        return check_file(path, get_contract(drop.feed), arrived_at, name=drop.name)


def assert_sound(drop: Drop, verdict: Verdict) -> None:
    """Accepted with a row count, or rejected with a report a partner can read."""
    if verdict.accepted:
        assert verdict.rows >= 0 and verdict.errors == 0, verdict
        return
    report = verdict.report
    assert report and "GEWEIGERD" in report and "REJECTED" in report, report
    assert "Bestandsfout" in report or "Fouten per regel" in report, report  # it names the problem
    assert verdict.errors > 0, verdict
    bad = FORBIDDEN.search(report)
    assert bad is None, f"internal text {bad.group(0)!r} in the report:\n{report}"


def check_drop(drop: Drop) -> Verdict:
    """The whole DB-free property for one drop: a sound verdict, the same with small blocks."""
    verdict = judge(drop)
    assert_sound(drop, verdict)
    with small_sizes():
        again = judge(drop)
    assert (again.rows, again.report) == (verdict.rows, verdict.report), (verdict, again)
    return verdict
