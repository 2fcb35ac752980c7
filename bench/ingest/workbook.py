"""A police extract as Excel writes it: typed cells in a shared-string workbook, written fast.

Excel stores text once in xl/sharedStrings.xml and refers to it by index; dates are numbers with a
date format, booleans `t="b"`, counts and postcodes numbers. openpyxl's writer needs minutes for a
million rows, so the XML is written here directly (the same parts openpyxl writes).
"""

from __future__ import annotations

import datetime as dt
import random
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

CODES = ["GM0363", "GM0599", "GM0518", "GM0344", "GM0034", "GM0796", "GM0014", "GM0080"]
DOELWIT = ["woning", "bedrijf", "voertuig", "geldautomaat", "overig"]
COLUMNS = (
    "incident_id",
    "peildatum",
    "incident_datum",
    "gemeente_code",
    "postcode4",
    "doelwit",
    "uitkomst",
    "explosief",
    "telt_mee",
    "gewonden",
    "doden",
    "ingetrokken",
)
EXCEL_EPOCH = dt.date(1899, 12, 30)
NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook {NS} xmlns:r="{REL_NS}">'
    '<sheets><sheet name="Incidenten" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{REL_NS}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{REL_NS}/styles" Target="styles.xml"/>'
    f'<Relationship Id="rId3" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
)
# Style 1: Excel's built-in short date (numFmtId 14), as a date typed in Excel gets.
STYLES = (
    f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet {NS}>'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    "</styleSheet>"
)


def _col(i: int) -> str:
    return chr(ord("A") + i)


def write_xlsx(path: Path, rows: int, seed: int = 1) -> None:
    """`rows` police incidents below a header, in the cell types Excel gives them."""
    rng = random.Random(seed)
    strings: dict[str, int] = {}

    def s(text: str) -> int:
        index = strings.get(text)
        if index is None:
            index = strings[text] = len(strings)
        return index

    peil = (dt.date(2025, 1, 15) - EXCEL_EPOCH).days
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", ROOT_RELS)
        zf.writestr("xl/workbook.xml", WORKBOOK)
        zf.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        zf.writestr("xl/styles.xml", STYLES)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet {NS}>'
                f'<dimension ref="A1:L{rows + 1}"/><sheetData>'.encode()
            )
            head = "".join(f'<c r="{_col(i)}1" t="s"><v>{s(name)}</v></c>' for i, name in enumerate(COLUMNS))
            fh.write(f'<row r="1">{head}</row>'.encode())
            out = []
            for i in range(rows):
                r = i + 2
                day, month = rng.randint(1, 28), rng.randint(1, 12)
                incident = (dt.date(2024, month, day) - EXCEL_EPOCH).days
                out.append(
                    f'<row r="{r}"><c r="A{r}" t="s"><v>{s(f"PL-{i:08d}")}</v></c>'
                    f'<c r="B{r}" s="1"><v>{peil}</v></c><c r="C{r}" s="1"><v>{incident}</v></c>'
                    f'<c r="D{r}" t="s"><v>{s(rng.choice(CODES))}</v></c>'
                    f'<c r="E{r}"><v>{rng.randint(1000, 9999)}</v></c>'
                    f'<c r="F{r}" t="s"><v>{s(rng.choice(DOELWIT))}</v></c><c r="G{r}" t="s"><v>{s("afgegaan")}</v></c>'
                    f'<c r="H{r}" t="s"><v>{s("zwaar_vuurwerk")}</v></c><c r="I{r}" t="b"><v>1</v></c>'
                    f'<c r="J{r}"><v>{rng.randint(0, 2)}</v></c><c r="L{r}" t="b"><v>0</v></c></row>'
                )
                if len(out) >= 10_000:
                    fh.write("".join(out).encode())
                    out.clear()
            fh.write(("".join(out) + "</sheetData></worksheet>").encode())
        with zf.open("xl/sharedStrings.xml", "w", force_zip64=True) as fh:
            fh.write(
                f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst {NS} uniqueCount="{len(strings)}">'.encode()
            )
            items = list(strings)
            for k in range(0, len(items), 10_000):
                fh.write("".join(f"<si><t>{escape(t)}</t></si>" for t in items[k : k + 10_000]).encode())
            fh.write(b"</sst>")
