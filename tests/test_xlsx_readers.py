"""The two XLSX readers (ingest/xlsx.py): calamine for speed, openpyxl where calamine cannot do the job.

The readers must agree cell for cell on what calamine reads (typed dates, date-times, integers
stored as floats, booleans, shared and inline strings, empty trailing rows and columns, a sheet
that starts below row 1 or right of column A); formulas and error cells, which calamine reads as
cached values or empty, go to openpyxl, and the checks report them. No database: the loader's own
path without storing (`ingest.check.check_file`).
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest
from partner_files import POLITIE_COLUMNS, politie_row, xlsx_bytes

from explosion_monitor.contracts import get_contract
from explosion_monitor.ingest import xlsx
from explosion_monitor.ingest.check import check_file

NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'


def read(path: Path, reader: str) -> tuple[list[str], list[int], list[list[str]]]:
    """The header, and the rows that hold a value (read in blocks of 3 rows) as line numbers and columns."""
    sheet = xlsx._calamine_sheet(path) if reader == "calamine" else xlsx._openpyxl_sheet(path)
    lines: list[int] = []
    columns: list[list[str]] = [[] for _ in sheet.header]
    for block_lines, cols in sheet.blocks(3):
        lines += block_lines.tolist()
        for column, col in zip(columns, cols, strict=True):
            column += col.to_pylist()
    return sheet.header, lines, columns


def both(path: Path):
    calamine, openpyxl_ = read(path, "calamine"), read(path, "openpyxl")
    assert calamine == openpyxl_
    return calamine


def book(tmp_path: Path, rows: list[list[object]], name: str = "b.xlsx") -> Path:
    wb = openpyxl.Workbook()
    for r in rows:
        wb.active.append(r)
    path = tmp_path / name
    wb.save(path)
    return path


def test_typed_cells_read_alike(tmp_path):
    path = book(
        tmp_path,
        [
            ["a", "b", "c", "d", "e", "f", "g"],
            [
                dt.date(2024, 12, 30),
                dt.datetime(2025, 1, 15),
                dt.datetime(2024, 12, 31, 23, 15),
                3011,
                1234.5,
                True,
                "  x ",
            ],
            [dt.datetime(2024, 1, 1, 0, 0, 1), 2.0, 0.1, -0.0, 1e20, False, "ja"],
            [None, None, None, None, None, None, None],
            ["", 7, None, None, None, None, "laatste"],
        ],
    )
    header, lines, cols = both(path)
    assert header == ["a", "b", "c", "d", "e", "f", "g"]
    assert lines == [2, 3, 5]  # row 4 is empty: skipped
    assert [c[0] for c in cols] == ["2024-12-30", "2025-01-15", "2024-12-31T23:15:00", "3011", "1234.5", "true", "  x "]
    assert [c[1] for c in cols] == ["2024-01-01T00:00:01", "2", "0.1", "0", "1e+20", "false", "ja"]
    assert [c[2] for c in cols] == ["", "7", "", "", "", "", "laatste"]


def test_sheet_right_of_column_a_and_below_row_1(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    for j, name in enumerate(["x", "y"]):
        ws.cell(row=1, column=3 + j, value=name)
    ws.cell(row=4, column=4, value=5)
    ws.cell(row=6, column=9, value=" ")  # beyond the header, and white space only: no data
    wb.save(tmp_path / "s.xlsx")
    header, lines, cols = both(tmp_path / "s.xlsx")
    assert header == ["", "", "x", "y"]
    assert (lines, cols) == ([4], [[""], [""], [""], ["5"]])
    wb = openpyxl.Workbook()
    wb.active.cell(row=3, column=1, value="x")
    wb.save(tmp_path / "t.xlsx")
    header, lines, _ = both(tmp_path / "t.xlsx")
    assert header == [] and lines == []  # row 1 empty: no header, and the loader says so


def shared_strings_book(path: Path, cells: list[list[str]], inline: bool = False) -> Path:
    """A sheet as Excel writes it: text in xl/sharedStrings.xml (or inline, in two rich-text runs), a number, a
    boolean. (Without xml:space="preserve" calamine drops a run of white space only, openpyxl keeps it; the checks
    trim cells anyway, and Excel writes the attribute.)"""
    strings: list[str] = []
    rows = []
    for r, values in enumerate(cells, start=1):
        out = []
        for c, v in enumerate(values):
            ref = f"{chr(65 + c)}{r}"
            if inline:
                runs = "".join(f'<r><t xml:space="preserve">{part}</t></r>' for part in (v[:1], v[1:]))
                out.append(f'<c r="{ref}" t="inlineStr"><is>{runs}</is></c>')
            else:
                strings.append(v)
                out.append(f'<c r="{ref}" t="s"><v>{len(strings) - 1}</v></c>')
        number, boolean = chr(65 + len(values)), chr(66 + len(values))
        out.append(f'<c r="{number}{r}"><v>42</v></c><c r="{boolean}{r}" t="b"><v>1</v></c>')
        rows.append(f'<row r="{r}">{"".join(out)}</row>')
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
        )
        zf.writestr(
            "_rels/.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        zf.writestr(
            "xl/workbook.xml",
            f'<workbook {NS} xmlns:r="{rel}"><sheets><sheet name="Blad1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        zf.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{rel}/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
        )
        zf.writestr("xl/worksheets/sheet1.xml", f"<worksheet {NS}><sheetData>{''.join(rows)}</sheetData></worksheet>")
        items = "".join(f'<si><t xml:space="preserve">{v}</t></si>' for v in strings)
        count = len(strings)
        zf.writestr("xl/sharedStrings.xml", f'<sst {NS} count="{count}" uniqueCount="{count}">{items}</sst>')
    return path


@pytest.mark.parametrize("inline", [False, True])
def test_shared_and_inline_strings(tmp_path, inline):
    path = shared_strings_book(tmp_path / "s.xlsx", [["kop", "naam"], ["waarde", " met spatie "]], inline=inline)
    assert not xlsx.needs_openpyxl(path)
    header, lines, cols = both(path)
    assert header == ["kop", "naam", "42", "true"]
    assert (lines, cols) == ([2], [["waarde"], [" met spatie "], ["42"], ["true"]])


def test_formulas_and_error_cells_go_to_openpyxl(tmp_path):
    row = list(politie_row(1).values())
    formula = tmp_path / "f.xlsx"
    formula.write_bytes(xlsx_bytes(POLITIE_COLUMNS, [row], formulas=True))
    assert xlsx.needs_openpyxl(formula)
    verdict = check_file(formula, get_contract("politie"))
    assert not verdict.accepted and "formule" in verdict.report

    # An error cell: calamine reads it as empty, which would load an optional column as absent.
    wb = openpyxl.Workbook()
    wb.active.append(POLITIE_COLUMNS)
    wb.active.append(row)
    cell = wb.active.cell(row=2, column=POLITIE_COLUMNS.index("doden") + 1, value="#DIV/0!")
    cell.data_type = "e"
    error = tmp_path / "e.xlsx"
    wb.save(error)
    assert xlsx.needs_openpyxl(error)
    verdict = check_file(error, get_contract("politie"))
    assert not verdict.accepted and "#DIV/0!" in verdict.report
    assert check_file(book(tmp_path, [POLITIE_COLUMNS, row]), get_contract("politie")).accepted


@pytest.mark.parametrize("xml", [b"<x:f>SUM(A1:A2)</x:f>", b'<f t="shared" si="0"/>', b"<f\n>1+1</f>"])
def test_the_formula_scan_finds_every_spelling(tmp_path, xml):
    path = shared_strings_book(tmp_path / "s.xlsx", [["kop"], ["waarde"]])
    data = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(data, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename.endswith("sheet1.xml"):
                body = body.replace(b"<v>42</v>", xml + b"<v>42</v>", 1)
            dst.writestr(info, body)
    path.write_bytes(data.getvalue())
    assert xlsx.needs_openpyxl(path)


def test_the_formula_scan_ignores_look_alikes(tmp_path):
    # Text that looks like a formula or an error is escaped in XML, or is a string cell.
    path = book(tmp_path, [["a", "b"], ["<f>1</f>", 't="e"'], ["<x:f a", "#N/B"]])
    assert not xlsx.needs_openpyxl(path)


@pytest.mark.parametrize("damage", ["cut", "crc"])
def test_damaged_sheet_is_named_by_openpyxl(tmp_path, damage):
    """A sheet cut off (an export interrupted) or bytes changed in the zip: calamine fails, openpyxl says where."""
    path = book(tmp_path, [POLITIE_COLUMNS] + [list(politie_row(i).values()) for i in range(1, 30)])
    data = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(data, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename.endswith("sheet1.xml") and damage == "cut":
                body = body[: len(body) // 2]
            dst.writestr(info.filename, body)
    raw = bytearray(data.getvalue())
    if damage == "crc":  # a row number changed in the stored sheet: the member's CRC no longer matches
        at = raw.index(b'<row r="5"')
        raw[at + 8] = ord("6")
    path.write_bytes(bytes(raw))
    verdict = check_file(path, get_contract("politie"))
    assert not verdict.accepted and "beschadigd" in verdict.report, verdict.report


def test_a_workbook_too_large_to_hold_is_streamed_by_openpyxl(tmp_path, monkeypatch):
    path = book(tmp_path, [POLITIE_COLUMNS, list(politie_row(1).values())])
    assert not xlsx.needs_openpyxl(path)
    monkeypatch.setattr(xlsx, "CALAMINE_MAX_XML", 1000)
    assert xlsx.needs_openpyxl(path)
    monkeypatch.setattr(xlsx, "_calamine_sheet", None)  # would fail if called
    assert check_file(path, get_contract("politie")).rows == 1
