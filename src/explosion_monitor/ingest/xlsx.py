"""Read the first sheet of an XLSX delivery as text, streaming.

Typed cells become the text forms the contract allows (ISO dates, `true`/`false`,
plain numbers), so one set of SQL checks validates CSV and XLSX alike.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from pathlib import Path

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


UNREADABLE = (
    "Het XLSX-bestand kan niet worden gelezen: het is beschadigd of geen geldige Excel-werkmap.",
    "The XLSX file cannot be read: it is damaged or not a valid Excel workbook.",
)


def _damaged(after: int | None = None) -> Rejected:
    if after is None:
        return Rejected(*UNREADABLE)
    return Rejected(
        f"Het XLSX-bestand kan niet helemaal worden gelezen: het eerste werkblad is beschadigd na regel {after}.",
        f"The XLSX file cannot be read completely: the first sheet is damaged after row {after}.",
    )


def read_rows(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str | None]]], str]:
    """The header of row 1, an iterator of (row number, cell texts) for the rows below it, and the sheet's name.

    openpyxl meets a damaged workbook with any of many exceptions (zip, zlib, XML, its own, and
    plain KeyError or IndexError from deep inside): every one of them is a rejection of the file.
    """
    import openpyxl  # imported here: only XLSX deliveries pay for it

    # A file object, not the path: openpyxl judges a path by its extension, and names carry no meaning.
    fh = open(path, "rb")  # noqa: SIM115 - closed once the rows are read, or on rejection
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=False)
            if not wb.sheetnames:
                raise Rejected("Het XLSX-bestand heeft geen werkbladen.", "The XLSX file has no sheets.")
            sheet = wb.sheetnames[0]
            rows = wb[sheet].iter_rows()
            first = next(rows, None)
    except (Rejected, MemoryError):
        fh.close()
        raise
    except Exception:
        fh.close()
        raise _damaged() from None
    if first is None:
        fh.close()
        raise Rejected(
            f"Het eerste werkblad ({sheet!r}) is leeg: er is geen kopregel.",
            f"The first sheet ({sheet!r}) is empty: there is no header.",
        )
    header = [cell_text(c.value) or "" for c in first]
    while header and header[-1] == "":
        header.pop()

    def body() -> Iterator[tuple[int, list[str | None]]]:
        number = 1
        try:
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    return
                except MemoryError:
                    raise
                except Exception:
                    raise _damaged(number) from None
                number += 1
                values = [cell_text(c.value, getattr(c, "data_type", None)) for c in row[: len(header)]]
                values += [None] * (len(header) - len(values))
                yield number, values
        finally:
            wb.close()
            fh.close()

    return header, body(), sheet
