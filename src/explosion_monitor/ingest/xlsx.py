"""Read the first sheet of an XLSX delivery as text, streaming.

Typed cells become the text forms the contract allows (ISO dates, `true`/`false`,
plain numbers), so one set of SQL checks validates CSV and XLSX alike.
"""

from __future__ import annotations

import datetime as dt
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree.ElementTree import ParseError

from explosion_monitor.ingest.sniff import Rejected

# Marks a formula cell; the SQL checks report it instead of loading the formula text.
FORMULA = "\x1fFORMULA\x1f"


def cell_text(value: object, data_type: str | None = None) -> str | None:
    if value is None:
        return None
    if data_type == "f" or (isinstance(value, str) and value.startswith("=") and data_type == "f"):
        return FORMULA + str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep="T")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str | None]]]]:
    """The header of row 1 and an iterator of (row number, cell texts) for the rows below it."""
    import openpyxl  # imported here: only XLSX deliveries pay for it

    from openpyxl.utils.exceptions import InvalidFileException

    # A file object, not the path: openpyxl judges a path by its extension, and names carry no meaning.
    fh = open(path, "rb")  # noqa: SIM115 - closed once the rows are read, or on rejection
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, ParseError, TypeError, InvalidFileException) as exc:
        fh.close()
        raise Rejected(
            f"Het XLSX-bestand kan niet worden gelezen ({type(exc).__name__}).",
            f"The XLSX file cannot be read ({type(exc).__name__}).",
        ) from None
    if not wb.sheetnames:
        fh.close()
        raise Rejected("Het XLSX-bestand heeft geen werkbladen.", "The XLSX file has no sheets.")
    ws = wb[wb.sheetnames[0]]
    rows = ws.iter_rows()
    try:
        first = next(rows)
    except StopIteration:
        fh.close()
        raise Rejected(
            "Het eerste werkblad is leeg: er is geen kopregel.", "The first sheet is empty: there is no header."
        ) from None
    header = [cell_text(c.value) or "" for c in first]
    while header and header[-1] == "":
        header.pop()

    def body() -> Iterator[tuple[int, list[str | None]]]:
        try:
            for number, row in enumerate(rows, start=2):
                values = [cell_text(c.value, getattr(c, "data_type", None)) for c in row[: len(header)]]
                values += [None] * (len(header) - len(values))
                yield number, values
        finally:
            wb.close()
            fh.close()

    return header, body()
