"""Read the first sheet of an XLSX delivery as blocks of text columns.

Typed cells become the text forms the contract allows (ISO dates, `true`/`false`,
plain numbers), so one set of checks validates CSV and XLSX alike.

Two readers. python-calamine (Rust) reads a sheet some 15 times faster than openpyxl, but it
loads the whole sheet into memory and reads formulas and error cells as their cached values
(or as empty). So a cheap streaming scan of the workbook's XML decides first (`needs_openpyxl`):
a workbook with a formula or an error cell, or a sheet too large to hold, is read by openpyxl
(streaming, formulas kept as such so that the checks report them). Whatever calamine cannot read
goes to openpyxl too, which names the damage as before.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, islice
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from explosion_monitor.ingest.arrays import bools, from_values, strings
from explosion_monitor.ingest.sniff import Rejected

# Marks a formula cell; the checks report it instead of loading the formula text.
FORMULA = "\x1fFORMULA\x1f"
# calamine holds the sheet in memory, about twice its XML (957 MiB peak for 1M rows of 12 columns, 418 MB of
# XML): above this (uncompressed) openpyxl streams it, so that no workbook takes more than about 1 GiB.
CALAMINE_MAX_XML = 448 << 20
SCAN_CHUNK = 1 << 20
# A formula element (`<f>`, `<x:f ...>`) or an error cell (`t="e"`); a hit of the cheap search is confirmed here.
_FORMULA_OR_ERROR = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?f[\s/>]|\st\s*=\s*["']e["']""")
_CANDIDATES = (b"<f", b":f", b'"e"', b"'e'")

Block = tuple[np.ndarray, list[pa.Array]]  # line numbers (int64) and one string array per header column


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


def _empty_sheet(sheet: str) -> Rejected:
    return Rejected(
        f"Het eerste werkblad ({sheet!r}) is leeg: er is geen kopregel.",
        f"The first sheet ({sheet!r}) is empty: there is no header.",
    )


@dataclass
class Sheet:
    """The first sheet: its name, the header of row 1, and its rows below as blocks of text columns."""

    name: str
    header: list[str]
    _blocks: Callable[[int], Iterator[Block]]
    _close: Callable[[], None]

    def blocks(self, rows: int) -> Iterator[Block]:
        """The rows that hold a value, `rows` at a time; the sheet is closed at the end (or when dropped)."""
        try:
            yield from self._blocks(rows)
        finally:
            self.close()

    def close(self) -> None:
        self._close()


def open_sheet(path: Path) -> Sheet:
    """The first sheet, by the reader that can read it (module docstring); raises Rejected.

    The scan for formulas runs in a thread while calamine loads the sheet (which releases the GIL):
    on two cores it costs no time, and when it finds one, calamine's sheet is dropped unread.
    """
    if _too_large(path):
        return _openpyxl_sheet(path)
    with ThreadPoolExecutor(1, thread_name_prefix="xlsx-scan") as pool:
        scan = pool.submit(has_formula_or_error, path)
        sheet: Sheet | None = None
        failure: BaseException | None = None
        try:
            sheet = _calamine_sheet(path)
        except MemoryError:
            raise
        except Exception as exc:  # any failure of calamine's: openpyxl reads it or says what is wrong
            failure = exc
        if scan.result():
            if sheet is not None:
                sheet.close()
            return _openpyxl_sheet(path)
    if sheet is not None:
        return sheet
    if isinstance(failure, Rejected):
        raise failure
    return _openpyxl_sheet(path)


def needs_openpyxl(path: Path) -> bool:
    """Whether openpyxl must read the workbook: it has a formula or an error cell, or it is too large for calamine
    to hold."""
    return _too_large(path) or has_formula_or_error(path)


def _too_large(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(i.file_size for i in zf.infolist()) > CALAMINE_MAX_XML
    except Exception:  # a damaged zip: openpyxl's reading names the damage
        return True


def has_formula_or_error(path: Path) -> bool:
    """Whether a part of the workbook (other than its shared strings) holds a formula or an error cell.
    Streams the XML: no cell value is loaded."""
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.filename.lower().endswith("sharedstrings.xml"):
                    continue
                with zf.open(info) as fh:
                    if _has_formula_or_error(fh):
                        return True
    except Exception:  # a damaged zip: openpyxl's reading names the damage
        return True
    return False


def _has_formula_or_error(fh) -> bool:
    tail = b""
    while chunk := fh.read(SCAN_CHUNK):
        data = tail + chunk
        # bytes.find runs at memory speed; the regular expression only confirms a hit.
        for needle in _CANDIDATES:
            at = data.find(needle)
            while at >= 0:
                if _FORMULA_OR_ERROR.search(data, max(0, at - 40), at + 40):
                    return True
                at = data.find(needle, at + 1)
        tail = data[-80:]
    return False


# --- calamine ---------------------------------------------------------------------------------------


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_BOOL_TEXT = strings(["false", "true"])


def _calamine_sheet(path: Path) -> Sheet:
    import python_calamine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wb = python_calamine.CalamineWorkbook.from_path(str(path))
    try:
        names = wb.sheet_names
        if not names:
            raise Rejected("Het XLSX-bestand heeft geen werkbladen.", "The XLSX file has no sheets.")
        sheet = wb.get_sheet_by_index(0)
        if sheet.start is None:
            raise _empty_sheet(names[0])
        first_col = sheet.start[1]
        last_row = sheet.end[0]
        rows = sheet.iter_rows()
        # calamine's rows start at the sheet's first row (row 1), its cells at the first used column.
        first = next(rows)
        header = [cell_text(v) or "" for v in [""] * first_col + list(first)]
    except BaseException:
        wb.close()
        raise
    while header and header[-1] == "":
        header.pop()

    def blocks(size: int) -> Iterator[Block]:
        number = 1  # the row just read
        while chunk := list(islice(rows, size)):
            lines = np.arange(number + 1, number + 1 + len(chunk), dtype=np.int64)
            number += len(chunk)
            block = _block(chunk, lines, first_col, len(header))
            if block is not None:
                yield block
        if number != last_row + 1:  # a layout this code does not expect: refuse rather than misnumber
            raise RuntimeError(f"calamine yielded {number} rows of {last_row + 1}")

    def close() -> None:
        with contextlib.suppress(Exception):  # closed before
            wb.close()

    return Sheet(names[0], header, blocks, close)


def _block(chunk: list[list[object]], lines: np.ndarray, first_col: int, width: int) -> Block | None:
    """The rows of `chunk` that hold a value, as one string array per header column."""
    if not width:
        return None  # no header, no values (the header check rejects the file)
    # Transposed by slicing one flat list: much cheaper than zip(*chunk) over thousands of rows.
    cells = len(chunk[0])
    flat = list(chain.from_iterable(chunk))
    if len(flat) != cells * len(chunk):
        raise RuntimeError("calamine rows of unequal width")
    empty = _empty(len(chunk))
    columns = []
    typed = False  # a column typed in every row: every row holds a value
    for k in range(width):
        j = k - first_col
        if 0 <= j < cells:
            values = flat[j::cells]
            kinds = set(map(type, values))
            typed = typed or str not in kinds
            columns.append(_column_text(values, kinds))
        else:
            columns.append(empty)
    if typed:
        return lines, columns
    # A row without any value (Excel keeps formatted empty rows) carries no data: as str.strip() sees it.
    joined = pc.binary_join_element_wise(*columns, "")
    keep = pc.match_substring_regex(joined, "[0-9A-Za-z]")
    if not pc.all(keep).as_py():
        keep_np = bools(keep).copy()
        for i in np.flatnonzero(~keep_np).tolist():
            keep_np[i] = bool(joined[i].as_py().strip())
        if not keep_np.any():
            return None
        rows = from_values(np.flatnonzero(keep_np), pa.int64())
        return lines[keep_np], [c.take(rows) for c in columns]
    return lines, columns


def _strings(values: Sequence[str]) -> pa.Array:
    """`arrays.strings`, an order faster for many cells: joined and encoded once, split by Arrow."""
    blob = "\x00".join(values).encode("utf-8")
    whole = pa.Array.from_buffers(
        pa.large_string(), 1, [None, pa.py_buffer(np.array([0, len(blob)], np.int64)), pa.py_buffer(blob)]
    )
    parts = pc.split_pattern(whole, "\x00").flatten()
    if len(parts) != len(values):  # a cell holds the separator itself
        return strings(values)
    return parts.cast(pa.string())


@lru_cache(maxsize=4)
def _empty(n: int) -> pa.Array:
    return strings([""] * n)


def _column_text(values: Sequence[object], kinds: set[type]) -> pa.Array:
    """The cells of one column (of the Python types `kinds`) as text, vectorised for columns of one type."""
    n = len(values)
    if kinds == {str}:
        return _strings(values)  # type: ignore[arg-type]
    if kinds == {float}:
        arr = np.fromiter(values, np.float64, n)
        if (np.abs(arr) < 1e15).all() and (arr == np.trunc(arr)).all():
            return pc.cast(from_values(arr.astype(np.int64), pa.int64()), pa.string())
    elif kinds == {dt.date}:
        days = np.fromiter(map(dt.date.toordinal, values), np.int64, n) - _EPOCH_ORDINAL  # type: ignore[arg-type]
        return pc.cast(from_values(days.astype(np.int32), pa.date32()), pa.string())
    elif kinds == {bool}:
        return _BOOL_TEXT.take(from_values(np.fromiter(values, np.int8, n), pa.int8()))
    return strings(["" if v == "" else cell_text(v) for v in values])  # type: ignore[misc]


# --- openpyxl ---------------------------------------------------------------------------------------


def _openpyxl_sheet(path: Path) -> Sheet:
    """openpyxl meets a damaged workbook with any of many exceptions (zip, zlib, XML, its own, and
    plain KeyError or IndexError from deep inside): every one of them is a rejection of the file."""
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
    except Exception:  # see above
        fh.close()
        raise _damaged() from None
    if first is None:
        fh.close()
        raise _empty_sheet(sheet)
    header = [cell_text(c.value) or "" for c in first]
    while header and header[-1] == "":
        header.pop()
    width = len(header)

    def body() -> Iterator[tuple[int, list[str | None]]]:
        number = 1
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except MemoryError:
                raise
            except Exception:  # see _openpyxl_sheet
                raise _damaged(number) from None
            number += 1
            values = [cell_text(c.value, getattr(c, "data_type", None)) for c in row[:width]]
            values += [None] * (width - len(values))
            yield number, values

    def blocks(size: int) -> Iterator[Block]:
        lines: list[int] = []
        cells: list[list[str]] = [[] for _ in range(width)]

        def flush() -> Block:
            block = np.array(lines, dtype=np.int64), [strings(c) for c in cells]
            lines.clear()
            for c in cells:
                c.clear()
            return block

        for number, values in body():
            # Rows without any value (Excel keeps formatted empty rows) carry no data.
            if any(v is not None and v.strip() for v in values):
                lines.append(number)
                for column, value in zip(cells, values, strict=True):
                    column.append("" if value is None else value)
                if len(lines) >= size:
                    yield flush()
        if lines:
            yield flush()

    def close() -> None:
        wb.close()
        fh.close()

    return Sheet(sheet, header, blocks, close)
